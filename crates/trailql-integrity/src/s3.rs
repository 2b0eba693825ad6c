//! The [`Store`] of a trail bucket: one delimited LIST per folder level the validation walks
//! (pruned by account, region and day), objects read with GET, and a digest's `signature` taken
//! from its S3 object metadata, as CloudTrail writes it.

use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex};

use trailql_s3::{S3Client, S3Url};

use crate::rt::Rt;
use crate::store::{Dir, Store};

/// An object's bytes and its `signature` metadata.
type Object = (Vec<u8>, Option<String>);

pub struct S3Store {
    rt: Rt,
    client: Arc<S3Client>,
    url: S3Url,
    /// The key prefix that holds `AWSLogs/`.
    root: String,
    /// Where the source points from `AWSLogs/` on (an organization or account folder, or none).
    scope: String,
    /// The last digest fetched for its signature, so reading it next costs no second GET.
    last: Mutex<Option<(String, Vec<u8>)>>,
}

impl S3Store {
    /// A store over `url`, for synchronous callers.
    pub fn new(client: Arc<S3Client>, url: S3Url) -> Result<S3Store, String> {
        Ok(S3Store::with_runtime(Rt::own()?, client, url))
    }

    /// The same, used from a blocking task (`spawn_blocking`) of the runtime `handle`.
    pub fn with_handle(
        handle: tokio::runtime::Handle,
        client: Arc<S3Client>,
        url: S3Url,
    ) -> S3Store {
        S3Store::with_runtime(Rt::Shared(handle), client, url)
    }

    fn with_runtime(rt: Rt, client: Arc<S3Client>, url: S3Url) -> S3Store {
        let (root, scope) = match url.prefix.find("AWSLogs") {
            Some(i) if i == 0 || url.prefix[..i].ends_with('/') => {
                let below = url.prefix[i..].trim_end_matches('/');
                (url.prefix[..i].to_string(), format!("{below}/"))
            }
            _ if url.prefix.is_empty() => (String::new(), "AWSLogs/".into()),
            _ => (
                format!("{}/", url.prefix.trim_end_matches('/')),
                "AWSLogs/".into(),
            ),
        };
        S3Store {
            rt,
            client,
            url,
            root,
            scope,
            last: Mutex::new(None),
        }
    }

    fn get(&self, key: &str) -> Result<Option<Object>, String> {
        let full = format!("{}{key}", self.root);
        let got = self
            .rt
            .block_on(self.client.fetch_with_metadata(&self.url.bucket, &full))
            .map_err(|e| e.to_string())?;
        Ok(got.map(|(bytes, meta)| (bytes.to_vec(), meta.get("signature").cloned())))
    }
}

impl Store for S3Store {
    fn scope(&self) -> String {
        self.scope.clone()
    }

    fn list(&self, prefix: &str) -> Result<Dir, String> {
        let full = format!("{}{prefix}", self.root);
        let (folders, files) = self
            .rt
            .block_on(self.client.list_dir(&self.url.bucket, &full))
            .map_err(|e| e.to_string())?;
        let files = files
            .into_iter()
            .filter_map(|k| k.strip_prefix(&self.root).map(str::to_string))
            .collect();
        Ok(Dir { folders, files })
    }

    fn open(&self, key: &str) -> Result<Option<Box<dyn Read + '_>>, String> {
        // Take the kept digest out first: the lock is not held across a GET.
        let kept = self.last.lock().expect("last digest").take();
        let bytes = match kept {
            Some((k, b)) if k == key => Some(b),
            _ => self.get(key)?.map(|(b, _)| b),
        };
        Ok(bytes.map(|b| Box::new(Cursor::new(b)) as Box<dyn Read>))
    }

    fn signature(&self, key: &str) -> Option<String> {
        let (bytes, sig) = self.get(key).ok().flatten()?;
        *self.last.lock().expect("last digest") = Some((key.to_string(), bytes));
        sig
    }
}
