//! Compiled rules, evaluated on one parsed record at a time.
//!
//! Matching is rsigma-eval's (every Sigma 2.1 modifier, conditions, filters); the record is seen
//! through [`TrailEvent`], which gives it CloudTrail's semantics.

use std::sync::Arc;

use rsigma_eval::Engine;
use rsigma_parser::{Level, SigmaRule};
use serde_json::Value;

use crate::checks::Check;
use crate::event::TrailEvent;
use crate::literals::{required_words, Needle};
use crate::load::{Origin, Problem, RuleSet};
use crate::slim::Paths;
use trailql_investigate::event::{HEADER_FIELDS, PAYLOAD_FIELDS};

/// What an alert says about its rule.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub level: Option<Level>,
    pub tags: Vec<String>,
    pub origin: Origin,
    pub check: Option<Check>,
}

/// One rule matching one record.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Index into [`Detector::rules`].
    pub rule: usize,
    /// `field=value` for each field that matched.
    pub fields: Vec<(String, String)>,
}

/// The attribute that carries our index through rsigma's results.
const INDEX: &str = "trailql.index";

/// Compiled detection rules with their filters.
pub struct Detector {
    engine: Engine,
    rules: Vec<RuleInfo>,
    words: Option<Vec<Needle>>,
    /// The rules as compiled (with our index attribute), for the correlations.
    sigma: Vec<SigmaRule>,
    /// What of a record the rules, their checks and their alerts read; `None`: any of it.
    paths: Option<Paths>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("rules", &self.rules.len())
            .field("words", &self.words.as_ref().map(|w| w.len()))
            .finish()
    }
}

impl Detector {
    /// Compile every rule of `set`; a rule or filter that does not compile is returned as a
    /// problem and left out.
    pub fn new(set: &RuleSet) -> (Detector, Vec<Problem>) {
        let mut engine = Engine::new();
        let mut rules = Vec::new();
        let mut problems = Vec::new();
        let mut words: Option<Vec<Needle>> = Some(Vec::new());
        let mut sigma = Vec::new();
        for loaded in &set.rules {
            let check = match crate::pack::doc(&loaded.rule).check {
                None => None,
                Some(name) => match Check::parse(&name) {
                    Some(c) => Some(c),
                    None => {
                        problems.push(Problem {
                            origin: loaded.origin.clone(),
                            reason: format!(
                                "rule {:?}: unknown trailql.check {name:?} (known: {})",
                                loaded.rule.title,
                                Check::NAMES.join(", ")
                            ),
                        });
                        continue;
                    }
                },
            };
            let mut rule = loaded.rule.clone();
            rule.custom_attributes.insert(
                INDEX.to_string(),
                yaml_serde::Value::Number((rules.len() as u64).into()),
            );
            if let Err(e) = engine.add_rule(&rule) {
                problems.push(Problem {
                    origin: loaded.origin.clone(),
                    reason: format!("rule {:?} does not compile: {e}", rule.title),
                });
                continue;
            }
            words = match (words, required_words(&rule)) {
                (Some(mut all), Some(w)) => {
                    all.extend(w);
                    Some(all)
                }
                _ => None,
            };
            sigma.push(rule.clone());
            rules.push(RuleInfo {
                id: rule.id.clone().unwrap_or_else(|| rule.title.clone()),
                title: rule.title.clone(),
                level: rule.level,
                tags: rule.tags.clone(),
                origin: loaded.origin.clone(),
                check,
            });
        }
        for (filter, origin) in &set.filters {
            if let Err(e) = engine.apply_filter(filter) {
                problems.push(Problem {
                    origin: origin.clone(),
                    reason: format!("filter {:?} does not apply: {e}", filter.title),
                });
            }
        }
        if let Some(w) = &mut words {
            w.sort();
            w.dedup();
        }
        let paths = reads(&sigma, &rules, set);
        (
            Detector {
                engine,
                rules,
                words,
                sigma,
                paths,
            },
            problems,
        )
    }

    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    /// The rules as compiled, indexed as [`Detector::rules`].
    pub(crate) fn sigma(&self) -> &[SigmaRule] {
        &self.sigma
    }

    /// Needles of which every matching record holds one (ignoring ASCII case); `None` when
    /// some rule may match any record.
    pub fn words(&self) -> Option<&[Needle]> {
        self.words.as_deref()
    }

    /// What of a record [`Detector::evaluate`] and [`crate::Alert::new`] read; `None` when the
    /// rules may read any of its text (keywords).
    pub fn paths(&self) -> Option<&Paths> {
        self.paths.as_ref()
    }

