//! `trailql lake sync|compact|ddl`, and opening a lake given as `-s`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use datafusion::prelude::{col, lit};
use trailql_lake::{Budget, Dialect, Lake, LakeUrl};
use trailql_layout::TimeWindow;
use trailql_s3::S3Client;

use crate::args::{DdlEngine, LakeArgs, LakeCommand, LakeCompactArgs, LakeDdlArgs, LakeSyncArgs};
use crate::summary::{bytes, thousands};
use crate::{s3_options, scan_options, Engine, S3Options, ScanOptions, Source};

pub fn run(a: LakeArgs) -> Result<ExitCode> {
    let rt = crate::runtime()?;
    match a.command {
        LakeCommand::Sync(s) => rt.block_on(sync(s)),
        LakeCommand::Compact(c) => rt.block_on(compact(c)),
        LakeCommand::Ddl(d) => rt.block_on(ddl(d)),
    }
}

fn lake_url(s: &str) -> Result<LakeUrl> {
    LakeUrl::parse(s)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--lake {s}"))
}

/// The lake, opened with an S3 client when it is on S3.
async fn open_lake(url: &LakeUrl, s3: &S3Options) -> Result<Lake> {
    let client = matches!(url, LakeUrl::S3(_)).then(|| Arc::new(S3Client::new(s3.clone())));
    Ok(Lake::open(url, client.as_ref()).await?)
}

/// The lake at `url`, which a sync must have made: `compact` and `ddl` work on a lake, and a
/// mistyped path is said to be one instead of becoming an empty lake.
async fn existing_lake(url: &LakeUrl, s3: &S3Options) -> Result<Lake> {
    let client = matches!(url, LakeUrl::S3(_)).then(|| Arc::new(S3Client::new(s3.clone())));
    match Lake::find(url, client.as_ref()).await? {
        Some(lake) => Ok(lake),
        None => bail!(
            "{url}: not a trailql lake (it has no {}); a lake is made by `trailql lake sync -s \
             SOURCES --lake {url}`",
            trailql_lake::location::MANIFEST
        ),
    }
}

/// `--start`/`--end` as the window of files to convert.
pub(crate) fn window(start: &Option<String>, end: &Option<String>) -> Result<TimeWindow> {
    let mut filters = Vec::new();
    for (t, name) in [(start, "--start"), (end, "--end")] {
        if let Some(t) = t {
            trailql_investigate::queries::check_time(t)
                .map_err(anyhow::Error::msg)
                .with_context(|| name.to_string())?;
        }
    }
    if let Some(s) = start {
        filters.push(col("eventtime").gt_eq(lit(s.clone())));
    }
    if let Some(e) = end {
        filters.push(col("eventtime").lt(lit(e.clone())));
    }
    Ok(trailql_sql::filters::time_window(&filters))
}

