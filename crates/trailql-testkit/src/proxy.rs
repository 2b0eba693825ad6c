//! A loopback HTTP proxy in front of the S3 server that logs every request line and, on demand,
//! answers the next matching requests with a fault: an error status, a dropped connection, or a
//! response cut off halfway. Each request gets its own upstream connection and the client is told
//! `Connection: close`, so every request the client makes is seen here exactly once.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::{find, header, read_request, serve_loopback};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (503 → S3's `SlowDown` body, others a generic error).
    Status(u16),
    /// Read the request, then close the connection without a response.
    Drop,
    /// Answer as S3 does when a request reaches the wrong region: `301 PermanentRedirect`
    /// (no `Location`) with `x-amz-bucket-region` naming the bucket's region.
    Redirect { region: &'static str },
    /// Answer as S3 does to expired session credentials: `400 ExpiredToken`.
    ExpiredToken,
    /// Forward, then send only the first half of the response and close.
    Truncate,
}

#[derive(Default)]
struct State {
    faults: Mutex<VecDeque<(String, Fault)>>,
    log: Mutex<Vec<Seen>>,
}

/// One request as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `GET /bucket?list-type=2&… HTTP/1.1`
    pub line: String,
    /// The access key id in the SigV4 `Authorization` header; `None` for unsigned requests.
    pub access_key: Option<String>,
    /// The `Action=` of a query-protocol POST (STS: `AssumeRole`), or the `X-Amz-Target`.
    pub action: Option<String>,
}

impl Seen {
    fn parse(head: &str, body: &[u8]) -> Seen {
        let line = head.lines().next().unwrap_or_default().to_string();
        let access_key = header(head, "authorization").and_then(|a| {
            let c = a.split("Credential=").nth(1)?;
            Some(c.split('/').next()?.to_string())
        });
        let action = header(head, "x-amz-target").or_else(|| {
            let body = String::from_utf8_lossy(body);
            body.split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .map(str::to_string)
        });
        Seen {
            line,
            access_key,
            action,
        }
    }
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let state = Arc::new(State::default());
        let st = state.clone();
        let addr = serve_loopback("proxy", move |conn| {
            let _ = serve(conn, upstream, &st);
        });
        FaultProxy { addr, state }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next `n` requests whose request line contains `pattern` get `fault`.
    pub fn inject(&self, pattern: &str, fault: Fault, n: usize) {
        let mut f = self.state.faults.lock().unwrap();
        for _ in 0..n {
            f.push_back((pattern.to_string(), fault));
        }
    }

    /// Request lines seen so far (`GET /bucket?list-type=2&… HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.line).collect()
    }

    /// Requests seen so far, with who signed them.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.log.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.state.log.lock().unwrap().clear();
    }

    /// Requests seen that are object listings (ListObjectsV2).
    pub fn lists(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.starts_with("GET ") && r.contains("list-type=2"))
            .collect()
    }

    /// Requests seen that read an object.
    pub fn gets(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.starts_with("GET ") && !r.contains("list-type=2"))
            .collect()
    }
}

fn take_fault(st: &State, line: &str) -> Option<Fault> {
    let mut faults = st.faults.lock().unwrap();
    let i = faults.iter().position(|(p, _)| line.contains(p.as_str()))?;
    faults.remove(i).map(|(_, f)| f)
}

fn serve(mut client: TcpStream, upstream: SocketAddr, st: &State) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let Some(req) = read_request(&mut client)? else {
        return Ok(());
    };
    let head_end = find(&req, b"\r\n\r\n").unwrap_or(req.len());
    let head = String::from_utf8_lossy(&req[..head_end]).into_owned();
    let seen = Seen::parse(&head, req.get(head_end + 4..).unwrap_or_default());
    let line = seen.line.clone();
    st.log.lock().unwrap().push(seen);
    let fault = take_fault(st, &line);
    match fault {
        Some(Fault::Status(503)) => client.write_all(&s3_error(
            "503 Slow Down",
            "",
            "SlowDown",
            "Please reduce your request rate.",
        ))?,
        Some(Fault::Status(code)) => client.write_all(&s3_error(
            &format!("{code} Injected"),
            "",
            "InternalError",
            "We encountered an internal error. Please try again.",
        ))?,
        Some(Fault::Drop) => {}
        Some(Fault::Redirect { region }) => client.write_all(&s3_error(
            "301 Moved Permanently",
            &format!("x-amz-bucket-region: {region}\r\n"),
            "PermanentRedirect",
            "The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.",
        ))?,
        Some(Fault::ExpiredToken) => client.write_all(&s3_error(
            "400 Bad Request",
            "",
            "ExpiredToken",
            "The provided token has expired.",
        ))?,
        None | Some(Fault::Truncate) => {
            let resp = forward(&req, head_end, upstream)?;
            let resp = with_connection_close(&resp);
            if fault == Some(Fault::Truncate) {
                client.write_all(&resp[..resp.len() / 2])?;
            } else {
                client.write_all(&resp)?;
            }
        }
    }
    client.flush()?;
    client.shutdown(Shutdown::Both)
}

/// A message head (start line and headers, without the blank line) with its `Connection`
/// header replaced by `Connection: close`, ending with the blank line.
fn connection_close(head: &[u8]) -> String {
    let head = String::from_utf8_lossy(head);
    let mut out = String::new();
    for (i, l) in head.split("\r\n").enumerate() {
        if i > 0 && l.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

/// Send the request upstream with `Connection: close` and read the whole response.
fn forward(req: &[u8], head_end: usize, upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    let out = connection_close(&req[..head_end]);
    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(60)))?;
    up.write_all(out.as_bytes())?;
    up.write_all(&req[head_end + 4..])?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    Ok(resp)
}

fn with_connection_close(resp: &[u8]) -> Vec<u8> {
    let Some(end) = find(resp, b"\r\n\r\n") else {
        return resp.to_vec();
    };
    let mut v = connection_close(&resp[..end]).into_bytes();
    v.extend_from_slice(&resp[end + 4..]);
    v
}

/// A response as S3 writes its errors: the status, extra header lines, an XML `Error` body.
fn s3_error(status: &str, headers: &str, code: &str, message: &str) -> Vec<u8> {
    let body = format!("<Error><Code>{code}</Code><Message>{message}</Message></Error>");
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
