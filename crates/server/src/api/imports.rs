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

use super::addresses::CheckView;
use super::contacts::stamp;
use super::suppressions::csv_field;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, OperatorCaller, WorkspaceCaller};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use futures_util::{Stream, StreamExt};
use sendwell_core::consent::{ConsentAction, ConsentMethod, Evidence, NewConsentEvent, Topic};
use sendwell_core::text::Label;
use sendwell_core::{AttributeName, AttributeType, EmailAddress, Permission, Timestamp};
use sendwell_screen::score::{assess, Context, ImportCounts};
use sendwell_screen::{AddressCheck, MailDomainResolver, Verdict};
use sendwell_store::{
    BatchItemProblem, ContactInput, ImportRecord, ImportVerdict, NewImport, ReviewError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub const MAX_ROWS: u64 = 1_000_000;
/// Bodies up to this size are read; 1,000,000 rows of a few columns fit.
pub const MAX_IMPORT_BYTES: usize = 1024 * 1024 * 1024;
const BATCH: usize = 2000;

/// How a list was procured. The refused kinds are refused by name.
const SOURCES: &[&str] = &[
    "signup_form",
    "product_users",
    "event_signup",
    "customer_records",
    "migration",
    "other",
];
const REFUSED_SOURCES: &[&str] = &[
    "purchased",
    "rented",
    "scraped",
    "borrowed",
    "bought",
    "list_broker",
];
const CONSENTS: &[&str] = &["none", "opt_in", "double_opt_in"];

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// How the list was procured: signup_form, product_users, event_signup,
    /// customer_records, migration, or other (with a description).
    pub source: Option<String>,
    pub description: Option<String>,
    /// Whether the people on the list agreed to marketing: none (default),
    /// opt_in or double_opt_in. Declared consent becomes ledger events.
    pub consent: Option<String>,
    /// How consent was collected (required unless consent is none), e.g.
    /// "Checkbox 'Email me product news' on our sign-up form, 2024-2026".
    pub consent_statement: Option<String>,
    /// Defaults to marketing.
    pub consent_topic: Option<String>,
    /// offline (default) or dns: DNS asks once per distinct domain.
    pub checks: Option<String>,
    /// The file's text encoding, when it is not UTF-8: windows-1252,
    /// iso-8859-1, utf-16le... (the `charset` of the Content-Type works
    /// too). Without either, a file that is not UTF-8 is read as
    /// windows-1252, and the report says so.
    pub charset: Option<String>,
}

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

/// The operator's part of an import's counts: what other workspaces'
/// suppressions say about the list, and the score and status they would
/// give it.
const CROSS_TENANT: &str = "cross_tenant";

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

#[derive(Serialize, ToSchema)]
pub struct ImportList {
    pub items: Vec<ImportView>,
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

/// The declaration, parsed.
struct Declaration {
    meta: NewImport,
    consent: Option<(ConsentAction, Topic, String)>,
    dns: bool,
}

fn declaration(q: ImportQuery, actor: String) -> Result<Declaration, ApiError> {
    let source = q
        .source
        .as_deref()
        .map(|s| s.trim().to_lowercase())
        .ok_or_else(|| {
            ApiError::invalid_field(
                "/source",
                format!(
                    "say how this list was procured: source={}",
                    SOURCES.join(" | ")
                ),
            )
        })?;
    if REFUSED_SOURCES.contains(&source.as_str()) {
        return Err(ApiError::invalid_field(
            "/source",
            format!(
                "lists that were {source} cannot be imported: the sending guidelines (section 2, \"Mail only your own, \
                 real users\") allow only people who signed up with you or bought from you. Bought, rented, borrowed \
                 and scraped lists are not allowed, however they are labelled."
            ),
        ));
    }
    if !SOURCES.contains(&source.as_str()) {
        return Err(ApiError::invalid_field(
            "/source",
            format!("source '{source}' is not one of {}", SOURCES.join(", ")),
        ));
    }
    let description = match q
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        Some(d) => Some(
            Label::parse("description", d, 1000)
                .map_err(|e| ApiError::invalid_field("/description", e.to_string()))?
                .into_string(),
        ),
        None => None,
    };
    if source == "other" && description.is_none() {
        return Err(ApiError::invalid_field(
            "/description",
            "source=other needs a description of how the list was procured",
        ));
    }
    let consent = q.consent.as_deref().unwrap_or("none").trim().to_lowercase();
    if !CONSENTS.contains(&consent.as_str()) {
        return Err(ApiError::invalid_field(
            "/consent",
            format!("consent '{consent}' is not one of {}", CONSENTS.join(", ")),
        ));
    }
    let topic = match q.consent_topic.as_deref() {
        Some(t) => {
            Topic::parse(t).map_err(|e| ApiError::invalid_field("/consent_topic", e.to_string()))?
        }
        None => Topic::marketing(),
    };
    let statement = match q
        .consent_statement
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => Some(
            Label::parse("consent_statement", s, 2000)
                .map_err(|e| ApiError::invalid_field("/consent_statement", e.to_string()))?
                .into_string(),
        ),
        None => None,
    };
    let consent_event = match consent.as_str() {
        "none" => None,
        other => {
            let statement = statement.clone().ok_or_else(|| {
                ApiError::invalid_field(
                    "/consent_statement",
                    "declared consent needs consent_statement: how and when these people agreed, in words you could show them",
                )
            })?;
            let action = if other == "double_opt_in" {
                ConsentAction::DoubleOptInConfirmed
            } else {
                ConsentAction::OptIn
            };
            Some((action, topic.clone(), statement))
        }
    };
    let dns = match q.checks.as_deref().unwrap_or("offline") {
        "offline" => false,
        "dns" => true,
        other => {
            return Err(ApiError::invalid_field(
                "/checks",
                format!("checks '{other}' is not one of offline, dns"),
            ))
        }
    };
    Ok(Declaration {
        meta: NewImport {
            source,
            description,
            consent,
            consent_topic: consent_event
                .as_ref()
                .map(|(_, t, _)| t.as_str().to_owned()),
            consent_statement: statement,
            actor,
        },
        consent: consent_event,
        dns,
    })
}

