//! Rules over the scan: the same sources, pruning and progress as `query`, with the rules' words
//! as a prefilter so that only records some rule can match are parsed and evaluated.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::context::SessionState;
use trailql_investigate::Scope;
use trailql_rules::{Detector, Needle};
use trailql_sql::{ScanOptions, ScanReport};

use crate::exec::{Counts, DetectExec, Feed};

/// `options` with the detector's needles as the record prefilter.
pub fn scan_options(detector: &Detector, mut options: ScanOptions) -> ScanOptions {
    options.words = detector.words().and_then(prefilter);
    options
}

/// The decoder's prefilter for needles: words searched for, fields looked up.
fn prefilter(needles: &[Needle]) -> Option<trailql_decode::Words> {
    let mut words = Vec::new();
    let mut fields: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for n in needles {
        match n {
            Needle::Word(w) => words.push(w.clone()),
            Needle::Field(path, value) => fields.entry(path).or_default().push(value.clone()),
        }
    }
    let fields = fields
        .into_iter()
        .map(|(path, values)| (path.split('.').map(str::to_string).collect(), values))
        .collect();
    trailql_decode::Words::with_fields(words, fields)
}

/// The statement the scan runs.
pub fn statement(scope: &Scope) -> String {
    let mut sql = String::from("SELECT eventjson, \"$path\" FROM cloudtrail_logs");
    if let Some(c) = scope.condition() {
        sql.push_str("\nWHERE ");
        sql.push_str(&c);
    }
    sql
}

/// The plan that runs `detector` over the `cloudtrail_logs` of `state` within `scope`: each
/// partition of the scan evaluates its own records, on its own core, and emits their alerts
/// (columns [`crate::exec::alert_schema`], or those of `projection`).
pub async fn plan(
    state: &SessionState,
    report: Arc<ScanReport>,
    detector: Arc<Detector>,
    counts: Arc<Counts>,
    feed: Option<Arc<Feed>>,
    scope: &Scope,
    projection: Option<Vec<usize>>,
) -> Result<DetectExec> {
    let plan = state.create_logical_plan(&statement(scope)).await?;
    let input = state.create_physical_plan(&plan).await?;
    DetectExec::new(input, detector, report, counts, feed, projection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use trailql_decode::Prefilter;
    use trailql_rules::{pack, RuleSet};

    /// The prefilter `detect` gives the decoder for `set`'s rules.
    fn prefilter_of(set: &RuleSet) -> Option<Prefilter> {
        let (detector, problems) = Detector::new(set);
        assert!(problems.is_empty(), "{problems:?}");
        Prefilter::with_words(Vec::new(), detector.words().and_then(prefilter))
    }

    /// Each record of `records`, written as CloudTrail writes it, passes `filter` (as a record
    /// and in a file): the words are necessary, never more.
    fn passes(filter: &Option<Prefilter>, records: &[Value], what: &str) {
        let Some(f) = filter else { return };
        for r in records {
            let text = r.to_string();
            let file = serde_json::json!({ "Records": [r] }).to_string();
            assert!(
                f.may_match_record(text.as_bytes()) && f.may_match(file.as_bytes()),
                "{what}: the prefilter {:?} skips its own matching record {text}",
                f.words().map(|w| w.words().to_vec())
            );
        }
    }

    #[test]
    fn every_rules_own_matching_records_pass_its_prefilter() {
        let builtin = pack::builtin();
        let whole_pack = prefilter_of(&builtin);
        for loaded in &builtin.rules {
            let mut one = RuleSet::default();
            one.rules.push(loaded.clone());
            let matching = pack::doc(&loaded.rule).matching;
            assert!(!matching.is_empty(), "{}", loaded.origin);
            passes(&prefilter_of(&one), &matching, &loaded.origin.to_string());
            passes(&whole_pack, &matching, "the whole pack");
        }

        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../trailql-rules/tests/sigmahq");
        let events: serde_json::Map<String, Value> =
            yaml_serde::from_str(&std::fs::read_to_string(dir.join("events.yml")).unwrap())
                .unwrap();
        let mut checked = 0;
        for (name, cases) in &events {
            let mut one = RuleSet::default();
            one.add_path(&dir.join("rules").join(name));
            assert_eq!(one.rules.len(), 1, "{name}");
            let matching = cases["match"].as_array().cloned().unwrap_or_default();
            assert!(!matching.is_empty(), "{name}");
            passes(&prefilter_of(&one), &matching, name);
            checked += 1;
        }
        assert_eq!(checked, 57);
    }
}
