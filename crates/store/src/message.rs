//! Templates, messages, the delivery queue and the capture outbox.
//!
//! Sending a message queues one delivery per eligible contact with a single
//! `INSERT ... SELECT`: the audience never passes through memory. Workers
//! claim due deliveries with a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), so a killed worker's claims return to the queue, and every
//! claimed delivery ends in a recorded state.

use crate::audience::{push_category_unfiltered, push_from_where, AudienceSpec, Sql};
use crate::contact::stored_kind;
use crate::suppression::upsert_suppression;
use crate::{
    consent::append_in_tx, corrupt, get_as, get_contact_id, get_i64, get_message_id,
    get_message_kind, get_opt_str, get_opt_ts, get_str, get_ts, get_workspace_id, Backend, Result,
    Store,
};
use sendwell_core::consent::{ConsentEvent, NewConsentEvent};
use sendwell_core::{
    AttributeName, AttributeType, AudienceId, ContactId, DeliveryId, DeliveryStatus, LinkEventId,
    MessageId, MessageKind, MessageState, OutboxId, ReviewState, TemplateId, Timestamp,
    WorkspaceId,
};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;

/// A saved template, as the workspace wrote it.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateRecord {
    pub id: TemplateId,
    pub name: String,
    pub layout: String,
    pub source: Value,
    pub warnings: Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewTemplate {
    pub name: String,
    pub layout: String,
    pub source: Value,
    pub warnings: Value,
}

/// A message, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageRecord {
    pub id: MessageId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub kind: MessageKind,
    pub topic: String,
    pub from_name: Option<String>,
    pub from_address: String,
    pub reply_to: Option<String>,
    pub subject: String,
    /// The template, resolved at creation (a saved template is copied in, so
    /// a later edit of it does not change a message already composed).
    pub template: Value,
    /// The audience filter in its canonical JSON form.
    pub audience: Option<Value>,
    /// A saved audience whose filter is read when the message is checked
    /// and sent (then `audience` is `None`).
    pub audience_id: Option<AudienceId>,
    pub opt_in_attribute: String,
    pub track_clicks: bool,
    pub track_opens: bool,
    /// Leave out recipients whose address check says `risky`.
    pub exclude_risky: bool,
    /// Per-call template data of a transactional send.
    pub data: Option<Value>,
    /// `draft` or `queued`.
    pub state: MessageState,
    pub queued: i64,
    pub created_by: String,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    /// The content screen's report, stored when the message was sent.
    pub screening: Option<Value>,
    /// `pending`, `approved` or `rejected` when the screen asked for review.
    pub review_state: Option<ReviewState>,
    /// The operator's note, which the workspace sees.
    pub review_note: Option<String>,
    pub reviewed_at: Option<Timestamp>,
    pub schedule: Schedule,
}

/// When a message is to go out, and what stopped it at its time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule {
    /// When a scheduled message is queued (UTC).
    pub send_at: Option<Timestamp>,
    /// The delivery window in each recipient's time zone, as given
    /// (`{"start", "end", "days"}`), applied when the message is queued.
    pub window: Option<Value>,
    /// Why a scheduled send was held at its time.
    pub held_reason: Option<String>,
}

impl MessageRecord {
    /// Whether both were composed alike: everything composing decides
    /// (sender, subject, template, audience, tracking, ...), whatever
    /// happened to them since.
    pub fn composed_as(&self, other: &MessageRecord) -> bool {
        self.name == other.name
            && self.kind == other.kind
            && self.topic == other.topic
            && self.from_name == other.from_name
            && self.from_address == other.from_address
            && self.reply_to == other.reply_to
            && self.subject == other.subject
            && self.template == other.template
            && self.audience == other.audience
            && self.audience_id == other.audience_id
            && self.opt_in_attribute == other.opt_in_attribute
            && self.track_clicks == other.track_clicks
            && self.track_opens == other.track_opens
            && self.exclude_risky == other.exclude_risky
            && self.data == other.data
    }

