//! The physical scan: each partition takes the next file from the scan's queue (fed by the
//! listings as they go, see [`crate::listing`]), reads and decodes it, and so on. Batches are
//! decoded as DataFusion asks for them: an ordinary file is inflated whole, a large one (or a
//! bomb) a window at a time ([`trailql_decode::stream`]), so memory stays at about one window
//! plus its batches per partition, and the queue's bounded backlog, whatever the files hold.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;
use trailql_decode::{DecodePlan, FileDecoder, FileMeta, FileReport, NotEventsContent};
use trailql_layout::{Location, SourceFile, TimeWindow};
use trailql_s3::S3Client;

use crate::listing::{Feed, FileQueue};
use crate::report::ScanReport;
use crate::table::ScanOptions;

/// A file to read (its key-derived column values are computed when it is read).
pub type ScanFile = Arc<SourceFile>;

/// Where a scan's files come from.
#[derive(Debug, Clone)]
pub(crate) enum Files {
    /// Listed while the scan runs.
    Listed(Arc<Feed>),
    /// Listed before the scan (to validate them for `"$verified"`).
    Fixed(Arc<Vec<ScanFile>>),
}

impl Files {
    fn queue(&self) -> FileQueue {
        match self {
            Files::Listed(feed) => FileQueue::start(feed.clone()),
            Files::Fixed(files) => FileQueue::fixed(files),
        }
    }
}

/// One execution of the plan: the queue its partitions share, started by the first of them to
/// ask for a file.
#[derive(Debug, Default)]
struct Run {
    queue: OnceLock<FileQueue>,
}

#[derive(Debug)]
pub struct CloudTrailExec {
    files: Files,
    partitions: usize,
    /// The current execution, and how many of its partitions have been started.
    run: Mutex<(Arc<Run>, usize)>,
    plan: Arc<DecodePlan>,
    limit: Option<usize>,
    window: TimeWindow,
    options: ScanOptions,
    report: Arc<ScanReport>,
    /// Reads `s3://` files (GETs in flight per partition: its concurrency / partitions).
    s3: Option<Arc<S3Client>>,
    /// Files that validated, when the query reads `"$verified"`.
    valid: Option<Arc<HashSet<String>>>,
    properties: Arc<PlanProperties>,
}

