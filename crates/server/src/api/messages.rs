//! Audiences, messages, transactional sends and the capture outbox.
//!
//! A message is composed once (sender, subject, template, audience) and
//! checked by preflight: the sending gate, the audience numbers, the
//! compliance renderer's footer and headers on a sample mail, template
//! warnings and sender authenticity. `send` refuses with 409 and the
//! blockers when anything blocks; otherwise it queues one delivery per
//! eligible contact inside the database and answers 202.

use super::templates::{parse_source, template_error};
use super::{page_limit, parse_email, Page};
use crate::delivery::{compile_message, prepare, render_off_runtime, OwnedContact};
use crate::error::{ApiError, ApiResult, BlockerView, FieldProblem};
use crate::extract::{can, ApiJson, ApiQuery, WorkspaceCaller, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use sendwell_core::attribute::AttributeSchema;
use sendwell_core::consent::Topic;
use sendwell_core::filter::{Filter, FilterError, FilterLocation};
use sendwell_core::{
    gate, AttributeName, ContactId, DeliveryStatus, MessageId, MessageKind, MessageState, OutboxId,
    ReviewState, TemplateId, WorkspaceId,
};
use sendwell_screen::content::{ContentVerdict, Screening};
use sendwell_store::{AudienceSpec, MessageRecord, NewMessage, QueueError, SampleContact};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(preview))
        .routes(routes!(list, create))
        .routes(routes!(show, super::campaigns::update))
        .routes(routes!(preflight_draft))
        .routes(routes!(preflight))
        .routes(routes!(preview_message))
        .routes(routes!(send))
        .routes(routes!(transactional))
        .routes(routes!(outbox))
        .routes(routes!(outbox_raw))
}

// ---- shared parsing ----------------------------------------------------------

fn parse_kind(text: &str, pointer: &str) -> Result<MessageKind, ApiError> {
    MessageKind::parse(text).ok_or_else(|| {
        ApiError::invalid_field(
            pointer,
            format!(
                "kind '{}' is not one of marketing (needs the contact's opt-in for the topic), \
                 opt_in_request (asks for permission) or transactional (receipts, password resets)",
                text.chars().take(40).collect::<String>()
            ),
        )
    })
}

fn parse_topic(text: Option<&str>, pointer: &str) -> Result<Topic, ApiError> {
    match text {
        None => Ok(Topic::marketing()),
        Some(t) => Topic::parse(t).map_err(|e| ApiError::invalid_field(pointer, e.to_string())),
    }
}

/// A filter error as a 422 pointing at the bad part.
fn filter_error(e: FilterError, pointer: &str) -> ApiError {
    let (at, detail) = match &e.at {
        FilterLocation::Json { pointer: inner } => (format!("{pointer}{inner}"), e.to_string()),
        FilterLocation::Text { .. } => (pointer.to_owned(), e.to_string()),
    };
    ApiError::invalid(format!("The audience filter is not valid: {detail}")).with_errors(vec![
        FieldProblem {
            pointer: at,
            detail,
        },
    ])
}

pub(crate) fn parse_filter(
    value: Option<&Value>,
    schema: &AttributeSchema,
    pointer: &str,
) -> Result<Option<Filter>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v @ (Value::String(_) | Value::Object(_))) => Filter::parse(v, schema)
            .map(Some)
            .map_err(|e| filter_error(e, pointer)),
        Some(_) => Err(ApiError::invalid_field(
            pointer,
            "the filter is a JSON object ({\"field\": ..., \"op\": ..., \"value\": ...} or {\"and\": [...]}) \
             or a text such as 'plan is \"pro\" and last_seen_at less than 30 days ago'",
        )),
    }
}

