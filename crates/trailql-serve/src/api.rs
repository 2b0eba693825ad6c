//! The JSON API the pages call. Every route sits behind [`crate::guard::check`].
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/info` | sources, version, whether an integrity check is available |
//! | `GET /api/schema` | columns, functions, table functions, examples ([`crate::catalog`]) |
//! | `POST /api/query` `{"sql": …}` | `{"id": N}`: the statement starts (read-only statements only) |
//! | `GET /api/jobs/{id}` | phase, columns, rows so far, the scan's progress, the error and its position |
//! | `GET /api/jobs/{id}/rows?offset&limit&sort&desc` | a page of rows as text |
//! | `GET /api/jobs/{id}/column?name=` | every kept value of one column (charts, counts) |
//! | `POST /api/jobs/{id}/cancel` | stops the statement |
//! | `GET /api/jobs/{id}/download?format=csv\|json\|parquet` | the whole answer as a file |
//! | `POST /api/integrity` | the validate report (when the server was given public keys) |

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;
use trailql_sql::output::{self, Format};
use trailql_sql::Engine;

use crate::guard::{self, Guard};
use crate::jobs::{Job, Jobs, Phase};

/// Runs the integrity check over the sources for a window and returns its report as JSON.
pub type Integrity =
    Arc<dyn Fn(Window) -> BoxFuture<'static, Result<serde_json::Value, String>> + Send + Sync>;

/// The window of an integrity check: `YYYY-MM-DD` or RFC 3339 times (UTC); `end` defaults to now.
#[derive(Debug, Clone, Deserialize)]
pub struct Window {
    pub start: String,
    pub end: Option<String>,
}

/// What the handlers share.
pub struct App {
    jobs: Jobs,
    sources: Vec<String>,
    integrity: Option<Integrity>,
}

impl App {
    pub fn new(engine: Engine, sources: Vec<String>, integrity: Option<Integrity>) -> App {
        App {
            jobs: Jobs::new(Arc::new(engine)),
            sources,
            integrity,
        }
    }

    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }
}

type Shared = State<Arc<App>>;

/// The routes, behind the guard.
pub fn router(app: Arc<App>, guard: Arc<Guard>) -> Router {
    Router::new()
        .route("/api/info", get(info))
        .route("/api/schema", get(schema))
        .route("/api/query", post(query))
        .route("/api/jobs/{id}", get(status))
        .route("/api/jobs/{id}/rows", get(rows))
        .route("/api/jobs/{id}/column", get(column))
        .route("/api/jobs/{id}/cancel", post(cancel))
        .route("/api/jobs/{id}/download", get(download))
        .route("/api/integrity", post(integrity))
        .route("/api/{*rest}", get(no_api).post(no_api))
        .fallback(get(page))
        .with_state(app)
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
}

/// A refused or failed request: its status and what to tell the user, sent as
/// `{"error": {"message": …}}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": { "message": self.1 } }))).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

type Answer = Result<Response, ApiError>;

async fn no_api(uri: Uri) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        format!("no such API route: {}", uri.path()),
    )
}

async fn page(uri: Uri) -> Response {
    crate::assets::get(uri.path().trim_start_matches('/'))
}

async fn info(State(app): Shared) -> Response {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "sources": app.sources,
        "integrity": app.integrity.is_some(),
        "kept_bytes": crate::jobs::KEPT_BYTES,
    }))
    .into_response()
}

async fn schema(State(app): Shared) -> Response {
    Json(crate::catalog::catalog(&app.jobs.engine().ctx)).into_response()
}

#[derive(Deserialize)]
struct QueryBody {
    sql: String,
}

/// Statements longer than this are refused before they are parsed.
const MAX_SQL: usize = 1 << 20;

async fn query(
    State(app): Shared,
    body: Result<Json<QueryBody>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let Json(body) = body.map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the request must be JSON like {{\"sql\": \"SELECT …\"}}: {e}"),
        )
    })?;
    if body.sql.trim().is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "the statement is empty"));
    }
    if body.sql.len() > MAX_SQL {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the statement is {} bytes; at most {MAX_SQL} are taken",
                body.sql.len()
            ),
        ));
    }
    let job = app.jobs.submit(body.sql);
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": job.id }))).into_response())
}

/// The statement `id` names, or 404.
fn job(app: &App, id: &str) -> Result<Arc<Job>, ApiError> {
    id.parse::<u64>()
        .ok()
        .and_then(|id| app.jobs.get(id))
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                format!(
                    "no statement {id:?} here (only the last {} are kept; run it again)",
                    crate::jobs::KEPT_JOBS
                ),
            )
        })
}

async fn status(State(app): Shared, Path(id): Path<String>) -> Answer {
    let j = job(&app, &id)?;
    Ok(Json(app.jobs.status(&j)).into_response())
}

#[derive(Deserialize)]
struct RowsQuery {
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
    /// A column name.
    sort: Option<String>,
    #[serde(default)]
    desc: bool,
}

/// At most this many rows a page.
const MAX_PAGE: usize = 1000;

/// The position of column `name` in the answer, or 400.
fn column_index(j: &Job, name: &str) -> Result<usize, ApiError> {
    let schema = j
        .schema()
        .ok_or_else(|| error(StatusCode::CONFLICT, "the statement has no columns yet"))?;
    schema
        .fields()
        .iter()
        .position(|f| f.name() == name)
        .ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                format!("the answer has no column {name:?}"),
            )
        })
}

