//! Where a scan's files come from. The local walk and the bucket listings of one query run while
//! the files are read: each file listed is triaged on the way (pruned by its key's time and by
//! filters on partition columns, skipped when it holds no events, all counted in the report) and
//! the files to read go into one bounded queue that every partition pulls from. So memory does
//! not grow with the number of files, and a partition that finishes a file takes the next one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::Duration;
use datafusion::common::{DataFusionError, Result};
use futures::StreamExt;
use tokio::sync::mpsc;
use trailql_layout::{walk_local, KeyKind, ListScope, SourceFile, TimeWindow, Walked};
use trailql_s3::{Listed, S3Url};

use crate::exec::ScanFile;
use crate::partition::{file_meta, PartitionFilter};
use crate::report::ScanReport;
use crate::table::RemoteSources;

/// Files listed ahead of the readers, at most (about 2 MB of paths and keys).
const QUEUE: usize = 4096;
/// Files triaged together (filters on partition columns are evaluated over this many at once),
/// and handed to the readers together: a listing waiting on a full queue is woken once per
/// chunk the readers take, not once per file.
const CHUNK: usize = 512;

/// What a listing sends: the files to read from one triaged chunk, or the error that ends it.
type Chunk = Result<Vec<ScanFile>>;

/// What one scan keeps of the files listed.
#[derive(Debug)]
pub(crate) struct Triage {
    pub window: TimeWindow,
    pub late_margin: Option<Duration>,
    pub partition: Option<PartitionFilter>,
    pub report: Arc<ScanReport>,
}

impl Triage {
    /// The files of `chunk` the scan must read; the others are counted as pruned or skipped.
    pub fn keep(&self, chunk: Vec<SourceFile>) -> Result<Vec<ScanFile>> {
        let report = &self.report;
        report.add(&report.files_total, chunk.len() as u64);
        let mut files = Vec::with_capacity(chunk.len());
        let mut pruned = 0usize;
        for f in chunk {
            match &f.kind {
                KeyKind::TrailLog(k) if !self.window.may_contain(k, self.late_margin) => {
                    pruned += 1
                }
                KeyKind::TrailLog(_) | KeyKind::LooseJson => files.push(f),
                KeyKind::NotEvents(r) => report.skip(r.as_str()),
                KeyKind::Other => report.skip("not-json"),
            }
        }
        if let Some(p) = &self.partition {
            let metas: Vec<_> = files.iter().map(|f| file_meta(f, None)).collect();
            let mut keep = p.mask(&metas)?.into_iter();
            let before = files.len();
            files.retain(|_| keep.next().unwrap_or(false));
            pruned += before - files.len();
        }
        report.add(&report.files_pruned, pruned as u64);
        report.add(&report.files_to_read, files.len() as u64);
        report.add(&report.bytes_to_read, files.iter().map(|f| f.size).sum());
        Ok(files.into_iter().map(Arc::new).collect())
    }
}

/// What one scan lists: its local sources and buckets, within the query's scope.
#[derive(Debug)]
pub(crate) struct Feed {
    pub local: Vec<PathBuf>,
    pub remote: Option<RemoteSources>,
    pub scope: ListScope,
    pub strict: bool,
    pub triage: Triage,
}

impl Feed {
    /// A folder or prefix that cannot be listed: a warning, or with `--strict` an error.
    fn problem(&self, at: String, problem: impl std::fmt::Display) -> Result<()> {
        let msg = format!("cannot list: {problem}");
        if self.strict {
            return Err(DataFusionError::Execution(format!(
                "{at}: {msg} (--strict: a folder or prefix that cannot be listed is an error)"
            )));
        }
        self.triage.report.warn(at, msg);
        Ok(())
    }

    /// The sources as EXPLAIN shows them.
    pub fn describe(&self) -> String {
        let mut names: Vec<String> = self.local.iter().map(|p| p.display().to_string()).collect();
        if let Some(r) = &self.remote {
            names.extend(r.urls.iter().map(S3Url::to_string));
        }
        let mut out = format!("sources=[{}]", names.join(", "));
        let set = |s: &Option<std::collections::BTreeSet<String>>| {
            s.as_ref()
                .map(|s| s.iter().cloned().collect::<Vec<_>>().join(", "))
        };
        if let Some(a) = set(&self.scope.accounts) {
            out.push_str(&format!(" accounts=[{a}]"));
        }
        if let Some(r) = set(&self.scope.regions) {
            out.push_str(&format!(" regions=[{r}]"));
        }
        if self.triage.partition.is_some() {
            out.push_str(" partition_filter");
        }
        out
    }
}

/// Sends listed files through triage into the queue, a chunk at a time.
struct Sender {
    feed: Arc<Feed>,
    tx: mpsc::Sender<Chunk>,
    chunk: Vec<SourceFile>,
}

