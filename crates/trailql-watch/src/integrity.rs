//! `--validate`: CloudTrail's signed digests checked as they are delivered. Every
//! [`VALIDATE_EVERY`] (and once at the end of `--once`) each source is validated by
//! trailql-integrity, each account and region from the newest digest validated before (kept in
//! the state) to now: the new digests' signatures and chain, and the SHA-256 of every log file
//! they list. What is wrong becomes an alert — a log file modified or deleted after delivery, a
//! digest missing from the chain or failing its signature, a log file inside the chain that no
//! digest lists, digests that stop arriving while log files still do — with a stable id
//! (`trailql-integrity-KIND/KEY`), so it is raised once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use trailql_integrity::{
    validate, CloudTrailKeys, LocalStore, Options, Problem, PublicKeys, S3Store, Severity, Store,
    TrailReport,
};
use trailql_rules::Alert;
use trailql_s3::{S3Client, SdkConfig};

use crate::source::Source;

/// How often the digests are looked at (they are delivered about once an hour per region).
pub const VALIDATE_EVERY: Duration = Duration::from_secs(300);

/// CloudTrail delivers a digest for every hour, log files or not, within about an hour of the
/// hour's end: a region with log files after its newest digest and no digest for this long
/// after that one's end has stopped getting digests (log file validation turned off, digests
/// deleted or the delivery broken).
pub const DIGEST_LATE: chrono::Duration = chrono::Duration::hours(3);

/// Where the public keys that verify digest signatures come from.
#[derive(Clone)]
pub enum Keys {
    /// Saved by `aws cloudtrail list-public-keys --output json`.
    File(Arc<PublicKeys>),
    /// CloudTrail's ListPublicKeys, called with these credentials for each region validated.
    CloudTrail(Box<SdkConfig>),
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Keys::File(_) => "Keys::File",
            Keys::CloudTrail(_) => "Keys::CloudTrail",
        })
    }
}

/// What one validation found.
#[derive(Debug, Default)]
pub struct Checked {
    pub trails: Vec<TrailChecked>,
    /// Warnings: what could not be validated, and why.
    pub problems: Vec<String>,
}

/// One trail's verdict.
#[derive(Debug)]
pub struct TrailChecked {
    /// `SOURCE ACCOUNT/REGION`.
    pub trail: String,
    /// The end of the newest digest validated.
    pub until: DateTime<Utc>,
    /// The alerts of its problems.
    pub alerts: Vec<Alert>,
    /// No digest came after `until` for [`DIGEST_LATE`] while log files did (among the
    /// alerts).
    pub stalled: bool,
}

/// The state's name of a trail.
fn trail_name(source: &str, account: &str, region: &str) -> String {
    format!("{source} {account}/{region}")
}

