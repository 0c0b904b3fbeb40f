//! Report a concern: anyone who received a message (or saw one) can report
//! it, by the link in its footer or its Message-ID, without an account.
//! A report reaches the operator linked to the workspace. It counts as a
//! complaint (the recipient is suppressed and opted out of every topic, and
//! the workspace's complaint rate rises) only when it proves that its
//! sender received the mail: the signed unsubscribe link from the footer,
//! or the Message-ID header with the MAC sendwell puts in it. A bare id
//! proves nothing (ids are not secret), so such a report is kept for the
//! operator and changes nothing else. Rate-limited per client address.

use crate::error::{ApiError, ApiResult};
use crate::extract::{client_ip, Acting, ApiJson, OperatorCaller};
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use sendwell_mail::Purpose;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report))
        .routes(routes!(list))
        .routes(routes!(handle))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// The unsubscribe link from the message's footer (or only its token).
    #[serde(default)]
    pub link: Option<String>,
    /// Or the message's Message-ID header, e.g. `<msg_...@mail.example.com>`.
    #[serde(default)]
    pub message_id: Option<String>,
    /// What is wrong with it.
    pub reason: String,
    /// How to reach the person reporting, if they want an answer.
    #[serde(default)]
    pub reporter: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReportView {
    pub id: String,
    pub workspace_id: String,
    pub message_id: String,
    pub reason: String,
    pub reporter: Option<String>,
    /// Whether the report proved receipt of the mail; only a proven report
    /// counts as a complaint.
    pub proven: bool,
    pub created_at: String,
    /// When an operator marked it handled, by whom, with what note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handled: Option<HandledView>,
}

#[derive(Serialize, ToSchema)]
pub struct HandledView {
    pub at: String,
    pub by: String,
    pub note: String,
}

