//! The chain walk: newest digest back, signatures, log-file hashes, gaps, files no digest covers.
//!
//! Differences from `aws cloudtrail validate-logs`, on purpose: works on local copies (the newest
//! digest's signature is taken from a `.signature` side file or `--newest-signature`, else reported
//! as not available offline); counts *every* missing digest of a gap from the hourly cadence
//! (aws-cli issue 7054 misses two in a row); reports log files that no digest lists.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rsa::sha2::{Digest as _, Sha256};
use serde::Serialize;
use trailql_layout::{classify, KeyKind};

use crate::digest::{from_awslogs, parse_time, string_to_sign, Digest, DigestKey, TrailId};
use crate::keys::{verify, KeyRing};
use crate::store::Store;
use crate::tree;

#[derive(Debug, Clone)]
pub struct Options {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// Hex signature of the newest digest (S3 metadata `signature`), for offline copies.
    pub newest_signature: Option<String>,
    /// Largest inflated size read from one file.
    pub max_inflated: u64,
    /// Collect the keys of the log files that validated ([`Report::valid_logs`]): for the
    /// `"$verified"` column and `--verbose`; off, memory does not grow with the window.
    pub keep_valid_logs: bool,
    /// Per (account, region): validated up to here already, so that region's window starts
    /// here instead of at `start` (a watch validating each new digest once).
    pub after: BTreeMap<(String, String), DateTime<Utc>>,
}

impl Options {
    /// These options for one account and region: the window starts where it was left.
    fn for_region(&self, account: &str, region: &str) -> Options {
        let mut o = self.clone();
        if let Some(a) = self.after.get(&(account.to_string(), region.to_string())) {
            o.start = o.start.max(*a);
        }
        o.after = BTreeMap::new();
        o
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub severity: Severity,
    /// digest-missing, digest-moved, digest-invalid-format, digest-bad-signature, digest-unknown-key,
    /// digest-signature-unavailable, digest-not-in-chain, chain-start, log-modified, log-deleted,
    /// log-not-in-digest, log-outside-chain.
    pub kind: &'static str,
    pub key: String,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TrailReport {
    pub account: String,
    pub region: String,
    pub trail: String,
    pub home_region: String,
    pub digests_valid: u64,
    pub digests_invalid: u64,
    pub digests_missing: u64,
    pub digests_unchecked: u64,
    pub logs_valid: u64,
    pub logs_modified: u64,
    pub logs_deleted: u64,
    pub logs_not_in_digest: u64,
    pub problems: Vec<Problem>,
    /// The end of the newest digest walked in the window.
    #[serde(skip)]
    pub newest_digest: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub start: String,
    pub end: String,
    pub trails: Vec<TrailReport>,
    /// Log files in the window of an account/region with no digests at all.
    pub unverified: Vec<Problem>,
    /// Per (account, region): the newest delivery of a log file in the window (a watch
    /// compares it with the newest digest to see digests stop arriving).
    #[serde(skip)]
    pub newest_logs: BTreeMap<(String, String), DateTime<Utc>>,
    /// Keys of log files that validated (when [`Options::keep_valid_logs`]).
    #[serde(skip)]
    pub valid_logs: HashSet<String>,
    pub errors: u64,
    pub warnings: u64,
    pub ok: bool,
}

/// SHA-256 of the inflated bytes of a gzip stream (or of plain bytes), streamed.
fn inflated_sha256(r: Box<dyn Read + '_>, max: u64) -> Result<String, String> {
    let mut r = std::io::BufReader::new(r);
    let gz = {
        use std::io::BufRead;
        r.fill_buf()
            .map_err(|e| e.to_string())?
            .starts_with(&[0x1f, 0x8b])
    };
    let mut src: Box<dyn Read> = if gz {
        Box::new(flate2::bufread::MultiGzDecoder::new(r).take(max + 1))
    } else {
        Box::new(r.take(max + 1))
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = src
            .read(&mut buf)
            .map_err(|e| format!("cannot inflate: {e}"))?;
        if k == 0 {
            break;
        }
        n += k as u64;
        if n > max {
            return Err(format!("inflates to more than {max} bytes"));
        }
        h.update(&buf[..k]);
    }
    Ok(hex::encode(h.finalize()))
}

/// A digest file lists one hour's log files (a few KB; an hour of a busy organization trail a
/// few MB): one larger than this is not a digest, and is not read into memory.
const DIGEST_MAX: u64 = 64 << 20;

fn read_inflated(store: &dyn Store, key: &str, max: u64) -> Result<Option<Vec<u8>>, String> {
    let Some(r) = store.open(key)? else {
        return Ok(None);
    };
    let too_big = || format!("over {max} bytes: not a digest file, not read");
    let mut raw = Vec::new();
    r.take(max + 1)
        .read_to_end(&mut raw)
        .map_err(|e| e.to_string())?;
    if raw.len() as u64 > max {
        return Err(too_big());
    }
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(Some(raw));
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&raw[..])
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot inflate: {e}"))?;
    if out.len() as u64 > max {
        return Err(too_big());
    }
    Ok(Some(out))
}

/// What validation keeps for one account/region while its trails are walked: the log files the
/// digests read so far list, by delivery day, until that day's folder has been compared with
/// them. A day is compared as soon as the walk (newest digest back) has passed it, so memory
/// holds about a day of keys whatever the window.
struct RegionState {
    /// Log day folders in the window not compared yet, newest first.
    days: Vec<(NaiveDate, String)>,
    listed: HashMap<NaiveDate, HashSet<String>>,
    /// Delivery span the walked digests cover.
    span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Log files in the window with no digest chain at all.
    no_digest_logs: u64,
    /// The newest delivery of a log file in the window.
    newest_log: Option<DateTime<Utc>>,
}

struct Walk<'a> {
    store: &'a dyn Store,
    keys: &'a dyn KeyRing,
    opts: &'a Options,
    report: TrailReport,
    region: &'a mut RegionState,
    valid_logs: &'a mut HashSet<String>,
    /// The region has this one trail: compare days during the walk (else after all walks).
    stream: bool,
}

