//! The delivery queue as workers see it: claiming due deliveries under a
//! lease owned by one worker, loading what each mail needs in one query per
//! message, and recording how each ended.
//!
//! A claim commits `sending` with `lease_owner` and `lease_until` before any
//! mail leaves. A worker that dies leaves its claims to expire; any worker
//! then takes them over. An outcome is recorded only while the delivery is
//! still leased to the worker that claimed it, so a slow worker whose lease
//! ran out cannot overwrite what its successor recorded. A recipient gets a
//! second copy only when a worker died between the server's 250 and the
//! commit of its outcome.

use crate::audience::{push_category_unfiltered, AudienceSpec, Sql};
use crate::contact::id_and_attributes;
use crate::{
    get_contact_id, get_delivery_id, get_delivery_status, get_i64, get_message_id,
    get_message_kind, get_opt_str, get_str, get_workspace_id, numbered_rows, Backend, Result,
    Store,
};
use sendwell_core::reputation::Counts;
use sendwell_core::{
    ContactId, DeliveryId, DeliveryStatus, MessageId, MessageKind, OutboxId, Timestamp, WorkspaceId,
};
use serde_json::{Map, Value};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};
use std::collections::BTreeMap;

/// A delivery claimed by a worker, leased until it records an outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    pub workspace_id: WorkspaceId,
    pub message_id: MessageId,
    pub contact_id: ContactId,
    pub kind: MessageKind,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// When the first attempt was made (now, for a first attempt).
    pub first_attempt_at: Timestamp,
    /// How often a lease on it ran out before an outcome was recorded (a
    /// worker died or hung on it), this claim included.
    pub lease_expiries: i64,
}

/// An SMTP reply as it is kept on a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyRecord {
    pub code: u16,
    pub enhanced: Option<String>,
    /// The whole reply, code first: `550 5.1.1 no such user`.
    pub line: String,
}

/// How a claimed delivery ended (or when it will be tried again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Stored in the outbox by the capture transport.
    Captured {
        recipient: String,
        subject: String,
        raw: String,
    },
    /// The receiving server accepted it.
    Delivered { domain: String, reply: ReplyRecord },
    /// A transient failure: tried again at `retry_at`.
    Deferred {
        domain: Option<String>,
        reply: Option<ReplyRecord>,
        reason: String,
        retry_at: Timestamp,
    },
    /// A permanent failure (5xx): the reply is kept for classification.
    Bounced { domain: String, reply: ReplyRecord },
    /// Given up: made impossible, or transient failures for too long.
    Failed {
        reason: String,
        reply: Option<ReplyRecord>,
    },
    /// The contact may no longer receive it (suppressed, unsubscribed,
    /// erased since queueing); the reason is kept.
    Skipped { reason: String },
    /// The workspace may not send now; kept for later.
    Held { reason: String },
    /// The workspace's sending was withdrawn, or the workspace cancelled
    /// the message: it will never go.
    Cancelled { reason: String },
    /// The workspace paused the message: it waits until resumed.
    Paused { reason: String },
    /// Put off by sendwell itself until `until` (the warm-up's daily cap):
    /// `deferred`, but not an attempt, so it brings no retry back-off and
    /// no closer to giving up.
    Postponed { reason: String, until: Timestamp },
}

impl DeliveryOutcome {
    /// The state the delivery takes.
    pub fn state(&self) -> DeliveryStatus {
        match self {
            Self::Captured { .. } | Self::Delivered { .. } => DeliveryStatus::Delivered,
            Self::Deferred { .. } | Self::Postponed { .. } => DeliveryStatus::Deferred,
            Self::Bounced { .. } => DeliveryStatus::Bounced,
            Self::Failed { .. } => DeliveryStatus::Failed,
            Self::Skipped { .. } => DeliveryStatus::Skipped,
            Self::Held { .. } => DeliveryStatus::Held,
            Self::Cancelled { .. } => DeliveryStatus::Cancelled,
            Self::Paused { .. } => DeliveryStatus::Paused,
        }
    }

