//! The literal prefilter's input: for each rule, words of which at least one occurs (ignoring
//! ASCII case) in the text of every record the rule can match.
//!
//! A record that holds none of any rule's words is not parsed at all. CloudTrail rules nearly
//! always name an `eventName` or `eventSource`, so over a day of a busy account only the few
//! records those names occur in are evaluated.
//!
//! The words are necessary, not sufficient: the rule itself decides. A rule that gives no word
//! (a regular expression, a CIDR, `exists`, a comparison, encodings) makes every record a
//! candidate, which is slower and never wrong.
//!
//! A word is a piece of a value with nothing JSON must write escaped: no quote, backslash, control
//! or non-ASCII character. A slash stays in (`0.0.0.0/0`, `:assumed-role/aws:`): JSON may write
//! it `\/`, but the scanner parses every record that holds an optional escape (`\/`, `\u0041`)
//! whatever its words.

use std::collections::HashMap;

use rsigma_parser::value::{SigmaValue, StringPart};
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SelectorPattern, SigmaRule,
};

/// Shorter words would make most records candidates: no better than none.
const MIN_WORD: usize = 3;

/// What a candidate record holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Needle {
    /// This word somewhere in its text.
    Word(String),
    /// This value (the whole of it, ignoring ASCII case) at this dotted path of object keys:
    /// `eventName` = `StopLogging`. Found by structure, so much cheaper than a word.
    Field(String, String),
}

impl Needle {
    fn text(&self) -> &str {
        match self {
            Needle::Word(w) | Needle::Field(_, w) => w,
        }
    }
}

impl std::fmt::Display for Needle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Needle::Word(w) => write!(f, "{w}"),
            Needle::Field(path, v) => write!(f, "{path}={v}"),
        }
    }
}

/// Needles for `rule`, or `None` when any record may match it.
pub fn required_words(rule: &SigmaRule) -> Option<Vec<Needle>> {
    let named = &rule.detection.named;
    let per_condition: Option<Vec<Vec<Needle>>> = rule
        .detection
        .conditions
        .iter()
        .map(|c| condition(c, named))
        .collect();
    let mut all = union(per_condition?)?;
    all.sort();
    all.dedup();
    Some(all)
}

fn condition(expr: &ConditionExpr, named: &HashMap<String, Detection>) -> Option<Vec<Needle>> {
    match expr {
        ConditionExpr::Identifier(name) => detection(named.get(name)?),
        ConditionExpr::And(xs) => best(xs.iter().map(|x| condition(x, named))),
        ConditionExpr::Or(xs) => union(
            xs.iter()
                .map(|x| condition(x, named))
                .collect::<Option<Vec<_>>>()?,
        ),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let selected: Vec<&Detection> = named
                .iter()
                .filter(|(name, _)| match pattern {
                    SelectorPattern::Them => !name.starts_with('_'),
                    SelectorPattern::Pattern(p) => glob(p, name),
                })
                .map(|(_, d)| d)
                .collect();
            if selected.is_empty() {
                return None;
            }
            let sets = selected.into_iter().map(detection);
            match quantifier {
                Quantifier::All => best(sets),
                Quantifier::Any | Quantifier::Count(_) => union(sets.collect::<Option<Vec<_>>>()?),
            }
        }
    }
}

fn detection(d: &Detection) -> Option<Vec<Needle>> {
    match d {
        Detection::AllOf(items) => best(items.iter().map(item)),
        Detection::AnyOf(ds) => union(ds.iter().map(detection).collect::<Option<Vec<_>>>()?),
        Detection::Keywords(values) => union(
            values
                .iter()
                .map(|v| value(v).map(|w| vec![Needle::Word(w)]))
                .collect::<Option<Vec<_>>>()?,
        ),
        Detection::ArrayMatch {
            quantifier, body, ..
        } => match quantifier {
            rsigma_parser::ArrayQuantifier::Any => detection(body),
            _ => None,
        },
        Detection::And(ds) => best(ds.iter().map(detection)),
        Detection::Conditional {
            named,
            condition: c,
        } => condition(c, named),
    }
}

