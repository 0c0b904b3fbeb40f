//! A message's life after it is composed (issue #19): a draft changes
//! until it is sent (`PUT /v1/messages/{id}`), any message is copied into a
//! new draft (`duplicate`), and a sent one is paused, resumed or cancelled
//! on its way. A sent message itself never changes: what was sent stays
//! what the records say was sent.

use super::messages::{bulk_only, compose, parse_message_id, view, MessageRequest, MessageView};
use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use sendwell_core::{MessageKind, MessageState};
use sendwell_store::{NewMessage, RunChange, RunRefused};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(duplicate))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(cancel))
        .routes(routes!(unschedule))
}

/// Changes a draft (sender or admin), with the same rules as composing
/// it. A sent message does not change: duplicate it and change the copy.
#[utoipa::path(put, path = "/v1/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = MessageRequest,
    responses((status = 200, body = MessageView), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update(
    Ws { state, caller, .. }: Ws<can::Send>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MessageRequest>,
) -> ApiResult<Json<MessageView>> {
    let id = parse_message_id(&id)?;
    bulk_only(&req)?;
    let composed = compose(&state, &caller, &req).await?;
    match state
        .store
        .update_draft(caller.workspace(), &id, &composed.new)
        .await?
    {
        None => Err(not_found(&id)),
        Some(Err(now)) => Err(ApiError::conflict(
            "not-a-draft",
            format!(
                "Message {id} is {} and no longer changes: what was sent stays as it was sent. \
                 Copy it with POST /v1/messages/{id}/duplicate and change the copy.",
                said(now)
            ),
        )),
        Some(Ok(saved)) => Ok(Json(view(&state, saved).await?)),
    }
}

/// Copies a message, sent or not, into a new draft named "... (copy)":
/// the same kind, topic, sender, subject, template, audience and tracking.
#[utoipa::path(post, path = "/v1/messages/{id}/duplicate", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 201, body = MessageView), (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn duplicate(
    Ws { state, caller, .. }: Ws<can::Send>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let m = super::messages::load(&state, caller.workspace(), &id).await?;
    if m.kind == MessageKind::Transactional {
        return Err(ApiError::invalid_field(
            "/id",
            format!(
                "message {id} is transactional: each one is sent by its own call to \
                 POST /v1/transactional, so there is no draft to copy"
            ),
        ));
    }
    let copy = NewMessage {
        name: copy_name(&m.name),
        kind: m.kind,
        topic: m.topic,
        from_name: m.from_name,
        from_address: m.from_address,
        reply_to: m.reply_to,
        subject: m.subject,
        template: m.template,
        audience: m.audience,
        audience_id: m.audience_id,
        opt_in_attribute: m.opt_in_attribute,
        track_clicks: m.track_clicks,
        track_opens: m.track_opens,
        exclude_risky: m.exclude_risky,
        data: None,
        created_by: caller.actor(),
    };
    let saved = state
        .store
        .create_message(caller.workspace(), &copy)
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, saved).await?)))
}

/// Names a copy: "... (copy)", within the 200 characters a name may have.
fn copy_name(name: &str) -> String {
    const SUFFIX: &str = " (copy)";
    let room = 200 - SUFFIX.len();
    let kept: String = name.chars().take(room).collect();
    format!("{}{SUFFIX}", kept.trim_end())
}

/// Pauses a sent message: its waiting deliveries wait until it is resumed.
/// Mail a worker has already taken finishes; nothing else goes out.
#[utoipa::path(post, path = "/v1/messages/{id}/pause", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MessageView), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem)))]
pub async fn pause(ws: Ws<can::Send>, Path(id): Path<String>) -> ApiResult<Json<MessageView>> {
    change(ws, &id, RunChange::Pause).await
}

/// Resumes a paused message: its waiting deliveries go back to the queue
/// (a retry keeps its time), each sent at most once.
#[utoipa::path(post, path = "/v1/messages/{id}/resume", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MessageView), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem)))]
pub async fn resume(ws: Ws<can::Send>, Path(id): Path<String>) -> ApiResult<Json<MessageView>> {
    change(ws, &id, RunChange::Resume).await
}

