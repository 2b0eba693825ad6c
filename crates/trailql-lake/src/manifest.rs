//! The manifest: which trail files the lake holds (key, size, ETag or modification time), so a
//! sync converts only new or changed files. Written last by a sync, atomically: a sync killed
//! before it leaves the old manifest, and the next one converts those files again (the rows it
//! already wrote are then dropped as duplicates, see [`crate::dedup`]).

use std::collections::BTreeMap;

use bytes::Bytes;
use datafusion::error::{DataFusionError, Result};
use serde::{Deserialize, Serialize};

use crate::location::{Lake, MANIFEST};

pub const VERSION: u32 = 1;

/// What identifies one version of a trail file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub size: u64,
    /// The ETag as listed (S3 sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Modification time in nanoseconds since the epoch (local sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<u64>,
}

/// One ingested file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(flatten)]
    pub stamp: Stamp,
    /// Records it held (rows before deduplication).
    pub records: u64,
    /// Its problems when converted (bad records, not gzip …), as the scan reported them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// By the file's source path or `s3://bucket/key`.
    pub files: BTreeMap<String, Entry>,
}

impl Manifest {
    /// The lake's manifest, or an empty one for a new lake.
    pub async fn load(lake: &Lake) -> Result<Manifest> {
        let Some(bytes) = lake.get(MANIFEST).await? else {
            return Ok(Manifest {
                version: VERSION,
                ..Manifest::default()
            });
        };
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            DataFusionError::Execution(format!(
                "{}/{MANIFEST}: not a trailql lake manifest ({e}); move it away to rebuild the \
                 manifest from scratch (the next sync then re-reads every source file and drops \
                 the rows already in the lake as duplicates)",
                lake.url
            ))
        })?;
        if m.version > VERSION {
            return Err(DataFusionError::Execution(format!(
                "{}/{MANIFEST}: written by a newer trailql (manifest version {}, this one reads \
                 up to {VERSION}); upgrade trailql",
                lake.url, m.version
            )));
        }
        Ok(m)
    }

    /// Is this version of the file already in the lake?
    pub fn holds(&self, key: &str, stamp: &Stamp) -> bool {
        self.files.get(key).is_some_and(|e| &e.stamp == stamp)
    }

    pub async fn save(&self, lake: &Lake) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| DataFusionError::External(e.into()))?;
        lake.put(MANIFEST, Bytes::from(bytes)).await
    }
}
