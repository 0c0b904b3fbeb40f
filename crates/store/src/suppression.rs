//! Suppression lists: a workspace's own (by keyed address hash, with the
//! address where the workspace may know it) and the operator's platform-wide
//! trap list (domains, and addresses by hash).

use crate::{get_opt_str, get_str, get_ts, Result, Store};
use sendwell_core::{AuditId, Timestamp, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// Reasons that only the person can lift, by opting in again.
pub const PERSON_REASONS: &[&str] = &["unsubscribed", "complained", "erased"];

/// Adds a suppression, or strengthens the one there: reasons rank
/// erased > complained > bounced > unsubscribed > manual, and the stronger
/// one wins (a complaint after an unsubscribe keeps transactional mail
/// away too). Parameters: workspace, hash, reason, source, time, email.
const UPSERT_SUPPRESSION: &str = "INSERT INTO suppressions \
     (workspace_id, email_hash, reason, source, created_at, email) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (workspace_id, email_hash) DO UPDATE SET \
     reason = excluded.reason, source = excluded.source, created_at = excluded.created_at \
     WHERE (CASE excluded.reason WHEN 'erased' THEN 5 WHEN 'complained' THEN 4 WHEN 'bounced' THEN 3 \
     WHEN 'unsubscribed' THEN 2 ELSE 1 END) > (CASE suppressions.reason WHEN 'erased' THEN 5 \
     WHEN 'complained' THEN 4 WHEN 'bounced' THEN 3 WHEN 'unsubscribed' THEN 2 ELSE 1 END)";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuppressionEntry {
    pub email: Option<String>,
    pub email_hash: String,
    pub reason: String,
    pub source: String,
    pub created_at: Timestamp,
}

#[derive(Debug, PartialEq, Eq)]
pub enum UnsuppressError {
    NotFound,
    /// Only the person can lift it.
    PersonsChoice(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrapEntry {
    pub id: String,
    /// `domain` or `address` (an address is kept as its keyed hash).
    pub kind: String,
    pub value: String,
    pub note: String,
    pub created_at: Timestamp,
}

/// The operator's trap list, loaded for matching.
#[derive(Clone, Debug, Default)]
pub struct TrapList {
    pub domains: std::collections::HashSet<String>,
    pub address_hashes: std::collections::HashSet<String>,
}

impl TrapList {
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.address_hashes.is_empty()
    }

    /// Whether an address (ASCII domain, keyed hash) is on the list; a listed
    /// domain covers its subdomains.
    pub fn matches(&self, domain: &str, hash: &str) -> bool {
        if self.address_hashes.contains(hash) {
            return true;
        }
        let mut rest = domain;
        loop {
            if self.domains.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return false,
            }
        }
    }
}

/// Adds a suppression, or strengthens the one there (`UPSERT_SUPPRESSION`).
pub(crate) async fn upsert_suppression(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    hash: &str,
    reason: &str,
    source: &str,
    now: Timestamp,
    email: &str,
) -> Result<()> {
    sqlx::query(UPSERT_SUPPRESSION)
        .bind(ws.as_str().to_owned())
        .bind(hash.to_owned())
        .bind(reason.to_owned())
        .bind(source.to_owned())
        .bind(now.millis())
        .bind(email.to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The row of the workspace's suppression of the address with this hash
/// (read by `entry_from`).
async fn suppression_row<'e, E>(executor: E, ws: &WorkspaceId, hash: &str) -> Result<Option<AnyRow>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    Ok(sqlx::query(
        "SELECT email, email_hash, reason, source, created_at FROM suppressions \
         WHERE workspace_id = $1 AND email_hash = $2",
    )
    .bind(ws.as_str().to_owned())
    .bind(hash.to_owned())
    .fetch_optional(executor)
    .await?)
}

fn entry_from(row: &AnyRow) -> Result<SuppressionEntry> {
    Ok(SuppressionEntry {
        email: get_opt_str(row, "email")?,
        email_hash: get_str(row, "email_hash")?,
        reason: get_str(row, "reason")?,
        source: get_str(row, "source")?,
        created_at: get_ts(row, "created_at")?,
    })
}

