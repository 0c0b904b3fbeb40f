//! The reputation monitor's state: counts kept incrementally per workspace
//! and day and per message, the operator's policy, review cases with their
//! evidence and notes, probation, and paused messages.

use crate::{
    corrupt, get_i64, get_opt_str, get_opt_ts, get_str, get_ts, get_workspace_id, Result, Store,
};
use sendwell_core::reputation::{Counts, Policy};
use sendwell_core::{MessageId, Timestamp, WorkspaceId};
use serde_json::{json, Value};
use sqlx::any::AnyRow;

pub(crate) const DAY_MS: i64 = 86_400_000;

/// The most recent bounces a workspace's top bouncing domains are counted
/// from: enough to name the domains that matter, bounded however much a
/// workspace bounced.
const RECENT_BOUNCES: i64 = 10_000;

#[derive(Clone, Debug, PartialEq)]
pub struct CaseNote {
    pub author: String,
    pub note: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReviewCase {
    pub id: String,
    pub workspace_id: WorkspaceId,
    /// `open` or `closed`.
    pub state: String,
    pub reason: String,
    pub evidence: Value,
    pub resolution: Option<String>,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub notes: Vec<CaseNote>,
}

fn u(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn case_from(row: &AnyRow) -> Result<ReviewCase> {
    Ok(ReviewCase {
        id: get_str(row, "id")?,
        workspace_id: get_workspace_id(row, "workspace_id")?,
        state: get_str(row, "state")?,
        reason: get_str(row, "reason")?,
        evidence: serde_json::from_str(&get_str(row, "evidence")?).unwrap_or(Value::Null),
        resolution: get_opt_str(row, "resolution")?,
        opened_at: get_ts(row, "opened_at")?,
        closed_at: get_opt_ts(row, "closed_at")?,
        notes: Vec::new(),
    })
}

/// Rows of a case's evidence, each as `entry` shows it.
fn evidence_list(rows: &[AnyRow], entry: fn(&AnyRow) -> Result<Value>) -> Result<Vec<Value>> {
    rows.iter().map(entry).collect()
}

/// One day's counts.
fn day_evidence(d: &AnyRow) -> Result<Value> {
    let day = get_i64(d, "day")?;
    Ok(json!({
        "day": Timestamp::from_millis(day * DAY_MS).to_rfc3339().get(..10).unwrap_or_default(),
        "sends": get_i64(d, "sends")?,
        "hard_bounces": get_i64(d, "hard_bounces")?,
        "complaints": get_i64(d, "complaints")?,
    }))
}

/// A domain and how often it bounced.
fn domain_evidence(r: &AnyRow) -> Result<Value> {
    Ok(json!({
        "domain": get_opt_str(r, "domain")?,
        "bounces": get_i64(r, "n")?,
    }))
}

/// A recent import and its provenance.
fn import_evidence(r: &AnyRow) -> Result<Value> {
    Ok(json!({
        "id": get_str(r, "id")?,
        "source": get_opt_str(r, "source")?,
        "description": get_opt_str(r, "description")?,
        "status": get_opt_str(r, "status")?,
        "score": r.try_get::<Option<i64>, _>("score").ok().flatten(),
        "created_at": get_ts(r, "created_at")?.to_rfc3339(),
    }))
}

/// A recent message and its counts.
fn message_evidence(r: &AnyRow) -> Result<Value> {
    Ok(json!({
        "id": get_str(r, "id")?,
        "name": get_str(r, "name")?,
        "kind": get_str(r, "kind")?,
        "subject": get_str(r, "subject")?,
        "sends": get_i64(r, "sends")?,
        "hard_bounces": get_i64(r, "hard_bounces")?,
        "complaints": get_i64(r, "complaints")?,
    }))
}

/// Adds sends and bad outcomes to a workspace's day and to its message.
pub(crate) async fn count_in_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    message: &MessageId,
    add: Counts,
    now: Timestamp,
) -> Result<()> {
    if add == Counts::default() {
        return Ok(());
    }
    let (s, h, c) = (
        i64::try_from(add.sends).unwrap_or(i64::MAX),
        i64::try_from(add.hard_bounces).unwrap_or(i64::MAX),
        i64::try_from(add.complaints).unwrap_or(i64::MAX),
    );
    sqlx::query(
        "INSERT INTO reputation_days (workspace_id, day, sends, hard_bounces, complaints) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id, day) DO UPDATE SET \
         sends = reputation_days.sends + excluded.sends, \
         hard_bounces = reputation_days.hard_bounces + excluded.hard_bounces, \
         complaints = reputation_days.complaints + excluded.complaints",
    )
    .bind(ws.as_str().to_owned())
    .bind(now.millis() / DAY_MS)
    .bind(s)
    .bind(h)
    .bind(c)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE messages SET sends = sends + $1, hard_bounces = hard_bounces + $2, \
         complaints = complaints + $3 WHERE id = $4",
    )
    .bind(s)
    .bind(h)
    .bind(c)
    .bind(message.as_str().to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Counts read from a row's `s`, `h` and `c` (sends, hard bounces,
/// complaints).
fn counts_from(row: &AnyRow) -> Result<Counts> {
    Ok(Counts {
        sends: u(get_i64(row, "s")?),
        hard_bounces: u(get_i64(row, "h")?),
        complaints: u(get_i64(row, "c")?),
    })
}

impl Store {
    /// A workspace's counts over the last `window_days` days (today included).
    pub async fn reputation_counts(&self, ws: &WorkspaceId, window_days: u32) -> Result<Counts> {
        let today = self.now().millis() / DAY_MS;
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(sends), 0) AS BIGINT) AS s, \
             CAST(COALESCE(SUM(hard_bounces), 0) AS BIGINT) AS h, \
             CAST(COALESCE(SUM(complaints), 0) AS BIGINT) AS c \
             FROM reputation_days WHERE workspace_id = $1 AND day > $2",
        )
        .bind(ws.as_str().to_owned())
        .bind(today - i64::from(window_days))
        .fetch_one(&self.read)
        .await?;
        Ok(Counts {
            sends: u(get_i64(&row, "s")?),
            hard_bounces: u(get_i64(&row, "h")?),
            complaints: u(get_i64(&row, "c")?),
        })
    }

    /// A workspace's counts by day over the last `window_days` days, oldest
    /// first, as (day number since the epoch, counts); days without sends
    /// are left out.
    pub async fn reputation_by_day(
        &self,
        ws: &WorkspaceId,
        window_days: u32,
    ) -> Result<Vec<(i64, Counts)>> {
        let today = self.now().millis() / DAY_MS;
        let rows = sqlx::query(
            "SELECT CAST(day AS BIGINT) AS day, CAST(sends AS BIGINT) AS s, CAST(hard_bounces AS BIGINT) AS h, \
             CAST(complaints AS BIGINT) AS c FROM reputation_days \
             WHERE workspace_id = $1 AND day > $2 ORDER BY day",
        )
        .bind(ws.as_str().to_owned())
        .bind(today - i64::from(window_days))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| Ok((get_i64(row, "day")?, counts_from(row)?)))
            .collect()
    }

    /// Every workspace's counts over the last `window_days` days, summed
    /// by the database: one row a workspace that sent, however many
    /// deliveries and days the window holds.
    pub async fn reputation_totals_all(
        &self,
        window_days: u32,
    ) -> Result<std::collections::HashMap<WorkspaceId, Counts>> {
        let today = self.now().millis() / DAY_MS;
        let rows = sqlx::query(
            "SELECT workspace_id, CAST(SUM(sends) AS BIGINT) AS s, \
             CAST(SUM(hard_bounces) AS BIGINT) AS h, CAST(SUM(complaints) AS BIGINT) AS c \
             FROM reputation_days WHERE day > $1 GROUP BY workspace_id",
        )
        .bind(today - i64::from(window_days))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| Ok((get_workspace_id(row, "workspace_id")?, counts_from(row)?)))
            .collect()
    }

    /// A workspace's counts of all time (one row per day it sent).
    async fn all_time_counts(&self, ws: &WorkspaceId) -> Result<Counts> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(sends), 0) AS BIGINT) AS s, \
             CAST(COALESCE(SUM(hard_bounces), 0) AS BIGINT) AS h, \
             CAST(COALESCE(SUM(complaints), 0) AS BIGINT) AS c \
             FROM reputation_days WHERE workspace_id = $1",
        )
        .bind(ws.as_str().to_owned())
        .fetch_one(&self.read)
        .await?;
        Ok(Counts {
            sends: u(get_i64(&row, "s")?),
            hard_bounces: u(get_i64(&row, "h")?),
            complaints: u(get_i64(&row, "c")?),
        })
    }

    /// The counts the monitor judges: the window's, or, when the workspace
    /// was reinstated within the window, only those since reinstatement
    /// (the sends that got it suspended were judged already).
    pub async fn judged_counts(&self, ws: &WorkspaceId, window_days: u32) -> Result<Counts> {
        let row = sqlx::query(
            "SELECT reinstated_at, base_sends, base_hard_bounces, base_complaints FROM workspaces WHERE id = $1",
        )
        .bind(ws.as_str().to_owned())
        .fetch_optional(&self.read)
        .await?;
        let since = self.now().millis() - i64::from(window_days) * DAY_MS;
        if let Some(r) = row {
            let at: Option<i64> = r.try_get("reinstated_at")?;
            if at.is_some_and(|t| t > since) {
                let base = |c: &str| -> Result<u64> {
                    Ok(u(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0)))
                };
                let all = self.all_time_counts(ws).await?;
                return Ok(Counts {
                    sends: all.sends.saturating_sub(base("base_sends")?),
                    hard_bounces: all.hard_bounces.saturating_sub(base("base_hard_bounces")?),
                    complaints: all.complaints.saturating_sub(base("base_complaints")?),
                });
            }
        }
        self.reputation_counts(ws, window_days).await
    }

    /// The counts the monitor judges, for every workspace that sent in the
    /// window (see [`Store::judged_counts`]): one read of the per-day
    /// counters, and one more for each workspace reinstated within it.
    pub async fn judged_counts_all(
        &self,
        window_days: u32,
    ) -> Result<std::collections::HashMap<WorkspaceId, Counts>> {
        let mut out = self.reputation_totals_all(window_days).await?;
        let since = self.now().millis() - i64::from(window_days) * DAY_MS;
        let rows = sqlx::query("SELECT id FROM workspaces WHERE reinstated_at > $1")
            .bind(since)
            .fetch_all(&self.read)
            .await?;
        for row in &rows {
            let ws = get_workspace_id(row, "id")?;
            let counts = self.judged_counts(&ws, window_days).await?;
            out.insert(ws, counts);
        }
        Ok(out)
    }

    /// Starts probation until `until`, counting afresh from now.
    pub async fn start_probation(&self, ws: &WorkspaceId, until: Timestamp) -> Result<()> {
        let base = self.all_time_counts(ws).await?;
        sqlx::query(
            "UPDATE workspaces SET probation_until = $1, reinstated_at = $2, base_sends = $3, \
             base_hard_bounces = $4, base_complaints = $5 WHERE id = $6",
        )
        .bind(until.millis())
        .bind(self.now().millis())
        .bind(i64::try_from(base.sends).unwrap_or(i64::MAX))
        .bind(i64::try_from(base.hard_bounces).unwrap_or(i64::MAX))
        .bind(i64::try_from(base.complaints).unwrap_or(i64::MAX))
        .bind(ws.as_str().to_owned())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// A message's own counts.
    pub async fn message_counts(&self, id: &MessageId) -> Result<Counts> {
        let row = sqlx::query("SELECT sends, hard_bounces, complaints FROM messages WHERE id = $1")
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        Ok(match row {
            Some(r) => Counts {
                sends: u(get_i64(&r, "sends")?),
                hard_bounces: u(get_i64(&r, "hard_bounces")?),
                complaints: u(get_i64(&r, "complaints")?),
            },
            None => Counts::default(),
        })
    }

    /// The operator's policy (the defaults until one is set).
    pub async fn policy(&self) -> Result<Policy> {
        let row = sqlx::query("SELECT policy FROM operator_policy WHERE id = 1")
            .fetch_optional(&self.read)
            .await?;
        match row {
            Some(r) => {
                let text = get_str(&r, "policy")?;
                serde_json::from_str(&text).map_err(|_| corrupt("policy", &text))
            }
            None => Ok(Policy::default()),
        }
    }

    pub async fn set_policy(&self, policy: &Policy) -> Result<()> {
        let text = serde_json::to_string(policy).map_err(|e| corrupt("policy", &e.to_string()))?;
        sqlx::query(
            "INSERT INTO operator_policy (id, policy, updated_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at",
        )
        .bind(text)
        .bind(self.now().millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// What the operator sees when a case opens: rates by day, the domains
    /// that bounced most, recent imports and their provenance, recent
    /// messages. Bounded reads of the window only.
    pub async fn case_evidence(&self, ws: &WorkspaceId, window_days: u32) -> Result<Value> {
        let now = self.now();
        let today = now.millis() / DAY_MS;
        let days = sqlx::query(
            "SELECT day, sends, hard_bounces, complaints FROM reputation_days \
             WHERE workspace_id = $1 AND day > $2 ORDER BY day",
        )
        .bind(ws.as_str().to_owned())
        .bind(today - i64::from(window_days))
        .fetch_all(&self.read)
        .await?;
        let since = now.millis() - i64::from(window_days) * DAY_MS;
        // Among the window's most recent bounces (at most RECENT_BOUNCES),
        // read along the partial index of bounced deliveries.
        let domains = sqlx::query(
            "SELECT domain, COUNT(*) AS n FROM (SELECT recipient_domain AS domain FROM deliveries \
             WHERE workspace_id = $1 AND state = 'bounced' AND updated_at > $2 \
             ORDER BY updated_at DESC LIMIT $3) recent \
             GROUP BY domain ORDER BY n DESC, domain LIMIT 10",
        )
        .bind(ws.as_str().to_owned())
        .bind(since)
        .bind(RECENT_BOUNCES)
        .fetch_all(&self.read)
        .await?;
        let imports = sqlx::query(
            "SELECT id, source, description, status, score, created_at FROM imports \
             WHERE workspace_id = $1 ORDER BY created_at DESC LIMIT 10",
        )
        .bind(ws.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        let messages = sqlx::query(
            "SELECT id, name, kind, subject, sends, hard_bounces, complaints, created_at FROM messages \
             WHERE workspace_id = $1 ORDER BY created_at DESC LIMIT 10",
        )
        .bind(ws.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        Ok(json!({
            "window_days": window_days,
            "by_day": evidence_list(&days, day_evidence)?,
            "top_bouncing_domains": evidence_list(&domains, domain_evidence)?,
            "recent_imports": evidence_list(&imports, import_evidence)?,
            "recent_messages": evidence_list(&messages, message_evidence)?,
        }))
    }

    /// Opens a review case for the workspace, or returns the one open.
    pub async fn open_case(
        &self,
        ws: &WorkspaceId,
        reason: &str,
        evidence: &Value,
    ) -> Result<ReviewCase> {
        if let Some(open) = self.open_case_of(ws).await? {
            return Ok(open);
        }
        let id = format!(
            "case_{}",
            sendwell_core::secret::to_hex(&sendwell_core::secret::random_bytes::<10>())
        );
        sqlx::query(
            "INSERT INTO review_cases (id, workspace_id, state, reason, evidence, resolution, opened_at, closed_at) \
             VALUES ($1, $2, 'open', $3, $4, NULL, $5, NULL)",
        )
        .bind(id.clone())
        .bind(ws.as_str().to_owned())
        .bind(reason.to_owned())
        .bind(evidence.to_string())
        .bind(self.now().millis())
        .execute(&self.write)
        .await?;
        self.case(&id)
            .await?
            .ok_or_else(|| corrupt("review case", &id))
    }

    pub async fn case(&self, id: &str) -> Result<Option<ReviewCase>> {
        let row = sqlx::query("SELECT * FROM review_cases WHERE id = $1")
            .bind(id.to_owned())
            .fetch_optional(&self.read)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut case = case_from(&row)?;
        case.notes = self.case_notes(&case.id).await?;
        Ok(Some(case))
    }

    async fn case_notes(&self, case: &str) -> Result<Vec<CaseNote>> {
        let rows = sqlx::query(
            "SELECT author, note, created_at FROM case_notes WHERE case_id = $1 ORDER BY created_at, id",
        )
        .bind(case.to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CaseNote {
                    author: get_str(r, "author")?,
                    note: get_str(r, "note")?,
                    created_at: get_ts(r, "created_at")?,
                })
            })
            .collect()
    }

    pub async fn open_case_of(&self, ws: &WorkspaceId) -> Result<Option<ReviewCase>> {
        let row = sqlx::query(
            "SELECT id FROM review_cases WHERE workspace_id = $1 AND state = 'open' ORDER BY opened_at DESC LIMIT 1",
        )
        .bind(ws.as_str().to_owned())
        .fetch_optional(&self.read)
        .await?;
        match row {
            Some(r) => self.case(&get_str(&r, "id")?).await,
            None => Ok(None),
        }
    }

    /// Every open case's workspace and id (a list's "open case" column).
    pub async fn open_case_ids(&self) -> Result<Vec<(WorkspaceId, String)>> {
        let rows = sqlx::query("SELECT workspace_id, id FROM review_cases WHERE state = 'open'")
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| Ok((get_workspace_id(r, "workspace_id")?, get_str(r, "id")?)))
            .collect()
    }

    /// The open cases that waited longest, oldest first, at most `limit`.
    pub async fn open_cases_oldest_first(&self, limit: i64) -> Result<Vec<ReviewCase>> {
        let rows = sqlx::query(
            "SELECT * FROM review_cases WHERE state = 'open' ORDER BY opened_at, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut c = case_from(r)?;
            c.notes = self.case_notes(&c.id).await?;
            out.push(c);
        }
        Ok(out)
    }

    /// Cases, newest first, at most `limit`; only those in `state` when given.
    pub async fn cases(&self, state: Option<&str>, limit: i64) -> Result<Vec<ReviewCase>> {
        let rows = sqlx::query(
            "SELECT * FROM review_cases WHERE ($1 = '' OR state = $2) ORDER BY opened_at DESC LIMIT $3",
        )
        .bind(state.unwrap_or("").to_owned())
        .bind(state.unwrap_or("").to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let mut c = case_from(r)?;
            c.notes = self.case_notes(&c.id).await?;
            out.push(c);
        }
        Ok(out)
    }

    /// Adds a note; `None` when there is no such case.
    pub async fn add_case_note(
        &self,
        case: &str,
        author: &str,
        note: &str,
    ) -> Result<Option<ReviewCase>> {
        if self.case(case).await?.is_none() {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO case_notes (id, case_id, author, note, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(format!(
            "note_{}",
            sendwell_core::secret::to_hex(&sendwell_core::secret::random_bytes::<10>())
        ))
        .bind(case.to_owned())
        .bind(author.to_owned())
        .bind(note.to_owned())
        .bind(self.now().millis())
        .execute(&self.write)
        .await?;
        self.case(case).await
    }

    /// Closes a workspace's open cases with the resolution.
    pub async fn close_cases(&self, ws: &WorkspaceId, resolution: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE review_cases SET state = 'closed', resolution = $1, closed_at = $2 \
             WHERE workspace_id = $3 AND state = 'open'",
        )
        .bind(resolution.to_owned())
        .bind(self.now().millis())
        .bind(ws.as_str().to_owned())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn set_probation_until(
        &self,
        ws: &WorkspaceId,
        until: Option<Timestamp>,
    ) -> Result<()> {
        sqlx::query("UPDATE workspaces SET probation_until = $1 WHERE id = $2")
            .bind(until.map(|t| t.millis()))
            .bind(ws.as_str().to_owned())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    pub async fn probation_until(&self, ws: &WorkspaceId) -> Result<Option<Timestamp>> {
        let row = sqlx::query("SELECT probation_until FROM workspaces WHERE id = $1")
            .bind(ws.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        Ok(match row {
            Some(r) => get_opt_ts(&r, "probation_until")?,
            None => None,
        })
    }

    /// Workspaces on probation whose period has ended.
    pub async fn probation_ended(&self) -> Result<Vec<WorkspaceId>> {
        let rows = sqlx::query(
            "SELECT id FROM workspaces WHERE state = 'probation' AND probation_until IS NOT NULL \
             AND probation_until <= $1",
        )
        .bind(self.now().millis())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| get_workspace_id(r, "id")).collect()
    }

    /// Pauses a message (the circuit breaker): its waiting deliveries are
    /// held with the reason. `false` when it was paused already.
    pub async fn pause_message(&self, id: &MessageId, reason: &str) -> Result<bool> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE messages SET paused_reason = $1 WHERE id = $2 AND paused_reason IS NULL",
        )
        .bind(reason.to_owned())
        .bind(id.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE deliveries SET state = 'held', last_reply = $1, updated_at = $2 \
             WHERE message_id = $3 AND state IN ('queued', 'deferred', 'paused')",
        )
        .bind(format!("paused: {reason}"))
        .bind(now.millis())
        .bind(id.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Why a message is paused, if it is.
    pub async fn message_paused(&self, id: &MessageId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT paused_reason FROM messages WHERE id = $1")
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        Ok(match row {
            Some(r) => get_opt_str(&r, "paused_reason")?,
            None => None,
        })
    }
}

use sqlx::Row;
