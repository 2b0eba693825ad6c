//! `trailql detect`: load the rules, run them over the scan, print the alerts and a summary.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::config::ConfigNonZeroUsize;
use datafusion::dataframe::DataFrame;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{col, lit, when};
use futures::StreamExt;
use trailql_detect::{alert, correlate, Correlation, DetectionsTable, Feed};
use trailql_investigate::{html, TextTable};
use trailql_rules::{pack, Correlator, Detector, Placeholders, RuleSet, Selection};

use crate::args::{DetectArgs, Format, RuleArgs};
use crate::{investigate, output, s3_options, scan_options, summary};

/// Memory the alerts' sort may hold before it spills to a temporary file.
const SORT_MEMORY: usize = 32 << 20;

/// Rows per batch in a detect run.
const SORT_BATCH: usize = 1024;

/// Alerts a terminal table shows at most (the others are counted, and written by other formats).
const TABLE_ROWS: usize = 1000;

/// Alerts an HTML report shows at most (the summary says how many there are).
const REPORT_ROWS: usize = 2000;

/// The columns of the HTML report's table.
const REPORT_COLUMNS: [&str; 11] = [
    "event_time",
    "level",
    "rule_title",
    "actor",
    "event_name",
    "account",
    "region",
    "source_ip",
    "error_code",
    "matched",
    "event_id",
];

/// The stream as it is, copying the report's columns of its first `max` rows into `into`.
fn tee(
    stream: SendableRecordBatchStream,
    into: Arc<Mutex<TextTable>>,
    max: usize,
) -> datafusion::common::Result<SendableRecordBatchStream> {
    let schema = stream.schema();
    let columns = REPORT_COLUMNS
        .iter()
        .map(|c| schema.index_of(c))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let copied = stream.inspect(move |batch| {
        let Ok(batch) = batch else { return };
        let mut table = into.lock().unwrap_or_else(|e| e.into_inner());
        for row in 0..batch.num_rows() {
            if table.rows.len() >= max {
                break;
            }
            table.rows.push(
                columns
                    .iter()
                    .map(|&c| {
                        let array = batch.column(c);
                        (!array.is_null(row))
                            .then(|| array_value_to_string(array, row).ok())
                            .flatten()
                    })
                    .collect(),
            );
        }
    });
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, copied)))
}

/// The HTML report of a run: the collected alerts on a timeline and in a table, the rules.
fn write_report(
    path: &Path,
    table: &TextTable,
    total: u64,
    levels: &str,
    rules: String,
    sources: Vec<String>,
) -> Result<()> {
    let column = |name: &str| table.columns.iter().position(|c| *c == name);
    let (time, level, title, actor, event) = (
        column("event_time"),
        column("level"),
        column("rule_title"),
        column("actor"),
        column("event_name"),
    );
    let cell = |row: &[Option<String>], i: Option<usize>| {
        i.and_then(|i| row[i].clone()).unwrap_or_default()
    };
    let points = table
        .rows
        .iter()
        .map(|row| {
            let level = cell(row, level);
            html::Point {
                time: cell(row, time),
                who: cell(row, actor),
                what: format!("{}: {}", cell(row, title), cell(row, event)),
                class: html::LEVEL_LEGEND
                    .iter()
                    .find(|(l, _)| *l == level)
                    .map_or("unknown", |(l, _)| *l),
            }
        })
        .collect();
    let shown = table.rows.len() as u64;
    let mut summary = format!("{} alert(s)", summary::thousands(total));
    if total > 0 {
        summary.push_str(&format!(" ({levels})"));
    }
    if shown < total {
        summary.push_str(&format!(
            "; the first {} are shown (all of them with --format csv|jsonl|json|parquet --output FILE)",
            summary::thousands(shown)
        ));
    }
    let report = html::Report {
        title: "trailql detect".into(),
        summary,
        points,
        table,
        sql: String::new(),
        sources,
        legend: html::LEVEL_LEGEND,
        rules: Some(rules),
    };
    std::fs::write(path, html::render(&report))
        .with_context(|| format!("cannot write the report to {}", path.display()))
}

/// What a rule is, as `--list` and the report's rule list say it.
fn kind(correlation: bool, hidden: bool) -> &'static str {
    match (correlation, hidden) {
        (false, false) => "detection",
        (false, true) => "detection (for correlations only)",
        (true, false) => "correlation",
        (true, true) => "correlation (for correlations only)",
    }
}

/// The rules a run used, one a line, for the report.
fn rules_text(detector: &Detector, correlator: Option<&Correlator>, hidden: &[bool]) -> String {
    let line = |level: &str, title: &str, kind: &str, origin: &dyn std::fmt::Display| {
        format!("{level:<13} {title} · {kind}  [{origin}]")
    };
    let mut lines = Vec::new();
    for (i, r) in detector.rules().iter().enumerate() {
        let hidden = hidden.get(i).copied().unwrap_or(false);
        lines.push(line(
            alert::level_name(r.level),
            &r.title,
            kind(false, hidden),
            &r.origin,
        ));
    }
    for c in correlator.map(|c| c.correlations()).unwrap_or_default() {
        lines.push(line(
            alert::level_name(c.level),
            &c.title,
            kind(true, c.hidden),
            &c.origin,
        ));
    }
    lines.join("\n")
}

