//! A moto server (`pip install 'moto[server]'`) on a free loopback port, stopped on drop.
//!
//! moto implements S3 (ListObjectsV2 with start-after and delimiters, object metadata, ETags),
//! IAM and CloudTrail. Authentication is off until [`MotoServer::require_auth`], so test data is
//! loaded with plain unsigned requests.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::http::request;

/// The region moto's buckets are created in (and reported by HeadBucket).
pub const TEST_REGION: &str = "us-east-1";

const FAKE_S3_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

pub struct MotoServer {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port not handed to another server of this process (the server binds it a
/// moment later, so two tests must not be given the same one).
fn free_port() -> u16 {
    static USED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut used = USED.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        if used.insert(port) {
            return port;
        }
    }
}

impl MotoServer {
    /// Start a fresh server (its own state) and wait until it answers.
    pub fn start() -> MotoServer {
        let python = std::env::var("TRAILQL_PYTHON").unwrap_or_else(|_| "python3".into());
        ensure_moto(&python);
        let port = free_port();
        // The server exits when this process does (its stdin closes), even after a panic or
        // when a shared server is never dropped.
        let script = format!(
            "import os, sys, threading\n\
             def watch():\n    sys.stdin.read()\n    os._exit(0)\n\
             threading.Thread(target=watch, daemon=True).start()\n\
             from moto.server import main\n\
             main(['-H', '127.0.0.1', '-p', '{port}'])\n"
        );
        let child = Command::new(&python)
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start `{python} -m moto.server` ({e}): S3 tests need moto — pip install 'moto[server]' (.ci/run does)")
            });
        let mut server = MotoServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = request(server.addr, "GET", "/moto-api/data.json", &[], b"") {
                if r.status == 200 {
                    return server;
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto server exited ({status}): is moto[server] installed? pip install 'moto[server]'");
            }
            assert!(
                Instant::now() < deadline,
                "moto server did not answer on {} within 60 s",
                server.addr
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One server for a whole test binary (use distinct bucket names per test).
    pub fn shared() -> &'static MotoServer {
        static SERVER: OnceLock<MotoServer> = OnceLock::new();
        SERVER.get_or_init(MotoServer::start)
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn create_bucket(&self, bucket: &str) {
        let r = request(self.addr, "PUT", &format!("/{bucket}"), &[], b"").expect("create bucket");
        assert_eq!(r.status, 200, "create bucket {bucket}: {}", r.text());
    }

    /// Put one object, with user metadata (`x-amz-meta-NAME`).
    pub fn put(&self, bucket: &str, key: &str, body: &[u8], metadata: &[(&str, &str)]) {
        let headers: Vec<(String, &str)> = metadata
            .iter()
            .map(|(k, v)| (format!("x-amz-meta-{k}"), *v))
            .collect();
        let mut headers: Vec<(&str, &str)> =
            headers.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        // moto refuses anonymous overwrites; any credential scope will do while auth is off.
        headers.push(("Authorization", FAKE_S3_AUTH));
        let r = request(
            self.addr,
            "PUT",
            &format!("/{bucket}/{key}"),
            &headers,
            body,
        )
        .expect("put object");
        assert_eq!(r.status, 200, "put {bucket}/{key}: {}", r.text());
    }

    /// A bucket policy that lets anyone read objects (unsigned requests), like a public bucket.
    pub fn allow_public_read(&self, bucket: &str) {
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
        );
        let r = request(
            self.addr,
            "PUT",
            &format!("/{bucket}?policy"),
            &[("Authorization", FAKE_S3_AUTH)],
            policy.as_bytes(),
        )
        .expect("put bucket policy");
        assert!(r.status / 100 == 2, "bucket policy: {}", r.text());
    }

    /// Upload every file under `dir` as `prefix` + its path relative to `dir`; returns the keys.
    /// A file `X.signature` beside `X` becomes X's `signature` metadata, as CloudTrail stores it.
    pub fn upload_dir(&self, bucket: &str, prefix: &str, dir: &Path) -> Vec<String> {
        let mut files = Vec::new();
        walk(dir, &mut files);
        files.sort();
        let mut keys = Vec::new();
        for f in &files {
            let rel = f.strip_prefix(dir).expect("under dir");
            let rel = rel.to_string_lossy().replace('\\', "/");
            if rel.ends_with(".signature") {
                continue;
            }
            let key = format!("{prefix}{rel}");
            let body = std::fs::read(f).expect("read test file");
            let sig_path = format!("{}.signature", f.display());
            let sig = std::fs::read_to_string(&sig_path).ok();
            let meta: Vec<(&str, &str)> = sig.iter().map(|s| ("signature", s.trim())).collect();
            self.put(bucket, &key, &body, &meta);
            keys.push(key);
        }
        keys
    }

    /// An IAM user with an access key; `allow_s3` attaches a policy allowing every S3 action.
    /// Returns (access key id, secret).
    pub fn create_user(&self, name: &str, allow_s3: bool) -> (String, String) {
        self.iam(&format!("Action=CreateUser&UserName={name}"));
        if allow_s3 {
            let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
            self.iam(&format!(
                "Action=PutUserPolicy&UserName={name}&PolicyName=s3&PolicyDocument={}",
                percent(policy)
            ));
        }
        let body = self.iam(&format!("Action=CreateAccessKey&UserName={name}"));
        (tag(&body, "AccessKeyId"), tag(&body, "SecretAccessKey"))
    }

    /// From now on every request must be signed by a known IAM user's key.
    pub fn require_auth(&self) {
        let r = request(self.addr, "POST", "/moto-api/reset-auth", &[], b"0").expect("reset auth");
        assert_eq!(r.status, 200, "enable auth: {}", r.text());
    }

    /// Create an SQS queue; its URL.
    pub fn create_queue(&self, name: &str) -> String {
        let v = self.sqs("CreateQueue", serde_json::json!({ "QueueName": name }));
        v["QueueUrl"].as_str().expect("a queue URL").to_string()
    }

    /// Send one message to a queue.
    pub fn send_message(&self, queue_url: &str, body: &str) {
        self.sqs(
            "SendMessage",
            serde_json::json!({ "QueueUrl": queue_url, "MessageBody": body }),
        );
    }

    /// Messages in a queue: (visible, received but not deleted yet).
    pub fn queue_depth(&self, queue_url: &str) -> (u64, u64) {
        let v = self.sqs(
            "GetQueueAttributes",
            serde_json::json!({ "QueueUrl": queue_url, "AttributeNames": ["All"] }),
        );
        let n = |k: &str| {
            v["Attributes"][k]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        (
            n("ApproximateNumberOfMessages"),
            n("ApproximateNumberOfMessagesNotVisible"),
        )
    }

    /// One SQS call in its JSON protocol (the one the AWS SDKs speak).
    fn sqs(&self, action: &str, body: serde_json::Value) -> serde_json::Value {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0";
        let target = format!("AmazonSQS.{action}");
        let r = request(
            self.addr,
            "POST",
            "/",
            &[
                ("Authorization", auth),
                ("X-Amz-Target", &target),
                ("Content-Type", "application/x-amz-json-1.0"),
            ],
            body.to_string().as_bytes(),
        )
        .expect("SQS request");
        assert_eq!(r.status, 200, "SQS {action}: {}", r.text());
        serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null)
    }

    fn iam(&self, params: &str) -> String {
        // moto routes by the credential scope of the Authorization header; with auth off the
        // signature itself is not checked.
        let auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0";
        let body = format!("{params}&Version=2010-05-08");
        let r = request(
            self.addr,
            "POST",
            "/",
            &[
                ("Authorization", auth),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        )
        .expect("IAM request");
        assert_eq!(r.status, 200, "IAM {params}: {}", r.text());
        r.text()
    }
}

/// Install moto from PyPI once if this Python lacks it, so `cargo test` works on a fresh machine
/// (`.ci/run` installs it up front).
fn ensure_moto(python: &str) {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let importable = || {
        Command::new(python)
            .args(["-c", "import moto.server, flask, flask_cors"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let r = CHECKED.get_or_init(|| {
        if importable() {
            return Ok(());
        }
        eprintln!("trailql-testkit: installing moto[server] from PyPI for the S3 tests");
        let ok = Command::new(python)
            .args(["-m", "pip", "install", "--quiet", "moto[server]"])
            .status()
            .is_ok_and(|s| s.success());
        if ok && importable() {
            Ok(())
        } else {
            Err(format!(
                "S3 tests need moto: `{python} -m pip install 'moto[server]'` failed or did not make it importable"
            ))
        }
    });
    if let Err(e) = r {
        panic!("{e}");
    }
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read test dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn tag(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml.find(&open).map(|i| i + open.len());
    let end = xml.find(&format!("</{name}>"));
    match (start, end) {
        (Some(s), Some(e)) if s <= e => xml[s..e].to_string(),
        _ => panic!("no <{name}> in {xml}"),
    }
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