/// Cancels a sent or paused message: what has not gone never will.
#[utoipa::path(post, path = "/v1/messages/{id}/cancel", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MessageView), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem)))]
pub async fn cancel(ws: Ws<can::Send>, Path(id): Path<String>) -> ApiResult<Json<MessageView>> {
    change(ws, &id, RunChange::Cancel).await
}

/// Makes a scheduled message (or one held at its time) a draft again:
/// nothing goes out until it is sent or scheduled anew.
#[utoipa::path(post, path = "/v1/messages/{id}/unschedule", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MessageView), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem)))]
pub async fn unschedule(
    Ws { state, caller, .. }: Ws<can::Send>,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageView>> {
    let id = parse_message_id(&id)?;
    match state
        .store
        .unschedule_message(caller.workspace(), &id, &caller.actor())
        .await?
    {
        None => Err(not_found(&id)),
        Some(Err(now)) => Err(ApiError::conflict(
            "not-scheduled",
            format!(
                "Message {id} is {}, not scheduled; only a scheduled or held message is unscheduled.",
                said(now)
            ),
        )),
        Some(Ok(m)) => Ok(Json(view(&state, m).await?)),
    }
}

async fn change(
    Ws { state, caller, .. }: Ws<can::Send>,
    id: &str,
    change: RunChange,
) -> ApiResult<Json<MessageView>> {
    let id = parse_message_id(id)?;
    let changed = state
        .store
        .change_run(caller.workspace(), &id, change, &caller.actor())
        .await?;
    match changed {
        Ok(done) => Ok(Json(view(&state, done.message).await?)),
        Err(RunRefused::NotFound) => Err(not_found(&id)),
        Err(RunRefused::InReview) => Err(ApiError::conflict(
            "in-review",
            format!(
                "Message {id} is with the operator's content review: cancel it, or wait for \
                 the decision to {} it.",
                change.as_str()
            ),
        )),
        Err(RunRefused::NotNow(now)) => Err(ApiError::conflict(
            "not-now",
            refusal(&id.to_string(), change, now),
        )),
    }
}

/// Why `change` does not apply to a message that is `now`, and what does.
fn refusal(id: &str, change: RunChange, now: MessageState) -> String {
    match (change, now) {
        (_, MessageState::Draft) => format!(
            "Message {id} is a draft: nothing of it is on its way. It goes out only when you \
             send it (POST /v1/messages/{id}/send)."
        ),
        (_, MessageState::Scheduled | MessageState::Held) => format!(
            "Message {id} is {}: nothing of it is on its way yet. Cancel it, make it a draft \
             again (POST /v1/messages/{id}/unschedule), or send it now (POST /v1/messages/{id}/send).",
            said(now)
        ),
        (_, MessageState::Cancelled) => format!(
            "Message {id} was cancelled, and a cancelled message stays so. Copy it with \
             POST /v1/messages/{id}/duplicate to send it again."
        ),
        (RunChange::Pause, MessageState::Paused) => {
            format!("Message {id} is paused already; resume it with POST /v1/messages/{id}/resume.")
        }
        (RunChange::Resume, _) => format!(
            "Message {id} is not paused (it is {}); only a paused message resumes.",
            said(now)
        ),
        _ => format!(
            "Message {id} is {}; it cannot be {} now.",
            said(now),
            change.past_tense()
        ),
    }
}

/// A message state as a sentence says it.
fn said(state: MessageState) -> &'static str {
    match state {
        MessageState::Draft => "a draft",
        MessageState::Queued => "sent",
        MessageState::Paused => "paused",
        MessageState::Cancelled => "cancelled",
        MessageState::Scheduled => "scheduled, not yet sent",
        MessageState::Held => "held after its scheduled time, not sent",
    }
}

fn not_found(id: &sendwell_core::MessageId) -> ApiError {
    ApiError::not_found(format!("There is no message {id} in this workspace."))
}
