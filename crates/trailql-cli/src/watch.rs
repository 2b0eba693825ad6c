//! `trailql watch`: the arguments turned into a [`trailql_watch::Config`], the rules of
//! `detect`, and the loop run until SIGINT/SIGTERM (or, with `--once`, until it is done).

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use trailql_layout::{ListScope, TimeWindow};
use trailql_s3::S3Client;
use trailql_watch::{Config, Engine, Keys, OutputSpec, Queue, Source};

use crate::args::WatchArgs;
use crate::{detect, s3_options, sources, summary};

/// A time, or how long ago: `2024-08-01`, `2024-08-01T10:00:00Z`, `30m`, `2h`, `1d`.
fn start_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(Some(ago)) = trailql_layout::parse_late_margin(s) {
        if s.trim().ends_with(|c: char| c.is_ascii_alphabetic()) {
            return Ok(now - ago);
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    bail!("--start {s:?}: give a time (2024-08-01 or 2024-08-01T10:00:00Z) or how long ago (30m, 2h, 1d)")
}

pub fn run(a: WatchArgs) -> Result<ExitCode> {
    let (detector, correlator, _set) = detect::rules(&a.rules, a.scan.strict, a.scan.quiet)?;
    let late_margin = trailql_layout::parse_late_margin(&a.scan.late_margin)
        .map_err(anyhow::Error::msg)
        .context("--late-margin")?
        .unwrap_or(chrono::Duration::days(7));
    if a.interval == 0 {
        bail!("--interval must be at least 1 second");
    }
    let mut outputs = Vec::new();
    if !a.no_stdout {
        outputs.push(OutputSpec::Stdout { json: a.json });
    }
    if let Some(f) = &a.alert_file {
        outputs.push(OutputSpec::File(f.clone()));
    }
    let secret = std::env::var(&a.webhook_secret_env)
        .ok()
        .filter(|s| !s.is_empty());
    for url in &a.webhook {
        outputs.push(OutputSpec::Webhook {
            url: url.clone(),
            secret: secret.clone(),
        });
    }
    if let Some(url) = &a.slack_webhook {
        outputs.push(OutputSpec::Slack { url: url.clone() });
    }
    if outputs.is_empty() {
        bail!("--no-stdout leaves no output: add --alert-file, --webhook or --slack-webhook");
    }
    let given = if a.sqs.is_some() && a.scan.source.sources.is_empty() {
        Vec::new()
    } else {
        sources(&a.scan.source)?
    };
    let srcs = given
        .into_iter()
        .map(|s| match s {
            trailql_sql::Source::Local(p) => {
                if !p.exists() {
                    bail!("source {}: does not exist (check the path, or use s3://bucket/prefix for S3)", p.display());
                }
                Ok(Source::Local(p))
            }
            trailql_sql::Source::S3(u) => Ok(Source::S3(u)),
        })
        .collect::<Result<Vec<_>>>()?;
    let scope = ListScope {
        accounts: a.account.clone().map(|x| BTreeSet::from([x])),
        regions: a.region.clone().map(|x| BTreeSet::from([x])),
        window: TimeWindow::ALL,
        late_margin: Some(late_margin),
    };
    if a.validate && srcs.is_empty() {
        bail!("--validate reads the digests from the sources: give -s (the trail folder or bucket) besides --sqs");
    }
    let keys_file = match &a.scan.public_keys {
        Some(p) => Some(std::sync::Arc::new(crate::validate::load_keys(p)?)),
        None => None,
    };
    let mut config = Config {
        sources: srcs.clone(),
        scope,
        start: start_time(&a.start, Utc::now())?,
        late_margin,
        interval: Duration::from_secs(a.interval),
        state: a.state.clone(),
        outputs,
        strict: a.scan.strict,
        once: a.once,
        quiet: a.scan.quiet,
        validate: None,
        max_inflated: a.scan.max_inflated_bytes,
    };
    let engine = Engine::new(detector, correlator, a.scan.max_inflated_bytes);
    crate::runtime()?.block_on(async move {
        let s3_opts = s3_options(&a.scan.source.s3)?;
        let s3 = if a.sqs.is_some() || srcs.iter().any(|s| matches!(s, Source::S3(_))) {
            Some(S3Client::new(s3_opts.clone()))
        } else {
            None
        };
        if a.validate {
            config.validate = Some(match keys_file {
                Some(k) => Keys::File(k),
                None if s3_opts.no_sign_request => bail!(
                    "with --no-sign-request there are no credentials to call CloudTrail's ListPublicKeys: pass --public-keys FILE saved by `aws cloudtrail list-public-keys --output json`"
                ),
                None => Keys::CloudTrail(Box::new(
                    trailql_s3::sdk_config(&s3_opts)
                        .await
                        .context("--validate: credentials to call CloudTrail's ListPublicKeys")?,
                )),
            });
        }
        let queue = match &a.sqs {
            Some(url) => Some(Queue::connect(url, &s3_opts).await?),
            None => None,
        };
        let rules = engine.detector().rules().len();
        if !a.scan.quiet {
            eprintln!(
                "trailql watch: {} rule(s), state in {}{}",
                rules,
                a.state.display(),
                if a.once { "" } else { "; Ctrl-C stops it" }
            );
        }
        let stats = trailql_watch::run(config, engine, s3, queue).await?;
        if !a.scan.quiet {
            eprintln!(
                "trailql watch: stopped · {} file(s), {} records, {} alert(s), {} warning(s){}",
                summary::thousands(stats.files),
                summary::thousands(stats.records),
                summary::thousands(stats.alerts),
                summary::thousands(stats.warnings),
                if stats.queued > 0 {
                    format!(
                        " · {} alert(s) still queued for an output (kept in the state)",
                        stats.queued
                    )
                } else {
                    String::new()
                }
            );
        }
        Ok(if stats.warnings > 0 && a.scan.strict {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times() {
        let now = DateTime::parse_from_rfc3339("2024-08-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            start_time("2h", now).unwrap().to_rfc3339(),
            "2024-08-02T10:00:00+00:00"
        );
        assert_eq!(
            start_time("2024-08-01", now).unwrap().to_rfc3339(),
            "2024-08-01T00:00:00+00:00"
        );
        assert_eq!(
            start_time("2024-08-01T10:30:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2024-08-01T10:30:00+00:00"
        );
        assert!(start_time("yesterday", now)
            .unwrap_err()
            .to_string()
            .contains("how long ago"));
    }
}
