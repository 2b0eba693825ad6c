//! Rule files → a set of CloudTrail rules, correlations and filters.
//!
//! Rule files are untrusted input like log files: a file that cannot be read or parsed, or
//! whose rules do not compile, is reported by path and reason and the others still load. A
//! rule whose logsource is not AWS CloudTrail is skipped and counted.
//!
//! Parsing is rsigma-parser's (YAML via yaml_serde, which stops at 128 levels; conditions via a
//! PEG grammar). Before a file reaches it, this module refuses what could exhaust the stack of a
//! recursive parser: files over [`MAX_RULE_FILE`], parentheses nested deeper than
//! [`MAX_PARENS`], and more than [`MAX_NOTS`] `not`s in a row.

use std::fmt;
use std::path::{Path, PathBuf};

use rsigma_parser::{CorrelationRule, FilterRule, SigmaCollection, SigmaRule};

/// Larger files are refused (SigmaHQ's largest is about 20 KiB).
pub const MAX_RULE_FILE: u64 = 1 << 20;
/// Deeper nesting of `(` is refused.
pub const MAX_PARENS: usize = 64;
/// Longer runs of `not not …` are refused.
pub const MAX_NOTS: usize = 64;

/// Where a rule came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file of the pack compiled into the binary (its path in `rules/`).
    Builtin(String),
    /// A file given with `--rules` or `--filter`.
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builtin(p) => write!(f, "builtin:{p}"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A file, or a rule in it, that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: Origin,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.reason)
    }
}

/// A rule with its file.
#[derive(Debug, Clone)]
pub struct LoadedRule {
    pub rule: SigmaRule,
    pub origin: Origin,
}

/// Everything loaded, and everything that was not.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<LoadedRule>,
    pub correlations: Vec<(CorrelationRule, Origin)>,
    pub filters: Vec<(FilterRule, Origin)>,
    pub problems: Vec<Problem>,
    /// Rules for other log sources (Windows, Okta…): `(file, title, logsource)`.
    pub skipped: Vec<(Origin, String, String)>,
    /// Rule files read.
    pub files: usize,
}

impl RuleSet {
    /// Add the rules of one YAML text.
    pub fn add_text(&mut self, origin: Origin, text: &str) {
        self.files += 1;
        if let Err(reason) = guard(text) {
            self.problem(origin, reason);
            return;
        }
        let collection = match parse(text) {
            Ok(c) => c,
            Err(reason) => {
                self.problem(origin, reason);
                return;
            }
        };
        self.add_collection(origin, collection);
    }

    fn add_collection(&mut self, origin: Origin, c: SigmaCollection) {
        for e in c.errors {
            self.problem(origin.clone(), format!("not a Sigma rule: {e}"));
        }
        for rule in c.rules {
            if is_cloudtrail(&rule) {
                self.rules.push(LoadedRule {
                    rule,
                    origin: origin.clone(),
                });
            } else {
                let ls = &rule.logsource;
                let logsource = [&ls.product, &ls.service, &ls.category]
                    .iter()
                    .filter_map(|x| x.as_deref())
                    .collect::<Vec<_>>()
                    .join("/");
                self.skipped
                    .push((origin.clone(), rule.title.clone(), logsource));
            }
        }
        for corr in c.correlations {
            self.correlations.push((corr, origin.clone()));
        }
        for filter in c.filters {
            self.filters.push((filter, origin.clone()));
        }
    }

    /// Add a file, or every `.yml`/`.yaml` file under a folder.
    pub fn add_path(&mut self, path: &Path) {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = walkdir::WalkDir::new(path)
                .follow_links(true)
                .into_iter()
                .filter_map(|e| match e {
                    Ok(e) => Some(e),
                    Err(err) => {
                        let at = err.path().unwrap_or(path).to_path_buf();
                        self.problem(Origin::File(at), format!("cannot read: {err}"));
                        None
                    }
                })
                .filter(|e| e.file_type().is_file() && is_yaml(e.path()))
                .map(|e| e.into_path())
                .collect();
            files.sort();
            for f in files {
                self.add_file(&f);
            }
        } else {
            self.add_file(path);
        }
    }

    fn add_file(&mut self, path: &Path) {
        let origin = Origin::File(path.to_path_buf());
        match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_RULE_FILE => {
                self.files += 1;
                self.problem(
                    origin,
                    format!(
                        "{} bytes; rule files over {MAX_RULE_FILE} bytes are not read (is this a rule file?)",
                        m.len()
                    ),
                );
                return;
            }
            Ok(_) => {}
            Err(e) => {
                self.files += 1;
                self.problem(origin, format!("cannot read: {e}"));
                return;
            }
        }
        match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => self.add_text(origin, &text),
                Err(_) => {
                    self.files += 1;
                    self.problem(origin, "not UTF-8 text; rule files are YAML".into());
                }
            },
            Err(e) => {
                self.files += 1;
                self.problem(origin, format!("cannot read: {e}"));
            }
        }
    }

    fn problem(&mut self, origin: Origin, reason: String) {
        self.problems.push(Problem { origin, reason });
    }
}

fn is_yaml(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yml") | Some("yaml")
    )
}

