//! A signed trail built here with its own RSA key — digests made and signed exactly per the
//! recipe, chained, with the signature kept as CloudTrail keeps S3 metadata (a `.signature` side
//! file locally, object metadata on S3) — then tampered with in every way the validator must catch,
//! each case checked on the local copy and on a bucket of a real S3-compatible server.

use chrono::Duration;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use trailql_integrity::{
    validate, CloudTrailKeys, KeyRing, LocalStore, Options, PublicKeys, Report, S3Store,
};
use trailql_s3::{S3Client, S3Options, S3Url};
use trailql_testkit::signed::*;
use trailql_testkit::{CloudTrailServer, MotoServer};

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
        keep_valid_logs: true,
        after: Default::default(),
    }
}

/// Validate the local copy, and the same files in a bucket on a real S3-compatible server
/// (signatures as object metadata, under a trail prefix); both must give the same report.
fn check(t: &Trail, keys: &dyn KeyRing, o: &Options) -> Report {
    let local = validate(&LocalStore::new(t.dir.path()).unwrap(), keys, o).unwrap();
    let remote = validate(&s3_store(t), keys, o).unwrap();
    assert_eq!(
        comparable(&remote),
        comparable(&local),
        "S3 and local reports differ"
    );
    local
}

fn s3_store(t: &Trail) -> S3Store {
    static N: AtomicUsize = AtomicUsize::new(0);
    let moto = MotoServer::shared();
    let bucket = format!("trail-{}", N.fetch_add(1, Ordering::Relaxed));
    moto.create_bucket(&bucket);
    moto.upload_dir(&bucket, "logs/", t.dir.path());
    let client = S3Client::new(S3Options::static_keys(
        &moto.endpoint(),
        "AKIAIOSFODNN7EXAMPLE",
        "secret",
    ));
    let url = S3Url::parse(&format!("s3://{bucket}/logs")).unwrap();
    S3Store::new(Arc::new(client), url).unwrap()
}

/// A report as JSON with its set of valid log files in order.
fn comparable(r: &Report) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    let mut valid: Vec<_> = r.valid_logs.iter().cloned().collect();
    valid.sort();
    v["valid_logs"] = json!(valid);
    v
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

/// One `list-public-keys` document with the keys of several.
fn key_list(docs: &[String]) -> String {
    let all: Vec<serde_json::Value> = docs
        .iter()
        .flat_map(|d| {
            let v: serde_json::Value = serde_json::from_str(d).unwrap();
            v["PublicKeyList"].as_array().unwrap().clone()
        })
        .collect();
    json!({ "PublicKeyList": all }).to_string()
}

/// Keys fetched through the AWS SDK from a CloudTrail endpoint on loopback.
fn fetched_keys(endpoint: &str, o: &Options) -> CloudTrailKeys {
    let opts = S3Options::static_keys("http://unused", "AKIDCLOUDTRAILTEST00", "secret");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sdk = rt
        .block_on(trailql_s3::sdk_config(&opts))
        .unwrap()
        .into_builder()
        .endpoint_url(endpoint)
        .build();
    CloudTrailKeys::new(sdk, o.start, o.end).unwrap()
}

#[test]
fn keys_fetched_with_list_public_keys_per_region() {
    let t = build(4, None);
    let decoy = keys_json(
        &key(1).to_public_key(),
        "ffffffffffffffffffffffffffffffff",
        false,
    );
    let ct = CloudTrailServer::start();
    // The trail's region lists a decoy and the signing key (one per page).
    ct.set_keys(REGION, &key_list(&[decoy.clone(), good_keys_json()]));
    let keys = fetched_keys(&ct.endpoint(), &opts());
    let r = check(&t, &keys, &opts());
    assert!(r.ok, "{r:#?}");
    assert_eq!(r.trails[0].digests_valid, 4);
    assert_eq!(
        keys.origin().unwrap(),
        "public keys from CloudTrail ListPublicKeys: us-east-1 (2 keys)"
    );
    // Asked once per region (two pages), signed for that region, for the window.
    let calls = ct.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].next_token, None);
    assert_eq!(calls[1].next_token.as_deref(), Some("1"));
    for c in &calls {
        assert_eq!(
            (c.region.as_str(), c.access_key.as_str()),
            (REGION, "AKIDCLOUDTRAILTEST00")
        );
        let (start, end) = (c.start.unwrap() as i64, c.end.unwrap() as i64);
        assert!(start <= t0().timestamp() && end >= (t0() + Duration::hours(24)).timestamp());
    }

    // Keys are per region: the signing key listed only for another region does not count.
    let ct = CloudTrailServer::start();
    ct.set_keys(REGION, &decoy);
    ct.set_keys("eu-west-1", &good_keys_json());
    let keys = fetched_keys(&ct.endpoint(), &opts());
    let r = check(&t, &keys, &opts());
    assert!(!r.ok);
    assert_eq!(kinds(&r), ["digest-unknown-key"; 4]);
    let detail = &r.trails[0].problems[0].detail;
    assert!(detail.contains("in region us-east-1"), "{detail}");
    assert!(ct.calls().iter().all(|c| c.region == REGION));

    // A failing call (nothing listens there) stops validation and says how to get the keys
    // another way.
    let down = fetched_keys("http://127.0.0.1:9", &opts());
    let e = validate(&LocalStore::new(t.dir.path()).unwrap(), &down, &opts()).unwrap_err();
    assert!(
        e.contains("cannot list CloudTrail's public keys in us-east-1")
            && e.contains("aws cloudtrail list-public-keys --region us-east-1")
            && e.contains("--public-keys keys.json"),
        "{e}"
    );
}

#[test]
fn a_region_validated_up_to_a_digest_starts_its_window_there() {
    let t = build(4, None);
    let mut o = opts();
    // Digests 0 and 1 were validated by an earlier run.
    let second_end = t0() + Duration::hours(2);
    o.after
        .insert((ACCOUNT.to_string(), REGION.to_string()), second_end);
    let r = check(&t, &good_keys(), &o);
    assert!(r.ok, "{:#?}", r);
    let trail = &r.trails[0];
    assert_eq!(
        (trail.digests_valid, trail.logs_valid),
        (2, 4),
        "{trail:#?}"
    );
    assert_eq!(trail.newest_digest, Some(t0() + Duration::hours(4)));
    // The logs of the hours validated before are neither checked again nor reported.
    assert!(kinds(&r).is_empty(), "{:?}", kinds(&r));
    // Another region's entry changes nothing here.
    let mut other = opts();
    other
        .after
        .insert((ACCOUNT.to_string(), "eu-west-1".to_string()), second_end);
    let all = check(&t, &good_keys(), &other);
    assert_eq!(all.trails[0].digests_valid, 4);
}
