//! The workspace's team addresses (confirmed by a link mailed to each) and
//! the test mails sent to them: kept apart from deliveries, so a test is
//! never counted in a message's stats or the workspace's rates.

use crate::{get_opt_str, get_opt_ts, get_str, get_ts, Result, Store};
use sendwell_core::{AuditId, Timestamp, WorkspaceId};
use sqlx::any::AnyRow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamAddress {
    pub email: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestMail {
    pub id: String,
    pub workspace_id: String,
    pub message_id: Option<String>,
    /// `test` (a message's test send), `confirmation` (of a team address),
    /// `account` (a console invite or reset) or `signup_confirmation` (of a
    /// hosted form's sign-up: never shown to the workspace, whose members
    /// could otherwise press its link for the person).
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub raw: String,
    /// `queued`, `sending`, `sent`, `captured` or `failed`.
    pub state: String,
    pub last_reply: Option<String>,
    pub created_at: Timestamp,
}

fn team_from(row: &AnyRow) -> Result<TeamAddress> {
    Ok(TeamAddress {
        email: get_str(row, "email")?,
        created_by: get_str(row, "created_by")?,
        created_at: get_ts(row, "created_at")?,
        confirmed_at: get_opt_ts(row, "confirmed_at")?,
    })
}

const TEST_COLUMNS: &str =
    "id, workspace_id, message_id, kind, recipient, subject, raw, state, last_reply, created_at";

fn test_from(row: &AnyRow) -> Result<TestMail> {
    Ok(TestMail {
        id: get_str(row, "id")?,
        workspace_id: get_str(row, "workspace_id")?,
        message_id: get_opt_str(row, "message_id")?,
        kind: get_str(row, "kind")?,
        recipient: get_str(row, "recipient")?,
        subject: get_str(row, "subject")?,
        raw: get_str(row, "raw")?,
        state: get_str(row, "state")?,
        last_reply: get_opt_str(row, "last_reply")?,
        created_at: get_ts(row, "created_at")?,
    })
}

/// A confirmation is mailed to one address at most this often.
const CONFIRMATION_INTERVAL_MS: i64 = 3_600_000;

/// A workspace has at most this many team addresses.
pub const MAX_TEAM_ADDRESSES: i64 = 50;

impl Store {
    /// Declares a team address (unconfirmed) and queues its confirmation
    /// mail, in one transaction. `None` when the workspace has its limit.
    /// Declaring one again keeps its state, and mails a new confirmation
    /// only if the last went more than an hour ago.
    pub async fn add_team_address(
        &self,
        ws: &WorkspaceId,
        email: &str,
        actor: &str,
        confirmation: (&str, &str),
    ) -> Result<Option<TeamAddress>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        if other_team_addresses(&mut tx, ws, email).await? >= MAX_TEAM_ADDRESSES {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO team_addresses (workspace_id, email, created_by, created_at, confirmed_at) \
             VALUES ($1, $2, $3, $4, NULL) ON CONFLICT (workspace_id, email) DO NOTHING",
        )
        .bind(ws.as_str().to_owned())
        .bind(email.to_owned())
        .bind(actor.to_owned())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        if confirmation_due(&mut tx, ws, email, now).await? {
            insert_test_mail(
                &mut tx,
                ws.as_str(),
                None,
                "confirmation",
                email,
                confirmation,
                now,
            )
            .await?;
        }
        crate::audit::record_action(
            &mut tx,
            ws,
            actor,
            "team_address.added",
            &format!("team address {email} added; a confirmation link was mailed to it"),
            now,
        )
        .await?;
        let row = sqlx::query(
            "SELECT email, created_by, created_at, confirmed_at FROM team_addresses \
             WHERE workspace_id = $1 AND email = $2",
        )
        .bind(ws.as_str().to_owned())
        .bind(email.to_owned())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        team_from(&row).map(Some)
    }

    /// Confirms a declared team address; `false` when it is not declared.
    pub async fn confirm_team_address(&self, ws: &WorkspaceId, email: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE team_addresses SET confirmed_at = COALESCE(confirmed_at, $1) \
             WHERE workspace_id = $2 AND email = $3",
        )
        .bind(self.now().millis())
        .bind(ws.as_str().to_owned())
        .bind(email.to_owned())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn team_addresses(&self, ws: &WorkspaceId) -> Result<Vec<TeamAddress>> {
        let rows = sqlx::query(
            "SELECT email, created_by, created_at, confirmed_at FROM team_addresses \
             WHERE workspace_id = $1 ORDER BY email",
        )
        .bind(ws.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(team_from).collect()
    }

    pub async fn delete_team_address(
        &self,
        ws: &WorkspaceId,
        email: &str,
        actor: &str,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let done = sqlx::query("DELETE FROM team_addresses WHERE workspace_id = $1 AND email = $2")
            .bind(ws.as_str().to_owned())
            .bind(email.to_owned())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        crate::audit::record_action(
            &mut tx,
            ws,
            actor,
            "team_address.deleted",
            &format!("team address {email} deleted"),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Queues test mails of a message, one per (recipient, subject, raw).
    pub async fn queue_test_mails(
        &self,
        ws: &WorkspaceId,
        message: &str,
        mails: &[(String, String, String)],
    ) -> Result<Vec<String>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let mut ids = Vec::with_capacity(mails.len());
        for (to, subject, raw) in mails {
            ids.push(
                insert_test_mail(
                    &mut tx,
                    ws.as_str(),
                    Some(message),
                    "test",
                    to,
                    (subject, raw),
                    now,
                )
                .await?,
            );
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Takes up to `limit` queued test mails for sending.
    pub async fn claim_test_mails(&self, limit: i64) -> Result<Vec<TestMail>> {
        let rows = sqlx::query(&format!(
            "UPDATE test_mails SET state = 'sending' WHERE state = 'queued' AND id IN \
             (SELECT id FROM test_mails WHERE state = 'queued' ORDER BY id LIMIT $1) RETURNING {TEST_COLUMNS}"
        ))
        .bind(limit)
        .fetch_all(&self.write)
        .await?;
        rows.iter().map(test_from).collect()
    }

    /// Records how a test mail went. A console account's mail (an invite
    /// or a reset, whose link opens the account) keeps no copy of its text
    /// once it has left: only the capture transport keeps it, for a
    /// server that delivers nothing.
    pub async fn finish_test_mail(&self, id: &str, state: &str, reply: Option<&str>) -> Result<()> {
        sqlx::query(
            "UPDATE test_mails SET state = $1, last_reply = $2, done_at = $3, \
             raw = CASE WHEN kind IN ('account', 'signup_confirmation') AND $1 <> 'captured' THEN '' ELSE raw END \
             WHERE id = $4",
        )
        .bind(state.to_owned())
        .bind(reply.map(str::to_owned))
        .bind(self.now().millis())
        .bind(id.to_owned())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Every platform mail to one address, newest first (tests and the
    /// operator read invites and resets here).
    pub async fn test_mails_to(&self, recipient: &str) -> Result<Vec<TestMail>> {
        let rows = sqlx::query(&format!(
            "SELECT {TEST_COLUMNS} FROM test_mails WHERE recipient = $1 ORDER BY id DESC"
        ))
        .bind(recipient.to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(test_from).collect()
    }

    /// A workspace's test mails, newest first.
    pub async fn test_mails(&self, ws: &WorkspaceId, limit: i64) -> Result<Vec<TestMail>> {
        let rows = sqlx::query(&format!(
            "SELECT {TEST_COLUMNS} FROM test_mails WHERE workspace_id = $1 AND kind <> 'signup_confirmation' \
             ORDER BY id DESC LIMIT $2"
        ))
        .bind(ws.as_str().to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(test_from).collect()
    }

    pub async fn test_mail(&self, ws: &WorkspaceId, id: &str) -> Result<Option<TestMail>> {
        let row = sqlx::query(&format!(
            "SELECT {TEST_COLUMNS} FROM test_mails WHERE workspace_id = $1 AND id = $2 \
             AND kind <> 'signup_confirmation'"
        ))
        .bind(ws.as_str().to_owned())
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(test_from).transpose()
    }
}

/// How many team addresses the workspace has besides `email`.
async fn other_team_addresses(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    email: &str,
) -> Result<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM team_addresses WHERE workspace_id = $1 AND email <> $2",
    )
    .bind(ws.as_str().to_owned())
    .bind(email.to_owned())
    .fetch_one(&mut **tx)
    .await
    .and_then(|r| sqlx::Row::try_get(&r, "n"))?)
}

/// Whether a confirmation may be mailed to `email`: at most once an hour,
/// and never once it confirmed, so declaring an address again and again
/// cannot make sendwell mail someone over and over.
async fn confirmation_due(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    email: &str,
    now: Timestamp,
) -> Result<bool> {
    let recent = sqlx::query(
        "SELECT 1 AS one FROM test_mails WHERE workspace_id = $1 AND recipient = $2 \
         AND kind = 'confirmation' AND created_at > $3 \
         UNION ALL SELECT 1 AS one FROM team_addresses WHERE workspace_id = $4 AND email = $5 \
         AND confirmed_at IS NOT NULL",
    )
    .bind(ws.as_str().to_owned())
    .bind(email.to_owned())
    .bind(now.millis() - CONFIRMATION_INTERVAL_MS)
    .bind(ws.as_str().to_owned())
    .bind(email.to_owned())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(recent.is_none())
}

/// Queues one mail of the platform's own (`ws` is the workspace it is
/// for, or empty for mail to a console account, which no workspace sees).
pub(crate) async fn insert_test_mail(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &str,
    message: Option<&str>,
    kind: &str,
    to: &str,
    (subject, raw): (&str, &str),
    now: Timestamp,
) -> Result<String> {
    let id = format!("tm_{}", &AuditId::generate(now).as_str()[3..]);
    sqlx::query(
        "INSERT INTO test_mails (id, workspace_id, message_id, kind, recipient, subject, raw, state, last_reply, created_at, done_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', NULL, $8, NULL)",
    )
    .bind(id.clone())
    .bind(ws.to_owned())
    .bind(message.map(str::to_owned))
    .bind(kind.to_owned())
    .bind(to.to_owned())
    .bind(subject.to_owned())
    .bind(raw.to_owned())
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}
