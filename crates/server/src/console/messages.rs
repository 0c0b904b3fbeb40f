//! Messages: the composer (kind, topic, from, subject, template, audience)
//! with the preflight report as a panel, the message page (preflight,
//! preview as a chosen contact in a sandboxed frame, the text part, send
//! with a confirmation that says how many people receive it, deliveries by
//! state and the captured outbox). Every step calls the API's handler, so
//! the rules and the error texts are the API's.

use super::home::api_error;
use super::layout::{about, csrf, page, post_button, when, ButtonKind};
use super::session::Posted;
use super::{html, redirect, Reply, Signed};
use crate::api::campaigns;
use crate::api::messages::{
    self as api, AudienceRequest, FromRequest, MessageRequest, PreflightReport,
};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use maud::{html as markup, Markup};
use sendwell_core::Permission;
use serde::Deserialize;
use serde_json::{json, Value};

/// The composer's fields, as posted and as shown again.
#[derive(Deserialize, Default, Clone)]
pub struct ComposeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    from_name: String,
    #[serde(default)]
    from_address: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    template_id: String,
    #[serde(default)]
    heading: String,
    #[serde(default)]
    html: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    button_text: String,
    #[serde(default)]
    button_url: String,
    #[serde(default)]
    filter: String,
    /// `check` (preflight only) or `save`.
    #[serde(default)]
    action: String,
}

fn some(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl ComposeForm {
    /// The API's request for these fields: a saved template by id, or the
    /// announcement layout with the parts typed here.
    fn request(&self) -> MessageRequest {
        let template = match some(&self.template_id) {
            Some(id) => json!({"template_id": id}),
            None => {
                let mut t = serde_json::Map::new();
                t.insert("layout".to_owned(), json!("announcement"));
                for (key, value) in [
                    ("heading", &self.heading),
                    ("html", &self.html),
                    ("text", &self.text),
                    ("button_text", &self.button_text),
                    ("button_url", &self.button_url),
                ] {
                    if let Some(v) = some(value) {
                        t.insert(key.to_owned(), Value::String(v));
                    }
                }
                Value::Object(t)
            }
        };
        MessageRequest {
            name: self.name.trim().to_owned(),
            kind: some(&self.kind).unwrap_or_else(|| "marketing".to_owned()),
            topic: some(&self.topic),
            from: FromRequest {
                name: some(&self.from_name),
                address: self.from_address.trim().to_owned(),
            },
            reply_to: None,
            subject: self.subject.clone(),
            template,
            audience: some(&self.filter).map(|f| AudienceRequest {
                filter: Some(Value::String(f)),
                audience_id: None,
            }),
            opt_in_attribute: None,
            exclude_risky: None,
            track_clicks: None,
            track_opens: None,
        }
    }
}

/// Which form field a problem's JSON Pointer concerns.
fn field_of(pointer: &str) -> &'static str {
    match pointer {
        "/name" => "name",
        "/kind" => "kind",
        "/topic" => "topic",
        "/from/address" => "from_address",
        "/from/name" => "from_name",
        "/subject" => "subject",
        "/audience/filter" => "filter",
        p if p.starts_with("/template/heading") => "heading",
        p if p.starts_with("/template/text") => "text",
        p if p.starts_with("/template/button") => "button_url",
        p if p.starts_with("/template") => "html",
        _ => "",
    }
}

