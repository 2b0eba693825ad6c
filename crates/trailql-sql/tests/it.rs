//! End-to-end: Athena SQL over generated, hand-written, corrupt and real trails.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use trailql_generate::{generate, GenOptions, GroundTruth};
use trailql_sql::{Engine, ScanOptions};

struct Sample {
    dir: tempfile::TempDir,
    truth: GroundTruth,
}

/// One generated trail shared by the tests: 2 accounts × 2 regions × 3 days.
fn sample() -> &'static Sample {
    static S: OnceLock<Sample> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let opts = GenOptions {
            events: 20_000,
            accounts: 2,
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            days: 3,
            openings: 8,
            ..GenOptions::default()
        };
        let truth = generate(dir.path(), &opts).unwrap();
        Sample { dir, truth }
    })
}

fn engine(dir: &Path, opts: ScanOptions) -> Engine {
    Engine::open(&[dir.to_path_buf()], opts).unwrap()
}

fn logs(s: &Sample) -> PathBuf {
    s.dir.path().join("AWSLogs")
}

async fn run(e: &Engine, sql: &str) -> Vec<RecordBatch> {
    e.sql(sql)
        .await
        .unwrap_or_else(|err| panic!("planning {sql}: {err}"))
        .collect()
        .await
        .unwrap_or_else(|err| panic!("running {sql}: {err}"))
}

/// Column `i` of all batches as strings.
fn strings(batches: &[RecordBatch], i: usize) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in batches {
        let c = cast(b.column(i), &DataType::Utf8).unwrap();
        let c = c.as_string::<i32>();
        for r in 0..c.len() {
            out.push(c.is_valid(r).then(|| c.value(r).to_string()));
        }
    }
    out
}

/// The physical plan of `sql`, as `EXPLAIN` prints it.
async fn explain(e: &Engine, sql: &str) -> String {
    let b = run(e, &format!("EXPLAIN {sql}")).await;
    strings(&b, 1)
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
}

fn one_int(batches: &[RecordBatch]) -> i64 {
    strings(batches, 0)[0].as_ref().unwrap().parse().unwrap()
}

#[tokio::test]
async fn seed_question_finds_exactly_the_planted_openings() {
    let s = sample();
    let e = engine(&logs(s), ScanOptions::default());
    let sql = "SELECT eventid, errorcode, json_extract_scalar(requestparameters, '$.groupId') AS sg, useridentity.arn
               FROM cloudtrail_logs
               WHERE eventname = 'AuthorizeSecurityGroupIngress'
                 AND (requestparameters LIKE '%0.0.0.0/0%' OR requestparameters LIKE '%::/0%')
               ORDER BY eventtime";
    let b = run(&e, sql).await;
    let got: BTreeSet<String> = strings(&b, 0).into_iter().flatten().collect();
    let want: BTreeSet<String> = s
        .truth
        .openings
        .iter()
        .chain(&s.truth.failed_attempts)
        .map(|p| p.event_id.clone())
        .collect();
    assert_eq!(got, want);
    // Successful ones are openings; the ones with an error code are attempts.
    let ok: BTreeSet<String> = strings(&b, 0)
        .into_iter()
        .zip(strings(&b, 1))
        .filter(|(_, err)| err.is_none())
        .filter_map(|(id, _)| id)
        .collect();
    assert_eq!(ok.len(), s.truth.openings.len());
    let groups: BTreeSet<String> = strings(&b, 2).into_iter().flatten().collect();
    assert!(s
        .truth
        .openings
        .iter()
        .all(|p| groups.contains(&p.group_id)));
    let actors: BTreeSet<String> = strings(&b, 3).into_iter().flatten().collect();
    assert!(s
        .truth
        .openings
        .iter()
        .all(|p| actors.contains(&p.actor_arn)));
}

