//! Where a lake lives: a local folder or `s3://bucket/prefix`, and the few storage operations the
//! lake needs, each atomic: a file appears whole under its final name or not at all.

use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use trailql_s3::{S3Client, S3Url};

/// The lake's own files (manifest, staging) live under this folder, which Spark, Hive and
/// DuckDB's globs all pass over (a leading `_`).
pub const META_DIR: &str = "_trailql";
/// The manifest's name under [`META_DIR`].
pub const MANIFEST: &str = "_trailql/manifest.json";

/// A lake's location as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeUrl {
    Local(PathBuf),
    S3(S3Url),
}

impl LakeUrl {
    pub fn parse(s: &str) -> std::result::Result<LakeUrl, String> {
        if S3Url::is_s3(s) {
            S3Url::parse(s).map(LakeUrl::S3)
        } else {
            Ok(LakeUrl::Local(PathBuf::from(s)))
        }
    }
}

impl std::fmt::Display for LakeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LakeUrl::Local(p) => write!(f, "{}", p.display()),
            LakeUrl::S3(u) => write!(f, "{u}"),
        }
    }
}

/// An opened lake: its store and the prefix of the lake inside it.
#[derive(Debug, Clone)]
pub struct Lake {
    pub url: LakeUrl,
    store: Arc<dyn ObjectStore>,
    /// The lake's prefix in `store` (empty for a local lake, whose store is rooted at its folder).
    root: Path,
    /// The local folder, for a local lake.
    dir: Option<PathBuf>,
}

fn store_error(at: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("lake {at}: {e}"))
}

