//! Trino calls rewritten for DataFusion (lambdas, `count_if`, `max_by`, `if`, `try`, …), on the
//! examples of Trino's documentation and on `cloudtrail_logs` itself, through `Engine::sql`.

use std::io::Write;
use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use trailql_sql::{Engine, ScanOptions};

const DAY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01";

fn record(id: &str, time: &str, name: &str, error: &str, resources: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","eventID":"{id}"{error},"resources":{resources}}}"#
    )
}

/// Three S3 events with resource lists, one of them failed.
fn trail() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let records = [
        record(
            "e1",
            "2024-08-01T00:00:01Z",
            "GetObject",
            "",
            r#"[{"ARN":"arn:aws:s3:::logs-bucket/a.txt","type":"AWS::S3::Object"},{"ARN":"arn:aws:s3:::logs-bucket","accountId":"111122223333","type":"AWS::S3::Bucket"}]"#,
        ),
        record(
            "e2",
            "2024-08-01T00:00:05Z",
            "PutBucketPolicy",
            r#","errorCode":"AccessDenied""#,
            r#"[{"ARN":"arn:aws:s3:::other-bucket","type":"AWS::S3::Bucket"}]"#,
        ),
        record("e3", "2024-08-01T00:00:03Z", "ListBuckets", "", "[]"),
    ];
    let body = format!(r#"{{"Records":[{}]}}"#, records.join(","));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let path = dir
        .path()
        .join(DAY)
        .join("111122223333_CloudTrail_us-east-1_20240801T0005Z_abcdefghijklmnop.json.gz");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
    dir
}

fn engine(dir: &Path) -> Engine {
    Engine::open(&[dir.to_path_buf()], ScanOptions::default()).unwrap()
}

async fn run(e: &Engine, sql: &str) -> Vec<RecordBatch> {
    e.sql(sql)
        .await
        .unwrap_or_else(|err| panic!("planning {sql}: {err}"))
        .collect()
        .await
        .unwrap_or_else(|err| panic!("running {sql}: {err}"))
}

/// Every row's first column, as text.
async fn column(e: &Engine, sql: &str) -> Vec<String> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in run(e, sql).await {
        let f = ArrayFormatter::try_new(b.column(0).as_ref(), &opts).unwrap();
        for r in 0..b.num_rows() {
            out.push(f.value(r).to_string());
        }
    }
    out
}

async fn check(e: &Engine, cases: &[(&str, &str)]) {
    for (sql, want) in cases {
        let got = column(e, sql).await;
        assert_eq!(got, vec![want.to_string()], "{sql}");
    }
}

async fn fails(e: &Engine, sql: &str, msg: &str) {
    let r = match e.sql(sql).await {
        Ok(df) => df.collect().await.map(|_| ()),
        Err(err) => Err(err),
    };
    let err = r.expect_err(sql).to_string();
    assert!(err.contains(msg), "{sql}: {err}");
}

