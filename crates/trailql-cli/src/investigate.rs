//! `trailql exposure`, `history` and `activity`: run the investigation's query, apply its logic,
//! print the answer (table, CSV, JSON) and optionally write the HTML report.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use trailql_investigate::exposure::{EXPOSURE_BRIEF, EXPOSURE_COLUMNS};
use trailql_investigate::html::{self, Point};
use trailql_investigate::timeline::{self, SUMMARY_COLUMNS, TIMELINE_BRIEF};
use trailql_investigate::{queries, Event, ExposureOptions, Finding, Scope, Status, TextTable};

use crate::args::{ExposureArgs, Format, InvestigateArgs, ScopeArgs, TimelineArgs};
use crate::{open, output, summary};

pub(crate) fn scope(a: &ScopeArgs) -> Result<Scope> {
    for t in [&a.start, &a.end].into_iter().flatten() {
        queries::check_time(t).map_err(anyhow::Error::msg)?;
    }
    Ok(Scope {
        account: a.account.clone(),
        region: a.region.clone(),
        start: a.start.clone(),
        end: a.end.clone(),
    })
}

/// Run `sql` with the progress bar and summary of a normal query; returns the events.
async fn fetch(args: &InvestigateArgs, sql: &str) -> Result<(crate::Engine, Vec<Event>, Instant)> {
    if args.format == Format::Parquet && args.output.is_none() {
        bail!("--format parquet needs --output FILE (Parquet is binary)");
    }
    let started = Instant::now();
    let engine = open(
        &args.scan,
        crate::lookup::Hint::Sql {
            sql,
            dialect: crate::Dialect::Athena,
        },
    )
    .await?;
    let progress = summary::Progress::start(
        engine.report.clone(),
        !args.scan.quiet && std::io::stderr().is_terminal(),
    );
    let events = engine.events(sql).await;
    progress.finish();
    Ok((engine, events?, started))
}

async fn print(args: &InvestigateArgs, full: &TextTable, brief: &[&'static str]) -> Result<u64> {
    let table = if args.format == Format::Table && !args.wide {
        full.select(brief)
    } else {
        full.clone()
    };
    write_table(&table, args.format, args.output.as_deref()).await
}

pub async fn write_table(t: &TextTable, format: Format, output: Option<&Path>) -> Result<u64> {
    let batch = t.to_batch();
    let stream = Box::pin(RecordBatchStreamAdapter::new(
        batch.schema(),
        futures::stream::iter(vec![Ok(batch)]),
    ));
    output::write_stream(stream, format, output::open(output)?).await
}

/// What is left once the answer is printed: the headline, the report, the run summary.
struct Done<'a> {
    engine: &'a crate::Engine,
    args: &'a InvestigateArgs,
    rows: u64,
    started: Instant,
}