/// The request body as a stream of bytes: a CSV body, or the first file of a multipart form.
async fn body_stream(
    req: Request,
    state: &AppState,
) -> Result<std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>, ApiError> {
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
    let io_err = |e: String| std::io::Error::other(e);
    match content_type.as_str() {
        "text/csv" | "application/csv" | "text/plain" => Ok(Box::pin(with_stall_limit(
            axum::RequestExt::into_limited_body(req)
                .into_data_stream()
                .map(move |r| r.map_err(|e| io_err(e.to_string()))),
        ))),
        "multipart/form-data" => {
            let mut form = axum::extract::Multipart::from_request(req, state)
                .await
                .map_err(|e| ApiError::bad_request(format!("The multipart body could not be read: {e}.")))?;
            // A field borrows the form, so a task owns both and passes the
            // file's chunks on; the channel keeps memory flat.
            let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
            let (found_tx, found_rx) = tokio::sync::oneshot::channel::<Result<(), ApiError>>();
            tokio::spawn(async move {
                let mut found_tx = Some(found_tx);
                loop {
                    let field = match form.next_field().await {
                        Ok(Some(f)) => f,
                        Ok(None) => {
                            if let Some(f) = found_tx.take() {
                                let _ = f.send(Err(ApiError::invalid(
                                    "The form has no file: send the CSV in a field named file.",
                                )));
                            }
                            return;
                        }
                        Err(e) => {
                            let err = format!("The multipart body could not be read: {e}.");
                            match found_tx.take() {
                                Some(f) => {
                                    let _ = f.send(Err(ApiError::bad_request(err)));
                                }
                                None => {
                                    let _ = tx.send(Err(std::io::Error::other(err))).await;
                                }
                            }
                            return;
                        }
                    };
                    if field.name() != Some("file") && field.file_name().is_none() {
                        continue;
                    }
                    if let Some(f) = found_tx.take() {
                        let _ = f.send(Ok(()));
                    }
                    let mut field = field;
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
            });
            found_rx
                .await
                .map_err(|_| ApiError::bad_request("The multipart body ended early."))??;
            let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
            Ok(Box::pin(with_stall_limit(stream)))
        }
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "The body must be CSV",
            "Send the CSV as the body with Content-Type: text/csv, or as a multipart/form-data field named file.",
        )),
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
async fn spool(
    mut stream: std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
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
            Ok(Some(Err(e))) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(upload_too_slow(format!("The upload stopped: {e}")))
            }
            Ok(Some(Err(e))) => {
                let text = e.to_string();
                if text.contains("length limit") {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "file-too-large",
                        "The file is too large",
                        format!("An import takes at most {MAX_IMPORT_BYTES} bytes; split the file. Nothing was imported."),
                    ));
                }
                return Err(ApiError::bad_request(format!(
                    "The upload could not be read: {text}."
                )));
            }
            Ok(Some(Ok(bytes))) => bytes,
        };
        total += chunk.len() as u64;
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(&format!("cannot write the spool file: {e}")))?;
        let elapsed = started.elapsed();
        if let Some(timed) = elapsed.checked_sub(limits.grace) {
            let needed = limits.min_rate.saturating_mul(timed.as_secs());
            if total < needed {
                return Err(upload_too_slow(format!(
                    "The upload arrived at less than {} bytes a second",
                    limits.min_rate
                )));
            }
        }
    }
    file.flush()
        .await
        .map_err(|e| ApiError::internal(&format!("cannot write the spool file: {e}")))?;
    let mut file = file.into_inner().into_std().await;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))
        .map_err(|e| ApiError::internal(&format!("cannot read the spool file: {e}")))?;
    Ok(file)
}

/// The reason given for a row on the operator's block list.
const BLOCKED: &str = "blocked by the platform operator; this address is never mailed";

/// At most this many rejected rows are listed in the report; the count covers all.
const MAX_LISTED_REJECTS: u64 = 100_000;

/// What the CSV reader hands to the writer.
enum Parsed {
    Batch(Batch),
    /// The reader's tallies, once the file is read.
    Done(Box<Tally>),
    Fatal(ApiError),
}

#[derive(Default)]
struct Batch {
    ready: Vec<Ready>,
    rejected: Vec<(u64, String, String)>,
}

impl Batch {
    /// Room for a whole batch of rows: growing the vector row by row moved
    /// every row several times and kept the allocator busy.
    fn with_capacity() -> Self {
        Self {
            ready: Vec::with_capacity(BATCH),
            rejected: Vec::new(),
        }
    }
}

