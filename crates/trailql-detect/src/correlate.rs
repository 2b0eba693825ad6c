//! Correlations over the sorted alerts: the rows of rules that feed a correlation carry their
//! record ([`crate::exec::FEED_COLUMNS`]); read in event-time order, each such record is fed to
//! the [`Correlator`], whose alerts are written right after the alert that completed them.
//! Alerts of rules that exist only for their correlations (`generate: false`) are dropped here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::interleave_record_batch;
use datafusion::common::{DataFusionError, Result};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;
use trailql_investigate::TextTable;
use trailql_rules::{Correlator, Fired};
use trailql_sql::ScanReport;

use crate::alert::{self, Summary, COLUMNS};

/// A correlator and what it fired, shared with the stream that feeds it.
#[derive(Debug)]
pub struct Correlation {
    correlator: Mutex<Correlator>,
    fired: Mutex<Summary>,
    /// Records that could not be fed (no readable time, JSON that does not read back).
    unfed: AtomicU64,
}

impl Correlation {
    pub fn new(correlator: Correlator) -> Arc<Correlation> {
        Arc::new(Correlation {
            correlator: Mutex::new(correlator),
            fired: Mutex::new(Summary::default()),
            unfed: AtomicU64::new(0),
        })
    }

    /// Records that could not be fed to the correlations (each is also a warning).
    pub fn unfed(&self) -> u64 {
        self.unfed.load(Ordering::Relaxed)
    }

    /// Correlation alerts by level and rule.
    pub fn fired(&self) -> Summary {
        self.fired.lock().expect("fired lock").clone()
    }
}

/// The alerts of `sorted` (columns [`COLUMNS`] and the feed columns, in event-time order) with
/// the correlations' alerts among them, as [`COLUMNS`].
pub fn correlate(
    sorted: SendableRecordBatchStream,
    correlation: Arc<Correlation>,
    report: Arc<ScanReport>,
) -> SendableRecordBatchStream {
    let schema = alert::schema();
    let out = sorted.map(move |batch| batch.and_then(|b| rows(&b, &correlation, &report)));
    Box::pin(RecordBatchStreamAdapter::new(schema, out))
}

fn rows(
    batch: &RecordBatch,
    correlation: &Correlation,
    report: &ScanReport,
) -> Result<RecordBatch> {
    let column = |name: &str| -> Result<_> {
        let c = batch
            .column_by_name(name)
            .ok_or_else(|| DataFusionError::Internal(format!("alerts without {name}")))?;
        Ok(c.as_string::<i32>().clone())
    };
    let schema = batch.schema();
    let indexes: Vec<usize> = COLUMNS
        .iter()
        .map(|c| schema.index_of(c))
        .collect::<std::result::Result<_, _>>()?;
    let alerts = batch.project(&indexes)?;
    let (feed, hits, hidden) = (column("_feed")?, column("_hits")?, column("_hidden")?);
    let (time, file) = (column("event_time")?, column("file")?);
    // Feed the records that feed, in order; what they complete, by the row that completed it.
    let mut completed: Vec<(usize, Fired)> = Vec::new();
    {
        let mut correlator = correlation.correlator.lock().expect("correlator lock");
        for i in (0..batch.num_rows()).filter(|&i| feed.is_valid(i)) {
            let when = time.is_valid(i).then(|| time.value(i));
            let from = if file.is_valid(i) { file.value(i) } else { "" };
            let record = (feed.value(i), hits.value(i));
            match feed_one(&mut correlator, when, from, record, report) {
                Some(fired) => completed.extend(fired.into_iter().map(|f| (i, f))),
                None => {
                    correlation.unfed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    if completed.is_empty() && hidden.null_count() == hidden.len() {
        // The usual batch: its alerts as they are.
        return Ok(alerts);
    }
    // The correlations' alerts, each in the context of the alert that completed it.
    let at = |name: &str| COLUMNS.iter().position(|c| *c == name).expect("a column");
    let mut table = TextTable::new(&COLUMNS);
    {
        let mut counted = correlation.fired.lock().expect("fired lock");
        for (i, f) in &completed {
            let row: Vec<Option<String>> = alerts
                .columns()
                .iter()
                .map(|c| {
                    let c = c.as_string::<i32>();
                    c.is_valid(*i).then(|| c.value(*i).to_string())
                })
                .collect();
            table.rows.push(fired_row(&row, f, &at));
            counted.add(alert::level_name(f.level), &f.title, 1);
        }
    }
    let fired = table.to_batch();
    // Each alert (but those of hidden rules), followed by the correlation alerts it completed.
    let mut order = Vec::with_capacity(batch.num_rows() + completed.len());
    let mut next = completed.iter().map(|(i, _)| *i).enumerate().peekable();
    for i in 0..batch.num_rows() {
        if hidden.is_null(i) {
            order.push((0, i));
        }
        while let Some((k, _)) = next.next_if(|(_, row)| *row == i) {
            order.push((1, k));
        }
    }
    Ok(interleave_record_batch(&[&alerts, &fired], &order)?)
}

/// `(record, hits)`: the record's text and the rules it feeds (`3,7`); what fired, or `None`
/// (with a warning naming `file`) when it could not be fed.
fn feed_one(
    correlator: &mut Correlator,
    time: Option<&str>,
    file: &str,
    (json, hits): (&str, &str),
    report: &ScanReport,
) -> Option<Vec<Fired>> {
    let Some(ts) = time
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
    else {
        report.warn(
            file.to_string(),
            format!(
                "a record with no readable eventTime ({time:?}) was not fed to the correlations"
            ),
        );
        return None;
    };
    let record: serde_json::Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => {
            report.warn(
                file.to_string(),
                format!("a record was not fed to the correlations: {e}"),
            );
            return None;
        }
    };
    let hits: Vec<usize> = hits.split(',').filter_map(|h| h.parse().ok()).collect();
    Some(correlator.feed(&record, &hits, ts))
}

/// A correlation's alert, in the context of the alert that completed it.
fn fired_row(
    base: &[Option<String>],
    f: &Fired,
    at: &dyn Fn(&str) -> usize,
) -> Vec<Option<String>> {
    let mut row = base.to_vec();
    row[at("level")] = Some(alert::level_name(f.level).to_string());
    row[at("rule_title")] = Some(f.title.clone());
    row[at("rule_id")] = Some(f.id.clone());
    row[at("tags")] = Some(f.tags.join(", "));
    row[at("matched")] = Some(alert::correlation_matched(f));
    row[at("error_code")] = None;
    row
}
