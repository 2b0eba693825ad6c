//! `trailql serve`: open the sources as for `query`, then serve the pages until Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use futures::FutureExt;
use trailql_serve::api::{Integrity, Window};
use trailql_serve::{Options, Server};

use crate::args::{ServeArgs, SourceArgs};

pub fn run(a: ServeArgs) -> Result<ExitCode> {
    crate::runtime()?.block_on(serve(a))
}

/// The Integrity page's check: `trailql validate` over the sources with `--public-keys`.
fn integrity(a: &ServeArgs) -> Result<Option<Integrity>> {
    let Some(path) = &a.scan.public_keys else {
        return Ok(None);
    };
    let keys = Arc::new(crate::validate::load_keys(path)?);
    let sources: SourceArgs = a.scan.source.clone();
    let check: Integrity = Arc::new(move |w: Window| {
        let (keys, sources) = (keys.clone(), sources.clone());
        let (tx, rx) = futures::channel::oneshot::channel();
        // The validation blocks (and may start its own S3 runtime): its own thread.
        std::thread::spawn(move || {
            let run = || -> Result<serde_json::Value> {
                let opts = crate::validate::options(&w.start, w.end.as_deref(), false)?;
                let reports = crate::validate::validate_sources(&sources, keys.as_ref(), &opts)?;
                let reports: Vec<_> = reports
                    .into_iter()
                    .map(|(source, report)| serde_json::json!({ "source": source, "report": report }))
                    .collect();
                Ok(serde_json::json!({ "reports": reports }))
            };
            let _ = tx.send(run().map_err(|e| crate::errors::describe(&e)));
        });
        async move {
            rx.await
                .unwrap_or_else(|_| Err("the integrity check stopped unexpectedly".to_string()))
        }
        .boxed()
    });
    Ok(Some(check))
}

async fn serve(a: ServeArgs) -> Result<ExitCode> {
    let integrity = integrity(&a)?;
    let engine = crate::open(&a.scan, crate::lookup::Hint::Anything).await?;
    if !a.bind.is_loopback() {
        eprintln!(
            "warning: listening on {} lets other machines reach this server over plain HTTP; the token still guards it, but anyone who sees the URL can read the logs. Use --bind 127.0.0.1 (and an SSH tunnel) unless you mean it.",
            a.bind
        );
    }
    let server = Server::bind(
        engine,
        Options {
            bind: a.bind,
            port: a.port,
            sources: a.scan.source.sources.clone(),
            integrity,
        },
    )
    .await?;
    let url = server.url();
    // The URL holds the secret: on standard output, for the one who started the server.
    println!("trailql serve: open {url}");
    eprintln!("(Ctrl-C stops the server)");
    if a.open {
        open_browser(&url);
    }
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the server stopped")?;
    Ok(ExitCode::SUCCESS)
}

/// Best effort: the URL is printed anyway.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        eprintln!(
            "warning: could not start {opener} to open the page ({e}); open the URL above yourself"
        );
    }
}
