//! Trino's URL functions: `url_extract_{protocol,host,port,path,query,fragment,parameter}`,
//! `url_encode`, `url_decode`. URLs are parsed with the `url` crate (WHATWG); text that is not
//! an absolute URL gives NULL, as Trino gives for text it cannot parse.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Builder, StringBuilder};
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use url::Url;

use crate::udf::{co_str, co_str_str, ret_int, ret_utf8, udf, Strs};

pub(crate) fn functions() -> Vec<ScalarUDF> {
    vec![
        udf("url_extract_protocol", ret_utf8, co_str, k_protocol),
        udf("url_extract_host", ret_utf8, co_str, k_host),
        udf("url_extract_port", ret_int, co_str, k_port),
        udf("url_extract_path", ret_utf8, co_str, k_path),
        udf("url_extract_query", ret_utf8, co_str, k_query),
        udf("url_extract_fragment", ret_utf8, co_str, k_fragment),
        udf("url_extract_parameter", ret_utf8, co_str_str, k_parameter),
        udf("url_encode", ret_utf8, co_str, k_encode),
        udf("url_decode", ret_utf8, co_str, k_decode),
    ]
}

fn part(a: &[ColumnarValue], n: usize, f: impl Fn(&Url) -> Option<String>) -> Result<ArrayRef> {
    let s = Strs::of(&a[0])?;
    let mut out = StringBuilder::new();
    for i in 0..n {
        out.append_option(
            s.get(i)
                .and_then(|u| Url::parse(u).ok())
                .and_then(|u| f(&u)),
        );
    }
    Ok(Arc::new(out.finish()))
}

fn k_protocol(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    part(a, n, |u| Some(u.scheme().to_string()))
}
fn k_host(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    part(a, n, |u| u.host_str().map(str::to_string))
}
fn k_path(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    part(a, n, |u| Some(u.path().to_string()))
}
fn k_query(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    part(a, n, |u| Some(u.query().unwrap_or("").to_string()))
}
fn k_fragment(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    part(a, n, |u| u.fragment().map(str::to_string))
}

fn k_port(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let s = Strs::of(&a[0])?;
    let mut out = Int64Builder::new();
    for i in 0..n {
        let port = s.get(i).and_then(written_port).map(i64::from);
        out.append_option(port);
    }
    Ok(Arc::new(out.finish()))
}

/// The port written in the URL (Trino's answer), even the scheme's default, which the `url`
/// crate drops (`https://h:443/` has port 443 here, `https://h/` none).
fn written_port(raw: &str) -> Option<u16> {
    let u = Url::parse(raw).ok()?;
    if let Some(p) = u.port() {
        return Some(p);
    }
    let rest = raw.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = host_port.rsplit_once(':')?;
    (!host.is_empty() && !port.is_empty() && !port.contains(']'))
        .then(|| port.parse().ok())
        .flatten()
}

fn k_parameter(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let (s, name) = (Strs::of(&a[0])?, Strs::of(&a[1])?);
    let mut out = StringBuilder::new();
    for i in 0..n {
        let v = s.get(i).zip(name.get(i)).and_then(|(u, name)| {
            let u = Url::parse(u).ok()?;
            let found = u.query_pairs().find(|(k, _)| k == name);
            found.map(|(_, v)| v.into_owned())
        });
        out.append_option(v);
    }
    Ok(Arc::new(out.finish()))
}

/// As Java's `URLEncoder` (Trino's `url_encode`): letters, digits and `.-*_` stay, a space is
/// `+`, every other byte of the UTF-8 text is `%XX`.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// As Java's `URLDecoder` (the same decoding S3 event notifications use for keys).
pub(crate) use trailql_layout::form_decode as decode;

fn k_encode(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let s = Strs::of(&a[0])?;
    let mut out = StringBuilder::new();
    for i in 0..n {
        out.append_option(s.get(i).map(encode));
    }
    Ok(Arc::new(out.finish()))
}

fn k_decode(a: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let s = Strs::of(&a[0])?;
    let mut out = StringBuilder::new();
    for i in 0..n {
        out.append_option(s.get(i).and_then(decode));
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_as_written() {
        assert_eq!(written_port("https://s3.amazonaws.com:443/b"), Some(443));
        assert_eq!(written_port("https://s3.amazonaws.com/b"), None);
        assert_eq!(written_port("http://u:p@h:8080"), Some(8080));
        assert_eq!(written_port("http://[::1]/x"), None);
        assert_eq!(written_port("http://[::1]:81/x"), Some(81));
    }

    #[test]
    fn encoding_round_trips_as_java_does() {
        assert_eq!(encode("a b&c=ü/"), "a+b%26c%3D%C3%BC%2F");
        assert_eq!(decode("a+b%26c%3D%C3%BC%2F").as_deref(), Some("a b&c=ü/"));
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%4"), None);
    }
}
