//! `json_to_map(text)`: a JSON object's text as `map<varchar, varchar>`, the way CloudTrail Lake
//! types `requestParameters`, `responseElements`, `additionalEventData` and
//! `serviceEventDetails`: string values as the string, `null` as NULL, every other value (number,
//! boolean, object, array) as its JSON text. Text that is not a JSON object gives NULL.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, MapBuilder, MapFieldNames, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use sonic_rs::{JsonType, JsonValueTrait};

use crate::udf::{co_str, udf, Strs};

pub(crate) fn functions() -> Vec<ScalarUDF> {
    vec![udf("json_to_map", ret_map, co_str, k_json_to_map)]
}

fn ret_map(_: &[DataType]) -> Result<DataType> {
    Ok(trailql_decode::schema::map_type())
}

/// The entries of a JSON object: key, and the value as text (`None` for `null`).
pub fn object_entries(text: &str) -> Option<Vec<(String, Option<String>)>> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let mut out = Vec::new();
    for item in sonic_rs::to_object_iter(text) {
        let (key, value) = item.ok()?;
        let value = match value.get_type() {
            JsonType::Null => None,
            JsonType::String => Some(value.as_str()?.to_string()),
            _ => Some(value.as_raw_str().to_string()),
        };
        out.push((key.to_string(), value));
    }
    Some(out)
}

fn k_json_to_map(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let text = Strs::of(&a[0])?;
    let names = MapFieldNames {
        entry: "entries".into(),
        key: "keys".into(),
        value: "values".into(),
    };
    let mut b = MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new());
    for i in 0..n {
        match text.get(i).and_then(object_entries) {
            Some(entries) => {
                for (k, v) in entries {
                    b.keys().append_value(k);
                    b.values().append_option(v);
                }
                b.append(true)?;
            }
            None => b.append(false)?,
        }
    }
    Ok(Arc::new(b.finish()))
}

#[cfg(test)]
mod tests {
    use super::object_entries;

    #[test]
    fn values_are_strings_or_json_text() {
        let e = object_entries(
            r#"{"groupId":"sg-1","ipPermissions":{"items":[{"fromPort":22}]},"dryRun":false,"n":3,"x":null,"q":"a\"b"}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            vec![
                ("groupId".into(), Some("sg-1".into())),
                (
                    "ipPermissions".into(),
                    Some(r#"{"items":[{"fromPort":22}]}"#.into())
                ),
                ("dryRun".into(), Some("false".into())),
                ("n".into(), Some("3".into())),
                ("x".into(), None),
                ("q".into(), Some("a\"b".into())),
            ]
        );
    }

    #[test]
    fn what_is_not_an_object_is_no_map() {
        assert_eq!(object_entries("[1,2]"), None);
        assert_eq!(object_entries("\"text\""), None);
        assert_eq!(object_entries("{\"a\":"), None);
        assert_eq!(object_entries("{}"), Some(vec![]));
    }
}
