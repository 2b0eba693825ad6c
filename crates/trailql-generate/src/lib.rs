#![recursion_limit = "256"]
//! `trailql generate`: a realistic synthetic trail in the S3 delivery layout.
//!
//! Several accounts × regions × days of 5-minute gzip files, mixed services and identities
//! (IAM users, assumed roles with session issuers, AWS services, root, Identity Center), noise that
//! looks like the needle (private-CIDR security-group rules, failed attempts), and planted
//! security-group openings to the world in both request shapes seen in real logs — nested
//! `ipPermissions.items[].ipRanges` and top-level `cidrIp` — listed in `ground-truth.json`.
//! The same seed gives the same bytes.

mod events;

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use flate2::{write::GzEncoder, Compression};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub use events::Planted;

#[derive(Debug, Clone)]
pub struct GenOptions {
    pub seed: u64,
    /// Approximate total number of events.
    pub events: u64,
    pub accounts: usize,
    pub regions: Vec<String>,
    pub days: u32,
    pub start: NaiveDate,
    /// Write an organization trail layout (`AWSLogs/o-…/ACCOUNT/…`).
    pub org_id: Option<String>,
    /// Security-group openings to plant (at least one of each shape).
    pub openings: usize,
    /// gzip level (AWS's files compress like level 6).
    pub level: u32,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            seed: 42,
            events: 50_000,
            accounts: 3,
            regions: ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
                .map(String::from)
                .to_vec(),
            days: 7,
            start: NaiveDate::from_ymd_opt(2024, 8, 1).expect("valid date"),
            org_id: None,
            openings: 6,
            level: 6,
        }
    }
}

/// What was written.
#[derive(Debug, Serialize)]
pub struct GroundTruth {
    pub seed: u64,
    pub events: u64,
    pub files: u64,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub start: String,
    pub days: u32,
    /// Successful calls that opened a security group to 0.0.0.0/0 or ::/0.
    pub openings: Vec<Planted>,
    /// Failed calls that tried to (errorCode set): attempts, not openings.
    pub failed_attempts: Vec<Planted>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid option: {0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GenError + '_ {
    move |source| GenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The account ids used for `n` accounts (stable across seeds).
pub fn account_ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{:012}", 111_122_223_333u64 + i as u64 * 111_111_111))
        .collect()
}

/// Write the trail under `dir` and return the ground truth (also written to
/// `dir/ground-truth.json`).
pub fn generate(dir: &Path, opts: &GenOptions) -> Result<GroundTruth, GenError> {
    if opts.accounts == 0 || opts.regions.is_empty() || opts.days == 0 {
        return Err(GenError::Invalid(
            "need at least one account, region and day".into(),
        ));
    }
    let accounts = account_ids(opts.accounts);
    let trails: Vec<(usize, usize)> = (0..accounts.len())
        .flat_map(|a| (0..opts.regions.len()).map(move |r| (a, r)))
        .collect();
    let slots = opts.days as u64 * 24 * 12;
    let per_file = (opts.events as f64 / (trails.len() as u64 * slots) as f64).max(0.05);

    // Planted openings: spread over trails and time, alternating shapes; one failed attempt.
    let mut plant_rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x5eed);
    let mut plan: Vec<Vec<(u64, events::PlantKind)>> = vec![Vec::new(); trails.len()];
    let kinds = events::PlantKind::cycle(opts.openings.max(2));
    for (i, kind) in kinds.into_iter().enumerate() {
        let trail = (i * 7 + 3) % trails.len();
        let slot = plant_rng.random_range(slots / 10..slots - 2);
        plan[trail].push((slot, kind));
    }

    let results: Vec<Result<events::TrailOutput, GenError>> = std::thread::scope(|s| {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let chunks: Vec<Vec<usize>> = (0..workers)
            .map(|w| (0..trails.len()).filter(|t| t % workers == w).collect())
            .collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let trails = &trails;
                let plan = &plan;
                let accounts = &accounts;
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|t| {
                            let (a, r) = trails[t];
                            let ctx = events::TrailCtx {
                                account: &accounts[a],
                                accounts,
                                region: &opts.regions[r],
                                seed: opts.seed.wrapping_mul(1_000_003).wrapping_add(t as u64),
                            };
                            write_trail(dir, opts, &ctx, slots, per_file, &plan[t])
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("generator thread"))
            .collect()
    });

