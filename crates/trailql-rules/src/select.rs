//! Which rules a run reports (`--level`, `--tag`), without losing the correlations it asked for.
//!
//! A correlation counts the alerts of other rules, which are often below it (the pack's
//! "One principal denied on many different APIs" is high and counts "Access denied",
//! informational). So the selection applies to rules and correlations alike, and a kept
//! correlation keeps what it counts, whatever its level or tags, as feeders whose own alerts are
//! hidden: the rules, and the correlations it builds on.

use std::collections::HashSet;

use rsigma_parser::Level;

use crate::alert::level_rank;
use crate::correlate::{names, Correlator};
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
    /// correlations count (transitively). The rules and correlations kept only for that are
    /// hidden once the correlator is built ([`Selection::hide_unwanted`]).
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
                if !*k && names(&c.id, &c.name).any(|n| counted.contains(n)) {
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
                || names(&r.rule.id, &r.rule.name).any(|n| counted.contains(n))
        });
    }

    /// Hide the own alerts of the rules in `detector` and of the correlations the selection
    /// does not want (there only for the correlations they feed).
    pub fn hide_unwanted(&self, detector: &Detector, correlator: &mut Correlator) {
        for (i, r) in detector.rules().iter().enumerate() {
            if !self.wants(r.level, &r.tags) {
                correlator.hide(i);
            }
        }
        let unwanted: Vec<String> = correlator
            .correlations()
            .iter()
            .filter(|c| !self.wants(c.level, &c.tags))
            .map(|c| c.id.clone())
            .collect();
        for id in unwanted {
            correlator.hide_correlation(&id);
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
    use crate::alert::level_rank;
    use crate::load::Origin;

    const CHAIN: &str = r#"
title: base
name: base
logsource:
  product: aws
  service: cloudtrail
detection:
  sel:
    errorCode: AccessDenied
  condition: sel
level: informational
---
title: inner
name: inner
correlation:
  type: event_count
  rules:
    - base
  group-by:
    - userIdentity.arn
  timespan: 1m
  condition:
    gte: 2
level: medium
---
title: outer
name: outer
correlation:
  type: event_count
  rules:
    - inner
  group-by:
    - userIdentity.arn
  timespan: 10m
  condition:
    gte: 2
level: high
"#;

    /// What fires, by title, over four denied calls of one principal ten seconds apart.
    fn fired(selection: &Selection) -> (Vec<String>, Vec<(String, bool)>) {
        let mut set = RuleSet::default();
        set.add_text(Origin::Builtin("chain.yml".into()), CHAIN);
        assert!(set.problems.is_empty(), "{:#?}", set.problems);
        selection.apply(&mut set);
        let (detector, problems) = Detector::new(&set);
        assert!(problems.is_empty(), "{problems:#?}");
        let (correlator, problems) = Correlator::new(&set, &detector);
        assert!(problems.is_empty(), "{problems:#?}");
        let mut correlator = correlator.expect("two correlations");
        selection.hide_unwanted(&detector, &mut correlator);
        let mut fired = Vec::new();
        for k in 0..4 {
            let record = serde_json::json!({"eventName": format!("List{k}"),
                "errorCode": "AccessDenied", "userIdentity": {"arn": "arn:aws:iam::1:user/eve"}});
            let hits: Vec<usize> = detector.evaluate(&record).iter().map(|h| h.rule).collect();
            fired.extend(correlator.feed(&record, &hits, 1_722_500_000 + k * 10));
        }
        let kept = correlator
            .correlations()
            .iter()
            .map(|c| (c.title.clone(), c.hidden))
            .collect();
        (fired.into_iter().map(|f| f.title).collect(), kept)
    }

    /// A high correlation that counts a medium one keeps it at `--level high`, but only the high
    /// one's alerts are reported; with no selection both are. (The rules name each other by
    /// `name` and have no `id`, which the correlation engine needs to link them: given one.)
    #[test]
    fn a_correlation_kept_only_for_another_is_hidden() {
        let (all, kept) = fired(&Selection::default());
        assert_eq!(all, ["inner", "inner", "outer"]);
        assert!(kept.iter().all(|(_, hidden)| !hidden), "{kept:?}");

        let high = Selection {
            min_level: Some(level_rank(Some(Level::High))),
            tags: Vec::new(),
        };
        let (fired, kept) = fired(&high);
        assert_eq!(fired, ["outer"]);
        assert_eq!(
            kept,
            [("inner".to_string(), true), ("outer".to_string(), false)]
        );
    }

    #[test]
    fn a_tag_takes_the_tags_under_it() {
        assert!(tag_under("attack.t1562.008", "attack.t1562"));
        assert!(tag_under("ATTACK.T1562", "attack.t1562"));
        assert!(!tag_under("attack.t15620", "attack.t1562"));
        assert!(!tag_under("attack", "attack.t1562"));
    }
}
