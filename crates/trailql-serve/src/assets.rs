//! The front-end, compiled into the binary from `web/dist/` (built by `npm run build` in `web/`;
//! the build is committed so that `cargo build` needs no Node.js, and CI checks it is reproducible).

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use include_dir::{include_dir, Dir};

static DIST: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/web/dist");

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The embedded file at `path` (no leading slash); `index.html` for the root.
pub fn get(path: &str) -> Response {
    let path = if path.is_empty() { "index.html" } else { path };
    match DIST.get_file(path) {
        Some(f) => {
            let mut r = Body::from(f.contents()).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(path)),
            );
            // Hashed asset names change with their content; the page itself must not be cached.
            let cache = if path.starts_with("assets/") {
                "private, max-age=31536000, immutable"
            } else {
                "no-store"
            };
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            r
        }
        None => (StatusCode::NOT_FOUND, format!("no such page: /{path}\n")).into_response(),
    }
}
