//! Hosted sign-up forms with double opt-in: `POST /v1/forms` gives a
//! public endpoint (`POST /f/{form}`), a hosted page (`GET /f/{form}`) and
//! an HTML snippet to embed. A sign-up is nobody's contact until its owner
//! presses the link of the confirmation mail; then the contact is written
//! and the opt-in enters the ledger with the form's wording and both
//! steps' addresses, agents and times (see `links::subscribe`).

use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use sendwell_core::consent::Topic;
use sendwell_core::text::escape_html;
use sendwell_core::{AttributeName, AttributeType};
use sendwell_store::{FormRecord, NewForm};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Forms one workspace may have.
pub const MAX_FORMS: usize = 100;
const MAX_FIELDS: usize = 10;
const MAX_ORIGINS: usize = 10;
const MAX_WORDING: usize = 1_000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormRequest {
    /// The topic a confirmed sign-up opts in to (e.g. `marketing`).
    pub topic: String,
    /// What the form asks for besides the address: `name`, or text
    /// attributes of the workspace (at most 10).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// The words shown next to the button, kept as the consent's wording,
    /// e.g. "Send me the monthly newsletter. I can unsubscribe at any time."
    pub wording: String,
    /// Where a person goes after signing up (else a page of ours).
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Origins (`https://www.example.com`) whose pages may post to the
    /// form with `fetch` and read the answer (CORS).
    #[serde(default)]
    pub origins: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct FormView {
    pub id: String,
    pub topic: String,
    pub fields: Vec<String>,
    pub wording: String,
    pub redirect_url: Option<String>,
    pub origins: Vec<String>,
    /// Where the form posts: `application/x-www-form-urlencoded` from a
    /// page, or JSON (`{"email": ...}`) from a script of a listed origin.
    pub endpoint: String,
    /// A page of ours with the form, for a link or an iframe-less site.
    pub page_url: String,
    /// The form as HTML to paste into a page.
    pub snippet: String,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct FormList {
    pub items: Vec<FormView>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, remove))
}

/// The name of the honeypot field: people never see it, bots fill it.
pub const HONEYPOT: &str = "website";

/// A field's label, from its attribute name: `first_name` is "First name".
pub fn field_label(name: &str) -> String {
    let spaced = name.replace(['_', '-'], " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The form's inputs, labelled, with the honeypot and the wording: the
/// hosted page and the snippet share them.
pub fn form_inputs(form: &FormRecord, honeypot_class: Option<&str>) -> String {
    let mut html = String::from(
        "<label for=\"sw-email\">Email address</label>\n\
         <input id=\"sw-email\" type=\"email\" name=\"email\" required autocomplete=\"email\" maxlength=\"254\">\n",
    );
    for f in &form.fields {
        let name = escape_html(f);
        let label = escape_html(&field_label(f));
        let auto = if f == "name" {
            " autocomplete=\"name\""
        } else {
            ""
        };
        html.push_str(&format!(
            "<label for=\"sw-{name}\">{label}</label>\n<input id=\"sw-{name}\" name=\"{name}\" maxlength=\"255\"{auto}>\n"
        ));
    }
    let hide = match honeypot_class {
        Some(class) => format!("class=\"{class}\""),
        None => "style=\"position:absolute;left:-5000px\"".to_owned(),
    };
    html.push_str(&format!(
        "<div {hide} aria-hidden=\"true\"><label for=\"sw-{HONEYPOT}\">Leave this empty</label>\
         <input id=\"sw-{HONEYPOT}\" type=\"text\" name=\"{HONEYPOT}\" tabindex=\"-1\" autocomplete=\"off\"></div>\n\
         <p>{}</p>\n<button type=\"submit\">Subscribe</button>\n",
        escape_html(&form.wording)
    ));
    html
}

fn view(state: &AppState, f: FormRecord) -> FormView {
    let endpoint = format!("{}/f/{}", state.public_url(), f.id);
    let snippet = format!(
        "<form action=\"{}\" method=\"post\">\n{}</form>\n",
        escape_html(&endpoint),
        form_inputs(&f, None)
    );
    FormView {
        page_url: endpoint.clone(),
        endpoint,
        snippet,
        id: f.id,
        topic: f.topic,
        fields: f.fields,
        wording: f.wording,
        redirect_url: f.redirect_url,
        origins: f.origins,
        created_by: f.created_by,
        created_at: f.created_at.to_rfc3339(),
    }
}

/// An origin as browsers send it: scheme, host and port, nothing more.
fn parse_origin(text: &str, index: usize) -> ApiResult<String> {
    let t = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"));
    let ok = rest.is_some_and(|host| {
        !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    });
    if !ok {
        return Err(ApiError::invalid_field(
            &format!("/origins/{index}"),
            format!(
                "'{text}' is not an origin: give the scheme and host of the page the form is on, \
                 e.g. https://www.example.com (no path)"
            ),
        ));
    }
    Ok(t)
}

/// The consent's wording: what people agree to, 10 to [`MAX_WORDING`]
/// characters, lines but no other control characters.
fn parse_wording(text: &str) -> ApiResult<String> {
    let wording = text.trim();
    if wording.chars().count() < 10 || wording.chars().count() > MAX_WORDING {
        return Err(ApiError::invalid_field(
            "/wording",
            format!(
                "the wording is what people agree to, kept as the proof of their consent: say in 10 to \
                 {MAX_WORDING} characters what they will receive (e.g. \"Send me the monthly newsletter.\")"
            ),
        ));
    }
    let lower = wording.to_ascii_lowercase();
    if lower.contains("://") || lower.contains("www.") {
        return Err(ApiError::invalid_field(
            "/wording",
            "the wording goes out in a mail from this platform's address, so it carries no links: \
             name your site or privacy page instead of linking to it",
        ));
    }
    if wording.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid_field(
            "/wording",
            "the wording has a control character: remove it",
        ));
    }
    Ok(wording.to_owned())
}

