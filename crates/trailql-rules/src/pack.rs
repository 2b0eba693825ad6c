//! The bundled pack: `rules/` compiled into the binary, one rule a file.
//!
//! Each file is a Sigma rule with a `trailql:` block beside the standard fields, so docs and
//! tests cannot drift from the rule:
//!
//! ```yaml
//! title: …                      # What it detects: title and description
//! description: …
//! falsepositives: [ … ]         # False positives
//! trailql:
//!   check: world_open_ingress   # optional: what Sigma cannot say (see `checks`)
//!   why: …                      # Why it matters
//!   example: …                  # Example: what an alert looks like, how to follow up
//!   tests:
//!     match: [ {record}, … ]    # records the rule must match
//!     nomatch: [ {record}, … ]  # records it must not
//! ```
//!
//! Adding a rule is adding a file: `trailql detect --list` and the tests read the files.

use include_dir::{include_dir, Dir};
use serde_json::Value;

use crate::load::{Origin, RuleSet};

static RULES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/rules");

/// `(path under rules/, text)` of every bundled rule file, sorted by path.
pub fn files() -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    collect(&RULES, &mut out);
    out.sort();
    out
}

fn collect(dir: &'static Dir<'static>, out: &mut Vec<(&'static str, &'static str)>) {
    for f in dir.files() {
        let path = f.path().to_str().unwrap_or_default();
        if path.ends_with(".yml") {
            if let Some(text) = f.contents_utf8() {
                out.push((path, text));
            }
        }
    }
    for d in dir.dirs() {
        collect(d, out);
    }
}

/// The pack as a rule set.
pub fn builtin() -> RuleSet {
    let mut set = RuleSet::default();
    for (path, text) in files() {
        set.add_text(Origin::Builtin(path.to_string()), text);
    }
    set
}

/// A pack rule's documentation and test records, from its `trailql:` block.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    /// A [`crate::checks::Check`] that decides after the Sigma detection matched.
    pub check: Option<String>,
    pub why: String,
    pub example: String,
    pub matching: Vec<Value>,
    pub not_matching: Vec<Value>,
}

/// The `trailql:` block of a rule (empty for rules outside the pack).
pub fn doc(rule: &rsigma_parser::SigmaRule) -> Doc {
    doc_of(&rule.custom_attributes)
}

/// The `trailql:` block of a correlation rule. Its tests are sequences of records, fed in
/// order: after `match` the correlation has fired, after `nomatch` it has not (see
/// [`sequence`]).
pub fn correlation_doc(rule: &rsigma_parser::CorrelationRule) -> Doc {
    doc_of(&rule.custom_attributes)
}

/// A correlation test's records with their times (seconds from the start), in order. An entry
/// is a record, one second after the one before, or `{repeat: N, every: S, record: {…}}`: N
/// copies, S seconds apart (default 1).
pub fn sequence(entries: &[Value]) -> Vec<(i64, Value)> {
    let mut out = Vec::new();
    let mut t = 0_i64;
    for e in entries {
        match (e.get("repeat").and_then(Value::as_u64), e.get("record")) {
            (Some(n), Some(record)) => {
                let every = e.get("every").and_then(Value::as_i64).unwrap_or(1);
                for _ in 0..n {
                    out.push((t, record.clone()));
                    t += every;
                }
            }
            _ => {
                out.push((t, e.clone()));
                t += 1;
            }
        }
    }
    out
}

fn doc_of(attributes: &std::collections::HashMap<String, yaml_serde::Value>) -> Doc {
    let Some(block) = attributes.get("trailql") else {
        return Doc::default();
    };
    let block = serde_json::to_value(block).unwrap_or(Value::Null);
    let text = |k: &str| {
        block
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let records = |k: &str| {
        block
            .get("tests")
            .and_then(|t| t.get(k))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    Doc {
        check: block
            .get("check")
            .and_then(Value::as_str)
            .map(str::to_string),
        why: text("why"),
        example: text("example"),
        matching: records("match"),
        not_matching: records("nomatch"),
    }
}
