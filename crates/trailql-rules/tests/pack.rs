//! The bundled pack checks itself: every rule loads, is documented in the fixed sections, and
//! matches its own positive records and none of its negative ones. SigmaHQ's CloudTrail rules
//! (copied into tests/sigmahq, DRL 1.1) all load and compile.

use std::path::PathBuf;

use serde_json::Value;
use trailql_rules::{pack, Detector, RuleSet};

/// The rules `r` matches, with the fields each shows, after checking that the record parsed as
/// far as the rules read it ([`Detector::paths`], as `detect` parses it) gives the same.
fn evaluate(detector: &Detector, r: &Value) -> Vec<(usize, Vec<(String, String)>)> {
    let hits = |v: &Value| -> Vec<(usize, Vec<(String, String)>)> {
        detector
            .evaluate(v)
            .into_iter()
            .map(|h| (h.rule, h.fields))
            .collect()
    };
    let whole = hits(r);
    let paths = detector.paths().expect("these rules name their fields");
    let cut = paths.parse(&r.to_string()).expect("valid JSON");
    assert_eq!(whole, hits(&cut), "parsed as far as the rules read: {cut}");
    let alert = |v: &Value| trailql_investigate::Event::header_from_record(v);
    assert_eq!(format!("{:?}", alert(r)), format!("{:?}", alert(&cut)));
    whole
}

#[test]
fn every_pack_rule_is_documented_and_passes_its_own_tests() {
    let set = pack::builtin();
    assert!(set.problems.is_empty(), "{:#?}", set.problems);
    assert!(set.skipped.is_empty(), "{:?}", set.skipped);
    assert_eq!(set.rules.len(), pack::files().len(), "one rule a file");
    let (detector, problems) = Detector::new(&set);
    assert!(problems.is_empty(), "{problems:#?}");
    let mut ids = std::collections::BTreeSet::new();
    for (i, loaded) in set.rules.iter().enumerate() {
        let rule = &loaded.rule;
        let at = &loaded.origin;
        assert!(
            ids.insert(rule.id.clone().expect("an id")),
            "{at}: duplicate id"
        );
        assert!(
            rule.description.as_deref().is_some_and(|d| d.len() > 20),
            "{at}: What it detects (description)"
        );
        assert!(!rule.falsepositives.is_empty(), "{at}: False positives");
        assert!(rule.level.is_some(), "{at}: level");
        assert!(
            rule.tags.iter().any(|t| t.starts_with("attack.")),
            "{at}: an ATT&CK tag"
        );
        let doc = pack::doc(rule);
        assert!(!doc.why.is_empty(), "{at}: Why it matters (trailql.why)");
        assert!(!doc.example.is_empty(), "{at}: Example (trailql.example)");
        assert!(
            !doc.matching.is_empty() && !doc.not_matching.is_empty(),
            "{at}: tests.match and tests.nomatch"
        );
        for r in &doc.matching {
            let hits: Vec<usize> = evaluate(&detector, r).iter().map(|h| h.0).collect();
            assert!(hits.contains(&i), "{at}: should match {r}");
        }
        for r in &doc.not_matching {
            let hits: Vec<usize> = evaluate(&detector, r).iter().map(|h| h.0).collect();
            assert!(!hits.contains(&i), "{at}: should not match {r}");
        }
    }
}

/// Each pack correlation is documented like a rule and fires on its own `tests.match` sequence
/// (fed in time order, as `detect` feeds it) and not on its `tests.nomatch` one.
#[test]
fn every_pack_correlation_is_documented_and_passes_its_own_tests() {
    let set = pack::builtin();
    let (detector, _) = Detector::new(&set);
    assert!(
        set.correlations.len() >= 7,
        "the pack's correlations: {}",
        set.correlations.len()
    );
    let kinds: std::collections::BTreeSet<String> = set
        .correlations
        .iter()
        .map(|(c, _)| format!("{:?}", c.correlation_type))
        .collect();
    assert!(kinds.len() >= 3, "several kinds of correlation: {kinds:?}");
    for (corr, at) in &set.correlations {
        let id = corr.id.clone().expect("an id");
        assert!(
            corr.description.as_deref().is_some_and(|d| d.len() > 20),
            "{at}: What it detects (description)"
        );
        assert!(!corr.falsepositives.is_empty(), "{at}: False positives");
        assert!(corr.level.is_some(), "{at}: level");
        assert!(
            corr.tags.iter().any(|t| t.starts_with("attack.")),
            "{at}: an ATT&CK tag"
        );
        let doc = pack::correlation_doc(corr);
        assert!(!doc.why.is_empty(), "{at}: Why it matters (trailql.why)");
        assert!(!doc.example.is_empty(), "{at}: Example (trailql.example)");
        assert!(
            !doc.matching.is_empty() && !doc.not_matching.is_empty(),
            "{at}: tests.match and tests.nomatch"
        );
        let fired = |entries: &[serde_json::Value]| -> usize {
            let (correlator, problems) = trailql_rules::Correlator::new(&set, &detector);
            assert!(problems.is_empty(), "{problems:#?}");
            let mut correlator = correlator.expect("the pack has correlations");
            let t0 = 1_722_500_000;
            let mut n = 0;
            for (t, record) in pack::sequence(entries) {
                let hits: Vec<usize> = detector.evaluate(&record).iter().map(|h| h.rule).collect();
                n += correlator
                    .feed(&record, &hits, t0 + t)
                    .iter()
                    .filter(|f| f.id == id)
                    .count();
            }
            n
        };
        assert_eq!(
            fired(&doc.matching),
            1,
            "{at}: {:?} should fire once on tests.match",
            corr.title
        );
        assert_eq!(
            fired(&doc.not_matching),
            0,
            "{at}: {:?} should not fire on tests.nomatch",
            corr.title
        );
    }
}

