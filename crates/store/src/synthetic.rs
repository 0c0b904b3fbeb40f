//! Synthetic sending history, for benchmarks only (`sendwell bench
//! operator`): millions of finished deliveries written by the database
//! itself in a few statements, with the per-day and per-message counters
//! the monitor keeps, so that pages can be timed against a history no
//! test could send through SMTP in reasonable time.

use crate::reputation::DAY_MS;
use crate::{Backend, Result, Store};
use sendwell_core::{MessageId, WorkspaceId};

/// Rows written by one statement.
const CHUNK: u64 = 200_000;

/// What to write for one workspace.
#[derive(Clone, Copy, Debug)]
pub struct SyntheticHistory<'a> {
    pub workspace: &'a WorkspaceId,
    /// A message of the workspace the deliveries belong to.
    pub message: &'a MessageId,
    pub deliveries: u64,
    /// Hard bounces per thousand deliveries.
    pub bounces_per_mille: u64,
    /// Spread over this many days up to now.
    pub days: u32,
    /// Recipient domains, `d0.example` to `d{n-1}.example`.
    pub domains: u64,
}

impl Store {
    /// Writes `h.deliveries` finished deliveries (delivered, or bounced
    /// for `bounces_per_mille` of them) and adds them to the workspace's
    /// per-day counts and the message's counters.
    pub async fn write_synthetic_history(&self, h: SyntheticHistory<'_>) -> Result<()> {
        let now = self.now().millis();
        let days = i64::from(h.days.max(1));
        let domains = h.domains.max(1) as i64;
        let per_mille = h.bounces_per_mille.min(1000) as i64;
        let mut start = 0u64;
        while start < h.deliveries {
            let end = (start + CHUNK).min(h.deliveries);
            // The same row either way: `i` numbers the delivery.
            let sql = match self.backend {
                Backend::Sqlite => {
                    "WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $2) \
                     INSERT INTO deliveries (id, workspace_id, message_id, contact_id, kind, state, attempts, \
                     next_attempt_at, created_at, updated_at, done_at, recipient_domain, reply_code) \
                     SELECT $3 || '.ct_' || printf('%026d', i), $4, $3, 'ct_' || printf('%026d', i), 'marketing', \
                     CASE WHEN i % 1000 < $5 THEN 'bounced' ELSE 'delivered' END, 1, \
                     $6 - (i % $7) * 86400000, $6 - (i % $7) * 86400000, $6 - (i % $7) * 86400000, \
                     $6 - (i % $7) * 86400000, 'd' || (i % $8) || '.example', \
                     CASE WHEN i % 1000 < $5 THEN 550 ELSE 250 END FROM n"
                }
                Backend::Postgres => {
                    "INSERT INTO deliveries (id, workspace_id, message_id, contact_id, kind, state, attempts, \
                     next_attempt_at, created_at, updated_at, done_at, recipient_domain, reply_code) \
                     SELECT $3 || '.ct_' || lpad(i::text, 26, '0'), $4, $3, 'ct_' || lpad(i::text, 26, '0'), 'marketing', \
                     CASE WHEN i % 1000 < $5 THEN 'bounced' ELSE 'delivered' END, 1, \
                     $6 - (i % $7) * 86400000, $6 - (i % $7) * 86400000, $6 - (i % $7) * 86400000, \
                     $6 - (i % $7) * 86400000, 'd' || (i % $8) || '.example', \
                     CASE WHEN i % 1000 < $5 THEN 550 ELSE 250 END \
                     FROM generate_series($1::bigint, $2::bigint - 1) AS i"
                }
            };
            sqlx::query(sql)
                .bind(start as i64)
                .bind(end as i64)
                .bind(h.message.as_str().to_owned())
                .bind(h.workspace.as_str().to_owned())
                .bind(per_mille)
                .bind(now)
                .bind(days)
                .bind(domains)
                .execute(&self.write)
                .await?;
            start = end;
        }
        // The counters, as the monitor would have kept them.
        let total = h.deliveries as i64;
        // Of every thousand deliveries in order, the first `per_mille` bounced.
        let bounced = total / 1000 * per_mille + (total % 1000).min(per_mille);
        let today = now / DAY_MS;
        for d in 0..days {
            // Deliveries i with i % days == d fall on day `today - d`.
            let on_day = total / days + i64::from(d < total % days);
            if on_day == 0 {
                continue;
            }
            let bounced_on_day = bounced * on_day / total.max(1);
            sqlx::query(
                "INSERT INTO reputation_days (workspace_id, day, sends, hard_bounces, complaints) \
                 VALUES ($1, $2, $3, $4, 0) ON CONFLICT (workspace_id, day) DO UPDATE SET \
                 sends = reputation_days.sends + excluded.sends, \
                 hard_bounces = reputation_days.hard_bounces + excluded.hard_bounces",
            )
            .bind(h.workspace.as_str().to_owned())
            .bind(today - d)
            .bind(on_day)
            .bind(bounced_on_day)
            .execute(&self.write)
            .await?;
        }
        sqlx::query(
            "UPDATE messages SET sends = sends + $1, hard_bounces = hard_bounces + $2 WHERE id = $3",
        )
        .bind(total)
        .bind(bounced)
        .bind(h.message.as_str().to_owned())
        .execute(&self.write)
        .await?;
        Ok(())
    }
}
