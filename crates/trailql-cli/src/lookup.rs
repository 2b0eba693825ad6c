//! `-s cloudtrail-api://REGION[,REGION…]`: before the engine opens, the account's event history
//! (LookupEvents) for the question's window is read into a private folder of trail files, which
//! the engine then reads as any local trail. The time window, regions and one lookup attribute
//! are taken from the statement's filters as DataFusion plans them (or from `--start`/`--end`),
//! so only what the question can use crosses the API's slow pace; the statement still applies
//! every filter to what comes back.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use trailql_layout::TimeWindow;
use trailql_lookup::{ApiSource, Key, Lookup, Progress, Request};
use trailql_sql::filters::{partition_values, time_window};

use crate::args::ScanArgs;
use crate::summary::thousands;
use crate::{Dialect, Engine, ScanOptions, Source};

/// What the command will ask of the table, to narrow the lookup.
pub enum Hint<'a> {
    /// A statement: its filters on `cloudtrail_logs` give the window, regions and attribute.
    Sql { sql: &'a str, dialect: Dialect },
    /// `--start`/`--end`/`--region` of an investigation or detection.
    Scope {
        start: &'a Option<String>,
        end: &'a Option<String>,
        region: &'a Option<String>,
    },
    /// Anything may be asked (the shell, the web UI): the whole history.
    Anything,
}

/// The folders the history was written to: removed when the command ends.
static FETCHED: Mutex<Vec<tempfile::TempDir>> = Mutex::new(Vec::new());

/// Remove the folders of looked-up events (called once the command is done).
pub fn clean_up() {
    FETCHED.lock().map(|mut f| f.clear()).ok();
}

