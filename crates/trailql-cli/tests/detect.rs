//! `trailql detect` as a user runs it: the bundled pack over a generated trail (every planted
//! opening found, nothing else from that rule), the same alerts over S3, own rules and filters,
//! bad rule files, --list.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn trailql() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trailql"))
}

fn run_ok(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{cmd:?}: {err}");
    (String::from_utf8(out.stdout).unwrap(), err)
}

fn generate(dir: &Path) -> serde_json::Value {
    run_ok(trailql().args([
        "generate",
        dir.to_str().unwrap(),
        "--events",
        "4000",
        "--days",
        "2",
        "--accounts",
        "2",
        "--regions",
        "us-east-1,eu-west-1",
        "--seed",
        "11",
        "--openings",
        "8",
    ]));
    serde_json::from_slice(&std::fs::read(dir.join("ground-truth.json")).unwrap()).unwrap()
}

/// `trailql detect -s SOURCE --format json EXTRA…`: its alerts and its stderr.
fn detect_json(source: &Path, extra: &[&str]) -> (Vec<serde_json::Value>, String) {
    let (json, err) = run_ok(
        trailql()
            .args(["detect", "-s", source.to_str().unwrap(), "--format", "json"])
            .args(extra),
    );
    (alerts(&json), err)
}

fn alerts(json: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

const SG_RULE: &str = "Security group opened to the world";

#[test]
fn the_pack_finds_every_planted_opening_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path());
    let src = dir.path().join("AWSLogs");
    let (json, err) =
        run_ok(trailql().args(["detect", "-s", src.to_str().unwrap(), "--format", "json"]));
    let found = alerts(&json);
    let sg: BTreeSet<String> = found
        .iter()
        .filter(|a| a["rule_title"] == SG_RULE)
        .map(|a| a["event_id"].as_str().unwrap().to_string())
        .collect();
    let planted: BTreeSet<String> = truth["openings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["event_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!planted.is_empty());
    // Failed attempts (errorCode set) are not openings.
    assert_eq!(sg, planted, "{err}");
    let one = found.iter().find(|a| a["rule_title"] == SG_RULE).unwrap();
    let opening = truth["openings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["event_id"] == one["event_id"])
        .unwrap();
    assert_eq!(one["level"], "high");
    assert_eq!(one["account"], opening["account"]);
    assert!(
        one["matched"]
            .as_str()
            .unwrap()
            .contains(opening["group_id"].as_str().unwrap()),
        "{one}"
    );
    assert!(
        one["matched"]
            .as_str()
            .unwrap()
            .contains(opening["cidr"].as_str().unwrap()),
        "{one}"
    );
    assert!(!one["actor"].as_str().unwrap().is_empty());
    assert!(one["file"].as_str().unwrap().ends_with(".json.gz"));
    assert!(err.contains("detect: "), "{err}");
    assert!(err.contains(SG_RULE), "{err}");

    // The same run with every record parsed: the prefilter changes nothing.
    let (all, _) = run_ok(trailql().args([
        "detect",
        "-s",
        src.to_str().unwrap(),
        "--format",
        "json",
        "--no-prefilter",
    ]));
    assert_eq!(alerts(&all), found);

    // --level and --tag choose rules; --start/--end and --account narrow the scan.
    let (high, _) = detect_json(&src, &["--level", "high"]);
    assert!(high.iter().any(|a| a["rule_title"] == SG_RULE));
    assert!(high
        .iter()
        .all(|a| a["level"] == "high" || a["level"] == "critical"));
    let (tagged, _) = run_ok(trailql().args([
        "detect",
        "-s",
        src.to_str().unwrap(),
        "--format",
        "json",
        "--tag",
        "attack.t1190",
    ]));
    assert!(alerts(&tagged).iter().all(|a| a["rule_title"] == SG_RULE));
    assert_eq!(alerts(&tagged).len(), planted.len());
    let account = opening["account"].as_str().unwrap();
    let (scoped, _) = run_ok(trailql().args([
        "detect",
        "-s",
        src.to_str().unwrap(),
        "--format",
        "json",
        "--tag",
        "attack.t1190",
        "--account",
        account,
    ]));
    let want = truth["openings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["account"] == account)
        .count();
    assert_eq!(alerts(&scoped).len(), want);
}

#[test]
fn own_rules_filters_and_bad_rule_files() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path());
    let src = dir.path().join("AWSLogs");
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("ingress.yml"),
        "title: Any ingress change\nid: 00000000-0000-4000-8000-000000000001\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventName: AuthorizeSecurityGroupIngress\n  condition: sel\nlevel: low\n",
    )
    .unwrap();
    std::fs::write(rules.path().join("broken.yml"), "title: [oops").unwrap();
    std::fs::write(
        rules.path().join("windows.yml"),
        "title: Not ours\nlogsource:\n  product: windows\n  category: process_creation\ndetection:\n  sel:\n    Image|endswith: cmd.exe\n  condition: sel\n",
    )
    .unwrap();
    let (json, err) = run_ok(trailql().args([
        "detect",
        "-s",
        src.to_str().unwrap(),
        "--no-builtin",
        "--rules",
        rules.path().to_str().unwrap(),
        "--format",
        "json",
    ]));
    let found = alerts(&json);
    let calls = truth["openings"].as_array().unwrap().len()
        + truth["failed_attempts"].as_array().unwrap().len();
    assert!(found.len() >= calls, "{err}");
    assert!(found
        .iter()
        .all(|a| a["rule_title"] == "Any ingress change"));
    assert!(err.contains("broken.yml: not a Sigma rule"), "{err}");
    assert!(
        err.contains("1 rule(s) for other log sources skipped"),
        "{err}"
    );

    // A filter silences the failed attempts.
    let filter = rules.path().join("filters");
    std::fs::create_dir(&filter).unwrap();
    std::fs::write(
        filter.join("failed.yml"),
        "title: Failed calls are not changes\nlogsource:\n  product: aws\n  service: cloudtrail\nfilter:\n  rules:\n    - 00000000-0000-4000-8000-000000000001\n  selection:\n    errorCode|exists: true\n  condition: not selection\n",
    )
    .unwrap();
    let (json, err) = run_ok(trailql().args([
        "detect",
        "-s",
        src.to_str().unwrap(),
        "--no-builtin",
        "--rules",
        rules.path().join("ingress.yml").to_str().unwrap(),
        "--filter",
        filter.join("failed.yml").to_str().unwrap(),
        "--format",
        "json",
    ]));
    let filtered = alerts(&json);
    assert!(filtered.iter().all(|a| a["error_code"].is_null()), "{err}");
    let failed = found.iter().filter(|a| !a["error_code"].is_null()).count();
    assert!(failed >= truth["failed_attempts"].as_array().unwrap().len());
    assert_eq!(filtered.len(), found.len() - failed);

    // --strict: a bad rule file is an error.
    let out = trailql()
        .args([
            "detect",
            "-s",
            src.to_str().unwrap(),
            "--rules",
            rules.path().to_str().unwrap(),
            "--strict",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.yml"));
}

#[test]
fn list_prints_the_catalogue() {
    let (out, _) = run_ok(trailql().args(["detect", "--list", "--format", "csv"]));
    assert!(out.starts_with("level,title,id,kind,tags,file"), "{out}");
    assert!(out.contains(SG_RULE));
    assert!(out.contains("builtin:ec2/security_group_open_to_world.yml"));
    // One rule a file, and the pack's correlations.
    let correlations = out.lines().filter(|l| l.contains(",correlation,")).count();
    assert!(correlations >= 1, "{out}");
    assert_eq!(
        out.lines().count() - 1 - correlations,
        trailql_rules::pack::files().len()
    );
    // No sources is a clear error for a scan.
    let out = trailql().args(["detect"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sources"));
}

#[test]
fn detections_as_sql_join_the_events_behind_them() {
    let dir = tempfile::tempdir().unwrap();
    let truth = generate(dir.path());
    let src = dir.path().join("AWSLogs");
    let (out, err) = run_ok(trailql().args([
        "query",
        "-s",
        src.to_str().unwrap(),
        "--format",
        "csv",
        &format!(
            "SELECT d.event_id, c.eventname FROM detections() d JOIN cloudtrail_logs c ON c.eventid = d.event_id \
             WHERE d.rule_title = '{SG_RULE}' ORDER BY 1"
        ),
    ]));
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        rows.len(),
        truth["openings"].as_array().unwrap().len(),
        "{err}"
    );
    assert!(!err.contains("warning"), "{err}");
    assert!(
        rows.iter()
            .all(|r| r.ends_with(",AuthorizeSecurityGroupIngress")
                || r.ends_with(",ModifySecurityGroupRules")),
        "{out}"
    );
    // Counting alerts reads no column of them: the rows are still counted (with rules that
    // feed no correlation, which adds columns of its own).
    let rule = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../trailql-rules/tests/sigmahq/rules/aws_sts_assumerole_misuse.yml");
    let rule = rule.to_str().unwrap();
    let count = |sql: &str| -> u64 {
        let (out, err) =
            run_ok(trailql().args(["query", "-s", src.to_str().unwrap(), "--format", "csv", sql]));
        let n = out.lines().nth(1).and_then(|l| l.parse().ok());
        n.unwrap_or_else(|| panic!("{sql}: {out}{err}"))
    };
    let all = count(&format!("SELECT count(*) FROM detections('{rule}')"));
    assert!(all > 0);
    assert_eq!(
        all,
        count(&format!("SELECT count(event_id) FROM detections('{rule}')"))
    );
    let pack = count("SELECT count(*) FROM detections()");
    assert!(pack >= rows.len() as u64, "{pack}");
    let out = trailql()
        .args([
            "query",
            "-s",
            src.to_str().unwrap(),
            "SELECT * FROM detections('/nonexistent/rules')",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file or folder of Sigma rules"));
}

/// A `GetSecretValue` by `who` at minute `m` (and second `s`) of 2024-08-01 10:00Z.
fn secret_read(who: &str, m: u32, s: u32, n: usize) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": format!("arn:aws:sts::111122223333:assumed-role/{who}/s"), "accountId": "111122223333"},
        "eventTime": format!("2024-08-01T10:{m:02}:{s:02}Z"),
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": "GetSecretValue",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9",
        "userAgent": "aws-cli/2",
        "requestParameters": {"secretId": format!("prod/secret-{n}")},
        "eventID": format!("00000000-0000-4000-8000-{n:012}"),
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    })
}

/// A day folder of account 111122223333 in us-east-1 on 2024-08-01, under `root`.
fn day_folder(root: &Path) -> std::path::PathBuf {
    let day = root.join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01");
    std::fs::create_dir_all(&day).unwrap();
    day
}

/// Write `records` as a CloudTrail log file `name` in `day`.
fn write_log(day: &Path, name: &str, records: &[serde_json::Value]) {
    write_log_text(
        day,
        name,
        &serde_json::json!({ "Records": records }).to_string(),
    );
}

/// Write the JSON text `body` gzipped as log file `name` in `day`.
fn write_log_text(day: &Path, name: &str, body: &str) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, body.as_bytes()).unwrap();
    std::fs::write(day.join(name), gz.finish().unwrap()).unwrap();
}