impl Store {
    /// A page of the workspace's suppressions, newest hash order, after `cursor` (a hash).
    pub async fn list_suppressions(
        &self,
        ws: &WorkspaceId,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SuppressionEntry>> {
        let rows = sqlx::query(
            "SELECT email, email_hash, reason, source, created_at FROM suppressions \
             WHERE workspace_id = $1 AND email_hash > $2 ORDER BY email_hash LIMIT $3",
        )
        .bind(ws.as_str().to_owned())
        .bind(cursor.unwrap_or("").to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(entry_from).collect()
    }

    pub async fn suppression(
        &self,
        ws: &WorkspaceId,
        hash: &str,
    ) -> Result<Option<SuppressionEntry>> {
        let row = suppression_row(&self.read, ws, hash).await?;
        row.as_ref().map(entry_from).transpose()
    }

    /// Adds a suppression. An existing one keeps its reason, except that a
    /// person's own choice (unsubscribed, complained, erased) replaces a
    /// reason the workspace could lift, so it can no longer be lifted.
    /// Returns the entry as stored and whether it was new.
    pub async fn add_suppression(
        &self,
        ws: &WorkspaceId,
        email: &str,
        hash: &str,
        reason: &str,
        source: &str,
    ) -> Result<(SuppressionEntry, bool)> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let existed = sqlx::query(
            "SELECT 1 AS one FROM suppressions WHERE workspace_id = $1 AND email_hash = $2",
        )
        .bind(ws.as_str().to_owned())
        .bind(hash.to_owned())
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        upsert_suppression(&mut tx, ws, hash, reason, source, now, email).await?;
        // Upserted just above, in this transaction.
        let entry = suppression_row(&mut *tx, ws, hash)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        tx.commit().await?;
        Ok((entry_from(&entry)?, !existed))
    }

    /// Lifts a suppression the workspace added (or a bounce); refuses the
    /// ones only the person can lift.
    pub async fn remove_suppression(
        &self,
        ws: &WorkspaceId,
        hash: &str,
    ) -> Result<std::result::Result<SuppressionEntry, UnsuppressError>> {
        let mut tx = self.write.begin().await?;
        let row = suppression_row(&mut *tx, ws, hash).await?;
        let Some(entry) = row.as_ref().map(entry_from).transpose()? else {
            return Ok(Err(UnsuppressError::NotFound));
        };
        if PERSON_REASONS.contains(&entry.reason.as_str()) {
            return Ok(Err(UnsuppressError::PersonsChoice(entry.reason)));
        }
        // A bounce or a manual entry may be lifted, but a person who also
        // opted out stays suppressed for that: the stronger reason took the
        // row, and the ledger still says so.
        let opted_out = sqlx::query(
            "SELECT 1 AS one FROM contacts WHERE workspace_id = $1 AND email_hash = $2 \
             AND consent_state LIKE '%:out|%'",
        )
        .bind(ws.as_str().to_owned())
        .bind(hash.to_owned())
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if opted_out {
            sqlx::query(
                "UPDATE suppressions SET reason = 'unsubscribed' WHERE workspace_id = $1 AND email_hash = $2",
            )
            .bind(ws.as_str().to_owned())
            .bind(hash.to_owned())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Err(UnsuppressError::PersonsChoice(
                "unsubscribed".to_owned(),
            )));
        }
        sqlx::query("DELETE FROM suppressions WHERE workspace_id = $1 AND email_hash = $2")
            .bind(ws.as_str().to_owned())
            .bind(hash.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(entry))
    }

    /// Whether any workspace has any suppression (an import skips the
    /// per-batch look-ups on an instance that has none).
    pub async fn any_suppressions(&self) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM suppressions LIMIT 1")
            .fetch_optional(&self.read)
            .await?;
        Ok(row.is_some())
    }

    pub async fn trap_entries(&self) -> Result<Vec<TrapEntry>> {
        let rows = sqlx::query(
            "SELECT id, kind, value, note, created_at FROM operator_suppressions ORDER BY id",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TrapEntry {
                    id: get_str(r, "id")?,
                    kind: get_str(r, "kind")?,
                    value: get_str(r, "value")?,
                    note: get_str(r, "note")?,
                    created_at: get_ts(r, "created_at")?,
                })
            })
            .collect()
    }

    pub async fn trap_list(&self) -> Result<TrapList> {
        let mut list = TrapList::default();
        for e in self.trap_entries().await? {
            match e.kind.as_str() {
                "domain" => list.domains.insert(e.value),
                _ => list.address_hashes.insert(e.value),
            };
        }
        Ok(list)
    }

    /// Adds a trap entry; `None` when the same one exists.
    pub async fn add_trap(&self, kind: &str, value: &str, note: &str) -> Result<Option<TrapEntry>> {
        let now = self.now();
        let id = format!("trap_{}", &AuditId::generate(now).as_str()[3..]);
        let done = sqlx::query(
            "INSERT INTO operator_suppressions (id, kind, value, note, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (kind, value) DO NOTHING",
        )
        .bind(id.clone())
        .bind(kind.to_owned())
        .bind(value.to_owned())
        .bind(note.to_owned())
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        Ok((done.rows_affected() == 1).then(|| TrapEntry {
            id,
            kind: kind.to_owned(),
            value: value.to_owned(),
            note: note.to_owned(),
            created_at: now,
        }))
    }

    pub async fn remove_trap(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM operator_suppressions WHERE id = $1")
            .bind(id.to_owned())
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trap_domain_covers_its_subdomains() {
        let mut list = TrapList::default();
        list.domains.insert("traps.example.net".into());
        list.address_hashes.insert("abc".into());
        assert!(list.matches("traps.example.net", "x"));
        assert!(list.matches("a.traps.example.net", "x"));
        assert!(!list.matches("example.net", "x"));
        assert!(list.matches("gmail.com", "abc"));
    }
}
