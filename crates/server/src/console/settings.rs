//! Settings: the workspace's members (invite, change a role, remove), its
//! API keys (a new one shown once; revoke), webhook endpoints (the secret
//! shown once; the delivery log; remove), the opt-in landing page (admins
//! only), and the audit log. Every change goes through the API's handler.

use super::layout::{self, csrf, field, notice, post_button, when, ButtonKind, FieldExtra};
use super::session::Posted;
use super::{html, redirect, Reply, Signed};
use crate::accounts::{self, member_error_text};
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::FromRequest;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use maud::{html as markup, Markup};
use sendwell_core::{AccountId, EmailAddress, Permission, Role};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct SettingsQuery {
    done: Option<String>,
}

/// What the page shows after an action: the invite form again with its
/// refusal, another form's refusal, or what is shown once after a success
/// (an invite link, a new key, a webhook's secret).
#[derive(Default)]
struct Shown<'a> {
    email: &'a str,
    role: &'a str,
    error: Option<String>,
    /// The link of an invite just made, shown once.
    invite_url: Option<String>,
    /// A form's refusal, by form: (form, message).
    refused: Option<(&'static str, String)>,
    /// A new API key or webhook secret, shown once: (what, secret).
    revealed: Option<(&'static str, String)>,
}

const ROLES: [(Role, &str); 3] = [
    (Role::Admin, "Admin: everything, members and keys included"),
    (Role::Sender, "Sender: contacts, consent, messages"),
    (Role::Viewer, "Viewer: reads only"),
];

pub async fn page(
    State(state): State<AppState>,
    who: Signed,
    Query(q): Query<SettingsQuery>,
) -> Reply {
    let done = match q.done.as_deref() {
        Some("role") => Some("The role is changed."),
        Some("removed") => Some("The member is removed; their sessions in this workspace ended."),
        Some("revoked") => {
            Some("The API key is revoked; programs using it are refused from now on.")
        }
        Some("webhook-removed") => Some("The webhook endpoint is removed."),
        Some("landing") => Some("The opt-in landing page is saved."),
        Some("totp-on") => Some("Two-step sign-in is on."),
        Some("totp-off") => Some("Two-step sign-in is off."),
        _ => None,
    };
    render(&state, &who, Shown::default(), done, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    who: &Signed,
    invite: Shown<'_>,
    done: Option<&str>,
    status: StatusCode,
) -> Reply {
    let ws = &who.workspace.id;
    let audit = state
        .store
        .audit_log_newest(ws, 50)
        .await
        .map_err(super::internal)?;
    let admin = who.can(Permission::ManageKeys);
    // What only admins see is read only for them.
    let (members, keys, hooks) = if admin {
        let store = &state.store;
        (
            store.list_members(ws).await.map_err(super::internal)?,
            store.list_api_keys(ws).await.map_err(super::internal)?,
            store.webhook_endpoints(ws).await.map_err(super::internal)?,
        )
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    let body = markup! {
        (notice(done))
        @if admin {
            (members_section(who, &members, &invite))
            (keys_section(who, &keys, &invite))
            (webhooks_section(who, &hooks, &invite))
            (landing_section(who, &invite))
        } @else {
            p { "Members and API keys are managed by the workspace's admins." }
        }
        section aria-labelledby="totp-heading" {
            h2 #totp-heading { "Two-step sign-in" }
            @if who.account.totp_secret.is_some() {
                p.ok { "On: signing in asks for a code from your authenticator app." }
                form method="post" action="/settings/totp/off" {
                    (csrf(who))
                    (field("off_code", "Code to turn it off", "text", "", refusal(&invite, "totp-off"),
                        FieldExtra { autocomplete: Some("one-time-code"), required: true, ..Default::default() }))
                    button type="submit" { "Turn two-step sign-in off" }
                }
            } @else {
                p { "Off. With it on, signing in also asks for a six-digit code from an authenticator app on your phone, so a stolen password is not enough. "
                    a href="/settings/totp" { "Set up two-step sign-in" } }
            }
        }
        section aria-labelledby="audit-heading" {
            h2 #audit-heading { "Audit log" }
            table {
                caption { "The last 50 changes, newest first" }
                thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "Details" } } }
                tbody {
                    @for e in &audit {
                        tr { td { (when(e.created_at)) } td { (e.actor) } td { (e.action) } td { (e.reason) } }
                    }
                }
            }
        }
    };
    Ok(html(
        status,
        layout::page(who, "Settings", "Settings", body),
    ))
}

