//! Saved templates: Liquid in one of four layouts, checked when saved (a
//! syntax error is refused with its line and column; an unsubscribe link or
//! address hidden from readers is refused; a variable that is not an
//! attribute yet is a warning).

use super::workspace::PageQuery;
use super::Page;
use crate::error::{ApiError, ApiResult, FieldProblem};
use crate::extract::{can, ApiJson, ApiQuery, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use sendwell_core::{TemplateId, WorkspaceId};
use sendwell_mail::template::{
    CompileInput, CompiledTemplate, TemplateError, TemplateSource, TemplateWarning,
};
use sendwell_store::{NewTemplate, TemplateRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub name: String,
    /// `subject` is only used to check the template; a message has its own.
    #[serde(default)]
    pub subject: Option<String>,
    /// `{"layout": "plain" | "personal" | "announcement" | "custom", "html"?, "text"?,
    /// "heading"?, "image_url"?, "image_alt"?, "button_text"?, "button_url"?, "signature"?}`
    #[schema(value_type = Object)]
    pub template: Value,
}

#[derive(Serialize, ToSchema)]
pub struct TemplateView {
    pub id: String,
    pub name: String,
    pub layout: String,
    #[schema(value_type = Object)]
    pub template: Value,
    #[schema(value_type = Vec<Object>)]
    pub warnings: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl TemplateView {
    fn from(t: TemplateRecord) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            layout: t.layout,
            template: t.source,
            warnings: t.warnings,
            created_at: t.created_at.to_rfc3339(),
            updated_at: t.updated_at.to_rfc3339(),
        }
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update))
}

/// A template source from JSON, with errors located under `pointer`.
pub(crate) fn parse_source(value: &Value, pointer: &str) -> Result<TemplateSource, ApiError> {
    serde_json::from_value::<TemplateSource>(value.clone()).map_err(|e| {
        ApiError::invalid_field(
            pointer,
            format!(
                "the template cannot be read: {e}. It is an object with \"layout\" (plain, personal, announcement \
                 or custom) and its parts: \"html\", \"text\", \"heading\", \"image_url\", \"image_alt\", \
                 \"button_text\", \"button_url\", \"signature\""
            ),
        )
    })
}

/// A template error as a 422 pointing at the part at fault.
/// Renders a compiled template once for a contact with no attributes, off
/// the async runtime, and refuses it (422, naming the limit) when that
/// alone runs out of a render limit or crashes the template engine.
pub(crate) async fn check_render_budget(
    state: &AppState,
    compiled: CompiledTemplate,
    kind: sendwell_core::MessageKind,
) -> ApiResult<()> {
    let limits = state.delivery().render;
    let turn = state.api_render_turn().await;
    let outcome = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        sendwell_mail::trial_render(&compiled, kind, limits)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    outcome.map_err(|e| {
        let detail = format!("the template cannot be rendered: {}", e.reason);
        ApiError::invalid(detail.clone()).with_errors(vec![FieldProblem {
            pointer: "/template".to_owned(),
            detail,
        }])
    })
}

pub(crate) fn template_error(e: TemplateError, pointer: &str) -> ApiError {
    let field_pointer = if e.field == "subject" {
        "/subject".to_owned()
    } else {
        format!("{pointer}/{}", e.field)
    };
    let mut problem = FieldProblem {
        pointer: field_pointer,
        detail: e.message.clone(),
    };
    if let (Some(line), Some(column)) = (e.line, e.column) {
        problem.detail = format!("{} (line {line}, column {column})", e.message);
    }
    ApiError::invalid(e.message).with_errors(vec![problem])
}

pub(crate) async fn attribute_names(state: &AppState, ws: &WorkspaceId) -> ApiResult<Vec<String>> {
    let schema = state.store.schema(ws).await?;
    Ok(attribute_names_of(&schema))
}

/// The names of a workspace's attributes, for compiling templates.
pub(crate) fn attribute_names_of(
    schema: &sendwell_core::attribute::AttributeSchema,
) -> Vec<String> {
    schema.iter().map(|(n, _)| n.as_str().to_owned()).collect()
}

/// A template compiled as it would be saved (the same refusals).
async fn compiled(
    state: &AppState,
    ws: &WorkspaceId,
    req: &TemplateRequest,
) -> ApiResult<(TemplateSource, CompiledTemplate)> {
    let source = parse_source(&req.template, "/template")?;
    let attributes = attribute_names(state, ws).await?;
    let compiled = CompiledTemplate::compile(&CompileInput {
        source: &source,
        subject: req.subject.as_deref().unwrap_or(""),
        from_name: None,
        attributes: &attributes,
    })
    .or_else(|e| {
        // A personal template may take its signature from each message's sender.
        if e.field == "signature" {
            CompiledTemplate::compile(&CompileInput {
                source: &source,
                subject: req.subject.as_deref().unwrap_or(""),
                from_name: Some("the sender"),
                attributes: &attributes,
            })
        } else {
            Err(e)
        }
    })
    .map_err(|e| template_error(e, "/template"))?;
    Ok((source, compiled))
}

