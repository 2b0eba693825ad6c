//! Statements the pages run: one at a time (the scan's report counts one query), their rows kept
//! as they stream in (so the first page shows while the scan goes on) up to a memory budget,
//! paged and sorted on the server (a 100 k-row answer never goes to the browser whole), and
//! cancelled on request.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{
    concat, interleave, sort_to_indices, take_record_batch, SortOptions,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use futures::StreamExt;
use serde::Serialize;
use trailql_sql::{Engine, ReportSnapshot};

/// Rows kept per statement, in Arrow memory; past it the answer is marked truncated (downloads
/// then run the statement again and stream every row to the file).
pub const KEPT_BYTES: usize = 40 << 20;
/// Rows kept across every remembered statement: when one starts, the rows of older answers are
/// let go, oldest first, until its own [`KEPT_BYTES`] fit (the server stays within 256 MB).
pub const KEPT_TOTAL: usize = 80 << 20;
/// Statements remembered: the newest ones.
pub const KEPT_JOBS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

/// What went wrong, and where in the statement when the parser or planner said so.
#[derive(Debug, Clone, Serialize)]
pub struct JobError {
    pub message: String,
    /// 1-based line and column in the statement.
    pub line: Option<u64>,
    pub column: Option<u64>,
}

impl JobError {
    pub fn from_datafusion(e: &DataFusionError) -> JobError {
        let message = e.to_string();
        let (line, column) = e
            .diagnostic()
            .and_then(|d| d.span)
            .map(|s| (Some(s.start.line), Some(s.start.column)))
            .unwrap_or_else(|| position_in(&message));
        JobError {
            message,
            line,
            column,
        }
    }
}

/// `… at Line: 3, Column: 14` as sqlparser writes positions.
fn position_in(message: &str) -> (Option<u64>, Option<u64>) {
    let num = |after: &str| -> Option<u64> {
        let at = message.rfind(after)? + after.len();
        let digits: String = message[at..]
            .chars()
            .skip_while(|c| *c == ' ')
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    };
    match (num("Line:"), num("Column:")) {
        (Some(l), Some(c)) if l > 0 => (Some(l), Some(c)),
        _ => (None, None),
    }
}

/// The scan's counters as the pages show them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    pub listing: bool,
    pub files_to_read: u64,
    pub files_read: u64,
    pub bytes_to_read: u64,
    pub bytes_read: u64,
    pub events: u64,
    pub files_skipped: u64,
    pub files_bad: u64,
    pub bad_records: u64,
    pub warnings: usize,
    pub s3_requests: Option<u64>,
    pub s3_bytes: Option<u64>,
    pub s3_cost_usd: Option<f64>,
}

impl From<&ReportSnapshot> for Progress {
    fn from(s: &ReportSnapshot) -> Progress {
        Progress {
            listing: s.listing,
            files_to_read: s.files_to_read,
            files_read: s.files_read,
            bytes_to_read: s.bytes_to_read,
            bytes_read: s.bytes_read,
            events: s.events,
            files_skipped: s.files_skipped(),
            files_bad: s.files_bad,
            bad_records: s.bad_records,
            warnings: s.warnings,
            s3_requests: s
                .s3
                .as_ref()
                .map(|x| x.list_requests + x.get_requests + x.head_requests + x.other_requests),
            s3_bytes: s.s3.as_ref().map(|x| x.bytes_downloaded),
            s3_cost_usd: s.s3.as_ref().map(|x| x.cost_usd()),
        }
    }
}

#[derive(Default)]
struct State {
    phase: Option<Phase>,
    schema: Option<SchemaRef>,
    batches: Vec<RecordBatch>,
    kept_rows: usize,
    kept_bytes: usize,
    total_rows: u64,
    truncated: bool,
    /// Its rows were let go to make room for a newer answer's.
    released: bool,
    error: Option<JobError>,
    elapsed: Option<Duration>,
    progress: Option<Progress>,
    /// The last sort asked for: column, descending, permutation of the kept rows.
    sorted: Option<(usize, bool, Arc<UInt32Array>)>,
}

/// One statement and what it has answered so far.
pub struct Job {
    pub id: u64,
    pub sql: String,
    started: Instant,
    state: Mutex<State>,
    abort: Mutex<Option<tokio::task::AbortHandle>>,
}