    /// Whether the delivery is finished for good.
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            Self::Deferred { .. }
                | Self::Held { .. }
                | Self::Paused { .. }
                | Self::Postponed { .. }
        )
    }

    fn reply(&self) -> Option<&ReplyRecord> {
        match self {
            Self::Delivered { reply, .. } | Self::Bounced { reply, .. } => Some(reply),
            Self::Deferred { reply, .. } | Self::Failed { reply, .. } => reply.as_ref(),
            _ => None,
        }
    }

    /// What is kept as `last_reply`: the server's reply, or our reason.
    fn last_reply(&self) -> String {
        match self {
            Self::Captured { .. } => "captured".to_owned(),
            Self::Delivered { reply, .. } | Self::Bounced { reply, .. } => reply.line.clone(),
            Self::Deferred { reply, reason, .. } | Self::Failed { reply, reason } => match reply {
                Some(r) if r.line != *reason => format!("{reason}: {}", r.line),
                _ => reason.clone(),
            },
            Self::Skipped { reason }
            | Self::Held { reason }
            | Self::Cancelled { reason }
            | Self::Paused { reason }
            | Self::Postponed { reason, .. } => reason.clone(),
        }
    }

    fn domain(&self) -> Option<&str> {
        match self {
            Self::Delivered { domain, .. } | Self::Bounced { domain, .. } => Some(domain),
            Self::Deferred { domain, .. } => domain.as_deref(),
            _ => None,
        }
    }
}

/// What one mail needs of its contact, with the reason it may no longer
/// receive the message (`category`), if any.
#[derive(Clone, Debug, PartialEq)]
pub struct MailTarget {
    pub contact_id: ContactId,
    pub email: Option<String>,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub attributes: Map<String, Value>,
    pub category: Option<String>,
}

fn claimed_from(row: &AnyRow, now: Timestamp) -> Result<ClaimedDelivery> {
    let first: Option<i64> = row.try_get("first_attempt_at")?;
    Ok(ClaimedDelivery {
        id: get_delivery_id(row, "id")?,
        workspace_id: get_workspace_id(row, "workspace_id")?,
        message_id: get_message_id(row, "message_id")?,
        contact_id: get_contact_id(row, "contact_id")?,
        kind: get_message_kind(row, "kind")?,
        attempts: get_i64(row, "attempts")?,
        first_attempt_at: first.map(Timestamp::from_millis).unwrap_or(now),
        lease_expiries: get_i64(row, "lease_expiries")?,
    })
}

