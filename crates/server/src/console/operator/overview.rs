//! The overview: what waits for the delivery team (open cases, quarantined
//! imports, held mail, reports), the queue by state, and the last 24 hours
//! of delivery as this process counted them for `/metrics`: deliveries per
//! minute, SMTP replies by class, deferrals by destination.

use super::layout::page as frame;
use super::OperatorSigned;
use crate::console::{html, internal, Reply};
use crate::metrics::{Slot, SLOTS, SLOT_MINUTES};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use maud::{html as markup, Markup};
use sendwell_core::ReviewState;
use std::collections::BTreeMap;

/// How many of a queue's items are counted before saying "more than".
const COUNT_CAP: i64 = 200;

fn capped(n: usize) -> String {
    if n as i64 >= COUNT_CAP {
        format!("{COUNT_CAP} or more")
    } else {
        n.to_string()
    }
}

pub async fn page(State(state): State<AppState>, who: OperatorSigned) -> Reply {
    let store = &state.store;
    let cases = store.open_case_ids().await.map_err(internal)?.len();
    let imports = store
        .list_imports(None, Some("quarantined"), None, COUNT_CAP)
        .await
        .map_err(internal)?
        .len();
    let reviews = store
        .messages_in_review(ReviewState::Pending, None, COUNT_CAP)
        .await
        .map_err(internal)?
        .len();
    let reports = store
        .concern_reports(COUNT_CAP, true)
        .await
        .map_err(internal)?
        .len();
    let waiting = store.waiting_depth().await.map_err(internal)?;
    let slots = state.metrics().recent();
    let body = markup! {
        section aria-labelledby="work-heading" {
            h2 #work-heading { "Waiting for the team" }
            ul {
                li { a href="/operator/cases" { (capped(cases)) " open review cases" } }
                li { a href="/operator/imports" { (capped(imports)) " quarantined imports" } }
                li { a href="/operator/reviews" { (capped(reviews)) " messages held for content review" } }
                li { a href="/operator/reports" { (capped(reports)) " reports not handled yet" } }
            }
        }
        section aria-labelledby="queue-heading" {
            h2 #queue-heading { "The queue" }
            (bars("Deliveries waiting, by state", &waiting.iter().map(|(k, v)| ((*k).to_owned(), u64::try_from(*v).unwrap_or(0))).collect::<Vec<_>>()))
        }
        section aria-labelledby="day-heading" {
            h2 #day-heading { "The last 24 hours" }
            p.hint { "As this server's delivery worker counted them (the counters of /metrics), in ten-minute slots; other workers count their own." }
            (per_minute(&slots))
            (bars("SMTP replies by class", &totals(&slots, |s| &s.replies).into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Vec<_>>()))
            (bars("Deferrals by destination (most first)", &top_deferrals(&slots, 10)))
        }
    };
    Ok(html(
        StatusCode::OK,
        frame(&who, "Overview", "Overview", body),
    ))
}

/// The sum of one kind of count over the slots.
fn totals<'a>(
    slots: &'a [Slot],
    pick: fn(&'a Slot) -> &'a BTreeMap<&'static str, u64>,
) -> BTreeMap<&'static str, u64> {
    let mut out = BTreeMap::new();
    for s in slots {
        for (k, v) in pick(s) {
            *out.entry(*k).or_insert(0) += v;
        }
    }
    out
}

/// The `n` destinations deferred most, most first.
fn top_deferrals(slots: &[Slot], n: usize) -> Vec<(String, u64)> {
    let mut sum: BTreeMap<&str, u64> = BTreeMap::new();
    for s in slots {
        for (k, v) in &s.deferrals {
            *sum.entry(k.as_str()).or_insert(0) += v;
        }
    }
    let mut list: Vec<(String, u64)> = sum.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list.truncate(n);
    list
}

/// Horizontal bars, one per (label, value), with the numbers written;
/// a table says the same for those who do not read charts.
fn bars(title: &str, values: &[(String, u64)]) -> Markup {
    let top = values.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let height = 24 * values.len().max(1) + 8;
    markup! {
        figure.chart {
            @if values.is_empty() {
                figcaption { (title) ": nothing counted yet." }
            } @else {
                svg viewBox=(format!("0 0 640 {height}")) width="640" height=(height) role="img" aria-label=(format!("{title}: {}", values.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "))) {
                    @for (i, (label, v)) in values.iter().enumerate() {
                        @let y = 4 + 24 * i;
                        text x="0" y=(y + 15) { (label) }
                        rect class="track" x="200" y=(y) width="380" height="18" {}
                        rect class="bar" x="200" y=(y) width=(format!("{:.1}", 380.0 * *v as f64 / top as f64)) height="18" {}
                        text x="586" y=(y + 15) { (v) }
                    }
                }
                figcaption { (title) }
                table.visually-hidden {
                    caption { (title) }
                    thead { tr { th scope="col" { "What" } th scope="col" { "How many" } } }
                    tbody { @for (label, v) in values { tr { td { (label) } td { (v) } } } }
                }
            }
        }
    }
}

/// Deliveries finished per minute over the last 24 hours, one bar per slot.
fn per_minute(slots: &[Slot]) -> Markup {
    let now = slots.last().map(|s| s.start_minute).unwrap_or(0);
    let first = now - SLOT_MINUTES * (SLOTS as i64 - 1);
    let rate = |s: &Slot| s.outcomes.values().sum::<u64>() as f64 / SLOT_MINUTES as f64;
    let top = slots.iter().map(rate).fold(1.0, f64::max);
    let width = 600.0 / SLOTS as f64;
    let total: u64 = slots.iter().map(|s| s.outcomes.values().sum::<u64>()).sum();
    let peak = slots.iter().map(rate).fold(0.0, f64::max);
    let summary = format!(
        "Deliveries finished per minute over the last 24 hours: {total} in all, at most {peak:.1} a minute"
    );
    markup! {
        figure.chart {
            svg viewBox="0 0 640 150" width="640" height="150" role="img" aria-label=(summary) {
                rect class="track" x="10" y="10" width="600" height="120" {}
                @for s in slots {
                    @let x = 10.0 + ((s.start_minute - first) / SLOT_MINUTES) as f64 * width;
                    @let h = 120.0 * rate(s) / top;
                    rect class="bar" x=(format!("{x:.1}")) y=(format!("{:.1}", 130.0 - h)) width=(format!("{:.1}", width.max(1.0))) height=(format!("{h:.1}")) {}
                }
                text x="10" y="146" { "24 hours ago" }
                text x="610" y="146" text-anchor="end" { "now" }
                text x="614" y="20" { (format!("{top:.0}")) }
            }
            figcaption { (summary) }
        }
    }
}