#[tokio::test]
async fn lambdas_on_trinos_examples() {
    let dir = trail();
    let e = engine(dir.path());
    check(
        &e,
        &[
            ("SELECT transform(ARRAY[5, 6], x -> x + 1)", "[6, 7]"),
            (
                "SELECT transform(ARRAY[5, NULL, 6], x -> coalesce(x, 0) + 1)",
                "[6, 1, 7]",
            ),
            (
                "SELECT transform(ARRAY['x', 'abc', 'z'], x -> x || '0')",
                "[x0, abc0, z0]",
            ),
            ("SELECT filter(ARRAY[5, -6, NULL, 7], x -> x > 0)", "[5, 7]"),
            ("SELECT filter(ARRAY[5, NULL, 7, NULL], x -> x IS NOT NULL)", "[5, 7]"),
            ("SELECT all_match(ARRAY[5, 7, 9], x -> x % 2 = 1)", "true"),
            ("SELECT all_match(ARRAY[5, 8, 9], x -> x % 2 = 1)", "false"),
            // NULL for one element and true for the others: NULL, as in Trino.
            ("SELECT all_match(ARRAY[5, NULL, 9], x -> x % 2 = 1)", "NULL"),
            ("SELECT any_match(ARRAY[5, 6], x -> x > 5)", "true"),
            ("SELECT any_match(ARRAY[5, 6], x -> x > 6)", "false"),
            ("SELECT none_match(ARRAY[1, 3], x -> x % 2 = 0)", "true"),
            ("SELECT none_match(ARRAY[1, 4], x -> x % 2 = 0)", "false"),
            // Upper-case keywords and parameter names, nested lambdas.
            (
                "SELECT TRANSFORM(ARRAY[ARRAY[1, 2], ARRAY[3]], A -> CARDINALITY(FILTER(A, B -> B > 1)))",
                "[1, 1]",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn lambdas_over_cloudtrail_structs() {
    let dir = trail();
    let e = engine(dir.path());
    assert_eq!(
        column(
            &e,
            "SELECT transform(resources, r -> r.arn) FROM cloudtrail_logs WHERE eventid = 'e1'"
        )
        .await,
        ["[arn:aws:s3:::logs-bucket/a.txt, arn:aws:s3:::logs-bucket]"]
    );
    // Field names as the JSON spells them (r.ARN) work as in Athena.
    assert_eq!(
        column(
            &e,
            "SELECT eventid FROM cloudtrail_logs \
             WHERE any_match(resources, r -> r.ARN LIKE '%other-bucket%') ORDER BY eventid"
        )
        .await,
        ["e2"]
    );
    assert_eq!(
        column(
            &e,
            "SELECT eventid || ':' || CAST(cardinality(filter(resources, r -> r.type = 'AWS::S3::Bucket')) AS VARCHAR) \
             FROM cloudtrail_logs ORDER BY eventid"
        )
        .await,
        ["e1:1", "e2:1", "e3:0"]
    );
    // An empty list: no element fails, none matches.
    assert_eq!(
        column(
            &e,
            "SELECT all_match(resources, r -> r.type = 'x') AND none_match(resources, r -> r.type = 'x') \
             FROM cloudtrail_logs WHERE eventid = 'e3'"
        )
        .await,
        ["true"]
    );
}

#[tokio::test]
async fn aggregates() {
    let dir = trail();
    let e = engine(dir.path());
    check(
        &e,
        &[
            ("SELECT count_if(x > 1) FROM (VALUES (1), (2), (3)) t(x)", "2"),
            ("SELECT count_if(x > 5) FROM (VALUES (1), (2), (3)) t(x)", "0"),
            (
                "SELECT count_if(x > 1) FILTER (WHERE x < 3) FROM (VALUES (1), (2), (3)) t(x)",
                "1",
            ),
            (
                "SELECT arbitrary(x) FROM (VALUES (CAST(NULL AS INT)), (2)) t(x)",
                "2",
            ),
            (
                "SELECT max_by(n, v) FROM (VALUES ('a', 1), ('b', 3), ('c', 2), ('d', NULL)) t(n, v)",
                "b",
            ),
            (
                "SELECT min_by(n, v) FROM (VALUES ('a', 1), ('b', 3), ('c', 2), ('d', NULL)) t(n, v)",
                "a",
            ),
            (
                "SELECT max_by(n, v) FROM (VALUES ('d', CAST(NULL AS INT))) t(n, v)",
                "NULL",
            ),
            (
                "SELECT max_by(n, v, 2) FROM (VALUES ('a', 1), ('b', 3), ('c', 2), ('d', NULL)) t(n, v)",
                "[b, c]",
            ),
            (
                "SELECT min_by(n, v, 2) FROM (VALUES ('a', 1), ('b', 3), ('c', 2)) t(n, v)",
                "[a, c]",
            ),
            (
                // A double, where Trino keeps the input's type.
                "SELECT approx_percentile(x, 0.5) FROM (VALUES (1), (2), (3), (4), (5)) t(x)",
                "3.0",
            ),
            (
                "SELECT approx_percentile(x, ARRAY[0.0, 1.0]) FROM (VALUES (1), (2), (3), (4), (5)) t(x)",
                "[1.0, 5.0]",
            ),
            (
                // Weighted: most of the weight sits on 9 (the digest interpolates, hence > 8).
                "SELECT approx_percentile(x, w, 0.5) > 8 FROM (VALUES (1, 1), (2, 1), (9, 10)) t(x, w)",
                "true",
            ),
        ],
    )
    .await;
    // Who changed the most, and their latest call: the aggregates analysts write on this table.
    assert_eq!(
        column(
            &e,
            "SELECT max_by(eventname, eventtime) || '/' || CAST(count_if(errorcode IS NOT NULL) AS VARCHAR) \
             FROM cloudtrail_logs"
        )
        .await,
        ["PutBucketPolicy/1"]
    );
    assert_eq!(
        column(
            &e,
            "SELECT eventname FROM (SELECT eventname, max_by(eventid, eventtime) OVER () AS last FROM cloudtrail_logs) \
             WHERE last = 'e2' ORDER BY eventname LIMIT 1"
        )
        .await,
        ["GetObject"]
    );
}

#[tokio::test]
async fn conditionals_try_and_time_zones() {
    let dir = trail();
    let e = engine(dir.path());
    check(
        &e,
        &[
            ("SELECT if(1 > 0, 'yes', 'no')", "yes"),
            // Math, as analysts write it over counts and sizes.
            ("SELECT round(2.567, 2)", "2.57"),
            ("SELECT abs(-3) + floor(1.5) + ceil(1.2) + power(2, 10)", "1030.0"),
            ("SELECT round(100.0 * 3 / 8, 1)", "37.5"),
            ("SELECT if(1 < 0, 'yes', 'no')", "no"),
            ("SELECT if(1 < 0, 'yes')", "NULL"),
            ("SELECT try(CAST('abc' AS INTEGER))", "NULL"),
            ("SELECT try(CAST('42' AS INTEGER))", "42"),
            ("SELECT try(10 / 0)", "NULL"),
            ("SELECT try(10 % 0)", "NULL"),
            ("SELECT try(10 / 2)", "5"),
            ("SELECT coalesce(try(CAST('x' AS BIGINT)), -1)", "-1"),
            (
                "SELECT to_iso8601(at_timezone(from_iso8601_timestamp('2024-08-01T12:00:00Z'), 'America/New_York'))",
                "2024-08-01T08:00:00.000-04:00",
            ),
        ],
    )
    .await;
    // Without try, the same cast is an error.
    fails(&e, "SELECT CAST('abc' AS INTEGER)", "abc").await;
    assert_eq!(
        column(
            &e,
            "SELECT if(errorcode IS NULL, 'ok', errorcode) FROM cloudtrail_logs ORDER BY eventid"
        )
        .await,
        ["ok", "AccessDenied", "ok"]
    );
}

#[tokio::test]
async fn what_cannot_be_rewritten_says_so() {
    let dir = trail();
    let e = engine(dir.path());
    fails(&e, "SELECT transform(ARRAY[1], x -> )", "Expected").await;
    fails(
        &e,
        "SELECT 1; SELECT transform(ARRAY[1], x -> x)",
        "one statement",
    )
    .await;
    fails(
        &e,
        "SELECT max_by(eventid, eventtime, 2) OVER () FROM cloudtrail_logs",
        "window",
    )
    .await;
}
