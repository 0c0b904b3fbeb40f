//! Outgoing webhooks: a workspace's endpoints, and the messages queued for
//! them (one per event and endpoint), which are also the delivery log.

use crate::{corrupt, get_i64, get_opt_str, get_opt_ts, get_str, get_ts, Backend, Result, Store};
use sendwell_core::{Timestamp, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::Row;

/// Event types an endpoint may subscribe to.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "delivery",
    "open",
    "click",
    "bounce",
    "complaint",
    "unsubscribe",
    "opt_in",
    "state_change",
    "message_held",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub url: String,
    /// `whsec_` and the base64 key (Standard Webhooks).
    pub secret: String,
    pub events: Vec<String>,
    pub created_at: Timestamp,
    /// Who added it (an actor as the audit log names it); unknown for
    /// endpoints added before this was recorded.
    pub created_by: Option<String>,
}

/// One event for one endpoint: queued, sent, or given up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookMessage {
    pub id: String,
    pub endpoint_id: String,
    pub event_type: String,
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub done_at: Option<Timestamp>,
}

/// A due message with what sending it needs.
#[derive(Clone, Debug)]
pub struct DueWebhook {
    pub message: WebhookMessage,
    pub url: String,
    pub secret: String,
}

fn endpoint_from(r: &AnyRow) -> Result<WebhookEndpoint> {
    Ok(WebhookEndpoint {
        id: get_str(r, "id")?,
        workspace_id: crate::get_workspace_id(r, "workspace_id")?,
        url: get_str(r, "url")?,
        secret: get_str(r, "secret")?,
        events: get_str(r, "events")?
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: get_ts(r, "created_at")?,
        created_by: crate::get_opt_str(r, "created_by")?,
    })
}

fn message_from(r: &AnyRow) -> Result<WebhookMessage> {
    Ok(WebhookMessage {
        id: get_str(r, "id")?,
        endpoint_id: get_str(r, "endpoint_id")?,
        event_type: get_str(r, "event_type")?,
        payload: get_str(r, "payload")?,
        state: get_str(r, "state")?,
        attempts: get_i64(r, "attempts")?,
        next_attempt_at: get_ts(r, "next_attempt_at")?,
        last_status: r.try_get::<Option<i64>, _>("last_status")?,
        last_error: get_opt_str(r, "last_error")?,
        created_at: get_ts(r, "created_at")?,
        done_at: get_opt_ts(r, "done_at")?,
    })
}

fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        sendwell_core::secret::to_hex(&sendwell_core::secret::random_bytes::<12>())
    )
}

const MESSAGE_COLUMNS: &str = "m.id, m.endpoint_id, m.event_type, m.payload, m.state, m.attempts, \
     m.next_attempt_at, m.last_status, m.last_error, m.created_at, m.done_at";

impl Store {
    /// A new endpoint's id, for the caller to seal its secret to before
    /// [`Store::create_webhook_endpoint`].
    pub fn new_webhook_endpoint_id() -> String {
        new_id("we")
    }

