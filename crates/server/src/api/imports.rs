//! Imports: a CSV of contacts with its declared provenance and consent,
//! streamed (up to 1,000,000 rows), checked row by row, scored for the
//! signals of a bought or scraped list, and accepted, accepted with warnings,
//! or quarantined for the operator's review.
//!
//! The upload is spooled to a temporary file first, within an overall
//! deadline and at a minimum rate; only then does the import's write
//! transaction open, and it runs at the speed of the disk, not of the
//! client: a client trickling its CSV holds nothing that anyone else waits
//! for. One transaction throughout: a failed import leaves nothing behind.

use super::workspace::PageQuery;
use super::Page;
use crate::error::{ApiError, ApiResult};
use crate::extract::{can, Acting, ApiJson, ApiQuery, OperatorCaller, Ws};
pub use crate::import::ImportQuery;
use crate::import::{declaration, CROSS_TENANT};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use futures_util::{Stream, StreamExt};
use sendwell_core::Timestamp;
use sendwell_store::{ImportRecord, ReviewError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// Bodies up to this size are read; 1,000,000 rows of a few columns fit.
pub const MAX_IMPORT_BYTES: usize = 1024 * 1024 * 1024;

#[derive(Serialize, ToSchema)]
pub struct ImportView {
    pub id: String,
    /// accepted, accepted_with_warnings, quarantined, approved or rejected.
    pub status: String,
    /// 0 (looks bought) to 100 (looks like the workspace's own users).
    pub score: Option<i64>,
    pub source: String,
    pub description: Option<String>,
    pub consent: String,
    pub consent_statement: Option<String>,
    #[schema(value_type = Object)]
    pub counts: Value,
    /// Why points were taken off the score.
    #[schema(value_type = Vec<Object>)]
    pub signals: Value,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub reviewed_at: Option<String>,
    pub review_note: Option<String>,
    /// The rejected rows, with their reasons, as CSV.
    pub rejects_url: String,
}

impl ImportView {
    /// The workspace's view: how many addresses other workspaces suppress is
    /// the operator's to see (it would tell one tenant about another's list).
    fn from(r: ImportRecord) -> Self {
        let mut view = Self::for_operator(r);
        if let Value::Object(counts) = &mut view.counts {
            counts.remove("suppressed_elsewhere");
            counts.remove(CROSS_TENANT);
        }
        view
    }

    fn for_operator(r: ImportRecord) -> Self {
        Self {
            rejects_url: format!("/v1/imports/{}/rejects.csv", r.id),
            id: r.id,
            status: r.status,
            score: r.score,
            source: r.source,
            description: r.description,
            consent: r.consent,
            consent_statement: r.consent_statement,
            counts: r.counts.unwrap_or(Value::Null),
            signals: r.signals.unwrap_or(Value::Array(Vec::new())),
            created_at: r.created_at.to_rfc3339(),
            finished_at: r.finished_at.map(Timestamp::to_rfc3339),
            reviewed_at: r.reviewed_at.map(Timestamp::to_rfc3339),
            review_note: r.review_note,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// What the operator found; the workspace sees it.
    pub note: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OperatorImportQuery {
    /// e.g. quarantined
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)))
        .routes(routes!(list))
        .routes(routes!(get_one))
        .routes(routes!(rejects))
        .routes(routes!(operator_list))
        .routes(routes!(operator_get))
        .routes(routes!(approve))
        .routes(routes!(reject))
}

/// An upload as it arrives: chunks of bytes, or why reading stopped.
pub(crate) type BodyStream = std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The request body as a stream of bytes: a CSV body, or the first file of a multipart form.
async fn body_stream(req: Request, state: &AppState) -> Result<BodyStream, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "text/csv" | "application/csv" | "text/plain" => Ok(Box::pin(with_stall_limit(
            axum::RequestExt::into_limited_body(req)
                .into_data_stream()
                .map(|r| r.map_err(|e| std::io::Error::other(e.to_string()))),
        ))),
        "multipart/form-data" => multipart_file_stream(req, state).await,
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "The body must be CSV",
            "Send the CSV as the body with Content-Type: text/csv, or as a multipart/form-data field named file.",
        )),
    }
}