/// `records` in files of `per_file`, 5 minutes apart from 10:00, named with `tag`.
fn write_logs(day: &Path, tag: &str, records: &[serde_json::Value], per_file: usize) {
    for (f, chunk) in records.chunks(per_file).enumerate() {
        let name = format!(
            "111122223333_CloudTrail_us-east-1_20240801T10{:02}Z_{tag}{f}.json.gz",
            f * 5
        );
        write_log(day, &name, chunk);
    }
}

#[test]
fn correlations_fire_once_per_burst_whatever_the_order_files_arrive_in() {
    let dir = tempfile::tempdir().unwrap();
    let day = day_folder(dir.path());
    // Twelve reads by `harvester` two per minute from 10:00 (the tenth at 10:04:30), written
    // latest first across three files; nine by `app`, under the threshold.
    let mut reads: Vec<serde_json::Value> = (0..12)
        .map(|k| secret_read("harvester", k / 2, (k % 2) * 30, k as usize))
        .chain((0..9).map(|k| secret_read("app", k, 15, 100 + k as usize)))
        .collect();
    reads.reverse();
    write_logs(&day, "f", &reads, 7);
    let (json, err) = run_ok(trailql().args([
        "detect",
        "-s",
        dir.path().to_str().unwrap(),
        "--format",
        "json",
    ]));
    let found = alerts(&json);
    let bursts: Vec<_> = found
        .iter()
        .filter(|a| a["rule_title"] == "Burst of secret reads by one principal")
        .collect();
    assert_eq!(bursts.len(), 1, "{found:#?}\n{err}");
    assert_eq!(bursts[0]["event_time"], "2024-08-01T10:04:30Z");
    assert_eq!(bursts[0]["level"], "high");
    let matched = bursts[0]["matched"].as_str().unwrap();
    assert!(matched.contains("harvester"), "{matched}");
    assert!(matched.contains("event_count 10"), "{matched}");
    // The reads themselves are there only for the correlation.
    assert!(
        found.iter().all(|a| a["rule_title"] != "Secret value read"),
        "{found:#?}"
    );
    assert!(err.contains("Burst of secret reads"), "{err}");
    // The same in SQL: detections() runs the correlations over the alerts in time order.
    let (csv, err) = run_ok(trailql().args([
        "query",
        "-s",
        dir.path().to_str().unwrap(),
        "--format",
        "csv",
        "SELECT rule_title, event_time, matched FROM detections() \
         WHERE rule_title LIKE '%secret%' ORDER BY event_time",
    ]));
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{csv}\n{err}");
    assert!(
        rows[0].starts_with(
            "Burst of secret reads by one principal,2024-08-01T10:04:30Z,event_count 10"
        ),
        "{csv}"
    );
    let (list, _) = run_ok(trailql().args(["detect", "--list", "--format", "csv"]));
    assert!(
        list.lines()
            .any(|l| l.contains("Burst of secret reads") && l.contains("correlation")),
        "{list}"
    );
}