/// Header text a person typed: one line, no control characters.
fn header_text(text: &str, pointer: &str, what: &str, max: usize) -> Result<String, ApiError> {
    if text.chars().any(|c| c.is_control()) {
        return Err(ApiError::invalid_field(
            pointer,
            format!("{what} contains a line break or another control character; a mail header is one line of text"),
        ));
    }
    let trimmed = text.trim();
    if trimmed.chars().count() > max {
        return Err(ApiError::invalid_field(
            pointer,
            format!("{what} is longer than {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

// ---- audience preview ----------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// A JSON filter object, or the same filter as text. Absent: every contact.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub filter: Option<Value>,
    /// `marketing`, `opt_in_request` or `transactional`.
    pub kind: String,
    /// The consent topic (default `marketing`).
    #[serde(default)]
    pub topic: Option<String>,
    /// Leave out contacts whose address is risky (typo, disposable, role).
    #[serde(default)]
    pub exclude_risky: Option<bool>,
    /// `true`: in a large workspace, estimate the counts (and take the
    /// sample) from about 64,000 contacts instead of reading every one.
    /// Exact by default.
    #[serde(default)]
    pub estimate: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewResponse {
    pub matched: i64,
    pub eligible: i64,
    /// Present when the counts are estimates: how many of the workspace's
    /// contacts the sample read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_from: Option<i64>,
    #[schema(value_type = Object)]
    pub excluded: sendwell_store::Excluded,
    #[schema(value_type = Vec<Object>)]
    pub sample: Vec<SampleContact>,
    /// The filter in its canonical text form.
    pub filter_text: Option<String>,
}

/// How many contacts a filter matches, how many a message of this kind may
/// reach, and why the others are left out.
#[utoipa::path(post, path = "/v1/audiences/preview", tag = "messages", security(("bearer" = [])),
    request_body = PreviewRequest,
    responses((status = 200, body = PreviewResponse), (status = 422, body = crate::error::Problem)))]
pub async fn preview(
    Ws { state, caller, .. }: Ws<can::Read>,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> ApiResult<Json<PreviewResponse>> {
    Ok(Json(
        audience_preview(&state, caller.workspace(), &req).await?,
    ))
}

/// The audience preview the API and the console's Audiences page show.
pub(crate) async fn audience_preview(
    state: &AppState,
    ws: &sendwell_core::WorkspaceId,
    req: &PreviewRequest,
) -> ApiResult<PreviewResponse> {
    let kind = parse_kind(&req.kind, "/kind")?;
    let topic = parse_topic(req.topic.as_deref(), "/topic")?;
    let schema = state.store.schema(ws).await?;
    let filter = parse_filter(req.filter.as_ref(), &schema, "/filter")?;
    let sunset = current_workspace(state, ws).await?.sunset;
    let spec = AudienceSpec {
        workspace: ws,
        filter: filter.as_ref(),
        kind,
        topic: topic.as_str(),
        opt_in_request_interval_days: state.opt_in_request_interval_days(),
        exclude_risky: req.exclude_risky.unwrap_or(false),
        sunset,
    };
    let (counts, estimated_from, sample) = if req.estimate == Some(true) {
        let counted = state.store.audience_counts_estimated(&spec).await?;
        let sample = state.store.audience_sample_estimated(&spec, 10).await?;
        (counted.counts, counted.sampled, sample)
    } else {
        let counts = state.store.audience_counts(&spec).await?;
        (counts, None, state.store.audience_sample(&spec, 10).await?)
    };
    Ok(PreviewResponse {
        matched: counts.matched,
        eligible: counts.eligible,
        estimated_from,
        excluded: counts.excluded,
        sample,
        filter_text: filter.as_ref().map(Filter::to_text),
    })
}

// ---- messages ------------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromRequest {
    #[serde(default)]
    pub name: Option<String>,
    pub address: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceRequest {
    /// A JSON filter object, or the same filter as text.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub filter: Option<Value>,
    /// A saved audience (`aud_...`, from `/v1/audiences`) instead of a
    /// filter: its filter is read again when the message is checked and
    /// sent.
    #[serde(default)]
    pub audience_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    pub name: String,
    /// `marketing`, `opt_in_request` or `transactional`.
    pub kind: String,
    #[serde(default)]
    pub topic: Option<String>,
    pub from: FromRequest,
    #[serde(default)]
    pub reply_to: Option<String>,
    pub subject: String,
    /// The template's parts (`layout`, `html`, `text`, ...) or `{"template_id": "tpl_..."}`.
    #[schema(value_type = Object)]
    pub template: Value,
    #[serde(default)]
    pub audience: Option<AudienceRequest>,
    /// The attribute the opt-in button sets to true (default `opt_in`).
    #[serde(default)]
    pub opt_in_attribute: Option<String>,
    /// Leave out recipients whose address is risky: a likely typo, a
    /// disposable domain, a role account (default false; preflight counts them).
    #[serde(default)]
    pub exclude_risky: Option<bool>,
    /// Rewrite links for click tracking (default true).
    #[serde(default)]
    pub track_clicks: Option<bool>,
    /// Add an open pixel (default true).
    #[serde(default)]
    pub track_opens: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub topic: String,
    /// `draft`, `scheduled` (waits for `send_at`), `held` (see
    /// `held_reason`, or the workspace may not send now), `in_review` (an operator checks the content first),
    /// `rejected` (the operator refused it; see `review.note`), `sending`
    /// (deliveries pending), `held` (the workspace may not send now; kept,
    /// not lost), `paused`, `cancelled` or `sent`.
    pub state: String,
    pub from: FromView,
    pub reply_to: Option<String>,
    pub subject: String,
    #[schema(value_type = Object)]
    pub template: Value,
    #[schema(value_type = Object)]
    pub audience: Option<Value>,
    /// The saved audience the message uses, when it uses one.
    pub audience_id: Option<String>,
    pub opt_in_attribute: String,
    pub track_clicks: bool,
    pub track_opens: bool,
    /// Recipients with risky addresses are left out.
    pub exclude_risky: bool,
    pub queued: i64,
    /// Deliveries by state: review, queued, sending, delivered, deferred, bounced, failed, held, skipped, cancelled, paused.
    pub counts: BTreeMap<String, i64>,
    /// Recipient actions by kind: click, open, unsubscribe, opt_in.
    pub events: BTreeMap<String, i64>,
    pub created_at: String,
    pub sent_at: Option<String>,
    /// The content screen's report when the message was sent.
    #[schema(value_type = Object)]
    pub screening: Option<Value>,
    /// The operator's content review, when the screen asked for one.
    pub review: Option<ReviewView>,
    /// When a scheduled message goes (or went) out.
    pub send_at: Option<String>,
    /// The delivery window in each recipient's local time.
    #[schema(value_type = Option<Object>)]
    pub window: Option<Value>,
    /// Why a scheduled send was held at its time: fix it, then send or
    /// schedule it again.
    pub held_reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReviewView {
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    /// The operator's note.
    pub note: Option<String>,
    pub reviewed_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FromView {
    pub name: Option<String>,
    pub address: String,
}

pub(super) async fn view(state: &AppState, m: MessageRecord) -> ApiResult<MessageView> {
    let mut counts = state.store.delivery_counts(&m.id).await?;
    for s in DeliveryStatus::ALL {
        counts.entry(s.as_str().to_owned()).or_insert(0);
    }
    let events = state.store.link_event_counts(&m.id).await?;
    let pending: i64 = DeliveryStatus::ALL
        .iter()
        .filter(|s| s.is_pending())
        .map(|s| counts[s.as_str()])
        .sum();
    let shown_state = match m.state {
        MessageState::Draft => "draft",
        MessageState::Scheduled => "scheduled",
        MessageState::Held => "held",
        MessageState::Paused => "paused",
        MessageState::Cancelled => "cancelled",
        _ if m.review_state == Some(ReviewState::Pending) => "in_review",
        _ if m.review_state == Some(ReviewState::Rejected) => "rejected",
        _ if pending > 0 => "sending",
        // Kept until the workspace may send again.
        _ if counts["held"] > 0 => "held",
        _ => "sent",
    };
    Ok(MessageView {
        id: m.id.to_string(),
        name: m.name,
        kind: m.kind.as_str().to_owned(),
        topic: m.topic,
        state: shown_state.to_owned(),
        from: FromView {
            name: m.from_name,
            address: m.from_address,
        },
        reply_to: m.reply_to,
        subject: m.subject,
        template: m.template,
        audience: m.audience,
        audience_id: m.audience_id.map(|a| a.to_string()),
        opt_in_attribute: m.opt_in_attribute,
        track_clicks: m.track_clicks,
        track_opens: m.track_opens,
        exclude_risky: m.exclude_risky,
        queued: m.queued,
        counts,
        events,
        created_at: m.created_at.to_rfc3339(),
        sent_at: m.sent_at.map(|t| t.to_rfc3339()),
        screening: m.screening,
        review: m.review_state.map(|state| ReviewView {
            state: state.as_str().to_owned(),
            note: m.review_note,
            reviewed_at: m.reviewed_at.map(|t| t.to_rfc3339()),
        }),
        send_at: m.schedule.send_at.map(|t| t.to_rfc3339()),
        window: m.schedule.window,
        held_reason: m.schedule.held_reason,
    })
}

/// Resolves `{"template_id": ...}` to the saved template's parts.
async fn resolve_template(state: &AppState, ws: &WorkspaceId, value: &Value) -> ApiResult<Value> {
    let Some(obj) = value.as_object() else {
        return Err(ApiError::invalid_field(
            "/template",
            "the template is an object: its parts ({\"layout\": ..., \"html\": ...}) or {\"template_id\": \"tpl_...\"}",
        ));
    };
    let Some(id) = obj.get("template_id") else {
        let source = parse_source(value, "/template")?;
        return serde_json::to_value(source).map_err(|e| ApiError::internal(&e));
    };
    if obj.len() > 1 {
        return Err(ApiError::invalid_field(
            "/template",
            "give either \"template_id\" or the template's parts, not both",
        ));
    }
    let id = id
        .as_str()
        .and_then(|s| TemplateId::parse(s).ok())
        .ok_or_else(|| {
            ApiError::invalid_field(
                "/template/template_id",
                "template_id is a saved template's id (tpl_...)",
            )
        })?;
    match state.store.template(ws, &id).await? {
        Some(t) => Ok(t.source),
        None => Err(ApiError::invalid_field(
            "/template/template_id",
            format!("there is no template {id} in this workspace"),
        )),
    }
}

/// Transactional mail needs no consent; sent to a filtered audience it
/// would be bulk mail without an opt-in or List-Unsubscribe.
pub(super) fn bulk_only(req: &MessageRequest) -> ApiResult<()> {
    if req.kind == "transactional" {
        return Err(ApiError::invalid_field(
            "/kind",
            "transactional mail goes to one contact at a time: use POST /v1/transactional; \
             mail to many contacts is marketing (needs their opt-in) or an opt_in_request",
        ));
    }
    Ok(())
}

pub(super) struct Composed {
    pub(super) new: NewMessage,
    /// The message as it would be stored, for checks before storing it.
    probe: MessageRecord,
}

pub(super) async fn compose(
    state: &AppState,
    caller: &WorkspaceCaller,
    req: &MessageRequest,
) -> ApiResult<Composed> {
    let ws = caller.workspace();
    let name = super::label("name", &req.name, 200)?;
    let kind = parse_kind(&req.kind, "/kind")?;
    let topic = message_topic(kind, req.topic.as_deref())?;
    let from_address = parse_email(&req.from.address, "/from/address")?;
    let from_name = from_name(req.from.name.as_deref())?;
    let reply_to = match &req.reply_to {
        Some(r) => Some(parse_email(r, "/reply_to")?.as_str().to_owned()),
        None => None,
    };
    let subject = parse_subject(&req.subject)?;
    let schema = state.store.schema(ws).await?;
    let filter = parse_filter(
        req.audience.as_ref().and_then(|a| a.filter.as_ref()),
        &schema,
        "/audience/filter",
    )?;
    let audience_id = saved_audience_of(state, ws, req.audience.as_ref(), filter.is_some()).await?;
    let opt_in_attribute = opt_in_attribute(req.opt_in_attribute.as_deref(), &schema)?;
    let template = resolve_template(state, ws, &req.template).await?;
    let new = NewMessage {
        name: name.as_str().to_owned(),
        kind,
        topic: topic.as_str().to_owned(),
        from_name,
        from_address: from_address.as_str().to_owned(),
        reply_to,
        subject,
        template,
        audience: filter.as_ref().map(Filter::to_json),
        audience_id,
        opt_in_attribute: opt_in_attribute.as_str().to_owned(),
        track_clicks: req.track_clicks.unwrap_or(true),
        track_opens: req.track_opens.unwrap_or(true),
        exclude_risky: req.exclude_risky.unwrap_or(false),
        data: None,
        created_by: caller.actor(),
    };
    let probe = compiled_probe(state, ws, &new, &schema).await?;
    Ok(Composed { new, probe })
}

/// The saved audience a message names, checked to exist in the workspace;
/// a message names a filter or a saved audience, not both.
async fn saved_audience_of(
    state: &AppState,
    ws: &WorkspaceId,
    audience: Option<&AudienceRequest>,
    has_filter: bool,
) -> ApiResult<Option<sendwell_core::AudienceId>> {
    let Some(id) = audience.and_then(|a| a.audience_id.as_deref()) else {
        return Ok(None);
    };
    if has_filter {
        return Err(ApiError::invalid_field(
            "/audience",
            "give the audience as a filter or as a saved audience's id, not both",
        ));
    }
    let pointer = "/audience/audience_id";
    let id = sendwell_core::AudienceId::parse(id)
        .map_err(|e| ApiError::invalid_field(pointer, e.to_string()))?;
    match state.store.saved_audience(ws, &id).await? {
        Some(_) => Ok(Some(id)),
        None => Err(ApiError::invalid_field(
            pointer,
            format!("this workspace has no saved audience {id}; GET /v1/audiences lists them"),
        )),
    }
}

/// The consent topic: as named, else `transactional` for transactional
/// mail and `marketing` for the rest.
fn message_topic(kind: MessageKind, topic: Option<&str>) -> ApiResult<Topic> {
    match kind {
        MessageKind::Transactional if topic.is_none() => {
            Topic::parse("transactional").map_err(|e| ApiError::internal(&e))
        }
        _ => parse_topic(topic, "/topic"),
    }
}

fn parse_subject(text: &str) -> ApiResult<String> {
    let subject = header_text(text, "/subject", "subject", 500)?;
    if subject.is_empty() {
        return Err(ApiError::invalid_field(
            "/subject",
            "subject is empty; every mail needs one",
        ));
    }
    Ok(subject)
}

/// The message as it would be stored, compiled now so that a broken
/// template is refused before it is stored.
async fn compiled_probe(
    state: &AppState,
    ws: &WorkspaceId,
    new: &NewMessage,
    schema: &AttributeSchema,
) -> ApiResult<MessageRecord> {
    let names = super::templates::attribute_names_of(schema);
    let now = state.store.now();
    let probe = MessageRecord::draft(MessageId::generate(now), ws.clone(), new, now);
    let compiled = compile_message(&probe, &names).map_err(|e| template_error(e, "/template"))?;
    if compiled.opt_in_wording.is_some() && new.kind != MessageKind::OptInRequest {
        return Err(ApiError::invalid_field(
            "/template",
            "the opt-in button belongs only in an opt_in_request message (kind \"opt_in_request\"): remove it, or send this as an opt-in request",
        ));
    }
    super::templates::check_render_budget(state, compiled, new.kind).await?;
    Ok(probe)
}

/// The From name, if any: a header, not a template, so Liquid in it (which
/// would reach the inbox as braces) is refused.
fn from_name(name: Option<&str>) -> ApiResult<Option<String>> {
    let Some(n) = name.filter(|n| !n.trim().is_empty()) else {
        return Ok(None);
    };
    let n = header_text(n, "/from/name", "from.name", 200)?;
    if n.contains("{{") || n.contains("{%") {
        return Err(ApiError::invalid_field(
            "/from/name",
            "from.name is sent as written and cannot hold Liquid ({{ ... }} or {% ... %}): write the sender's name, such as \"Ann at Acme\"",
        ));
    }
    Ok(Some(n))
}

/// The boolean attribute the opt-in button sets (`opt_in` unless named).
fn opt_in_attribute(name: Option<&str>, schema: &AttributeSchema) -> ApiResult<AttributeName> {
    let attribute = match name {
        Some(a) => AttributeName::parse(a)
            .map_err(|e| ApiError::invalid_field("/opt_in_attribute", e.to_string()))?,
        None => AttributeName::parse("opt_in").map_err(|e| ApiError::internal(&e))?,
    };
    match schema.get(&attribute) {
        Some(kind) if kind != sendwell_core::AttributeType::Boolean => Err(ApiError::invalid_field(
            "/opt_in_attribute",
            format!(
                "'{attribute}' is a {} attribute; the opt-in button sets a boolean attribute to true: name another one",
                kind.as_str()
            ),
        )),
        _ => Ok(attribute),
    }
}

/// Composes a message (sender or admin). It is a draft until sent.
#[utoipa::path(post, path = "/v1/messages", tag = "messages", security(("bearer" = [])),
    request_body = MessageRequest,
    responses((status = 201, body = MessageView), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    Ws { state, caller, .. }: Ws<can::Send>,
    ApiJson(req): ApiJson<MessageRequest>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    bulk_only(&req)?;
    let composed = compose(&state, &caller, &req).await?;
    let saved = state
        .store
        .create_message(caller.workspace(), &composed.new)
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, saved).await?)))
}

pub(super) fn parse_message_id(id: &str) -> Result<MessageId, ApiError> {
    MessageId::parse(id).map_err(|e| ApiError::not_found(e.to_string()))
}

pub(crate) async fn load(state: &AppState, ws: &WorkspaceId, id: &str) -> ApiResult<MessageRecord> {
    let id = parse_message_id(id)?;
    state
        .store
        .message(ws, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("There is no message {id} in this workspace.")))
}

#[utoipa::path(get, path = "/v1/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MessageView), (status = 404, body = crate::error::Problem)))]
pub async fn show(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageView>> {
    let m = load(&state, caller.workspace(), &id).await?;
    Ok(Json(view(&state, m).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/messages", tag = "messages", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, body = Page<MessageView>)))]
pub async fn list(
    Ws { state, caller, .. }: Ws<can::Read>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<MessageView>>> {
    let page = Page::read(
        query.cursor.as_deref(),
        query.limit,
        |after, n| state.store.list_messages(caller.workspace(), after, n),
        |m| m.id.to_string(),
    )
    .await?;
    let mut views = Vec::with_capacity(page.items.len());
    for m in page.items {
        views.push(view(&state, m).await?);
    }
    Ok(Json(Page {
        items: views,
        next_cursor: page.next_cursor,
    }))
}

// ---- preflight -----------------------------------------------------------------------

use crate::preflight::{report, screen_rendered, ReportFor};
pub use crate::preflight::{ComplianceView, Finding, PreflightReport};

/// Whether a preflight may estimate its audience counts.
#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct EstimateQuery {
    /// `true`: in a large workspace, estimate the audience counts from a
    /// sample of about 64,000 contacts (tens of milliseconds instead of a
    /// count of every contact); the report then says how many it read in
    /// `audience_estimated_from`. Exact by default; `send` always counts
    /// exactly.
    pub estimate: Option<bool>,
}

impl EstimateQuery {
    fn purpose(&self) -> ReportFor {
        if self.estimate == Some(true) {
            ReportFor::PreflightEstimated
        } else {
            ReportFor::Preflight
        }
    }
}

/// The compliance report of a message: what blocks it, who it reaches,
/// and what the renderer adds.
#[utoipa::path(post, path = "/v1/messages/{id}/preflight", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path), EstimateQuery),
    responses((status = 200, body = PreflightReport), (status = 404, body = crate::error::Problem)))]
pub async fn preflight(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EstimateQuery>,
) -> ApiResult<Json<PreflightReport>> {
    let m = load(&state, caller.workspace(), &id).await?;
    Ok(Json(report(&state, &m, q.purpose()).await?.0))
}

/// The preflight report of a message not yet stored: compose and check in
/// one call, with nothing written (sender or admin).
#[utoipa::path(post, path = "/v1/messages/preflight", tag = "messages", security(("bearer" = [])),
    params(EstimateQuery),
    request_body = MessageRequest,
    responses((status = 200, body = PreflightReport), (status = 422, body = crate::error::Problem)))]
pub async fn preflight_draft(
    Ws { state, caller, .. }: Ws<can::Send>,
    ApiQuery(q): ApiQuery<EstimateQuery>,
    ApiJson(req): ApiJson<MessageRequest>,
) -> ApiResult<Json<PreflightReport>> {
    if req.kind == "transactional" {
        return Err(ApiError::invalid_field(
            "/kind",
            "transactional mail goes to one contact at a time: use POST /v1/transactional",
        ));
    }
    let composed = compose(&state, &caller, &req).await?;
    Ok(Json(report(&state, &composed.probe, q.purpose()).await?.0))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct MessagePreviewRequest {
    /// The contact to render for; a contact of the message's audience when
    /// not given.
    #[serde(default)]
    pub contact_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HeaderView {
    pub name: String,
    pub value: String,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewView {
    pub contact_id: String,
    pub to: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub headers: Vec<HeaderView>,
    /// The preview's links look like the mail's and lead nowhere: they are
    /// signed with a key that verifies nowhere.
    pub links: &'static str,
}

/// The caller's workspace, read again for a render.
async fn current_workspace(
    state: &AppState,
    ws: &WorkspaceId,
) -> ApiResult<sendwell_store::Workspace> {
    state
        .store
        .workspace(ws)
        .await?
        .ok_or_else(|| ApiError::not_found("The workspace no longer exists."))
}

/// The headers of a raw mail, unfolded.
fn raw_headers(raw: &[u8]) -> Vec<HeaderView> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut out: Vec<HeaderView> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.value.push(' ');
                last.value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push(HeaderView {
                name: name.to_owned(),
                value: value.trim().to_owned(),
            });
        }
    }
    out
}

/// Renders the message for one contact as its mail would be: subject,
/// HTML, text and headers (read access). The links of a preview do not work.
#[utoipa::path(post, path = "/v1/messages/{id}/preview", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = MessagePreviewRequest,
    responses((status = 200, body = PreviewView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn preview_message(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<PreviewView>> {
    let req: MessagePreviewRequest = if body.iter().all(u8::is_ascii_whitespace) {
        MessagePreviewRequest::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    let m = load(&state, caller.workspace(), &id).await?;
    let workspace = current_workspace(&state, caller.workspace()).await?;
    let contact = match &req.contact_id {
        Some(c) => ContactId::parse(c)
            .map_err(|e| ApiError::invalid_field("/contact_id", e.to_string()))?,
        None => {
            crate::preflight::sample_contact(&state, &m)
                .await?
                .ok_or_else(|| {
                    ApiError::conflict(
                        "no-contact-to-preview",
                        "No contact of the message's audience may receive it, so there is none to preview with: give contact_id.",
                    )
                })?
                .id
        }
    };
    Ok(Json(
        render_preview(&state, &workspace, &m, &contact).await?,
    ))
}

/// The message rendered for one contact as its mail would be, its links
/// signed with a preview key: the workspace's preview, and the held mail
/// on the delivery team's review page.
pub(crate) async fn render_preview(
    state: &AppState,
    workspace: &sendwell_store::Workspace,
    m: &MessageRecord,
    contact: &ContactId,
) -> ApiResult<PreviewView> {
    let mail = crate::delivery::render_for_contact(state, workspace, m, contact, true, true)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "There is no contact {contact} with an address in this workspace."
            ))
        })?;
    let headers = raw_headers(&mail.raw);
    let to = headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("to"))
        .map(|h| h.value.clone())
        .unwrap_or_default();
    Ok(PreviewView {
        contact_id: contact.to_string(),
        to,
        subject: mail.subject,
        html: mail.html,
        text: mail.text,
        headers,
        links: "signed with a preview key: they look like the mail's and work nowhere",
    })
}