/// The file of a multipart form, as a stream, once the form is known to
/// hold one.
async fn multipart_file_stream(req: Request, state: &AppState) -> Result<BodyStream, ApiError> {
    form_upload(req, state).await.map(|(_, stream)| stream)
}

/// Text fields a form may send before its file, and the size of each.
const MAX_FORM_FIELDS: usize = 32;
const MAX_FORM_FIELD_BYTES: usize = 16 * 1024;

/// A multipart form with a file: the text fields sent before the file (so
/// a page puts its declaration and CSRF token first) and the file as a
/// stream. The console's upload and the API's multipart body both use it.
pub(crate) async fn form_upload(
    req: Request,
    state: &AppState,
) -> Result<(Vec<(String, String)>, BodyStream), ApiError> {
    let form = axum::extract::Multipart::from_request(req, state)
        .await
        .map_err(|e| {
            ApiError::bad_request(format!("The multipart body could not be read: {e}."))
        })?;
    // A field borrows the form, so a task owns both and passes the
    // file's chunks on; the channel keeps memory flat.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    let (found_tx, found_rx) = tokio::sync::oneshot::channel::<FormStart>();
    tokio::spawn(forward_form_file(form, tx, found_tx));
    let fields = found_rx
        .await
        .map_err(|_| ApiError::bad_request("The multipart body ended early."))??;
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((fields, Box::pin(with_stall_limit(stream))))
}

/// What a form held before its file, or why it could not be read.
type FormStart = Result<Vec<(String, String)>, ApiError>;

/// Finds the form's file (the field named file, or the first with a file
/// name), says on `found` whether there is one (with the text fields
/// before it), and sends its chunks to `tx`. A problem before the file is
/// found goes to `found`, after it to `tx`.
async fn forward_form_file(
    mut form: axum::extract::Multipart,
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    found: tokio::sync::oneshot::Sender<FormStart>,
) {
    let mut fields = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => {
                let _ = found.send(Err(ApiError::invalid(
                    "The form has no file: send the CSV in a field named file.",
                )));
                return;
            }
            Err(e) => {
                let err = format!("The multipart body could not be read: {e}.");
                let _ = found.send(Err(ApiError::bad_request(err)));
                return;
            }
        };
        if field.name() == Some("file") || field.file_name().is_some() {
            let _ = found.send(Ok(fields));
            return forward_chunks(field, &tx).await;
        }
        let name = field.name().unwrap_or("").to_owned();
        match text_field(field).await {
            Some(value) if fields.len() < MAX_FORM_FIELDS => fields.push((name, value)),
            _ => {
                let _ = found.send(Err(ApiError::bad_request(format!(
                    "The form's fields before the file are too many or too long (at most {MAX_FORM_FIELDS} of {} KiB).",
                    MAX_FORM_FIELD_BYTES / 1024
                ))));
                return;
            }
        }
    }
}

/// A text field's value, if it is UTF-8 and at most [`MAX_FORM_FIELD_BYTES`].
async fn text_field(mut field: axum::extract::multipart::Field<'_>) -> Option<String> {
    let mut value = Vec::new();
    while let Ok(Some(chunk)) = field.chunk().await {
        if value.len() + chunk.len() > MAX_FORM_FIELD_BYTES {
            return None;
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value).ok()
}

/// Sends a field's chunks on until it ends, fails, or no one reads them.
async fn forward_chunks(
    mut field: axum::extract::multipart::Field<'_>,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
) {
    loop {
        match field.chunk().await {
            Ok(Some(bytes)) => {
                if tx.send(Ok(bytes)).await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                return;
            }
        }
    }
}

/// How long an upload may send nothing before it is abandoned.
const STALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

fn with_stall_limit(
    stream: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::unfold(Box::pin(stream), |mut stream| async move {
        match tokio::time::timeout(STALL_LIMIT, stream.next()).await {
            Ok(Some(item)) => Some((item, stream)),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the upload sent nothing for 30 seconds",
                )),
                stream,
            )),
        }
    })
}

/// How an upload must arrive before an import starts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadLimits {
    /// The whole upload, from the first byte to the last.
    pub deadline: std::time::Duration,
    /// Bytes a second on average, once the grace period is over.
    pub min_rate: u64,
    pub grace: std::time::Duration,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            deadline: std::time::Duration::from_secs(30 * 60),
            min_rate: 8 * 1024,
            grace: std::time::Duration::from_secs(60),
        }
    }
}

