//! The enforcement policy, with the effect of a change shown before it is
//! saved, and the guidelines: publish a new version (Markdown, previewed),
//! its grace period, and which workspaces accepted which version.

use super::layout::page as frame;
use super::{api_error, OperatorPosted, OperatorSigned};
use crate::api::operator::{PublishGuidelines, DEFAULT_GRACE_DAYS};
use crate::console::layout::{csrf, field, notice, when, FieldExtra};
use crate::console::markdown;
use crate::console::{html, internal, redirect, Reply};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use maud::{html as markup, Markup};
use sendwell_core::reputation::{judge, Move, Policy};
use sendwell_core::WorkspaceId;
use sendwell_store::Workspace;
use serde::Deserialize;
use std::collections::HashMap;

/// The policy's fields as the form shows them: (name, label, hint, is a rate).
const FIELDS: [(&str, &str, &str, bool); 8] = [
    (
        "review_hard_bounce_rate",
        "Hard-bounce review line (%)",
        "A workspace over it is put under review.",
        true,
    ),
    (
        "suspend_hard_bounce_rate",
        "Hard-bounce suspend line (%)",
        "A workspace over it is suspended and its mail held.",
        true,
    ),
    (
        "review_complaint_rate",
        "Complaint review line (%)",
        "Complaints per send; 0.1 means one in a thousand.",
        true,
    ),
    (
        "suspend_complaint_rate",
        "Complaint suspend line (%)",
        "",
        true,
    ),
    (
        "window_days",
        "Window (days)",
        "Rates are counted over this many days, today included.",
        false,
    ),
    (
        "min_sends",
        "Minimum sends",
        "Rates are judged only from this many sends in the window.",
        false,
    ),
    (
        "breaker_min_deliveries",
        "Circuit breaker sample (deliveries)",
        "A message is paused by its own rates only after this many deliveries.",
        false,
    ),
    (
        "probation_days",
        "Probation length (days)",
        "The default length of probation after reinstatement.",
        false,
    ),
];

/// A policy's field as the form shows it.
fn shown(p: &Policy, name: &str) -> String {
    let pct = |v: f64| {
        let text = format!("{:.4}", v * 100.0);
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    };
    match name {
        "review_hard_bounce_rate" => pct(p.review_hard_bounce_rate),
        "suspend_hard_bounce_rate" => pct(p.suspend_hard_bounce_rate),
        "review_complaint_rate" => pct(p.review_complaint_rate),
        "suspend_complaint_rate" => pct(p.suspend_complaint_rate),
        "window_days" => p.window_days.to_string(),
        "min_sends" => p.min_sends.to_string(),
        "breaker_min_deliveries" => p.breaker_min_deliveries.to_string(),
        "probation_days" => p.probation_days.to_string(),
        _ => String::new(),
    }
}

#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    action: String,
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

/// The policy a form describes, or what is wrong with each field
/// (field name → problem).
fn parse_policy(fields: &HashMap<String, String>) -> Result<Policy, HashMap<String, String>> {
    let mut errors = HashMap::new();
    let mut policy = Policy::default();
    for (name, _, _, is_rate) in FIELDS {
        let text = fields.get(name).map(|s| s.trim()).unwrap_or("");
        if is_rate {
            match text.trim_end_matches('%').trim().parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 && v < 100.0 => {
                    let share = v / 100.0;
                    match name {
                        "review_hard_bounce_rate" => policy.review_hard_bounce_rate = share,
                        "suspend_hard_bounce_rate" => policy.suspend_hard_bounce_rate = share,
                        "review_complaint_rate" => policy.review_complaint_rate = share,
                        _ => policy.suspend_complaint_rate = share,
                    }
                }
                _ => {
                    errors.insert(
                        name.to_owned(),
                        format!("Give a percentage above 0 and below 100; '{text}' was given."),
                    );
                }
            }
        } else {
            match text.parse::<u32>() {
                Ok(v) => match name {
                    "window_days" => policy.window_days = v,
                    "min_sends" => policy.min_sends = u64::from(v),
                    "breaker_min_deliveries" => policy.breaker_min_deliveries = u64::from(v),
                    _ => policy.probation_days = v,
                },
                Err(_) => {
                    errors.insert(
                        name.to_owned(),
                        format!("Give a whole number; '{text}' was given."),
                    );
                }
            }
        }
    }
    // The policy's own rules (lines in order, ranges), in the API's words.
    for (pointer, problem) in policy.problems() {
        let name = pointer.trim_start_matches('/').to_owned();
        errors.entry(name).or_insert(problem);
    }
    if errors.is_empty() {
        Ok(policy)
    } else {
        Err(errors)
    }
}

