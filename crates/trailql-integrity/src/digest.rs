//! Digest files: their key grammar, their JSON, and the string CloudTrail signs.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use rsa::sha2::{Digest as _, Sha256};
use serde::Deserialize;

/// A digest key: `[prefix/]AWSLogs/[o-…/]ACCOUNT/CloudTrail-Digest/REGION/Y/M/D/
/// ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOME_YYYYMMDDTHHMMSSZ.json.gz`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DigestKey {
    pub account: String,
    pub region: String,
    pub trail: String,
    pub home_region: String,
    pub end: DateTime<Utc>,
}

/// The trail a digest belongs to.
pub type TrailId = (String, String, String, String);

impl DigestKey {
    pub fn parse(key: &str) -> Option<DigestKey> {
        let parts: Vec<&str> = key.split('/').collect();
        let i = parts.iter().position(|p| *p == "CloudTrail-Digest")?;
        let account = parts.get(i.checked_sub(1)?)?.to_string();
        let region = parts.get(i + 1)?.to_string();
        let name = parts.last()?.strip_suffix(".json.gz")?;
        let rest = name.strip_prefix(&format!("{account}_CloudTrail-Digest_{region}_"))?;
        let (before, stamp) = rest.rsplit_once('_')?;
        let (trail, home_region) = before.rsplit_once('_')?;
        let end = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok()?;
        Some(DigestKey {
            account,
            region,
            trail: trail.to_string(),
            home_region: home_region.to_string(),
            end: Utc.from_utc_datetime(&end),
        })
    }

    pub fn trail_id(&self) -> TrailId {
        (
            self.account.clone(),
            self.region.clone(),
            self.trail.clone(),
            self.home_region.clone(),
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFileEntry {
    pub s3_bucket: Option<String>,
    pub s3_object: String,
    pub hash_value: String,
}

/// The fields validation reads (the CLI's required keys are not optional here).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub previous_digest_s3_bucket: Option<String>,
    pub previous_digest_s3_object: Option<String>,
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<LogFileEntry>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What CloudTrail signs (the AWS CLI's `_create_string_to_sign`): end time as stored, `bucket/key`,
/// hex SHA-256 of the inflated digest, previous signature or the literal `null`; no trailing newline.
pub fn string_to_sign(d: &Digest, inflated: &[u8]) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        d.digest_end_time,
        d.digest_s3_bucket,
        d.digest_s3_object,
        sha256_hex(inflated),
        d.previous_digest_signature.as_deref().unwrap_or("null")
    )
}

/// The part of a key from `AWSLogs/` on (what a local copy and the bucket have in common).
pub fn from_awslogs(key: &str) -> &str {
    key.find("AWSLogs/").map(|i| &key[i..]).unwrap_or(key)
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_keys() {
        let k = DigestKey::parse("p/AWSLogs/o-abc/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_my_trail_us-east-1_20150817T150131Z.json.gz").unwrap();
        assert_eq!(k.account, "111122223333");
        assert_eq!(k.region, "us-east-2");
        assert_eq!(k.trail, "my_trail");
        assert_eq!(k.home_region, "us-east-1");
        assert_eq!(k.end.to_rfc3339(), "2015-08-17T15:01:31+00:00");
        assert!(DigestKey::parse("AWSLogs/1/CloudTrail/us-east-1/2015/08/17/x.json.gz").is_none());
        assert_eq!(from_awslogs("pre/fix/AWSLogs/1/x"), "AWSLogs/1/x");
    }
}