fn upload_too_slow(detail: String) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "upload-too-slow",
        "The upload was too slow",
        format!("{detail}. Nothing was imported; send the file again over a faster connection, or split it."),
    )
}

/// Writes the upload to an anonymous temporary file (gone when dropped),
/// holding it to the deadline, the minimum rate and the stall limit, and
/// hands the file back at its start.
pub(crate) async fn spool(
    mut stream: BodyStream,
    limits: UploadLimits,
) -> Result<std::fs::File, ApiError> {
    use tokio::io::AsyncWriteExt;
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&format!("cannot make a spool file: {e}")))?;
    let mut file = tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file));
    let started = std::time::Instant::now();
    let mut total: u64 = 0;
    loop {
        let left = limits.deadline.saturating_sub(started.elapsed());
        let chunk = match tokio::time::timeout(left, stream.next()).await {
            Err(_) => {
                return Err(upload_too_slow(format!(
                    "The upload took longer than {} seconds",
                    limits.deadline.as_secs()
                )))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(unreadable_upload(e)),
            Ok(Some(Ok(bytes))) => bytes,
        };
        total += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(&format!("cannot write the spool file: {e}")))?;
        check_rate(&limits, started.elapsed(), total)?;
    }
    file.flush()
        .await
        .map_err(|e| ApiError::internal(&format!("cannot write the spool file: {e}")))?;
    let mut file = file.into_inner().into_std().await;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))
        .map_err(|e| ApiError::internal(&format!("cannot read the spool file: {e}")))?;
    Ok(file)
}

/// Why an upload could not be read: it stalled, it was over the size
/// limit, or the connection failed.
fn unreadable_upload(e: std::io::Error) -> ApiError {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return upload_too_slow(format!("The upload stopped: {e}"));
    }
    let text = e.to_string();
    if text.contains("length limit") {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file-too-large",
            "The file is too large",
            format!("An import takes at most {MAX_IMPORT_BYTES} bytes; split the file. Nothing was imported."),
        );
    }
    ApiError::bad_request(format!("The upload could not be read: {text}."))
}

/// Refuses an upload that, once the grace period is over, has averaged
/// less than the minimum rate.
fn check_rate(
    limits: &UploadLimits,
    elapsed: std::time::Duration,
    total: u64,
) -> Result<(), ApiError> {
    if let Some(timed) = elapsed.checked_sub(limits.grace) {
        let needed = limits.min_rate.saturating_mul(timed.as_secs());
        if total < needed {
            return Err(upload_too_slow(format!(
                "The upload arrived at less than {} bytes a second",
                limits.min_rate
            )));
        }
    }
    Ok(())
}

/// Imports a CSV of contacts.
#[utoipa::path(post, path = "/v1/imports", tag = "imports", security(("bearer" = [])), params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = ImportView), (status = 422, body = crate::error::Problem), (status = 413, body = crate::error::Problem)))]
pub async fn create(
    Ws { state, caller, .. }: Ws<can::WriteContacts>,
    ApiQuery(query): ApiQuery<ImportQuery>,
    req: Request,
) -> ApiResult<(StatusCode, Json<ImportView>)> {
    let declared_charset = query.charset.clone().or_else(|| {
        req.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(';')
                    .filter_map(|p| p.trim().split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
                    .map(|(_, v)| v.trim().trim_matches('"').to_owned())
            })
    });
    let decl = declaration(query, caller.actor())?;
    let stream = body_stream(req, &state).await?;
    let spooled = spool(stream, state.delivery().upload).await?;
    let ws = caller.workspace().clone();
    let done =
        crate::import::run(&state, &ws, caller.actor(), decl, spooled, declared_charset).await?;
    let status = if done.nothing_imported {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(ImportView::from(done.record))))
}

/// The workspace's imports, newest first, a page at a time.
#[utoipa::path(get, path = "/v1/imports", tag = "imports", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<ImportView>)))]
pub async fn list(
    Ws { state, caller, .. }: Ws<can::Read>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ImportView>>> {
    let page = Page::read(
        query.cursor.as_deref(),
        query.limit,
        |after, n| {
            state
                .store
                .list_imports(Some(caller.workspace()), None, after, n)
        },
        |r| r.id.clone(),
    )
    .await?;
    Ok(Json(page.map(ImportView::from)))
}

fn import_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("There is no import '{id}'."))
}