#[derive(Serialize, ToSchema)]
pub struct SendResponse {
    pub id: String,
    pub queued: i64,
    /// `pending` when the content screen asked for review: the deliveries
    /// wait until an operator approves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    /// When a scheduled message goes out (it was not queued now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
}

fn blocked(blockers: Vec<Finding>) -> ApiError {
    let summary: Vec<String> = blockers.iter().map(|b| b.code.clone()).collect();
    ApiError::conflict(
        "message-blocked",
        format!(
            "The message cannot be sent: {}. Each blocker says how to clear it; POST /v1/messages/{{id}}/preflight shows the full report.",
            summary.join(", ")
        ),
    )
    .with_blockers(
        blockers
            .into_iter()
            .map(|b| BlockerView {
                code: b.code,
                message: b.message,
            })
            .collect(),
    )
}

/// When to send, and in which local hours each recipient may receive it.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// When to send (RFC 3339, UTC or with an offset), up to 366 days
    /// ahead; leave out to send now. The message is checked now and again
    /// at that time.
    #[serde(default)]
    pub send_at: Option<String>,
    /// Deliver only within these hours of each recipient's local time
    /// (their `timezone` attribute, else the workspace's time zone).
    #[serde(default)]
    pub window: Option<crate::schedule::WindowRequest>,
}

