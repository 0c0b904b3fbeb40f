//! Feedback on sent mail: a bounce, complaint or auto-reply becomes an
//! event on the delivery it answers, and its consequence for the address
//! (a suppression, opt-outs in the consent ledger) is written in the same
//! transaction.

use crate::consent::append_in_tx;
use crate::suppression::upsert_suppression;
use crate::{
    get_contact_id, get_delivery_id, get_delivery_status, get_message_id, get_opt_str, get_str,
    get_workspace_id, Result, Store,
};
use sendwell_core::consent::NewConsentEvent;
use sendwell_core::{ContactId, DeliveryId, DeliveryStatus, MessageId, WorkspaceId};
use sqlx::Row;

/// A delivery as feedback needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRef {
    pub id: DeliveryId,
    pub workspace_id: WorkspaceId,
    pub message_id: MessageId,
    pub contact_id: ContactId,
    /// The contact's address now (`None` once erased).
    pub email: Option<String>,
    pub state: DeliveryStatus,
}

/// What to write for one piece of feedback.
#[derive(Clone, Debug)]
pub struct Feedback<'a> {
    pub delivery: &'a DeliveryRef,
    /// `bounce`, `complaint` or `auto_reply`.
    pub kind: &'a str,
    pub reason: &'a str,
    pub hard: bool,
    pub status: Option<&'a str>,
    pub reply_code: Option<&'a str>,
    pub feedback_type: Option<&'a str>,
    pub diagnostic: Option<&'a str>,
    /// Where it came from: `smtp`, `ses`, `sendgrid`, ...
    pub source: &'a str,
    /// Suppress the address at once, with this reason (and its key hash).
    pub suppress: Option<(&'a str, &'a str, &'a str)>,
    /// A soft bounce suppresses the address when the contact's last
    /// `of_last` deliveries include `count` soft bounces (this one too).
    pub soft_rule: Option<(i64, i64, &'a str, &'a str)>,
    /// Opt-outs to append to the consent ledger (a complaint).
    pub opt_outs: Vec<NewConsentEvent>,
}

/// What recording it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedbackOutcome {
    /// The same kind of feedback for this delivery was recorded before:
    /// nothing was written again.
    pub duplicate: bool,
    /// The suppression reason written, if any.
    pub suppressed: Option<String>,
    pub opt_outs: usize,
}

impl Store {
    pub async fn delivery_ref(&self, id: &str) -> Result<Option<DeliveryRef>> {
        let row = sqlx::query(
            "SELECT d.id, d.workspace_id, d.message_id, d.contact_id, d.state, c.email \
             FROM deliveries d LEFT JOIN contacts c ON c.workspace_id = d.workspace_id AND c.id = d.contact_id \
             WHERE d.id = $1",
        )
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(DeliveryRef {
            id: get_delivery_id(&row, "id")?,
            workspace_id: get_workspace_id(&row, "workspace_id")?,
            message_id: get_message_id(&row, "message_id")?,
            contact_id: get_contact_id(&row, "contact_id")?,
            email: get_opt_str(&row, "email")?,
            state: get_delivery_status(&row, "state")?,
        }))
    }

    /// Records one piece of feedback and its consequences, all or nothing.
    pub async fn record_feedback(&self, f: Feedback<'_>) -> Result<FeedbackOutcome> {
        let now = self.now();
        let d = f.delivery;
        let mut tx = self.write.begin().await?;
        let seen = sqlx::query(
            "SELECT 1 AS one FROM delivery_events WHERE delivery_id = $1 AND kind = $2 LIMIT 1",
        )
        .bind(d.id.as_str().to_owned())
        .bind(f.kind.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        if seen.is_some() {
            return Ok(FeedbackOutcome {
                duplicate: true,
                suppressed: None,
                opt_outs: 0,
            });
        }
        insert_event(&mut tx, &f, now).await?;
        let mut add = sendwell_core::reputation::Counts::default();
        if f.kind == "complaint" {
            add.complaints = 1;
        }
        if f.kind == "bounce" && f.hard {
            add.hard_bounces = bounced_after_delivery(&mut tx, &f, now).await?;
        }
        crate::reputation::count_in_tx(&mut tx, &d.workspace_id, &d.message_id, add, now).await?;
        let mut suppress = f.suppress;
        if let (None, Some((count, of_last, email, hash))) = (suppress, f.soft_rule) {
            if soft_bounces(&mut tx, d, of_last).await? >= count {
                suppress = Some(("bounced", email, hash));
            }
        }
        let opt_outs = append_opt_outs(&mut tx, &d.workspace_id, f.opt_outs, now).await?;
        if let Some((reason, email, hash)) = suppress {
            // The stronger reason wins: a complaint or a hard bounce after
            // an unsubscribe takes the row.
            let source = format!("{}:{}", f.kind, f.source);
            upsert_suppression(&mut tx, &d.workspace_id, hash, reason, &source, now, email).await?;
        }
        tx.commit().await?;
        Ok(FeedbackOutcome {
            duplicate: false,
            suppressed: suppress.map(|(r, _, _)| r.to_owned()),
            opt_outs,
        })
    }

    /// Feedback events of a delivery, oldest first: (kind, reason, source).
    pub async fn delivery_events(&self, delivery: &str) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT kind, reason, source FROM delivery_events WHERE delivery_id = $1 ORDER BY created_at, id",
        )
        .bind(delivery.to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    get_str(r, "kind")?,
                    get_str(r, "reason")?,
                    get_str(r, "source")?,
                ))
            })
            .collect()
    }
}

