//! A loopback HTTP proxy in front of the S3 server that logs every request line and, on demand,
//! answers the next matching requests with a fault: an error status, a dropped connection, or a
//! response cut off halfway. Each request gets its own upstream connection and the client is told
//! `Connection: close`, so every request the client makes is seen here exactly once.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::{find, header, read_request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (503 → S3's `SlowDown` body, others a generic error).
    Status(u16),
    /// Read the request, then close the connection without a response.
    Drop,
    /// Answer as S3 does when a request reaches the wrong region: `301 PermanentRedirect`
    /// (no `Location`) with `x-amz-bucket-region` naming the bucket's region.
    Redirect { region: &'static str },
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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let state = Arc::new(State::default());
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, &st);
                });
            }
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
        Some(Fault::Status(code)) => {
            let body = if code == 503 {
                "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            } else {
                "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>"
            };
            let resp = format!(
                "HTTP/1.1 {code} Injected\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(resp.as_bytes())?;
        }
        Some(Fault::Drop) => {}
        Some(Fault::Redirect { region }) => {
            let body = format!(
                "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message><Endpoint>s3.{region}.amazonaws.com</Endpoint></Error>"
            );
            let resp = format!(
                "HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: {region}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(resp.as_bytes())?;
        }
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
