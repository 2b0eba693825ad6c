//! A CloudTrail record as Sigma sees it, with the semantics analysts expect where Sigma leaves
//! them open:
//!
//! - field names match case-insensitively (`eventname`, `userIdentity.Type`);
//! - dotted paths go through nested objects and through arrays, where any element may match
//!   (`requestParameters.ipPermissions.items.ipRanges.items.cidrIp`); `a.b[0]` picks one element;
//! - an object or array reached by a path is its JSON text, so `contains` finds text anywhere in
//!   it (`requestParameters|contains: '0.0.0.0/0'`);
//! - numbers and booleans compare as their JSON text (`'false'` matches `false`) — rsigma's
//!   matchers do this for scalars.

use std::borrow::Cow;

use rsigma_eval::event::{Event, EventValue};
use serde_json::Value;

/// One parsed record.
#[derive(Debug)]
pub struct TrailEvent<'a> {
    record: &'a Value,
}

impl<'a> TrailEvent<'a> {
    pub fn new(record: &'a Value) -> TrailEvent<'a> {
        TrailEvent { record }
    }
}

/// Every value the dotted `path` reaches from `v`, arrays fanned out, given to `out` in order.
/// `None` is the end of the path. Walks the text of the path as it goes: no segment list is
/// built (this runs for every field of every rule on every candidate record).
fn reach<'v, F: FnMut(&'v Value)>(v: &'v Value, path: Option<&str>, out: &mut F) {
    let Some(path) = path else {
        out(v);
        return;
    };
    match v {
        Value::Object(obj) => {
            // Split at ASCII bytes (a byte search: this is the hot loop of evaluation).
            let (segment, rest) = match path.bytes().position(|b| b == b'.') {
                Some(dot) => (&path[..dot], Some(&path[dot + 1..])),
                None => (path, None),
            };
            // A key, with an optional `[n]` index.
            let (key, index) = match segment.bytes().position(|b| b == b'[') {
                Some(open) => (
                    &segment[..open],
                    segment[open + 1..]
                        .strip_suffix(']')
                        .and_then(|n| n.trim().parse::<usize>().ok()),
                ),
                None => (segment, None),
            };
            let Some(next) = member(obj, key) else {
                return;
            };
            match (index, next) {
                (Some(i), Value::Array(items)) => {
                    if let Some(item) = items.get(i) {
                        reach(item, rest, out);
                    }
                }
                (Some(_), _) => {}
                (None, next) => reach(next, rest, out),
            }
        }
        // Through an array: every element continues along the same path.
        Value::Array(items) => {
            for item in items {
                reach(item, Some(path), out);
            }
        }
        _ => {}
    }
}

/// The value under `key`, the exact spelling first, then ignoring ASCII case.
fn member<'v>(obj: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A reached value: scalars as themselves, an array as its elements (any may match, as
/// rsigma's matchers try each), an object as its JSON text.
fn to_event_value(v: &Value) -> EventValue<'_> {
    match v {
        Value::String(s) => EventValue::Str(Cow::Borrowed(s)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => EventValue::Int(i),
            None => EventValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Bool(b) => EventValue::Bool(*b),
        Value::Null => EventValue::Null,
        Value::Array(items) if items.iter().all(is_scalar) => {
            EventValue::Array(items.iter().map(to_event_value).collect())
        }
        // Arrays of objects, and objects: their JSON text, for `contains` and `re`.
        other => EventValue::Str(Cow::Owned(other.to_string())),
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn walk_strings<'v>(v: &'v Value, visit: &mut dyn FnMut(&'v str)) {
    match v {
        Value::String(s) => visit(s),
        Value::Array(items) => items.iter().for_each(|i| walk_strings(i, visit)),
        Value::Object(obj) => obj.values().for_each(|i| walk_strings(i, visit)),
        _ => {}
    }
}

impl Event for TrailEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        // Most paths reach one value or none: the list is only built for a second one.
        let mut first = None;
        let mut more = Vec::new();
        reach(self.record, Some(path), &mut |v| match first {
            None => first = Some(v),
            Some(_) => more.push(v),
        });
        let first = first?;
        if more.is_empty() {
            return Some(to_event_value(first));
        }
        Some(EventValue::Array(
            std::iter::once(first)
                .chain(more)
                .map(to_event_value)
                .collect(),
        ))
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        let mut hit = false;
        walk_strings(self.record, &mut |s| hit = hit || pred(s));
        hit
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        walk_strings(self.record, &mut |s| out.push(Cow::Borrowed(s)));
        out
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        walk_strings(self.record, &mut |s| visit(s));
    }

    fn to_json(&self) -> Value {
        self.record.clone()
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        // Keys match case-insensitively here, so the candidate index must not narrow by the
        // exact spelling.
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn get(v: &Value, path: &str) -> Option<Value> {
        TrailEvent::new(v).get_field(path).map(|e| e.to_json())
    }

    #[test]
    fn names_match_whatever_their_case() {
        let r = json!({"eventName": "CreateUser", "userIdentity": {"type": "Root"}});
        assert_eq!(get(&r, "eventName"), Some(json!("CreateUser")));
        assert_eq!(get(&r, "eventname"), Some(json!("CreateUser")));
        assert_eq!(get(&r, "UserIdentity.Type"), Some(json!("Root")));
        assert_eq!(get(&r, "userIdentity.arn"), None);
    }

    #[test]
    fn paths_go_through_arrays() {
        let r = json!({"requestParameters": {"ipPermissions": {"items": [
            {"fromPort": 22, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}, {"cidrIp": "0.0.0.0/0"}]}},
            {"fromPort": 443, "ipRanges": {"items": [{"cidrIp": "1.2.3.4/32"}]}}
        ]}}});
        assert_eq!(
            get(
                &r,
                "requestParameters.ipPermissions.items.ipRanges.items.cidrIp"
            ),
            Some(json!(["10.0.0.0/8", "0.0.0.0/0", "1.2.3.4/32"]))
        );
        assert_eq!(
            get(&r, "requestParameters.ipPermissions.items[1].fromPort"),
            Some(json!(443))
        );
        assert_eq!(
            get(&r, "requestParameters.ipPermissions.items[7].fromPort"),
            None
        );
    }

    #[test]
    fn objects_are_their_json_text() {
        let r = json!({"requestParameters": {"bucketName": "b", "policy": {"Principal": "*"}}});
        let text = get(&r, "requestParameters").unwrap();
        assert!(
            text.as_str().unwrap().contains(r#""Principal":"*""#),
            "{text}"
        );
        let r = json!({"resources": [{"ARN": "arn:aws:s3:::b"}]});
        assert!(get(&r, "resources")
            .unwrap()
            .as_str()
            .unwrap()
            .contains("arn:aws:s3:::b"));
        assert_eq!(get(&r, "resources.ARN"), Some(json!("arn:aws:s3:::b")));
    }

    #[test]
    fn every_string_is_visited_for_keywords() {
        let r = json!({"a": "x", "b": [{"c": "y"}], "d": 1});
        let e = TrailEvent::new(&r);
        assert_eq!(e.all_string_values().len(), 2);
        assert!(e.any_string_value(&|s| s == "y"));
        assert!(!e.any_string_value(&|s| s == "1"));
    }
}
