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
//! rules run. Correlation rules run too: the alerts are then sorted by event time (in memory,
//! or spilled under the session's memory limit) and the correlations' alerts are rows among
//! them.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use trailql_investigate::Scope;
use trailql_rules::{pack, Correlator, Detector, RuleSet};
use trailql_sql::ScanReport;

use crate::correlate_exec::CorrelateExec;
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
    /// The rule set whose correlations a scan runs (over the alerts, sorted by time).
    correlations: Option<Arc<RuleSet>>,
    /// Records no rule can match are ruled out before they are parsed ([`plan`]).
    record_prefilter: bool,
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
            correlations: None,
            record_prefilter: true,
            schema: alert_schema(false),
        }
    }

    /// Parse and evaluate every record the scan yields: its scan rules records out already (a
    /// raw trail's, given [`crate::scan_options`]), or none are to be (`--no-prefilter`).
    pub fn without_record_prefilter(mut self) -> DetectionsTable {
        self.record_prefilter = false;
        self
    }

    /// Also run the correlations of `set` (whose rules `detector` compiled): each scan feeds
    /// them the alerts in event-time order; the rows are the alerts, with the correlations'
    /// among them and without those of rules that exist only for correlations.
    pub fn correlating(mut self, set: Arc<RuleSet>) -> DetectionsTable {
        if let (Some(c), _) = Correlator::new(&set, &self.detector) {
            self.feed = Some(Arc::new(Feed::of(&c)));
            self.correlations = Some(set);
        }
        self
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

/// The rules `detections(…)` runs, with their set; problems are warnings of the scan.
fn load(rules: Option<&str>, report: &ScanReport) -> (Detector, RuleSet) {
    let set = match rules {
        None => pack::builtin(),
        Some(p) => {
            let mut set = RuleSet::default();
            set.add_path(std::path::Path::new(p));
            set
        }
    };
    let (detector, problems) = Detector::new(&set);
    let (_, correlation_problems) = Correlator::new(&set, &detector);
    for p in set
        .problems
        .iter()
        .chain(&problems)
        .chain(&correlation_problems)
    {
        report.warn(
            p.origin.to_string(),
            format!("rule not loaded: {}", p.reason),
        );
    }
    (detector, set)
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
        // With correlations, the alerts (with their records) go through a sort and the
        // correlator, which then picks the columns asked for.
        let (inner, outer) = match &self.correlations {
            Some(_) => (None, projection.cloned()),
            None => (projection.cloned(), None),
        };
        let detect = Arc::new(
            plan(
                state,
                self.report.clone(),
                self.detector.clone(),
                self.counts.clone(),
                self.feed.clone(),
                &self.scope,
                inner,
                self.record_prefilter,
            )
            .await?,
        );
        match &self.correlations {
            None => Ok(detect),
            Some(set) => Ok(Arc::new(CorrelateExec::new(
                detect,
                set.clone(),
                self.detector.clone(),
                self.report.clone(),
                outer,
            )?)),
        }
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
        let (detector, set) = load(rules.as_deref(), &self.report);
        Ok(Arc::new(
            DetectionsTable::new(Arc::new(detector), Scope::default(), self.report.clone())
                .correlating(Arc::new(set)),
        ))
    }
}

/// Register `detections()` in a session whose scans report to `report`.
pub fn register(ctx: &SessionContext, report: Arc<ScanReport>) {
    ctx.register_udtf("detections", Arc::new(Detections { report }));
}