/// Alerts in the order an analyst reads them: by event time, the highest level first, then rule
/// and event.
/// The columns a terminal shows, of the first `max` alerts (the others are read and counted).
fn brief(
    stream: SendableRecordBatchStream,
    max: usize,
) -> datafusion::common::Result<SendableRecordBatchStream> {
    let full = stream.schema();
    let columns = alert::BRIEF
        .iter()
        .map(|c| full.index_of(c))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let schema = Arc::new(full.project(&columns)?);
    let shown = stream
        .scan(max, move |left, batch| {
            let out = batch.and_then(|b| {
                let n = b.num_rows().min(*left);
                *left -= n;
                Ok(b.slice(0, n).project(&columns)?)
            });
            futures::future::ready(Some(out))
        })
        .filter(|b| futures::future::ready(b.as_ref().map_or(true, |b| b.num_rows() > 0)));
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, shown)))
}

fn sorted(alerts: DataFrame) -> datafusion::common::Result<DataFrame> {
    let mut rank = when(col("level").eq(lit(alert::LEVELS[4])), lit(0_i64));
    for (i, level) in alert::LEVELS.iter().rev().enumerate().skip(1) {
        rank = rank.when(col("level").eq(lit(*level)), lit(i as i64));
    }
    alerts.sort(vec![
        col("event_time").sort(true, false),
        rank.otherwise(lit(9_i64))?.sort(true, false),
        col("rule_title").sort(true, false),
        col("event_id").sort(true, false),
    ])
}

/// The rules the arguments ask for; problems are printed (or fail under `strict`).
pub(crate) fn rules(
    a: &RuleArgs,
    strict: bool,
    quiet: bool,
) -> Result<(Detector, Option<Correlator>, RuleSet)> {
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
    if let Some(path) = &a.placeholders {
        Placeholders::read(path)
            .map_err(|p| anyhow::anyhow!("--placeholders {p}"))?
            .apply(&mut set);
    }
    // LevelArg lists the levels lowest first, as alert::LEVELS does. A kept correlation keeps
    // the rules it counts, whatever their level, their own alerts hidden.
    let selection = Selection {
        min_level: a.level.map(|l| l as u8),
        tags: a.tags.clone(),
    };
    selection.apply(&mut set);
    let (detector, compile_problems) = Detector::new(&set);
    let (mut correlator, correlation_problems) = Correlator::new(&set, &detector);
    if let Some(c) = &mut correlator {
        selection.hide_unwanted(&detector, c);
    }
    let problems: Vec<String> = set
        .problems
        .iter()
        .chain(&compile_problems)
        .chain(&correlation_problems)
        .map(|p| p.to_string())
        .collect();
    if !problems.is_empty() {
        if strict {
            bail!(
                "{} rule file problem(s) (--strict):\n  {}",
                problems.len(),
                problems.join("\n  ")
            );
        }
        for p in &problems {
            eprintln!("warning: {p} (the run goes on without it; --strict stops instead)");
        }
    }
    if !quiet && !set.skipped.is_empty() {
        eprintln!(
            "trailql: {} rule(s) for other log sources skipped (e.g. {:?}: {})",
            set.skipped.len(),
            set.skipped[0].1,
            set.skipped[0].2
        );
    }
    Ok((detector, correlator, set))
}