impl Store {
    /// Claims up to `limit` due deliveries for `owner` for `lease_ms`.
    /// Deliveries whose lease ran out (a worker died) are due again.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        limit: i64,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedDelivery>> {
        let now = self.now();
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE deliveries SET state = 'sending', lease_owner = $1, lease_until = $2, \
             attempts = attempts + 1, updated_at = $3, \
             lease_expiries = lease_expiries + CASE WHEN state = 'sending' THEN 1 ELSE 0 END \
             WHERE id IN (SELECT id FROM deliveries WHERE \
             (state IN ('queued', 'deferred') AND next_attempt_at <= $4) OR (state = 'sending' AND lease_until < $5) \
             ORDER BY next_attempt_at LIMIT $6{lock}) \
             RETURNING id, workspace_id, message_id, contact_id, kind, attempts, first_attempt_at, lease_expiries, \
             next_attempt_at"
        );
        let rows = sqlx::query(&sql)
            .bind(owner.to_owned())
            .bind(now.millis() + lease_ms)
            .bind(now.millis())
            .bind(now.millis())
            .bind(now.millis())
            .bind(limit)
            .fetch_all(&self.write)
            .await?;
        // RETURNING keeps no order (PostgreSQL): in the order they fell
        // due, which the warm-up's daily cap lets through first.
        let mut claimed = rows
            .iter()
            .map(|r| Ok((get_i64(r, "next_attempt_at")?, claimed_from(r, now)?)))
            .collect::<Result<Vec<_>>>()?;
        claimed.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1.id.as_str().cmp(b.1.id.as_str()))
        });
        Ok(claimed.into_iter().map(|(_, c)| c).collect())
    }

    /// The contacts of one message's claimed deliveries, with the category
    /// that now keeps each from receiving it (suppressed, unsubscribed,
    /// erased since queueing), in one query. A contact that no longer
    /// exists is missing from the answer.
    pub async fn mail_targets(
        &self,
        spec: &AudienceSpec<'_>,
        contacts: &[ContactId],
    ) -> Result<Vec<MailTarget>> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let mut sql = Sql::new(self.backend);
        sql.push("SELECT c.id, c.email, c.name, c.external_id, ");
        sql.push(match self.backend {
            Backend::Sqlite => "json(c.attributes) AS attributes, ",
            Backend::Postgres => "c.attributes::text AS attributes, ",
        });
        push_category_unfiltered(&mut sql, spec, now);
        push_contact_ids(&mut sql, contacts);
        // Not kept as a prepared statement: the IN list's length varies, and
        // each length would stay cached on every connection.
        let rows = sql.query().persistent(false).fetch_all(&self.read).await?;
        rows.iter().map(target_from).collect()
    }

    /// Records the outcomes of `owner`'s claimed deliveries in one
    /// transaction, one `UPDATE ... FROM (VALUES ...)` per chunk of rows. A
    /// delivery no longer leased to `owner` is left alone; the answer counts
    /// the ones recorded.
    pub async fn record_outcomes(
        &self,
        owner: &str,
        outcomes: &[(ClaimedDelivery, DeliveryOutcome)],
    ) -> Result<usize> {
        /// Rows per statement: 9 parameters each stays far below both
        /// backends' parameter limits.
        const CHUNK: usize = 500;
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let mut recorded = std::collections::HashSet::new();
        // SQLite runs in this process: one cached statement per row is cheap,
        // while binding thousands of parameters to one statement is not.
        let chunk_size = match self.backend {
            Backend::Sqlite => 1,
            Backend::Postgres => CHUNK,
        };
        for chunk in outcomes.chunks(chunk_size) {
            let sql = outcome_update_sql(chunk.len());
            // Full chunks share one prepared statement; a shorter last chunk
            // is not kept.
            let mut q = sqlx::query(&sql)
                .persistent(chunk.len() == chunk_size)
                .bind(now.millis())
                .bind(owner.to_owned());
            for (delivery, outcome) in chunk {
                q = bind_outcome(q, delivery, outcome, now);
            }
            for row in q.fetch_all(&mut *tx).await? {
                recorded.insert(get_str(&row, "id")?);
            }
        }
        // Only what this worker still held counts, in the same transaction.
        let mine: Vec<&(ClaimedDelivery, DeliveryOutcome)> = outcomes
            .iter()
            .filter(|(d, _)| recorded.contains(d.id.as_str()))
            .collect();
        record_consequences(&mut tx, &mine, now).await?;
        tx.commit().await?;
        Ok(recorded.len())
    }

    /// Whether a message still has deliveries waiting (queued, being sent,
    /// or deferred).
    pub async fn message_pending(&self, id: &MessageId) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM deliveries WHERE message_id = $1 \
             AND state IN ('queued', 'sending', 'deferred') LIMIT 1",
        )
        .bind(id.as_str().to_owned())
        .fetch_optional(&self.read)
        .await?;
        Ok(row.is_some())
    }

    /// The contact of one of a message's deliveries (a held one while
    /// there is any): whom a mail in content review is shown as going to.
    pub async fn first_recipient(&self, id: &MessageId) -> Result<Option<ContactId>> {
        // Both reads walk the (message_id, state) index and stop at one row.
        for state in [Some(DeliveryStatus::Review), None] {
            let sql = match state {
                Some(_) => {
                    "SELECT contact_id FROM deliveries WHERE message_id = $1 AND state = $2 LIMIT 1"
                }
                None => "SELECT contact_id FROM deliveries WHERE message_id = $1 LIMIT 1",
            };
            let mut q = sqlx::query(sql).bind(id.as_str().to_owned());
            if let Some(state) = state {
                q = q.bind(state.as_str());
            }
            let row = q.fetch_optional(&self.read).await?;
            if let Some(row) = row {
                return get_contact_id(&row, "contact_id").map(Some);
            }
        }
        Ok(None)
    }

    /// Workspaces that have held deliveries.
    pub async fn workspaces_with_held(&self) -> Result<Vec<WorkspaceId>> {
        let rows = sqlx::query("SELECT DISTINCT workspace_id FROM deliveries WHERE state = 'held'")
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| get_workspace_id(r, "workspace_id"))
            .collect()
    }

    /// Returns a workspace's held deliveries to the queue (once it may send
    /// again), or only its transactional ones.
    pub async fn release_held(&self, ws: &WorkspaceId, transactional_only: bool) -> Result<u64> {
        let now = self.now();
        let kinds = if transactional_only {
            " AND kind = 'transactional'"
        } else {
            ""
        };
        let done = sqlx::query(&format!(
            // A delivery waiting for its window keeps its time.
            "UPDATE deliveries SET state = 'queued', updated_at = $1, \
             next_attempt_at = CASE WHEN next_attempt_at < $1 THEN $1 ELSE next_attempt_at END \
             WHERE workspace_id = $2 AND state = 'held'{kinds} \
             AND message_id NOT IN (SELECT id FROM messages WHERE workspace_id = $3 AND paused_reason IS NOT NULL)"
        ))
        .bind(now.millis())
        .bind(ws.as_str().to_owned())
        .bind(ws.as_str().to_owned())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    /// Cancels every delivery of a workspace that has not gone yet (its
    /// sending was withdrawn), each with the reason. Returns how many.
    pub async fn cancel_pending(&self, ws: &WorkspaceId, reason: &str) -> Result<u64> {
        let now = self.now();
        let done = sqlx::query(
            "UPDATE deliveries SET state = 'cancelled', last_reply = $1, done_at = $2, updated_at = $2, \
             lease_until = NULL, lease_owner = NULL \
             WHERE workspace_id = $3 AND state IN ('queued', 'deferred', 'held', 'review', 'paused')",
        )
        .bind(reason.to_owned())
        .bind(now.millis())
        .bind(ws.as_str().to_owned())
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    /// How many deliveries are in each state, over all workspaces.
    pub async fn queue_depth(&self) -> Result<BTreeMap<String, i64>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state")
            .fetch_all(&self.read)
            .await?;
        let mut counts = BTreeMap::new();
        for row in rows {
            counts.insert(get_str(&row, "state")?, get_i64(&row, "n")?);
        }
        Ok(counts)
    }

    /// Deliveries in each state that is still waiting for something
    /// (review, queued, sending, deferred, held): one index range each,
    /// so it costs what the queue holds, not what was ever sent.
    pub async fn waiting_depth(&self) -> Result<BTreeMap<&'static str, i64>> {
        use sendwell_core::DeliveryStatus as S;
        let mut counts = BTreeMap::new();
        for state in [S::Review, S::Queued, S::Sending, S::Deferred, S::Held] {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM deliveries WHERE state = $1")
                .bind(state.as_str())
                .fetch_one(&self.read)
                .await?;
            counts.insert(state.as_str(), get_i64(&row, "n")?);
        }
        Ok(counts)
    }

    /// Marketing deliveries the workspace queued since `since`: its daily
    /// volume, for the bulk-sender rules.
    pub async fn marketing_sent_since(&self, ws: &WorkspaceId, since: Timestamp) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM deliveries WHERE workspace_id = $1 AND kind = 'marketing' \
             AND created_at >= $2",
        )
        .bind(ws.as_str().to_owned())
        .bind(since.millis())
        .fetch_one(&self.read)
        .await?;
        crate::get_i64(&row, "n")
    }

    /// One delivery's state and last reply, for tests and the API.
    pub async fn delivery_state(&self, id: &DeliveryId) -> Result<Option<DeliveryState>> {
        let row = sqlx::query(
            "SELECT state, attempts, last_reply, reply_code, enhanced_status, next_attempt_at \
             FROM deliveries WHERE id = $1",
        )
        .bind(id.as_str().to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(DeliveryState {
                state: get_delivery_status(&r, "state")?,
                attempts: get_i64(&r, "attempts")?,
                last_reply: get_opt_str(&r, "last_reply")?,
                reply_code: r.try_get::<Option<i64>, _>("reply_code")?,
                enhanced_status: get_opt_str(&r, "enhanced_status")?,
                next_attempt_at: Timestamp::from_millis(get_i64(&r, "next_attempt_at")?),
            })
        })
        .transpose()
    }
}

