//! Who may talk to the server: requests with the per-run token, addressed to this server's own
//! host name (DNS-rebinding defence), from its own origin. Every response carries headers that
//! keep the pages from being framed, sniffed or leaking the token in a `Referer`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// A random token: 32 bytes from the operating system, hex.
pub fn new_token() -> std::io::Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| {
        std::io::Error::other(format!("cannot get random bytes for the token: {e}"))
    })?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The token and the host names this server answers to.
#[derive(Debug)]
pub struct Guard {
    token: String,
    hosts: Vec<String>,
    cookie: String,
}

/// Equal without stopping at the first difference (the token is a secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Guard {
    pub fn new(token: String, addr: SocketAddr) -> Guard {
        let port = addr.port();
        let mut hosts = vec![addr.to_string()];
        if addr.ip().is_loopback() || addr.ip().is_unspecified() {
            for h in ["127.0.0.1", "localhost", "[::1]"] {
                hosts.push(format!("{h}:{port}"));
            }
        }
        hosts.dedup();
        Guard {
            token,
            hosts,
            // Cookies are per host, not per port: two servers on one machine keep apart.
            cookie: format!("trailql_token_{port}"),
        }
    }

    fn host_ok(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn origin_ok(&self, origin: &str) -> bool {
        origin
            .strip_prefix("http://")
            .is_some_and(|h| self.host_ok(h))
    }

    fn token_ok(&self, t: &str) -> bool {
        same(t.as_bytes(), self.token.as_bytes())
    }

    fn token_in_query<'a>(&self, query: Option<&'a str>) -> Option<&'a str> {
        query?.split('&').find_map(|kv| kv.strip_prefix("token="))
    }

    fn token_in_cookie<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == self.cookie).then_some(v)
            })
    }

    fn token_in_bearer<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get(header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .strip_prefix("Bearer ")
    }

    fn set_cookie(&self) -> HeaderValue {
        let v = format!(
            "{}={}; Path=/; HttpOnly; SameSite=Strict",
            self.cookie, self.token
        );
        HeaderValue::from_str(&v).expect("hex token is a valid header")
    }
}

fn refuse(status: StatusCode, why: String) -> Response {
    (status, format!("trailql serve: {why}\n")).into_response()
}

/// The middleware: checks, then the security headers on whatever the handler answered.
pub async fn check(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !g.host_ok(host) {
        return secure(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "this server answers only to {} (Host was {host:?}); a page on another name is refused so that DNS rebinding cannot reach it",
                g.hosts.join(", ")
            ),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        if !g.origin_ok(origin) {
            return secure(refuse(
                StatusCode::FORBIDDEN,
                format!("requests from other sites are refused (Origin was {origin:?})"),
            ));
        }
    }
    let in_query = g
        .token_in_query(req.uri().query())
        .filter(|t| g.token_ok(t));
    let held = g
        .token_in_cookie(headers)
        .or_else(|| g.token_in_bearer(headers))
        .is_some_and(|t| g.token_ok(t));
    if in_query.is_none() && !held {
        return secure(refuse(
            StatusCode::UNAUTHORIZED,
            "this needs the token that `trailql serve` printed: open the URL it gave (http://…/?token=…)".into(),
        ));
    }
    let resp = if in_query.is_some()
        && req.method() == Method::GET
        && !req.uri().path().starts_with("/api/")
    {
        // Swap the token in the address bar for a cookie, so it stays out of history and links.
        let mut r = (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, req.uri().path().to_string())],
        )
            .into_response();
        r.headers_mut().insert(header::SET_COOKIE, g.set_cookie());
        r
    } else {
        next.run(req).await
    };
    secure(resp)
}

fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new("ab".repeat(32), "127.0.0.1:8080".parse().unwrap())
    }

    #[test]
    fn loopback_names_are_this_server_and_others_are_not() {
        let g = guard();
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(g.host_ok(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "localhost",
            "",
            "127.0.0.1",
        ] {
            assert!(!g.host_ok(bad), "{bad}");
        }
        assert!(g.origin_ok("http://localhost:8080"));
        assert!(!g.origin_ok("https://localhost:8080"));
        assert!(!g.origin_ok("http://evil.example:8080"));
        assert!(!g.origin_ok("null"));
    }

    #[test]
    fn token_is_found_in_query_cookie_and_bearer_and_compared_whole() {
        let g = guard();
        let t = "ab".repeat(32);
        assert_eq!(
            g.token_in_query(Some(&format!("x=1&token={t}"))),
            Some(t.as_str())
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; trailql_token_8080={t}")).unwrap(),
        );
        assert_eq!(g.token_in_cookie(&h), Some(t.as_str()));
        assert!(g.token_ok(&t));
        assert!(!g.token_ok(&t[..63]));
        assert!(!g.token_ok(&format!("{t}0")));
        assert!(!g.token_ok(""));
        let other_port = HeaderValue::from_str(&format!("trailql_token_9090={t}")).unwrap();
        h.insert(header::COOKIE, other_port);
        assert_eq!(g.token_in_cookie(&h), None);
    }

    #[test]
    fn tokens_are_random_and_long() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
