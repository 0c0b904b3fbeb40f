//! A workspace's suppression list, and the operator's platform-wide trap list.

use super::workspace::PageQuery;
use super::{audit, parse_email, Page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{can, Acting, ApiJson, ApiQuery, OperatorCaller, Ws};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use sendwell_store::{SuppressionEntry, TrapEntry, UnsuppressError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Reasons a workspace may record itself.
const WORKSPACE_REASONS: &[&str] = &["manual", "unsubscribed", "complained", "bounced"];

#[derive(Serialize, ToSchema)]
pub struct SuppressionView {
    /// `null` when only the keyed hash is kept (after an erasure).
    pub email: Option<String>,
    pub email_hash: String,
    pub reason: String,
    pub source: String,
    pub created_at: String,
    /// Whether the workspace may lift it; unsubscribes, complaints and
    /// erasures are lifted only by the person opting in again.
    pub removable: bool,
}

impl SuppressionView {
    fn from(e: SuppressionEntry) -> Self {
        Self {
            removable: !sendwell_store::PERSON_REASONS.contains(&e.reason.as_str()),
            email: e.email,
            email_hash: e.email_hash,
            reason: e.reason,
            source: e.source,
            created_at: e.created_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSuppression {
    pub email: String,
    /// `manual` (default), `unsubscribed`, `complained` or `bounced`.
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TrapView {
    pub id: String,
    /// `domain` or `address`.
    pub kind: String,
    /// The domain, or for an address its keyed hash.
    pub value: String,
    pub note: String,
    pub created_at: String,
}

impl TrapView {
    fn from(t: TrapEntry) -> Self {
        Self {
            id: t.id,
            kind: t.kind,
            value: t.value,
            note: t.note,
            created_at: t.created_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTrap {
    /// `domain` or `address`.
    pub kind: String,
    pub value: String,
    pub note: String,
}

#[derive(Serialize, ToSchema)]
pub struct TrapList {
    pub items: Vec<TrapView>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(export_csv))
        .routes(routes!(remove))
        .routes(routes!(list_traps, add_trap))
        .routes(routes!(remove_trap))
}

/// The start of an address's keyed hash: enough to tell entries apart
/// in the audit log without keeping the address there.
fn key_prefix(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// The workspace's suppressions, a page at a time.
#[utoipa::path(get, path = "/v1/suppressions", tag = "suppressions", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<SuppressionView>)))]
pub async fn list(
    Ws { state, caller, .. }: Ws<can::Read>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<SuppressionView>>> {
    let page = Page::read(
        query.cursor.as_deref(),
        query.limit,
        |after, n| state.store.list_suppressions(caller.workspace(), after, n),
        |e| e.email_hash.clone(),
    )
    .await?;
    Ok(Json(page.map(SuppressionView::from)))
}

/// Suppresses an address for the workspace (sender or admin).
#[utoipa::path(post, path = "/v1/suppressions", tag = "suppressions", security(("bearer" = [])),
    request_body = AddSuppression, responses((status = 201, body = SuppressionView), (status = 200, body = SuppressionView)))]
pub async fn add(
    Ws { state, caller, .. }: Ws<can::WriteContacts>,
    ApiJson(req): ApiJson<AddSuppression>,
) -> ApiResult<(StatusCode, Json<SuppressionView>)> {
    let email = parse_email(&req.email, "/email")?;
    let reason = req.reason.as_deref().unwrap_or("manual");
    if !WORKSPACE_REASONS.contains(&reason) {
        return Err(ApiError::invalid_field(
            "/reason",
            format!(
                "reason '{reason}' is not one of {}",
                WORKSPACE_REASONS.join(", ")
            ),
        ));
    }
    let (entry, created) = state
        .store
        .add_suppression(
            caller.workspace(),
            email.as_str(),
            &state.address_hash(&email),
            reason,
            "api",
        )
        .await?;
    let hash = state.address_hash(&email);
    audit(
        &state,
        &caller,
        "suppression.added",
        &format!(
            "suppression ({reason}) set for the address with key {}",
            key_prefix(&hash)
        ),
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(SuppressionView::from(entry))))
}

/// Lifts a suppression (admin). Unsubscribes, complaints and erasures cannot
/// be lifted here: only the person, by opting in again.
#[utoipa::path(delete, path = "/v1/suppressions/{address}", tag = "suppressions", security(("bearer" = [])),
    params(("address" = String, Path)),
    responses((status = 200, body = SuppressionView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn remove(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    Path(address): Path<String>,
) -> ApiResult<Json<SuppressionView>> {
    let email = parse_email(&address, "/address")?;
    let hash = state.address_hash(&email);
    match state.store.remove_suppression(caller.workspace(), &hash).await? {
        Ok(entry) => {
            audit(
                &state,
                &caller,
                "suppression.lifted",
                &format!(
                    "suppression ({}) lifted for the address with key {}",
                    entry.reason,
                    key_prefix(&hash)
                ),
            )
            .await?;
            Ok(Json(SuppressionView::from(entry)))
        }
        Err(UnsuppressError::NotFound) => Err(ApiError::not_found(format!("{address} is not suppressed in this workspace."))),
        Err(UnsuppressError::PersonsChoice(reason)) => Err(ApiError::conflict(
            "suppression-is-the-persons-choice",
            format!(
                "{address} is suppressed because it was {reason}; only the person can lift that, by opting in again \
                 (for example through an opt-in link), which the consent ledger records."
            ),
        )),
    }
}

/// The whole suppression list as CSV: email, email_hash, reason, source, created_at.
#[utoipa::path(get, path = "/v1/suppressions.csv", tag = "suppressions", security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String)))]
pub async fn export_csv(Ws { state, caller, .. }: Ws<can::Read>) -> ApiResult<impl IntoResponse> {
    let mut out = String::from("email,email_hash,reason,source,created_at\n");
    let mut cursor: Option<String> = None;
    loop {
        let page = state
            .store
            .list_suppressions(caller.workspace(), cursor.as_deref(), 1000)
            .await?;
        for e in &page {
            out.push_str(&format!(
                "{},{},{},{},{}\n",
                sendwell_core::text::csv_field(e.email.as_deref().unwrap_or("")),
                e.email_hash,
                sendwell_core::text::csv_field(&e.reason),
                sendwell_core::text::csv_field(&e.source),
                e.created_at.to_rfc3339()
            ));
        }
        match page.last() {
            Some(last) if page.len() == 1000 => cursor = Some(last.email_hash.clone()),
            _ => break,
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out))
}

/// The operator's trap list.
#[utoipa::path(get, path = "/v1/operator/suppressions", tag = "operator", security(("bearer" = [])),
    responses((status = 200, body = TrapList)))]
pub async fn list_traps(
    State(state): State<AppState>,
    _operator: OperatorCaller,
) -> ApiResult<Json<TrapList>> {
    let items = state.store.trap_entries().await?;
    Ok(Json(TrapList {
        items: items.into_iter().map(TrapView::from).collect(),
    }))
}

/// Adds a known spam-trap domain or address to the platform-wide list (operator).
#[utoipa::path(post, path = "/v1/operator/suppressions", tag = "operator", security(("bearer" = [])),
    request_body = AddTrap, responses((status = 201, body = TrapView), (status = 409, body = crate::error::Problem)))]
pub async fn add_trap(
    Acting { state, operator: _ }: Acting,
    ApiJson(req): ApiJson<AddTrap>,
) -> ApiResult<(StatusCode, Json<TrapView>)> {
    let note = super::label("note", &req.note, 500)?;
    let value = match req.kind.as_str() {
        "domain" => {
            let probe = format!("x@{}", req.value.trim());
            let check = state.checker().offline(&probe);
            check.domain.ok_or_else(|| {
                ApiError::invalid_field("/value", format!("'{}' is not a domain name", req.value))
            })?
        }
        "address" => state.address_hash(&parse_email(&req.value, "/value")?),
        other => {
            return Err(ApiError::invalid_field(
                "/kind",
                format!("kind '{other}' is not one of domain, address"),
            ))
        }
    };
    match state
        .store
        .add_trap(&req.kind, &value, note.as_str())
        .await?
    {
        Some(entry) => Ok((StatusCode::CREATED, Json(TrapView::from(entry)))),
        None => Err(ApiError::conflict(
            "already-listed",
            format!("that {} is already on the trap list", req.kind),
        )),
    }
}

/// Removes an entry from the trap list (operator).
#[utoipa::path(delete, path = "/v1/operator/suppressions/{id}", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204, description = "removed"), (status = 404, body = crate::error::Problem)))]
pub async fn remove_trap(
    Acting { state, operator: _ }: Acting,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state.store.remove_trap(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "There is no trap entry '{id}'."
        )))
    }
}
