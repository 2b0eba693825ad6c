//! Correlations over the sorted alerts: the rows of rules that feed a correlation carry their
//! record ([`crate::exec::FEED_COLUMNS`]); read in event-time order, each such record is fed to
//! the [`Correlator`], whose alerts are written right after the alert that completed them.
//! Alerts of rules that exist only for their correlations (`generate: false`) are dropped here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
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
    let cols: Vec<_> = COLUMNS.iter().map(|c| column(c)).collect::<Result<_>>()?;
    let (feed, hits, hidden) = (column("_feed")?, column("_hits")?, column("_hidden")?);
    let at = |name: &str| COLUMNS.iter().position(|c| *c == name).expect("a column");
    let time = at("event_time");
    let mut table = TextTable::new(&COLUMNS);
    let mut correlator = correlation.correlator.lock().expect("correlator lock");
    for i in 0..batch.num_rows() {
        let row: Vec<Option<String>> = cols
            .iter()
            .map(|c| c.is_valid(i).then(|| c.value(i).to_string()))
            .collect();
        let fired = if feed.is_valid(i) {
            feed_one(
                &mut correlator,
                &row,
                feed.value(i),
                hits.value(i),
                time,
                report,
            )
            .unwrap_or_else(|| {
                correlation.unfed.fetch_add(1, Ordering::Relaxed);
                Vec::new()
            })
        } else {
            Vec::new()
        };
        let completed: Vec<_> = fired.iter().map(|f| fired_row(&row, f, &at)).collect();
        if hidden.is_null(i) {
            table.rows.push(row);
        }
        table.rows.extend(completed);
        let mut counted = correlation.fired.lock().expect("fired lock");
        for f in &fired {
            counted.add(alert::level_name(f.level), &f.title, 1);
        }
    }
    Ok(table.to_batch())
}

/// Feed the record of one alert row; what fired, or `None` when it could not be fed.
fn feed_one(
    correlator: &mut Correlator,
    row: &[Option<String>],
    json: &str,
    hits: &str,
    time: usize,
    report: &ScanReport,
) -> Option<Vec<Fired>> {
    let file = row[COLUMNS.len() - 1].clone().unwrap_or_default();
    let Some(ts) = row[time]
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
    else {
        report.warn(
            file,
            format!(
                "a record with no readable eventTime ({:?}) was not fed to the correlations",
                row[time]
            ),
        );
        return None;
    };
    let record: serde_json::Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => {
            report.warn(
                file,
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