/// Errors by field name; those of no field under the empty name.
type Errors = Vec<(&'static str, String)>;

fn errors_of(e: &crate::error::ApiError) -> Errors {
    let located: Errors = e
        .field_errors()
        .iter()
        .map(|p| (field_of(&p.pointer), p.detail.clone()))
        .collect();
    if located.is_empty() {
        vec![("", e.detail().to_owned())]
    } else {
        located
    }
}

fn input(id: &str, label: &str, value: &str, errors: &Errors, hint: Option<&str>) -> Markup {
    let error = errors
        .iter()
        .find(|(f, _)| *f == id)
        .map(|(_, e)| e.as_str());
    let kind = if matches!(id, "html" | "text" | "filter") {
        "textarea"
    } else {
        "text"
    };
    super::layout::field(
        id,
        label,
        kind,
        value,
        error,
        super::layout::FieldExtra {
            hint,
            ..Default::default()
        },
    )
}

fn composer(
    who: &Signed,
    f: &ComposeForm,
    errors: &Errors,
    templates: &[(String, String)],
) -> Markup {
    let kind = if f.kind.is_empty() {
        "marketing"
    } else {
        f.kind.as_str()
    };
    markup! {
        @for (field, e) in errors.iter().filter(|(f, _)| f.is_empty()) {
            p.error role="alert" { (e) }
            @let _ = field;
        }
        form method="post" action="/messages" {
            (csrf(who))
            (input("name", "Name", &f.name, errors, Some("For you; recipients do not see it.")))
            (super::layout::select("kind", "kind", "Kind", &[
                ("marketing", "Marketing (to contacts who opted in)"),
                ("opt_in_request", "Opt-in request (asks for permission)"),
            ], kind))
            (input("topic", "Topic", &f.topic, errors, Some("The consent topic; marketing when empty.")))
            (input("from_name", "From name", &f.from_name, errors, None))
            (input("from_address", "From address", &f.from_address, errors, Some("An address on a verified sender domain.")))
            (input("subject", "Subject", &f.subject, errors, None))
            @let choices: Vec<(&str, &str)> = std::iter::once(("", "The announcement layout, with the parts below"))
                .chain(templates.iter().map(|(id, name)| (id.as_str(), name.as_str())))
                .collect();
            (super::layout::select("template_id", "template_id", "Template", &choices, &f.template_id))
            fieldset {
                legend { "Announcement parts" }
                p.hint { "Placeholders fill in per person: {{ first_name }}, {{ name }}, {{ email }}, and each attribute by its name, such as {{ plan }}. The unsubscribe link and your address are added to every mail." }
                (input("heading", "Heading", &f.heading, errors, None))
                (input("html", "Body (HTML)", &f.html, errors, None))
                (input("text", "Body (plain text)", &f.text, errors, Some("Made from the HTML when empty.")))
                (input("button_text", "Button text", &f.button_text, errors, None))
                (input("button_url", "Button link", &f.button_url, errors, None))
            }
            (input("filter", "Audience filter", &f.filter, errors, Some("Empty: every contact who may receive it. For example: plan is \"pro\".")))
            button type="submit" name="action" value="check" { "Check" }
            " "
            button type="submit" name="action" value="save" { "Save draft" }
        }
    }
}

/// The preflight report as a panel.
/// `exact_link`: the message whose page can count its audience exactly
/// when the report estimated it.
fn report_panel(r: &PreflightReport, exact_link: Option<&str>) -> Markup {
    markup! {
        section.report aria-labelledby="preflight-heading" {
            h2 #preflight-heading { "Preflight" }
            @if r.ready {
                p.ok { "Ready: nothing blocks this message." }
            } @else {
                p.warn { "Blocked: each item says what to change." }
            }
            @if !r.blockers.is_empty() {
                h3 { "What blocks it" }
                ul.blockers { @for b in &r.blockers { li { (b.message) } } }
            }
            @if !r.warnings.is_empty() {
                h3 { "Warnings" }
                ul { @for w in &r.warnings { li { (w.message) } } }
            }
            h3 { "Audience" }
            @if let Some(n) = r.audience_estimated_from {
                p { "About " strong { (about(r.audience.eligible)) } " of about " (about(r.audience.matched)) " matching contacts would receive it." }
                p.hint { "Estimated from " (n) " contacts; the send counts exactly. " @if let Some(id) = exact_link { a href=(format!("/messages/{id}?exact=1")) { "Count exactly" } } }
            } @else {
                p { strong { (r.audience.eligible) } " of " (r.audience.matched) " matching contacts would receive it." }
            }
            @if let Some(c) = &r.compliance {
                h3 { "Footer and headers" }
                ul {
                    li { "Unsubscribe link: " (c.unsubscribe_link) (yes_no(c.html_has_unsubscribe && c.text_has_unsubscribe)) }
                    li { "Physical address: " (c.physical_address) (yes_no(c.html_has_address && c.text_has_address)) }
                    li { "List-Unsubscribe and one-click headers" (yes_no(c.list_unsubscribe && c.list_unsubscribe_post)) }
                }
            }
            @if !r.authenticity.is_empty() {
                h3 { "Authenticity" }
                ul { @for a in &r.authenticity { li { (a.message) } } }
            }
            @if let Some(s) = &r.content {
                h3 { "Content screening: " (format!("{:?}", s.verdict).to_lowercase()) }
                @if s.hits.is_empty() {
                    p { "Nothing in the content looks like a scam, spam or phishing." }
                } @else {
                    ul.hits {
                        @for h in &s.hits {
                            li { (h.explanation) @if !h.snippet.is_empty() { " " mark { (h.snippet) } } }
                        }
                    }
                }
            }
        }
    }
}

fn yes_no(ok: bool) -> &'static str {
    if ok {
        " (present)"
    } else {
        " (missing)"
    }
}

