//! Where alerts go: standard output (a line each, or JSON lines), a JSON-lines file, a webhook
//! (JSON body, signed with HMAC-SHA256 when a secret is set) and a Slack incoming webhook.
//!
//! Each output delivers the state's alerts in sequence order and says when it has one, so the
//! state can record it. An output that fails keeps its alerts queued (on disk, in the state) and
//! is retried with a doubling backoff; the others go on. The alert file is exactly-once even
//! across a `kill -9`: each line carries its sequence number, and on opening the file its last
//! complete line says where it stopped (a torn line is cut off). Standard output and webhooks
//! cannot be asked what they already have: after a `kill -9` between delivering an alert and
//! recording it, that one alert is sent again, with the same `id` (`X-Trailql-Alert-Id`) so a
//! receiver can tell.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use trailql_rules::Alert;

use crate::state::Queued;

/// How long a webhook may take to answer before the attempt counts as failed.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait after a failure; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The header holding `sha256=HEX`, the HMAC-SHA256 of the body with the webhook secret.
pub const SIGNATURE_HEADER: &str = "X-Trailql-Signature";
/// The header holding the alert's stable id (rule id / event id).
pub const ID_HEADER: &str = "X-Trailql-Alert-Id";

/// An output as the command line names it.
#[derive(Debug, Clone)]
pub enum OutputSpec {
    /// One readable line per alert, or JSON lines.
    Stdout {
        json: bool,
    },
    File(PathBuf),
    Webhook {
        url: String,
        secret: Option<String>,
    },
    Slack {
        url: String,
    },
}

/// One alert as a JSON line or webhook body: its id and sequence number, then its fields.
#[derive(Serialize)]
struct Line<'a> {
    id: String,
    seq: u64,
    #[serde(flatten)]
    alert: &'a Alert,
}

/// The JSON of a queued alert.
pub fn json_line(q: &Queued) -> String {
    serde_json::to_string(&Line {
        id: q.alert.id(),
        seq: q.seq,
        alert: &q.alert,
    })
    .expect("an alert serialises")
}

/// One readable line: time, level, rule, who, what, where, what matched.
pub fn text_line(a: &Alert) -> String {
    let mut s = format!(
        "{} {} {} · {} · {} · {}/{}",
        a.event_time,
        a.level.to_uppercase(),
        a.rule_title,
        a.actor,
        a.event_name,
        a.account,
        a.region
    );
    if let Some(code) = &a.error_code {
        s.push_str(&format!(" · failed: {code}"));
    }
    if !a.matched.is_empty() {
        s.push_str(&format!(" · {}", a.matched));
    }
    s.push_str(&format!(" · event {}", a.event_id));
    s
}

/// Slack's incoming-webhook body: a readable message.
pub fn slack_body(a: &Alert) -> String {
    let mut text = format!(
        "*{}* ({}): {}\n*Who:* {}\n*What:* {} in {} / {} at {}",
        a.rule_title,
        a.level,
        a.event_name,
        a.actor,
        a.event_name,
        a.account,
        a.region,
        a.event_time
    );
    if let Some(ip) = &a.source_ip {
        text.push_str(&format!(" from {ip}"));
    }
    if let Some(code) = &a.error_code {
        text.push_str(&format!("\n*Failed:* {code}"));
    }
    if !a.matched.is_empty() {
        text.push_str(&format!("\n*Matched:* {}", a.matched));
    }
    text.push_str(&format!("\n*Event:* {}  *Rule:* {}", a.event_id, a.rule_id));
    serde_json::json!({ "text": text }).to_string()
}

/// `sha256=HEX`: the signature of `body` with `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

enum Sink {
    Stdout {
        json: bool,
    },
    File {
        path: PathBuf,
        file: File,
        /// The sequence number of the file's last line.
        last_seq: u64,
    },
    Http {
        url: String,
        slack: bool,
        secret: Option<Vec<u8>>,
        client: reqwest::Client,
    },
}

/// An open output.
pub struct Output {
    /// Stable across runs; what the state records deliveries under. Holds no secret.
    pub name: String,
    /// What messages call it; holds no secret (a webhook shows its scheme and host only).
    pub label: String,
    sink: Sink,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// The last failure, while failing.
    pub error: Option<String>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("label", &self.label)
            .finish()
    }
}