/// A row that passed the offline checks, ready to be written.
struct Ready {
    line: u64,
    email: String,
    /// The offline checks, kept only when DNS is to be asked as well:
    /// otherwise the reader drops them itself, which is cheaper than the
    /// writer freeing memory another thread allocated.
    check: Option<AddressCheck>,
    input: ContactInput,
}

struct Row {
    line: u64,
    email: String,
    outcome: Result<(AddressCheck, ContactInput), String>,
}

/// The per-row bookkeeping, kept by the reader so the writer only writes.
#[derive(Default)]
struct Tally {
    counts: ImportCounts,
    seen: HashSet<u64>,
    seen_ext: HashSet<u64>,
    domains: HashMap<String, u64>,
}

impl Tally {
    /// Counts a checked row; `Err` with the reason when it is not to be written.
    fn take(
        &mut self,
        row: Row,
        state: &AppState,
        traps: &sendwell_store::TrapList,
        cache: &mut sendwell_screen::address::DomainCache,
        workspace_was_empty: bool,
    ) -> Result<Ready, (u64, String, String)> {
        let counts = &mut self.counts;
        // The trap list is consulted first, whatever else is wrong with the
        // row, and reported without naming the list: the workspace learns
        // that the row is blocked, not which entry matched.
        let trapped = match &row.outcome {
            Ok((check, input)) => traps.matches(
                check.domain.as_deref().unwrap_or(""),
                input.email_hash.as_deref().unwrap_or(""),
            ),
            Err(_) if !traps.is_empty() => match EmailAddress::parse(&row.email) {
                Ok(parsed) => {
                    let check = state.checker().offline_cached(&row.email, cache);
                    traps.matches(
                        check.domain.as_deref().unwrap_or(parsed.domain()),
                        &state.address_hash(&parsed),
                    )
                }
                Err(_) => false,
            },
            Err(_) => false,
        };
        if trapped {
            counts.checked += 1;
            counts.trap += 1;
            return Err((row.line, row.email, BLOCKED.to_owned()));
        }
        let (check, mut input) = match row.outcome {
            Ok(ok) => ok,
            Err(reason) => {
                if reason.starts_with("invalid address") {
                    counts.checked += 1;
                    counts.invalid += 1;
                }
                return Err((row.line, row.email, reason));
            }
        };
        counts.checked += 1;
        counts.count_verdict(&check);
        let key = input
            .email
            .as_ref()
            .map(EmailAddress::key)
            .unwrap_or_default();
        let repeated_email = !self.seen.insert(key_hash(key));
        if repeated_email {
            counts.duplicates += 1;
        }
        let repeated_ext = input
            .external_id
            .as_deref()
            .is_some_and(|x| !self.seen_ext.insert(key_hash(x)));
        // In a workspace that was empty, only a repeat within this file can
        // match a stored contact, so the others skip the look-up.
        input.known_new = workspace_was_empty && !repeated_email && !repeated_ext;
        if let Some(domain) = check.domain.as_deref() {
            if !sendwell_screen::address::is_mailbox_provider(domain) {
                match self.domains.get_mut(domain) {
                    Some(n) => *n += 1,
                    None => {
                        self.domains.insert(domain.to_owned(), 1);
                    }
                }
            }
        }
        input.address = Some(stamp(&check));
        Ok(Ready {
            line: row.line,
            email: row.email,
            check: Some(check),
            input,
        })
    }
}

/// Attribute columns: name, and type once known (from the schema or the first value).
type AttributeColumns = Vec<(String, Option<AttributeType>)>;

#[derive(Clone, Copy)]
enum Column {
    Email,
    ExternalId,
    Name,
    /// `first_name` and `last_name` columns make up the contact's name.
    FirstName,
    LastName,
    CreatedAt,
    LastSeenAt,
    Attribute(usize),
}

fn normalise_header(h: &str) -> String {
    h.trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .replace([' ', '-', '.'], "_")
}

fn columns(
    headers: &csv::StringRecord,
    known: &HashMap<String, AttributeType>,
) -> Result<(Vec<Column>, AttributeColumns), ApiError> {
    let mut cols = Vec::new();
    let mut attrs: Vec<(String, Option<AttributeType>)> = Vec::new();
    let mut seen = HashSet::new();
    for h in headers {
        let name = normalise_header(h);
        let col = match name.as_str() {
            "email" | "email_address" | "e_mail" | "mail" => Column::Email,
            "external_id" | "user_id" | "id" => Column::ExternalId,
            "name" | "full_name" => Column::Name,
            "first_name" | "firstname" | "given_name" => Column::FirstName,
            "last_name" | "lastname" | "surname" | "family_name" => Column::LastName,
            "created_at" | "signed_up_at" => Column::CreatedAt,
            "last_seen_at" => Column::LastSeenAt,
            other => {
                let attr = AttributeName::parse(other).map_err(|e| {
                    ApiError::invalid_field(
                        "/header",
                        format!(
                            "column '{}' cannot be imported: {e}",
                            h.chars().take(80).collect::<String>()
                        ),
                    )
                })?;
                attrs.push((attr.as_str().to_owned(), known.get(attr.as_str()).copied()));
                Column::Attribute(attrs.len() - 1)
            }
        };
        let key = match col {
            Column::Attribute(_) => name.clone(),
            Column::Email => "email".into(),
            Column::ExternalId => "external_id".into(),
            Column::Name => "name".into(),
            Column::FirstName => "first_name".into(),
            Column::LastName => "last_name".into(),
            Column::CreatedAt => "created_at".into(),
            Column::LastSeenAt => "last_seen_at".into(),
        };
        if !seen.insert(key.clone()) {
            return Err(ApiError::invalid_field(
                "/header",
                format!("two columns mean '{key}'; keep one"),
            ));
        }
        cols.push(col);
    }
    if cols.iter().any(|c| matches!(c, Column::Name))
        && cols
            .iter()
            .any(|c| matches!(c, Column::FirstName | Column::LastName))
    {
        return Err(ApiError::invalid_field(
            "/header",
            "the CSV has a name column and first or last name columns; the name is made from either, so keep one or the other",
        ));
    }
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(ApiError::invalid_field(
            "/header",
            "the file is empty: send a CSV whose first line names the columns, one of them email",
        ));
    }
    if !cols.iter().any(|c| matches!(c, Column::Email)) {
        return Err(ApiError::invalid_field(
            "/header",
            "the CSV has no email column: the first line must name the columns, one of them email",
        ));
    }
    Ok((cols, attrs))
}