/// The template rendered for a made-up person with the workspace's own
/// name and address: the editor's preview. Its links lead nowhere.
pub(crate) async fn sample(
    state: &AppState,
    workspace: &sendwell_store::Workspace,
    req: &TemplateRequest,
) -> ApiResult<sendwell_mail::RenderedMail> {
    let (_, compiled) = compiled(state, &workspace.id, req).await?;
    let limits = state.delivery().render;
    let turn = state.api_render_turn().await;
    let name = workspace.name.clone();
    let address = workspace
        .physical_address
        .clone()
        .unwrap_or_else(|| "(your physical address, once it is set on Home)".to_owned());
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let sample = sendwell_mail::Sample {
            workspace_name: &name,
            physical_address: &address,
            contact_name: Some("Ann Example"),
        };
        sendwell_mail::sample_render(
            &compiled,
            sendwell_core::MessageKind::Marketing,
            limits,
            &sample,
        )
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::invalid(format!("the template cannot be rendered: {}", e.reason)))
}

async fn checked(
    state: &AppState,
    ws: &WorkspaceId,
    req: &TemplateRequest,
) -> ApiResult<(NewTemplate, Vec<TemplateWarning>)> {
    let name = super::label("name", &req.name, 200)?;
    let (source, compiled) = compiled(state, ws, req).await?;
    let warnings = compiled.warnings.clone();
    check_render_budget(state, compiled, sendwell_core::MessageKind::Marketing).await?;
    let new = NewTemplate {
        name: name.as_str().to_owned(),
        layout: source.layout.as_str().to_owned(),
        source: serde_json::to_value(&source).map_err(|e| ApiError::internal(&e))?,
        warnings: serde_json::to_value(&warnings).map_err(|e| ApiError::internal(&e))?,
    };
    Ok((new, warnings))
}

/// Saves a template (sender or admin).
#[utoipa::path(post, path = "/v1/templates", tag = "templates", security(("bearer" = [])),
    request_body = TemplateRequest,
    responses((status = 201, body = TemplateView), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    Ws { state, caller, .. }: Ws<can::Send>,
    ApiJson(req): ApiJson<TemplateRequest>,
) -> ApiResult<(StatusCode, Json<TemplateView>)> {
    let (new, _) = checked(&state, caller.workspace(), &req).await?;
    let saved = state
        .store
        .create_template(caller.workspace(), &new)
        .await?;
    Ok((StatusCode::CREATED, Json(TemplateView::from(saved))))
}

/// Replaces a template (sender or admin). Messages already composed keep
/// the version they were made with.
#[utoipa::path(put, path = "/v1/templates/{id}", tag = "templates", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = TemplateRequest,
    responses((status = 200, body = TemplateView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update(
    Ws { state, caller, .. }: Ws<can::Send>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TemplateRequest>,
) -> ApiResult<Json<TemplateView>> {
    let id = parse_id(&id)?;
    let (new, _) = checked(&state, caller.workspace(), &req).await?;
    match state
        .store
        .update_template(caller.workspace(), &id, &new)
        .await?
    {
        Some(saved) => Ok(Json(TemplateView::from(saved))),
        None => Err(ApiError::not_found(format!(
            "There is no template {id} in this workspace."
        ))),
    }
}

fn parse_id(id: &str) -> Result<TemplateId, ApiError> {
    TemplateId::parse(id).map_err(|e| ApiError::not_found(e.to_string()))
}

#[utoipa::path(get, path = "/v1/templates/{id}", tag = "templates", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = TemplateView), (status = 404, body = crate::error::Problem)))]
pub async fn show(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<Json<TemplateView>> {
    let id = parse_id(&id)?;
    match state.store.template(caller.workspace(), &id).await? {
        Some(t) => Ok(Json(TemplateView::from(t))),
        None => Err(ApiError::not_found(format!(
            "There is no template {id} in this workspace."
        ))),
    }
}

#[utoipa::path(get, path = "/v1/templates", tag = "templates", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<TemplateView>)))]
pub async fn list(
    Ws { state, caller, .. }: Ws<can::Read>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<TemplateView>>> {
    let page = Page::read(
        query.cursor.as_deref(),
        query.limit,
        |after, n| state.store.list_templates(caller.workspace(), after, n),
        |t| t.id.to_string(),
    )
    .await?;
    Ok(Json(page.map(TemplateView::from)))
}
