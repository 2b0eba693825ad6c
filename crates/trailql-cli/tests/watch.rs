//! `trailql watch` as a user runs it, against real parts: files dropped into a watched folder
//! while it runs, a bucket on moto, a webhook receiver that fails and goes down, `kill -9` at
//! several moments and a restart, and memory flat in the number of files processed. The
//! alerts a watch delivers are checked against `trailql detect` over the same files: the same
//! alerts, each once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::walk;
use trailql_testkit::peak::run_peak_mib;
use trailql_testkit::{Mode, WebhookReceiver};

fn trailql() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trailql"))
}

fn run_ok(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{cmd:?}: {err}");
    (String::from_utf8(out.stdout).unwrap(), err)
}

/// A generated trail (`AWSLogs/` under `dir`) and its ground truth.
fn generate(dir: &Path, events: u32, days: u32) -> serde_json::Value {
    run_ok(trailql().args([
        "generate",
        dir.to_str().unwrap(),
        "--events",
        &events.to_string(),
        "--days",
        &days.to_string(),
        "--accounts",
        "2",
        "--regions",
        "us-east-1,eu-west-1",
        "--seed",
        "5",
        "--openings",
        "6",
    ]));
    serde_json::from_slice(&std::fs::read(dir.join("ground-truth.json")).unwrap()).unwrap()
}

/// The trail files under `dir`, oldest delivery first (names sort by delivery time within a
/// region folder; the name's timestamp orders them across folders).
fn trail_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    let stamp = |p: &PathBuf| {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        name.split('_').nth(3).unwrap_or_default().to_string()
    };
    files.sort_by_key(|p| (stamp(p), p.clone()));
    files
}

/// Copy `file` (under `from`) to the same place under `to`.
fn deliver(file: &Path, from: &Path, to: &Path) {
    let dest = to.join(file.strip_prefix(from).unwrap());
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(file, dest).unwrap();
}

