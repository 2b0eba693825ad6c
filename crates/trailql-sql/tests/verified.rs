//! `"$verified"`: rows say whether their log file validated against its signed digest, on a
//! local copy and on a bucket of a real S3-compatible server.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use trailql_integrity::PublicKeys;
use trailql_sql::{Engine, S3Options, ScanOptions, Source};
use trailql_testkit::signed::{build, good_keys_json, gz, put};
use trailql_testkit::MotoServer;

const SQL: &str = "SELECT eventname, \"$verified\" FROM cloudtrail_logs ORDER BY eventname";

async fn verified(e: &Engine) -> Vec<(String, Option<bool>)> {
    let batches = e.sql(SQL).await.unwrap().collect().await.unwrap();
    let mut out = Vec::new();
    for b in &batches {
        let names = b.column(0).as_string::<i32>();
        let v = b.column(1).as_boolean();
        for i in 0..b.num_rows() {
            out.push((
                names.value(i).to_string(),
                v.is_valid(i).then(|| v.value(i)),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_say_whether_their_file_validated() {
    let t = build(4, None);
    // Tamper with one log file: same key, different content.
    let tampered = &t.logs[1][0];
    put(
        t.dir.path(),
        tampered,
        &gz(br#"{"Records":[{"eventVersion":"1.09","eventTime":"2024-08-01T01:15:31Z","eventName":"E1-0"},{"eventVersion":"1.09","eventTime":"2024-08-01T01:16:00Z","eventName":"Injected"}]}"#),
    );
    let keys = Arc::new(PublicKeys::from_json(&good_keys_json()).unwrap());
    let with_keys = ScanOptions {
        public_keys: Some(keys),
        ..ScanOptions::default()
    };

    let local = Engine::open(&[t.dir.path().to_path_buf()], with_keys.clone()).unwrap();
    let rows = verified(&local).await;
    assert_eq!(rows.len(), 9);
    for (name, v) in &rows {
        let bad = name == "E1-0" || name == "Injected";
        assert_eq!(*v, Some(!bad), "{name}");
    }
    assert!(local
        .report
        .warnings()
        .iter()
        .any(|w| w.message.contains("integrity check found 1 error(s)")));

    // Without keys nothing is checked: NULL.
    let plain = Engine::open(&[t.dir.path().to_path_buf()], ScanOptions::default()).unwrap();
    assert!(verified(&plain).await.iter().all(|(_, v)| v.is_none()));

    // The same files in a bucket, signatures as object metadata.
    let moto = MotoServer::shared();
    moto.create_bucket("signed-trail");
    moto.upload_dir("signed-trail", "ct/", t.dir.path());
    let s3 = Engine::open_sources(
        &[Source::parse("s3://signed-trail/ct").unwrap()],
        with_keys,
        S3Options::static_keys(&moto.endpoint(), "AKIAIOSFODNN7EXAMPLE", "secret"),
    )
    .unwrap();
    assert_eq!(verified(&s3).await, rows);
}
