//! What is new in the sources: each poll lists the trail files delivered since the newest one
//! processed, minus the late-delivery margin (local folders walked with their day folders
//! pruned, S3 region prefixes listed with `start-after`), and keeps those the state has not
//! processed in that shape (same size and ETag or modification time), oldest delivery first.

use std::path::PathBuf;
use std::time::SystemTime;

use chrono::{DateTime, NaiveTime, Utc};
use futures::StreamExt;
use trailql_layout::{walk_local, KeyKind, ListScope, Location, SourceFile, Walked};
use trailql_s3::{Listed, S3Client, S3Url};

use crate::state::{FileMark, State};

/// A source to follow.
#[derive(Debug, Clone)]
pub enum Source {
    Local(PathBuf),
    S3(S3Url),
}

/// A file to process.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub file: SourceFile,
    pub mark: FileMark,
    /// A local file modified a moment ago may still be being written.
    pub fresh: bool,
}

/// What one poll found.
#[derive(Debug, Default)]
pub struct Poll {
    /// New or changed files, oldest delivery first.
    pub new: Vec<Candidate>,
    /// Listed files, new or not.
    pub listed: u64,
    /// Digests, Config and other files of the tree that are not trail log files.
    pub not_events: u64,
    /// Places that could not be listed (what, why); the poll went on.
    pub problems: Vec<(String, String)>,
}

/// How long after its last modification a local file counts as possibly still being written.
pub const FRESH_SECS: u64 = 5;

/// The delivery time a key says, or the start of its day folder.
fn delivered(kind: &KeyKind) -> Option<DateTime<Utc>> {
    match kind {
        KeyKind::TrailLog(k) => k
            .delivered
            .or_else(|| Some(k.date.and_time(NaiveTime::MIN).and_utc())),
        _ => None,
    }
}

fn wanted(kind: &KeyKind) -> Option<bool> {
    match kind {
        KeyKind::TrailLog(_) | KeyKind::LooseJson => Some(true),
        KeyKind::NotEvents(_) => Some(false),
        KeyKind::Other => None,
    }
}

/// List `sources` within `scope` and keep what `state` has not processed.
pub async fn poll(
    sources: &[Source],
    scope: &ListScope,
    s3: Option<&S3Client>,
    state: &State,
) -> Poll {
    let mut out = Poll::default();
    let mut found = Vec::new();
    let local: Vec<PathBuf> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Local(p) => Some(p.clone()),
            Source::S3(_) => None,
        })
        .collect();
    if !local.is_empty() {
        let walked = walk_local(&local, scope, |w| {
            match w {
                Walked::File(f) => found.push(f),
                Walked::Problem(p) => out.problems.push((p.path, p.message)),
            }
            true
        });
        if let Err(e) = walked {
            out.problems
                .push(("local source".to_string(), e.to_string()));
        }
    }
    for src in sources {
        let Source::S3(url) = src else { continue };
        let Some(client) = s3 else {
            out.problems
                .push((url.to_string(), "no S3 client".to_string()));
            continue;
        };
        match client.list_stream(url, scope).await {
            Ok(mut stream) => {
                while let Some(item) = stream.next().await {
                    match item {
                        Listed::File(f) => found.push(f),
                        Listed::Problem { prefix, message } => out.problems.push((prefix, message)),
                    }
                }
            }
            Err(e) => out.problems.push((url.to_string(), e.to_string())),
        }
    }
    let now = SystemTime::now();
    for file in found {
        match wanted(&file.kind) {
            Some(true) => {}
            Some(false) => {
                out.not_events += 1;
                continue;
            }
            None => continue,
        }
        out.listed += 1;
        let (tag, fresh) = match &file.location {
            Location::Object { etag, .. } => (etag.clone(), false),
            Location::Local(p) => {
                let modified = std::fs::metadata(p).and_then(|m| m.modified()).ok();
                let tag = modified
                    .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map(|d| format!("{}.{:09}", d.as_secs(), d.subsec_nanos()));
                let fresh = modified
                    .and_then(|m| now.duration_since(m).ok())
                    .is_none_or(|age| age.as_secs() < FRESH_SECS);
                (tag, fresh)
            }
        };
        let mark = FileMark {
            size: file.size,
            tag,
            delivered: delivered(&file.kind),
        };
        let before_start = scope
            .window
            .start
            .zip(mark.delivered)
            .is_some_and(|(start, d)| d < start);
        if !before_start && !state.has(&file.display, &mark) {
            out.new.push(Candidate { file, mark, fresh });
        }
    }
    out.new.sort_by(|a, b| {
        (a.mark.delivered, &a.file.display).cmp(&(b.mark.delivered, &b.file.display))
    });
    out
}

/// A file's content: bytes held, or a file read as it is decoded (large ones, so that memory
/// holds a window of them, not all).
#[derive(Debug)]
pub enum Raw {
    Bytes(Vec<u8>),
    File(std::fs::File),
}

/// Local files larger than this are decoded as they are read.
const READ_WHOLE_MAX: u64 = 16 << 20;
/// Objects larger than this are spooled to a temporary file rather than held.
const SPOOL_OBJECTS_OVER: u64 = 4 << 20;

/// The content of a candidate, or why it could not be read.
pub async fn read(c: &Candidate, s3: Option<&S3Client>) -> Result<Raw, String> {
    match &c.file.location {
        Location::Local(p) if c.file.size > READ_WHOLE_MAX => std::fs::File::open(p)
            .map(Raw::File)
            .map_err(|e| format!("cannot read it: {e}")),
        Location::Local(p) => std::fs::read(p)
            .map(Raw::Bytes)
            .map_err(|e| format!("cannot read it: {e}")),
        Location::Object { bucket, key, etag } => match s3 {
            Some(client) if c.file.size > SPOOL_OBJECTS_OVER => client
                .fetch_to_file(bucket, key)
                .await
                .map(Raw::File)
                .map_err(|e| format!("cannot read the object: {e}")),
            Some(client) => client
                .fetch(bucket, key, etag.as_deref())
                .await
                .map(|b| Raw::Bytes(b.to_vec()))
                .map_err(|e| format!("cannot read the object: {e}")),
            None => Err("an S3 object but no S3 client (internal error)".to_string()),
        },
    }
}