/// A job's state as the API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub id: u64,
    pub phase: Phase,
    pub columns: Vec<Column>,
    /// Rows kept and available to page through.
    pub rows: usize,
    /// Rows the statement returned (more than `rows` when truncated).
    pub total_rows: u64,
    pub truncated: bool,
    /// The rows were let go to make room for newer answers (run the statement again to see them).
    pub released: bool,
    pub elapsed_ms: u64,
    pub error: Option<JobError>,
    pub progress: Option<Progress>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A page of rows, each cell as text (nested values as JSON text), `null` for SQL NULL.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub offset: usize,
    pub rows: Vec<Vec<Option<String>>>,
    pub total: usize,
}

impl Job {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn phase(&self) -> Phase {
        self.lock().phase.unwrap_or(Phase::Queued)
    }

    pub fn schema(&self) -> Option<SchemaRef> {
        self.lock().schema.clone()
    }

    /// All rows were kept (a download can be written from memory).
    pub fn complete(&self) -> bool {
        let s = self.lock();
        s.phase == Some(Phase::Done) && !s.truncated && !s.released
    }

    fn kept_bytes(&self) -> usize {
        self.lock().kept_bytes
    }

    /// Let the kept rows go (the status still says how many there were).
    fn release(&self) {
        let mut s = self.lock();
        if s.kept_bytes > 0 {
            s.batches = Vec::new();
            s.sorted = None;
            s.kept_bytes = 0;
            s.released = true;
        }
    }

    pub fn batches(&self) -> Vec<RecordBatch> {
        self.lock().batches.clone()
    }

    pub fn status(&self, live: Option<&ReportSnapshot>) -> Status {
        let s = self.lock();
        let phase = s.phase.unwrap_or(Phase::Queued);
        let progress = match (phase, live) {
            (Phase::Running, Some(r)) => Some(Progress::from(r)),
            _ => s.progress.clone(),
        };
        Status {
            id: self.id,
            phase,
            columns: s
                .schema
                .iter()
                .flat_map(|sc| sc.fields().iter())
                .map(|f| Column {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                })
                .collect(),
            rows: s.kept_rows,
            total_rows: s.total_rows,
            truncated: s.truncated,
            released: s.released,
            elapsed_ms: s
                .elapsed
                .unwrap_or_else(|| self.started.elapsed())
                .as_millis() as u64,
            error: s.error.clone(),
            progress,
        }
    }

    /// Rows `offset..offset+limit` of the kept rows, in the order of `sort` (a column index,
    /// descending when `desc`) or as the statement returned them.
    pub fn page(
        &self,
        offset: usize,
        limit: usize,
        sort: Option<(usize, bool)>,
    ) -> Result<Page, String> {
        let (batches, total, order) = {
            let mut s = self.lock();
            if s.released {
                return Err(RELEASED.to_string());
            }
            let order = match sort {
                None => None,
                Some((col, desc)) => {
                    if s.phase != Some(Phase::Done) {
                        return Err(
                            "rows can be sorted once the statement has finished".to_string()
                        );
                    }
                    match &s.sorted {
                        Some((c, d, p)) if *c == col && *d == desc => Some(p.clone()),
                        _ => {
                            let p = Arc::new(permutation(&s.batches, col, desc)?);
                            s.sorted = Some((col, desc, p.clone()));
                            Some(p)
                        }
                    }
                }
            };
            (s.batches.clone(), s.kept_rows, order)
        };
        let end = offset.saturating_add(limit).min(total);
        let offset = offset.min(end);
        // (batch, row) of each global row index.
        let mut starts = Vec::with_capacity(batches.len());
        let mut n = 0usize;
        for b in &batches {
            starts.push(n);
            n += b.num_rows();
        }
        let locate = |i: usize| -> (usize, usize) {
            let b = starts.partition_point(|s| *s <= i) - 1;
            (b, i - starts[b])
        };
        let picks: Vec<(usize, usize)> = (offset..end)
            .map(|i| match &order {
                Some(p) => p.value(i) as usize,
                None => i,
            })
            .map(locate)
            .collect();
        let mut rows = vec![Vec::new(); picks.len()];
        if let Some(first) = batches.first() {
            for c in 0..first.num_columns() {
                let arrays: Vec<&dyn Array> =
                    batches.iter().map(|b| b.column(c).as_ref()).collect();
                let picked = interleave(&arrays, &picks).map_err(|e| e.to_string())?;
                let text = cells(&picked)?;
                for (row, cell) in rows.iter_mut().zip(text) {
                    row.push(cell);
                }
            }
        }
        Ok(Page {
            offset,
            rows,
            total,
        })
    }