impl CloudTrailExec {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        files: Files,
        plan: DecodePlan,
        partitions: usize,
        limit: Option<usize>,
        window: TimeWindow,
        options: ScanOptions,
        report: Arc<ScanReport>,
        s3: Option<Arc<S3Client>>,
        valid: Option<Arc<HashSet<String>>>,
    ) -> Self {
        let partitions = partitions.max(1);
        let properties = PlanProperties::new(
            EquivalenceProperties::new(plan.schema.clone()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        CloudTrailExec {
            files,
            partitions,
            run: Mutex::new((Arc::new(Run::default()), 0)),
            plan: Arc::new(plan),
            limit,
            window,
            options,
            report,
            s3,
            valid,
            properties: Arc::new(properties),
        }
    }

    /// The execution partition `execute` joins: the current one, or a new one once every
    /// partition of the current one has started (the plan is being run again).
    fn join_run(&self) -> Arc<Run> {
        let mut run = self.run.lock().expect("run lock");
        if run.1 == self.partitions {
            *run = (Arc::new(Run::default()), 0);
        }
        run.1 += 1;
        run.0.clone()
    }

    /// GETs each partition keeps in flight (local files are read one at a time).
    fn read_ahead(&self) -> usize {
        let reads_objects = match &self.files {
            Files::Listed(feed) => feed.remote.is_some(),
            Files::Fixed(files) => files
                .iter()
                .any(|f| matches!(f.location, Location::Object { .. })),
        };
        match &self.s3 {
            Some(c) if reads_objects => (c.options().concurrency / self.partitions).max(1),
            _ => 1,
        }
    }
}

impl DisplayAs for CloudTrailExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.files {
            Files::Listed(feed) => write!(f, "CloudTrailExec: {}", feed.describe())?,
            Files::Fixed(files) => write!(f, "CloudTrailExec: files={}", files.len())?,
        }
        write!(f, " partitions={}", self.partitions)?;
        if !self.window.is_unbounded() {
            let show = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "..".into())
            };
            write!(
                f,
                " eventtime=[{}, {}] late_margin={}",
                show(self.window.start),
                show(self.window.end),
                self.options
                    .late_margin
                    .map(|d| format!("{}s", d.num_seconds()))
                    .unwrap_or_else(|| "none".into())
            )?;
        }
        if let Some(p) = &self.plan.prefilter {
            write!(f, " prefilter={:?}", p.needles())?;
            if let Some(w) = p.words() {
                write!(f, " words={} fields={}", w.words().len(), w.fields())?;
            }
        }
        let cols: Vec<&str> = self
            .plan
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        write!(f, " projection=[{}]", cols.join(", "))?;
        if let Some(l) = self.limit {
            write!(f, " limit={l}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for CloudTrailExec {
    fn name(&self) -> &str {
        "CloudTrailExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let run = self.join_run();
        let files = self.files.clone();
        let plan = self.plan.clone();
        let report = self.report.clone();
        let strict = self.options.strict;
        let s3 = self.s3.clone();
        let valid = self.valid.clone();
        // The next file from the shared queue, until it is empty or fails.
        let next = futures::stream::unfold(Some((run, files)), |state| async move {
            let (run, files) = state?;
            let item = run.queue.get_or_init(|| files.queue()).next().await?;
            let more = item.is_ok().then_some((run, files));
            Some((item, more))
        });
        let whole_max = self.plan.stream.whole_max as u64;
        let batches = next
            .map(move |item| {
                let s3 = s3.clone();
                async move {
                    let f = item?;
                    let raw = load(&f, s3.as_deref(), whole_max).await;
                    Ok((f, raw))
                }
            })
            .buffered(self.read_ahead())
            .flat_map(move |loaded: Result<(ScanFile, _)>| {
                let out: Box<dyn Iterator<Item = Result<RecordBatch>> + Send> = match loaded {
                    Ok((f, raw)) => {
                        let meta = crate::partition::file_meta(&f, valid.as_deref());
                        Box::new(FileBatches::open(meta, raw, &plan, &report, strict))
                    }
                    Err(e) => Box::new(std::iter::once(Err(e))),
                };
                futures::stream::iter(out)
            });
        let stream: futures::stream::BoxStream<'static, Result<RecordBatch>> = match self.limit {
            None => batches.boxed(),
            Some(limit) => batches
                .scan(0usize, move |seen, b| {
                    if *seen >= limit {
                        return futures::future::ready(None);
                    }
                    if let Ok(b) = &b {
                        *seen += b.num_rows();
                    }
                    futures::future::ready(Some(b))
                })
                .boxed(),
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.plan.schema.clone(),
            stream,
        )))
    }
}

/// A file's content as it is handed to the decoder.
enum Raw {
    /// Read whole (ordinary files).
    Bytes(Bytes),
    /// Read as it is decoded: a local file, or an S3 object spooled to a temporary file, over
    /// the size read whole.
    File(std::fs::File, u64),
}

/// Objects over this size (compressed) are spooled to a temporary file rather than held, so
/// that the GETs in flight hold at most this much each.
const SPOOL_OBJECTS_OVER: u64 = 4 << 20;

/// A file's content, or why it could not be read. Local files over `whole_max` bytes are
/// opened, not read.
async fn load(
    f: &ScanFile,
    s3: Option<&S3Client>,
    whole_max: u64,
) -> std::result::Result<Raw, String> {
    match &f.location {
        Location::Local(path) => {
            let read = if f.size > whole_max {
                std::fs::File::open(path).map(|file| Raw::File(file, f.size))
            } else {
                read_local(path, f.size).map(|b| Raw::Bytes(Bytes::from(b)))
            };
            read.map_err(|e| {
                format!("cannot read the file: {e} (check permissions, or that it was not moved during the query)")
            })
        }
        Location::Object { bucket, key, etag } => match s3 {
            Some(c) if f.size > SPOOL_OBJECTS_OVER => c
                .fetch_to_file(bucket, key)
                .await
                .map(|file| Raw::File(file, f.size))
                .map_err(|e| format!("cannot read the object: {e}")),
            Some(c) => c
                .fetch(bucket, key, etag.as_deref())
                .await
                .map(Raw::Bytes)
                .map_err(|e| format!("cannot read the object: {e}")),
            None => Err("an S3 object but no S3 client (internal error)".into()),
        },
    }
}

