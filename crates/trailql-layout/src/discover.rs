//! Local source discovery: walk folders (or take single files) and classify each file by key.

use std::path::{Path, PathBuf};

use crate::key::{classify, KeyKind};
use crate::scope::ListScope;

/// Where a file's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    /// An object in a bucket; `etag` as listed (it keys the local cache).
    Object {
        bucket: String,
        key: String,
        etag: Option<String>,
    },
}

/// One file found under a source.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub location: Location,
    /// The path with `/` separators, or `s3://bucket/key`: used for classification and messages.
    pub display: String,
    pub size: u64,
    pub kind: KeyKind,
}

impl SourceFile {
    /// An object listed in a bucket.
    pub fn object(bucket: &str, key: &str, size: u64, etag: Option<String>) -> SourceFile {
        SourceFile {
            kind: classify(key),
            display: format!("s3://{bucket}/{key}"),
            location: Location::Object {
                bucket: bucket.to_string(),
                key: key.to_string(),
                etag,
            },
            size,
        }
    }
}

/// A source that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("source {path}: does not exist (check the path, or use s3://bucket/prefix for S3)")]
    NotFound { path: PathBuf },
    #[error("source {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A problem with one entry during the walk; the walk goes on.
#[derive(Debug, Clone)]
pub struct WalkProblem {
    pub path: String,
    pub message: String,
}

/// Everything found under a set of local sources, in a stable (sorted) order.
#[derive(Debug, Default)]
pub struct Discovery {
    pub files: Vec<SourceFile>,
    pub problems: Vec<WalkProblem>,
    /// Folders not walked because the scope rules them out.
    pub folders_pruned: u64,
}

fn source_metadata(src: &Path) -> Result<std::fs::Metadata, DiscoverError> {
    std::fs::metadata(src).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DiscoverError::NotFound {
                path: src.to_path_buf(),
            }
        } else {
            DiscoverError::Io {
                path: src.to_path_buf(),
                source: e,
            }
        }
    })
}

/// Check that every source can be read, without walking it.
pub fn check_local(sources: &[PathBuf]) -> Result<(), DiscoverError> {
    sources
        .iter()
        .try_for_each(|s| source_metadata(s).map(|_| ()))
}

/// One thing a walk reached: a file, or an entry it could not read.
#[derive(Debug)]
pub enum Walked {
    File(SourceFile),
    Problem(WalkProblem),
}

/// Walk each source (a folder, recursively, or a single file), leaving out the folders of the
/// `AWSLogs/` grammar that `scope` rules out (accounts, regions, days), and hand each file and
/// problem to `found` as soon as it is reached, so nothing accumulates. `found` returns `false`
/// to stop the walk. Returns how many folders were not walked.
pub fn walk_local(
    sources: &[PathBuf],
    scope: &ListScope,
    mut found: impl FnMut(Walked) -> bool,
) -> Result<u64, DiscoverError> {
    let pruned = std::cell::Cell::new(0u64);
    for src in sources {
        let meta = source_metadata(src)?;
        if meta.is_file() {
            if !found(Walked::File(source_file(src, meta.len()))) {
                return Ok(pruned.get());
            }
            continue;
        }
        let walk = walkdir::WalkDir::new(src)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                let keep = !e.file_type().is_dir() || e.depth() == 0 || wanted(scope, e.path());
                pruned.set(pruned.get() + u64::from(!keep));
                keep
            });
        for entry in walk {
            let item = match entry {
                Ok(e) if e.file_type().is_file() => {
                    let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                    Walked::File(source_file(e.path(), size))
                }
                Ok(_) => continue,
                Err(e) => Walked::Problem(WalkProblem {
                    path: e
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| src.display().to_string()),
                    message: e.to_string(),
                }),
            };
            if !found(item) {
                return Ok(pruned.get());
            }
        }
    }
    Ok(pruned.get())
}

/// [`walk_local`], collected.
pub fn discover_local(sources: &[PathBuf], scope: &ListScope) -> Result<Discovery, DiscoverError> {
    let mut out = Discovery::default();
    out.folders_pruned = walk_local(sources, scope, |w| {
        match w {
            Walked::File(f) => out.files.push(f),
            Walked::Problem(p) => out.problems.push(p),
        }
        true
    })?;
    Ok(out)
}

fn wanted(scope: &ListScope, folder: &Path) -> bool {
    let parts: Vec<&str> = folder
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect();
    scope.wants_folder(&parts)
}

fn source_file(path: &Path, size: u64) -> SourceFile {
    let display = path.to_string_lossy().replace('\\', "/");
    SourceFile {
        kind: classify(&display),
        location: Location::Local(path.to_path_buf()),
        display,
        size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::SkipReason;

    #[test]
    fn walks_and_classifies() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir
            .path()
            .join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01");
        let dig = dir
            .path()
            .join("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/08/01");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::create_dir_all(&dig).unwrap();
        std::fs::write(
            day.join("111122223333_CloudTrail_us-east-1_20240801T0005Z_a.json.gz"),
            b"x",
        )
        .unwrap();
        std::fs::write(dig.join("d.json.gz"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let d = discover_local(&[dir.path().to_path_buf()], &ListScope::default()).unwrap();
        assert_eq!(d.files.len(), 3);
        let kinds: Vec<_> = d.files.iter().map(|f| f.kind.clone()).collect();
        assert!(matches!(kinds[0], KeyKind::TrailLog(_)));
        assert_eq!(kinds[1], KeyKind::NotEvents(SkipReason::Digest));
        assert_eq!(kinds[2], KeyKind::Other);
        assert!(matches!(
            discover_local(&[dir.path().join("missing")], &ListScope::default()),
            Err(DiscoverError::NotFound { .. })
        ));
        assert!(check_local(&[dir.path().join("missing")]).is_err());
        // A window of other days leaves the day folder out (the digest folder is walked).
        let other_days = ListScope {
            window: crate::TimeWindow {
                start: Some("2024-09-01T00:00:00Z".parse().unwrap()),
                end: None,
            },
            ..ListScope::default()
        };
        let d = discover_local(&[dir.path().to_path_buf()], &other_days).unwrap();
        assert_eq!(d.files.len(), 2);
        assert_eq!(d.folders_pruned, 1);
    }
}
