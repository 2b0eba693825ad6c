//! The same questions over a trail bucket on a real S3-compatible server (moto, on loopback) and
//! over a local copy of the same files must give the same answers; pruning must show in the
//! LIST/GET counts.

use std::io::Write;
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use trailql_generate::{generate, GenOptions};
use trailql_sql::{Engine, S3Options, S3Url, ScanOptions, Source};
use trailql_testkit::{FaultProxy, MotoServer};

const ORG: &str = "o-exampleorg1";

fn s3_options(endpoint: &str) -> S3Options {
    S3Options::static_keys(endpoint, "AKIAIOSFODNN7EXAMPLE", "secret")
}

async fn rows(e: &Engine, sql: &str) -> Vec<String> {
    let batches: Vec<RecordBatch> = e
        .sql(sql)
        .await
        .unwrap_or_else(|err| panic!("planning {sql}: {err}"))
        .collect()
        .await
        .unwrap_or_else(|err| panic!("running {sql}: {err}"));
    let mut out = Vec::new();
    for b in &batches {
        let cols: Vec<_> = b
            .columns()
            .iter()
            .map(|c| cast(c, &DataType::Utf8).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            let row: Vec<String> = cols
                .iter()
                .map(|c| {
                    let c = c.as_string::<i32>();
                    if c.is_valid(r) {
                        c.value(r).to_string()
                    } else {
                        "NULL".into()
                    }
                })
                .collect();
            out.push(row.join("|"));
        }
    }
    out.sort();
    out
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// An organization trail with a digest, a Config file and a corrupt log file in the tree.
fn org_trail(dir: &Path) -> Vec<String> {
    let opts = GenOptions {
        events: 1_000,
        accounts: 2,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        days: 2,
        openings: 4,
        org_id: Some(ORG.into()),
        ..GenOptions::default()
    };
    generate(dir, &opts).unwrap();
    let accounts = trailql_generate::account_ids(2);
    let base = dir.join(format!("AWSLogs/{ORG}/{}", accounts[0]));
    let put = |rel: &str, bytes: &[u8]| {
        let p = base.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    put(
        &format!("CloudTrail-Digest/us-east-1/2024/08/01/{}_CloudTrail-Digest_us-east-1_org_us-east-1_20240801T010000Z.json.gz", accounts[0]),
        &gz(b"{\"digestStartTime\":\"2024-08-01T00:00:00Z\"}"),
    );
    put(
        "Config/us-east-1/2024/8/1/ConfigHistory/x.json.gz",
        &gz(b"{\"configurationItems\":[]}"),
    );
    let mut corrupt = gz(br#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-08-01T10:00:00Z","eventName":"ListBuckets","eventSource":"s3.amazonaws.com"}]}"#);
    corrupt.truncate(corrupt.len() - 12);
    put(
        &format!("CloudTrail/us-east-1/2024/08/01/{}_CloudTrail_us-east-1_20240801T1003Z_corrupt.json.gz", accounts[0]),
        &corrupt,
    );
    accounts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_answers_like_its_local_copy() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = org_trail(dir.path());
    let moto = MotoServer::start();
    moto.create_bucket("org-trail");
    moto.upload_dir("org-trail", "", dir.path());
    let proxy = FaultProxy::start(moto.addr);

    let local = Engine::open(&[dir.path().join("AWSLogs")], ScanOptions::default()).unwrap();
    let s3 = Engine::open_sources(
        &[Source::S3(S3Url::parse("s3://org-trail").unwrap())],
        ScanOptions::default(),
        s3_options(&proxy.endpoint()),
    )
    .unwrap();

    let queries = [
        "SELECT eventid, eventtime, account, region, useridentity.arn, json_extract_scalar(requestparameters, '$.groupId') \
         FROM cloudtrail_logs WHERE eventname = 'AuthorizeSecurityGroupIngress' \
         AND (requestparameters LIKE '%0.0.0.0/0%' OR requestparameters LIKE '%::/0%')",
        "SELECT account, region, timestamp, count(*) FROM cloudtrail_logs GROUP BY 1, 2, 3",
        "SELECT eventsource, eventname, count(*) FROM cloudtrail_logs GROUP BY 1, 2",
        "SELECT eventid, status, group_id, actor, closed_at FROM exposure()",
    ];
    for q in queries {
        let want = rows(&local, q).await;
        assert!(!want.is_empty(), "{q}");
        assert_eq!(rows(&s3, q).await, want, "{q}");
    }
    // Bad input and non-event files are counted the same way, named by their s3:// URL.
    local.report.reset();
    s3.report.reset();
    let all = "SELECT count(*) FROM cloudtrail_logs";
    assert_eq!(rows(&s3, all).await, rows(&local, all).await);
    let (l, r) = (local.report.snapshot(), s3.report.snapshot());
    assert_eq!(r.files_bad, 1);
    assert_eq!(
        (r.files_read, r.events, r.files_bad),
        (l.files_read, l.events, l.files_bad)
    );
    assert!(s3
        .report
        .warnings()
        .iter()
        .any(|w| w.path.starts_with("s3://org-trail/AWSLogs/")
            && w.path.ends_with("_corrupt.json.gz")));
    // Digests and Config are never listed as events on S3 (only CloudTrail/ folders are walked).
    assert!(l.files_skipped() >= 2);
    let s3_stats = r.s3.unwrap();
    assert_eq!(s3_stats.get_requests, r.files_read);

    // One account, one region, one hour: three LISTs per walk level at most, GETs only for the
    // files of the window.
    let hour = format!(
        "SELECT count(*) FROM cloudtrail_logs WHERE account = '{}' AND region = 'eu-west-1' \
         AND eventtime >= '2024-08-01T14:00:00Z' AND eventtime < '2024-08-01T15:00:00Z'",
        accounts[1]
    );
    local.report.reset();
    s3.report.reset();
    proxy.clear();
    assert_eq!(rows(&s3, &hour).await, rows(&local, &hour).await);
    let (l, r) = (local.report.snapshot(), s3.report.snapshot());
    let st = r.s3.unwrap();
    // AWSLogs/, the organization, the account's regions, the region folder from 14:00.
    assert_eq!(st.list_requests, 4, "{:#?}", proxy.lists());
    assert_eq!(st.get_requests, l.files_to_read);
    assert_eq!(proxy.gets().len() as u64, st.get_requests);
    assert!(l.files_to_read < 30, "{}", l.files_to_read);
    assert!(st.cost_usd() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_buckets_and_a_local_folder_together() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    for (i, d) in [&a, &b, &c].iter().enumerate() {
        let opts = GenOptions {
            seed: i as u64 + 1,
            events: 300,
            accounts: 1,
            regions: vec!["us-east-1".into()],
            days: 1,
            openings: 1,
            ..GenOptions::default()
        };
        generate(d.path(), &opts).unwrap();
    }
    let moto = MotoServer::start();
    moto.create_bucket("trail-a");
    moto.create_bucket("trail-b");
    moto.upload_dir("trail-a", "", a.path());
    moto.upload_dir("trail-b", "logs/", b.path());
    let count = "SELECT count(*) FROM cloudtrail_logs";
    let mut total = 0u64;
    for d in [&a, &b, &c] {
        let e = Engine::open(&[d.path().to_path_buf()], ScanOptions::default()).unwrap();
        total += rows(&e, count).await[0].parse::<u64>().unwrap();
    }
    let mixed = Engine::open_sources(
        &[
            Source::parse("s3://trail-a").unwrap(),
            Source::parse("s3://trail-b/logs").unwrap(),
            Source::Local(c.path().to_path_buf()),
        ],
        ScanOptions::default(),
        s3_options(&moto.endpoint()),
    )
    .unwrap();
    assert_eq!(rows(&mixed, count).await, vec![total.to_string()]);
    // A missing bucket fails the query with a message that says so.
    let missing = Engine::open_sources(
        &[Source::parse("s3://no-such-bucket").unwrap()],
        ScanOptions::default(),
        s3_options(&moto.endpoint()),
    )
    .unwrap();
    // Buckets are listed when the query is planned for execution.
    let err = missing
        .sql(count)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("s3://no-such-bucket: the bucket does not exist"),
        "{err}"
    );
}
