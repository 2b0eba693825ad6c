//! Events from LookupEvents, written where a trail would have delivered them:
//! `AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_ID.json.gz`,
//! a gzip'd `{"Records":[…]}` of the events' own JSON text, untouched. The decoder then reads
//! them exactly as it reads a trail's files — same columns, same warnings, same pruning by key.
//!
//! A file holds the events of one account and one five-minute span (as CloudTrail delivers
//! about every five minutes) and is named after the span's end, so its name's delivery time is
//! after every event in it, as a trail file's is, and pruning by key stays exact.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, DurationRound, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;

/// The span of event time one file covers.
pub const SPAN_MINUTES: i64 = 5;
/// Most events in one file, and most bytes of their JSON held before writing it.
const MAX_EVENTS: usize = 2_000;
const MAX_BYTES: usize = 8 << 20;

struct Chunk {
    account: String,
    stamp: DateTime<Utc>,
    records: Vec<String>,
    bytes: usize,
}

/// Writes one region's events (in any order) as trail files under `root`.
pub struct TrailWriter {
    root: PathBuf,
    region: String,
    /// Makes the file names of this writer unique among all writers of one fetch.
    tag: String,
    seq: u64,
    chunk: Option<Chunk>,
    files: u64,
}

impl TrailWriter {
    pub fn new(root: &Path, region: &str, tag: &str) -> TrailWriter {
        TrailWriter {
            root: root.to_path_buf(),
            region: region.to_string(),
            tag: tag.to_string(),
            seq: 0,
            chunk: None,
            files: 0,
        }
    }

    /// Add one event's JSON text, of `account`, that happened at `time`.
    pub fn push(&mut self, account: &str, time: DateTime<Utc>, json: String) -> io::Result<()> {
        let stamp = span_end(time);
        let full = self.chunk.as_ref().is_some_and(|c| {
            c.account != account
                || c.stamp != stamp
                || c.records.len() >= MAX_EVENTS
                || c.bytes >= MAX_BYTES
        });
        if full {
            self.flush()?;
        }
        let chunk = self.chunk.get_or_insert_with(|| Chunk {
            account: account.to_string(),
            stamp,
            records: Vec::new(),
            bytes: 0,
        });
        chunk.bytes += json.len();
        chunk.records.push(json);
        Ok(())
    }

    /// Write what is held; returns how many files this writer wrote.
    pub fn finish(mut self) -> io::Result<u64> {
        self.flush()?;
        Ok(self.files)
    }

    fn flush(&mut self) -> io::Result<()> {
        let Some(c) = self.chunk.take() else {
            return Ok(());
        };
        self.seq += 1;
        let dir = self
            .root
            .join("AWSLogs")
            .join(&c.account)
            .join("CloudTrail")
            .join(&self.region)
            .join(c.stamp.format("%Y/%m/%d").to_string());
        std::fs::create_dir_all(&dir)?;
        let name = format!(
            "{}_CloudTrail_{}_{}_{}{:06}.json.gz",
            c.account,
            self.region,
            c.stamp.format("%Y%m%dT%H%MZ"),
            self.tag,
            self.seq
        );
        let file = std::fs::File::create(dir.join(name))?;
        let mut gz = GzEncoder::new(io::BufWriter::new(file), Compression::fast());
        gz.write_all(b"{\"Records\":[")?;
        for (i, r) in c.records.iter().enumerate() {
            if i > 0 {
                gz.write_all(b",")?;
            }
            gz.write_all(r.as_bytes())?;
        }
        gz.write_all(b"]}")?;
        gz.finish()?.flush()?;
        self.files += 1;
        Ok(())
    }
}

/// The end of the five-minute span `t` falls in (a time at a span's start opens the next span).
pub fn span_end(t: DateTime<Utc>) -> DateTime<Utc> {
    let span = Duration::minutes(SPAN_MINUTES);
    t.duration_trunc(span).unwrap_or(t) + span
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::io::Read;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, h, m, s).unwrap()
    }

    #[test]
    fn files_follow_the_trail_layout_and_hold_the_events_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TrailWriter::new(dir.path(), "eu-west-1", "a");
        // Newest first, as LookupEvents returns them: two spans, then another account.
        w.push("111122223333", t(23, 59, 0), r#"{"eventID":"3"}"#.into())
            .unwrap();
        w.push("111122223333", t(23, 55, 0), r#"{"eventID":"2"}"#.into())
            .unwrap();
        w.push("111122223333", t(23, 54, 59), r#"{"eventID":"1"}"#.into())
            .unwrap();
        w.push("444455556666", t(23, 54, 0), r#"{"eventID":"0"}"#.into())
            .unwrap();
        assert_eq!(w.finish().unwrap(), 3);
        let mut found: Vec<(String, String)> = walkdir::WalkDir::new(dir.path())
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                let mut text = String::new();
                flate2::read::GzDecoder::new(std::fs::File::open(e.path()).unwrap())
                    .read_to_string(&mut text)
                    .unwrap();
                let rel = e.path().strip_prefix(dir.path()).unwrap();
                (rel.to_string_lossy().into_owned(), text)
            })
            .collect();
        found.sort();
        assert_eq!(
            found,
            vec![
                (
                    "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/30/111122223333_CloudTrail_eu-west-1_20261130T2355Z_a000002.json.gz".to_string(),
                    r#"{"Records":[{"eventID":"1"}]}"#.to_string()
                ),
                (
                    "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/12/01/111122223333_CloudTrail_eu-west-1_20261201T0000Z_a000001.json.gz".to_string(),
                    r#"{"Records":[{"eventID":"3"},{"eventID":"2"}]}"#.to_string()
                ),
                (
                    "AWSLogs/444455556666/CloudTrail/eu-west-1/2026/11/30/444455556666_CloudTrail_eu-west-1_20261130T2355Z_a000003.json.gz".to_string(),
                    r#"{"Records":[{"eventID":"0"}]}"#.to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_span_ends_after_every_event_in_it() {
        assert_eq!(span_end(t(10, 0, 0)), t(10, 5, 0));
        assert_eq!(span_end(t(10, 4, 59)), t(10, 5, 0));
        assert_eq!(span_end(t(10, 5, 0)), t(10, 10, 0));
    }
}
