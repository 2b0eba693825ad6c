//! The [`Store`] of a trail bucket: only the window's digests and log files are listed (pruned by
//! account, region and day like queries), objects are read with GET, and a digest's `signature`
//! comes from its S3 object metadata, as CloudTrail writes it.

use std::collections::{BTreeSet, HashMap};
use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex};

use chrono::Duration;
use trailql_layout::{ListScope, TimeWindow};
use trailql_s3::{Folder, S3Client, S3Url};

use crate::rt::Rt;
use crate::store::Store;
use crate::validate::Options;

pub struct S3Store {
    rt: Rt,
    client: Arc<S3Client>,
    url: S3Url,
    /// The key prefix that holds `AWSLogs/`.
    root: String,
    logs: ListScope,
    digests: ListScope,
    /// `signature` metadata seen when digests were read.
    signatures: Mutex<HashMap<String, Option<String>>>,
}

fn set(v: &Option<String>) -> Option<BTreeSet<String>> {
    v.as_ref().map(|s| [s.clone()].into())
}

impl S3Store {
    /// A store over `url` for the window and filters of `opts`, for synchronous callers.
    pub fn new(client: Arc<S3Client>, url: S3Url, opts: &Options) -> Result<S3Store, String> {
        Ok(S3Store::with_runtime(Rt::own()?, client, url, opts))
    }

    /// The same, used from a blocking task (`spawn_blocking`) of the runtime `handle`.
    pub fn with_handle(
        handle: tokio::runtime::Handle,
        client: Arc<S3Client>,
        url: S3Url,
        opts: &Options,
    ) -> S3Store {
        S3Store::with_runtime(Rt::Shared(handle), client, url, opts)
    }

    fn with_runtime(rt: Rt, client: Arc<S3Client>, url: S3Url, opts: &Options) -> S3Store {
        let root = match url.prefix.find("AWSLogs") {
            Some(i) if i == 0 || url.prefix[..i].ends_with('/') => url.prefix[..i].to_string(),
            _ if url.prefix.is_empty() => String::new(),
            _ => format!("{}/", url.prefix.trim_end_matches('/')),
        };
        let (accounts, regions) = (set(&opts.account), set(&opts.region));
        S3Store {
            rt,
            client,
            url,
            root,
            // Log files delivered in the window (validate keeps [start - 1 min, end)).
            logs: ListScope {
                accounts: accounts.clone(),
                regions: regions.clone(),
                window: TimeWindow {
                    start: Some(opts.start - Duration::minutes(1)),
                    end: Some(opts.end),
                },
                late_margin: Some(Duration::zero()),
            },
            // Digests whose period ends in the window (validate keeps up to end + 1 h).
            digests: ListScope {
                accounts,
                regions,
                window: TimeWindow {
                    start: Some(opts.start),
                    end: Some(opts.end),
                },
                late_margin: Some(Duration::hours(2)),
            },
            signatures: Mutex::new(HashMap::new()),
        }
    }

    fn list(&self, scope: &ListScope, folder: Folder) -> Result<Vec<String>, String> {
        let listing = self
            .rt
            .block_on(self.client.list_folder(&self.url, scope, folder))
            .map_err(|e| e.to_string())?;
        if let Some((prefix, problem)) = listing.problems.first() {
            return Err(format!("{prefix}: cannot list: {problem}"));
        }
        Ok(listing
            .files
            .into_iter()
            .filter_map(|f| match f.location {
                trailql_layout::Location::Object { key, .. } => {
                    key.strip_prefix(&self.root).map(str::to_string)
                }
                trailql_layout::Location::Local(_) => None,
            })
            .collect())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let full = format!("{}{key}", self.root);
        let got = self
            .rt
            .block_on(self.client.fetch_with_metadata(&self.url.bucket, &full))
            .map_err(|e| e.to_string())?;
        Ok(got.map(|(bytes, meta)| {
            self.signatures
                .lock()
                .expect("signature map")
                .insert(key.to_string(), meta.get("signature").cloned());
            bytes.to_vec()
        }))
    }
}

impl Store for S3Store {
    fn keys(&self) -> Result<Vec<String>, String> {
        let mut keys = self.list(&self.digests, Folder::Digests)?;
        keys.extend(self.list(&self.logs, Folder::Logs)?);
        Ok(keys)
    }

    fn open(&self, key: &str) -> Result<Option<Box<dyn Read + '_>>, String> {
        Ok(self
            .get(key)?
            .map(|b| Box::new(Cursor::new(b)) as Box<dyn Read>))
    }

    fn signature(&self, key: &str) -> Option<String> {
        if let Some(s) = self.signatures.lock().expect("signature map").get(key) {
            return s.clone();
        }
        self.get(key).ok().flatten()?;
        self.signatures
            .lock()
            .expect("signature map")
            .get(key)
            .cloned()
            .flatten()
    }
}
