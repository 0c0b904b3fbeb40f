//! A message's life after it is composed (issue #19): a draft is changed
//! until it is sent, and a sent message is paused, resumed or cancelled
//! on its way. Each change is one transaction: the message's state and
//! its waiting deliveries move together, and the workspace's audit log
//! says who did it.
//!
//! Deliveries a worker has already claimed (`sending`) are not touched:
//! they finish as they would have. A worker checks the message's state
//! when it claims a batch, so a delivery claimed after a pause (a retry
//! falling due) goes back to `paused` instead of out.

use crate::message::{bind_composed, message_from, MESSAGE_COLUMNS};
use crate::{Result, Store};
use sendwell_core::{MessageId, MessageState, Timestamp, WorkspaceId};
use serde_json::Value;
use sqlx::{Any, Transaction};

use crate::message::{MessageRecord, NewMessage};

/// A change to a sent message's run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunChange {
    Pause,
    Resume,
    Cancel,
}

impl RunChange {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
        }
    }

    /// "paused", "resumed", "cancelled".
    pub fn past_tense(self) -> &'static str {
        match self {
            Self::Pause => "paused",
            Self::Resume => "resumed",
            Self::Cancel => "cancelled",
        }
    }

    /// The states a message may be in for this change.
    fn applies_to(self) -> &'static [MessageState] {
        match self {
            Self::Pause => &[MessageState::Queued],
            Self::Resume => &[MessageState::Paused],
            Self::Cancel => &[
                MessageState::Queued,
                MessageState::Paused,
                MessageState::Scheduled,
                MessageState::Held,
            ],
        }
    }

    fn to_state(self) -> MessageState {
        match self {
            Self::Pause => MessageState::Paused,
            Self::Resume => MessageState::Queued,
            Self::Cancel => MessageState::Cancelled,
        }
    }
}

/// Why a change was not made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunRefused {
    NotFound,
    /// The message is in a state the change does not apply to.
    NotNow(MessageState),
    /// The operator's content review has the message (pause and resume
    /// wait for the decision; cancelling is always possible).
    InReview,
}

/// What a change did: the message as it is now, and how many of its
/// deliveries moved.
#[derive(Clone, Debug, PartialEq)]
pub struct RunChanged {
    pub message: MessageRecord,
    pub moved: u64,
}

impl Store {
    /// Changes a draft to `new` (everything but its id, workspace, author
    /// and creation time). `Err(state)` when it is no longer a draft.
    pub async fn update_draft(
        &self,
        ws: &WorkspaceId,
        id: &MessageId,
        new: &NewMessage,
    ) -> Result<Option<std::result::Result<MessageRecord, MessageState>>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let update = sqlx::query(
            "UPDATE messages SET name = $1, kind = $2, topic = $3, from_name = $4, from_address = $5, \
             reply_to = $6, subject = $7, template = $8, audience = $9, opt_in_attribute = $10, \
             track_clicks = $11, track_opens = $12, data = $13, exclude_risky = $14, \
             audience_id = $15, updated_at = $16 \
             WHERE workspace_id = $17 AND id = $18 AND state IN ('draft', 'scheduled', 'held')",
        );
        let done = bind_composed(update, new)
            .bind(i64::from(new.exclude_risky))
            .bind(new.audience_id.as_ref().map(|a| a.as_str().to_owned()))
            .bind(now.millis())
            .bind(ws.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        let Some(message) = message_in(&mut tx, ws, id).await? else {
            return Ok(None);
        };
        if done.rows_affected() == 0 {
            return Ok(Some(Err(message.state)));
        }
        tx.commit().await?;
        Ok(Some(Ok(message)))
    }

