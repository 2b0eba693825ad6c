//! `trailql`: parse arguments, build the engine, run, print, exit.

mod args;
mod detect;
mod errors;
mod investigate;
mod lake;
mod lookup;
mod output;
mod serve;
mod summary;
mod validate;
mod watch;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use datafusion::physical_plan::displayable;

use args::{Cli, Command, DialectArg, Format, GenerateArgs, QueryArgs, ScanArgs, SchemaDialect};
pub(crate) use trailql_sql::{Dialect, Engine, S3Options, ScanOptions, Source};

/// jemalloc, set up in `.cargo/config.toml`: one arena whose freed pages go back to the system,
/// so a scan that decodes on every core while it writes on another stays within its memory
/// bound (glibc's malloc keeps an arena per thread).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The seed question: who opened a security group to the world, and when?
pub const SEED_SQL: &str = "SELECT eventtime, account, awsregion,
       json_extract_scalar(requestparameters, '$.groupId') AS group_id,
       useridentity.arn AS actor, sourceipaddress, errorcode
FROM cloudtrail_logs
WHERE eventname = 'AuthorizeSecurityGroupIngress'
  AND (requestparameters LIKE '%0.0.0.0/0%' OR requestparameters LIKE '%::/0%')
ORDER BY eventtime";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli);
    lookup::clean_up();
    match result {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", errors::describe(&e));
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.to_string().contains("Broken pipe")
    })
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Query(q) => runtime()?.block_on(query(q)),
        Command::Exposure(a) => runtime()?.block_on(investigate::exposure(a)),
        Command::History(a) => runtime()?.block_on(investigate::history(a)),
        Command::Activity(a) => runtime()?.block_on(investigate::activity(a)),
        Command::Validate(a) => validate::run(a),
        Command::Detect(a) => detect::run(a),
        Command::Lake(a) => lake::run(a),
        Command::Watch(a) => watch::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Schema { ddl, dialect } => {
            if dialect == SchemaDialect::Lake {
                lake_schema();
            } else {
                schema(ddl);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Shell { scan, dialect } => runtime()?.block_on(shell(scan, dialect.dialect)),
        Command::Generate(g) => generate(g).map(|_| ExitCode::SUCCESS),
        Command::Demo { dir } => runtime()?.block_on(demo(&dir)),
    }
}

pub(crate) fn scan_options(a: &ScanArgs) -> Result<ScanOptions> {
    Ok(ScanOptions {
        late_margin: trailql_layout::parse_late_margin(&a.late_margin)
            .map_err(anyhow::Error::msg)
            .context("--late-margin")?,
        strict: a.strict,
        max_inflated: a.max_inflated_bytes,
        prefilter: !a.no_prefilter,
        public_keys: match &a.public_keys {
            Some(p) => Some(std::sync::Arc::new(validate::load_keys(p)?)),
            None => None,
        },
        words: None,
        memory_limit: None,
    })
}

pub(crate) fn s3_options(a: &args::S3Args) -> Result<S3Options> {
    if a.s3_concurrency == 0 {
        bail!("--s3-concurrency must be at least 1");
    }
    Ok(S3Options {
        profile: a.profile.clone(),
        role_arn: a.role_arn.clone(),
        endpoint_url: a.endpoint_url.clone(),
        bucket_region: a.bucket_region.clone(),
        no_sign_request: a.no_sign_request,
        cache_dir: a.cache.clone(),
        concurrency: a.s3_concurrency,
        ..S3Options::default()
    })
}

/// The parsed `-s` sources.
pub(crate) fn sources(a: &args::SourceArgs) -> Result<Vec<Source>> {
    if a.sources.is_empty() {
        bail!("no sources: give the logs with -s PATH or -s s3://BUCKET[/PREFIX] (repeat for several)");
    }
    if let Some(api) = a
        .sources
        .iter()
        .find(|s| trailql_lookup::ApiSource::is_api(s))
    {
        bail!("-s {api}: this command reads a trail's files (digests, deliveries); the CloudTrail API is a source for query, shell, serve, exposure, history, activity, detect and lake sync");
    }
    a.sources
        .iter()
        .map(|s| Source::parse(s).map_err(anyhow::Error::msg))
        .collect()
}

/// The engine over `-s` (a trail, a lake, or the CloudTrail API read for `hint`), with the
/// table functions registered.
pub(crate) async fn open(a: &ScanArgs, hint: lookup::Hint<'_>) -> Result<Engine> {
    let engine = lake::engine(
        &lookup::sources(a, hint).await?,
        scan_options(a)?,
        s3_options(&a.source.s3)?,
    )
    .await?;
    trailql_detect::register(&engine.ctx, engine.report.clone());
    Ok(engine)
}

async fn query(q: QueryArgs) -> Result<ExitCode> {
    let sql = match (&q.sql, &q.file) {
        (Some(s), _) => s.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read SQL file {}", f.display()))?,
        (None, None) => bail!("give a SQL statement or --file FILE"),
    };
    if q.format == Format::Parquet && q.output.is_none() {
        bail!("--format parquet needs --output FILE (Parquet is binary)");
    }
    let d = dialect(q.dialect.dialect);
    let engine = open(
        &q.scan,
        lookup::Hint::Sql {
            sql: &sql,
            dialect: d,
        },
    )
    .await?
    .with_dialect(d);
    run_statement(
        &engine,
        &sql,
        q.format,
        q.output.as_deref(),
        q.stats,
        q.scan.quiet,
    )
    .await
}

