//! Workspaces: creation (with the first admin key), the physical address,
//! and state transitions, each recorded in the audit log.

use crate::audit::{self, NewAudit};
use crate::key::{insert_key, NewKeyRow};
use crate::reputation::DAY_MS;
use crate::{
    get_as, get_opt_str, get_opt_ts, get_str, get_ts, get_workspace_id, Result, Store, StoreError,
};
use sendwell_core::gate::GateInput;
use sendwell_core::text::PhysicalAddress;
use sendwell_core::workspace::TransitionError;
use sendwell_core::{SendingState, StateEvent, Timestamp, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub state: SendingState,
    pub physical_address: Option<String>,
    /// Where the opt-in button sends a person after confirming.
    pub opt_in_landing_url: Option<String>,
    /// `HH:MM-HH:MM`: local hours in which no bulk mail reaches a person.
    pub quiet_hours: Option<String>,
    /// The IANA time zone of contacts without a `timezone` attribute.
    pub timezone: Option<String>,
    pub warmup: Warmup,
    /// The engagement sunset for marketing; `None`: off.
    pub sunset: Option<crate::Sunset>,
    pub created_at: Timestamp,
    pub current_guidelines: i64,
    pub accepted_guidelines: Option<i64>,
    /// Until when the current version may go unaccepted by a workspace
    /// that accepted an earlier one.
    pub guidelines_grace_until: Option<Timestamp>,
}

impl Workspace {
    pub fn gate_input(&self, now: Timestamp) -> GateInput {
        GateInput {
            state: self.state,
            has_physical_address: self.physical_address.is_some(),
            current_guidelines: self.current_guidelines,
            accepted_guidelines: self.accepted_guidelines,
            grace_until: self.guidelines_grace_until,
            now,
        }
    }
}

/// Where a workspace stands in its warm-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Warmup {
    /// Bulk mails a day; `None` when not warming up.
    pub cap: Option<u64>,
    /// The UTC day (`millis / 86,400,000`) `used` counts.
    pub day: i64,
    pub used: u64,
}

/// What one request for warm-up room got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WarmupGrant {
    /// How many of the mails asked for may go today.
    pub granted: u64,
    /// Mails put off today before these: the rest go tomorrow after them.
    pub deferred_before: u64,
    /// The day's cap (`None`: not warming up).
    pub cap: Option<u64>,
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Ends a workspace's warm-up: the cap reached the policy's end.
async fn end_warmup(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    today: i64,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE workspaces SET warmup_cap = NULL, warmup_day = $1, warmup_used = 0, warmup_deferred = 0 \
         WHERE id = $2",
    )
    .bind(today)
    .bind(ws.as_str().to_owned())
    .execute(&mut **tx)
    .await?;
    let reason = "warm-up over: the daily cap reached the policy's end";
    audit::record_action(tx, ws, "system", "workspace.warmup_ended", reason, now).await
}

/// A change of a workspace's settings; `None` leaves a setting as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct SettingsChange<'a> {
    pub physical_address: Option<&'a PhysicalAddress>,
    /// `Some(None)` removes the landing URL.
    pub opt_in_landing_url: Option<Option<&'a str>>,
    /// `Some(None)` removes the quiet hours.
    pub quiet_hours: Option<Option<&'a str>>,
    /// `Some(None)` goes back to UTC.
    pub timezone: Option<Option<&'a str>>,
    /// `mails/days`; `Some(None)` turns the sunset off.
    pub sunset: Option<Option<&'a str>>,
}

/// The outcome of a change that may also have activated the workspace.
#[derive(Clone, Debug)]
pub struct WorkspaceUpdate {
    pub workspace: Workspace,
    pub activated: bool,
}

const SELECT_WORKSPACE: &str = "SELECT w.id, w.name, w.state, w.physical_address, w.opt_in_landing_url, w.quiet_hours, w.timezone, w.created_at, \
     w.warmup_cap, w.warmup_day, w.warmup_used, w.sunset, \
     (SELECT MAX(version) FROM guidelines) AS current_guidelines, \
     (SELECT grace_until FROM guidelines ORDER BY version DESC LIMIT 1) AS guidelines_grace_until, \
     (SELECT MAX(a.version) FROM guideline_acceptances a WHERE a.workspace_id = w.id) AS accepted_guidelines \
     FROM workspaces w";