async fn template_choices(state: &AppState, who: &Signed) -> Reply<Vec<(String, String)>> {
    Ok(state
        .store
        .list_templates(&who.workspace.id, None, 200)
        .await
        .map_err(super::internal)?
        .into_iter()
        .map(|t| (t.id.to_string(), t.name))
        .collect())
}

pub async fn index(State(state): State<AppState>, who: Signed) -> Reply {
    let list = state
        .store
        .list_messages(&who.workspace.id, None, 200)
        .await
        .map_err(super::internal)?;
    let body = markup! {
        @if who.can(Permission::Send) { p { a href="/messages/new" { "Compose a message" } } }
        @if list.is_empty() {
            p { "No messages yet." }
        } @else {
            table {
                caption { "Messages" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "Subject" } th scope="col" { "State" } th scope="col" { "Created" } } }
                tbody {
                    @for m in &list {
                        tr {
                            td { a href=(format!("/messages/{}", m.id)) { (m.name) } }
                            td { (m.kind.as_str()) } td { (m.subject) } td { (m.state.as_str()) }
                            td { (when(m.created_at)) }
                        }
                    }
                }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(&who, "Messages", "Messages", body),
    ))
}

async fn compose_page(
    state: &AppState,
    who: &Signed,
    form: &ComposeForm,
    errors: &Errors,
    report: Option<&PreflightReport>,
    status: StatusCode,
) -> Reply {
    let templates = template_choices(state, who).await?;
    let body = markup! {
        (composer(who, form, errors, &templates))
        @if let Some(r) = report { (report_panel(r, None)) }
    };
    Ok(html(
        status,
        page(who, "Messages", "Compose a message", body),
    ))
}

pub async fn new(State(state): State<AppState>, who: Signed) -> Reply {
    who.require(Permission::Send)?;
    compose_page(
        &state,
        &who,
        &ComposeForm::default(),
        &Vec::new(),
        None,
        StatusCode::OK,
    )
    .await
}

