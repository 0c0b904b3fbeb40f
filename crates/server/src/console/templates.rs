//! Templates: the list, and an editor for each layout's parts. Saving goes
//! through the API's handler, so a syntax error comes back with its line
//! and column, and an unsubscribe link or address hidden from readers is
//! refused, each shown at the part it concerns.

use super::home::api_error;
use super::layout::{csrf, field, page, when, FieldExtra};
use super::session::Posted;
use super::{html, redirect, Reply, Signed};
use crate::api::templates::{self as api, TemplateRequest};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use maud::{html as markup, Markup};
use sendwell_core::Permission;
use serde::Deserialize;
use serde_json::{json, Value};

const LAYOUTS: [(&str, &str); 4] = [
    ("plain", "Plain: text only, like a personal note"),
    ("personal", "Personal: light HTML with a signature"),
    (
        "announcement",
        "Announcement: heading, image, body and a button",
    ),
    ("custom", "Custom: your own HTML"),
];

/// The parts each layout may have, as (field, label).
const PARTS: [(&str, &str); 8] = [
    ("heading", "Heading"),
    ("html", "Body (HTML)"),
    ("text", "Body (plain text)"),
    ("image_url", "Image address"),
    ("image_alt", "Image description"),
    ("button_text", "Button text"),
    ("button_url", "Button link"),
    ("signature", "Signature"),
];

#[derive(Deserialize, Default)]
pub struct TemplateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    layout: String,
    #[serde(default)]
    heading: String,
    #[serde(default)]
    html: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    image_url: String,
    #[serde(default)]
    image_alt: String,
    #[serde(default)]
    button_text: String,
    #[serde(default)]
    button_url: String,
    #[serde(default)]
    signature: String,
}

impl TemplateForm {
    fn part(&self, name: &str) -> &str {
        match name {
            "heading" => &self.heading,
            "html" => &self.html,
            "text" => &self.text,
            "image_url" => &self.image_url,
            "image_alt" => &self.image_alt,
            "button_text" => &self.button_text,
            "button_url" => &self.button_url,
            "signature" => &self.signature,
            _ => "",
        }
    }

