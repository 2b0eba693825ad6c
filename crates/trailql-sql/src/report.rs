//! Run-wide counters and warnings, shared by all partitions of a scan and read by the CLI for the
//! progress bar and the closing summary.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

pub use trailql_s3::StatsSnapshot as S3Snapshot;
use trailql_s3::{S3Stats, StatsSnapshot};

/// Warnings kept word for word; past this many they are only counted, so a scan over a great
/// many bad files stays in bounded memory.
pub const KEPT_WARNINGS: usize = 1000;

/// A file (or source) that had a problem, with what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct ScanReport {
    pub files_total: AtomicU64,
    pub files_pruned: AtomicU64,
    /// Local folders not walked (out of the query's accounts, regions or days).
    pub folders_pruned: AtomicU64,
    pub files_to_read: AtomicU64,
    pub bytes_to_read: AtomicU64,
    /// Listings still running: files to read (and their bytes) are still being added.
    pub listings_running: AtomicU64,
    pub files_read: AtomicU64,
    pub files_prefiltered: AtomicU64,
    pub files_bad: AtomicU64,
    pub bytes_read: AtomicU64,
    pub events: AtomicU64,
    pub records_prefiltered: AtomicU64,
    pub bad_records: AtomicU64,
    pub type_problems: AtomicU64,
    skipped: Mutex<BTreeMap<&'static str, u64>>,
    /// The first [`KEPT_WARNINGS`] warnings, and how many there were.
    warnings: Mutex<Vec<Warning>>,
    warnings_total: AtomicU64,
    /// Files that could not be read at all (not found, denied, network): a sync must not
    /// record them as converted.
    unread: Mutex<Vec<String>>,
    /// Requests to S3 when a source is a bucket.
    s3: OnceLock<Arc<S3Stats>>,
    lake: OnceLock<String>,
    /// S3 counters at the start of the current query.
    s3_base: Mutex<StatsSnapshot>,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportSnapshot {
    pub files_total: u64,
    pub files_pruned: u64,
    pub folders_pruned: u64,
    pub files_to_read: u64,
    pub bytes_to_read: u64,
    /// Still listing: the files and bytes to read are so far.
    pub listing: bool,
    pub files_read: u64,
    pub files_prefiltered: u64,
    pub files_bad: u64,
    pub bytes_read: u64,
    pub events: u64,
    pub records_prefiltered: u64,
    pub bad_records: u64,
    pub type_problems: u64,
    /// Files not read as events, by reason (digest, insight, config, other-service, not-json…).
    pub skipped: BTreeMap<&'static str, u64>,
    pub warnings: usize,
    /// This query's S3 requests (when a source is a bucket).
    pub s3: Option<StatsSnapshot>,
    /// The lake the table reads, when it is one (its Parquet scans are not counted here).
    pub lake: Option<String>,
}

impl ReportSnapshot {
    pub fn files_skipped(&self) -> u64 {
        self.skipped.values().sum()
    }
}

impl ScanReport {
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn skip(&self, reason: &'static str) {
        *self
            .skipped
            .lock()
            .expect("report lock")
            .entry(reason)
            .or_default() += 1;
    }

    pub fn warn(&self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings_total.fetch_add(1, Relaxed);
        let mut kept = self.warnings.lock().expect("report lock");
        if kept.len() < KEPT_WARNINGS {
            kept.push(Warning {
                path: path.into(),
                message: message.into(),
            });
        }
    }

    /// The warnings kept (the first [`KEPT_WARNINGS`]; the snapshot counts them all).
    /// A file that could not be read at all (its bytes never arrived).
    pub fn unread(&self, path: &str) {
        self.unread
            .lock()
            .expect("report lock")
            .push(path.to_string());
    }

    /// The files that could not be read at all.
    pub fn unread_files(&self) -> Vec<String> {
        self.unread.lock().expect("report lock").clone()
    }

    pub fn warnings(&self) -> Vec<Warning> {
        self.warnings.lock().expect("report lock").clone()
    }

    pub fn snapshot(&self) -> ReportSnapshot {
        let g = |c: &AtomicU64| c.load(Relaxed);
        ReportSnapshot {
            files_total: g(&self.files_total),
            files_pruned: g(&self.files_pruned),
            folders_pruned: g(&self.folders_pruned),
            files_to_read: g(&self.files_to_read),
            bytes_to_read: g(&self.bytes_to_read),
            listing: g(&self.listings_running) > 0,
            files_read: g(&self.files_read),
            files_prefiltered: g(&self.files_prefiltered),
            files_bad: g(&self.files_bad),
            bytes_read: g(&self.bytes_read),
            events: g(&self.events),
            records_prefiltered: g(&self.records_prefiltered),
            bad_records: g(&self.bad_records),
            type_problems: g(&self.type_problems),
            skipped: self.skipped.lock().expect("report lock").clone(),
            warnings: g(&self.warnings_total) as usize,
            s3: self.s3.get().map(|s| {
                let base = *self.s3_base.lock().expect("report lock");
                s.snapshot().since(&base)
            }),
            lake: self.lake.get().cloned(),
        }
    }

    /// The table reads this lake, not trail files.
    pub fn set_lake(&self, url: String) {
        let _ = self.lake.set(url);
    }

    /// Whether the table reads a lake (whose scan does not apply [`crate::ScanOptions`]'s
    /// record prefilter).
    pub fn reads_lake(&self) -> bool {
        self.lake.get().is_some()
    }

    /// Count this run's S3 requests in the report.
    pub fn attach_s3(&self, stats: Arc<S3Stats>) {
        let _ = self.s3.set(stats);
    }

    /// Start a new query (the shell runs several on one table).
    pub fn reset(&self) {
        for c in [
            &self.files_total,
            &self.files_pruned,
            &self.folders_pruned,
            &self.files_to_read,
            &self.bytes_to_read,
            &self.files_read,
            &self.files_prefiltered,
            &self.files_bad,
            &self.bytes_read,
            &self.events,
            &self.records_prefiltered,
            &self.bad_records,
            &self.type_problems,
            &self.warnings_total,
        ] {
            c.store(0, Relaxed);
        }
        self.skipped.lock().expect("report lock").clear();
        self.warnings.lock().expect("report lock").clear();
        self.unread.lock().expect("report lock").clear();
        if let Some(s) = self.s3.get() {
            *self.s3_base.lock().expect("report lock") = s.snapshot();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_past_the_kept_ones_are_counted() {
        let r = ScanReport::default();
        for i in 0..KEPT_WARNINGS + 5 {
            r.warn(format!("f{i}"), "bad");
        }
        assert_eq!(r.warnings().len(), KEPT_WARNINGS);
        assert_eq!(r.warnings()[0].path, "f0");
        assert_eq!(r.snapshot().warnings, KEPT_WARNINGS + 5);
        r.reset();
        assert_eq!((r.warnings().len(), r.snapshot().warnings), (0, 0));
    }
}