/// The (rule id, event id) of `trailql detect` over `source`: what a watch must deliver.
fn detected(source: &Path) -> BTreeSet<(String, String)> {
    let (json, _) = run_ok(trailql().args([
        "detect",
        "-q",
        "-s",
        source.to_str().unwrap(),
        "--format",
        "json",
    ]));
    let alerts: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert!(!alerts.is_empty());
    alerts
        .iter()
        .map(|a| {
            (
                a["rule_id"].as_str().unwrap().to_string(),
                a["event_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The alert file's lines as JSON (a missing file is none).
/// A generated trail under `t/generated` (its `AWSLogs/` inside) and what `detect` finds in it.
fn generated(t: &Path, events: u32, days: u32) -> (PathBuf, BTreeSet<(String, String)>) {
    let src = t.join("generated");
    generate(&src, events, days);
    let want = detected(&src.join("AWSLogs"));
    (src, want)
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    json_lines(&std::fs::read_to_string(path).unwrap_or_default())
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The alerts of JSON lines whose rule id starts with `prefix`.
fn of_rule(out: &str, prefix: &str) -> Vec<serde_json::Value> {
    json_lines(out)
        .into_iter()
        .filter(|v| v["rule_id"].as_str().unwrap().starts_with(prefix))
        .collect()
}

/// Each (rule id, event id) and how many times it was delivered.
fn counted(alerts: &[serde_json::Value]) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for a in alerts {
        let key = (
            a["rule_id"].as_str().unwrap().to_string(),
            a["event_id"].as_str().unwrap().to_string(),
        );
        assert_eq!(a["id"].as_str().unwrap(), format!("{}/{}", key.0, key.1));
        *m.entry(key).or_insert(0) += 1;
    }
    m
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// Send `sig` to a child started with a piped stderr; its exit status and stderr.
fn stop(child: &mut Child, sig: &str) -> (std::process::ExitStatus, String) {
    signal(child, sig);
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    (status, err)
}

/// The static keys and region moto accepts, and no instance metadata lookups.
fn with_aws_keys(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

fn watch_cmd(source: &Path, state: &Path, extra: &[&str]) -> Command {
    let mut c = trailql();
    c.args([
        "watch",
        "-s",
        source.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--start",
        "2024-01-01",
    ])
    .args(extra);
    c
}

/// A watch of `watched` started with a piped stderr, alerts to `alerts` only, polling every
/// 10 minutes: only the file-system notifications can make it quick.
fn follow_folder(watched: &Path, state: &Path, alerts: &Path) -> Child {
    watch_cmd(
        watched,
        state,
        &[
            "--interval",
            "600",
            "--no-stdout",
            "--alert-file",
            alerts.to_str().unwrap(),
        ],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap()
}

#[test]
fn files_dropped_into_a_watched_folder_alert_once_each_within_moments() {
    let t = tempfile::tempdir().unwrap();
    let (src, want) = generated(t.path(), 3000, 1);
    let watched = t.path().join("watched");
    std::fs::create_dir_all(&watched).unwrap();
    let state = t.path().join("state");
    let alerts = t.path().join("alerts.jsonl");
    let mut child = follow_folder(&watched, &state, &alerts);
    std::thread::sleep(Duration::from_millis(500));
    let files = trail_files(&src);
    let (first, rest) = files.split_at(files.len() / 2);
    for f in first {
        deliver(f, &src, &watched);
    }
    // The first alert arrives within seconds of the files landing, with no poll due.
    wait_for("the first alerts", Duration::from_secs(20), || {
        !lines(&alerts).is_empty()
    });
    for f in rest {
        deliver(f, &src, &watched);
    }
    wait_for("every alert", Duration::from_secs(60), || {
        counted(&lines(&alerts)).len() >= want.len()
    });
    let (status, err) = stop(&mut child, "-TERM");
    assert!(status.success(), "{err}");
    assert!(err.contains("stopped ·"), "{err}");
    let got = counted(&lines(&alerts));
    assert!(got.values().all(|&n| n == 1), "an alert delivered twice");
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), want);
    let seqs: Vec<u64> = lines(&alerts)
        .iter()
        .map(|a| a["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in sequence order");

    // Started again with nothing new: nothing is delivered again.
    run_ok(&mut watch_cmd(
        &watched,
        &state,
        &[
            "--once",
            "--no-stdout",
            "--alert-file",
            alerts.to_str().unwrap(),
        ],
    ));
    assert_eq!(lines(&alerts).len(), want.len());
}

#[test]
fn killed_at_any_moment_and_restarted_every_alert_is_delivered_exactly_once_to_the_file() {
    let t = tempfile::tempdir().unwrap();
    let (src, want) = generated(t.path(), 20_000, 2);
    let trail = src.join("AWSLogs");
    let state = t.path().join("state");
    let alerts = t.path().join("alerts.jsonl");
    let hook = WebhookReceiver::start();
    let url = hook.url();
    let outputs = [
        "--json",
        "--alert-file",
        alerts.to_str().unwrap(),
        "--webhook",
        url.as_str(),
    ];
    // Killed after a few alerts, after more, then left to finish.
    for after in [1, want.len() / 3, 2 * want.len() / 3] {
        let mut child = watch_cmd(&trail, &state, &outputs)
            .args(["--interval", "600"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for("alerts before the kill", Duration::from_secs(60), || {
            lines(&alerts).len() >= after
        });
        signal(&child, "-KILL");
        child.wait().unwrap();
    }
    let (out, _) = run_ok(watch_cmd(&trail, &state, &outputs).arg("--once"));
    let file = counted(&lines(&alerts));
    assert!(
        file.values().all(|&n| n == 1),
        "the alert file got an alert twice"
    );
    assert_eq!(
        file.keys().cloned().collect::<BTreeSet<_>>(),
        want,
        "the alert file"
    );

    // The webhook got every alert; one sent as a kill struck may come again, same id.
    let bodies: Vec<serde_json::Value> = hook
        .received()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let hooked = counted(&bodies);
    assert_eq!(
        hooked.keys().cloned().collect::<BTreeSet<_>>(),
        want,
        "the webhook"
    );
    let repeats: usize = hooked.values().map(|n| n - 1).sum();
    assert!(repeats <= 3, "{repeats} repeats over three kills");
    // Standard output of the last run: what was left, as JSON lines.
    for l in out.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["seq"].as_u64().is_some());
    }
}

#[test]
fn a_webhook_that_is_down_gets_its_alerts_in_order_when_it_is_back_signed() {
    let t = tempfile::tempdir().unwrap();
    let (src, want) = generated(t.path(), 3000, 1);
    let trail = src.join("AWSLogs");
    let state = t.path().join("state");
    let mut hook = WebhookReceiver::start();
    let url = hook.url();
    hook.set_mode(Mode::Fail(503));
    let watch = |extra: &[&str]| {
        let mut c = watch_cmd(
            &trail,
            &state,
            &["--once", "--no-stdout", "--webhook", url.as_str()],
        );
        c.args(extra).env("TRAILQL_WEBHOOK_SECRET", "s3cr3t");
        c
    };
    let (_, err) = run_ok(&mut watch(&[]));
    assert!(
        err.contains("answered 503 Service Unavailable") && err.contains("queued in the state"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{} alert(s) still queued", want.len())),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"));
    hook.down();
    let (_, err) = run_ok(&mut watch(&[]));
    assert!(err.contains("cannot connect"), "{err}");
    assert!(hook.received().is_empty());

    hook.up();
    hook.set_mode(Mode::Accept);
    let (_, err) = run_ok(&mut watch(&[]));
    assert!(!err.contains("still queued"), "{err}");
    let got = hook.received();
    let bodies: Vec<serde_json::Value> = got
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let seqs: Vec<u64> = bodies.iter().map(|b| b["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=want.len() as u64).collect::<Vec<_>>(),
        "every alert, in order, once"
    );
    assert_eq!(
        counted(&bodies).keys().cloned().collect::<BTreeSet<_>>(),
        want
    );
    for r in &got {
        assert_eq!(
            r.header("X-Trailql-Signature"),
            Some(trailql_watch::output::signature(b"s3cr3t", &r.body).as_str())
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(r.header("X-Trailql-Alert-Id"), body["id"].as_str());
        assert_eq!(r.header("Content-Type"), Some("application/json"));
    }
}

#[test]
fn a_bucket_on_moto_is_followed_as_files_are_delivered() {
    let t = tempfile::tempdir().unwrap();
    let (src, want) = generated(t.path(), 3000, 1);
    let moto = trailql_testkit::MotoServer::start();
    moto.create_bucket("watched-trail");
    let files = trail_files(&src);
    let upload = |f: &Path| {
        let key = f.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        moto.put("watched-trail", &key, &std::fs::read(f).unwrap(), &[]);
    };
    let (first, rest) = files.split_at(files.len() / 2);
    for f in first {
        upload(f);
    }
    let state = t.path().join("state");
    let alerts = t.path().join("alerts.jsonl");
    let mut child = with_aws_keys(&mut trailql())
        .args([
            "watch",
            "-s",
            "s3://watched-trail",
            "--endpoint-url",
            &moto.endpoint(),
            "--state",
            state.to_str().unwrap(),
            "--start",
            "2024-01-01",
            "--interval",
            "1",
            "--no-stdout",
            "--alert-file",
            alerts.to_str().unwrap(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first half's alerts", Duration::from_secs(60), || {
        !lines(&alerts).is_empty()
    });
    for f in rest {
        upload(f);
    }
    wait_for("every alert", Duration::from_secs(60), || {
        counted(&lines(&alerts)).len() >= want.len()
    });
    let (status, err) = stop(&mut child, "-INT");
    assert!(status.success(), "{err}");
    let got = counted(&lines(&alerts));
    assert!(got.values().all(|&n| n == 1));
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), want);
}

#[test]
fn bad_files_in_the_tree_are_warnings_and_the_watch_goes_on() {
    let t = tempfile::tempdir().unwrap();
    let (src, want) = generated(t.path(), 3000, 1);
    let trail = src.join("AWSLogs");
    let region = trail_files(&src)[0].parent().unwrap().to_path_buf();
    let bad = region.join("111122223333_CloudTrail_us-east-1_20240801T0000Z_broken.json.gz");
    std::fs::write(&bad, b"\x1f\x8b\x08\x00 this is not gzip").unwrap();
    // Old enough not to count as a file still being written.
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&bad)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let state = t.path().join("state");
    let alerts = t.path().join("alerts.jsonl");
    let (_, err) = run_ok(&mut watch_cmd(
        &trail,
        &state,
        &[
            "--once",
            "--no-stdout",
            "--alert-file",
            alerts.to_str().unwrap(),
        ],
    ));
    assert!(
        err.contains("warning: ") && err.contains("_broken.json.gz"),
        "{err}"
    );
    assert_eq!(
        counted(&lines(&alerts))
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        want
    );
    // --strict: the same file is an error.
    let out = watch_cmd(
        &trail,
        &t.path().join("state2"),
        &["--once", "--strict", "--json"],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("_broken.json.gz") && err.contains("--strict"),
        "{err}"
    );
}

#[test]
fn memory_stays_flat_in_the_number_of_files_processed() {
    let t = tempfile::tempdir().unwrap();
    let mut peaks = Vec::new();
    for (events, days) in [(15_000, 1), (150_000, 7)] {
        let dir = t.path().join(format!("trail-{events}"));
        generate(&dir, events, days);
        let files = trail_files(&dir).len();
        let state = dir.join("state");
        let alerts = dir.join("alerts.jsonl");
        let (status, peak) = run_peak_mib(&mut watch_cmd(
            &dir.join("AWSLogs"),
            &state,
            &[
                "--once",
                "--no-stdout",
                "--alert-file",
                alerts.to_str().unwrap(),
            ],
        ));
        assert!(status.success());
        assert!(!lines(&alerts).is_empty());
        peaks.push((files, peak));
    }
    let ((few, small), (many, large)) = (peaks[0], peaks[1]);
    assert!(many > 5 * few, "{peaks:?}");
    assert!(large < 256.0, "{peaks:?}");
    assert!(
        large < small * 1.25 + 8.0,
        "peak RSS grew with the files processed: {peaks:?}"
    );
}

/// The `VmHWM` of a running child, in MiB.
fn high_water_mib(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    trailql_testkit::peak::vm_hwm_kib(&status).unwrap() as f64 / 1024.0
}

#[test]
fn memory_stays_flat_while_thousands_of_files_are_delivered_to_a_running_watch() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("generated");
    generate(&src, 150_000, 7);
    let files = trail_files(&src);
    assert!(files.len() > 2000, "{} files", files.len());
    let watched = t.path().join("watched");
    std::fs::create_dir_all(&watched).unwrap();
    let alerts = t.path().join("alerts.jsonl");
    let mut child = follow_folder(&watched, &t.path().join("state"), &alerts);
    // The watch's log lines say how many files it has processed so far.
    let processed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reader = {
        let processed = processed.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut log = String::new();
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
                let line = line.unwrap();
                if let Some(n) = line
                    .split("; ")
                    .nth(1)
                    .and_then(|r| r.split(' ').next())
                    .and_then(|n| n.parse().ok())
                {
                    processed.store(n, std::sync::atomic::Ordering::SeqCst);
                }
                log.push_str(&line);
                log.push('\n');
            }
            log
        })
    };
    // Delivered in batches, each processed before the next lands, as a trail delivers.
    let mut delivered = 0;
    let mut early = None;
    for batch in files.chunks(50) {
        for f in batch {
            deliver(f, &src, &watched);
        }
        delivered += batch.len();
        wait_for("the batch to be processed", Duration::from_secs(60), || {
            processed.load(std::sync::atomic::Ordering::SeqCst) >= delivered
        });
        if early.is_none() && delivered >= files.len() / 10 {
            early = Some((delivered, high_water_mib(&child)));
        }
    }
    let (few, small) = early.unwrap();
    let large = high_water_mib(&child);
    signal(&child, "-TERM");
    assert!(child.wait().unwrap().success());
    let log = reader.join().unwrap();
    assert!(!log.contains("warning:"), "{log}");
    assert!(!lines(&alerts).is_empty());
    let peaks = [(few, small), (files.len(), large)];
    eprintln!("peak RSS (files delivered, MiB): {peaks:?}");
    assert!(large < 256.0, "{peaks:?}");
    assert!(
        large < small * 1.25 + 8.0,
        "peak RSS grew with the files delivered: {peaks:?}"
    );
}

#[test]
fn an_sqs_queue_of_delivery_notifications_is_followed_and_drained() {
    let t = tempfile::tempdir().unwrap();
    let (src, want) = generated(t.path(), 3000, 1);
    let moto = trailql_testkit::MotoServer::start();
    moto.create_bucket("sqs-trail");
    let queue = moto.create_queue("trail-deliveries");
    let keys: Vec<String> = trail_files(&src)
        .iter()
        .map(|f| {
            let key = f.strip_prefix(&src).unwrap().to_string_lossy().to_string();
            moto.put("sqs-trail", &key, &std::fs::read(f).unwrap(), &[]);
            key
        })
        .collect();
    let (sns, s3_events) = keys.split_at(keys.len() / 2);
    // CloudTrail's own notification, inside SNS's envelope, a few keys a message.
    for chunk in sns.chunks(3) {
        let inner = serde_json::json!({"s3Bucket": "sqs-trail", "s3ObjectKey": chunk}).to_string();
        moto.send_message(
            &queue,
            &serde_json::json!({"Type": "Notification", "Message": inner}).to_string(),
        );
    }
    // S3 event notifications, keys URL-encoded.
    for key in s3_events {
        let body = serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "sqs-trail"}, "object": {"key": key.replace('=', "%3D")}}}]});
        moto.send_message(&queue, &body.to_string());
    }
    moto.send_message(
        &queue,
        r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"sqs-trail"}"#,
    );
    moto.send_message(&queue, "not a notification");
    let state = t.path().join("state");
    let alerts = t.path().join("alerts.jsonl");
    let (_, err) = run_ok(with_aws_keys(&mut trailql()).args([
        "watch",
        "--sqs",
        &queue,
        "--endpoint-url",
        &moto.endpoint(),
        "--state",
        state.to_str().unwrap(),
        "--once",
        "--no-stdout",
        "--alert-file",
        alerts.to_str().unwrap(),
    ]));
    assert!(
        err.contains("not a notification") || err.contains("not JSON"),
        "{err}"
    );
    let got = counted(&lines(&alerts));
    assert!(got.values().all(|&n| n == 1));
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), want);
    // Every message but the one that is not a notification was deleted.
    let (visible, in_flight) = moto.queue_depth(&queue);
    assert_eq!(visible + in_flight, 1, "{err}");
}

