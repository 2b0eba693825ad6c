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
#[cfg(test)]
fn field_at<'a>(text: &'a [u8], path: &[String]) -> FieldAt<'a> {
    let mut out = [FieldAt::Unknown];
    fields_at(text, &[path.to_vec()], &mut out);
    out[0]
}

/// Paths looked up in one walk: sets of them are bit masks.
const WALK_PATHS: usize = u64::BITS as usize;

/// The value at each of `paths` (object keys, outermost first) in the record object `text`, into
/// the same place of `out` (as long as `paths`), found in one walk of the record (the prefilter
/// looks up several fields in every record: walked once per field, the walks were most of its
/// cost), without allocating. When the text does not walk, every field is
/// [`FieldAt::Unknown`].
pub fn fields_at<'a>(text: &'a [u8], paths: &[Vec<String>], out: &mut [FieldAt<'a>]) {
    debug_assert_eq!(paths.len(), out.len());
    for (paths, out) in paths.chunks(WALK_PATHS).zip(out.chunks_mut(WALK_PATHS)) {
        out.fill(FieldAt::Unknown);
        let active = paths
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .fold(0u64, |m, (i, _)| m | 1 << i);
        if active != 0 && walk(text, skip_ws(text, 0), paths, 0, active, out).is_none() {
            for p in bits(active) {
                out[p] = FieldAt::Unknown;
            }
        }
    }
}

/// The indexes of the bits set in `mask`, lowest first.
fn bits(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            i
        })
    })
}

fn at(text: &[u8], i: usize) -> Option<u8> {
    text.get(i).copied()
}

/// `text[start]` is the `{` of an object; the keys at `depth` of the `active` paths (a mask of
/// indexes into `paths`) are looked up in it, and their values (or, for longer paths, the
/// objects to look in next) set in `out`. A path once [`FieldAt::Unknown`] stays so.
fn walk<'a>(
    text: &'a [u8],
    start: usize,
    paths: &[Vec<String>],
    depth: usize,
    active: u64,
    out: &mut [FieldAt<'a>],
) -> Option<()> {
    if at(text, start)? != b'{' {
        return None;
    }
    for p in bits(active) {
        out[p] = FieldAt::Absent;
    }
    // Which paths were found at this level (the key twice is Unknown).
    let mut seen = 0u64;
    let mut i = skip_ws(text, start + 1);
    if at(text, i)? == b'}' {
        return Some(());
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
        let c = at(text, v)?;
        let mut nested = 0u64;
        for p in bits(active) {
            let path = &paths[p];
            if out[p] == FieldAt::Unknown
                || !(key_escapes || key.eq_ignore_ascii_case(path[depth].as_bytes()))
            {
                continue;
            }
            if key_escapes || seen & 1 << p != 0 {
                out[p] = FieldAt::Unknown;
                continue;
            }
            seen |= 1 << p;
            out[p] = match (path.len() - depth, c) {
                (1, b'"') => {
                    let (end, escapes) = string_end(text, v)?;
                    if escapes {
                        FieldAt::Unknown
                    } else {
                        FieldAt::One(&text[v + 1..end - 1])
                    }
                }
                (1, _) | (_, b'[') => FieldAt::Unknown,
                (_, b'{') => {
                    nested |= 1 << p;
                    FieldAt::Absent
                }
                // A scalar has no fields.
                (_, _) => FieldAt::Absent,
            };
        }
        if nested != 0 {
            walk(text, v, paths, depth + 1, nested, out)?;
        }
        let end = if c == b'{' {
            container_end(text, v, 0)?
        } else {
            value_end(text, v)?
        };
        i = skip_ws(text, end);
        match at(text, i)? {
            b',' => i = skip_ws(text, i + 1),
            b'}' => return Some(()),
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

    /// One walk for several paths gives what a walk per path gives.
    #[test]
    fn one_walk_for_several_paths_agrees_with_one_per_path() {
        let records = [
            r#"{"eventVersion":"1.08","userIdentity":{"type":"Root","arn":"x","sessionContext":{"a":[1,{"type":"no"}],"sessionIssuer":{"type":"Role"}}},"eventName" : "StopLogging","n":12,"b":true,"z":null}"#,
            r#"{"eventName":"A","eventname":"B","userIdentity":{"type":"IAMUser"}}"#,
            r#"{"userIdentity":{"type":"A"},"userIdentity":{"type":"B"},"eventName":"X"}"#,
            r#"{"userIdentity":{"type":"A","type":"B"},"errorCode":"AccessDenied"}"#,
            r#"{"event\u004eame":"X","errorCode":"E"}"#,
            r#"{"userIdentity":[{"type":"Root"}],"eventName":"Stop\u004cogging"}"#,
            r#"{"userIdentity":"text","eventName":12,"errorCode":["E"]}"#,
            r#"{"userIdentity":{"type":"Root"},"eventName":"A""#,
            r#"{}"#,
            r#"[1]"#,
        ];
        let paths: Vec<Vec<String>> = [
            "eventName",
            "userIdentity.type",
            "userIdentity.sessionContext.sessionIssuer.type",
            "userIdentity.arn",
            "errorCode",
            "missing",
            "eventVersion.x",
            "USERIDENTITY.TYPE",
        ]
        .iter()
        .map(|p| p.split('.').map(str::to_string).collect())
        .collect();
        let mut out = vec![FieldAt::Unknown; paths.len()];
        for r in records {
            fields_at(r.as_bytes(), &paths, &mut out);
            for (p, got) in paths.iter().zip(&out) {
                let one = field_at(r.as_bytes(), p);
                // Text that does not walk makes every field Unknown (a walk per path may have
                // skipped the broken part).
                if one != FieldAt::Unknown || *got != FieldAt::Unknown {
                    assert_eq!(*got, one, "{r} at {p:?}");
                }
            }
        }
        let r = records[0].as_bytes();
        fields_at(r, &paths, &mut out);
        assert_eq!(
            out[..5],
            [
                FieldAt::One(b"StopLogging"),
                FieldAt::One(b"Root"),
                FieldAt::One(b"Role"),
                FieldAt::One(b"x"),
                FieldAt::Absent
            ]
        );
        fields_at(records[2].as_bytes(), &paths, &mut out);
        assert_eq!(out[..2], [FieldAt::One(b"X"), FieldAt::Unknown]);
        fields_at(records[3].as_bytes(), &paths, &mut out);
        assert_eq!(out[1], FieldAt::Unknown);
        assert_eq!(out[4], FieldAt::One(b"AccessDenied"));
    }

    /// Paths beyond one walk's mask are looked up in a further walk.
    #[test]
    fn more_paths_than_one_walk_holds() {
        let r = br#"{"a":{"b":"x"},"k3":"three","eventName":"E"}"#;
        let mut paths: Vec<Vec<String>> =
            (0..WALK_PATHS + 6).map(|i| vec![format!("k{i}")]).collect();
        paths.push(vec!["a".into(), "b".into()]);
        paths.push(vec!["eventName".into()]);
        paths.push(Vec::new());
        let mut out = vec![FieldAt::Absent; paths.len()];
        fields_at(r, &paths, &mut out);
        let n = WALK_PATHS + 6;
        assert_eq!(out[3], FieldAt::One(b"three"));
        assert!(out[..n]
            .iter()
            .enumerate()
            .all(|(i, f)| i == 3 || *f == FieldAt::Absent));
        assert_eq!(
            out[n..],
            [FieldAt::One(b"x"), FieldAt::One(b"E"), FieldAt::Unknown]
        );
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