pub async fn compose(State(state): State<AppState>, posted: Posted<ComposeForm>) -> Reply {
    let Posted { who, form } = posted;
    who.require(Permission::Send)?;
    let req = form.request();
    let checked = if form.action == "check" {
        crate::extract::call(state.clone(), who.caller(), |c| {
            api::preflight_draft(
                c,
                ApiQuery(api::EstimateQuery {
                    estimate: Some(true),
                }),
                ApiJson(req),
            )
        })
        .await
        .map(|report| report.0)
    } else {
        match crate::extract::call(state.clone(), who.caller(), |c| {
            api::create(c, ApiJson(req))
        })
        .await
        {
            Ok((_, view)) => return Ok(redirect(&format!("/messages/{}", view.0.id))),
            Err(e) => Err(e),
        }
    };
    match checked {
        Ok(report) => {
            compose_page(
                &state,
                &who,
                &form,
                &Vec::new(),
                Some(&report),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => {
            let errors = errors_of(&e);
            compose_page(
                &state,
                &who,
                &form,
                &errors,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    done: Option<String>,
    /// Preview as the contact with this address.
    #[serde(default)]
    as_contact: Option<String>,
    /// Count the audience exactly (any value), not from a sample.
    #[serde(default)]
    exact: Option<String>,
}

/// The contact a preview is asked for by address: its id, or why there
/// is none.
async fn preview_contact(
    state: &AppState,
    who: &Signed,
    asked: Option<&str>,
) -> Reply<(Option<String>, Option<String>)> {
    let Some(text) = asked.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok((None, None));
    };
    let email = match sendwell_core::EmailAddress::parse(text) {
        Ok(e) => e,
        Err(e) => return Ok((None, Some(e.to_string()))),
    };
    let found = state
        .store
        .list_contacts(&who.workspace.id, None, 1, Some(&email))
        .await
        .map_err(super::internal)?;
    Ok(match found.items.into_iter().next() {
        Some(c) => (Some(c.id.to_string()), None),
        None => (None, Some(format!("This workspace has no contact {text}."))),
    })
}

/// Finished deliveries over time: the bucket's width in milliseconds, and
/// (bucket start, state, count).
type OverTime = (i64, Vec<(i64, String, i64)>);

/// What a message's page shows besides the message: its preflight (before
/// it is sent), its deliveries over time and its captured mail.
struct MessageExtras {
    report: Option<PreflightReport>,
    over_time: Option<OverTime>,
    outbox: Vec<sendwell_store::OutboxEntry>,
}

/// `exact`: count the audience exactly rather than estimate it from a
/// sample (the page's "Count exactly").
async fn extras(
    state: &AppState,
    who: &Signed,
    id: &str,
    view: &api::MessageView,
    exact: bool,
) -> Reply<MessageExtras> {
    let report = if view.kind != "transactional" && view.sent_at.is_none() {
        Some(
            crate::extract::call(state.clone(), who.caller(), |c| {
                api::preflight(
                    c,
                    Path(id.to_owned()),
                    ApiQuery(api::EstimateQuery {
                        estimate: Some(!exact),
                    }),
                )
            })
            .await
            .map_err(|e| api_error(who, e))?
            .0,
        )
    } else {
        None
    };
    let message = sendwell_core::MessageId::parse(id).ok();
    let over_time = match &message {
        Some(m) => Some(
            state
                .store
                .deliveries_over_time(m)
                .await
                .map_err(super::internal)?,
        ),
        None => None,
    };
    let outbox = state
        .store
        .list_outbox(&who.workspace.id, message.as_ref(), None, 51)
        .await
        .map_err(super::internal)?;
    Ok(MessageExtras {
        report,
        over_time,
        outbox,
    })
}

fn done_text(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "tested" => "The test mail is on its way to the team addresses you chose.",
        "sent" => "Sent: the mail is queued for every person it may reach.",
        "review" => "Held for review: content screening asked the delivery team to look at this mail first. It is sent once they approve it; you will see their decision here.",
        "paused" => "Paused: what is still waiting stays until you resume. Mail already handed to a server finishes.",
        "resumed" => "Resumed: the waiting mail is back in the queue.",
        "cancelled" => "Cancelled: what had not gone out never will.",
        "copied" => "A copy of the message, as a draft: change it and send it when it is ready.",
        _ => return None,
    })
}

pub async fn show(
    State(state): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Reply {
    let (contact, preview_error) = preview_contact(&state, &who, q.as_contact.as_deref()).await?;
    let view = crate::extract::call(state.clone(), who.caller(), |c| {
        api::show(c, Path(id.clone()))
    })
    .await
    .map_err(|e| api_error(&who, e))?
    .0;
    let extras = extras(&state, &who, &id, &view, q.exact.is_some()).await?;
    let preview = Preview {
        id: &id,
        contact: contact.as_deref(),
        asked: q.as_contact.as_deref().unwrap_or(""),
        error: preview_error.as_deref(),
    };
    let body = markup! {
        (super::layout::notice(done_text(q.done.as_deref())))
        (facts(&view))
        (run_section(&who, &view))
        @if let Some((bucket, points)) = &extras.over_time {
            @if !points.is_empty() { (delivery_chart(*bucket, points)) }
        }
        @if let Some(r) = &extras.report {
            (report_panel(r, Some(&id)))
            (preview_section(&who, &preview, r))
        }
        (outbox_section(&extras.outbox))
    };
    Ok(html(
        StatusCode::OK,
        page(&who, "Messages", &view.name, body),
    ))
}

/// The message, its deliveries by state and what recipients did.
fn facts(view: &api::MessageView) -> Markup {
    markup! {
        dl.facts {
            dt { "State" } dd { (view.state) }
            dt { "Kind" } dd { (view.kind) }
            dt { "From" } dd {
                @if let Some(name) = &view.from.name { (name) " <" (view.from.address) ">" } @else { (view.from.address) }
            }
            dt { "Subject" } dd { (view.subject) }
            @if let Some(at) = &view.sent_at { dt { "Sent" } dd { (at) } }
        }
        @if view.counts.values().any(|n| *n > 0) {
            h2 { "Deliveries" }
            table {
                caption { "Deliveries by state" }
                thead { tr { th scope="col" { "State" } th scope="col" { "Count" } } }
                tbody { @for (state, n) in view.counts.iter().filter(|(_, n)| **n > 0) { tr { td { (state) } td { (n) } } } }
            }
        }
        @if !view.events.is_empty() {
            h2 { "What recipients did" }
            ul { @for (kind, n) in &view.events { li { (kind) ": " (n) } } }
        }
    }
}

/// The buttons that pause, resume or cancel a message on its way, and the
/// one that copies it into a new draft.
fn run_section(who: &Signed, view: &api::MessageView) -> Markup {
    let id = &view.id;
    let button = |action: &str, kind: ButtonKind, text: &str| {
        post_button(who, &format!("/messages/{id}/{action}"), kind, text)
    };
    markup! {
        @if who.can(Permission::Send) {
            div.actions {
                @match view.state.as_str() {
                    "sending" | "held" => {
                        (button("pause", ButtonKind::Plain, "Pause"))
                        " " (button("cancel", ButtonKind::Danger, "Cancel the rest"))
                    }
                    "paused" => {
                        (button("resume", ButtonKind::Plain, "Resume"))
                        " " (button("cancel", ButtonKind::Danger, "Cancel the rest"))
                    }
                    _ => {}
                }
                @if view.kind != "transactional" {
                    " " (button("duplicate", ButtonKind::Plain, "Copy into a new draft"))
                }
            }
        }
    }
}

/// Which preview a message's page shows.
struct Preview<'a> {
    id: &'a str,
    /// The contact it renders for; the audience's first when `None`.
    contact: Option<&'a str>,
    /// The address asked for, and why it has no contact.
    asked: &'a str,
    error: Option<&'a str>,
}

/// The preview, the test send and the send with its count of people.
fn preview_section(who: &Signed, p: &Preview, r: &PreflightReport) -> Markup {
    let id = p.id;
    let src = match p.contact {
        Some(c) => format!("/messages/{id}/preview.html?contact={c}"),
        None => format!("/messages/{id}/preview.html"),
    };
    let text_src = src.replace("preview.html", "preview.txt");
    // An estimated audience is named as one ("about 260,000 people"): the
    // exact number is counted when the send queues the mail.
    let people = match (r.audience_estimated_from, r.audience.eligible) {
        (Some(_), n) => format!("about {} people", about(n)),
        (None, 1) => "1 person".to_owned(),
        (None, n) => format!("{n} people"),
    };
    markup! {
        h2 { "Preview" }
        form method="get" action=(format!("/messages/{id}")) {
            (super::layout::field("as_contact", "Preview as the contact with the address", "email", p.asked, p.error,
                super::layout::FieldExtra { hint: Some("Empty: the first contact of the audience."), ..Default::default() }))
            button type="submit" { "Preview" }
        }
        p.hint { "Its links look real and lead nowhere." }
        iframe.preview src=(src) title="Preview of the mail" sandbox="" width="100%" height="480" {}
        p { a href=(text_src) { "The plain-text part" } }
        @if who.can(Permission::Send) {
            form method="post" action=(format!("/messages/{id}/test")) {
                (csrf(who))
                (super::layout::field("test_to", "Send a test to", "text", "", None,
                    super::layout::FieldExtra { hint: Some("Confirmed team addresses, separated by commas (add them with the API: POST /v1/workspace/team-addresses). The subject is marked as a test and its links do nothing."), ..Default::default() }))
                button type="submit" { "Send test" }
            }
        }
        @if who.can(Permission::Send) && r.ready {
            form method="post" action=(format!("/messages/{id}/send")) {
                (csrf(who))
                p { "Sending cannot be undone: the mail goes to " strong { (people) } "." }
                button type="submit" { "Send to " (people) }
            }
        }
    }
}

fn outbox_section(outbox: &[sendwell_store::OutboxEntry]) -> Markup {
    markup! {
        @if !outbox.is_empty() {
            h2 { "Outbox" }
            p.hint { "Mail kept by the capture transport instead of being delivered." }
            table {
                caption { "Captured mail of this message" }
                thead { tr { th scope="col" { "To" } th scope="col" { "Subject" } th scope="col" { "When" } } }
                tbody { @for o in outbox.iter().take(50) { tr { td { (o.to) } td { (o.subject) } td { (when(o.created_at)) } } } }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn send(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Reply {
    let who = posted.who;
    who.require(Permission::Send)?;
    let (_, sent) = crate::extract::call(state.clone(), who.caller(), |c| {
        api::send(c, Path(id.clone()), axum::body::Bytes::new())
    })
    .await
    .map_err(|e| api_error(&who, e))?;
    let to = match sent.0.review {
        Some(_) => format!("/messages/{id}?done=review"),
        None => format!("/messages/{id}?done=sent"),
    };
    Ok(redirect(&to))
}

/// Pauses, resumes, cancels or copies a message through the API.
pub async fn run(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    posted: Posted<Empty>,
) -> Reply {
    let who = posted.who;
    who.require(Permission::Send)?;
    let path = Path(id.clone());
    let done = match action.as_str() {
        "duplicate" => {
            let (_, copy) = crate::extract::call(state.clone(), who.caller(), |c| {
                campaigns::duplicate(c, path)
            })
            .await
            .map_err(|e| api_error(&who, e))?;
            return Ok(redirect(&format!("/messages/{}?done=copied", copy.0.id)));
        }
        "pause" => {
            crate::extract::call(state.clone(), who.caller(), |c| campaigns::pause(c, path)).await
        }
        "resume" => {
            crate::extract::call(state.clone(), who.caller(), |c| campaigns::resume(c, path)).await
        }
        "cancel" => {
            crate::extract::call(state.clone(), who.caller(), |c| campaigns::cancel(c, path)).await
        }
        _ => {
            return Err(super::error_page(
                &who,
                StatusCode::NOT_FOUND,
                "No such action",
                "A message can be paused, resumed, cancelled or copied.",
            ))
        }
    };
    let _changed = done.map_err(|e| api_error(&who, e))?;
    let word = match action.as_str() {
        "pause" => "paused",
        "resume" => "resumed",
        _ => "cancelled",
    };
    Ok(redirect(&format!("/messages/{id}?done={word}")))
}

#[derive(Deserialize, Default)]
pub struct PreviewQuery {
    #[serde(default)]
    contact: Option<String>,
}

async fn preview_of(
    state: &AppState,
    who: &Signed,
    id: &str,
    contact: Option<String>,
) -> Reply<api::PreviewView> {
    let body = serde_json::to_vec(&json!({"contact_id": contact})).unwrap_or_default();
    let body = if contact.is_none() { Vec::new() } else { body };
    Ok(crate::extract::call(state.clone(), who.caller(), |c| {
        api::preview_message(c, Path(id.to_owned()), body.into())
    })
    .await
    .map_err(|e| api_error(who, e))?
    .0)
}

/// The rendered HTML of a preview, for the sandboxed frame: no script can
/// run in it (the CSP's `sandbox`), and only this site may frame it.
pub async fn preview_html(
    State(state): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Query(q): Query<PreviewQuery>,
) -> Reply {
    preview_part(&state, &who, &id, q, true).await
}

/// The plain-text part of a preview.
pub async fn preview_text(
    State(state): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
    Query(q): Query<PreviewQuery>,
) -> Reply {
    preview_part(&state, &who, &id, q, false).await
}

async fn preview_part(
    state: &AppState,
    who: &Signed,
    id: &str,
    q: PreviewQuery,
    html: bool,
) -> Reply {
    let preview = preview_of(state, who, id, q.contact).await?;
    Ok(if html {
        super::framed(preview.html, "text/html; charset=utf-8")
    } else {
        super::framed(preview.text, "text/plain; charset=utf-8")
    })
}

/// Finished deliveries over time as stacked bars (the lower part
/// delivered, the upper part bounced or failed, said in the caption and
/// the table, not by colour alone).
fn delivery_chart(bucket: i64, points: &[(i64, String, i64)]) -> Markup {
    let mut buckets: std::collections::BTreeMap<i64, (i64, i64)> =
        std::collections::BTreeMap::new();
    for (start, state, n) in points {
        let entry = buckets.entry(*start).or_default();
        if state == "delivered" {
            entry.0 += n;
        } else {
            entry.1 += n;
        }
    }
    let first = buckets.keys().next().copied().unwrap_or(0);
    let count = buckets
        .keys()
        .last()
        .map(|last| (last - first) / bucket.max(1) + 1)
        .unwrap_or(1)
        .max(1);
    let top = buckets
        .values()
        .map(|(a, b)| a + b)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let width = 600.0 / count as f64;
    let h = |n: i64| 120.0 * n as f64 / top;
    let minutes = bucket / 60_000;
    let summary = format!(
        "Finished deliveries per {minutes} minute(s): the lower part of each bar delivered, the upper part bounced or failed; {} in all",
        buckets.values().map(|(a, b)| a + b).sum::<i64>()
    );
    markup! {
        h2 { "Deliveries over time" }
        figure.chart {
            svg viewBox="0 0 620 140" width="620" height="140" role="img" aria-label=(summary) {
                rect class="track" x="10" y="10" width="600" height="120" {}
                @for (start, (ok, bad)) in &buckets {
                    @let x = 10.0 + ((start - first) / bucket.max(1)) as f64 * width;
                    rect class="bar" x=(format!("{x:.1}")) y=(format!("{:.1}", 130.0 - h(*ok))) width=(format!("{:.1}", (width - 1.0).max(1.0))) height=(format!("{:.1}", h(*ok))) {}
                    rect class="bad" x=(format!("{x:.1}")) y=(format!("{:.1}", 130.0 - h(*ok) - h(*bad))) width=(format!("{:.1}", (width - 1.0).max(1.0))) height=(format!("{:.1}", h(*bad))) {}
                }
            }
            figcaption { (summary) }
        }
        details {
            summary { "The numbers over time" }
            table {
                caption { "Finished deliveries over time" }
                thead { tr { th scope="col" { "From" } th scope="col" { "Delivered" } th scope="col" { "Bounced or failed" } } }
                tbody {
                    @for (start, (ok, bad)) in &buckets {
                        tr { td { (when(sendwell_core::Timestamp::from_millis(*start))) } td { (ok) } td { (bad) } }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct TestForm {
    #[serde(default)]
    test_to: String,
}

pub async fn test_send(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<TestForm>,
) -> Reply {
    let Posted { who, form } = posted;
    let req = crate::api::team::TestSendRequest {
        to: form
            .test_to
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let _sent = crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::team::test_send(c, Path(id.clone()), ApiJson(req))
    })
    .await
    .map_err(|e| api_error(&who, e))?;
    Ok(redirect(&format!("/messages/{id}?done=tested")))
}