    /// Pauses, resumes or cancels a sent message: its state and its
    /// waiting deliveries move together, and the audit log records `actor`.
    pub async fn change_run(
        &self,
        ws: &WorkspaceId,
        id: &MessageId,
        change: RunChange,
        actor: &str,
    ) -> Result<std::result::Result<RunChanged, RunRefused>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        // The write comes first, so the transaction holds the write lock
        // from its first statement (on SQLite a read then a write can fail
        // on a busy database instead of waiting).
        // The states each change applies to, as `applies_to` lists them;
        // pause and resume wait for a content review's approval.
        let applies = match change {
            RunChange::Pause => {
                "state = 'queued' AND (review_state IS NULL OR review_state = 'approved')"
            }
            RunChange::Resume => {
                "state = 'paused' AND (review_state IS NULL OR review_state = 'approved')"
            }
            RunChange::Cancel => "state IN ('queued', 'paused', 'scheduled', 'held')",
        };
        let done = sqlx::query(&format!(
            "UPDATE messages SET state = $1, updated_at = $2 \
             WHERE workspace_id = $3 AND id = $4 AND {applies}"
        ))
        .bind(change.to_state().as_str())
        .bind(now.millis())
        .bind(ws.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let before = message_in(&mut tx, ws, id).await?;
            return Ok(Err(match before {
                None => RunRefused::NotFound,
                Some(m) if !change.applies_to().contains(&m.state) => RunRefused::NotNow(m.state),
                Some(_) => RunRefused::InReview,
            }));
        }
        let moved = move_deliveries(&mut tx, id, change, now).await?;
        let Some(message) = message_in(&mut tx, ws, id).await? else {
            return Ok(Err(RunRefused::NotFound));
        };
        let reason = format!(
            "message {id} {}: {moved} waiting deliveries moved",
            change.past_tense()
        );
        let action = format!("message.{}", change.as_str());
        crate::audit::record_action(&mut tx, ws, actor, &action, &reason, now).await?;
        tx.commit().await?;
        Ok(Ok(RunChanged { message, moved }))
    }

    /// Schedules a draft (or a held or scheduled message) to be queued at
    /// `send_at`, with its delivery window. `Err(state)` when it was sent.
    pub async fn schedule_message(
        &self,
        ws: &WorkspaceId,
        id: &MessageId,
        send_at: Timestamp,
        window: Option<&Value>,
        actor: &str,
    ) -> Result<Option<std::result::Result<MessageRecord, MessageState>>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE messages SET state = 'scheduled', send_at = $1, send_window = $2, \
             held_reason = NULL, updated_at = $3 \
             WHERE workspace_id = $4 AND id = $5 AND state IN ('draft', 'held', 'scheduled')",
        )
        .bind(send_at.millis())
        .bind(window.map(Value::to_string))
        .bind(now.millis())
        .bind(ws.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        let Some(message) = message_in(&mut tx, ws, id).await? else {
            return Ok(None);
        };
        if done.rows_affected() == 0 {
            return Ok(Some(Err(message.state)));
        }
        let reason = format!("message {id} scheduled for {}", send_at.to_rfc3339());
        crate::audit::record_action(&mut tx, ws, actor, "message.schedule", &reason, now).await?;
        tx.commit().await?;
        Ok(Some(Ok(message)))
    }

    /// Makes a scheduled (or held) message a draft again. `Err(state)` when
    /// it is neither.
    pub async fn unschedule_message(
        &self,
        ws: &WorkspaceId,
        id: &MessageId,
        actor: &str,
    ) -> Result<Option<std::result::Result<MessageRecord, MessageState>>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE messages SET state = 'draft', send_at = NULL, held_reason = NULL, updated_at = $1 \
             WHERE workspace_id = $2 AND id = $3 AND state IN ('scheduled', 'held')",
        )
        .bind(now.millis())
        .bind(ws.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        let Some(message) = message_in(&mut tx, ws, id).await? else {
            return Ok(None);
        };
        if done.rows_affected() == 0 {
            return Ok(Some(Err(message.state)));
        }
        let reason = format!("message {id} unscheduled: a draft again");
        crate::audit::record_action(&mut tx, ws, actor, "message.unschedule", &reason, now).await?;
        tx.commit().await?;
        Ok(Some(Ok(message)))
    }

    /// Scheduled messages whose time has come, from every workspace, in
    /// order of (send_at, id) after `after`.
    pub async fn due_scheduled(
        &self,
        after: Option<(Timestamp, &MessageId)>,
        limit: i64,
    ) -> Result<Vec<MessageRecord>> {
        let (at, id) = match after {
            Some((t, id)) => (t.millis(), id.as_str().to_owned()),
            None => (i64::MIN, String::new()),
        };
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE state = 'scheduled' AND send_at <= $1 \
             AND (send_at > $2 OR (send_at = $3 AND id > $4)) ORDER BY send_at, id LIMIT $5"
        ))
        .bind(self.now().millis())
        .bind(at)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(message_from).collect()
    }

    /// Holds a scheduled message whose checks failed at its time, with the
    /// reason; false when it is no longer scheduled (sent or changed since).
    pub async fn hold_scheduled(
        &self,
        ws: &WorkspaceId,
        id: &MessageId,
        send_at: Option<Timestamp>,
        reason: &str,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE messages SET state = 'held', held_reason = $1, updated_at = $2 \
             WHERE workspace_id = $3 AND id = $4 AND state = 'scheduled' AND send_at = $5",
        )
        .bind(reason)
        .bind(now.millis())
        .bind(ws.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .bind(send_at.map(Timestamp::millis))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let note = format!("message {id} held at its scheduled time: {reason}");
        crate::audit::record_action(&mut tx, ws, "scheduler", "message.held", &note, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A message's state as stored now, for a worker about to send it.
    pub async fn message_state(&self, id: &MessageId) -> Result<Option<MessageState>> {
        let row = sqlx::query("SELECT state FROM messages WHERE id = $1")
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| {
            crate::get_as(&r, "state", "message state", |s| {
                MessageState::parse(s).ok_or(())
            })
        })
        .transpose()
    }
}