fn looks_boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

fn number(v: &str) -> Option<serde_json::Number> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if leading_zero || digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return None;
    }
    if let Ok(i) = v.parse::<i64>() {
        return Some(i.into());
    }
    v.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
}

/// The type a column takes from its first value, when the schema has none.
fn infer(v: &str) -> AttributeType {
    if matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no"
    ) {
        AttributeType::Boolean
    } else if number(v).is_some() {
        AttributeType::Number
    } else if v.len() >= 10 && Timestamp::parse(v).is_ok() && v.as_bytes().get(4) == Some(&b'-') {
        AttributeType::Date
    } else {
        AttributeType::String
    }
}

fn convert(column: &str, kind: AttributeType, v: &str) -> Result<Value, String> {
    match kind {
        AttributeType::String => Ok(Value::String(v.to_owned())),
        AttributeType::Number => number(v)
            .map(Value::Number)
            .ok_or_else(|| format!("column {column}: '{v}' is not a number")),
        AttributeType::Boolean => looks_boolean(v)
            .map(Value::Bool)
            .ok_or_else(|| format!("column {column}: '{v}' is not true or false")),
        AttributeType::Date => {
            if v.chars().all(|c| c.is_ascii_digit()) {
                number(v)
                    .map(Value::Number)
                    .ok_or_else(|| format!("column {column}: '{v}' is not a date"))
            } else {
                Ok(Value::String(v.to_owned()))
            }
        }
    }
}

/// Reads the CSV on a blocking thread, checking each address offline.
/// What the reader thread needs besides the file.
struct ReaderContext {
    state: AppState,
    known: HashMap<String, AttributeType>,
    traps: sendwell_store::TrapList,
    workspace_was_empty: bool,
    /// Whether the writer asks DNS about each row's domain.
    dns: bool,
}

/// The text encoding an upload is read with: `None` for UTF-8.
struct Charset {
    encoding: Option<&'static encoding_rs::Encoding>,
    /// Whether it was guessed (the file is not UTF-8 and declared nothing).
    guessed: bool,
}

/// Works out the file's encoding: the declared one, a UTF-16 byte order
/// mark, UTF-8 if every byte of the file is, and windows-1252 (what
/// spreadsheets write on most Western systems) otherwise.
fn detect_charset(file: &mut std::fs::File, declared: Option<&str>) -> Result<Charset, ApiError> {
    use std::io::{Read, Seek, SeekFrom};
    if let Some(label) = declared {
        let encoding = encoding_rs::Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
            ApiError::invalid_field(
                "/charset",
                format!(
                    "charset '{}' is not an encoding sendwell knows: use utf-8, windows-1252, iso-8859-1, utf-16le or another WHATWG label",
                    label.chars().take(40).collect::<String>()
                ),
            )
        })?;
        return Ok(Charset {
            encoding: (encoding != encoding_rs::UTF_8).then_some(encoding),
            guessed: false,
        });
    }
    let io = |e: std::io::Error| ApiError::internal(&format!("cannot read the spool file: {e}"));
    let mut buf = vec![0u8; 1 << 20];
    let mut carry = 0usize;
    let mut first = true;
    let utf8;
    loop {
        let n = file.read(&mut buf[carry..]).map_err(io)?;
        let filled = carry + n;
        if first {
            first = false;
            let bom = &buf[..filled.min(2)];
            if bom == b"\xFF\xFE" || bom == b"\xFE\xFF" {
                file.seek(SeekFrom::Start(0)).map_err(io)?;
                return Ok(Charset {
                    encoding: Some(if bom[0] == 0xFF {
                        encoding_rs::UTF_16LE
                    } else {
                        encoding_rs::UTF_16BE
                    }),
                    guessed: false,
                });
            }
        }
        if n == 0 {
            // What is left is an incomplete character at the end.
            utf8 = carry == 0;
            break;
        }
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => carry = 0,
            // An incomplete character at the end of this read is finished
            // by the next one.
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                buf.copy_within(valid..filled, 0);
                carry = filled - valid;
            }
            Err(_) => {
                utf8 = false;
                break;
            }
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(Charset {
        encoding: (!utf8).then_some(encoding_rs::WINDOWS_1252),
        guessed: !utf8,
    })
}