    /// A draft as `new` makes it, before anything about sending is known.
    pub fn draft(
        id: MessageId,
        workspace_id: WorkspaceId,
        new: &NewMessage,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            workspace_id,
            name: new.name.clone(),
            kind: new.kind,
            topic: new.topic.clone(),
            from_name: new.from_name.clone(),
            from_address: new.from_address.clone(),
            reply_to: new.reply_to.clone(),
            subject: new.subject.clone(),
            template: new.template.clone(),
            audience: new.audience.clone(),
            audience_id: new.audience_id.clone(),
            opt_in_attribute: new.opt_in_attribute.clone(),
            track_clicks: new.track_clicks,
            track_opens: new.track_opens,
            exclude_risky: new.exclude_risky,
            data: new.data.clone(),
            state: MessageState::Draft,
            queued: 0,
            created_by: new.created_by.clone(),
            created_at: now,
            sent_at: None,
            screening: None,
            review_state: None,
            review_note: None,
            reviewed_at: None,
            schedule: Schedule::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewMessage {
    pub name: String,
    pub kind: MessageKind,
    pub topic: String,
    pub from_name: Option<String>,
    pub from_address: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub template: Value,
    pub audience: Option<Value>,
    pub audience_id: Option<AudienceId>,
    pub opt_in_attribute: String,
    pub track_clicks: bool,
    pub track_opens: bool,
    pub exclude_risky: bool,
    pub data: Option<Value>,
    pub created_by: String,
}

/// Why a message could not be queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueError {
    NotFound,
    AlreadyQueued,
    /// The draft was changed after it was checked: check it again.
    Changed,
}

/// When each delivery of a bulk message may go out: its delivery window
/// and the workspace's quiet hours, in each recipient's time zone.
pub struct Timing {
    /// The window as the message keeps it (`None`: no window).
    pub window: Option<Value>,
    /// The first moment mail may reach a contact whose `timezone`
    /// attribute is this (`None`: the contact has none).
    pub release: Box<ReleaseFn>,
}

/// The first moment mail may reach a contact in a time zone (by its name).
pub type ReleaseFn = dyn Fn(Option<&str>) -> Timestamp + Send + Sync;

/// One mail in the capture outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: OutboxId,
    pub message_id: String,
    pub delivery_id: String,
    pub to: String,
    pub subject: String,
    pub created_at: Timestamp,
}

/// A recipient's action on a link of a mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEvent<'a> {
    pub workspace_id: &'a WorkspaceId,
    pub message_id: &'a str,
    pub contact_id: &'a str,
    pub kind: &'a str,
    pub url: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

const TEMPLATE_COLUMNS: &str = "id, name, layout, source, warnings, created_at, updated_at";
pub(crate) const MESSAGE_COLUMNS: &str = "id, workspace_id, name, kind, topic, from_name, from_address, reply_to, \
     subject, template, audience, opt_in_attribute, track_clicks, track_opens, data, state, queued, \
     created_by, created_at, sent_at, screening, review_state, review_note, reviewed_at, exclude_risky, \
     audience_id, send_at, send_window, held_reason";

fn json_column(row: &AnyRow, col: &str) -> Result<Value> {
    let raw = get_str(row, col)?;
    serde_json::from_str(&raw).map_err(|_| corrupt(col, &raw))
}

fn opt_json_column(row: &AnyRow, col: &str) -> Result<Option<Value>> {
    match get_opt_str(row, col)? {
        Some(raw) => Ok(Some(
            serde_json::from_str(&raw).map_err(|_| corrupt(col, &raw))?,
        )),
        None => Ok(None),
    }
}

