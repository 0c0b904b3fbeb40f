//! Contacts: the list (newest id order, keyset pages, look-up by address)
//! and one contact's page with its attributes, the address verdict, its
//! consent by topic and the ledger's events.

use super::layout::{page, when};
use super::{html, Reply, Signed};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use maud::html as markup;
use sendwell_core::{ContactId, EmailAddress};
use serde::Deserialize;

/// Contacts on one page of the list.
const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    done: Option<String>,
    /// An audience filter in its text form.
    #[serde(default)]
    filter: Option<String>,
}

pub async fn list(State(state): State<AppState>, who: Signed, Query(q): Query<ListQuery>) -> Reply {
    if let Some(filter) = q.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        return filtered(&state, &who, filter, q.after.as_deref()).await;
    }
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let cursor = q.after.as_deref().and_then(|c| ContactId::parse(c).ok());
    let search_error = search.and_then(|s| {
        if s.chars().count() > 200 {
            Some("Search for at most 200 characters.".to_owned())
        } else if s.chars().any(char::is_control) {
            Some(
                "Search for letters, digits and punctuation, without control characters."
                    .to_owned(),
            )
        } else {
            None
        }
    });
    let store = &state.store;
    let ws = &who.workspace.id;
    let contacts = match (search, &search_error) {
        (_, Some(_)) => sendwell_store::ContactPage {
            items: Vec::new(),
            next_cursor: None,
        },
        // An address finds its contact; anything else, a name or an id.
        (Some(text), None) => match EmailAddress::parse(text) {
            Ok(email) => {
                store
                    .list_contacts(ws, cursor.as_ref(), PAGE, Some(&email))
                    .await
            }
            Err(_) => store.search_contacts(ws, text, PAGE).await.map(|items| {
                sendwell_store::ContactPage {
                    items,
                    next_cursor: None,
                }
            }),
        }
        .map_err(super::internal)?,
        (None, None) => store
            .list_contacts(ws, cursor.as_ref(), PAGE, None)
            .await
            .map_err(super::internal)?,
    };
    let search_text = search.unwrap_or("");
    let done = (q.done.as_deref() == Some("erased"))
        .then_some("The contact is erased; its address stays suppressed by a keyed hash.");
    let body = markup! {
        (super::layout::notice(done))
        (filter_form("", None))
        form.search method="get" action="/contacts" role="search" {
            label for="q" { "Find a contact" }
            p.hint #q-hint { "An email address, an external id, or the start of a name (letter case as written)." }
            input #q type="search" name="q" value=(search_text)
                aria-invalid=[search_error.as_ref().map(|_| "true")]
                aria-describedby=(if search_error.is_some() { "q-hint q-error" } else { "q-hint" });
            button type="submit" { "Find" }
            @if let Some(e) = &search_error { p.field-error #q-error { (e) } }
        }
        @if contacts.items.is_empty() {
            p { "No contacts" @if search.is_some() { " match" } "." }
        } @else {
            table {
                caption { "Contacts" }
                thead { tr {
                    th scope="col" { "Email" } th scope="col" { "Name" } th scope="col" { "External id" }
                    th scope="col" { "Address" } th scope="col" { "Added" }
                } }
                tbody {
                    @for c in &contacts.items {
                        tr {
                            td { a href=(format!("/contacts/{}", c.id)) { (c.email.as_deref().unwrap_or("(no address)")) } }
                            td { (c.name.as_deref().unwrap_or("")) }
                            td { (c.external_id.as_deref().unwrap_or("")) }
                            td { (c.address_verdict.as_deref().unwrap_or("not checked")) }
                            td { (when(c.created_at)) }
                        }
                    }
                }
            }
            @if search.is_some() && contacts.items.len() as i64 == PAGE {
                p { "The first " (PAGE) " matches are shown; type more to narrow them down." }
            }
            @if let Some(next) = &contacts.next_cursor {
                p { a href=(format!("/contacts?after={}", super::url_encode(next))) rel="next" { "Next page" } }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(&who, "Contacts", "Contacts", body),
    ))
}

fn filter_form(filter: &str, error: Option<&str>) -> maud::Markup {
    markup! {
        form.search method="get" action="/contacts" {
            (super::layout::field("filter", "Contacts matching a filter", "textarea", filter, error,
                super::layout::FieldExtra { hint: Some("The filter language of audiences, e.g. plan is \"pro\" and last_seen_at less than 30 days ago."), ..Default::default() }))
            button type="submit" { "Filter" }
        }
    }
}

/// The contacts a filter matches, whatever they may receive, a page at a
/// time by id; the filter's error under the field.
async fn filtered(state: &AppState, who: &Signed, filter: &str, after: Option<&str>) -> Reply {
    let schema = state
        .store
        .schema(&who.workspace.id)
        .await
        .map_err(super::internal)?;
    let parsed = crate::api::messages::parse_filter(
        Some(&serde_json::Value::String(filter.to_owned())),
        &schema,
        "/filter",
    );
    let (rows, error) = match &parsed {
        Ok(parsed) => {
            let spec = sendwell_store::AudienceSpec {
                workspace: &who.workspace.id,
                filter: parsed.as_ref(),
                kind: sendwell_core::MessageKind::Transactional,
                topic: "transactional",
                opt_in_request_interval_days: 0,
                exclude_risky: false,
                sunset: None,
            };
            let rows = state
                .store
                .matching_contacts(&spec, after, PAGE + 1)
                .await
                .map_err(super::internal)?;
            (rows, None)
        }
        Err(e) => (Vec::new(), Some(e.detail().to_owned())),
    };
    let more = rows.len() as i64 > PAGE;
    let shown = &rows[..rows.len().min(PAGE as usize)];
    let body = markup! {
        (filter_form(filter, error.as_deref()))
        @if error.is_none() {
            @if shown.is_empty() {
                p { "No contacts match." }
            } @else {
                table {
                    caption { "Contacts matching the filter, by id" }
                    thead { tr { th scope="col" { "Email" } th scope="col" { "Name" } } }
                    tbody {
                        @for c in shown {
                            tr {
                                td { a href=(format!("/contacts/{}", c.id)) { (c.email.as_deref().unwrap_or("(no address)")) } }
                                td { (c.name.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
                @if let (true, Some(last)) = (more, shown.last()) {
                    p { a rel="next" href=(format!("/contacts?filter={}&after={}", super::url_encode(filter), super::url_encode(&last.id))) { "Next page" } }
                }
            }
        }
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(html(status, page(who, "Contacts", "Contacts", body)))
}

pub async fn show(State(state): State<AppState>, who: Signed, Path(id): Path<String>) -> Reply {
    let not_found = || {
        super::error_page(
            &who,
            StatusCode::NOT_FOUND,
            "No such contact",
            "This workspace has no such contact; it may have been erased.",
        )
    };
    let Ok(id) = ContactId::parse(&id) else {
        return Err(not_found());
    };
    let Some(contact) = state
        .store
        .contact(&who.workspace.id, &id)
        .await
        .map_err(super::internal)?
    else {
        return Err(not_found());
    };
    let events = state
        .store
        .contact_consent_events(&who.workspace.id, &id)
        .await
        .map_err(super::internal)?;
    let activity = state
        .store
        .recent_activity(&who.workspace.id, &id, 50)
        .await
        .map_err(super::internal)?;
    let title = contact
        .email
        .clone()
        .unwrap_or_else(|| contact.id.to_string());
    let body = markup! {
        (contact_facts(&who, &contact))
        (attributes_and_consent(&contact))
        (activity_tables(&activity))
        (ledger_table(&events))
    };
    Ok(html(StatusCode::OK, page(&who, "Contacts", &title, body)))
}

/// Who the contact is, the address check, and what may be done with it.
fn contact_facts(who: &Signed, contact: &sendwell_store::Contact) -> maud::Markup {
    markup! {
        dl.facts {
            dt { "Name" } dd { (contact.name.as_deref().unwrap_or("")) }
            dt { "External id" } dd { (contact.external_id.as_deref().unwrap_or("")) }
            dt { "Address check" } dd {
                (contact.address_verdict.as_deref().unwrap_or("not checked"))
                @if let Some(check) = &contact.address_check {
                    @for reason in check.get("reasons").and_then(|r| r.as_array()).into_iter().flatten() {
                        " · " (reason.as_str().unwrap_or("").replace('_', " "))
                    }
                    @if let Some(s) = check.get("suggestion").and_then(|s| s.as_str()) {
                        " · did they mean " (s) "?"
                    }
                }
            }
            @if let Some(s) = &contact.suppression {
                dt { "Suppressed" } dd { (format!("{s:?}")) }
            }
            @if contact.quarantined {
                dt { "Quarantined" } dd { "Created by an import that waits for the operator's review: not mailed until it is approved." }
            }
            dt { "Added" } dd { (when(contact.created_at)) }
        }
        ul.actions {
            @if who.can(sendwell_core::Permission::ExportContacts) {
                li { a href=(format!("/contacts/{}/export.json", contact.id)) download { "Download everything held on this contact (JSON)" } }
            }
            li { a href=(format!("/contacts/{}/consent.json", contact.id)) download { "Download the proof of consent (JSON)" } }
            @if who.can(sendwell_core::Permission::EraseContacts) {
                li { a href=(format!("/contacts/{}/erase", contact.id)) { "Erase this contact…" } }
            }
        }
    }
}

fn attributes_and_consent(contact: &sendwell_store::Contact) -> maud::Markup {
    markup! {
        h2 { "Attributes" }
        @if contact.attributes.is_empty() {
            p { "None." }
        } @else {
            table {
                caption { "Attributes" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Value" } } }
                tbody {
                    @for (name, value) in &contact.attributes {
                        tr { td { (name) } td { (value_text(value)) } }
                    }
                }
            }
        }
        h2 { "Consent" }
        @if contact.consent.is_empty() {
            p { "No consent recorded." }
        } @else {
            ul {
                @for (topic, c) in &contact.consent {
                    li { (topic.as_str()) ": " (c.status.as_str().replace('_', " "))
                        @if c.double_opt_in { " (confirmed)" } " since " (when(c.since)) }
                }
            }
        }
    }
}

fn activity_tables(activity: &sendwell_store::RecentActivity) -> maud::Markup {
    markup! {
        h2 { "Mails" }
        @if activity.mails.is_empty() {
            p { "No mail sent to this contact yet." }
        } @else {
            table {
                caption { "The newest 50 mails to this contact" }
                thead { tr { th scope="col" { "Message" } th scope="col" { "State" } th scope="col" { "When" } } }
                tbody { @for (name, state, at) in &activity.mails { tr { td { (name) } td { (state) } td { (when(*at)) } } } }
            }
        }
        h2 { "Events" }
        @if activity.events.is_empty() {
            p { "No opens, clicks, bounces or complaints." }
        } @else {
            table {
                caption { "The newest 50 events: opens, clicks, unsubscribes, bounces, complaints" }
                thead { tr { th scope="col" { "Event" } th scope="col" { "Message" } th scope="col" { "When" } } }
                tbody { @for (kind, name, at) in &activity.events { tr { td { (kind.replace('_', " ")) } td { (name) } td { (when(*at)) } } } }
            }
        }
    }
}

fn ledger_table(events: &[sendwell_core::consent::ConsentEvent]) -> maud::Markup {
    markup! {
        h2 { "Consent ledger" }
        @if events.is_empty() {
            p { "No events." }
        } @else {
            table {
                caption { "Every consent event of this contact, oldest first" }
                thead { tr {
                    th scope="col" { "When" } th scope="col" { "Action" } th scope="col" { "Topic" }
                    th scope="col" { "Method" } th scope="col" { "By" } th scope="col" { "Evidence" }
                } }
                tbody {
                    @for e in events {
                        tr {
                            td { (when(e.occurred_at)) }
                            td { (e.action.as_str()) }
                            td { (e.topic.as_str()) }
                            td { (e.method.as_str()) }
                            td { (e.actor) }
                            td { (evidence_text(e)) }
                        }
                    }
                }
            }
        }
    }
}

/// A ledger event's evidence in a line: the words shown, the address and
/// page it came from, the mail; "erased" once the person was erased.
fn evidence_text(e: &sendwell_core::consent::ConsentEvent) -> String {
    let Some(sealed) = &e.evidence else {
        return "erased (the digest stays)".to_owned();
    };
    let ev = &sealed.evidence;
    let mut parts = Vec::new();
    if let Some(w) = &ev.wording {
        parts.push(format!("shown: \u{201c}{w}\u{201d}"));
    }
    if let Some(ip) = &ev.ip {
        parts.push(format!("from {ip}"));
    }
    if let Some(url) = &ev.source_url {
        parts.push(format!("on {url}"));
    }
    if let Some(subject) = &ev.subject {
        parts.push(format!("mail \u{201c}{subject}\u{201d}"));
    }
    parts.join("; ")
}

/// An attribute's value as text: strings as they are, others as JSON.
fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON download of what an API handler answered.
fn download<T: serde::Serialize>(name: &str, value: &T) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .collect();
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/json; charset=utf-8".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\""),
            ),
            (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// Everything held on the contact, as the API's export gives it.
pub async fn export(State(state): State<AppState>, who: Signed, Path(id): Path<String>) -> Reply {
    let export = crate::extract::call(state, who.caller(), |c| {
        crate::api::contacts::export(c, Path(id.clone()))
    })
    .await
    .map_err(|e| super::home::api_error(&who, e))?;
    Ok(download(&format!("contact-{id}.json"), &export.0))
}

/// The contact's proof bundle: every consent event with its evidence and
/// the chain check of each.
pub async fn proof(State(state): State<AppState>, who: Signed, Path(id): Path<String>) -> Reply {
    let proof = crate::extract::call(state, who.caller(), |c| {
        crate::api::consent::proof(c, Path(id.clone()))
    })
    .await
    .map_err(|e| super::home::api_error(&who, e))?;
    Ok(download(&format!("consent-{id}.json"), &proof.0))
}

/// The confirmation before an erasure, naming what it does.
pub async fn erase_page(
    State(state): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
) -> Reply {
    who.require(sendwell_core::Permission::EraseContacts)?;
    let contact = ContactId::parse(&id).ok();
    let found = match &contact {
        Some(c) => state
            .store
            .contact(&who.workspace.id, c)
            .await
            .map_err(super::internal)?,
        None => None,
    };
    let Some(contact) = found else {
        return Err(super::error_page(
            &who,
            StatusCode::NOT_FOUND,
            "No such contact",
            "This workspace has no such contact; it may have been erased.",
        ));
    };
    let name = contact.email.clone().unwrap_or_else(|| id.clone());
    let body = markup! {
        p { "Erasing " strong { (name) } " removes for good:" }
        ul {
            li { "the address, the name, the external id and every attribute;" }
            li { "the evidence of every consent event (the ledger keeps the events' digests, so it stays verifiable);" }
            li { "the person's mails and link events." }
        }
        p { "A keyed hash of the address stays on the suppression list, so this address is never mailed again from this workspace, even if it is imported later. This cannot be undone. Download the data first if the person asked for a copy." }
        form method="post" action=(format!("/contacts/{id}/erase")) {
            (super::layout::csrf(&who))
            button.danger type="submit" { "Erase " (name) " for good" }
        }
        p { a href=(format!("/contacts/{id}")) { "Keep the contact" } }
    };
    Ok(html(
        StatusCode::OK,
        page(&who, "Contacts", "Erase a contact", body),
    ))
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn erase(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: super::session::Posted<Empty>,
) -> Reply {
    let who = posted.who;
    crate::extract::call(state, who.caller(), |c| {
        crate::api::contacts::erase(c, Path(id))
    })
    .await
    .map_err(|e| super::home::api_error(&who, e))?;
    Ok(super::redirect("/contacts?done=erased"))
}