    /// The rules `record` matches.
    pub fn evaluate(&self, record: &Value) -> Vec<Hit> {
        let event = TrailEvent::new(record);
        self.engine
            .evaluate(&event)
            .into_iter()
            .filter_map(|r| {
                let rule = index_of(&r.header.custom_attributes)?;
                let mut fields: Vec<(String, String)> = r
                    .as_detection()
                    .map(|d| {
                        d.matched_fields
                            .iter()
                            .map(|m| (m.field.clone(), scalar_text(&m.value)))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(check) = self.rules[rule].check {
                    fields.extend(check.run(record)?);
                }
                Some(Hit { rule, fields })
            })
            .collect()
    }
}

/// What of a record `rules` (with their filters), their checks and their alerts read.
fn reads(sigma: &[SigmaRule], rules: &[RuleInfo], set: &RuleSet) -> Option<Paths> {
    let filters: Vec<_> = set.filters.iter().map(|(f, _)| f.clone()).collect();
    let mut paths = Paths::for_filtered(sigma, &filters)?.union(&Paths::new(HEADER_FIELDS));
    if rules.iter().any(|r| r.check.is_some()) {
        paths = paths.union(&Paths::new(PAYLOAD_FIELDS));
    }
    Some(paths)
}

pub(crate) fn index_of(attrs: &Arc<std::collections::HashMap<String, Value>>) -> Option<usize> {
    attrs.get(INDEX)?.as_u64().map(|i| i as usize)
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detector(yaml: &str) -> Detector {
        let mut set = RuleSet::default();
        set.add_text(Origin::Builtin("t.yml".into()), yaml);
        assert!(set.problems.is_empty(), "{:?}", set.problems);
        let (d, problems) = Detector::new(&set);
        assert!(problems.is_empty(), "{problems:?}");
        d
    }

    fn rule(detection: &str) -> String {
        format!("title: t\nid: r1\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}\nlevel: high\n")
    }

    fn hits(d: &Detector, record: Value) -> usize {
        d.evaluate(&record).len()
    }

    #[test]
    fn cloudtrail_semantics() {
        let d = detector(&rule("  sel:\n    eventSource: ec2.amazonaws.com\n    requestParameters.ipPermissions.items.ipRanges.items.cidrIp: 0.0.0.0/0\n  condition: sel"));
        let open = json!({"eventSource": "ec2.amazonaws.com", "requestParameters": {"ipPermissions": {"items": [
            {"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
            {"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}});
        assert_eq!(hits(&d, open), 1);
        let closed = json!({"eventSource": "ec2.amazonaws.com", "requestParameters": {"ipPermissions": {"items": [
            {"ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}}]}}});
        assert_eq!(hits(&d, closed), 0);
        // Equality ignores case unless `cased`; field names ignore case.
        assert_eq!(
            hits(
                &d,
                json!({"EVENTSOURCE": "EC2.amazonaws.com", "requestparameters": {"ipPermissions": {"items": [{"ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}})
            ),
            1
        );
    }

    #[test]
    fn strings_match_numbers_and_booleans_and_objects_as_text() {
        let d = detector(&rule("  sel:\n    additionalEventData.MFAUsed: 'No'\n    responseElements.ConsoleLogin: Success\n    readOnly: 'false'\n  condition: sel"));
        assert_eq!(
            hits(
                &d,
                json!({"additionalEventData": {"MFAUsed": "No"}, "responseElements": {"ConsoleLogin": "Success"}, "readOnly": false})
            ),
            1
        );
        assert_eq!(
            hits(
                &d,
                json!({"additionalEventData": {"MFAUsed": "No"}, "responseElements": {"ConsoleLogin": "Success"}, "readOnly": true})
            ),
            0
        );
        let d = detector(&rule(
            "  sel:\n    requestParameters|contains: '\"Principal\":\"\\*\"'\n  condition: sel",
        ));
        assert_eq!(
            hits(
                &d,
                json!({"requestParameters": {"policy": {"Principal": "*"}}})
            ),
            1
        );
        assert_eq!(
            hits(
                &d,
                json!({"requestParameters": {"policy": {"Principal": "arn"}}})
            ),
            0
        );
    }

    #[test]
    fn words_cover_every_rule_or_none() {
        let mut set = RuleSet::default();
        set.add_text(
            Origin::Builtin("a.yml".into()),
            &rule("  sel:\n    eventName: StopLogging\n  condition: sel"),
        );
        set.add_text(
            Origin::Builtin("b.yml".into()),
            &rule("  sel:\n    eventName: DeleteTrail\n  condition: sel"),
        );
        let (d, _) = Detector::new(&set);
        assert_eq!(
            d.words().unwrap(),
            [
                Needle::Field("eventName".into(), "DeleteTrail".into()),
                Needle::Field("eventName".into(), "StopLogging".into())
            ]
        );
        set.add_text(
            Origin::Builtin("c.yml".into()),
            &rule("  sel:\n    userAgent|re: '^x'\n  condition: sel"),
        );
        let (d, _) = Detector::new(&set);
        assert_eq!(d.words(), None);
    }

    #[test]
    fn a_rule_that_does_not_compile_is_a_problem() {
        let mut set = RuleSet::default();
        set.add_text(
            Origin::Builtin("bad.yml".into()),
            &rule("  sel:\n    eventName|re: '(unclosed'\n  condition: sel"),
        );
        set.add_text(
            Origin::Builtin("ok.yml".into()),
            &rule("  sel:\n    eventName: StopLogging\n  condition: sel"),
        );
        let (d, problems) = Detector::new(&set);
        assert_eq!(d.rules().len(), 1);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].to_string().starts_with("builtin:bad.yml: "),
            "{problems:?}"
        );
        assert_eq!(hits(&d, json!({"eventName": "StopLogging"})), 1);
    }
}
