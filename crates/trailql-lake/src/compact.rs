//! `lake compact`: the files of each partition merged into one, still sorted by `eventtime`,
//! duplicates dropped on the way. DataFusion merges the (already sorted) files as streams, at
//! most [`FAN_IN`] at a time, so memory stays bounded whatever the partition's size; a partition
//! of many files takes several passes. The merged file is written whole (atomically) before the
//! files it replaces are deleted; a compaction killed in between leaves both, which the next
//! compaction merges again (dropping the duplicates). A file whose footer does not parse, or
//! whose pages cannot be read, is left as it is and named in the report ([`crate::footers`]);
//! the others are merged.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{col, ParquetReadOptions, SessionConfig, SessionContext};
use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStoreExt};
use parquet::arrow::ArrowWriter;

use crate::columns::{file_schema, index, writer_properties, EVENTID, EVENTTIME};
use crate::footers::{self, Unreadable};
use crate::location::Lake;
use crate::names::unique;

/// Files merged in one pass.
pub const FAN_IN: usize = 8;
/// DataFusion's memory pool for a merge (past it, sorts spill to disk).
const MEMORY: usize = 64 << 20;

#[derive(Debug, Default, Clone)]
pub struct CompactReport {
    pub partitions: usize,
    pub partitions_compacted: usize,
    pub files_before: u64,
    pub files_after: u64,
    /// Rows written by the merges: those of the compacted partitions only.
    pub rows: u64,
    pub duplicates: u64,
    /// Files left as they are: their footers do not parse, or their pages cannot be read.
    pub unreadable: Vec<Unreadable>,
    pub elapsed: Duration,
}

/// The lake's Parquet files by partition folder.
pub async fn partitions(lake: &Lake) -> Result<BTreeMap<String, Vec<ObjectMeta>>> {
    let mut out: BTreeMap<String, Vec<ObjectMeta>> = BTreeMap::new();
    for m in lake.list("").await? {
        let rel = lake.relative(&m.location).to_string();
        if !rel.ends_with(".parquet") || rel.starts_with(crate::location::META_DIR) {
            continue;
        }
        let Some((dir, _)) = rel.rsplit_once('/') else {
            continue;
        };
        out.entry(dir.to_string()).or_default().push(m);
    }
    Ok(out)
}

/// Drops rows repeating the event id of an earlier row with the same `eventtime` (the input is
/// sorted by it, so duplicates are adjacent in time).
#[derive(Default)]
struct Dedup {
    time: Option<String>,
    ids: HashSet<String>,
    dropped: u64,
}

impl Dedup {
    fn apply(&mut self, b: &RecordBatch) -> Result<RecordBatch> {
        let t = b.column(index(EVENTTIME)).as_string::<i32>();
        let id = b.column(index(EVENTID)).as_string::<i32>();
        let mut dropped = 0;
        let keep: BooleanArray = (0..b.num_rows())
            .map(|i| {
                let ti = t.is_valid(i).then(|| t.value(i));
                if ti != self.time.as_deref() {
                    self.time = ti.map(str::to_string);
                    self.ids.clear();
                }
                if id.is_null(i) || id.value(i).is_empty() {
                    return Some(true);
                }
                let fresh = self.ids.insert(id.value(i).to_string());
                if !fresh {
                    dropped += 1;
                }
                Some(fresh)
            })
            .collect();
        self.dropped += dropped;
        if dropped == 0 {
            return Ok(b.clone());
        }
        Ok(filter_record_batch(b, &keep)?)
    }
}

fn url_of(lake: &Lake, m: &ObjectMeta) -> Result<String> {
    let base = lake.listing_url()?;
    Ok(format!("{}{}", base.as_str(), lake.relative(&m.location)))
}

/// The session merges run in: a partition of the plan per file, a bounded memory pool.
fn session(lake: &Lake) -> Result<SessionContext> {
    // Each file is read once: no metadata, listing or statistics caches to grow with the lake.
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(MEMORY)))
        .with_metadata_cache_limit(0)
        .with_object_list_cache_limit(0)
        .with_file_statistics_cache_limit(0)
        .build_arc()?;
    let mut config = SessionConfig::new()
        .with_target_partitions(FAN_IN)
        .with_batch_size(1024);
    config
        .options_mut()
        .execution
        .parquet
        .schema_force_view_types = false;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    lake.register(&ctx)?;
    Ok(ctx)
}

