//! Detections as SQL: `detections()` (the bundled pack) and `detections('DIR|FILE')` (those
//! rules instead), one row per alert with the columns of `trailql detect --format csv`, so
//! alerts join with the events behind them:
//!
//! ```sql
//! SELECT d.level, d.rule_title, c.requestparameters
//! FROM detections() d JOIN cloudtrail_logs c ON c.eventid = d.event_id
//! WHERE d.level IN ('high', 'critical');
//! ```
//!
//! A rule file that does not load is a warning of the scan (named with its reason); the other
//! rules run.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use trailql_investigate::Scope;
use trailql_rules::{pack, Detector, RuleSet};
use trailql_sql::ScanReport;

use crate::exec::{alert_schema, Counts, Feed};
use crate::scan::plan;

/// Alerts as a table: the rules run when the table is scanned, and their alerts stream out.
#[derive(Debug)]
pub struct DetectionsTable {
    detector: Arc<Detector>,
    scope: Scope,
    report: Arc<ScanReport>,
    counts: Arc<Counts>,
    feed: Option<Arc<Feed>>,
    schema: SchemaRef,
}

impl DetectionsTable {
    /// `detector` over the `cloudtrail_logs` of the session that scans this table, within
    /// `scope`; its scans report to `report`.
    pub fn new(detector: Arc<Detector>, scope: Scope, report: Arc<ScanReport>) -> DetectionsTable {
        DetectionsTable {
            counts: Arc::new(Counts::new(detector.rules().len())),
            detector,
            scope,
            report,
            feed: None,
            schema: alert_schema(false),
        }
    }

    /// Also the columns a correlator reads ([`crate::exec::FEED_COLUMNS`]).
    pub fn feeding(mut self, feed: Feed) -> DetectionsTable {
        self.feed = Some(Arc::new(feed));
        self.schema = alert_schema(true);
        self
    }

    /// What the scans of this table counted (records evaluated, alerts per rule).
    pub fn counts(&self) -> Arc<Counts> {
        self.counts.clone()
    }
}

/// The rules `detections(…)` runs; problems are warnings of the scan.
fn load(rules: Option<&str>, report: &ScanReport) -> Detector {
    let set = match rules {
        None => pack::builtin(),
        Some(p) => {
            let mut set = RuleSet::default();
            set.add_path(std::path::Path::new(p));
            set
        }
    };
    let (detector, problems) = Detector::new(&set);
    for p in set.problems.iter().chain(&problems) {
        report.warn(
            p.origin.to_string(),
            format!("rule not loaded: {}", p.reason),
        );
    }
    if let Some((corr, origin)) = set.correlations.first() {
        report.warn(
            origin.to_string(),
            format!(
                "detections() does not run correlation rules yet ({} here, e.g. {:?}); `trailql detect` does. The rules they reference are rows of their own here",
                set.correlations.len(),
                corr.title
            ),
        );
    }
    detector
}

#[async_trait::async_trait]
impl TableProvider for DetectionsTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(state) = session.as_any().downcast_ref::<SessionState>() else {
            return plan_err!("detections() needs a full DataFusion session");
        };
        Ok(Arc::new(
            plan(
                state,
                self.report.clone(),
                self.detector.clone(),
                self.counts.clone(),
                self.feed.clone(),
                &self.scope,
                projection.cloned(),
            )
            .await?,
        ))
    }
}

#[derive(Debug)]
struct Detections {
    report: Arc<ScanReport>,
}

impl TableFunctionImpl for Detections {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let rules = match args.exprs() {
            [] => None,
            [Expr::Literal(
                ScalarValue::Utf8(Some(s))
                | ScalarValue::Utf8View(Some(s))
                | ScalarValue::LargeUtf8(Some(s)),
                _,
            )] => {
                if !std::path::Path::new(s).exists() {
                    return plan_err!("detections('{s}'): no such file or folder of Sigma rules");
                }
                Some(s.clone())
            }
            _ => {
                return plan_err!(
                    "detections() takes no argument (the bundled pack) or one path of Sigma rules: detections('rules/')"
                )
            }
        };
        let detector = load(rules.as_deref(), &self.report);
        Ok(Arc::new(DetectionsTable::new(
            Arc::new(detector),
            Scope::default(),
            self.report.clone(),
        )))
    }
}

/// Register `detections()` in a session whose scans report to `report`.
pub fn register(ctx: &SessionContext, report: Arc<ScanReport>) {
    ctx.register_udtf("detections", Arc::new(Detections { report }));
}
