//! One client per run: an object_store S3 store per bucket (region found by HeadBucket unless
//! given), the SDK credential chain, retries with backoff, request counting and the cache.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::client::{HttpConnector, HttpRequestBody};
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig,
};
use tokio::sync::{Mutex, OnceCell};
use trailql_layout::ListScope;

use crate::cache::Cache;
use crate::credentials::{provider, SdkCredentials};
use crate::error::{classify, S3Error};
use crate::http::CountingConnector;
use crate::list::{list_source, Listed, Listing};
use crate::stats::S3Stats;
use crate::url::S3Url;

/// How to reach S3.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// A named profile of `~/.aws/config` (default: `AWS_PROFILE`, else `default`).
    pub profile: Option<String>,
    /// A role to assume with the base credentials.
    pub role_arn: Option<String>,
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); path-style requests.
    pub endpoint_url: Option<String>,
    /// The buckets' region; found with HeadBucket when not given.
    pub bucket_region: Option<String>,
    /// Send unsigned requests (public buckets).
    pub no_sign_request: bool,
    /// Keep fetched objects here, keyed by bucket, key and ETag.
    pub cache_dir: Option<PathBuf>,
    /// Most GETs in flight for a whole scan.
    pub concurrency: usize,
    /// Use these credentials instead of the SDK's default chain (still assumes `role_arn`).
    pub credentials: Option<SharedCredentialsProvider>,
    pub retry: RetryConfig,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            profile: None,
            role_arn: None,
            endpoint_url: None,
            bucket_region: None,
            no_sign_request: false,
            cache_dir: None,
            concurrency: 16,
            credentials: None,
            retry: RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(15),
                    base: 2.0,
                },
                max_retries: 8,
                retry_timeout: Duration::from_secs(180),
            },
        }
    }
}

/// The region assumed for an S3-compatible endpoint that does not name one.
const DEFAULT_REGION: &str = "us-east-1";

impl S3Options {
    /// An S3-compatible endpoint with fixed access keys instead of the SDK's chain.
    pub fn static_keys(endpoint: &str, key_id: &str, secret: &str) -> S3Options {
        S3Options {
            endpoint_url: Some(endpoint.to_string()),
            credentials: Some(SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(key_id, secret, None, None, "trailql"),
            )),
            ..S3Options::default()
        }
    }
}

/// How many times a GET whose body failed after object_store's own retries is tried again.
const FETCH_ATTEMPTS: usize = 3;

#[derive(Debug)]
pub struct S3Client {
    opts: S3Options,
    stats: Arc<S3Stats>,
    creds: OnceCell<Option<Arc<SdkCredentials>>>,
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
    cache: Option<Cache>,
}

impl S3Client {
    pub fn new(opts: S3Options) -> S3Client {
        S3Client {
            cache: opts.cache_dir.as_deref().map(Cache::new),
            opts,
            stats: Arc::new(S3Stats::default()),
            creds: OnceCell::new(),
            stores: Mutex::new(HashMap::new()),
        }
    }

    pub fn stats(&self) -> &Arc<S3Stats> {
        &self.stats
    }

    pub fn options(&self) -> &S3Options {
        &self.opts
    }

