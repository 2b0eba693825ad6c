//! The lake end to end: sync a generated trail, query the lake with the raw table's SQL and get
//! the raw table's answers; re-syncs are incremental; duplicates are one row; compaction; an S3
//! lake on moto; damaged lake files left out and named; and other engines (DuckDB, PySpark)
//! reading the lake with the printed DDL.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use trailql_generate::{generate, GenOptions};
use trailql_lake::{Budget, Lake, LakeUrl};
use trailql_layout::TimeWindow;
use trailql_sql::{Engine, S3Options, ScanOptions, Source};
use trailql_testkit::MotoServer;

fn trail(dir: &Path, events: u64, seed: u64) -> PathBuf {
    let opts = GenOptions {
        events,
        seed,
        accounts: 2,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        days: 3,
        openings: 6,
        ..GenOptions::default()
    };
    generate(dir, &opts).unwrap();
    dir.join("AWSLogs")
}

async fn sync_with(
    lake: &Lake,
    sources: &[Source],
    s3: S3Options,
    budget: Budget,
) -> trailql_lake::SyncReport {
    let options = ScanOptions::default();
    let (table, client) = Engine::table(sources, options.clone(), s3).unwrap();
    trailql_lake::sync(lake, table, client, &options, TimeWindow::ALL, budget)
        .await
        .unwrap()
}

async fn sync(lake: &Lake, logs: &Path) -> trailql_lake::SyncReport {
    sync_with(
        lake,
        &[Source::Local(logs.to_path_buf())],
        S3Options::default(),
        Budget::default(),
    )
    .await
}

async fn local_lake(dir: &Path) -> Lake {
    Lake::open(&LakeUrl::Local(dir.to_path_buf()), None)
        .await
        .unwrap()
}

/// Every value of every row, as text, one string per row.
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
            .map(|c| {
                let f = datafusion::arrow::util::display::ArrayFormatter::try_new(
                    c.as_ref(),
                    &Default::default(),
                )
                .unwrap();
                (0..b.num_rows())
                    .map(|r| f.value(r).to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        for r in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .map(|c| c[r].as_str())
                    .collect::<Vec<_>>()
                    .join(" | "),
            );
        }
    }
    out
}

fn count(rows: &[String]) -> i64 {
    rows[0].parse().unwrap()
}

/// How many distinct event ids the table holds.
async fn distinct_ids(e: &Engine) -> i64 {
    count(&rows(e, "SELECT count(DISTINCT eventid) FROM cloudtrail_logs").await)
}

fn raw(logs: &Path) -> Engine {
    Engine::open(&[logs.to_path_buf()], ScanOptions::default()).unwrap()
}

fn on_lake(lake: &Lake) -> Engine {
    trailql_lake::engine(lake, None, &ScanOptions::default()).unwrap()
}

