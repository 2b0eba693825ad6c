//! The chain walk: newest digest back, signatures, log-file hashes, gaps, files no digest covers.
//!
//! Differences from `aws cloudtrail validate-logs`, on purpose: works on local copies (the newest
//! digest's signature is taken from a `.signature` side file or `--newest-signature`, else reported
//! as not available offline); counts *every* missing digest of a gap from the hourly cadence
//! (aws-cli issue 7054 misses two in a row); reports log files that no digest lists.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Read;

use chrono::{DateTime, Duration, Utc};
use rsa::sha2::{Digest as _, Sha256};
use serde::Serialize;
use trailql_layout::{classify, KeyKind};

use crate::digest::{from_awslogs, parse_time, string_to_sign, Digest, DigestKey, TrailId};
use crate::keys::{verify, KeyRing};
use crate::store::Store;

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
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub start: String,
    pub end: String,
    pub trails: Vec<TrailReport>,
    /// Log files in the window of an account/region with no digests at all.
    pub unverified: Vec<Problem>,
    /// Keys of log files that validated.
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

fn read_inflated(store: &dyn Store, key: &str, max: u64) -> Result<Option<Vec<u8>>, String> {
    let Some(r) = store.open(key)? else {
        return Ok(None);
    };
    let mut raw = Vec::new();
    r.take(max + 1)
        .read_to_end(&mut raw)
        .map_err(|e| e.to_string())?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(Some(raw));
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&raw[..])
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot inflate: {e}"))?;
    Ok(Some(out))
}

struct Walk<'a> {
    store: &'a dyn Store,
    keys: &'a dyn KeyRing,
    opts: &'a Options,
    report: TrailReport,
    listed: &'a mut HashSet<String>,
    valid_logs: &'a mut HashSet<String>,
    /// Delivery span the walked digests cover.
    span: Option<(DateTime<Utc>, DateTime<Utc>)>,
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
        let bytes = match read_inflated(self.store, key, self.opts.max_inflated) {
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
            self.span = Some(match self.span {
                None => (s, e),
                Some((a, b)) => (a.min(s), b.max(e)),
            });
        }
        for lf in &d.log_files {
            let lk = from_awslogs(&lf.s3_object).to_string();
            self.listed.insert(lk.clone());
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
                    if verified {
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
    fn run(&mut self, mut digests: Vec<(DigestKey, String)>) {
        digests.sort();
        digests.reverse();
        let window: Vec<&(DigestKey, String)> = digests
            .iter()
            .filter(|(k, _)| k.end > self.opts.start && k.end <= self.opts.end + Duration::hours(1))
            .collect();
        // Digest by key, to follow `previousDigestS3Object` links without a scan per step.
        let by_key: std::collections::HashMap<&str, &(DigestKey, String)> =
            digests.iter().map(|d| (d.1.as_str(), d)).collect();
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
    }
}

/// Validate every trail under `store` in the window.
pub fn validate(store: &dyn Store, keys: &dyn KeyRing, opts: &Options) -> Result<Report, String> {
    // Sorted, so reports come out in the same order whatever the store lists first.
    let mut all = store.keys()?;
    all.sort();
    let wanted = |account: &str, region: &str| {
        opts.account.as_deref().is_none_or(|a| a == account)
            && opts.region.as_deref().is_none_or(|r| r == region)
    };
    let mut trails: BTreeMap<TrailId, Vec<(DigestKey, String)>> = BTreeMap::new();
    let mut logs: Vec<(String, String, String, DateTime<Utc>)> = Vec::new();
    for k in &all {
        if let Some(dk) = DigestKey::parse(k) {
            if wanted(&dk.account, &dk.region) {
                trails
                    .entry(dk.trail_id())
                    .or_default()
                    .push((dk, k.clone()));
            }
        } else if let KeyKind::TrailLog(t) = classify(k) {
            if let Some(at) = t.delivered {
                if wanted(&t.account, &t.region)
                    && at >= opts.start - Duration::minutes(1)
                    && at < opts.end
                {
                    logs.push((t.account, t.region, k.clone(), at));
                }
            }
        }
    }
    let regions: BTreeSet<String> = trails.keys().map(|id| id.1.clone()).collect();
    keys.prepare(&regions.into_iter().collect::<Vec<_>>())?;
    let mut listed = HashSet::new();
    let mut valid_logs = HashSet::new();
    let mut reports = Vec::new();
    let mut spans: BTreeMap<(String, String), (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
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
            listed: &mut listed,
            valid_logs: &mut valid_logs,
            span: None,
        };
        w.run(digests);
        if let Some((a, b)) = w.span {
            let e = spans.entry((id.0.clone(), id.1.clone())).or_insert((a, b));
            *e = (e.0.min(a), e.1.max(b));
        }
        reports.push(w.report);
    }
    // Log files in the window that no digest lists.
    let mut unverified = Vec::new();
    let mut no_digests: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (account, region, key, at) in logs {
        if listed.contains(&key) {
            continue;
        }
        let Some(&(a, b)) = spans.get(&(account.clone(), region.clone())) else {
            *no_digests.entry((account, region)).or_default() += 1;
            continue;
        };
        let report = reports
            .iter_mut()
            .find(|r| r.account == account && r.region == region)
            .expect("span implies a trail");
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
    for ((account, region), n) in no_digests {
        unverified.push(Problem {
            severity: Severity::Warning,
            kind: "no-digests",
            key: format!("AWSLogs/{account}/CloudTrail/{region}/"),
            detail: format!("{n} log file(s) in the window and no digest files: not verified (is log file validation enabled?)"),
        });
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
        valid_logs,
        errors,
        warnings,
    })
}