/// What the monitor would do to each workspace under a policy, judged
/// from the counts it judges by now: the names, by move.
#[derive(Default)]
struct Effect {
    suspend: Vec<String>,
    withdraw: Vec<String>,
    review: Vec<String>,
    back: Vec<String>,
}

impl Effect {
    fn total(&self) -> usize {
        self.suspend.len() + self.withdraw.len() + self.review.len() + self.back.len()
    }
}

fn effect(
    policy: &Policy,
    counts: &HashMap<WorkspaceId, sendwell_core::reputation::Counts>,
    workspaces: &[Workspace],
) -> Effect {
    let mut out = Effect::default();
    for w in workspaces {
        let c = counts.get(&w.id).copied().unwrap_or_default();
        let list = match judge(policy, &c, policy.min_sends).move_for(w.state) {
            Some(Move::Suspend) => &mut out.suspend,
            Some(Move::Withdraw) => &mut out.withdraw,
            Some(Move::OpenReview) => &mut out.review,
            Some(Move::CloseReview) => &mut out.back,
            None => continue,
        };
        list.push(w.name.clone());
    }
    for list in [
        &mut out.suspend,
        &mut out.withdraw,
        &mut out.review,
        &mut out.back,
    ] {
        list.sort();
    }
    out
}

async fn preview(state: &AppState, current: &Policy, proposed: &Policy) -> Reply<Markup> {
    let workspaces = state.store.all_workspaces().await.map_err(internal)?;
    let now_counts = state
        .store
        .judged_counts_all(current.window_days)
        .await
        .map_err(internal)?;
    let new_counts = if proposed.window_days == current.window_days {
        None
    } else {
        Some(
            state
                .store
                .judged_counts_all(proposed.window_days)
                .await
                .map_err(internal)?,
        )
    };
    let before = effect(current, &now_counts, &workspaces);
    let after = effect(
        proposed,
        new_counts.as_ref().unwrap_or(&now_counts),
        &workspaces,
    );
    let line = |what: &str, names: &[String], now: usize| {
        markup! {
            li {
                strong { (names.len()) " " (what) }
                " (" (now) " with the lines in force)"
                @if !names.is_empty() { ": " (names.join(", ")) }
            }
        }
    };
    Ok(markup! {
        section #policy-effect aria-labelledby="effect-heading" role="status" {
            h2 #effect-heading { "What this policy would do now" }
            p { "Judged from every workspace's rates as they are now, and its state:" }
            ul {
                (line("workspaces would be under review", &after.review, before.review.len()))
                (line("would be suspended", &after.suspend, before.suspend.len()))
                (line("on probation would be withdrawn", &after.withdraw, before.withdraw.len()))
                (line("would leave review", &after.back, before.back.len()))
            }
            @if after.total() == 0 { p { "No workspace would change state." } }
            p.hint { "Saving moves no workspace at once: the monitor judges each by the lines in force at its next send, bounce or complaint." }
        }
    })
}

