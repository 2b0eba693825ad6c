//! Validation of a year of hourly digests for one region streams: the peak memory of
//! `trailql validate` stays bounded and nearly flat from one month to twelve.

use std::process::Command;

use trailql_testkit::signed;

/// Peak resident set of a child, in MiB: its `VmHWM` (the kernel's high-water mark of its own
/// memory after exec), read every few milliseconds until it exits. (`wait4`'s `ru_maxrss` would
/// include this test process's memory: a spawned child shares it until exec.)
fn run_peak_mib(cmd: &mut Command) -> (std::process::ExitStatus, f64) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak_kib as f64 / 1024.0);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

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