/// AWS CloudTrail rules: product `aws` with service `cloudtrail` (or no service).
pub fn is_cloudtrail(rule: &SigmaRule) -> bool {
    let ls = &rule.logsource;
    let product = ls.product.as_deref().map(str::to_ascii_lowercase);
    let service = ls.service.as_deref().map(str::to_ascii_lowercase);
    product.as_deref() == Some("aws") && matches!(service.as_deref(), None | Some("cloudtrail"))
}

/// Refuse text that could exhaust a recursive parser's stack.
fn guard(text: &str) -> Result<(), String> {
    if text.len() as u64 > MAX_RULE_FILE {
        return Err(format!(
            "{} bytes; rule files over {MAX_RULE_FILE} bytes are not read",
            text.len()
        ));
    }
    let (mut parens, mut flow) = (0usize, 0usize);
    for (line_no, line) in text.lines().enumerate() {
        for c in line.chars() {
            match c {
                '(' => {
                    parens += 1;
                    if parens > MAX_PARENS {
                        return Err(format!(
                            "line {}: parentheses nested deeper than {MAX_PARENS}; simplify the condition",
                            line_no + 1
                        ));
                    }
                }
                ')' => parens = parens.saturating_sub(1),
                '[' | '{' => {
                    flow += 1;
                    if flow > MAX_PARENS {
                        return Err(format!(
                            "line {}: [ ] or {{ }} nested deeper than {MAX_PARENS}; rule files are not that deep",
                            line_no + 1
                        ));
                    }
                }
                ']' | '}' => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
        let mut run = 0usize;
        for word in line.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
            if word.eq_ignore_ascii_case("not") {
                run += 1;
                if run > MAX_NOTS {
                    return Err(format!(
                        "line {}: more than {MAX_NOTS} `not` in a row; simplify the condition",
                        line_no + 1
                    ));
                }
            } else if !word.is_empty() {
                run = 0;
            }
        }
    }
    Ok(())
}

/// rsigma-parser, on a thread with a stack large enough for what [`guard`] lets through.
fn parse(text: &str) -> Result<SigmaCollection, String> {
    let owned = text.to_string();
    let handle = std::thread::Builder::new()
        .name("rule-parser".into())
        .stack_size(64 << 20)
        .spawn(move || rsigma_parser::parse_sigma_yaml(&owned))
        .map_err(|e| format!("cannot start the parser: {e}"))?;
    match handle.join() {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(format!("not a Sigma rule: {e}")),
        Err(_) => {
            Err("the Sigma parser failed on this file (a bug in it; please report the file)".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "title: Stop logging\nid: 11111111-1111-1111-1111-111111111111\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventName: StopLogging\n  condition: sel\nlevel: high\n";

    #[test]
    fn a_rule_loads_and_others_are_skipped() {
        let mut set = RuleSet::default();
        set.add_text(Origin::Builtin("a.yml".into()), RULE);
        set.add_text(
            Origin::Builtin("b.yml".into()),
            &RULE.replace(
                "product: aws\n  service: cloudtrail",
                "product: windows\n  category: process_creation",
            ),
        );
        assert_eq!(set.rules.len(), 1);
        assert_eq!(set.skipped.len(), 1);
        assert_eq!(set.skipped[0].2, "windows/process_creation");
        assert!(set.problems.is_empty(), "{:?}", set.problems);
    }

    #[test]
    fn bad_files_are_named_with_a_reason() {
        let mut set = RuleSet::default();
        set.add_text(Origin::Builtin("x.yml".into()), "title: [unclosed");
        set.add_text(
            Origin::Builtin("deep.yml".into()),
            &RULE.replace(
                "condition: sel",
                &format!("condition: {}sel{}", "(".repeat(10_000), ")".repeat(10_000)),
            ),
        );
        set.add_text(
            Origin::Builtin("nots.yml".into()),
            &RULE.replace(
                "condition: sel",
                &format!("condition: {}sel", "not ".repeat(100_000)),
            ),
        );
        set.add_text(
            Origin::Builtin("flow.yml".into()),
            &format!(
                "title: t\nx: {}{}\n",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
        );
        set.add_text(Origin::Builtin("ok.yml".into()), RULE);
        assert_eq!(set.rules.len(), 1);
        let reasons: Vec<String> = set.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(reasons.len(), 4, "{reasons:#?}");
        assert!(reasons[0].starts_with("builtin:x.yml: "), "{reasons:?}");
        assert!(
            reasons[1].contains("parentheses nested deeper"),
            "{reasons:?}"
        );
        assert!(reasons[2].contains("`not` in a row"), "{reasons:?}");
        assert!(reasons[3].starts_with("builtin:flow.yml"), "{reasons:?}");
        assert!(reasons[3].contains("nested deeper"), "{reasons:?}");
    }

    #[test]
    fn folders_are_walked_and_unreadable_files_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.yml"), RULE).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        std::fs::write(dir.path().join("bin.yaml"), [0xff, 0xfe, 0x00]).unwrap();
        let mut set = RuleSet::default();
        set.add_path(dir.path());
        set.add_path(&dir.path().join("missing.yml"));
        assert_eq!(set.rules.len(), 1);
        assert_eq!(set.files, 3);
        assert_eq!(set.problems.len(), 2, "{:?}", set.problems);
        assert!(set.problems[0].reason.contains("UTF-8"));
        assert!(set.problems[1].reason.contains("cannot read"));
    }
}
