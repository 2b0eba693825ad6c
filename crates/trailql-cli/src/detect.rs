//! `trailql detect`: load the rules, run them over the scan, print the alerts and a summary.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use trailql_detect::{alert, Summary};
use trailql_investigate::TextTable;
use trailql_rules::{pack, Detector, RuleSet};
use trailql_sql::Engine;

use crate::args::{DetectArgs, Format};
use crate::{investigate, s3_options, scan_options, sources, summary};

/// The rules the arguments ask for; problems are printed (or fail under --strict).
fn rules(a: &DetectArgs) -> Result<(Detector, RuleSet)> {
    let mut set = if a.no_builtin {
        RuleSet::default()
    } else {
        pack::builtin()
    };
    if a.no_builtin && a.rules.is_empty() {
        bail!("--no-builtin leaves no rules: add --rules DIR|FILE");
    }
    for p in a.rules.iter().chain(&a.filters) {
        set.add_path(p);
    }
    // LevelArg lists the levels lowest first, as alert::LEVELS does.
    let min = a.level.map(|l| l as u8);
    set.rules.retain(|r| {
        min.is_none_or(|m| alert::level_rank(r.rule.level) >= m)
            && (a.tags.is_empty()
                || r.rule.tags.iter().any(|t| {
                    a.tags.iter().any(|want| {
                        t.eq_ignore_ascii_case(want)
                            || t.to_ascii_lowercase()
                                .starts_with(&format!("{}.", want.to_ascii_lowercase()))
                    })
                }))
    });
    let (detector, compile_problems) = Detector::new(&set);
    let problems: Vec<String> = set
        .problems
        .iter()
        .chain(&compile_problems)
        .map(|p| p.to_string())
        .collect();
    if !problems.is_empty() {
        if a.scan.strict {
            bail!(
                "{} rule file problem(s) (--strict):\n  {}",
                problems.len(),
                problems.join("\n  ")
            );
        }
        for p in &problems {
            eprintln!("warning: rule: {p}");
        }
    }
    if !a.scan.quiet && !set.skipped.is_empty() {
        eprintln!(
            "trailql: {} rule(s) for other log sources skipped (e.g. {:?}: {})",
            set.skipped.len(),
            set.skipped[0].1,
            set.skipped[0].2
        );
    }
    Ok((detector, set))
}

fn list(detector: &Detector, a: &DetectArgs) -> Result<ExitCode> {
    let mut t = TextTable::new(&["level", "title", "id", "tags", "file"]);
    for r in detector.rules() {
        t.rows.push(vec![
            Some(alert::level_name(r.level).to_string()),
            Some(r.title.clone()),
            Some(r.id.clone()),
            Some(r.tags.join(", ")),
            Some(r.origin.to_string()),
        ]);
    }
    let rt = crate::runtime()?;
    rt.block_on(investigate::write_table(&t, a.format, a.output.as_deref()))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(a: DetectArgs) -> Result<ExitCode> {
    let (detector, _set) = rules(&a)?;
    if a.list {
        return list(&detector, &a);
    }
    if a.format == Format::Parquet && a.output.is_none() {
        bail!("--format parquet needs --output FILE (Parquet is binary)");
    }
    if detector.rules().is_empty() {
        bail!("no rules to run (check --rules, --level and --tag)");
    }
    let scope = investigate::scope(&a.scope)?;
    let started = Instant::now();
    let engine = Engine::open_sources(
        &sources(&a.scan.source)?,
        trailql_detect::scan_options(&detector, scan_options(&a.scan)?),
        s3_options(&a.scan.source.s3)?,
    )?;
    let detector = Arc::new(detector);
    let rt = crate::runtime()?;
    let progress = summary::Progress::start(
        engine.report.clone(),
        !a.scan.quiet && std::io::stderr().is_terminal(),
    );
    let outcome = rt.block_on(trailql_detect::detect(&engine, detector.clone(), &scope));
    progress.finish();
    let outcome = outcome?;
    let table = alert::to_table(&outcome.alerts);
    let shown = if a.format == Format::Table {
        table.select(&alert::BRIEF)
    } else {
        table
    };
    rt.block_on(investigate::write_table(
        &shown,
        a.format,
        a.output.as_deref(),
    ))?;
    if !a.scan.quiet {
        summary::print(&engine.report, None, started.elapsed(), false);
        let s = Summary::of(&outcome.alerts);
        let mut err = std::io::stderr().lock();
        let levels = if outcome.alerts.is_empty() {
            String::new()
        } else {
            format!(" ({})", s.levels())
        };
        let _ = writeln!(
            err,
            "detect: {} alert(s){levels} from {} rule(s) run; {} record(s) evaluated{}",
            summary::thousands(outcome.alerts.len() as u64),
            summary::thousands(detector.rules().len() as u64),
            summary::thousands(outcome.evaluated),
            if outcome.unevaluated > 0 {
                format!(", {} could not be (see warnings)", outcome.unevaluated)
            } else {
                String::new()
            }
        );
        for ((_, title), n) in &s.by_rule {
            let _ = writeln!(err, "  {n:>6}  {title}");
        }
    }
    if a.scan.strict && outcome.unevaluated > 0 {
        bail!(
            "{} record(s) could not be evaluated (--strict)",
            outcome.unevaluated
        );
    }
    Ok(ExitCode::SUCCESS)
}
