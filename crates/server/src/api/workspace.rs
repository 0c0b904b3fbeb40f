//! The caller's own workspace: its details, physical address, sending
//! status and audit log.

use super::Page;
use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, ApiQuery, Ws};
use crate::state::AppState;
use axum::Json;
use sendwell_core::gate::{self, SendingStatus};
use sendwell_core::text::PhysicalAddress;
use sendwell_core::WorkspaceId;
use sendwell_store::{AuditEntry, Workspace};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Serialize, ToSchema)]
pub struct GuidelinesState {
    /// The version every workspace must have accepted to send.
    pub current_version: i64,
    /// The newest version an admin of this workspace accepted, if any.
    pub accepted_version: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct WorkspaceView {
    pub id: String,
    pub name: String,
    /// `onboarding`, `active`, `under_review`, `suspended`, `probation` or `withdrawn`.
    pub state: String,
    pub physical_address: Option<String>,
    /// Where the opt-in button sends a person after confirming (else a thank-you page).
    pub opt_in_landing_url: Option<String>,
    /// Local hours in which no bulk mail reaches a person.
    pub quiet_hours: Option<String>,
    /// The time zone of contacts without a `timezone` attribute (UTC when unset).
    pub timezone: Option<String>,
    /// The engagement sunset, `mails/days`, when on.
    pub sunset: Option<String>,
    /// The daily cap on bulk mail while the workspace warms up; absent
    /// once warm-up is over or lifted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupView>,
    pub guidelines: GuidelinesState,
    pub can_send: bool,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct WarmupView {
    /// Bulk mails (marketing, opt-in requests) a UTC day.
    pub cap_per_day: u64,
    /// Of them, let through today.
    pub used_today: u64,
}

impl WorkspaceView {
    pub fn from(ws: &Workspace, now: sendwell_core::Timestamp) -> Self {
        Self {
            id: ws.id.to_string(),
            name: ws.name.clone(),
            state: ws.state.as_str().to_owned(),
            physical_address: ws.physical_address.clone(),
            opt_in_landing_url: ws.opt_in_landing_url.clone(),
            quiet_hours: ws.quiet_hours.clone(),
            timezone: ws.timezone.clone(),
            sunset: ws.sunset.map(sendwell_store::Sunset::as_text),
            warmup: ws.warmup.cap.map(|cap| WarmupView {
                cap_per_day: cap,
                used_today: if ws.warmup.day == now.millis() / 86_400_000 {
                    ws.warmup.used
                } else {
                    0
                },
            }),
            guidelines: GuidelinesState {
                current_version: ws.current_guidelines,
                accepted_version: ws.accepted_guidelines,
            },
            can_send: gate::evaluate(ws.gate_input(now)).can_send(),
            created_at: ws.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BlockerView {
    pub code: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct SendingStatusView {
    /// Whether marketing and opt-in requests may go.
    pub can_send: bool,
    /// Whether transactional mail may go (outdated guidelines stop bulk
    /// mail only).
    pub can_send_transactional: bool,
    /// Every reason the workspace cannot send now, each with how to clear it.
    pub blockers: Vec<BlockerView>,
    /// What to do soon, before it blocks (a new version of the guidelines
    /// within its grace period).
    pub reminders: Vec<BlockerView>,
}

impl SendingStatusView {
    pub fn from(status: &SendingStatus) -> Self {
        Self {
            can_send: status.can_send(),
            can_send_transactional: status.can_send_transactional(),
            reminders: blocker_views(&status.reminders),
            blockers: blocker_views(&status.blockers),
        }
    }
}

fn blocker_views(blockers: &[gate::Blocker]) -> Vec<BlockerView> {
    blockers
        .iter()
        .map(|b| BlockerView {
            code: b.code.to_owned(),
            message: b.message.clone(),
        })
        .collect()
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePatch {
    /// The business's physical postal address, printed in every footer.
    pub physical_address: Option<String>,
    /// Where the opt-in button sends a person after confirming: an https://
    /// (or http://) address; an empty string removes it.
    pub opt_in_landing_url: Option<String>,
    /// Local hours in which no bulk mail reaches a person, `HH:MM-HH:MM`
    /// (e.g. `21:00-08:00`); an empty string removes them.
    pub quiet_hours: Option<String>,
    /// The IANA time zone of contacts without a `timezone` attribute
    /// (e.g. `Europe/Berlin`); an empty string goes back to UTC.
    pub timezone: Option<String>,
    /// The engagement sunset, `mails/days` (e.g. `5/90`): marketing leaves
    /// out contacts sent that many marketing mails in that many days who
    /// opened and clicked none; an empty string turns it off.
    pub sunset: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub reason: String,
    pub created_at: String,
}

impl AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            actor: e.actor,
            action: e.action,
            from_state: e.from_state,
            to_state: e.to_state,
            reason: e.reason,
            created_at: e.created_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 1000; 50 when not given.
    pub limit: Option<i64>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_workspace, patch_workspace))
        .routes(routes!(sending_status))
        .routes(routes!(audit_log))
}

pub(crate) async fn load(state: &AppState, id: &WorkspaceId) -> ApiResult<Workspace> {
    state
        .store
        .workspace(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("There is no workspace {id}.")))
}

/// The workspace the API key belongs to.
#[utoipa::path(get, path = "/v1/workspace", tag = "workspace", security(("bearer" = [])),
    responses((status = 200, body = WorkspaceView), (status = 401, body = crate::error::Problem)))]
pub async fn get_workspace(
    Ws { state, caller, .. }: Ws<can::Read>,
) -> ApiResult<Json<WorkspaceView>> {
    let ws = load(&state, caller.workspace()).await?;
    Ok(Json(WorkspaceView::from(&ws, state.store.now())))
}

/// Updates the workspace's physical postal address (admin).
#[utoipa::path(patch, path = "/v1/workspace", tag = "workspace", security(("bearer" = [])),
    request_body = WorkspacePatch,
    responses((status = 200, body = WorkspaceView), (status = 422, body = crate::error::Problem)))]