/// Reads `inner` in its encoding and gives UTF-8.
struct Decoding<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    out: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: std::io::Read> Decoding<R> {
    fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Self {
        Self {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            out: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.out.len() {
            if self.done {
                return Ok(0);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.inner.read(&mut chunk)?;
            let last = n == 0;
            self.done = last;
            let room = self
                .decoder
                .max_utf8_buffer_length(n)
                .unwrap_or(n.saturating_mul(3).saturating_add(16));
            let mut text = String::with_capacity(room);
            let _ = self.decoder.decode_to_string(&chunk[..n], &mut text, last);
            self.out = text.into_bytes();
            self.pos = 0;
        }
        let k = buf.len().min(self.out.len() - self.pos);
        buf[..k].copy_from_slice(&self.out[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

/// The separator of the header line: a comma, or the semicolon or tab that
/// spreadsheets write in some locales, whichever the line has most of.
fn sniff_delimiter(start: &[u8]) -> u8 {
    let line = start.split(|b| *b == b'\n').next().unwrap_or(start);
    let count = |d: u8| line.iter().filter(|b| **b == d).count();
    [b';', b'\t']
        .into_iter()
        .filter(|d| count(*d) > count(b','))
        .max_by_key(|d| count(*d))
        .unwrap_or(b',')
}

fn read_csv(
    reader: impl std::io::Read,
    context: ReaderContext,
    out: tokio::sync::mpsc::Sender<Parsed>,
) {
    let ReaderContext {
        state,
        known,
        traps,
        workspace_was_empty,
        dns,
    } = context;
    let mut tally = Tally::default();
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, reader);
    let delimiter = match std::io::BufRead::fill_buf(&mut reader) {
        Ok(start) => sniff_delimiter(start),
        Err(e) => {
            let _ = out.blocking_send(Parsed::Fatal(ApiError::bad_request(format!(
                "The CSV could not be read: {e}."
            ))));
            return;
        }
    };
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(reader);
    let headers = match csv.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            let _ = out.blocking_send(Parsed::Fatal(ApiError::bad_request(format!(
                "The CSV could not be read: {e}."
            ))));
            return;
        }
    };
    let (cols, mut attrs) = match columns(&headers, &known) {
        Ok(c) => c,
        Err(e) => {
            let _ = out.blocking_send(Parsed::Fatal(e));
            return;
        }
    };
    // The schema's cap, before a row is read: a file with thousands of
    // columns is refused whole, not written in part.
    let new: Vec<&str> = attrs
        .iter()
        .filter(|(_, kind)| kind.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    let limit = state.store.max_attributes();
    if known.len().saturating_add(new.len()) > limit {
        let _ = out.blocking_send(Parsed::Fatal(ApiError::invalid_field(
            "/header",
            format!(
                "the file has {} columns that are not attributes yet, and the workspace has {} of its limit of {limit}: \
                 drop the columns you do not need ({}{}), or delete unused attributes with DELETE /v1/attributes/{{name}}. Nothing was imported.",
                new.len(),
                known.len(),
                new.iter().take(5).copied().collect::<Vec<_>>().join(", "),
                if new.len() > 5 { ", ..." } else { "" }
            ),
        )));
        return;
    }
    let mut batch = Batch::with_capacity();
    let mut record = csv::ByteRecord::new();
    let mut domains = sendwell_screen::address::DomainCache::default();
    let mut rows = 0u64;
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let _ = out.blocking_send(Parsed::Fatal(ApiError::bad_request(format!(
                    "The CSV could not be read: {e}."
                ))));
                return;
            }
        }
        rows += 1;
        if rows > MAX_ROWS {
            let _ = out.blocking_send(Parsed::Fatal(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-many-rows",
                "The file has too many rows",
                format!("An import takes at most {MAX_ROWS} rows; split the file. Nothing was imported."),
            )));
            return;
        }
        let line = record.position().map_or(rows + 1, |p| p.line());
        let row = parse_row(
            &record,
            line,
            &cols,
            &mut attrs,
            &state,
            headers.len(),
            &mut domains,
        );
        match tally.take(row, &state, &traps, &mut domains, workspace_was_empty) {
            Ok(mut ready) => {
                if !dns {
                    ready.check = None;
                }
                batch.ready.push(ready);
            }
            Err(rejected) => batch.rejected.push(rejected),
        }
        if batch.ready.len() + batch.rejected.len() >= BATCH
            && out
                .blocking_send(Parsed::Batch(std::mem::replace(
                    &mut batch,
                    Batch::with_capacity(),
                )))
                .is_err()
        {
            return;
        }
    }
    tally.counts.rows = rows;
    if (!batch.ready.is_empty() || !batch.rejected.is_empty())
        && out.blocking_send(Parsed::Batch(batch)).is_err()
    {
        return;
    }
    let _ = out.blocking_send(Parsed::Done(Box::new(tally)));
}