impl From<sendwell_store::ConcernReport> for ReportView {
    fn from(r: sendwell_store::ConcernReport) -> Self {
        Self {
            id: r.id,
            workspace_id: r.workspace_id.to_string(),
            message_id: r.message_id,
            reason: r.reason,
            reporter: r.reporter,
            proven: r.proven,
            created_at: r.created_at.to_rfc3339(),
            handled: r.handled.map(|h| HandledView {
                at: h.at.to_rfc3339(),
                by: h.by,
                note: h.note,
            }),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReportList {
    pub items: Vec<ReportView>,
}

/// Reports a message (no authentication; at most 10 reports an hour from one address).
#[utoipa::path(post, path = "/v1/reports", tag = "reports", request_body = ReportRequest,
    responses((status = 202, body = ReportView), (status = 422, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
pub async fn report(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ReportRequest>,
) -> ApiResult<(StatusCode, Json<ReportView>)> {
    let ip = client_ip(state.trusted_proxies(), &headers, peer);
    if !state.allow_report(&ip) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-reports",
            "Too many reports",
            "This address sent many reports in the last hour; try again later.",
        ));
    }
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(ApiError::invalid_field(
            "/reason",
            "say in 1 to 2,000 characters what is wrong with the message",
        ));
    }
    let reporter = parse_reporter(req.reporter.as_deref())?;
    let (delivery, proven) = reported_delivery(&state, &req).await?;
    let saved = file(state, delivery, reason, reporter.as_deref(), &ip, proven).await?;
    Ok((StatusCode::ACCEPTED, Json(saved)))
}

/// How to reach the person reporting, if they said.
fn parse_reporter(reporter: Option<&str>) -> ApiResult<Option<String>> {
    match reporter.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) if r.chars().count() > 320 || r.chars().any(char::is_control) => {
            Err(ApiError::invalid_field(
                "/reporter",
                "give an email address or a name of at most 320 characters",
            ))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

/// The delivery a report names, and whether the report proves that its
/// sender received it.
async fn reported_delivery(
    state: &AppState,
    req: &ReportRequest,
) -> ApiResult<(sendwell_store::DeliveryRef, bool)> {
    let from_link = req.link.as_deref().and_then(|l| {
        let token = l
            .trim()
            .rsplit('/')
            .next()
            .unwrap_or(l)
            .split(['?', '#'])
            .next()?;
        state
            .links()
            .verify(token, Purpose::Unsubscribe, state.store.now())
            .map(|c| format!("{}.{}", c.message, c.contact))
    });
    // Proof of receipt first; a bare Message-ID names a delivery without
    // proving anything.
    let proven_id = from_link.or_else(|| {
        req.message_id
            .as_deref()
            .and_then(|m| state.verp().delivery_of_message_id(m))
    });
    let proven = proven_id.is_some();
    let delivery_id = proven_id.or_else(|| {
        req.message_id
            .as_deref()
            .and_then(sendwell_mail::verp::unverified_delivery_of_message_id)
    });
    let delivery = match delivery_id {
        Some(id) => state.store.delivery_ref(&id).await?,
        None => None,
    };
    let Some(delivery) = delivery else {
        return Err(ApiError::invalid(
            "The message could not be found: give the unsubscribe link from its footer (\"link\") or its Message-ID header (\"message_id\").",
        ));
    };
    Ok((delivery, proven))
}

/// Stores a report; a proven one is a complaint too.
pub(crate) async fn file(
    state: AppState,
    delivery: sendwell_store::DeliveryRef,
    reason: &str,
    reporter: Option<&str>,
    ip: &str,
    proven: bool,
) -> ApiResult<ReportView> {
    let saved = state
        .store
        .add_concern_report(&delivery, reason, reporter, Some(ip), proven)
        .await?;
    if proven {
        crate::feedback::apply_complaint(&state, &delivery, "report", reason).await?;
    } else {
        tracing::info!(
            workspace = %delivery.workspace_id,
            "an unproven report reached the operator's queue"
        );
    }
    Ok(ReportView::from(saved))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// `open` (not handled yet) or `all` (default).
    pub state: Option<String>,
}

/// The most reports one answer lists.
pub const REPORT_LIST_LIMIT: i64 = 200;

/// Reported concerns, newest first, at most 200 (operator).
#[utoipa::path(get, path = "/v1/operator/reports", tag = "operator", security(("bearer" = [])),
    params(ReportQuery), responses((status = 200, body = ReportList)))]
pub async fn list(
    State(state): State<AppState>,
    _operator: OperatorCaller,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<ReportQuery>,
) -> ApiResult<Json<ReportList>> {
    let open = match q.state.as_deref() {
        None | Some("all") => false,
        Some("open") => true,
        Some(other) => {
            return Err(ApiError::invalid_field(
                "/state",
                format!("state is open or all; '{other}' was given"),
            ))
        }
    };
    let items = state
        .store
        .concern_reports(REPORT_LIST_LIMIT, open)
        .await?
        .into_iter()
        .map(ReportView::from)
        .collect();
    Ok(Json(ReportList { items }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandleRequest {
    /// What was done about it.
    pub note: String,
}

/// Marks a report handled, with a note (operator). A report handled
/// already keeps its first handling (409).
#[utoipa::path(post, path = "/v1/operator/reports/{id}/handle", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = HandleRequest,
    responses((status = 200, body = ReportView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn handle(
    Acting { state, operator }: Acting,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(req): ApiJson<HandleRequest>,
) -> ApiResult<Json<ReportView>> {
    let note = super::label("note", &req.note, 2000)?;
    let handled = state
        .store
        .handle_report(&id, operator.actor(), note.as_str())
        .await?;
    let Some((after, handled_now)) = handled else {
        return Err(ApiError::not_found(format!("There is no report '{id}'.")));
    };
    if !handled_now {
        let by = after
            .handled
            .as_ref()
            .map(|h| h.by.as_str())
            .unwrap_or("someone");
        return Err(ApiError::conflict(
            "already-handled",
            format!("Report {id} was handled by {by} already."),
        ));
    }
    Ok(Json(ReportView::from(after)))
}