/// A trail with planted openings plus a burst of secret reads (a correlation) in its own files.
fn trail_with_burst(dir: &Path) -> serde_json::Value {
    let truth = generate(dir);
    let day = day_folder(dir);
    let reads: Vec<serde_json::Value> = (0..12)
        .map(|k| secret_read("harvester", k / 2, (k % 2) * 30, k as usize))
        .collect();
    write_logs(&day, "b", &reads, 5);
    truth
}

/// Alerts without the `file` column (a local path here, an S3 key there).
fn without_file(mut alerts: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    for a in &mut alerts {
        a.as_object_mut().unwrap().remove("file");
    }
    alerts
}

#[test]
fn detect_over_s3_finds_what_it_finds_locally() {
    let dir = tempfile::tempdir().unwrap();
    trail_with_burst(dir.path());
    let moto = trailql_testkit::MotoServer::start();
    moto.create_bucket("detect-trail");
    moto.upload_dir("detect-trail", "", dir.path());
    let (local, _) = detect_json(&dir.path().join("AWSLogs"), &[]);
    assert!(local.iter().any(|a| a["rule_title"] == SG_RULE));
    assert!(local
        .iter()
        .any(|a| a["rule_title"] == "Burst of secret reads by one principal"));
    let (remote, err) = run_ok(
        trailql()
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials",
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args([
                "detect",
                "-s",
                "s3://detect-trail",
                "--endpoint-url",
                &moto.endpoint(),
                "--format",
                "json",
            ]),
    );
    let remote = alerts(&remote);
    assert!(remote.iter().all(|a| a["file"]
        .as_str()
        .unwrap()
        .starts_with("s3://detect-trail/AWSLogs/")));
    assert_eq!(without_file(remote), without_file(local), "{err}");
    assert!(err.contains("S3: "), "{err}");
}

