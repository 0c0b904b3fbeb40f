//! Sending later and at the right local time (issue #19): a message
//! scheduled for `send_at` is queued then, with the sending gate, the
//! guards and preflight applied again at that moment; a bulk message's
//! deliveries wait for the recipient's delivery window and the
//! workspace's quiet hours, each in the recipient's own time zone (the
//! contact's `timezone` attribute, else the workspace's, else UTC).
//!
//! A scheduled send that fails its checks at its time is `held` with the
//! reason, and the workspace hears of it in its audit log and by the
//! `message_held` webhook. The delivery worker's housekeeping loop calls
//! [`release_due`]; tests call it with their own clock.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use sendwell_core::schedule::{first_open, DailySpan, Days, DeliveryWindow, LocalTime, Zone};
use sendwell_core::{MessageKind, Timestamp};
use sendwell_store::{MessageRecord, StoreError, Timing, Workspace};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

/// How far ahead a send may be scheduled.
pub const MAX_AHEAD_DAYS: i64 = 366;
/// A `send_at` this far in the past is refused as a mistake; nearer, the
/// message goes now.
const PAST_GRACE_MS: i64 = 5 * 60 * 1000;
/// Scheduled messages released per look.
const RELEASE_BATCH: i64 = 20;

/// The hours and days of each recipient's local time a message may arrive in.
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct WindowRequest {
    /// Local time the window opens, `HH:MM` (24-hour).
    pub start: String,
    /// Local time it closes, `HH:MM`; before `start` for a window over midnight.
    pub end: String,
    /// `mon` ... `sun`, `weekdays` or `weekends`; every day when left out.
    #[serde(default)]
    pub days: Option<Vec<String>>,
}

/// A window as given, checked: the parsed window and the canonical JSON
/// the message keeps.
pub struct Window {
    pub window: DeliveryWindow,
    pub stored: Value,
}

/// Reads a delivery window; the error says which part is wrong.
pub fn parse_window(req: &WindowRequest, pointer: &str) -> ApiResult<Window> {
    let field = |name: &str, e: sendwell_core::schedule::ScheduleError| {
        ApiError::invalid_field(&format!("{pointer}/{name}"), e.to_string())
    };
    let start = LocalTime::parse(&req.start).map_err(|e| field("start", e))?;
    let end = LocalTime::parse(&req.end).map_err(|e| field("end", e))?;
    let hours = DailySpan::new(start, end).map_err(|e| field("end", e))?;
    let days = match &req.days {
        None => Days::ALL,
        Some(list) if list.len() > 14 => {
            return Err(ApiError::invalid_field(
                &format!("{pointer}/days"),
                "list each day at most once (at most 7 names)",
            ))
        }
        Some(list) => Days::parse(list.iter().map(String::as_str)).map_err(|e| field("days", e))?,
    };
    let stored = json!({"start": start.to_string(), "end": end.to_string(), "days": days.names()});
    Ok(Window {
        window: DeliveryWindow { hours, days },
        stored,
    })
}

/// A window as a message keeps it (written by [`parse_window`]).
fn stored_window(v: &Value) -> Option<DeliveryWindow> {
    let req: WindowRequest = serde_json::from_value(v.clone()).ok()?;
    parse_window(&req, "").ok().map(|w| w.window)
}

/// Quiet hours as a workspace keeps them, `HH:MM-HH:MM`.
pub fn parse_quiet_hours(text: &str) -> Result<DailySpan, String> {
    let (start, end) = text.trim().split_once('-').ok_or_else(|| {
        format!("'{text}' is not a span of hours: write it as HH:MM-HH:MM, e.g. 21:00-08:00")
    })?;
    let start = LocalTime::parse(start).map_err(|e| e.to_string())?;
    let end = LocalTime::parse(end).map_err(|e| e.to_string())?;
    DailySpan::new(start, end).map_err(|e| e.to_string())
}

fn quiet_of(ws: &Workspace) -> Option<DailySpan> {
    ws.quiet_hours
        .as_deref()
        .and_then(|q| parse_quiet_hours(q).ok())
}

fn zone_of(ws: &Workspace) -> Zone {
    ws.timezone
        .as_deref()
        .and_then(|z| Zone::parse(z).ok())
        .unwrap_or_else(Zone::utc)
}

/// The local hours a bulk message may reach people in: its delivery
/// window and the workspace's quiet hours, with the zone of contacts
/// that name none.
#[derive(Clone, Debug)]
pub struct LocalHours {
    window: Option<DeliveryWindow>,
    quiet: Option<DailySpan>,
    default_zone: Zone,
}

impl LocalHours {
    /// `None` when nothing holds the message back: transactional mail, or
    /// neither a window (`window`, as the message keeps it) nor quiet hours.
    pub fn of(ws: &Workspace, kind: MessageKind, window: Option<&Value>) -> Option<Self> {
        let quiet = quiet_of(ws);
        let window = window.and_then(stored_window);
        if kind == MessageKind::Transactional || (quiet.is_none() && window.is_none()) {
            return None;
        }
        Some(Self {
            window,
            quiet,
            default_zone: zone_of(ws),
        })
    }

    /// The first moment at or after `now` a person in `zone` (their
    /// `timezone` attribute) may get the mail. A window the quiet hours
    /// swallow whole (they changed after the message was checked) gives
    /// way to the quiet hours.
    pub fn first_open(&self, zone: Option<&str>, now: Timestamp) -> Timestamp {
        let zone = zone
            .and_then(|z| Zone::parse(z).ok())
            .unwrap_or_else(|| self.default_zone.clone());
        first_open(now, &zone, self.window.as_ref(), self.quiet.as_ref())
            .or_else(|| first_open(now, &zone, None, self.quiet.as_ref()))
            .unwrap_or(now)
    }
}

