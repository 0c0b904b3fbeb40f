//! Operator endpoints (the operator token): create and inspect workspaces,
//! read their audit logs, publish new guidelines.

use super::guidelines::GuidelinesView;
use super::workspace::{audit_page, AuditEntryView, PageQuery, SendingStatusView, WorkspaceView};
use super::Page;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Acting, ApiJson, ApiQuery, OperatorCaller};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use sendwell_core::gate;
use sendwell_core::secret::ApiKeyToken;
use sendwell_core::{ApiKeyId, Role, WorkspaceId};
use sendwell_store::{Invite, NewKeyRow, NewToken};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    pub name: String,
    /// The first admin member's address: the answer then holds an
    /// `invite_url` for them to set a password and use the console.
    #[serde(default)]
    pub admin_email: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedWorkspace {
    pub id: String,
    pub name: String,
    pub state: String,
    /// The workspace's first admin key. Shown only in this response.
    pub api_key: String,
    pub api_key_id: String,
    pub sending_status: SendingStatusView,
    /// The first admin's one-time invite link (when `admin_email` was
    /// given and names no existing account); it works for 7 days. Shown
    /// only in this response. A person with an account is added as the
    /// admin and signs in with their own password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_url: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishGuidelines {
    /// The full text, in Markdown.
    pub text: String,
    /// Days during which workspaces that accepted an earlier version send
    /// as before and are reminded; 0 to 90, default 14. Transactional mail
    /// is never stopped by a new version.
    #[serde(default)]
    pub grace_days: Option<u32>,
}

/// The grace period of a new version unless the operator says otherwise.
pub const DEFAULT_GRACE_DAYS: u32 = 14;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_workspace, list_workspaces))
        .routes(routes!(get_workspace))
        .routes(routes!(workspace_audit_log))
        .routes(routes!(publish_guidelines))
}

fn workspace_id(id: &str) -> Result<WorkspaceId, ApiError> {
    WorkspaceId::parse(id)
        .map_err(|_| ApiError::not_found(format!("There is no workspace '{id}'.")))
}

/// Creates a workspace in `onboarding`, with its first admin key (operator).
#[utoipa::path(post, path = "/v1/workspaces", tag = "operator", security(("bearer" = [])),
    request_body = CreateWorkspace,
    responses((status = 201, body = CreatedWorkspace), (status = 403, body = crate::error::Problem)))]
pub async fn create_workspace(
    Acting { state, operator }: Acting,
    ApiJson(req): ApiJson<CreateWorkspace>,
) -> ApiResult<(StatusCode, Json<CreatedWorkspace>)> {
    let name = super::label("name", &req.name, 200)?;
    let admin = match &req.admin_email {
        Some(email) => Some(super::parse_email(email, "/admin_email")?),
        None => None,
    };
    let token = ApiKeyToken::generate(ApiKeyId::generate(state.store.now()));
    let hash = token.secret_hash();
    let (invite_token, invite_hash) = crate::accounts::new_token();
    let first_admin = admin.as_ref().map(|email| Invite {
        email: email.key(),
        role: Role::Admin,
        token: NewToken {
            hash: &invite_hash,
            expires_at: crate::accounts::invite_expiry(state.store.now()),
        },
    });
    let ws = state
        .store
        .create_workspace(
            name.as_str(),
            NewKeyRow {
                id: &token.key_id,
                name: "first admin key",
                role: Role::Admin,
                secret_hash: &hash,
            },
            first_admin,
            operator.actor(),
        )
        .await?;
    // A person with an account already is added, not sent a link that
    // would set their password: they sign in with the one they have.
    let invite_url = match &admin {
        Some(email) => {
            let existing = state.store.account_by_email(email.key()).await?;
            let fresh = existing.is_none_or(|a| a.password_hash.is_none());
            let url = fresh.then(|| crate::accounts::invite_url(&state, &invite_token));
            let sign_in = format!("{}/login", state.public_url());
            let link = url.as_deref().unwrap_or(&sign_in);
            if let Err(e) =
                crate::accounts::mail_invite(&state, &ws.name, email.key(), link, !fresh).await
            {
                // The link is in the answer too.
                tracing::warn!(error = %e, "could not queue the first admin's invite mail");
            }
            url
        }
        None => None,
    };
    Ok((
        StatusCode::CREATED,
        Json(CreatedWorkspace {
            id: ws.id.to_string(),
            name: ws.name.clone(),
            state: ws.state.as_str().to_owned(),
            api_key: token.reveal(),
            api_key_id: token.key_id.to_string(),
            sending_status: SendingStatusView::from(&gate::evaluate(
                ws.gate_input(state.store.now()),
            )),
            invite_url,
        }),
    ))
}

