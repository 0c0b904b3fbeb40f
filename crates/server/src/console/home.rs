//! Home: what stands between the workspace and sending, as a checklist
//! (the physical address, the guidelines, sender domains), then its
//! reputation: bounce and complaint rates against the review and suspend
//! lines, its state, and what happens next.

use super::layout::{self, csrf, field, notice, FieldExtra};
use super::session::Posted;
use super::{html, redirect, Reply, Signed};
use crate::api::enforcement::ReputationView;
use crate::api::sender_domains::SenderDomainView;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html as markup, Markup};
use sendwell_core::gate;
use sendwell_core::text::PhysicalAddress;
use sendwell_core::{Permission, SendingState};
use sendwell_store::{AcceptedThrough, Guidelines};
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// What the last action on this page did, shown at its top.
fn done_text(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "address" => "The physical address is saved; it is printed in the footer of every mail.",
        "guidelines" => "You accepted the guidelines; thank you.",
        "verified" => "The sender domain's DNS records were checked; the result is below.",
        "domain" => {
            "The sender domain is added: publish the DNS record shown for it, then press Verify."
        }
        _ => return None,
    })
}

/// Everything Home shows, read before the page is drawn.
struct HomeData {
    status: gate::SendingStatus,
    guidelines: Guidelines,
    domains: Vec<SenderDomainView>,
    reputation: ReputationView,
    policy: sendwell_core::reputation::Policy,
    /// (day number, counts) over the window, oldest first.
    days: Vec<(i64, sendwell_core::reputation::Counts)>,
    today: i64,
}

async fn read(state: &AppState, who: &Signed) -> Result<HomeData, ApiError> {
    let ws = &who.workspace;
    let domains = state
        .store
        .sender_domains(&ws.id)
        .await?
        .into_iter()
        .map(|d| crate::api::sender_domains::view(state, d))
        .collect::<Result<Vec<_>, _>>()?;
    let policy = state.store.policy().await?;
    Ok(HomeData {
        status: gate::evaluate(ws.gate_input(state.store.now())),
        guidelines: state.store.current_guidelines().await?,
        domains,
        reputation: crate::api::enforcement::reputation_view(state, &ws.id).await?,
        days: state
            .store
            .reputation_by_day(&ws.id, policy.window_days)
            .await?,
        today: state.store.now().millis() / 86_400_000,
        policy,
    })
}

pub async fn page_of(
    state: &AppState,
    who: &Signed,
    address: (&str, Option<&str>),
    done: Option<&str>,
    status: StatusCode,
) -> Reply {
    let data = read(state, who).await.map_err(|e| api_error(who, e))?;
    let body = markup! {
        (notice(done_text(done)))
        (checklist(who, &data, address))
        (reputation(who, &data))
    };
    Ok(html(status, layout::page(who, "Home", "Home", body)))
}

pub async fn page(State(state): State<AppState>, who: Signed, Query(q): Query<Done>) -> Reply {
    let address = who.workspace.physical_address.clone().unwrap_or_default();
    page_of(
        &state,
        &who,
        (&address, None),
        q.done.as_deref(),
        StatusCode::OK,
    )
    .await
}

/// An API error shown as a console page.
pub fn api_error(who: &Signed, e: ApiError) -> Response {
    let title = match e.status() {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        _ => "That did not work",
    };
    super::error_page(who, e.status(), title, e.detail())
}

