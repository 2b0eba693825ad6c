#![allow(dead_code)] // each test binary uses its own part of the kit
//! A server over a generated trail, answering on loopback from its own runtime.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use trailql_generate::{generate, GenOptions, GroundTruth};
use trailql_serve::{Options, Server};
use trailql_sql::{Engine, ScanOptions};
use trailql_testkit::{request, Response};

pub struct Running {
    pub addr: SocketAddr,
    pub token: String,
    pub url: String,
    pub truth: GroundTruth,
    pub dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

pub fn trail(dir: &Path, events: u64) -> GroundTruth {
    generate(
        dir,
        &GenOptions {
            events,
            days: 2,
            accounts: 2,
            ..GenOptions::default()
        },
    )
    .expect("generate a trail")
}

pub fn start(events: u64) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let truth = trail(dir.path(), events);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sources: Vec<PathBuf> = vec![dir.path().to_path_buf()];
    let engine = Engine::open(&sources, ScanOptions::default()).unwrap();
    // As the CLI does: `detections()` over the bundled pack.
    trailql_detect::register(&engine.ctx, engine.report.clone());
    let server = rt
        .block_on(Server::bind(
            engine,
            Options {
                bind: "127.0.0.1".parse().unwrap(),
                port: 0,
                sources: vec![dir.path().display().to_string()],
                integrity: None,
            },
        ))
        .unwrap();
    let (addr, token, url) = (server.addr(), server.token().to_string(), server.url());
    rt.spawn(server.run(std::future::pending()));
    Running {
        addr,
        token,
        url,
        truth,
        dir,
        _rt: rt,
    }
}

impl Running {
    pub fn call(&self, method: &str, path: &str, body: &str) -> Response {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![("Authorization", auth.as_str())];
        if !body.is_empty() {
            headers.push(("Content-Type", "application/json"));
        }
        request(self.addr, method, path, &headers, body.as_bytes()).unwrap()
    }

    pub fn json(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        let r = self.call(method, path, body);
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("{method} {path}: {} is not JSON: {e}", r.text()))
    }

    /// Submit a statement and wait for it to end; returns its final status.
    pub fn run(&self, sql: &str) -> serde_json::Value {
        let id = self.submit(sql);
        self.wait(id)
    }

    pub fn submit(&self, sql: &str) -> u64 {
        let r = self.json(
            "POST",
            "/api/query",
            &serde_json::json!({ "sql": sql }).to_string(),
        );
        r["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("no id for {sql}: {r}"))
    }

    pub fn wait(&self, id: u64) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let s = self.json("GET", &format!("/api/jobs/{id}"), "");
            if ["done", "failed", "cancelled"].contains(&s["phase"].as_str().unwrap()) {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "statement {id} never ended: {s}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
