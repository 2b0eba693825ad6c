//! `-s cloudtrail-api://…` as a user runs it, against the test kit's LookupEvents endpoint on
//! loopback serving a generated trail's events: every command answers as over the trail's
//! files, filters reach the API, the pace holds, throttling is retried, bad events are named.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use chrono::{Duration as Days, Utc};
use serde_json::Value;
use trailql_testkit::CloudTrailServer;

mod common;
use common::{trailql, trailql_aws, walk};

const API: &str = "cloudtrail-api://us-east-1,eu-west-1";

/// The binary with test credentials only, talking to `ct` for CloudTrail.
fn trailql_api(ct: &CloudTrailServer) -> Command {
    let mut c = trailql_aws(true);
    c.env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", ct.endpoint());
    c
}

fn ok(out: Output, what: &str) -> (String, String) {
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{what}:\n{e}");
    (o, e)
}

/// A two-day trail ending yesterday (inside LookupEvents' 90 days), one account, two regions.
fn generate(dir: &Path) -> PathBuf {
    let start = (Utc::now() - Days::days(3)).format("%Y-%m-%d").to_string();
    ok(
        trailql()
            .args([
                "generate",
                dir.to_str().unwrap(),
                "--events",
                "1200",
                "--days",
                "2",
                "--accounts",
                "1",
                "--regions",
                "us-east-1,eu-west-1",
                "--start",
                &start,
                "--seed",
                "5",
            ])
            .output()
            .unwrap(),
        "generate",
    );
    dir.join("AWSLogs")
}

/// Serve every record of the trail from LookupEvents in its region.
fn serve_trail(ct: &CloudTrailServer, logs: &Path) -> usize {
    let mut by_region: HashMap<String, Vec<Value>> = HashMap::new();
    for e in walk(logs)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
    {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&e).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        for r in v["Records"].as_array().unwrap() {
            let region = r["awsRegion"].as_str().unwrap().to_string();
            by_region.entry(region).or_default().push(r.clone());
        }
    }
    let n = by_region.values().map(Vec::len).sum();
    for (region, records) in by_region {
        ct.set_events(&region, records);
    }
    n
}

fn run(ct: &CloudTrailServer, source: &str, args: &[&str]) -> (String, String) {
    let mut c = trailql_api(ct);
    c.args(args).args(["-s", source]);
    ok(c.output().unwrap(), &format!("{args:?} -s {source}"))
}

#[test]
fn every_command_answers_over_the_event_history_as_over_the_trail() {
    let t = tempfile::tempdir().unwrap();
    let logs = generate(&t.path().join("trail"));
    let ct = CloudTrailServer::start();
    let events = serve_trail(&ct, &logs);
    let trail = logs.to_str().unwrap();

    let sql = "SELECT awsregion, eventname, count(*) AS n, max(eventtime) AS last FROM cloudtrail_logs GROUP BY 1, 2 ORDER BY 1, 2";
    let q = ["query", "--format", "csv", sql];
    let (from_api, err) = run(&ct, API, &q);
    assert_eq!(from_api, run(&ct, trail, &q).0);
    assert!(
        err.replace(',', "").contains(&format!("{events} events"))
            && err.contains("LookupEvents us-east-1,eu-west-1"),
        "{err}"
    );
    // Pages of 50, paced: never two requests to one region within 400 ms.
    let calls = ct.lookups();
    assert!(calls.len() >= events / 50, "{}", calls.len());
    for region in ["us-east-1", "eu-west-1"] {
        let at: Vec<_> = calls
            .iter()
            .filter(|c| c.region == region)
            .map(|c| c.at)
            .collect();
        for w in at.windows(2) {
            assert!(
                w[1].duration_since(w[0]) >= Duration::from_millis(400),
                "{region}: requests {:?} apart",
                w[1].duration_since(w[0])
            );
        }
    }
    assert!(calls.iter().all(|c| c.status == 200), "{calls:#?}");

    // A security group and a user of this trail, for history and activity.
    let one = |sql: &str| {
        let (o, _) = run(&ct, trail, &["query", "--format", "csv", "-q", sql]);
        o.lines().nth(1).unwrap_or_default().to_string()
    };
    let group = one("SELECT json_extract_scalar(requestparameters, '$.groupId') AS g FROM cloudtrail_logs WHERE eventname = 'AuthorizeSecurityGroupIngress' ORDER BY eventtime LIMIT 1");
    let user = one("SELECT useridentity.username AS u FROM cloudtrail_logs WHERE useridentity.username IS NOT NULL ORDER BY eventtime LIMIT 1");
    assert!(
        group.starts_with("sg-") && !user.is_empty(),
        "{group} {user}"
    );
    for cmd in [
        vec!["exposure", "--format", "csv"],
        vec!["history", "--format", "csv", group.as_str()],
        vec!["activity", "--format", "csv", user.as_str()],
        vec!["detect", "--format", "csv"],
    ] {
        let (a, _) = run(&ct, API, &cmd);
        let (b, _) = run(&ct, trail, &cmd);
        // detect's last column names the file an event came from: here, a temporary file.
        let (a, b) = if cmd[0] == "detect" {
            let cut = |t: &str| -> String {
                t.lines()
                    .map(|l| l.rsplit_once(',').map_or(l, |(head, _)| head).to_string() + "\n")
                    .collect()
            };
            assert!(
                a.lines().skip(1).all(|l| l.contains("/trailql-lookup-")),
                "{a}"
            );
            (cut(&a), cut(&b))
        } else {
            (a, b)
        };
        assert_eq!(a, b, "{cmd:?}");
        assert!(a.lines().count() > 1, "{cmd:?}: {a}");
    }

    // The Lake dialect over the history too.
    let lake = [
        "query",
        "--format",
        "csv",
        "SELECT count(*) FROM <EDS ID> WHERE readOnly = false",
    ];
    assert_eq!(run(&ct, API, &lake).0, run(&ct, trail, &lake).0);

    // A lake synced from the history answers as the trail does; a second sync adds no row.
    let dir = t.path().join("lake");
    let l = dir.to_str().unwrap();
    run(&ct, API, &["lake", "sync", "--lake", l]);
    run(&ct, API, &["lake", "sync", "--lake", l]);
    let q = [
        "query",
        "--format",
        "csv",
        "SELECT awsregion, eventname, count(*) AS n FROM cloudtrail_logs GROUP BY 1, 2 ORDER BY 1, 2",
    ];
    assert_eq!(run(&ct, l, &q).0, run(&ct, trail, &q).0);
}

