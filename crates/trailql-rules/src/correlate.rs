//! Sigma correlation rules (`event_count`, `value_count`, `temporal`, `temporal_ordered`,
//! `value_sum`, `value_avg`, `value_percentile`, with `group-by`, `timespan`, `aliases`,
//! `generate`, and correlations of correlations), evaluated by rsigma-eval's correlation
//! engine on the records the rules they reference matched.
//!
//! The engine is stateful and expects events in time order: the caller feeds it the matching
//! records sorted by event time (CloudTrail delivers files out of order), once each, with the
//! rules each matched. Its memory is its open windows, bounded by the number of groups. After a
//! group fires its window is reset, so a long burst alerts once per threshold reached. Windows
//! that time has moved past are let go every few thousand records.

use rsigma_eval::{CorrelationAction, CorrelationConfig, CorrelationEngine};
use rsigma_parser::Level;
use serde_json::Value;

use crate::detector::{index_of, Detector};
use crate::event::TrailEvent;
use crate::load::{Origin, Problem, RuleSet};
use crate::slim::Paths;

/// A correlation rule, as an alert names it.
#[derive(Debug, Clone)]
pub struct CorrelationInfo {
    pub id: String,
    pub title: String,
    pub level: Option<Level>,
    pub tags: Vec<String>,
    pub origin: Origin,
    /// Its own alerts are hidden: it runs only for a correlation that counts it
    /// ([`Correlator::hide_correlation`]).
    pub hidden: bool,
}

/// What a rule or correlation is referred to by in a correlation's `rules:`: its id and its
/// name, where it has them.
pub fn names<'a>(
    id: &'a Option<String>,
    name: &'a Option<String>,
) -> impl Iterator<Item = &'a str> {
    id.iter().chain(name).map(String::as_str)
}

/// The id the correlation engine is given for a rule or correlation: its own, or else its name.
/// The engine links a match (or a correlation that fired) to the correlations that name it
/// through its id, so one named but without an id would otherwise feed nothing, silently.
fn engine_id(id: &Option<String>, name: &Option<String>) -> Option<String> {
    id.clone().or_else(|| name.clone())
}

/// A correlation that fired on the record just fed.
#[derive(Debug, Clone)]
pub struct Fired {
    pub id: String,
    pub title: String,
    pub level: Option<Level>,
    pub tags: Vec<String>,
    /// `event_count`, `value_count`, …
    pub kind: String,
    /// The group's field values.
    pub group: Vec<(String, String)>,
    /// The count, sum, average… that met the condition.
    pub value: f64,
    pub timespan_secs: u64,
}

/// The correlations of a rule set, with their state.
pub struct Correlator {
    engine: CorrelationEngine,
    /// Per rule of the detector: does it feed a correlation?
    feeds: Vec<bool>,
    /// Per rule of the detector: are its own alerts hidden (`generate: false`, the default)?
    hidden: Vec<bool>,
    correlations: Vec<CorrelationInfo>,
    /// Records fed since expired windows were last let go.
    since_evict: usize,
    /// The fields the feeding rules and the correlations read (`None`: any text).
    paths: Option<Paths>,
}

/// Expired windows are let go every this many records fed, so that the state holds the groups
/// open now, not every group seen (rsigma-eval only evicts at 100 k groups on its own).
const EVICT_EVERY: usize = 4096;

impl std::fmt::Debug for Correlator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Correlator")
            .field("correlations", &self.correlations.len())
            .finish()
    }
}

impl Correlator {
    /// The correlations of `set` over the rules of `detector`; `None` when there are none.
    /// A correlation that does not compile is a problem and left out.
    pub fn new(set: &RuleSet, detector: &Detector) -> (Option<Correlator>, Vec<Problem>) {
        let mut problems = Vec::new();
        if set.correlations.is_empty() {
            return (None, problems);
        }
        let rules = detector.sigma();
        let mut feeds = vec![false; rules.len()];
        let mut generated = vec![false; rules.len()];
        // Once a group fires, its window starts again: a burst of 25 reads over a threshold of
        // 10 is two alerts, not sixteen (a rule may say otherwise with `rsigma.action: alert`).
        let mut engine = CorrelationEngine::new(CorrelationConfig {
            action_on_match: CorrelationAction::Reset,
            ..CorrelationConfig::default()
        });
        let mut correlations = Vec::new();
        for (corr, origin) in &set.correlations {
            let mut corr = corr.clone();
            corr.id = engine_id(&corr.id, &corr.name);
            if let Err(e) = engine.add_correlation(&corr) {
                problems.push(Problem {
                    origin: origin.clone(),
                    reason: format!("correlation {:?} does not compile: {e}", corr.title),
                });
                continue;
            }
            for (i, r) in rules.iter().enumerate() {
                // A correlation names rules (and other correlations) by id or name.
                if names(&r.id, &r.name).any(|n| corr.rules.iter().any(|c| c == n)) {
                    feeds[i] = true;
                    generated[i] |= corr.generate;
                }
            }
            correlations.push(CorrelationInfo {
                id: corr.id.clone().unwrap_or_else(|| corr.title.clone()),
                title: corr.title.clone(),
                level: corr.level,
                tags: corr.tags.clone(),
                origin: origin.clone(),
                hidden: false,
            });
        }
        for (i, r) in rules.iter().enumerate() {
            if feeds[i] {
                let mut r = r.clone();
                r.id = engine_id(&r.id, &r.name);
                if let Err(e) = engine.add_rule(&r) {
                    problems.push(Problem {
                        origin: detector.rules()[i].origin.clone(),
                        reason: format!("rule {:?} does not compile for correlation: {e}", r.title),
                    });
                    feeds[i] = false;
                }
            }
        }
        if correlations.is_empty() {
            return (None, problems);
        }
        let feeding: Vec<rsigma_parser::SigmaRule> = rules
            .iter()
            .zip(&feeds)
            .filter(|(_, f)| **f)
            .map(|(r, _)| r.clone())
            .collect();
        let all: Vec<rsigma_parser::CorrelationRule> =
            set.correlations.iter().map(|(c, _)| c.clone()).collect();
        let paths = Paths::for_rules(&feeding, &all);
        let hidden = feeds
            .iter()
            .zip(&generated)
            .map(|(feeds, generated)| *feeds && !generated)
            .collect();
        (
            Some(Correlator {
                engine,
                feeds,
                hidden,
                correlations,
                since_evict: 0,
                paths,
            }),
            problems,
        )
    }