async fn message_in(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    id: &MessageId,
) -> Result<Option<MessageRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE workspace_id = $1 AND id = $2"
    ))
    .bind(ws.as_str().to_owned())
    .bind(id.as_str().to_owned())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(message_from).transpose()
}

/// Moves the message's waiting deliveries for `change`; how many moved.
/// A resumed delivery keeps a retry time still to come (a deferral's
/// back-off) and is due at once otherwise.
async fn move_deliveries(
    tx: &mut Transaction<'_, Any>,
    id: &MessageId,
    change: RunChange,
    now: Timestamp,
) -> Result<u64> {
    let sql = match change {
        RunChange::Pause => {
            "UPDATE deliveries SET state = 'paused', last_reply = $1, updated_at = $2 \
             WHERE message_id = $3 AND state IN ('queued', 'deferred')"
        }
        // The reputation monitor's circuit breaker may have paused the
        // message meanwhile: its mail stays held for the operator.
        RunChange::Resume => {
            "UPDATE deliveries SET state = CASE WHEN (SELECT paused_reason FROM messages \
             WHERE id = $3) IS NULL THEN 'queued' ELSE 'held' END, last_reply = $1, updated_at = $2, \
             next_attempt_at = CASE WHEN next_attempt_at IS NULL OR next_attempt_at < $2 \
             THEN $2 ELSE next_attempt_at END \
             WHERE message_id = $3 AND state = 'paused'"
        }
        RunChange::Cancel => {
            "UPDATE deliveries SET state = 'cancelled', last_reply = $1, updated_at = $2, done_at = $2 \
             WHERE message_id = $3 AND state IN ('queued', 'deferred', 'paused', 'held', 'review')"
        }
    };
    let reply = match change {
        RunChange::Pause => "paused by the workspace",
        RunChange::Resume => "resumed by the workspace",
        RunChange::Cancel => "cancelled by the workspace",
    };
    let done = sqlx::query(sql)
        .bind(reply)
        .bind(now.millis())
        .bind(id.as_str().to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}
