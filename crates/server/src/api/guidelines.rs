//! The sending guidelines: read them (no key needed) and accept the current
//! version (admin). Acceptance records version, who, when and from where.

use super::workspace::{SendingStatusView, WorkspaceView};
use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, Ws};
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::Json;
use sendwell_core::gate;
use sendwell_core::text::Label;
use sendwell_store::{AcceptError, Guidelines};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Serialize, ToSchema)]
pub struct GuidelinesView {
    pub version: i64,
    /// Markdown.
    pub text: String,
    pub published_at: String,
}

impl GuidelinesView {
    pub fn from(g: Guidelines) -> Self {
        Self {
            version: g.version,
            text: g.text,
            published_at: g.published_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// Must be the current version.
    pub version: i64,
    /// The person accepting, e.g. "Ada Lovelace <ada@example.org>".
    pub accepted_by: String,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptResponse {
    pub accepted_version: i64,
    pub accepted_by: String,
    pub workspace: WorkspaceView,
    pub sending_status: SendingStatusView,
}

#[derive(Serialize, ToSchema)]
pub struct AcceptanceView {
    pub version: i64,
    pub accepted_by: String,
    /// The API key it was accepted with; absent when a member accepted it
    /// in the console.
    pub api_key_id: Option<String>,
    /// The console account of the member who accepted it, if one did.
    pub account_id: Option<String>,
    pub ip: Option<String>,
    pub accepted_at: String,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(current))
        .routes(routes!(accept))
        .routes(routes!(acceptances))
}

/// The current sending guidelines. No key needed.
#[utoipa::path(get, path = "/v1/guidelines", tag = "guidelines", responses((status = 200, body = GuidelinesView)))]
pub async fn current(State(state): State<AppState>) -> ApiResult<Json<GuidelinesView>> {
    Ok(Json(GuidelinesView::from(
        state.store.current_guidelines().await?,
    )))
}

/// Accepts the current guidelines for the workspace (admin).
#[utoipa::path(post, path = "/v1/guidelines/accept", tag = "guidelines", security(("bearer" = [])),
    request_body = AcceptRequest,
    responses((status = 200, body = AcceptResponse), (status = 409, body = crate::error::Problem)))]
pub async fn accept(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<AcceptRequest>,
) -> ApiResult<Json<AcceptResponse>> {
    let accepted_by = Label::parse("accepted_by", &req.accepted_by, 200)
        .map_err(|e| ApiError::invalid_field("/accepted_by", e.to_string()))?;
    // The client's address, behind the operator's trusted proxies too: it
    // is the evidence of who accepted.
    let ip = crate::extract::client_ip(state.trusted_proxies(), &headers, peer);
    let outcome = state
        .store
        .accept_guidelines(
            caller.workspace(),
            req.version,
            accepted_by.as_str(),
            caller.accepted_through(),
            Some(&ip),
        )
        .await?;
    let update = match outcome {
        Ok(update) => update,
        Err(AcceptError::NotCurrent { current }) => {
            return Err(ApiError::conflict(
                "guidelines-version-not-current",
                format!(
                    "Version {} is not the current version of the guidelines; the current version is {current}. \
                     Read it with GET /v1/guidelines and accept version {current}.",
                    req.version
                ),
            ))
        }
        Err(AcceptError::WorkspaceNotFound) => {
            return Err(ApiError::not_found("The workspace of this key no longer exists."))
        }
    };
    let now = state.store.now();
    let status = gate::evaluate(update.workspace.gate_input(now));
    Ok(Json(AcceptResponse {
        accepted_version: req.version,
        accepted_by: accepted_by.into_string(),
        workspace: WorkspaceView::from(&update.workspace, now),
        sending_status: SendingStatusView::from(&status),
    }))
}

/// Every acceptance of the guidelines by this workspace.
#[utoipa::path(get, path = "/v1/guidelines/acceptances", tag = "guidelines", security(("bearer" = [])),
    responses((status = 200, body = Vec<AcceptanceView>)))]
pub async fn acceptances(
    Ws { state, caller, .. }: Ws<can::Read>,
) -> ApiResult<Json<Vec<AcceptanceView>>> {
    let list = state.store.acceptances(caller.workspace()).await?;
    Ok(Json(
        list.into_iter()
            .map(|a| AcceptanceView {
                version: a.version,
                accepted_by: a.accepted_by,
                api_key_id: a
                    .api_key_id
                    .starts_with(sendwell_core::ApiKeyId::PREFIX)
                    .then(|| a.api_key_id.clone()),
                account_id: a
                    .api_key_id
                    .starts_with(sendwell_core::AccountId::PREFIX)
                    .then(|| a.api_key_id.clone()),
                ip: a.ip,
                accepted_at: a.accepted_at.to_rfc3339(),
            })
            .collect(),
    ))
}
