//! The fetch against the test kit's LookupEvents endpoint on loopback: pages followed, regions in
//! parallel at the API's pace, several values of one attribute without repeats, and the events
//! written verbatim as trail files.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use aws_sdk_cloudtrail::config::{Credentials, SharedCredentialsProvider};
use chrono::{Duration, TimeZone, Utc};
use serde_json::{json, Value};
use trailql_lookup::{fetch, Key, Lookup, Progress, Request};
use trailql_s3::{sdk_config, S3Options};
use trailql_testkit::CloudTrailServer;

fn record(i: usize, region: &str, groups: &[&str]) -> Value {
    let t = Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap() + Duration::seconds(97 * i as i64);
    json!({
        "eventVersion": "1.09",
        "eventTime": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventID": format!("{region}-{i:04}"),
        "eventName": if groups.is_empty() { "DescribeInstances" } else { "AuthorizeSecurityGroupIngress" },
        "eventSource": "ec2.amazonaws.com",
        "awsRegion": region,
        "recipientAccountId": "123456789012",
        "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": "123456789012"},
        "requestParameters": if groups.is_empty() { Value::Null } else { json!({"groupId": groups[0]}) },
        "resources": groups.iter().map(|g| json!({"type": "AWS::EC2::SecurityGroup", "ARN": g})).collect::<Vec<_>>(),
    })
}

/// Every record in the trail files under `dir`, as text.
fn written(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
    {
        if !e.file_type().is_file() {
            continue;
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(e.path()).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        for r in v["Records"].as_array().unwrap() {
            out.push(r.to_string());
        }
    }
    out.sort();
    out
}

async fn sdk(ct: &CloudTrailServer) -> trailql_s3::SdkConfig {
    let opts = S3Options {
        credentials: Some(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))),
        ..S3Options::default()
    };
    sdk_config(&opts)
        .await
        .unwrap()
        .into_builder()
        .endpoint_url(ct.endpoint())
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_every_region_become_trail_files_with_the_records_verbatim() {
    let ct = CloudTrailServer::start();
    let mut all = Vec::new();
    for region in ["us-east-1", "eu-west-1"] {
        let records: Vec<Value> = (0..130).map(|i| record(i, region, &[])).collect();
        all.extend(records.iter().map(Value::to_string));
        ct.set_events(region, records);
    }
    all.sort();
    let dir = tempfile::tempdir().unwrap();
    let start = Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap();
    let req = Request::new(
        vec!["us-east-1".into(), "eu-west-1".into()],
        start,
        start + Duration::days(3),
    );
    let progress = Progress::default();
    let got = fetch(&sdk(&ct).await, &req, dir.path(), &progress)
        .await
        .unwrap();
    assert_eq!((got.pages, got.events, got.bad), (6, 260, 0));
    assert_eq!(progress.done(), 1.0);
    assert_eq!(written(dir.path()), all);
    // Each region's pages came in order, each after its token, paced.
    let calls = ct.lookups();
    for region in ["us-east-1", "eu-west-1"] {
        let c: Vec<_> = calls.iter().filter(|c| c.region == region).collect();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].next_token, None);
        assert!(c[1].next_token.is_some() && c[2].next_token.is_some());
        assert!(c[2].at - c[1].at >= std::time::Duration::from_millis(450));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_resource_names_are_looked_up_without_repeating_an_event() {
    let ct = CloudTrailServer::start();
    let records = vec![
        record(1, "us-east-1", &["sg-1"]),
        record(2, "us-east-1", &["sg-1", "sg-2"]),
        record(3, "us-east-1", &["sg-2"]),
        record(4, "us-east-1", &["sg-3"]),
        record(5, "us-east-1", &[]),
    ];
    let want: BTreeSet<String> = records[..3].iter().map(Value::to_string).collect();
    ct.set_events("us-east-1", records);
    let dir = tempfile::tempdir().unwrap();
    let start = Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap();
    let mut req = Request::new(vec!["us-east-1".into()], start, start + Duration::days(3));
    req.lookup = Some(Lookup {
        key: Key::ResourceName,
        values: vec!["sg-1".into(), "sg-2".into()],
    });
    let got = fetch(&sdk(&ct).await, &req, dir.path(), &Progress::default())
        .await
        .unwrap();
    assert_eq!(got.events, 3);
    let found: BTreeSet<String> = written(dir.path()).into_iter().collect();
    assert_eq!(found, want);
    let sent: Vec<_> = ct.lookups().into_iter().map(|c| c.attribute).collect();
    assert_eq!(
        sent,
        vec![
            Some(("ResourceName".to_string(), "sg-1".to_string())),
            Some(("ResourceName".to_string(), "sg-2".to_string()))
        ]
    );
}