    /// Adds an endpoint; `secret` is stored as given (sealed by the caller).
    pub async fn create_webhook_endpoint(
        &self,
        ws: &WorkspaceId,
        id: &str,
        url: &str,
        secret: &str,
        events: &[String],
        actor: &str,
    ) -> Result<WebhookEndpoint> {
        let id = id.to_owned();
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, workspace_id, url, secret, events, created_at, disabled_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
        )
        .bind(id.clone())
        .bind(ws.as_str().to_owned())
        .bind(url.to_owned())
        .bind(secret.to_owned())
        .bind(events.join(","))
        .bind(self.now().millis())
        .bind(actor.to_owned())
        .execute(&self.write)
        .await?;
        self.webhook_endpoint(ws, &id)
            .await?
            .ok_or_else(|| corrupt("webhook endpoint", &id))
    }

    pub async fn webhook_endpoint(
        &self,
        ws: &WorkspaceId,
        id: &str,
    ) -> Result<Option<WebhookEndpoint>> {
        let row = sqlx::query(
            "SELECT * FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2 AND disabled_at IS NULL",
        )
        .bind(ws.as_str().to_owned())
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(endpoint_from).transpose()
    }

    pub async fn webhook_endpoints(&self, ws: &WorkspaceId) -> Result<Vec<WebhookEndpoint>> {
        let rows = sqlx::query(
            "SELECT * FROM webhook_endpoints WHERE workspace_id = $1 AND disabled_at IS NULL ORDER BY created_at, id",
        )
        .bind(ws.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(endpoint_from).collect()
    }

    /// Removes an endpoint (its log stays); pending messages to it fail.
    pub async fn delete_webhook_endpoint(&self, ws: &WorkspaceId, id: &str) -> Result<bool> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET disabled_at = $1 WHERE workspace_id = $2 AND id = $3 AND disabled_at IS NULL",
        )
        .bind(now.millis())
        .bind(ws.as_str().to_owned())
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_messages SET state = 'failed', last_error = 'the endpoint was removed', done_at = $1 \
             WHERE endpoint_id = $2 AND state = 'pending'",
        )
        .bind(now.millis())
        .bind(id.to_owned())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether any endpoint of the workspace wants `event`.
    pub async fn wants_webhook(&self, ws: &WorkspaceId, event: &str) -> Result<bool> {
        Ok(self
            .webhook_endpoints(ws)
            .await?
            .iter()
            .any(|e| e.events.iter().any(|x| x == event)))
    }

    /// The address and external id of each of `ids` (contact ids of one
    /// workspace) that still exists, for webhook payloads: an erased
    /// contact is missing from the answer.
    pub async fn contact_identities(
        &self,
        ws: &WorkspaceId,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, (Option<String>, Option<String>)>> {
        let mut out = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id, email, external_id FROM contacts WHERE {}",
                self.batch_condition("id", chunk.len())
            );
            for row in crate::bind_batch(&sql, ws, chunk)
                .fetch_all(&self.read)
                .await?
            {
                out.insert(
                    get_str(&row, "id")?,
                    (
                        get_opt_str(&row, "email")?,
                        get_opt_str(&row, "external_id")?,
                    ),
                );
            }
        }
        Ok(out)
    }

    /// Queues `payloads` of one event type for every endpoint of the
    /// workspace that subscribed to it. Returns how many messages.
    pub async fn enqueue_webhooks(
        &self,
        ws: &WorkspaceId,
        event: &str,
        payloads: &[String],
    ) -> Result<usize> {
        let endpoints: Vec<WebhookEndpoint> = self
            .webhook_endpoints(ws)
            .await?
            .into_iter()
            .filter(|e| e.events.iter().any(|x| x == event))
            .collect();
        if endpoints.is_empty() || payloads.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let mut n = 0;
        for e in &endpoints {
            for p in payloads {
                sqlx::query(
                    "INSERT INTO webhook_messages (id, endpoint_id, workspace_id, event_type, payload, state, \
                     attempts, next_attempt_at, last_status, last_error, created_at, done_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, NULL, NULL, $7, NULL)",
                )
                .bind(new_id("whm"))
                .bind(e.id.clone())
                .bind(ws.as_str().to_owned())
                .bind(event.to_owned())
                .bind(p.clone())
                .bind(now.millis())
                .bind(now.millis())
                .execute(&mut *tx)
                .await?;
                n += 1;
            }
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Claims due messages for `lease_ms` (their next attempt moves past
    /// the lease, so a sender that dies leaves them due again).
    pub async fn claim_webhooks(&self, limit: i64, lease_ms: i64) -> Result<Vec<DueWebhook>> {
        let now = self.now();
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let ids = sqlx::query(&format!(
            "UPDATE webhook_messages SET attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id IN (SELECT id FROM webhook_messages WHERE state = 'pending' AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at LIMIT $3{lock}) RETURNING id"
        ))
        .bind(now.millis() + lease_ms)
        .bind(now.millis())
        .bind(limit)
        .fetch_all(&self.write)
        .await?;
        let mut out = Vec::new();
        for r in &ids {
            let id = get_str(r, "id")?;
            let row = sqlx::query(&format!(
                "SELECT {MESSAGE_COLUMNS}, e.url, e.secret FROM webhook_messages m \
                 JOIN webhook_endpoints e ON e.id = m.endpoint_id WHERE m.id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
            if let Some(row) = row {
                out.push(DueWebhook {
                    message: message_from(&row)?,
                    url: get_str(&row, "url")?,
                    secret: get_str(&row, "secret")?,
                });
            }
        }
        Ok(out)
    }

    /// Records an attempt: delivered, retried at `retry_at`, or failed for good.
    pub async fn record_webhook_attempt(
        &self,
        id: &str,
        status: Option<i64>,
        error: Option<&str>,
        outcome: WebhookAttempt,
    ) -> Result<()> {
        let now = self.now();
        let (state, next, done) = match outcome {
            WebhookAttempt::Delivered => ("delivered", now.millis(), Some(now.millis())),
            WebhookAttempt::RetryAt(t) => ("pending", t.millis(), None),
            WebhookAttempt::GaveUp => ("failed", now.millis(), Some(now.millis())),
        };
        sqlx::query(
            "UPDATE webhook_messages SET state = $1, next_attempt_at = $2, done_at = $3, last_status = $4, \
             last_error = $5 WHERE id = $6",
        )
        .bind(state)
        .bind(next)
        .bind(done)
        .bind(status)
        .bind(error.map(|e| e.chars().take(500).collect::<String>()))
        .bind(id.to_owned())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// An endpoint's log, newest first.
    pub async fn webhook_log(
        &self,
        ws: &WorkspaceId,
        endpoint: &str,
        limit: i64,
    ) -> Result<Vec<WebhookMessage>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM webhook_messages m WHERE m.workspace_id = $1 AND m.endpoint_id = $2 \
             ORDER BY m.created_at DESC, m.id DESC LIMIT $3"
        ))
        .bind(ws.as_str().to_owned())
        .bind(endpoint.to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(message_from).collect()
    }
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookAttempt {
    Delivered,
    RetryAt(Timestamp),
    GaveUp,
}
