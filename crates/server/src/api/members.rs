//! The workspace's members, the people who sign in to the console (admin):
//! invite (the answer holds the one-time invite link), list, change a
//! role, send a new invite link, remove. Roles are the API keys' roles.

use super::keys::parse_role;
use crate::accounts::{self, member_error_text};
use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use sendwell_core::AccountId;
use sendwell_store::{Member, MemberError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteMember {
    pub email: String,
    /// `admin`, `sender` or `viewer`.
    pub role: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// `admin`, `sender` or `viewer`.
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    /// The account's id.
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    /// `invited` until the person sets a password, then `active`.
    pub status: String,
    pub created_by: String,
    pub created_at: String,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        Self {
            id: m.account_id.to_string(),
            email: m.email,
            name: m.name,
            role: m.role.as_str().to_owned(),
            status: if m.active { "active" } else { "invited" }.to_owned(),
            created_by: m.created_by,
            created_at: m.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InvitedMember {
    #[serde(flatten)]
    pub member: MemberView,
    /// The one-time link that lets the person set a password; it works for
    /// 7 days. Shown only in this response. Absent when the person has an
    /// account already: they are added, and sign in with their password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<MemberView>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, invite))
        .routes(routes!(change_role, remove))
        .routes(routes!(reinvite))
}

pub(crate) fn member_problem(e: MemberError) -> ApiError {
    let text = member_error_text(e);
    match e {
        MemberError::NotFound => ApiError::not_found(text),
        MemberError::AlreadyMember => ApiError::conflict("already-member", text),
        MemberError::LastAdmin => ApiError::conflict("last-admin", text),
    }
}

fn too_many_invites() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-invites",
        "Too many invites",
        accounts::too_many_invites(),
    )
}

fn account_id(id: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(id)
        .map_err(|_| ApiError::not_found(format!("This workspace has no member '{id}'.")))
}

/// Invites a person to the workspace's console (admin). The answer holds
/// the invite link, once.
#[utoipa::path(post, path = "/v1/members", tag = "members", security(("bearer" = [])),
    request_body = InviteMember,
    responses((status = 201, body = InvitedMember), (status = 409, body = crate::error::Problem)))]
pub async fn invite(
    Ws { state, caller, .. }: Ws<can::ManageKeys>,
    ApiJson(req): ApiJson<InviteMember>,
) -> ApiResult<(StatusCode, Json<InvitedMember>)> {
    let email = super::parse_email(&req.email, "/email")?;
    let role = parse_role(&req.role)?;
    if !accounts::invite_allowed(&state, caller.workspace()) {
        return Err(too_many_invites());
    }
    let invited = accounts::invite(
        &state,
        caller.workspace(),
        email.key(),
        role,
        &caller.actor(),
    )
    .await?
    .map_err(member_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(InvitedMember {
            member: invited.member.into(),
            invite_url: invited.invite_url,
        }),
    ))
}

/// Lists the workspace's members (admin); never their passwords.
#[utoipa::path(get, path = "/v1/members", tag = "members", security(("bearer" = [])),
    responses((status = 200, body = MemberList)))]
pub async fn list(Ws { state, caller, .. }: Ws<can::ManageKeys>) -> ApiResult<Json<MemberList>> {
    let members = state.store.list_members(caller.workspace()).await?;
    Ok(Json(MemberList {
        items: members.into_iter().map(MemberView::from).collect(),
    }))
}

/// Changes a member's role (admin); the only admin member stays an admin.
#[utoipa::path(patch, path = "/v1/members/{id}", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "the member's account id")), request_body = MemberPatch,
    responses((status = 200, body = MemberView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn change_role(
    Ws { state, caller, .. }: Ws<can::ManageKeys>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MemberPatch>,
) -> ApiResult<Json<MemberView>> {
    let account = account_id(&id)?;
    let role = parse_role(&req.role)?;
    let member = state
        .store
        .set_member_role(caller.workspace(), &account, role, &caller.actor())
        .await?
        .map_err(member_problem)?;
    Ok(Json(member.into()))
}

/// Removes a member (admin): their sessions in this workspace end at once.
#[utoipa::path(delete, path = "/v1/members/{id}", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "the member's account id")),
    responses((status = 200, body = MemberView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn remove(
    Ws { state, caller, .. }: Ws<can::ManageKeys>,
    Path(id): Path<String>,
) -> ApiResult<Json<MemberView>> {
    let account = account_id(&id)?;
    let member = state
        .store
        .remove_member(caller.workspace(), &account, &caller.actor())
        .await?
        .map_err(member_problem)?;
    Ok(Json(member.into()))
}

/// A new invite link for a member who has not set a password (admin).
#[utoipa::path(post, path = "/v1/members/{id}/invite", tag = "members", security(("bearer" = [])),
    params(("id" = String, Path, description = "the member's account id")),
    responses((status = 201, body = InvitedMember), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn reinvite(
    Ws { state, caller, .. }: Ws<can::ManageKeys>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<InvitedMember>)> {
    let account = account_id(&id)?;
    let invited = reinvite_member(&state, caller.workspace(), &account, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(invited)))
}

/// A fresh invite link for a member who has not yet set a password.
pub(crate) async fn reinvite_member(
    state: &AppState,
    ws: &sendwell_core::WorkspaceId,
    account: &AccountId,
    actor: &str,
) -> Result<InvitedMember, ApiError> {
    let existing = state
        .store
        .member(ws, account)
        .await?
        .ok_or_else(|| member_problem(MemberError::NotFound))?;
    if existing.active {
        return Err(ApiError::conflict(
            "already-active",
            format!(
                "{} has already set a password; if it is lost, they can ask for a reset link on the sign-in page.",
                existing.email
            ),
        ));
    }
    if !accounts::invite_allowed(state, ws) {
        return Err(too_many_invites());
    }
    let (token, hash) = accounts::new_token();
    let token_row = sendwell_store::NewToken {
        hash: &hash,
        expires_at: accounts::invite_expiry(state.store.now()),
    };
    let member = state
        .store
        .reinvite_member(ws, account, token_row, actor)
        .await?
        .map_err(member_problem)?;
    let url = accounts::invite_url(state, &token);
    accounts::mail_invite_logged(state, ws, &member.email, &url, false).await;
    Ok(InvitedMember {
        member: member.into(),
        invite_url: Some(url),
    })
}