    /// Every kept value of one column, as text (for the pages' charts and counts).
    pub fn column(&self, col: usize) -> Result<Vec<Option<String>>, String> {
        if self.lock().released {
            return Err(RELEASED.to_string());
        }
        let batches = self.batches();
        let mut out = Vec::new();
        for b in &batches {
            if col >= b.num_columns() {
                return Err(format!("there is no column {col}"));
            }
            out.extend(cells(b.column(col))?);
        }
        Ok(out)
    }

    pub fn cancel(&self) -> bool {
        let mut s = self.lock();
        match s.phase {
            None | Some(Phase::Queued) | Some(Phase::Running) => {
                if let Some(a) = self.abort.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    a.abort();
                }
                s.phase = Some(Phase::Cancelled);
                s.elapsed = Some(self.started.elapsed());
                true
            }
            _ => false,
        }
    }
}

/// Text of each value: scalars as Arrow displays them, nested values as JSON text.
fn cells(array: &ArrayRef) -> Result<Vec<Option<String>>, String> {
    let array = if array.data_type().is_nested() {
        let field = datafusion::arrow::datatypes::Field::new("v", array.data_type().clone(), true);
        let batch = RecordBatch::try_new(
            Arc::new(datafusion::arrow::datatypes::Schema::new(vec![field])),
            vec![array.clone()],
        )
        .map_err(|e| e.to_string())?;
        trailql_sql::output::flatten_nested(&batch)
            .map_err(|e| e.to_string())?
            .column(0)
            .clone()
    } else {
        array.clone()
    };
    let options = FormatOptions::default().with_display_error(true);
    let f = ArrayFormatter::try_new(array.as_ref(), &options).map_err(|e| e.to_string())?;
    Ok((0..array.len())
        .map(|i| (!array.is_null(i)).then(|| f.value(i).to_string()))
        .collect())
}

/// The order of the kept rows by one column (nulls last), stable.
fn permutation(batches: &[RecordBatch], col: usize, desc: bool) -> Result<UInt32Array, String> {
    if batches.is_empty() {
        return Ok(UInt32Array::from(Vec::<u32>::new()));
    }
    if col >= batches[0].num_columns() {
        return Err(format!("there is no column {col} to sort by"));
    }
    let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(col).as_ref()).collect();
    let all = concat(&arrays).map_err(|e| e.to_string())?;
    let options = SortOptions {
        descending: desc,
        nulls_first: false,
    };
    match sort_to_indices(&all, Some(options), None) {
        Ok(p) => Ok(p),
        // Types Arrow does not order (structs, maps): by their text.
        Err(_) => {
            let text = cells(&all)?;
            let mut idx: Vec<u32> = (0..text.len() as u32).collect();
            idx.sort_by(|a, b| {
                let (x, y) = (&text[*a as usize], &text[*b as usize]);
                match (x, y) {
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, _) => std::cmp::Ordering::Greater,
                    (_, None) => std::cmp::Ordering::Less,
                    (Some(x), Some(y)) if desc => y.cmp(x),
                    (Some(x), Some(y)) => x.cmp(y),
                }
            });
            Ok(UInt32Array::from(idx))
        }
    }
}

/// The jobs of one server.
pub struct Jobs {
    engine: Arc<Engine>,
    run: Arc<tokio::sync::Mutex<()>>,
    jobs: Arc<Mutex<VecDeque<Arc<Job>>>>,
    next: AtomicU64,
}

impl Jobs {
    pub fn new(engine: Arc<Engine>) -> Jobs {
        Jobs {
            engine,
            run: Arc::new(tokio::sync::Mutex::new(())),
            jobs: Arc::new(Mutex::new(VecDeque::new())),
            next: AtomicU64::new(1),
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The lock statements run under (downloads that run a statement again take it too).
    pub fn run_lock(&self) -> Arc<tokio::sync::Mutex<()>> {
        self.run.clone()
    }

    pub fn get(&self, id: u64) -> Option<Arc<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|j| j.id == id)
            .cloned()
    }