/// `AND c.id IN (...)`: only these contacts.
fn push_contact_ids(sql: &mut Sql, contacts: &[ContactId]) {
    match sql.backend() {
        // One JSON array parameter: the SQLite driver's binding of many
        // parameters costs time in their square.
        Backend::Sqlite => {
            let ids: Vec<&str> = contacts.iter().map(ContactId::as_str).collect();
            sql.push(" AND c.id IN (SELECT value FROM json_each(");
            sql.text(&Value::from(ids).to_string());
            sql.push("))");
        }
        Backend::Postgres => {
            sql.push(" AND c.id IN (");
            for (i, id) in contacts.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.text(id.as_str());
            }
            sql.push(")");
        }
    }
}

fn target_from(row: &AnyRow) -> Result<MailTarget> {
    let (contact_id, attributes) = id_and_attributes(row)?;
    Ok(MailTarget {
        contact_id,
        email: get_opt_str(row, "email")?,
        name: get_opt_str(row, "name")?,
        external_id: get_opt_str(row, "external_id")?,
        attributes,
        category: row.try_get::<Option<String>, _>("category")?,
    })
}

/// What a delivery's row says now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryState {
    pub state: DeliveryStatus,
    pub attempts: i64,
    pub last_reply: Option<String>,
    pub reply_code: Option<i64>,
    pub enhanced_status: Option<String>,
    pub next_attempt_at: Timestamp,
}

