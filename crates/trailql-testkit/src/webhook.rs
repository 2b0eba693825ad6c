//! A webhook receiver on loopback that can be told to fail, hang or go down: it records every
//! request it accepted (headers and body) and answers as its [`Mode`] says.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200, and the request is recorded.
    Accept,
    /// This status, not recorded.
    Fail(u16),
    /// Reads the request and never answers (until the mode changes).
    Hang,
}

/// One request the receiver accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Shared {
    mode: Mutex<Mode>,
    received: Mutex<Vec<Received>>,
    stop: AtomicBool,
}

/// The receiver; it is down while [`WebhookReceiver::down`] and after it is dropped.
pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl WebhookReceiver {
    /// Listen on a free loopback port.
    pub fn start() -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Accept),
            received: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let thread = Some(serve(listener, shared.clone()));
        WebhookReceiver {
            addr,
            shared,
            thread,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Stop listening: connections are refused until [`WebhookReceiver::up`].
    pub fn down(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and closes the socket.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Listen again, on the same port.
    pub fn up(&mut self) {
        if self.thread.is_some() {
            return;
        }
        self.shared.stop.store(false, Ordering::SeqCst);
        let listener = TcpListener::bind(self.addr).expect("the same port again");
        self.thread = Some(serve(listener, self.shared.clone()));
    }

    /// The requests accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.set_mode(Mode::Accept);
        self.down();
    }
}

fn serve(listener: TcpListener, shared: Arc<Shared>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if shared.stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let shared = shared.clone();
            std::thread::spawn(move || {
                let _ = answer(conn, &shared);
            });
        }
    })
}

fn answer(conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let cut = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "request cut short");
    let mut line = String::new();
    // A client killed before or while it sent the request line and headers sent no request:
    // nothing is recorded unless the headers ended with their blank line.
    if reader.read_line(&mut line)? == 0 {
        return Err(cut());
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(cut());
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let mut conn = conn;
    loop {
        let mode = *shared.mode.lock().unwrap();
        match mode {
            Mode::Hang => {
                if shared.stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Mode::Fail(status) => {
                let reply = format!(
                    "HTTP/1.1 {status} Failing\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                return conn.write_all(reply.as_bytes());
            }
            Mode::Accept => {
                shared.received.lock().unwrap().push(Received {
                    path,
                    headers,
                    body,
                });
                return conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request;

    #[test]
    fn accepts_fails_and_goes_down() {
        let mut r = WebhookReceiver::start();
        let addr: SocketAddr = r.url()[7..].split('/').next().unwrap().parse().unwrap();
        let ok = request(addr, "POST", "/hook", &[("X-A", "1")], b"{}").unwrap();
        assert_eq!(ok.status, 200);
        r.set_mode(Mode::Fail(503));
        assert_eq!(
            request(addr, "POST", "/hook", &[], b"x").unwrap().status,
            503
        );
        r.down();
        assert!(request(addr, "POST", "/hook", &[], b"x").is_err());
        r.up();
        r.set_mode(Mode::Accept);
        assert_eq!(
            request(addr, "POST", "/hook", &[], b"y").unwrap().status,
            200
        );
        // A client that connects and goes away, or stops inside its headers, sent nothing.
        let mut gone = TcpStream::connect(addr).unwrap();
        drop(gone);
        gone = TcpStream::connect(addr).unwrap();
        gone.write_all(b"POST /hook HTTP/1.1\r\nContent-Le")
            .unwrap();
        drop(gone);
        std::thread::sleep(Duration::from_millis(200));
        let got = r.received();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].header("x-a"), Some("1"));
        assert_eq!(got[1].body, b"y");
    }
}