/// When `m`'s deliveries may go out, or `None` when at once: transactional
/// mail is never held back; bulk mail waits for its window and the quiet
/// hours.
pub fn timing_for(
    ws: &Workspace,
    m: &MessageRecord,
    window: Option<&Value>,
    now: Timestamp,
) -> Option<Timing> {
    let hours = LocalHours::of(ws, m.kind, window)?;
    Some(Timing {
        window: window.cloned(),
        release: Box::new(move |zone| hours.first_open(zone, now)),
    })
}

/// Refuses a window that the workspace's quiet hours cover whole.
pub fn check_window(ws: &Workspace, window: Option<&DeliveryWindow>) -> ApiResult<()> {
    let (Some(w), Some(q)) = (window, quiet_of(ws)) else {
        return Ok(());
    };
    let probe = Timestamp::from_millis(0);
    if first_open(probe, &Zone::utc(), Some(w), Some(&q)).is_none() {
        return Err(ApiError::invalid_field(
            "/window",
            format!(
                "the window {}-{} lies wholly inside the workspace's quiet hours ({}), so no mail \
                 would ever go: choose hours outside them, or change the quiet hours \
                 (PATCH /v1/workspace)",
                w.hours.start,
                w.hours.end,
                ws.quiet_hours.as_deref().unwrap_or("")
            ),
        ));
    }
    Ok(())
}

/// Reads `send_at`: `Ok(None)` for now (or a moment ago), the instant when
/// later; refused when long past or too far ahead.
pub fn parse_send_at(text: &str, now: Timestamp) -> ApiResult<Option<Timestamp>> {
    let at = Timestamp::parse(text.trim()).map_err(|_| {
        ApiError::invalid_field(
            "/send_at",
            format!("'{text}' is not a time: give it in RFC 3339, e.g. 2027-01-15T09:00:00Z"),
        )
    })?;
    if at.millis() < now.millis() - PAST_GRACE_MS {
        return Err(ApiError::invalid_field(
            "/send_at",
            format!(
                "{} is in the past (it is {} now): give a time to come, or leave send_at out to send now",
                at.to_rfc3339(),
                now.to_rfc3339()
            ),
        ));
    }
    if at.millis() > now.millis() + MAX_AHEAD_DAYS * 86_400_000 {
        return Err(ApiError::invalid_field(
            "/send_at",
            format!("a send may be scheduled at most {MAX_AHEAD_DAYS} days ahead"),
        ));
    }
    Ok((at.millis() > now.millis()).then_some(at))
}

/// What one look at the schedule did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Scheduled messages queued.
    pub sent: usize,
    /// Scheduled messages held because a check failed.
    pub held: usize,
}

/// Queues every scheduled message whose time has come, applying the
/// same checks as a send from the API; holds those that fail, with the
/// reason, and tells their workspace. A failure of the database leaves
/// the message scheduled, to be tried at the next look.
pub async fn release_due(state: &AppState) -> Result<Released, StoreError> {
    let mut done = Released::default();
    // Once over what is due now, in order: a message that cannot be sent
    // for a passing reason is tried at the next look, and does not stop
    // the ones behind it.
    let mut after: Option<(Timestamp, sendwell_core::MessageId)> = None;
    loop {
        let due = state
            .store
            .due_scheduled(after.as_ref().map(|(t, id)| (*t, id)), RELEASE_BATCH)
            .await?;
        let Some(last) = due.last() else {
            return Ok(done);
        };
        after = last.schedule.send_at.map(|t| (t, last.id.clone()));
        for m in due {
            let window = m.schedule.window.clone();
            let at = m.schedule.send_at;
            match crate::api::messages::send_checked(state, &m, window.as_ref(), at).await {
                Ok(_) => done.sent += 1,
                Err(e) if e.status().is_server_error() => {
                    tracing::error!(message = %m.id, error = %e.detail(), "scheduler: could not send; trying again later");
                }
                // Unscheduled, moved or sent since it was read: as it is now.
                Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => {}
                Err(e) if e.blockers().iter().any(|b| b.code == "already_sent") => {}
                Err(e) => {
                    if hold(state, &m, &e).await? {
                        done.held += 1;
                    }
                }
            }
        }
        if after.is_none() {
            return Ok(done);
        }
    }
}

/// Holds `m` with what refused it, and tells the workspace.
async fn hold(state: &AppState, m: &MessageRecord, e: &ApiError) -> Result<bool, StoreError> {
    let blockers: Vec<String> = e
        .blockers()
        .iter()
        .map(|b| format!("{}: {}", b.code, b.message))
        .collect();
    let reason = if blockers.is_empty() {
        e.detail().to_owned()
    } else {
        blockers.join(" ")
    };
    if !state
        .store
        .hold_scheduled(&m.workspace_id, &m.id, m.schedule.send_at, &reason)
        .await?
    {
        return Ok(false);
    }
    crate::webhooks::emit(
        state,
        &m.workspace_id,
        "message_held",
        vec![json!({
            "message_id": m.id.as_str(),
            "name": m.name,
            "send_at": m.schedule.send_at.map(Timestamp::to_rfc3339),
            "reason": reason,
            "blockers": e.blockers().iter().map(|b| json!({"code": b.code, "message": b.message})).collect::<Vec<_>>(),
        })],
    )
    .await;
    Ok(true)
}