    let mut truth = GroundTruth {
        seed: opts.seed,
        events: 0,
        files: 0,
        accounts: accounts.clone(),
        regions: opts.regions.clone(),
        start: opts.start.to_string(),
        days: opts.days,
        openings: Vec::new(),
        failed_attempts: Vec::new(),
    };
    for r in results {
        let r = r?;
        truth.events += r.events;
        truth.files += r.files;
        for p in r.planted {
            if p.error_code.is_some() {
                truth.failed_attempts.push(p);
            } else {
                truth.openings.push(p);
            }
        }
    }
    truth
        .openings
        .sort_by(|a, b| a.event_time.cmp(&b.event_time));
    truth
        .failed_attempts
        .sort_by(|a, b| a.event_time.cmp(&b.event_time));
    let gt = dir.join("ground-truth.json");
    let text = serde_json::to_string_pretty(&truth).expect("ground truth serializes");
    std::fs::write(&gt, text).map_err(io(&gt))?;
    Ok(truth)
}

fn write_trail(
    dir: &Path,
    opts: &GenOptions,
    ctx: &events::TrailCtx<'_>,
    slots: u64,
    per_file: f64,
    plants: &[(u64, events::PlantKind)],
) -> Result<events::TrailOutput, GenError> {
    let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed);
    let mut gen = events::EventGen::new(ctx);
    let mut out = events::TrailOutput::default();
    let start = Utc.from_utc_datetime(&opts.start.and_hms_opt(0, 0, 0).expect("midnight"));
    let mut buf = Vec::with_capacity(1 << 20);
    for slot in 0..slots {
        let delivered = start + Duration::minutes(5 * (slot as i64 + 1));
        // Activity varies: busier during the (UTC) working day, quiet at night.
        let hour = (slot / 12) % 24;
        let load = if (8..20).contains(&hour) { 1.5 } else { 0.5 };
        let mean = per_file * load;
        let n = (mean * rng.random_range(0.0..2.0)).round() as u64;
        let planted_here: Vec<_> = plants.iter().filter(|(s, _)| *s == slot).collect();
        if n == 0 && planted_here.is_empty() {
            continue;
        }
        buf.clear();
        buf.extend_from_slice(b"{\"Records\":[");
        let mut first = true;
        let mut push = |buf: &mut Vec<u8>, rec: &str| {
            if !first {
                buf.push(b',');
            }
            first = false;
            buf.extend_from_slice(rec.as_bytes());
        };
        for (_, kind) in &planted_here {
            let (rec, planted) = gen.planted(&mut rng, delivered, *kind);
            push(&mut buf, &rec);
            out.planted.push(planted);
            out.events += 1;
        }
        for _ in 0..n {
            let rec = gen.event(&mut rng, delivered);
            push(&mut buf, &rec);
            out.events += 1;
        }
        buf.extend_from_slice(b"]}");
        let date = delivered.date_naive();
        let mut sub = PathBuf::from(dir);
        sub.push("AWSLogs");
        if let Some(org) = &opts.org_id {
            sub.push(org);
        }
        sub.push(ctx.account);
        sub.push("CloudTrail");
        sub.push(ctx.region);
        sub.push(date.format("%Y").to_string());
        sub.push(date.format("%m").to_string());
        sub.push(date.format("%d").to_string());
        std::fs::create_dir_all(&sub).map_err(io(&sub))?;
        let name = format!(
            "{}_CloudTrail_{}_{}_{}.json.gz",
            ctx.account,
            ctx.region,
            delivered.format("%Y%m%dT%H%MZ"),
            events::alnum(&mut rng, 16)
        );
        let path = sub.join(name);
        let mut enc = GzEncoder::new(
            Vec::with_capacity(buf.len() / 6),
            Compression::new(opts.level),
        );
        enc.write_all(&buf).map_err(io(&path))?;
        let gz = enc.finish().map_err(io(&path))?;
        std::fs::write(&path, gz).map_err(io(&path))?;
        out.files += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_complete() {
        let opts = GenOptions {
            events: 3_000,
            days: 1,
            accounts: 2,
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            ..GenOptions::default()
        };
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ta = generate(a.path(), &opts).unwrap();
        let tb = generate(b.path(), &opts).unwrap();
        assert_eq!(ta.events, tb.events);
        assert!(ta.events > 2_000 && ta.events < 4_000, "{}", ta.events);
        assert_eq!(ta.openings.len() + ta.failed_attempts.len(), 6);
        assert!(ta.openings.iter().any(|p| p.shape == "nested"));
        assert!(ta.openings.iter().any(|p| p.shape == "top-level"));
        assert!(!ta.failed_attempts.is_empty());
        let read = |d: &Path| {
            let mut v: Vec<(String, Vec<u8>)> = walk(d)
                .into_iter()
                .map(|p| {
                    (
                        p.strip_prefix(d).unwrap().display().to_string(),
                        std::fs::read(&p).unwrap(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(read(a.path()), read(b.path()), "same seed, same bytes");
    }

    fn walk(d: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