fn checklist(who: &Signed, data: &HomeData, address: (&str, Option<&str>)) -> Markup {
    let ws = &who.workspace;
    let accepted = ws.accepted_guidelines == Some(data.guidelines.version);
    markup! {
        section aria-labelledby="status-heading" {
            h2 #status-heading { "Sending status" }
            @if data.status.can_send() {
                p.ok { "This workspace can send." }
            } @else {
                p.warn { "This workspace cannot send yet. Each item below says what to do." }
                ul.blockers {
                    @for b in &data.status.blockers { li { (b.message) } }
                }
            }
            @for r in &data.status.reminders { p.warn { (r.message) } }
            ol.checklist {
                li {
                    h3 { "Physical address " (tick(ws.physical_address.is_some())) }
                    p { "The law in most countries, and our guidelines, ask that every mail says where the business is. It is printed in every footer." }
                    @if who.can(Permission::ManageWorkspace) {
                        form method="post" action="/settings/address" {
                            (csrf(who))
                            (field("physical_address", "Physical address", "textarea", address.0, address.1,
                                FieldExtra { hint: Some("Street, city, postal code and country, as on a letter."), required: true, ..Default::default() }))
                            button type="submit" { "Save address" }
                        }
                    } @else {
                        p { (ws.physical_address.as_deref().unwrap_or("Not set yet; an admin sets it.")) }
                    }
                }
                li {
                    h3 { "Sending guidelines, version " (data.guidelines.version) " " (tick(accepted)) }
                    div.guidelines tabindex="0" role="region" aria-label="The sending guidelines" {
                        (super::markdown::render(&data.guidelines.text))
                    }
                    @if accepted {
                        p.ok { "Accepted." }
                    } @else if who.can(Permission::ManageWorkspace) {
                        form method="post" action="/settings/guidelines" {
                            (csrf(who))
                            input type="hidden" name="version" value=(data.guidelines.version);
                            p { "By accepting, you agree for " (ws.name) " to send only as these guidelines say. We record who accepted and when." }
                            button type="submit" { "Accept" }
                        }
                    } @else {
                        p { "An admin of the workspace accepts them." }
                    }
                }
                li {
                    h3 { "Sender domains " (tick(data.domains.iter().any(|d| d.verified))) }
                    (domains(who, &data.domains))
                }
            }
        }
    }
}

fn tick(done: bool) -> Markup {
    markup! {
        @if done { span.tick { "(done)" } } @else { span.todo { "(to do)" } }
    }
}

fn domains(who: &Signed, list: &[SenderDomainView]) -> Markup {
    markup! {
        @if list.is_empty() {
            p { "No sender domain yet. Mail is sent from addresses on a domain whose DKIM records you publish." }
        }
        @if who.can(Permission::ManageWorkspace) {
            form method="post" action="/settings/domains" {
                (csrf(who))
                (field("domain", "Sender domain", "text", "", None,
                    FieldExtra { hint: Some("The part after @ in your From address, such as acme.com."), required: true, ..Default::default() }))
                button type="submit" { "Add domain" }
            }
        }
        @for d in list {
            div.domain {
                h4 { (d.domain) " " @if d.verified { span.tick { "verified" } } @else { span.todo { "not verified" } } }
                @if let Some(at) = &d.checked_at { p.hint { "Last checked " (at) } }
                table {
                    caption { "DNS records to publish for " (d.domain) }
                    thead { tr { th scope="col" { "Type" } th scope="col" { "Name" } th scope="col" { "Value" } } }
                    tbody {
                        @for r in &d.dns_records {
                            tr { td { (r.kind) } td { code { (r.name) } } td { code.wrap { (r.value) } } }
                        }
                    }
                }
                @if who.can(Permission::ManageWorkspace) {
                    form method="post" action="/settings/domains/verify" {
                        (csrf(who))
                        input type="hidden" name="domain" value=(d.domain);
                        button type="submit" { "Verify " (d.domain) }
                    }
                }
            }
        }
    }
}

/// A rate as a percentage with up to two decimals.
pub(super) fn percent(rate: f64) -> String {
    format!("{:.2}%", rate * 100.0)
}

fn reputation(who: &Signed, data: &HomeData) -> Markup {
    let r = &data.reputation;
    let p = &data.policy;
    let days = Days {
        days: &data.days,
        today: data.today,
        window_days: p.window_days,
    };
    markup! {
        section aria-labelledby="reputation-heading" {
            h2 #reputation-heading { "Reputation" }
            p { "State: " strong { (who.workspace.state.as_str().replace('_', " ")) } ". " (next_step(who.workspace.state)) }
            p {
                "Over the last " (r.window_days) " days: " (r.sends) " sends, "
                (r.hard_bounces) " hard bounces (" (percent(r.hard_bounce_rate)) "), "
                (r.complaints) " complaints (" (percent(r.complaint_rate)) ")."
                @if r.sends < p.min_sends {
                    " Rates are judged from " (p.min_sends) " sends on."
                }
            }
            (rate_chart("Hard-bounce rate", r.hard_bounce_rate, p.review_hard_bounce_rate, p.suspend_hard_bounce_rate))
            (rate_chart("Complaint rate", r.complaint_rate, p.review_complaint_rate, p.suspend_complaint_rate))
            (by_day(&days, "Hard-bounce rate by day", |c| c.hard_bounce_rate(), (p.review_hard_bounce_rate, p.suspend_hard_bounce_rate)))
            (by_day(&days, "Complaint rate by day", |c| c.complaint_rate(), (p.review_complaint_rate, p.suspend_complaint_rate)))
            @if let Some(until) = &r.probation_until { p { "On probation until " (until) "." } }
        }
    }
}

