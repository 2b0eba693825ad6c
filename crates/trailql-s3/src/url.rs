//! `s3://bucket[/prefix]` sources.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Url {
    pub bucket: String,
    /// The key prefix without a leading `/` (may be empty).
    pub prefix: String,
}

impl S3Url {
    pub fn is_s3(s: &str) -> bool {
        s.len() >= 5 && s[..5].eq_ignore_ascii_case("s3://")
    }

    pub fn parse(s: &str) -> Result<S3Url, String> {
        if !S3Url::is_s3(s) {
            return Err(format!(
                "{s}: not an s3:// URL (expected s3://bucket or s3://bucket/prefix)"
            ));
        }
        let rest = &s[5..];
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !valid {
            return Err(format!(
                "{s}: {bucket:?} is not a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)"
            ));
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.trim_start_matches('/').to_string(),
        })
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        let u = S3Url::parse("s3://my-trail/prod/AWSLogs/o-abc/").unwrap();
        assert_eq!(u.bucket, "my-trail");
        assert_eq!(u.prefix, "prod/AWSLogs/o-abc/");
        assert_eq!(S3Url::parse("S3://bucket1").unwrap().prefix, "");
        assert!(S3Url::parse("s3://Bad_Bucket/x").is_err());
        assert!(S3Url::parse("/tmp/x").is_err());
    }
}
