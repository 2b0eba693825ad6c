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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use rsigma_eval::RuleFieldSet;
use rsigma_parser::{
    CorrelationRule, Detection, FilterRule, Modifier, SigmaCollection, SigmaRule, SigmaValue,
};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
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
        Paths::read_by(rules, correlations, &[])
    }

    /// The fields `rules` and the `filters` applied to them read; `None` when they may read
    /// any text.
    pub fn for_filtered(rules: &[SigmaRule], filters: &[FilterRule]) -> Option<Paths> {
        Paths::read_by(rules, &[], filters)
    }

    fn read_by(
        rules: &[SigmaRule],
        correlations: &[CorrelationRule],
        filters: &[FilterRule],
    ) -> Option<Paths> {
        let mut extra = Vec::new();
        let detections = rules
            .iter()
            .map(|r| &r.detection)
            .chain(filters.iter().map(|f| &f.detection));
        for detection in detections {
            for d in detection.named.values() {
                if !named_fields_only(d, &mut extra) {
                    return None;
                }
            }
        }
        let collection = SigmaCollection {
            rules: rules.to_vec(),
            correlations: correlations.to_vec(),
            filters: filters.to_vec(),
            errors: Vec::new(),
        };
        let set = RuleFieldSet::collect(&collection, &[], !filters.is_empty());
        let names: Vec<String> = set.names().map(str::to_string).chain(extra).collect();
        Some(Paths::new(names.iter().map(String::as_str)))
    }

    /// These paths and those of `other`.
    pub fn union(mut self, other: &Paths) -> Paths {
        self.merge(other);
        self
    }

    fn merge(&mut self, other: &Paths) {
        self.whole |= other.whole;
        for (k, child) in &other.children {
            self.children.entry(k.clone()).or_default().merge(child);
        }
    }

    /// The subtree under `key` (compared ignoring ASCII case: the children's keys are
    /// lower-cased, so `key` is too, on the stack when it is short, and looked up).
    fn child(&self, key: &str) -> Option<&Paths> {
        const SHORT: usize = 64;
        if key.len() > SHORT {
            return self.children.get(&key.to_ascii_lowercase());
        }
        let mut lower = [0u8; SHORT];
        for (l, b) in lower.iter_mut().zip(key.bytes()) {
            *l = b.to_ascii_lowercase();
        }
        // ASCII lower-casing keeps UTF-8 valid.
        let lower = std::str::from_utf8(&lower[..key.len()]).ok()?;
        self.children.get(lower)
    }

    /// The JSON text `text` with only these paths: what [`Paths::cut`] makes of the parsed
    /// record, without building the rest (the rest is checked as JSON and skipped, which is
    /// several times cheaper than building it and dropping it).
    pub fn parse(&self, text: &str) -> serde_json::Result<Value> {
        let mut de = serde_json::Deserializer::from_str(text);
        let kept = Cut(self).deserialize(&mut de)?;
        de.end()?;
        Ok(kept.unwrap_or_else(|| Value::Object(Map::new())))
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
                        let child = self.child(k)?;
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

/// The deserializer side of [`Paths::project`]: `None` where `project` keeps nothing.
struct Cut<'p>(&'p Paths);

impl<'de> DeserializeSeed<'de> for Cut<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        if self.0.whole {
            return Value::deserialize(d).map(Some);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Cut<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        let mut kept = Vec::new();
        while let Some(item) = seq.next_element_seed(Cut(self.0))? {
            kept.extend(item);
        }
        Ok((!kept.is_empty()).then_some(Value::Array(kept)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let mut kept = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            match self.0.child(&key) {
                Some(child) => match map.next_value_seed(Cut(child))? {
                    Some(v) => {
                        kept.insert(key.into_owned(), v);
                    }
                    // A later duplicate replaces an earlier one, as in a parsed record.
                    None => {
                        kept.remove(key.as_ref());
                    }
                },
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((!kept.is_empty()).then_some(Value::Object(kept)))
    }
}

/// An object's key, borrowed from the text unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
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
    fn parsing_only_the_paths_gives_the_cut_record() {
        let p = Paths::new([
            "eventName",
            "requestParameters.ipPermissions.items.fromPort",
            "userIdentity",
        ]);
        let texts = [
            r#"{"eventName": "X", "EventSource": "ec2", "requestParameters": {"groupId": "sg-1",
                "IpPermissions": {"items": [{"fromPort": 22, "toPort": 22}, {"toPort": 1}]}},
                "userIdentity": {"type": "Root", "arn": null}}"#,
            r#"{"other": [1, {"a": "b"}], "event\u004eame": "escaped key", "eventName": null}"#,
            r#"{"eventName": "first", "eventName": "second", "requestParameters": null}"#,
            r#"{"eventName": "kept", "eventName": {"an": "object"}}"#,
            r#"[{"eventName": "in an array"}, 3]"#,
            r#""just a string""#,
        ];
        for text in texts {
            let whole: Value = serde_json::from_str(text).unwrap();
            assert_eq!(p.parse(text).unwrap(), p.cut(&whole), "{text}");
        }
        // Paths ending at an object, merged with deeper ones, keep the object whole.
        let q = Paths::new(["requestParameters.groupId"]).union(&Paths::new(["requestParameters"]));
        let whole: Value = serde_json::from_str(texts[0]).unwrap();
        assert_eq!(
            q.parse(texts[0]).unwrap()["requestParameters"],
            whole["requestParameters"]
        );
        // Keys longer than the stack's buffer, and keys beyond ASCII, match as the others do.
        let long = "K".repeat(70);
        let q = Paths::new([format!("requestParameters.{long}").as_str(), "détail"]);
        let lower = long.to_ascii_lowercase();
        let text =
            format!(r#"{{"requestParameters":{{"{lower}":1,"x":2}},"DÉTAIL":3,"Détail":4}}"#);
        let whole: Value = serde_json::from_str(&text).unwrap();
        let want: Value = serde_json::from_str(&format!(
            r#"{{"requestParameters":{{"{lower}":1}},"Détail":4}}"#
        ))
        .unwrap();
        assert_eq!(q.parse(&text).unwrap(), want);
        assert_eq!(q.cut(&whole), want);
        // What is skipped is still checked as JSON.
        for bad in [
            r#"{"other": [1, }"#,
            r#"{"eventName": "x"} trailing"#,
            r#"{"a": "\q"}"#,
        ] {
            assert!(p.parse(bad).is_err(), "{bad}");
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