/// One import's report.
#[utoipa::path(get, path = "/v1/imports/{id}", tag = "imports", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ImportView), (status = 404, body = crate::error::Problem)))]
pub async fn get_one(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<Json<ImportView>> {
    let r = state
        .store
        .import_record(Some(caller.workspace()), &id)
        .await?
        .ok_or_else(|| import_not_found(&id))?;
    Ok(Json(ImportView::from(r)))
}

/// The rows an import did not store, with the reason for each, as CSV.
#[utoipa::path(get, path = "/v1/imports/{id}/rejects.csv", tag = "imports", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, content_type = "text/csv", body = String)))]
pub async fn rejects(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let csv = state
        .store
        .import_rejects(caller.workspace(), &id)
        .await?
        .ok_or_else(|| import_not_found(&id))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv))
}

/// Imports across workspaces, each with its workspace, e.g.
/// `?status=quarantined` (operator).
#[utoipa::path(get, path = "/v1/operator/imports", tag = "operator", security(("bearer" = [])),
    params(OperatorImportQuery), responses((status = 200, body = Page<OperatorImportView>)))]
pub async fn operator_list(
    State(state): State<AppState>,
    _operator: OperatorCaller,
    ApiQuery(q): ApiQuery<OperatorImportQuery>,
) -> ApiResult<Json<Page<OperatorImportView>>> {
    let page = Page::read(
        q.cursor.as_deref(),
        q.limit,
        |after, n| {
            state
                .store
                .list_imports(None, q.status.as_deref(), after, n)
        },
        |r| r.id.clone(),
    )
    .await?;
    Ok(Json(page.map(OperatorImportView::from)))
}

#[derive(Serialize, ToSchema)]
pub struct OperatorImportView {
    pub workspace_id: String,
    #[serde(flatten)]
    pub import: ImportView,
}

impl From<ImportRecord> for OperatorImportView {
    fn from(r: ImportRecord) -> Self {
        Self {
            workspace_id: r.workspace_id.clone(),
            import: ImportView::for_operator(r),
        }
    }
}

/// One import with its workspace (operator).
#[utoipa::path(get, path = "/v1/operator/imports/{id}", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = OperatorImportView)))]
pub async fn operator_get(
    State(state): State<AppState>,
    _operator: OperatorCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<OperatorImportView>> {
    let r = state
        .store
        .import_record(None, &id)
        .await?
        .ok_or_else(|| import_not_found(&id))?;
    Ok(Json(OperatorImportView::from(r)))
}

async fn review(
    state: &AppState,
    actor: &str,
    id: &str,
    approve: bool,
    note: &str,
) -> ApiResult<Json<ImportView>> {
    let note = super::label("note", note, 2000)?;
    match state
        .store
        .review_import(id, approve, note.as_str(), actor)
        .await?
    {
        Ok(r) => Ok(Json(ImportView::from(r))),
        Err(ReviewError::NotFound) => Err(import_not_found(id)),
        Err(ReviewError::NotQuarantined(status)) => Err(ApiError::conflict(
            "not-quarantined",
            format!("import {id} is {status}, not quarantined: there is nothing to review"),
        )),
    }
}

/// Approves a quarantined import: its contacts become mailable (operator).
#[utoipa::path(post, path = "/v1/operator/imports/{id}/approve", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReviewRequest, responses((status = 200, body = ImportView)))]
pub async fn approve(
    Acting { state, operator }: Acting,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> ApiResult<Json<ImportView>> {
    review(&state, operator.actor(), &id, true, &req.note).await
}

/// Rejects a quarantined import: its contacts stay unmailable (operator).
#[utoipa::path(post, path = "/v1/operator/imports/{id}/reject", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReviewRequest, responses((status = 200, body = ImportView)))]
pub async fn reject(
    Acting { state, operator }: Acting,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> ApiResult<Json<ImportView>> {
    review(&state, operator.actor(), &id, false, &req.note).await
}