async fn rows(
    State(app): Shared,
    Path(id): Path<String>,
    q: Result<Query<RowsQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let j = job(&app, &id)?;
    let Query(q) = q.map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("bad paging parameters: {e}"),
        )
    })?;
    let sort = match &q.sort {
        Some(name) if !name.is_empty() => Some((column_index(&j, name)?, q.desc)),
        _ => None,
    };
    let limit = q.limit.unwrap_or(100).min(MAX_PAGE);
    // Sorting a large answer takes a moment: off the async threads.
    match tokio::task::spawn_blocking(move || j.page(q.offset, limit, sort)).await {
        Ok(Ok(p)) => Ok(Json(p).into_response()),
        Ok(Err(e)) => Err(error(StatusCode::CONFLICT, e)),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("paging failed: {e}"),
        )),
    }
}

#[derive(Deserialize)]
struct ColumnQuery {
    name: String,
}

async fn column(
    State(app): Shared,
    Path(id): Path<String>,
    q: Result<Query<ColumnQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let j = job(&app, &id)?;
    let Ok(Query(q)) = q else {
        return Err(error(StatusCode::BAD_REQUEST, "say which column: ?name=…"));
    };
    let i = column_index(&j, &q.name)?;
    match tokio::task::spawn_blocking(move || j.column(i)).await {
        Ok(Ok(v)) => Ok(Json(json!({ "name": q.name, "values": v })).into_response()),
        Ok(Err(e)) => Err(error(StatusCode::CONFLICT, e)),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

async fn cancel(State(app): Shared, Path(id): Path<String>) -> Answer {
    let j = job(&app, &id)?;
    let cancelled = j.cancel();
    Ok(Json(json!({ "cancelled": cancelled, "phase": j.phase() })).into_response())
}

#[derive(Deserialize)]
struct DownloadQuery {
    format: String,
}

async fn download(
    State(app): Shared,
    Path(id): Path<String>,
    q: Result<Query<DownloadQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let j = job(&app, &id)?;
    let (format, ext, mime) = match q.as_ref().map(|q| q.format.as_str()) {
        Ok("csv") => (Format::Csv, "csv", "text/csv; charset=utf-8"),
        Ok("json") => (Format::Json, "json", "application/json"),
        Ok("jsonl") => (Format::Jsonl, "jsonl", "application/x-ndjson"),
        Ok("parquet") => (Format::Parquet, "parquet", "application/vnd.apache.parquet"),
        _ => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "say which format: ?format=csv, json, jsonl or parquet",
            ))
        }
    };
    match j.phase() {
        Phase::Done => {}
        Phase::Failed | Phase::Cancelled => {
            return Err(error(
                StatusCode::CONFLICT,
                "the statement did not finish; run it again",
            ))
        }
        _ => {
            return Err(error(
                StatusCode::CONFLICT,
                "the statement is still running; download when it has finished",
            ))
        }
    }
    let file = tempfile::tempfile().map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot make a temporary file for the download: {e} (check TMPDIR)"),
        )
    })?;
    let written = if j.complete() {
        let schema = j.schema().expect("a finished statement has a schema");
        match MemoryStream::try_new(j.batches(), schema, None) {
            Ok(s) => write(Box::pin(s), format, file).await,
            Err(e) => Err(e.to_string()),
        }
    } else {
        // More rows than were kept: run it again, streaming every row to the file.
        let lock = app.jobs.run_lock();
        let _turn = lock.lock().await;
        let engine = app.jobs.engine().clone();
        app.jobs.engine().report.reset();
        match engine.sql_read_only(&j.sql).await {
            Ok(df) => match df.execute_stream().await {
                Ok(s) => write(s, format, file).await,
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        }
    };
    let file = written.map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the download failed: {e}"),
        )
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(
        tokio::fs::File::from_std(file),
    ));
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"trailql-{}.{ext}\"", j.id))
            .expect("ascii"),
    );
    Ok(r)
}

/// Write the stream to `file` and rewind it.
async fn write(
    stream: SendableRecordBatchStream,
    format: Format,
    file: std::fs::File,
) -> Result<std::fs::File, String> {
    use std::io::Seek;
    let mut out = std::io::BufWriter::new(file);
    output::write_stream(stream, format, &mut out)
        .await
        .map_err(|e| e.to_string())?;
    let mut file = out.into_inner().map_err(|e| e.to_string())?;
    file.rewind().map_err(|e| e.to_string())?;
    Ok(file)
}

async fn integrity(
    State(app): Shared,
    body: Result<Json<Window>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let Some(check) = app.integrity.clone() else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "no integrity check: start the server with --public-keys FILE (or --fetch-public-keys) to validate the sources' digests",
        ));
    };
    let Json(window) = body.map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!(
                "the request must be JSON like {{\"start\": \"2026-11-01\", \"end\": null}}: {e}"
            ),
        )
    })?;
    let lock = app.jobs.run_lock();
    let _turn = lock.lock().await;
    match check(window).await {
        Ok(v) => Ok(Json(v).into_response()),
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e)),
    }
}
