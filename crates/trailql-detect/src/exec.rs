//! The detection operator: a DataFusion plan node over the scan of `eventjson, "$path"` that
//! emits one row per alert, batch by batch, so that alerts stream to their writer (or to a
//! spilling sort) instead of being held.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{internal_err, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::ExecutionPlanProperties;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;
use trailql_decode::Prefilter;
use trailql_investigate::table::text_schema;
use trailql_rules::Detector;
use trailql_sql::ScanReport;

use crate::alert::{self, Alert, Header, COLUMNS};

/// What a run counted, shared by the partitions while they run: read it once the stream ends.
#[derive(Debug)]
pub struct Counts {
    /// Records parsed and evaluated (the others were ruled out by the prefilter).
    pub evaluated: AtomicU64,
    /// Records whose JSON could not be read back for evaluation; each is also a warning naming
    /// its file.
    pub unevaluated: AtomicU64,
    /// Alerts per rule, indexed as [`Detector::rules`].
    pub by_rule: Vec<AtomicU64>,
}

impl Counts {
    pub fn new(rules: usize) -> Counts {
        Counts {
            evaluated: AtomicU64::new(0),
            unevaluated: AtomicU64::new(0),
            by_rule: (0..rules).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Alerts counted by level and rule, leaving out the rules `hidden` marks (there for their
    /// correlations only; an empty slice hides none).
    pub fn summary(&self, detector: &Detector, hidden: &[bool]) -> alert::Summary {
        let mut s = alert::Summary::default();
        for (i, (rule, n)) in detector.rules().iter().zip(&self.by_rule).enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n > 0 && !hidden.get(i).copied().unwrap_or(false) {
                s.add(alert::level_name(rule.level), &rule.title, n);
            }
        }
        s
    }
}

/// The columns a run that feeds correlations adds to [`COLUMNS`]: the record's text on the
/// first of its alerts whose rule feeds a correlation (with those rules' indexes, `3,7`), and
/// `1` on the alerts of rules whose own alerts are hidden.
pub const FEED_COLUMNS: [&str; 3] = ["_feed", "_hits", "_hidden"];

/// Which rules feed correlations, and which are hidden, indexed as the detector's rules.
#[derive(Debug, Clone)]
pub struct Feed {
    pub feeds: Vec<bool>,
    pub hidden: Vec<bool>,
    /// What of a record to carry to the correlations (`None`: all of it).
    pub paths: Option<trailql_rules::Paths>,
}

impl Feed {
    /// What `correlator` needs of the detector's alerts.
    pub fn of(correlator: &trailql_rules::Correlator) -> Feed {
        Feed {
            feeds: correlator.feeds().to_vec(),
            hidden: correlator.hidden().to_vec(),
            paths: correlator.paths().cloned(),
        }
    }
}

/// The schema of a run's alerts.
pub fn alert_schema(feed: bool) -> SchemaRef {
    if feed {
        let names: Vec<&'static str> = COLUMNS.iter().chain(&FEED_COLUMNS).copied().collect();
        text_schema(&names)
    } else {
        alert::schema()
    }
}

/// Evaluates the rules on each record of its input (`eventjson`, `"$path"`), one output
/// partition per input partition.
pub struct DetectExec {
    input: Arc<dyn ExecutionPlan>,
    detector: Arc<Detector>,
    report: Arc<ScanReport>,
    counts: Arc<Counts>,
    feed: Option<Arc<Feed>>,
    projection: Option<Vec<usize>>,
    /// Rules out records no rule can match, when the scan has not (a lake's, or one not given
    /// the rules' needles: `detections()` in a `query` session).
    prefilter: Option<Arc<Prefilter>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for DetectExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DetectExec")
            .field("rules", &self.detector.rules().len())
            .field("projection", &self.projection)
            .finish()
    }
}

impl DetectExec {
    /// `projection` picks columns of [`alert_schema`].
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        detector: Arc<Detector>,
        report: Arc<ScanReport>,
        counts: Arc<Counts>,
        feed: Option<Arc<Feed>>,
        projection: Option<Vec<usize>>,
    ) -> Result<DetectExec> {
        let full = alert_schema(feed.is_some());
        let schema = match &projection {
            Some(p) => Arc::new(full.project(p)?),
            None => full,
        };
        let partitions = input.output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(DetectExec {
            counts,
            input,
            detector,
            report,
            feed,
            projection,
            prefilter: None,
            schema,
            properties: Arc::new(properties),
        })
    }

    /// Evaluate only the records `prefilter` lets through (for a scan that does not apply it).
    pub fn with_prefilter(mut self, prefilter: Option<Prefilter>) -> DetectExec {
        self.prefilter = prefilter.map(Arc::new);
        self
    }
}

impl DisplayAs for DetectExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DetectExec: rules={}", self.detector.rules().len())
    }
}