/// Queries whose answers must not change when the trail becomes a lake.
const SAME_ANSWERS: &[&str] = &[
    "SELECT count(*) FROM cloudtrail_logs",
    "SELECT eventname, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 1",
    "SELECT account, region, count(*) FROM cloudtrail_logs GROUP BY 1, 2 ORDER BY 1, 2",
    // Every column but the day partitions (delivery day in the trail, event day in the lake).
    "SELECT * EXCLUDE (\"timestamp\", \"date\", year, month, day) FROM cloudtrail_logs ORDER BY eventid",
    "SELECT eventtime, useridentity.arn, json_extract_scalar(requestparameters, '$.groupId') FROM cloudtrail_logs
     WHERE eventname = 'AuthorizeSecurityGroupIngress' AND requestparameters LIKE '%0.0.0.0/0%' ORDER BY 1, 3",
    "SELECT count(*) FROM cloudtrail_logs WHERE eventtime >= '2024-08-02T06:00:00Z' AND eventtime < '2024-08-02T18:00:00Z'",
    "SELECT count(*) FROM cloudtrail_logs WHERE from_iso8601_timestamp(eventtime) >= TIMESTAMP '2024-08-03 00:00:00'",
    "SELECT r.arn, count(*) FROM cloudtrail_logs CROSS JOIN UNNEST(resources) AS t(r) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
    "SELECT useridentity.sessioncontext.sessionissuer.username, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 2 DESC, 1 NULLS FIRST LIMIT 5",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lake_answers_as_the_trail_does_and_syncs_incrementally() {
    let t = tempfile::tempdir().unwrap();
    let logs = trail(&t.path().join("trail"), 12_000, 7);
    let lake = local_lake(&t.path().join("lake")).await;

    let first = sync(&lake, &logs).await;
    assert!(first.files_listed > 10);
    assert_eq!(first.files_converted, first.files_listed);
    assert_eq!(first.written.duplicates, 0);
    assert_eq!(first.written.rows, first.records);
    assert_eq!(first.partitions, 2 * 2 * 3, "{first:?}");

    let (trail, lake_engine) = (raw(&logs), on_lake(&lake));
    for sql in SAME_ANSWERS {
        let (a, b) = (rows(&trail, sql).await, rows(&lake_engine, sql).await);
        assert!(!a.is_empty(), "{sql}");
        assert_eq!(a, b, "{sql}");
    }
    // The day partitions are the event's day, in the raw table's formats.
    let days = rows(
        &lake_engine,
        "SELECT DISTINCT \"timestamp\", \"date\", year, month, day FROM cloudtrail_logs ORDER BY 1",
    )
    .await;
    assert_eq!(
        days,
        [
            "2024/08/01 | 2024/08/01 | 2024 | 08 | 01",
            "2024/08/02 | 2024/08/02 | 2024 | 08 | 02",
            "2024/08/03 | 2024/08/03 | 2024 | 08 | 03"
        ]
    );

    // Nothing new: nothing converted, nothing written.
    let again = sync(&lake, &logs).await;
    assert_eq!(again.files_in_lake, first.files_listed);
    assert_eq!((again.files_converted, again.written.files), (0, 0));

    // A file delivered later is the only one converted.
    let some = walk(&logs).into_iter().next().unwrap();
    let late = some
        .with_file_name("111122223333_CloudTrail_us-east-1_20240803T2355Z_late0000000001.json.gz");
    let event = r#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-08-03T23:50:00Z","eventSource":"ec2.amazonaws.com","eventName":"LateEvent","awsRegion":"us-east-1","eventID":"late-0001","recipientAccountId":"111122223333"}]}"#;
    std::fs::write(&late, trailql_testkit::signed::gz(event.as_bytes())).unwrap();
    let third = sync(&lake, &logs).await;
    assert_eq!(third.files_converted, 1, "{third:?}");
    assert_eq!(third.written.rows, 1);
    let n = rows(
        &on_lake(&lake),
        "SELECT count(*) FROM cloudtrail_logs WHERE eventname = 'LateEvent'",
    )
    .await;
    assert_eq!(count(&n), 1);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".json.gz") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_delivered_twice_is_one_row_in_one_run_or_two() {
    let t = tempfile::tempdir().unwrap();
    let logs = trail(&t.path().join("trail"), 4_000, 11);
    let files = walk(&logs);
    // The same file delivered again under another name, before the first sync.
    let dup = |f: &Path, tag: &str| {
        let name = f
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".json.gz", &format!("{tag}.json.gz"));
        std::fs::copy(f, f.with_file_name(name)).unwrap();
    };
    dup(&files[0], "again");
    let lake = local_lake(&t.path().join("lake")).await;
    let first = sync(&lake, &logs).await;
    assert!(first.written.duplicates > 0, "{first:?}");
    // …and another after it.
    dup(&files[1], "later");
    let second = sync(&lake, &logs).await;
    assert_eq!(second.files_converted, 1);
    assert_eq!(second.written.rows, 0, "{second:?}");
    assert!(second.written.duplicates > 0);

    let e = on_lake(&lake);
    let total = count(&rows(&e, "SELECT count(*) FROM cloudtrail_logs").await);
    assert_eq!(total, distinct_ids(&e).await);
    assert_eq!(total, distinct_ids(&raw(&logs)).await);
}

