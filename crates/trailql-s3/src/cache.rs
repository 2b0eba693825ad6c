//! `--cache DIR`: objects fetched once are kept as `DIR/BUCKET/KEY.ETAG`, so a second question
//! over the same window reads no S3 bytes. An object that changed has a new ETag, hence a new
//! entry; an object without an ETag is never cached.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: &Path) -> Cache {
        Cache {
            dir: dir.to_path_buf(),
        }
    }

    /// Where an object lives in the cache; `None` when it cannot be cached safely.
    pub fn path(&self, bucket: &str, key: &str, etag: Option<&str>) -> Option<PathBuf> {
        let etag: String = etag?
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if etag.is_empty() {
            return None;
        }
        let parts: Vec<&str> = key.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\\'))
        {
            return None;
        }
        let mut p = self.dir.join(bucket);
        for part in &parts {
            p.push(part);
        }
        let mut name = p.into_os_string();
        name.push(format!(".{etag}"));
        Some(PathBuf::from(name))
    }

    pub fn get(&self, bucket: &str, key: &str, etag: Option<&str>) -> Option<Vec<u8>> {
        std::fs::read(self.path(bucket, key, etag)?).ok()
    }

    /// Store atomically (write aside, then rename). Failures only cost a later refetch.
    pub fn put(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        let Some(path) = self.path(bucket, key, etag) else {
            return Ok(());
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut tmp = path.clone().into_os_string();
        tmp.push(format!(".tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let c = Cache::new(Path::new("/c"));
        assert_eq!(
            c.path("b", "AWSLogs/1/x.json.gz", Some("\"abc-2\"")),
            Some(PathBuf::from("/c/b/AWSLogs/1/x.json.gz.abc-2"))
        );
        assert_eq!(c.path("b", "a/../../etc", Some("e")), None);
        assert_eq!(c.path("b", "a", None), None);
    }
}