#[tokio::test]
async fn athena_example_queries_run_unchanged() {
    let s = sample();
    let e = engine(&logs(s), ScanOptions::default());
    let total = one_int(&run(&e, "SELECT count(*) FROM cloudtrail_logs").await);
    assert_eq!(total as u64, s.truth.events);

    // A set of queries written in Athena's dialect, as in AWS's examples.
    let queries = [
        // Nested struct access with dots.
        "SELECT useridentity.arn, eventname, sourceipaddress, eventtime FROM cloudtrail_logs
         WHERE useridentity.sessioncontext.sessionissuer.username = 'Admin' LIMIT 10",
        // Console sign-ins, with additionaleventdata as JSON text.
        "SELECT useridentity.username, sourceipaddress, eventtime, additionaleventdata FROM cloudtrail_logs
         WHERE eventname = 'ConsoleLogin' AND json_extract_scalar(additionaleventdata, '$.MFAUsed') = 'Yes'",
        // Access denied by user, grouped.
        "SELECT COUNT(*) AS total, useridentity.arn, eventsource, eventname, errorcode FROM cloudtrail_logs
         WHERE errorcode = 'AccessDenied' AND eventtime >= '2024-08-01T00:00:00Z' AND eventtime < '2024-08-02T00:00:00Z'
         GROUP BY useridentity.arn, eventsource, eventname, errorcode ORDER BY total DESC LIMIT 10",
        // Bucket names from S3 requests.
        "SELECT DISTINCT json_extract_scalar(requestparameters, '$.bucketName') AS bucket FROM cloudtrail_logs
         WHERE eventsource = 's3.amazonaws.com'",
        // Resources with CROSS JOIN UNNEST, Athena's form.
        "SELECT eventname, resources_entry.arn, resources_entry.type FROM cloudtrail_logs
         CROSS JOIN UNNEST(resources) AS unnested (resources_entry) WHERE eventsource = 'kms.amazonaws.com' LIMIT 5",
        // Time functions.
        "SELECT date_format(from_iso8601_timestamp(eventtime), '%Y-%m-%d %H:00') AS hour, count(*) FROM cloudtrail_logs
         WHERE from_iso8601_timestamp(eventtime) BETWEEN from_iso8601_timestamp('2024-08-02T00:00:00Z')
               AND from_iso8601_timestamp('2024-08-02T06:00:00Z')
         GROUP BY 1 ORDER BY 1",
        "SELECT eventid, date_diff('second', from_iso8601_timestamp(useridentity.sessioncontext.attributes.creationdate),
                from_iso8601_timestamp(eventtime)) AS session_age FROM cloudtrail_logs
         WHERE useridentity.type = 'AssumedRole' LIMIT 5",
        "SELECT to_iso8601(date_add('hour', 1, from_iso8601_timestamp(eventtime))), date_parse(eventtime, '%Y-%m-%dT%H:%i:%sZ')
         FROM cloudtrail_logs LIMIT 3",
        // Arrays and JSON helpers.
        "SELECT element_at(resources, 1).arn, cardinality(resources) FROM cloudtrail_logs WHERE cardinality(resources) > 0 LIMIT 5",
        "SELECT json_array_length(json_extract(requestparameters, '$.ipPermissions.items')),
                json_array_get(json_extract(requestparameters, '$.ipPermissions.items'), 0),
                json_size(requestparameters, '$.ipPermissions'), json_format(json_parse(requestparameters))
         FROM cloudtrail_logs WHERE eventname = 'AuthorizeSecurityGroupIngress' LIMIT 5",
        // Partition columns as in AWS's projection and org-trail DDLs.
        "SELECT account, region, \"timestamp\", year, month, day, count(*) FROM cloudtrail_logs
         WHERE \"timestamp\" = '2024/08/02' AND region = 'eu-west-1' GROUP BY 1, 2, 3, 4, 5, 6",
        "SELECT eventname FROM cloudtrail_logs WHERE from_iso8601_timestamp(eventtime) > now() - interval '1' day",
        // Fields Athena's DDL does not name, from the full record.
        "SELECT json_extract_scalar(eventjson, '$.managementEvent') AS mgmt, count(*) FROM cloudtrail_logs GROUP BY 1",
    ];
    for q in queries {
        run(&e, q).await;
    }

    // Spot-check answers against the ground truth and each other.
    let b = run(
        &e,
        "SELECT count(*) FROM cloudtrail_logs CROSS JOIN UNNEST(resources) AS t (r) WHERE r.type = 'AWS::KMS::Key'",
    )
    .await;
    let kms = one_int(
        &run(
            &e,
            "SELECT count(*) FROM cloudtrail_logs WHERE eventname = 'Decrypt'",
        )
        .await,
    );
    assert_eq!(one_int(&b), kms, "each Decrypt has one KMS key resource");
    let b = run(&e, "SELECT count(*) FROM cloudtrail_logs WHERE \"timestamp\" = '2024/08/02' AND region = 'eu-west-1'").await;
    assert!(one_int(&b) > 0);
    let b = run(
        &e,
        "SELECT count(DISTINCT account), count(DISTINCT \"$path\") FROM cloudtrail_logs",
    )
    .await;
    assert_eq!(strings(&b, 0)[0].as_deref(), Some("2"));
}

