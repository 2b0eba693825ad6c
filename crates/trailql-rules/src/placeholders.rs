//! Values for the `expand` modifier's placeholders (`%admins%`), from a placeholders file.
//!
//! The file is YAML: each placeholder's name with one value or a list of them, either at the top
//! level or under `vars:` (so a pySigma/rsigma processing pipeline's `vars` block can be given as
//! it is):
//!
//! ```yaml
//! admins: [alice, bob]
//! trusted_account: "111122223333"
//! ```
//!
//! A value of `field|expand: '%admins%'` becomes one value per entry (`alice` or `bob`);
//! `'arn:aws:iam::%trusted_account%:root'` becomes `arn:aws:iam::111122223333:root`. The
//! substitution is rsigma-eval's `value_placeholders` transformation. A placeholder the file does
//! not give is read from the event's field of that name at match time (rsigma's behaviour), and
//! reported, since it is more often a missing value than a field.

use std::collections::BTreeMap;
use std::path::Path;

use rsigma_parser::{Detection, Modifier, SigmaRule, SigmaValue};

use crate::load::{Origin, Problem, RuleSet};

/// Placeholder name → its values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    pub values: BTreeMap<String, Vec<String>>,
}

impl Placeholders {
    /// Read a placeholders file; what is wrong with it is a problem naming the file.
    pub fn read(path: &Path) -> Result<Placeholders, Problem> {
        let origin = Origin::File(path.to_path_buf());
        let problem = |reason: String| Problem {
            origin: origin.clone(),
            reason,
        };
        let meta = std::fs::metadata(path)
            .map_err(|e| problem(format!("cannot read the placeholders file: {e}")))?;
        if meta.len() > crate::load::MAX_RULE_FILE {
            return Err(problem(format!(
                "{} bytes; placeholders files over {} bytes are not read",
                meta.len(),
                crate::load::MAX_RULE_FILE
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| problem(format!("cannot read the placeholders file: {e}")))?;
        Placeholders::parse(&text).map_err(problem)
    }

    /// Parse the YAML text of a placeholders file.
    pub fn parse(text: &str) -> Result<Placeholders, String> {
        let doc: yaml_serde::Value = yaml_serde::from_str(text)
            .map_err(|e| format!("not YAML: {e} (expected `name: value` or `name: [values]`)"))?;
        let map = match doc.get("vars").unwrap_or(&doc) {
            yaml_serde::Value::Mapping(m) => m,
            yaml_serde::Value::Null => return Ok(Placeholders::default()),
            _ => {
                return Err(
                    "expected a mapping of placeholder names to a value or a list of values".into(),
                )
            }
        };
        let scalar = |v: &yaml_serde::Value| -> Option<String> {
            match v {
                yaml_serde::Value::String(s) => Some(s.clone()),
                yaml_serde::Value::Number(n) => Some(n.to_string()),
                yaml_serde::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            }
        };
        let mut values = BTreeMap::new();
        for (k, v) in map {
            let Some(name) = scalar(k) else {
                return Err(format!("placeholder name {k:?} is not text"));
            };
            let list = match v {
                yaml_serde::Value::Sequence(items) => items
                    .iter()
                    .map(|i| {
                        scalar(i).ok_or_else(|| {
                            format!("placeholder {name:?}: {i:?} is not a text, number or boolean")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar(other).ok_or_else(|| {
                    format!("placeholder {name:?}: {other:?} is not a value or a list of values")
                })?],
            };
            values.insert(name, list);
        }
        Ok(Placeholders { values })
    }

    /// Substitute the placeholders in every rule of `set`; a placeholder left without a value
    /// is added to `set.problems` (the rule still runs, reading it from the event).
    pub fn apply(&self, set: &mut RuleSet) {
        let pipeline = match self.pipeline() {
            Ok(p) => p,
            Err(reason) => {
                set.problems.push(Problem {
                    origin: Origin::Builtin("placeholders".into()),
                    reason,
                });
                return;
            }
        };
        let mut problems = Vec::new();
        for loaded in &mut set.rules {
            if !uses_expand(&loaded.rule) {
                continue;
            }
            if let Err(e) = rsigma_eval::pipeline::apply_pipelines(
                std::slice::from_ref(&pipeline),
                &mut loaded.rule,
            ) {
                problems.push(Problem {
                    origin: loaded.origin.clone(),
                    reason: format!(
                        "rule {:?}: placeholders not substituted: {e}",
                        loaded.rule.title
                    ),
                });
                continue;
            }
            for name in unresolved(&loaded.rule)
                .into_iter()
                .filter(|n| !self.values.contains_key(n))
            {
                problems.push(Problem {
                    origin: loaded.origin.clone(),
                    reason: format!(
                        "rule {:?}: placeholder %{name}% has no value (give it in --placeholders FILE); \
                         it is read from the event's field {name:?}",
                        loaded.rule.title
                    ),
                });
            }
        }
        set.problems.extend(problems);
    }

    fn pipeline(&self) -> Result<rsigma_eval::pipeline::Pipeline, String> {
        let mut vars = yaml_serde::Mapping::new();
        for (k, v) in &self.values {
            vars.insert(
                yaml_serde::Value::String(k.clone()),
                yaml_serde::Value::Sequence(
                    v.iter().cloned().map(yaml_serde::Value::String).collect(),
                ),
            );
        }
        let mut step = yaml_serde::Mapping::new();
        step.insert("type".into(), "value_placeholders".into());
        let mut doc = yaml_serde::Mapping::new();
        doc.insert("name".into(), "trailql placeholders".into());
        doc.insert("vars".into(), yaml_serde::Value::Mapping(vars));
        doc.insert(
            "transformations".into(),
            yaml_serde::Value::Sequence(vec![yaml_serde::Value::Mapping(step)]),
        );
        let text = yaml_serde::to_string(&yaml_serde::Value::Mapping(doc))
            .map_err(|e| format!("placeholders: {e}"))?;
        rsigma_eval::pipeline::parse_pipeline(&text).map_err(|e| format!("placeholders: {e}"))
    }
}

/// The `|expand` values of a rule, as `(plain text)`.
fn expand_values(rule: &SigmaRule) -> Vec<String> {
    fn walk(d: &Detection, out: &mut Vec<String>) {
        match d {
            Detection::AllOf(items) => {
                for item in items {
                    if item.field.modifiers.contains(&Modifier::Expand) {
                        for v in &item.values {
                            if let SigmaValue::String(s) = v {
                                out.push(s.as_plain().unwrap_or_else(|| s.original.clone()));
                            }
                        }
                    }
                }
            }
            Detection::AnyOf(subs) | Detection::And(subs) => {
                for s in subs {
                    walk(s, out);
                }
            }
            Detection::ArrayMatch { body, .. } => walk(body, out),
            Detection::Conditional { named, .. } => {
                for s in named.values() {
                    walk(s, out);
                }
            }
            Detection::Keywords(_) => {}
        }
    }
    let mut out = Vec::new();
    for d in rule.detection.named.values() {
        walk(d, &mut out);
    }
    out
}

fn uses_expand(rule: &SigmaRule) -> bool {
    !expand_values(rule).is_empty()
}

/// The `%name%` placeholders still in a rule's `|expand` values.
fn unresolved(rule: &SigmaRule) -> Vec<String> {
    let mut names = Vec::new();
    for v in expand_values(rule) {
        let mut rest = v.as_str();
        while let Some(start) = rest.find('%') {
            let after = &rest[start + 1..];
            let Some(end) = after.find('%') else { break };
            let name = &after[..end];
            if !name.is_empty() && !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
            rest = &after[end + 1..];
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Detector;

    const RULE: &str = r#"
title: Console login by an administrator
id: 0e0e0e0e-1111-4222-8333-444455556666
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        eventName: ConsoleLogin
        userIdentity.userName|expand: '%admins%'
    trusted:
        userIdentity.arn|expand: 'arn:aws:iam::%trusted_account%:user/%admins%'
    condition: selection and not trusted
level: medium
"#;

    fn record(user: &str, account: &str) -> serde_json::Value {
        serde_json::json!({"eventName": "ConsoleLogin",
            "userIdentity": {"userName": user, "arn": format!("arn:aws:iam::{account}:user/{user}")}})
    }

    #[test]
    fn placeholders_become_the_files_values() {
        let p =
            Placeholders::parse("admins: [alice, bob]\ntrusted_account: 111122223333\n").unwrap();
        let mut set = RuleSet::default();
        set.add_text(Origin::Builtin("t.yml".into()), RULE);
        p.apply(&mut set);
        assert!(set.problems.is_empty(), "{:?}", set.problems);
        let (detector, problems) = Detector::new(&set);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(detector.evaluate(&record("bob", "999999999999")).len(), 1);
        assert_eq!(detector.evaluate(&record("ALICE", "999999999999")).len(), 1);
        assert!(detector.evaluate(&record("bob", "111122223333")).is_empty());
        assert!(detector
            .evaluate(&record("carol", "999999999999"))
            .is_empty());
    }

    #[test]
    fn a_placeholder_without_a_value_is_reported_and_the_rule_still_runs() {
        let p = Placeholders::parse("vars:\n  admins: alice\n").unwrap();
        let mut set = RuleSet::default();
        set.add_text(Origin::Builtin("t.yml".into()), RULE);
        p.apply(&mut set);
        assert_eq!(set.problems.len(), 1, "{:?}", set.problems);
        let reason = &set.problems[0].reason;
        assert!(
            reason.contains("%trusted_account%") && reason.contains("--placeholders"),
            "{reason}"
        );
        let (detector, _) = Detector::new(&set);
        assert_eq!(detector.rules().len(), 1);
        assert_eq!(detector.evaluate(&record("alice", "1")).len(), 1);
    }

    #[test]
    fn bad_placeholders_files_say_what_is_wrong() {
        for (text, want) in [
            ("[a, b]", "mapping"),
            ("admins: {a: 1}", "\"admins\""),
            ("admins: [[x]]", "\"admins\""),
            ("admins: [a\n", "not YAML"),
        ] {
            let e = Placeholders::parse(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        assert_eq!(Placeholders::parse("").unwrap(), Placeholders::default());
        let e = Placeholders::read(Path::new("/nonexistent/p.yml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/p.yml"), "{e}");
    }
}
