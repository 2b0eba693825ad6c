//! `trailql lake` as a user runs it: sync, the lake as `-s` for every command, a sync killed
//! with SIGKILL at several points, and a sync's memory flat in the size of the trail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trailql_testkit::peak::run_peak_mib;

fn trailql() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trailql"))
}

fn run_ok(args: &[&str]) -> (String, String) {
    let out = trailql().args(args).output().unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "trailql {args:?}:\n{e}");
    (o, e)
}

fn generate(dir: &Path, events: u64, days: u32) -> PathBuf {
    run_ok(&[
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
        "13",
    ]);
    dir.join("AWSLogs")
}

fn csv(src: &Path, sql: &str) -> String {
    run_ok(&[
        "query",
        "-q",
        "--format",
        "csv",
        "-s",
        src.to_str().unwrap(),
        sql,
    ])
    .0
}

/// The one value a query answers.
fn value(src: &Path, sql: &str) -> String {
    csv(src, sql).lines().nth(1).unwrap_or_default().to_string()
}

#[test]
fn every_command_reads_a_lake_as_it_reads_the_trail() {
    let t = tempfile::tempdir().unwrap();
    let logs = generate(&t.path().join("trail"), 4_000, 2);
    let lake = t.path().join("lake");
    let (l, s) = (lake.to_str().unwrap(), logs.to_str().unwrap());
    let (_, err) = run_ok(&["lake", "sync", "-s", s, "--lake", l]);
    assert!(
        err.contains("0 already in the lake") && err.contains("0 duplicates dropped"),
        "{err}"
    );
    let (_, err) = run_ok(&["lake", "sync", "-s", s, "--lake", l]);
    assert!(err.contains(", 0 converted"), "{err}");

    let sql = "SELECT eventname, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 1";
    assert_eq!(csv(&logs, sql), csv(&lake, sql));
    // The same column types: the lake reads text as views, but the table shows `Utf8` as the
    // raw table does.
    let sql = "SELECT column_name, data_type FROM information_schema.columns \
               WHERE table_name = 'cloudtrail_logs' ORDER BY ordinal_position";
    assert_eq!(csv(&logs, sql), csv(&lake, sql));
    assert!(csv(&lake, sql).contains("eventname,Utf8\n"));
    for cmd in [
        vec!["exposure", "--format", "csv"],
        vec!["history", "--format", "csv", "sg-0123456789abcdef0"],
        vec!["activity", "--format", "csv", "alice"],
    ] {
        let on = |src: &str| {
            let mut a = cmd.clone();
            a.splice(1..1, ["-q", "-s", src]);
            run_ok(&a).0
        };
        assert_eq!(on(s), on(l), "{cmd:?}");
    }
    let exposure = run_ok(&["exposure", "-q", "--format", "csv", "-s", l]).0;
    assert!(exposure.lines().count() > 1, "{exposure}");
    let alerts = |src: &str| {
        let out = run_ok(&["detect", "-q", "--format", "csv", "-s", src]).0;
        let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let (raw_alerts, lake_alerts) = (alerts(s), alerts(l));
    assert!(raw_alerts.len() > 1);
    assert_eq!(raw_alerts, lake_alerts);
    // The lake's records are ruled out by the rules' needles as the trail's are (its scan reads
    // `eventjson` only where the needles' columns match, and each record's text is checked):
    // the same records are evaluated, far fewer than all of them.
    let evaluated = |src: &str, more: &[&str]| -> u64 {
        let mut args = vec!["detect", "--format", "csv", "-s", src];
        args.extend(more);
        let err = run_ok(&args).1;
        let (before, _) = err
            .split_once(" record(s) evaluated")
            .unwrap_or_else(|| panic!("{err}"));
        let n = before.rsplit(' ').next().unwrap().replace(',', "");
        n.parse().unwrap_or_else(|_| panic!("{err}"))
    };
    let (raw_evaluated, lake_evaluated) = (evaluated(s, &[]), evaluated(l, &[]));
    assert_eq!(raw_evaluated, lake_evaluated);
    assert!(
        raw_evaluated > 0 && raw_evaluated < 2_000,
        "{raw_evaluated}"
    );
    // `--no-prefilter` parses every record of either.
    let records: u64 = csv(&logs, "SELECT count(*) AS n FROM cloudtrail_logs")
        .lines()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert_eq!(evaluated(s, &["--no-prefilter"]), records);
    assert_eq!(evaluated(l, &["--no-prefilter"]), records);

    let (ddl, _) = run_ok(&["lake", "ddl", "--lake", l, "--engine", "duckdb"]);
    assert!(
        ddl.starts_with("CREATE OR REPLACE VIEW cloudtrail_logs AS"),
        "{ddl}"
    );
    let (ddl, _) = run_ok(&[
        "lake", "ddl", "--lake", l, "--engine", "athena", "--table", "ct",
    ]);
    assert!(ddl.contains("CREATE EXTERNAL TABLE ct ("), "{ddl}");

    // A lake is not a trail to sync from, and cannot be mixed with one.
    let out = trailql()
        .args(["lake", "sync", "-s", l, "--lake", l])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("that is a lake, not a trail"));
    let out = trailql()
        .args(["query", "-s", l, "-s", s, "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("one lake at a time"));

    // `compact` and `ddl` work on a lake a sync made: a mistyped path (or the trail) is said not
    // to be one, and no empty lake is made there.
    let typo = t.path().join("lkae");
    let (typo_l, logs_l) = (typo.to_str().unwrap(), logs.to_str().unwrap());
    for args in [
        vec!["lake", "compact", "--lake", typo_l],
        vec!["lake", "ddl", "--engine", "athena", "--lake", typo_l],
        vec!["lake", "compact", "--lake", logs_l],
    ] {
        let out = trailql().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("not a trailql lake") && err.contains("trailql lake sync -s"),
            "{err}"
        );
    }
    assert!(!typo.exists());
    assert!(!logs.join("_trailql").exists());
}

fn parquet_count(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn a_sync_killed_at_any_point_leaves_a_readable_lake_and_the_next_one_completes_it() {
    let t = tempfile::tempdir().unwrap();
    let logs = generate(&t.path().join("trail"), 40_000, 2);
    let expect = value(&logs, "SELECT count(DISTINCT eventid) FROM cloudtrail_logs");
    let lake = t.path().join("lake");
    let (l, s) = (lake.to_str().unwrap(), logs.to_str().unwrap());
    for kill_after_files in [1, 6, 20] {
        let mut child = trailql()
            .args([
                "lake",
                "sync",
                "-q",
                "--buffer-mb",
                "1",
                "-s",
                s,
                "--lake",
                l,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let before = parquet_count(&lake);
        loop {
            if parquet_count(&lake) >= before + kill_after_files {
                break;
            }
            if child.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(60) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        // Readable, and no event twice.
        let same = value(
            &lake,
            "SELECT count(*) = count(DISTINCT eventid) FROM cloudtrail_logs",
        );
        assert_eq!(same, "true", "killed after {kill_after_files} files");
    }
    run_ok(&["lake", "sync", "-q", "-s", s, "--lake", l]);
    assert_eq!(value(&lake, "SELECT count(*) FROM cloudtrail_logs"), expect);
    assert_eq!(
        value(&lake, "SELECT count(DISTINCT eventid) FROM cloudtrail_logs"),
        expect
    );
    let (_, err) = run_ok(&["lake", "sync", "-s", s, "--lake", l]);
    assert!(err.contains(", 0 converted"), "{err}");
}

#[test]
fn sync_and_compact_memory_does_not_grow_with_the_trail() {
    let t = tempfile::tempdir().unwrap();
    let mut peaks = Vec::new();
    for (name, events, days) in [("small", 40_000u64, 1u32), ("large", 240_000, 6)] {
        let logs = generate(&t.path().join(name), events, days);
        let lake = t.path().join(format!("{name}-lake"));
        let (s, l) = (logs.to_str().unwrap(), lake.to_str().unwrap());
        let (status, sync_peak) = run_peak_mib(trailql().args([
            "lake",
            "sync",
            "-q",
            "--buffer-mb",
            "8",
            "-s",
            s,
            "--lake",
            l,
        ]));
        assert!(status.success());
        let (status, compact_peak) =
            run_peak_mib(trailql().args(["lake", "compact", "-q", "--lake", l]));
        assert!(status.success());
        peaks.push((sync_peak, compact_peak));
    }
    eprintln!(
        "peak RSS (sync, compact): small {:?}, large {:?}",
        peaks[0], peaks[1]
    );
    let ((s_small, c_small), (s_large, c_large)) = (peaks[0], peaks[1]);
    assert!(s_large < 256.0 && c_large < 256.0, "{peaks:?}");
    assert!(s_large < s_small + 48.0, "{peaks:?}");
    assert!(c_large < c_small + 64.0, "{peaks:?}");
}
