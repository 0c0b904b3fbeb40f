//! The delivery team's three queues: imports held as possible bought or
//! scraped lists, mail that content screening held for review, and the
//! reports of concern. Each page reads and decides through the API's
//! operator handlers, so the rules, the error texts and the audit entries
//! are the API's; an auditor sees every page without its forms.

use super::layout::page;
use super::{api_error, error_page, OperatorPosted, OperatorSigned};
use crate::api::imports::{self as imports_api, OperatorImportQuery, OperatorImportView};
use crate::api::reports::{self as reports_api, HandleRequest, ReportQuery, ReportView};
use crate::api::reviews::{self as reviews_api, Decision, ReviewItem, ReviewQuery};
use crate::console::layout::{csrf, field, notice, select, when, FieldExtra};
use crate::console::{framed_offline, html, internal, redirect, url_encode, Reply};
use crate::error::ApiError;
use crate::extract::{Acting, ApiJson, ApiQuery, Checked};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use maud::{html as markup, Markup};
use sendwell_core::{Timestamp, WorkspaceId};
use sendwell_screen::content::Screener;
use sendwell_store::ImportedContact;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

// ---------------------------------------------------------------------------
// Pieces the three queues share

/// A note field as shown again: what was typed, and the API's word on it.
#[derive(Default, Clone, Copy)]
struct Note<'a> {
    value: &'a str,
    error: Option<&'a str>,
}

/// A decision on an import or a held mail.
#[derive(Deserialize, Default)]
pub struct DecideForm {
    /// `approve` or `reject`.
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize, Default)]
pub struct NoteForm {
    #[serde(default)]
    note: String,
}

/// A page's list filter and the page of it.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    /// What was just done, for the notice.
    #[serde(default)]
    done: Option<String>,
}

/// A decision, parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Approve,
    Reject,
}

impl Verdict {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "approve" => Some(Self::Approve),
            "reject" => Some(Self::Reject),
            _ => None,
        }
    }

    /// The `done` of the page the decision leads back to.
    fn done(self) -> &'static str {
        match self {
            Self::Approve => "approved",
            Self::Reject => "rejected",
        }
    }
}

fn no_decision(who: &OperatorSigned) -> axum::response::Response {
    error_page(
        who,
        StatusCode::UNPROCESSABLE_ENTITY,
        "No decision was chosen",
        "The form must say approve or reject: go back, reload the page and press one of its two buttons.",
    )
}

/// The note as the API takes it: one line. A textarea invites line breaks,
/// which the API refuses as control characters; they become spaces.
fn one_line(note: &str) -> String {
    note.replace("\r\n", " ").replace(['\r', '\n'], " ")
}

/// The API's word on the note, when the note is what it refused.
fn note_error(e: &ApiError) -> Option<&str> {
    e.field_errors()
        .iter()
        .find(|p| p.pointer == "/note")
        .map(|p| p.detail.as_str())
}

/// The note to the workspace and the two buttons of a decision.
fn decision_form(
    who: &OperatorSigned,
    action: &str,
    note: Note,
    consequence: &str,
    buttons: (&str, &str),
) -> Markup {
    markup! {
        h2 { "Your decision" }
        form method="post" action=(action) {
            (csrf(who))
            p { (consequence) }
            (field("note", "Note to the workspace", "textarea", note.value, note.error, FieldExtra {
                hint: Some("The workspace sees this note with your decision: say what you found and what they can do. Line breaks become spaces."),
                required: true,
                ..Default::default()
            }))
            button type="submit" name="decision" value="approve" { (buttons.0) }
            " "
            button.danger type="submit" name="decision" value="reject" { (buttons.1) }
        }
    }
}

/// Workspace names by id, for pages that name workspaces.
async fn workspace_names(state: &AppState, ids: &[&str]) -> Reply<HashMap<String, String>> {
    let mut names = HashMap::new();
    for &id in ids {
        if names.contains_key(id) {
            continue;
        }
        let Ok(ws) = WorkspaceId::parse(id) else {
            continue;
        };
        if let Some(w) = state.store.workspace(&ws).await.map_err(internal)? {
            names.insert(id.to_owned(), w.name);
        }
    }
    Ok(names)
}

/// A workspace by name (and id), linked to its page.
fn workspace_link(id: &str, names: &HashMap<String, String>) -> Markup {
    markup! {
        a href=(format!("/operator/workspaces/{}", url_encode(id))) {
            @match names.get(id) {
                Some(name) => { (name) " (" (id) ")" },
                None => (id),
            }
        }
    }
}

/// An API date as the console shows it.
fn when_text(rfc3339: &str) -> String {
    Timestamp::parse(rfc3339)
        .map(when)
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// A labelled drop-down that filters a list, sent with GET.
fn filter_form(action: &str, name: &str, choices: &[(&str, &str)], selected: &str) -> Markup {
    markup! {
        form.search method="get" action=(action) {
            (select(&format!("filter-{name}"), name, "Show", choices, selected))
            button type="submit" { "Show" }
        }
    }
}

// ---------------------------------------------------------------------------
// Imports

const IMPORT_FILTER: [(&str, &str); 6] = [
    ("quarantined", "Held for review"),
    ("approved", "Approved after review"),
    ("rejected", "Rejected"),
    ("accepted_with_warnings", "Accepted with warnings"),
    ("accepted", "Accepted"),
    ("all", "All imports"),
];

/// An import's status in words.
fn import_status(status: &str) -> &str {
    match status {
        "quarantined" => "held for review",
        "approved" => "approved after review",
        "rejected" => "rejected",
        "accepted" => "accepted",
        "accepted_with_warnings" => "accepted with warnings",
        "running" => "still running",
        other => other,
    }
}

/// A declared source in the words the upload form offers.
fn source_text(code: &str) -> &str {
    crate::console::imports::SOURCES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, text)| *text)
}

