//! Rules over the scan: the same sources, pruning and progress as `query`, with the rules' words
//! as a prefilter so that only records some rule can match are parsed and evaluated.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::context::SessionState;
use trailql_investigate::Scope;
use trailql_rules::{Detector, Needle};
use trailql_sql::{ScanOptions, ScanReport};

use crate::exec::{Counts, DetectExec, Feed};

/// `options` with the detector's needles as the record prefilter.
pub fn scan_options(detector: &Detector, mut options: ScanOptions) -> ScanOptions {
    options.words = detector.words().and_then(prefilter);
    options
}

/// The decoder's prefilter for needles: words searched for, fields looked up.
fn prefilter(needles: &[Needle]) -> Option<trailql_decode::Words> {
    let mut words = Vec::new();
    let mut fields: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for n in needles {
        match n {
            Needle::Word(w) => words.push(w.clone()),
            Needle::Field(path, value) => fields.entry(path).or_default().push(value.clone()),
        }
    }
    let fields = fields
        .into_iter()
        .map(|(path, values)| (path.split('.').map(str::to_string).collect(), values))
        .collect();
    trailql_decode::Words::with_fields(words, fields)
}

/// The statement the scan runs.
pub fn statement(scope: &Scope) -> String {
    let mut sql = String::from("SELECT eventjson, \"$path\" FROM cloudtrail_logs");
    if let Some(c) = scope.condition() {
        sql.push_str("\nWHERE ");
        sql.push_str(&c);
    }
    sql
}

/// The plan that runs `detector` over the `cloudtrail_logs` of `state` within `scope`: each
/// partition of the scan evaluates its own records, on its own core, and emits their alerts
/// (columns [`crate::exec::alert_schema`], or those of `projection`).
pub async fn plan(
    state: &SessionState,
    report: Arc<ScanReport>,
    detector: Arc<Detector>,
    counts: Arc<Counts>,
    feed: Option<Arc<Feed>>,
    scope: &Scope,
    projection: Option<Vec<usize>>,
) -> Result<DetectExec> {
    let plan = state.create_logical_plan(&statement(scope)).await?;
    let input = state.create_physical_plan(&plan).await?;
    DetectExec::new(input, detector, report, counts, feed, projection)
}