#[test]
fn detect_writes_an_html_report_of_its_alerts() {
    let dir = tempfile::tempdir().unwrap();
    trail_with_burst(dir.path());
    let src = dir.path().join("AWSLogs");
    let page = dir.path().join("alerts.html");
    let (found, err) = detect_json(&src, &["--report", page.to_str().unwrap()]);
    assert!(err.contains("report written to"), "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    // One mark and one row per alert, each with its level; the rules that ran are listed.
    assert_eq!(html.matches("<circle").count(), found.len(), "{err}");
    assert_eq!(
        html.matches("<tr class=\"high\">").count(),
        found.iter().filter(|a| a["level"] == "high").count()
    );
    assert!(html.contains("Burst of secret reads by one principal"));
    assert!(html.contains("<h2>Rules</h2>"));
    assert!(
        html.contains(&format!("{} alert", found.len())),
        "{}",
        &html[..400.min(html.len())]
    );
    for a in &found {
        assert!(html.contains(a["event_id"].as_str().unwrap()));
    }
}

#[test]
fn a_record_without_a_readable_time_is_named_and_the_correlations_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let day = day_folder(dir.path());
    let mut reads: Vec<serde_json::Value> = (0..10)
        .map(|k| secret_read("harvester", k, 0, k as usize))
        .collect();
    let mut odd = secret_read("harvester", 3, 1, 99);
    odd["eventTime"] = serde_json::json!("last tuesday");
    reads.push(odd);
    let mut weird = secret_read("harvester", 3, 2, 98);
    weird["eventTime"] = serde_json::json!({"nested": [1, 2]});
    reads.push(weird);
    let name = "111122223333_CloudTrail_us-east-1_20240801T1000Z_odd.json.gz";
    write_log(&day, name, &reads);
    let (found, err) = detect_json(dir.path(), &[]);
    let bursts = found
        .iter()
        .filter(|a| a["rule_title"] == "Burst of secret reads by one principal")
        .count();
    assert_eq!(bursts, 1, "{found:#?}\n{err}");
    assert!(
        err.contains("no readable eventTime") && err.contains(name),
        "{err}"
    );
    // --strict makes it an error.
    let out = trailql()
        .args(["detect", "--strict", "-s", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn a_word_with_a_slash_finds_the_records_that_write_it_escaped() {
    // The rule's prefilter word is `:assumed-role/aws:`; JSON may write the slash as `\/`, and
    // that record must still be evaluated and found.
    let dir = tempfile::tempdir().unwrap();
    let day = day_folder(dir.path());
    let instance = |n: usize| {
        let mut r = secret_read("x", 0, n as u32, n);
        r["userIdentity"]["arn"] =
            serde_json::json!("arn:aws:sts::111122223333:assumed-role/aws:ec2-instance/i-0abc");
        r
    };
    let records = [instance(1), instance(2), secret_read("deployer", 0, 3, 3)];
    let mut body = serde_json::json!({ "Records": records }).to_string();
    let plain = "assumed-role/aws:ec2-instance/i-0abc\"";
    let first = body.find(plain).unwrap();
    body.replace_range(
        first..first + plain.len(),
        "assumed-role\\/aws:ec2-instance\\/i-0abc\"",
    );
    assert!(body.contains(plain) && body.contains("\\/aws:"), "{body}");
    write_log_text(
        &day,
        "111122223333_CloudTrail_us-east-1_20240801T1000Z_esc.json.gz",
        &body,
    );
    let rule = dir.path().join("imds.yml");
    std::fs::write(
        &rule,
        "title: Instance credentials used\nid: 5c4e1f0e-6a51-4a53-9d43-3d4c3e0f9a11\n\
         logsource: {product: aws, service: cloudtrail}\n\
         detection:\n  sel:\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\n  condition: sel\n\
         level: high\n",
    )
    .unwrap();
    let (found, err) = detect_json(
        dir.path().join("AWSLogs").as_path(),
        &["--no-builtin", "--rules", rule.to_str().unwrap()],
    );
    let ids: BTreeSet<String> = found
        .iter()
        .map(|a| a["event_id"].as_str().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = [1, 2]
        .iter()
        .map(|n| format!("00000000-0000-4000-8000-{n:012}"))
        .collect();
    assert_eq!(ids, want, "{err}");
}