/// Queues the message for every eligible contact (sender or admin), or
/// schedules it for `send_at`; refuses with 409 and the blockers.
#[utoipa::path(post, path = "/v1/messages/{id}/send", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<SendRequest>, description = "optional: `{}` or no body sends now"),
    responses((status = 202, body = SendResponse), (status = 409, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn send(
    Ws { state, caller, .. }: Ws<can::Send>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<SendResponse>)> {
    let req: SendRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SendRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::invalid(format!(
                "The body is not a send request ({e}): send {{}} to send now, or \
                 {{\"send_at\": \"2027-01-15T09:00:00Z\", \"window\": {{\"start\": \"09:00\", \"end\": \"17:00\", \"days\": [\"weekdays\"]}}}}"
            ))
        })?
    };
    let window = req
        .window
        .as_ref()
        .map(|w| crate::schedule::parse_window(w, "/window"))
        .transpose()?;
    let now = state.store.now();
    let send_at = req
        .send_at
        .as_deref()
        .map(|t| crate::schedule::parse_send_at(t, now))
        .transpose()?
        .flatten();
    let m = load(&state, caller.workspace(), &id).await?;
    if window.is_some() && m.kind == MessageKind::Transactional {
        return Err(ApiError::invalid_field(
            "/window",
            "a transactional message is never held back for a delivery window: leave the window out",
        ));
    }
    let stored = window.as_ref().map(|w| w.stored.clone());
    let Some(at) = send_at else {
        let sent = send_checked(&state, &m, stored.as_ref(), None).await?;
        return Ok((StatusCode::ACCEPTED, Json(sent)));
    };
    // Checked now, so a blocker shows at once, and again at its time.
    let (r, _) = report(&state, &m, ReportFor::Send).await?;
    if !r.ready {
        return Err(blocked(r.blockers));
    }
    let workspace = current_workspace(&state, caller.workspace()).await?;
    crate::schedule::check_window(&workspace, window.as_ref().map(|w| &w.window))?;
    match state
        .store
        .schedule_message(
            caller.workspace(),
            &m.id,
            at,
            stored.as_ref(),
            &caller.actor(),
        )
        .await?
    {
        None => Err(ApiError::not_found(format!(
            "There is no message {id} in this workspace."
        ))),
        Some(Err(_)) => Err(already_sent()),
        Some(Ok(_)) => Ok((
            StatusCode::ACCEPTED,
            Json(SendResponse {
                id: m.id.to_string(),
                queued: 0,
                review: None,
                send_at: Some(at.to_rfc3339()),
            }),
        )),
    }
}