fn members_section(who: &Signed, members: &[sendwell_store::Member], invite: &Shown) -> Markup {
    markup! {
        section aria-labelledby="members-heading" {
            h2 #members-heading { "Members" }
            table {
                caption { "People who sign in to this workspace" }
                thead { tr {
                    th scope="col" { "Email" } th scope="col" { "Name" } th scope="col" { "Status" }
                    th scope="col" { "Role" } th scope="col" { "Remove" }
                } }
                tbody {
                    @for m in members {
                        tr {
                            td { (m.email) }
                            td { (m.name) }
                            td {
                                @if m.active { "active" } @else {
                                    "invited "
                                    (post_button(who, &format!("/settings/members/{}/reinvite", m.account_id),
                                        ButtonKind::Link, &format!("New invite link for {}", m.email)))
                                }
                            }
                            td {
                                form.inline method="post" action=(format!("/settings/members/{}/role", m.account_id)) {
                                    (csrf(who))
                                    label.visually-hidden for=(format!("role-{}", m.account_id)) { "Role of " (m.email) }
                                    select id=(format!("role-{}", m.account_id)) name="role" {
                                        @for (role, _) in ROLES {
                                            option value=(role.as_str()) selected[role == m.role] { (role.as_str()) }
                                        }
                                    }
                                    button type="submit" { "Change role of " (m.email) }
                                }
                            }
                            td {
                                @if m.account_id != who.account.id {
                                    (post_button(who, &format!("/settings/members/{}/remove", m.account_id),
                                        ButtonKind::Danger, &format!("Remove {}", m.email)))
                                }
                            }
                        }
                    }
                }
            }
            h3 { "Invite someone" }
            @if let Some(url) = &invite.invite_url {
                div.notice role="status" {
                    p { "Invited. We mailed them this link; you can also pass it on yourself. It works once, for " (accounts::INVITE_DAYS) " days:" }
                    p { code.wrap #invite-url { (url) } }
                }
            }
            form method="post" action="/settings/members" {
                (csrf(who))
                (field("email", "Email", "email", invite.email, invite.error.as_deref(),
                    FieldExtra { required: true, autocomplete: Some("off"), ..Default::default() }))
                fieldset {
                    legend { "Role" }
                    @for (role, what) in ROLES {
                        div {
                            input type="radio" name="role" id=(format!("invite-{}", role.as_str())) value=(role.as_str())
                                checked[invite.role == role.as_str() || (invite.role.is_empty() && role == Role::Sender)];
                            label for=(format!("invite-{}", role.as_str())) { (what) }
                        }
                    }
                }
                button type="submit" { "Invite" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

pub async fn invite(State(state): State<AppState>, posted: Posted<InviteForm>) -> Reply {
    let Posted { who, form } = posted;
    who.require(Permission::ManageKeys)?;
    let again = |error: String| Shown {
        email: &form.email,
        role: &form.role,
        error: Some(error),
        ..Shown::default()
    };
    let email = match EmailAddress::parse(form.email.trim()) {
        Ok(e) => e,
        Err(e) => {
            return render(
                &state,
                &who,
                again(e.to_string()),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let Some(role) = Role::parse(&form.role) else {
        let text = format!("role '{}' is not one of admin, sender, viewer", form.role);
        return render(
            &state,
            &who,
            again(text),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    if !accounts::invite_allowed(&state, &who.workspace.id) {
        let text = accounts::too_many_invites();
        return render(
            &state,
            &who,
            again(text),
            None,
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
    }
    let invited = accounts::invite(&state, &who.workspace.id, email.key(), role, &who.actor())
        .await
        .map_err(super::internal)?;
    match invited {
        Ok(invited) => {
            let done = invited.invite_url.is_none().then_some(
                "They have an account already: they are added, and sign in with their own password. We mailed them.",
            );
            let shown = Shown {
                invite_url: invited.invite_url,
                ..Shown::default()
            };
            render(&state, &who, shown, done, StatusCode::OK).await
        }
        Err(e) => {
            let text = member_error_text(e).to_owned();
            render(&state, &who, again(text), None, StatusCode::CONFLICT).await
        }
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

fn member_id(who: &Signed, id: &str) -> Result<AccountId, axum::response::Response> {
    AccountId::parse(id).map_err(|_| {
        super::error_page(
            who,
            StatusCode::NOT_FOUND,
            "No such member",
            member_error_text(sendwell_store::MemberError::NotFound),
        )
    })
}

pub async fn change_role(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<RoleForm>,
) -> Reply {
    let Posted { who, form } = posted;
    who.require(Permission::ManageKeys)?;
    let account = member_id(&who, &id)?;
    let Some(role) = Role::parse(&form.role) else {
        return Err(super::error_page(
            &who,
            StatusCode::UNPROCESSABLE_ENTITY,
            "No such role",
            &format!("role '{}' is not one of admin, sender, viewer", form.role),
        ));
    };
    state
        .store
        .set_member_role(&who.workspace.id, &account, role, &who.actor())
        .await
        .map_err(super::internal)?
        .map_err(|e| {
            super::error_page(
                &who,
                StatusCode::CONFLICT,
                "The role was not changed",
                member_error_text(e),
            )
        })?;
    Ok(redirect("/settings?done=role"))
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Reply {
    let who = posted.who;
    who.require(Permission::ManageKeys)?;
    let account = member_id(&who, &id)?;
    let removed = state
        .store
        .remove_member(&who.workspace.id, &account, &who.actor())
        .await
        .map_err(super::internal)?
        .map_err(|e| {
            super::error_page(
                &who,
                StatusCode::CONFLICT,
                "The member was not removed",
                member_error_text(e),
            )
        })?;
    // Their sessions ended; API keys they made did not. Say which, so the
    // admin can revoke them below.
    let theirs = format!("member:{}", removed.email);
    let ws = &who.workspace.id;
    let keys = state
        .store
        .list_api_keys(ws)
        .await
        .map_err(super::internal)?;
    let hooks = state
        .store
        .webhook_endpoints(ws)
        .await
        .map_err(super::internal)?;
    let made_by_them = |by: &Option<String>| by.as_deref() == Some(theirs.as_str());
    let left: Vec<String> = keys
        .into_iter()
        .filter(|k| k.revoked_at.is_none() && made_by_them(&k.created_by))
        .map(|k| format!("the API key {}", k.name))
        .chain(
            hooks
                .into_iter()
                .filter(|h| made_by_them(&h.created_by))
                .map(|h| format!("the webhook to {}", h.url)),
        )
        .collect();
    if left.is_empty() {
        return Ok(redirect("/settings?done=removed"));
    }
    let notice = format!(
        "{} is removed and their sessions ended. What they made still works until removed: {}. Revoke or remove it below if {} should lose all access.",
        removed.email,
        left.join(", "),
        removed.email
    );
    render(
        &state,
        &who,
        Shown::default(),
        Some(&notice),
        StatusCode::OK,
    )
    .await
}

fn refusal<'a>(shown: &'a Shown, form: &str) -> Option<&'a str> {
    shown
        .refused
        .as_ref()
        .filter(|(f, _)| *f == form)
        .map(|(_, e)| e.as_str())
}

fn revealed(shown: &Shown, what: &str) -> Markup {
    markup! {
        @if let Some((_, secret)) = shown.revealed.as_ref().filter(|(w, _)| *w == what) {
            div.notice role="status" {
                p { "Copy it now: it is shown only this once." }
                p { code.wrap #revealed-secret { (secret) } }
            }
        }
    }
}

fn keys_section(who: &Signed, keys: &[sendwell_store::ApiKeyRecord], shown: &Shown) -> Markup {
    markup! {
        section aria-labelledby="keys-heading" {
            h2 #keys-heading { "API keys" }
            p { "Keys let programs use the API with the same roles as members." }
            (revealed(shown, "key"))
            table {
                caption { "API keys" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Made by" } th scope="col" { "Last used" } th scope="col" { "State" } } }
                tbody {
                    @for k in keys {
                        tr {
                            td { (k.name) } td { (k.role.as_str()) }
                            td { (k.created_by.as_deref().unwrap_or("")) }
                            td { (k.last_used_at.map(when).unwrap_or_default()) }
                            td {
                                @if k.revoked_at.is_some() { "revoked" } @else {
                                    (post_button(who, &format!("/settings/keys/{}/revoke", k.id),
                                        ButtonKind::Danger, &format!("Revoke {}", k.name)))
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/settings/keys" {
                (csrf(who))
                (field("key_name", "Key name", "text", "", refusal(shown, "key"),
                    FieldExtra { required: true, hint: Some("What uses it, such as \"CRM sync\"."), ..Default::default() }))
                @let roles: Vec<(&str, &str)> = ROLES.iter().map(|(r, what)| (r.as_str(), *what)).collect();
                (layout::select("key_role", "role", "Key role", &roles, Role::Sender.as_str()))
                button type="submit" { "Create key" }
            }
        }
    }
}

fn webhooks_section(
    who: &Signed,
    hooks: &[sendwell_store::WebhookEndpoint],
    shown: &Shown,
) -> Markup {
    markup! {
        section aria-labelledby="webhooks-heading" {
            h2 #webhooks-heading { "Webhooks" }
            p { "Events are POSTed to your endpoints, signed as Standard Webhooks describe; check the signature with the endpoint's secret." }
            (revealed(shown, "webhook"))
            @if !hooks.is_empty() {
                table {
                    caption { "Webhook endpoints" }
                    thead { tr { th scope="col" { "Address" } th scope="col" { "Events" } th scope="col" { "Deliveries" } th scope="col" { "Remove" } } }
                    tbody {
                        @for h in hooks {
                            tr {
                                td { (h.url) }
                                td { (h.events.join(", ")) }
                                td { a href=(format!("/settings/webhooks/{}", h.id)) { "Delivery log of " (h.url) } }
                                td {
                                    (post_button(who, &format!("/settings/webhooks/{}/remove", h.id),
                                        ButtonKind::Danger, &format!("Remove {}", h.url)))
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/settings/webhooks" {
                (csrf(who))
                (field("webhook_url", "Endpoint address", "url", "", refusal(shown, "webhook"),
                    FieldExtra { required: true, hint: Some("An https:// address on a public host."), ..Default::default() }))
                fieldset {
                    legend { "Events (all when none is ticked)" }
                    @for event in sendwell_store::WEBHOOK_EVENTS {
                        div {
                            input type="checkbox" name="events" value=(event) id=(format!("event-{event}"));
                            label for=(format!("event-{event}")) { (event.replace('_', " ")) }
                        }
                    }
                }
                button type="submit" { "Add endpoint" }
            }
        }
    }
}

fn landing_section(who: &Signed, shown: &Shown) -> Markup {
    let current = who.workspace.opt_in_landing_url.as_deref().unwrap_or("");
    markup! {
        section aria-labelledby="landing-heading" {
            h2 #landing-heading { "Opt-in landing page" }
            form method="post" action="/settings/landing" {
                (csrf(who))
                (field("opt_in_landing_url", "Landing page address", "url", current, refusal(shown, "landing"),
                    FieldExtra { hint: Some("Where the opt-in button sends a person after confirming; empty for sendwell's own thank-you page."), ..Default::default() }))
                button type="submit" { "Save landing page" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    key_name: String,
    #[serde(default)]
    role: String,
}

pub async fn create_key(State(state): State<AppState>, posted: Posted<KeyForm>) -> Reply {
    let Posted { who, form } = posted;
    who.require(Permission::ManageKeys)?;
    let req = crate::api::keys::CreateKey {
        name: form.key_name.clone(),
        role: form.role.clone(),
    };
    let made = crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::keys::create(c, ApiJson(req))
    })
    .await
    .map(|(_, created)| Some(created.0.api_key));
    show_once(&state, &who, "key", made).await
}

/// Settings again after making something whose secret is shown once (a
/// key, a webhook's signing secret), or with the refusal at its form.
async fn show_once(
    state: &AppState,
    who: &Signed,
    form: &'static str,
    made: Result<Option<String>, crate::error::ApiError>,
) -> Reply {
    let (shown, status) = match made {
        Ok(secret) => (
            Shown {
                revealed: secret.map(|s| (form, s)),
                ..Shown::default()
            },
            StatusCode::OK,
        ),
        Err(e) => (
            Shown {
                refused: Some((form, e.detail().to_owned())),
                ..Shown::default()
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    render(state, who, shown, None, status).await
}

pub async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Reply {
    let who = posted.who;
    let _revoked = crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::keys::revoke(c, Path(id))
    })
    .await
    .map_err(|e| super::home::api_error(&who, e))?;
    Ok(redirect("/settings?done=revoked"))
}

#[derive(Deserialize)]
pub struct WebhookForm {
    #[serde(default)]
    webhook_url: String,
    #[serde(default)]
    events: Vec<String>,
}

pub async fn create_webhook(State(state): State<AppState>, req: axum::extract::Request) -> Reply {
    // A form with several `events` fields: read as pairs, since the
    // urlencoded reader takes one value a name.
    let posted: Posted<Vec<(String, String)>> = Posted::from_request(req, &state).await?;
    let Posted { who, form: pairs } = posted;
    who.require(Permission::ManageKeys)?;
    let form = WebhookForm {
        webhook_url: pairs
            .iter()
            .find(|(k, _)| k == "webhook_url")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        events: pairs
            .iter()
            .filter(|(k, _)| k == "events")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    let req = crate::api::webhooks::EndpointRequest {
        url: form.webhook_url.clone(),
        events: (!form.events.is_empty()).then_some(form.events),
    };
    let made = crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::webhooks::create(c, ApiJson(req))
    })
    .await
    .map(|(_, created)| created.0.secret);
    show_once(&state, &who, "webhook", made).await
}

pub async fn remove_webhook(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Reply {
    let who = posted.who;
    crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::webhooks::remove(c, Path(id))
    })
    .await
    .map_err(|e| super::home::api_error(&who, e))?;
    Ok(redirect("/settings?done=webhook-removed"))
}

pub async fn webhook_log(
    State(state): State<AppState>,
    who: Signed,
    Path(id): Path<String>,
) -> Reply {
    let log = crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::webhooks::log(c, Path(id))
    })
    .await
    .map_err(|e| super::home::api_error(&who, e))?
    .0;
    let body = markup! {
        @if log.items.is_empty() {
            p { "Nothing sent to this endpoint yet." }
        } @else {
            table {
                caption { "Deliveries to this endpoint, newest first" }
                thead { tr {
                    th scope="col" { "Event" } th scope="col" { "State" } th scope="col" { "Attempts" }
                    th scope="col" { "Last answer" } th scope="col" { "Created" }
                } }
                tbody {
                    @for d in &log.items {
                        tr {
                            td { (d.event_type) } td { (d.state) } td { (d.attempts) }
                            td { (d.last_status.map(|s| s.to_string()).or(d.last_error.clone()).unwrap_or_default()) }
                            td { (d.created_at) }
                        }
                    }
                }
            }
        }
        p { a href="/settings" { "Back to settings" } }
    };
    Ok(html(
        StatusCode::OK,
        layout::page(&who, "Settings", "Webhook deliveries", body),
    ))
}

#[derive(Deserialize)]
pub struct LandingForm {
    #[serde(default)]
    opt_in_landing_url: String,
}

pub async fn set_landing(State(state): State<AppState>, posted: Posted<LandingForm>) -> Reply {
    let Posted { who, form } = posted;
    let patch = crate::api::workspace::WorkspacePatch {
        physical_address: None,
        opt_in_landing_url: Some(form.opt_in_landing_url.clone()),
        ..Default::default()
    };
    match crate::extract::call(state.clone(), who.caller(), |c| {
        crate::api::workspace::patch_workspace(c, ApiJson(patch))
    })
    .await
    {
        Ok(_) => Ok(redirect("/settings?done=landing")),
        Err(e) if e.status() == StatusCode::FORBIDDEN => Err(super::home::api_error(&who, e)),
        Err(e) => {
            let shown = Shown {
                refused: Some(("landing", e.detail().to_owned())),
                ..Shown::default()
            };
            render(&state, &who, shown, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

fn totp_setup(who: &Signed, secret: &[u8], error: Option<&str>) -> Markup {
    let key = crate::totp::base32(secret);
    let grouped: Vec<String> = key
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    markup! {
        ol {
            li { "In your authenticator app, add an account by its key (\"enter a setup key\")." }
            li { "Type this key: " code #totp-key { (grouped.join(" ")) } " (time-based, six digits), or open "
                 a href=(crate::totp::uri(secret, "sendwell", &who.account.email)) { "this setup link" } " on the phone." }
            li { "Type the code the app shows now." }
        }
        form method="post" action="/settings/totp" {
            (csrf(who))
            input type="hidden" name="secret" value=(sendwell_core::secret::to_hex(secret));
            (field("code", "Code from the app", "text", "", error,
                FieldExtra { autocomplete: Some("one-time-code"), required: true, ..Default::default() }))
            button type="submit" { "Turn two-step sign-in on" }
        }
    }
}

/// Refuses to change the second factor here when it was set up for the
/// delivery team: a workspace session (and the password) must never be
/// enough to replace or remove an operator's factor. A factor set up here
/// cannot be replaced either, only turned off with a code of its own.
async fn factor_changeable(
    state: &AppState,
    who: &Signed,
    turning_on: bool,
) -> Result<(), axum::response::Response> {
    let operator = state
        .store
        .operator(&who.account.id)
        .await
        .map_err(super::internal)?;
    if operator.is_some() {
        return Err(super::error_page(
            who,
            StatusCode::FORBIDDEN,
            "Not here",
            "Your two-step sign-in belongs to your delivery team account and cannot be changed from a workspace. Ask the platform's operator for a new setup link (sendwell operator add-user).",
        ));
    }
    if turning_on && who.account.totp_secret.is_some() {
        return Err(super::error_page(
            who,
            StatusCode::CONFLICT,
            "Already on",
            "Two-step sign-in is on already. To use another phone, turn it off with a code from the current one, then set it up again.",
        ));
    }
    Ok(())
}

pub async fn totp_page(State(state): State<AppState>, who: Signed) -> Reply {
    factor_changeable(&state, &who, true).await?;
    let secret = crate::totp::new_secret();
    let body = totp_setup(&who, &secret, None);
    Ok(html(
        StatusCode::OK,
        layout::page(&who, "Settings", "Set up two-step sign-in", body),
    ))
}

#[derive(Deserialize)]
pub struct TotpOnForm {
    #[serde(default)]
    secret: String,
    #[serde(default)]
    code: String,
}

pub async fn totp_on(State(state): State<AppState>, posted: Posted<TotpOnForm>) -> Reply {
    let Posted { who, form } = posted;
    factor_changeable(&state, &who, true).await?;
    let secret = sendwell_core::secret::from_hex(&form.secret)
        .filter(|s| s.len() >= 16 && s.len() <= 64)
        .ok_or_else(|| {
            super::error_page(
                &who,
                StatusCode::BAD_REQUEST,
                "Start again",
                "The setup key was not sent whole; open the setup page again.",
            )
        })?;
    if !super::auth::use_code(&state, &who.account.id, &secret, &form.code) {
        let body = totp_setup(
            &who,
            &secret,
            Some("This code does not match the key: check the app's clock, and type the code it shows now."),
        );
        return Ok(html(
            StatusCode::UNPROCESSABLE_ENTITY,
            layout::page(&who, "Settings", "Set up two-step sign-in", body),
        ));
    }
    state
        .store
        .set_totp_secret(&who.account, Some(&form.secret.to_ascii_lowercase()))
        .await
        .map_err(super::internal)?;
    Ok(redirect("/settings?done=totp-on"))
}

#[derive(Deserialize)]
pub struct TotpOffForm {
    #[serde(default)]
    off_code: String,
}

pub async fn totp_off(State(state): State<AppState>, posted: Posted<TotpOffForm>) -> Reply {
    let Posted { who, form } = posted;
    factor_changeable(&state, &who, false).await?;
    let secret = who
        .account
        .totp_secret
        .as_deref()
        .and_then(sendwell_core::secret::from_hex);
    let Some(secret) = secret else {
        return Ok(redirect("/settings"));
    };
    if !super::auth::use_code(&state, &who.account.id, &secret, &form.off_code) {
        let shown = Shown {
            refused: Some((
                "totp-off",
                "This code is not right; type the code your app shows now.".to_owned(),
            )),
            ..Shown::default()
        };
        return render(&state, &who, shown, None, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    state
        .store
        .set_totp_secret(&who.account, None)
        .await
        .map_err(super::internal)?;
    Ok(redirect("/settings?done=totp-off"))
}

pub async fn reinvite(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Empty>,
) -> Reply {
    let who = posted.who;
    who.require(Permission::ManageKeys)?;
    let account = member_id(&who, &id)?;
    let invited =
        crate::api::members::reinvite_member(&state, &who.workspace.id, &account, &who.actor())
            .await
            .map_err(|e| super::home::api_error(&who, e))?;
    let shown = Shown {
        invite_url: invited.invite_url,
        ..Shown::default()
    };
    render(&state, &who, shown, None, StatusCode::OK).await
}
