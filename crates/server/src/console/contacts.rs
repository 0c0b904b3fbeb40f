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
}

pub async fn list(State(state): State<AppState>, who: Signed, Query(q): Query<ListQuery>) -> Reply {
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let (email, search_error) = match search.map(EmailAddress::parse) {
        Some(Ok(e)) => (Some(e), None),
        Some(Err(e)) => (None, Some(e.to_string())),
        None => (None, None),
    };
    let cursor = q.after.as_deref().and_then(|c| ContactId::parse(c).ok());
    let contacts = if search_error.is_some() {
        sendwell_store::ContactPage {
            items: Vec::new(),
            next_cursor: None,
        }
    } else {
        state
            .store
            .list_contacts(&who.workspace.id, cursor.as_ref(), PAGE, email.as_ref())
            .await
            .map_err(super::internal)?
    };
    let search_text = search.unwrap_or("");
    let body = markup! {
        form.search method="get" action="/contacts" role="search" {
            label for="q" { "Find a contact by email address" }
            input #q type="search" name="q" value=(search_text)
                aria-invalid=[search_error.as_ref().map(|_| "true")]
                aria-describedby=[search_error.as_ref().map(|_| "q-error")];
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
    let title = contact
        .email
        .clone()
        .unwrap_or_else(|| contact.id.to_string());
    let body = markup! {
        dl.facts {
            dt { "Name" } dd { (contact.name.as_deref().unwrap_or("")) }
            dt { "External id" } dd { (contact.external_id.as_deref().unwrap_or("")) }
            dt { "Address check" } dd { (contact.address_verdict.as_deref().unwrap_or("not checked")) }
            @if let Some(s) = &contact.suppression {
                dt { "Suppressed" } dd { (format!("{s:?}")) }
            }
            @if contact.quarantined {
                dt { "Quarantined" } dd { "Created by an import that waits for the operator's review: not mailed until it is approved." }
            }
            dt { "Added" } dd { (when(contact.created_at)) }
        }
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
        h2 { "Consent ledger" }
        @if events.is_empty() {
            p { "No events." }
        } @else {
            table {
                caption { "Every consent event of this contact, oldest first" }
                thead { tr {
                    th scope="col" { "When" } th scope="col" { "Action" } th scope="col" { "Topic" }
                    th scope="col" { "Method" } th scope="col" { "By" }
                } }
                tbody {
                    @for e in &events {
                        tr {
                            td { (when(e.occurred_at)) }
                            td { (e.action.as_str()) }
                            td { (e.topic.as_str()) }
                            td { (e.method.as_str()) }
                            td { (e.actor) }
                        }
                    }
                }
            }
        }
    };
    Ok(html(StatusCode::OK, page(&who, "Contacts", &title, body)))
}

/// An attribute's value as text: strings as they are, others as JSON.
fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
