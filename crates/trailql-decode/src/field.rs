//! One field of a record's text, found by structure without parsing the record: the value of
//! `eventName`, or of `userIdentity.type`, for the prefilter of `detect`.
//!
//! Keys match ignoring ASCII case (as the rules' field names do). Whatever cannot be answered
//! exactly — a key with escapes, the key twice, a string with escapes, a value that is not a
//! string, an array on the way, text that does not walk — is [`FieldAt::Unknown`], and the
//! record is then treated as a candidate.

use crate::structural::{container_end, skip_ws, string_end, value_end};

/// What a record holds at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldAt<'a> {
    /// No such field.
    Absent,
    /// One string without escapes (its text between the quotes).
    One(&'a [u8]),
    /// Could not tell.
    Unknown,
}

/// The value at `path` (object keys, outermost first) in the record object `text`.
pub fn field_at<'a>(text: &'a [u8], path: &[String]) -> FieldAt<'a> {
    if path.is_empty() {
        return FieldAt::Unknown;
    }
    walk(text, skip_ws(text, 0), path).unwrap_or(FieldAt::Unknown)
}

fn at(text: &[u8], i: usize) -> Option<u8> {
    text.get(i).copied()
}

/// `text[start]` is the `{` of an object.
fn walk<'a>(text: &'a [u8], start: usize, path: &[String]) -> Option<FieldAt<'a>> {
    if at(text, start)? != b'{' {
        return None;
    }
    let mut found = FieldAt::Absent;
    let mut i = skip_ws(text, start + 1);
    if at(text, i)? == b'}' {
        return Some(found);
    }
    loop {
        if at(text, i)? != b'"' {
            return None;
        }
        let (key_end, key_escapes) = string_end(text, i)?;
        let key = &text[i + 1..key_end - 1];
        let colon = skip_ws(text, key_end);
        if at(text, colon)? != b':' {
            return None;
        }
        let v = skip_ws(text, colon + 1);
        let end = if key_escapes || key.eq_ignore_ascii_case(path[0].as_bytes()) {
            if key_escapes || found != FieldAt::Absent {
                return Some(FieldAt::Unknown);
            }
            let (value, end) = match (path.len(), at(text, v)?) {
                (1, b'"') => {
                    let (end, escapes) = string_end(text, v)?;
                    if escapes {
                        return Some(FieldAt::Unknown);
                    }
                    (FieldAt::One(&text[v + 1..end - 1]), end)
                }
                (1, _) | (_, b'[') => return Some(FieldAt::Unknown),
                (_, b'{') => (walk(text, v, &path[1..])?, container_end(text, v, 0)?),
                // A scalar has no fields.
                (_, _) => (FieldAt::Absent, value_end(text, v)?),
            };
            if value == FieldAt::Unknown {
                return Some(value);
            }
            found = value;
            end
        } else {
            value_end(text, v)?
        };
        i = skip_ws(text, end);
        match at(text, i)? {
            b',' => i = skip_ws(text, i + 1),
            b'}' => return Some(found),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(text: &str, path: &str) -> FieldAt<'static> {
        let text: &'static str = Box::leak(text.to_string().into_boxed_str());
        let path: Vec<String> = path.split('.').map(str::to_string).collect();
        field_at(text.as_bytes(), &path)
    }

    #[test]
    fn top_level_and_nested_strings() {
        let r = r#"{"eventVersion":"1.08","userIdentity":{"type":"Root","arn":"x","sessionContext":{"a":[1,{"type":"no"}]}},"eventName" : "StopLogging","n":12,"b":true,"z":null}"#;
        assert_eq!(get(r, "eventName"), FieldAt::One(b"StopLogging"));
        assert_eq!(get(r, "EVENTNAME"), FieldAt::One(b"StopLogging"));
        assert_eq!(get(r, "userIdentity.type"), FieldAt::One(b"Root"));
        assert_eq!(get(r, "userIdentity.missing"), FieldAt::Absent);
        assert_eq!(get(r, "missing"), FieldAt::Absent);
        assert_eq!(get(r, "eventVersion.x"), FieldAt::Absent);
    }

    #[test]
    fn what_cannot_be_told_exactly_is_unknown() {
        assert_eq!(
            get(r#"{"eventName":"A","eventname":"B"}"#, "eventName"),
            FieldAt::Unknown
        );
        assert_eq!(
            get(r#"{"eventName":"Stop\u004cogging"}"#, "eventName"),
            FieldAt::Unknown
        );
        assert_eq!(
            get(r#"{"event\u004eame":"X"}"#, "eventName"),
            FieldAt::Unknown
        );
        assert_eq!(get(r#"{"eventName":12}"#, "eventName"), FieldAt::Unknown);
        assert_eq!(get(r#"{"eventName":["A"]}"#, "eventName"), FieldAt::Unknown);
        assert_eq!(
            get(r#"{"a":[{"type":"Root"}]}"#, "a.type"),
            FieldAt::Unknown
        );
        assert_eq!(get(r#"{"eventName":"A""#, "eventName"), FieldAt::Unknown);
        assert_eq!(get(r#"[1]"#, "eventName"), FieldAt::Unknown);
    }
}