fn parse_row(
    record: &csv::ByteRecord,
    line: u64,
    cols: &[Column],
    attrs: &mut [(String, Option<AttributeType>)],
    state: &AppState,
    width: usize,
    domains: &mut sendwell_screen::address::DomainCache,
) -> Row {
    let mut email = String::new();
    let mut input = ContactInput::default();
    let mut failure: Option<String> = None;
    let (mut first, mut last) = (None::<&str>, None::<&str>);
    if record.len() != width {
        failure = Some(format!(
            "the row has {} fields; the header has {width}",
            record.len()
        ));
    }
    for (field, col) in record.iter().zip(cols) {
        let Ok(value) = std::str::from_utf8(field) else {
            failure.get_or_insert_with(|| "the row is not valid UTF-8".to_owned());
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let result: Result<(), String> = match col {
            Column::Email => {
                email = value.to_owned();
                Ok(())
            }
            Column::ExternalId => Label::parse("external_id", value, 255)
                .map(|l| input.external_id = Some(l.into_string()))
                .map_err(|e| e.to_string()),
            Column::Name => Label::parse("name", value, 255)
                .map(|l| input.name = Some(l.into_string()))
                .map_err(|e| e.to_string()),
            Column::FirstName => {
                first = Some(value);
                Ok(())
            }
            Column::LastName => {
                last = Some(value);
                Ok(())
            }
            Column::CreatedAt => Timestamp::parse(value)
                .map(|t| input.created_at = Some(t))
                .map_err(|e| e.to_string()),
            Column::LastSeenAt => Timestamp::parse(value)
                .map(|t| input.last_seen_at = Some(t))
                .map_err(|e| e.to_string()),
            Column::Attribute(i) => {
                let (name, kind) = &mut attrs[*i];
                let kind = *kind.get_or_insert_with(|| infer(value));
                convert(name, kind, value).map(|v| {
                    input.attributes.insert(name.clone(), v);
                })
            }
        };
        if let Err(e) = result {
            failure.get_or_insert(e);
        }
    }
    if first.is_some() || last.is_some() {
        let name = [first, last]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if let Err(e) = Label::parse("name", &name, 255).map(|l| input.name = Some(l.into_string()))
        {
            failure.get_or_insert(e.to_string());
        }
    }
    if let Some(reason) = failure {
        return Row {
            line,
            email,
            outcome: Err(reason),
        };
    }
    if email.is_empty() {
        return Row {
            line,
            email,
            outcome: Err("no email address".to_owned()),
        };
    }
    let mut check = state.checker().offline_cached(&email, domains);
    let outcome = match check.parsed.take() {
        Some(parsed) if check.verdict != Verdict::Invalid => {
            input.email_hash = Some(state.address_hash(&parsed));
            input.email = Some(parsed);
            Ok((check, input))
        }
        _ => Err(check_reason(&check)),
    };
    Row {
        line,
        email,
        outcome,
    }
}

fn check_reason(check: &AddressCheck) -> String {
    let view = CheckView::from(check);
    let details: Vec<String> = view
        .details
        .iter()
        .map(|d| format!("{}: {}", d.code, d.detail))
        .collect();
    format!("invalid address ({})", details.join("; "))
}

fn key_hash(key: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// Imports a CSV of contacts.
#[utoipa::path(post, path = "/v1/imports", tag = "imports", security(("bearer" = [])), params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = ImportView), (status = 422, body = crate::error::Problem), (status = 413, body = crate::error::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: WorkspaceCaller,
    ApiQuery(query): ApiQuery<ImportQuery>,
    req: Request,
) -> ApiResult<(StatusCode, Json<ImportView>)> {
    caller.require(Permission::WriteContacts)?;
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
    let mut spooled = spool(stream, state.delivery().upload).await?;
    let (spooled, charset) = tokio::task::spawn_blocking(move || {
        detect_charset(&mut spooled, declared_charset.as_deref()).map(|c| (spooled, c))
    })
    .await
    .map_err(|e| ApiError::internal(&format!("the charset check stopped: {e}")))??;
    let charset_name = charset.encoding.map(|e| e.name().to_ascii_lowercase());
    let guessed = charset.guessed;
    let ws = caller.workspace().clone();
    let known: HashMap<String, AttributeType> = state
        .store
        .attribute_schema(&ws)
        .await?
        .into_iter()
        .map(|(n, t, _)| (n, t))
        .collect();
    let traps = state.store.trap_list().await?;
    let any_suppressions = state.store.any_suppressions().await?;
    let mut session = state.store.begin_import(&ws, &decl.meta).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Parsed>(4);
    let context = ReaderContext {
        state: state.clone(),
        known,
        traps,
        workspace_was_empty: session.existing_contacts == 0,
        dns: decl.dns,
    };
    let reader_task = tokio::task::spawn_blocking(move || match charset.encoding {
        Some(encoding) => read_csv(Decoding::new(spooled, encoding), context, tx),
        None => read_csv(spooled, context, tx),
    });

    // Counts made here: what DNS, the suppression lists and the write add.
    let mut counts = ImportCounts::default();
    let mut tally: Option<Box<Tally>> = None;
    // Verdict counts of rows the reader counted and DNS then found invalid.
    let mut found_invalid = ImportCounts::default();
    let mut rejects = String::from("line,email,reason\n");
    let mut timing = [std::time::Duration::ZERO; 4];
    let mut mark = std::time::Instant::now();
    let mut reasons: HashMap<String, u64> = HashMap::new();
    let mut reject = |line: u64, email: &str, reason: &str, counts: &mut ImportCounts| {
        counts.rejected += 1;
        let kind: String = reason
            .split(['(', ':'])
            .next()
            .unwrap_or(reason)
            .trim()
            .chars()
            .take(80)
            .collect();
        if reasons.len() < 100 || reasons.contains_key(&kind) {
            *reasons.entry(kind).or_default() += 1;
        }
        if counts.rejected <= MAX_LISTED_REJECTS {
            let short = |t: &str| t.chars().take(300).collect::<String>();
            rejects.push_str(&format!(
                "{line},{},{}\n",
                csv_field(&short(email)),
                csv_field(&short(reason))
            ));
        }
    };
    while let Some(msg) = rx.recv().await {
        timing[0] += mark.elapsed();
        mark = std::time::Instant::now();
        let batch = match msg {
            Parsed::Batch(batch) => batch,
            Parsed::Done(t) => {
                tally = Some(t);
                continue;
            }
            Parsed::Fatal(e) => return Err(e),
        };
        for (line, email, reason) in &batch.rejected {
            reject(*line, email, reason, &mut counts);
        }
        let mut items = Vec::with_capacity(batch.ready.len());
        let mut lines = Vec::with_capacity(batch.ready.len());
        for mut row in batch.ready {
            if let Some(before) = row.check.take() {
                if let Some(domain) = before.domain.as_deref() {
                    let check = before
                        .clone()
                        .with_dns(&state.resolver().resolve(domain).await.answer);
                    if check.verdict == Verdict::Invalid {
                        reject(row.line, &row.email, &check_reason(&check), &mut counts);
                        found_invalid.count_verdict(&before);
                        found_invalid.invalid += 1;
                        continue;
                    }
                    if check.verdict != before.verdict {
                        row.input.address = Some(stamp(&check));
                    }
                }
            }
            items.push(row.input);
            lines.push((row.line, row.email));
        }
        timing[1] += mark.elapsed();
        mark = std::time::Instant::now();
        let (here, elsewhere) = if any_suppressions {
            let hashes: Vec<String> = items.iter().filter_map(|i| i.email_hash.clone()).collect();
            session.suppressed(&hashes).await?
        } else {
            Default::default()
        };
        timing[2] += mark.elapsed();
        mark = std::time::Instant::now();
        counts.suppressed_here += here.len() as u64;
        counts.suppressed_elsewhere += elsewhere.len() as u64;
        let (outcomes, errors) = session.write(&items).await?;
        for e in errors {
            let (line, email) = &lines[e.index];
            let reason = match e.problem {
                BatchItemProblem::Attribute(a) => a.to_string(),
                BatchItemProblem::Conflict(c) => c,
            };
            reject(*line, email, &reason, &mut counts);
        }
        for o in &outcomes {
            match o.status {
                sendwell_store::UpsertStatus::Created => counts.created += 1,
                sendwell_store::UpsertStatus::Updated => counts.updated += 1,
            }
        }
        counts.imported += outcomes.len() as u64;
        timing[3] += mark.elapsed();
        mark = std::time::Instant::now();
        if let Some((action, topic, statement)) = &decl.consent {
            let events: Vec<NewConsentEvent> = outcomes
                .iter()
                .map(|o| NewConsentEvent {
                    contact_id: o.id.clone(),
                    action: *action,
                    topic: topic.clone(),
                    method: ConsentMethod::Import,
                    actor: caller.actor(),
                    evidence: Evidence {
                        declaration: Some(format!(
                            "{statement} (declared with import {} from source {}, line {})",
                            session.id, decl.meta.source, lines[o.index].0
                        )),
                        ..Evidence::default()
                    },
                })
                .collect();
            session.record_consent(events).await?;
        }
    }
    reader_task
        .await
        .map_err(|e| ApiError::internal(&format!("the CSV reader stopped: {e}")))?;
    session.consent_declared().await?;
    let tally =
        tally.ok_or_else(|| ApiError::internal(&"the CSV reader ended without its tallies"))?;
    let Tally {
        counts: mut total,
        domains,
        ..
    } = *tally;
    total.add(&counts);
    total.take_back(&found_invalid, found_invalid.invalid);
    let counts = total;
    tracing::info!(
        import = %session.id,
        rows = counts.rows,
        waiting_for_rows_ms = timing[0].as_millis() as u64,
        checks_ms = timing[1].as_millis() as u64,
        suppression_lookups_ms = timing[2].as_millis() as u64,
        writes_ms = timing[3].as_millis() as u64,
        "import read; times are where the importing request spent its time"
    );
    let top = domains.values().max().copied().unwrap_or(0);
    let context = Context {
        existing_contacts: session.existing_contacts,
        top_domain_share: if counts.checked == 0 {
            0.0
        } else {
            top as f64 / counts.checked as f64
        },
    };
    // What other workspaces suppress is the operator's to know: the
    // workspace's score, status and signals are worked out without it (any
    // threshold on it could be probed one address at a time by a tenant
    // with a second workspace), and the operator sees what it would change.
    let own_counts = ImportCounts {
        suppressed_elsewhere: 0,
        ..counts.clone()
    };
    let assessment = assess(&own_counts, context, state.thresholds());
    let with_others = assess(&counts, context, state.thresholds());
    let mut counts_json = serde_json::to_value(&counts).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut counts_json {
        m.insert(
            CROSS_TENANT.into(),
            serde_json::json!({
                "suppressed_elsewhere": counts.suppressed_elsewhere,
                "score": with_others.score,
                "status": with_others.status.as_str(),
                "signals": with_others.signals.iter().filter(|s| s.code == "suppressed_elsewhere").collect::<Vec<_>>(),
            }),
        );
    }
    if counts.rejected > MAX_LISTED_REJECTS {
        rejects.push_str(&format!(
            ",,\"and {} more rejected rows, counted but not listed\"\n",
            counts.rejected - MAX_LISTED_REJECTS
        ));
    }
    if let Value::Object(m) = &mut counts_json {
        m.insert(
            "charset".into(),
            Value::from(charset_name.clone().unwrap_or_else(|| "utf-8".to_owned())),
        );
        if guessed {
            m.insert("charset_guessed".into(), Value::from(true));
        }
    }
    let mut signals = serde_json::to_value(&assessment.signals).unwrap_or(Value::Null);
    let mut status = assessment.status.as_str().to_owned();
    let mut score = i64::from(assessment.score);
    // An import that stored nothing failed, whatever its score says.
    let nothing = counts.imported == 0;
    if nothing {
        status = "rejected".to_owned();
        score = 0;
        let mut top: Vec<(&String, &u64)> = reasons.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let why: Vec<String> = top
            .iter()
            .take(5)
            .map(|(r, n)| format!("{r} ({n} rows)"))
            .collect();
        let detail = if counts.rows == 0 {
            "The file has a header but no rows.".to_owned()
        } else {
            format!(
                "No row could be imported: {}. GET /v1/imports/{}/rejects.csv lists each row with its reason.",
                why.join("; "),
                session.id
            )
        };
        if let Value::Array(list) = &mut signals {
            list.insert(
                0,
                serde_json::json!({"code": "nothing_imported", "share": 1.0, "points": 100.0, "detail": detail}),
            );
        }
    }
    let verdict = ImportVerdict {
        status,
        score,
        counts: counts_json,
        signals,
        rejects_csv: rejects,
    };
    let record = session.finish(verdict).await?.map_err(|errors| {
        ApiError::conflict(
            "concurrent-change",
            format!(
                "{} attribute types were fixed by a concurrent request; import again",
                errors.len()
            ),
        )
    })?;
    let status = if nothing {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(ImportView::from(record))))
}