fn item(i: &DetectionItem) -> Option<Vec<Needle>> {
    let regex = i.field.has_modifier(Modifier::Re);
    let opaque = i.field.modifiers.iter().any(|m| {
        !matches!(
            m,
            Modifier::Contains
                | Modifier::StartsWith
                | Modifier::EndsWith
                | Modifier::All
                | Modifier::Cased
                | Modifier::Re
                | Modifier::IgnoreCase
                | Modifier::Multiline
                | Modifier::DotAll
        )
    });
    if opaque || i.values.is_empty() {
        return None;
    }
    // Equality on a field (ignoring case, or `cased`) with a plain ASCII string: the field.
    let plain_equality = !regex
        && i.field.modifiers.iter().all(|m| *m == Modifier::Cased)
        && i.field
            .name
            .as_ref()
            .is_some_and(|n| !n.is_empty() && !n.split('.').any(str::is_empty));
    let word = |v: &SigmaValue| {
        if regex {
            match v {
                SigmaValue::String(s) => regex_word(&s.original).map(Needle::Word),
                _ => None,
            }
        } else {
            match (plain_equality, v, &i.field.name) {
                (true, SigmaValue::String(s), Some(name))
                    if !s.original.is_empty()
                        && s.original.is_ascii()
                        && s.parts.iter().all(|p| matches!(p, StringPart::Plain(_))) =>
                {
                    let text: String = s
                        .parts
                        .iter()
                        .map(|p| match p {
                            StringPart::Plain(t) => t.as_str(),
                            StringPart::Special(_) => "",
                        })
                        .collect();
                    Some(Needle::Field(name.clone(), text))
                }
                _ => value(v).map(Needle::Word),
            }
        }
    };
    let words = i.values.iter().map(|v| word(v).map(|w| vec![w]));
    if i.field.has_modifier(Modifier::All) {
        best(words)
    } else {
        union(words.collect::<Option<Vec<_>>>()?)
    }
}

/// The longest searchable piece of a value.
fn value(v: &SigmaValue) -> Option<String> {
    let text = match v {
        SigmaValue::String(s) => {
            return s
                .parts
                .iter()
                .filter_map(|p| match p {
                    StringPart::Plain(t) => longest_piece(t),
                    StringPart::Special(_) => None,
                })
                .max_by_key(|w| w.len())
                .filter(|w| w.len() >= MIN_WORD);
        }
        SigmaValue::Integer(n) => n.to_string(),
        SigmaValue::Float(f) => f.to_string(),
        SigmaValue::Bool(b) => b.to_string(),
        SigmaValue::Null => return None,
    };
    Some(text)
}

/// A literal every match of the regular expression contains: the longest literal among the
/// parts of its top-level concatenation (`.+:assumed-role/aws:.+` → `:assumed-role/aws:`).
fn regex_word(pattern: &str) -> Option<String> {
    use regex_syntax::hir::{Hir, HirKind};
    fn literal(h: &Hir) -> Option<String> {
        match h.kind() {
            HirKind::Literal(l) => std::str::from_utf8(&l.0).ok().and_then(longest_piece),
            HirKind::Capture(c) => literal(&c.sub),
            _ => None,
        }
    }
    let hir = regex_syntax::ParserBuilder::new()
        .nest_limit(64)
        .build()
        .parse(pattern)
        .ok()?;
    let parts: Vec<String> = match hir.kind() {
        HirKind::Concat(subs) => subs.iter().filter_map(literal).collect(),
        _ => literal(&hir).into_iter().collect(),
    };
    parts.into_iter().max_by_key(|w| w.len())
}

fn longest_piece(text: &str) -> Option<String> {
    text.split(|c: char| c == '"' || c == '\\' || c.is_control() || !c.is_ascii())
        .max_by_key(|p| p.len())
        .filter(|p| p.len() >= MIN_WORD)
        .map(str::to_string)
}

/// Of sets that are each required, the most selective one: service names
/// (`iam.amazonaws.com`, shared by every call to the service) last, then fields (cheap to look
/// up) before words, then the one whose shortest needle is the longest.
fn best(sets: impl Iterator<Item = Option<Vec<Needle>>>) -> Option<Vec<Needle>> {
    sets.flatten().filter(|s| !s.is_empty()).max_by_key(|s| {
        (
            !s.iter().any(|w| w.text().ends_with("amazonaws.com")),
            s.iter().all(|w| matches!(w, Needle::Field(..))),
            s.iter().map(|w| w.text().len()).min().unwrap_or(0),
            usize::MAX - s.len(),
        )
    })
}

/// Any of several required sets: all their needles.
fn union(sets: Vec<Vec<Needle>>) -> Option<Vec<Needle>> {
    if sets.is_empty() || sets.iter().any(|s| s.is_empty()) {
        return None;
    }
    Some(sets.into_iter().flatten().collect())
}