fn already_sent() -> ApiError {
    blocked(vec![Finding {
        code: "already_sent".to_owned(),
        message: "This message was sent already; compose a new message to send again.".to_owned(),
    }])
}

/// Checks `m` as it is now (gate, guards, preflight, screening) and
/// queues it, with its delivery window: the one path from draft to queue,
/// for a send from the API and for a scheduled send at its time.
pub(crate) async fn send_checked(
    state: &AppState,
    m: &MessageRecord,
    window: Option<&Value>,
    scheduled_for: Option<sendwell_core::Timestamp>,
) -> ApiResult<SendResponse> {
    let (r, filter) = report(state, m, ReportFor::Send).await?;
    if !r.ready {
        return Err(blocked(r.blockers));
    }
    let workspace = current_workspace(state, &m.workspace_id).await?;
    let parsed = window
        .map(|w| {
            serde_json::from_value::<crate::schedule::WindowRequest>(w.clone())
                .map_err(|e| ApiError::invalid_field("/window", e.to_string()))
                .and_then(|w| crate::schedule::parse_window(&w, "/window"))
        })
        .transpose()?;
    crate::schedule::check_window(&workspace, parsed.as_ref().map(|w| &w.window))?;
    let spec = crate::preflight::audience_of(state, m, filter.as_ref(), workspace.sunset);
    let screening = r
        .content
        .as_ref()
        .map(|c| serde_json::to_value(c).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let review = r
        .content
        .as_ref()
        .is_some_and(|c| c.verdict == ContentVerdict::Review);
    let timing = crate::schedule::timing_for(&workspace, m, window, state.store.now());
    let id = &m.id;
    match state
        .store
        .queue_message(m, &spec, &screening, review, timing.as_ref(), scheduled_for)
        .await?
    {
        Ok(queued) => {
            state.notify_queued();
            Ok(SendResponse {
                id: m.id.to_string(),
                queued,
                review: review.then(|| "pending".to_owned()),
                send_at: None,
            })
        }
        Err(QueueError::AlreadyQueued) => Err(already_sent()),
        Err(QueueError::NotFound) => Err(ApiError::not_found(format!(
            "There is no message {id} in this workspace."
        ))),
        Err(QueueError::Changed) => Err(ApiError::conflict(
            "changed-while-checked",
            format!(
                "Message {id} was changed while it was being checked, so nothing was sent: \
                 check the new version and send it again."
            ),
        )),
    }
}

// ---- transactional -------------------------------------------------------------------

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRef {
    pub id: Option<String>,
    pub external_id: Option<String>,
    pub email: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionalRequest {
    /// The contact, by one of id, external_id or email.
    pub to: ContactRef,
    pub from: FromRequest,
    #[serde(default)]
    pub reply_to: Option<String>,
    pub subject: String,
    #[schema(value_type = Object)]
    pub template: Value,
    /// Values for this one mail, available in the template by name and under `data`.
    #[schema(value_type = Object)]
    #[serde(default)]
    pub data: Option<Value>,
    /// A name for the send in lists (default "transactional").
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub track_clicks: Option<bool>,
    #[serde(default)]
    pub track_opens: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct TransactionalResponse {
    pub message_id: String,
    pub delivery_id: String,
    pub queued: i64,
    /// `pending` when the content screen asked for an operator's review first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
}

/// Renders the message for one contact without tracking and screens it.
async fn screen_for_contact(
    state: &AppState,
    workspace: &sendwell_store::Workspace,
    m: &MessageRecord,
    contact_id: &ContactId,
) -> ApiResult<Screening> {
    let names = super::templates::attribute_names(state, &workspace.id).await?;
    let prepared = prepare(m.clone(), &names).map_err(|e| template_error(e, "/template"))?;
    let contact = state
        .store
        .contact(&workspace.id, contact_id)
        .await?
        .ok_or_else(|| ApiError::not_found("The contact no longer exists."))?;
    let person = OwnedContact::of(&contact, contact.email.clone().unwrap_or_default());
    let message_id = format!("screen@{}", state.public_host());
    let mail = render_off_runtime(
        state,
        workspace,
        Arc::new(prepared),
        person,
        false,
        message_id,
        state.store.now(),
    )
    .await
    .map_err(|e| ApiError::invalid_field("/template", e.to_string()))?;
    Ok(screen_rendered(state, m, &mail))
}

/// Sends one transactional mail to one contact at once (sender or admin).
#[utoipa::path(post, path = "/v1/transactional", tag = "messages", security(("bearer" = [])),
    request_body = TransactionalRequest,
    responses((status = 202, body = TransactionalResponse), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn transactional(
    Ws { state, caller, .. }: Ws<can::Send>,
    ApiJson(req): ApiJson<TransactionalRequest>,
) -> ApiResult<(StatusCode, Json<TransactionalResponse>)> {
    let ws = caller.workspace().clone();
    let contact_id = recipient(&state, &ws, &req.to).await?;
    let data = template_data(req.data.as_ref())?;
    let mut composed = compose(&state, &caller, &req.as_message()).await?;
    composed.new.data = data;
    let workspace = current_workspace(&state, &ws).await?;
    may_send_transactional(&state, &workspace, &composed.new, &contact_id).await?;
    // Screened for this contact, with this call's data, before anything is stored.
    composed.probe.data.clone_from(&composed.new.data);
    let screening = screen_for_contact(&state, &workspace, &composed.probe, &contact_id).await?;
    if screening.verdict == ContentVerdict::Block {
        return Err(blocked(
            screening.hits.iter().map(content_finding).collect(),
        ));
    }
    let review = screening.verdict == ContentVerdict::Review;
    let screening = serde_json::to_value(&screening).map_err(|e| ApiError::internal(&e))?;
    let (message, delivery_id) = state
        .store
        .queue_single(&ws, &composed.new, &contact_id, &screening, review)
        .await?;
    state.notify_queued();
    Ok((
        StatusCode::ACCEPTED,
        Json(TransactionalResponse {
            message_id: message.id.to_string(),
            delivery_id: delivery_id.to_string(),
            queued: 1,
            review: review.then(|| "pending".to_owned()),
        }),
    ))
}

impl TransactionalRequest {
    /// The message this call composes: transactional, to nobody but the
    /// one contact.
    fn as_message(&self) -> MessageRequest {
        MessageRequest {
            name: self
                .name
                .clone()
                .unwrap_or_else(|| "transactional".to_owned()),
            kind: "transactional".to_owned(),
            topic: None,
            from: FromRequest {
                name: self.from.name.clone(),
                address: self.from.address.clone(),
            },
            reply_to: self.reply_to.clone(),
            subject: self.subject.clone(),
            template: self.template.clone(),
            audience: None,
            opt_in_attribute: None,
            track_clicks: self.track_clicks,
            track_opens: self.track_opens,
            exclude_risky: None,
        }
    }
}

/// The contact a transactional mail goes to, named by exactly one of its
/// id, external id or address.
async fn recipient(state: &AppState, ws: &WorkspaceId, to: &ContactRef) -> ApiResult<ContactId> {
    let given = [
        to.id.is_some(),
        to.external_id.is_some(),
        to.email.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ApiError::invalid_field(
            "/to",
            "name the contact by exactly one of \"id\", \"external_id\" or \"email\"",
        ));
    }
    let found = if let Some(id) = &to.id {
        let id =
            ContactId::parse(id).map_err(|e| ApiError::invalid_field("/to/id", e.to_string()))?;
        state.store.contact_exists(ws, &id).await?.then_some(id)
    } else if let Some(ext) = &to.external_id {
        state.store.find_contact_id(ws, Some(ext), None).await?
    } else {
        let email = parse_email(to.email.as_deref().unwrap_or(""), "/to/email")?;
        state
            .store
            .find_contact_id(ws, None, Some(email.key()))
            .await?
    };
    found.ok_or_else(|| {
        ApiError::not_found(
            "There is no such contact in this workspace; create it first with POST /v1/contacts.",
        )
    })
}

/// The call's `data` for the template: an object of at most 200 keys.
fn template_data(data: Option<&Value>) -> ApiResult<Option<Value>> {
    match data {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) if map.len() > 200 => Err(ApiError::invalid_field(
            "/data",
            "data has more than 200 keys",
        )),
        Some(Value::Object(map)) => Ok(Some(Value::Object(map.clone()))),
        Some(_) => Err(ApiError::invalid_field(
            "/data",
            "data is a JSON object of values for the template",
        )),
    }
}

/// What blocks a transactional mail to this contact: the gate's blockers
/// that hold for transactional mail, an unverified sender domain, and an
/// address that may not be mailed.
async fn may_send_transactional(
    state: &AppState,
    workspace: &sendwell_store::Workspace,
    message: &NewMessage,
    contact: &ContactId,
) -> ApiResult<()> {
    let status = gate::evaluate(workspace.gate_input(state.store.now()));
    if !status.can_send_transactional() {
        return Err(blocked(
            status
                .blockers
                .into_iter()
                .filter(|b| b.blocks_transactional)
                .map(|b| Finding::new(b.code, b.message))
                .collect(),
        ));
    }
    let ws = &workspace.id;
    if let Some((true, message)) =
        crate::dkim_keys::sender_domain_problem(state, ws, &message.from_address).await?
    {
        return Err(blocked(vec![Finding::new(
            "sender_domain_unverified",
            message,
        )]));
    }
    let spec = AudienceSpec {
        workspace: ws,
        filter: None,
        kind: MessageKind::Transactional,
        topic: &message.topic,
        opt_in_request_interval_days: 0,
        exclude_risky: false,
        sunset: None,
    };
    if let Some(reason) = state.store.contact_category(&spec, contact).await? {
        return Err(blocked(vec![Finding::new(
            &format!("contact_{reason}"),
            format!(
                "This contact cannot receive mail: the address is {reason}. Transactional mail is not sent to bounced, \
                 complaining, invalid or erased addresses."
            ),
        )]));
    }
    Ok(())
}

/// A content screen hit as a blocker.
fn content_finding(hit: &sendwell_screen::content::Hit) -> Finding {
    Finding::new(
        &format!("content.{}", hit.rule),
        format!("{} (\"{}\")", hit.explanation, hit.snippet),
    )
}

// ---- outbox --------------------------------------------------------------------------

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    pub message_id: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxItem {
    pub id: String,
    pub message_id: String,
    pub to: String,
    pub subject: String,
    pub created_at: String,
}

/// Mails stored by the capture transport.
#[utoipa::path(get, path = "/v1/outbox", tag = "messages", security(("bearer" = [])),
    params(OutboxQuery), responses((status = 200, body = Page<OutboxItem>)))]
