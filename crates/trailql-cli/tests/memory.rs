//! Memory stays bounded whatever the input: validation of a year of hourly digests (flat from
//! one month to twelve), and scans over decompression bombs and a file inflating past 100 MB.

use std::collections::BTreeSet;
use std::process::Command;

use trailql_testkit::peak::run_peak_mib;
use trailql_testkit::signed;

fn validate_peak(hours: usize) -> f64 {
    let t = signed::build(hours, None);
    let keys = t.dir.path().join("keys.json");
    std::fs::write(&keys, signed::good_keys_json()).unwrap();
    let end = signed::t0() + chrono::Duration::hours(hours as i64);
    let (status, peak) = run_peak_mib(Command::new(env!("CARGO_BIN_EXE_trailql")).args([
        "validate",
        "-s",
        t.dir.path().to_str().unwrap(),
        "--public-keys",
        keys.to_str().unwrap(),
        "--start",
        &signed::t0().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "--end",
        &end.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    ]));
    assert!(status.success(), "{hours} hours did not validate");
    peak
}

#[test]
fn a_year_of_hourly_digests_validates_in_bounded_memory() {
    let month = validate_peak(24 * 30);
    let year = validate_peak(24 * 365);
    eprintln!("peak RSS: month {month:.1} MiB, year {year:.1} MiB");
    assert!(year < 64.0, "a year of digests took {year:.1} MiB");
    assert!(
        year < month + 16.0,
        "month {month:.1} MiB → year {year:.1} MiB"
    );
}

fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn event(i: usize) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u{}","accountId":"111122223333"}},"eventTime":"2024-08-01T10:{:02}:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.{}","requestParameters":{{"instancesSet":{{"items":[{{"instanceId":"i-{i:016x}"}}]}},"filterSet":{{}}}},"responseElements":null,"eventID":"{i:08x}-0000-4000-8000-000000000000","readOnly":true,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}}"#,
        i % 50,
        i % 60,
        i % 250
    )
}

/// A gzip file of several members: the first holds `head`, then `copies` members each
/// inflating to `filler` (compressed once: a 3 GiB bomb is built in a second).
fn bomb(head: &str, filler: &[u8], copies: usize) -> Vec<u8> {
    let member = gz(filler);
    let mut out = gz(head.as_bytes());
    for _ in 0..copies {
        out.extend_from_slice(&member);
    }
    out
}

