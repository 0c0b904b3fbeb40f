//! Saved audiences: named filters a workspace uses again. The filter is
//! checked against the workspace's attributes when saved, and kept in its
//! canonical form; who it reaches is counted again at each use
//! (`POST /v1/audiences/preview` with its `filter_text`).

use super::messages::parse_filter;
use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use sendwell_core::AudienceId;
use sendwell_store::SavedAudience;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Saved audiences one workspace may have.
pub const MAX_SAVED_AUDIENCES: usize = 500;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveAudience {
    pub name: String,
    /// A JSON filter object, or the same filter as text.
    #[schema(value_type = Object)]
    pub filter: Value,
}

#[derive(Serialize, ToSchema)]
pub struct SavedAudienceView {
    pub id: String,
    pub name: String,
    /// The filter in its canonical JSON form.
    #[schema(value_type = Object)]
    pub filter: Value,
    /// The same filter as text.
    pub filter_text: String,
    pub created_by: String,
    pub created_at: String,
}

impl From<SavedAudience> for SavedAudienceView {
    fn from(a: SavedAudience) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.name,
            filter: a.filter,
            filter_text: a.filter_text,
            created_by: a.created_by,
            created_at: a.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SavedAudienceList {
    pub items: Vec<SavedAudienceView>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, save))
        .routes(routes!(show, update, delete))
}

fn audience_id(id: &str) -> Result<AudienceId, ApiError> {
    AudienceId::parse(id)
        .map_err(|_| ApiError::not_found(format!("This workspace has no audience '{id}'.")))
}

/// Saves a filter under a name (sender or admin).
#[utoipa::path(post, path = "/v1/audiences", tag = "messages", security(("bearer" = [])),
    request_body = SaveAudience,
    responses((status = 201, body = SavedAudienceView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn save(
    Ws { state, caller, .. }: Ws<can::Send>,
    ApiJson(req): ApiJson<SaveAudience>,
) -> ApiResult<(StatusCode, Json<SavedAudienceView>)> {
    let (name, filter) = named_filter(&state, &caller, &req).await?;
    if state.store.saved_audiences(caller.workspace()).await?.len() >= MAX_SAVED_AUDIENCES {
        return Err(ApiError::conflict(
            "too-many-audiences",
            format!("the workspace has {MAX_SAVED_AUDIENCES} saved audiences; delete one first"),
        ));
    }
    let saved = state
        .store
        .save_audience(
            caller.workspace(),
            name.as_str(),
            &filter.to_json(),
            &filter.to_text(),
            &caller.actor(),
        )
        .await?
        .map_err(|_| name_taken(name.as_str()))?;
    Ok((StatusCode::CREATED, Json(saved.into())))
}

/// The name and the filter of a saved audience, checked.
async fn named_filter(
    state: &AppState,
    caller: &crate::extract::WorkspaceCaller,
    req: &SaveAudience,
) -> ApiResult<(sendwell_core::text::Label, sendwell_core::filter::Filter)> {
    let name = super::label("name", &req.name, 200)?;
    let schema = state.store.schema(caller.workspace()).await?;
    let filter = parse_filter(Some(&req.filter), &schema, "/filter")?.ok_or_else(|| {
        ApiError::invalid_field(
            "/filter",
            "the filter is empty; an audience of every contact needs no saving",
        )
    })?;
    Ok((name, filter))
}

fn name_taken(name: &str) -> ApiError {
    ApiError::conflict(
        "audience-name-taken",
        format!("the workspace has an audience named '{name}' already; choose another name"),
    )
}

/// Changes a saved audience's name and filter (sender or admin). Messages
/// that use it by id read the new filter at their next check and send.
#[utoipa::path(put, path = "/v1/audiences/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = SaveAudience,
    responses((status = 200, body = SavedAudienceView), (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update(
    Ws { state, caller, .. }: Ws<can::Send>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SaveAudience>,
) -> ApiResult<Json<SavedAudienceView>> {
    let id = audience_id(&id)?;
    let missing = || ApiError::not_found(format!("This workspace has no audience '{id}'."));
    if state
        .store
        .saved_audience(caller.workspace(), &id)
        .await?
        .is_none()
    {
        return Err(missing());
    }
    let (name, filter) = named_filter(&state, &caller, &req).await?;
    let changed = state
        .store
        .update_saved_audience(
            caller.workspace(),
            &id,
            name.as_str(),
            &filter.to_json(),
            &filter.to_text(),
            &caller.actor(),
        )
        .await?
        .ok_or_else(missing)?
        .map_err(|_| name_taken(name.as_str()))?;
    Ok(Json(changed.into()))
}

/// The workspace's saved audiences, by name.
#[utoipa::path(get, path = "/v1/audiences", tag = "messages", security(("bearer" = [])),
    responses((status = 200, body = SavedAudienceList)))]
pub async fn list(Ws { state, caller, .. }: Ws<can::Read>) -> ApiResult<Json<SavedAudienceList>> {
    let items = state.store.saved_audiences(caller.workspace()).await?;
    Ok(Json(SavedAudienceList {
        items: items.into_iter().map(SavedAudienceView::from).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/audiences/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = SavedAudienceView), (status = 404, body = crate::error::Problem)))]
pub async fn show(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<Json<SavedAudienceView>> {
    let found = state
        .store
        .saved_audience(caller.workspace(), &audience_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("This workspace has no audience '{id}'.")))?;
    Ok(Json(found.into()))
}

/// Deletes a saved audience (sender or admin); messages composed with its
/// filter keep their own copy.
#[utoipa::path(delete, path = "/v1/audiences/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = SavedAudienceView), (status = 404, body = crate::error::Problem)))]
pub async fn delete(
    Ws { state, caller, .. }: Ws<can::Send>,
    Path(id): Path<String>,
) -> ApiResult<Json<SavedAudienceView>> {
    let gone = state
        .store
        .delete_saved_audience(caller.workspace(), &audience_id(&id)?, &caller.actor())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("This workspace has no audience '{id}'.")))?;
    Ok(Json(gone.into()))
}