/// `scheme://host[:port]` of a URL: what may be shown of a webhook (Slack's carry their secret
/// in the path).
fn origin_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let mut s = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
            if let Some(p) = u.port() {
                s.push_str(&format!(":{p}"));
            }
            s
        }
        Err(_) => "(unparsable URL)".to_string(),
    }
}

fn url_name(kind: &str, url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    format!("{kind}:{}", &hex::encode(digest)[..16])
}

impl Output {
    pub fn open(spec: &OutputSpec) -> Result<Output> {
        let (name, label, sink) = match spec {
            OutputSpec::Stdout { json } => (
                "stdout".to_string(),
                "stdout".to_string(),
                Sink::Stdout { json: *json },
            ),
            OutputSpec::File(path) => {
                let (file, last_seq) = open_alert_file(path)?;
                let full = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                (
                    format!("file:{}", full.display()),
                    format!("--alert-file {}", path.display()),
                    Sink::File {
                        path: path.clone(),
                        file,
                        last_seq,
                    },
                )
            }
            OutputSpec::Webhook { url, secret } => (
                url_name("webhook", url),
                format!("--webhook {}", origin_of(url)),
                http_sink(url, false, secret.as_deref())?,
            ),
            OutputSpec::Slack { url } => (
                url_name("slack", url),
                format!("--slack-webhook {}", origin_of(url)),
                http_sink(url, true, None)?,
            ),
        };
        Ok(Output {
            name,
            label,
            sink,
            retry_at: None,
            backoff: FIRST_BACKOFF,
            error: None,
        })
    }

    /// May it be tried now (not waiting out a backoff)?
    pub fn ready(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|t| now >= t)
    }

    /// When it wants to be tried again, if it is waiting.
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Deliver one alert. On failure the output waits out its backoff before the next try.
    pub async fn deliver(&mut self, q: &Queued) -> Result<(), String> {
        let result = self.send(q).await;
        match &result {
            Ok(()) => {
                self.retry_at = None;
                self.backoff = FIRST_BACKOFF;
                self.error = None;
            }
            Err(e) => {
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                self.error = Some(e.clone());
            }
        }
        result
    }

    /// The wait before the next try after the failure just seen.
    pub fn backoff(&self) -> Duration {
        self.retry_at
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    async fn send(&mut self, q: &Queued) -> Result<(), String> {
        match &mut self.sink {
            Sink::Stdout { json } => {
                let line = if *json {
                    json_line(q)
                } else {
                    text_line(&q.alert)
                };
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")
                    .and_then(|_| out.flush())
                    .map_err(|e| format!("cannot write to standard output: {e}"))
            }
            Sink::File {
                path,
                file,
                last_seq,
            } => {
                if q.seq <= *last_seq {
                    return Ok(()); // written before a kill, not recorded in the state
                }
                let mut line = json_line(q);
                line.push('\n');
                file.write_all(line.as_bytes())
                    .and_then(|_| file.sync_data())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                *last_seq = q.seq;
                Ok(())
            }
            Sink::Http {
                url,
                slack,
                secret,
                client,
            } => {
                let body = if *slack {
                    slack_body(&q.alert)
                } else {
                    json_line(q)
                };
                let mut req = client
                    .post(url.as_str())
                    .header("Content-Type", "application/json")
                    .header(ID_HEADER, q.alert.id());
                if let Some(secret) = secret {
                    req = req.header(SIGNATURE_HEADER, signature(secret, body.as_bytes()));
                }
                let resp = req.body(body).send().await.map_err(|e| {
                    let what = if e.is_timeout() {
                        format!("no answer within {} s", HTTP_TIMEOUT.as_secs())
                    } else if e.is_connect() {
                        "cannot connect".to_string()
                    } else {
                        "request failed".to_string()
                    };
                    // reqwest's message may hold the URL, and a Slack URL holds its secret.
                    format!("{} ({what})", origin_of(url))
                })?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("{} answered {}", origin_of(url), resp.status()))
                }
            }
        }
    }
}

