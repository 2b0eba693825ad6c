//! Each Trino function trailql adds, on the examples of Trino's documentation (and the cases
//! CloudTrail queries meet: ARNs, user agents, S3 URLs), through DataFusion's SQL.

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;

async fn one(sql: &str) -> String {
    let ctx = SessionContext::new();
    trailql_functions::register_all(&ctx);
    let batches = ctx
        .sql(&format!("SELECT {sql}"))
        .await
        .unwrap_or_else(|e| panic!("planning {sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("running {sql}: {e}"));
    let b = &batches[0];
    let c = b.column(0);
    let opts = FormatOptions::default().with_null("NULL");
    let f = ArrayFormatter::try_new(c.as_ref(), &opts).unwrap();
    let v = f.value(0).to_string();
    v
}

async fn check(cases: &[(&str, &str)]) {
    for (sql, want) in cases {
        assert_eq!(one(sql).await, *want, "{sql}");
    }
}

async fn fails(sql: &str, msg: &str) {
    let ctx = SessionContext::new();
    trailql_functions::register_all(&ctx);
    let r = match ctx.sql(&format!("SELECT {sql}")).await {
        Ok(df) => df.collect().await.map(|_| ()),
        Err(e) => Err(e),
    };
    let e = r.expect_err(sql).to_string();
    assert!(e.contains(msg), "{sql}: {e}");
}

#[tokio::test]
async fn string_functions() {
    check(&[
        // AWS's own CloudTrail sample query strips the bucket ARN prefix this way.
        (
            "replace('arn:aws:s3:::my-bucket', 'arn:aws:s3:::')",
            "my-bucket",
        ),
        ("replace('hello world', 'o')", "hell wrld"),
        ("replace('abc', 'b', 'xy')", "axyc"),
        ("split_part('a,b,c', ',', 2)", "b"),
        ("split_part('a,b,c', ',', 4)", "NULL"),
        (
            "split_part('arn:aws:sts::111122223333:assumed-role/Deployer/alice', '/', 2)",
            "Deployer",
        ),
        ("split('a.b.c', '.')", "[a, b, c]"),
        ("split('a.b.c', '.', 2)", "[a, b.c]"),
        ("cardinality(split('aws-cli/2.13.5 Python/3.11', ' '))", "2"),
    ])
    .await;
    fails("split_part('a', ',', 0)", "1 or more").await;
}

#[tokio::test]
async fn regexp_functions() {
    check(&[
        (r"regexp_extract('1a 2b 14m', '\d+')", "1"),
        (r"regexp_extract('1a 2b 14m', '(\d+)([a-z]+)', 2)", "a"),
        (r"regexp_extract('no digits', '\d+')", "NULL"),
        (r"regexp_extract_all('1a 2b 14m', '\d+')", "[1, 2, 14]"),
        (
            r"regexp_extract_all('1a 2b 14m', '(\d+)([a-z]+)', 2)",
            "[a, b, m]",
        ),
        (r"regexp_replace('1a 2b 14m', '\d+[ab] ')", "14m"),
        (
            r"regexp_replace('1a 2b 14m', '(\d+)([ab]) ', '3c$2 ')",
            "3ca 3cb 14m",
        ),
        (
            r"regexp_replace('aws-cli/2.13.5', '^([^/]+)/.*$', '$1')",
            "aws-cli",
        ),
        (r"regexp_split('1a 2b 14m', '\s*[a-z]+\s*')", "[1, 2, 14, ]"),
        (r"regexp_like('1a 2b 14m', '\d+b')", "true"),
        (r"regexp_count('1a 2b 14m', '\s*[a-z]+\s*')", "3"),
    ])
    .await;
    fails(
        r"regexp_extract('1a', '(\d+)', 2)",
        "group 2 does not exist",
    )
    .await;
    fails("regexp_extract('1a', '(')", "invalid regular expression").await;
}

#[tokio::test]
async fn url_functions() {
    let u = "'https://my-bucket.s3.amazonaws.com:443/AWSLogs/key.json.gz?versionId=7&x=a%20b#part'";
    check(&[
        (&format!("url_extract_protocol({u})"), "https"),
        (
            &format!("url_extract_host({u})"),
            "my-bucket.s3.amazonaws.com",
        ),
        (&format!("url_extract_port({u})"), "443"),
        (&format!("url_extract_path({u})"), "/AWSLogs/key.json.gz"),
        (&format!("url_extract_query({u})"), "versionId=7&x=a%20b"),
        (&format!("url_extract_fragment({u})"), "part"),
        (&format!("url_extract_parameter({u}, 'x')"), "a b"),
        (&format!("url_extract_parameter({u}, 'nope')"), "NULL"),
        ("url_extract_port('http://example.com/')", "NULL"),
        ("url_extract_host('not a url')", "NULL"),
        ("url_encode('a b&c')", "a+b%26c"),
        ("url_decode('a+b%26c')", "a b&c"),
    ])
    .await;
}

#[tokio::test]
async fn array_functions() {
    check(&[
        ("contains(ARRAY[1, 2, 3], 2)", "true"),
        ("contains(ARRAY['a', 'b'], 'c')", "false"),
        ("contains(ARRAY['a', NULL], 'c')", "NULL"),
        (
            "contains('AuthorizeSecurityGroupIngress', 'Security')",
            "true",
        ),
        ("array_position(ARRAY[3, 1, 2], 2)", "3"),
        ("array_position(ARRAY[3, 1, 2], 5)", "0"),
        ("slice(ARRAY[1, 2, 3, 4], 2, 2)", "[2, 3]"),
        ("slice(ARRAY[1, 2, 3, 4], -2, 2)", "[3, 4]"),
        ("slice(ARRAY[1, 2, 3, 4], 5, 2)", "[]"),
        ("array_join(ARRAY['a', 'b'], ',')", "a,b"),
        ("cardinality(ARRAY[1, 2])", "2"),
        ("array_max(ARRAY[1, 5, 2])", "5"),
    ])
    .await;
    fails("slice(ARRAY[1], 0, 1)", "start at 1").await;
}

#[tokio::test]
async fn date_part_and_joda_functions() {
    let t = "TIMESTAMP '2024-08-01 10:15:30.123'";
    check(&[
        (&format!("year({t})"), "2024"),
        (&format!("quarter({t})"), "3"),
        (&format!("month({t})"), "8"),
        (&format!("week({t})"), "31"),
        (&format!("day({t})"), "1"),
        (&format!("day_of_week({t})"), "4"), // a Thursday; ISO, Monday = 1
        (&format!("dow({t})"), "4"),
        (&format!("day_of_year({t})"), "214"),
        (&format!("hour({t})"), "10"),
        (&format!("minute({t})"), "15"),
        (&format!("second({t})"), "30"),
        (&format!("millisecond({t})"), "123"),
        ("hour('2024-08-01T23:59:00Z')", "23"),
        (
            "to_iso8601(parse_datetime('2024-08-01T10:15:30.123+0200', 'yyyy-MM-dd''T''HH:mm:ss.SSSZ'))",
            "2024-08-01T08:15:30.123Z",
        ),
        ("to_iso8601(parse_datetime('1/8/2024', 'd/M/yyyy'))", "2024-08-01T00:00:00.000Z"),
        (&format!("format_datetime({t}, 'yyyy/MM/dd HH:mm')"), "2024/08/01 10:15"),
        (&format!("format_datetime({t}, 'EEE, d MMM yyyy')"), "Thu, 1 Aug 2024"),
        ("to_unixtime(TIMESTAMP '1970-01-02 00:00:00')", "86400"),
        ("from_unixtime(86400)", "1970-01-02T00:00:00"),
        ("date_trunc('hour', TIMESTAMP '2024-08-01 10:15:30')", "2024-08-01T10:00:00"),
    ])
    .await;
    fails(
        "parse_datetime('yesterday', 'yyyy-MM-dd')",
        "does not match",
    )
    .await;
}

#[tokio::test]
async fn typeof_names_trino_types() {
    check(&[
        ("typeof(1)", "bigint"),
        ("typeof(1.5)", "double"),
        ("typeof('a')", "varchar"),
        ("typeof(true)", "boolean"),
        ("typeof(ARRAY[1])", "array(bigint)"),
        ("typeof(NULL)", "unknown"),
    ])
    .await;
}