#[test]
fn correlation_windows_are_kept_in_the_state_across_restarts() {
    use trailql_testkit::signed::{gz, log_key, put, t0, ACCOUNT, REGION};
    let t = tempfile::tempdir().unwrap();
    let watched = t.path().join("watched");
    let arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/web/i-0abc");
    // Twelve refusals in one file, ten in the next, a few seconds apart: twenty-two within ten
    // minutes, the pack's burst of access denied errors, but neither file alone.
    let file = |first: usize, n: usize| {
        let records: Vec<serde_json::Value> = (first..first + n)
            .map(|k| {
                serde_json::json!({
                    "eventVersion": "1.08",
                    "eventTime": (t0() + chrono::Duration::seconds(10 * k as i64)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    "eventSource": "s3.amazonaws.com",
                    "eventName": "GetObject",
                    "awsRegion": REGION,
                    "sourceIPAddress": "203.0.113.9",
                    "userIdentity": {"type": "AssumedRole", "arn": arn, "accountId": ACCOUNT},
                    "errorCode": "AccessDenied",
                    "eventID": format!("00000000-0000-4000-8000-{k:012}"),
                    "recipientAccountId": ACCOUNT,
                })
            })
            .collect();
        gz(serde_json::json!({ "Records": records })
            .to_string()
            .as_bytes())
    };
    let burst = |out: &str| {
        json_lines(out)
            .iter()
            .filter(|v| v["rule_title"] == "Burst of access denied errors for one principal")
            .count()
    };
    let state = t.path().join("state");
    put(
        &watched,
        &log_key(t0() + chrono::Duration::minutes(5), 1),
        &file(0, 12),
    );
    let (out, _) = run_ok(&mut watch_cmd(&watched, &state, &["--json", "--once"]));
    assert_eq!(burst(&out), 0, "twelve are not a burst: {out}");
    put(
        &watched,
        &log_key(t0() + chrono::Duration::minutes(10), 2),
        &file(12, 10),
    );
    let (out, err) = run_ok(&mut watch_cmd(&watched, &state, &["--json", "--once"]));
    assert_eq!(
        burst(&out),
        1,
        "twelve kept from the first run and ten more: {out}\n{err}"
    );
    assert!(err.contains("correlation window(s) taken back"), "{err}");
    // A state that did not see the first file sees ten.
    let second_only = t.path().join("second-only");
    put(
        &second_only,
        &log_key(t0() + chrono::Duration::minutes(10), 2),
        &file(12, 10),
    );
    let (out, _) = run_ok(&mut watch_cmd(
        &second_only,
        &t.path().join("s2"),
        &["--json", "--once"],
    ));
    assert_eq!(burst(&out), 0, "{out}");
    // And detect over both files agrees with the watch.
    let (json, _) = run_ok(trailql().args([
        "detect",
        "-q",
        "-s",
        watched.to_str().unwrap(),
        "--format",
        "json",
    ]));
    let alerts: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let n = alerts
        .iter()
        .filter(|a| a["rule_title"] == "Burst of access denied errors for one principal")
        .count();
    assert_eq!(n, 1);
}

#[test]
fn a_webhook_that_hangs_does_not_hold_up_the_alert_file_and_gets_its_alerts_once_it_answers() {
    let t = tempfile::tempdir().unwrap();
    let (src, want) = generated(t.path(), 3000, 1);
    let trail = src.join("AWSLogs");
    let state = t.path().join("state");
    let alerts = t.path().join("alerts.jsonl");
    let hook = WebhookReceiver::start();
    hook.set_mode(Mode::Hang);
    let url = hook.url();
    let mut child = watch_cmd(
        &trail,
        &state,
        &[
            "--no-stdout",
            "--interval",
            "600",
            "--alert-file",
            alerts.to_str().unwrap(),
            "--webhook",
            url.as_str(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // While the webhook takes requests and never answers, the alert file gets everything.
    wait_for(
        "the alert file while the webhook hangs",
        Duration::from_secs(120),
        || lines(&alerts).len() >= want.len(),
    );
    assert!(hook.received().is_empty());
    hook.set_mode(Mode::Accept);
    let ids = || -> BTreeSet<(String, String)> {
        let bodies: Vec<serde_json::Value> = hook
            .received()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        counted(&bodies).keys().cloned().collect()
    };
    wait_for(
        "the webhook once it answers",
        Duration::from_secs(120),
        || ids() == want,
    );
    let (status, err) = stop(&mut child, "-TERM");
    assert!(status.success(), "{err}");
    assert!(err.contains("no answer"), "the hang is named: {err}");
    // Every alert in order; only the request that hung (the first alert, abandoned after the
    // timeout and then answered when the receiver woke) may have come twice, with its id.
    let seqs: Vec<u64> = hook
        .received()
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let mut firsts: Vec<u64> = Vec::new();
    for s in &seqs {
        if !firsts.contains(s) {
            firsts.push(*s);
        }
    }
    assert_eq!(
        firsts,
        (1..=want.len() as u64).collect::<Vec<_>>(),
        "{seqs:?}"
    );
    assert!(
        seqs.iter().filter(|&&s| s != 1).count() == want.len() - 1,
        "{seqs:?}"
    );
}

#[test]
fn validate_alerts_once_on_a_modified_or_deleted_log_file_a_missing_digest_and_digests_that_stop() {
    use trailql_testkit::signed::{build, good_keys_json, gz};
    let t = tempfile::tempdir().unwrap();
    // Eight signed hours (digests and log files); the watched folder gets them as CloudTrail
    // would deliver them, a few hours at a time.
    let trail = build(8, None);
    let watched = t.path().join("watched");
    let keys = t.path().join("keys.json");
    std::fs::write(&keys, good_keys_json()).unwrap();
    let copy = |key: &str| {
        let dest = watched.join(key);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(trail.path(key), dest).unwrap();
    };
    let hour = |h: usize, with_digest: bool| {
        for l in &trail.logs[h] {
            copy(l);
        }
        if with_digest {
            copy(&trail.digests[h]);
            copy(&format!("{}.signature", trail.digests[h]));
        }
    };
    let state = t.path().join("state");
    let run = || {
        let mut c = watch_cmd(
            &watched,
            &state,
            &[
                "--json",
                "--once",
                "--validate",
                "--public-keys",
                keys.to_str().unwrap(),
            ],
        );
        let (out, err) = run_ok(&mut c);
        (of_rule(&out, "trailql-integrity-"), err)
    };
    hour(0, true);
    hour(1, true);
    let (found, err) = run();
    assert!(found.is_empty(), "an intact trail: {found:?}\n{err}");
    assert!(!err.contains("warning:"), "{err}");

    // Hour 2 arrives without its digest; in hour 3 one log file is rewritten and the other
    // never arrives; hour 4 is intact.
    hour(2, false);
    hour(3, true);
    let modified = &trail.logs[3][0];
    std::fs::write(
        watched.join(modified),
        gz(br#"{"Records":[{"eventVersion":"1.09","eventTime":"2024-08-01T03:15:31Z","eventName":"Rewritten"}]}"#),
    )
    .unwrap();
    let deleted = &trail.logs[3][1];
    std::fs::remove_file(watched.join(deleted)).unwrap();
    hour(4, true);
    let (found, err) = run();
    let got: BTreeSet<(String, String)> = found
        .iter()
        .map(|a| {
            (
                a["rule_id"].as_str().unwrap().to_string(),
                a["event_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("trailql-integrity-log-modified", modified.as_str()),
        ("trailql-integrity-log-deleted", deleted.as_str()),
        (
            "trailql-integrity-digest-missing",
            trail.digests[2].as_str(),
        ),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want, "{err}");
    assert_eq!(found.len(), 3, "each once: {found:?}");
    for a in &found {
        assert_eq!(a["account"], trailql_testkit::signed::ACCOUNT);
        assert!(["critical", "high"].contains(&a["level"].as_str().unwrap()));
    }
    // Run again: nothing new, nothing raised twice.
    let (found, err) = run();
    assert!(found.is_empty(), "{found:?}\n{err}");

    // Log files go on arriving, digests do not (validation turned off): said once.
    for h in 5..8 {
        hour(h, false);
    }
    let (found, err) = run();
    assert_eq!(found.len(), 1, "{found:?}\n{err}");
    let a = &found[0];
    assert_eq!(a["rule_id"], "trailql-integrity-digests-stopped");
    assert_eq!(a["level"], "high");
    let region = a["region"].as_str().unwrap();
    assert!(trail.digests[4].contains(&format!("/{region}/")), "{a}");
    assert!(
        a["matched"]
            .as_str()
            .unwrap()
            .contains("after the one ending 2024-08-01T05:0"),
        "the newest digest is hour 4's: {a}"
    );
    let (found, err) = run();
    assert!(found.is_empty(), "{found:?}\n{err}");
}

#[test]
fn validate_reads_digests_and_their_signature_metadata_from_a_bucket() {
    use trailql_testkit::signed::{build, good_keys_json, gz};
    let t = tempfile::tempdir().unwrap();
    let trail = build(3, None);
    let modified = trail.logs[2][0].clone();
    std::fs::write(
        trail.path(&modified),
        gz(br#"{"Records":[{"eventVersion":"1.09","eventTime":"2024-08-01T02:15:31Z","eventName":"Rewritten"}]}"#),
    )
    .unwrap();
    let moto = trailql_testkit::MotoServer::start();
    moto.create_bucket("validated-trail");
    // Signatures as S3 keeps them: object metadata, no side files.
    moto.upload_dir("validated-trail", "", trail.dir.path());
    let keys = t.path().join("keys.json");
    std::fs::write(&keys, good_keys_json()).unwrap();
    let (out, err) = run_ok(with_aws_keys(&mut trailql()).args([
        "watch",
        "-s",
        "s3://validated-trail",
        "--endpoint-url",
        &moto.endpoint(),
        "--state",
        t.path().join("state").to_str().unwrap(),
        "--start",
        "2024-01-01",
        "--once",
        "--json",
        "--validate",
        "--public-keys",
        keys.to_str().unwrap(),
    ]));
    let integrity = of_rule(&out, "trailql-integrity-");
    assert_eq!(integrity.len(), 1, "{out}\n{err}");
    assert_eq!(integrity[0]["rule_id"], "trailql-integrity-log-modified");
    assert_eq!(integrity[0]["event_id"], modified.as_str());
    assert!(!err.contains("warning:"), "{err}");
}