fn policy_form(
    who: &OperatorSigned,
    values: &HashMap<String, String>,
    errors: &HashMap<String, String>,
) -> Markup {
    if !who.may_act() {
        return markup! {
            dl.facts {
                @for (name, label, _, _) in FIELDS {
                    dt { (label) } dd { (values.get(name).map(String::as_str).unwrap_or("")) }
                }
            }
        };
    }
    markup! {
        form method="post" action="/operator/policy" {
            (csrf(who))
            @for (name, label, hint, _) in FIELDS {
                (field(name, label, "text", values.get(name).map(String::as_str).unwrap_or(""),
                    errors.get(name).map(String::as_str),
                    FieldExtra { hint: (!hint.is_empty()).then_some(hint), required: true, ..Default::default() }))
            }
            button type="submit" name="action" value="preview" { "Preview the effect" }
            " "
            button type="submit" name="action" value="save" { "Save the policy" }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn policy_page(state: &AppState, who: &OperatorSigned, done: Option<&str>) -> Reply {
    let policy = state.store.policy().await.map_err(internal)?;
    let values: HashMap<String, String> = FIELDS
        .iter()
        .map(|(name, ..)| ((*name).to_owned(), shown(&policy, name)))
        .collect();
    let body = markup! {
        (notice(done))
        p { "The lines the reputation monitor judges every workspace by. Preview a change to see which workspaces it would move before you save it." }
        (policy_form(who, &values, &HashMap::new()))
    };
    Ok(html(
        StatusCode::OK,
        frame(who, "Policy", "Enforcement policy", body),
    ))
}

pub async fn page(
    State(state): State<AppState>,
    who: OperatorSigned,
    Query(q): Query<DoneQuery>,
) -> Reply {
    let done = (q.done.as_deref() == Some("saved")).then_some("The policy is saved.");
    policy_page(&state, &who, done).await
}

pub async fn save(State(state): State<AppState>, posted: OperatorPosted<PolicyForm>) -> Reply {
    let OperatorPosted { who, form } = posted;
    let current = state.store.policy().await.map_err(internal)?;
    let proposed = match parse_policy(&form.fields) {
        Ok(p) => p,
        Err(errors) => {
            let body = markup! {
                p.error role="alert" { "The policy was not saved: a field below says what to change." }
                (policy_form(&who, &form.fields, &errors))
            };
            return Ok(html(
                StatusCode::UNPROCESSABLE_ENTITY,
                frame(&who, "Policy", "Enforcement policy", body),
            ));
        }
    };
    if form.action == "save" {
        let _saved = crate::extract::call(state.clone(), who.caller(), |c| {
            crate::api::enforcement::put_policy(c, ApiJson(proposed))
        })
        .await
        .map_err(|e| api_error(&who, e))?;
        return Ok(redirect("/operator/policy?done=saved"));
    }
    let effect = preview(&state, &current, &proposed).await?;
    let body = markup! {
        p.notice role="status" { "Not saved yet: this is what the policy below would do. Save it to put it in force." }
        (policy_form(&who, &form.fields, &HashMap::new()))
        (effect)
    };
    Ok(html(
        StatusCode::OK,
        frame(&who, "Policy", "Enforcement policy", body),
    ))
}

#[derive(Deserialize)]
pub struct PublishForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    grace_days: String,
}

/// Which version each workspace accepted.
fn acceptance(workspaces: &[Workspace], current: i64) -> Markup {
    markup! {
            section aria-labelledby="accept-heading" {
                h2 #accept-heading { "Acceptance by workspace" }
                table {
                    caption { "Which version each workspace accepted" }
                    thead { tr { th scope="col" { "Workspace" } th scope="col" { "Accepted" } th scope="col" { "Grace until" } th scope="col" { "State" } } }
                    tbody { @for w in workspaces { tr {
                        td { a href=(format!("/operator/workspaces/{}", w.id)) { (w.name) } }
                        td { @match w.accepted_guidelines {
                            Some(v) if v == current => { "version " (v) " (current)" },
                            Some(v) => { "version " (v) " (not the current one)" },
                            None => "none",
                        } }
                        td { (w.guidelines_grace_until.map(when).unwrap_or_default()) }
                        td { (w.state.as_str().replace('_', " ")) }
                    } } }
                }
            }
    }
}

async fn guidelines_page(
    state: &AppState,
    who: &OperatorSigned,
    draft: Option<(&PublishForm, Option<(&str, String)>)>,
    done: Option<&str>,
) -> Reply {
    let current = state.store.current_guidelines().await.map_err(internal)?;
    let mut workspaces = state.store.all_workspaces().await.map_err(internal)?;
    // Those that have not accepted the current version first.
    workspaces.sort_by_key(|w| {
        (
            w.accepted_guidelines == Some(current.version),
            w.name.to_lowercase(),
        )
    });
    let accepted = workspaces
        .iter()
        .filter(|w| w.accepted_guidelines == Some(current.version))
        .count();
    let (text, grace) = match draft {
        Some((f, _)) => (f.text.clone(), f.grace_days.clone()),
        None => (current.text.clone(), DEFAULT_GRACE_DAYS.to_string()),
    };
    let previewing = draft
        .as_ref()
        .is_some_and(|(f, e)| f.action == "preview" && e.is_none());
    let error = draft.and_then(|(_, e)| e);
    let error_at = |pointer: &str| {
        error
            .as_ref()
            .filter(|(p, _)| *p == pointer)
            .map(|(_, d)| d.as_str())
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = markup! {
        (notice(done))
        section aria-labelledby="current-heading" {
            h2 #current-heading { "Version " (current.version) " (in force)" }
            p { "Published " (when(current.published_at)) " by " (current.published_by) ". "
                (accepted) " of " (workspaces.len()) " workspaces accepted it." }
            div.guidelines tabindex="0" role="region" aria-label="The guidelines in force" {
                (markdown::render(&current.text))
            }
        }
        @if who.may_act() {
            section aria-labelledby="publish-heading" {
                h2 #publish-heading { "Publish a new version" }
                p { "Every workspace must accept the new version. Those that accepted an earlier one send as before during the grace period and are reminded; transactional mail is never stopped by a new version." }
                @if previewing {
                    h3 { "Preview" }
                    div.guidelines #guidelines-preview tabindex="0" role="region" aria-label="Preview of the new version" {
                        (markdown::render(&text))
                    }
                }
                form method="post" action="/operator/guidelines" {
                    (csrf(who))
                    (field("text", "Guidelines text (Markdown)", "textarea", &text, error_at("/text"),
                        FieldExtra { required: true, ..Default::default() }))
                    (field("grace_days", "Grace period (days)", "text", &grace, error_at("/grace_days"),
                        FieldExtra { hint: Some("0 to 90 days."), required: true, ..Default::default() }))
                    button type="submit" name="action" value="preview" { "Preview" }
                    " "
                    button type="submit" name="action" value="publish" { "Publish" }
                }
            }
        }
        (acceptance(&workspaces, current.version))
    };
    Ok(html(status, frame(who, "Guidelines", "Guidelines", body)))
}

pub async fn guidelines(
    State(state): State<AppState>,
    who: OperatorSigned,
    Query(q): Query<DoneQuery>,
) -> Reply {
    let done = q
        .done
        .as_deref()
        .filter(|d| d.starts_with("published"))
        .map(|_| "The new version is published; every workspace is asked to accept it.");
    guidelines_page(&state, &who, None, done).await
}

pub async fn publish(State(state): State<AppState>, posted: OperatorPosted<PublishForm>) -> Reply {
    let OperatorPosted { who, form } = posted;
    let grace = match form.grace_days.trim() {
        "" => Ok(None),
        t => t.parse::<u32>().map(Some).map_err(|_| {
            (
                "/grace_days",
                format!("Give a whole number of days, 0 to 90; '{t}' was given."),
            )
        }),
    };
    let grace = match grace {
        Ok(g) => g,
        Err(e) => return guidelines_page(&state, &who, Some((&form, Some(e))), None).await,
    };
    if form.action != "publish" {
        return guidelines_page(&state, &who, Some((&form, None)), None).await;
    }
    let request = PublishGuidelines {
        text: form.text.clone(),
        grace_days: grace,
    };
    match crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::operator::publish_guidelines(c, ApiJson(request))
    })
    .await
    {
        Ok(_) => Ok(redirect("/operator/guidelines?done=published")),
        Err(e) => match e.field_errors().first() {
            Some(p) => {
                let pointer = if p.pointer == "/text" {
                    "/text"
                } else {
                    "/grace_days"
                };
                let problem = Some((pointer, p.detail.clone()));
                guidelines_page(&state, &who, Some((&form, problem)), None).await
            }
            None => Err(api_error(&who, e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_is_read_in_percent_and_checked_by_its_own_rules() {
        let mut fields: HashMap<String, String> = FIELDS
            .iter()
            .map(|(n, ..)| ((*n).to_owned(), shown(&Policy::default(), n)))
            .collect();
        assert_eq!(parse_policy(&fields), Ok(Policy::default()));
        fields.insert("review_hard_bounce_rate".into(), "12".into());
        let errors = parse_policy(&fields).expect_err("review over suspend");
        assert!(errors["review_hard_bounce_rate"].contains("below the suspend line"));
        fields.insert("review_hard_bounce_rate".into(), "abc".into());
        let errors = parse_policy(&fields).expect_err("not a number");
        assert!(errors["review_hard_bounce_rate"].contains("'abc'"));
    }
}
