//! Contacts: upsert one or a batch of up to 1000 (one transaction), read,
//! list with a cursor, export everything held on one, erase one.

use super::consent::ConsentEventView;
use super::{page_limit, Page};
use crate::error::{ApiError, ApiResult, FieldProblem};
use crate::extract::{can, ApiJson, ApiQuery, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use sendwell_core::attribute::MAX_ATTRIBUTES;
use sendwell_core::text::Label;
use sendwell_core::{ContactId, EmailAddress, Timestamp, WorkspaceId};
use sendwell_store::{
    BatchItemError, BatchItemProblem, Contact, ContactInput, UpsertOutcome, UpsertStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub const MAX_BATCH: usize = 1000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactWrite {
    /// Matched case-insensitively; at least one of email and external_id is required.
    pub email: Option<String>,
    /// Your own id for the person; matched before email.
    pub external_id: Option<String>,
    pub name: Option<String>,
    /// Custom attributes: strings, numbers, booleans or dates. The first
    /// value fixes an attribute's type; `null` removes an attribute.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    /// When the person signed up with you: RFC 3339 or Unix seconds.
    #[schema(value_type = Option<String>)]
    pub created_at: Option<Value>,
    /// When you last saw the person: RFC 3339 or Unix seconds.
    #[schema(value_type = Option<String>)]
    pub last_seen_at: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 1000 contacts, written in one transaction.
    pub contacts: Vec<ContactWrite>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchItemResult {
    pub index: usize,
    pub id: String,
    /// `created` or `updated`.
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct BatchResponse {
    pub created: usize,
    pub updated: usize,
    pub results: Vec<BatchItemResult>,
}

#[derive(Serialize, ToSchema)]
pub struct SuppressionView {
    /// e.g. `erased`, `unsubscribed`, `bounced`, `complained`.
    pub reason: String,
    pub source: String,
    pub since: String,
}

#[derive(Serialize, ToSchema)]
pub struct TopicConsentView {
    /// `opted_in` or `opted_out`.
    pub status: &'static str,
    pub double_opt_in: bool,
    pub since: String,
    pub event_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct ContactView {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub external_id: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
    pub last_seen_at: Option<String>,
    /// Set when the address must not be mailed.
    pub suppression: Option<SuppressionView>,
    /// Current consent per topic, derived from the ledger.
    pub consent: BTreeMap<String, TopicConsentView>,
    /// The address checks' verdict, reasons and suggestion.
    #[schema(value_type = Option<Object>)]
    pub address_check: Option<Value>,
    /// The import that created the contact.
    pub import_id: Option<String>,
    /// Waiting for the operator's review of its import: not mailable until approved.
    pub quarantined: bool,
    /// Whether sendwell may mail the address at all (has an email, not
    /// suppressed, not invalid, not quarantined). Consent is judged per message.
    pub mailable: bool,
}

impl ContactView {
    pub fn from(c: Contact) -> Self {
        let mailable = c.mailable();
        let address_check = c.address_check.clone().or_else(|| {
            c.address_verdict
                .as_ref()
                .map(|v| serde_json::json!({"verdict": v, "reasons": []}))
        });
        Self {
            address_check,
            import_id: c.import_id.clone(),
            quarantined: c.quarantined,
            mailable,
            id: c.id.to_string(),
            email: c.email,
            name: c.name,
            external_id: c.external_id,
            attributes: c.attributes,
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
            last_seen_at: c.last_seen_at.map(Timestamp::to_rfc3339),
            suppression: c.suppression.map(|s| SuppressionView {
                reason: s.reason,
                source: s.source,
                since: s.since.to_rfc3339(),
            }),
            consent: c
                .consent
                .into_iter()
                .map(|(topic, tc)| {
                    (
                        topic.as_str().to_owned(),
                        TopicConsentView {
                            status: tc.status.as_str(),
                            double_opt_in: tc.double_opt_in,
                            since: tc.since.to_rfc3339(),
                            event_id: tc.event_id.to_string(),
                        },
                    )
                })
                .collect(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContactQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
    /// Only the contact with this address.
    pub email: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ContactExportView {
    pub exported_at: String,
    pub contact: ContactView,
    /// The type of each of the contact's attributes in the workspace schema.
    pub attribute_types: BTreeMap<String, String>,
    pub consent_events: Vec<ConsentEventView>,
    /// Everything else held on the person: `deliveries` (with their
    /// outcomes), `mails` (the rendered copies the outbox keeps), `link_events`
    /// (opens and clicks), `feedback` (bounces and complaints), `reports`,
    /// `imports` (that brought the contact in or declared consent),
    /// `held_consent` (declared by an import still under review) and
    /// `suppressions`.
    #[schema(value_type = Object)]
    pub activity: serde_json::Map<String, serde_json::Value>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upsert, list))
        .routes(routes!(batch))
        .routes(routes!(get_one, erase))
        .routes(routes!(export))
}

pub(crate) fn contact_id(id: &str) -> Result<ContactId, ApiError> {
    ContactId::parse(id).map_err(|_| not_found(id))
}

pub(crate) fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("This workspace has no contact '{id}'."))
}

fn parse_time(value: &Value) -> Result<Timestamp, String> {
    match value {
        Value::String(s) => Timestamp::parse(s).map_err(|e| e.to_string()),
        Value::Number(n) => n
            .as_i64()
            .and_then(Timestamp::from_unix_seconds)
            .ok_or_else(|| "Unix seconds must be a whole number".to_owned()),
        _ => Err("give an RFC 3339 time (2026-01-31T12:00:00Z) or Unix seconds".to_owned()),
    }
}

/// A field's value when given and valid; its problem reported otherwise.
fn field_value<T>(
    problem: &mut impl FnMut(&str, String),
    name: &str,
    parsed: Option<Result<T, String>>,
) -> Option<T> {
    match parsed? {
        Ok(v) => Some(v),
        Err(e) => {
            problem(name, e);
            None
        }
    }
}

/// Parses one contact, collecting every problem under `prefix`.
fn parse_write(
    state: &AppState,
    w: ContactWrite,
    prefix: &str,
    traps: &sendwell_store::TrapList,
) -> Result<ContactInput, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut problem = |field: &str, detail: String| {
        problems.push(FieldProblem {
            pointer: format!("{prefix}/{field}"),
            detail,
        })
    };
    // Each field parsed on its own, every problem reported.
    let parsed_email = w
        .email
        .as_deref()
        .map(|t| EmailAddress::parse(t).map_err(|e| e.to_string()));
    let email = field_value(&mut problem, "email", parsed_email);
    let external_id = field_value(
        &mut problem,
        "external_id",
        label_value("external_id", w.external_id.as_deref()),
    );
    if w.email.is_none() && w.external_id.is_none() {
        problem(
            "email",
            "give an email, an external_id, or both, to say which contact this is".to_owned(),
        );
    }
    let name = field_value(&mut problem, "name", label_value("name", w.name.as_deref()));
    let [created_at, last_seen_at] = parse_times(&mut problem, &w);
    let attributes = w.attributes.unwrap_or_default();
    check_attribute_count(&mut problem, &attributes);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ContactInput {
        known_new: false,
        email_hash: email.as_ref().map(|e| state.address_hash(e)),
        address: w
            .email
            .as_deref()
            .map(|text| address_stamp(state, text, traps)),
        email,
        external_id,
        name,
        attributes,
        created_at,
        last_seen_at,
    })
}

/// A label field (a name, an id) when given: its text, or what is wrong with it.
fn label_value(name: &'static str, text: Option<&str>) -> Option<Result<String, String>> {
    text.map(|t| {
        Label::parse(name, t, 255)
            .map(Label::into_string)
            .map_err(|e| e.to_string())
    })
}

/// `created_at` and `last_seen_at`, each when given (and not null).
fn parse_times(problem: &mut impl FnMut(&str, String), w: &ContactWrite) -> [Option<Timestamp>; 2] {
    let mut times = [None, None];
    for (slot, (field, value)) in times.iter_mut().zip([
        ("created_at", &w.created_at),
        ("last_seen_at", &w.last_seen_at),
    ]) {
        if let Some(v) = value.as_ref().filter(|v| !v.is_null()) {
            match parse_time(v) {
                Ok(t) => *slot = Some(t),
                Err(e) => problem(field, format!("{field}: {e}")),
            }
        }
    }
    times
}

fn check_attribute_count(problem: &mut impl FnMut(&str, String), attributes: &Map<String, Value>) {
    if attributes.len() > MAX_ATTRIBUTES {
        problem(
            "attributes",
            format!(
                "a contact can have at most {MAX_ATTRIBUTES} attributes; {} were given",
                attributes.len()
            ),
        );
    }
}

/// The offline address check of a contact's address, with the trap list.
fn address_stamp(
    state: &AppState,
    text: &str,
    traps: &sendwell_store::TrapList,
) -> sendwell_store::AddressStamp {
    let mut check = state.checker().offline(text);
    super::addresses::flag_trap(state, &mut check, traps);
    crate::address::stamp(&check)
}

use crate::extract::escape_pointer;

/// Turns the store's item errors into one problem: 409 when every error is
/// a conflict between contacts, 422 otherwise.
fn batch_problem(errors: Vec<BatchItemError>, prefix: impl Fn(usize) -> String) -> ApiError {
    let all_conflicts = errors
        .iter()
        .all(|e| matches!(e.problem, BatchItemProblem::Conflict(_)));
    let problems: Vec<FieldProblem> = errors
        .into_iter()
        .map(|e| match e.problem {
            BatchItemProblem::Attribute(a) => FieldProblem {
                pointer: match a.attribute() {
                    Some(name) => {
                        format!("{}/attributes/{}", prefix(e.index), escape_pointer(name))
                    }
                    None => format!("{}/attributes", prefix(e.index)),
                },
                detail: a.to_string(),
            },
            BatchItemProblem::Conflict(message) => FieldProblem {
                pointer: prefix(e.index),
                detail: message,
            },
        })
        .collect();
    let summary = if problems.len() == 1 {
        problems[0].detail.clone()
    } else {
        format!(
            "{} problems; see errors. Nothing was written.",
            problems.len()
        )
    };
    let base = if all_conflicts {
        ApiError::conflict("contact-conflict", summary)
    } else {
        ApiError::invalid(summary)
    };
    base.with_errors(problems)
}

/// Creates or updates one contact, matched by external_id, then by email.
#[utoipa::path(post, path = "/v1/contacts", tag = "contacts", security(("bearer" = [])),
    request_body = ContactWrite,
    responses((status = 201, description = "created", body = ContactView), (status = 200, description = "updated", body = ContactView),
        (status = 422, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn upsert(
    Ws { state, caller, .. }: Ws<can::WriteContacts>,
    ApiJson(write): ApiJson<ContactWrite>,
) -> ApiResult<(StatusCode, Json<ContactView>)> {
    let traps = state.store.trap_list().await?;
    let input = parse_write(&state, write, "", &traps).map_err(|problems| {
        let summary = problems[0].detail.clone();
        ApiError::invalid(summary).with_errors(problems)
    })?;
    let outcome = state
        .store
        .upsert_contacts(caller.workspace(), std::slice::from_ref(&input))
        .await?
        .map_err(|errors| batch_problem(errors, |_| String::new()))?;
    let Some(first) = outcome.first() else {
        return Err(ApiError::internal(
            &"an upsert of one contact returned no outcome",
        ));
    };
    let contact = state
        .store
        .contact(caller.workspace(), &first.id)
        .await?
        .ok_or_else(|| ApiError::internal(&"an upserted contact could not be read back"))?;
    let status = match first.status {
        UpsertStatus::Created => StatusCode::CREATED,
        UpsertStatus::Updated => StatusCode::OK,
    };
    Ok((status, Json(ContactView::from(contact))))
}

/// Creates or updates up to 1000 contacts in one transaction: all of them, or
/// none and a list of every problem.
#[utoipa::path(post, path = "/v1/contacts/batch", tag = "contacts", security(("bearer" = [])),
    request_body = BatchRequest,
    responses((status = 200, body = BatchResponse), (status = 422, body = crate::error::Problem), (status = 413, body = crate::error::Problem)))]
pub async fn batch(
    Ws { state, caller, .. }: Ws<can::WriteContacts>,
    ApiJson(req): ApiJson<BatchRequest>,
) -> ApiResult<Json<BatchResponse>> {
    let n = req.contacts.len();
    if n == 0 || n > MAX_BATCH {
        return Err(ApiError::invalid_field(
            "/contacts",
            format!("a batch holds 1 to {MAX_BATCH} contacts; this one has {n}: split it into several requests"),
        ));
    }
    let mut inputs = Vec::with_capacity(n);
    let mut problems = Vec::new();
    let traps = state.store.trap_list().await?;
    let mut attribute_sets = Vec::with_capacity(n);
    for (i, write) in req.contacts.into_iter().enumerate() {
        attribute_sets.push(write.attributes.clone().unwrap_or_default());
        match parse_write(&state, write, &format!("/contacts/{i}"), &traps) {
            Ok(input) => inputs.push(input),
            Err(p) => problems.extend(p),
        }
    }
    if !problems.is_empty() {
        // Every kind of problem at once: the attribute types too, so one
        // round of fixes is enough.
        let typed =
            attribute_type_problems(&state, caller.workspace(), &problems, &attribute_sets).await?;
        problems.extend(typed);
        return Err(batch_invalid(problems));
    }
    let outcomes = state
        .store
        .upsert_contacts(caller.workspace(), &inputs)
        .await?
        .map_err(|errors| batch_problem(errors, |i| format!("/contacts/{i}")))?;
    Ok(Json(BatchResponse::of(outcomes)))
}

/// The attribute type problems of a batch, as the write would have judged
/// them (a type fixed by an earlier item holds for later ones), except
/// where a problem already points.
async fn attribute_type_problems(
    state: &AppState,
    ws: &WorkspaceId,
    problems: &[FieldProblem],
    attribute_sets: &[Map<String, Value>],
) -> ApiResult<Vec<FieldProblem>> {
    let mut schema = state.store.schema(ws).await?;
    let mut typed = Vec::new();
    for (i, attributes) in attribute_sets.iter().enumerate() {
        if let Err(errors) = schema.resolve(attributes) {
            for e in errors {
                let pointer = match e.attribute() {
                    Some(name) => format!("/contacts/{i}/attributes/{}", escape_pointer(name)),
                    None => format!("/contacts/{i}/attributes"),
                };
                if !problems.iter().any(|p| p.pointer == pointer) {
                    typed.push(FieldProblem {
                        pointer,
                        detail: e.to_string(),
                    });
                }
            }
        }
    }
    Ok(typed)
}

/// A batch refused for its problems, in the order of its items.
fn batch_invalid(mut problems: Vec<FieldProblem>) -> ApiError {
    let index = |p: &FieldProblem| {
        p.pointer
            .split('/')
            .nth(2)
            .and_then(|i| i.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    };
    problems.sort_by_key(index);
    let summary = format!(
        "{} problem{} in the batch; see errors. Nothing was written.",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    ApiError::invalid(summary).with_errors(problems)
}

impl BatchResponse {
    fn of(outcomes: Vec<UpsertOutcome>) -> Self {
        let created = outcomes
            .iter()
            .filter(|o| o.status == UpsertStatus::Created)
            .count();
        Self {
            created,
            updated: outcomes.len() - created,
            results: outcomes
                .into_iter()
                .map(|o| BatchItemResult {
                    index: o.index,
                    id: o.id.to_string(),
                    status: match o.status {
                        UpsertStatus::Created => "created",
                        UpsertStatus::Updated => "updated",
                    },
                })
                .collect(),
        }
    }
}

/// Lists contacts in a stable order, a page at a time.
#[utoipa::path(get, path = "/v1/contacts", tag = "contacts", security(("bearer" = [])),
    params(ContactQuery), responses((status = 200, body = Page<ContactView>)))]
pub async fn list(
    Ws { state, caller, .. }: Ws<can::Read>,
    ApiQuery(query): ApiQuery<ContactQuery>,
) -> ApiResult<Json<Page<ContactView>>> {
    let limit = page_limit(query.limit)?;
    let cursor = match query.cursor.as_deref() {
        Some(c) => Some(ContactId::parse(c).map_err(|_| {
            ApiError::invalid_field(
                "/cursor",
                "cursor is not one this API returned; pass next_cursor as given",
            )
        })?),
        None => None,
    };
    let email = query
        .email
        .as_deref()
        .map(|e| super::parse_email(e, "/email"))
        .transpose()?;
    let page = state
        .store
        .list_contacts(caller.workspace(), cursor.as_ref(), limit, email.as_ref())
        .await?;
    Ok(Json(Page {
        items: page.items.into_iter().map(ContactView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One contact.
#[utoipa::path(get, path = "/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ContactView), (status = 404, body = crate::error::Problem)))]
pub async fn get_one(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<Json<ContactView>> {
    let contact = state
        .store
        .contact(caller.workspace(), &contact_id(&id)?)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(ContactView::from(contact)))
}

/// Erases a contact (admin): personal data and consent evidence are removed;
/// a keyed hash of the address stays suppressed so it is never mailed again;
/// the consent ledger stays verifiable.
#[utoipa::path(delete, path = "/v1/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "erased"), (status = 404, body = crate::error::Problem)))]
pub async fn erase(
    Ws { state, caller, .. }: Ws<can::EraseContacts>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state
        .store
        .erase_contact(caller.workspace(), &contact_id(&id)?, &caller.actor())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

/// Everything held on one contact (admin), for a data subject's access request.
#[utoipa::path(get, path = "/v1/contacts/{id}/export", tag = "contacts", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ContactExportView), (status = 404, body = crate::error::Problem)))]
pub async fn export(
    Ws { state, caller, .. }: Ws<can::ExportContacts>,
    Path(id): Path<String>,
) -> ApiResult<Json<ContactExportView>> {
    let export = state
        .store
        .export_contact(caller.workspace(), &contact_id(&id)?)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let schema = state.store.attribute_schema(caller.workspace()).await?;
    let attribute_types = schema
        .into_iter()
        .filter(|(name, _, _)| export.contact.attributes.contains_key(name))
        .map(|(name, kind, _)| (name, kind.as_str().to_owned()))
        .collect();
    Ok(Json(ContactExportView {
        exported_at: state.store.now().to_rfc3339(),
        contact: ContactView::from(export.contact),
        attribute_types,
        consent_events: export
            .consent_events
            .iter()
            .map(ConsentEventView::from)
            .collect(),
        activity: export.activity,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct AttributeView {
    pub name: String,
    /// `string`, `number`, `boolean` or `date`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct AttributeList {
    pub items: Vec<AttributeView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareAttribute {
    pub name: String,
    /// `string`, `number`, `boolean` or `date`.
    #[serde(rename = "type")]
    pub kind: String,
}

pub fn attribute_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_attributes, declare_attribute))
        .routes(routes!(delete_attribute))
}

/// Whether a message uses the attribute: a variable of its subject or
/// template, a name in its audience filter (`audience`: its own, or its
/// saved audience's), or its opt-in attribute.
fn message_uses(
    m: &sendwell_store::MessageRecord,
    audience: Option<&serde_json::Value>,
    name: &str,
) -> bool {
    fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut variables = std::collections::BTreeSet::new();
    let mut texts = vec![m.subject.as_str()];
    strings(&m.template, &mut texts);
    for t in texts {
        sendwell_mail::template::collect_variables(t, &mut variables);
    }
    let mut filter = Vec::new();
    if let Some(a) = audience {
        strings(a, &mut filter);
    }
    variables.contains(name)
        || filter.contains(&name)
        || (m.kind == sendwell_core::MessageKind::OptInRequest && m.opt_in_attribute == name)
}

/// The messages, named, that use the attribute and still have mail to send.
async fn attribute_users(
    state: &AppState,
    ws: &WorkspaceId,
    attribute: &sendwell_core::AttributeName,
) -> ApiResult<Vec<String>> {
    let mut users = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = state.store.list_messages(ws, after.as_deref(), 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.to_string());
        for m in &page {
            let audience = match &m.audience_id {
                Some(id) => state.store.saved_audience(ws, id).await?.map(|a| a.filter),
                None => m.audience.clone(),
            };
            if !message_uses(m, audience.as_ref(), attribute.as_str()) {
                continue;
            }
            // A sent message whose mail has all gone needs it no more.
            let pending = if !m.state.is_sent() {
                true
            } else {
                let counts = state.store.delivery_counts(&m.id).await?;
                sendwell_core::DeliveryStatus::ALL
                    .iter()
                    .filter(|s| {
                        s.is_pending()
                            || matches!(
                                **s,
                                sendwell_core::DeliveryStatus::Held
                                    | sendwell_core::DeliveryStatus::Paused
                            )
                    })
                    .any(|s| counts.get(s.as_str()).copied().unwrap_or(0) > 0)
            };
            if pending {
                users.push(format!("{} ({})", m.name, m.id));
            }
        }
    }
    Ok(users)
}

/// Removes an attribute no message still to be sent uses, with its value
/// on every contact (admin). A message that uses it is named in the 409.
#[utoipa::path(delete, path = "/v1/attributes/{name}", tag = "contacts", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn delete_attribute(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let ws = caller.workspace();
    let not_found = || {
        ApiError::not_found(format!(
            "This workspace has no attribute '{}'; GET /v1/attributes lists them.",
            name.chars().take(80).collect::<String>()
        ))
    };
    let attribute = sendwell_core::AttributeName::parse(&name).map_err(|_| not_found())?;
    let users = attribute_users(&state, ws, &attribute).await?;
    if !users.is_empty() {
        return Err(ApiError::conflict(
            "attribute-in-use",
            format!(
                "attribute '{attribute}' is used by {}: change or delete {} first",
                users.join(", "),
                if users.len() == 1 { "it" } else { "them" }
            ),
        ));
    }
    if state
        .store
        .delete_attribute(ws, &attribute, &caller.actor())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// The workspace's attribute schema: each custom attribute and its type.
#[utoipa::path(get, path = "/v1/attributes", tag = "contacts", security(("bearer" = [])),
    responses((status = 200, body = AttributeList)))]
pub async fn list_attributes(
    Ws { state, caller, .. }: Ws<can::Read>,
) -> ApiResult<Json<AttributeList>> {
    let schema = state.store.attribute_schema(caller.workspace()).await?;
    Ok(Json(AttributeList {
        items: schema
            .into_iter()
            .map(|(name, kind, created_at)| AttributeView {
                name,
                kind: kind.as_str(),
                created_at: created_at.to_rfc3339(),
            })
            .collect(),
    }))
}

/// Fixes an attribute's type before its first use (sender or admin).
#[utoipa::path(post, path = "/v1/attributes", tag = "contacts", security(("bearer" = [])),
    request_body = DeclareAttribute,
    responses((status = 201, body = AttributeView), (status = 200, body = AttributeView), (status = 409, body = crate::error::Problem)))]
pub async fn declare_attribute(
    Ws { state, caller, .. }: Ws<can::WriteContacts>,
    ApiJson(req): ApiJson<DeclareAttribute>,
) -> ApiResult<(StatusCode, Json<AttributeView>)> {
    let name = sendwell_core::AttributeName::parse(&req.name)
        .map_err(|e| ApiError::invalid_field("/name", e.to_string()))?;
    let kind = sendwell_core::AttributeType::parse(&req.kind).ok_or_else(|| {
        ApiError::invalid_field(
            "/type",
            format!(
                "type '{}' is not one of string, number, boolean, date",
                req.kind
            ),
        )
    })?;
    match state.store.declare_attribute(caller.workspace(), &name, kind, &caller.actor()).await? {
        Ok(created) => Ok((
            if created { StatusCode::CREATED } else { StatusCode::OK },
            Json(AttributeView {
                name: name.as_str().to_owned(),
                kind: kind.as_str(),
                created_at: state.store.now().to_rfc3339(),
            }),
        )),
        Err(sendwell_store::DeclareRefusal::OtherType(existing)) => Err(ApiError::conflict(
            "attribute-type-fixed",
            format!("attribute '{name}' already has the type {existing}; an attribute's type never changes"),
        )),
        Err(sendwell_store::DeclareRefusal::SchemaFull(limit)) => Err(ApiError::conflict(
            "attribute-limit",
            format!("the workspace has its limit of {limit} attributes; delete unused ones with DELETE /v1/attributes/{{name}} first"),
        )),
    }
}