/// Validate `sources`; each trail from where `validated` says it was left (else `start`).
pub async fn check(
    sources: &[Source],
    s3: Option<Arc<S3Client>>,
    keys: &Keys,
    validated: &BTreeMap<String, DateTime<Utc>>,
    stalled: &BTreeMap<String, DateTime<Utc>>,
    start: DateTime<Utc>,
    max_inflated: u64,
) -> Checked {
    let mut out = Checked::default();
    let now = Utc::now();
    let handle = tokio::runtime::Handle::current();
    for src in sources {
        let name = match src {
            Source::Local(p) => p.display().to_string(),
            Source::S3(u) => u.to_string(),
        };
        let store: Box<dyn Store + Send> = match src {
            Source::Local(p) => match LocalStore::new(p) {
                Ok(s) => Box::new(s),
                Err(e) => {
                    out.problems.push(format!("--validate {name}: {e}"));
                    continue;
                }
            },
            Source::S3(u) => match &s3 {
                Some(c) => Box::new(S3Store::with_handle(handle.clone(), c.clone(), u.clone())),
                None => continue,
            },
        };
        let mut after = BTreeMap::new();
        for (trail, until) in validated {
            if let Some(rest) = trail.strip_prefix(&format!("{name} ")) {
                if let Some((a, r)) = rest.split_once('/') {
                    after.insert((a.to_string(), r.to_string()), *until);
                }
            }
        }
        let opts = Options {
            start,
            end: now,
            account: None,
            region: None,
            newest_signature: None,
            max_inflated,
            keep_valid_logs: false,
            after: after.clone(),
        };
        let keys = keys.clone();
        let h = handle.clone();
        // The validation reads synchronously (S3 through this runtime's handle).
        let report = tokio::task::spawn_blocking(move || match keys {
            Keys::File(k) => validate(store.as_ref(), k.as_ref(), &opts),
            Keys::CloudTrail(sdk) => {
                let sdk = *sdk;
                let ring = CloudTrailKeys::with_handle(
                    h,
                    sdk,
                    start - chrono::Duration::days(1),
                    now + chrono::Duration::hours(2),
                );
                validate(store.as_ref(), &ring, &opts)
            }
        })
        .await;
        let report = match report {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                out.problems
                    .push(format!("--validate {name}: {e}; tried again later"));
                continue;
            }
            Err(e) => {
                out.problems.push(format!("--validate {name}: {e}"));
                continue;
            }
        };
        for p in &report.unverified {
            // Log files after the newest digest of a trail validated before wait for the next
            // one; a region never validated and with no digests is worth a word (once).
            // The key is the region's log folder, `…/ACCOUNT/CloudTrail/REGION/`.
            let parts: Vec<&str> = p.key.split('/').collect();
            let known = parts
                .iter()
                .position(|s| *s == "CloudTrail")
                .is_some_and(|i| {
                    i > 0
                        && parts.get(i + 1).is_some_and(|r| {
                            validated.contains_key(&trail_name(&name, parts[i - 1], r))
                        })
                });
            if !known {
                out.problems.push(format!(
                    "--validate {}: log files and no digest files: not verified (is log file validation enabled on the trail?)",
                    p.key
                ));
            }
        }
        let mut verdicts: BTreeMap<(String, String), TrailChecked> = BTreeMap::new();
        for t in report.trails {
            let Some(newest) = t.newest_digest else {
                continue;
            };
            let mut alerts = Vec::new();
            for p in &t.problems {
                match (p.severity, p.kind) {
                    (Severity::Error, _) => alerts.push(alert(&t, p, newest)),
                    // Logs after the newest digest are checked with the next one.
                    (_, "log-outside-chain") | (Severity::Info, _) => {}
                    (Severity::Warning, _) => out
                        .problems
                        .push(format!("--validate {}: {}", p.key, p.detail)),
                }
            }
            verdicts.insert(
                (t.account.clone(), t.region.clone()),
                TrailChecked {
                    trail: trail_name(&name, &t.account, &t.region),
                    until: newest,
                    alerts,
                    stalled: false,
                },
            );
        }
        // Log files still delivered, digests not: from the newest digest of this window, else
        // the one the state had.
        for ((account, region), newest_log) in &report.newest_logs {
            let key = (account.clone(), region.clone());
            let Some(until) = verdicts
                .get(&key)
                .map(|v| v.until)
                .or_else(|| after.get(&key).copied())
            else {
                continue;
            };
            let trail = trail_name(&name, account, region);
            if *newest_log <= until
                || now - until < DIGEST_LATE
                || stalled.get(&trail) == Some(&until)
            {
                continue;
            }
            let v = verdicts.entry(key).or_insert_with(|| TrailChecked {
                trail: trail.clone(),
                until,
                alerts: Vec::new(),
                stalled: false,
            });
            v.stalled = true;
            v.alerts
                .push(stalled_alert(account, region, until, *newest_log, now));
        }
        out.trails.extend(verdicts.into_values());
    }
    out
}

/// Digests stopped after `until`, log files delivered up to `newest_log`.
fn stalled_alert(
    account: &str,
    region: &str,
    until: DateTime<Utc>,
    newest_log: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Alert {
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    Alert {
        rule_id: "trailql-integrity-digests-stopped".to_string(),
        rule_title: "Digest files stopped arriving".to_string(),
        level: "high".to_string(),
        tags: "attack.defense-evasion, attack.t1562.008".to_string(),
        event_time: fmt(newest_log),
        event_id: format!("{account}/{region}/{}", fmt(until)),
        account: account.to_string(),
        region: region.to_string(),
        actor: String::new(),
        source_ip: None,
        user_agent: None,
        event_name: "digests-stopped".to_string(),
        error_code: None,
        matched: format!(
            "no digest after the one ending {} ({} h ago) while log files were delivered up to {}: log file validation turned off, digests deleted, or their delivery broken",
            fmt(until),
            (now - until).num_hours(),
            fmt(newest_log)
        ),
        file: None,
    }
}

/// The title, level and ATT&CK tags of an integrity problem.
fn describe(kind: &str) -> (&'static str, &'static str, &'static str) {
    const REMOVAL: &str = "attack.defense-evasion, attack.t1070";
    const TAMPER: &str = "attack.impact, attack.t1565.001, attack.defense-evasion, attack.t1070";
    match kind {
        "log-modified" => ("Log file modified after delivery", "critical", TAMPER),
        "log-deleted" => ("Log file deleted after delivery", "critical", REMOVAL),
        "log-not-in-digest" => ("Log file that no digest lists", "high", TAMPER),
        "digest-missing" => ("Digest file missing from the chain", "high", REMOVAL),
        "digest-bad-signature" => ("Digest signature does not verify", "critical", TAMPER),
        _ => ("Digest file cannot be verified", "high", TAMPER),
    }
}

fn alert(t: &TrailReport, p: &Problem, newest: DateTime<Utc>) -> Alert {
    let (title, level, tags) = describe(p.kind);
    Alert {
        rule_id: format!("trailql-integrity-{}", p.kind),
        rule_title: title.to_string(),
        level: level.to_string(),
        tags: tags.to_string(),
        event_time: newest.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        event_id: p.key.clone(),
        account: t.account.clone(),
        region: t.region.clone(),
        actor: String::new(),
        source_ip: None,
        user_agent: None,
        event_name: p.kind.to_string(),
        error_code: None,
        matched: p.detail.clone(),
        file: Some(p.key.clone()),
    }
}