#[test]
fn filters_reach_the_api_throttling_is_retried_and_bad_events_are_named() {
    let t = tempfile::tempdir().unwrap();
    let logs = generate(&t.path().join("trail"));
    let ct = CloudTrailServer::start();
    serve_trail(&ct, &logs);
    let trail = logs.to_str().unwrap();
    let since = (Utc::now() - Days::days(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();

    // Time, region and event name: one region asked, from the window's start, by EventName.
    let sql = format!(
        "SELECT eventid, eventtime FROM cloudtrail_logs WHERE eventname = 'AuthorizeSecurityGroupIngress' AND awsregion = 'eu-west-1' AND eventtime >= '{since}' ORDER BY 1"
    );
    let q = ["query", "--format", "csv", sql.as_str()];
    let before = ct.lookups().len();
    let (a, err) = run(&ct, API, &q);
    assert_eq!(a, run(&ct, trail, &q).0);
    assert!(
        err.contains("EventName=AuthorizeSecurityGroupIngress"),
        "{err}"
    );
    let calls = &ct.lookups()[before..];
    assert!(!calls.is_empty());
    let since_epoch = chrono::DateTime::parse_from_rfc3339(&since)
        .unwrap()
        .timestamp() as f64;
    for c in calls {
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(
            c.attribute,
            Some(("EventName".into(), "AuthorizeSecurityGroupIngress".into()))
        );
        assert_eq!(c.start, Some(since_epoch));
    }

    // A user's name goes as Username; an explicit --lookup wins over the filters.
    let q = [
        "query",
        "--format",
        "csv",
        "SELECT count(*) FROM cloudtrail_logs WHERE useridentity.username = 'alice'",
    ];
    let before = ct.lookups().len();
    assert_eq!(run(&ct, API, &q).0, run(&ct, trail, &q).0);
    assert!(ct.lookups()[before..]
        .iter()
        .all(|c| c.attribute == Some(("Username".into(), "alice".into()))));
    let before = ct.lookups().len();
    let mut c = trailql_api(&ct);
    c.args([
        "query",
        "-s",
        API,
        "--lookup",
        "ResourceName=sg-0123456789abcdef0",
    ])
    .arg("SELECT count(*) FROM cloudtrail_logs");
    ok(c.output().unwrap(), "--lookup");
    assert!(ct.lookups()[before..]
        .iter()
        .all(|c| c.attribute == Some(("ResourceName".into(), "sg-0123456789abcdef0".into()))));

    // Throttled twice: sent again after a wait, same answer, said on stderr.
    ct.throttle_next("us-east-1", 2);
    let q = [
        "query",
        "--format",
        "csv",
        "SELECT count(*) FROM cloudtrail_logs",
    ];
    let before = ct.lookups().len();
    let (a, err) = run(&ct, API, &q);
    assert_eq!(a, run(&ct, trail, &q).0);
    let refused = ct.lookups()[before..]
        .iter()
        .filter(|c| c.error.as_deref() == Some("ThrottlingException"))
        .count();
    // The two asked for, and any the kit's own rate limit added (the previous run's last
    // requests may be less than a second before this run's first).
    assert!(refused >= 2, "{refused}");
    assert!(
        err.contains(&format!(
            "; {refused} throttled or failed request(s) sent again"
        )),
        "{refused}: {err}"
    );

    // An event whose CloudTrailEvent is not JSON: named, left out, the rest answered;
    // --strict refuses.
    let at = (Utc::now() - Days::days(1)).timestamp() as f64;
    ct.add_raw_event("eu-west-1", at, "bad-event-1", "{\"eventVersion\": ");
    let (a, err) = run(&ct, API, &q);
    assert_eq!(a, run(&ct, trail, &q).0);
    assert!(
        err.contains("LookupEvents eu-west-1: event bad-event-1: its CloudTrailEvent is not JSON"),
        "{err}"
    );
    let out = trailql_api(&ct)
        .args(["query", "--strict", "-s", API, "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--strict: 1 event(s) from LookupEvents"));

    // Commands that need the trail's files say so.
    let out = trailql_api(&ct)
        .args(["validate", "-s", API, "--start", "2026-01-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the CloudTrail API is a source for query")
    );

    // Refused credentials: stopped at once with what to check, no retries.
    let out = trailql_api(&ct)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["query", "-s", API, "SELECT 1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("CloudTrail LookupEvents in") && err.contains("--profile, --role-arn"),
        "{err}"
    );
}