fn from_row(row: &AnyRow) -> Result<Workspace> {
    Ok(Workspace {
        id: get_workspace_id(row, "id")?,
        name: get_str(row, "name")?,
        state: get_as(row, "state", "workspace state", |s| {
            SendingState::parse(s).ok_or(())
        })?,
        physical_address: get_opt_str(row, "physical_address")?,
        opt_in_landing_url: get_opt_str(row, "opt_in_landing_url")?,
        quiet_hours: get_opt_str(row, "quiet_hours")?,
        timezone: get_opt_str(row, "timezone")?,
        sunset: get_opt_str(row, "sunset")?
            .as_deref()
            .and_then(crate::Sunset::parse),
        warmup: Warmup {
            cap: row.try_get::<Option<i64>, _>("warmup_cap")?.map(u),
            day: row.try_get::<i64, _>("warmup_day")?,
            used: u(row.try_get::<i64, _>("warmup_used")?),
        },
        created_at: get_ts(row, "created_at")?,
        current_guidelines: row
            .try_get::<Option<i64>, _>("current_guidelines")?
            .unwrap_or(0),
        accepted_guidelines: row.try_get::<Option<i64>, _>("accepted_guidelines")?,
        guidelines_grace_until: get_opt_ts(row, "guidelines_grace_until")?,
    })
}

pub(crate) async fn load_in_tx(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
) -> Result<Option<Workspace>> {
    let row = sqlx::query(&format!("{SELECT_WORKSPACE} WHERE w.id = $1"))
        .bind(ws.as_str().to_owned())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Moves the workspace to the state `event` leads to, with an audit entry.
pub(crate) async fn transition_in_tx(
    tx: &mut Transaction<'_, Any>,
    ws: &Workspace,
    event: StateEvent,
    actor: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Result<SendingState, TransitionError>> {
    let next = match ws.state.apply(event) {
        Ok(next) => next,
        Err(e) => return Ok(Err(e)),
    };
    // Compare-and-set: a concurrent transition on PostgreSQL makes this one fail
    // loudly instead of overwriting a state it never saw.
    // Leaving probation ends its deadline in the same write, so no reader
    // sees an active or withdrawn workspace still "on probation until".
    let done = sqlx::query(
        "UPDATE workspaces SET state = $1, updated_at = $2, \
         probation_until = CASE WHEN $1 = 'probation' THEN probation_until ELSE NULL END \
         WHERE id = $3 AND state = $4",
    )
    .bind(next.as_str())
    .bind(now.millis())
    .bind(ws.id.as_str().to_owned())
    .bind(ws.state.as_str())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!(
            "workspace {} changed state while this change was being made; try again",
            ws.id
        )));
    }
    audit::record(
        tx,
        NewAudit {
            workspace_id: &ws.id,
            actor,
            action: "state.changed",
            transition: Some((ws.state, next)),
            reason,
        },
        now,
    )
    .await?;
    Ok(Ok(next))
}