/// The `-s` sources, with the API sources read into a local folder for `hint`.
pub async fn sources(a: &ScanArgs, hint: Hint<'_>) -> Result<Vec<Source>> {
    let (api, rest): (Vec<&String>, Vec<&String>) =
        a.source.sources.iter().partition(|s| ApiSource::is_api(s));
    let mut out: Vec<Source> = rest
        .iter()
        .map(|s| Source::parse(s).map_err(anyhow::Error::msg))
        .collect::<Result<_>>()?;
    if api.is_empty() {
        if out.is_empty() {
            return crate::sources(&a.source);
        }
        return Ok(out);
    }
    let mut regions: Vec<String> = Vec::new();
    for s in api {
        for r in ApiSource::parse(s).map_err(anyhow::Error::msg)?.regions {
            if !regions.contains(&r) {
                regions.push(r);
            }
        }
    }
    let s3 = crate::s3_options(&a.source.s3)?;
    let sdk = trailql_s3::sdk_config(&s3)
        .await
        .context("cannot set up AWS credentials for the CloudTrail API")?;
    if regions.is_empty() {
        regions.push(
            sdk.region()
                .map_or("us-east-1".to_string(), |r| r.to_string()),
        );
    }
    let plan = plan(hint, &regions).await?;
    let forced = match &a.source.lookup {
        Some(l) => Some(Lookup::parse(l).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let (start, end, note) = trailql_lookup::window(plan.window.start, plan.window.end, Utc::now());
    let mut req = Request::new(plan.regions, start, end);
    req.lookup = forced.or(plan.lookup);
    let dir = tempfile::Builder::new()
        .prefix("trailql-lookup-")
        .tempdir()
        .context("cannot make a folder for the looked-up events")?;
    let quiet = a.quiet;
    if let Some(n) = &note {
        eprintln!("warning: {n}");
    }
    let started = Instant::now();
    let progress = Progress::default();
    let bar = bar(!quiet && std::io::stderr().is_terminal());
    let fetched = {
        let fetch = trailql_lookup::fetch(&sdk, &req, dir.path(), &progress);
        tokio::pin!(fetch);
        loop {
            tokio::select! {
                done = &mut fetch => break done,
                _ = tokio::signal::ctrl_c() => {
                    bar.finish_and_clear();
                    bail!("interrupted while reading LookupEvents: nothing was answered");
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    bar.set_message(status(&req, &progress, started.elapsed()));
                }
            }
        }
    };
    bar.finish_and_clear();
    let fetched = fetched?;
    if !quiet {
        let pushed = req
            .lookup
            .as_ref()
            .map(|l| format!(", {l}"))
            .unwrap_or_default();
        let retried = if fetched.retried > 0 {
            format!(
                "; {} throttled or failed request(s) sent again",
                fetched.retried
            )
        } else {
            String::new()
        };
        eprintln!(
            "trailql: LookupEvents {} {} → {}{pushed}: {} pages, {} events in {:.1}s{retried}",
            req.regions.join(","),
            req.start.format("%Y-%m-%dT%H:%M:%SZ"),
            req.end.format("%Y-%m-%dT%H:%M:%SZ"),
            thousands(fetched.pages),
            thousands(fetched.events),
            started.elapsed().as_secs_f64()
        );
    }
    for w in &fetched.warnings {
        eprintln!("warning: {w}");
    }
    if fetched.bad > fetched.warnings.len() as u64 {
        eprintln!(
            "warning: … and {} more events left out",
            fetched.bad - fetched.warnings.len() as u64
        );
    }
    if a.strict && fetched.bad > 0 {
        bail!(
            "--strict: {} event(s) from LookupEvents could not be read as records (see the warnings)",
            fetched.bad
        );
    }
    out.push(Source::Local(dir.path().to_path_buf()));
    FETCHED
        .lock()
        .map_err(|_| anyhow::anyhow!("lookup folders"))?
        .push(dir);
    Ok(out)
}

fn bar(enabled: bool) -> ProgressBar {
    let target = if enabled {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(None, target);
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("template"));
    bar
}

/// `LookupEvents us-east-1,eu-west-1 · 12 pages · 600 events · 34% · ~1m20s left`.
fn status(req: &Request, p: &Progress, elapsed: Duration) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let done = p.done();
    let left = if done > 0.01 {
        let secs = elapsed.as_secs_f64() * (1.0 - done) / done;
        format!(" · ~{} left", duration(secs))
    } else {
        String::new()
    };
    format!(
        "LookupEvents {} · {} pages · {} events · {:.0}%{left}",
        req.regions.join(","),
        thousands(p.pages.load(Relaxed)),
        thousands(p.events.load(Relaxed)),
        done * 100.0
    )
}

fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// What to look up.
struct Plan {
    window: TimeWindow,
    regions: Vec<String>,
    lookup: Option<Lookup>,
}

async fn plan(hint: Hint<'_>, regions: &[String]) -> Result<Plan> {
    let all = Plan {
        window: TimeWindow::ALL,
        regions: regions.to_vec(),
        lookup: None,
    };
    match hint {
        Hint::Anything => Ok(all),
        Hint::Scope { start, end, region } => Ok(Plan {
            window: crate::lake::window(start, end)?,
            regions: match region {
                Some(r) => regions.iter().filter(|x| *x == r).cloned().collect(),
                None => regions.to_vec(),
            },
            lookup: None,
        }),
        Hint::Sql { sql, dialect } => {
            let scans = scans(sql, dialect).await?;
            if scans.is_empty() {
                // The statement reads the table some other way (a table function): all of it.
                return Ok(all);
            }
            Ok(plan_of(&scans, regions))
        }
    }
}

/// Window, regions and attribute that every scan's filters allow.
fn plan_of(scans: &[Vec<Expr>], regions: &[String]) -> Plan {
    let mut window: Option<TimeWindow> = None;
    let mut wanted: Vec<String> = Vec::new();
    for filters in scans {
        let w = time_window(filters);
        window = Some(match window {
            None => w,
            // The smallest window holding both.
            Some(prev) => TimeWindow {
                start: prev.start.zip(w.start).map(|(a, b)| a.min(b)),
                end: prev.end.zip(w.end).map(|(a, b)| a.max(b)),
            },
        });
        let these: Vec<String> = match partition_values(filters, "awsregion") {
            Some(r) => regions.iter().filter(|x| r.contains(*x)).cloned().collect(),
            None => regions.to_vec(),
        };
        for r in these {
            if !wanted.contains(&r) {
                wanted.push(r);
            }
        }
    }
    // One attribute for every scan only when there is one scan.
    let lookup = match scans {
        [filters] => Lookup::choose(candidates(filters)),
        _ => None,
    };
    Plan {
        window: window.unwrap_or(TimeWindow::ALL),
        regions: regions
            .iter()
            .filter(|r| wanted.contains(r))
            .cloned()
            .collect(),
        lookup,
    }
}

/// The attributes the filters pin to a few values.
fn candidates(filters: &[Expr]) -> Vec<Lookup> {
    let mut out = Vec::new();
    for (column, key) in [
        ("eventid", Key::EventId),
        ("eventname", Key::EventName),
        ("eventsource", Key::EventSource),
        ("readonly", Key::ReadOnly),
    ] {
        if let Some(v) = partition_values(filters, column) {
            out.push(Lookup {
                key,
                values: v.into_iter().collect(),
            });
        }
    }
    for (field, key) in [
        ("username", Key::Username),
        ("accesskeyid", Key::AccessKeyId),
    ] {
        if let Some(values) = identity_values(filters, field) {
            out.push(Lookup { key, values });
        }
    }
    out
}

/// Values `useridentity.FIELD` is pinned to by `=` or `IN (…)` in the conjunction.
fn identity_values(filters: &[Expr], field: &str) -> Option<Vec<String>> {
    for f in filters {
        for c in split_conjunction(f) {
            match c {
                Expr::BinaryExpr(BinaryExpr {
                    left,
                    op: Operator::Eq,
                    right,
                }) => {
                    let v = if is_identity_field(left, field) {
                        text(right)
                    } else if is_identity_field(right, field) {
                        text(left)
                    } else {
                        None
                    };
                    if let Some(v) = v {
                        return Some(vec![v]);
                    }
                }
                Expr::InList(l) if !l.negated && is_identity_field(&l.expr, field) => {
                    if let Some(v) = l.list.iter().map(text).collect::<Option<Vec<_>>>() {
                        return Some(v);
                    }
                }
                _ => {}
            }
        }
    }
    None
}

fn is_identity_field(e: &Expr, field: &str) -> bool {
    match e {
        Expr::ScalarFunction(f) if f.func.name() == "get_field" && f.args.len() == 2 => {
            matches!(&f.args[0], Expr::Column(c) if c.name == "useridentity")
                && text(&f.args[1]).as_deref() == Some(field)
        }
        Expr::Cast(c) => is_identity_field(&c.expr, field),
        _ => false,
    }
}

fn text(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Some(s.clone()),
        Expr::Cast(c) => text(&c.expr),
        _ => None,
    }
}

/// The filters of each scan of `cloudtrail_logs` in the statement's optimized plan, planned
/// over an empty table (so a statement that does not plan fails before any request is made).
async fn scans(sql: &str, dialect: Dialect) -> Result<Vec<Vec<Expr>>> {
    let empty = tempfile::tempdir().context("cannot make a temporary folder")?;
    let engine =
        Engine::open(&[empty.path().to_path_buf()], ScanOptions::default())?.with_dialect(dialect);
    trailql_detect::register(&engine.ctx, engine.report.clone());
    let plan = engine.sql(sql).await?.into_optimized_plan()?;
    let mut out = Vec::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(t) = node {
            if t.table_name.table() == trailql_sql::TABLE {
                out.push(t.filters.clone());
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(out)
}