impl Done<'_> {
    fn conclude(
        self,
        title: String,
        headline: String,
        points: Vec<Point>,
        table: &TextTable,
        sql: String,
    ) -> Result<ExitCode> {
        let quiet = self.args.scan.quiet;
        if !quiet {
            eprintln!("{headline}");
        }
        if let Some(path) = &self.args.report {
            let report = html::Report {
                title,
                summary: headline,
                points,
                table,
                sql,
                sources: self.args.scan.source.sources.clone(),
                legend: html::EVENT_LEGEND,
                rules: None,
            };
            std::fs::write(path, html::render(&report))
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            if !quiet {
                eprintln!("trailql: report written to {}", path.display());
            }
        }
        if !quiet {
            summary::print(
                &self.engine.report,
                Some(self.rows),
                self.started.elapsed(),
                false,
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::Open => "open",
        Status::Closed => "closed",
        Status::Unknown => "unknown",
        Status::Failed => "failed",
    }
}

fn exposure_points(findings: &[Finding]) -> Vec<Point> {
    let mut points = Vec::new();
    for f in findings {
        let rule = format!(
            "{} {} {} {} from {}",
            f.group, f.direction, f.protocol, f.ports, f.cidr
        );
        if let Some(o) = &f.opened {
            points.push(Point {
                time: o.time.clone(),
                who: o.actor.display.clone(),
                what: format!("{}: {rule} ({})", o.event_name, f.status.as_str()),
                class: status_class(f.status),
            });
        }
        if let Some(c) = &f.closed {
            points.push(Point {
                time: c.time.clone(),
                who: c.actor.display.clone(),
                what: format!("{} closed {rule}", c.event_name),
                class: "closed",
            });
        }
    }
    points
}

pub async fn exposure(a: ExposureArgs) -> Result<ExitCode> {
    let scope = scope(&a.scope)?;
    let sql = queries::exposure_sql(&scope);
    let (engine, events, started) = fetch(&a.common, &sql).await?;
    let opts = ExposureOptions {
        public: a.public,
        group: a.group.clone(),
        port: a.port,
    };
    let findings = trailql_investigate::exposure(&events, &opts);
    let table = trailql_investigate::findings_table(&findings);
    let rows = print(&a.common, &table, &EXPOSURE_BRIEF).await?;
    let count = |s: Status| findings.iter().filter(|f| f.status == s).count();
    let what = if a.public {
        "a public CIDR"
    } else {
        "the whole internet (/0)"
    };
    let headline = format!(
        "{} rule(s) opened a security group to {what}: {} still open, {} closed, {} unknown; {} failed attempt(s). {} security-group events replayed.",
        findings.len() - count(Status::Failed),
        count(Status::Open),
        count(Status::Closed),
        count(Status::Unknown),
        count(Status::Failed),
        events.len()
    );
    let title = "Security groups opened to the internet".to_string();
    let done = Done {
        engine: &engine,
        args: &a.common,
        rows,
        started,
    };
    done.conclude(
        title,
        headline,
        exposure_points(&findings),
        &table.select(&EXPOSURE_COLUMNS),
        sql,
    )
}

fn timeline_points(events: &[&Event]) -> Vec<Point> {
    events
        .iter()
        .map(|e| Point {
            time: e.time.clone(),
            who: e.identity.resolve().display,
            what: format!("{} {} ({})", e.source, e.name, timeline::result(e)),
            class: if e.failed() { "denied" } else { "ok" },
        })
        .collect()
}

pub async fn history(a: TimelineArgs) -> Result<ExitCode> {
    let scope = scope(&a.scope)?;
    let sql = queries::history_sql(&a.target, &scope).map_err(anyhow::Error::msg)?;
    let (engine, events, started) = fetch(&a.common, &sql).await?;
    let found = timeline::history(&events, &a.target);
    let table = timeline::timeline_table(&found);
    let rows = print(&a.common, &table, &TIMELINE_BRIEF).await?;
    let headline = format!("{} event(s) mention {}.", found.len(), a.target);
    let title = format!("History of {}", a.target);
    let done = Done {
        engine: &engine,
        args: &a.common,
        rows,
        started,
    };
    done.conclude(title, headline, timeline_points(&found), &table, sql)
}

pub async fn activity(a: TimelineArgs) -> Result<ExitCode> {
    let scope = scope(&a.scope)?;
    let sql = queries::activity_sql(&a.target, &scope).map_err(anyhow::Error::msg)?;
    let (engine, events, started) = fetch(&a.common, &sql).await?;
    let found = timeline::activity(&events, &a.target);
    let grouped = timeline::activity_summary(&found);
    let table = timeline::timeline_table(&found);
    if a.common.format == Format::Table {
        println!("What {} did, by service and event name:", a.target);
        write_table(&grouped.select(&SUMMARY_COLUMNS), Format::Table, None).await?;
        println!("Timeline:");
    }
    let rows = print(&a.common, &table, &TIMELINE_BRIEF).await?;
    let denied = found.iter().filter(|e| timeline::is_denied(e)).count();
    let failed = found.iter().filter(|e| e.failed()).count();
    let headline = format!(
        "{} event(s) by {} across {} service/event pair(s); {failed} failed, {denied} denied.",
        found.len(),
        a.target,
        grouped.rows.len()
    );
    let title = format!("Activity of {}", a.target);
    let done = Done {
        engine: &engine,
        args: &a.common,
        rows,
        started,
    };
    done.conclude(title, headline, timeline_points(&found), &table, sql)
}