/// The UPDATE that records `rows` outcomes at once from a VALUES list,
/// only where the delivery is still being sent under the caller's lease
/// (`$1` is now, `$2` the owner, then nine values a row).
/// The claim counted an attempt; an outcome that was none (held, paused,
/// postponed, skipped, cancelled: no SMTP conversation) takes it back.
/// A delivery the worker returns to `paused` goes to the queue instead
/// when its message was resumed meanwhile: the resume moved only what was
/// paused when it ran.
fn outcome_update_sql(rows: usize) -> String {
    let mut sql = String::from(
        "UPDATE deliveries AS d SET state = CASE WHEN v.state = 'paused' AND NOT EXISTS \
         (SELECT 1 FROM messages AS m WHERE m.id = d.message_id AND m.state = 'paused') \
         THEN 'queued' ELSE v.state END, last_reply = v.last_reply, \
         reply_code = v.reply_code, enhanced_status = v.enhanced, \
         recipient_domain = COALESCE(v.domain, d.recipient_domain), \
         next_attempt_at = COALESCE(v.next_at, d.next_attempt_at), \
         first_attempt_at = COALESCE(d.first_attempt_at, v.first_at), done_at = v.done_at, \
         attempts = d.attempts - CASE WHEN v.first_at IS NULL THEN 1 ELSE 0 END, \
         lease_until = NULL, lease_owner = NULL, updated_at = $1 \
         FROM (SELECT column1 AS vid, column2 AS state, column3 AS last_reply, column4 AS reply_code, \
         column5 AS enhanced, column6 AS domain, column7 AS next_at, column8 AS first_at, \
         column9 AS done_at FROM (VALUES ",
    );
    // The first row fixes each column's type for PostgreSQL.
    sql.push_str(&numbered_rows(rows, 9, 3, |k, c, n| match (k, c) {
        (0, 3 | 6 | 7 | 8) => format!("CAST(${n} AS BIGINT)"),
        (0, _) => format!("CAST(${n} AS TEXT)"),
        _ => format!("${n}"),
    }));
    sql.push_str(
        ") AS x) AS v WHERE d.id = v.vid AND d.state = 'sending' AND d.lease_owner = $2 RETURNING id",
    );
    sql
}

/// One row of `outcome_update_sql`'s VALUES: the delivery and its nine values.
fn bind_outcome<'q>(
    q: Query<'q, Any, AnyArguments<'q>>,
    delivery: &ClaimedDelivery,
    outcome: &DeliveryOutcome,
    now: Timestamp,
) -> Query<'q, Any, AnyArguments<'q>> {
    let reply = outcome.reply();
    let next_attempt = match outcome {
        DeliveryOutcome::Deferred { retry_at, .. } => Some(retry_at.millis()),
        DeliveryOutcome::Postponed { until, .. } => Some(until.millis()),
        _ => None,
    };
    let attempted = !matches!(
        outcome,
        DeliveryOutcome::Held { .. }
            | DeliveryOutcome::Skipped { .. }
            | DeliveryOutcome::Cancelled { .. }
            | DeliveryOutcome::Paused { .. }
            | DeliveryOutcome::Postponed { .. }
    );
    q.bind(delivery.id.as_str().to_owned())
        .bind(outcome.state().as_str())
        .bind(outcome.last_reply())
        .bind(reply.map(|r| i64::from(r.code)))
        .bind(reply.and_then(|r| r.enhanced.clone()))
        .bind(outcome.domain().map(str::to_owned))
        .bind(next_attempt)
        .bind(attempted.then_some(delivery.first_attempt_at.millis()))
        .bind(outcome.is_final().then_some(now.millis()))
}

/// What the recorded outcomes bring with them: the reputation monitor's
/// counts, and the mails the capture transport took.
async fn record_consequences(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    recorded: &[&(ClaimedDelivery, DeliveryOutcome)],
    now: Timestamp,
) -> Result<()> {
    for ((ws, msg), add) in reputation_counts(recorded) {
        crate::reputation::count_in_tx(tx, &ws, &msg, add, now).await?;
    }
    for (delivery, outcome) in recorded.iter().map(|r| (&r.0, &r.1)) {
        if let DeliveryOutcome::Captured {
            recipient,
            subject,
            raw,
        } = outcome
        {
            insert_captured(tx, delivery, recipient, subject, raw, now).await?;
        }
    }
    Ok(())
}

