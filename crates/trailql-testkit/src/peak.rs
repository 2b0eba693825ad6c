//! The peak memory of a child process, for the tests that bound it.

use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// Runs `cmd` (output discarded) and returns its exit status and peak resident set in MiB: its
/// `VmHWM` (the kernel's high-water mark of the child's own memory after exec), read every few
/// milliseconds until it exits. (`wait4`'s `ru_maxrss` would include this test process's
/// memory: a spawned child shares it until exec.)
///
/// Panics if the child exits before its memory could be read even once: a peak of zero would let
/// any bound pass. Measure commands that run for more than a few milliseconds.
pub fn run_peak_mib(cmd: &mut Command) -> (ExitStatus, f64) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the command starts");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib: Option<u64> = None;
    loop {
        // A zombie's status has no VmHWM (its memory is gone), so only live readings count.
        if let Ok(Some(kib)) = std::fs::read_to_string(&status_file).map(|t| vm_hwm_kib(&t)) {
            peak_kib = Some(peak_kib.map_or(kib, |p| p.max(kib)));
        }
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            let kib = peak_kib.unwrap_or_else(|| {
                panic!("{cmd:?} exited before its memory could be read; measure a longer run")
            });
            return (status, kib as f64 / 1024.0);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `VmHWM` of a `/proc/PID/status` text, in KiB.
pub fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_high_water_mark() {
        assert_eq!(
            vm_hwm_kib("Name:\tx\nVmHWM:\t  12345 kB\nVmRSS:\t1 kB\n"),
            Some(12345)
        );
        assert_eq!(vm_hwm_kib("Name:\tx\n"), None);
    }

    #[test]
    fn measures_a_child() {
        // Long enough to be sampled (a child as short as `true` can exit before the first read).
        let (status, peak) = run_peak_mib(Command::new("sleep").arg("0.2"));
        assert!(status.success());
        assert!(peak > 0.0 && peak < 64.0, "{peak}");
    }
}