async fn run_statement(
    engine: &Engine,
    sql: &str,
    format: Format,
    output: Option<&Path>,
    stats: bool,
    quiet: bool,
) -> Result<ExitCode> {
    let started = Instant::now();
    engine.report.reset();
    let df = engine.sql(sql).await?;
    let plan = df.create_physical_plan().await?;
    if stats {
        for line in displayable(plan.as_ref()).indent(false).to_string().lines() {
            if line.contains("CloudTrailExec") {
                eprintln!("plan: {}", line.trim());
            }
        }
    }
    let task_ctx = engine.ctx.task_ctx();
    let stream = datafusion::physical_plan::execute_stream(plan, task_ctx)?;
    let progress = summary::Progress::start(
        engine.report.clone(),
        !quiet && std::io::stderr().is_terminal(),
    );
    let result = output::write_stream(stream, format, output::open(output)?).await;
    progress.finish();
    let rows = result?;
    if !quiet {
        summary::print(&engine.report, Some(rows), started.elapsed(), stats);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn dialect(d: DialectArg) -> Dialect {
    match d {
        DialectArg::Auto => Dialect::Auto,
        DialectArg::Athena => Dialect::Athena,
        DialectArg::Lake => Dialect::Lake,
    }
}

/// CloudTrail Lake's columns, as `FROM <event data store>` (or `cloudtrail_lake`) reads them.
fn lake_schema() {
    for (name, t) in trailql_lakesql::schema::COLUMNS {
        println!("{name:<30} {t}");
    }
}

fn schema(ddl: bool) {
    let schema = trailql_decode::table_schema();
    if ddl {
        println!("CREATE EXTERNAL TABLE cloudtrail_logs (");
        let cols: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| {
                format!(
                    "  {} {}",
                    quote(f.name()),
                    trailql_lake::ddl::hive_type(f.data_type())
                )
            })
            .collect();
        println!("{}\n)", cols.join(",\n"));
        return;
    }
    for f in schema.fields() {
        println!(
            "{:<30} {}",
            f.name(),
            trailql_lake::ddl::hive_type(f.data_type())
        );
    }
}

fn quote(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(name, "timestamp" | "date")
    {
        name.to_string()
    } else {
        format!("`{name}`")
    }
}

async fn shell(scan: ScanArgs, d: DialectArg) -> Result<ExitCode> {
    use rustyline::error::ReadlineError;
    let engine = open(&scan, lookup::Hint::Anything)
        .await?
        .with_dialect(dialect(d));
    let mut rl = rustyline::DefaultEditor::new()?;
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".trailql_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    eprintln!(
        "trailql shell: {} source(s), listed per query. Table cloudtrail_logs. End statements with ';'. .schema, .quit",
        scan.source.sources.len()
    );
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() {
            "trailql> "
        } else {
            "     ..> "
        };
        match rl.readline(prompt) {
            Ok(line) => {
                let t = line.trim();
                if buf.is_empty() {
                    match t {
                        "" => continue,
                        ".quit" | ".exit" | "\\q" | "exit" | "quit" => break,
                        ".schema" => {
                            schema(false);
                            continue;
                        }
                        _ => {}
                    }
                }
                buf.push_str(&line);
                buf.push('\n');
                if t.ends_with(';') {
                    let sql = std::mem::take(&mut buf);
                    let _ = rl.add_history_entry(sql.trim());
                    if let Err(e) =
                        run_statement(&engine, &sql, Format::Table, None, false, scan.quiet).await
                    {
                        eprintln!("error: {}", errors::describe(&e));
                    }
                }
            }
            Err(ReadlineError::Interrupted) => buf.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(ExitCode::SUCCESS)
}

fn generate(g: GenerateArgs) -> Result<trailql_generate::GroundTruth> {
    let start = chrono::NaiveDate::parse_from_str(&g.start, "%Y-%m-%d")
        .with_context(|| format!("--start {:?}: expected YYYY-MM-DD", g.start))?;
    let opts = trailql_generate::GenOptions {
        seed: g.seed,
        events: g.events,
        accounts: g.accounts,
        regions: g.regions,
        days: g.days,
        start,
        org_id: g.org_id,
        openings: g.openings,
        ..Default::default()
    };
    let t = Instant::now();
    let truth = trailql_generate::generate(&g.dir, &opts)?;
    eprintln!(
        "trailql: wrote {} events in {} files to {} in {:.1}s ({} openings, {} failed attempts planted; see ground-truth.json)",
        summary::thousands(truth.events),
        summary::thousands(truth.files),
        g.dir.display(),
        t.elapsed().as_secs_f64(),
        truth.openings.len(),
        truth.failed_attempts.len()
    );
    Ok(truth)
}

async fn demo(dir: &Path) -> Result<ExitCode> {
    if !dir.join("ground-truth.json").exists() {
        eprintln!(
            "trailql: no sample at {}: generating one (3 accounts × 4 regions × 3 days)…",
            dir.display()
        );
        generate(GenerateArgs {
            dir: dir.to_path_buf(),
            seed: 42,
            events: 100_000,
            accounts: 3,
            regions: ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
                .map(String::from)
                .to_vec(),
            days: 3,
            start: "2024-08-01".into(),
            org_id: None,
            openings: 6,
        })?;
    }
    eprintln!("-- Who opened a security group to the world, and when?\n{SEED_SQL};\n");
    let engine = Engine::open(&[dir.join("AWSLogs")], ScanOptions::default())?;
    run_statement(&engine, SEED_SQL, Format::Table, None, false, false).await?;
    eprintln!(
        "\nThe rows with an errorcode are failed attempts. Compare with {}/ground-truth.json, then ask your own:\n  trailql query -s {l} \"SELECT eventname, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 2 DESC LIMIT 10\"\nor let trailql replay every rule change (still open? closed by whom?):\n  trailql exposure -s {l} --report exposure.html",
        dir.display(),
        l = dir.join("AWSLogs").display()
    );
    Ok(ExitCode::SUCCESS)
}