fn sigmahq(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sigmahq")
        .join(sub)
}

#[test]
fn every_sigmahq_cloudtrail_rule_loads_and_compiles() {
    let dir = sigmahq("rules");
    let mut set = RuleSet::default();
    set.add_path(&dir);
    assert!(set.problems.is_empty(), "{:#?}", set.problems);
    assert_eq!(set.rules.len(), 57);
    let (detector, problems) = Detector::new(&set);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(detector.rules().len(), 57);
    // They name the fields they read, so `detect` parses only those of each record.
    assert!(detector.paths().is_some());
}

#[test]
fn sigmahqs_unsupported_rules_are_reported_by_file_and_reason() {
    let mut set = RuleSet::default();
    set.add_path(&sigmahq("unsupported"));
    set.add_path(&sigmahq("rules"));
    let (detector, problems) = Detector::new(&set);
    // The good rules still load beside the broken ones.
    assert!(detector.rules().len() >= 57);
    let reported: Vec<String> = set
        .problems
        .iter()
        .chain(&problems)
        .map(|p| p.to_string())
        .collect();
    assert!(
        !reported.is_empty(),
        "the old aggregation syntax must be reported"
    );
    for r in &reported {
        assert!(r.contains("unsupported/aws_"), "{r}");
    }
}

#[test]
fn each_sigmahq_rule_matches_its_hand_made_records_and_not_the_others() {
    let events: serde_json::Map<String, serde_json::Value> =
        yaml_serde::from_str(&std::fs::read_to_string(sigmahq("events.yml")).unwrap()).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(sigmahq("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 57);
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let cases = events
            .get(&name)
            .unwrap_or_else(|| panic!("tests/sigmahq/events.yml has no records for {name}"));
        let mut set = RuleSet::default();
        set.add_path(&file);
        let (detector, problems) = Detector::new(&set);
        assert!(
            problems.is_empty() && detector.rules().len() == 1,
            "{name}: {problems:?}"
        );
        let records = |k: &str| cases[k].as_array().cloned().unwrap_or_default();
        let (yes, no) = (records("match"), records("nomatch"));
        assert!(
            !yes.is_empty() && !no.is_empty(),
            "{name}: needs match and nomatch records"
        );
        for r in &yes {
            assert_eq!(evaluate(&detector, r).len(), 1, "{name} should match {r}");
        }
        for r in &no {
            assert!(
                evaluate(&detector, r).is_empty(),
                "{name} should not match {r}"
            );
        }
    }
}

#[test]
fn pack_correlations_count_per_group_in_their_window() {
    let set = pack::builtin();
    let (detector, _) = Detector::new(&set);
    let (correlator, problems) = trailql_rules::Correlator::new(&set, &detector);
    assert!(problems.is_empty(), "{problems:#?}");
    let mut correlator = correlator.expect("the pack has correlations");
    let read = detector
        .rules()
        .iter()
        .position(|r| r.title == "Secret value read")
        .unwrap();
    assert!(correlator.feeds()[read] && correlator.hidden()[read]);
    let record = |who: &str| {
        serde_json::json!({"eventSource": "secretsmanager.amazonaws.com", "eventName": "GetSecretValue",
            "userIdentity": {"arn": format!("arn:aws:sts::1:assumed-role/{who}/s")}})
    };
    let mut fired = Vec::new();
    // Nine reads by `a`, then one by `b`, then a tenth by `a` eleven minutes after the first:
    // the window has moved on, nothing fires; then nine more within a minute fire once.
    let t0 = 1_722_500_000;
    for k in 0..9 {
        fired.extend(correlator.feed(&record("a"), &[read], t0 + k * 10));
    }
    fired.extend(correlator.feed(&record("b"), &[read], t0 + 100));
    fired.extend(correlator.feed(&record("a"), &[read], t0 + 660));
    assert!(fired.is_empty(), "{fired:?}");
    for k in 0..9 {
        fired.extend(correlator.feed(&record("a"), &[read], t0 + 670 + k));
    }
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].title, "Burst of secret reads by one principal");
    assert!(fired[0].group.iter().any(|(_, v)| v.contains("/a/")));
    // A record the detector did not report (say, a filter silenced it) does not count.
    for k in 0..20 {
        assert!(correlator.feed(&record("c"), &[], t0 + 700 + k).is_empty());
    }
}

