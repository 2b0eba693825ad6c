//! A record cut down to the fields a set of rules reads, so that what travels with an alert to
//! the correlations (through a sort that may spill) is a few hundred bytes, not the whole event
//! (a `RunInstances` record is often kilobytes).
//!
//! The fields are those rsigma-eval's [`RuleFieldSet`] finds in the rules and correlations
//! (detection items, `group-by`, the counted field, aliases) plus the fields `|fieldref` names.
//! Names match keys ignoring ASCII case, and a dotted path goes through arrays, as
//! [`crate::TrailEvent`] reads them, so a rule matches the cut-down record exactly when it
//! matches the whole one. Rules that read text outside named fields (keywords, array blocks)
//! leave nothing to cut: [`Paths::for_rules`] is then `None`.

use std::collections::BTreeMap;

use rsigma_eval::RuleFieldSet;
use rsigma_parser::{CorrelationRule, Detection, Modifier, SigmaCollection, SigmaRule, SigmaValue};
use serde_json::{Map, Value};

/// Dotted paths as a tree of lower-cased keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paths {
    /// The whole value below this key is kept.
    whole: bool,
    children: BTreeMap<String, Paths>,
}

impl Paths {
    /// A tree of these dotted paths.
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Paths {
        let mut root = Paths::default();
        for p in paths {
            let mut node = &mut root;
            for segment in p.split('.') {
                node = node
                    .children
                    .entry(segment.to_ascii_lowercase())
                    .or_default();
            }
            node.whole = true;
        }
        root
    }

    /// The fields `rules` and `correlations` read; `None` when they may read any text.
    pub fn for_rules(rules: &[SigmaRule], correlations: &[CorrelationRule]) -> Option<Paths> {
        let mut extra = Vec::new();
        for r in rules {
            for d in r.detection.named.values() {
                if !named_fields_only(d, &mut extra) {
                    return None;
                }
            }
        }
        let collection = SigmaCollection {
            rules: rules.to_vec(),
            correlations: correlations.to_vec(),
            filters: Vec::new(),
            errors: Vec::new(),
        };
        let set = RuleFieldSet::collect(&collection, &[], false);
        let names: Vec<String> = set.names().map(str::to_string).chain(extra).collect();
        Some(Paths::new(names.iter().map(String::as_str)))
    }

    /// `record` with only these paths (an empty object when none is there).
    pub fn cut(&self, record: &Value) -> Value {
        self.project(record)
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    fn project(&self, v: &Value) -> Option<Value> {
        if self.whole {
            return Some(v.clone());
        }
        match v {
            Value::Object(m) => {
                let kept: Map<String, Value> = m
                    .iter()
                    .filter_map(|(k, v)| {
                        let child = self.children.get(&k.to_ascii_lowercase())?;
                        Some((k.clone(), child.project(v)?))
                    })
                    .collect();
                (!kept.is_empty()).then_some(Value::Object(kept))
            }
            Value::Array(items) => {
                let kept: Vec<Value> = items.iter().filter_map(|i| self.project(i)).collect();
                (!kept.is_empty()).then_some(Value::Array(kept))
            }
            _ => None,
        }
    }
}

/// Does `d` read named fields only? Adds the fields `|fieldref` values name to `extra`.
fn named_fields_only(d: &Detection, extra: &mut Vec<String>) -> bool {
    match d {
        Detection::AllOf(items) => items.iter().all(|item| {
            if item.field.name.is_none() {
                return false;
            }
            if item.field.modifiers.contains(&Modifier::FieldRef) {
                for v in &item.values {
                    if let SigmaValue::String(s) = v {
                        extra.push(s.as_plain().unwrap_or_else(|| s.original.clone()));
                    }
                }
            }
            // An expand template reads the fields its placeholders name.
            if item.field.modifiers.contains(&Modifier::Expand) {
                return false;
            }
            true
        }),
        Detection::AnyOf(subs) | Detection::And(subs) => {
            subs.iter().all(|s| named_fields_only(s, extra))
        }
        Detection::Conditional { named, .. } => named.values().all(|s| named_fields_only(s, extra)),
        Detection::Keywords(_) | Detection::ArrayMatch { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_paths_through_arrays_ignoring_case() {
        let p = Paths::new([
            "eventName",
            "requestParameters.ipPermissions.items.fromPort",
        ]);
        let r = json!({"eventName": "X", "EventSource": "ec2", "requestParameters": {
            "groupId": "sg-1", "IpPermissions": {"items": [{"fromPort": 22, "toPort": 22}, {"toPort": 1}]}}});
        assert_eq!(
            p.cut(&r),
            json!({"eventName": "X", "requestParameters": {"IpPermissions": {"items": [{"fromPort": 22}]}}})
        );
        assert_eq!(p.cut(&json!({"other": 1})), json!({}));
        // A path that ends at an object keeps all of it.
        let p = Paths::new(["requestParameters"]);
        assert_eq!(p.cut(&r)["requestParameters"], r["requestParameters"]);
    }

    #[test]
    fn rules_match_their_cut_records_as_they_match_the_whole_ones() {
        let mut set = crate::RuleSet::default();
        for (path, text) in crate::pack::files() {
            set.add_text(crate::Origin::Builtin(path.to_string()), text);
        }
        let (detector, _) = crate::Detector::new(&set);
        let rules: Vec<SigmaRule> = set.rules.iter().map(|r| r.rule.clone()).collect();
        let correlations: Vec<CorrelationRule> =
            set.correlations.iter().map(|(c, _)| c.clone()).collect();
        let paths = Paths::for_rules(&rules, &correlations).expect("the pack names its fields");
        for loaded in &set.rules {
            let doc = crate::pack::doc(&loaded.rule);
            for r in doc.matching.iter().chain(&doc.not_matching) {
                // A named check (what Sigma cannot say) reads the record itself, in the
                // detector; the correlations re-run the Sigma part only.
                let sigma = |hits: Vec<crate::Hit>| -> Vec<usize> {
                    hits.iter()
                        .map(|h| h.rule)
                        .filter(|&i| detector.rules()[i].check.is_none())
                        .collect()
                };
                let whole = sigma(detector.evaluate(r));
                let cut = sigma(detector.evaluate(&paths.cut(r)));
                assert_eq!(whole, cut, "{}: {r}", loaded.origin);
            }
        }
    }

    #[test]
    fn keyword_rules_leave_nothing_to_cut() {
        let mut set = crate::RuleSet::default();
        set.add_text(
            crate::Origin::Builtin("k.yml".into()),
            "title: k\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  keywords: [evil]\n  condition: keywords\n",
        );
        let rules: Vec<SigmaRule> = set.rules.iter().map(|r| r.rule.clone()).collect();
        assert_eq!(Paths::for_rules(&rules, &[]), None);
    }
}
