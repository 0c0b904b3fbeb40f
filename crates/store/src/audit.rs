//! The audit log: who changed what about a workspace, when and why. Entries
//! are written in the same transaction as the change they describe.

use crate::{get_opt_str, get_str, get_ts, Result, Store};
use sendwell_core::{AuditId, SendingState, Timestamp, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub reason: String,
    pub created_at: Timestamp,
}

pub(crate) struct NewAudit<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub actor: &'a str,
    pub action: &'a str,
    pub transition: Option<(SendingState, SendingState)>,
    pub reason: &'a str,
}

pub(crate) async fn record(
    tx: &mut Transaction<'_, Any>,
    entry: NewAudit<'_>,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, workspace_id, actor, action, from_state, to_state, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(AuditId::generate(now).as_str().to_owned())
    .bind(entry.workspace_id.as_str().to_owned())
    .bind(entry.actor.to_owned())
    .bind(entry.action.to_owned())
    .bind(entry.transition.map(|(from, _)| from.as_str()))
    .bind(entry.transition.map(|(_, to)| to.as_str()))
    .bind(entry.reason.to_owned())
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a change that moves no sending state: who did what, and why.
pub(crate) async fn record_action(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    actor: &str,
    action: &str,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    let entry = NewAudit {
        workspace_id: ws,
        actor,
        action,
        transition: None,
        reason,
    };
    record(tx, entry, now).await
}

fn from_row(row: &AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: get_str(row, "id")?,
        actor: get_str(row, "actor")?,
        action: get_str(row, "action")?,
        from_state: get_opt_str(row, "from_state")?,
        to_state: get_opt_str(row, "to_state")?,
        reason: get_str(row, "reason")?,
        created_at: get_ts(row, "created_at")?,
    })
}

impl Store {
    /// Records a change a workspace made that its own write does not record
    /// (settings, sender domains, webhooks, suppressions).
    pub async fn record_audit(
        &self,
        ws: &WorkspaceId,
        actor: &str,
        action: &str,
        reason: &str,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        record_action(&mut tx, ws, actor, action, reason, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A workspace's audit log, oldest first, after the entry id `after`.
    /// The newest `limit` entries of a workspace's audit log, newest first.
    pub async fn audit_log_newest(&self, ws: &WorkspaceId, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, actor, action, from_state, to_state, reason, created_at FROM audit_log \
             WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(ws.as_str().to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn audit_log(
        &self,
        ws: &WorkspaceId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, actor, action, from_state, to_state, reason, created_at FROM audit_log \
             WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(ws.as_str().to_owned())
        .bind(after.unwrap_or("").to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(from_row).collect()
    }
}
