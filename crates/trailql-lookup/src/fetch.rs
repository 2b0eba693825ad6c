//! Read an account's event history with LookupEvents: every region in parallel, each paced to
//! the API's limit (two requests a second per account and region), pages followed by their
//! `NextToken`, throttling and transient failures retried with backoff, and each event's
//! `CloudTrailEvent` — the record exactly as a trail file holds it — handed to a [`TrailWriter`].

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration as StdDuration;

use aws_sdk_cloudtrail::config::retry::RetryConfig;
use aws_sdk_cloudtrail::config::Region;
use aws_sdk_cloudtrail::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudtrail::primitives::DateTime as SdkTime;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use tokio::time::{interval, sleep, MissedTickBehavior};
use trailql_s3::SdkConfig;

use crate::attribute::{Key, Lookup};
use crate::files::TrailWriter;

/// How far back LookupEvents reaches.
pub const HISTORY_DAYS: i64 = 90;
/// Most events a page holds.
const PAGE_SIZE: i32 = 50;
/// Warnings kept word for word; the rest are counted.
const MAX_WARNINGS: usize = 100;

/// What to look up.
#[derive(Debug, Clone)]
pub struct Request {
    /// Regions to read (at least one).
    pub regions: Vec<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The attribute sent to the API; `None`: every event of the window.
    pub lookup: Option<Lookup>,
    /// Time between two requests to one region (the API allows two a second).
    pub pace: StdDuration,
    /// Attempts of one page before giving up, and the first wait after a failed one (doubled
    /// after each, at most 20 s).
    pub attempts: u32,
    pub backoff: StdDuration,
}

impl Request {
    pub fn new(regions: Vec<String>, start: DateTime<Utc>, end: DateTime<Utc>) -> Request {
        Request {
            regions,
            start,
            end,
            lookup: None,
            pace: StdDuration::from_millis(500),
            attempts: 8,
            backoff: StdDuration::from_secs(1),
        }
    }
}

/// The window LookupEvents can answer for `[start, end)` at `now`: at most the last 90 days,
/// and not past now. The note says what was cut, for the user: events outside the history are
/// not in the answer.
pub fn window(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>, Option<String>) {
    // A minute's slack so the oldest second is still inside the history when the call is made.
    let oldest = now - Duration::days(HISTORY_DAYS) + Duration::minutes(1);
    let end = end.map_or(now, |e| e.min(now));
    let mut note = None;
    let start = match start {
        Some(s) if s >= oldest => s,
        Some(s) => {
            note = Some(format!(
                "LookupEvents holds the last {HISTORY_DAYS} days: events from {} to {} are not in this answer (read the trail's bucket for them)",
                s.format("%Y-%m-%dT%H:%M:%SZ"),
                oldest.format("%Y-%m-%dT%H:%M:%SZ")
            ));
            oldest
        }
        None => oldest,
    };
    (start, end.max(start), note)
}

/// Counters for a progress bar, updated as pages arrive.
#[derive(Debug, Default)]
pub struct Progress {
    pub pages: AtomicU64,
    pub events: AtomicU64,
    /// Requests the API refused for the rate (or failed transiently) and that were sent again.
    pub retried: AtomicU64,
    /// Per region, the share of its work done (0 to 1): pages come newest first, so the share of
    /// the window older than the oldest event seen.
    covered: Mutex<BTreeMap<String, f64>>,
}

impl Progress {
    /// The share done by the slowest region.
    pub fn done(&self) -> f64 {
        let c = self.covered.lock().expect("progress");
        c.values()
            .copied()
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))))
            .unwrap_or(0.0)
    }

    fn set(&self, region: &str, share: f64) {
        self.covered
            .lock()
            .expect("progress")
            .insert(region.to_string(), share.clamp(0.0, 1.0));
    }
}

/// What a fetch read and wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub pages: u64,
    pub events: u64,
    pub files: u64,
    pub retried: u64,
    /// Events left out, each named in `warnings` (up to 100).
    pub bad: u64,
    pub warnings: Vec<String>,
}

