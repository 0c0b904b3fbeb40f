//! Workspaces and review cases: every workspace with its rates against the
//! lines, one workspace's whole record, the queue of open cases with the
//! monitor's evidence, and the decisions (reinstate on probation, withdraw,
//! restore), made through the API's enforcement handlers.

use super::layout::page;
use super::{api_error, OperatorPosted, OperatorSigned};
use crate::api::enforcement::{
    self, NoteRequest, ReinstateRequest, ReputationView, RestoreRequest, WithdrawRequest,
};
use crate::console::home::{by_day, percent, Days};
use crate::console::layout::{csrf, field, notice, select, when, FieldExtra};
use crate::console::{html, internal, redirect, url_encode, Reply};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use maud::{html as markup, Markup};
use sendwell_core::reputation::{Counts, Policy};
use sendwell_core::{SendingState, WorkspaceId};
use sendwell_store::{ReviewCase, Workspace};
use serde::Deserialize;
use std::collections::HashMap;

/// Workspaces on one page of the list.
const PER_PAGE: usize = 100;

/// A workspace's row in the list.
struct Row {
    workspace: Workspace,
    counts: Counts,
    open_case: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    page: Option<usize>,
}

/// How the list can be sorted: (value, label).
const SORTS: [(&str, &str); 5] = [
    ("name", "Name"),
    ("bounces", "Hard-bounce rate, highest first"),
    ("complaints", "Complaint rate, highest first"),
    ("volume", "Sends, most first"),
    ("state", "State"),
];

fn state_label(s: SendingState) -> String {
    s.as_str().replace('_', " ")
}

fn sort_rows(rows: &mut [Row], sort: &str) {
    let rate = |c: &Counts, f: fn(&Counts) -> f64| f(c);
    match sort {
        "bounces" => rows.sort_by(|a, b| {
            rate(&b.counts, Counts::hard_bounce_rate)
                .total_cmp(&rate(&a.counts, Counts::hard_bounce_rate))
        }),
        "complaints" => rows.sort_by(|a, b| {
            rate(&b.counts, Counts::complaint_rate)
                .total_cmp(&rate(&a.counts, Counts::complaint_rate))
        }),
        "volume" => rows.sort_by_key(|r| std::cmp::Reverse(r.counts.sends)),
        "state" => rows.sort_by(|a, b| {
            a.workspace
                .state
                .as_str()
                .cmp(b.workspace.state.as_str())
                .then_with(|| a.workspace.name.cmp(&b.workspace.name))
        }),
        _ => rows.sort_by(|a, b| {
            a.workspace
                .name
                .to_lowercase()
                .cmp(&b.workspace.name.to_lowercase())
        }),
    }
}

/// Every workspace, its counts over the window and its open case.
async fn list_data(
    state: &AppState,
    policy: &Policy,
) -> Reply<(
    Vec<Workspace>,
    HashMap<WorkspaceId, Counts>,
    HashMap<WorkspaceId, String>,
)> {
    let workspaces = state.store.all_workspaces().await.map_err(internal)?;
    let totals = state
        .store
        .reputation_totals_all(policy.window_days)
        .await
        .map_err(internal)?;
    let open: HashMap<WorkspaceId, String> = state
        .store
        .open_case_ids()
        .await
        .map_err(internal)?
        .into_iter()
        .collect();
    Ok((workspaces, totals, open))
}