impl ExecutionPlan for DetectExec {
    fn name(&self) -> &str {
        "DetectExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children).or_else(|_| internal_err!("one child"))?;
        Ok(Arc::new(DetectExec {
            input,
            detector: self.detector.clone(),
            report: self.report.clone(),
            counts: self.counts.clone(),
            feed: self.feed.clone(),
            projection: self.projection.clone(),
            prefilter: self.prefilter.clone(),
            schema: self.schema.clone(),
            properties: self.properties.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let batch_size = context.session_config().batch_size();
        let input = self.input.execute(partition, context)?;
        // Records are parsed as far as the rules, their alerts and the correlations read them.
        let paths = match (self.detector.paths(), &self.feed) {
            (Some(d), None) => Some(d.clone()),
            (Some(d), Some(feed)) => feed.paths.as_ref().map(|f| d.clone().union(f)),
            (None, _) => None,
        };
        let run = Run {
            paths,
            detector: self.detector.clone(),
            report: self.report.clone(),
            counts: self.counts.clone(),
            feed: self.feed.clone(),
            projection: self.projection.clone(),
            prefilter: self.prefilter.clone(),
            schema: self.schema.clone(),
            batch_size,
        };
        // Alerts are few and far between: gather them into batches of the session's size, so
        // that what reads them (a sort, a writer) sees a few full batches, not one per file.
        let alerts = futures::stream::unfold(
            (input, run, Vec::new(), false),
            |(mut input, run, mut pending, done)| async move {
                if done {
                    return None;
                }
                loop {
                    match input.next().await {
                        Some(Ok(b)) => {
                            if let Err(e) = evaluate(&b, &run, &mut pending) {
                                return Some((Err(e), (input, run, pending, true)));
                            }
                            if pending.len() >= run.batch_size {
                                let out = run.batch(std::mem::take(&mut pending));
                                return Some((out, (input, run, pending, false)));
                            }
                        }
                        Some(Err(e)) => return Some((Err(e), (input, run, pending, true))),
                        None if pending.is_empty() => return None,
                        None => {
                            let out = run.batch(std::mem::take(&mut pending));
                            return Some((out, (input, run, pending, true)));
                        }
                    }
                }
            },
        );
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            alerts,
        )))
    }
}

/// What one partition's stream needs.
struct Run {
    /// What of a record to parse (`None`: all of it).
    paths: Option<trailql_rules::Paths>,
    detector: Arc<Detector>,
    report: Arc<ScanReport>,
    counts: Arc<Counts>,
    feed: Option<Arc<Feed>>,
    projection: Option<Vec<usize>>,
    prefilter: Option<Arc<Prefilter>>,
    /// The columns [`Run::batch`] makes (those of `projection`).
    schema: SchemaRef,
    batch_size: usize,
}

/// An alert with the values of [`FEED_COLUMNS`].
type Pending = (Alert, [Option<String>; 3]);

impl Run {
    /// The alerts as a batch of the run's columns, each built straight from the alerts.
    fn batch(&self, pending: Vec<Pending>) -> Result<RecordBatch> {
        let all = COLUMNS.len()
            + if self.feed.is_some() {
                FEED_COLUMNS.len()
            } else {
                0
            };
        let columns: Vec<usize> = match &self.projection {
            Some(p) => p.clone(),
            None => (0..all).collect(),
        };
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|&c| {
                let array: StringArray = if c < COLUMNS.len() {
                    pending.iter().map(|(a, _)| a.cell(c)).collect()
                } else {
                    let e = c - COLUMNS.len();
                    pending
                        .iter()
                        .map(|(_, extra)| extra[e].as_deref())
                        .collect()
                };
                Arc::new(array) as ArrayRef
            })
            .collect();
        // With no column asked for (`count(*)`), the batch still says how many alerts it holds.
        let options = RecordBatchOptions::new().with_row_count(Some(pending.len()));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &options,
        )?)
    }
}

/// Evaluate the rules on one batch of the scan, adding its alerts to `alerts`.
fn evaluate(batch: &RecordBatch, run: &Run, alerts: &mut Vec<Pending>) -> Result<()> {
    let (detector, report, counts) = (&run.detector, &run.report, &run.counts);
    let json = cast(batch.column(0), &DataType::Utf8)?;
    let json = json.as_string::<i32>();
    let path = cast(batch.column(1), &DataType::Utf8)?;
    let path = path.as_string::<i32>();
    let (mut evaluated, mut unevaluated) = (0, 0);
    for i in 0..batch.num_rows() {
        if json.is_null(i) {
            continue;
        }
        if let Some(p) = &run.prefilter {
            if !p.may_match_record(json.value(i).as_bytes()) {
                continue;
            }
        }
        let file = path.is_valid(i).then(|| path.value(i));
        let parsed = match &run.paths {
            Some(paths) => paths.parse(json.value(i)),
            None => serde_json::from_str(json.value(i)),
        };
        let record: serde_json::Value = match parsed {
            Ok(v) => v,
            Err(e) => {
                unevaluated += 1;
                report.warn(
                    file.unwrap_or_default().to_string(),
                    format!("a record was not evaluated by the rules: {e}"),
                );
                continue;
            }
        };
        evaluated += 1;
        let hits = detector.evaluate(&record);
        if hits.is_empty() {
            continue;
        }
        // Every alert on this record shows the same header: read it once.
        let header = Header::of(&record);
        let mut fed = false;
        for hit in &hits {
            let rule = &detector.rules()[hit.rule];
            counts.by_rule[hit.rule].fetch_add(1, Ordering::Relaxed);
            let mut extra = [None, None, None];
            if let Some(feed) = &run.feed {
                if feed.feeds[hit.rule] && !fed {
                    fed = true;
                    let feeding: Vec<String> = hits
                        .iter()
                        .filter(|h| feed.feeds[h.rule])
                        .map(|h| h.rule.to_string())
                        .collect();
                    extra[0] = Some(match &feed.paths {
                        Some(paths) => paths.cut(&record).to_string(),
                        None => json.value(i).to_string(),
                    });
                    extra[1] = Some(feeding.join(","));
                }
                if feed.hidden[hit.rule] {
                    extra[2] = Some("1".to_string());
                }
            }
            alerts.push((
                Alert::of(rule, hit, &header, file.map(str::to_string)),
                extra,
            ));
        }
    }
    counts.evaluated.fetch_add(evaluated, Ordering::Relaxed);
    counts.unevaluated.fetch_add(unevaluated, Ordering::Relaxed);
    Ok(())
}