/// The fields a form asks for besides the address: `name`, or text
/// attributes the workspace declared, each once.
async fn parse_fields(
    state: &AppState,
    ws: &sendwell_core::WorkspaceId,
    fields: &[String],
) -> ApiResult<Vec<String>> {
    if fields.len() > MAX_FIELDS {
        return Err(ApiError::invalid_field(
            "/fields",
            format!("a form asks for at most {MAX_FIELDS} fields besides the address"),
        ));
    }
    let schema = state.store.attribute_schema(ws).await?;
    let mut checked: Vec<String> = Vec::with_capacity(fields.len());
    for (i, f) in fields.iter().enumerate() {
        let pointer = format!("/fields/{i}");
        if f == "email" || f == HONEYPOT || checked.contains(f) {
            return Err(ApiError::invalid_field(
                &pointer,
                format!("'{f}' is asked for already (the address always is): list each field once"),
            ));
        }
        if f != "name" {
            let name = AttributeName::parse(f)
                .map_err(|e| ApiError::invalid_field(&pointer, e.to_string()))?;
            let is_text = schema
                .iter()
                .any(|(n, kind, _)| n == name.as_str() && *kind == AttributeType::String);
            if !is_text {
                return Err(ApiError::invalid_field(
                    &pointer,
                    format!(
                        "'{f}' is not a text attribute of this workspace: declare it with \
                         POST /v1/attributes {{\"name\": \"{f}\", \"type\": \"string\"}}, or use \"name\""
                    ),
                ));
            }
        }
        checked.push(f.clone());
    }
    Ok(checked)
}

async fn parse_request(
    state: &AppState,
    ws: &sendwell_core::WorkspaceId,
    req: &FormRequest,
) -> ApiResult<NewForm> {
    let topic = Topic::parse(req.topic.trim())
        .map_err(|e| ApiError::invalid_field("/topic", e.to_string()))?;
    let wording = parse_wording(&req.wording)?;
    let fields = parse_fields(state, ws, req.fields.as_deref().unwrap_or_default()).await?;
    let origins = req.origins.clone().unwrap_or_default();
    if origins.len() > MAX_ORIGINS {
        return Err(ApiError::invalid_field(
            "/origins",
            format!("list at most {MAX_ORIGINS} origins"),
        ));
    }
    let origins = origins
        .iter()
        .enumerate()
        .map(|(i, o)| parse_origin(o, i))
        .collect::<ApiResult<Vec<_>>>()?;
    let redirect_url = match req.redirect_url.as_deref() {
        Some(url) => super::workspace::parse_http_url(url, "/redirect_url")?,
        None => None,
    };
    Ok(NewForm {
        topic: topic.to_string(),
        fields,
        wording,
        redirect_url,
        origins,
    })
}

/// Makes a sign-up form (admin).
#[utoipa::path(post, path = "/v1/forms", tag = "forms", security(("bearer" = [])),
    request_body = FormRequest,
    responses((status = 201, body = FormView), (status = 409, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
pub async fn create(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    ApiJson(req): ApiJson<FormRequest>,
) -> ApiResult<(StatusCode, Json<FormView>)> {
    let new = parse_request(&state, caller.workspace(), &req).await?;
    if state.store.forms(caller.workspace()).await?.len() >= MAX_FORMS {
        return Err(ApiError::conflict(
            "too-many-forms",
            format!("A workspace has at most {MAX_FORMS} forms: remove one first."),
        ));
    }
    let form = state
        .store
        .create_form(caller.workspace(), &new, &caller.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, form))))
}

/// The workspace's sign-up forms.
#[utoipa::path(get, path = "/v1/forms", tag = "forms", security(("bearer" = [])),
    responses((status = 200, body = FormList)))]
pub async fn list(Ws { state, caller, .. }: Ws<can::Read>) -> ApiResult<Json<FormList>> {
    let forms = state.store.forms(caller.workspace()).await?;
    Ok(Json(FormList {
        items: forms.into_iter().map(|f| view(&state, f)).collect(),
    }))
}

async fn own_form(
    state: &AppState,
    ws: &sendwell_core::WorkspaceId,
    id: &str,
) -> ApiResult<FormRecord> {
    match state.store.form(id).await? {
        Some(f) if f.workspace_id == *ws => Ok(f),
        _ => Err(ApiError::not_found(format!(
            "There is no form {id} in this workspace."
        ))),
    }
}

#[utoipa::path(get, path = "/v1/forms/{id}", tag = "forms", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = FormView), (status = 404, body = crate::error::Problem)))]
pub async fn show(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<Json<FormView>> {
    let form = own_form(&state, caller.workspace(), &id).await?;
    Ok(Json(view(&state, form)))
}

/// Removes a form (admin): its endpoint answers 404 from now on, and
/// sign-ups made on it that were not confirmed yet can no longer be.
#[utoipa::path(delete, path = "/v1/forms/{id}", tag = "forms", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn remove(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    own_form(&state, caller.workspace(), &id).await?;
    state
        .store
        .delete_form(caller.workspace(), &id, &caller.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
