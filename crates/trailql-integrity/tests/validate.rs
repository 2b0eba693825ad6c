//! A signed trail built here with its own RSA key — digests made and signed exactly per the
//! recipe, chained, with the signature kept as CloudTrail keeps S3 metadata (a `.signature` side
//! file locally) — then tampered with in every way the validator must catch.

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
use trailql_integrity::{validate, LocalStore, Options, PublicKeys, Report};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
const BUCKET: &str = "trail-bucket";
const FP: &str = "0123456789abcdef0123456789abcdef";

fn key(i: usize) -> &'static RsaPrivateKey {
    static K: OnceLock<Vec<RsaPrivateKey>> = OnceLock::new();
    &K.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        (0..2)
            .map(|_| RsaPrivateKey::new(&mut rng, 2048).unwrap())
            .collect()
    })[i]
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn hex_sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 8, 1, 0, 1, 31).unwrap()
}

struct Trail {
    dir: tempfile::TempDir,
    /// Digest keys, oldest first.
    digests: Vec<String>,
    /// Log keys per digest.
    logs: Vec<Vec<String>>,
}

impl Trail {
    fn path(&self, key: &str) -> PathBuf {
        self.dir.path().join(key)
    }
}

fn put(root: &Path, key: &str, bytes: &[u8]) {
    let p = root.join(key);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn log_key(at: DateTime<Utc>, n: usize) -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{}/{ACCOUNT}_CloudTrail_{REGION}_{}_{n:016}.json.gz",
        at.format("%Y/%m/%d"),
        at.format("%Y%m%dT%H%MZ")
    )
}

fn digest_key(end: DateTime<Utc>) -> String {
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/{}/{ACCOUNT}_CloudTrail-Digest_{REGION}_main_{REGION}_{}.json.gz",
        end.format("%Y/%m/%d"),
        end.format("%Y%m%dT%H%M%SZ")
    )
}