impl Lake {
    /// Open a lake for reading and writing; a local folder is created when missing.
    pub async fn open(url: &LakeUrl, s3: Option<&Arc<S3Client>>) -> Result<Lake> {
        match url {
            LakeUrl::Local(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    store_error(
                        &dir.display().to_string(),
                        format!("cannot create the lake folder: {e}"),
                    )
                })?;
                let dir = std::fs::canonicalize(dir)
                    .map_err(|e| store_error(&dir.display().to_string(), e))?;
                let store = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| store_error(&dir.display().to_string(), e))?;
                Ok(Lake {
                    url: url.clone(),
                    store: Arc::new(store),
                    root: Path::from(""),
                    dir: Some(dir),
                })
            }
            LakeUrl::S3(u) => {
                let client = s3.ok_or_else(|| {
                    DataFusionError::Internal("an S3 lake needs an S3 client".into())
                })?;
                let store = client
                    .store(&u.bucket)
                    .await
                    .map_err(|e| store_error(&u.to_string(), e))?;
                Ok(Lake {
                    url: url.clone(),
                    store,
                    root: Path::from(u.prefix.trim_matches('/')),
                    dir: None,
                })
            }
        }
    }

    /// Open a lake only if it exists (its manifest is there): how `-s` tells a lake from a trail.
    pub async fn find(url: &LakeUrl, s3: Option<&Arc<S3Client>>) -> Result<Option<Lake>> {
        if let LakeUrl::Local(dir) = url {
            if !dir.join(MANIFEST).is_file() {
                return Ok(None);
            }
        }
        let lake = Lake::open(url, s3).await?;
        match lake.store.head(&lake.path(MANIFEST)).await {
            Ok(_) => Ok(Some(lake)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(&url.to_string(), e)),
        }
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The store path of `rel` (a path relative to the lake).
    pub fn path(&self, rel: &str) -> Path {
        if self.root.as_ref().is_empty() {
            Path::from(rel)
        } else {
            Path::from(format!("{}/{rel}", self.root))
        }
    }

    /// `rel` of a store path inside the lake.
    pub fn relative<'a>(&self, p: &'a Path) -> &'a str {
        let s = p.as_ref();
        if self.root.as_ref().is_empty() {
            s
        } else {
            s.strip_prefix(self.root.as_ref())
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(s)
        }
    }

    /// A file of the lake (a path in its store) as messages name it: its full local path, or its
    /// `s3://` URL; as a query's warnings name it ([`crate::damage`]).
    pub fn shown(&self, p: &Path) -> String {
        match (&self.url, &self.dir) {
            (_, Some(dir)) => dir.join(p.as_ref()).display().to_string(),
            (LakeUrl::S3(u), None) => format!("s3://{}/{p}", u.bucket),
            (LakeUrl::Local(_), None) => unreachable!("a local lake has its folder"),
        }
    }

    /// The URL DataFusion lists the lake's Parquet files under.
    pub fn listing_url(&self) -> Result<ListingTableUrl> {
        match (&self.url, &self.dir) {
            (_, Some(dir)) => ListingTableUrl::parse(format!("file://{}/", dir.display())),
            (LakeUrl::S3(u), None) => {
                let prefix = u.prefix.trim_matches('/');
                let url = if prefix.is_empty() {
                    format!("s3://{}/", u.bucket)
                } else {
                    format!("s3://{}/{prefix}/", u.bucket)
                };
                ListingTableUrl::parse(url)
            }
            (LakeUrl::Local(_), None) => unreachable!("a local lake has its folder"),
        }
    }

    /// Make the lake's store known to a session (S3 lakes; local files need nothing).
    pub fn register(&self, ctx: &SessionContext) -> Result<()> {
        if let LakeUrl::S3(u) = &self.url {
            let url = url::Url::parse(&format!("s3://{}", u.bucket))
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            ctx.register_object_store(&url, self.store.clone());
        }
        Ok(())
    }

    /// Every object under `rel_prefix` (a folder of the lake).
    pub async fn list(&self, rel_prefix: &str) -> Result<Vec<ObjectMeta>> {
        let prefix = self.path(rel_prefix.trim_end_matches('/'));
        match self.store.list(Some(&prefix)).try_collect::<Vec<_>>().await {
            Ok(v) => Ok(v),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(store_error(&format!("{}/{rel_prefix}", self.url), e)),
        }
    }

    pub async fn get(&self, rel: &str) -> Result<Option<Bytes>> {
        match self.store.get(&self.path(rel)).await {
            Ok(r) => {
                Ok(Some(r.bytes().await.map_err(|e| {
                    store_error(&format!("{}/{rel}", self.url), e)
                })?))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_error(&format!("{}/{rel}", self.url), e)),
        }
    }

    /// Write `bytes` as `rel`, atomically: a local file is written under `_trailql/staging`,
    /// fsynced and renamed into place; an S3 object appears whole when its PUT completes.
    pub async fn put(&self, rel: &str, bytes: Bytes) -> Result<()> {
        match &self.dir {
            Some(dir) => {
                let staged = self.stage()?;
                let mut f = std::fs::File::create(&staged)
                    .map_err(|e| store_error(&staged.display().to_string(), e))?;
                f.write_all(&bytes)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| store_error(&staged.display().to_string(), e))?;
                self.commit_local(dir, &staged, rel)
            }
            None => self
                .store
                .put(&self.path(rel), PutPayload::from_bytes(bytes))
                .await
                .map(|_| ())
                .map_err(|e| store_error(&format!("{}/{rel}", self.url), e)),
        }
    }

    /// A fresh local staging path (local lakes: in the lake, so the rename stays on one file
    /// system; S3 lakes: in the system's temporary folder).
    pub fn stage(&self) -> Result<PathBuf> {
        let dir = match &self.dir {
            Some(d) => d.join(META_DIR).join("staging"),
            None => std::env::temp_dir(),
        };
        std::fs::create_dir_all(&dir).map_err(|e| store_error(&dir.display().to_string(), e))?;
        Ok(dir.join(format!("{}.tmp", crate::names::unique("stage"))))
    }

    /// Move a finished staging file into the lake as `rel` (local: rename; S3: upload).
    pub async fn put_file(&self, staged: &FsPath, rel: &str) -> Result<()> {
        match &self.dir {
            Some(dir) => self.commit_local(dir, staged, rel),
            None => {
                let bytes = std::fs::read(staged)
                    .map_err(|e| store_error(&staged.display().to_string(), e))?;
                let _ = std::fs::remove_file(staged);
                self.put(rel, Bytes::from(bytes)).await
            }
        }
    }

    fn commit_local(&self, dir: &FsPath, staged: &FsPath, rel: &str) -> Result<()> {
        let dest = dir.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| store_error(&parent.display().to_string(), e))?;
        }
        std::fs::rename(staged, &dest).map_err(|e| store_error(&dest.display().to_string(), e))?;
        if let Some(parent) = dest.parent() {
            // The rename is durable once the folder is synced.
            if let Ok(d) = std::fs::File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    pub async fn delete(&self, rel: &str) -> Result<()> {
        match self.store.delete(&self.path(rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(&format!("{}/{rel}", self.url), e)),
        }
    }

    /// Staging files a killed run left behind (local lakes), removed.
    pub fn clean_staging(&self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir.join(META_DIR).join("staging"));
        }
    }
}
