//! Hostile input through the binary: deep nesting in every column kind, through every JSON
//! function and investigation, never aborts the process; the other files' rows come back, the
//! file is named in a warning, and `--strict` exits 1 (not a crash).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

fn trailql() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trailql"))
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01";

fn record(id: &str, name: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","userName":"alice","accountId":"111122223333"}},"eventTime":"2024-08-01T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","eventID":"{id}","recipientAccountId":"111122223333"{extra}}}"#
    )
}

/// One file of ordinary records, one whose records each nest 200,000 deep somewhere.
fn trail(dir: &Path) {
    let day = dir.join(KEY);
    std::fs::create_dir_all(&day).unwrap();
    let sg = r#","requestParameters":{"groupId":"sg-0123456789abcdef0","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}"#;
    let good = [
        record("good-1", "AuthorizeSecurityGroupIngress", sg),
        record("good-2", "DescribeInstances", ""),
    ];
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20240801T1000Z_good.json.gz"),
        gz(format!("{{\"Records\":[{}]}}", good.join(",")).as_bytes()),
    )
    .unwrap();
    let arr = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let obj = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let sg_deep = format!(r#","requestParameters":{{"groupId":"sg-0123456789abcdef0","x":{arr}}}"#);
    let deep = [
        record("deep-1", "AuthorizeSecurityGroupIngress", &sg_deep),
        record("deep-2", "X", &format!(r#","responseElements":{obj}"#)),
        record(
            "deep-3",
            "X",
            &format!(r#","additionalEventData":{arr},"resources":{arr}"#),
        ),
        record(
            "deep-4",
            "X",
            &format!(r#","tlsDetails":{obj},"unnamedField":{arr}"#),
        ),
    ];
    let mut text = format!("{{\"Records\":[{}]}}", deep.join(","));
    // `userIdentity` itself nested deep.
    text = text.replacen(
        r#""userIdentity":{"type":"IAMUser""#,
        &format!(r#""userIdentity":{{"sessionContext":{obj},"type":"IAMUser""#),
        1,
    );
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20240801T1005Z_deep.json.gz"),
        gz(text.as_bytes()),
    )
    .unwrap();
}

fn run(args: &[&str]) -> Output {
    let out = trailql().args(args).output().unwrap();
    assert!(
        out.status.code().is_some(),
        "trailql {args:?} was killed by a signal: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn deep_nesting_never_aborts_queries_functions_or_investigations() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path());
    let src = dir.path().to_str().unwrap();
    let queries = [
        "SELECT eventid, requestparameters FROM cloudtrail_logs ORDER BY eventid",
        "SELECT * FROM cloudtrail_logs ORDER BY eventid",
        "SELECT eventid, useridentity.arn, tlsdetails, resources, additionaleventdata, responseelements FROM cloudtrail_logs ORDER BY eventid",
        "SELECT eventid, json_extract_scalar(requestparameters, '$.groupId') AS g, json_extract(eventjson, '$.unnamedField') AS u, \
         json_size(responseelements, '$.a') AS s, json_array_length(additionaleventdata) AS l, \
         json_array_get(additionaleventdata, 0) AS e, json_array_contains(additionaleventdata, 1) AS c, \
         length(json_format(requestparameters)) AS f, length(json_parse(coalesce(responseelements, '{}'))) AS p, \
         json_format(resources) IS NULL AS r FROM cloudtrail_logs ORDER BY eventid",
        "SELECT count(*) FROM cloudtrail_logs WHERE requestparameters LIKE '%sg-0123456789abcdef0%'",
        "SELECT eventid FROM cloudtrail_logs CROSS JOIN UNNEST(resources) AS u (r) ORDER BY 1",
    ];
    for sql in queries {
        let out = run(&["query", "-s", src, "--format", "jsonl", sql]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{sql}: {stderr}");
        assert!(
            stderr.contains("deep.json.gz"),
            "the file is named: {stderr}"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        if sql.contains("ORDER BY eventid") {
            assert!(
                stdout.contains("good-1") && stdout.contains("good-2"),
                "{sql}: {stdout:.300}"
            );
        }
        if sql.starts_with("SELECT eventid, json_extract_scalar") {
            // The deep values answer NULL; the ordinary one answers.
            let good = stdout.lines().find(|l| l.contains("good-1")).unwrap();
            assert!(good.contains(r#""g":"sg-0123456789abcdef0""#), "{good}");
        }
        let strict = run(&["query", "--strict", "-s", src, "--format", "jsonl", sql]);
        assert_eq!(strict.status.code(), Some(1), "{sql} --strict");
        assert!(String::from_utf8_lossy(&strict.stderr).contains("--strict"));
    }
    for args in [
        vec!["exposure", "-s", src, "--format", "json"],
        vec![
            "history",
            "-s",
            src,
            "sg-0123456789abcdef0",
            "--format",
            "json",
        ],
        vec!["activity", "-s", src, "alice", "--format", "json"],
    ] {
        let out = run(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("good-1"), "{args:?}: {stdout:.400}");
    }
}

#[test]
fn deep_public_key_and_digest_json_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path());
    let keys = dir.path().join("keys.json");
    std::fs::write(
        &keys,
        format!(
            "{{\"PublicKeyList\":{}1{}}}",
            "[".repeat(300_000),
            "]".repeat(300_000)
        ),
    )
    .unwrap();
    let out = run(&[
        "validate",
        "-s",
        dir.path().to_str().unwrap(),
        "--public-keys",
        keys.to_str().unwrap(),
        "--start",
        "2024-08-01",
        "--end",
        "2024-08-02",
    ]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keys.json"), "{err}");
}