pub async fn list(
    State(state): State<AppState>,
    who: OperatorSigned,
    Query(q): Query<ListQuery>,
) -> Reply {
    let policy = state.store.policy().await.map_err(internal)?;
    let (workspaces, totals, open) = list_data(&state, &policy).await?;
    let wanted = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(SendingState::parse);
    let mut rows: Vec<Row> = workspaces
        .into_iter()
        .filter(|w| wanted.is_none_or(|s| w.state == s))
        .map(|w| Row {
            counts: totals.get(&w.id).copied().unwrap_or_default(),
            open_case: open.get(&w.id).cloned(),
            workspace: w,
        })
        .collect();
    let sort = q.sort.as_deref().unwrap_or("name");
    sort_rows(&mut rows, sort);
    let pages = rows.len().div_ceil(PER_PAGE).max(1);
    let current = q.page.unwrap_or(1).clamp(1, pages);
    let shown = rows.iter().skip((current - 1) * PER_PAGE).take(PER_PAGE);
    let state_value = wanted.map(SendingState::as_str).unwrap_or("");
    let mut state_choices: Vec<(&str, String)> = vec![("", "Every state".to_owned())];
    state_choices.extend(
        SendingState::ALL
            .iter()
            .map(|s| (s.as_str(), state_label(*s))),
    );
    let state_choices: Vec<(&str, &str)> = state_choices
        .iter()
        .map(|(v, t)| (*v, t.as_str()))
        .collect();
    let page_link = |n: usize| {
        format!(
            "/operator/workspaces?state={}&sort={}&page={n}",
            url_encode(state_value),
            url_encode(sort)
        )
    };
    let body = markup! {
        form.search method="get" action="/operator/workspaces" {
            (select("state", "state", "State", &state_choices, state_value))
            (select("sort", "sort", "Sort by", &SORTS, sort))
            button type="submit" { "Show" }
        }
        p { (rows.len()) " workspaces. Rates over the last " (policy.window_days) " days; the lines: hard bounces review "
            (percent(policy.review_hard_bounce_rate)) ", suspend " (percent(policy.suspend_hard_bounce_rate))
            "; complaints review " (percent(policy.review_complaint_rate)) ", suspend " (percent(policy.suspend_complaint_rate)) "." }
        table #workspaces {
            caption { "Workspaces, page " (current) " of " (pages) }
            thead { tr {
                th scope="col" { "Workspace" } th scope="col" { "State" } th scope="col" { "Sends" }
                th scope="col" { "Hard bounces" } th scope="col" { "Complaints" } th scope="col" { "Against the lines" }
                th scope="col" { "Open case" }
            } }
            tbody {
                @for r in shown {
                    tr {
                        td { a href=(format!("/operator/workspaces/{}", r.workspace.id)) { (r.workspace.name) } }
                        td { (state_label(r.workspace.state)) }
                        td { (r.counts.sends) }
                        td { (percent(r.counts.hard_bounce_rate())) }
                        td { (percent(r.counts.complaint_rate())) }
                        td { (spark(&r.counts, &policy)) }
                        td {
                            @if let Some(case) = &r.open_case {
                                a href=(format!("/operator/cases#{case}")) { "Open case" }
                            } @else { "None" }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            nav aria-label="Pages of workspaces" {
                @if current > 1 { a href=(page_link(current - 1)) { "Previous page" } " " }
                @if current < pages { a href=(page_link(current + 1)) { "Next page" } }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(&who, "Workspaces", "Workspaces", body),
    ))
}

/// A small chart of both rates, each on a scale up to twice its suspend
/// line, with the review line dashed and the suspend line solid; the
/// numbers are in the row and in the chart's name.
fn spark(c: &Counts, p: &Policy) -> Markup {
    let bar = |rate: f64, review: f64, suspend: f64, y: f64| {
        let scale = (suspend * 2.0).max(f64::MIN_POSITIVE);
        let x = |v: f64| 2.0 + 116.0 * (v / scale).min(1.0);
        markup! {
            rect class="track" x="2" y=(y) width="116" height="8" {}
            rect class=(if rate >= suspend { "bad" } else { "bar" }) x="2" y=(y)
                width=(format!("{:.1}", x(rate) - 2.0)) height="8" {}
            line class="review" x1=(format!("{:.1}", x(review))) x2=(format!("{:.1}", x(review)))
                y1=(y - 2.0) y2=(y + 10.0) {}
            line class="suspend" x1=(format!("{:.1}", x(suspend))) x2=(format!("{:.1}", x(suspend)))
                y1=(y - 2.0) y2=(y + 10.0) {}
        }
    };
    let label = format!(
        "Hard bounces {} (review {}, suspend {}); complaints {} (review {}, suspend {})",
        percent(c.hard_bounce_rate()),
        percent(p.review_hard_bounce_rate),
        percent(p.suspend_hard_bounce_rate),
        percent(c.complaint_rate()),
        percent(p.review_complaint_rate),
        percent(p.suspend_complaint_rate)
    );
    markup! {
        span.chart.spark {
            svg viewBox="0 0 120 30" width="120" height="30" role="img" aria-label=(label) {
                (bar(c.hard_bounce_rate(), p.review_hard_bounce_rate, p.suspend_hard_bounce_rate, 4.0))
                (bar(c.complaint_rate(), p.review_complaint_rate, p.suspend_complaint_rate, 18.0))
            }
        }
    }
}

/// The evidence a case carries (what the monitor gathered when it opened).
#[derive(Deserialize, Default)]
struct Evidence {
    #[serde(default)]
    by_day: Vec<EvidenceDay>,
    #[serde(default)]
    top_bouncing_domains: Vec<EvidenceDomain>,
    #[serde(default)]
    recent_imports: Vec<EvidenceImport>,
    #[serde(default)]
    recent_messages: Vec<EvidenceMessage>,
}

#[derive(Deserialize)]
struct EvidenceDay {
    day: String,
    sends: u64,
    hard_bounces: u64,
    complaints: u64,
}

#[derive(Deserialize)]
struct EvidenceDomain {
    domain: Option<String>,
    bounces: u64,
}

#[derive(Deserialize)]
struct EvidenceImport {
    id: String,
    source: Option<String>,
    description: Option<String>,
    status: Option<String>,
    score: Option<i64>,
    created_at: String,
}

#[derive(Deserialize)]
struct EvidenceMessage {
    id: String,
    name: String,
    subject: String,
    sends: u64,
    hard_bounces: u64,
    complaints: u64,
}

fn evidence_of(value: &serde_json::Value) -> Evidence {
    serde_json::from_value(value.clone()).unwrap_or_default()
}

fn rate(part: u64, whole: u64) -> String {
    if whole == 0 {
        "no sends".to_owned()
    } else {
        percent(part as f64 / whole as f64)
    }
}

/// The tables of a case's evidence; `id` makes their captions unique.
fn evidence_tables(e: &Evidence, id: &str) -> Markup {
    markup! {
        @if !e.by_day.is_empty() {
            table {
                caption { "Sends and outcomes by day" }
                thead { tr { th scope="col" { "Day" } th scope="col" { "Sends" } th scope="col" { "Hard bounces" } th scope="col" { "Complaints" } } }
                tbody { @for d in &e.by_day { tr {
                    td { (d.day) } td { (d.sends) }
                    td { (d.hard_bounces) " (" (rate(d.hard_bounces, d.sends)) ")" }
                    td { (d.complaints) " (" (rate(d.complaints, d.sends)) ")" }
                } } }
            }
        }
        @if !e.top_bouncing_domains.is_empty() {
            table {
                caption { "Domains that bounced most" }
                thead { tr { th scope="col" { "Domain" } th scope="col" { "Bounces" } } }
                tbody { @for d in &e.top_bouncing_domains { tr {
                    td { (d.domain.as_deref().unwrap_or("(unknown)")) } td { (d.bounces) }
                } } }
            }
        }
        @if !e.recent_imports.is_empty() {
            table {
                caption { "Recent imports and their provenance" }
                thead { tr { th scope="col" { "Import" } th scope="col" { "Declared source" } th scope="col" { "Status" } th scope="col" { "Score" } th scope="col" { "When" } } }
                tbody { @for i in &e.recent_imports { tr {
                    td { a href=(format!("/operator/imports/{}", i.id)) aria-label=(format!("Import {} ({id})", i.id)) { (i.id) } }
                    td { (i.source.as_deref().unwrap_or("")) @if let Some(d) = &i.description { br; (d) } }
                    td { (i.status.as_deref().unwrap_or("").replace('_', " ")) }
                    td { (i.score.map(|s| s.to_string()).unwrap_or_default()) }
                    td { (i.created_at.get(..16).unwrap_or(&i.created_at).replace('T', " ")) }
                } } }
            }
        }
        @if !e.recent_messages.is_empty() {
            table {
                caption { "Recent messages and their rates" }
                thead { tr { th scope="col" { "Message" } th scope="col" { "Subject" } th scope="col" { "Sends" } th scope="col" { "Hard bounces" } th scope="col" { "Complaints" } } }
                tbody { @for m in &e.recent_messages { tr {
                    td { (m.name) br; code { (m.id) } }
                    td { (m.subject) }
                    td { (m.sends) }
                    td { (m.hard_bounces) " (" (rate(m.hard_bounces, m.sends)) ")" }
                    td { (m.complaints) " (" (rate(m.complaints, m.sends)) ")" }
                } } }
            }
        }
    }
}

/// What went wrong with one of a page's forms: which form, the field's
/// JSON pointer and the API's words, and what was typed.
#[derive(Default)]
struct FormError {
    form: &'static str,
    pointer: String,
    detail: String,
    values: HashMap<String, String>,
}

impl FormError {
    fn at(&self, form: &str, pointer: &str) -> Option<&str> {
        (self.form == form && self.pointer == pointer).then_some(self.detail.as_str())
    }

    fn value<'a>(&'a self, form: &str, name: &str, default: &'a str) -> &'a str {
        if self.form == form {
            self.values.get(name).map(String::as_str).unwrap_or(default)
        } else {
            default
        }
    }
}

/// The decisions an operator can make about a workspace in its state:
/// each a form that says what it does, posted back to `back`.
fn decisions(
    who: &OperatorSigned,
    ws: &Workspace,
    policy: &Policy,
    back: &str,
    error: &FormError,
) -> Markup {
    if !who.may_act() {
        return markup! {};
    }
    let id = ws.id.as_str();
    let days = policy.probation_days.to_string();
    markup! {
        @if ws.state == SendingState::Suspended {
            form method="post" action=(format!("/operator/workspaces/{id}/reinstate")) {
                (csrf(who))
                input type="hidden" name="back" value=(back);
                h3 { "Reinstate on probation" }
                p.hint { "Held mail is released. At the end of probation the workspace is active again if its rates are under the review lines, and withdrawn if not." }
                (field(&format!("probation_days-{id}"), "Probation days", "number",
                    error.value("reinstate", "probation_days", &days), error.at("reinstate", "/probation_days"),
                    FieldExtra { name: Some("probation_days"), ..Default::default() }))
                (field(&format!("note-{id}"), "Note for the record", "textarea",
                    error.value("reinstate", "note", ""), error.at("reinstate", "/note"),
                    FieldExtra { name: Some("note"), required: true, ..Default::default() }))
                button type="submit" { "Reinstate on probation" }
            }
        }
        @if ws.state == SendingState::Withdrawn {
            form method="post" action=(format!("/operator/workspaces/{id}/restore")) {
                (csrf(who))
                input type="hidden" name="back" value=(back);
                h3 { "Restore" }
                p.hint { "Undoes the withdrawal: the workspace is suspended again, and can then be reinstated on probation. Mail cancelled by the withdrawal stays cancelled." }
                (field(&format!("restore-reason-{id}"), "Reason for restoring", "textarea",
                    error.value("restore", "reason", ""), error.at("restore", "/reason"),
                    FieldExtra { name: Some("reason"), required: true, ..Default::default() }))
                button type="submit" { "Restore" }
            }
        } @else {
            form method="post" action=(format!("/operator/workspaces/{id}/withdraw")) {
                (csrf(who))
                input type="hidden" name="back" value=(back);
                h3 { "Withdraw" }
                p.hint { "Stops the workspace's sending for good: pending mail is cancelled, each delivery with the reason. Its data stays exportable." }
                (field(&format!("withdraw-reason-{id}"), "Reason for withdrawing", "textarea",
                    error.value("withdraw", "reason", ""), error.at("withdraw", "/reason"),
                    FieldExtra { name: Some("reason"), required: true, ..Default::default() }))
                button.danger type="submit" data-confirm="Withdraw this workspace's sending? Pending mail is cancelled." { "Withdraw" }
            }
        }
    }
}

/// Probation's progress: sends since reinstatement, the rates against the
/// review lines, and the days left.
fn probation_progress(r: &ReputationView, policy: &Policy, now_ms: i64) -> Markup {
    let until = r
        .probation_until
        .as_deref()
        .and_then(|t| sendwell_core::Timestamp::parse(t).ok());
    let days_left = until.map(|t| ((t.millis() - now_ms).max(0) + 86_399_999) / 86_400_000);
    // As the end of probation judges: too few sends to judge counts as
    // under the lines.
    let under = matches!(r.verdict.as_str(), "fine" | "too_few_sends");
    markup! {
        dl.facts {
            dt { "Sends since reinstatement" } dd { (r.sends) }
            dt { "Hard-bounce rate" } dd { (percent(r.hard_bounce_rate)) " (review line " (percent(policy.review_hard_bounce_rate)) ")" }
            dt { "Complaint rate" } dd { (percent(r.complaint_rate)) " (review line " (percent(policy.review_complaint_rate)) ")" }
            dt { "Days left" } dd {
                @match (days_left, until) {
                    (Some(d), Some(t)) => { (d) " (until " (when(t)) ")" },
                    _ => "unknown",
                }
            }
            dt { "If it ended now" } dd {
                @if under { "active again (the rates are under the review lines)" }
                @else { "withdrawn (a rate is at or over its review line)" }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    done: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    who: OperatorSigned,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Reply {
    let done = match q.done.as_deref() {
        Some("reinstate") => Some("The workspace is on probation; its held mail is released."),
        Some("withdraw") => Some("The workspace's sending is withdrawn."),
        Some("restore") => Some("The withdrawal is undone; the workspace is suspended."),
        _ => None,
    };
    workspace_page(&state, &who, &id, done, &FormError::default()).await
}

/// What a workspace is and how it stands, as facts.
fn facts(ws: &Workspace, r: &ReputationView, policy: &Policy) -> Markup {
    markup! {
            dl.facts {
                dt { "State" } dd { (state_label(ws.state)) }
                dt { "Created" } dd { (when(ws.created_at)) }
                dt { "Guidelines" } dd {
                    @match ws.accepted_guidelines {
                        Some(v) => { "accepted version " (v) " (current " (ws.current_guidelines) ")" },
                        None => "not accepted",
                    }
                }
                dt { "Physical address" } dd { (ws.physical_address.as_deref().unwrap_or("not given")) }
                dt { "Over the last " (policy.window_days) " days" } dd {
                    (r.sends) " sends, " (r.hard_bounces) " hard bounces (" (percent(r.hard_bounce_rate)) "), "
                    (r.complaints) " complaints (" (percent(r.complaint_rate)) "); the monitor says "
                    strong { (r.verdict.replace('_', " ")) }
                }
                dt { "Open case" } dd {
                    @match &r.open_case {
                        Some(c) => { a href=(format!("/operator/cases#{}", c.id)) { "Opened " (c.opened_at.get(..10).unwrap_or("")) } ": " (c.reason) },
                        None => "None",
                    }
                }
            }
    }
}

fn members_section(members: &[sendwell_store::Member]) -> Markup {
    markup! {
            section aria-labelledby="members-heading" {
                h2 #members-heading { "Members" }
                @if members.is_empty() { p { "No members; the workspace uses API keys only." } }
                @else {
                    table {
                        caption { "Members and their roles" }
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Email" } th scope="col" { "Role" } th scope="col" { "Status" } } }
                        tbody { @for m in members { tr {
                            td { (m.name) } td { (m.email) } td { (m.role.as_str()) }
                            td { @if m.active { "active" } @else { "invited" } }
                        } } }
                    }
                }
            }
    }
}

fn audit_section(audit: &[sendwell_store::AuditEntry]) -> Markup {
    markup! {
            section aria-labelledby="audit-heading" {
                h2 #audit-heading { "Audit log (newest 50)" }
                table {
                    caption { "Audit log" }
                    thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "Why" } } }
                    tbody { @for a in audit { tr {
                        td { (when(a.created_at)) } td { (a.actor) }
                        td { (a.action)
                            @if let (Some(f), Some(t)) = (&a.from_state, &a.to_state) { br; (f.replace('_', " ")) " → " (t.replace('_', " ")) } }
                        td { (a.reason) }
                    } } }
                }
            }
    }
}

async fn workspace_page(
    state: &AppState,
    who: &OperatorSigned,
    id: &str,
    done: Option<&str>,
    error: &FormError,
) -> Reply {
    let not_found = || {
        super::error_page(
            who,
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("There is no workspace {id}."),
        )
    };
    let ws_id = WorkspaceId::parse(id).map_err(|_| not_found())?;
    let ws = state
        .store
        .workspace(&ws_id)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    let policy = state.store.policy().await.map_err(internal)?;
    let r = enforcement::reputation_view(state, &ws.id)
        .await
        .map_err(|e| api_error(who, e))?;
    let days = state
        .store
        .reputation_by_day(&ws.id, policy.window_days)
        .await
        .map_err(internal)?;
    let evidence = state
        .store
        .case_evidence(&ws.id, policy.window_days)
        .await
        .map_err(internal)?;
    let evidence = evidence_of(&evidence);
    let audit = state
        .store
        .audit_log_newest(&ws.id, 50)
        .await
        .map_err(internal)?;
    let members = state.store.list_members(&ws.id).await.map_err(internal)?;
    let now = state.store.now();
    let chart_days = Days {
        days: &days,
        today: now.millis() / 86_400_000,
        window_days: policy.window_days,
    };
    let back = format!("/operator/workspaces/{id}");
    let error_status = if error.form.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = markup! {
        (notice(done))
        (facts(&ws, &r, &policy))
        @if ws.state == SendingState::Probation {
            section aria-labelledby="probation-heading" {
                h2 #probation-heading { "Probation" }
                (probation_progress(&r, &policy, now.millis()))
            }
        }
        section aria-labelledby="decide-heading" {
            h2 #decide-heading { "Decisions" }
            @if who.may_act() {
                (decisions(who, &ws, &policy, &back, error))
            } @else {
                p { "Operators decide here; auditors read." }
            }
        }
        section aria-labelledby="rates-heading" {
            h2 #rates-heading { "Rates by day" }
            (by_day(&chart_days, "Hard-bounce rate by day", |c| c.hard_bounce_rate(), (policy.review_hard_bounce_rate, policy.suspend_hard_bounce_rate)))
            (by_day(&chart_days, "Complaint rate by day", |c| c.complaint_rate(), (policy.review_complaint_rate, policy.suspend_complaint_rate)))
        }
        section aria-labelledby="evidence-heading" {
            h2 #evidence-heading { "Bounces, imports and messages" }
            @if evidence.top_bouncing_domains.is_empty() && evidence.recent_imports.is_empty() && evidence.recent_messages.is_empty() {
                p { "No bounces, imports or messages yet." }
            }
            (evidence_tables(&evidence, id))
        }
        (members_section(&members))
        (audit_section(&audit))
    };
    Ok(html(error_status, page(who, "Workspaces", &ws.name, body)))
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    note: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    probation_days: String,
    #[serde(default)]
    back: String,
}

/// Where a decision's page goes back to: the workspace's page or the
/// case queue, nothing else.
fn back_to(form: &DecisionForm, id: &str, done: &str) -> String {
    if form.back == "/operator/cases" {
        format!("/operator/cases?done={done}")
    } else {
        format!("/operator/workspaces/{id}?done={done}")
    }
}

/// After a decision the API refused: its words next to the field when it
/// names one, else a page that says why.
async fn refused(
    state: &AppState,
    who: &OperatorSigned,
    id: &str,
    form_name: &'static str,
    form: &DecisionForm,
    e: ApiError,
) -> Reply {
    let Some(problem) = e.field_errors().first() else {
        return Err(api_error(who, e));
    };
    let values = HashMap::from([
        ("note".to_owned(), form.note.clone()),
        ("reason".to_owned(), form.reason.clone()),
        ("probation_days".to_owned(), form.probation_days.clone()),
    ]);
    let error = FormError {
        form: form_name,
        pointer: problem.pointer.clone(),
        detail: problem.detail.clone(),
        values,
    };
    workspace_page(state, who, id, None, &error).await
}

pub async fn reinstate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: OperatorPosted<DecisionForm>,
) -> Reply {
    let OperatorPosted { who, form } = posted;
    let days = match form.probation_days.trim() {
        "" => None,
        text => {
            match text.parse::<u32>() {
                Ok(d) => Some(d),
                Err(_) => {
                    let e = ApiError::invalid_field(
                    "/probation_days",
                    format!("probation days is a whole number of days, 0 to 365; '{text}' was given"),
                );
                    return refused(&state, &who, &id, "reinstate", &form, e).await;
                }
            }
        }
    };
    let request = ReinstateRequest {
        probation_days: days,
        note: form.note.clone(),
    };
    match crate::extract::call(state.clone(), who.caller(), |c| {
        enforcement::reinstate(c, Path(id.clone()), ApiJson(request))
    })
    .await
    {
        Ok(_) => Ok(redirect(&back_to(&form, &id, "reinstate"))),
        Err(e) => refused(&state, &who, &id, "reinstate", &form, e).await,
    }
}

pub async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: OperatorPosted<DecisionForm>,
) -> Reply {
    let OperatorPosted { who, form } = posted;
    let request = WithdrawRequest {
        reason: form.reason.clone(),
    };
    match crate::extract::call(state.clone(), who.caller(), |c| {
        enforcement::withdraw(c, Path(id.clone()), ApiJson(request))
    })
    .await
    {
        Ok(_) => Ok(redirect(&back_to(&form, &id, "withdraw"))),
        Err(e) => refused(&state, &who, &id, "withdraw", &form, e).await,
    }
}

pub async fn restore(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: OperatorPosted<DecisionForm>,
) -> Reply {
    let OperatorPosted { who, form } = posted;
    let request = RestoreRequest {
        reason: form.reason.clone(),
    };
    match crate::extract::call(state.clone(), who.caller(), |c| {
        enforcement::restore(c, Path(id.clone()), ApiJson(request))
    })
    .await
    {
        Ok(_) => Ok(redirect(&back_to(&form, &id, "restore"))),
        Err(e) => refused(&state, &who, &id, "restore", &form, e).await,
    }
}

#[derive(Deserialize, Default)]
pub struct CasesQuery {
    #[serde(default)]
    done: Option<String>,
}

/// The workspaces on probation, by name, each with its standing.
async fn on_probation<'a>(
    state: &AppState,
    who: &OperatorSigned,
    workspaces: &'a HashMap<WorkspaceId, Workspace>,
) -> Reply<Vec<(&'a Workspace, ReputationView)>> {
    let mut on: Vec<&Workspace> = workspaces
        .values()
        .filter(|w| w.state == SendingState::Probation)
        .collect();
    on.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::with_capacity(on.len());
    for ws in on {
        let r = enforcement::reputation_view(state, &ws.id)
            .await
            .map_err(|e| api_error(who, e))?;
        out.push((ws, r));
    }
    Ok(out)
}

/// The most open cases the queue shows (the store's page; more wait behind).
const OPEN_CASES: i64 = 200;
/// Closed cases shown under "Recently decided".
const CLOSED_CASES: i64 = 20;

/// A case with its workspace, as the queue shows it.
struct QueuedCase {
    case: ReviewCase,
    workspace: Option<Workspace>,
}

pub async fn cases(
    State(state): State<AppState>,
    who: OperatorSigned,
    Query(q): Query<CasesQuery>,
) -> Reply {
    let done = match q.done.as_deref() {
        Some("note") => Some("The note is added."),
        Some("reinstate") => Some("The workspace is on probation; its held mail is released."),
        Some("withdraw") => Some("The workspace's sending is withdrawn."),
        Some("restore") => Some("The withdrawal is undone; the workspace is suspended."),
        _ => None,
    };
    let policy = state.store.policy().await.map_err(internal)?;
    // Every workspace once, by id: the cases' names and the probation list.
    let workspaces: HashMap<WorkspaceId, Workspace> = state
        .store
        .all_workspaces()
        .await
        .map_err(internal)?
        .into_iter()
        .map(|w| (w.id.clone(), w))
        .collect();
    let queued = |case: ReviewCase| QueuedCase {
        workspace: workspaces.get(&case.workspace_id).cloned(),
        case,
    };
    let open: Vec<QueuedCase> = state
        .store
        .open_cases_oldest_first(OPEN_CASES)
        .await
        .map_err(internal)?
        .into_iter()
        .map(queued)
        .collect();
    let open_total = state.store.open_case_ids().await.map_err(internal)?.len();
    let closed: Vec<QueuedCase> = state
        .store
        .cases(Some("closed"), CLOSED_CASES)
        .await
        .map_err(internal)?
        .into_iter()
        .map(queued)
        .collect();
    let probation = on_probation(&state, &who, &workspaces).await?;
    let now = state.store.now();
    let body = markup! {
        (notice(done))
        section aria-labelledby="open-heading" {
            h2 #open-heading { "Open cases, oldest first (" (open_total) ")" }
            @if open.len() < open_total { p { "The " (open.len()) " that waited longest are shown; the rest follow as these are decided." } }
            @if open.is_empty() { p { "No open cases." } }
            @for q in &open {
                (open_case(&who, q, &policy))
            }
        }
        section aria-labelledby="probation-heading" {
            h2 #probation-heading { "On probation (" (probation.len()) ")" }
            @if probation.is_empty() { p { "No workspace is on probation." } }
            @for (ws, r) in &probation {
                article.case {
                    h3 { a href=(format!("/operator/workspaces/{}", ws.id)) { (ws.name) } }
                    (probation_progress(r, &policy, now.millis()))
                }
            }
        }
        section aria-labelledby="closed-heading" {
            h2 #closed-heading { "Recently decided" }
            @if closed.is_empty() { p { "No decided cases yet." } }
            @else {
                table {
                    caption { "Closed cases, newest first, with where each workspace is now" }
                    thead { tr { th scope="col" { "Workspace" } th scope="col" { "Decision" } th scope="col" { "Closed" } th scope="col" { "State now" } } }
                    tbody { @for q in &closed { tr {
                        td { @match &q.workspace {
                            Some(w) => a href=(format!("/operator/workspaces/{}", w.id)) { (w.name) },
                            None => (q.case.workspace_id.as_str()),
                        } }
                        td { (q.case.resolution.as_deref().unwrap_or("")) }
                        td { (q.case.closed_at.map(when).unwrap_or_default()) }
                        td { (q.workspace.as_ref().map(|w| state_label(w.state)).unwrap_or_default()) }
                    } } }
                }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(&who, "Cases", "Review cases", body),
    ))
}

fn open_case(who: &OperatorSigned, q: &QueuedCase, policy: &Policy) -> Markup {
    let c = &q.case;
    let evidence = evidence_of(&c.evidence);
    let name = q
        .workspace
        .as_ref()
        .map(|w| w.name.clone())
        .unwrap_or_else(|| c.workspace_id.to_string());
    let note_id = format!("case-note-{}", c.id);
    markup! {
        article.case id=(c.id) aria-labelledby=(format!("{}-heading", c.id)) {
            h3 id=(format!("{}-heading", c.id)) {
                a href=(format!("/operator/workspaces/{}", c.workspace_id)) { (name) }
                " · opened " (when(c.opened_at))
            }
            p { strong { "Why: " } (c.reason) }
            @if let Some(w) = &q.workspace { p { "State now: " strong { (state_label(w.state)) } } }
            details open {
                summary { "The monitor's evidence" }
                (evidence_tables(&evidence, &c.id))
            }
            h4 { "Notes" }
            @if c.notes.is_empty() { p { "No notes yet." } }
            ul { @for n in &c.notes { li { strong { (n.author) } " (" (when(n.created_at)) "): " (n.note) } } }
            @if who.may_act() {
                form method="post" action=(format!("/operator/cases/{}/notes", c.id)) {
                    (csrf(who))
                    (field(&note_id, "Note", "textarea", "", None, FieldExtra { required: true, ..Default::default() }))
                    button type="submit" { "Add note" }
                }
                @if let Some(w) = &q.workspace {
                    h4 { "Decide" }
                    (decisions(who, w, policy, "/operator/cases", &FormError::default()))
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

pub async fn add_note(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: OperatorPosted<NoteForm>,
) -> Reply {
    let OperatorPosted { who, form } = posted;
    let note = form
        .fields
        .get(&format!("case-note-{id}"))
        .or_else(|| form.fields.get("note"))
        .cloned()
        .unwrap_or_default();
    let request = NoteRequest { note, author: None };
    let _case = crate::extract::call(state.clone(), who.caller(), |c| {
        enforcement::add_note(c, Path(id.clone()), ApiJson(request))
    })
    .await
    .map_err(|e| api_error(&who, e))?;
    Ok(redirect(&format!("/operator/cases?done=note#{id}")))
}
