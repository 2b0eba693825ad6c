//! A literal prefilter (the ripgrep idea): a record that cannot contain a literal the query
//! requires is skipped before it is parsed.
//!
//! The query layer turns filters such as `eventname = 'X'` or `requestparameters LIKE '%0.0.0.0/0%'`
//! into required literals. A literal made of characters JSON never has to escape appears verbatim
//! in the record's text — unless the writer chose an optional escape (`\uXXXX` or `\/`), so a
//! record (or file) containing either is always parsed.

//!
//! `trailql detect` adds one more group: its rules' words, any of which must occur ignoring ASCII
//! case (one Aho-Corasick automaton over all of them), or values of fields such as `eventName`.

use std::collections::HashSet;
use std::sync::Arc;

use aho_corasick::AhoCorasick;

use crate::field::{fields_at, FieldAt};
use memchr::memmem::Finder;

/// All groups must match; a group matches when any of its literals occurs.
#[derive(Debug, Clone)]
pub struct Prefilter {
    groups: Vec<Vec<Finder<'static>>>,
    needles: Vec<Vec<String>>,
    words: Option<Words>,
}

/// What one of which every candidate record holds, ignoring ASCII case: one of the words
/// anywhere in its text, or one of the values of a field (`eventName` ∈ {…}), which is found by
/// structure and so costs a few key comparisons instead of a search through the whole record.
#[derive(Debug, Clone)]
pub struct Words {
    automaton: Option<Arc<AhoCorasick>>,
    words: Arc<Vec<String>>,
    /// The fields (their paths of object keys), looked up in one walk of a record.
    paths: Arc<Vec<Vec<String>>>,
    /// For each of `paths`, the values (ASCII-lowercased) that make a record a candidate.
    values: Arc<Vec<HashSet<Vec<u8>>>>,
}

/// Fields looked up in a record without allocating (more are looked up in a buffer on the heap).
const STACK_FIELDS: usize = 16;
/// Values compared without allocating (a longer value is lowercased on the heap).
const STACK_VALUE: usize = 64;

impl Words {
    /// `None` when a word cannot be searched for verbatim (then any record may match).
    pub fn new(words: Vec<String>) -> Option<Words> {
        Words::with_fields(words, Vec::new())
    }

    /// Words, and fields with their values (`(["eventName"], ["StopLogging", …])`).
    pub fn with_fields(
        words: Vec<String>,
        fields: Vec<(Vec<String>, Vec<String>)>,
    ) -> Option<Words> {
        if words.is_empty() && fields.is_empty()
            || !words.iter().all(|w| searchable(w) && w.is_ascii())
            || fields
                .iter()
                .any(|(path, values)| path.is_empty() || values.is_empty())
        {
            return None;
        }
        let automaton = if words.is_empty() {
            None
        } else {
            let a = aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&words)
                .ok()?;
            Some(Arc::new(a))
        };
        let (paths, values): (Vec<Vec<String>>, Vec<HashSet<Vec<u8>>>) = fields
            .into_iter()
            .map(|(path, values)| {
                let values = values
                    .iter()
                    .map(|v| v.to_ascii_lowercase().into_bytes())
                    .collect();
                (path, values)
            })
            .unzip();
        Some(Words {
            automaton,
            words: Arc::new(words),
            paths: Arc::new(paths),
            values: Arc::new(values),
        })
    }

    /// The words searched for in the text.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// How many fields are looked up by structure.
    pub fn fields(&self) -> usize {
        self.paths.len()
    }

    /// Can the record object `text` be a candidate? (Runs on every record: the usual few
    /// fields and short values are looked at in buffers on the stack.)
    fn occur_in_record(&self, text: &[u8]) -> bool {
        let n = self.paths.len();
        if n > 0 {
            let mut stack = [FieldAt::Absent; STACK_FIELDS];
            let mut heap = Vec::new();
            let found = if n <= STACK_FIELDS {
                &mut stack[..n]
            } else {
                heap.resize(n, FieldAt::Absent);
                &mut heap[..]
            };
            fields_at(text, &self.paths, found);
            for (values, at) in self.values.iter().zip(found.iter()) {
                match *at {
                    FieldAt::Absent => {}
                    FieldAt::Unknown => return true,
                    FieldAt::One(v) if v.len() <= STACK_VALUE => {
                        let mut lower = [0u8; STACK_VALUE];
                        for (l, b) in lower.iter_mut().zip(v) {
                            *l = b.to_ascii_lowercase();
                        }
                        if values.contains(&lower[..v.len()]) {
                            return true;
                        }
                    }
                    FieldAt::One(v) => {
                        if values.contains(&v.to_ascii_lowercase()) {
                            return true;
                        }
                    }
                }
            }
        }
        self.automaton.as_ref().is_some_and(|a| a.is_match(text))
    }

    /// Can a file whose text is `text` hold a candidate? (Fields are not looked up in a whole
    /// file: then it may.)
    fn may_occur_in_file(&self, text: &[u8]) -> bool {
        !self.paths.is_empty() || self.automaton.as_ref().is_some_and(|a| a.is_match(text))
    }
}

