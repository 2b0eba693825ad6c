//! Rules over the scan: the same sources, pruning and progress as `query`, with the rules' words
//! as a prefilter so that only records some rule can match are parsed and evaluated.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::execution::context::SessionState;
use trailql_decode::schema::{data_type, record_specs};
use trailql_decode::Prefilter;
use trailql_investigate::queries::quote;
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

/// Top-level text columns CloudTrail always writes as strings: a needle on one of them is a
/// condition on the column.
const NEEDLE_COLUMNS: [&str; 8] = [
    "eventname",
    "eventsource",
    "errorcode",
    "eventtype",
    "awsregion",
    "sourceipaddress",
    "useragent",
    "recipientaccountid",
];

/// The struct column whose text fields (`userIdentity.type`, `…sessionIssuer.arn`) are values,
/// never JSON text: a needle on one of them is a condition on the field.
const NEEDLE_STRUCT: &str = "useridentity";

/// The SQL of the column or struct field a needle's dotted `path` names (any case), when it is
/// one a needle can be a condition on.
fn needle_column(path: &str) -> Option<String> {
    let mut parts = path.split('.').map(str::to_ascii_lowercase);
    let first = parts.next()?;
    if NEEDLE_COLUMNS.contains(&first.as_str()) {
        return parts.next().is_none().then_some(first);
    }
    if first != NEEDLE_STRUCT {
        return None;
    }
    let spec = record_specs().iter().find(|s| s.name == NEEDLE_STRUCT)?;
    let mut sql = first.clone();
    let mut data_type = data_type(spec);
    let mut depth = 0;
    for part in parts {
        let DataType::Struct(fields) = &data_type else {
            return None;
        };
        let field = fields.iter().find(|f| f.name() == &part)?.clone();
        sql.push_str(&format!("[{}]", quote(field.name())));
        data_type = field.data_type().clone();
        depth += 1;
    }
    (depth > 0 && data_type == DataType::Utf8).then_some(sql)
}

/// A condition on the table's columns that every record some rule can match meets, when each
/// needle is a value of a column or field [`needle_column`] knows (`None` otherwise: words must
/// be searched for in the record's text). A lake's reader evaluates it on those columns and
/// decodes `eventjson` only for the rows that pass.
pub fn needle_condition(needles: &[Needle]) -> Option<String> {
    let mut by_column: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in needles {
        let Needle::Field(path, value) = n else {
            return None;
        };
        // The needle ignores ASCII case, as `lower` does (and more: a superset is safe).
        by_column
            .entry(needle_column(path)?)
            .or_default()
            .push(quote(&value.to_ascii_lowercase()));
    }
    if by_column.is_empty() {
        return None;
    }
    let parts: Vec<String> = by_column
        .into_iter()
        .map(|(column, mut values)| {
            values.sort();
            values.dedup();
            format!("lower({column}) IN ({})", values.join(", "))
        })
        .collect();
    Some(format!("({})", parts.join(" OR ")))
}

/// The statement the scan runs: the records in `scope`, and meeting `needles` (a
/// [`needle_condition`]) when given.
pub fn statement(scope: &Scope, needles: Option<&str>) -> String {
    let mut sql = String::from("SELECT eventjson, \"$path\" FROM cloudtrail_logs");
    let conditions: Vec<String> = scope
        .condition()
        .into_iter()
        .chain(needles.map(String::from))
        .collect();
    if !conditions.is_empty() {
        sql.push_str("\nWHERE ");
        sql.push_str(&conditions.join("\n  AND "));
    }
    sql
}

/// The plan that runs `detector` over the `cloudtrail_logs` of `state` within `scope`: each
/// partition of the scan evaluates its own records, on its own core, and emits their alerts
/// (columns [`crate::exec::alert_schema`], or those of `projection`). With `record_prefilter`,
/// a record whose text holds none of the rules' needles is not parsed, and over a lake the
/// needles are also a condition on its columns where they can be ([`needle_condition`]), so its
/// reader decodes `eventjson` only for the rows that meet it.
#[allow(clippy::too_many_arguments)]
pub async fn plan(
    state: &SessionState,
    report: Arc<ScanReport>,
    detector: Arc<Detector>,
    counts: Arc<Counts>,
    feed: Option<Arc<Feed>>,
    scope: &Scope,
    projection: Option<Vec<usize>>,
    record_prefilter: bool,
) -> Result<DetectExec> {
    let needles = detector.words().filter(|_| record_prefilter);
    let condition = needles
        .filter(|_| report.reads_lake())
        .and_then(needle_condition);
    let prefilter = needles
        .and_then(prefilter)
        .and_then(|w| Prefilter::with_words(Vec::new(), Some(w)));
    let plan = state
        .create_logical_plan(&statement(scope, condition.as_deref()))
        .await?;
    let input = state.create_physical_plan(&plan).await?;
    Ok(
        DetectExec::new(input, detector, report, counts, feed, projection)?
            .with_prefilter(prefilter),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
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
    fn needles_on_text_columns_become_a_condition_and_others_do_not() {
        let field = |p: &str, v: &str| Needle::Field(p.into(), v.into());
        assert_eq!(
            needle_condition(&[
                field("eventName", "StopLogging"),
                field("eventSource", "cloudtrail.amazonaws.com"),
                field("EVENTNAME", "DeleteTrail"),
                field("errorCode", "O'Brien"),
                field("eventName", "stoplogging"),
            ])
            .as_deref(),
            Some(
                "(lower(errorcode) IN ('o''brien') \
                 OR lower(eventname) IN ('deletetrail', 'stoplogging') \
                 OR lower(eventsource) IN ('cloudtrail.amazonaws.com'))"
            )
        );
        // A word, or a field that is not a top-level text column, is searched for in the text.
        assert_eq!(
            needle_condition(&[field("eventName", "X"), Needle::Word("secret".into())]),
            None
        );
        // A text field of `userIdentity` is one too; a struct, or a field it lacks, is not.
        assert_eq!(
            needle_condition(&[
                field("userIdentity.type", "Root"),
                field("userIdentity.sessionContext.sessionIssuer.type", "Role"),
            ])
            .as_deref(),
            Some(
                "(lower(useridentity['sessioncontext']['sessionissuer']['type']) IN ('role') \
                 OR lower(useridentity['type']) IN ('root'))"
            )
        );
        for path in [
            "userIdentity",
            "userIdentity.sessionContext",
            "userIdentity.nosuchfield",
            "requestParameters.bucketName",
            "eventName.x",
        ] {
            assert_eq!(needle_condition(&[field(path, "x")]), None, "{path}");
        }
        assert_eq!(needle_condition(&[]), None);
        assert_eq!(
            statement(&Scope::default(), Some("(lower(eventname) IN ('x'))")),
            "SELECT eventjson, \"$path\" FROM cloudtrail_logs\nWHERE (lower(eventname) IN ('x'))"
        );
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
