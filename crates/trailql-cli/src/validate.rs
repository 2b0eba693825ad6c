//! `trailql validate`: run the integrity check over buckets or local copies and print the verdict.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use std::sync::Arc;

use trailql_integrity::{
    validate, CloudTrailKeys, KeyRing, LocalStore, Options, PublicKeys, Report, S3Store, Severity,
    Store,
};
use trailql_s3::S3Client;
use trailql_sql::Source;

use crate::args::{Format, ValidateArgs};

fn time(flag: &str, s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    bail!("{flag} {s:?}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)")
}

fn print(r: &Report, verbose: bool) {
    println!("Validating log files between {} and {}", r.start, r.end);
    for t in &r.trails {
        println!(
            "\ntrail {} · account {} · region {} (home {})",
            t.trail, t.account, t.region, t.home_region
        );
        for p in &t.problems {
            let tag = match p.severity {
                Severity::Error => "INVALID",
                Severity::Warning => "WARNING",
                Severity::Info => "note",
            };
            if p.severity != Severity::Info || verbose {
                println!("  {tag:<7} {:<28} {}: {}", p.kind, p.key, p.detail);
            }
        }
        println!(
            "  digests: {} valid, {} INVALID, {} missing, {} unchecked · log files: {} valid, {} modified, {} deleted, {} not in any digest",
            t.digests_valid,
            t.digests_invalid,
            t.digests_missing,
            t.digests_unchecked,
            t.logs_valid,
            t.logs_modified,
            t.logs_deleted,
            t.logs_not_in_digest
        );
    }
    for p in &r.unverified {
        println!("WARNING {} {}: {}", p.kind, p.key, p.detail);
    }
    if verbose {
        let mut v: Vec<_> = r.valid_logs.iter().collect();
        v.sort();
        for k in v {
            println!("  valid   {k}");
        }
    }
    if r.trails.is_empty() {
        println!(
            "\nNo digest files found in the window (is log file validation enabled on the trail?)"
        );
    }
    println!(
        "\n{}: {} error(s), {} warning(s)",
        if r.ok { "VALID" } else { "NOT VALID" },
        r.errors,
        r.warnings
    );
}

/// Public keys saved by `aws cloudtrail list-public-keys --output json`.
pub fn load_keys(path: &Path) -> Result<PublicKeys> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --public-keys {}", path.display()))?;
    PublicKeys::from_json(&text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--public-keys {}", path.display()))
}

/// Validate each source (local folder or bucket) over the window of `opts`.
pub fn validate_sources(
    sources: &crate::args::SourceArgs,
    keys: &dyn KeyRing,
    opts: &Options,
) -> Result<Vec<(String, Report)>> {
    let s3 = crate::s3_options(&sources.s3)?;
    // One client for all buckets: one credential lookup, one region lookup per bucket.
    let client = Arc::new(S3Client::new(s3));
    let mut out = Vec::new();
    for (source, parsed) in sources.sources.iter().zip(crate::sources(sources)?) {
        let store: Box<dyn Store> = match parsed {
            Source::Local(path) => Box::new(LocalStore::new(&path).map_err(anyhow::Error::msg)?),
            Source::S3(url) => {
                Box::new(S3Store::new(client.clone(), url).map_err(anyhow::Error::msg)?)
            }
        };
        let report = validate(store.as_ref(), keys, opts)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("validating {source}"))?;
        out.push((source.clone(), report));
    }
    Ok(out)
}

/// The window options of a validation (`--start`, `--end`).
pub fn options(start: &str, end: Option<&str>, keep_valid_logs: bool) -> Result<Options> {
    Ok(Options {
        start: time("--start", start)?,
        end: match end {
            Some(e) => time("--end", e)?,
            None => Utc::now(),
        },
        account: None,
        region: None,
        newest_signature: None,
        max_inflated: trailql_decode::inflate::DEFAULT_MAX_INFLATED,
        keep_valid_logs,
        after: Default::default(),
    })
}

pub fn run(a: ValidateArgs) -> Result<ExitCode> {
    let opts = Options {
        start: time("--start", &a.start)?,
        end: match &a.end {
            Some(e) => time("--end", e)?,
            None => Utc::now(),
        },
        account: a.account.clone(),
        region: a.region.clone(),
        newest_signature: a.newest_signature.clone(),
        max_inflated: trailql_decode::inflate::DEFAULT_MAX_INFLATED,
        // Listed by --verbose only.
        keep_valid_logs: a.verbose,
        after: Default::default(),
    };
    let s3 = crate::s3_options(&a.source.s3)?;
    let keys: Box<dyn KeyRing> = match &a.public_keys {
        Some(path) => Box::new(load_keys(path)?),
        None if s3.no_sign_request => bail!(
            "with --no-sign-request there are no credentials to call CloudTrail's ListPublicKeys: pass --public-keys FILE saved by `aws cloudtrail list-public-keys --output json`"
        ),
        None => Box::new(
            CloudTrailKeys::load(&s3, opts.start, opts.end).map_err(anyhow::Error::msg)?,
        ),
    };
    let mut ok = true;
    for (_, report) in validate_sources(&a.source, keys.as_ref(), &opts)? {
        ok &= report.ok;
        match a.format {
            Format::Json | Format::Jsonl => println!("{}", serde_json::to_string_pretty(&report)?),
            Format::Table => print(&report, a.verbose),
            other => bail!("--format {other:?} is not available for validate: use table or json"),
        }
    }
    if let Some(origin) = keys.origin() {
        eprintln!("{origin}");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