impl Sender {
    fn new(feed: Arc<Feed>, tx: mpsc::Sender<Chunk>) -> Sender {
        Sender {
            feed,
            tx,
            chunk: Vec::with_capacity(CHUNK),
        }
    }

    /// Add a file; a full chunk is triaged and returned for sending.
    fn push(&mut self, f: SourceFile) -> Result<Vec<ScanFile>> {
        self.chunk.push(f);
        if self.chunk.len() < CHUNK {
            return Ok(Vec::new());
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<Vec<ScanFile>> {
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        self.feed.triage.keep(chunk)
    }

    /// Hand files to the readers from a thread; `false` once the readers are gone.
    fn send_blocking(&self, files: Chunk) -> bool {
        match files {
            Ok(files) if files.is_empty() => !self.tx.is_closed(),
            Ok(files) => self.tx.blocking_send(Ok(files)).is_ok(),
            Err(e) => {
                let _ = self.tx.blocking_send(Err(e));
                false
            }
        }
    }

    /// Hand files to the readers from a task; `false` once the readers are gone.
    async fn send(&self, files: Vec<ScanFile>) -> bool {
        if files.is_empty() {
            return !self.tx.is_closed();
        }
        self.tx.send(Ok(files)).await.is_ok()
    }
}

/// Walk the local sources (on its own thread: the walk blocks on the file system).
fn walk(feed: Arc<Feed>, tx: mpsc::Sender<Chunk>) {
    let mut out = Sender::new(feed.clone(), tx);
    let mut open = true;
    let walked = walk_local(&feed.local, &feed.scope, |w| {
        open = match w {
            Walked::File(f) => {
                let full = out.push(f);
                out.send_blocking(full)
            }
            Walked::Problem(p) => match feed.problem(p.path, p.message) {
                Ok(()) => true,
                Err(e) => out.send_blocking(Err(e)),
            },
        };
        open
    });
    match walked {
        Ok(pruned) => {
            let report = &feed.triage.report;
            report.add(&report.folders_pruned, pruned);
            if open {
                let rest = out.flush();
                out.send_blocking(rest);
            }
        }
        Err(e) => {
            out.send_blocking(Err(DataFusionError::External(Box::new(e))));
        }
    }
}

/// List one bucket source.
async fn list(feed: Arc<Feed>, url: S3Url, tx: mpsc::Sender<Chunk>) {
    let mut out = Sender::new(feed.clone(), tx);
    let run = async {
        let Some(remote) = &feed.remote else {
            return Ok(());
        };
        let mut stream = remote
            .client
            .list_stream(&url, &feed.scope)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        while let Some(item) = stream.next().await {
            match item {
                Listed::File(f) => {
                    let full = out.push(f)?;
                    if !out.send(full).await {
                        return Ok(());
                    }
                }
                Listed::Problem { prefix, message } => feed.problem(prefix, message)?,
            }
        }
        let rest = out.flush()?;
        out.send(rest).await;
        Ok(())
    };
    if let Err(e) = run.await {
        let _ = out.tx.send(Err(e)).await;
    }
}

/// The files of one scan, shared by its partitions.
#[derive(Debug)]
pub(crate) struct FileQueue {
    pending: tokio::sync::Mutex<Pending>,
    /// Listings started, and those that ended (rather than panicked).
    started: usize,
    ended: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::AbortHandle>,
}

/// The chunks not yet taken, and the rest of the one being handed out.
#[derive(Debug)]
struct Pending {
    rx: mpsc::Receiver<Chunk>,
    files: std::vec::IntoIter<ScanFile>,
}

impl Pending {
    fn new(rx: mpsc::Receiver<Chunk>) -> tokio::sync::Mutex<Pending> {
        tokio::sync::Mutex::new(Pending {
            rx,
            files: Vec::new().into_iter(),
        })
    }
}

/// Counts a listing as ended when it returns, not when it panics; and as running meanwhile.
struct Ending(Arc<AtomicUsize>, Arc<ScanReport>);

impl Ending {
    fn new(ended: &Arc<AtomicUsize>, report: &Arc<ScanReport>) -> Ending {
        report.add(&report.listings_running, 1);
        Ending(ended.clone(), report.clone())
    }

    fn done(self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        self.1.listings_running.fetch_sub(1, Ordering::Relaxed);
    }
}

impl FileQueue {
    /// Start the listings of `feed`: a thread for the local walk, a task per bucket source.
    /// Must be called inside the tokio runtime.
    pub fn start(feed: Arc<Feed>) -> FileQueue {
        let (tx, rx) = mpsc::channel(QUEUE / CHUNK);
        let ended = Arc::new(AtomicUsize::new(0));
        let report = feed.triage.report.clone();
        let mut started = 0;
        let mut tasks = Vec::new();
        if !feed.local.is_empty() {
            started += 1;
            let (feed, tx, ending) = (feed.clone(), tx.clone(), Ending::new(&ended, &report));
            std::thread::spawn(move || {
                walk(feed, tx.clone());
                // Counted before the last sender goes, so the readers never see the queue close
                // first.
                ending.done();
                drop(tx);
            });
        }
        for url in feed.remote.iter().flat_map(|r| r.urls.iter()) {
            started += 1;
            let (feed, tx, ending) = (feed.clone(), tx.clone(), Ending::new(&ended, &report));
            let url = url.clone();
            let task = tokio::spawn(async move {
                list(feed, url, tx.clone()).await;
                ending.done();
                drop(tx);
            });
            tasks.push(task.abort_handle());
        }
        FileQueue {
            pending: Pending::new(rx),
            started,
            ended,
            tasks,
        }
    }

    /// A queue over files already listed.
    pub fn fixed(files: &[ScanFile]) -> FileQueue {
        let (tx, rx) = mpsc::channel(1);
        tx.try_send(Ok(files.to_vec()))
            .expect("the channel holds one chunk");
        FileQueue {
            pending: Pending::new(rx),
            started: 0,
            ended: Arc::new(AtomicUsize::new(0)),
            tasks: Vec::new(),
        }
    }

    /// The next file to read, waiting for the listings; `None` once they are done and the queue
    /// is empty.
    pub async fn next(&self) -> Option<Result<ScanFile>> {
        {
            let mut p = self.pending.lock().await;
            loop {
                if let Some(f) = p.files.next() {
                    return Some(Ok(f));
                }
                match p.rx.recv().await {
                    Some(Ok(files)) => p.files = files.into_iter(),
                    Some(Err(e)) => return Some(Err(e)),
                    None => break,
                }
            }
        }
        // Every sender is gone: each listing ended, or one panicked and the rest is missing.
        (self.ended.load(Ordering::SeqCst) < self.started).then(|| {
            Err(DataFusionError::Internal(
                "a listing of the sources stopped part way (a bug: please report it); the \
                 results would be incomplete"
                    .into(),
            ))
        })
    }
}

impl Drop for FileQueue {
    fn drop(&mut self) {
        // The readers are gone (done, or stopped at a LIMIT): stop listing. The local walk stops
        // at its next send, now that the queue is closed.
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn feed(local: PathBuf, report: &Arc<ScanReport>) -> Arc<Feed> {
        Arc::new(Feed {
            local: vec![local],
            remote: None,
            scope: ListScope::default(),
            strict: false,
            triage: Triage {
                window: TimeWindow::default(),
                late_margin: None,
                partition: None,
                report: report.clone(),
            },
        })
    }

    /// A queue started over a folder of `n` empty JSON files.
    fn listing_of(n: usize) -> (tempfile::TempDir, Arc<ScanReport>, FileQueue) {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..n {
            std::fs::write(dir.path().join(format!("f{i:05}.json")), b"").unwrap();
        }
        let report = Arc::new(ScanReport::default());
        let queue = FileQueue::start(feed(dir.path().to_path_buf(), &report));
        (dir, report, queue)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_listing_runs_ahead_of_the_readers_by_a_bounded_backlog() {
        let n = QUEUE * 3;
        let (_dir, report, queue) = listing_of(n);
        let first = queue.next().await.unwrap().unwrap();
        // Let the walk run until it stops: with the queue full it waits for the readers.
        let mut listed = 0;
        loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let now = report.snapshot().files_total;
            if now == listed {
                break;
            }
            listed = now;
        }
        assert!(
            listed as usize <= QUEUE + 2 * CHUNK,
            "{listed} files listed ahead"
        );
        assert!(report.snapshot().listing);
        // Reading on takes every file, once.
        let mut seen = HashSet::from([first.display.clone()]);
        while let Some(f) = queue.next().await {
            assert!(seen.insert(f.unwrap().display.clone()));
        }
        assert_eq!(seen.len(), n);
        let r = report.snapshot();
        assert!(!r.listing);
        assert_eq!((r.files_total, r.files_to_read), (n as u64, n as u64));
    }

    #[tokio::test]
    async fn readers_that_stop_stop_the_listing() {
        let n = QUEUE * 2;
        let (_dir, report, queue) = listing_of(n);
        queue.next().await.unwrap().unwrap();
        drop(queue);
        // The walk ends at its next send into the closed queue.
        for _ in 0..100 {
            if !report.snapshot().listing {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let r = report.snapshot();
        assert!(!r.listing);
        assert!(
            (r.files_total as usize) < n,
            "{} of {n} listed",
            r.files_total
        );
    }

    #[tokio::test]
    async fn a_missing_source_is_an_error_from_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let report = Arc::new(ScanReport::default());
        let queue = FileQueue::start(feed(dir.path().join("gone"), &report));
        let err = queue.next().await.unwrap().unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
        assert!(queue.next().await.is_none());
    }
}