fn list(detector: &Detector, correlator: Option<&Correlator>, a: &DetectArgs) -> Result<ExitCode> {
    let mut t = TextTable::new(&["level", "title", "id", "kind", "tags", "file"]);
    for (i, r) in detector.rules().iter().enumerate() {
        let kind = kind(false, correlator.is_some_and(|c| c.hidden()[i]));
        t.rows.push(vec![
            Some(alert::level_name(r.level).to_string()),
            Some(r.title.clone()),
            Some(r.id.clone()),
            Some(kind.to_string()),
            Some(r.tags.join(", ")),
            Some(r.origin.to_string()),
        ]);
    }
    for c in correlator.map(|c| c.correlations()).unwrap_or_default() {
        t.rows.push(vec![
            Some(alert::level_name(c.level).to_string()),
            Some(c.title.clone()),
            Some(c.id.clone()),
            Some(kind(true, c.hidden).to_string()),
            Some(c.tags.join(", ")),
            Some(c.origin.to_string()),
        ]);
    }
    let rt = crate::runtime()?;
    rt.block_on(investigate::write_table(&t, a.format, a.output.as_deref()))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(a: DetectArgs) -> Result<ExitCode> {
    let (detector, correlator, _set) = rules(&a.rules, a.scan.strict, a.scan.quiet)?;
    if a.list {
        return list(&detector, correlator.as_ref(), &a);
    }
    if a.format == Format::Parquet && a.output.is_none() {
        bail!("--format parquet needs --output FILE (Parquet is binary)");
    }
    if detector.rules().is_empty() {
        bail!("no rules to run (check --rules, --level and --tag)");
    }
    let scope = investigate::scope(&a.scope)?;
    let started = Instant::now();
    let mut options = trailql_detect::scan_options(&detector, scan_options(&a.scan)?);
    let prefilter = options.prefilter;
    // Alerts are sorted by a sort that spills past this, so that memory does not grow with them.
    options.memory_limit = Some(SORT_MEMORY);
    let rt = crate::runtime()?;
    let engine = rt.block_on(async {
        let hint = crate::lookup::Hint::Scope {
            start: &a.scope.start,
            end: &a.scope.end,
            region: &a.scope.region,
        };
        let srcs = crate::lookup::sources(&a.scan, hint).await?;
        crate::lake::engine(&srcs, options, s3_options(&a.scan.source.s3)?).await
    })?;
    {
        let state = engine.ctx.state_ref();
        let mut state = state.write();
        let config = state.config_mut().options_mut();
        // One sorter over both partitions' alerts: it spills its own runs and merges them
        // within its reservation (a sort per partition would hold the final merge unspillable).
        config.optimizer.repartition_sorts = false;
        // The merge of the spilled runs holds one batch of each: small batches keep that small
        // (measured: peak RSS 273 MB with 8,192 rows, 145 MB with 1,024, 600 k events).
        config.execution.batch_size = ConfigNonZeroUsize::try_new(SORT_BATCH)?;
    }

    let detector = Arc::new(detector);
    let mut table = DetectionsTable::new(detector.clone(), scope, engine.report.clone());
    // A raw trail's scan rules out the records no rule can match as it decodes (the options
    // above); a lake's cannot, so there the rules do (`--no-prefilter`: neither).
    if !(prefilter && engine.report.reads_lake()) {
        table = table.without_record_prefilter();
    }
    let counts = table.counts();
    let hidden = correlator
        .as_ref()
        .map(|c| c.hidden().to_vec())
        .unwrap_or_default();
    if let Some(c) = &correlator {
        table = table.feeding(Feed::of(c));
    }
    let rules_run = a
        .report
        .as_ref()
        .map(|_| rules_text(&detector, correlator.as_ref(), &hidden));
    let correlation = correlator.map(Correlation::new);
    let collected = Arc::new(Mutex::new(TextTable::new(&REPORT_COLUMNS)));
    let progress = summary::Progress::start(
        engine.report.clone(),
        !a.scan.quiet && std::io::stderr().is_terminal(),
    );
    let written = rt.block_on(async {
        let alerts = sorted(engine.ctx.read_table(Arc::new(table))?)?;
        let mut stream = alerts.execute_stream().await?;
        if let Some(c) = &correlation {
            stream = correlate(stream, c.clone(), engine.report.clone());
        }
        if a.report.is_some() {
            stream = tee(stream, collected.clone(), REPORT_ROWS)?;
        }
        if a.format == Format::Table {
            stream = brief(stream, TABLE_ROWS)?;
        }
        output::write_stream(stream, a.format, output::open(a.output.as_deref())?).await
    });
    progress.finish();
    let written = written?;
    let (evaluated, unevaluated) = (
        counts.evaluated.load(Ordering::Relaxed),
        counts.unevaluated.load(Ordering::Relaxed),
    );
    let mut s = counts.summary(&detector, &hidden);
    if let Some(c) = &correlation {
        s.merge(&c.fired());
    }
    let total = s.total();
    if total > written {
        eprintln!(
            "trailql: the table shows the first {} of {} alerts; all of them with --format csv|jsonl|json|parquet --output FILE",
            summary::thousands(written),
            summary::thousands(total)
        );
    }
    if let (Some(path), Some(rules)) = (&a.report, rules_run) {
        let table = collected.lock().unwrap_or_else(|e| e.into_inner());
        write_report(
            path,
            &table,
            total,
            &s.levels(),
            rules,
            a.scan.source.sources.clone(),
        )?;
        if !a.scan.quiet {
            eprintln!("trailql: report written to {}", path.display());
        }
    }
    if !a.scan.quiet {
        summary::print(&engine.report, None, started.elapsed(), false);
        let mut err = std::io::stderr().lock();
        let levels = if total == 0 {
            String::new()
        } else {
            format!(" ({})", s.levels())
        };
        let _ = writeln!(
            err,
            "detect: {} alert(s){levels} from {} rule(s) run; {} record(s) evaluated{}",
            summary::thousands(total),
            summary::thousands(detector.rules().len() as u64),
            summary::thousands(evaluated),
            if unevaluated > 0 {
                format!(", {unevaluated} could not be (see warnings)")
            } else {
                String::new()
            }
        );
        for ((_, title), n) in &s.by_rule {
            let _ = writeln!(err, "  {n:>6}  {title}");
        }
    }
    let unfed = correlation.as_ref().map_or(0, |c| c.unfed());
    if a.scan.strict && unfed > 0 {
        bail!(
            "{unfed} record(s) could not be fed to the correlations (--strict; see the warnings)"
        );
    }
    if a.scan.strict && unevaluated > 0 {
        bail!(
            "{} record(s) could not be evaluated (--strict)",
            unevaluated
        );
    }
    Ok(ExitCode::SUCCESS)
}
