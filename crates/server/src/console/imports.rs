//! Imports: upload a CSV with its declared source and consent (the
//! guidelines' words on bought lists beside the form), then the result:
//! status, score with each signal in a sentence, rejected rows as a CSV,
//! and what quarantine means. The upload goes through the same import
//! service as `POST /v1/imports`.

use super::home::api_error;
use super::layout::{csrf, page, select, when};
use super::session::same_origin;
use super::{html, Reply, Signed};
use crate::api::imports::{form_upload, spool};
use crate::import::{declaration, ImportQuery};
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html as markup, Markup};
use sendwell_core::Permission;
use sendwell_store::ImportRecord;

pub(crate) const SOURCES: [(&str, &str); 6] = [
    ("signup_form", "A sign-up form on our site or app"),
    ("product_users", "Users of our product"),
    ("event_signup", "People who signed up at an event"),
    ("customer_records", "Our customer records"),
    ("migration", "Moved from another sending service"),
    ("other", "Other (describe below)"),
];

pub(crate) const CONSENTS: [(&str, &str); 3] = [
    (
        "none",
        "They have not agreed to marketing (transactional mail only)",
    ),
    ("opt_in", "They opted in to marketing"),
    ("double_opt_in", "They opted in and confirmed by mail"),
];

fn upload_form(who: &Signed, error: Option<&str>) -> Markup {
    markup! {
        section aria-labelledby="upload-heading" {
            h2 #upload-heading { "Import a CSV" }
            aside.notice {
                p { strong { "Only your own people." } " Lists that were bought, rented, borrowed or scraped are not allowed, whatever the seller promises: the people on them never asked for your mail. Every import is scored for the signs of such a list; one that looks like one is held for the delivery team's review before anyone on it can be mailed." }
            }
            @if let Some(e) = error { p.error role="alert" #import-error { (e) } }
            @if who.can(Permission::WriteContacts) {
                form method="post" action="/imports" enctype="multipart/form-data" data-progress="upload-progress" {
                    (csrf(who))
                    (select("source", "source", "Where the list came from", &SOURCES, "signup_form"))
                    div.field {
                        label for="description" { "Description" }
                        p.hint #description-hint { "How and when these people gave you their address (needed for Other)." }
                        textarea #description name="description" rows="2" aria-describedby="description-hint" {}
                    }
                    (select("consent", "consent", "Their consent to marketing", &CONSENTS, "none"))
                    div.field {
                        label for="consent_statement" { "How consent was collected" }
                        p.hint #statement-hint { "Needed when they opted in, e.g. the checkbox's words on your sign-up form and the years it was used. It becomes the evidence in each person's consent record." }
                        textarea #consent_statement name="consent_statement" rows="2" aria-describedby="statement-hint" {}
                    }
                    div.field {
                        label for="file" { "CSV file" }
                        p.hint #file-hint { "One row per person, with a header row; an email column is needed. Up to 1,000,000 rows." }
                        input #file type="file" name="file" accept=".csv,text/csv" required aria-describedby="file-hint";
                    }
                    button type="submit" { "Import" }
                    p.hint #upload-progress-label hidden { "Uploading: " progress #upload-progress max="100" value="0" aria-labelledby="upload-progress-label" {} }
                }
            } @else {
                p { "Importing needs the sender or admin role." }
            }
        }
    }
}

fn list(imports: &[ImportRecord]) -> Markup {
    markup! {
        h2 { "Imports, newest first" }
        @if imports.is_empty() {
            p { "None yet." }
        } @else {
            table {
                caption { "Imports" }
                thead { tr {
                    th scope="col" { "Started" } th scope="col" { "Source" } th scope="col" { "Status" } th scope="col" { "Score" }
                } }
                tbody {
                    @for i in imports {
                        tr {
                            td { a href=(format!("/imports/{}", i.id)) { (when(i.created_at)) } }
                            td { (i.source) }
                            td { (i.status.replace('_', " ")) }
                            td { (i.score.map(|s| s.to_string()).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}

async fn index(state: &AppState, who: &Signed, error: Option<&str>, status: StatusCode) -> Reply {
    let imports = state
        .store
        .list_imports(Some(&who.workspace.id), None, None, 50)
        .await
        .map_err(super::internal)?;
    let body = markup! { (upload_form(who, error)) (list(&imports)) };
    Ok(html(status, page(who, "Imports", "Imports", body)))
}

pub async fn page_get(State(state): State<AppState>, who: Signed) -> Reply {
    index(&state, &who, None, StatusCode::OK).await
}

fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

pub async fn upload(State(state): State<AppState>, req: Request) -> Reply {
    if !same_origin(&state, req.headers()) {
        return Err(super::session::forbidden_origin());
    }
    let (mut parts, body) = req.into_parts();
    let who = Signed::from_request_parts(&mut parts, &state).await?;
    who.require(Permission::WriteContacts)?;
    let req = Request::from_parts(parts, body);
    let (fields, stream) = match form_upload(req, &state).await {
        Ok(upload) => upload,
        Err(e) => return index(&state, &who, Some(e.detail()), e.status()).await,
    };
    let token = field(&fields, "csrf").unwrap_or("");
    if !sendwell_core::secret::constant_time_eq(token.as_bytes(), who.csrf.as_bytes()) {
        return Err(super::error_page(
            &who,
            StatusCode::FORBIDDEN,
            "The form has expired",
            "Go back, reload the page and send the file again.",
        ));
    }
    let query = ImportQuery {
        source: field(&fields, "source").map(str::to_owned),
        description: field(&fields, "description").map(str::to_owned),
        consent: field(&fields, "consent").map(str::to_owned),
        consent_statement: field(&fields, "consent_statement").map(str::to_owned),
        consent_topic: field(&fields, "consent_topic").map(str::to_owned),
        checks: None,
        charset: None,
    };
    let decl = match declaration(query, who.actor()) {
        Ok(d) => d,
        Err(e) => return index(&state, &who, Some(e.detail()), e.status()).await,
    };
    let spooled = spool(stream, state.delivery().upload)
        .await
        .map_err(|e| api_error(&who, e))?;
    let done = crate::import::run(&state, &who.workspace.id, who.actor(), decl, spooled, None)
        .await
        .map_err(|e| api_error(&who, e))?;
    let status = if done.nothing_imported {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(html(status, result_page(&who, &done.record)))
}

/// What a status means to the workspace.
fn status_text(status: &str) -> &'static str {
    match status {
        "accepted" => "Accepted: the contacts are in and can be mailed as their consent allows.",
        "accepted_with_warnings" => "Accepted with warnings: the contacts are in; the signals below are worth a look before you mail them.",
        "quarantined" => "Held for review: the list shows signs of a bought or scraped list. Its contacts are in but cannot be mailed until the delivery team approves the import; they will tell you what they decide.",
        "approved" => "Approved by the delivery team after review: its contacts can be mailed.",
        "rejected" => "Rejected by the delivery team: its contacts cannot be mailed.",
        _ => "",
    }
}

fn result_page(who: &Signed, r: &ImportRecord) -> Markup {
    let counts = r.counts.clone().unwrap_or(serde_json::Value::Null);
    let signals = r
        .signals
        .as_ref()
        .and_then(|s| s.as_array().cloned())
        .unwrap_or_default();
    let body = markup! {
        p.notice role="status" { (status_text(&r.status)) }
        dl.facts {
            dt { "Status" } dd { (r.status.replace('_', " ")) }
            dt { "Score" } dd { (r.score.map(|s| format!("{s} of 100")).unwrap_or_default()) }
            dt { "Source" } dd { (r.source) }
            @if let Some(d) = &r.description { dt { "Description" } dd { (d) } }
            dt { "Consent" } dd { (r.consent) }
            @for key in ["rows", "imported", "created", "updated", "rejected"] {
                @if let Some(n) = counts.get(key) { dt { (key) } dd { (n) } }
            }
        }
        @if let Some(note) = &r.review_note { p { "The delivery team's note: " (note) } }
        h2 { "Why points were taken off" }
        @if signals.is_empty() {
            p { "Nothing: the list looks like your own people." }
        } @else {
            ul {
                @for s in &signals {
                    li { (s.get("detail").and_then(|d| d.as_str()).unwrap_or("")) }
                }
            }
        }
        p { a href=(format!("/imports/{}/rejects.csv", r.id)) download { "Download the rejected rows (CSV)" } }
        p { a href="/imports" { "Back to imports" } }
    };
    page(who, "Imports", "Import result", body)
}

pub async fn show(State(state): State<AppState>, who: Signed, Path(id): Path<String>) -> Reply {
    let record = state
        .store
        .import_record(Some(&who.workspace.id), &id)
        .await
        .map_err(super::internal)?
        .ok_or_else(|| {
            super::error_page(
                &who,
                StatusCode::NOT_FOUND,
                "No such import",
                "This workspace has no such import.",
            )
        })?;
    Ok(html(StatusCode::OK, result_page(&who, &record)))
}

pub async fn rejects(
    State(state): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
) -> Result<Response, Response> {
    let csv = state
        .store
        .import_rejects(&who.workspace.id, &id)
        .await
        .map_err(super::internal)?
        .ok_or_else(|| {
            super::error_page(
                &who,
                StatusCode::NOT_FOUND,
                "No such import",
                "This workspace has no such import.",
            )
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"rejects-{}.csv\"",
                    id.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "")
                ),
            ),
        ],
        csv,
    )
        .into_response())
}
