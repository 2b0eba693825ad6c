//! The physical scan: each partition reads and decodes its share of the files, one at a time,
//! so memory stays at about one file (inflated) plus its batches per partition.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

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
use trailql_decode::{decode_file, DecodePlan, FileMeta, NotEventsContent};
use trailql_layout::{Location, SourceFile, TimeWindow};
use trailql_s3::S3Client;

use crate::report::ScanReport;
use crate::table::ScanOptions;

/// A file to read (its key-derived column values are computed when it is read).
pub type ScanFile = Arc<SourceFile>;

#[derive(Debug)]
pub struct CloudTrailExec {
    groups: Vec<Arc<Vec<ScanFile>>>,
    plan: Arc<DecodePlan>,
    limit: Option<usize>,
    window: TimeWindow,
    options: ScanOptions,
    report: Arc<ScanReport>,
    pruned: u64,
    /// Reads `s3://` files (GETs in flight per partition: its concurrency / partitions).
    s3: Option<Arc<S3Client>>,
    /// Files that validated, when the query reads `"$verified"`.
    valid: Option<Arc<HashSet<String>>>,
    properties: Arc<PlanProperties>,
}

impl CloudTrailExec {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        files: Vec<ScanFile>,
        plan: DecodePlan,
        partitions: usize,
        limit: Option<usize>,
        window: TimeWindow,
        options: ScanOptions,
        report: Arc<ScanReport>,
        pruned: u64,
        s3: Option<Arc<S3Client>>,
        valid: Option<Arc<HashSet<String>>>,
    ) -> Self {
        let groups = balance(files, partitions);
        let properties = PlanProperties::new(
            EquivalenceProperties::new(plan.schema.clone()),
            Partitioning::UnknownPartitioning(groups.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        CloudTrailExec {
            groups: groups.into_iter().map(Arc::new).collect(),
            plan: Arc::new(plan),
            limit,
            window,
            options,
            report,
            pruned,
            s3,
            valid,
            properties: Arc::new(properties),
        }
    }

    fn file_count(&self) -> usize {
        self.groups.iter().map(|g| g.len()).sum()
    }
}

/// Split files into `n` groups of similar total size (largest first, each to the lightest group).
fn balance(mut files: Vec<ScanFile>, n: usize) -> Vec<Vec<ScanFile>> {
    let n = n.max(1).min(files.len().max(1));
    files.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.display.cmp(&b.display)));
    let mut groups: Vec<(u64, Vec<ScanFile>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for f in files {
        let g = groups
            .iter_mut()
            .min_by_key(|(size, _)| *size)
            .expect("at least one group");
        g.0 += f.size;
        g.1.push(f);
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

impl DisplayAs for CloudTrailExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "CloudTrailExec: files={} pruned={} partitions={}",
            self.file_count(),
            self.pruned,
            self.groups.len()
        )?;
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
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let files = self.groups.get(partition).cloned().unwrap_or_default();
        let plan = self.plan.clone();
        let report = self.report.clone();
        let strict = self.options.strict;
        let s3 = self.s3.clone();
        let valid = self.valid.clone();
        // Local files are read one at a time; objects are fetched ahead, a bounded number at once.
        let ahead = match &s3 {
            Some(c)
                if files
                    .iter()
                    .any(|f| matches!(f.location, Location::Object { .. })) =>
            {
                (c.options().concurrency / self.groups.len().max(1)).max(1)
            }
            _ => 1,
        };
        let batches = futures::stream::iter((0..files.len()).map(move |i| {
            let f = files[i].clone();
            let s3 = s3.clone();
            async move {
                let raw = load(&f, s3.as_deref()).await;
                (f, raw)
            }
        }))
        .buffered(ahead)
        .flat_map(move |(f, raw)| {
            let meta = crate::table::file_meta(&f, valid.as_deref());
            futures::stream::iter(read_file(meta, raw, &plan, &report, strict))
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

/// A file's bytes, or why they could not be read.
async fn load(f: &ScanFile, s3: Option<&S3Client>) -> std::result::Result<Bytes, String> {
    match &f.location {
        Location::Local(path) => std::fs::read(path).map(Bytes::from).map_err(|e| {
            format!("cannot read the file: {e} (check permissions, or that it was not moved during the query)")
        }),
        Location::Object { bucket, key, etag } => match s3 {
            Some(c) => c
                .fetch(bucket, key, etag.as_deref())
                .await
                .map_err(|e| format!("cannot read the object: {e}")),
            None => Err("an S3 object but no S3 client (internal error)".into()),
        },
    }
}

/// Decode one file's bytes, account for it in the report, and apply `--strict`.
fn read_file(
    meta: FileMeta,
    raw: std::result::Result<Bytes, String>,
    plan: &DecodePlan,
    report: &ScanReport,
    strict: bool,
) -> Vec<Result<RecordBatch>> {
    let path = &meta.path;
    let raw = match raw {
        Ok(b) => b,
        Err(msg) => {
            report.add(&report.files_bad, 1);
            report.warn(path, &msg);
            return strict_error(strict, path, &msg);
        }
    };
    report.add(&report.bytes_read, raw.len() as u64);
    let d = decode_file(&raw, &meta, plan);
    drop(raw);
    let r = &d.report;
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
        if strict {
            return strict_error(strict, path, &msg);
        }
    }
    d.batches.into_iter().map(Ok).collect()
}

fn strict_error(strict: bool, path: &str, msg: &str) -> Vec<Result<RecordBatch>> {
    if strict {
        vec![Err(DataFusionError::Execution(format!(
            "{path}: {msg} (--strict: bad input is an error; drop --strict to skip and count it)"
        )))]
    } else {
        vec![]
    }
}