#[tokio::test]
async fn pruning_skips_files_and_never_loses_an_in_window_event() {
    let s = sample();
    let e = engine(&logs(s), ScanOptions::default());
    // Reference: the same window written so that the planner cannot use it for pruning.
    let reference = "SELECT count(*) FROM cloudtrail_logs
        WHERE concat(eventtime, '') >= '2024-08-02T00:00:00Z' AND concat(eventtime, '') < '2024-08-03T00:00:00Z'";
    let want = one_int(&run(&e, reference).await);
    let full = e.report.snapshot();
    assert_eq!(full.files_pruned, 0);

    e.report.reset();
    let pruned_sql = "SELECT count(*) FROM cloudtrail_logs
        WHERE eventtime >= '2024-08-02T00:00:00Z' AND eventtime < '2024-08-03T00:00:00Z'";
    assert_eq!(one_int(&run(&e, pruned_sql).await), want);
    let day = e.report.snapshot();
    assert!(
        day.files_read * 5 < full.files_read * 2,
        "{} vs {}",
        day.files_read,
        full.files_read
    );
    assert!(day.files_pruned > 0);

    e.report.reset();
    let ts_sql = "SELECT count(*) FROM cloudtrail_logs
        WHERE from_iso8601_timestamp(eventtime) >= from_iso8601_timestamp('2024-08-02T00:00:00Z')
          AND from_iso8601_timestamp(eventtime) < TIMESTAMP '2024-08-03 00:00:00'";
    assert_eq!(one_int(&run(&e, ts_sql).await), want);
    assert_eq!(e.report.snapshot().files_read, day.files_read);

    // Partition columns prune exactly.
    e.report.reset();
    let acct = &s.truth.accounts[0];
    let n = one_int(&run(&e, &format!("SELECT count(*) FROM cloudtrail_logs WHERE account = '{acct}' AND region = 'us-east-1'")).await);
    let snap = e.report.snapshot();
    assert!(
        snap.files_read * 3 < full.files_read,
        "{} of {}",
        snap.files_read,
        full.files_read
    );
    let m = one_int(&run(&e, &format!("SELECT count(*) FROM cloudtrail_logs WHERE concat(account, '') = '{acct}' AND concat(region, '') = 'us-east-1'")).await);
    assert_eq!(n, m);

    // EXPLAIN shows it.
    let plan = explain(&e, pruned_sql).await;
    assert!(plan.contains("CloudTrailExec: sources=["), "{plan}");
    assert!(
        plan.contains("eventtime=[2024-08-02T00:00:00+00:00"),
        "{plan}"
    );
    let plan = explain(&e, &format!("SELECT count(*) FROM cloudtrail_logs WHERE account = '{acct}' AND region = 'us-east-1'")).await;
    assert!(
        plan.contains(&format!("accounts=[{acct}] regions=[us-east-1]")),
        "{plan}"
    );
}

#[tokio::test]
async fn a_plan_run_again_lists_and_reads_every_file_again() {
    // The partitions of one run share a queue of files fed by the listing; a second run of the
    // same plan must start a new listing, not find the first one's queue drained.
    let s = sample();
    let e = engine(&logs(s), ScanOptions::default());
    let df = e
        .sql("SELECT count(*), count(DISTINCT \"$path\") FROM cloudtrail_logs")
        .await
        .unwrap();
    let task = std::sync::Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await.unwrap();
    let first = datafusion::physical_plan::collect(plan.clone(), task.clone())
        .await
        .unwrap();
    let second = datafusion::physical_plan::collect(plan, task)
        .await
        .unwrap();
    assert_eq!(one_int(&first), s.truth.events as i64);
    assert_eq!(strings(&first, 0), strings(&second, 0));
    assert_eq!(strings(&first, 1), strings(&second, 1));
}

#[tokio::test]
async fn a_tight_late_margin_is_what_loses_late_events() {
    // The generator delivers some events up to 20 minutes late: a 1-minute margin misses
    // some of them at the window's end, the default (1h) does not.
    let s = sample();
    let sql = "SELECT count(*) FROM cloudtrail_logs WHERE eventtime >= '2024-08-02T10:00:00Z' AND eventtime <= '2024-08-02T10:30:00Z'";
    let reference = "SELECT count(*) FROM cloudtrail_logs WHERE concat(eventtime, '') >= '2024-08-02T10:00:00Z' AND concat(eventtime, '') <= '2024-08-02T10:30:00Z'";
    let e = engine(&logs(s), ScanOptions::default());
    let want = one_int(&run(&e, reference).await);
    assert_eq!(one_int(&run(&e, sql).await), want);
    let tight = engine(
        &logs(s),
        ScanOptions {
            late_margin: Some(chrono::Duration::minutes(1)),
            ..ScanOptions::default()
        },
    );
    assert!(one_int(&run(&tight, sql).await) < want);
}