/// With a budget so small that partitions are written as several files, two at a time, events
/// delivered twice (the copies read after the rest of their day) are still one row each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_are_dropped_while_two_files_are_written_at_once() {
    let t = tempfile::tempdir().unwrap();
    let logs = trail(&t.path().join("trail"), 40_000, 17);
    // A third of the files delivered again as if at the end of their day: their rows reach
    // the partition after others, when its earlier files may still be being written.
    for (i, f) in walk(&logs).iter().enumerate() {
        if i % 3 == 0 {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let mut parts: Vec<&str> = name.split('_').collect();
            let late = format!("{}T2359Z", &parts[3][..8]);
            parts[3] = &late;
            std::fs::copy(f, f.with_file_name(parts.join("_"))).unwrap();
        }
    }
    let lake = local_lake(&t.path().join("lake")).await;
    let tiny = Budget {
        total: 128 << 10,
        file: 64 << 10,
    };
    let r = sync_with(
        &lake,
        &[Source::Local(logs.clone())],
        S3Options::default(),
        tiny,
    )
    .await;
    // Partitions written as several files.
    assert!(r.written.files > r.partitions as u64 + 6, "{r:?}");
    assert!(r.written.duplicates > 0, "{r:?}");
    let e = on_lake(&lake);
    let total = count(&rows(&e, "SELECT count(*) FROM cloudtrail_logs").await);
    assert_eq!(total, distinct_ids(&raw(&logs)).await);
    assert_eq!(r.written.rows + r.written.duplicates, r.records);
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_each_partition_and_drops_duplicates() {
    let t = tempfile::tempdir().unwrap();
    let logs = trail(&t.path().join("trail"), 8_000, 5);
    let lake_dir = t.path().join("lake");
    let lake = local_lake(&lake_dir).await;
    // A tiny budget: many files per partition.
    let tiny = Budget {
        total: 256 << 10,
        file: 128 << 10,
    };
    sync_with(
        &lake,
        &[Source::Local(logs.clone())],
        S3Options::default(),
        tiny,
    )
    .await;
    let before = parquet_files(&lake_dir);
    // More files than partitions (12): compaction has work.
    assert!(before.len() > 12, "{}", before.len());
    // A compaction killed after writing its file but before deleting the old ones leaves the
    // rows twice: the next compaction merges them back to one.
    let copy = before[0].with_file_name("compact-copy.parquet");
    std::fs::copy(&before[0], &copy).unwrap();
    let expect = count(&rows(&raw(&logs), "SELECT count(*) FROM cloudtrail_logs").await);
    let doubled = count(&rows(&on_lake(&lake), "SELECT count(*) FROM cloudtrail_logs").await);
    assert!(doubled > expect);

    let r = trailql_lake::compact(&lake).await.unwrap();
    assert_eq!(r.partitions, 12);
    assert_eq!(r.files_after, 12, "{r:?}");
    assert!(r.duplicates > 0);
    assert_eq!(parquet_files(&lake_dir).len(), 12);
    let e = on_lake(&lake);
    for sql in SAME_ANSWERS {
        assert_eq!(rows(&raw(&logs), sql).await, rows(&e, sql).await, "{sql}");
    }
    // Still sorted within each file: a merge of sorted inputs.
    let sorted = rows(
        &e,
        "SELECT count(*) FROM (SELECT \"$path\" p, eventtime, lag(eventtime) OVER (PARTITION BY \"$path\" ORDER BY eventtime) prev FROM cloudtrail_logs) WHERE prev > eventtime",
    )
    .await;
    assert_eq!(count(&sorted), 0);
}

fn file_rows(p: &Path) -> i64 {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let r = SerializedFileReader::new(std::fs::File::open(p).unwrap()).unwrap();
    r.metadata().file_metadata().num_rows()
}

/// Where the `eventjson` column chunk of a file's first row group is: its offset and length.
fn eventjson_chunk(p: &Path) -> (usize, usize) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let r = SerializedFileReader::new(std::fs::File::open(p).unwrap()).unwrap();
    let c = r
        .metadata()
        .row_group(0)
        .columns()
        .iter()
        .find(|c| c.column_path().string() == "eventjson")
        .unwrap()
        .byte_range();
    (c.0 as usize, c.1 as usize)
}