    /// Per rule of the detector: does it feed a correlation?
    pub fn feeds(&self) -> &[bool] {
        &self.feeds
    }

    /// Per rule of the detector: are its own alerts hidden (it is there for its correlations)?
    pub fn hidden(&self) -> &[bool] {
        &self.hidden
    }

    /// Hide the own alerts of rule `rule` if it feeds a correlation (a rule that feeds none is
    /// not hidden: it would run for nothing).
    pub fn hide(&mut self, rule: usize) {
        if self.feeds.get(rule).copied().unwrap_or(false) {
            self.hidden[rule] = true;
        }
    }

    /// Hide the own alerts of the correlation with id `id` (as [`CorrelationInfo::id`]): it
    /// still counts, and a correlation that counts it still fires.
    pub fn hide_correlation(&mut self, id: &str) {
        for c in self.correlations.iter_mut().filter(|c| c.id == id) {
            c.hidden = true;
        }
    }

    /// The fields the correlations need of a record they are fed (`None`: all of it): a
    /// record cut down to them ([`Paths::cut`]) feeds them exactly as the whole one.
    pub fn paths(&self) -> Option<&Paths> {
        self.paths.as_ref()
    }

    pub fn correlations(&self) -> &[CorrelationInfo] {
        &self.correlations
    }

    /// The open windows, as JSON: what [`Correlator::restore`] takes back, in this process or
    /// a later one with the same correlations (they are keyed by correlation id, so a rule
    /// added or removed in between only adds or drops its own windows).
    pub fn save(&self) -> Value {
        serde_json::to_value(self.engine.export_state()).unwrap_or(Value::Null)
    }

    /// Take back windows [`Correlator::save`] gave. An error says why they were not (another
    /// version's format); the windows are then empty.
    pub fn restore(&mut self, saved: Value) -> Result<(), String> {
        let snapshot = serde_json::from_value(saved).map_err(|e| e.to_string())?;
        if self.engine.import_state(snapshot) {
            Ok(())
        } else {
            Err("written by another version of the correlation engine".to_string())
        }
    }

    /// The groups with an open window.
    pub fn open_groups(&self) -> usize {
        self.engine.state_count()
    }

    /// Feed one record that matched `hits` (indexes of the detector's rules) at
    /// `timestamp_secs`; what fired. Records must come in time order.
    pub fn feed(&mut self, record: &Value, hits: &[usize], timestamp_secs: i64) -> Vec<Fired> {
        self.since_evict += 1;
        if self.since_evict >= EVICT_EVERY {
            self.since_evict = 0;
            self.engine.evict_expired(timestamp_secs);
        }
        let event = TrailEvent::new(record);
        let detections = self
            .engine
            .evaluate(&event)
            .into_iter()
            // Only what the detector (with its filters) reported.
            .filter(|r| index_of(&r.header.custom_attributes).is_some_and(|i| hits.contains(&i)))
            .collect();
        let correlations = &self.correlations;
        self.engine
            .process_with_detections(&event, detections, timestamp_secs)
            .into_iter()
            .filter_map(|r| {
                let c = r.as_correlation()?;
                let id = r
                    .header
                    .rule_id
                    .clone()
                    .unwrap_or_else(|| r.header.rule_title.clone());
                if correlations.iter().any(|c| c.hidden && c.id == id) {
                    return None;
                }
                Some(Fired {
                    id,
                    title: r.header.rule_title.clone(),
                    level: r.header.level,
                    tags: r.header.tags.clone(),
                    kind: serde_json::to_value(c.correlation_type)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_else(|| format!("{:?}", c.correlation_type)),
                    group: c.group_key.clone(),
                    value: c.aggregated_value,
                    timespan_secs: c.timespan_secs,
                })
            })
            .collect()
    }
}