    fn from_source(name: &str, source: &Value) -> Self {
        let get = |k: &str| {
            source
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        Self {
            name: name.to_owned(),
            layout: get("layout"),
            heading: get("heading"),
            html: get("html"),
            text: get("text"),
            image_url: get("image_url"),
            image_alt: get("image_alt"),
            button_text: get("button_text"),
            button_url: get("button_url"),
            signature: get("signature"),
        }
    }

    fn request(&self) -> TemplateRequest {
        let mut t = serde_json::Map::new();
        t.insert("layout".to_owned(), json!(self.layout.trim()));
        for (part, _) in PARTS {
            let value = self.part(part);
            if !value.trim().is_empty() {
                t.insert(part.to_owned(), Value::String(value.to_owned()));
            }
        }
        TemplateRequest {
            name: self.name.clone(),
            subject: None,
            template: Value::Object(t),
        }
    }
}

/// Errors by form field: the part a problem's pointer names.
fn errors_of(e: &crate::error::ApiError) -> Vec<(String, String)> {
    let located: Vec<(String, String)> = e
        .field_errors()
        .iter()
        .map(|p| {
            let field = p
                .pointer
                .strip_prefix("/template/")
                .or_else(|| p.pointer.strip_prefix('/'))
                .unwrap_or("")
                .split('/')
                .next()
                .unwrap_or("")
                .to_owned();
            (field, p.detail.clone())
        })
        .collect();
    if located.is_empty() {
        vec![(String::new(), e.detail().to_owned())]
    } else {
        located
    }
}

fn editor(who: &Signed, action: &str, f: &TemplateForm, errors: &[(String, String)]) -> Markup {
    let error = |name: &str| {
        errors
            .iter()
            .find(|(f, _)| f == name || (name == "html" && (f == "template" || f == "layout")))
            .map(|(_, e)| e.as_str())
    };
    let layout = if f.layout.is_empty() {
        "announcement"
    } else {
        f.layout.as_str()
    };
    markup! {
        @for (_, e) in errors.iter().filter(|(f, _)| f.is_empty()) { p.error role="alert" { (e) } }
        aside.notice {
            p { "Placeholders fill in per person: " code { "{{ first_name }}" } ", " code { "{{ name }}" } ", " code { "{{ email }}" } ", and each attribute by its name, such as " code { "{{ plan }}" } ". Give a fallback for people without one: " code { "{{ first_name | fallback: \"there\" }}" } ". In an opt-in request, " code { "{% opt_in_button \"Yes, keep me posted\" %}" } " draws the button that records the person's consent." }
            p { "Every mail gets an unsubscribe link and your physical address in its footer. A template may show them itself, but never hidden (white on white, tiny, or display:none): such a template is refused." }
        }
        form method="post" action=(action) {
            (csrf(who))
            (field("name", "Name", "text", &f.name, error("name"), FieldExtra { required: true, ..Default::default() }))
            (super::layout::select("layout", "layout", "Layout", &LAYOUTS, layout))
            @for (part, label) in PARTS {
                @let kind = if matches!(part, "html" | "text" | "signature") { "textarea" } else { "text" };
                (field(part, label, kind, f.part(part), error(part), FieldExtra::default()))
            }
            button type="submit" { "Save template" }
            " "
            button type="submit" formaction="/templates/preview" formtarget="template-preview" data-live-preview { "Preview" }
            " "
            button type="submit" formaction="/templates/preview.txt" formtarget="template-preview" { "Preview the text part" }
        }
        h2 { "Preview" }
        p.hint { "For a made-up person, Ann Example, with your workspace's name and address in the footer. Press Preview to see the parts above as they are now; with scripts on, it follows as you type. Its links lead nowhere." }
        iframe.preview name="template-preview" title="Preview of the template" sandbox="" width="100%" height="480" {}
    }
}

/// The editor's parts rendered, for the preview frame: the HTML part (or
/// the text part), or what stops the template from rendering.
async fn preview_part(state: AppState, posted: Posted<TemplateForm>, html: bool) -> Reply {
    let Posted { who, form } = posted;
    who.require(Permission::Send)?;
    match api::sample(&state, &who.workspace, &form.request()).await {
        Ok(mail) if html => Ok(super::framed(mail.html, "text/html; charset=utf-8")),
        Ok(mail) => Ok(super::framed(mail.text, "text/plain; charset=utf-8")),
        Err(e) => {
            let problems: Vec<String> = std::iter::once(e.detail().to_owned())
                .chain(e.field_errors().iter().map(|p| p.detail.clone()))
                .collect();
            Ok(super::framed(
                problems.join("\n"),
                "text/plain; charset=utf-8",
            ))
        }
    }
}

pub async fn preview_html(State(state): State<AppState>, posted: Posted<TemplateForm>) -> Reply {
    preview_part(state, posted, true).await
}

pub async fn preview_text(State(state): State<AppState>, posted: Posted<TemplateForm>) -> Reply {
    preview_part(state, posted, false).await
}

pub async fn index(State(state): State<AppState>, who: Signed) -> Reply {
    let list = state
        .store
        .list_templates(&who.workspace.id, None, 200)
        .await
        .map_err(super::internal)?;
    let body = markup! {
        @if who.can(Permission::Send) { p { a href="/templates/new" { "New template" } } }
        @if list.is_empty() {
            p { "No templates yet." }
        } @else {
            table {
                caption { "Templates" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Layout" } th scope="col" { "Changed" } } }
                tbody {
                    @for t in &list {
                        tr { td { a href=(format!("/templates/{}", t.id)) { (t.name) } } td { (t.layout) } td { (when(t.updated_at)) } }
                    }
                }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(&who, "Templates", "Templates", body),
    ))
}

pub async fn new(who: Signed) -> Reply {
    who.require(Permission::Send)?;
    let body = editor(&who, "/templates", &TemplateForm::default(), &[]);
    Ok(html(
        StatusCode::OK,
        page(&who, "Templates", "New template", body),
    ))
}

pub async fn create(State(state): State<AppState>, posted: Posted<TemplateForm>) -> Reply {
    let Posted { who, form } = posted;
    who.require(Permission::Send)?;
    match crate::extract::call(state.clone(), who.caller(), |c| {
        api::create(c, ApiJson(form.request()))
    })
    .await
    {
        Ok((_, saved)) => Ok(redirect(&format!("/templates/{}?saved=1", saved.0.id))),
        Err(e) => {
            let body = editor(&who, "/templates", &form, &errors_of(&e));
            Ok(html(
                StatusCode::UNPROCESSABLE_ENTITY,
                page(&who, "Templates", "New template", body),
            ))
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<ShowQuery>,
) -> Reply {
    let saved = q.saved.is_some().then_some(
        "Saved. Messages composed with this template before keep the version they were made with.",
    );
    let t = crate::extract::call(state.clone(), who.caller(), |c| {
        api::show(c, Path(id.clone()))
    })
    .await
    .map_err(|e| api_error(&who, e))?
    .0;
    let form = TemplateForm::from_source(&t.name, &t.template);
    let warnings = t.warnings.as_array().cloned().unwrap_or_default();
    let body = markup! {
        (super::layout::notice(saved))
        @for w in &warnings {
            p.warn { (w.get("message").and_then(Value::as_str).unwrap_or("")) }
        }
        @if who.can(Permission::Send) {
            (editor(&who, &format!("/templates/{id}"), &form, &[]))
        } @else {
            pre { (serde_json::to_string_pretty(&t.template).unwrap_or_default()) }
        }
    };
    Ok(html(StatusCode::OK, page(&who, "Templates", &t.name, body)))
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<TemplateForm>,
) -> Reply {
    let Posted { who, form } = posted;
    who.require(Permission::Send)?;
    match crate::extract::call(state.clone(), who.caller(), |c| {
        api::update(c, Path(id.clone()), ApiJson(form.request()))
    })
    .await
    {
        Ok(_) => Ok(redirect(&format!("/templates/{id}?saved=1"))),
        Err(e) if e.status() == StatusCode::NOT_FOUND => Err(api_error(&who, e)),
        Err(e) => {
            let body = editor(&who, &format!("/templates/{id}"), &form, &errors_of(&e));
            Ok(html(
                StatusCode::UNPROCESSABLE_ENTITY,
                page(&who, "Templates", &form.name, body),
            ))
        }
    }
}