fn file_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_lake_file_is_left_out_and_named_and_the_others_still_answer() {
    let t = tempfile::tempdir().unwrap();
    let lake_dir = t.path().join("lake");
    let lake = local_lake(&lake_dir).await;
    // Three trails synced one after the other: up to three files in a partition.
    for seed in [11, 12, 13] {
        let logs = trail(&t.path().join(format!("trail-{seed}")), 4_000, seed);
        sync(&lake, &logs).await;
    }
    let all = "SELECT count(*) FROM cloudtrail_logs";
    let total = count(&rows(&on_lake(&lake), all).await);
    let files = parquet_files(&lake_dir);
    let in_folder = |f: &PathBuf| files.iter().filter(|g| g.parent() == f.parent()).count();
    let cut = files.iter().max_by_key(|f| in_folder(f)).unwrap().clone();
    assert!(in_folder(&cut) >= 3, "{files:?}");
    let pages = files
        .iter()
        .find(|f| f.parent() != cut.parent() && in_folder(f) >= 3)
        .expect("a second partition of three files")
        .clone();
    let partitions: std::collections::BTreeSet<_> = files.iter().map(|f| f.parent()).collect();
    let partitions = partitions.len();

    // An error of the query's own, met while the reader filters the files, is not blamed on
    // them: it is the query's error, and no file is named.
    let e = on_lake(&lake);
    let own = match e
        .sql("SELECT count(*) FROM cloudtrail_logs WHERE CAST(eventname AS INT) > 3")
        .await
    {
        Ok(df) => df.collect().await.map(|_| ()),
        Err(err) => Err(err),
    };
    let own = own.expect_err("eventname is not a number").to_string();
    assert!(own.contains("Cannot cast"), "{own}");
    assert!(e.report.warnings().is_empty(), "{:?}", e.report.warnings());

    // A file whose footer is whole but whose pages are not: a query that reads those pages
    // names it and goes on with the rest of the lake; with --strict it fails naming it.
    let (start, len) = eventjson_chunk(&pages);
    let mut bytes = std::fs::read(&pages).unwrap();
    bytes[start..start + len].fill(0xff);
    std::fs::write(&pages, &bytes).unwrap();
    let page_name = pages.file_name().unwrap().to_string_lossy().to_string();
    let reading = "SELECT count(*) FROM cloudtrail_logs WHERE length(eventjson) > 0";
    let e = on_lake(&lake);
    let n = count(&rows(&e, reading).await);
    assert!(
        n < total && n >= total - file_rows(&pages),
        "{n} of {total}"
    );
    let warnings = e.report.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(file_name(&warnings[0].path), page_name);
    assert!(warnings[0].path.starts_with(&*lake_dir.to_string_lossy()));
    assert!(
        warnings[0].message.starts_with("damaged Parquet data (")
            && warnings[0]
                .message
                .contains("manifest.json away and sync again"),
        "{warnings:?}"
    );
    assert_eq!(e.report.snapshot().files_bad, 1);
    let strict = ScanOptions {
        strict: true,
        ..ScanOptions::default()
    };
    let e = trailql_lake::engine(&lake, None, &strict).unwrap();
    let err = match e.sql(reading).await {
        Ok(df) => df.collect().await.unwrap_err(),
        Err(err) => err,
    };
    let err = err.to_string();
    assert!(
        err.contains(&page_name) && err.contains("damaged Parquet data"),
        "{err}"
    );

    // One file cut short (a copy that did not finish), one that is not Parquet at all, both in
    // a partition whose other files compaction still has to merge.
    let lost = file_rows(&cut);
    assert!(lost > 0);
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let junk = cut.with_file_name("part-junk.parquet");
    std::fs::write(&junk, b"junk\n").unwrap();
    let mut damaged = vec![
        cut.file_name().unwrap().to_string_lossy().to_string(),
        "part-junk.parquet".to_string(),
    ];
    damaged.sort();

    // The query goes on without them, and names them.
    let e = on_lake(&lake);
    assert_eq!(count(&rows(&e, all).await), total - lost);
    let warnings = e.report.warnings();
    let mut named: Vec<String> = warnings
        .iter()
        .map(|w| file_name(&w.path).to_string())
        .collect();
    named.sort();
    assert_eq!(named, damaged);
    for w in &warnings {
        assert!(w.path.starts_with(&*lake_dir.to_string_lossy()), "{w:?}");
        assert!(
            w.message.starts_with("not a readable Parquet file (")
                && w.message.contains("manifest.json away and sync again"),
            "{w:?}"
        );
    }
    assert_eq!(e.report.snapshot().files_bad, 2);
    // With --strict, the query fails and says which file.
    let e = trailql_lake::engine(&lake, None, &strict).unwrap();
    let err = match e.sql(all).await {
        Ok(df) => df.collect().await.unwrap_err(),
        Err(err) => err,
    };
    let err = err.to_string();
    assert!(
        err.contains("not a readable Parquet file") && err.contains(&damaged[0]),
        "{err}"
    );

    // Compaction finds the file with damaged pages when a merge fails, merges the others and
    // leaves the damaged ones as they are.
    damaged.push(page_name.clone());
    damaged.sort();
    let r = trailql_lake::compact(&lake).await.unwrap();
    let mut left: Vec<String> = r
        .unreadable
        .iter()
        .map(|u| file_name(u.file.location.as_ref()).to_string())
        .collect();
    left.sort();
    assert_eq!(left, damaged);
    // Named as the query's warnings name them: by their full path.
    for u in &r.unreadable {
        let shown = lake.shown(&u.file.location);
        assert!(
            [&cut, &junk, &pages]
                .iter()
                .any(|f| f.to_string_lossy() == shown),
            "{shown}"
        );
    }
    let found = r
        .unreadable
        .iter()
        .find(|u| file_name(u.file.location.as_ref()) == page_name)
        .unwrap();
    assert!(
        found.reason.starts_with("damaged Parquet data ("),
        "{found:?}"
    );
    assert!(cut.exists() && junk.exists() && pages.exists());
    assert!(r.partitions_compacted >= 2, "{r:?}");
    // One readable file per partition, and the three damaged ones.
    assert_eq!(parquet_files(&lake_dir).len(), partitions + 3, "{r:?}");
    // (`count(*)` reads no pages: the damaged pages' rows still count.)
    assert_eq!(count(&rows(&on_lake(&lake), all).await), total - lost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_on_s3_syncs_and_answers_like_a_local_one() {
    let moto = MotoServer::shared();
    moto.create_bucket("lake-bucket");
    let t = tempfile::tempdir().unwrap();
    let logs = trail(&t.path().join("trail"), 3_000, 3);
    let s3 = S3Options::static_keys(&moto.endpoint(), "testing", "testing");
    let client = Arc::new(trailql_s3::S3Client::new(s3.clone()));
    let url = LakeUrl::parse("s3://lake-bucket/cloudtrail").unwrap();
    let lake = Lake::open(&url, Some(&client)).await.unwrap();
    let first = sync_with(
        &lake,
        &[Source::Local(logs.clone())],
        s3.clone(),
        Budget::default(),
    )
    .await;
    assert!(first.written.files > 0);
    let again = sync_with(
        &lake,
        &[Source::Local(logs.clone())],
        s3.clone(),
        Budget::default(),
    )
    .await;
    assert_eq!(again.files_converted, 0);
    assert!(Lake::find(&url, Some(&client)).await.unwrap().is_some());

    let local = local_lake(&t.path().join("lake")).await;
    sync(&local, &logs).await;
    let remote =
        trailql_lake::engine(&lake, Some(client.clone()), &ScanOptions::default()).unwrap();
    for sql in SAME_ANSWERS {
        assert_eq!(
            rows(&on_lake(&local), sql).await,
            rows(&remote, sql).await,
            "{sql}"
        );
    }
    trailql_lake::compact(&lake).await.unwrap();
    assert_eq!(
        rows(&remote, SAME_ANSWERS[1]).await,
        rows(&on_lake(&local), SAME_ANSWERS[1]).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_filters_prune_partitions_and_row_groups() {
    let t = tempfile::tempdir().unwrap();
    let logs = trail(&t.path().join("trail"), 6_000, 9);
    let lake = local_lake(&t.path().join("lake")).await;
    sync(&lake, &logs).await;
    let e = on_lake(&lake);
    let plan = rows(
        &e,
        "EXPLAIN SELECT count(*) FROM cloudtrail_logs WHERE from_iso8601_timestamp(eventtime) >= TIMESTAMP '2024-08-03 00:00:00' AND account = '111122223333'",
    )
    .await
    .join("\n");
    // One account's files of one day (its two regions), whatever form the time filter has.
    let scan = plan.lines().find(|l| l.contains("DataSourceExec")).unwrap();
    let files: Vec<&str> = scan
        .split(['[', ',', ']'])
        .filter(|f| f.ends_with(".parquet"))
        .collect();
    assert!(!files.is_empty(), "{plan}");
    for f in &files {
        assert!(
            f.contains("account=111122223333/") && f.contains("/date=2024-08-03/"),
            "{f}"
        );
    }
    assert!(
        files.iter().any(|f| f.contains("region=us-east-1"))
            && files.iter().any(|f| f.contains("region=eu-west-1"))
    );
    // The window also becomes a bound on eventtime, which row-group statistics prune by.
    assert!(
        scan.contains("eventtime@") && scan.contains(">= 2024-08-03T00:00:00"),
        "{scan}"
    );
}

/// A Python with this module, or `None` (then the test says so; CI sets TRAILQL_REQUIRE_ENGINES).
fn python_with(module: &str) -> Option<&'static str> {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var_os("TRAILQL_REQUIRE_ENGINES").is_some() {
            panic!("python3 cannot import {module} and TRAILQL_REQUIRE_ENGINES is set");
        }
        eprintln!("skipped: python3 cannot import {module}");
        return None;
    }
    Some("python3")
}

/// Counts by event name and a sample of rows, as trailql answers them over the lake.
async fn trailql_answers(lake: &Lake) -> (Vec<String>, Vec<String>) {
    let e = on_lake(lake);
    let counts = rows(
        &e,
        "SELECT eventname, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 1",
    )
    .await;
    let sample = rows(
        &e,
        &SAMPLE.replace("{first_resource}", "resources[1]['arn']"),
    )
    .await;
    (counts, sample)
}

/// A sample of rows, with each engine's way to the first resource's ARN.
const SAMPLE: &str = "SELECT eventid, eventtime, account, region, eventname, useridentity.arn, {first_resource}, errorcode FROM cloudtrail_logs ORDER BY eventid LIMIT 25";

/// Lines printed by a Python program: `a | b | c`, None printed as NULL.
fn python(script: &str) -> Vec<String> {
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

const PRINT_ROWS: &str = r#"
def show(rows):
    for r in rows:
        print(" | ".join("" if v is None else str(v) for v in r))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_reads_the_lake_with_the_printed_ddl() {
    if python_with("duckdb").is_none() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let logs = trail(&t.path().join("trail"), 3_000, 21);
    let lake = local_lake(&t.path().join("lake")).await;
    sync(&lake, &logs).await;
    let shape = trailql_lake::shape(&lake).await.unwrap();
    let ddl = trailql_lake::ddl(trailql_lake::Dialect::DuckDb, "cloudtrail_logs", &shape);
    let ddl_file = t.path().join("duckdb.sql");
    std::fs::write(&ddl_file, &ddl).unwrap();
    let script = format!(
        "{PRINT_ROWS}\nimport duckdb\ncon = duckdb.connect()\ncon.execute(open({:?}).read())\nshow(con.execute('SELECT eventname, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 1').fetchall())\nprint('--')\nshow(con.execute({:?}).fetchall())\n",
        ddl_file.display().to_string(),
        SAMPLE.replace("{first_resource}", "resources[1].arn"),
    );
    let out = python(&script);
    let split = out.iter().position(|l| l == "--").unwrap();
    let (counts, sample) = trailql_answers(&lake).await;
    assert_eq!(out[..split], counts[..]);
    assert_eq!(out[split + 1..], sample[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyspark_reads_the_lake_with_the_printed_ddl() {
    if python_with("pyspark").is_none() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let logs = trail(&t.path().join("trail"), 3_000, 22);
    let lake = local_lake(&t.path().join("lake")).await;
    sync(&lake, &logs).await;
    let mut shape = trailql_lake::shape(&lake).await.unwrap();
    shape.location = format!(
        "file://{}",
        std::fs::canonicalize(t.path().join("lake"))
            .unwrap()
            .display()
    );
    let ddl = trailql_lake::ddl(trailql_lake::Dialect::Spark, "cloudtrail_logs", &shape);
    let ddl_file = t.path().join("spark.sql");
    std::fs::write(&ddl_file, &ddl).unwrap();
    let warehouse = t.path().join("warehouse");
    let script = format!(
        "{PRINT_ROWS}\nfrom pyspark.sql import SparkSession\nspark = (SparkSession.builder.master('local[2]').appName('trailql-test')\n  .config('spark.ui.enabled', 'false').config('spark.sql.warehouse.dir', {:?})\n  .config('spark.driver.host', '127.0.0.1').getOrCreate())\nspark.sparkContext.setLogLevel('ERROR')\nfor st in open({:?}).read().split(';\\n'):\n    if st.strip():\n        spark.sql(st)\nshow(spark.sql('SELECT eventname, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 1').collect())\nprint('--')\nshow(spark.sql({:?}).collect())\nspark.stop()\n",
        warehouse.display().to_string(),
        ddl_file.display().to_string(),
        SAMPLE.replace("{first_resource}", "resources[0].arn"),
    );
    let out = python(&script);
    let split = out.iter().position(|l| l == "--").unwrap();
    let (counts, sample) = trailql_answers(&lake).await;
    assert_eq!(out[..split], counts[..]);
    assert_eq!(out[split + 1..], sample[..]);
}
