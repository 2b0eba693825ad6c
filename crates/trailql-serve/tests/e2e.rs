//! The pages in real headless Chromium (Debian's `chromium`, driven by playwright-core through
//! `node --test web/e2e/`) against a server started here. Skipped, with a note, when Node, the
//! npm packages or Chromium are missing, unless TRAILQL_REQUIRE_CHROMIUM=1 (as in CI).

mod common;

use std::path::Path;
use std::process::Command;

fn missing() -> Option<String> {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    if !web.join("node_modules/playwright-core").exists() {
        return Some(format!(
            "no {}/node_modules (run npm ci there)",
            web.display()
        ));
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "no Chromium at {chromium} (apt-get install chromium)"
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no node on PATH".into());
    }
    None
}

#[test]
fn pages_work_in_headless_chromium() {
    if let Some(why) = missing() {
        assert!(
            std::env::var("TRAILQL_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "TRAILQL_REQUIRE_CHROMIUM=1 but {why}"
        );
        eprintln!("skipped: {why}");
        return;
    }
    let s = common::start(20_000);
    let principal = s.truth.openings[0]
        .actor_arn
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let out = Command::new("node")
        .args(["--test", "--test-concurrency=1", "e2e/"])
        .current_dir(&web)
        .env("TRAILQL_URL", &s.url)
        .env("TRAILQL_EXPOSURE_ROWS", s.truth.openings.len().to_string())
        .env("TRAILQL_PRINCIPAL", principal)
        .output()
        .expect("run node");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "e2e tests failed:\n{text}");
    assert!(text.contains("# fail 0"), "{text}");
    assert!(!Path::new("/tmp/trailql-e2e-should-not-exist.csv").exists());
}