#[test]
fn correlation_windows_saved_and_restored_in_a_new_correlator_go_on_counting() {
    let set = pack::builtin();
    let (detector, _) = Detector::new(&set);
    let new = || trailql_rules::Correlator::new(&set, &detector).0.unwrap();
    let read = detector
        .rules()
        .iter()
        .position(|r| r.title == "Secret value read")
        .unwrap();
    let record = serde_json::json!({"eventSource": "secretsmanager.amazonaws.com",
        "eventName": "GetSecretValue", "userIdentity": {"arn": "arn:aws:sts::1:assumed-role/a/s"}});
    let t0 = 1_722_500_000;
    let mut first = new();
    for k in 0..6 {
        assert!(first.feed(&record, &[read], t0 + k).is_empty());
    }
    assert_eq!(first.open_groups(), 1);
    // Through JSON text, as the watch keeps it.
    let saved: serde_json::Value =
        serde_json::from_str(&serde_json::to_string(&first.save()).unwrap()).unwrap();
    drop(first);
    let mut second = new();
    second.restore(saved).unwrap();
    assert_eq!(second.open_groups(), 1);
    let mut fired = Vec::new();
    for k in 6..10 {
        fired.extend(second.feed(&record, &[read], t0 + k));
    }
    assert_eq!(
        fired.len(),
        1,
        "six reads before and four after make ten: {fired:?}"
    );
    // A fresh correlator, not restored, sees four.
    let mut fresh = new();
    assert!((6..10).all(|k| fresh.feed(&record, &[read], t0 + k).is_empty()));
    // What is not a saved state is refused and leaves the windows empty.
    let mut other = new();
    assert!(other.restore(serde_json::json!({"windows": 3})).is_err());
    assert_eq!(other.open_groups(), 0);
}

/// `--level high` reports the high correlations, so it keeps the informational rules they count
/// (hidden), and leaves out the medium correlations and rules.
#[test]
fn a_level_keeps_the_correlations_above_it_and_the_rules_they_count_hidden() {
    use trailql_rules::alert::{level_name, level_rank};
    use trailql_rules::{Level, Selection};
    let selection = Selection {
        min_level: Some(level_rank(Some(Level::High))),
        tags: Vec::new(),
    };
    let mut set = pack::builtin();
    selection.apply(&mut set);
    let (detector, problems) = Detector::new(&set);
    assert!(problems.is_empty(), "{problems:#?}");
    let (correlator, problems) = trailql_rules::Correlator::new(&set, &detector);
    assert!(problems.is_empty(), "{problems:#?}");
    let mut correlator = correlator.expect("the pack has high correlations");
    selection.hide_unwanted(&detector, &mut correlator);

    let titles: Vec<&str> = correlator
        .correlations()
        .iter()
        .map(|c| c.title.as_str())
        .collect();
    assert!(titles.contains(&"One principal denied on many different APIs"));
    assert!(!titles.contains(&"Burst of access denied errors for one principal"));
    for c in correlator.correlations() {
        assert!(
            level_rank(c.level) >= level_rank(Some(Level::High)),
            "{}",
            c.title
        );
    }
    // Every rule below high is there only as a hidden feeder.
    let denied = detector
        .rules()
        .iter()
        .position(|r| r.title == "Access denied")
        .expect("the rule the high correlation counts");
    for (i, r) in detector.rules().iter().enumerate() {
        if level_rank(r.level) < level_rank(Some(Level::High)) {
            assert!(
                correlator.feeds()[i] && correlator.hidden()[i],
                "{} ({}) runs at --level high",
                r.title,
                level_name(r.level)
            );
        } else {
            assert!(!correlator.hidden()[i], "{}", r.title);
        }
    }
    // And the correlation fires: one principal denied on ten different APIs.
    let t0 = 1_722_500_000;
    let mut fired = Vec::new();
    for k in 0..10 {
        let record = serde_json::json!({"eventName": format!("List{k}"), "errorCode": "AccessDenied",
            "userIdentity": {"arn": "arn:aws:sts::1:assumed-role/web/i-1"}});
        let hits: Vec<usize> = detector.evaluate(&record).iter().map(|h| h.rule).collect();
        assert_eq!(hits, [denied]);
        fired.extend(correlator.feed(&record, &hits, t0 + k * 10));
    }
    let fired: Vec<&str> = fired.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(fired, ["One principal denied on many different APIs"]);

    // A tag selects the same way: the CloudTrail rule, nothing of discovery.
    let selection = Selection {
        min_level: None,
        tags: vec!["attack.t1562.008".into()],
    };
    let mut set = pack::builtin();
    selection.apply(&mut set);
    assert!(set.correlations.is_empty());
    assert!(set
        .rules
        .iter()
        .any(|r| r.rule.title == "CloudTrail logging stopped, deleted or narrowed"));
    assert!(set.rules.iter().all(|r| r
        .rule
        .tags
        .iter()
        .any(|t| t.starts_with("attack.t1562.008"))));
}
