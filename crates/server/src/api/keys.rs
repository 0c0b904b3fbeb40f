//! API keys of the caller's workspace (admin only): create (the key is shown
//! once), list, revoke.

use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use sendwell_core::secret::ApiKeyToken;
use sendwell_core::{ApiKeyId, Role};
use sendwell_store::{ApiKeyRecord, NewKeyRow, RevokeError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    /// `admin`, `sender` or `viewer`.
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    pub id: String,
    pub name: String,
    pub role: String,
    /// The key itself. Shown only in this response; store it now.
    pub api_key: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Who made it, as the audit log names them (absent for keys made
    /// before this was recorded).
    pub created_by: Option<String>,
}

impl KeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name.clone(),
            role: k.role.as_str().to_owned(),
            created_at: k.created_at.to_rfc3339(),
            last_used_at: k.last_used_at.map(|t| t.to_rfc3339()),
            revoked_at: k.revoked_at.map(|t| t.to_rfc3339()),
            created_by: k.created_by.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<KeyView>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

pub(crate) fn parse_role(text: &str) -> Result<Role, ApiError> {
    Role::parse(text).ok_or_else(|| {
        ApiError::invalid_field(
            "/role",
            format!("role '{text}' is not one of admin, sender, viewer"),
        )
    })
}

/// Creates an API key (admin). The response is the only place the key appears.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    request_body = CreateKey, responses((status = 201, body = CreatedKey), (status = 403, body = crate::error::Problem)))]
pub async fn create(
    Ws { state, caller, .. }: Ws<can::ManageKeys>,
    ApiJson(req): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let name = super::label("name", &req.name, 100)?;
    let role = parse_role(&req.role)?;
    let token = ApiKeyToken::generate(ApiKeyId::generate(state.store.now()));
    let hash = token.secret_hash();
    let record = state
        .store
        .create_api_key(
            caller.workspace(),
            NewKeyRow {
                id: &token.key_id,
                name: name.as_str(),
                role,
                secret_hash: &hash,
            },
            &caller.actor(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            id: record.id.to_string(),
            name: record.name,
            role: role.as_str().to_owned(),
            api_key: token.reveal(),
            created_at: record.created_at.to_rfc3339(),
        }),
    ))
}

/// Lists the workspace's keys, revoked ones included; never the secrets (admin).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses((status = 200, body = KeyList)))]
pub async fn list(Ws { state, caller, .. }: Ws<can::ManageKeys>) -> ApiResult<Json<KeyList>> {
    let keys = state.store.list_api_keys(caller.workspace()).await?;
    Ok(Json(KeyList {
        items: keys.iter().map(KeyView::from).collect(),
    }))
}

/// Revokes a key at once (admin). The last admin key cannot be revoked.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "key id")),
    responses((status = 200, body = KeyView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn revoke(
    Ws { state, caller, .. }: Ws<can::ManageKeys>,
    Path(id): Path<String>,
) -> ApiResult<Json<KeyView>> {
    let not_found = || ApiError::not_found(format!("This workspace has no API key '{id}'."));
    let key_id = ApiKeyId::parse(&id).map_err(|_| not_found())?;
    match state.store.revoke_api_key(caller.workspace(), &key_id, &caller.actor()).await? {
        Ok(record) => Ok(Json(KeyView::from(&record))),
        Err(RevokeError::NotFound) => Err(not_found()),
        Err(RevokeError::AlreadyRevoked) => Err(ApiError::conflict(
            "already-revoked",
            format!("API key {id} is already revoked."),
        )),
        Err(RevokeError::LastAdmin) => Err(ApiError::conflict(
            "last-admin-key",
            "This is the workspace's last admin key; create another admin key first, then revoke this one.",
        )),
    }
}