pub async fn patch_workspace(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    ApiJson(patch): ApiJson<WorkspacePatch>,
) -> ApiResult<Json<WorkspaceView>> {
    if patch.physical_address.is_none()
        && patch.opt_in_landing_url.is_none()
        && patch.quiet_hours.is_none()
        && patch.timezone.is_none()
        && patch.sunset.is_none()
    {
        return Err(ApiError::invalid(
            "Nothing to change: send one or more of {\"physical_address\": \"...\", \"opt_in_landing_url\": \"https://...\", \"quiet_hours\": \"21:00-08:00\", \"timezone\": \"Europe/Berlin\", \"sunset\": \"5/90\"}.",
        ));
    }
    // Everything is checked before anything is written.
    let address = patch
        .physical_address
        .as_deref()
        .map(|raw| {
            PhysicalAddress::parse(raw)
                .map_err(|e| ApiError::invalid_field("/physical_address", e.to_string()))
        })
        .transpose()?;
    let landing = patch
        .opt_in_landing_url
        .as_deref()
        .map(parse_landing_url)
        .transpose()?;
    let quiet = patch
        .quiet_hours
        .as_deref()
        .map(|q| {
            let q = q.trim();
            if q.is_empty() {
                return Ok(None);
            }
            crate::schedule::parse_quiet_hours(q)
                .map(|span| Some(format!("{}-{}", span.start, span.end)))
                .map_err(|e| ApiError::invalid_field("/quiet_hours", e))
        })
        .transpose()?;
    let zone = patch
        .timezone
        .as_deref()
        .map(|z| {
            if z.trim().is_empty() {
                return Ok(None);
            }
            sendwell_core::schedule::Zone::parse(z)
                .map(|z| Some(z.name().to_owned()))
                .map_err(|e| ApiError::invalid_field("/timezone", e.to_string()))
        })
        .transpose()?;
    let sunset = patch
        .sunset
        .as_deref()
        .map(|s| {
            if s.trim().is_empty() {
                return Ok(None);
            }
            sendwell_store::Sunset::parse(s)
                .map(|s| Some(s.as_text()))
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "/sunset",
                        format!("'{s}' is not a sunset: write mails/days, e.g. 5/90 (1 to 100 mails, 1 to 730 days), or an empty string to turn it off"),
                    )
                })
        })
        .transpose()?;
    let change = sendwell_store::SettingsChange {
        physical_address: address.as_ref(),
        opt_in_landing_url: landing.as_ref().map(Option::as_deref),
        quiet_hours: quiet.as_ref().map(Option::as_deref),
        timezone: zone.as_ref().map(Option::as_deref),
        sunset: sunset.as_ref().map(Option::as_deref),
    };
    if !state
        .store
        .update_workspace_settings(caller.workspace(), &change, &caller.actor())
        .await?
    {
        return Err(workspace_gone());
    }
    let ws = load(&state, caller.workspace()).await?;
    Ok(Json(WorkspaceView::from(&ws, state.store.now())))
}

fn workspace_gone() -> ApiError {
    ApiError::not_found("The workspace of this key no longer exists.")
}

/// The opt-in landing URL asked for: an http(s) address, or `None` (an
/// empty string) to remove it.
fn parse_landing_url(url: &str) -> ApiResult<Option<String>> {
    parse_http_url(url, "/opt_in_landing_url")
}

/// An http(s) address a person is sent on to, or `None` (an empty
/// string); `pointer` names the field in the error.
pub(crate) fn parse_http_url(url: &str, pointer: &str) -> ApiResult<Option<String>> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let lower = url.to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
        && url.len() <= 2000
        && !url
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '"' || c == '<' || c == '>');
    if !ok {
        return Err(ApiError::invalid_field(
            pointer,
            format!(
                "{} must be an https:// (or http://) address of at most 2,000 characters, without spaces",
                pointer.trim_start_matches('/')
            ),
        ));
    }
    Ok(Some(url.to_owned()))
}

/// Whether the workspace may send now, with every blocker at once.
#[utoipa::path(get, path = "/v1/workspace/sending-status", tag = "workspace", security(("bearer" = [])),
    responses((status = 200, body = SendingStatusView)))]
pub async fn sending_status(
    Ws { state, caller, .. }: Ws<can::Read>,
) -> ApiResult<Json<SendingStatusView>> {
    let ws = load(&state, caller.workspace()).await?;
    Ok(Json(SendingStatusView::from(&gate::evaluate(
        ws.gate_input(state.store.now()),
    ))))
}

pub(crate) async fn audit_page(
    state: &AppState,
    ws: &WorkspaceId,
    query: PageQuery,
) -> ApiResult<Page<AuditEntryView>> {
    let page = Page::read(
        query.cursor.as_deref(),
        query.limit,
        |after, n| state.store.audit_log(ws, after, n),
        |e| e.id.clone(),
    )
    .await?;
    Ok(page.map(AuditEntryView::from))
}

/// The workspace's audit log: state changes, acceptances, keys, erasures.
#[utoipa::path(get, path = "/v1/workspace/audit-log", tag = "workspace", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<AuditEntryView>)))]
pub async fn audit_log(
    Ws { state, caller, .. }: Ws<can::Read>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<AuditEntryView>>> {
    Ok(Json(audit_page(&state, caller.workspace(), query).await?))
}