/// Declared consent in the words the upload form offers.
fn consent_text(code: &str) -> &str {
    crate::console::imports::CONSENTS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, text)| *text)
}

fn count(counts: &Value, key: &str) -> Option<u64> {
    counts.get(key).and_then(Value::as_u64)
}

/// "1,200 rows: 1,150 stored (900 new), 50 rejected".
fn counts_summary(counts: &Value) -> String {
    let n = |key| count(counts, key).unwrap_or(0);
    format!(
        "{} rows: {} stored ({} new), {} rejected",
        n("rows"),
        n("imported"),
        n("created"),
        n("rejected")
    )
}

pub async fn imports(
    State(state): State<AppState>,
    who: OperatorSigned,
    Query(q): Query<ListQuery>,
) -> Reply {
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("quarantined");
    let query = OperatorImportQuery {
        status: (status != "all").then(|| status.to_owned()),
        cursor: q.cursor.clone(),
        limit: None,
    };
    let found = imports_api::operator_list(State(state.clone()), who.caller(), ApiQuery(query))
        .await
        .map_err(|e| api_error(&who, e))?
        .0;
    let ids: Vec<&str> = found
        .items
        .iter()
        .map(|i| i.workspace_id.as_str())
        .collect();
    let names = workspace_names(&state, &ids).await?;
    let shown = IMPORT_FILTER
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(status, |(_, text)| *text);
    let body = markup! {
        (filter_form("/operator/imports", "status", &IMPORT_FILTER, status))
        @if found.items.is_empty() {
            p { "No imports here: " (shown.to_lowercase()) "." }
        } @else {
            (imports_table(&found.items, &names, shown))
        }
        @if let Some(next) = &found.next_cursor {
            p { a href=(format!("/operator/imports?status={}&cursor={}", url_encode(status), url_encode(next))) { "Older imports" } }
        }
    };
    Ok(html(StatusCode::OK, page(&who, "Imports", "Imports", body)))
}

fn imports_table(
    items: &[OperatorImportView],
    names: &HashMap<String, String>,
    shown: &str,
) -> Markup {
    markup! {
        table {
            caption { "Imports: " (shown.to_lowercase()) ", newest first" }
            thead { tr {
                th scope="col" { "Started" } th scope="col" { "Workspace" }
                th scope="col" { "Declared source" } th scope="col" { "Description" }
                th scope="col" { "Score" } th scope="col" { "Rows" } th scope="col" { "Status" }
            } }
            tbody {
                @for item in items {
                    @let i = &item.import;
                    tr {
                        td { a href=(format!("/operator/imports/{}", url_encode(&i.id))) { (when_text(&i.created_at)) } }
                        td { (workspace_link(&item.workspace_id, names)) }
                        td { (source_text(&i.source)) }
                        td { (i.description.as_deref().unwrap_or("(none given)")) }
                        td { (i.score.map(|s| format!("{s} of 100")).unwrap_or_default()) }
                        td { (counts_summary(&i.counts)) }
                        td { (import_status(&i.status)) }
                    }
                }
            }
        }
    }
}

pub async fn import(
    State(state): State<AppState>,
    who: OperatorSigned,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Reply {
    let done = match q.done.as_deref() {
        Some("approved") => Some("Approved: the import's contacts can now be mailed as their consent allows, and the workspace sees your note."),
        Some("rejected") => Some("Rejected: the import's contacts stay unmailable, and the workspace sees your note."),
        _ => None,
    };
    import_page(&state, &who, &id, done, Note::default(), StatusCode::OK).await
}

/// Contacts the import page shows as a sample of the rows.
const IMPORT_SAMPLE: i64 = 20;

async fn import_page(
    state: &AppState,
    who: &OperatorSigned,
    id: &str,
    done: Option<&str>,
    note: Note<'_>,
    status: StatusCode,
) -> Reply {
    let view = imports_api::operator_get(State(state.clone()), who.caller(), Path(id.to_owned()))
        .await
        .map_err(|e| api_error(who, e))?
        .0;
    let sample = match WorkspaceId::parse(&view.workspace_id) {
        Ok(ws) => state
            .store
            .import_sample(&ws, &view.import.id, IMPORT_SAMPLE)
            .await
            .map_err(internal)?,
        Err(_) => Vec::new(),
    };
    let names = workspace_names(state, &[view.workspace_id.as_str()]).await?;
    let i = &view.import;
    let thresholds = state.thresholds();
    let body = markup! {
        (notice(done))
        p { strong { "Status: " (import_status(&i.status)) "." } " " (import_status_sentence(&i.status)) }
        (import_facts(&view, &names))
        h2 { "Why the list looks the way it does" }
        p {
            "Score: " strong { (i.score.map(|s| format!("{s} of 100")).unwrap_or_else(|| "none".to_owned())) } ". "
            "An import scoring below " (thresholds.quarantine_below) ", or with any trap address, is held for review; from "
            (thresholds.accept_at) " it is accepted without warnings."
        }
        (signals_table(&i.signals))
        (cross_tenant(&i.counts))
        (counts_table(&i.counts))
        (sample_table(&sample, count(&i.counts, "created")))
        @if who.may_act() && i.status == "quarantined" {
            (decision_form(who, &format!("/operator/imports/{}/decide", url_encode(&i.id)), note,
                "Approving makes the import's contacts mailable and records the consent it declared; rejecting keeps them unmailable (the workspace may erase them).",
                ("Approve import", "Reject import")))
        }
        p { a href="/operator/imports" { "Back to the imports" } }
    };
    let title = format!("Import {}", i.id);
    Ok(html(status, page(who, "Imports", &title, body)))
}

/// What an import's status means for the person deciding.
fn import_status_sentence(status: &str) -> &'static str {
    match status {
        "quarantined" => "Its contacts are stored but cannot be mailed until you decide; the workspace was told it waits for the delivery team.",
        "approved" => "An operator approved it: its contacts can be mailed as their consent allows.",
        "rejected" => "Its contacts cannot be mailed.",
        "accepted" | "accepted_with_warnings" => "It was accepted without review: its contacts can be mailed as their consent allows.",
        _ => "",
    }
}

