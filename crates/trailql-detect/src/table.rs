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
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use trailql_investigate::table::text_schema;
use trailql_investigate::Scope;
use trailql_rules::{pack, Detector, RuleSet};
use trailql_sql::ScanReport;

use crate::alert::{to_table, COLUMNS};
use crate::scan::detect_in;

#[derive(Debug)]
struct DetectionsTable {
    rules: Option<String>,
    report: Arc<ScanReport>,
    schema: SchemaRef,
}

impl DetectionsTable {
    fn detector(&self) -> Detector {
        let set = match &self.rules {
            None => pack::builtin(),
            Some(p) => {
                let mut set = RuleSet::default();
                set.add_path(std::path::Path::new(p));
                set
            }
        };
        let (detector, problems) = Detector::new(&set);
        for p in set.problems.iter().chain(&problems) {
            self.report.warn(
                p.origin.to_string(),
                format!("rule not loaded: {}", p.reason),
            );
        }
        detector
    }
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
        let detector = Arc::new(self.detector());
        let outcome = detect_in(state, self.report.clone(), detector, &Scope::default()).await?;
        let batch = to_table(&outcome.alerts).to_batch();
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?)
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
        Ok(Arc::new(DetectionsTable {
            rules,
            report: self.report.clone(),
            schema: text_schema(&COLUMNS),
        }))
    }
}

/// Register `detections()` in a session whose scans report to `report`.
pub fn register(ctx: &SessionContext, report: Arc<ScanReport>) {
    ctx.register_udtf("detections", Arc::new(Detections { report }));
}
