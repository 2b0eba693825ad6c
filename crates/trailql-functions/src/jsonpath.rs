//! Trino's JSONPath subset, as Athena's `json_extract*` functions accept it:
//! `$`, `.key`, `["key"]`, `['key']`, `[index]`. Pure Rust, no DataFusion.

use sonic_rs::{JsonType, JsonValueTrait, LazyValue, PointerNode};
use trailql_decode::nesting::too_deep;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    pub steps: Vec<PointerNode>,
}

/// Parse a path such as `$.ipPermissions.items[0]["ipRanges"]`.
pub fn parse(path: &str) -> Result<JsonPath, String> {
    let err = |why: &str| {
        format!("invalid JSON path {path:?}: {why} (supported: $, .key, [\"key\"], [index])")
    };
    let b = path.trim().as_bytes();
    if b.first() != Some(&b'$') {
        return Err(err("must start with $"));
    }
    let mut steps = Vec::new();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                if j == start {
                    return Err(err("empty key after ."));
                }
                let key = &path.trim()[start..j];
                if key == "*" {
                    return Err(err("wildcards are not supported"));
                }
                steps.push(PointerNode::Key(key.to_string().into()));
                i = j;
            }
            b'[' => {
                let close = b[i..]
                    .iter()
                    .position(|&c| c == b']')
                    .map(|p| p + i)
                    .ok_or_else(|| err("unclosed ["))?;
                let inner = path.trim()[i + 1..close].trim();
                if let Some(q) = inner.chars().next().filter(|c| *c == '"' || *c == '\'') {
                    if inner.len() < 2 || !inner.ends_with(q) {
                        return Err(err("unterminated quoted key"));
                    }
                    steps.push(PointerNode::Key(
                        inner[1..inner.len() - 1].to_string().into(),
                    ));
                } else {
                    let n: usize = inner
                        .parse()
                        .map_err(|_| err("array index must be a non-negative integer"))?;
                    steps.push(PointerNode::Index(n));
                }
                i = close + 1;
            }
            b' ' => i += 1,
            _ => return Err(err("expected . or [")),
        }
    }
    Ok(JsonPath { steps })
}

impl JsonPath {
    /// The value at this path in `json`, or `None` when missing, when `json` is invalid, or
    /// when it nests too deep to parse ([`trailql_decode::nesting`]: the parser recurses).
    pub fn get<'a>(&self, json: &'a str) -> Option<LazyValue<'a>> {
        if too_deep(json.as_bytes()) {
            return None;
        }
        sonic_rs::get(json, &self.steps).ok()
    }

    /// `json_extract_scalar`: the scalar's text; NULL for objects, arrays, null, missing.
    pub fn extract_scalar(&self, json: &str) -> Option<String> {
        let v = self.get(json)?;
        scalar_text(&v)
    }

    /// `json_extract`: the value's JSON text; `None` when missing.
    pub fn extract(&self, json: &str) -> Option<String> {
        let v = self.get(json)?;
        Some(v.as_raw_str().to_string())
    }
}

/// A scalar JSON value as Trino renders it for `json_extract_scalar` (strings unquoted).
pub fn scalar_text(v: &LazyValue<'_>) -> Option<String> {
    match v.get_type() {
        JsonType::String => v.as_str().map(str::to_string),
        JsonType::Number | JsonType::Boolean => Some(v.as_raw_str().to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RP: &str = r#"{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]},"weird key":{"a":true},"n":null}"#;

    #[test]
    fn paths_parse_and_extract() {
        let p = |s| parse(s).unwrap();
        assert_eq!(p("$.groupId").extract_scalar(RP).as_deref(), Some("sg-1"));
        assert_eq!(
            p("$.ipPermissions.items[0].ipRanges.items[0].cidrIp")
                .extract_scalar(RP)
                .as_deref(),
            Some("0.0.0.0/0")
        );
        assert_eq!(
            p("$.ipPermissions.items[0].fromPort")
                .extract_scalar(RP)
                .as_deref(),
            Some("22")
        );
        assert_eq!(
            p("$[\"weird key\"].a").extract_scalar(RP).as_deref(),
            Some("true")
        );
        assert_eq!(
            p("$['weird key']['a']").extract_scalar(RP).as_deref(),
            Some("true")
        );
        assert_eq!(
            p("$.ipPermissions").extract_scalar(RP),
            None,
            "objects are not scalars"
        );
        assert_eq!(p("$.n").extract_scalar(RP), None);
        assert_eq!(p("$.missing").extract_scalar(RP), None);
        assert_eq!(p("$.ipPermissions.items[5]").extract(RP), None);
        assert_eq!(
            p("$[\"weird key\"]").extract(RP).as_deref(),
            Some(r#"{"a":true}"#)
        );
        assert_eq!(p("$").extract(r#"[1,2]"#).as_deref(), Some("[1,2]"));
        assert_eq!(p("$.a").extract_scalar("not json"), None);
        assert_eq!(
            p("$.s").extract_scalar(r#"{"s":"a\"b\u00e9"}"#).as_deref(),
            Some("a\"bé")
        );
    }

    #[test]
    fn bad_paths_are_rejected_with_a_reason() {
        for bad in ["groupId", "$.", "$[", "$[-1]", "$.*", "$['x]", "$x"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("invalid JSON path"), "{bad}: {e}");
        }
    }
}
