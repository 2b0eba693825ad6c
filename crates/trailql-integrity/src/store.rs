//! Where digests and log files are read from. One trait, so a local copy and an S3 bucket share
//! the validation code. Keys are written from `AWSLogs/` on; validation lists one folder level at
//! a time (accounts, regions, years, months, days), so it never holds a whole window's keys.

use std::io::Read;
use std::path::{Path, PathBuf};

/// One folder level.
#[derive(Debug, Default)]
pub struct Dir {
    /// Names of the sub-folders (no trailing `/`).
    pub folders: Vec<String>,
    /// Keys of the files directly in it.
    pub files: Vec<String>,
}

/// A digest's signature as S3 stores it (object metadata `signature`); a local copy keeps it, when
/// at all, in a side file `<digest>.signature` holding the hex string.
pub trait Store {
    /// Where discovery starts: `AWSLogs/`, or deeper when the source names an organization or
    /// an account (`AWSLogs/o-…/111122223333/`).
    fn scope(&self) -> String {
        "AWSLogs/".into()
    }
    /// One level under `prefix` (ending in `/`); empty when it does not exist.
    fn list(&self, prefix: &str) -> Result<Dir, String>;
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
    fn list(&self, prefix: &str) -> Result<Dir, String> {
        let dir = self.path(prefix);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Dir::default()),
            Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
        };
        let mut out = Dir::default();
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Follows links, like a walk of the copy would.
            let meta = std::fs::metadata(entry.path())
                .map_err(|e| format!("cannot read {}: {e}", entry.path().display()))?;
            if meta.is_dir() {
                out.folders.push(name);
            } else if !name.ends_with(".signature") {
                out.files.push(format!("{prefix}{name}"));
            }
        }
        out.folders.sort();
        out.files.sort();
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
