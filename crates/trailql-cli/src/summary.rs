//! The progress bar while a scan runs and the one-line summary after it (stderr).

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use trailql_sql::{ReportSnapshot, ScanReport};

/// How many warnings are printed one by one; the rest are counted.
pub const MAX_PRINTED_WARNINGS: usize = 20;

/// A progress bar fed from the scan report; hidden when stderr is not a terminal.
pub struct Progress {
    bar: ProgressBar,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    pub fn start(report: Arc<ScanReport>, enabled: bool) -> Progress {
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} [{bar:30}] {msg} ({elapsed})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = enabled.then(|| {
            let bar = bar.clone();
            let stop = stop.clone();
            let started = Instant::now();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let s = report.snapshot();
                    bar.set_length(s.bytes_to_read);
                    bar.set_position(s.bytes_read);
                    let secs = started.elapsed().as_secs_f64().max(0.001);
                    // While the sources are still being listed, the files to read are so far.
                    let mut msg = format!(
                        "files {}/{}{} · {} events ({}/s)",
                        s.files_read,
                        s.files_to_read,
                        if s.listing { "+ (listing)" } else { "" },
                        thousands(s.events),
                        thousands((s.events as f64 / secs) as u64)
                    );
                    if let Some(s3) = &s.s3 {
                        msg.push_str(&format!(" · S3 {} GET", thousands(s3.get_requests)));
                    }
                    bar.set_message(msg);
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        });
        Progress { bar, stop, thread }
    }

    pub fn finish(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Print warnings (each file once) and the summary line.
pub fn print(report: &ScanReport, rows: Option<u64>, elapsed: Duration, detailed: bool) {
    let warnings = report.warnings();
    let printed = warnings.len().min(MAX_PRINTED_WARNINGS);
    for w in &warnings[..printed] {
        eprintln!("warning: {}: {}", w.path, w.message);
    }
    let s = report.snapshot();
    if s.warnings > printed {
        eprintln!(
            "warning: … and {} more (use --strict to stop at the first)",
            s.warnings - printed
        );
    }
    eprintln!("{}", line(&s, rows, elapsed));
    if detailed {
        let secs = elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "stats: files total {} · pruned by key {} · folders not walked {} · to read {} ({}) · read {} · skipped whole by prefilter {} · records skipped by prefilter {} · bad records {} · type problems {} · {} events/s",
            thousands(s.files_total),
            thousands(s.files_pruned),
            thousands(s.folders_pruned),
            thousands(s.files_to_read),
            bytes(s.bytes_to_read),
            thousands(s.files_read),
            thousands(s.files_prefiltered),
            thousands(s.records_prefiltered),
            thousands(s.bad_records),
            thousands(s.type_problems),
            thousands((s.events as f64 / secs) as u64),
        );
    }
}

pub fn line(s: &ReportSnapshot, rows: Option<u64>, elapsed: Duration) -> String {
    let mut parts = Vec::new();
    if let Some(r) = rows {
        parts.push(format!("{} row(s)", thousands(r)));
    }
    if let Some(lake) = &s.lake {
        parts.push(format!("from the lake {lake}"));
        if s.files_bad > 0 {
            // Left out whole (a footer that does not parse) or from the damage on (its pages).
            parts.push(format!(
                "{} damaged files (rows left out)",
                thousands(s.files_bad)
            ));
        }
        parts.push(format!("{:.2}s", elapsed.as_secs_f64()));
        return format!("trailql: {}", parts.join(" · "));
    }
    parts.push(format!(
        "{} events decoded from {} files ({})",
        thousands(s.events),
        thousands(s.files_read),
        bytes(s.bytes_read)
    ));
    parts.push(if s.folders_pruned > 0 {
        format!(
            "pruned {} (and {} folders)",
            thousands(s.files_pruned),
            thousands(s.folders_pruned)
        )
    } else {
        format!("pruned {}", thousands(s.files_pruned))
    });
    let skipped = s.files_skipped();
    if skipped > 0 {
        let detail: Vec<String> = s.skipped.iter().map(|(k, v)| format!("{k} {v}")).collect();
        parts.push(format!(
            "skipped {} ({})",
            thousands(skipped),
            detail.join(", ")
        ));
    } else {
        parts.push("skipped 0".into());
    }
    parts.push(format!("bad {}", thousands(s.files_bad)));
    if s.bad_records + s.type_problems > 0 {
        parts.push(format!(
            "bad records {} · type problems {}",
            thousands(s.bad_records),
            thousands(s.type_problems)
        ));
    }
    if s.warnings > 0 {
        parts.push(format!("{} warning(s)", s.warnings));
    }
    if let Some(s3) = &s.s3 {
        parts.push(s3_part(s3));
    }
    parts.push(format!("{:.2}s", elapsed.as_secs_f64()));
    format!("trailql: {}", parts.join(" · "))
}

/// `S3: 3 LIST, 120 GET, 1 HEAD (2 retried) · 2.3 MB downloaded · 40 from cache · ≈$0.00006`
fn s3_part(s: &trailql_sql::report::S3Snapshot) -> String {
    let mut p = format!(
        "S3: {} LIST, {} GET, {} HEAD",
        thousands(s.list_requests),
        thousands(s.get_requests),
        thousands(s.head_requests)
    );
    if s.server_errors > 0 {
        p.push_str(&format!(" ({} retried)", thousands(s.server_errors)));
    }
    p.push_str(&format!(" · {} downloaded", bytes(s.bytes_downloaded)));
    if s.cache_hits > 0 {
        p.push_str(&format!(
            " · {} from cache ({})",
            thousands(s.cache_hits),
            bytes(s.cache_bytes)
        ));
    }
    p.push_str(&format!(" · ≈${:.5} in requests", s.cost_usd()));
    p
}
