//! A literal prefilter (the ripgrep idea): a record that cannot contain a literal the query
//! requires is skipped before it is parsed.
//!
//! The query layer turns filters such as `eventname = 'X'` or `requestparameters LIKE '%0.0.0.0/0%'`
//! into required literals. A literal made of characters JSON never has to escape appears verbatim
//! in the record's text — unless the writer chose an optional escape (`\uXXXX` or `\/`), so a
//! record (or file) containing either is always parsed.

//!
//! `trailql detect` adds one more group: the words of its rules, any of which must occur
//! ignoring ASCII case (one Aho-Corasick automaton over all of them).

use std::sync::Arc;

use aho_corasick::AhoCorasick;
use memchr::memmem::Finder;

/// All groups must match; a group matches when any of its literals occurs.
#[derive(Debug, Clone)]
pub struct Prefilter {
    groups: Vec<Vec<Finder<'static>>>,
    needles: Vec<Vec<String>>,
    words: Option<Words>,
}

/// Words any of which must occur, ignoring ASCII case.
#[derive(Debug, Clone)]
pub struct Words {
    automaton: Arc<AhoCorasick>,
    words: Arc<Vec<String>>,
}

impl Words {
    /// `None` when a word cannot be searched for verbatim (then any record may match).
    pub fn new(words: Vec<String>) -> Option<Words> {
        if words.is_empty() || !words.iter().all(|w| searchable(w) && w.is_ascii()) {
            return None;
        }
        let automaton = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&words)
            .ok()?;
        Some(Words {
            automaton: Arc::new(automaton),
            words: Arc::new(words),
        })
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    fn occur_in(&self, text: &[u8]) -> bool {
        self.automaton.is_match(text)
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

    /// `false` only when `text` certainly cannot match.
    pub fn may_match(&self, text: &[u8]) -> bool {
        let all = self
            .groups
            .iter()
            .all(|g| g.iter().any(|f| f.find(text).is_some()))
            && self.words.as_ref().is_none_or(|w| w.occur_in(text));
        all || has_optional_escape(text)
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