/// Sets one settings column of a workspace (`column` is ours, never
/// input); `false` when the workspace does not exist.
async fn set_column(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    column: &'static str,
    value: Option<String>,
    now: Timestamp,
) -> Result<bool> {
    let sql = format!("UPDATE workspaces SET {column} = $1, updated_at = $2 WHERE id = $3");
    let done = sqlx::query(&sql)
        .bind(value)
        .bind(now.millis())
        .bind(ws.as_str().to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Leaves onboarding once the workspace meets its obligations.
pub(crate) async fn activate_if_ready(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    actor: &str,
    now: Timestamp,
) -> Result<WorkspaceUpdate> {
    let workspace = load_in_tx(tx, ws)
        .await?
        .ok_or_else(|| StoreError::Integrity(format!("workspace {ws} vanished mid-transaction")))?;
    if workspace.state != SendingState::Onboarding || !workspace.gate_input(now).obligations_met() {
        return Ok(WorkspaceUpdate {
            workspace,
            activated: false,
        });
    }
    let reason = format!(
        "physical address set and guidelines version {} accepted",
        workspace.current_guidelines
    );
    let state = transition_in_tx(tx, &workspace, StateEvent::Activate, actor, &reason, now)
        .await?
        .map_err(|e| StoreError::Integrity(e.to_string()))?;
    Ok(WorkspaceUpdate {
        workspace: Workspace { state, ..workspace },
        activated: true,
    })
}

impl Store {
    /// Creates a workspace in `onboarding` with its first admin key.
    pub async fn create_workspace(
        &self,
        name: &str,
        first_key: NewKeyRow<'_>,
        first_admin: Option<crate::account::Invite<'_>>,
        actor: &str,
    ) -> Result<Workspace> {
        let now = self.now();
        let id = WorkspaceId::generate(now);
        let start = self.policy().await?.warmup_start_per_day;
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO workspaces (id, name, state, physical_address, created_at, updated_at, \
             warmup_cap, warmup_day) VALUES ($1, $2, $3, NULL, $4, $4, $5, $6)",
        )
        .bind(id.as_str().to_owned())
        .bind(name.to_owned())
        .bind(SendingState::Onboarding.as_str())
        .bind(now.millis())
        .bind((start > 0).then(|| i64::try_from(start).unwrap_or(i64::MAX)))
        .bind(now.millis() / DAY_MS)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO consent_heads (workspace_id, seq, hash) VALUES ($1, 0, $2)")
            .bind(id.as_str().to_owned())
            .bind(sendwell_core::consent::GENESIS_HASH)
            .execute(&mut *tx)
            .await?;
        insert_key(&mut tx, &id, first_key, actor, now).await?;
        audit::record_action(
            &mut tx,
            &id,
            actor,
            "workspace.created",
            &format!("workspace '{name}' created in state onboarding"),
            now,
        )
        .await?;
        if let Some(invite) = first_admin {
            crate::account::insert_member(&mut tx, &id, invite, actor, now)
                .await?
                .map_err(|e| StoreError::Integrity(format!("first admin not added: {e:?}")))?;
        }
        let ws = load_in_tx(&mut tx, &id)
            .await?
            .ok_or_else(|| StoreError::Integrity("created workspace not found".to_owned()))?;
        tx.commit().await?;
        Ok(ws)
    }

    pub async fn workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>> {
        let row = sqlx::query(&format!("{SELECT_WORKSPACE} WHERE w.id = $1"))
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn list_workspaces(&self, after: Option<&str>, limit: i64) -> Result<Vec<Workspace>> {
        let rows = sqlx::query(&format!(
            "{SELECT_WORKSPACE} WHERE w.id > $1 ORDER BY w.id LIMIT $2"
        ))
        .bind(after.unwrap_or("").to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Every workspace, by id (the operator's lists: a platform holds
    /// thousands, not millions).
    pub async fn all_workspaces(&self) -> Result<Vec<Workspace>> {
        let rows = sqlx::query(&format!("{SELECT_WORKSPACE} ORDER BY w.id"))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Applies a change of the workspace's settings with its audit records
    /// in one transaction: all of it or none. `Ok(false)` when the
    /// workspace does not exist.
    pub async fn update_workspace_settings(
        &self,
        ws: &WorkspaceId,
        change: &SettingsChange<'_>,
        actor: &str,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let texts = [
            (
                "opt_in_landing_url",
                "opt-in landing URL",
                "workspace.landing_url_set",
                change.opt_in_landing_url,
            ),
            (
                "quiet_hours",
                "quiet hours",
                "workspace.quiet_hours_set",
                change.quiet_hours,
            ),
            (
                "timezone",
                "time zone",
                "workspace.timezone_set",
                change.timezone,
            ),
            (
                "sunset",
                "engagement sunset",
                "workspace.sunset_set",
                change.sunset,
            ),
        ];
        for (column, what, action, value) in texts {
            let Some(value) = value else {
                continue;
            };
            if !set_column(&mut tx, ws, column, value.map(str::to_owned), now).await? {
                return Ok(false);
            }
            let reason = match value {
                Some(v) => format!("{what} set to {v}"),
                None => format!("{what} removed"),
            };
            audit::record_action(&mut tx, ws, actor, action, &reason, now).await?;
        }
        if let Some(address) = change.physical_address {
            let value = Some(address.as_str().to_owned());
            if !set_column(&mut tx, ws, "physical_address", value, now).await? {
                return Ok(false);
            }
            audit::record_action(
                &mut tx,
                ws,
                actor,
                "workspace.address_set",
                "physical postal address updated",
                now,
            )
            .await?;
            activate_if_ready(&mut tx, ws, actor, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Asks for room for `wanted` bulk mails today under the workspace's
    /// warm-up cap. A new day first moves the cap on with `next_cap` (grown
    /// or frozen; `None` ends warm-up) and starts the counts afresh.
    pub async fn take_warmup(
        &self,
        ws: &WorkspaceId,
        wanted: u64,
        next_cap: impl FnOnce(u64) -> Option<u64>,
    ) -> Result<WarmupGrant> {
        let today = self.now().millis() / DAY_MS;
        let mut tx = self.write.begin().await?;
        // A write first: the transaction holds the write lock from here.
        sqlx::query("UPDATE workspaces SET warmup_used = warmup_used WHERE id = $1")
            .bind(ws.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "SELECT warmup_cap, warmup_day, warmup_used, warmup_deferred FROM workspaces WHERE id = $1",
        )
        .bind(ws.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(WarmupGrant {
                granted: wanted,
                deferred_before: 0,
                cap: None,
            });
        };
        let Some(mut cap) = row.try_get::<Option<i64>, _>("warmup_cap")?.map(u) else {
            return Ok(WarmupGrant {
                granted: wanted,
                deferred_before: 0,
                cap: None,
            });
        };
        let (mut used, mut deferred) = (
            u(row.try_get("warmup_used")?),
            u(row.try_get("warmup_deferred")?),
        );
        if row.try_get::<i64, _>("warmup_day")? < today {
            match next_cap(cap) {
                Some(next) => cap = next,
                None => {
                    end_warmup(&mut tx, ws, today, self.now()).await?;
                    tx.commit().await?;
                    return Ok(WarmupGrant {
                        granted: wanted,
                        deferred_before: 0,
                        cap: None,
                    });
                }
            }
            used = 0;
            deferred = 0;
        }
        let granted = wanted.min(cap.saturating_sub(used));
        let put_off = wanted - granted;
        let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        sqlx::query(
            "UPDATE workspaces SET warmup_cap = $1, warmup_day = $2, warmup_used = $3, warmup_deferred = $4 WHERE id = $5",
        )
        .bind(i(cap))
        .bind(today)
        .bind(i(used + granted))
        .bind(i(deferred + put_off))
        .bind(ws.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(WarmupGrant {
            granted,
            deferred_before: deferred,
            cap: Some(cap),
        })
    }

    /// Sets a workspace's warm-up cap (the operator): `None` lifts it.
    /// False when there is no such workspace.
    pub async fn set_warmup(
        &self,
        ws: &WorkspaceId,
        cap: Option<u64>,
        actor: &str,
        note: &str,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        // The cap holds for today as set: a new day grows it from there.
        let done = sqlx::query(
            "UPDATE workspaces SET warmup_cap = $1, warmup_day = $2, warmup_used = 0, warmup_deferred = 0, \
             updated_at = $3 WHERE id = $4",
        )
        .bind(cap.map(|c| i64::try_from(c).unwrap_or(i64::MAX)))
        .bind(now.millis() / DAY_MS)
        .bind(now.millis())
        .bind(ws.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let reason = match cap {
            Some(c) => format!("warm-up cap set to {c} bulk mails a day: {note}"),
            None => format!("warm-up lifted: {note}"),
        };
        audit::record_action(&mut tx, ws, actor, "workspace.warmup_set", &reason, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Applies a state event (for the reputation monitor and the operator).
    /// `Ok(None)` when the workspace does not exist.
    pub async fn transition_workspace(
        &self,
        ws: &WorkspaceId,
        event: StateEvent,
        actor: &str,
        reason: &str,
    ) -> Result<Option<Result<SendingState, TransitionError>>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let Some(workspace) = load_in_tx(&mut tx, ws).await? else {
            return Ok(None);
        };
        let outcome = transition_in_tx(&mut tx, &workspace, event, actor, reason, now).await?;
        if outcome.is_ok() {
            tx.commit().await?;
        }
        Ok(Some(outcome))
    }
}