/// Can this literal be searched for verbatim in JSON text?
fn searchable(lit: &str) -> bool {
    !lit.is_empty() && !lit.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20)
}

impl Prefilter {
    /// Build from groups of alternative literals. Groups with an unsearchable literal are
    /// dropped (they cannot be required). `None` when nothing is left.
    pub fn new(groups: Vec<Vec<String>>) -> Option<Prefilter> {
        Prefilter::with_words(groups, None)
    }

    /// [`Prefilter::new`], and also one of `words` (ignoring case).
    pub fn with_words(groups: Vec<Vec<String>>, words: Option<Words>) -> Option<Prefilter> {
        let needles: Vec<Vec<String>> = groups
            .into_iter()
            .filter(|g| !g.is_empty() && g.iter().all(|l| searchable(l)))
            .collect();
        if needles.is_empty() && words.is_none() {
            return None;
        }
        let groups = needles
            .iter()
            .map(|g| {
                g.iter()
                    .map(|l| Finder::new(l.as_bytes()).into_owned())
                    .collect()
            })
            .collect();
        Some(Prefilter {
            groups,
            needles,
            words,
        })
    }

    /// The words group, for EXPLAIN and stats.
    pub fn words(&self) -> Option<&Words> {
        self.words.as_ref()
    }

    /// The literals, for EXPLAIN.
    pub fn needles(&self) -> &[Vec<String>] {
        &self.needles
    }

    /// `false` only when no record of a file whose text is `text` can match.
    pub fn may_match(&self, text: &[u8]) -> bool {
        let all = self.groups_match(text)
            && self
                .words
                .as_ref()
                .is_none_or(|w| w.may_occur_in_file(text));
        all || has_optional_escape(text)
    }

    /// `false` only when the record whose text is `text` certainly cannot match.
    pub fn may_match_record(&self, text: &[u8]) -> bool {
        let all =
            self.groups_match(text) && self.words.as_ref().is_none_or(|w| w.occur_in_record(text));
        all || has_optional_escape(text)
    }

    fn groups_match(&self, text: &[u8]) -> bool {
        self.groups
            .iter()
            .all(|g| g.iter().any(|f| f.find(text).is_some()))
    }
}

