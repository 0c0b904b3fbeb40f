//! Topics as objects: `POST /v1/topics {"key", "name", "description"}`
//! names a consent topic for people. The unsubscribe page and the
//! preference centre (`/p/{token}`) show the name and description; consent
//! is still recorded by key, so renaming a topic changes no one's choice.

use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use sendwell_core::consent::Topic;
use sendwell_store::{TopicExists, TopicRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Topics one workspace may name.
pub const MAX_TOPICS: usize = 200;
const MAX_NAME: usize = 100;
const MAX_DESCRIPTION: usize = 500;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicRequest {
    /// The key consent is recorded under: 1 to 64 lowercase letters,
    /// digits, `_` or `-` (e.g. `product_news`).
    pub key: String,
    /// What people see, e.g. "Product news".
    pub name: String,
    /// One or two sentences on what the mail is and how often it comes.
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicChange {
    pub name: String,
    /// Leave out or send null to remove the description.
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TopicView {
    pub key: String,
    pub name: String,
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<TopicRecord> for TopicView {
    fn from(t: TopicRecord) -> Self {
        Self {
            key: t.key,
            name: t.name,
            description: t.description,
            created_at: t.created_at.to_rfc3339(),
            updated_at: t.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TopicList {
    pub items: Vec<TopicView>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, remove))
}

fn parse_key(text: &str, pointer: &str) -> ApiResult<Topic> {
    Topic::parse(text).map_err(|e| ApiError::invalid_field(pointer, e.to_string()))
}

/// A shown text: trimmed, not empty (for a name), without control
/// characters, within `max` characters.
fn shown_text(text: &str, pointer: &str, max: usize, what: &str) -> ApiResult<String> {
    let t = text.trim();
    if t.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            pointer,
            format!(
                "the {what} has a control character (a line break or tab): write it on one line"
            ),
        ));
    }
    if t.chars().count() > max {
        return Err(ApiError::invalid_field(
            pointer,
            format!("the {what} is longer than {max} characters: shorten it"),
        ));
    }
    Ok(t.to_owned())
}

fn name_and_description(
    name: &str,
    description: Option<&str>,
) -> ApiResult<(String, Option<String>)> {
    let name = shown_text(name, "/name", MAX_NAME, "name")?;
    if name.is_empty() {
        return Err(ApiError::invalid_field(
            "/name",
            "give the topic a name people recognise, e.g. \"Product news\"",
        ));
    }
    let description = description
        .map(|d| shown_text(d, "/description", MAX_DESCRIPTION, "description"))
        .transpose()?
        .filter(|d| !d.is_empty());
    Ok((name, description))
}

/// Names a topic (admin).
#[utoipa::path(post, path = "/v1/topics", tag = "topics", security(("bearer" = [])),
    request_body = TopicRequest,
    responses((status = 201, body = TopicView), (status = 409, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn create(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    ApiJson(req): ApiJson<TopicRequest>,
) -> ApiResult<(StatusCode, Json<TopicView>)> {
    let key = parse_key(&req.key, "/key")?;
    let (name, description) = name_and_description(&req.name, req.description.as_deref())?;
    if state.store.topics(caller.workspace()).await?.len() >= MAX_TOPICS {
        return Err(ApiError::conflict(
            "too-many-topics",
            format!("A workspace names at most {MAX_TOPICS} topics: remove one first."),
        ));
    }
    match state
        .store
        .create_topic(
            caller.workspace(),
            &key,
            &name,
            description.as_deref(),
            &caller.actor(),
        )
        .await?
    {
        Ok(t) => Ok((StatusCode::CREATED, Json(t.into()))),
        Err(TopicExists) => Err(ApiError::conflict(
            "topic-exists",
            format!("Topic {key} is named already: change it with PUT /v1/topics/{key}."),
        )),
    }
}

/// The workspace's named topics.
#[utoipa::path(get, path = "/v1/topics", tag = "topics", security(("bearer" = [])),
    responses((status = 200, body = TopicList)))]
pub async fn list(Ws { state, caller, .. }: Ws<can::Read>) -> ApiResult<Json<TopicList>> {
    let items = state.store.topics(caller.workspace()).await?;
    Ok(Json(TopicList {
        items: items.into_iter().map(TopicView::from).collect(),
    }))
}

/// Renames or re-describes a topic (admin); consent recorded under its
/// key does not change.
#[utoipa::path(put, path = "/v1/topics/{key}", tag = "topics", security(("bearer" = [])),
    params(("key" = String, Path)), request_body = TopicChange,
    responses((status = 200, body = TopicView), (status = 404, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn update(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<TopicChange>,
) -> ApiResult<Json<TopicView>> {
    let key = parse_key(&key, "/key")?;
    let (name, description) = name_and_description(&req.name, req.description.as_deref())?;
    state
        .store
        .update_topic(
            caller.workspace(),
            &key,
            &name,
            description.as_deref(),
            &caller.actor(),
        )
        .await?
        .map(|t| Json(t.into()))
        .ok_or_else(|| not_found(&key))
}

/// Removes a topic's name (admin); consent recorded under its key stays,
/// and pages show the key again.
#[utoipa::path(delete, path = "/v1/topics/{key}", tag = "topics", security(("bearer" = [])),
    params(("key" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn remove(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    Path(key): Path<String>,
) -> ApiResult<StatusCode> {
    let key = parse_key(&key, "/key")?;
    if state
        .store
        .delete_topic(caller.workspace(), &key, &caller.actor())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&key))
    }
}

fn not_found(key: &Topic) -> ApiError {
    ApiError::not_found(format!(
        "This workspace has no named topic {key}: name it with POST /v1/topics."
    ))
}
