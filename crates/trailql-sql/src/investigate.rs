//! The investigations as SQL table functions, so their answers can be joined and filtered:
//!
//! ```sql
//! SELECT * FROM exposure() WHERE status = 'open';          -- world-open rules (exposure(true): any public CIDR)
//! SELECT eventname, count(*) FROM history('sg-0123') GROUP BY 1;
//! SELECT * FROM activity('alice') WHERE errorcode IS NOT NULL;
//! ```
//!
//! Each one runs its query over `cloudtrail_logs` when scanned, in the same session (so it is
//! pruned and prefiltered like any query), then applies the Rust logic of `trailql-investigate`.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{plan_err, DataFusionError, Result, ScalarValue};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::SessionContext;
use trailql_investigate::exposure::EXPOSURE_COLUMNS;
use trailql_investigate::table::text_schema;
use trailql_investigate::timeline::{self, TIMELINE_COLUMNS};
use trailql_investigate::{events_from_batches, queries, Event, ExposureOptions, Scope};

/// Which answer a table function gives.
#[derive(Debug, Clone)]
pub enum Investigation {
    Exposure(ExposureOptions),
    History(String),
    Activity(String),
}

impl Investigation {
    /// The query over `cloudtrail_logs` that fetches the candidate events.
    pub fn sql(&self, scope: &Scope) -> Result<String> {
        match self {
            Investigation::Exposure(_) => Ok(queries::exposure_sql(scope)),
            Investigation::History(r) => {
                queries::history_sql(r, scope).map_err(DataFusionError::Plan)
            }
            Investigation::Activity(p) => {
                queries::activity_sql(p, scope).map_err(DataFusionError::Plan)
            }
        }
    }

    pub fn columns(&self) -> &'static [&'static str] {
        match self {
            Investigation::Exposure(_) => &EXPOSURE_COLUMNS,
            _ => &TIMELINE_COLUMNS,
        }
    }

    /// The answer, from the events the query returned.
    pub fn answer(&self, events: &[Event]) -> trailql_investigate::TextTable {
        match self {
            Investigation::Exposure(o) => {
                trailql_investigate::findings_table(&trailql_investigate::exposure(events, o))
            }
            Investigation::History(r) => timeline::timeline_table(&timeline::history(events, r)),
            Investigation::Activity(p) => timeline::timeline_table(&timeline::activity(events, p)),
        }
    }
}

/// Run `sql` in `state` and read its rows as events.
pub async fn fetch_events(state: &SessionState, sql: &str) -> Result<Vec<Event>> {
    let plan = state.create_logical_plan(sql).await?;
    let physical = state.create_physical_plan(&plan).await?;
    let batches = collect(physical, state.task_ctx()).await?;
    events_from_batches(&batches).map_err(DataFusionError::Execution)
}

#[derive(Debug)]
struct InvestigationTable {
    what: Investigation,
    schema: SchemaRef,
}

#[async_trait::async_trait]
impl TableProvider for InvestigationTable {
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
            return plan_err!("investigation table functions need a full DataFusion session");
        };
        let events = fetch_events(state, &self.what.sql(&Scope::default())?).await?;
        let batch: RecordBatch = self.what.answer(&events).to_batch();
        Ok(MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}

#[derive(Debug)]
struct Function {
    name: &'static str,
}

fn string_arg(name: &str, args: &[Expr]) -> Result<String> {
    match args {
        [Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        )] => Ok(s.clone()),
        _ => plan_err!("{name}() takes one string literal, e.g. {name}('sg-0123456789abcdef0')"),
    }
}

impl TableFunctionImpl for Function {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let what = match self.name {
            "exposure" => {
                let public = match exprs {
                    [] => false,
                    [Expr::Literal(ScalarValue::Boolean(Some(b)), _)] => *b,
                    _ => return plan_err!("exposure() takes no argument, or true to report any public CIDR: exposure(true)"),
                };
                Investigation::Exposure(ExposureOptions {
                    public,
                    ..Default::default()
                })
            }
            "history" => Investigation::History(string_arg("history", exprs)?),
            _ => Investigation::Activity(string_arg("activity", exprs)?),
        };
        // Reject bad arguments at planning time.
        what.sql(&Scope::default())?;
        let schema = text_schema(what.columns());
        Ok(Arc::new(InvestigationTable { what, schema }))
    }
}

/// Register `exposure()`, `history('…')` and `activity('…')`.
pub fn register(ctx: &SessionContext) {
    for name in ["exposure", "history", "activity"] {
        ctx.register_udtf(name, Arc::new(Function { name }));
    }
}