/// A concern someone reported about a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConcernReport {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub delivery_id: DeliveryId,
    pub message_id: String,
    pub reason: String,
    pub reporter: Option<String>,
    pub ip: Option<String>,
    /// Whether the report proved receipt of the mail (a signed link or a
    /// Message-ID with its MAC). Only a proven report counts as a complaint.
    pub proven: bool,
    pub created_at: sendwell_core::Timestamp,
    /// When an operator marked it handled, who, and their note.
    pub handled: Option<Handled>,
}

/// An operator's handling of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handled {
    pub at: sendwell_core::Timestamp,
    pub by: String,
    pub note: String,
}

impl Store {
    pub async fn add_concern_report(
        &self,
        d: &DeliveryRef,
        reason: &str,
        reporter: Option<&str>,
        ip: Option<&str>,
        proven: bool,
    ) -> Result<ConcernReport> {
        let now = self.now();
        let report = ConcernReport {
            id: format!(
                "rep_{}",
                sendwell_core::secret::to_hex(&sendwell_core::secret::random_bytes::<10>())
            ),
            workspace_id: d.workspace_id.clone(),
            delivery_id: d.id.clone(),
            message_id: d.message_id.to_string(),
            reason: reason.to_owned(),
            reporter: reporter.map(str::to_owned),
            ip: ip.map(str::to_owned),
            proven,
            created_at: now,
            handled: None,
        };
        sqlx::query(
            "INSERT INTO concern_reports (id, workspace_id, delivery_id, message_id, reason, reporter, ip, proven, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(report.id.clone())
        .bind(report.workspace_id.as_str().to_owned())
        .bind(report.delivery_id.as_str().to_owned())
        .bind(report.message_id.clone())
        .bind(report.reason.clone())
        .bind(report.reporter.clone())
        .bind(report.ip.clone())
        .bind(i64::from(proven))
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        Ok(report)
    }

    /// Reports, newest first; only those not handled yet when `open`.
    pub async fn concern_reports(&self, limit: i64, open: bool) -> Result<Vec<ConcernReport>> {
        let filter = if open { "WHERE handled_at IS NULL" } else { "" };
        let rows = sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM concern_reports {filter} \
             ORDER BY created_at DESC, id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(report_from).collect()
    }

    /// One report.
    pub async fn concern_report(&self, id: &str) -> Result<Option<ConcernReport>> {
        let row = sqlx::query(&format!(
            "SELECT {REPORT_COLUMNS} FROM concern_reports WHERE id = $1"
        ))
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(report_from).transpose()
    }

    /// Marks a report handled (once): the report as it is now and whether
    /// this call handled it, or `None` when there is no such report. A
    /// report handled already keeps its first handling.
    pub async fn handle_report(
        &self,
        id: &str,
        by: &str,
        note: &str,
    ) -> Result<Option<(ConcernReport, bool)>> {
        let done = sqlx::query(
            "UPDATE concern_reports SET handled_at = $1, handled_by = $2, handled_note = $3 \
             WHERE id = $4 AND handled_at IS NULL",
        )
        .bind(self.now().millis())
        .bind(by.to_owned())
        .bind(note.to_owned())
        .bind(id.to_owned())
        .execute(&self.write)
        .await?;
        let handled_now = done.rows_affected() == 1;
        Ok(self.concern_report(id).await?.map(|r| (r, handled_now)))
    }
}

const REPORT_COLUMNS: &str = "id, workspace_id, delivery_id, message_id, reason, reporter, ip, \
     proven, created_at, handled_at, handled_by, handled_note";

fn report_from(r: &sqlx::any::AnyRow) -> Result<ConcernReport> {
    let handled = match crate::get_opt_ts(r, "handled_at")? {
        Some(at) => Some(Handled {
            at,
            by: get_opt_str(r, "handled_by")?.unwrap_or_default(),
            note: get_opt_str(r, "handled_note")?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(ConcernReport {
        id: get_str(r, "id")?,
        workspace_id: get_workspace_id(r, "workspace_id")?,
        delivery_id: get_delivery_id(r, "delivery_id")?,
        message_id: get_str(r, "message_id")?,
        reason: get_str(r, "reason")?,
        reporter: get_opt_str(r, "reporter")?,
        ip: get_opt_str(r, "ip")?,
        proven: crate::get_i64(r, "proven")? != 0,
        created_at: crate::get_ts(r, "created_at")?,
        handled,
    })
}

/// Appends the opt-outs feedback brings; how many were appended (a
/// contact erased meanwhile has none).
async fn append_opt_outs(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    events: Vec<NewConsentEvent>,
    now: sendwell_core::Timestamp,
) -> Result<usize> {
    let mut appended = 0;
    for event in events {
        if append_in_tx(tx, ws, event, now).await?.is_some() {
            appended += 1;
        }
    }
    Ok(appended)
}

/// The feedback as a row of the delivery's events.
async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    f: &Feedback<'_>,
    now: sendwell_core::Timestamp,
) -> Result<()> {
    let d = f.delivery;
    let id = format!(
        "ev_{}",
        sendwell_core::secret::to_hex(&sendwell_core::secret::random_bytes::<12>())
    );
    sqlx::query(
        "INSERT INTO delivery_events (id, workspace_id, delivery_id, message_id, contact_id, kind, reason, \
         hard, status, reply_code, feedback_type, diagnostic, source, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(id)
    .bind(d.workspace_id.as_str().to_owned())
    .bind(d.id.as_str().to_owned())
    .bind(d.message_id.as_str().to_owned())
    .bind(d.contact_id.as_str().to_owned())
    .bind(f.kind.to_owned())
    .bind(f.reason.to_owned())
    .bind(i64::from(f.hard))
    .bind(f.status.map(str::to_owned))
    .bind(f.reply_code.map(str::to_owned))
    .bind(f.feedback_type.map(str::to_owned))
    .bind(f.diagnostic.map(|t| t.chars().take(2000).collect::<String>()))
    .bind(f.source.to_owned())
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A hard bounce that arrives after the receiving server said 250 turns
/// the delivery into a bounce; how many deliveries that turned (0 or 1).
async fn bounced_after_delivery(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    f: &Feedback<'_>,
    now: sendwell_core::Timestamp,
) -> Result<u64> {
    let why: String = f.diagnostic.unwrap_or(f.reason).chars().take(500).collect();
    let turned = sqlx::query(
        "UPDATE deliveries SET state = 'bounced', last_reply = $1, reply_code = $2, \
         enhanced_status = $3, updated_at = $4 WHERE id = $5 AND state = 'delivered'",
    )
    .bind(format!("bounced later: {why}"))
    .bind(f.reply_code.and_then(|c| c.parse::<i64>().ok()))
    .bind(f.status.map(str::to_owned))
    .bind(now.millis())
    .bind(f.delivery.id.as_str().to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(turned.rows_affected())
}

/// Soft bounces among the contact's last `of_last` deliveries.
async fn soft_bounces(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    d: &DeliveryRef,
    of_last: i64,
) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(DISTINCT e.delivery_id) AS n FROM delivery_events e \
         WHERE e.workspace_id = $1 AND e.contact_id = $2 AND e.kind = 'bounce' AND e.hard = 0 \
         AND e.delivery_id IN (SELECT x.id FROM deliveries x WHERE x.workspace_id = $3 \
         AND x.contact_id = $4 ORDER BY x.created_at DESC LIMIT $5)",
    )
    .bind(d.workspace_id.as_str().to_owned())
    .bind(d.contact_id.as_str().to_owned())
    .bind(d.workspace_id.as_str().to_owned())
    .bind(d.contact_id.as_str().to_owned())
    .bind(of_last)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get("n")?)
}