fn http_sink(url: &str, slack: bool, secret: Option<&str>) -> Result<Sink> {
    let parsed = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    if parsed.is_none() {
        anyhow::bail!(
            "{}: not an http(s) URL (give the full URL, e.g. https://hooks.example.com/trailql)",
            if slack {
                "--slack-webhook"
            } else {
                "--webhook"
            }
        );
    }
    let client = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(HTTP_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot set up the HTTP client")?;
    Ok(Sink::Http {
        url: url.to_string(),
        slack,
        secret: secret.map(|s| s.as_bytes().to_vec()),
        client,
    })
}

/// Open an alert file for appending; the sequence number of its last complete line. A torn
/// last line (a kill during its write) is cut off.
fn open_alert_file(path: &Path) -> Result<(File, u64)> {
    let mut f = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .with_context(|| {
            format!(
                "--alert-file {}: cannot open it for appending",
                path.display()
            )
        })?;
    let len = f.metadata()?.len();
    let tail_len = len.min(1 << 20);
    let mut tail = vec![0; tail_len as usize];
    f.seek(SeekFrom::Start(len - tail_len))?;
    f.read_exact(&mut tail)?;
    let mut last_seq = 0;
    let complete_end = match tail.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if len > tail_len => {
            // One line longer than the tail read: not ours; start on a new line.
            f.write_all(b"\n")?;
            return Ok((f, 0));
        }
        None => 0,
    };
    if complete_end < tail.len() {
        f.set_len(len - tail_len + complete_end as u64)
            .with_context(|| {
                format!(
                    "--alert-file {}: cannot cut its torn last line",
                    path.display()
                )
            })?;
    }
    if let Some(line) = tail[..complete_end]
        .strip_suffix(b"\n")
        .and_then(|t| t.split(|&b| b == b'\n').next_back())
    {
        last_seq = serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("seq").and_then(|s| s.as_u64()))
            .unwrap_or(0);
    }
    Ok((f, last_seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(seq: u64) -> Queued {
        Queued {
            seq,
            alert: Alert {
                rule_id: "rule".into(),
                rule_title: "Security group opened to the world".into(),
                level: "high".into(),
                tags: String::new(),
                event_time: "2024-08-01T00:00:00Z".into(),
                event_id: format!("e{seq}"),
                account: "111122223333".into(),
                region: "us-east-1".into(),
                actor: "role Deployer, session alice".into(),
                source_ip: Some("198.51.100.7".into()),
                user_agent: None,
                event_name: "AuthorizeSecurityGroupIngress".into(),
                error_code: None,
                matched: "groupId=sg-1".into(),
                file: None,
            },
        }
    }

    #[tokio::test]
    async fn the_alert_file_skips_what_it_has_and_cuts_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        let spec = OutputSpec::File(path.clone());
        {
            let mut o = Output::open(&spec).unwrap();
            o.deliver(&queued(1)).await.unwrap();
            o.deliver(&queued(2)).await.unwrap();
        }
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"id\":\"rule/e3\",\"se").unwrap();
        drop(f);
        let mut o = Output::open(&spec).unwrap();
        // Alerts 1 and 2 were written but (say) not recorded in the state: not written again.
        for s in 1..=3 {
            o.deliver(&queued(s)).await.unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let seqs: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["id"], "rule/e1");
        assert_eq!(first["actor"], "role Deployer, session alice");
    }

    #[test]
    fn names_and_labels_hold_no_secret() {
        let url = "https://hooks.slack.com/services/T000/B000/SECRETSECRET";
        let o = Output::open(&OutputSpec::Slack { url: url.into() }).unwrap();
        assert!(
            !o.name.contains("SECRET") && !o.label.contains("SECRET"),
            "{o:?}"
        );
        assert_eq!(o.label, "--slack-webhook https://hooks.slack.com");
        let e = Output::open(&OutputSpec::Webhook {
            url: "ftp://x".into(),
            secret: None,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("not an http(s) URL"), "{e}");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn lines_read_as_an_analyst_wants() {
        let q = queued(7);
        let t = text_line(&q.alert);
        assert!(t.starts_with("2024-08-01T00:00:00Z HIGH Security group opened to the world · role Deployer, session alice · AuthorizeSecurityGroupIngress"), "{t}");
        let v: serde_json::Value = serde_json::from_str(&slack_body(&q.alert)).unwrap();
        assert!(v["text"]
            .as_str()
            .unwrap()
            .contains("*Who:* role Deployer, session alice"));
        let j: serde_json::Value = serde_json::from_str(&json_line(&q)).unwrap();
        assert_eq!(
            (j["seq"].as_u64(), j["id"].as_str()),
            (Some(7), Some("rule/e7"))
        );
    }
}