/// The workspace's imports.
#[utoipa::path(get, path = "/v1/imports", tag = "imports", security(("bearer" = [])), responses((status = 200, body = ImportList)))]
pub async fn list(
    State(state): State<AppState>,
    caller: WorkspaceCaller,
) -> ApiResult<Json<ImportList>> {
    caller.require(Permission::Read)?;
    let items = state
        .store
        .list_imports(Some(caller.workspace()), None, None, 1000)
        .await?;
    Ok(Json(ImportList {
        items: items.into_iter().map(ImportView::from).collect(),
    }))
}

fn import_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("There is no import '{id}'."))
}

/// One import's report.
#[utoipa::path(get, path = "/v1/imports/{id}", tag = "imports", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ImportView), (status = 404, body = crate::error::Problem)))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: WorkspaceCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<ImportView>> {
    caller.require(Permission::Read)?;
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
    State(state): State<AppState>,
    caller: WorkspaceCaller,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    caller.require(Permission::Read)?;
    let csv = state
        .store
        .import_rejects(caller.workspace(), &id)
        .await?
        .ok_or_else(|| import_not_found(&id))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv))
}

/// Imports across workspaces, e.g. `?status=quarantined` (operator).
#[utoipa::path(get, path = "/v1/operator/imports", tag = "operator", security(("bearer" = [])),
    params(OperatorImportQuery), responses((status = 200, body = ImportList)))]