#[test]
fn bombs_and_large_files_scan_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir
        .path()
        .join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01");
    std::fs::create_dir_all(&day).unwrap();
    let name = |k: &str| {
        day.join(format!(
            "111122223333_CloudTrail_us-east-1_20240801T1000Z_{k}.json.gz"
        ))
    };
    let first = format!("{{\"Records\":[{},", event(0));
    let spaces = vec![b' '; 64 << 20];
    // 3 GiB of white space inside the Records array, four times over.
    for k in 0..4 {
        std::fs::write(name(&format!("bomb{k}")), bomb(&first, &spaces, 48)).unwrap();
    }
    // One string that never ends (the record limit stops it), and one of zeros.
    let string_head = format!("{{\"Records\":[{},{{\"eventName\":\"", event(1));
    std::fs::write(
        name("string"),
        bomb(&string_head, &vec![b'a'; 64 << 20], 48),
    )
    .unwrap();
    std::fs::write(name("zeros"), bomb("", &vec![0u8; 64 << 20], 48)).unwrap();
    // An honest file inflating past 100 MB: every row must come back.
    let mut recs = Vec::new();
    let mut len = 0;
    while len < 100 << 20 {
        let r = event(recs.len() + 10);
        len += r.len() + 1;
        recs.push(r);
    }
    let honest = recs.len();
    std::fs::write(
        name("large"),
        gz(format!("{{\"Records\":[{}]}}", recs.join(",")).as_bytes()),
    )
    .unwrap();
    drop(recs);
    let src = dir.path().to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trailql"))
        .args([
            "query",
            "-s",
            src,
            "--format",
            "csv",
            "SELECT count(*) AS n FROM cloudtrail_logs",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The large file's rows, plus the first record of each bomb and of the long string.
    assert_eq!(
        stdout.lines().nth(1),
        Some((honest + 5).to_string().as_str()),
        "{stderr}"
    );
    for k in ["bomb0", "bomb3", "string", "zeros"] {
        assert!(
            stderr.contains(&format!("_{k}.json.gz")),
            "{k} named: {stderr}"
        );
    }
    assert!(stderr.contains("decompression bomb"), "{stderr}");
    let mut peaks = Vec::new();
    for sql in [
        "SELECT count(*) FROM cloudtrail_logs",
        "SELECT * FROM cloudtrail_logs",
        "SELECT eventid, requestparameters FROM cloudtrail_logs WHERE eventname = 'DescribeInstances'",
    ] {
        let (status, peak) = run_peak_mib(Command::new(env!("CARGO_BIN_EXE_trailql")).args([
            "query", "-q", "-s", src, "--format", "jsonl", sql,
        ]));
        assert!(status.success(), "{sql}");
        peaks.push(peak);
    }
    eprintln!("peak RSS over bombs and a 100 MB file: {peaks:.1?} MiB");
    for p in peaks {
        assert!(p < 256.0, "a scan over bombs took {p:.1} MiB");
    }
}

/// A rule every record matches, so that alerts are as many as events.
const EVERY_EVENT: &str = "title: Every event
id: 0f4c9c1e-6a52-4c55-9e2f-7d1a0f3b2a10
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventVersion|exists: true
  condition: selection
level: low
";

/// A correlation of the same rule (named `every_event`) with one group per event
/// (`group-by: eventID`): every record goes through the sort with its fields, and the correlator
/// opens 250 k groups, whose windows (five minutes) must be let go as time moves on.
const CORRELATION: &str = "title: The same event twice
id: 7a0d2b4e-1c3f-4e5a-9b6d-8c2e0f4a1b37
correlation:
  type: event_count
  rules:
    - every_event
  group-by:
    - eventID
  timespan: 5m
  condition:
    gte: 2
  generate: true
level: medium
";

/// Peak RSS of `detect` with `rules` (which alert on every event) over a generated trail of
/// `events`, and the alerts' times as written.
fn detect_peak(events: usize, rules: &str) -> (f64, Vec<String>, BTreeSet<String>) {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let gen = Command::new(env!("CARGO_BIN_EXE_trailql"))
        .args([
            "generate",
            "--events",
            &events.to_string(),
            "--accounts",
            "2",
        ])
        .arg(&trail)
        .output()
        .unwrap();
    assert!(gen.status.success());
    let rule = dir.path().join("every.yml");
    std::fs::write(&rule, rules).unwrap();
    let out = dir.path().join("alerts.jsonl");
    let (status, peak) = run_peak_mib(
        Command::new(env!("CARGO_BIN_EXE_trailql"))
            .args(["detect", "--no-builtin", "--format", "jsonl", "-s"])
            .arg(&trail)
            .arg("--rules")
            .arg(&rule)
            .arg("--output")
            .arg(&out),
    );
    assert!(status.success(), "detect over {events} events failed");
    let mut times = Vec::new();
    let mut titles = BTreeSet::new();
    for l in std::fs::read_to_string(&out).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        times.push(v["event_time"].as_str().unwrap().to_string());
        titles.insert(v["rule_title"].as_str().unwrap().to_string());
    }
    (peak, times, titles)
}

/// `detect` with `rules` over 50 k and 250 k events: every event an alert, sorted although the
/// sort spilled, only the rule `title`'s alerts, and peak RSS under 256 MB and flat.
fn assert_detect_flat(rules: &str, title: &str) {
    let mut peaks = Vec::new();
    for events in [50_000, 250_000] {
        let (peak, times, titles) = detect_peak(events, rules);
        // The generator writes about the number of events asked for.
        assert!(
            times.len() > events * 9 / 10,
            "{} alerts for {events} events",
            times.len()
        );
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "alerts not sorted");
        assert_eq!(titles, BTreeSet::from([title.to_string()]));
        peaks.push(peak);
    }
    eprintln!("{title}: detect peak RSS, 50 k and 250 k events: {peaks:.1?} MiB");
    assert!(peaks[1] < 256.0, "250 k events took {:.1} MiB", peaks[1]);
    assert!(
        peaks[1] < peaks[0] + 48.0,
        "detect memory grows with the data: {peaks:.1?} MiB"
    );
}

