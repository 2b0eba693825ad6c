//! Where digests and log files are read from. One trait, so a local copy and (later) S3 share the
//! validation code. Keys are written from `AWSLogs/` on.

use std::io::Read;
use std::path::{Path, PathBuf};

/// A digest's signature as S3 stores it (object metadata `signature`); a local copy keeps it, when
/// at all, in a side file `<digest>.signature` holding the hex string.
pub trait Store {
    /// Every key under `AWSLogs/` (digests and logs), with no ordering promise.
    fn keys(&self) -> Result<Vec<String>, String>;
    /// Open an object; `Ok(None)` when it does not exist.
    fn open(&self, key: &str) -> Result<Option<Box<dyn Read + '_>>, String>;
    /// The `signature` metadata of a digest object, if known.
    fn signature(&self, key: &str) -> Option<String>;
}

/// A local folder that holds `AWSLogs/` (or is it).
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(path: &Path) -> Result<LocalStore, String> {
        if !path.is_dir() {
            return Err(format!(
                "{}: not a folder (give the folder that holds AWSLogs/)",
                path.display()
            ));
        }
        let root = if path.file_name().is_some_and(|n| n == "AWSLogs") {
            path.parent().unwrap_or(path).to_path_buf()
        } else {
            path.to_path_buf()
        };
        Ok(LocalStore { root })
    }

    /// Keys resolve under the folder that holds `AWSLogs/`.
    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

impl Store for LocalStore {
    fn keys(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for entry in walkdir::WalkDir::new(&self.root).follow_links(true) {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", self.root.display()))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry
                .path()
                .strip_prefix(&self.root)
                .unwrap_or(entry.path());
            let rel = rel.to_string_lossy().replace('\\', "/");
            if rel.starts_with("AWSLogs/") && !rel.ends_with(".signature") {
                out.push(rel);
            }
        }
        Ok(out)
    }

    fn open(&self, key: &str) -> Result<Option<Box<dyn Read + '_>>, String> {
        match std::fs::File::open(self.path(key)) {
            Ok(f) => Ok(Some(Box::new(std::io::BufReader::new(f)))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", self.path(key).display())),
        }
    }

    fn signature(&self, key: &str) -> Option<String> {
        let mut p = self.path(key).into_os_string();
        p.push(".signature");
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    }
}
