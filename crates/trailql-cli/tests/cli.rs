//! The `trailql` binary as a user runs it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::{trailql, trailql_aws};

fn generate(dir: &Path) {
    let out = trailql()
        .args([
            "generate",
            dir.to_str().unwrap(),
            "--events",
            "3000",
            "--days",
            "1",
            "--accounts",
            "1",
            "--regions",
            "us-east-1",
            "--seed",
            "7",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("openings"), "{err}");
}

#[test]
fn query_formats_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let logs = dir.path().join("AWSLogs");
    let src = logs.to_str().unwrap();
    let sql = "SELECT eventname, count(*) AS n FROM cloudtrail_logs GROUP BY 1 ORDER BY n DESC, 1 LIMIT 3";
    let out = trailql()
        .args(["query", "-s", src, "--format", "csv", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.lines().next(), Some("eventname,n"));
    assert_eq!(csv.lines().count(), 4);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("trailql: 3 row(s) · "), "{err}");
    assert!(err.contains("pruned 0") && err.contains("bad 0"), "{err}");

    // JSON keeps nested values; CSV turns them into JSON text.
    let out = trailql()
        .args(["query", "-q", "-s", src, "--format", "json", "SELECT useridentity, resources FROM cloudtrail_logs WHERE eventname = 'Decrypt' LIMIT 1"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v[0]["resources"][0]["arn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:kms:"));
    let out = trailql()
        .args([
            "query",
            "-q",
            "-s",
            src,
            "--format",
            "csv",
            "SELECT resources FROM cloudtrail_logs WHERE eventname = 'Decrypt' LIMIT 1",
        ])
        .output()
        .unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.contains("\"[{\"\"arn\"\":\"\"arn:aws:kms:"), "{csv}");

    // Parquet to a file, read back by querying… the row count.
    let pq = dir.path().join("out.parquet");
    let out = trailql()
        .args([
            "query",
            "-q",
            "-s",
            src,
            "--format",
            "parquet",
            "-o",
            pq.to_str().unwrap(),
            "SELECT * FROM cloudtrail_logs",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&pq).unwrap().len() > 1000);

    // SQL from a file, and --stats shows the scan.
    let f = dir.path().join("q.sql");
    std::fs::write(
        &f,
        "SELECT count(*) FROM cloudtrail_logs WHERE eventtime >= '2024-08-01T12:00:00Z'",
    )
    .unwrap();
    let out = trailql()
        .args(["query", "-s", src, "--stats", "-f", f.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("plan: CloudTrailExec: sources=["), "{err}");
    assert!(err.contains("stats: files total"), "{err}");
}

#[test]
fn errors_say_what_and_where() {
    let out = trailql()
        .args(["query", "-s", "/no/such/dir", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("/no/such/dir") && err.contains("does not exist"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let out = trailql()
        .args([
            "query",
            "-s",
            dir.path().to_str().unwrap(),
            "SELECT nosuchcolumn FROM cloudtrail_logs",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("nosuchcolumn"));
}

#[test]
fn strict_exits_non_zero_on_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir
        .path()
        .join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01");
    std::fs::create_dir_all(&day).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(br#"{"Records":[{"eventName":"A"}]}"#).unwrap();
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20240801T0005Z_a.json.gz"),
        e.finish().unwrap(),
    )
    .unwrap();
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20240801T0010Z_b.json.gz"),
        b"\x1f\x8bnot gzip",
    )
    .unwrap();
    let src = dir.path().to_str().unwrap();
    let out = trailql()
        .args(["query", "-s", src, "SELECT count(*) FROM cloudtrail_logs"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("warning: ") && err.contains("_b.json.gz") && err.contains("bad 1"),
        "{err}"
    );
    let out = trailql()
        .args([
            "query",
            "--strict",
            "-s",
            src,
            "SELECT count(*) FROM cloudtrail_logs",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("error: ") && err.contains("_b.json.gz") && err.contains("--strict"),
        "{err}"
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let mut child = trailql()
        .args([
            "query",
            "-q",
            "-s",
            dir.path().join("AWSLogs").to_str().unwrap(),
            "--format",
            "jsonl",
            "SELECT * FROM cloudtrail_logs",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn schema_lists_athena_columns() {
    let out = trailql().args(["schema"]).output().unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("requestparameters"));
    assert!(s.contains("struct<type:string,principalid:string"));
    let out = trailql().args(["schema", "--ddl"]).output().unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.starts_with("CREATE EXTERNAL TABLE cloudtrail_logs ("));
    assert!(s.contains("`timestamp` string"));
}

#[test]
fn lake_statements_run_as_written_and_the_lake_schema_prints() {
    let out = trailql()
        .args(["schema", "--dialect", "lake"])
        .output()
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        s.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["eventTime", "timestamp"]),
        "{s}"
    );
    assert!(
        s.contains("requestParameters") && s.contains("map<string,string>"),
        "{s}"
    );
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let src = dir.path().join("AWSLogs");
    let count = |args: &[&str], sql: &str| {
        let out = trailql()
            .args([
                "query",
                "-q",
                "--format",
                "csv",
                "-s",
                src.to_str().unwrap(),
            ])
            .args(args)
            .arg(sql)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let athena = count(
        &[],
        "SELECT count(*) AS n FROM cloudtrail_logs WHERE readonly = 'false'",
    );
    assert!(athena.0, "{}", athena.2);
    // The same question in Lake's SQL: a placeholder table, a boolean readOnly.
    let lake = count(
        &[],
        "SELECT count(*) AS n FROM <EDS ID> WHERE readOnly = false",
    );
    assert!(lake.0, "{}", lake.2);
    assert_eq!(lake.1, athena.1);
    assert!(athena.1.lines().nth(1).unwrap().parse::<u64>().unwrap() > 0);
    let forced = count(
        &["--dialect", "lake"],
        "SELECT count(*) AS n FROM cloudtrail_logs WHERE readOnly = false",
    );
    assert!(forced.0, "{}", forced.2);
    assert_eq!(forced.1, athena.1);
    // Athena's dialect takes the statement as written: `<EDS ID>` is then a syntax error.
    let refused = count(&["--dialect", "athena"], "SELECT count(*) FROM <EDS ID>");
    assert!(!refused.0);
}

#[test]
fn shell_runs_multi_line_statements() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let mut child = trailql()
        .args(["shell", "-s", dir.path().join("AWSLogs").to_str().unwrap()])
        .env("HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT count(*) AS n\nFROM cloudtrail_logs WHERE eventname = 'Decrypt';\nSELECT nosuch FROM cloudtrail_logs;\n.quit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("| n "), "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("error: ") && stderr.contains("nosuch"),
        "an error does not end the shell: {stderr}"
    );
}

fn run_ok(args: &[&str]) -> (String, String) {
    let out = trailql().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{args:?}: {err}");
    (String::from_utf8(out.stdout).unwrap(), err)
}

#[test]
fn investigations_print_tables_json_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("ground-truth.json")).unwrap())
            .unwrap();
    let logs = dir.path().join("AWSLogs");
    let src = logs.to_str().unwrap();
    let opening = &truth["openings"][0];
    let group = opening["group_id"].as_str().unwrap();
    let actor = opening["actor_arn"].as_str().unwrap();

    // exposure as JSON: every planted opening, each with its actor.
    let (json, err) = run_ok(&["exposure", "-s", src, "--format", "json"]);
    let found: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let planted = truth["openings"].as_array().unwrap().len()
        + truth["failed_attempts"].as_array().unwrap().len();
    assert_eq!(found.len(), planted, "{json}");
    assert!(found
        .iter()
        .any(|f| f["group_id"] == group && f["principal_arn"] == actor));
    assert!(
        err.contains("opened a security group to the whole internet"),
        "{err}"
    );

    // The readable table, narrowed to one group, with an HTML report.
    let report = dir.path().join("sg.html");
    let (table, _) = run_ok(&[
        "exposure",
        "-s",
        src,
        "--group",
        group,
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(
        table.contains(group) && table.contains("opened_at"),
        "{table}"
    );
    assert_eq!(table.matches("| open ").count(), 1, "{table}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<svg") && html.contains("FROM cloudtrail_logs"));
    assert_renders(&report, 1);

    // history and activity, as CSV and as a table with the grouped summary.
    let (csv, _) = run_ok(&["history", "-s", src, group, "--format", "csv"]);
    assert!(
        csv.starts_with("eventtime,account,region,eventsource,eventname,result,actor"),
        "{csv}"
    );
    assert!(csv.contains("AuthorizeSecurityGroupIngress"), "{csv}");
    let user = actor;
    let report = dir.path().join("who.html");
    let (text, err) = run_ok(&[
        "activity",
        "-s",
        src,
        user,
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(
        text.starts_with(&format!("What {user} did, by service and event name:")),
        "{text}"
    );
    assert!(
        text.contains("access_denied") && text.contains("Timeline:"),
        "{text}"
    );
    assert!(err.contains(&format!("event(s) by {user}")), "{err}");
    let marks = std::fs::read_to_string(&report)
        .unwrap()
        .matches("<circle")
        .count();
    assert!(marks > 1);
    assert_renders(&report, marks);

    // Mistakes are explained.
    let out = trailql()
        .args(["exposure", "-s", src, "--start", "last tuesday"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("YYYY-MM-DD"));
}

/// Open the report in headless Chromium and check that every chart mark was laid out (the page's
/// own script counts marks with a non-empty box into `data-rendered`). Chromium is installed by
/// `.ci/run`, which sets TRAILQL_REQUIRE_CHROMIUM=1 so that a missing browser fails the test.
fn assert_renders(page: &Path, marks: usize) {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("TRAILQL_REQUIRE_CHROMIUM").is_none(),
            "Chromium is required (TRAILQL_REQUIRE_CHROMIUM is set) but not installed: apt-get install chromium"
        );
        eprintln!(
            "SKIPPED: the HTML report was not rendered (no Chromium; apt-get install chromium)"
        );
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains(&format!("data-rendered=\"{marks}\"")),
        "Chromium did not lay out {marks} marks: {}",
        dom.chars().take(400).collect::<String>()
    );
}

#[test]
fn validate_explains_missing_keys_and_digests() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let src = dir.path().to_str().unwrap();
    // No key file: says what to pass.
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, "{}").unwrap();
    let out = trailql()
        .args([
            "validate",
            "-s",
            src,
            "--start",
            "2024-08-01",
            "--public-keys",
            keys.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("list-public-keys --output json"), "{err}");
    // A trail without digests is not valid evidence: exit 1 and a warning naming the folder.
    std::fs::write(&keys, r#"{"PublicKeyList":[]}"#).unwrap();
    let out = trailql()
        .args([
            "validate",
            "-s",
            src,
            "--start",
            "2024-08-01",
            "--end",
            "2024-08-02",
            "--public-keys",
            keys.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no-digests")
            && text.contains("No digest files found")
            && text.contains("NOT VALID"),
        "{text}"
    );
}

/// A generated trail in a folder and the same files in a bucket of a fresh moto server.
fn bucket_with_trail(bucket: &str) -> (tempfile::TempDir, trailql_testkit::MotoServer) {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let moto = trailql_testkit::MotoServer::start();
    moto.create_bucket(bucket);
    moto.upload_dir(bucket, "", dir.path());
    (dir, moto)
}

#[test]
fn s3_sources_answer_like_local_ones_and_the_cache_saves_gets() {
    let (dir, moto) = bucket_with_trail("cli-trail");
    let endpoint = moto.endpoint();
    let sql = "SELECT eventname, count(*) AS n FROM cloudtrail_logs GROUP BY 1 ORDER BY 2 DESC, 1";
    let (local, _) = run_ok(&[
        "query",
        "-s",
        dir.path().to_str().unwrap(),
        "--format",
        "csv",
        sql,
    ]);
    // `trailql query -s SOURCE --endpoint-url moto EXTRA… --format csv SQL`, with or without keys.
    let query = |keys: bool, source: &str, extra: &[&str]| {
        let mut args = vec!["query", "-s", source, "--endpoint-url", &endpoint];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--format", "csv", sql]);
        trailql_aws(keys).args(&args).output().unwrap()
    };
    let cache = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = query(true, "s3://cli-trail", extra);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{extra:?}: {err}");
        (String::from_utf8(out.stdout).unwrap(), err)
    };
    let (first, err1) = run(&["--cache", cache.path().to_str().unwrap()]);
    assert_eq!(first, local);
    assert!(
        err1.contains("S3: ") && err1.contains(" LIST, ") && err1.contains("in requests"),
        "{err1}"
    );
    assert!(!err1.contains("from cache"), "{err1}");
    let (second, err2) = run(&["--cache", cache.path().to_str().unwrap()]);
    assert_eq!(second, local);
    assert!(
        err2.contains(", 0 GET,") && err2.contains("from cache"),
        "{err2}"
    );

    // A missing bucket: the message names it and says what to check; exit code 1.
    let out = query(true, "s3://no-such-trail", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("s3://no-such-trail: the bucket does not exist"),
        "{err}"
    );

    // No credentials anywhere: says where they are looked for and what to do.
    let out = query(false, "s3://cli-trail", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("no usable AWS credentials") && err.contains("--profile"),
        "{err}"
    );
    // ... unless the bucket is public.
    moto.allow_public_read("cli-trail");
    let out = query(false, "s3://cli-trail", &["--no-sign-request"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), local);

    // A bad URL is explained before anything runs.
    let out = trailql()
        .args(["query", "-s", "s3://Bad_Bucket", sql])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid bucket name"));
}

#[test]
fn role_arn_is_assumed_through_sts_and_used_for_s3() {
    // moto serves STS too; the SDK finds it through the standard AWS_ENDPOINT_URL_STS.
    let (dir, moto) = bucket_with_trail("role-trail");
    let proxy = trailql_testkit::FaultProxy::start(moto.addr);
    let sql = "SELECT count(*) AS n FROM cloudtrail_logs";
    let (local, _) = run_ok(&[
        "query",
        "-s",
        dir.path().to_str().unwrap(),
        "--format",
        "csv",
        sql,
    ]);
    let out = trailql_aws(true)
        .env("AWS_ENDPOINT_URL_STS", proxy.endpoint())
        .args([
            "query",
            "-s",
            "s3://role-trail",
            "--endpoint-url",
            &proxy.endpoint(),
            "--role-arn",
            "arn:aws:iam::123456789012:role/trailql-reader",
            "--format",
            "csv",
            sql,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), local);
    let seen = proxy.seen();
    let assume: Vec<_> = seen
        .iter()
        .filter(|s| s.action.as_deref() == Some("AssumeRole"))
        .collect();
    assert_eq!(assume.len(), 1, "one AssumeRole per run: {seen:#?}");
    assert_eq!(
        assume[0].access_key.as_deref(),
        Some("AKIAIOSFODNN7EXAMPLE"),
        "AssumeRole is signed with the base credentials"
    );
    let s3: Vec<_> = seen
        .iter()
        .filter(|s| s.action.is_none() && s.access_key.is_some())
        .collect();
    assert!(s3.len() >= 2, "{seen:#?}");
    for s in s3 {
        let key = s.access_key.as_deref().unwrap();
        assert_ne!(
            key, "AKIAIOSFODNN7EXAMPLE",
            "S3 signed with the role: {s:?}"
        );
    }
}

#[test]
fn validate_fetches_public_keys_with_list_public_keys() {
    use trailql_testkit::signed;
    let t = signed::build(3, None);
    let ct = trailql_testkit::CloudTrailServer::start();
    ct.set_keys(signed::REGION, &signed::good_keys_json());
    let start = signed::t0().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let end = (signed::t0() + chrono::Duration::hours(24))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let args = [
        "validate",
        "-s",
        t.dir.path().to_str().unwrap(),
        "--start",
        &start,
        "--end",
        &end,
    ];
    let out = trailql_aws(true)
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", ct.endpoint())
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("VALID: 0 error(s)"), "{stdout}");
    assert!(
        stderr.contains("public keys from CloudTrail ListPublicKeys: us-east-1 (1 key)"),
        "{stderr}"
    );
    assert_eq!(ct.calls().len(), 1);

    // No credentials: the call cannot be made; the message says how to pass the keys instead.
    let out = trailql_aws(false)
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", ct.endpoint())
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot list CloudTrail's public keys in us-east-1")
            && err.contains("--public-keys keys.json"),
        "{err}"
    );
    assert_eq!(ct.calls().len(), 1, "an unsigned request never left");
    let out = trailql_aws(false)
        .args(args)
        .arg("--no-sign-request")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-sign-request"));
}