/// What the state means and what the workspace can do about it.
fn next_step(state: SendingState) -> &'static str {
    match state {
        SendingState::Onboarding => "Finish the checklist above to start sending.",
        SendingState::Active => "Keep bounces and complaints under the review lines below.",
        SendingState::UnderReview => "Your rates passed a review line: the delivery team is looking at them. Sending goes on; clean your lists and send only to people who asked for your mail.",
        SendingState::Suspended => "Your rates passed a suspend line: sending is stopped and queued mail is held, not lost. The delivery team reviews the case and may reinstate the workspace on probation.",
        SendingState::Probation => "The workspace was reinstated on probation: if the rates stay under the lines until it ends, it is active again; if not, access is withdrawn.",
        SendingState::Withdrawn => "Access to sending was withdrawn. Contact the platform's operator.",
    }
}

/// A bar for the rate on a scale up to twice the suspend line, with the
/// review and suspend lines drawn and labelled (not told by colour alone).
pub(super) fn rate_chart(name: &str, rate: f64, review: f64, suspend: f64) -> Markup {
    let scale = (suspend * 2.0).max(rate).max(f64::MIN_POSITIVE);
    let x = |v: f64| 10.0 + 580.0 * (v / scale).min(1.0);
    let summary = format!(
        "{name}: {} (review at {}, suspend at {})",
        percent(rate),
        percent(review),
        percent(suspend)
    );
    markup! {
        figure.chart {
            svg viewBox="0 0 600 70" width="600" height="70" role="img" aria-label=(summary) {
                rect x="10" y="20" width="580" height="20" class="track" {}
                rect x="10" y="20" width=(format!("{:.1}", x(rate) - 10.0)) height="20" class="bar" {}
                line x1=(format!("{:.1}", x(review))) x2=(format!("{:.1}", x(review))) y1="12" y2="48" class="review" {}
                text x=(format!("{:.1}", x(review))) y="62" text-anchor="middle" { "review " (percent(review)) }
                line x1=(format!("{:.1}", x(suspend))) x2=(format!("{:.1}", x(suspend))) y1="12" y2="48" class="suspend" {}
                text x=(format!("{:.1}", x(suspend))) y="10" text-anchor="middle" { "suspend " (percent(suspend)) }
            }
            figcaption { (summary) }
        }
    }
}

/// One rate by day over the window, as bars, with the review and suspend
/// lines drawn and labelled; the numbers in a table below for those who
/// do not read charts.
/// A window of days' counts, as the charts draw them.
pub(super) struct Days<'a> {
    /// (day number since the epoch, counts), oldest first; days without
    /// sends left out.
    pub days: &'a [(i64, sendwell_core::reputation::Counts)],
    pub today: i64,
    pub window_days: u32,
}