/// Merge `files` (one partition's, each sorted) into one new file in `dir`.
async fn merge(
    ctx: &SessionContext,
    lake: &Lake,
    dir: &str,
    files: &[ObjectMeta],
) -> Result<(ObjectMeta, u64, u64)> {
    let urls: Vec<String> = files
        .iter()
        .map(|m| url_of(lake, m))
        .collect::<Result<_>>()?;
    let schema = file_schema();
    let options = ParquetReadOptions::default()
        .schema(&schema)
        .file_sort_order(vec![vec![col(EVENTTIME).sort(true, true)]]);
    let df = ctx
        .read_parquet(urls, options)
        .await?
        .sort(vec![col(EVENTTIME).sort(true, true)])?;
    let mut stream = df.execute_stream().await?;

    let staged = lake.stage()?;
    let file = std::fs::File::create(&staged)
        .map_err(|e| DataFusionError::Execution(format!("{}: {e}", staged.display())))?;
    let mut w = ArrowWriter::try_new(file, file_schema(), Some(writer_properties()))?;
    let mut dedup = Dedup::default();
    let mut rows = 0u64;
    while let Some(b) = stream.try_next().await? {
        let b = RecordBatch::try_new(file_schema(), b.columns().to_vec())?;
        let b = dedup.apply(&b)?;
        rows += b.num_rows() as u64;
        w.write(&b)?;
    }
    w.close()?;
    let rel = format!("{dir}/{}.parquet", unique("compact"));
    lake.put_file(&staged, &rel).await?;
    let meta =
        lake.store().head(&lake.path(&rel)).await.map_err(|e| {
            DataFusionError::Execution(format!("{rel}: written but not found: {e}"))
        })?;
    for f in files {
        lake.delete(lake.relative(&f.location)).await?;
    }
    Ok((meta, rows, dedup.dropped))
}

/// The files of `files` that cannot be read to their end, each read whole (one batch at a time).
async fn damaged(ctx: &SessionContext, lake: &Lake, files: &[ObjectMeta]) -> Vec<Unreadable> {
    let mut bad = Vec::new();
    for f in files {
        let read = async {
            let df = ctx
                .read_parquet(url_of(lake, f)?, ParquetReadOptions::default())
                .await?;
            let mut stream = df.execute_stream().await?;
            while stream.try_next().await?.is_some() {}
            Ok::<_, DataFusionError>(())
        };
        if let Err(e) = read.await {
            bad.push(Unreadable {
                file: f.clone(),
                reason: format!("damaged Parquet data ({})", footers::tidy(&e.to_string())),
            });
        }
    }
    bad
}

/// `files` but the `bad` ones.
fn without(files: &[ObjectMeta], bad: &[Unreadable]) -> Vec<ObjectMeta> {
    files
        .iter()
        .filter(|f| !bad.iter().any(|u| u.file.location == f.location))
        .cloned()
        .collect()
}

/// Compact every partition holding more than one file.
pub async fn compact(lake: &Lake) -> Result<CompactReport> {
    let started = Instant::now();
    lake.clean_staging();
    let parts = partitions(lake).await?;
    let ctx = session(lake)?;
    let mut report = CompactReport {
        partitions: parts.len(),
        ..CompactReport::default()
    };
    for (dir, mut files) in parts {
        report.files_before += files.len() as u64;
        if files.len() >= 2 {
            let bad = footers::unreadable(lake.store().clone(), &files, None, None).await;
            files = without(&files, &bad);
            report.files_after += bad.len() as u64;
            report.unreadable.extend(bad);
        }
        if files.len() < 2 {
            report.files_after += files.len() as u64;
            continue;
        }
        report.partitions_compacted += 1;
        let mut rows = 0;
        while files.len() > 1 {
            let mut next = Vec::new();
            rows = 0;
            for chunk in files.chunks(FAN_IN) {
                if chunk.len() == 1 {
                    next.push(chunk[0].clone());
                    continue;
                }
                let (m, r, d) = match merge(&ctx, lake, &dir, chunk).await {
                    Ok(merged) => merged,
                    Err(e) => {
                        // A file whose footer parses may still hold damaged pages: find it by
                        // reading each file whole, set it aside, and merge the others.
                        let bad = damaged(&ctx, lake, chunk).await;
                        if bad.is_empty() {
                            return Err(e);
                        }
                        let rest = without(chunk, &bad);
                        report.files_after += bad.len() as u64;
                        report.unreadable.extend(bad);
                        if rest.len() < 2 {
                            next.extend(rest);
                            continue;
                        }
                        merge(&ctx, lake, &dir, &rest).await?
                    }
                };
                rows += r;
                report.duplicates += d;
                next.push(m);
            }
            files = next;
        }
        report.rows += rows;
        report.files_after += 1;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}
