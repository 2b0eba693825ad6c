//! `lake sync`: the trail files not yet in the lake (by the manifest), decoded by the same scan
//! `query` uses, split by partition, deduplicated, sorted and written; the manifest last.
//!
//! A sync killed at any point leaves only whole files (each written atomically) and the old
//! manifest; the next sync converts again the files the manifest lacks, and the rows of them that
//! made it into the lake are dropped as duplicates then. So nothing is lost and nothing doubled.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::error::Result;
use futures::TryStreamExt;
use trailql_decode::schema::record_specs;
use trailql_layout::{Location, TimeWindow};
use trailql_s3::S3Client;
use trailql_sql::exec::ScanFile;
use trailql_sql::{CloudTrailTable, Engine, ScanOptions, Warning};

use crate::columns::{file_schema, index, SOURCEFILE};
use crate::gather::gathered;
use crate::location::Lake;
use crate::manifest::{Entry, Manifest, Stamp};
use crate::partition::{split, Extras, PartitionKey};
use crate::write::{Budget, Buffers, Flushed};
use crate::writers::Writers;

/// What one sync did.
#[derive(Debug, Default, Clone)]
pub struct SyncReport {
    /// Event files of the sources in the window.
    pub files_listed: u64,
    /// Of them, already in the lake unchanged.
    pub files_in_lake: u64,
    /// Converted by this sync.
    pub files_converted: u64,
    /// Could not be read (not recorded: the next sync tries them again).
    pub files_unread: u64,
    pub records: u64,
    pub written: Flushed,
    pub partitions: usize,
    pub warnings: Vec<Warning>,
    pub elapsed: Duration,
}

/// What identifies this version of a listed file.
fn stamp(f: &ScanFile) -> Stamp {
    match &f.location {
        Location::Object { etag, .. } => Stamp {
            size: f.size,
            etag: etag.clone(),
            mtime_ns: None,
        },
        Location::Local(p) => Stamp {
            size: f.size,
            etag: None,
            mtime_ns: std::fs::metadata(p)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as u64),
        },
    }
}

/// The statement a sync reads its rows with: the file columns, then the partition sources.
fn select() -> String {
    let mut cols: Vec<String> = record_specs()
        .iter()
        .map(|s| format!("\"{}\"", s.name))
        .collect();
    cols.push("eventjson".into());
    cols.push(format!("\"$path\" AS {SOURCEFILE}"));
    cols.extend(["account", "region", "\"timestamp\""].map(String::from));
    format!("SELECT {} FROM cloudtrail_logs", cols.join(", "))
}

/// Convert the sources' files within `window` that the lake does not hold yet.
pub async fn sync(
    lake: &Lake,
    table: CloudTrailTable,
    client: Option<Arc<S3Client>>,
    options: &ScanOptions,
    window: TimeWindow,
    budget: Budget,
) -> Result<SyncReport> {
    let started = Instant::now();
    lake.clean_staging();
    let mut manifest = Manifest::load(lake).await?;
    if manifest.files.is_empty() {
        // A lake is known by its manifest: from the first moment, even if this run is killed.
        manifest.save(lake).await?;
    }
    let listed = table.list(window).await?;
    let mut report = SyncReport {
        files_listed: listed.len() as u64,
        ..SyncReport::default()
    };
    let mut todo: Vec<(ScanFile, Stamp)> = Vec::new();
    for f in listed {
        let s = stamp(&f);
        if manifest.holds(&f.display, &s) {
            report.files_in_lake += 1;
        } else {
            todo.push((f, s));
        }
    }
    if todo.is_empty() {
        report.elapsed = started.elapsed();
        return Ok(report);
    }
    // In key order (account, region, day), a partition's rows come together and it is written
    // as one file once the scan has moved on (listing runs prefixes in parallel).
    todo.sort_by(|(a, _), (b, _)| a.display.cmp(&b.display));

    let scan = table.report().clone();
    let table = table.with_files(todo.iter().map(|(f, _)| f.clone()).collect());
    let engine = Engine::over(Arc::new(table), scan.clone(), client, options)?;
    let mut stream = Box::pin(gathered(
        engine.sql(&select()).await?.execute_stream().await?,
    ));
    let n_file = file_schema().fields().len();
    let extras = Extras {
        account: n_file,
        region: n_file + 1,
        timestamp: n_file + 2,
    };
    let mut buffers = Buffers::default();
    let mut writers = Writers::default();
    let mut records: HashMap<String, u64> = HashMap::new();
    let mut partitions: BTreeSet<PartitionKey> = BTreeSet::new();
    while let Some(batch) = stream.try_next().await? {
        report.records += batch.num_rows() as u64;
        let paths = batch.column(index(SOURCEFILE)).as_string::<i32>();
        let mut i = 0;
        while i < paths.len() {
            // Rows of a file come together: count runs.
            let p = if paths.is_valid(i) {
                paths.value(i)
            } else {
                ""
            };
            let mut j = i + 1;
            while j < paths.len() && paths.is_valid(j) && paths.value(j) == p {
                j += 1;
            }
            *records.entry(p.to_string()).or_default() += (j - i) as u64;
            i = j;
        }
        for (key, b) in split(&batch, &extras)? {
            partitions.insert(key.clone());
            buffers.push(key, b);
        }
        // A due partition waits in its buffer while a file is being written, so the scan goes
        // on beside the encoder; once the buffers are full, a second file is started.
        while let Some(k) = buffers.due(&budget) {
            if !writers.idle(&mut report.written).await? && !buffers.full(&budget) {
                break;
            }
            writers
                .write(lake, k, &mut buffers, &mut report.written)
                .await?;
        }
    }
    drop(stream);
    for k in buffers.keys() {
        writers
            .write(lake, k, &mut buffers, &mut report.written)
            .await?;
    }
    writers.finish(&mut report.written).await?;

    let unread: BTreeSet<String> = scan.unread_files().into_iter().collect();
    let warnings = scan.warnings();
    let mut by_file: HashMap<&str, Vec<String>> = HashMap::new();
    for w in &warnings {
        by_file.entry(&w.path).or_default().push(w.message.clone());
    }
    for (f, stamp) in todo {
        if unread.contains(&f.display) {
            report.files_unread += 1;
            continue;
        }
        report.files_converted += 1;
        let entry = Entry {
            stamp,
            records: records.get(&f.display).copied().unwrap_or(0),
            warnings: by_file.remove(f.display.as_str()).unwrap_or_default(),
        };
        manifest.files.insert(f.display.clone(), entry);
    }
    manifest.save(lake).await?;
    report.partitions = partitions.len();
    report.warnings = warnings;
    report.elapsed = started.elapsed();
    Ok(report)
}