pub(super) fn by_day(
    data: &Days<'_>,
    name: &str,
    rate: fn(&sendwell_core::reputation::Counts) -> f64,
    (review, suspend): (f64, f64),
) -> Markup {
    let window = i64::from(data.window_days.max(1));
    let first = data.today - window + 1;
    let top = data
        .days
        .iter()
        .map(|(_, c)| rate(c))
        .fold(suspend * 1.5, f64::max)
        .max(f64::MIN_POSITIVE);
    let width = 540.0 / window as f64;
    let y = |v: f64| 130.0 - 120.0 * (v / top).min(1.0);
    let summary = format!(
        "{name} over the last {window} days: {} days with sends; review at {}, suspend at {}",
        data.days.len(),
        percent(review),
        percent(suspend)
    );
    let day_text = |day: i64| {
        sendwell_core::Timestamp::from_millis(day * 86_400_000).to_rfc3339()[..10].to_owned()
    };
    markup! {
        figure.chart {
            svg viewBox="0 0 640 150" width="640" height="150" role="img" aria-label=(summary) {
                rect x="10" y="10" width="540" height="120" class="track" {}
                @for (day, counts) in data.days {
                    @let v = rate(counts);
                    rect class="bar" x=(format!("{:.1}", 10.0 + (day - first) as f64 * width))
                        y=(format!("{:.1}", y(v))) width=(format!("{:.1}", (width - 1.0).max(1.0)))
                        height=(format!("{:.1}", 130.0 - y(v))) {}
                }
                line class="review" x1="10" x2="550" y1=(format!("{:.1}", y(review))) y2=(format!("{:.1}", y(review))) {}
                text x="556" y=(format!("{:.1}", y(review) + 4.0)) { "review " (percent(review)) }
                line class="suspend" x1="10" x2="550" y1=(format!("{:.1}", y(suspend))) y2=(format!("{:.1}", y(suspend))) {}
                text x="556" y=(format!("{:.1}", y(suspend) + 4.0)) { "suspend " (percent(suspend)) }
                text x="10" y="146" { (day_text(first)) }
                text x="550" y="146" text-anchor="end" { (day_text(data.today)) }
            }
            figcaption { (summary) }
        }
        @if !data.days.is_empty() {
            details {
                summary { "The numbers by day: " (name) }
                table {
                    caption { (name) }
                    thead { tr { th scope="col" { "Day" } th scope="col" { "Sends" } th scope="col" { "Rate" } } }
                    tbody {
                        @for (day, counts) in data.days {
                            tr { td { (day_text(*day)) } td { (counts.sends) } td { (percent(rate(counts))) } }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct AddressForm {
    #[serde(default)]
    physical_address: String,
}

pub async fn set_address(State(state): State<AppState>, posted: Posted<AddressForm>) -> Reply {
    let Posted { who, form } = posted;
    who.require(Permission::ManageWorkspace)?;
    let address = match PhysicalAddress::parse(&form.physical_address) {
        Ok(a) => a,
        Err(e) => {
            let text = e.to_string();
            return page_of(
                &state,
                &who,
                (&form.physical_address, Some(&text)),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let change = sendwell_store::SettingsChange {
        physical_address: Some(&address),
        ..Default::default()
    };
    state
        .store
        .update_workspace_settings(&who.workspace.id, &change, &who.actor())
        .await
        .map_err(super::internal)?;
    Ok(redirect("/?done=address"))
}

#[derive(Deserialize)]
pub struct AcceptForm {
    version: i64,
}

pub async fn accept_guidelines(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    posted: Posted<AcceptForm>,
) -> Reply {
    let Posted { who, form } = posted;
    who.require(Permission::ManageWorkspace)?;
    let name = if who.account.name.is_empty() {
        who.account.email.clone()
    } else {
        format!("{} <{}>", who.account.name, who.account.email)
    };
    let ip = crate::extract::client_ip(state.trusted_proxies(), &headers, peer);
    let outcome = state
        .store
        .accept_guidelines(
            &who.workspace.id,
            form.version,
            &name,
            AcceptedThrough::Member(&who.account),
            Some(&ip),
        )
        .await
        .map_err(super::internal)?;
    match outcome {
        Ok(_) => Ok(redirect("/?done=guidelines")),
        Err(sendwell_store::AcceptError::NotCurrent { current }) => Err(super::error_page(
            &who,
            StatusCode::CONFLICT,
            "The guidelines changed",
            &format!("A newer version ({current}) was published while you read; read it on Home and accept it."),
        )),
        Err(sendwell_store::AcceptError::WorkspaceNotFound) => Err(super::internal("workspace gone")),
    }
}

#[derive(Deserialize)]
pub struct DomainForm {
    domain: String,
}

pub async fn verify_domain(State(state): State<AppState>, posted: Posted<DomainForm>) -> Reply {
    let Posted { who, form } = posted;
    who.require(Permission::ManageWorkspace)?;
    crate::api::sender_domains::verify_domain(
        &state,
        &who.workspace.id,
        &form.domain,
        &who.actor(),
    )
    .await
    .map_err(|e| api_error(&who, e))?;
    Ok(redirect("/?done=verified"))
}

pub async fn add_domain(State(state): State<AppState>, posted: Posted<DomainForm>) -> Reply {
    let Posted { who, form } = posted;
    let req = crate::api::sender_domains::SenderDomainRequest {
        domain: form.domain.clone(),
        algorithms: None,
    };
    let _added = crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::sender_domains::create(c, crate::extract::ApiJson(req))
    })
    .await
    .map_err(|e| api_error(&who, e))?;
    Ok(redirect("/?done=domain"))
}