fn has_optional_escape(text: &[u8]) -> bool {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\\', &text[from..]) {
        let at = from + i;
        match text.get(at + 1) {
            Some(b'u') | Some(b'/') => return true,
            // Skip the escaped character (so `\\u` is not read as `\u`).
            _ => from = at + 2,
        }
        if from >= text.len() {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(groups: &[&[&str]]) -> Option<Prefilter> {
        Prefilter::new(
            groups
                .iter()
                .map(|g| g.iter().map(|s| s.to_string()).collect())
                .collect(),
        )
    }

    #[test]
    fn all_groups_any_alternative() {
        let f = p(&[&["AuthorizeSecurityGroupIngress"], &["0.0.0.0/0", "::/0"]]).unwrap();
        assert!(f.may_match(br#"{"eventName":"AuthorizeSecurityGroupIngress","x":"::/0"}"#));
        assert!(!f.may_match(br#"{"eventName":"AuthorizeSecurityGroupIngress","x":"10.0.0.0/8"}"#));
        assert!(!f.may_match(br#"{"eventName":"RunInstances","x":"0.0.0.0/0"}"#));
    }

    #[test]
    fn optional_escapes_disable_the_skip() {
        let f = p(&[&["0.0.0.0/0"]]).unwrap();
        assert!(f.may_match(br#"{"cidr":"0.0.0.0\/0"}"#));
        assert!(f.may_match(br#"{"cidr":"\u0030.0.0.0/0"}"#));
        // An escaped backslash followed by `u` is not a unicode escape.
        assert!(!f.may_match(br#"{"p":"C:\\users"}"#));
    }

    #[test]
    fn fields_are_looked_up_in_records_and_never_rule_out_a_file() {
        let w = Words::with_fields(
            vec!["TruffleHog".into()],
            vec![(vec!["eventName".into()], vec!["StopLogging".into()])],
        )
        .unwrap();
        let f = Prefilter::with_words(vec![], Some(w)).unwrap();
        assert!(f.may_match_record(br#"{"eventName":"stoplogging"}"#));
        assert!(f.may_match_record(br#"{"eventName":"X","userAgent":"trufflehog"}"#));
        assert!(!f.may_match_record(br#"{"eventName":"X","a":{"eventName":"StopLogging"}}"#));
        assert!(!f.may_match_record(br#"{"eventName":"StopLoggingX"}"#));
        // Not told exactly: a candidate.
        assert!(f.may_match_record(br#"{"eventName":"X","EventName":"Y"}"#));
        assert!(f.may_match_record(br#"{"eventName":"Stop\u004cogging"}"#));
        assert!(f.may_match(br#"{"Records":[{"eventName":"X"}]}"#));
        assert!(Words::with_fields(vec![], vec![]).is_none());
        assert!(Words::with_fields(vec![], vec![(vec![], vec!["x".into()])]).is_none());
    }

    /// More fields than fit on the stack, and values longer than the stack's buffer, are
    /// looked up as the few and short ones are.
    #[test]
    fn many_fields_and_long_values() {
        let long = format!("Stop{}", "Logging".repeat(20));
        let mut fields: Vec<(Vec<String>, Vec<String>)> = (0..STACK_FIELDS + 3)
            .map(|i| (vec![format!("k{i}")], vec![format!("v{i}")]))
            .collect();
        fields.push((vec!["eventName".into()], vec![long.clone()]));
        let f = Prefilter::with_words(vec![], Words::with_fields(vec![], fields)).unwrap();
        let k = STACK_FIELDS + 2;
        assert!(f.may_match_record(format!(r#"{{"k{k}":"V{k}"}}"#).as_bytes()));
        assert!(!f.may_match_record(format!(r#"{{"k{k}":"v0"}}"#).as_bytes()));
        let upper = long.to_ascii_uppercase();
        assert!(f.may_match_record(format!(r#"{{"eventName":"{upper}"}}"#).as_bytes()));
        assert!(!f.may_match_record(format!(r#"{{"eventName":"{long}X"}}"#).as_bytes()));
        let short = "x".repeat(STACK_VALUE);
        assert!(!f.may_match_record(format!(r#"{{"eventName":"{short}"}}"#).as_bytes()));
    }

    #[test]
    fn words_ignore_case_and_join_the_other_groups() {
        let w = Words::new(vec!["StopLogging".into(), "DeleteTrail".into()]).unwrap();
        let f = Prefilter::with_words(vec![], Some(w.clone())).unwrap();
        assert!(f.may_match(br#"{"eventName":"stoplogging"}"#));
        assert!(f.may_match(br#"{"eventName":"DeleteTrail"}"#));
        assert!(!f.may_match(br#"{"eventName":"StartLogging"}"#));
        // A record that spells a letter as an escape is always parsed.
        assert!(f.may_match(br#"{"eventName":"\u0053topLogging"}"#));
        let f = Prefilter::with_words(vec![vec!["us-east-1".into()]], Some(w)).unwrap();
        assert!(!f.may_match(br#"{"eventName":"StopLogging","awsRegion":"eu-west-1"}"#));
        assert!(f.may_match(br#"{"eventName":"StopLogging","awsRegion":"us-east-1"}"#));
        assert!(Words::new(vec!["a\"b".into()]).is_none());
        assert!(Words::new(vec!["caf\u{e9}".into()]).is_none());
        assert!(Words::new(vec![]).is_none());
    }

    #[test]
    fn unsearchable_literals_are_dropped() {
        assert!(p(&[&["a\"b"]]).is_none());
        assert!(p(&[&[""]]).is_none());
        let f = p(&[&["x", "a\\b"], &["y"]]).unwrap();
        assert_eq!(f.needles().len(), 1);
    }
}