/// The reputation monitor's counts of recorded outcomes, by message: a
/// send is a mail the receiving server (or the capture outbox) took; a
/// hard bounce is a permanent refusal of the address (5.1.x).
fn reputation_counts(
    recorded: &[&(ClaimedDelivery, DeliveryOutcome)],
) -> std::collections::HashMap<(WorkspaceId, MessageId), Counts> {
    let mut counts: std::collections::HashMap<(WorkspaceId, MessageId), Counts> =
        std::collections::HashMap::new();
    for (delivery, outcome) in recorded.iter().map(|r| (&r.0, &r.1)) {
        let hard = match outcome {
            // A captured mail was delivered too, to the outbox: the rates
            // must count it, or complaints about captured mail would be
            // measured against no sends at all.
            DeliveryOutcome::Delivered { .. } | DeliveryOutcome::Captured { .. } => false,
            DeliveryOutcome::Bounced { reply, .. } => reply
                .enhanced
                .as_deref()
                .is_some_and(|e| e.starts_with("5.1.")),
            _ => continue,
        };
        let c = counts
            .entry((delivery.workspace_id.clone(), delivery.message_id.clone()))
            .or_default();
        c.sends += 1;
        c.hard_bounces += u64::from(hard);
    }
    counts
}

/// A mail the capture transport took, into the outbox.
async fn insert_captured(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    delivery: &ClaimedDelivery,
    recipient: &str,
    subject: &str,
    raw: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, workspace_id, message_id, delivery_id, recipient, subject, raw, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(OutboxId::generate(now).as_str().to_owned())
    .bind(delivery.workspace_id.as_str().to_owned())
    .bind(delivery.message_id.as_str().to_owned())
    .bind(delivery.id.as_str().to_owned())
    .bind(recipient.to_owned())
    .bind(subject.to_owned())
    .bind(raw.to_owned())
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sendwell_core::{DeliveryStatus, MessageState, ReviewState};

    /// The names compared with a `state` column in `source`'s SQL:
    /// `state = 'x'`, `state <> 'x'` and `state IN ('x', 'y')`.
    fn state_literals(source: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (at, _) in source.match_indices("state ") {
            let rest = &source[at + "state ".len()..];
            let list = if let Some(r) = rest.strip_prefix("IN (") {
                r.split(')').next().unwrap_or("")
            } else if let Some(r) = rest.strip_prefix("= '").or(rest.strip_prefix("<> '")) {
                r.split('\'').next().map_or("", |name| &r[..name.len()])
            } else {
                continue;
            };
            found.extend(
                list.split(',')
                    .map(|s| s.trim().trim_matches('\'').to_owned())
                    .filter(|s| !s.is_empty() && !s.starts_with('$')),
            );
        }
        found
    }

    /// The SQL that reads or moves deliveries names only states the code
    /// knows: a misspelt state in a WHERE clause would match nothing, and
    /// no constraint catches a read.
    #[test]
    fn delivery_sql_names_only_known_states() {
        let sources = [
            include_str!("campaign.rs"),
            include_str!("delivery.rs"),
            include_str!("feedback.rs"),
            include_str!("message.rs"),
            include_str!("reputation.rs"),
        ];
        let known = |name: &str| {
            DeliveryStatus::parse(name).is_some()
                || MessageState::parse(name).is_some()
                || ReviewState::parse(name).is_some()
        };
        let mut seen = 0;
        for source in sources {
            let source = &source[..source.find("#[cfg(test)]").unwrap_or(source.len())];
            // Each query's text, up to its first bind or run (queries built
            // in a function start as a String).
            let source = source.replace("String::from(", "sqlx::query");
            let queries = source.split("sqlx::query").skip(1).map(|q| {
                let end = [".bind(", ".fetch", ".execute("]
                    .iter()
                    .filter_map(|m| q.find(m))
                    .min()
                    .unwrap_or(q.len());
                &q[..end]
            });
            let on_deliveries = queries
                .filter(|q| q.contains("deliveries") || q.contains("messages"))
                .collect::<Vec<_>>()
                .join("\n");
            for name in state_literals(&on_deliveries) {
                assert!(
                    known(&name),
                    "'{name}' is not a delivery, message or review state"
                );
                seen += 1;
            }
        }
        assert!(seen >= 20, "the scan found only {seen} state names");
    }
}