fn template_from(row: &AnyRow) -> Result<TemplateRecord> {
    Ok(TemplateRecord {
        id: get_as(row, "id", "template id", TemplateId::parse)?,
        name: get_str(row, "name")?,
        layout: get_str(row, "layout")?,
        source: json_column(row, "source")?,
        warnings: json_column(row, "warnings")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

pub(crate) fn message_from(row: &AnyRow) -> Result<MessageRecord> {
    Ok(MessageRecord {
        id: get_message_id(row, "id")?,
        workspace_id: get_workspace_id(row, "workspace_id")?,
        name: get_str(row, "name")?,
        kind: get_message_kind(row, "kind")?,
        topic: get_str(row, "topic")?,
        from_name: get_opt_str(row, "from_name")?,
        from_address: get_str(row, "from_address")?,
        reply_to: get_opt_str(row, "reply_to")?,
        subject: get_str(row, "subject")?,
        template: json_column(row, "template")?,
        audience: opt_json_column(row, "audience")?,
        opt_in_attribute: get_str(row, "opt_in_attribute")?,
        track_clicks: get_i64(row, "track_clicks")? != 0,
        track_opens: get_i64(row, "track_opens")? != 0,
        exclude_risky: get_i64(row, "exclude_risky")? != 0,
        audience_id: get_opt_str(row, "audience_id")?
            .map(|a| AudienceId::parse(&a).map_err(|_| corrupt("audience id", &a)))
            .transpose()?,
        data: opt_json_column(row, "data")?,
        state: get_as(row, "state", "message state", |s| {
            MessageState::parse(s).ok_or(())
        })?,
        queued: get_i64(row, "queued")?,
        created_by: get_str(row, "created_by")?,
        created_at: get_ts(row, "created_at")?,
        sent_at: get_opt_ts(row, "sent_at")?,
        screening: opt_json_column(row, "screening")?,
        review_state: match get_opt_str(row, "review_state")? {
            Some(s) => Some(ReviewState::parse(&s).ok_or_else(|| corrupt("review state", &s))?),
            None => None,
        },
        review_note: get_opt_str(row, "review_note")?,
        reviewed_at: get_opt_ts(row, "reviewed_at")?,
        schedule: Schedule {
            send_at: get_opt_ts(row, "send_at")?,
            window: opt_json_column(row, "send_window")?,
            held_reason: get_opt_str(row, "held_reason")?,
        },
    })
}

pub(crate) fn to_json_text(value: &Value) -> String {
    value.to_string()
}

impl Store {
    // ---- templates -------------------------------------------------------

    pub async fn create_template(
        &self,
        ws: &WorkspaceId,
        new: &NewTemplate,
    ) -> Result<TemplateRecord> {
        let now = self.now();
        let id = TemplateId::generate(now);
        sqlx::query(
            "INSERT INTO templates (id, workspace_id, name, layout, source, warnings, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.as_str().to_owned())
        .bind(ws.as_str().to_owned())
        .bind(new.name.clone())
        .bind(new.layout.clone())
        .bind(to_json_text(&new.source))
        .bind(to_json_text(&new.warnings))
        .bind(now.millis())
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        Ok(TemplateRecord {
            id,
            name: new.name.clone(),
            layout: new.layout.clone(),
            source: new.source.clone(),
            warnings: new.warnings.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    pub async fn template(
        &self,
        ws: &WorkspaceId,
        id: &TemplateId,
    ) -> Result<Option<TemplateRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(ws.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(template_from).transpose()
    }

    pub async fn list_templates(
        &self,
        ws: &WorkspaceId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TemplateRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(ws.as_str().to_owned())
        .bind(after.unwrap_or("").to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(template_from).collect()
    }

    /// Replaces a template; `None` when it does not exist in the workspace.
    pub async fn update_template(
        &self,
        ws: &WorkspaceId,
        id: &TemplateId,
        new: &NewTemplate,
    ) -> Result<Option<TemplateRecord>> {
        let now = self.now();
        let done = sqlx::query(
            "UPDATE templates SET name = $1, layout = $2, source = $3, warnings = $4, updated_at = $5 \
             WHERE workspace_id = $6 AND id = $7",
        )
        .bind(new.name.clone())
        .bind(new.layout.clone())
        .bind(to_json_text(&new.source))
        .bind(to_json_text(&new.warnings))
        .bind(now.millis())
        .bind(ws.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(ws.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_optional(&self.write)
        .await?;
        row.as_ref().map(template_from).transpose()
    }

    // ---- messages --------------------------------------------------------

    pub async fn create_message(
        &self,
        ws: &WorkspaceId,
        new: &NewMessage,
    ) -> Result<MessageRecord> {
        let mut tx = self.write.begin().await?;
        let message = insert_message(&mut tx, ws, new, self.now()).await?;
        tx.commit().await?;
        Ok(message)
    }

    pub async fn message(&self, ws: &WorkspaceId, id: &MessageId) -> Result<Option<MessageRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(ws.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(message_from).transpose()
    }

    /// A message by id alone, for workers and signed links (which name the
    /// workspace themselves).
    pub async fn message_by_id(&self, id: &MessageId) -> Result<Option<MessageRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
        ))
        .bind(id.as_str().to_owned())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(message_from).transpose()
    }

    pub async fn list_messages(
        &self,
        ws: &WorkspaceId,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<MessageRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(ws.as_str().to_owned())
        .bind(after.unwrap_or("").to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(message_from).collect()
    }

    /// Deliveries of a message by state.
    /// A message's finished deliveries over time: the width of a bucket in
    /// milliseconds (a minute at least, about 60 buckets over the span),
    /// and per bucket start the count of each final state.
    pub async fn deliveries_over_time(
        &self,
        id: &MessageId,
    ) -> Result<(i64, Vec<(i64, String, i64)>)> {
        let span = sqlx::query(
            "SELECT CAST(MIN(done_at) AS BIGINT) AS first, CAST(MAX(done_at) AS BIGINT) AS last \
             FROM deliveries WHERE message_id = $1 AND done_at IS NOT NULL",
        )
        .bind(id.as_str().to_owned())
        .fetch_one(&self.read)
        .await?;
        let (Some(first), Some(last)) = (
            span.try_get::<Option<i64>, _>("first")?,
            span.try_get::<Option<i64>, _>("last")?,
        ) else {
            return Ok((60_000, Vec::new()));
        };
        let bucket = ((last - first) / 60).max(60_000);
        let rows = sqlx::query(
            "SELECT CAST((done_at - $2) / $3 AS BIGINT) AS b, state, CAST(COUNT(*) AS BIGINT) AS n \
             FROM deliveries WHERE message_id = $1 AND done_at IS NOT NULL GROUP BY 1, state ORDER BY 1",
        )
        .bind(id.as_str().to_owned())
        .bind(first)
        .bind(bucket)
        .fetch_all(&self.read)
        .await?;
        let points = rows
            .iter()
            .map(|r| {
                Ok((
                    first + crate::get_i64(r, "b")? * bucket,
                    crate::get_str(r, "state")?,
                    crate::get_i64(r, "n")?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((bucket, points))
    }

    pub async fn delivery_counts(&self, id: &MessageId) -> Result<BTreeMap<String, i64>> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM deliveries WHERE message_id = $1 GROUP BY state",
        )
        .bind(id.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        let mut counts = BTreeMap::new();
        for row in rows {
            counts.insert(get_str(&row, "state")?, get_i64(&row, "n")?);
        }
        Ok(counts)
    }

    /// Queues one delivery per eligible contact of a draft message, in one
    /// transaction, and marks the message queued. Returns how many.
    pub async fn queue_message(
        &self,
        checked: &MessageRecord,
        spec: &AudienceSpec<'_>,
        screening: &Value,
        review: bool,
        timing: Option<&Timing>,
        scheduled_for: Option<Timestamp>,
    ) -> Result<std::result::Result<i64, QueueError>> {
        let id = &checked.id;
        let now = self.now();
        let mut tx = self.write.begin().await?;
        // The scheduler queues only what is still scheduled for the time it
        // read: unscheduled or moved since, it is left as it is now.
        let claimable = match scheduled_for {
            Some(at) => format!("state = 'scheduled' AND send_at = {}", at.millis()),
            None => "state IN ('draft', 'held', 'scheduled')".to_owned(),
        };
        let sql = format!(
            "UPDATE messages SET state = 'queued', sent_at = $1, updated_at = $1, screening = $2, review_state = $3, \
             send_window = $6, held_reason = NULL \
             WHERE workspace_id = $4 AND id = $5 AND {claimable}"
        );
        let claimed = sqlx::query(&sql)
            .bind(now.millis())
            .bind(to_json_text(screening))
            .bind(review.then(|| "pending".to_owned()))
            .bind(spec.workspace.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .bind(timing.and_then(|t| t.window.as_ref()).map(Value::to_string))
            .execute(&mut *tx)
            .await?;
        if claimed.rows_affected() == 0 {
            return Ok(Err(why_not_queued(&mut tx, spec.workspace, id).await?));
        }
        // What goes out is what preflight and screening looked at: a draft
        // changed since (PUT) is not queued, and nothing is written.
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
        ))
        .bind(id.as_str().to_owned())
        .fetch_one(&mut *tx)
        .await?;
        if !message_from(&row)?.composed_as(checked) {
            return Ok(Err(QueueError::Changed));
        }
        let scan = self.scan_whole_table(spec.workspace).await?;
        let sql = self.queue_deliveries_sql(id, spec, review, scan, now);
        let inserted = sql.query().execute(&mut *tx).await?.rows_affected();
        let queued = i64::try_from(inserted).unwrap_or(i64::MAX);
        if let Some(timing) = timing {
            self.time_deliveries(&mut tx, spec.workspace, id, timing, now)
                .await?;
        }
        sqlx::query("UPDATE messages SET queued = $1 WHERE id = $2")
            .bind(queued)
            .bind(id.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(queued))
    }

    /// Moves each new delivery of the message to the first moment its
    /// recipient's local time allows (`timing`), by the distinct values of
    /// the contacts' `timezone` attribute: one update per release time.
    async fn time_deliveries(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        ws: &WorkspaceId,
        id: &MessageId,
        timing: &Timing,
        now: Timestamp,
    ) -> Result<()> {
        let zone = match self.backend {
            Backend::Sqlite => "CAST(json_extract(c.attributes, '$.timezone') AS TEXT)",
            Backend::Postgres => "(c.attributes->>'timezone')",
        };
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT {zone} AS zone FROM deliveries d JOIN contacts c \
             ON c.workspace_id = d.workspace_id AND c.id = d.contact_id WHERE d.message_id = $1"
        ))
        .bind(id.as_str().to_owned())
        .fetch_all(&mut **tx)
        .await?;
        let mut by_time: std::collections::BTreeMap<i64, (bool, Vec<String>)> = Default::default();
        for row in &rows {
            let value = get_opt_str(row, "zone")?;
            let at = (timing.release)(value.as_deref());
            if at.millis() <= now.millis() {
                continue;
            }
            let group = by_time.entry(at.millis()).or_default();
            match value {
                Some(v) => group.1.push(v),
                None => group.0 = true,
            }
        }
        for (at, (with_none, zones)) in by_time {
            let mut chunks: Vec<&[String]> = zones.chunks(500).collect();
            if with_none && chunks.is_empty() {
                chunks.push(&[]);
            }
            for (n, chunk) in chunks.into_iter().enumerate() {
                let mut sql = Sql::new(self.backend);
                sql.push("UPDATE deliveries SET next_attempt_at = ");
                sql.int(at);
                sql.push(" WHERE message_id = ");
                sql.text(id.as_str());
                sql.push(" AND contact_id IN (SELECT c.id FROM contacts c WHERE c.workspace_id = ");
                sql.text(ws.as_str());
                sql.push(" AND (");
                let mut first = true;
                if with_none && n == 0 {
                    sql.push(zone);
                    sql.push(" IS NULL");
                    first = false;
                }
                if !chunk.is_empty() {
                    if !first {
                        sql.push(" OR ");
                    }
                    sql.push(zone);
                    sql.push(" IN (");
                    for (i, z) in chunk.iter().enumerate() {
                        if i > 0 {
                            sql.push(", ");
                        }
                        sql.text(z);
                    }
                    sql.push(")");
                }
                sql.push("))");
                sql.query().execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// The `INSERT ... SELECT` that queues a delivery of the message to each
    /// eligible contact of its audience.
    fn queue_deliveries_sql(
        &self,
        id: &MessageId,
        spec: &AudienceSpec<'_>,
        review: bool,
        scan: bool,
        now: Timestamp,
    ) -> Sql {
        let mut sql = Sql::new(self.backend);
        sql.scan = scan;
        sql.push(
            "INSERT INTO deliveries (id, workspace_id, message_id, contact_id, kind, state, attempts, \
             next_attempt_at, created_at, updated_at) SELECT ",
        );
        sql.text(id.as_str());
        sql.push(" || '.' || c.id, c.workspace_id, ");
        sql.text(id.as_str());
        sql.push(", c.id, ");
        sql.text(spec.kind.as_str());
        // Held in `review` until the operator approves the content.
        sql.push(if review {
            ", 'review', 0, "
        } else {
            ", 'queued', 0, "
        });
        sql.int(now.millis());
        sql.push(", ");
        sql.int(now.millis());
        sql.push(", ");
        sql.int(now.millis());
        push_from_where(&mut sql, spec, now);
        sql.push(" AND (");
        self.push_contact_category(&mut sql, spec, now);
        sql.push(") IS NULL");
        sql
    }

    /// Creates a one-recipient message (a transactional send) and queues its
    /// delivery, both or neither.
    pub async fn queue_single(
        &self,
        ws: &WorkspaceId,
        new: &NewMessage,
        contact: &ContactId,
        screening: &Value,
        review: bool,
    ) -> Result<(MessageRecord, DeliveryId)> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let mut message = insert_message(&mut tx, ws, new, now).await?;
        let delivery_id = DeliveryId::new(&message.id, contact);
        sqlx::query(
            "INSERT INTO deliveries (id, workspace_id, message_id, contact_id, kind, state, attempts, \
             next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7, $7)",
        )
        .bind(delivery_id.as_str().to_owned())
        .bind(ws.as_str().to_owned())
        .bind(message.id.as_str().to_owned())
        .bind(contact.as_str().to_owned())
        .bind(new.kind.as_str())
        .bind(if review {
            DeliveryStatus::Review
        } else {
            DeliveryStatus::Queued
        }
        .as_str())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE messages SET state = 'queued', queued = 1, sent_at = $1, screening = $2, review_state = $3 \
             WHERE id = $4",
        )
        .bind(now.millis())
        .bind(to_json_text(screening))
        .bind(review.then(|| "pending".to_owned()))
        .bind(message.id.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        message.screening = Some(screening.clone());
        message.review_state = review.then_some(ReviewState::Pending);
        message.state = MessageState::Queued;
        message.queued = 1;
        message.sent_at = Some(now);
        Ok((message, delivery_id))
    }

    /// The exclusion category of one contact for a message right now, or
    /// `None` when it may still receive it.
    pub async fn contact_category(
        &self,
        spec: &AudienceSpec<'_>,
        contact: &ContactId,
    ) -> Result<Option<String>> {
        let now = self.now();
        let mut sql = Sql::new(self.backend);
        sql.push("SELECT ");
        push_category_unfiltered(&mut sql, spec, now);
        sql.push(" AND c.id = ");
        sql.text(contact.as_str());
        match sql.query().fetch_optional(&self.read).await? {
            Some(row) => Ok(row.try_get::<Option<String>, _>("category")?),
            None => Ok(Some("erased".to_owned())),
        }
    }

    /// Messages waiting for the operator's content review, oldest first.
    pub async fn messages_in_review(
        &self,
        state: ReviewState,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<MessageRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE review_state = $1 AND state <> 'cancelled' \
             AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(state.as_str())
        .bind(after.unwrap_or("").to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(message_from).collect()
    }

    /// The operator's decision on a message in review: approved mail is
    /// queued, rejected mail is skipped with the note as its reason. Both or
    /// neither; `None` when the message is not waiting for review.
    pub async fn decide_review(
        &self,
        id: &MessageId,
        approve: bool,
        note: &str,
        actor: &str,
    ) -> Result<Option<MessageRecord>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE messages SET review_state = $1, review_note = $2, reviewed_at = $3, updated_at = $3 \
             WHERE id = $4 AND review_state = 'pending' AND state <> 'cancelled'",
        )
        .bind(if approve {
            ReviewState::Approved
        } else {
            ReviewState::Rejected
        }
        .as_str())
        .bind(note.to_owned())
        .bind(now.millis())
        .bind(id.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let (state, reply) = if approve {
            (DeliveryStatus::Queued, None)
        } else {
            (
                DeliveryStatus::Skipped,
                Some(format!("content rejected by the operator: {note}")),
            )
        };
        sqlx::query(
            "UPDATE deliveries SET state = $1, last_reply = $2, next_attempt_at = $3, updated_at = $3 \
             WHERE message_id = $4 AND state = 'review'",
        )
        .bind(state.as_str())
        .bind(reply)
        .bind(now.millis())
        .bind(id.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
        ))
        .bind(id.as_str().to_owned())
        .fetch_one(&mut *tx)
        .await?;
        let record = message_from(&row)?;
        let (action, verb) = if approve {
            ("message.review_approved", "approved")
        } else {
            ("message.review_rejected", "rejected")
        };
        let reason = format!("content review of message {id} {verb}: {note}");
        crate::audit::record_action(&mut tx, &record.workspace_id, actor, action, &reason, now)
            .await?;
        tx.commit().await?;
        Ok(Some(record))
    }

    /// Whether the contact's delivery of a message was only captured (never
    /// left this server).
    pub async fn delivery_was_captured(&self, message: &str, contact: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM outbox WHERE delivery_id = $1")
            .bind(format!("{message}.{contact}"))
            .fetch_optional(&self.read)
            .await?;
        Ok(row.is_some())
    }

    // ---- the outbox --------------------------------------------------------

    pub async fn list_outbox(
        &self,
        ws: &WorkspaceId,
        message: Option<&MessageId>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>> {
        let rows = sqlx::query(
            "SELECT id, message_id, delivery_id, recipient, subject, created_at FROM outbox \
             WHERE workspace_id = $1 AND ($2 = '' OR message_id = $3) AND id > $4 ORDER BY id LIMIT $5",
        )
        .bind(ws.as_str().to_owned())
        .bind(message.map(|m| m.as_str().to_owned()).unwrap_or_default())
        .bind(message.map(|m| m.as_str().to_owned()).unwrap_or_default())
        .bind(after.unwrap_or("").to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                let id = get_str(row, "id")?;
                Ok(OutboxEntry {
                    id: OutboxId::parse(&id).map_err(|_| corrupt("outbox id", &id))?,
                    message_id: get_str(row, "message_id")?,
                    delivery_id: get_str(row, "delivery_id")?,
                    to: get_str(row, "recipient")?,
                    subject: get_str(row, "subject")?,
                    created_at: get_ts(row, "created_at")?,
                })
            })
            .collect()
    }

    pub async fn outbox_raw(&self, ws: &WorkspaceId, id: &OutboxId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT raw FROM outbox WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| get_str(&r, "raw")).transpose()
    }

    // ---- what recipients do -------------------------------------------------

    pub async fn record_link_event(&self, event: &LinkEvent<'_>) -> Result<()> {
        let now = self.now();
        sqlx::query(
            "INSERT INTO link_events (id, workspace_id, message_id, contact_id, kind, url, ip, user_agent, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(LinkEventId::generate(now).as_str().to_owned())
        .bind(event.workspace_id.as_str().to_owned())
        .bind(event.message_id.to_owned())
        .bind(event.contact_id.to_owned())
        .bind(event.kind.to_owned())
        .bind(event.url.map(str::to_owned))
        .bind(event.ip.map(str::to_owned))
        .bind(event.user_agent.map(str::to_owned))
        .bind(now.millis())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Link events of a message by kind: `click`, `open`, ... count every
    /// recorded event, `unique_click`, `unique_open`, ... the contacts
    /// behind them (one person opening a mail ten times is one).
    pub async fn link_event_counts(&self, id: &MessageId) -> Result<BTreeMap<String, i64>> {
        let rows = sqlx::query(
            "SELECT kind, COUNT(*) AS n, COUNT(DISTINCT contact_id) AS people FROM link_events \
             WHERE message_id = $1 GROUP BY kind",
        )
        .bind(id.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        let mut counts = BTreeMap::new();
        for row in rows {
            let kind = get_str(&row, "kind")?;
            counts.insert(format!("unique_{kind}"), get_i64(&row, "people")?);
            counts.insert(kind, get_i64(&row, "n")?);
        }
        Ok(counts)
    }

    /// Records opt-outs and, when `suppress` is given (every topic left), a
    /// suppression of the address, all in one transaction. Events for topics
    /// already opted out are not repeated: doing it twice changes nothing.
    /// Nor is an opt-out recorded for a topic the person never had a choice
    /// in, except `own_topic` (the topic of the mail they answer: an opt-in
    /// request's recipient says no to it). Returns the events appended;
    /// `None` when the contact no longer exists.
    pub async fn unsubscribe(
        &self,
        ws: &WorkspaceId,
        events: Vec<NewConsentEvent>,
        own_topic: Option<&str>,
        suppress: Option<(&str, &str)>,
        source: &str,
    ) -> Result<Option<Vec<ConsentEvent>>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let mut appended = Vec::new();
        for new in events {
            let current: Option<String> = sqlx::query(
                "SELECT status FROM contact_consent WHERE workspace_id = $1 AND contact_id = $2 AND topic = $3",
            )
            .bind(ws.as_str().to_owned())
            .bind(new.contact_id.as_str().to_owned())
            .bind(new.topic.as_str().to_owned())
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| get_str(&row, "status"))
            .transpose()?;
            let never_chosen = current.is_none() && own_topic != Some(new.topic.as_str());
            if current.as_deref() == Some("opted_out") || never_chosen {
                continue;
            }
            match append_in_tx(&mut tx, ws, new, now).await? {
                Some(event) => appended.push(event),
                None => return Ok(None),
            }
        }
        if let Some((email, hash)) = suppress {
            upsert_suppression(&mut tx, ws, hash, "unsubscribed", source, now, email).await?;
        }
        tx.commit().await?;
        Ok(Some(appended))
    }

    /// Records an opt-in from a signed button and sets the message's opt-in
    /// attribute to true, in one transaction. The attribute takes the
    /// boolean type if it has none yet; `Err` names the type it has when
    /// that is not boolean (nothing is written then).
    pub async fn confirm_opt_in(
        &self,
        ws: &WorkspaceId,
        event: NewConsentEvent,
        attribute: &AttributeName,
    ) -> Result<std::result::Result<Option<ConsentEvent>, AttributeType>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let contact = event.contact_id.clone();
        let Some(appended) = append_in_tx(&mut tx, ws, event, now).await? else {
            return Ok(Ok(None));
        };
        sqlx::query(
            "INSERT INTO attribute_schema (workspace_id, name, kind, created_at) VALUES ($1, $2, 'boolean', $3) \
             ON CONFLICT (workspace_id, name) DO NOTHING",
        )
        .bind(ws.as_str().to_owned())
        .bind(attribute.as_str().to_owned())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        let kind = stored_kind(&mut tx, ws, attribute).await?;
        if kind != "boolean" {
            let kind =
                AttributeType::parse(&kind).ok_or_else(|| corrupt("attribute type", &kind))?;
            return Ok(Err(kind));
        }
        self.set_attribute_true(&mut tx, ws, &contact, attribute, now)
            .await?;
        // Opting in again is how a person lifts their own unsubscribe.
        sqlx::query(
            "DELETE FROM suppressions WHERE workspace_id = $1 AND reason = 'unsubscribed' AND email_hash = \
             (SELECT email_hash FROM contacts WHERE workspace_id = $2 AND id = $3)",
        )
        .bind(ws.as_str().to_owned())
        .bind(ws.as_str().to_owned())
        .bind(contact.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(Some(appended)))
    }

    /// Sets a boolean attribute of the contact to true, in place, so a
    /// concurrent update of its other attributes is kept.
    async fn set_attribute_true(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        ws: &WorkspaceId,
        contact: &ContactId,
        attribute: &AttributeName,
        now: Timestamp,
    ) -> Result<()> {
        let write = match self.backend {
            Backend::Sqlite => {
                "UPDATE contacts SET attributes = jsonb_set(attributes, $1, json('true')), updated_at = $2 \
                 WHERE workspace_id = $3 AND id = $4"
            }
            Backend::Postgres => {
                "UPDATE contacts SET attributes = jsonb_set(attributes, ARRAY[$1::text], 'true'::jsonb), updated_at = $2 \
                 WHERE workspace_id = $3 AND id = $4"
            }
        };
        let key = match self.backend {
            Backend::Sqlite => format!("$.\"{}\"", attribute.as_str()),
            Backend::Postgres => attribute.as_str().to_owned(),
        };
        sqlx::query(write)
            .bind(key)
            .bind(now.millis())
            .bind(ws.as_str().to_owned())
            .bind(contact.as_str().to_owned())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// The workspace's attribute schema as the domain type.
    pub async fn schema(
        &self,
        ws: &WorkspaceId,
    ) -> Result<sendwell_core::attribute::AttributeSchema> {
        let rows = self.attribute_schema(ws).await?;
        let mut types = Vec::with_capacity(rows.len());
        for (name, kind, _) in rows {
            types.push((
                AttributeName::parse(&name).map_err(|_| corrupt("attribute name", &name))?,
                kind,
            ));
        }
        Ok(sendwell_core::attribute::AttributeSchema::new(types))
    }

    /// The id of the contact with this external id or address key.
    pub async fn find_contact_id(
        &self,
        ws: &WorkspaceId,
        external_id: Option<&str>,
        email_key: Option<&str>,
    ) -> Result<Option<ContactId>> {
        let row = sqlx::query(
            "SELECT id FROM contacts WHERE workspace_id = $1 AND (external_id = $2 OR email_key = $3) \
             ORDER BY CASE WHEN external_id = $4 THEN 0 ELSE 1 END LIMIT 1",
        )
        .bind(ws.as_str().to_owned())
        .bind(external_id.map(str::to_owned))
        .bind(email_key.map(str::to_owned))
        .bind(external_id.map(str::to_owned))
        .fetch_optional(&self.read)
        .await?;
        row.map(|row| get_contact_id(&row, "id")).transpose()
    }

    /// Topics on which a workspace records choices or sends, for the
    /// preferences of the unsubscribe page.
    pub async fn workspace_topics(&self, ws: &WorkspaceId) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT DISTINCT topic FROM messages WHERE workspace_id = $1 AND kind <> 'transactional' \
             UNION SELECT DISTINCT topic FROM contact_consent WHERE workspace_id = $2 ORDER BY topic",
        )
        .bind(ws.as_str().to_owned())
        .bind(ws.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| get_str(r, "topic")).collect()
    }

    pub async fn opt_in_landing_url(&self, ws: &WorkspaceId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT opt_in_landing_url FROM workspaces WHERE id = $1")
            .bind(ws.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        Ok(row
            .map(|r| get_opt_str(&r, "opt_in_landing_url"))
            .transpose()?
            .flatten())
    }
}

/// Why a message that could not be claimed as a draft was not queued.
async fn why_not_queued(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    id: &MessageId,
) -> Result<QueueError> {
    let exists = sqlx::query("SELECT 1 AS one FROM messages WHERE workspace_id = $1 AND id = $2")
        .bind(ws.as_str().to_owned())
        .bind(id.as_str().to_owned())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(if exists.is_some() {
        QueueError::AlreadyQueued
    } else {
        QueueError::NotFound
    })
}

async fn insert_message(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    new: &NewMessage,
    now: Timestamp,
) -> Result<MessageRecord> {
    let id = MessageId::generate(now);
    let sql = format!(
        "INSERT INTO messages ({MESSAGE_COLUMNS}, updated_at) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'draft', 0, $16, $17, NULL, NULL, NULL, NULL, NULL, $18, $19, NULL, NULL, NULL, $20)"
    );
    let q = sqlx::query(&sql)
        .bind(id.as_str().to_owned())
        .bind(ws.as_str().to_owned());
    bind_composed(q, new)
        .bind(new.created_by.clone())
        .bind(now.millis())
        .bind(i64::from(new.exclude_risky))
        .bind(new.audience_id.as_ref().map(|a| a.as_str().to_owned()))
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
    Ok(MessageRecord::draft(id, ws.clone(), new, now))
}

/// Binds what composing a message decides, name to data (thirteen values,
/// in the order of [`MESSAGE_COLUMNS`]), for an insert and a draft's update.
pub(crate) fn bind_composed<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    new: &NewMessage,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(new.name.clone())
        .bind(new.kind.as_str())
        .bind(new.topic.clone())
        .bind(new.from_name.clone())
        .bind(new.from_address.clone())
        .bind(new.reply_to.clone())
        .bind(new.subject.clone())
        .bind(to_json_text(&new.template))
        .bind(new.audience.as_ref().map(to_json_text))
        .bind(new.opt_in_attribute.clone())
        .bind(i64::from(new.track_clicks))
        .bind(i64::from(new.track_opens))
        .bind(new.data.as_ref().map(to_json_text))
}