impl Fetched {
    fn warn(&mut self, w: String) {
        self.bad += 1;
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        }
    }

    fn add(&mut self, o: Fetched) {
        self.pages += o.pages;
        self.events += o.events;
        self.files += o.files;
        self.retried += o.retried;
        self.bad += o.bad;
        for w in o.warnings {
            if self.warnings.len() < MAX_WARNINGS {
                self.warnings.push(w);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("CloudTrail LookupEvents in {region}: {detail}")]
    Api { region: String, detail: String },
    #[error("cannot write the looked-up events under {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Read the window of every region of `req` into trail files under `out`.
pub async fn fetch(
    sdk: &SdkConfig,
    req: &Request,
    out: &Path,
    progress: &Progress,
) -> Result<Fetched, LookupError> {
    for r in &req.regions {
        progress.set(r, 0.0);
    }
    let tasks = req
        .regions
        .iter()
        .enumerate()
        .map(|(i, region)| fetch_region(sdk, req, region, i, out, progress));
    let mut total = Fetched::default();
    for f in futures::future::try_join_all(tasks).await? {
        total.add(f);
    }
    Ok(total)
}

async fn fetch_region(
    sdk: &SdkConfig,
    req: &Request,
    region: &str,
    index: usize,
    out: &Path,
    progress: &Progress,
) -> Result<Fetched, LookupError> {
    let conf = aws_sdk_cloudtrail::config::Builder::from(sdk)
        .region(Region::new(region.to_string()))
        // Retries are ours: paced, counted, and told apart from errors worth stopping for.
        .retry_config(RetryConfig::disabled())
        .build();
    let client = aws_sdk_cloudtrail::Client::from_conf(conf);
    let api_err = |detail: String| LookupError::Api {
        region: region.to_string(),
        detail,
    };
    let write_err = |source: std::io::Error| LookupError::Write {
        path: out.display().to_string(),
        source,
    };
    let mut tick = interval(req.pace.max(StdDuration::from_millis(1)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);

    let values: Vec<Option<(Key, &str)>> = match &req.lookup {
        Some(l) => l.values.iter().map(|v| Some((l.key, v.as_str()))).collect(),
        None => vec![None],
    };
    // An event can name several resources, so a lookup of several resource names may return it
    // more than once; the ids seen are kept for those lookups only.
    let mut seen: Option<HashSet<String>> = (values.len() > 1
        && matches!(
            req.lookup.as_ref().map(|l| l.key),
            Some(Key::ResourceName | Key::ResourceType)
        ))
    .then(HashSet::new);
    let span = (req.end - req.start).num_seconds().max(1) as f64;
    let mut done = Fetched::default();
    let mut writer = TrailWriter::new(out, region, &format!("L{index}x"));

    for (vi, value) in values.iter().enumerate() {
        let attrs = match value {
            Some((key, v)) => Some(vec![LookupAttribute::builder()
                .attribute_key(LookupAttributeKey::from(key.as_str()))
                .attribute_value(*v)
                .build()
                .map_err(|e| api_err(e.to_string()))?]),
            None => None,
        };
        let mut token: Option<String> = None;
        loop {
            let mut attempt = 0;
            let mut wait = req.backoff;
            let page = loop {
                tick.tick().await;
                attempt += 1;
                let sent = client
                    .lookup_events()
                    .set_lookup_attributes(attrs.clone())
                    .start_time(SdkTime::from_secs(req.start.timestamp()))
                    .end_time(SdkTime::from_secs(req.end.timestamp()))
                    .max_results(PAGE_SIZE)
                    .set_next_token(token.clone())
                    .send()
                    .await;
                match sent {
                    Ok(page) => break page,
                    Err(e) if attempt < req.attempts && retryable(&e) => {
                        done.retried += 1;
                        progress.retried.fetch_add(1, Ordering::Relaxed);
                        sleep(wait).await;
                        wait = (wait * 2).min(StdDuration::from_secs(20));
                    }
                    Err(e) => {
                        let how = if retryable(&e) {
                            format!(" (after {attempt} attempts)")
                        } else {
                            String::new()
                        };
                        return Err(api_err(format!(
                            "{}{how}. Check the credentials (environment, --profile, --role-arn) and that they allow cloudtrail:LookupEvents in this region",
                            DisplayErrorContext(&e)
                        )));
                    }
                }
            };
            done.pages += 1;
            progress.pages.fetch_add(1, Ordering::Relaxed);
            let mut oldest: Option<DateTime<Utc>> = None;
            for ev in page.events() {
                let id = ev.event_id().unwrap_or("(no EventId)");
                if let Some(seen) = seen.as_mut() {
                    if !seen.insert(id.to_string()) {
                        continue;
                    }
                }
                let api_time = ev
                    .event_time()
                    .and_then(|t| Utc.timestamp_opt(t.secs(), 0).single());
                oldest = match (oldest, api_time) {
                    (Some(o), Some(t)) => Some(o.min(t)),
                    (o, t) => o.or(t),
                };
                let Some(text) = ev.cloud_trail_event() else {
                    done.warn(format!(
                        "LookupEvents {region}: event {id} came without its CloudTrailEvent; left out"
                    ));
                    continue;
                };
                match record_place(text, api_time) {
                    Ok((account, time)) => {
                        writer
                            .push(&account, time, text.to_string())
                            .map_err(write_err)?;
                        done.events += 1;
                        progress.events.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(why) => done.warn(format!(
                        "LookupEvents {region}: event {id}: its CloudTrailEvent {why}; left out"
                    )),
                }
            }
            let share = oldest.map_or(0.0, |o| (req.end - o).num_seconds() as f64 / span);
            progress.set(
                region,
                (vi as f64 + share.clamp(0.0, 1.0)) / values.len() as f64,
            );
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        progress.set(region, (vi + 1) as f64 / values.len() as f64);
    }
    done.files = writer.finish().map_err(write_err)?;
    Ok(done)
}

/// The account and time a record is filed under, from its own JSON (the API's time when the
/// record has none); or why it cannot be read as a record.
fn record_place(
    text: &str,
    api_time: Option<DateTime<Utc>>,
) -> Result<(String, DateTime<Utc>), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("is not JSON ({e})"))?;
    let Value::Object(m) = &v else {
        return Err("is not a JSON object".into());
    };
    let account = [
        m.get("recipientAccountId"),
        m.get("userIdentity").and_then(|u| u.get("accountId")),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .find(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
    .ok_or("names no 12-digit recipientAccountId")?;
    let time = m
        .get("eventTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .or(api_time)
        .ok_or("has no eventTime")?;
    Ok((account.to_string(), time))
}

/// Worth sending again: the API's rate refusals, its own failures, timeouts and broken
/// connections — not a refusal of the credentials or the request.
fn retryable<E: ProvideErrorMetadata, R: std::fmt::Debug>(e: &SdkError<E, R>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(d) => d.is_timeout() || d.is_io(),
        SdkError::ServiceError(_) => matches!(
            e.code(),
            Some(
                "ThrottlingException"
                    | "Throttling"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
                    | "ServiceUnavailableException"
                    | "InternalFailure"
                    | "InternalServerError"
            )
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_cut_to_the_history() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
        let (s, e, note) = window(None, None, now);
        assert_eq!(e, now);
        assert_eq!(s, now - Duration::days(90) + Duration::minutes(1));
        assert!(note.is_none());
        let long_ago = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let (s2, _, note) = window(Some(long_ago), Some(now + Duration::days(1)), now);
        assert_eq!(s2, s);
        assert!(note.unwrap().contains("events from 2026-01-01T00:00:00Z"));
        let recent = now - Duration::days(2);
        let (s3, e3, note) = window(Some(recent), Some(recent - Duration::days(1)), now);
        assert_eq!((s3, e3, note), (recent, recent, None));
    }

    #[test]
    fn records_are_filed_by_their_own_account_and_time() {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let (a, time) = record_place(
            r#"{"eventTime":"2026-11-30T10:00:00Z","recipientAccountId":"123456789012"}"#,
            Some(t),
        )
        .unwrap();
        assert_eq!(a, "123456789012");
        assert_eq!(time, Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap());
        let (_, time) =
            record_place(r#"{"userIdentity":{"accountId":"123456789012"}}"#, Some(t)).unwrap();
        assert_eq!(time, t);
        assert!(record_place("[1]", None)
            .unwrap_err()
            .contains("not a JSON object"));
        assert!(record_place("{\"x\":", None)
            .unwrap_err()
            .contains("is not JSON"));
        assert!(record_place("{}", Some(t))
            .unwrap_err()
            .contains("recipientAccountId"));
        let deep = "[".repeat(10_000);
        assert!(record_place(&deep, None).is_err());
    }
}