/// Lists workspaces (operator).
#[utoipa::path(get, path = "/v1/workspaces", tag = "operator", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<WorkspaceView>)))]
pub async fn list_workspaces(
    State(state): State<AppState>,
    _operator: OperatorCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<WorkspaceView>>> {
    let page = Page::read(
        query.cursor.as_deref(),
        query.limit,
        |after, n| state.store.list_workspaces(after, n),
        |w| w.id.to_string(),
    )
    .await?;
    let now = state.store.now();
    Ok(Json(page.map(|w| WorkspaceView::from(&w, now))))
}

/// One workspace (operator).
#[utoipa::path(get, path = "/v1/workspaces/{id}", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = OperatorWorkspaceView), (status = 404, body = crate::error::Problem)))]
pub async fn get_workspace(
    State(state): State<AppState>,
    _operator: OperatorCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<OperatorWorkspaceView>> {
    let ws = super::workspace::load(&state, &workspace_id(&id)?).await?;
    Ok(Json(OperatorWorkspaceView {
        reputation: super::enforcement::reputation_view(&state, &ws.id).await?,
        workspace: WorkspaceView::from(&ws, state.store.now()),
    }))
}

/// A workspace as the operator sees it: its state, its current rates and
/// its open review case.
#[derive(Serialize, ToSchema)]
pub struct OperatorWorkspaceView {
    #[serde(flatten)]
    pub workspace: WorkspaceView,
    pub reputation: super::enforcement::ReputationView,
}

/// A workspace's audit log (operator).
#[utoipa::path(get, path = "/v1/operator/workspaces/{id}/audit-log", tag = "operator", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery), responses((status = 200, body = Page<AuditEntryView>)))]
pub async fn workspace_audit_log(
    State(state): State<AppState>,
    _operator: OperatorCaller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<AuditEntryView>>> {
    let ws = super::workspace::load(&state, &workspace_id(&id)?).await?;
    Ok(Json(audit_page(&state, &ws.id, query).await?))
}

/// Publishes a new version of the guidelines (operator). Every workspace
/// must accept it before its next send.
#[utoipa::path(post, path = "/v1/operator/guidelines", tag = "operator", security(("bearer" = [])),
    request_body = PublishGuidelines, responses((status = 201, body = GuidelinesView)))]
pub async fn publish_guidelines(
    Acting { state, operator }: Acting,
    ApiJson(req): ApiJson<PublishGuidelines>,
) -> ApiResult<(StatusCode, Json<GuidelinesView>)> {
    let text = req.text.trim();
    if text.len() < 20 {
        return Err(ApiError::invalid_field(
            "/text",
            "The guidelines text is empty or too short; send the full text in Markdown.",
        ));
    }
    if text.len() > 200_000 {
        return Err(ApiError::invalid_field(
            "/text",
            "The guidelines text is over 200,000 bytes.",
        ));
    }
    let grace_days = req.grace_days.unwrap_or(DEFAULT_GRACE_DAYS);
    if grace_days > 90 {
        return Err(ApiError::invalid_field(
            "/grace_days",
            format!("grace_days is 0 to 90; {grace_days} was given"),
        ));
    }
    let published = state
        .store
        .publish_guidelines(text, operator.actor(), grace_days)
        .await?;
    Ok((StatusCode::CREATED, Json(GuidelinesView::from(published))))
}