    fn client_options(&self) -> ClientOptions {
        let mut o = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(120));
        if self
            .opts
            .endpoint_url
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"))
        {
            o = o.with_allow_http(true);
        }
        o
    }

    async fn credentials(&self) -> Result<Option<Arc<SdkCredentials>>, S3Error> {
        self.creds
            .get_or_try_init(|| async {
                let p = provider(&self.opts).await?;
                if let Some(p) = &p {
                    p.check().await?;
                }
                Ok(p)
            })
            .await
            .cloned()
    }

    /// The store for a bucket, built on first use.
    pub async fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, S3Error> {
        let mut stores = self.stores.lock().await;
        if let Some(s) = stores.get(bucket) {
            return Ok(s.clone());
        }
        let creds = self.credentials().await?;
        let region = match &self.opts.bucket_region {
            Some(r) => r.clone(),
            None => self.bucket_region(bucket).await?,
        };
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(region)
            .with_retry(self.opts.retry.clone())
            .with_client_options(self.client_options())
            .with_http_connector(CountingConnector {
                stats: self.stats.clone(),
            });
        if let Some(e) = &self.opts.endpoint_url {
            b = b.with_endpoint(e.trim_end_matches('/'));
        }
        b = match creds {
            Some(c) => b.with_credentials(c),
            None => b.with_skip_signature(true),
        };
        let store: Arc<dyn ObjectStore> = Arc::new(b.build().map_err(|e| S3Error::Other {
            url: format!("s3://{bucket}"),
            detail: e.to_string(),
        })?);
        stores.insert(bucket.to_string(), store.clone());
        Ok(store)
    }

    /// HeadBucket (unsigned; S3 names the region even when it denies access).
    async fn bucket_region(&self, bucket: &str) -> Result<String, S3Error> {
        let url = match &self.opts.endpoint_url {
            Some(e) => format!("{}/{bucket}", e.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.amazonaws.com"),
        };
        let region_err = |detail: String| S3Error::Region {
            bucket: bucket.into(),
            detail,
        };
        let client = CountingConnector {
            stats: self.stats.clone(),
        }
        .connect(&self.client_options())
        .map_err(|e| region_err(e.to_string()))?;
        let req = http::Request::builder()
            .method("HEAD")
            .uri(&url)
            .body(HttpRequestBody::empty())
            .map_err(|e| region_err(e.to_string()))?;
        let mut last = String::new();
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            let r = match client.execute(req.clone()).await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("HEAD {url}: {e}");
                    continue;
                }
            };
            if r.status().as_u16() == 404 {
                return Err(S3Error::NoSuchBucket {
                    bucket: bucket.into(),
                });
            }
            if let Some(region) = r
                .headers()
                .get("x-amz-bucket-region")
                .and_then(|v| v.to_str().ok())
            {
                return Ok(region.to_string());
            }
            last = format!(
                "HEAD {url} answered {} without x-amz-bucket-region",
                r.status()
            );
            if !r.status().is_server_error() {
                break;
            }
        }
        if self.opts.endpoint_url.is_some() {
            // S3-compatible stores often refuse unsigned HEADs or name no region; they accept
            // the default one.
            return Ok(DEFAULT_REGION.to_string());
        }
        Err(region_err(last))
    }

    /// Stream the objects a question needs under one source, page by page as they are asked
    /// for. Fails when the source cannot be listed at all; a prefix that fails part way is a
    /// [`Listed::Problem`] and the listing goes on.
    pub async fn list_stream(
        &self,
        url: &S3Url,
        scope: &ListScope,
    ) -> Result<BoxStream<'static, Listed>, S3Error> {
        let store = self.store(&url.bucket).await?;
        list_source(store, url, scope).await
    }

    /// [`S3Client::list_stream`], collected and sorted by key.
    pub async fn list(&self, url: &S3Url, scope: &ListScope) -> Result<Listing, S3Error> {
        let mut out = Listing::default();
        let mut stream = self.list_stream(url, scope).await?;
        while let Some(item) = stream.next().await {
            match item {
                Listed::File(f) => out.files.push(f),
                Listed::Problem { prefix, message } => out.problems.push((prefix, message)),
            }
        }
        out.files.sort_by(|a, b| a.display.cmp(&b.display));
        Ok(out)
    }

    /// One folder level: the names of the sub-folders of `prefix` and the keys of its objects.
    pub async fn list_dir(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<(Vec<String>, Vec<String>), S3Error> {
        let store = self.store(bucket).await?;
        crate::list::dir(store.as_ref(), bucket, prefix).await
    }

    /// Read a whole object (from the cache when it holds this ETag).
    pub async fn fetch(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
    ) -> Result<Bytes, S3Error> {
        if let Some(c) = &self.cache {
            if let Some(b) = c.get(bucket, key, etag) {
                self.stats.add(&self.stats.cache_hits, 1);
                self.stats.add(&self.stats.cache_bytes, b.len() as u64);
                return Ok(Bytes::from(b));
            }
        }
        let (bytes, got_etag, _) = self.get(bucket, key).await?;
        if let Some(c) = &self.cache {
            // A failed cache write only costs a refetch next time.
            let _ = c.put(bucket, key, got_etag.as_deref().or(etag), &bytes);
        }
        Ok(bytes)
    }

    /// Read a large object into an anonymous temporary file, chunk by chunk, so that memory
    /// holds no more than a chunk of it (not cached: `--cache` keeps objects that are read
    /// whole). The file is deleted when it is dropped.
    pub async fn fetch_to_file(&self, bucket: &str, key: &str) -> Result<std::fs::File, S3Error> {
        use std::io::{Seek, Write};
        let store = self.store(bucket).await?;
        let path = ObjectPath::from(key);
        let local = |what: &str, e: std::io::Error| S3Error::Other {
            url: format!("s3://{bucket}/{key}"),
            detail: format!("{what}: {e} (set TMPDIR to a folder with room)"),
        };
        let mut file = tempfile::tempfile()
            .map_err(|e| local("cannot create a temporary file to read the object into", e))?;
        let (store, path) = (&store, &path);
        self.retrying(bucket, key, || {
            // Each attempt writes the file from its start, through its own handle.
            let handle = file.try_clone();
            async move {
                let io = |e| object_store::Error::Generic {
                    store: "temporary file",
                    source: Box::new(e),
                };
                let mut f = handle.map_err(io)?;
                f.set_len(0).map_err(io)?;
                f.rewind().map_err(io)?;
                let mut body = store.get(path).await?.into_stream();
                while let Some(chunk) = body.next().await {
                    let chunk = chunk?;
                    self.stats
                        .add(&self.stats.bytes_downloaded, chunk.len() as u64);
                    f.write_all(&chunk).map_err(io)?;
                }
                Ok(())
            }
        })
        .await?;
        file.rewind()
            .map_err(|e| local("cannot read back the temporary file", e))?;
        Ok(file)
    }

    /// Read an object and its user metadata (`x-amz-meta-*`); `Ok(None)` when it does not exist.
    pub async fn fetch_with_metadata(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(Bytes, HashMap<String, String>)>, S3Error> {
        match self.get(bucket, key).await {
            Ok((b, _, meta)) => Ok(Some((b, meta))),
            Err(S3Error::Other { detail, .. }) if detail.starts_with("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(Bytes, Option<String>, HashMap<String, String>), S3Error> {
        let store = self.store(bucket).await?;
        let path = ObjectPath::from(key);
        let (store, path) = (&store, &path);
        self.retrying(bucket, key, || async move {
            let r = store.get(path).await?;
            let etag = r.meta.e_tag.clone();
            let meta: HashMap<String, String> = r
                .attributes
                .iter()
                .filter_map(|(k, v)| match k {
                    Attribute::Metadata(name) => Some((name.to_string(), v.to_string())),
                    _ => None,
                })
                .collect();
            let bytes = r.bytes().await?;
            self.stats
                .add(&self.stats.bytes_downloaded, bytes.len() as u64);
            Ok((bytes, etag, meta))
        })
        .await
    }

    /// One GET of `bucket`/`key`, tried again (after object_store's own retries) while it
    /// fails in a way worth retrying, at most [`FETCH_ATTEMPTS`] times; counted when it succeeds.
    async fn retrying<T, F>(
        &self,
        bucket: &str,
        key: &str,
        mut once: impl FnMut() -> F,
    ) -> Result<T, S3Error>
    where
        F: std::future::Future<Output = Result<T, object_store::Error>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match once().await.map_err(|e| classify(bucket, key, &e)) {
                Ok(v) => {
                    self.stats.add(&self.stats.objects_fetched, 1);
                    return Ok(v);
                }
                Err(e) if e.is_transient() && attempt < FETCH_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
