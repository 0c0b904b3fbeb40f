//! Suppressions (the list a page at a time, add, lift where the workspace
//! may, the whole list as CSV) and the audience counter (a filter in its
//! text form, counted as a message of a kind would count it, with each
//! reason for leaving contacts out).

use super::layout::{about, csrf, field, page, select, when, FieldExtra};
use super::session::Posted;
use super::{html, redirect, Reply, Signed};
use crate::api::messages::{audience_preview, PreviewRequest};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::Path;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use maud::{html as markup, Markup};
use sendwell_core::Permission;
use serde::Deserialize;

/// Suppressions on one page of the list.
const PAGE: i64 = 100;

#[derive(Deserialize, Default)]
pub struct SuppressionQuery {
    #[serde(default)]
    after: Option<String>,
}

fn suppression_rows(who: &Signed, list: &[sendwell_store::SuppressionEntry]) -> Markup {
    let can_lift = who.can(Permission::ManageWorkspace);
    markup! {
        table {
            caption { "Suppressed addresses" }
            thead { tr {
                th scope="col" { "Address" } th scope="col" { "Reason" } th scope="col" { "Source" }
                th scope="col" { "Since" } th scope="col" { "Lift" }
            } }
            tbody {
                @for s in list {
                    tr {
                        td { (s.email.as_deref().unwrap_or("(erased: kept as a keyed hash)")) }
                        td { (s.reason.replace('_', " ")) }
                        td { (s.source) }
                        td { (when(s.created_at)) }
                        td {
                            @if sendwell_store::PERSON_REASONS.contains(&s.reason.as_str()) {
                                "Only the person, by opting in again"
                            } @else if let (true, Some(email)) = (can_lift, &s.email) {
                                form.inline method="post" action="/suppressions/lift" {
                                    (csrf(who))
                                    input type="hidden" name="email" value=(email);
                                    button type="submit" { "Lift for " (email) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn suppressions_page(
    state: &AppState,
    who: &Signed,
    after: Option<&str>,
    form: (&str, Option<&str>),
    status: StatusCode,
) -> Reply {
    let list = state
        .store
        .list_suppressions(&who.workspace.id, after, PAGE + 1)
        .await
        .map_err(super::internal)?;
    let more = list.len() as i64 > PAGE;
    let shown = &list[..list.len().min(PAGE as usize)];
    let body = markup! {
        p { "Suppressed addresses are never mailed: hard bounces, complaints, unsubscribes and erased people. "
            a href="/suppressions.csv" download { "Download the whole list (CSV)" } }
        @if who.can(Permission::ManageWorkspace) {
            form method="post" action="/suppressions" {
                (csrf(who))
                (field("email", "Address to suppress", "email", form.0, form.1, FieldExtra { required: true, ..Default::default() }))
                button type="submit" { "Suppress" }
            }
        }
        @if shown.is_empty() { p { "None." } } @else { (suppression_rows(who, shown)) }
        @if let (true, Some(last)) = (more, shown.last()) {
            p { a rel="next" href=(format!("/suppressions?after={}", last.email_hash)) { "Next page" } }
        }
    };
    Ok(html(
        status,
        page(who, "Suppressions", "Suppressions", body),
    ))
}

pub async fn suppressions(
    State(state): State<AppState>,
    who: Signed,
    Query(q): Query<SuppressionQuery>,
) -> Reply {
    suppressions_page(&state, &who, q.after.as_deref(), ("", None), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct SuppressForm {
    #[serde(default)]
    email: String,
}

pub async fn suppress(State(state): State<AppState>, posted: Posted<SuppressForm>) -> Reply {
    let Posted { who, form } = posted;
    let req = crate::api::suppressions::AddSuppression {
        email: form.email.trim().to_owned(),
        reason: None,
    };
    match crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::suppressions::add(c, ApiJson(req))
    })
    .await
    {
        Ok(_) => Ok(redirect("/suppressions")),
        Err(e) if e.status() == StatusCode::FORBIDDEN => Err(super::home::api_error(&who, e)),
        Err(e) => {
            let detail = e.detail().to_owned();
            suppressions_page(&state, &who, None, (&form.email, Some(&detail)), e.status()).await
        }
    }
}

pub async fn lift(State(state): State<AppState>, posted: Posted<SuppressForm>) -> Reply {
    let Posted { who, form } = posted;
    let _lifted = crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::suppressions::remove(c, Path(form.email.clone()))
    })
    .await
    .map_err(|e| super::home::api_error(&who, e))?;
    Ok(redirect("/suppressions"))
}

pub async fn suppressions_csv(State(state): State<AppState>, who: Signed) -> Reply {
    use axum::response::IntoResponse;
    let csv = crate::extract::call(state, who.caller(), |c| {
        crate::api::suppressions::export_csv(c)
    })
    .await
    .map_err(|e| super::home::api_error(&who, e))?;
    let mut response = csv.into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static("attachment; filename=\"suppressions.csv\""),
    );
    Ok(response)
}

#[derive(Deserialize, Default)]
pub struct AudienceQuery {
    #[serde(default)]
    filter: Option<String>,

    #[serde(default)]
    kind: Option<String>,
    /// Count exactly (any value), not from a sample.
    #[serde(default)]
    exact: Option<String>,
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
    audiences_page(&state, &who, &q, None, StatusCode::OK).await
}

/// The audience counter, the save form (with why the last save was
/// refused, if it was) and the saved audiences.
async fn audiences_page(
    state: &AppState,
    who: &Signed,
    q: &AudienceQuery,
    save_error: Option<&str>,
    status: StatusCode,
) -> Reply {
    let filter = q.filter.as_deref().map(str::trim).unwrap_or("");
    let kind = q.kind.as_deref().unwrap_or("marketing");
    let req = PreviewRequest {
        filter: (!filter.is_empty()).then(|| serde_json::Value::String(filter.to_owned())),
        kind: kind.to_owned(),
        topic: None,
        exclude_risky: None,
        estimate: Some(q.exact.is_none()),
    };
    let (result, error) = match audience_preview(state, &who.workspace.id, &req).await {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e.detail().to_owned())),
    };
    let saved = state
        .store
        .saved_audiences(&who.workspace.id)
        .await
        .map_err(super::internal)?;
    let body = markup! {
        form method="get" action="/audiences" data-live="counts" {
            div.field {
                label for="filter" { "Filter" }
                p.hint #filter-hint { "For example: plan is \"pro\" and last_seen_at less than 30 days ago. Empty: every contact." }
                textarea #filter name="filter" rows="3"
                    aria-invalid=[error.as_ref().map(|_| "true")]
                    aria-describedby=(if error.is_some() { "filter-hint filter-error" } else { "filter-hint" }) { (filter) }
                @if let Some(e) = &error { p.field-error #filter-error { (e) } }
            }
            (select("kind", "kind", "Kind of message", &KINDS, kind))
            button type="submit" { "Count" }
        }
        div #live-counts aria-live="polite" {
        @if let Some(e) = &error { p.visually-hidden { "The filter has an error: " (e) } }
        @if let Some(r) = result {
            section aria-labelledby="counts" {
                h2 #counts { "Who it reaches" }
                (counts_of(&r, filter, kind))
                @if !r.sample.is_empty() {
                    h3 { "A sample" }
                    ul { @for c in &r.sample { li { (c.email.as_deref().unwrap_or("")) } } }
                }
            }
        }
        }
    };
    let body = markup! {
        (body)
        @if who.can(Permission::Send) && error.is_none() && !filter.is_empty() {
            form method="post" action="/audiences" {
                (csrf(who))
                input type="hidden" name="filter" value=(filter);
                (field("audience_name", "Save this filter as", "text", "", save_error,
                    FieldExtra { hint: Some("A name, such as \"Pro customers\"; who it reaches is counted again at each use."), ..Default::default() }))
                button type="submit" { "Save audience" }
            }
        }
        (saved_list(who, &saved))
    };
    Ok(html(status, page(who, "Audiences", "Audiences", body)))
}

/// Who a filter reaches: exact counts, or estimates that say so with a
/// link to the exact count.
fn counts_of(r: &crate::api::messages::PreviewResponse, filter: &str, kind: &str) -> Markup {
    markup! {
        @if let Some(n) = r.estimated_from {
            p { "About " strong { (about(r.eligible)) } " of about " (about(r.matched)) " matching contacts may receive it." }
            p.hint {
                "Estimated from " (n) " contacts; a send counts exactly. "
                a href=(format!("/audiences?filter={}&kind={}&exact=1", super::url_encode(filter), super::url_encode(kind))) { "Count exactly" }
            }
            ul {
                @for (why, n) in excluded(&r.excluded) {
                    @if n > 0 { li { "about " (about(n)) " left out: " (why) } }
                }
            }
        } @else {
            p { strong { (r.eligible) } " of " (r.matched) " matching contacts may receive it." }
            ul {
                @for (why, n) in excluded(&r.excluded) {
                    @if n > 0 { li { (n) " left out: " (why) } }
                }
            }
        }
    }
}

fn excluded(e: &sendwell_store::Excluded) -> [(&'static str, i64); 10] {
    [
        ("no recorded consent", e.no_consent),
        ("unsubscribed", e.unsubscribed),
        ("bounced", e.bounced),
        ("complained", e.complained),
        ("invalid address", e.invalid),
        ("erased", e.erased),
        ("in an import under review", e.quarantined),
        ("asked for permission recently", e.recently_asked),
        ("opened and clicked nothing lately (sunset)", e.unengaged),
        ("risky address", e.risky),
    ]
}

fn saved_list(who: &Signed, saved: &[sendwell_store::SavedAudience]) -> Markup {
    markup! {
        h2 { "Saved audiences" }
        @if saved.is_empty() {
            p { "None yet: count a filter, then save it under a name." }
        } @else {
            table {
                caption { "Saved audiences" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Filter" } th scope="col" { "Delete" } } }
                tbody {
                    @for a in saved {
                        tr {
                            td { a href=(format!("/audiences?filter={}", super::url_encode(&a.filter_text))) { (a.name) } }
                            td { code { (a.filter_text) } }
                            td {
                                @if who.can(Permission::Send) {
                                    (super::layout::post_button(who, &format!("/audiences/{}/delete", a.id),
                                        super::layout::ButtonKind::Danger, &format!("Delete {}", a.name)))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct SaveForm {
    #[serde(default)]
    filter: String,
    #[serde(default)]
    audience_name: String,
}

pub async fn save_audience(State(state): State<AppState>, posted: Posted<SaveForm>) -> Reply {
    let Posted { who, form } = posted;
    let req = crate::api::audiences::SaveAudience {
        name: form.audience_name.clone(),
        filter: serde_json::Value::String(form.filter.clone()),
    };
    match crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::audiences::save(c, ApiJson(req))
    })
    .await
    {
        Ok(_) => Ok(redirect(&format!(
            "/audiences?filter={}",
            super::url_encode(&form.filter)
        ))),
        Err(e) if e.status() == StatusCode::FORBIDDEN => Err(super::home::api_error(&who, e)),
        Err(e) => {
            let q = AudienceQuery {
                filter: Some(form.filter.clone()),
                kind: None,
                exact: None,
            };
            audiences_page(&state, &who, &q, Some(e.detail()), e.status()).await
        }
    }
}

pub async fn delete_audience(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Reply {
    let who = posted.who;
    let _gone = crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::audiences::delete(c, Path(id))
    })
    .await
    .map_err(|e| super::home::api_error(&who, e))?;
    Ok(redirect("/audiences"))
}

#[derive(Deserialize)]
pub struct Empty {}
