//! Suppressions as a table, and the audience counter (a filter in its text form, counted as a message
//! of a kind would count it, with each reason for leaving contacts out).

use super::layout::{page, when};
use super::{html, Reply, Signed};
use crate::api::messages::{audience_preview, PreviewRequest};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use maud::{html as markup, Markup};
use serde::Deserialize;

const PAGE: i64 = 100;

fn table(caption: &str, heads: &[&str], rows: Vec<Vec<Markup>>) -> Markup {
    markup! {
        @if rows.is_empty() {
            p { "None yet." }
        } @else {
            table {
                caption { (caption) }
                thead { tr { @for h in heads { th scope="col" { (h) } } } }
                tbody {
                    @for row in rows { tr { @for cell in row { td { (cell) } } } }
                }
            }
        }
    }
}

fn text(s: impl AsRef<str>) -> Markup {
    markup! { (s.as_ref()) }
}

pub async fn suppressions(State(state): State<AppState>, who: Signed) -> Reply {
    let list = state
        .store
        .list_suppressions(&who.workspace.id, None, PAGE)
        .await
        .map_err(super::internal)?;
    let rows = list
        .iter()
        .map(|s| {
            vec![
                text(s.email.as_deref().unwrap_or("(erased)")),
                text(s.reason.replace('_', " ")),
                text(&s.source),
                text(when(s.created_at)),
            ]
        })
        .collect();
    let body = markup! {
        p { "Suppressed addresses are never mailed: hard bounces, complaints, unsubscribes and erased people." }
        (table("Suppressed addresses", &["Address", "Reason", "Source", "Since"], rows))
    };
    Ok(html(
        StatusCode::OK,
        page(&who, "Suppressions", "Suppressions", body),
    ))
}

#[derive(Deserialize, Default)]
pub struct AudienceQuery {
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    kind: Option<String>,
}

const KINDS: [(&str, &str); 3] = [
    ("marketing", "Marketing"),
    ("opt_in_request", "Opt-in request"),
    ("transactional", "Transactional"),
];

pub async fn audiences(
    State(state): State<AppState>,
    who: Signed,
    Query(q): Query<AudienceQuery>,
) -> Reply {
    let filter = q.filter.as_deref().map(str::trim).unwrap_or("");
    let kind = q.kind.as_deref().unwrap_or("marketing");
    let req = PreviewRequest {
        filter: (!filter.is_empty()).then(|| serde_json::Value::String(filter.to_owned())),
        kind: kind.to_owned(),
        topic: None,
        exclude_risky: None,
    };
    let (result, error) = match audience_preview(&state, &who.workspace.id, &req).await {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.detail().to_owned())),
    };
    let body = markup! {
        form method="get" action="/audiences" {
            div.field {
                label for="filter" { "Filter" }
                p.hint #filter-hint { "For example: plan is \"pro\" and last_seen_at less than 30 days ago. Empty: every contact." }
                textarea #filter name="filter" rows="3"
                    aria-invalid=[error.as_ref().map(|_| "true")]
                    aria-describedby=(if error.is_some() { "filter-hint filter-error" } else { "filter-hint" }) { (filter) }
                @if let Some(e) = &error { p.field-error #filter-error { (e) } }
            }
            div.field {
                label for="kind" { "Kind of message" }
                select #kind name="kind" {
                    @for (value, name) in KINDS {
                        option value=(value) selected[value == kind] { (name) }
                    }
                }
            }
            button type="submit" { "Count" }
        }
        @if let Some(r) = result {
            section aria-labelledby="counts" aria-live="polite" {
                h2 #counts { "Who it reaches" }
                p { strong { (r.eligible) } " of " (r.matched) " matching contacts may receive it." }
                ul {
                    @for (why, n) in excluded(&r.excluded) {
                        @if n > 0 { li { (n) " left out: " (why) } }
                    }
                }
                @if !r.sample.is_empty() {
                    h3 { "A sample" }
                    ul { @for c in &r.sample { li { (c.email.as_deref().unwrap_or("")) } } }
                }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(&who, "Audiences", "Audiences", body),
    ))
}

fn excluded(e: &sendwell_store::Excluded) -> [(&'static str, i64); 9] {
    [
        ("no recorded consent", e.no_consent),
        ("unsubscribed", e.unsubscribed),
        ("bounced", e.bounced),
        ("complained", e.complained),
        ("invalid address", e.invalid),
        ("erased", e.erased),
        ("in an import under review", e.quarantined),
        ("asked for permission recently", e.recently_asked),
        ("risky address", e.risky),
    ]
}
