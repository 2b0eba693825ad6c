//! `trailql serve`: the investigation in a browser.
//!
//! The server answers on loopback unless told otherwise, and only to requests that carry the
//! per-run token (in the URL it prints, then as a cookie) with this server's own `Host` and, when
//! the browser sends one, `Origin` (so a DNS-rebinding page cannot reach it). It runs statements
//! that read and nothing else, sends no CORS headers, and serves a front-end compiled into the
//! binary (`web/`, built with Vite into `web/dist/`), so it works with no network.
//!
//! - [`guard`]: token, `Host`/`Origin` checks and security headers on every response;
//! - [`jobs`]: statements run one at a time, their rows kept within a budget for paging and
//!   sorting, progress read from the scan's report, cancel;
//! - [`api`]: the JSON API the pages call; [`catalog`]: columns and functions for the schema page
//!   and the editor's completion; [`assets`]: the embedded front-end.

pub mod api;
pub mod assets;
pub mod catalog;
pub mod guard;
pub mod jobs;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use trailql_sql::Engine;

/// Where to listen.
#[derive(Clone)]
pub struct Options {
    pub bind: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// What the sources are, as given on the command line (shown on the pages).
    pub sources: Vec<String>,
    /// The integrity check for the Integrity page, when public keys were given.
    pub integrity: Option<api::Integrity>,
}

/// A bound server, not yet answering.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    addr: SocketAddr,
    token: String,
}

impl Server {
    /// Bind the port and make the token; [`Server::run`] answers.
    pub async fn bind(engine: Engine, options: Options) -> std::io::Result<Server> {
        let listener = tokio::net::TcpListener::bind((options.bind, options.port))
            .await
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot listen on {}:{}: {e} (choose another --port, or 0 for any free one)",
                        options.bind, options.port
                    ),
                )
            })?;
        let addr = listener.local_addr()?;
        let token = guard::new_token()?;
        let guard = Arc::new(guard::Guard::new(token.clone(), addr));
        let app = Arc::new(api::App::new(engine, options.sources, options.integrity));
        let router = api::router(app, guard);
        Ok(Server {
            listener,
            router,
            addr,
            token,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// The URL to open: the token in it is exchanged for a cookie on the first visit.
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_loopback() {
            format!("127.0.0.1:{}", self.addr.port())
        } else {
            self.addr.to_string()
        };
        format!("http://{host}/?token={}", self.token)
    }

    /// Answer until `shutdown` completes.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}