/// Sigma's selector patterns: `*` stands for any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsigma_parser::parse_sigma_yaml;

    fn words(detection: &str) -> Option<Vec<String>> {
        let yaml = format!(
            "title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}\n"
        );
        let c = parse_sigma_yaml(&yaml).unwrap();
        required_words(&c.rules[0]).map(|n| n.iter().map(Needle::to_string).collect())
    }

    #[test]
    fn names_and_lists() {
        assert_eq!(
            words("  sel:\n    eventSource: iam.amazonaws.com\n    eventName:\n      - CreateUser\n      - DeleteUser\n  condition: sel"),
            Some(vec!["eventName=CreateUser".into(), "eventName=DeleteUser".into()])
        );
    }

    #[test]
    fn or_needs_every_branch_and_not_gives_nothing() {
        assert_eq!(
            words("  a:\n    eventName: StopLogging\n  b:\n    eventName: DeleteTrail\n  condition: a or b"),
            Some(vec!["eventName=DeleteTrail".into(), "eventName=StopLogging".into()])
        );
        assert_eq!(
            words("  a:\n    eventName: StopLogging\n  b:\n    userAgent|re: 'x.*'\n  condition: a or b"),
            None
        );
        assert_eq!(
            words("  a:\n    eventName: StopLogging\n  f:\n    userAgent: console\n  condition: a and not f"),
            Some(vec!["eventName=StopLogging".into()])
        );
        assert_eq!(words("  f:\n    eventName: X123\n  condition: not f"), None);
    }

    #[test]
    fn wildcards_and_escaped_characters_leave_the_longest_piece() {
        assert_eq!(
            words("  a:\n    userAgent|contains: 'TruffleHog/*'\n  condition: a"),
            Some(vec!["TruffleHog/".into()])
        );
        assert_eq!(
            words("  a:\n    requestParameters|contains: '0.0.0.0/0'\n  condition: a"),
            Some(vec!["0.0.0.0/0".into()])
        );
        // A quote or a backslash is always escaped in JSON: the word is a piece without it.
        assert_eq!(
            words("  a:\n    requestParameters|contains: 'say \"hello world\"'\n  condition: a"),
            Some(vec!["hello world".into()])
        );
        assert_eq!(
            words("  a:\n    eventName|re: '(?i)create.*'\n  condition: a"),
            None
        );
        assert_eq!(
            words("  a:\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\n  condition: a"),
            Some(vec![":assumed-role/aws:".into()])
        );
        assert_eq!(
            words("  a:\n    x|re: '^Create(User|Role)$'\n  condition: a"),
            Some(vec!["Create".into()])
        );
        // Too short for a word, but an exact field value is selective whatever its length.
        assert_eq!(
            words("  a:\n    x: 'ab'\n  condition: a"),
            Some(vec!["x=ab".into()])
        );
        assert_eq!(words("  a:\n    x|contains: 'ab'\n  condition: a"), None);
        assert_eq!(
            words("  a:\n    userIdentity.type: Root\n    eventName|startswith: Create\n  condition: a"),
            Some(vec!["userIdentity.type=Root".into()])
        );
        assert_eq!(
            words("  a:\n    eventName: 'Stop*'\n  condition: a"),
            Some(vec!["Stop".into()])
        );
        assert_eq!(
            words("  a:\n    eventName: 'Ünïcode'\n  condition: a"),
            Some(vec!["code".into()])
        );
    }

    #[test]
    fn selectors() {
        assert_eq!(
            words("  sel_a:\n    eventName: Aaa1\n  sel_b:\n    eventName: Bbb2\n  condition: 1 of sel_*"),
            Some(vec!["eventName=Aaa1".into(), "eventName=Bbb2".into()])
        );
        assert_eq!(
            words("  sel_a:\n    eventName: Aaa1\n  sel_b:\n    eventName: LongerName\n  condition: all of sel_*"),
            Some(vec!["eventName=LongerName".into()])
        );
        assert!(glob("sel_*", "sel_x"));
        assert!(glob("*_x*", "a_xb"));
        assert!(!glob("sel_*", "filter"));
    }

    #[test]
    fn numbers_and_booleans_are_their_json_text() {
        assert_eq!(
            words("  a:\n    additionalEventData.MFAUsed: false\n    fromPort: 22\n  condition: a"),
            Some(vec!["false".into()])
        );
    }
}
