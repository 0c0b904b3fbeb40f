//! The operator's content review queue: messages the content screen judged
//! `review` wait here; the operator approves (the deliveries go out) or
//! rejects them with a note the workspace sees.

use super::Page;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Acting, ApiJson, ApiQuery, OperatorCaller};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use sendwell_core::{MessageId, ReviewState};
use sendwell_store::MessageRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(approve))
        .routes(routes!(reject))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    /// `pending` (default), `approved` or `rejected`.
    pub state: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ReviewItem {
    pub message_id: String,
    pub workspace_id: String,
    pub name: String,
    pub kind: String,
    pub from: String,
    pub subject: String,
    /// The screen's verdict, score and every rule that fired.
    #[schema(value_type = Object)]
    pub screening: Option<Value>,
    pub queued: i64,
    pub state: String,
    pub note: Option<String>,
    pub sent_at: Option<String>,
}

impl ReviewItem {
    pub(crate) fn from(m: MessageRecord) -> Self {
        Self {
            message_id: m.id.to_string(),
            workspace_id: m.workspace_id.to_string(),
            name: m.name,
            kind: m.kind.as_str().to_owned(),
            from: match m.from_name {
                Some(n) => format!("{n} <{}>", m.from_address),
                None => m.from_address,
            },
            subject: m.subject,
            screening: m.screening,
            queued: m.queued,
            state: m
                .review_state
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            note: m.review_note,
            sent_at: m.sent_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// What the operator found; the workspace sees it.
    pub note: String,
}

/// Messages waiting for (or decided in) content review.
#[utoipa::path(get, path = "/v1/operator/reviews", tag = "operator", security(("bearer" = [])),
    params(ReviewQuery), responses((status = 200, body = Page<ReviewItem>)))]
pub async fn list(
    State(state): State<AppState>,
    _operator: OperatorCaller,
    ApiQuery(query): ApiQuery<ReviewQuery>,
) -> ApiResult<Json<Page<ReviewItem>>> {
    let wanted = query.state.as_deref().unwrap_or("pending");
    let Some(wanted) = ReviewState::parse(wanted) else {
        return Err(ApiError::invalid_field(
            "/state",
            format!("state '{wanted}' is not one of pending, approved, rejected"),
        ));
    };
    let page = Page::read(
        query.cursor.as_deref(),
        query.limit,
        |after, n| state.store.messages_in_review(wanted, after, n),
        |m| m.id.to_string(),
    )
    .await?;
    Ok(Json(page.map(ReviewItem::from)))
}

/// A message that content screening held for review, decided or not, of
/// any workspace (the operator console's review page).
pub(crate) async fn held(state: &AppState, id: &str) -> ApiResult<MessageRecord> {
    let id = MessageId::parse(id).map_err(|e| ApiError::not_found(e.to_string()))?;
    state
        .store
        .message_by_id(&id)
        .await?
        .filter(|m| m.review_state.is_some())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Message {id} was not held for content review: there is nothing to review."
            ))
        })
}

/// A held message rendered as its mail: for one of its recipients, or
/// (when none can be rendered for) for a contact of its audience.
pub(crate) async fn held_mail(
    state: &AppState,
    m: &MessageRecord,
) -> ApiResult<super::messages::PreviewView> {
    let workspace = state
        .store
        .workspace(&m.workspace_id)
        .await?
        .ok_or_else(|| ApiError::not_found("The message's workspace no longer exists."))?;
    if let Some(contact) = state.store.first_recipient(&m.id).await? {
        match super::messages::render_preview(state, &workspace, m, &contact).await {
            Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => {}
            rendered => return rendered,
        }
    }
    let contact = crate::preflight::sample_contact(state, m)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "no-contact-to-preview",
                "The message has no recipient left to render it for (they were erased), and no contact of its audience may receive it.",
            )
        })?;
    super::messages::render_preview(state, &workspace, m, &contact.id).await
}

async fn decide(
    state: &AppState,
    actor: &str,
    id: &str,
    approve: bool,
    note: &str,
) -> ApiResult<Json<ReviewItem>> {
    let id = MessageId::parse(id).map_err(|e| ApiError::not_found(e.to_string()))?;
    let note = super::label("note", note, 2000)?;
    match state
        .store
        .decide_review(&id, approve, note.as_str(), actor)
        .await?
    {
        Some(m) => {
            if approve {
                state.notify_queued();
            }
            Ok(Json(ReviewItem::from(m)))
        }
        None => Err(ApiError::conflict(
            "not-in-review",
            format!("Message {id} is not waiting for review (it may have been decided already)."),
        )),
    }
}

/// Approves a message in review: its deliveries are queued.
#[utoipa::path(post, path = "/v1/operator/reviews/{id}/approve", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Decision,
    responses((status = 200, body = ReviewItem), (status = 409, body = crate::error::Problem)))]
pub async fn approve(
    Acting { state, operator }: Acting,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Decision>,
) -> ApiResult<Json<ReviewItem>> {
    decide(&state, operator.actor(), &id, true, &req.note).await
}

/// Rejects a message in review: nothing is sent and the workspace sees the note.
#[utoipa::path(post, path = "/v1/operator/reviews/{id}/reject", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Decision,
    responses((status = 200, body = ReviewItem), (status = 409, body = crate::error::Problem)))]
pub async fn reject(
    Acting { state, operator }: Acting,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Decision>,
) -> ApiResult<Json<ReviewItem>> {
    decide(&state, operator.actor(), &id, false, &req.note).await
}