#[test]
fn detect_streams_and_sorts_its_alerts_in_bounded_memory() {
    assert_detect_flat(EVERY_EVENT, "Every event");
}

/// No event is in the trail twice: the correlation never fires, but holds a group per event.
#[test]
fn correlations_with_a_group_per_event_run_in_bounded_memory() {
    let rules = format!("{EVERY_EVENT}name: every_event\n---\n{CORRELATION}");
    assert_detect_flat(&rules, "Every event");
}

/// `trailql serve` keeps answers in memory for paging: however many large answers it is asked
/// for, older ones' rows are let go so the process stays within 256 MB.
#[test]
fn the_server_stays_within_256_mb_however_many_large_answers_it_keeps() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use trailql_testkit::{request, Response};

    let dir = tempfile::tempdir().unwrap();
    let gen = Command::new(env!("CARGO_BIN_EXE_trailql"))
        .args(["generate", dir.path().to_str().unwrap()])
        .args(["--events", "120000", "--days", "2", "--seed", "5"])
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailql"))
        .args([
            "serve",
            "-q",
            "-s",
            dir.path().to_str().unwrap(),
            "--port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "trailql serve: open http://127.0.0.1:PORT/?token=T"
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    let rest = url.strip_prefix("http://").expect(&line);
    let (host, query) = rest.split_once("/?token=").expect(&line);
    let addr: std::net::SocketAddr = host.parse().unwrap();
    let auth = format!("Bearer {query}");
    let call = |method: &str, path: &str, body: &str| -> Response {
        request(
            addr,
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
        .unwrap()
    };
    let json = |r: Response| -> serde_json::Value { serde_json::from_slice(&r.body).unwrap() };

    let mut ids = Vec::new();
    for i in 0..5 {
        // Every column of every event: well past what one answer may keep.
        let sql = format!(r#"{{"sql": "SELECT *, {i} AS n FROM cloudtrail_logs"}}"#);
        let r = call("POST", "/api/query", &sql);
        assert_eq!(r.status, 202, "{}", r.text());
        let id = json(r)["id"].as_u64().unwrap();
        let status = loop {
            let s = json(call("GET", &format!("/api/jobs/{id}"), ""));
            if s["phase"] != "running" && s["phase"] != "queued" {
                break s;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        assert_eq!(status["phase"], "done", "{status}");
        assert!(
            status["total_rows"].as_u64().unwrap() >= 120_000,
            "{status}"
        );
        assert_eq!(status["truncated"], true, "{status}");
        let page = call("GET", &format!("/api/jobs/{id}/rows?limit=5"), "");
        assert_eq!(page.status, 200, "{}", page.text());
        ids.push(id);
    }
    let status_file = format!("/proc/{}/status", child.id());
    let peak = std::fs::read_to_string(&status_file)
        .ok()
        .and_then(|t| trailql_testkit::peak::vm_hwm_kib(&t))
        .unwrap() as f64
        / 1024.0;
    // The newest answers page; an older one's rows were let go and it says so (the oldest of
    // the five is forgotten altogether: four are remembered).
    let old = json(call("GET", &format!("/api/jobs/{}", ids[1]), ""));
    assert_eq!(old["released"], true, "{old}");
    let page = call("GET", &format!("/api/jobs/{}/rows", ids[1]), "");
    assert_eq!(page.status, 409, "{}", page.text());
    assert!(
        page.text().contains("run the statement again"),
        "{}",
        page.text()
    );
    let values = call(
        "GET",
        &format!("/api/jobs/{}/column?name=eventid", ids[1]),
        "",
    );
    assert_eq!(values.status, 409, "{}", values.text());
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("serve: peak RSS {peak:.1} MiB after 5 large answers");
    assert!(peak < 256.0, "the server took {peak:.1} MiB");
}