async fn sync(a: LakeSyncArgs) -> Result<ExitCode> {
    let url = lake_url(&a.lake)?;
    let s3 = s3_options(&a.scan.source.s3)?;
    let hint = crate::lookup::Hint::Scope {
        start: &a.start,
        end: &a.end,
        region: &None,
    };
    let srcs = crate::lookup::sources(&a.scan, hint).await?;
    for s in &srcs {
        if let Source::Local(p) = s {
            if p.join(trailql_lake::location::MANIFEST).is_file() {
                bail!(
                    "-s {}: that is a lake, not a trail; sync from the trail's folder or bucket",
                    p.display()
                );
            }
        }
    }
    let options = scan_options(&a.scan)?;
    let window = window(&a.start, &a.end)?;
    let lake = open_lake(&url, &s3).await?;
    let (table, client) = Engine::table(&srcs, options.clone(), s3)?;
    let progress = crate::summary::Progress::start(
        table.report().clone(),
        !a.scan.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    );
    if a.buffer_mb == 0 {
        bail!("--buffer-mb must be at least 1");
    }
    let budget = Budget {
        total: a.buffer_mb << 20,
        file: (a.buffer_mb << 20) * 3 / 4,
    };
    let r = trailql_lake::sync(&lake, table, client, &options, window, budget).await;
    progress.finish();
    let r = r?;
    if !a.scan.quiet {
        for w in r.warnings.iter().take(crate::summary::MAX_PRINTED_WARNINGS) {
            eprintln!("warning: {}: {}", w.path, w.message);
        }
        eprintln!(
            "lake {}: {} trail files listed, {} already in the lake, {} converted{} · {} events → {} rows written ({} duplicates dropped) in {} files, {} partitions, {} · {:.2} s",
            lake.url,
            thousands(r.files_listed),
            thousands(r.files_in_lake),
            thousands(r.files_converted),
            if r.files_unread > 0 {
                format!(", {} could not be read (tried again next sync)", thousands(r.files_unread))
            } else {
                String::new()
            },
            thousands(r.records),
            thousands(r.written.rows),
            thousands(r.written.duplicates),
            thousands(r.written.files),
            thousands(r.partitions as u64),
            bytes(r.written.bytes),
            r.elapsed.as_secs_f64()
        );
    }
    Ok(if r.files_unread > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn compact(a: LakeCompactArgs) -> Result<ExitCode> {
    let url = lake_url(&a.lake)?;
    let lake = existing_lake(&url, &s3_options(&a.s3)?).await?;
    let r = trailql_lake::compact(&lake).await?;
    if !a.quiet {
        eprintln!(
            "lake {}: {} partitions, {} compacted · {} files → {} · {} rows rewritten ({} duplicates dropped) · {:.2} s",
            lake.url,
            thousands(r.partitions as u64),
            thousands(r.partitions_compacted as u64),
            thousands(r.files_before),
            thousands(r.files_after),
            thousands(r.rows),
            thousands(r.duplicates),
            r.elapsed.as_secs_f64()
        );
    }
    for u in &r.unreadable {
        eprintln!(
            "warning: {}: {}; left as it is; to restore its rows, {}",
            lake.shown(&u.file.location),
            u.reason,
            trailql_lake::footers::restore()
        );
    }
    Ok(if r.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn ddl(a: LakeDdlArgs) -> Result<ExitCode> {
    let url = lake_url(&a.lake)?;
    let lake = existing_lake(&url, &s3_options(&a.s3)?).await?;
    let shape = trailql_lake::shape(&lake).await?;
    let dialect = match a.engine {
        DdlEngine::Athena => Dialect::Athena,
        DdlEngine::Spark => Dialect::Spark,
        DdlEngine::Trino => Dialect::Trino,
        DdlEngine::Duckdb => Dialect::DuckDb,
    };
    print!("{}", trailql_lake::ddl(dialect, &a.table, &shape));
    Ok(ExitCode::SUCCESS)
}

/// The engine over `-s`: a lake when the sources are one, else the raw trail.
pub async fn engine(srcs: &[Source], options: ScanOptions, s3: S3Options) -> Result<Engine> {
    // One client for the whole run: its credentials (an assumed role…) are resolved once.
    let client = srcs
        .iter()
        .any(|s| matches!(s, Source::S3(_)))
        .then(|| Arc::new(S3Client::new(s3.clone())));
    let mut lakes = Vec::new();
    for s in srcs {
        let url = match s {
            Source::Local(p) => LakeUrl::Local(p.clone()),
            Source::S3(u) => LakeUrl::S3(u.clone()),
        };
        let found = match &url {
            LakeUrl::Local(p) => p.join(trailql_lake::location::MANIFEST).is_file(),
            // A HEAD of the manifest; a trail bucket answers 404 (or 403 when the key is not
            // readable): not a lake.
            LakeUrl::S3(_) => matches!(Lake::find(&url, client.as_ref()).await, Ok(Some(_))),
        };
        if found {
            lakes.push(url);
        }
    }
    match lakes.len() {
        0 => {
            let (table, client) = Engine::table_with(srcs, options.clone(), client)?;
            let report = table.report().clone();
            Ok(Engine::over(Arc::new(table), report, client, &options)?)
        }
        1 if srcs.len() == 1 => {
            let lake = Lake::open(&lakes[0], client.as_ref()).await?;
            Ok(trailql_lake::engine(&lake, client, &options)?)
        }
        _ => bail!(
            "-s {}: one lake at a time, and not mixed with trail folders or buckets; sync the trails into the lake first (trailql lake sync)",
            lakes[0]
        ),
    }
}