#[tokio::test]
async fn prefilter_changes_no_answer() {
    let s = sample();
    let on = engine(&logs(s), ScanOptions::default());
    let off = engine(
        &logs(s),
        ScanOptions {
            prefilter: false,
            ..ScanOptions::default()
        },
    );
    for q in [
        "SELECT count(*) FROM cloudtrail_logs WHERE eventname = 'AuthorizeSecurityGroupIngress' AND requestparameters LIKE '%10.0.0.0/8%'",
        "SELECT count(*) FROM cloudtrail_logs WHERE eventname IN ('Decrypt', 'ConsoleLogin')",
        "SELECT count(*) FROM cloudtrail_logs WHERE json_extract_scalar(requestparameters, '$.roleSessionName') = 'breakglass'",
        "SELECT count(*) FROM cloudtrail_logs WHERE useridentity.username = 'alice' OR eventname = 'ListRoles'",
        "SELECT count(*) FROM cloudtrail_logs WHERE json_extract_scalar(requestparameters, '$.policyDocument') LIKE '%\"Version\"%'",
    ] {
        let a = one_int(&run(&on, q).await);
        let b = one_int(&run(&off, q).await);
        assert_eq!(a, b, "{q}");
        assert!(a > 0, "{q} should match something");
    }
    on.report.reset();
    run(
        &on,
        "SELECT count(*) FROM cloudtrail_logs WHERE eventname = 'NoSuchEvent'",
    )
    .await;
    let snap = on.report.snapshot();
    assert_eq!(
        snap.files_prefiltered, snap.files_read,
        "no file holds the literal"
    );
}

// ---- bad input ----------------------------------------------------------------------------

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn put(root: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    p
}

const DAY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01";

fn log_name(minute: u32, id: &str) -> String {
    format!("{DAY}/111122223333_CloudTrail_us-east-1_20240801T00{minute:02}Z_{id}.json.gz")
}

fn record(name: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","eventTime":"2024-08-01T00:00:01Z","eventSource":"ec2.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","eventID":"{name}-id"{extra}}}"#
    )
}

