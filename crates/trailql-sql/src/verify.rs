//! The `"$verified"` column: before a scan that reads it, the files it will read are validated
//! against their CloudTrail digests (digest chain, signatures, SHA-256 of each file) with
//! trailql-integrity, per local copy or bucket, over the span of delivery times they cover.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use trailql_integrity::{validate, LocalStore, Options, PublicKeys, S3Store, Store};
use trailql_layout::{KeyKind, Location, SourceFile};
use trailql_s3::{S3Client, S3Url};

use crate::report::ScanReport;

/// Where a group of files is validated from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Root {
    /// The folder holding `AWSLogs/`, as displayed (with a trailing `/`).
    Local(String),
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl Root {
    /// How the files under this root are displayed, up to `AWSLogs/`.
    fn display(&self) -> String {
        match self {
            Root::Local(d) => d.clone(),
            Root::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

fn root_of(f: &SourceFile) -> Option<Root> {
    match &f.location {
        Location::Local(_) => {
            let i = f.display.find("AWSLogs/")?;
            Some(Root::Local(f.display[..i].to_string()))
        }
        Location::Object { bucket, key, .. } => {
            let i = key.find("AWSLogs/")?;
            Some(Root::S3 {
                bucket: bucket.clone(),
                prefix: key[..i].to_string(),
            })
        }
    }
}

/// The displays of the files among `files` that validated. Problems that stop a validation
/// are warnings; the files concerned are simply not verified.
pub async fn verified_files(
    files: &[Arc<SourceFile>],
    keys: Arc<PublicKeys>,
    s3: Option<Arc<S3Client>>,
    max_inflated: u64,
    report: &ScanReport,
) -> HashSet<String> {
    let mut spans: BTreeMap<Root, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    for f in files {
        let (KeyKind::TrailLog(k), Some(root)) = (&f.kind, root_of(f)) else {
            continue;
        };
        let Some(at) = k.delivered else { continue };
        let e = spans.entry(root).or_insert((at, at));
        *e = (e.0.min(at), e.1.max(at));
    }
    let mut valid = HashSet::new();
    for (root, (first, last)) in spans {
        let opts = Options {
            start: first,
            end: last + Duration::minutes(1),
            account: None,
            region: None,
            newest_signature: None,
            max_inflated,
            keep_valid_logs: true,
            after: Default::default(),
        };
        let (keys, s3, r) = (keys.clone(), s3.clone(), root.clone());
        let handle = tokio::runtime::Handle::current();
        let result = tokio::task::spawn_blocking(move || {
            let store: Box<dyn Store> = match &r {
                // `-s AWSLogs` displays files as `AWSLogs/…`: the root is the working folder.
                Root::Local(dir) if dir.is_empty() => Box::new(LocalStore::new(Path::new("."))?),
                Root::Local(dir) => Box::new(LocalStore::new(Path::new(dir))?),
                Root::S3 { bucket, prefix } => {
                    let client = s3.ok_or("an S3 file but no S3 client")?;
                    let url = S3Url {
                        bucket: bucket.clone(),
                        prefix: prefix.clone(),
                    };
                    Box::new(S3Store::with_handle(handle, client, url))
                }
            };
            validate(store.as_ref(), keys.as_ref(), &opts)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let shown = root.display();
        match result {
            Ok(rep) => {
                if !rep.ok {
                    report.warn(
                        &shown,
                        format!(
                            "integrity check found {} error(s) and {} warning(s) between {} and {}: rows from files that did not validate have \"$verified\" = false (run `trailql validate` for details)",
                            rep.errors, rep.warnings, rep.start, rep.end
                        ),
                    );
                }
                valid.extend(rep.valid_logs.iter().map(|k| format!("{shown}{k}")));
            }
            Err(e) => report.warn(
                &shown,
                format!("cannot check integrity: {e}; \"$verified\" is false for its files"),
            ),
        }
    }
    valid
}