    /// The status, with the scan's live counters when the job is the one running.
    pub fn status(&self, job: &Job) -> Status {
        let live = (job.phase() == Phase::Running).then(|| self.engine.report.snapshot());
        job.status(live.as_ref())
    }

    /// Start `sql`; it runs when the ones before it have finished.
    pub fn submit(&self, sql: String) -> Arc<Job> {
        let job = Arc::new(Job {
            id: self.next.fetch_add(1, Relaxed),
            sql,
            started: Instant::now(),
            state: Mutex::new(State::default()),
            abort: Mutex::new(None),
        });
        {
            let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            jobs.push_back(job.clone());
            while jobs.len() > KEPT_JOBS {
                if let Some(old) = jobs.pop_front() {
                    old.cancel();
                }
            }
        }
        let (engine, run, j) = (self.engine.clone(), self.run.clone(), job.clone());
        let others = self.jobs.clone();
        let task = tokio::spawn(async move {
            let _turn = run.lock().await;
            if j.phase() == Phase::Cancelled {
                return;
            }
            j.lock().phase = Some(Phase::Running);
            make_room(&others, &j);
            engine.report.reset();
            let outcome = execute(&engine, &j).await;
            let snapshot = engine.report.snapshot();
            let mut s = j.lock();
            if s.phase == Some(Phase::Cancelled) {
                return;
            }
            s.progress = Some(Progress::from(&snapshot));
            s.elapsed = Some(j.started.elapsed());
            match outcome {
                Ok(()) => s.phase = Some(Phase::Done),
                Err(e) => {
                    s.error = Some(JobError::from_datafusion(&e));
                    s.phase = Some(Phase::Failed);
                }
            }
        });
        *job.abort.lock().unwrap_or_else(|p| p.into_inner()) = Some(task.abort_handle());
        job
    }
}

/// The bytes of the rows a batch shows (not of the buffers it may be a slice of).
fn sliced_size(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or(usize::MAX / 64)
        })
        .sum()
}

const RELEASED: &str =
    "the rows of this answer were let go to make room for newer answers; run the statement again";

/// Before `job` runs: let older answers' rows go, oldest first, until `job`'s own
/// [`KEPT_BYTES`] fit in [`KEPT_TOTAL`].
fn make_room(jobs: &Mutex<VecDeque<Arc<Job>>>, job: &Job) {
    let others: Vec<Arc<Job>> = jobs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|o| o.id != job.id)
        .cloned()
        .collect();
    let mut room = KEPT_TOTAL - KEPT_BYTES;
    // Newest first: they keep their rows while there is room.
    for o in others.iter().rev() {
        let size = o.kept_bytes();
        if size <= room {
            room -= size;
        } else {
            o.release();
        }
    }
}

async fn execute(engine: &Engine, job: &Job) -> Result<(), DataFusionError> {
    let df = engine.sql_read_only(&job.sql).await?;
    let mut stream = df.execute_stream().await?;
    job.lock().schema = Some(stream.schema());
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let mut s = job.lock();
        s.total_rows += batch.num_rows() as u64;
        if s.truncated {
            continue;
        }
        // A batch may be a slice of larger buffers (or hold builders' spare capacity): a copy of
        // its rows holds only what they need.
        let batch = if batch.get_array_memory_size() > 2 * sliced_size(&batch) {
            let rows = UInt32Array::from_iter_values(0..batch.num_rows() as u32);
            take_record_batch(&batch, &rows)?
        } else {
            batch
        };
        let size = batch.get_array_memory_size();
        if s.kept_bytes + size > KEPT_BYTES && s.kept_rows > 0 {
            s.truncated = true;
            continue;
        }
        s.kept_bytes += size;
        s.kept_rows += batch.num_rows();
        s.batches.push(batch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_from_parser_messages() {
        assert_eq!(
            position_in(
                "sql parser error: Expected: an expression, found: FROM at Line: 2, Column: 9"
            ),
            (Some(2), Some(9))
        );
        assert_eq!(position_in("no field named x"), (None, None));
    }
}