/// Every kind of bad input, next to two good files.
fn bad_corpus() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let good = format!(
        r#"{{"Records":[{},{}]}}"#,
        record("Good1", ""),
        record("Good2", "")
    );
    put(r, &log_name(5, "good"), &gz(good.as_bytes()));
    let big = "x".repeat(40_000);
    let unicode = format!(
        r#"{{"Records":[{},{}]}}"#,
        record(
            "Big",
            &format!(r#","requestParameters":{{"policy":"{big}"}}"#)
        ),
        record(
            "Ünïcødé",
            r#","errorMessage":"Zugriff verweigert — 拒绝访问""#
        )
    );
    put(r, &log_name(10, "unicode"), &gz(unicode.as_bytes()));
    // Corrupt gzip: garbage after a valid header.
    let mut corrupt = gz(good.as_bytes());
    for b in corrupt.iter_mut().skip(12).take(20) {
        *b ^= 0x5a;
    }
    put(r, &log_name(15, "corrupt"), &corrupt);
    // Truncated gzip of many records: the complete ones before the cut are kept.
    let many: Vec<String> = (0..3000)
        .map(|i| record(&format!("Trunc{i}"), ""))
        .collect();
    let t = gz(format!(r#"{{"Records":[{}]}}"#, many.join(",")).as_bytes());
    put(r, &log_name(20, "truncated"), &t[..t.len() / 2]);
    // Invalid JSON after two good records.
    let invalid = format!(
        r#"{{"Records":[{},{},{{"eventName": nope}}]}}"#,
        record("Inv1", ""),
        record("Inv2", "")
    );
    put(r, &log_name(25, "invalid"), &gz(invalid.as_bytes()));
    // A JSON object without Records.
    put(r, &log_name(30, "norecords"), &gz(br#"{"hello":"world"}"#));
    // Unexpected types: userIdentity as a string, resources as an object, a number as a record.
    let types = format!(
        r#"{{"Records":[{},42]}}"#,
        record(
            "Types",
            r#","userIdentity":"root","resources":{"ARN":"x"},"readOnly":true"#
        )
    );
    put(r, &log_name(35, "types"), &gz(types.as_bytes()));
    // A decompression bomb (capped below).
    put(r, &log_name(40, "bomb"), &gz(&vec![b' '; 8 << 20]));
    // An empty file.
    put(r, &log_name(45, "empty"), b"");
    // Digest, Insight and Config files where CloudTrail puts them: skipped by key.
    put(r, "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/08/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240801T010000Z.json.gz",
        &gz(br#"{"awsAccountId":"111122223333","digestPublicKeyFingerprint":"ab","logFiles":[]}"#));
    put(
        r,
        "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/08/01/i.json.gz",
        &gz(b"{}"),
    );
    put(
        r,
        "AWSLogs/111122223333/Config/us-east-1/2024/8/1/ConfigHistory/c.json.gz",
        &gz(b"{}"),
    );
    // A digest copied somewhere else: recognised by content, with a warning.
    put(
        r,
        "copies/digest.json",
        br#"{"awsAccountId":"1","digestS3Object":"x","logFiles":[]}"#,
    );
    put(r, "README.txt", b"not a log");
    dir
}

fn bad_options() -> ScanOptions {
    ScanOptions {
        max_inflated: 4 << 20,
        ..ScanOptions::default()
    }
}

#[tokio::test]
async fn bad_input_never_stops_the_query_and_is_counted() {
    let dir = bad_corpus();
    let e = engine(dir.path(), bad_options());
    // Type problems are found in the columns a query reads: read them.
    let b = run(
        &e,
        "SELECT eventname, useridentity, resources FROM cloudtrail_logs ORDER BY eventname",
    )
    .await;
    let names: Vec<String> = strings(&b, 0).into_iter().flatten().collect();
    for want in [
        "Good1",
        "Good2",
        "Big",
        "Ünïcødé",
        "Inv1",
        "Inv2",
        "Types",
        "Trunc0",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    let trunc = names.iter().filter(|n| n.starts_with("Trunc")).count();
    assert!(trunc > 0 && trunc < 3000, "{trunc}");
    let s = e.report.snapshot();
    // corrupt, truncated, invalid, no-Records, bomb, empty
    assert_eq!(s.files_bad, 6, "{s:?}");
    assert_eq!(s.bad_records, 1);
    assert_eq!(s.type_problems, 2);
    assert_eq!(s.skipped.get("digest"), Some(&2), "by key and by content");
    assert_eq!(s.skipped.get("insight"), Some(&1));
    assert_eq!(s.skipped.get("config"), Some(&1));
    assert_eq!(s.skipped.get("not-json"), Some(&1));
    let warnings = e.report.warnings();
    let by = |id: &str| {
        warnings
            .iter()
            .find(|w| w.path.contains(id))
            .unwrap_or_else(|| panic!("no warning names {id}: {warnings:?}"))
            .message
            .clone()
    };
    assert!(by("_corrupt.").contains("gzip"));
    assert!(by("_truncated.").contains("truncated"));
    assert!(by("_invalid.").contains("invalid JSON in record 2"));
    assert!(by("_norecords.").contains("no `Records` key"));
    assert!(by("_types.").contains("`useridentity` is a string"));
    assert!(by("_bomb.").contains("decompression bomb"));
    assert!(by("_empty.").contains("empty file"));
    assert!(by("copies/digest.json").contains("digest"));
    assert_eq!(warnings.len(), 8, "{warnings:?}");

    // The huge value and the non-ASCII text come through intact.
    let b = run(&e, "SELECT length(requestparameters), errormessage FROM cloudtrail_logs WHERE eventname IN ('Big', 'Ünïcødé') ORDER BY eventname").await;
    assert_eq!(strings(&b, 0)[0].as_deref(), Some("40013"));
    assert_eq!(
        strings(&b, 1)[1].as_deref(),
        Some("Zugriff verweigert — 拒绝访问")
    );
}

#[tokio::test]
async fn strict_turns_bad_input_into_an_error() {
    let dir = bad_corpus();
    let e = engine(
        dir.path(),
        ScanOptions {
            strict: true,
            ..bad_options()
        },
    );
    let err = e
        .sql("SELECT count(*) FROM cloudtrail_logs")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--strict"), "{err}");
    // Clean input passes --strict.
    let clean = tempfile::tempdir().unwrap();
    put(
        clean.path(),
        &log_name(5, "good"),
        &gz(format!(r#"{{"Records":[{}]}}"#, record("A", "")).as_bytes()),
    );
    let e = engine(
        clean.path(),
        ScanOptions {
            strict: true,
            ..ScanOptions::default()
        },
    );
    assert_eq!(
        one_int(&run(&e, "SELECT count(*) FROM cloudtrail_logs").await),
        1
    );
}

// ---- real data ----------------------------------------------------------------------------

fn stratus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/stratus-red-team");
    p.exists().then_some(p)
}

#[tokio::test]
async fn real_stratus_red_team_records() {
    let Some(dir) = stratus() else {
        eprintln!("SKIPPED: ../shared/data/stratus-red-team is not beside this checkout");
        return;
    };
    let e = engine(
        &dir,
        ScanOptions {
            strict: true,
            ..ScanOptions::default()
        },
    );
    assert_eq!(
        one_int(&run(&e, "SELECT count(*) FROM cloudtrail_logs").await),
        312
    );
    let s = e.report.snapshot();
    assert_eq!((s.files_bad, s.type_problems, s.bad_records), (0, 0, 0));
    let b = run(
        &e,
        "SELECT json_extract_scalar(requestparameters, '$.groupId'), json_extract_scalar(requestparameters, '$.cidrIp'),
                json_extract_scalar(requestparameters, '$.fromPort'), useridentity.type, account, awsregion
         FROM cloudtrail_logs WHERE eventname = 'AuthorizeSecurityGroupIngress'",
    )
    .await;
    assert_eq!(strings(&b, 0), [Some("sg-003dc7f1f1c686164".to_string())]);
    assert_eq!(strings(&b, 1), [Some("208.236.235.254/0".to_string())]);
    assert_eq!(strings(&b, 2), [Some("22".to_string())]);
    let b = run(
        &e,
        "SELECT count(DISTINCT account), count(DISTINCT eventname) FROM cloudtrail_logs",
    )
    .await;
    assert_eq!(strings(&b, 0)[0].as_deref(), Some("35"));
}

// ---- investigations ---------------------------------------------------------------------

fn rows(batches: &[RecordBatch], cols: usize) -> Vec<Vec<Option<String>>> {
    let c: Vec<_> = (0..cols).map(|i| strings(batches, i)).collect();
    (0..c[0].len())
        .map(|r| c.iter().map(|col| col[r].clone()).collect())
        .collect()
}

#[tokio::test]
async fn exposure_finds_exactly_the_planted_openings_and_nothing_else() {
    let s = sample();
    let e = engine(&logs(s), ScanOptions::default());
    let b = run(
        &e,
        "SELECT eventid, status, group_id, principal_arn, source_ip, cidr, ports, account, region, opened_at
         FROM exposure() ORDER BY opened_at",
    )
    .await;
    let got: BTreeSet<Vec<Option<String>>> = rows(&b, 10).into_iter().collect();
    let want: BTreeSet<Vec<Option<String>>> = s
        .truth
        .openings
        .iter()
        .map(|p| (p, "open"))
        .chain(
            s.truth
                .failed_attempts
                .iter()
                .map(|p| (p, "failed attempt")),
        )
        .map(|(p, status)| {
            [
                p.event_id.as_str(),
                status,
                &p.group_id,
                &p.actor_arn,
                &p.source_ip,
                &p.cidr,
                &p.from_port.to_string(),
                &p.account,
                &p.region,
                &p.event_time,
            ]
            .iter()
            .map(|v| Some(v.to_string()))
            .collect()
        })
        .collect();
    assert_eq!(got, want);
}

fn ec2(time: &str, id: &str, name: &str, who: &str, req: &str, resp: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","userIdentity":{who},"eventTime":"{time}","eventSource":"ec2.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2","requestParameters":{req},"responseElements":{resp},"eventID":"{id}","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"{extra}}}"#
    )
}

const ALICE: &str = r#"{"type":"IAMUser","principalId":"AIDAALICE","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAALICE","userName":"alice"}"#;
const DEPLOYER: &str = r#"{"type":"AssumedRole","principalId":"AROADEPLOY:bob","arn":"arn:aws:sts::111122223333:assumed-role/Deployer/bob","accountId":"111122223333","accessKeyId":"ASIADEPLOY","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROADEPLOY","arn":"arn:aws:iam::111122223333:role/Deployer","accountId":"111122223333","userName":"Deployer"},"attributes":{"creationDate":"2024-08-01T09:00:00Z","mfaAuthenticated":"true"}}}"#;

/// One group's life: opened, narrowed to /32, opened again, revoked; plus an IPv6-only rule on a
/// port range, a top-level-shape rule, and a failed attempt — in files of different minutes.
fn sg_story() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let rule = |id: &str, key: &str, cidr: &str, from: u32, to: u32| {
        format!(
            r#"{{"requestId":"r","_return":true,"securityGroupRuleSet":{{"items":[{{"groupOwnerId":"111122223333","groupId":"sg-1","securityGroupRuleId":"{id}","isEgress":false,"ipProtocol":"tcp","fromPort":{from},"toPort":{to},"{key}":"{cidr}"}}]}}}}"#
        )
    };
    let nested = |cidr: &str, from: u32, to: u32| {
        format!(
            r#"{{"groupId":"sg-1","ipPermissions":{{"items":[{{"ipProtocol":"tcp","fromPort":{from},"toPort":{to},"groups":{{}},"ipRanges":{{"items":[{{"cidrIp":"{cidr}"}}]}},"ipv6Ranges":{{}},"prefixListIds":{{}}}}]}}}}"#
        )
    };
    let modify = |cidr: &str| {
        format!(
            r#"{{"ModifySecurityGroupRulesRequest":{{"GroupId":"sg-1","SecurityGroupRule":{{"SecurityGroupRuleId":"sgr-a","SecurityGroupRule":{{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"CidrIpv4":"{cidr}"}},"tag":1}}}}}}"#
        )
    };
    let records = [
        ec2(
            "2024-08-01T10:00:00Z",
            "e1",
            "AuthorizeSecurityGroupIngress",
            DEPLOYER,
            &nested("0.0.0.0/0", 22, 22),
            &rule("sgr-a", "cidrIpv4", "0.0.0.0/0", 22, 22),
            "",
        ),
        ec2(
            "2024-08-01T10:10:00Z",
            "e2",
            "ModifySecurityGroupRules",
            ALICE,
            &modify("203.0.113.5/32"),
            r#"{"ModifySecurityGroupRulesResponse":{"return":true}}"#,
            "",
        ),
        ec2(
            "2024-08-01T10:20:00Z",
            "e3",
            "ModifySecurityGroupRules",
            DEPLOYER,
            &modify("0.0.0.0/0"),
            r#"{"ModifySecurityGroupRulesResponse":{"return":true}}"#,
            "",
        ),
        ec2(
            "2024-08-01T10:30:00Z",
            "e4",
            "RevokeSecurityGroupIngress",
            ALICE,
            r#"{"groupId":"sg-1","securityGroupRuleIds":{"items":[{"securityGroupRuleId":"sgr-a"}]}}"#,
            r#"{"requestId":"r","_return":true}"#,
            "",
        ),
        ec2(
            "2024-08-01T10:40:00Z",
            "e5",
            "AuthorizeSecurityGroupIngress",
            ALICE,
            r#"{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":8000,"toPort":8100,"groups":{},"ipRanges":{},"ipv6Ranges":{"items":[{"cidrIpv6":"::/0"}]},"prefixListIds":{}}]}}"#,
            &rule("sgr-b", "cidrIpv6", "::/0", 8000, 8100),
            "",
        ),
        ec2(
            "2024-08-01T10:50:00Z",
            "e6",
            "AuthorizeSecurityGroupIngress",
            ALICE,
            r#"{"groupId":"sg-2","ipPermissions":{},"ipProtocol":"tcp","fromPort":3389,"toPort":3389,"cidrIp":"0.0.0.0/0"}"#,
            "null",
            "",
        ),
        ec2(
            "2024-08-01T10:55:00Z",
            "e7",
            "AuthorizeSecurityGroupIngress",
            DEPLOYER,
            &nested("0.0.0.0/0", 0, 65535),
            "null",
            r#","errorCode":"Client.UnauthorizedOperation","errorMessage":"You are not authorized to perform this operation.""#,
        ),
        ec2(
            "2024-08-01T10:58:00Z",
            "e8",
            "DescribeSecurityGroups",
            ALICE,
            r#"{"groupIdSet":{"items":[{"groupId":"sg-1"}]}}"#,
            "null",
            "",
        ),
    ];
    for (i, r) in records.iter().enumerate() {
        let body = format!(r#"{{"Records":[{r}]}}"#);
        put(
            dir.path(),
            &log_name(i as u32 * 5, &format!("f{i}")),
            &gz(body.as_bytes()),
        );
    }
    dir
}

#[tokio::test]
async fn exposure_history_and_activity_over_a_hand_built_trail() {
    let dir = sg_story();
    let e = engine(
        dir.path(),
        ScanOptions {
            strict: true,
            ..ScanOptions::default()
        },
    );
    let b = run(
        &e,
        "SELECT opened_at, status, group_id, ports, cidr, actor, closed_at, closed_by, note
         FROM exposure() ORDER BY opened_at",
    )
    .await;
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows(&b, 9),
        vec![
            vec![
                s("2024-08-01T10:00:00Z"),
                s("closed"),
                s("sg-1"),
                s("22"),
                s("0.0.0.0/0"),
                s("role Deployer, session bob"),
                s("2024-08-01T10:10:00Z"),
                s("alice (IAM user)"),
                s("modified to tcp 22 203.0.113.5/32")
            ],
            vec![
                s("2024-08-01T10:20:00Z"),
                s("closed"),
                s("sg-1"),
                s("22"),
                s("0.0.0.0/0"),
                s("role Deployer, session bob"),
                s("2024-08-01T10:30:00Z"),
                s("alice (IAM user)"),
                None
            ],
            vec![
                s("2024-08-01T10:40:00Z"),
                s("open"),
                s("sg-1"),
                s("8000-8100"),
                s("::/0"),
                s("alice (IAM user)"),
                None,
                None,
                None
            ],
            vec![
                s("2024-08-01T10:50:00Z"),
                s("open"),
                s("sg-2"),
                s("3389"),
                s("0.0.0.0/0"),
                s("alice (IAM user)"),
                None,
                None,
                None
            ],
            vec![
                s("2024-08-01T10:55:00Z"),
                s("failed attempt"),
                s("sg-1"),
                s("0-65535"),
                s("0.0.0.0/0"),
                s("role Deployer, session bob"),
                None,
                None,
                None
            ],
        ]
    );
    // The actor's details travel with the finding.
    let b = run(&e, "SELECT issuer_arn, access_key_id, mfa, via, errorcode FROM exposure() WHERE status = 'failed attempt'").await;
    assert_eq!(
        rows(&b, 5),
        vec![vec![
            s("arn:aws:iam::111122223333:role/Deployer"),
            s("ASIADEPLOY"),
            s("yes"),
            s("api"),
            s("Client.UnauthorizedOperation")
        ]]
    );
    // Everything that touched sg-1 (requests and responses), in time order.
    let b = run(&e, "SELECT eventid FROM history('sg-1') ORDER BY eventtime").await;
    let ids: Vec<_> = strings(&b, 0).into_iter().flatten().collect();
    assert_eq!(ids, ["e1", "e2", "e3", "e4", "e5", "e7", "e8"]);
    // Everything the Deployer role did, by role ARN, role name or session ARN.
    for who in [
        "arn:aws:iam::111122223333:role/Deployer",
        "Deployer",
        "arn:aws:sts::111122223333:assumed-role/Deployer/bob",
        "ASIADEPLOY",
    ] {
        let b = run(
            &e,
            &format!("SELECT eventid, result FROM activity('{who}') ORDER BY eventtime"),
        )
        .await;
        assert_eq!(
            rows(&b, 2),
            vec![
                vec![s("e1"), s("ok")],
                vec![s("e3"), s("ok")],
                vec![s("e7"), s("DENIED (Client.UnauthorizedOperation)")]
            ],
            "{who}"
        );
    }
    // Answers join with the log table like any other.
    let b = run(
        &e,
        "SELECT count(*) FROM exposure() x JOIN cloudtrail_logs l ON l.eventid = x.closed_eventid WHERE l.eventname = 'RevokeSecurityGroupIngress'",
    )
    .await;
    assert_eq!(one_int(&b), 1);
}

#[tokio::test]
async fn exposure_on_real_stratus_records() {
    let Some(dir) = stratus() else {
        eprintln!("SKIPPED: ../shared/data/stratus-red-team is not beside this checkout");
        return;
    };
    let e = engine(
        &dir,
        ScanOptions {
            strict: true,
            ..ScanOptions::default()
        },
    );
    // `208.236.235.254/0` is the whole internet: the prefix length decides, not the address.
    let b = run(&e, "SELECT group_id, cidr, reach, ports, status, actor, rule_id, access_key_id FROM exposure()").await;
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows(&b, 8),
        vec![vec![
            s("sg-003dc7f1f1c686164"),
            s("208.236.235.254/0"),
            s("world"),
            s("22"),
            s("open"),
            s("christophe (IAM user)"),
            s("sgr-09b3e3d2ca1edf2a2"),
            s("AKIAXW7UJ577KFYIAHIM")
        ]]
    );
}