impl Walk<'_> {
    fn problem(&mut self, severity: Severity, kind: &'static str, key: &str, detail: String) {
        self.report.problems.push(Problem {
            severity,
            kind,
            key: key.to_string(),
            detail,
        });
    }

    /// Check one digest; returns it parsed when it could be read.
    fn digest(&mut self, key: &str, dk: &DigestKey, signature: Option<String>) -> Option<Digest> {
        let bytes = match read_inflated(self.store, key, self.opts.max_inflated.min(DIGEST_MAX)) {
            Ok(Some(b)) => b,
            Ok(None) => {
                self.report.digests_missing += 1;
                self.problem(Severity::Error, "digest-missing", key, "not found".into());
                return None;
            }
            Err(e) => {
                self.report.digests_invalid += 1;
                self.problem(Severity::Error, "digest-invalid-format", key, e);
                return None;
            }
        };
        let d: Digest = match serde_json::from_slice(&bytes) {
            Ok(d) => d,
            Err(e) => {
                self.report.digests_invalid += 1;
                self.problem(
                    Severity::Error,
                    "digest-invalid-format",
                    key,
                    format!("not a digest: {e}"),
                );
                return None;
            }
        };
        let mut valid = true;
        if from_awslogs(&d.digest_s3_object) != key {
            valid = false;
            self.problem(
                Severity::Error,
                "digest-moved",
                key,
                format!(
                    "has been moved from its original location {}",
                    d.digest_s3_object
                ),
            );
        }
        let checked = signature.is_some();
        match signature {
            None => self.report.digests_unchecked += 1,
            Some(sig) => {
                match self
                    .keys
                    .find(&dk.region, &d.digest_public_key_fingerprint, Some(dk.end))
                {
                    None => {
                        valid = false;
                        self.problem(
                            Severity::Error,
                            "digest-unknown-key",
                            key,
                            format!(
                                "public key not found in region {} for fingerprint {} ({})",
                                dk.region,
                                d.digest_public_key_fingerprint,
                                self.keys.hint()
                            ),
                        );
                    }
                    Some(pk) => {
                        if !verify(&pk.key, string_to_sign(&d, &bytes).as_bytes(), &sig) {
                            valid = false;
                            self.problem(
                                Severity::Error,
                                "digest-bad-signature",
                                key,
                                "signature verification failed".into(),
                            );
                        }
                    }
                }
            }
        }
        if !valid {
            self.report.digests_invalid += 1;
        } else if checked {
            self.report.digests_valid += 1;
        }
        // Its log files are verified evidence only under a digest whose signature verified.
        let verified = valid && checked;
        if let (Some(s), Some(e)) = (
            parse_time(&d.digest_start_time),
            parse_time(&d.digest_end_time),
        ) {
            self.region.span = Some(match self.region.span {
                None => (s, e),
                Some((a, b)) => (a.min(s), b.max(e)),
            });
        }
        for lf in &d.log_files {
            let lk = from_awslogs(&lf.s3_object).to_string();
            if let KeyKind::TrailLog(t) = classify(&lk) {
                if let Some(at) = t.delivered {
                    let day = self.region.listed.entry(at.date_naive()).or_default();
                    day.insert(lk.clone());
                }
            }
            let r = match self.store.open(&lk) {
                Ok(Some(r)) => r,
                Ok(None) => {
                    self.report.logs_deleted += 1;
                    self.problem(
                        Severity::Error,
                        "log-deleted",
                        &lk,
                        format!("listed in {key} but not found"),
                    );
                    continue;
                }
                Err(e) => {
                    self.report.logs_deleted += 1;
                    self.problem(Severity::Error, "log-deleted", &lk, e);
                    continue;
                }
            };
            match inflated_sha256(r, self.opts.max_inflated) {
                Ok(h) if h.eq_ignore_ascii_case(&lf.hash_value) => {
                    self.report.logs_valid += 1;
                    if verified && self.opts.keep_valid_logs {
                        self.valid_logs.insert(lk);
                    }
                }
                Ok(_) => {
                    self.report.logs_modified += 1;
                    self.problem(
                        Severity::Error,
                        "log-modified",
                        &lk,
                        "hash value doesn't match the digest".into(),
                    );
                }
                Err(e) => {
                    self.report.logs_modified += 1;
                    self.problem(Severity::Error, "log-modified", &lk, e);
                }
            }
        }
        Some(d)
    }

    /// Walk one trail's digests from the newest back.
    fn run(&mut self, mut digests: Vec<(DigestKey, String)>) -> Result<(), String> {
        digests.sort();
        digests.reverse();
        let window: Vec<&(DigestKey, String)> = digests
            .iter()
            .filter(|(k, _)| k.end > self.opts.start && k.end <= self.opts.end + Duration::hours(1))
            .collect();
        // Digest by key, to follow `previousDigestS3Object` links without a scan per step.
        let by_key: std::collections::HashMap<&str, &(DigestKey, String)> =
            digests.iter().map(|d| (d.1.as_str(), d)).collect();
        self.report.newest_digest = window.first().map(|(k, _)| k.end);
        let mut visited: HashSet<String> = HashSet::new();
        let mut first_head = true;
        for head in &window {
            if visited.contains(&head.1) {
                continue;
            }
            // A new chain segment: its newest digest's signature comes from metadata.
            let mut sig = self.store.signature(&head.1);
            if first_head {
                sig = self.opts.newest_signature.clone().or(sig);
            }
            if sig.is_none() {
                let (sev, why) = if first_head {
                    (Severity::Warning, "signature not available offline: this newest digest's signature is S3 metadata (pass --newest-signature HEX, or keep it in <digest>.signature)")
                } else {
                    (Severity::Error, "cannot be verified: the next digest in its chain is missing and no signature metadata was found")
                };
                self.problem(sev, "digest-signature-unavailable", &head.1, why.into());
            }
            first_head = false;
            let mut cur: (DigestKey, String) = (*head).clone();
            loop {
                visited.insert(cur.1.clone());
                let Some(d) = self.digest(&cur.1, &cur.0, sig.take()) else {
                    break;
                };
                if self.stream {
                    if let Some(s) = parse_time(&d.digest_start_time) {
                        close_days(
                            self.store,
                            self.opts,
                            self.region,
                            &mut self.report,
                            Some(s),
                        )?;
                    }
                }
                let Some(prev_obj) = d
                    .previous_digest_s3_object
                    .as_deref()
                    .filter(|_| d.previous_digest_s3_bucket.is_some())
                else {
                    self.problem(
                        Severity::Info,
                        "chain-start",
                        &cur.1,
                        format!("the digest chain starts here ({})", d.digest_start_time),
                    );
                    break;
                };
                let prev_key = from_awslogs(prev_obj).to_string();
                let prev_end = DigestKey::parse(&prev_key).map(|k| k.end);
                if prev_end.is_some_and(|e| e <= self.opts.start) {
                    break; // the window's start is reached
                }
                match by_key.get(prev_key.as_str()) {
                    Some(p) => {
                        cur = (*p).clone();
                        sig = d.previous_digest_signature.clone();
                    }
                    None => {
                        // Missing: how many, from the hourly cadence up to the next older digest.
                        let start = parse_time(&d.digest_start_time);
                        let older = window.iter().find(|(k, key)| {
                            !visited.contains(key) && Some(k.end) < start.or(Some(cur.0.end))
                        });
                        let from = older.map(|(k, _)| k.end).unwrap_or(self.opts.start);
                        let hours = start
                            .map(|s| {
                                ((s - from).num_seconds() as f64 / 3600.0).round().max(1.0) as u64
                            })
                            .unwrap_or(1);
                        let n = if older.is_some() { hours } else { 1 };
                        self.report.digests_missing += n;
                        self.problem(
                            Severity::Error,
                            "digest-missing",
                            &prev_key,
                            format!(
                                "{n} digest(s) missing from the chain between {} and {} (the first is the previous digest of {})",
                                from.format("%Y-%m-%dT%H:%M:%SZ"),
                                d.digest_start_time,
                                cur.1
                            ),
                        );
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Compare the log day folders the walk has passed (all of them when `walked_to` is `None`) with
/// what the digests listed: files no digest lists are errors inside the span the chain covers,
/// warnings outside it; without any chain they are counted as unverified.
fn close_days(
    store: &dyn Store,
    opts: &Options,
    region: &mut RegionState,
    report: &mut TrailReport,
    walked_to: Option<DateTime<Utc>>,
) -> Result<(), String> {
    while let Some((day, _)) = region.days.first() {
        let day_start = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        // Digests list the files delivered in their hour: once the walk is an hour below the
        // day's start, every digest that could list its files has been read.
        if walked_to.is_some_and(|w| w + Duration::hours(1) > day_start) {
            break;
        }
        let (day, prefix) = region.days.remove(0);
        let listed = region.listed.remove(&day).unwrap_or_default();
        for key in store.list(&prefix)?.files {
            let KeyKind::TrailLog(t) = classify(&key) else {
                continue;
            };
            let Some(at) = t.delivered else { continue };
            if at < opts.start - Duration::minutes(1) || at >= opts.end {
                continue;
            }
            region.newest_log = region.newest_log.max(Some(at));
            if listed.contains(&key) {
                continue;
            }
            let Some((a, b)) = region.span else {
                region.no_digest_logs += 1;
                continue;
            };
            report.logs_not_in_digest += 1;
            // Delivered strictly inside what the chain covers: a digest should list it.
            let inside = at >= a && at + Duration::minutes(1) <= b;
            report.problems.push(if inside {
                Problem {
                    severity: Severity::Error,
                    kind: "log-not-in-digest",
                    key,
                    detail: format!("delivered {} inside the span the digests cover, but listed in none", at.format("%Y-%m-%dT%H:%MZ")),
                }
            } else {
                Problem {
                    severity: Severity::Warning,
                    kind: "log-outside-chain",
                    key,
                    detail: "delivered outside the span the digest chain covers (before validation started, or not digested yet): not verified".into(),
                }
            });
        }
    }
    Ok(())
}

/// Validate every trail under `store` in the window, one account/region at a time.
pub fn validate(store: &dyn Store, keys: &dyn KeyRing, opts: &Options) -> Result<Report, String> {
    let mut reports: Vec<TrailReport> = Vec::new();
    let mut unverified = Vec::new();
    let mut newest_logs = BTreeMap::new();
    let mut valid_logs = HashSet::new();
    for acct in tree::accounts(store, opts.account.as_deref())? {
        let digest_root = format!("{}CloudTrail-Digest/", acct.path);
        let log_root = format!("{}CloudTrail/", acct.path);
        let mut regions: BTreeSet<String> = store.list(&digest_root)?.folders.into_iter().collect();
        regions.extend(store.list(&log_root)?.folders);
        let wanted = |r: &String| opts.region.as_deref().is_none_or(|w| w == r);
        for region in regions.into_iter().filter(wanted) {
            let opts = &opts.for_region(&acct.account, &region);
            // Digests of periods ending in the window are written up to an hour after it.
            let digest_days = (
                opts.start.date_naive(),
                (opts.end + Duration::hours(2)).date_naive(),
            );
            let log_days = (
                (opts.start - Duration::minutes(1)).date_naive(),
                opts.end.date_naive(),
            );
            // The region's digests in the window, by trail (a region usually has one).
            let mut trails: BTreeMap<TrailId, Vec<(DigestKey, String)>> = BTreeMap::new();
            let digest_region = format!("{digest_root}{region}/");
            for (_, day) in tree::days(store, &digest_region, digest_days.0, digest_days.1)? {
                for k in store.list(&day)?.files {
                    if let Some(dk) = DigestKey::parse(&k) {
                        if dk.account == acct.account && dk.region == region {
                            trails.entry(dk.trail_id()).or_default().push((dk, k));
                        }
                    }
                }
            }
            if !trails.is_empty() {
                keys.prepare(std::slice::from_ref(&region))?;
            }
            let log_region = format!("{log_root}{region}/");
            let mut state = RegionState {
                days: tree::days(store, &log_region, log_days.0, log_days.1)?,
                listed: HashMap::new(),
                span: None,
                no_digest_logs: 0,
                newest_log: None,
            };
            let stream = trails.len() == 1;
            let first = reports.len();
            for (id, digests) in trails {
                let mut w = Walk {
                    store,
                    keys,
                    opts,
                    report: TrailReport {
                        account: id.0.clone(),
                        region: id.1.clone(),
                        trail: id.2.clone(),
                        home_region: id.3.clone(),
                        ..Default::default()
                    },
                    region: &mut state,
                    valid_logs: &mut valid_logs,
                    stream,
                };
                w.run(digests)?;
                reports.push(w.report);
            }
            // The days the walks did not pass (or all of them, with several trails).
            let mut no_trail = TrailReport::default();
            let report = reports.get_mut(first).unwrap_or(&mut no_trail);
            close_days(store, opts, &mut state, report, None)?;
            if let Some(at) = state.newest_log {
                newest_logs.insert((acct.account.clone(), region.clone()), at);
            }
            if state.no_digest_logs > 0 {
                unverified.push(Problem {
                    severity: Severity::Warning,
                    kind: "no-digests",
                    key: log_region,
                    detail: format!("{} log file(s) in the window and no digest files: not verified (is log file validation enabled?)", state.no_digest_logs),
                });
            }
        }
    }
    let all_problems = reports.iter().flat_map(|r| &r.problems).chain(&unverified);
    let (mut errors, mut warnings) = (0, 0);
    for p in all_problems {
        match p.severity {
            Severity::Error => errors += 1,
            Severity::Warning => warnings += 1,
            Severity::Info => {}
        }
    }
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    Ok(Report {
        start: fmt(opts.start),
        end: fmt(opts.end),
        ok: errors == 0 && !reports.is_empty(),
        trails: reports,
        unverified,
        newest_logs,
        valid_logs,
        errors,
        warnings,
    })
}