pub async fn outbox(
    Ws { state, caller, .. }: Ws<can::Read>,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> ApiResult<Json<Page<OutboxItem>>> {
    let limit = page_limit(query.limit)?;
    let message = match &query.message_id {
        Some(m) => Some(
            MessageId::parse(m)
                .map_err(|e| ApiError::invalid_field("/message_id", e.to_string()))?,
        ),
        None => None,
    };
    let items = state
        .store
        .list_outbox(
            caller.workspace(),
            message.as_ref(),
            query.cursor.as_deref(),
            limit + 1,
        )
        .await?;
    let page = Page::cut(items, limit, |e| e.id.to_string());
    Ok(Json(page.map(|e| OutboxItem {
        id: e.id.to_string(),
        message_id: e.message_id,
        to: e.to,
        subject: e.subject,
        created_at: e.created_at.to_rfc3339(),
    })))
}

/// The RFC 5322 bytes of a captured mail.
#[utoipa::path(get, path = "/v1/outbox/{id}/raw", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, content_type = "message/rfc822", body = String), (status = 404, body = crate::error::Problem)))]
pub async fn outbox_raw(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let id = OutboxId::parse(&id).map_err(|e| ApiError::not_found(e.to_string()))?;
    match state.store.outbox_raw(caller.workspace(), &id).await? {
        Some(raw) => Ok(([(header::CONTENT_TYPE, "message/rfc822")], raw)),
        None => Err(ApiError::not_found(format!(
            "There is no captured mail {id} in this workspace."
        ))),
    }
}