pub async fn operator_list(
    State(state): State<AppState>,
    _operator: OperatorCaller,
    ApiQuery(q): ApiQuery<OperatorImportQuery>,
) -> ApiResult<Json<ImportList>> {
    let limit = super::page_limit(q.limit)?;
    let items = state
        .store
        .list_imports(None, q.status.as_deref(), q.cursor.as_deref(), limit)
        .await?;
    Ok(Json(ImportList {
        items: items.into_iter().map(ImportView::from).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct OperatorImportView {
    pub workspace_id: String,
    #[serde(flatten)]
    pub import: ImportView,
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
    Ok(Json(OperatorImportView {
        workspace_id: r.workspace_id.clone(),
        import: ImportView::for_operator(r),
    }))
}

async fn review(
    state: &AppState,
    id: &str,
    approve: bool,
    note: &str,
) -> ApiResult<Json<ImportView>> {
    let note = Label::parse("note", note, 2000)
        .map_err(|e| ApiError::invalid_field("/note", e.to_string()))?;
    match state
        .store
        .review_import(id, approve, note.as_str())
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
    State(state): State<AppState>,
    _operator: OperatorCaller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> ApiResult<Json<ImportView>> {
    review(&state, &id, true, &req.note).await
}

/// Rejects a quarantined import: its contacts stay unmailable (operator).
#[utoipa::path(post, path = "/v1/operator/imports/{id}/reject", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ReviewRequest, responses((status = 200, body = ImportView)))]
pub async fn reject(
    State(state): State<AppState>,
    _operator: OperatorCaller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviewRequest>,
) -> ApiResult<Json<ImportView>> {
    review(&state, &id, false, &req.note).await
}
