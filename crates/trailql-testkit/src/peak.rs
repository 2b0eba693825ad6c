//! The peak memory of a child process, for the tests that bound it.

use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// Runs `cmd` (output discarded) and returns its exit status and peak resident set in MiB: its
/// `VmHWM` (the kernel's high-water mark of the child's own memory after exec), read every few
/// milliseconds until it exits. (`wait4`'s `ru_maxrss` would include this test process's
/// memory: a spawned child shares it until exec.)
pub fn run_peak_mib(cmd: &mut Command) -> (ExitStatus, f64) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the command starts");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    loop {
        if let Ok(kib) = std::fs::read_to_string(&status_file).map(|t| vm_hwm_kib(&t)) {
            peak_kib = peak_kib.max(kib.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return (status, peak_kib as f64 / 1024.0);
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
        let (status, peak) = run_peak_mib(Command::new("true").arg("x"));
        assert!(status.success());
        assert!(peak > 0.0 && peak < 64.0, "{peak}");
    }
}
