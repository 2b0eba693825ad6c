//! A loopback endpoint for CloudTrail's `ListPublicKeys` and `LookupEvents` (moto has neither):
//! the AWS JSON 1.1 protocol the SDK speaks (`POST /`, `X-Amz-Target: CloudTrail_20131101.…`),
//! data per region chosen by the SigV4 credential scope, filtered by the requested time range like
//! the real API. Unsigned requests are refused as AWS refuses them. Every call is recorded.
//!
//! `ListPublicKeys` returns one key per page so pagination is exercised. `LookupEvents` (see
//! [`lookup`](crate::lookup)) answers as the real API does: newest first, 50 a page, opaque
//! tokens tied to the request, one lookup attribute, and `ThrottlingException` past two requests
//! a second per region.

use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{find, header, read_request, serve_loopback};

/// One `ListPublicKeys` call as the endpoint saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeysCall {
    /// The region of the SigV4 credential scope.
    pub region: String,
    pub access_key: String,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub next_token: Option<String>,
}

#[derive(Default)]
pub(crate) struct State {
    /// Region → entries of `PublicKeyList` as `aws cloudtrail list-public-keys` prints them.
    keys: Mutex<HashMap<String, Vec<Value>>>,
    calls: Mutex<Vec<KeysCall>>,
    pub(crate) lookup: crate::lookup::LookupState,
}

pub struct CloudTrailServer {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl CloudTrailServer {
    pub fn start() -> CloudTrailServer {
        let state = Arc::new(State::default());
        let st = state.clone();
        let addr = serve_loopback("CloudTrail endpoint", move |conn| {
            let _ = serve(conn, &st);
        });
        CloudTrailServer { addr, state }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serve the keys of a `list-public-keys --output json` document for `region`.
    pub fn set_keys(&self, region: &str, list_public_keys_json: &str) {
        let v: Value = serde_json::from_str(list_public_keys_json).expect("keys JSON");
        let list = v["PublicKeyList"]
            .as_array()
            .expect("PublicKeyList")
            .clone();
        self.state
            .keys
            .lock()
            .unwrap()
            .insert(region.to_string(), list);
    }

    pub fn calls(&self) -> Vec<KeysCall> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Serve these CloudTrail records (as a trail file's `Records` hold them) from LookupEvents
    /// in `region`, in place of any set before.
    pub fn set_events(&self, region: &str, records: Vec<Value>) {
        self.state.lookup.set_events(region, records);
    }

    /// Add to `region` an event whose `CloudTrailEvent` is `text` verbatim (e.g. not JSON).
    pub fn add_raw_event(&self, region: &str, time: f64, id: &str, text: &str) {
        self.state.lookup.add_raw(region, time, id, text);
    }

    /// Refuse the next `n` LookupEvents requests to `region` with `ThrottlingException`.
    pub fn throttle_next(&self, region: &str, n: usize) {
        self.state.lookup.throttle_next(region, n);
    }

    /// Every LookupEvents request so far, in arrival order.
    pub fn lookups(&self) -> Vec<crate::lookup::LookupCall> {
        self.state.lookup.calls()
    }
}

pub(crate) fn reply_json(s: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    reply(s, status, body)
}

pub(crate) fn error_json(kind: &str, message: &str) -> Value {
    error(kind, message)
}

fn epoch(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

fn reply(s: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    s.flush()?;
    s.shutdown(Shutdown::Both)
}

fn error(kind: &str, message: &str) -> Value {
    json!({ "__type": kind, "message": message })
}

fn serve(mut s: TcpStream, st: &State) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let Some(req) = read_request(&mut s)? else {
        return Ok(());
    };
    let end = find(&req, b"\r\n\r\n").unwrap_or(req.len());
    let head = String::from_utf8_lossy(&req[..end]).into_owned();
    let body: Value =
        serde_json::from_slice(req.get(end + 4..).unwrap_or_default()).unwrap_or(Value::Null);
    let target = header(&head, "x-amz-target").unwrap_or_default();
    let operation = target
        .strip_prefix("CloudTrail_20131101.")
        .or_else(|| target.strip_prefix("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."))
        .unwrap_or_default()
        .to_string();
    if operation != "ListPublicKeys" && operation != "LookupEvents" {
        return reply(
            &mut s,
            400,
            &error(
                "UnknownOperationException",
                "only ListPublicKeys and LookupEvents are served here",
            ),
        );
    }
    // `Credential=AKID/20240801/us-east-1/cloudtrail/aws4_request`
    let scope: Option<Vec<String>> = header(&head, "authorization").and_then(|a| {
        let c = a.split("Credential=").nth(1)?.split(',').next()?;
        Some(c.split('/').map(str::to_string).collect())
    });
    let Some(scope) = scope.filter(|p| p.len() == 5 && p[3] == "cloudtrail") else {
        return reply(
            &mut s,
            400,
            &error(
                "MissingAuthenticationTokenException",
                "Request is missing Authentication Token",
            ),
        );
    };
    if operation == "LookupEvents" {
        return crate::lookup::serve(&mut s, &st.lookup, &scope[2], &body);
    }
    let call = KeysCall {
        region: scope[2].clone(),
        access_key: scope[0].clone(),
        start: epoch(&body["StartTime"]),
        end: epoch(&body["EndTime"]),
        next_token: body["NextToken"].as_str().map(str::to_string),
    };
    st.calls.lock().unwrap().push(call.clone());
    let all = st
        .keys
        .lock()
        .unwrap()
        .get(&call.region)
        .cloned()
        .unwrap_or_default();
    // Keys whose validity overlaps the requested range.
    let wanted: Vec<Value> = all
        .into_iter()
        .filter(|k| {
            let from = epoch(&k["ValidityStartTime"]).unwrap_or(f64::MIN);
            let to = epoch(&k["ValidityEndTime"]).unwrap_or(f64::MAX);
            call.start.is_none_or(|s| to >= s) && call.end.is_none_or(|e| from <= e)
        })
        .collect();
    let page: usize = match call.next_token.as_deref().map(str::parse) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return reply(
                &mut s,
                400,
                &error("InvalidTokenException", "Reading token is not valid"),
            )
        }
    };
    let mut out =
        json!({ "PublicKeyList": wanted.get(page).cloned().into_iter().collect::<Vec<_>>() });
    if page + 1 < wanted.len() {
        out["NextToken"] = json!((page + 1).to_string());
    }
    reply(&mut s, 200, &out)
}
