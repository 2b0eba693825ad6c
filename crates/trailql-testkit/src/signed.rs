//! A CloudTrail trail signed with a key of the test's own: log files, hourly digests built and
//! signed exactly per the recipe (SHA-256 of the inflated bytes, SHA256withRSA over the
//! string-to-sign, each digest chained to the previous one), the signature kept as a
//! `<digest>.signature` side file (what [`crate::MotoServer::upload_dir`] turns into S3 metadata).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::sha2::{Digest as _, Sha256};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde_json::json;

pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "trail-bucket";
pub const FP: &str = "0123456789abcdef0123456789abcdef";

pub fn key(i: usize) -> &'static RsaPrivateKey {
    static K: OnceLock<Vec<RsaPrivateKey>> = OnceLock::new();
    &K.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        (0..2)
            .map(|_| RsaPrivateKey::new(&mut rng, 2048).unwrap())
            .collect()
    })[i]
}

pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn hex_sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 8, 1, 0, 1, 31).unwrap()
}

pub struct Trail {
    pub dir: tempfile::TempDir,
    /// Digest keys, oldest first.
    pub digests: Vec<String>,
    /// Log keys per digest.
    pub logs: Vec<Vec<String>>,
}

impl Trail {
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.path().join(key)
    }
}

pub fn put(root: &Path, key: &str, bytes: &[u8]) {
    let p = root.join(key);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

pub fn log_key(at: DateTime<Utc>, n: usize) -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{}/{ACCOUNT}_CloudTrail_{REGION}_{}_{n:016}.json.gz",
        at.format("%Y/%m/%d"),
        at.format("%Y%m%dT%H%MZ")
    )
}

pub fn digest_key(end: DateTime<Utc>) -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/{}/{ACCOUNT}_CloudTrail-Digest_{REGION}_main_{REGION}_{}.json.gz",
        end.format("%Y/%m/%d"),
        end.format("%Y%m%dT%H%M%SZ")
    )
}

pub fn sign(k: &RsaPrivateKey, msg: &str) -> String {
    hex::encode(
        k.sign(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(msg.as_bytes()),
        )
        .unwrap(),
    )
}

/// `hours` hourly digests, two log files each; the chain restarts (no previous digest) at
/// `restart`.
pub fn build(hours: usize, restart: Option<usize>) -> Trail {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut digests = Vec::new();
    let mut logs = Vec::new();
    let mut prev: Option<(String, String, String)> = None; // key, inflated hash, signature
    for h in 0..hours {
        let start = t0() + Duration::hours(h as i64);
        let end = start + Duration::hours(1);
        let mut files = Vec::new();
        let mut entries = Vec::new();
        for (n, minute) in [14i64, 44].into_iter().enumerate() {
            let at = start + Duration::minutes(minute);
            let body = format!(
                r#"{{"Records":[{{"eventVersion":"1.09","eventTime":"{}","eventName":"E{h}-{n}"}}]}}"#,
                at.format("%Y-%m-%dT%H:%M:%SZ")
            );
            let k = log_key(at, h * 2 + n);
            put(root, &k, &gz(body.as_bytes()));
            entries.push(json!({"s3Bucket": BUCKET, "s3Object": k, "hashValue": hex_sha(body.as_bytes()), "hashAlgorithm": "SHA-256",
                                "newestEventTime": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "oldestEventTime": at.format("%Y-%m-%dT%H:%M:%SZ").to_string()}));
            files.push(k);
        }
        if restart == Some(h) {
            prev = None;
        }
        let dk = digest_key(end);
        let (pk, ph, ps) = match &prev {
            Some((k, hsh, s)) => (json!(BUCKET), json!(k), (json!(hsh), json!(s))),
            None => (json!(null), json!(null), (json!(null), json!(null))),
        };
        let digest = json!({
            "awsAccountId": ACCOUNT,
            "digestStartTime": start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "digestEndTime": end.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "digestS3Bucket": BUCKET, "digestS3Object": dk,
            "digestPublicKeyFingerprint": FP, "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": null, "oldestEventTime": null,
            "previousDigestS3Bucket": pk, "previousDigestS3Object": ph,
            "previousDigestHashValue": ps.0, "previousDigestHashAlgorithm": if prev.is_some() { json!("SHA-256") } else { json!(null) },
            "previousDigestSignature": ps.1,
            "logFiles": entries,
        });
        let inflated = serde_json::to_vec(&digest).unwrap();
        let to_sign = format!(
            "{}\n{BUCKET}/{dk}\n{}\n{}",
            digest["digestEndTime"].as_str().unwrap(),
            hex_sha(&inflated),
            prev.as_ref().map(|p| p.2.as_str()).unwrap_or("null")
        );
        let sig = sign(key(0), &to_sign);
        put(root, &dk, &gz(&inflated));
        put(root, &format!("{dk}.signature"), sig.as_bytes());
        prev = Some((dk.clone(), hex_sha(&inflated), sig));
        digests.push(dk);
        logs.push(files);
    }
    Trail { dir, digests, logs }
}

pub fn keys_json(k: &RsaPublicKey, fp: &str, spki: bool) -> String {
    let der = if spki {
        k.to_public_key_der().unwrap().as_bytes().to_vec()
    } else {
        k.to_pkcs1_der().unwrap().as_bytes().to_vec()
    };
    json!({"PublicKeyList": [{"Value": base64::engine::general_purpose::STANDARD.encode(der),
        "ValidityStartTime": 1_700_000_000.0, "ValidityEndTime": 1_900_000_000.0, "Fingerprint": fp}]})
    .to_string()
}

/// The `list-public-keys --output json` text for the key that signs [`build`]'s digests.
pub fn good_keys_json() -> String {
    keys_json(&key(0).to_public_key(), FP, false)
}