fn import_facts(view: &OperatorImportView, names: &HashMap<String, String>) -> Markup {
    let i = &view.import;
    markup! {
        dl.facts {
            dt { "Workspace" } dd { (workspace_link(&view.workspace_id, names)) }
            dt { "Started" } dd { (when_text(&i.created_at)) }
            @if let Some(at) = &i.finished_at { dt { "Finished" } dd { (when_text(at)) } }
            dt { "Declared source" } dd { (source_text(&i.source)) " (" (i.source) ")" }
            dt { "Description" } dd { (i.description.as_deref().unwrap_or("(none given)")) }
            dt { "Declared consent" } dd { (consent_text(&i.consent)) }
            @if let Some(s) = &i.consent_statement { dt { "How consent was collected" } dd { (s) } }
            @if let Some(at) = &i.reviewed_at { dt { "Decided" } dd { (when_text(at)) } }
            @if let Some(n) = &i.review_note { dt { "Note to the workspace" } dd { (n) } }
        }
    }
}

/// A signal's name, and what it says about how a list was built.
fn signal_meaning(code: &str) -> (&'static str, &'static str) {
    match code {
        "invalid" => ("Invalid addresses", "Addresses that cannot receive mail (malformed, or at a domain that takes no mail). A business's list of its own users stays mostly deliverable; many dead addresses point to an old, bought or scraped list."),
        "disposable" => ("Throwaway mailboxes", "Addresses at throwaway mailbox services, which people use to avoid mail. A list full of them was rarely built with consent."),
        "suppressed_elsewhere" => ("Suppressed by other senders", "Addresses that already bounced, complained or unsubscribed with other senders on this platform: lists that circulate between senders show up here. The workspace does not see this."),
        "role" => ("Role accounts", "Addresses of a function (info@, sales@) rather than a person. Scraped lists are full of them, because websites publish them."),
        "typo" => ("Misspelt domains", "Addresses whose domain looks misspelt (gmial.com): typed from paper or copied, not confirmed by their owners."),
        "duplicates" => ("Repeated rows", "Rows that repeat an address seen earlier in the file. Merged or padded lists repeat; an export from a database seldom does."),
        "never_seen" => ("Never seen before", "Addresses the workspace never had, in a workspace that already has contacts. A list of one's own users overlaps with the contacts one has; a bought one mostly does not."),
        "concentrated" => ("One domain dominates", "Most addresses share one domain that is not a large mailbox provider: often one company's staff, harvested."),
        "trap" => ("Trap addresses", "Addresses on the platform's trap list, never given out by a person: only a harvested or bought list contains them. Any at all holds the import, whatever the score."),
        "nothing_imported" => ("Nothing imported", "No row could be stored, so the import was rejected by itself."),
        _ => ("Another signal", "This page has no explanation for it; the finding says what was counted."),
    }
}

/// One signal as the import recorded it (see `sendwell_screen::score::Signal`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Signal {
    code: String,
    share: f64,
    points: f64,
    detail: String,
}

