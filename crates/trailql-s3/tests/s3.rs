//! Against a real S3-compatible server (moto) on loopback, behind a proxy that logs requests and
//! injects faults: layouts, pruning by prefix (LIST/GET counted at the server), several buckets,
//! 503s, dropped and cut connections, a missing bucket, bad credentials, the cache.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use trailql_layout::{discover_local, KeyKind, ListScope, TimeWindow};
use trailql_s3::{S3Client, S3Error, S3Options, S3Url};
use trailql_testkit::{Fault, FaultProxy, MotoServer};

const ORG: &str = "o-testorg123";

/// A small generated trail (2 accounts, 2 regions, 2 days), written once per test.
fn trail(dir: &Path, org: bool) -> Vec<String> {
    let opts = trailql_generate::GenOptions {
        events: 500,
        accounts: 2,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        days: 2,
        openings: 2,
        org_id: org.then(|| ORG.to_string()),
        ..Default::default()
    };
    trailql_generate::generate(dir, &opts).unwrap();
    trailql_generate::account_ids(2)
}

fn options(endpoint: &str) -> S3Options {
    S3Options::static_keys(endpoint, "AKIAIOSFODNN7EXAMPLE", "secret")
}

fn client(endpoint: &str) -> S3Client {
    S3Client::new(options(endpoint))
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Keys (relative to the trail folder) that a full local walk keeps for a scope; the local walk
/// pruned by the scope must find the same.
fn expected(dir: &Path, scope: &ListScope) -> BTreeSet<String> {
    let all = discover_local(&[dir.join("AWSLogs")], &ListScope::default()).unwrap();
    let want = keep(&all.files, scope);
    let pruned = discover_local(&[dir.join("AWSLogs")], scope).unwrap();
    assert_eq!(
        keep(&pruned.files, scope),
        want,
        "the pruned walk lost a file"
    );
    want
}

fn keep(files: &[trailql_layout::SourceFile], scope: &ListScope) -> BTreeSet<String> {
    files
        .iter()
        .filter(|f| match &f.kind {
            KeyKind::TrailLog(k) => {
                scope.wants_account(&k.account)
                    && scope.wants_region(&k.region)
                    && scope.window.may_contain(k, scope.late_margin)
            }
            _ => false,
        })
        .map(|f| {
            let rel = f.display.split("AWSLogs/").nth(1).unwrap();
            format!("AWSLogs/{rel}")
        })
        .collect()
}

fn listed(files: &[trailql_layout::SourceFile], bucket: &str, prefix: &str) -> BTreeSet<String> {
    files
        .iter()
        .filter(|f| matches!(f.kind, KeyKind::TrailLog(_)))
        .map(|f| {
            f.display
                .strip_prefix(&format!("s3://{bucket}/{prefix}"))
                .unwrap()
                .to_string()
        })
        .collect()
}

fn one_hour(account: &str, region: &str) -> ListScope {
    ListScope {
        accounts: Some([account.to_string()].into()),
        regions: Some([region.to_string()].into()),
        window: TimeWindow {
            start: Some(t("2024-08-01T14:00:00Z")),
            end: Some(t("2024-08-01T15:00:00Z")),
        },
        late_margin: Some(Duration::hours(1)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_account_layout_with_prefix_and_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = trail(dir.path(), false);
    let moto = MotoServer::start();
    moto.create_bucket("trail-bucket");
    // A digest and a Config file in the tree: never listed as events.
    moto.upload_dir("trail-bucket", "prod/", dir.path());
    moto.put(
        "trail-bucket",
        &format!(
            "prod/AWSLogs/{}/CloudTrail-Digest/us-east-1/2024/08/01/d.json.gz",
            accounts[0]
        ),
        b"x",
        &[],
    );
    let proxy = FaultProxy::start(moto.addr);
    let c = client(&proxy.endpoint());
    let url = S3Url::parse("s3://trail-bucket/prod").unwrap();

    // Everything.
    let all = c.list(&url, &ListScope::default()).await.unwrap();
    assert!(all.problems.is_empty(), "{:?}", all.problems);
    let want = expected(dir.path(), &ListScope::default());
    assert!(want.len() > 50, "trail too small: {}", want.len());
    assert_eq!(listed(&all.files, "trail-bucket", "prod/"), want);
    assert!(all
        .files
        .iter()
        .all(|f| matches!(f.kind, KeyKind::TrailLog(_))));
    assert_eq!(proxy.gets().len(), 0, "listing reads no object");

    // One account, one region, one hour: AWSLogs/, the account's regions, one region folder
    // listed from the window's first minute — three LIST requests.
    proxy.clear();
    let scope = one_hour(&accounts[1], "eu-west-1");
    let some = c.list(&url, &scope).await.unwrap();
    let want = expected(dir.path(), &scope);
    assert!(!want.is_empty());
    assert_eq!(listed(&some.files, "trail-bucket", "prod/"), want);
    let lists = proxy.lists();
    assert_eq!(lists.len(), 3, "{lists:#?}");
    assert!(
        lists[2].contains("start-after=prod%2FAWSLogs%2F") && lists[2].contains("20240801T1400"),
        "{}",
        lists[2]
    );
    assert!(lists.iter().all(|l| !l.contains("CloudTrail-Digest")));
    assert_eq!(
        c.stats().snapshot().head_requests,
        1,
        "region looked up once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_layout_and_several_buckets() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let accounts = trail(dir_a.path(), true);
    trail(dir_b.path(), false);
    let moto = MotoServer::start();
    moto.create_bucket("org-trail");
    moto.create_bucket("other-trail");
    moto.upload_dir("org-trail", "", dir_a.path());
    moto.upload_dir("other-trail", "", dir_b.path());
    let c = client(&moto.endpoint());

    let scope = ListScope {
        accounts: Some([accounts[0].clone()].into()),
        ..ListScope::default()
    };
    let org = c
        .list(&S3Url::parse("s3://org-trail").unwrap(), &scope)
        .await
        .unwrap();
    assert_eq!(
        listed(&org.files, "org-trail", ""),
        expected(dir_a.path(), &scope)
    );
    assert!(org.files.iter().all(|f| match &f.kind {
        KeyKind::TrailLog(k) => k.org_id.as_deref() == Some(ORG) && k.account == accounts[0],
        _ => false,
    }));
    // Pointing at the organization folder, or one account inside it, gives the same files.
    for prefix in [
        format!("AWSLogs/{ORG}/"),
        format!("AWSLogs/{ORG}/{}", accounts[0]),
    ] {
        let u = S3Url::parse(&format!("s3://org-trail/{prefix}")).unwrap();
        let r = c.list(&u, &scope).await.unwrap();
        assert_eq!(r.files.len(), org.files.len(), "{prefix}");
    }
    let other = c
        .list(
            &S3Url::parse("s3://other-trail").unwrap(),
            &ListScope::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        listed(&other.files, "other-trail", ""),
        expected(dir_b.path(), &ListScope::default())
    );
    // A bucket of loose exports (no AWSLogs/) is listed whole.
    moto.create_bucket("exports");
    moto.put("exports", "ir/2024-08-01.json", b"{\"Records\":[]}", &[]);
    let loose = c
        .list(
            &S3Url::parse("s3://exports/ir").unwrap(),
            &ListScope::default(),
        )
        .await
        .unwrap();
    assert_eq!(loose.files.len(), 1);
    assert_eq!(loose.files[0].kind, KeyKind::LooseJson);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_503_dropped_and_cut_connections() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path(), false);
    let moto = MotoServer::start();
    moto.create_bucket("flaky");
    moto.upload_dir("flaky", "", dir.path());
    let proxy = FaultProxy::start(moto.addr);
    let c = client(&proxy.endpoint());
    let url = S3Url::parse("s3://flaky").unwrap();
    let clean = c.list(&url, &ListScope::default()).await.unwrap();

    proxy.inject("list-type=2", Fault::Status(503), 2);
    proxy.inject("list-type=2", Fault::Drop, 1);
    let again = c.list(&url, &ListScope::default()).await.unwrap();
    assert_eq!(again.files.len(), clean.files.len());
    assert!(again.problems.is_empty());

    let f = &clean.files[0];
    let trailql_layout::Location::Object { key, etag, .. } = &f.location else {
        panic!("not an object")
    };
    let want = std::fs::read(dir.path().join(key)).unwrap();
    for fault in [
        Fault::Status(503),
        Fault::Status(500),
        Fault::Drop,
        Fault::Truncate,
    ] {
        proxy.inject(key, fault, 1);
        let got = c.fetch("flaky", key, etag.as_deref()).await.unwrap();
        assert_eq!(got.as_ref(), want.as_slice(), "after {fault:?}");
    }
    let s = c.stats().snapshot();
    assert!(s.server_errors >= 6, "{s:?}");
    assert_eq!(s.objects_fetched, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_objects_are_spooled_to_a_file_and_retried_from_the_start() {
    use std::io::Read;
    let moto = MotoServer::start();
    moto.create_bucket("large");
    // 6 MB that does not repeat, so that a cut body cannot look whole.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let body: Vec<u8> = (0..6 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/big.json.gz";
    moto.put("large", key, &body, &[]);
    let proxy = FaultProxy::start(moto.addr);
    let c = client(&proxy.endpoint());
    for fault in [
        None,
        Some(Fault::Status(503)),
        Some(Fault::Status(500)),
        Some(Fault::Drop),
        Some(Fault::Truncate),
    ] {
        if let Some(f) = fault {
            proxy.inject(key, f, 1);
        }
        let mut file = c.fetch_to_file("large", key).await.unwrap();
        let mut got = Vec::new();
        file.read_to_end(&mut got).unwrap();
        assert!(
            got == body,
            "after {fault:?}: {} bytes, want {}",
            got.len(),
            body.len()
        );
    }
    assert_eq!(c.stats().snapshot().objects_fetched, 5);
    let e = c
        .fetch_to_file("large", "AWSLogs/missing.json.gz")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not found"), "{e}");
}

/// The error of listing `bucket` with its region given (no HeadBucket first).
async fn list_error_in_us_east_1(endpoint: &str, bucket: &str) -> S3Error {
    let c = S3Client::new(S3Options {
        bucket_region: Some("us-east-1".into()),
        ..options(endpoint)
    });
    let url = S3Url::parse(&format!("s3://{bucket}")).unwrap();
    c.list(&url, &ListScope::default()).await.unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_is_explained() {
    let moto = MotoServer::start();
    let c = client(&moto.endpoint());
    let e = c
        .list(
            &S3Url::parse("s3://no-such-trail").unwrap(),
            &ListScope::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, S3Error::NoSuchBucket { .. }), "{e}");
    assert!(e
        .to_string()
        .contains("s3://no-such-trail: the bucket does not exist"));
    // Also when the region is given (no HeadBucket): the listing's NoSuchBucket is recognised.
    let e = list_error_in_us_east_1(&moto.endpoint(), "no-such-trail").await;
    assert!(matches!(e, S3Error::NoSuchBucket { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_checked_by_the_server() {
    // moto checks SigV4 signatures and IAM policies once auth is on. (moto 5 miscomputes the
    // signature of requests with a `/` in the query string, so listings under auth are only
    // checked for the unknown-key case, which it rejects before looking at the signature; GETs
    // carry the key in the path and are checked fully.)
    let moto = MotoServer::start();
    moto.create_bucket("locked");
    let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/111122223333_CloudTrail_us-east-1_20240801T0005Z_a.json.gz";
    moto.put("locked", key, b"{}", &[]);
    let (reader_key, reader_secret) = moto.create_user("reader", true);
    let (nobody_key, nobody_secret) = moto.create_user("nobody", false);
    moto.require_auth();
    let url = S3Url::parse("s3://locked").unwrap();
    let with = |k: &str, s: &str| S3Client::new(S3Options::static_keys(&moto.endpoint(), k, s));
    let ok = with(&reader_key, &reader_secret)
        .fetch("locked", key, None)
        .await
        .unwrap();
    assert_eq!(ok.as_ref(), b"{}");

    let e = with("AKIAUNKNOWNKEY000000", "nope")
        .list(&url, &ListScope::default())
        .await
        .unwrap_err();
    assert!(matches!(e, S3Error::BadCredentials { .. }), "{e}");
    assert!(e.to_string().contains("credentials were rejected"), "{e}");
    assert!(e.to_string().contains("InvalidAccessKeyId"), "{e}");

    let e = with(&reader_key, "wrong-secret")
        .fetch("locked", key, None)
        .await
        .unwrap_err();
    assert!(matches!(e, S3Error::BadCredentials { .. }), "{e}");
    assert!(e.to_string().contains("SignatureDoesNotMatch"), "{e}");

    let e = with(&nobody_key, &nobody_secret)
        .fetch("locked", key, None)
        .await
        .unwrap_err();
    assert!(matches!(e, S3Error::AccessDenied { .. }), "{e}");
    assert!(e.to_string().contains("s3:GetObject"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_serves_the_second_read() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path(), false);
    let moto = MotoServer::start();
    moto.create_bucket("cached");
    moto.upload_dir("cached", "", dir.path());
    let proxy = FaultProxy::start(moto.addr);
    let cache = tempfile::tempdir().unwrap();
    let mk = || {
        S3Client::new(S3Options {
            cache_dir: Some(cache.path().to_path_buf()),
            ..options(&proxy.endpoint())
        })
    };
    let url = S3Url::parse("s3://cached").unwrap();
    let scope = one_hour(&trailql_generate::account_ids(2)[0], "us-east-1");
    let mut first_bytes = Vec::new();
    for round in 0..2 {
        let c = mk();
        proxy.clear();
        let l = c.list(&url, &scope).await.unwrap();
        assert!(!l.files.is_empty());
        let mut bytes = Vec::new();
        for f in &l.files {
            let trailql_layout::Location::Object { bucket, key, etag } = &f.location else {
                panic!()
            };
            bytes.push(c.fetch(bucket, key, etag.as_deref()).await.unwrap());
        }
        let s = c.stats().snapshot();
        if round == 0 {
            assert_eq!(proxy.gets().len(), l.files.len());
            assert_eq!(s.cache_hits, 0);
            first_bytes = bytes;
        } else {
            assert_eq!(proxy.gets().len(), 0, "second read comes from the cache");
            assert_eq!(s.cache_hits as usize, l.files.len());
            assert_eq!(s.bytes_downloaded, 0);
            assert_eq!(bytes, first_bytes);
        }
    }
    // A changed object has a new ETag: fetched again, not served stale.
    let c = mk();
    let l = c.list(&url, &scope).await.unwrap();
    let trailql_layout::Location::Object { key, .. } = &l.files[0].location else {
        panic!()
    };
    moto.put("cached", key, b"changed", &[]);
    let l = c.list(&url, &scope).await.unwrap();
    let trailql_layout::Location::Object { key, etag, .. } = &l.files[0].location else {
        panic!()
    };
    assert_eq!(
        c.fetch("cached", key, etag.as_deref())
            .await
            .unwrap()
            .as_ref(),
        b"changed"
    );
    let _ = NaiveDate::from_ymd_opt(2024, 8, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_region_is_explained() {
    // S3 answers a request sent to the wrong region with 301 PermanentRedirect and no Location;
    // the proxy answers so, as S3 would, when `--bucket-region` names the wrong region.
    let moto = MotoServer::start();
    moto.create_bucket("far-trail");
    let proxy = FaultProxy::start(moto.addr);
    proxy.inject(
        "list-type=2",
        Fault::Redirect {
            region: "eu-west-1",
        },
        1,
    );
    let e = list_error_in_us_east_1(&proxy.endpoint(), "far-trail").await;
    let text = e.to_string();
    assert!(matches!(e, S3Error::WrongRegion { .. }), "{text}");
    assert!(
        text.contains("s3://far-trail") && text.contains("--bucket-region"),
        "{text}"
    );
    // A redirect is not retried: one request, then the explanation.
    assert_eq!(proxy.lists().len(), 1, "{:?}", proxy.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_credentials_are_explained() {
    let moto = MotoServer::start();
    moto.create_bucket("old-session");
    let proxy = FaultProxy::start(moto.addr);
    proxy.inject("list-type=2", Fault::ExpiredToken, 1);
    let e = list_error_in_us_east_1(&proxy.endpoint(), "old-session").await;
    let text = e.to_string();
    assert!(matches!(e, S3Error::ExpiredCredentials { .. }), "{text}");
    assert!(
        text.contains("s3://old-session")
            && text.contains("have expired")
            && text.contains("aws sso login"),
        "{text}"
    );
}