/// A local file's bytes, read into a buffer sized from the listing (no second `stat`).
fn read_local(path: &std::path::Path, listed_size: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(usize::try_from(listed_size).unwrap_or(0));
    std::fs::File::open(path)?.read_to_end(&mut buf)?;
    Ok(buf)
}

/// One file's batches, decoded as they are asked for; when the file ends it is accounted for
/// in the report, and `--strict` applied.
struct FileBatches {
    path: String,
    /// The `--strict` error of a file that could not be read, given first.
    failed: Option<DataFusionError>,
    decoder: Option<FileDecoder<'static>>,
    report: Arc<ScanReport>,
    strict: bool,
}

impl FileBatches {
    fn open(
        meta: FileMeta,
        raw: std::result::Result<Raw, String>,
        plan: &Arc<DecodePlan>,
        report: &Arc<ScanReport>,
        strict: bool,
    ) -> FileBatches {
        let path = meta.path.clone();
        let mut failed = None;
        let decoder = match raw {
            Ok(Raw::Bytes(b)) => {
                report.add(&report.bytes_read, b.len() as u64);
                Some(FileDecoder::from_bytes(b, meta, plan.clone()))
            }
            Ok(Raw::File(file, size)) => {
                report.add(&report.bytes_read, size);
                Some(FileDecoder::from_reader(file, meta, plan.clone()))
            }
            Err(msg) => {
                report.add(&report.files_bad, 1);
                report.warn(&path, &msg);
                report.unread(&path);
                failed = strict_error(strict, &path, &msg);
                None
            }
        };
        FileBatches {
            path,
            failed,
            decoder,
            report: report.clone(),
            strict,
        }
    }
}

impl Iterator for FileBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        if let Some(e) = self.failed.take() {
            return Some(Err(e));
        }
        let decoder = self.decoder.as_mut()?;
        if let Some(b) = decoder.next() {
            return Some(Ok(b));
        }
        let r = self.decoder.take()?.into_report();
        account(&self.path, &r, &self.report, self.strict).map(Err)
    }
}

/// Count a decoded file in the report and warn about its problems; the error `--strict` makes
/// of them.
fn account(
    path: &str,
    r: &FileReport,
    report: &ScanReport,
    strict: bool,
) -> Option<DataFusionError> {
    report.add(&report.files_read, 1);
    report.add(&report.events, r.rows);
    report.add(&report.records_prefiltered, r.prefiltered_records);
    report.add(&report.bad_records, r.bad_records);
    report.add(&report.type_problems, r.type_problems);
    if r.prefiltered_file {
        report.add(&report.files_prefiltered, 1);
    }
    if let Some(kind) = r.not_events {
        let (reason, what) = match kind {
            NotEventsContent::Digest => ("digest", "a CloudTrail digest file"),
            NotEventsContent::Config => ("config", "an AWS Config file"),
        };
        report.skip(reason);
        let msg = format!("{what} outside its usual folder: not read as events");
        report.warn(path, &msg);
        return strict_error(strict, path, &msg);
    }
    if r.has_problems() {
        if r.file_error.is_some() {
            report.add(&report.files_bad, 1);
        }
        let msg = r.describe();
        report.warn(path, &msg);
        return strict_error(strict, path, &msg);
    }
    None
}

fn strict_error(strict: bool, path: &str, msg: &str) -> Option<DataFusionError> {
    strict.then(|| {
        DataFusionError::Execution(format!(
            "{path}: {msg} (--strict: bad input is an error; drop --strict to skip and count it)"
        ))
    })
}