fn signals_of(value: &Value) -> Vec<Signal> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|s| serde_json::from_value(s.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn signals_table(signals: &Value) -> Markup {
    let signals = signals_of(signals);
    markup! {
        @if signals.is_empty() {
            p { "No signal took points off: the list looks like the workspace's own people." }
        } @else {
            table {
                caption { "Signals, with the points each took off the score of 100" }
                thead { tr {
                    th scope="col" { "Signal" } th scope="col" { "What was found" }
                    th scope="col" { "Share of rows" } th scope="col" { "Points off" } th scope="col" { "What it means" }
                } }
                tbody {
                    @for s in &signals {
                        @let (name, meaning) = signal_meaning(&s.code);
                        tr {
                            td { (name) " (" (s.code) ")" }
                            td { (s.detail) }
                            td { (format!("{:.1}%", s.share * 100.0)) }
                            td { @if s.code == "trap" { "none: any trap holds the import" } @else { (format!("{:.1}", s.points)) } }
                            td { (meaning) }
                        }
                    }
                }
            }
        }
    }
}

/// What other workspaces' suppression lists would change: the operator's
/// to see, left out of the workspace's score.
fn cross_tenant(counts: &Value) -> Markup {
    let Some(other) = counts.get(crate::import::CROSS_TENANT) else {
        return markup! {};
    };
    let n = count(other, "suppressed_elsewhere").unwrap_or(0);
    let signals = other.get("signals").map(signals_of).unwrap_or_default();
    markup! {
        h3 { "Other senders' suppression lists" }
        p.hint { "Only the delivery team sees this: it is left out of the workspace's score, so that no workspace can probe another's list." }
        @if n == 0 {
            p { "None of the addresses is on another workspace's suppression list." }
        } @else {
            p {
                (n) " of the addresses bounced, complained or unsubscribed with other senders on this platform. Counting them, the score would be "
                (other.get("score").and_then(Value::as_u64).map(|s| s.to_string()).unwrap_or_else(|| "unknown".to_owned()))
                " of 100 (" (import_status(other.get("status").and_then(Value::as_str).unwrap_or("unknown"))) ")."
            }
            @for s in &signals { p { (s.detail) } }
        }
    }
}

const COUNT_LABELS: [(&str, &str); 17] = [
    ("rows", "Rows in the file"),
    ("imported", "Rows stored"),
    ("created", "New contacts"),
    ("updated", "Existing contacts updated"),
    ("rejected", "Rows rejected"),
    ("checked", "Addresses checked"),
    ("invalid", "Invalid addresses"),
    ("risky", "Risky addresses"),
    ("role", "Role accounts"),
    ("disposable", "Throwaway mailboxes"),
    ("typo", "Misspelt domains"),
    ("duplicates", "Repeated rows"),
    ("suppressed_here", "On the workspace's own suppression list"),
    (
        "suppressed_elsewhere",
        "On other workspaces' suppression lists",
    ),
    ("trap", "Trap addresses"),
    ("consent_recorded", "Consent records written"),
    ("consent_held", "Consent records held until the decision"),
];

fn counts_table(counts: &Value) -> Markup {
    let charset = counts.get("charset").and_then(Value::as_str);
    let guessed = counts.get("charset_guessed").and_then(Value::as_bool) == Some(true);
    markup! {
        table {
            caption { "What the import counted" }
            thead { tr { th scope="col" { "Count" } th scope="col" { "Number" } } }
            tbody {
                @for (key, label) in COUNT_LABELS {
                    @if let Some(n) = count(counts, key) { tr { td { (label) } td { (n) } } }
                }
            }
        }
        @if let Some(c) = charset {
            p { "The file was read as " (c) @if guessed { " (guessed: it did not say)" } "." }
        }
    }
}

/// An imported contact's other columns, shortly.
fn attributes_text(attributes: &serde_json::Map<String, Value>) -> String {
    let text = attributes
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect::<Vec<_>>()
        .join("; ");
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

fn sample_table(sample: &[ImportedContact], created: Option<u64>) -> Markup {
    markup! {
        h2 { "A sample of the rows" }
        @if sample.is_empty() {
            p { "The import created no contacts (it stored none, or only updated contacts the workspace had), so there is no sample." }
        } @else {
            table {
                caption {
                    "The first " (sample.len()) " contacts the import created"
                    @if let Some(n) = created { " (of " (n) ")" }
                }
                thead { tr {
                    th scope="col" { "Address" } th scope="col" { "Name" }
                    th scope="col" { "Address check" } th scope="col" { "Other columns" }
                } }
                tbody {
                    @for c in sample {
                        tr {
                            td { (c.email.as_deref().unwrap_or("(none)")) }
                            td { (c.name.as_deref().unwrap_or("")) }
                            td { (c.address_verdict.as_deref().unwrap_or("not checked")) }
                            td { (attributes_text(&c.attributes)) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn decide_import(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: OperatorPosted<DecideForm>,
) -> Reply {
    decide(Queue::Imports, state, id, posted).await
}

// ---------------------------------------------------------------------------
// Content reviews

const REVIEW_FILTER: [(&str, &str); 3] = [
    ("pending", "Waiting for a decision"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
];

/// What content screening recorded about a message (see
/// `sendwell_screen::content::Screening`), read leniently: a field it
/// lacks is shown as absent.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Screened {
    verdict: Option<String>,
    score: Option<f64>,
    hits: Vec<RuleHit>,
    spam_probability: Option<f64>,
    top_tokens: Vec<(String, f64)>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RuleHit {
    rule: String,
    explanation: String,
    snippet: String,
    score: Option<f64>,
}

impl Screened {
    fn of(screening: Option<&Value>) -> Self {
        screening
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

impl RuleHit {
    /// Whether the snippet is text of the mail: the classifier's hit lists
    /// tokens instead.
    fn marks_text(&self) -> bool {
        !self.rule.starts_with("statistical.") && self.snippet.trim().chars().count() >= MIN_MARKED
    }
}

pub async fn reviews(
    State(state): State<AppState>,
    who: OperatorSigned,
    Query(q): Query<ListQuery>,
) -> Reply {
    let wanted = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("pending");
    let query = ReviewQuery {
        state: Some(wanted.to_owned()),
        cursor: q.cursor.clone(),
        limit: None,
    };
    let found = reviews_api::list(State(state.clone()), who.caller(), ApiQuery(query))
        .await
        .map_err(|e| api_error(&who, e))?
        .0;
    let ids: Vec<&str> = found
        .items
        .iter()
        .map(|i| i.workspace_id.as_str())
        .collect();
    let names = workspace_names(&state, &ids).await?;
    let shown = REVIEW_FILTER
        .iter()
        .find(|(s, _)| *s == wanted)
        .map_or(wanted, |(_, text)| *text);
    let body = markup! {
        p { "Mail that content screening held before anyone received it. Approving sends it; rejecting sends nothing." }
        (filter_form("/operator/reviews", "state", &REVIEW_FILTER, wanted))
        @if found.items.is_empty() {
            p { "No held mail here: " (shown.to_lowercase()) "." }
        } @else {
            (reviews_table(&found.items, &names, shown, wanted != "pending"))
        }
        @if let Some(next) = &found.next_cursor {
            p { a href=(format!("/operator/reviews?state={}&cursor={}", url_encode(wanted), url_encode(next))) { "More held mail" } }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(&who, "Reviews", "Content reviews", body),
    ))
}

fn reviews_table(
    items: &[ReviewItem],
    names: &HashMap<String, String>,
    shown: &str,
    decided: bool,
) -> Markup {
    markup! {
        table {
            caption { "Held mail: " (shown.to_lowercase()) ", oldest first" }
            thead { tr {
                th scope="col" { "Subject" } th scope="col" { "Workspace" } th scope="col" { "From" }
                th scope="col" { "Held for" } th scope="col" { "Screening score" } th scope="col" { "Held since" }
                @if decided { th scope="col" { "Note to the workspace" } }
            } }
            tbody {
                @for m in items {
                    tr {
                        td { a href=(format!("/operator/reviews/{}", url_encode(&m.message_id))) { (m.subject) } }
                        td { (workspace_link(&m.workspace_id, names)) }
                        td { (m.from) }
                        td { (people(m.queued)) }
                        td { (score_text(Screened::of(m.screening.as_ref()).score)) }
                        td { (m.sent_at.as_deref().map(when_text).unwrap_or_default()) }
                        @if decided { td { (m.note.as_deref().unwrap_or("")) } }
                    }
                }
            }
        }
    }
}

fn people(n: i64) -> String {
    if n == 1 {
        "1 person".to_owned()
    } else {
        format!("{n} people")
    }
}

fn score_text(score: Option<f64>) -> String {
    score.map_or_else(|| "not recorded".to_owned(), |s| format!("{s:.1}"))
}

pub async fn review(
    State(state): State<AppState>,
    who: OperatorSigned,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Reply {
    let done = match q.done.as_deref() {
        Some("approved") => Some("Approved: the held deliveries are released and go out now; the workspace sees your note."),
        Some("rejected") => Some("Rejected: nothing was sent, and the workspace sees your note."),
        _ => None,
    };
    review_page(&state, &who, &id, done, Note::default(), StatusCode::OK).await
}

async fn review_page(
    state: &AppState,
    who: &OperatorSigned,
    id: &str,
    done: Option<&str>,
    note: Note<'_>,
    status: StatusCode,
) -> Reply {
    let m = reviews_api::held(state, id)
        .await
        .map_err(|e| api_error(who, e))?;
    let rendered = reviews_api::held_mail(state, &m).await;
    let item = ReviewItem::from(m);
    let names = workspace_names(state, &[item.workspace_id.as_str()]).await?;
    let screened = Screened::of(item.screening.as_ref());
    let text = rendered.as_ref().ok().map(|mail| {
        format!(
            "From: {}\nSubject: {}\n\n{}",
            item.from, mail.subject, mail.text
        )
    });
    let mid = url_encode(&item.message_id);
    let body = markup! {
        (notice(done))
        p { strong { (review_state_sentence(&item)) } }
        (review_facts(&item, &names, &screened))
        h2 { "The mail" }
        @match &rendered {
            Ok(_) => {
                p.hint { "Rendered for one of the people it is held for, as they would receive it; its links look real and lead nowhere." }
                div.mail-frame { iframe sandbox="" src=(format!("/operator/reviews/{mid}/mail.html")) title="The held mail" {} }
            }
            Err(e) => p.error { "The mail could not be rendered: " (e.detail()) }
        }
        (hits_table(&screened, text.as_deref()))
        @if let Some(text) = &text { (marked_text(text, &screened)) }
        (tokens_table(&screened))
        @if who.may_act() && item.state == "pending" {
            (decision_form(who, &format!("/operator/reviews/{mid}/decide"), note,
                &format!("Approving sends the mail to the {} it is held for; rejecting sends nothing. The workspace sees your note either way.", people(item.queued)),
                ("Approve and send", "Reject")))
        }
        p { a href="/operator/reviews" { "Back to the held mail" } }
    };
    let title = format!("Held mail: {}", item.subject);
    Ok(html(status, page(who, "Reviews", &title, body)))
}

fn review_state_sentence(item: &ReviewItem) -> String {
    match item.state.as_str() {
        "pending" => format!(
            "Waiting for a decision: its deliveries to {} are held.",
            people(item.queued)
        ),
        "approved" => "Approved: its held deliveries were released.".to_owned(),
        "rejected" => "Rejected: nothing was sent.".to_owned(),
        other => format!("Review state: {other}."),
    }
}

fn review_facts(item: &ReviewItem, names: &HashMap<String, String>, s: &Screened) -> Markup {
    markup! {
        dl.facts {
            dt { "Workspace" } dd { (workspace_link(&item.workspace_id, names)) }
            dt { "Message" } dd { (item.name) " (" (item.kind) ", " (item.message_id) ")" }
            dt { "From" } dd { (item.from) }
            dt { "Subject" } dd { (item.subject) }
            dt { "Held for" } dd { (people(item.queued)) }
            @if let Some(at) = &item.sent_at { dt { "Held since" } dd { (when_text(at)) } }
            dt { "Screening score" } dd {
                (score_text(s.score)) " (held for review from " (Screener::REVIEW_AT) ", blocked from " (Screener::BLOCK_AT) ")"
                @if let Some(v) = &s.verdict { "; verdict: " (v) }
            }
            @if let Some(p) = s.spam_probability {
                dt { "Classifier" } dd { (format!("{:.0}%", p * 100.0)) " likely to be spam" }
            }
            @if let Some(n) = &item.note { dt { "Note to the workspace" } dd { (n) } }
        }
    }
}

fn hits_table(s: &Screened, text: Option<&str>) -> Markup {
    markup! {
        h2 { "Why it was held" }
        @if s.hits.is_empty() {
            p { "Screening recorded no rule that fired." }
        } @else {
            table {
                caption { "Rules that fired, with the points each added" }
                thead { tr {
                    th scope="col" { "Rule" } th scope="col" { "What is wrong" }
                    th scope="col" { "Matched text" } th scope="col" { "Points" }
                } }
                tbody {
                    @for h in &s.hits {
                        tr {
                            td { (h.rule) }
                            td { (h.explanation) }
                            td {
                                @if !h.snippet.is_empty() { mark { (h.snippet) } }
                                @if h.marks_text() && text.is_some_and(|t| find_all(t, &h.snippet).is_empty()) {
                                    " " span.hint { "(not in the text below: it is in a link or the HTML)" }
                                }
                            }
                            td { (score_text(h.score)) }
                        }
                    }
                }
            }
        }
    }
}

/// The most of a mail's text that is searched for passages to mark.
const MAX_MARKED_TEXT: usize = 100_000;
/// The most passages searched for.
const MAX_MARKED_PASSAGES: usize = 50;

/// The mail's text with every passage a rule matched marked.
fn marked_text(text: &str, s: &Screened) -> Markup {
    let needles: Vec<&str> = s
        .hits
        .iter()
        .filter(|h| h.marks_text())
        .map(|h| h.snippet.as_str())
        .collect();
    // Marking costs the text's length times each passage's: a mail's text
    // is the sender's to make long, so only its start is marked.
    let cut = text
        .char_indices()
        .map(|(i, _)| i)
        .take_while(|i| *i <= MAX_MARKED_TEXT)
        .last()
        .filter(|_| text.len() > MAX_MARKED_TEXT)
        .unwrap_or(text.len());
    let needles: Vec<&str> = needles.into_iter().take(MAX_MARKED_PASSAGES).collect();
    let segments = highlight(&text[..cut], &needles);
    let rest = &text[cut..];
    markup! {
        h2 { "The text, with what the rules matched marked" }
        @if !rest.is_empty() {
            p.hint { "Only the first " (MAX_MARKED_TEXT / 1000) " kB are marked; the rest follows unmarked." }
        }
        p.hint { "Each marked passage is the matched text of a rule in the table above." }
        pre.mail-text {
            @for (piece, marked) in &segments {
                @if *marked { mark { (piece) } } @else { (piece) }
            }
            (rest)
        }
    }
}

fn tokens_table(s: &Screened) -> Markup {
    markup! {
        @if !s.top_tokens.is_empty() {
            table {
                caption { "The words and features that pushed the statistical classifier most" }
                thead { tr { th scope="col" { "Token" } th scope="col" { "Weight" } th scope="col" { "Pushes towards" } } }
                tbody {
                    @for (token, weight) in &s.top_tokens {
                        tr {
                            td { (token) }
                            td { (format!("{weight:+.2}")) }
                            td { @if *weight > 0.0 { "spam" } @else { "legitimate mail" } }
                        }
                    }
                }
            }
        }
    }
}

/// The held mail's HTML, for the review page's sandboxed frame.
pub async fn review_mail(
    State(state): State<AppState>,
    who: OperatorSigned,
    Path(id): Path<String>,
) -> Reply {
    let m = reviews_api::held(&state, &id)
        .await
        .map_err(|e| api_error(&who, e))?;
    Ok(match reviews_api::held_mail(&state, &m).await {
        Ok(mail) => framed_offline(mail.html, "text/html; charset=utf-8"),
        Err(e) => framed_offline(
            format!("The held mail could not be rendered: {}", e.detail()),
            "text/plain; charset=utf-8",
        ),
    })
}

pub async fn decide_review(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: OperatorPosted<DecideForm>,
) -> Reply {
    decide(Queue::Reviews, state, id, posted).await
}

/// The two queues whose items an operator approves or rejects with a note.
#[derive(Clone, Copy)]
enum Queue {
    Imports,
    Reviews,
}

impl Queue {
    /// Where an item's page lives.
    fn path(self) -> &'static str {
        match self {
            Self::Imports => "/operator/imports",
            Self::Reviews => "/operator/reviews",
        }
    }

    /// Decides item `id` through the API's operator handler.
    async fn decide(
        self,
        state: &AppState,
        who: &OperatorSigned,
        id: &str,
        verdict: Verdict,
        note: String,
    ) -> Result<(), ApiError> {
        let acting = Acting::checked(state.clone(), who.caller())?;
        let path = Path(id.to_owned());
        match (self, verdict) {
            (Self::Imports, Verdict::Approve) => {
                let req = ApiJson(imports_api::ReviewRequest { note });
                imports_api::approve(acting, path, req).await.map(drop)
            }
            (Self::Imports, Verdict::Reject) => {
                let req = ApiJson(imports_api::ReviewRequest { note });
                imports_api::reject(acting, path, req).await.map(drop)
            }
            (Self::Reviews, Verdict::Approve) => {
                let req = ApiJson(Decision { note });
                reviews_api::approve(acting, path, req).await.map(drop)
            }
            (Self::Reviews, Verdict::Reject) => {
                let req = ApiJson(Decision { note });
                reviews_api::reject(acting, path, req).await.map(drop)
            }
        }
    }

    /// The item's page again, with the note and the API's word on it.
    async fn page(
        self,
        state: &AppState,
        who: &OperatorSigned,
        id: &str,
        note: Note<'_>,
        status: StatusCode,
    ) -> Reply {
        match self {
            Self::Imports => import_page(state, who, id, None, note, status).await,
            Self::Reviews => review_page(state, who, id, None, note, status).await,
        }
    }
}

/// Approves or rejects an item of `queue`, then shows its page with what
/// was done, or again with the note the API refused.
async fn decide(
    queue: Queue,
    state: AppState,
    id: String,
    posted: OperatorPosted<DecideForm>,
) -> Reply {
    let OperatorPosted { who, form } = posted;
    let Some(verdict) = Verdict::parse(&form.decision) else {
        return Err(no_decision(&who));
    };
    let decided = queue
        .decide(&state, &who, &id, verdict, one_line(&form.note))
        .await;
    match decided {
        Ok(()) => Ok(redirect(&format!(
            "{}/{}?done={}",
            queue.path(),
            url_encode(&id),
            verdict.done()
        ))),
        Err(e) => match note_error(&e) {
            Some(error) => {
                let note = Note {
                    value: &form.note,
                    error: Some(error),
                };
                queue.page(&state, &who, &id, note, e.status()).await
            }
            None => Err(api_error(&who, e)),
        },
    }
}

// ---------------------------------------------------------------------------
// Highlighting what the rules matched

/// Matched text shorter than this is not marked (it would mark noise).
const MIN_MARKED: usize = 3;

/// Where the start of `text` equals `word` without regard to case: the
/// length of that start in bytes.
fn prefix_len(text: &str, word: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    for w in word.chars() {
        let (_, c) = chars.next()?;
        if c != w && !c.to_lowercase().eq(w.to_lowercase()) {
            return None;
        }
    }
    Some(chars.next().map_or(text.len(), |(i, _)| i))
}

/// Where a match of `words` (separated by any whitespace) that starts at
/// byte `at` of `text` ends.
fn match_at(text: &str, at: usize, words: &[&str]) -> Option<usize> {
    let mut pos = at;
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            let rest = &text[pos..];
            let gap = rest.len() - rest.trim_start().len();
            if gap == 0 {
                return None;
            }
            pos += gap;
        }
        pos += prefix_len(&text[pos..], word)?;
    }
    Some(pos)
}

/// Every occurrence of `needle` in `text` as byte ranges, matched without
/// regard to case and with any run of whitespace standing for any other:
/// the screen collapses whitespace in the snippets it records.
fn find_all(text: &str, needle: &str) -> Vec<(usize, usize)> {
    let words: Vec<&str> = needle.split_whitespace().collect();
    let mut found = Vec::new();
    if needle.trim().chars().count() < MIN_MARKED {
        return found;
    }
    let mut at = 0;
    while at < text.len() {
        match match_at(text, at, &words) {
            Some(end) => {
                found.push((at, end));
                at = end;
            }
            None => at += text[at..].chars().next().map_or(1, char::len_utf8),
        }
    }
    found
}

/// `text` cut into (piece, marked) segments, every occurrence of each of
/// `needles` marked; overlapping or touching matches make one mark. The
/// pieces are plain text, escaped when the page is written.
fn highlight(text: &str, needles: &[&str]) -> Vec<(String, bool)> {
    let mut ranges: Vec<(usize, usize)> = needles.iter().flat_map(|n| find_all(text, n)).collect();
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    let mut segments = Vec::with_capacity(merged.len() * 2 + 1);
    let mut at = 0;
    for (start, end) in merged {
        if start > at {
            segments.push((text[at..start].to_owned(), false));
        }
        segments.push((text[start..end].to_owned(), true));
        at = end;
    }
    if at < text.len() {
        segments.push((text[at..].to_owned(), false));
    }
    segments
}

// ---------------------------------------------------------------------------
// Reports of concern

const REPORT_FILTER: [(&str, &str); 2] =
    [("open", "Open (not handled yet)"), ("all", "All reports")];

/// A report's note the API refused, shown again beside its field.
struct Refused<'a> {
    report: &'a str,
    note: Note<'a>,
}

pub async fn reports(
    State(state): State<AppState>,
    who: OperatorSigned,
    Query(q): Query<ListQuery>,
) -> Reply {
    let done = (q.done.as_deref() == Some("handled")).then_some("Marked handled.");
    reports_page(&state, &who, q.state.as_deref(), done, None, StatusCode::OK).await
}

async fn reports_page(
    state: &AppState,
    who: &OperatorSigned,
    wanted: Option<&str>,
    done: Option<&str>,
    refused: Option<Refused<'_>>,
    status: StatusCode,
) -> Reply {
    let wanted = wanted.filter(|s| !s.is_empty()).unwrap_or("open");
    let query = ReportQuery {
        state: Some(wanted.to_owned()),
    };
    let list = reports_api::list(State(state.clone()), who.caller(), ApiQuery(query))
        .await
        .map_err(|e| api_error(who, e))?
        .0;
    let ids: Vec<&str> = list.items.iter().map(|r| r.workspace_id.as_str()).collect();
    let names = workspace_names(state, &ids).await?;
    let body = markup! {
        (notice(done))
        @if let Some(r) = &refused {
            p.error role="alert" {
                "Report " a href=(format!("#note-{}", r.report)) { (r.report) } " was not marked handled: "
                (r.note.error.unwrap_or("the note was refused"))
            }
        }
        p { "What people reported about mail sent through the platform, by the link in its footer or its Message-ID. A report that proves its sender received the mail also counted as a complaint: the reporter is suppressed and the workspace's complaint rate rose." }
        (filter_form("/operator/reports", "state", &REPORT_FILTER, wanted))
        @if list.items.is_empty() {
            p { @if wanted == "open" { "No open reports." } @else { "No reports yet." } }
        } @else {
            (reports_table(who, &list.items, &names, refused.as_ref(), wanted))
        }
    };
    Ok(html(
        status,
        page(who, "Reports", "Reports of concern", body),
    ))
}

fn reports_table(
    who: &OperatorSigned,
    items: &[ReportView],
    names: &HashMap<String, String>,
    refused: Option<&Refused>,
    wanted: &str,
) -> Markup {
    markup! {
        table {
            caption { "Reports of concern: " @if wanted == "open" { "open" } @else { "all" } ", newest first" }
            thead { tr {
                th scope="col" { "Received" } th scope="col" { "Workspace" } th scope="col" { "Message" }
                th scope="col" { "Reason" } th scope="col" { "Reporter" } th scope="col" { "Receipt" }
                th scope="col" { "Handled" }
            } }
            tbody {
                @for r in items {
                    tr {
                        td { (when_text(&r.created_at)) }
                        td { (workspace_link(&r.workspace_id, names)) }
                        td { (r.message_id) }
                        td { (r.reason) }
                        td { (r.reporter.as_deref().unwrap_or("(anonymous)")) }
                        td { @if r.proven { "Proven: the reporter had the signed link/Message-ID" } @else { "Not proven" } }
                        td { (handled_cell(who, r, refused.filter(|f| f.report == r.id))) }
                    }
                }
            }
        }
    }
}

/// Who handled a report and how, or (for an operator) the form to do it.
fn handled_cell(who: &OperatorSigned, r: &ReportView, refused: Option<&Refused>) -> Markup {
    let id = format!("note-{}", r.id);
    let error_id = format!("{id}-error");
    let note = refused.map(|f| f.note).unwrap_or_default();
    markup! {
        @if let Some(h) = &r.handled {
            "Handled " (when_text(&h.at)) " by " (h.by) ": " (h.note)
        } @else {
            "Not handled yet."
            @if who.may_act() {
                form method="post" action=(format!("/operator/reports/{}/handle", url_encode(&r.id))) {
                    (csrf(who))
                    div.field {
                        label for=(id) { "Note" }
                        input id=(id) name="note" type="text" value=(note.value) required
                            aria-invalid=[note.error.map(|_| "true")]
                            aria-describedby=[note.error.map(|_| error_id.as_str())];
                        @if let Some(e) = note.error { p.field-error id=(error_id) { (e) } }
                    }
                    button type="submit" { "Mark handled" }
                }
            }
        }
    }
}

pub async fn handle_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: OperatorPosted<NoteForm>,
) -> Reply {
    let OperatorPosted { who, form } = posted;
    let req = ApiJson(HandleRequest {
        note: one_line(&form.note),
    });
    match crate::extract::call(state.clone(), who.caller(), |c| {
        reports_api::handle(c, Path(id.clone()), req)
    })
    .await
    {
        Ok(_) => Ok(redirect("/operator/reports?done=handled")),
        Err(e) => match note_error(&e) {
            Some(error) => {
                let refused = Refused {
                    report: &id,
                    note: Note {
                        value: &form.note,
                        error: Some(error),
                    },
                };
                reports_page(&state, &who, None, None, Some(refused), e.status()).await
            }
            None => Err(api_error(&who, e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(segments: &[(String, bool)]) -> Vec<&str> {
        segments
            .iter()
            .filter(|(_, m)| *m)
            .map(|(t, _)| t.as_str())
            .collect()
    }

    #[test]
    fn highlight_marks_every_occurrence_and_keeps_the_text() {
        let text = "Claim your prize now. Really, claim YOUR prize!";
        let segments = highlight(text, &["claim your prize"]);
        assert_eq!(marked(&segments), ["Claim your prize", "claim YOUR prize"]);
        let joined: String = segments.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn highlight_matches_across_collapsed_whitespace() {
        let text = "Dear friend,\nI am the next\n  of kin of the late prince.";
        let segments = highlight(text, &["next of kin"]);
        assert_eq!(marked(&segments), ["next\n  of kin"]);
    }

    #[test]
    fn highlight_merges_overlapping_matches() {
        let text = "act now before midnight";
        let segments = highlight(text, &["act now", "now before", "midnight"]);
        assert_eq!(marked(&segments), ["act now before", "midnight"]);
        assert_eq!(segments.len(), 3, "{segments:?}");
    }

    #[test]
    fn highlight_leaves_text_without_a_match_whole() {
        let text = "Our autumn sale starts Friday.";
        assert_eq!(
            highlight(text, &["wire transfer", "", "  ", "a"]),
            vec![(text.to_owned(), false)]
        );
        assert!(highlight("", &["anything"]).is_empty());
    }

    #[test]
    fn highlight_handles_text_beyond_ascii() {
        let text = "Grüße — GRÜSSE, grüße und Ärger";
        let segments = highlight(text, &["grüße"]);
        assert_eq!(marked(&segments), ["Grüße", "grüße"]);
        assert_eq!(highlight("ÄÄÄ", &["äää"]), vec![("ÄÄÄ".to_owned(), true)]);
    }

    #[test]
    fn markup_in_the_text_stays_text() {
        let text = "<b>free</b> money & <script>x</script>";
        let segments = highlight(text, &["free</b> money"]);
        let page =
            markup! { pre { @for (p, m) in &segments { @if *m { mark { (p) } } @else { (p) } } } }
                .into_string();
        assert_eq!(
            page,
            "<pre>&lt;b&gt;<mark>free&lt;/b&gt; money</mark> &amp; &lt;script&gt;x&lt;/script&gt;</pre>"
        );
    }

    #[test]
    fn line_breaks_in_a_note_become_spaces() {
        assert_eq!(
            one_line("Bought list.\r\nSee case 4.\nThanks"),
            "Bought list. See case 4. Thanks"
        );
    }
}
