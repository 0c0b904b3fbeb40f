//! Settings: the workspace's members (invite, change a role, remove; admins
//! only), its API keys (never their secrets) and its audit log.

use super::layout::{self, csrf, field, notice, when, FieldExtra};
use super::session::Posted;
use super::{html, redirect, Reply, Signed};
use crate::accounts::{self, member_error_text};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use maud::{html as markup, Markup};
use sendwell_core::{AccountId, EmailAddress, Permission, Role};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct SettingsQuery {
    done: Option<String>,
}

/// What the invite form shows again after a refusal.
#[derive(Default)]
struct InviteState<'a> {
    email: &'a str,
    role: &'a str,
    error: Option<String>,
    /// The link of an invite just made, shown once.
    invite_url: Option<String>,
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
        _ => None,
    };
    render(&state, &who, InviteState::default(), done, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    who: &Signed,
    invite: InviteState<'_>,
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
    let members = if admin {
        state
            .store
            .list_members(ws)
            .await
            .map_err(super::internal)?
    } else {
        Vec::new()
    };
    let keys = if admin {
        state
            .store
            .list_api_keys(ws)
            .await
            .map_err(super::internal)?
    } else {
        Vec::new()
    };
    let body = markup! {
        (notice(done))
        @if admin {
            (members_section(who, &members, &invite))
            section aria-labelledby="keys-heading" {
                h2 #keys-heading { "API keys" }
                p { "Keys let programs use the API. A key is shown once, when it is made (POST /v1/api-keys)." }
                table {
                    caption { "API keys" }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Last used" } th scope="col" { "State" } } }
                    tbody {
                        @for k in &keys {
                            tr {
                                td { (k.name) } td { (k.role.as_str()) }
                                td { (k.last_used_at.map(when).unwrap_or_default()) }
                                td { @if k.revoked_at.is_some() { "revoked" } @else { "live" } }
                            }
                        }
                    }
                }
            }
        } @else {
            p { "Members and API keys are managed by the workspace's admins." }
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

fn members_section(
    who: &Signed,
    members: &[sendwell_store::Member],
    invite: &InviteState,
) -> Markup {
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
                            td { @if m.active { "active" } @else { "invited" } }
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
                                    form.inline method="post" action=(format!("/settings/members/{}/remove", m.account_id)) {
                                        (csrf(who))
                                        button.danger type="submit" { "Remove " (m.email) }
                                    }
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
    let again = |error: String| InviteState {
        email: &form.email,
        role: &form.role,
        error: Some(error),
        invite_url: None,
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
    let invited = accounts::invite(&state, &who.workspace.id, email.key(), role, &who.actor())
        .await
        .map_err(super::internal)?;
    match invited {
        Ok(invited) => {
            let shown = InviteState {
                invite_url: Some(invited.invite_url),
                ..InviteState::default()
            };
            render(&state, &who, shown, None, StatusCode::OK).await
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
    state
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
    Ok(redirect("/settings?done=removed"))
}
