//! One new file → its alerts: the file is decoded by the same hardened decoder a scan uses
//! (bombs, torn gzip, bad JSON and digests in the tree are counted in its report, never fatal),
//! each record is evaluated by the rules ([`Engine::file`]); once the caller has decided the
//! file counts, the records that feed correlations are fed to them in event-time order
//! ([`Engine::correlate`]), so that a file put off for later is not counted twice.
//!
//! Files arrive roughly in delivery order, so a correlation sees the records of one file in
//! time order and the files in the order CloudTrail delivered them. The windows are kept in
//! the state folder between runs ([`Engine::save_correlations`]).

use std::sync::Arc;

use arrow_array::{Array, StringArray};
use serde_json::Value;
use trailql_decode::{table_schema, DecodePlan, FileDecoder, FileMeta, FileReport};
use trailql_rules::alert::Header;
use trailql_rules::{Alert, Correlator, Detector};

use crate::source::Raw;

/// The rules and the correlations' state.
pub struct Engine {
    detector: Detector,
    correlator: Option<Correlator>,
    plan: Arc<DecodePlan>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.detector.rules().len())
            .finish()
    }
}

/// What one file gave.
#[derive(Debug, Default)]
pub struct Outcome {
    pub alerts: Vec<Alert>,
    /// The decoder's account of the file (rows, problems, digest or Config content…).
    pub report: FileReport,
    /// Records whose JSON could not be read back for the rules (each is also in `problems`).
    pub unevaluated: u64,
    /// Problems with records of this file, for warnings.
    pub problems: Vec<String>,
    /// (event time, record, the rules it matched that feed correlations), for
    /// [`Engine::correlate`].
    to_feed: Vec<(i64, Value, Vec<usize>)>,
}

impl Engine {
    /// `max_inflated`: the bytes one file may inflate to (the scan's `--max-inflated-bytes`).
    pub fn new(detector: Detector, correlator: Option<Correlator>, max_inflated: u64) -> Engine {
        let eventjson = table_schema()
            .index_of("eventjson")
            .expect("the table has eventjson");
        let mut plan = DecodePlan::new(Some(&[eventjson]));
        plan.max_inflated = max_inflated;
        Engine {
            detector,
            correlator,
            plan: Arc::new(plan),
        }
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The alerts of one file (gzip or plain JSON), named `name` in alerts and warnings. The
    /// file is decoded a batch at a time, so memory holds one batch of it, not all of it.
    pub fn file(&mut self, raw: Raw, name: &str) -> Outcome {
        let meta = FileMeta {
            path: name.to_string(),
            ..FileMeta::default()
        };
        let mut decoder = match raw {
            Raw::Bytes(b) => FileDecoder::from_bytes(b, meta, self.plan.clone()),
            Raw::File(f) => FileDecoder::from_reader(f, meta, self.plan.clone()),
        };
        let mut out = Outcome::default();
        for batch in decoder.by_ref() {
            let Some(json) = batch.column(0).as_any().downcast_ref::<StringArray>() else {
                continue;
            };
            for i in 0..json.len() {
                if json.is_null(i) {
                    continue;
                }
                let record: Value = match serde_json::from_str(json.value(i)) {
                    Ok(v) => v,
                    Err(e) => {
                        out.unevaluated += 1;
                        out.problems
                            .push(format!("a record was not evaluated by the rules: {e}"));
                        continue;
                    }
                };
                let hits = self.detector.evaluate(&record);
                if hits.is_empty() {
                    continue;
                }
                let hidden = self.correlator.as_ref().map(|c| c.hidden());
                // Read once for all of the record's alerts, and not at all when every hit only
                // feeds a correlation.
                let mut header = None;
                for hit in &hits {
                    if hidden.is_some_and(|h| h[hit.rule]) {
                        continue;
                    }
                    let rule = &self.detector.rules()[hit.rule];
                    let header = header.get_or_insert_with(|| Header::of(&record));
                    out.alerts
                        .push(Alert::of(rule, hit, header, Some(name.to_string())));
                }
                if let Some(c) = &self.correlator {
                    let feeding: Vec<usize> = hits
                        .iter()
                        .map(|h| h.rule)
                        .filter(|&r| c.feeds()[r])
                        .collect();
                    if !feeding.is_empty() {
                        match event_secs(&record) {
                            Some(ts) => out.to_feed.push((ts, record, feeding)),
                            None => out.problems.push(
                                "a record with no readable eventTime was not fed to the correlations"
                                    .to_string(),
                            ),
                        }
                    }
                }
            }
        }
        out.report = decoder.into_report();
        out
    }

    /// Feed the correlations the records of `out` (the file `name`) and add what fired to
    /// its alerts; whether the correlations' windows changed.
    pub fn correlate(&mut self, out: &mut Outcome, name: &str) -> bool {
        let Some(c) = &mut self.correlator else {
            return false;
        };
        let mut to_feed = std::mem::take(&mut out.to_feed);
        if to_feed.is_empty() {
            return false;
        }
        to_feed.sort_by_key(|(ts, ..)| *ts);
        for (ts, record, hits) in to_feed {
            let fired = c.feed(&record, &hits, ts);
            if fired.is_empty() {
                continue;
            }
            // The correlation's alert carries the event that completed it.
            let base = Alert::new(
                &self.detector.rules()[hits[0]],
                &trailql_rules::Hit {
                    rule: hits[0],
                    fields: Vec::new(),
                },
                &record,
                Some(name.to_string()),
            );
            for f in fired {
                out.alerts.push(base.correlated(&f));
            }
        }
        true
    }

    /// The correlations' open windows, to keep in the state (`None`: no correlations).
    pub fn save_correlations(&self) -> Option<Value> {
        self.correlator.as_ref().map(Correlator::save)
    }

    /// Take back windows a previous run saved.
    pub fn restore_correlations(&mut self, saved: Value) -> Result<(), String> {
        match &mut self.correlator {
            Some(c) => c.restore(saved),
            None => Ok(()),
        }
    }

    /// Groups with an open correlation window.
    pub fn open_groups(&self) -> usize {
        self.correlator.as_ref().map_or(0, Correlator::open_groups)
    }
}

fn event_secs(record: &Value) -> Option<i64> {
    let t = record.get("eventTime")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.timestamp())
}
