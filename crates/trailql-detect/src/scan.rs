//! Rules over the scan: the same sources, pruning and progress as `query`, with the rules' words
//! as a prefilter so that only records some rule can match are parsed and evaluated.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::execution::context::SessionState;
use datafusion::physical_plan::execute_stream_partitioned;
use futures::StreamExt;
use trailql_investigate::Scope;
use trailql_rules::Detector;
use trailql_sql::{Engine, ScanOptions, ScanReport};

use crate::alert::Alert;

/// What a detection run found, and what it could not look at.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Sorted by event time, then level (highest first), then rule.
    pub alerts: Vec<Alert>,
    /// Records parsed and evaluated (the others were ruled out by the prefilter).
    pub evaluated: u64,
    /// Records whose JSON could not be read back for evaluation (nested past serde_json's
    /// 128 levels); each is also a warning naming its file.
    pub unevaluated: u64,
}

/// `options` with the detector's words as the record prefilter.
pub fn scan_options(detector: &Detector, mut options: ScanOptions) -> ScanOptions {
    options.words = detector
        .words()
        .and_then(|w| trailql_decode::Words::new(w.to_vec()));
    options
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

/// Run `detector` over `engine`'s sources within `scope`.
pub async fn detect(engine: &Engine, detector: Arc<Detector>, scope: &Scope) -> Result<Outcome> {
    detect_in(&engine.ctx.state(), engine.report.clone(), detector, scope).await
}

/// [`detect`] in a session that has `cloudtrail_logs`; each partition of the scan evaluates its
/// own records, on its own core.
pub async fn detect_in(
    state: &SessionState,
    report: Arc<ScanReport>,
    detector: Arc<Detector>,
    scope: &Scope,
) -> Result<Outcome> {
    let plan = state.create_logical_plan(&statement(scope)).await?;
    let plan = state.create_physical_plan(&plan).await?;
    let streams = execute_stream_partitioned(plan, state.task_ctx())?;
    let evaluated = Arc::new(AtomicU64::new(0));
    let unevaluated = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for mut stream in streams {
        let detector = detector.clone();
        let report = report.clone();
        let (evaluated, unevaluated) = (evaluated.clone(), unevaluated.clone());
        tasks.push(tokio::spawn(async move {
            let mut alerts = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let (e, u) = evaluate(&batch, &detector, &report, &mut alerts)?;
                evaluated.fetch_add(e, Ordering::Relaxed);
                unevaluated.fetch_add(u, Ordering::Relaxed);
            }
            Ok::<_, datafusion::error::DataFusionError>(alerts)
        }));
    }
    let mut alerts = Vec::new();
    for t in tasks {
        let part = t
            .await
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))??;
        alerts.extend(part);
    }
    alerts.sort_by(|a, b| {
        (
            &a.event_time,
            crate::alert::rank_of(&b.level),
            &a.rule_title,
            &a.event_id,
        )
            .cmp(&(
                &b.event_time,
                crate::alert::rank_of(&a.level),
                &b.rule_title,
                &b.event_id,
            ))
    });
    Ok(Outcome {
        alerts,
        evaluated: evaluated.load(Ordering::Relaxed),
        unevaluated: unevaluated.load(Ordering::Relaxed),
    })
}

fn evaluate(
    batch: &RecordBatch,
    detector: &Detector,
    report: &ScanReport,
    alerts: &mut Vec<Alert>,
) -> Result<(u64, u64)> {
    let json = cast(batch.column(0), &DataType::Utf8)?;
    let json = json.as_string::<i32>();
    let path = cast(batch.column(1), &DataType::Utf8)?;
    let path = path.as_string::<i32>();
    let (mut evaluated, mut unevaluated) = (0, 0);
    for i in 0..batch.num_rows() {
        if json.is_null(i) {
            continue;
        }
        let file = path.is_valid(i).then(|| path.value(i).to_string());
        let record: serde_json::Value = match serde_json::from_str(json.value(i)) {
            Ok(v) => v,
            Err(e) => {
                unevaluated += 1;
                report.warn(
                    file.clone().unwrap_or_default(),
                    format!("a record was not evaluated by the rules: {e}"),
                );
                continue;
            }
        };
        evaluated += 1;
        for hit in detector.evaluate(&record) {
            let rule = &detector.rules()[hit.rule];
            alerts.push(Alert::new(rule, &hit, &record, file.clone()));
        }
    }
    Ok((evaluated, unevaluated))
}