fn sign(k: &RsaPrivateKey, msg: &str) -> String {
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
fn build(hours: usize, restart: Option<usize>) -> Trail {
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

fn keys_json(k: &RsaPublicKey, fp: &str, spki: bool) -> String {
    let der = if spki {
        k.to_public_key_der().unwrap().as_bytes().to_vec()
    } else {
        k.to_pkcs1_der().unwrap().as_bytes().to_vec()
    };
    json!({"PublicKeyList": [{"Value": base64::engine::general_purpose::STANDARD.encode(der),
        "ValidityStartTime": 1_700_000_000.0, "ValidityEndTime": 1_900_000_000.0, "Fingerprint": fp}]})
    .to_string()
}

fn good_keys() -> PublicKeys {
    PublicKeys::from_json(&keys_json(&key(0).to_public_key(), FP, false)).unwrap()
}

fn opts() -> Options {
    Options {
        start: t0(),
        end: t0() + Duration::hours(24),
        account: None,
        region: None,
        newest_signature: None,
        max_inflated: 1 << 30,
    }
}

fn check(t: &Trail, keys: &PublicKeys, o: &Options) -> Report {
    validate(&LocalStore::new(t.dir.path()).unwrap(), keys, o).unwrap()
}

fn kinds(r: &Report) -> Vec<&'static str> {
    let mut k: Vec<_> = r
        .trails
        .iter()
        .flat_map(|t| &t.problems)
        .filter(|p| p.severity != trailql_integrity::Severity::Info)
        .map(|p| p.kind)
        .collect();
    k.sort();
    k
}

#[test]
fn intact_chain_is_valid_with_either_key_form() {
    let t = build(6, None);
    for spki in [false, true] {
        let keys = PublicKeys::from_json(&keys_json(&key(0).to_public_key(), FP, spki)).unwrap();
        let r = check(&t, &keys, &opts());
        assert!(r.ok, "{r:#?}");
        let tr = &r.trails[0];
        assert_eq!(
            (tr.digests_valid, tr.logs_valid, r.errors, r.warnings),
            (6, 12, 0, 0)
        );
        assert_eq!(r.valid_logs.len(), 12);
    }
}

#[test]
fn offline_newest_digest_without_its_signature_is_a_warning() {
    let t = build(4, None);
    std::fs::remove_file(t.path(&format!("{}.signature", t.digests[3]))).unwrap();
    let r = check(&t, &good_keys(), &opts());
    assert!(r.ok);
    assert_eq!(kinds(&r), ["digest-signature-unavailable"]);
    assert_eq!(
        (r.trails[0].digests_unchecked, r.trails[0].digests_valid),
        (1, 3)
    );
    // A signature supplied for it is checked (here a wrong one).
    let mut o = opts();
    o.newest_signature = Some("00".repeat(256));
    let r = check(&t, &good_keys(), &o);
    assert!(!r.ok);
    assert_eq!(kinds(&r), ["digest-bad-signature"]);
}

#[test]
fn modified_and_deleted_log_files() {
    let t = build(4, None);
    put(
        t.dir.path(),
        &t.logs[1][0],
        &gz(br#"{"Records":[{"eventName":"Forged"}]}"#),
    );
    std::fs::remove_file(t.path(&t.logs[2][1])).unwrap();
    let r = check(&t, &good_keys(), &opts());
    assert!(!r.ok);
    assert_eq!(kinds(&r), ["log-deleted", "log-modified"]);
    let tr = &r.trails[0];
    assert_eq!(
        (tr.logs_valid, tr.logs_modified, tr.logs_deleted),
        (6, 1, 1)
    );
    assert!(!r.valid_logs.contains(&t.logs[1][0]));
}

#[test]
fn an_extra_unlisted_log_file() {
    let t = build(4, None);
    let at = t0() + Duration::hours(2) + Duration::minutes(30);
    put(t.dir.path(), &log_key(at, 999), &gz(br#"{"Records":[]}"#));
    let r = check(&t, &good_keys(), &opts());
    assert!(!r.ok);
    assert_eq!(kinds(&r), ["log-not-in-digest"]);
}

#[test]
fn one_and_two_consecutive_deleted_digests_are_counted() {
    for gone in [vec![3], vec![2, 3]] {
        let t = build(6, None);
        for i in &gone {
            std::fs::remove_file(t.path(&t.digests[*i])).unwrap();
        }
        let r = check(&t, &good_keys(), &opts());
        assert!(!r.ok);
        let tr = &r.trails[0];
        assert_eq!(tr.digests_missing, gone.len() as u64, "{:#?}", tr.problems);
        // Their log files are no longer listed by any digest.
        assert_eq!(tr.logs_not_in_digest, 2 * gone.len() as u64);
    }
}

#[test]
fn a_moved_digest() {
    let t = build(4, None);
    let from = t.digests[1].clone();
    let to = from.replace("/2024/08/01/", "/2024/08/02/");
    std::fs::create_dir_all(t.path(&to).parent().unwrap()).unwrap();
    std::fs::rename(t.path(&from), t.path(&to)).unwrap();
    std::fs::rename(
        t.path(&format!("{from}.signature")),
        t.path(&format!("{to}.signature")),
    )
    .unwrap();
    let r = check(&t, &good_keys(), &opts());
    assert!(!r.ok);
    assert!(kinds(&r).contains(&"digest-moved"), "{:?}", kinds(&r));
}

#[test]
fn a_tampered_digest_fails_through_the_chain() {
    let t = build(4, None);
    // Rewrite digest 1 (say, to hide a log file) without the private key: the signature that
    // digest 2 carries for it no longer verifies.
    let bytes = std::fs::read(t.path(&t.digests[1])).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["logFiles"].as_array_mut().unwrap().pop();
    put(t.dir.path(), &t.digests[1], &gz(v.to_string().as_bytes()));
    let r = check(&t, &good_keys(), &opts());
    assert!(!r.ok);
    assert_eq!(kinds(&r), ["digest-bad-signature", "log-not-in-digest"]);
}

#[test]
fn wrong_or_unknown_keys() {
    let t = build(3, None);
    let wrong = PublicKeys::from_json(&keys_json(&key(1).to_public_key(), FP, false)).unwrap();
    let r = check(&t, &wrong, &opts());
    assert_eq!(kinds(&r), ["digest-bad-signature"; 3]);
    let other_fp = PublicKeys::from_json(&keys_json(
        &key(0).to_public_key(),
        "ffffffffffffffffffffffffffffffff",
        false,
    ))
    .unwrap();
    let r = check(&t, &other_fp, &opts());
    assert_eq!(kinds(&r), ["digest-unknown-key"; 3]);
    assert!(!r.ok);
}

#[test]
fn a_chain_that_starts_inside_the_window() {
    let t = build(6, Some(3));
    let r = check(&t, &good_keys(), &opts());
    assert!(r.ok, "{:#?}", r.trails[0].problems);
    let starts: Vec<_> = r.trails[0]
        .problems
        .iter()
        .filter(|p| p.kind == "chain-start")
        .map(|p| p.key.clone())
        .collect();
    assert_eq!(starts, [t.digests[3].clone(), t.digests[0].clone()]);
    assert_eq!(r.trails[0].digests_valid, 6);
}

#[test]
fn the_window_limits_what_is_checked() {
    let t = build(6, None);
    let mut o = opts();
    o.start = t0() + Duration::hours(3);
    o.end = t0() + Duration::hours(4);
    // Damage outside the window is not looked at.
    std::fs::remove_file(t.path(&t.logs[0][0])).unwrap();
    let r = check(&t, &good_keys(), &o);
    assert!(r.ok, "{:#?}", r.trails[0].problems);
    assert_eq!(r.trails[0].digests_valid, 2);
}
