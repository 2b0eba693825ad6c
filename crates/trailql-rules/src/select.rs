//! Which rules a run reports (`--level`, `--tag`), without losing the correlations it asked for.
//!
//! A correlation counts the alerts of other rules, which are often below it (the pack's
//! "One principal denied on many different APIs" is high and counts "Access denied",
//! informational). So the selection applies to rules and correlations alike, and a kept
//! correlation keeps what it counts, whatever its level or tags: the rules as feeders whose own
//! alerts are hidden, the correlations it builds on as they are.

use std::collections::HashSet;

use rsigma_parser::Level;

use crate::alert::level_rank;
use crate::correlate::Correlator;
use crate::detector::Detector;
use crate::load::RuleSet;

/// What a run reports: alerts of this level or above, with one of these tags (or a tag under
/// one: `attack.t1562` takes `attack.t1562.008`); empty means any.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The lowest rank reported ([`level_rank`]); `None`: every level.
    pub min_level: Option<u8>,
    pub tags: Vec<String>,
}

impl Selection {
    /// Everything, as with no `--level` and no `--tag`.
    pub fn all(&self) -> bool {
        self.min_level.is_none() && self.tags.is_empty()
    }

    /// Whether a rule or correlation of `level` with `tags` is reported.
    pub fn wants(&self, level: Option<Level>, tags: &[String]) -> bool {
        self.min_level.is_none_or(|m| level_rank(level) >= m)
            && (self.tags.is_empty()
                || tags
                    .iter()
                    .any(|t| self.tags.iter().any(|want| tag_under(t, want))))
    }

    /// Leave in `set` the rules and correlations the selection wants, and what the kept
    /// correlations count (transitively). The rules kept only for that are hidden once the
    /// correlator is built ([`Selection::hide_unwanted`]).
    pub fn apply(&self, set: &mut RuleSet) {
        if self.all() {
            return;
        }
        let mut kept: Vec<bool> = set
            .correlations
            .iter()
            .map(|(c, _)| self.wants(c.level, &c.tags))
            .collect();
        // The names the kept correlations count; a correlation counted is kept in turn.
        let mut counted: HashSet<&str> = HashSet::new();
        loop {
            for ((c, _), _) in set.correlations.iter().zip(&kept).filter(|(_, k)| **k) {
                counted.extend(c.rules.iter().map(String::as_str));
            }
            let mut more = false;
            for ((c, _), k) in set.correlations.iter().zip(kept.iter_mut()) {
                if !*k
                    && c.id
                        .iter()
                        .chain(&c.name)
                        .any(|n| counted.contains(n.as_str()))
                {
                    *k = true;
                    more = true;
                }
            }
            if !more {
                break;
            }
        }
        let counted: HashSet<String> = counted.into_iter().map(str::to_string).collect();
        let mut k = kept.into_iter();
        set.correlations.retain(|_| k.next().unwrap_or(false));
        set.rules.retain(|r| {
            self.wants(r.rule.level, &r.rule.tags)
                || r.rule
                    .id
                    .iter()
                    .chain(&r.rule.name)
                    .any(|n| counted.contains(n))
        });
    }

    /// Hide the own alerts of the rules in `detector` the selection does not want (there only
    /// for the correlations they feed).
    pub fn hide_unwanted(&self, detector: &Detector, correlator: &mut Correlator) {
        for (i, r) in detector.rules().iter().enumerate() {
            if !self.wants(r.level, &r.tags) {
                correlator.hide(i);
            }
        }
    }
}

/// Tag `t` is `want` or under it, ignoring ASCII case.
fn tag_under(t: &str, want: &str) -> bool {
    t.eq_ignore_ascii_case(want)
        || (t.len() > want.len()
            && t.as_bytes()[want.len()] == b'.'
            && t[..want.len()].eq_ignore_ascii_case(want))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_takes_the_tags_under_it() {
        assert!(tag_under("attack.t1562.008", "attack.t1562"));
        assert!(tag_under("ATTACK.T1562", "attack.t1562"));
        assert!(!tag_under("attack.t15620", "attack.t1562"));
        assert!(!tag_under("attack", "attack.t1562"));
    }
}
