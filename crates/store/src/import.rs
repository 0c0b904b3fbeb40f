//! Imports: one transaction from the first row to the verdict, so a failed
//! import leaves nothing behind. Contacts an import creates carry its id and
//! are quarantined while its status is quarantined (or rejected): the verdict,
//! and later the operator's review, change one row.

use crate::consent::append_bulk_in_tx;
use crate::contact::{
    id_and_attributes, load_schema, save_new_types, BatchItemError, ContactInput, CreateTag,
    PlannedWrite, UpsertOutcome,
};
use crate::{get_opt_str, get_opt_ts, get_str, get_ts, numbered_rows, Result, Store};
use sendwell_core::attribute::AttributeSchema;
use sendwell_core::consent::NewConsentEvent;
use sendwell_core::{AuditId, ContactId, Timestamp, WorkspaceId};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::HashSet;

/// Suppressions elsewhere that say something about the address itself.
const ELSEWHERE_REASONS: &[&str] = &["bounced", "complained", "unsubscribed"];

/// What an import declares about itself.
#[derive(Clone, Debug)]
pub struct NewImport {
    pub source: String,
    pub description: Option<String>,
    /// `none`, `opt_in` or `double_opt_in`.
    pub consent: String,
    pub consent_topic: Option<String>,
    pub consent_statement: Option<String>,
    pub actor: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ImportRecord {
    pub id: String,
    pub workspace_id: String,
    pub source: String,
    pub description: Option<String>,
    pub consent: String,
    pub consent_topic: Option<String>,
    pub consent_statement: Option<String>,
    /// `accepted`, `accepted_with_warnings`, `quarantined`, `approved`, `rejected`.
    pub status: String,
    pub score: Option<i64>,
    pub counts: Option<Value>,
    pub signals: Option<Value>,
    pub actor: String,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub reviewed_at: Option<Timestamp>,
    pub review_note: Option<String>,
}

/// A contact an import created, as the delivery team's review shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedContact {
    pub id: ContactId,
    pub email: Option<String>,
    pub name: Option<String>,
    pub attributes: serde_json::Map<String, Value>,
    /// `valid`, `risky` or `invalid`, when the address was checked.
    pub address_verdict: Option<String>,
    pub created_at: Timestamp,
}

/// The most contacts [`Store::import_sample`] gives.
pub const MAX_IMPORT_SAMPLE: i64 = 100;

#[derive(Debug, PartialEq, Eq)]
pub enum ReviewError {
    NotFound,
    NotQuarantined(String),
}

const IMPORT_COLUMNS: &str =
    "id, workspace_id, source, description, consent, consent_topic, consent_statement, \
     status, score, counts, signals, actor, created_at, finished_at, reviewed_at, review_note";

fn record_from(row: &AnyRow) -> Result<ImportRecord> {
    let json = |col: &str| -> Result<Option<Value>> {
        Ok(get_opt_str(row, col)?.and_then(|t| serde_json::from_str(&t).ok()))
    };
    Ok(ImportRecord {
        id: get_str(row, "id")?,
        workspace_id: get_str(row, "workspace_id")?,
        source: get_str(row, "source")?,
        description: get_opt_str(row, "description")?,
        consent: get_str(row, "consent")?,
        consent_topic: get_opt_str(row, "consent_topic")?,
        consent_statement: get_opt_str(row, "consent_statement")?,
        status: get_str(row, "status")?,
        score: row.try_get::<Option<i64>, _>("score")?,
        counts: json("counts")?,
        signals: json("signals")?,
        actor: get_str(row, "actor")?,
        created_at: get_ts(row, "created_at")?,
        finished_at: get_opt_ts(row, "finished_at")?,
        reviewed_at: get_opt_ts(row, "reviewed_at")?,
        review_note: get_opt_str(row, "review_note")?,
    })
}

/// An import in progress: everything it writes is in its transaction until
/// `finish`.
///
/// Writes are pipelined: `write` works a batch out and queues it for a
/// writer task that owns the transaction meanwhile, so the next batch is
/// worked out while the database writes this one. Whatever needs the
/// transaction itself (looking up stored contacts, finishing) waits for the
/// writer to drain and takes the transaction back.
pub struct ImportSession {
    store: Store,
    /// `None` while the writer task holds the transaction.
    tx: Option<Transaction<'static, Any>>,
    writer: Option<Writer>,
    ws: WorkspaceId,
    pub id: String,
    before: AttributeSchema,
    schema: AttributeSchema,
    /// Attributes that rows actually written carry: only these join the
    /// schema (a rejected row's columns leave it as it was).
    used: HashSet<String>,
    /// Contacts the workspace had before the import.
    pub existing_contacts: u64,
    /// Consent events held by writers that have drained.
    consent_held: u64,
    /// Declared consent kept in memory while it is small: an import that
    /// ends accepted appends it straight to the ledger, without writing it
    /// to `import_consent` and reading it back.
    pending: Vec<NewConsentEvent>,
}

/// Declared consent events kept in memory before they go to
/// `import_consent` (about 25 MB at most).
const PENDING_CONSENT: usize = 50_000;

/// Work queued for the writer task, done in order.
enum Queued {
    Contacts(PlannedWrite),
    /// Events to hold, and the sequence number of the first.
    Consent(Vec<NewConsentEvent>, u64),
}

struct Writer {
    queue: tokio::sync::mpsc::Sender<Queued>,
    done: tokio::task::JoinHandle<Drained>,
}

/// What a writer hands back when its queue closes or a write fails.
struct Drained {
    tx: Transaction<'static, Any>,
    result: Result<()>,
    consent_held: u64,
}

/// Batches worked out ahead of the database: two, so one is always waiting.
const QUEUED_BATCHES: usize = 2;

async fn run_writer(
    store: Store,
    ws: WorkspaceId,
    import_id: String,
    mut tx: Transaction<'static, Any>,
    mut queue: tokio::sync::mpsc::Receiver<Queued>,
) -> Drained {
    let mut consent_held = 0;
    while let Some(work) = queue.recv().await {
        let result = match work {
            Queued::Contacts(write) => store.apply_upsert(&mut tx, &ws, write).await,
            Queued::Consent(events, first) => {
                hold_consent(&mut tx, &ws, &import_id, first, &events)
                    .await
                    .map(|n| consent_held += n)
            }
        };
        if result.is_err() {
            // Dropping the queue makes the session's next send fail, and
            // the session then collects this error.
            return Drained {
                tx,
                result,
                consent_held,
            };
        }
    }
    Drained {
        tx,
        result: Ok(()),
        consent_held,
    }
}

/// Keeps an import's declared consent aside until the import's verdict
/// (or the operator's review) says whether it counts.
async fn hold_consent(
    tx: &mut Transaction<'static, Any>,
    ws: &WorkspaceId,
    import_id: &str,
    first_seq: u64,
    events: &[NewConsentEvent],
) -> Result<u64> {
    const CHUNK: usize = 400;
    let mut seq = i64::try_from(first_seq).unwrap_or(i64::MAX);
    for chunk in events.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO import_consent (import_id, seq, workspace_id, contact_id, action, topic, method, actor, evidence) VALUES {}",
            numbered_rows(chunk.len(), 9, 1, |_, _, n| format!("${n}"))
        );
        let mut q = sqlx::query(&sql).persistent(chunk.len() == CHUNK);
        for e in chunk {
            q = q
                .bind(import_id.to_owned())
                .bind(seq)
                .bind(ws.as_str().to_owned())
                .bind(e.contact_id.as_str().to_owned())
                .bind(e.action.as_str())
                .bind(e.topic.as_str().to_owned())
                .bind(e.method.as_str())
                .bind(e.actor.clone())
                .bind(serde_json::to_string(&e.evidence).unwrap_or_else(|_| "{}".to_owned()));
            seq += 1;
        }
        q.execute(&mut **tx).await?;
    }
    Ok(events.len() as u64)
}

/// Appends an import's held consent to the ledger (people who opted out
/// since keep their choice) and lets it go; the events appended.
async fn apply_held_consent(
    store: &Store,
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    import_id: &str,
    now: Timestamp,
) -> Result<u64> {
    use sendwell_core::consent::{ConsentAction, ConsentMethod, Evidence, Topic};
    const PAGE: i64 = 5000;
    let mut after = -1i64;
    let mut appended = 0;
    loop {
        let rows = sqlx::query(
            "SELECT seq, contact_id, action, topic, method, actor, evidence FROM import_consent \
             WHERE import_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(import_id.to_owned())
        .bind(after)
        .bind(PAGE)
        .fetch_all(&mut **tx)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get::<i64, _>("seq")?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let action = get_str(row, "action")?;
            let topic = get_str(row, "topic")?;
            let method = get_str(row, "method")?;
            let evidence = get_str(row, "evidence")?;
            events.push(NewConsentEvent {
                contact_id: crate::get_contact_id(row, "contact_id")?,
                action: ConsentAction::parse(&action)
                    .ok_or_else(|| crate::corrupt("consent action", &action))?,
                topic: Topic::parse(&topic).map_err(|_| crate::corrupt("topic", &topic))?,
                method: ConsentMethod::parse(&method)
                    .ok_or_else(|| crate::corrupt("consent method", &method))?,
                actor: get_str(row, "actor")?,
                evidence: serde_json::from_str::<Evidence>(&evidence)
                    .map_err(|_| crate::corrupt("evidence", &evidence))?,
            });
        }
        // An erased contact's held events went with it; one erased since
        // the hold would fail the append, so only live contacts count.
        appended += append_bulk_in_tx(store, tx, ws, events, now).await?;
        if rows.len() < usize::try_from(PAGE).unwrap_or(usize::MAX) {
            break;
        }
    }
    drop_held_consent(tx, import_id).await?;
    Ok(appended)
}

async fn drop_held_consent(tx: &mut Transaction<'_, Any>, import_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM import_consent WHERE import_id = $1")
        .bind(import_id.to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// How an import ends.
#[derive(Clone, Debug)]
pub struct ImportVerdict {
    pub status: String,
    pub score: i64,
    pub counts: Value,
    pub signals: Value,
    pub rejects_csv: String,
}

impl Store {
    pub async fn begin_import(&self, ws: &WorkspaceId, meta: &NewImport) -> Result<ImportSession> {
        let now = self.now();
        let id = format!("imp_{}", &AuditId::generate(now).as_str()[3..]);
        let mut tx = self.write.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO imports ({IMPORT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', NULL, NULL, NULL, \
             $8, $9, NULL, NULL, NULL)"
        ))
        .bind(id.clone())
        .bind(ws.as_str().to_owned())
        .bind(meta.source.clone())
        .bind(meta.description.clone())
        .bind(meta.consent.clone())
        .bind(meta.consent_topic.clone())
        .bind(meta.consent_statement.clone())
        .bind(meta.actor.clone())
        .bind(now.millis())
        .execute(&mut *tx)
        .await?;
        let existing: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM contacts WHERE workspace_id = $1")
                .bind(ws.as_str().to_owned())
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        let before = load_schema(&mut tx, ws).await?;
        Ok(ImportSession {
            store: self.clone(),
            tx: Some(tx),
            writer: None,
            ws: ws.clone(),
            id,
            schema: before.clone(),
            before,
            used: HashSet::new(),
            existing_contacts: u64::try_from(existing).unwrap_or(0),
            consent_held: 0,
            pending: Vec::new(),
        })
    }

    pub async fn import_record(
        &self,
        ws: Option<&WorkspaceId>,
        id: &str,
    ) -> Result<Option<ImportRecord>> {
        let mut sql = format!("SELECT {IMPORT_COLUMNS} FROM imports WHERE id = $1");
        if ws.is_some() {
            sql.push_str(" AND workspace_id = $2");
        }
        let mut q = sqlx::query(&sql).bind(id.to_owned());
        if let Some(ws) = ws {
            q = q.bind(ws.as_str().to_owned());
        }
        let row = q.fetch_optional(&self.read).await?;
        row.as_ref().map(record_from).transpose()
    }

    pub async fn import_rejects(&self, ws: &WorkspaceId, id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT rejects FROM imports WHERE id = $1 AND workspace_id = $2")
            .bind(id.to_owned())
            .bind(ws.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        match row {
            Some(r) => Ok(Some(get_opt_str(&r, "rejects")?.unwrap_or_default())),
            None => Ok(None),
        }
    }

    /// The first `limit` (at most [`MAX_IMPORT_SAMPLE`]) contacts, by id,
    /// that import `id` of workspace `ws` created or gave a new address: a
    /// sample of its rows for the delivery team's review.
    pub async fn import_sample(
        &self,
        ws: &WorkspaceId,
        id: &str,
        limit: i64,
    ) -> Result<Vec<ImportedContact>> {
        // The primary key (workspace_id, id) gives the order, so the read
        // stops at `limit` matches instead of sorting the import's rows.
        let sql = format!(
            "SELECT id, email, name, {}, address_verdict, created_at FROM contacts \
             WHERE workspace_id = $1 AND import_id = $2 ORDER BY id LIMIT $3",
            self.attributes_column()
        );
        let rows = sqlx::query(&sql)
            .bind(ws.as_str().to_owned())
            .bind(id.to_owned())
            .bind(limit.clamp(0, MAX_IMPORT_SAMPLE))
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|row| {
                let (id, attributes) = id_and_attributes(row)?;
                Ok(ImportedContact {
                    id,
                    email: get_opt_str(row, "email")?,
                    name: get_opt_str(row, "name")?,
                    attributes,
                    address_verdict: get_opt_str(row, "address_verdict")?,
                    created_at: get_ts(row, "created_at")?,
                })
            })
            .collect()
    }

    /// Imports of one workspace, or (for the operator) of all, optionally by status.
    pub async fn list_imports(
        &self,
        ws: Option<&WorkspaceId>,
        status: Option<&str>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ImportRecord>> {
        // Newest first; the cursor is the last id of the previous page.
        let mut sql = format!("SELECT {IMPORT_COLUMNS} FROM imports WHERE id < $1");
        let mut n = 2;
        if ws.is_some() {
            sql.push_str(&format!(" AND workspace_id = ${n}"));
            n += 1;
        }
        if status.is_some() {
            sql.push_str(&format!(" AND status = ${n}"));
            n += 1;
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${n}"));
        let mut q = sqlx::query(&sql).bind(cursor.unwrap_or("~").to_owned());
        if let Some(ws) = ws {
            q = q.bind(ws.as_str().to_owned());
        }
        if let Some(status) = status {
            q = q.bind(status.to_owned());
        }
        let rows = q.bind(limit).fetch_all(&self.read).await?;
        rows.iter().map(record_from).collect()
    }

    /// The operator's decision on a quarantined import: approval makes its
    /// contacts mailable; rejection keeps them unmailable (they stay visible
    /// to the workspace, which may erase them).
    pub async fn review_import(
        &self,
        id: &str,
        approve: bool,
        note: &str,
        actor: &str,
    ) -> Result<std::result::Result<ImportRecord, ReviewError>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {IMPORT_COLUMNS} FROM imports WHERE id = $1"
        ))
        .bind(id.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(record) = row.as_ref().map(record_from).transpose()? else {
            return Ok(Err(ReviewError::NotFound));
        };
        if record.status != "quarantined" {
            return Ok(Err(ReviewError::NotQuarantined(record.status)));
        }
        let status = if approve { "approved" } else { "rejected" };
        // A concurrent review got there first.
        if !mark_reviewed(&mut tx, id, status, note, now).await? {
            return Ok(Err(ReviewError::NotQuarantined(
                "already reviewed".to_owned(),
            )));
        }
        let ws = WorkspaceId::parse(&record.workspace_id)
            .map_err(|_| crate::corrupt("workspace id", &record.workspace_id))?;
        let consent = if approve {
            apply_held_consent(self, &mut tx, &ws, id, now).await?
        } else {
            drop_held_consent(&mut tx, id).await?;
            0
        };
        let counts = save_review_counts(&mut tx, id, record.counts.clone(), consent).await?;
        let action = if approve {
            "import.approved"
        } else {
            "import.rejected"
        };
        let reason = format!("import {id} {status} by the operator: {note}");
        crate::audit::record_action(&mut tx, &ws, actor, action, &reason, now).await?;
        tx.commit().await?;
        Ok(Ok(ImportRecord {
            counts: Some(counts),
            status: status.to_owned(),
            reviewed_at: Some(now),
            review_note: Some(note.to_owned()),
            ..record
        }))
    }
}

/// Records the operator's review of a quarantined import; `false` when it
/// is no longer quarantined.
async fn mark_reviewed(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    status: &str,
    note: &str,
    now: Timestamp,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE imports SET status = $1, reviewed_at = $2, review_note = $3 \
         WHERE id = $4 AND status = 'quarantined'",
    )
    .bind(status.to_owned())
    .bind(now.millis())
    .bind(note.to_owned())
    .bind(id.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The reviewed import's counts, with the consent the review recorded
/// (none is held any more), saved.
async fn save_review_counts(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    counts: Option<Value>,
    recorded: u64,
) -> Result<Value> {
    let mut counts = counts.unwrap_or_else(|| Value::Object(Default::default()));
    set_consent_counts(&mut counts, recorded, 0);
    sqlx::query("UPDATE imports SET counts = $1 WHERE id = $2")
        .bind(counts.to_string())
        .bind(id.to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(counts)
}

/// Notes in an import's counts how much declared consent reached the
/// ledger and how much is still held.
fn set_consent_counts(counts: &mut Value, recorded: u64, held: u64) {
    if let Value::Object(m) = counts {
        m.insert("consent_recorded".into(), Value::from(recorded));
        m.insert("consent_held".into(), Value::from(held));
    }
}

/// The import's transaction went missing: a bug, not a database error.
fn lost_transaction() -> crate::StoreError {
    crate::StoreError::Integrity("the import's transaction was lost".to_owned())
}

impl ImportSession {
    /// The transaction, once the writer task (if any) has written all it
    /// was given; its first error, if it had one.
    async fn drained(&mut self) -> Result<&mut Transaction<'static, Any>> {
        if let Some(Writer { queue, done }) = self.writer.take() {
            drop(queue);
            let drained = done.await.map_err(|e| {
                crate::StoreError::Integrity(format!("the import's writer stopped: {e}"))
            })?;
            let _ = drained.consent_held;
            self.tx = Some(drained.tx);
            drained.result?;
        }
        self.tx.as_mut().ok_or_else(lost_transaction)
    }

    /// Hands work to the writer task, starting it if needed.
    async fn queue(&mut self, work: Queued) -> Result<()> {
        if self.writer.is_none() {
            let tx = self.tx.take().ok_or_else(lost_transaction)?;
            let (queue, receiver) = tokio::sync::mpsc::channel(QUEUED_BATCHES);
            let done = tokio::spawn(run_writer(
                self.store.clone(),
                self.ws.clone(),
                self.id.clone(),
                tx,
                receiver,
            ));
            self.writer = Some(Writer { queue, done });
        }
        let sent = match &self.writer {
            Some(writer) => writer.queue.send(work).await.is_ok(),
            None => false,
        };
        if !sent {
            // The writer stopped on an error: collect it.
            self.drained().await?;
            return Err(crate::StoreError::Integrity(
                "the import's writer stopped without saying why".to_owned(),
            ));
        }
        Ok(())
    }

    /// Works one batch out and queues it to be written; rows with errors are
    /// skipped and returned. The outcomes are final unless the import fails
    /// as a whole (a write error fails the next call, or `finish`).
    pub async fn write(
        &mut self,
        items: &[ContactInput],
    ) -> Result<(Vec<UpsertOutcome>, Vec<BatchItemError>)> {
        let tag = CreateTag {
            import_id: self.id.clone(),
        };
        // Items that may match a stored contact are looked up in the
        // transaction, after every earlier batch is written.
        let stored = if items.iter().all(|i| i.known_new) {
            Vec::new()
        } else {
            let store = self.store.clone();
            let ws = self.ws.clone();
            let tx = self.drained().await?;
            store.prefetch(tx, &ws, items).await?
        };
        let planned = self
            .store
            .plan_upsert(&self.ws, &mut self.schema, items, stored, Some(&tag));
        let failed: HashSet<usize> = planned.errors.iter().map(|e| e.index).collect();
        for (index, item) in items.iter().enumerate() {
            if !failed.contains(&index) {
                self.used.extend(item.attributes.keys().cloned());
            }
        }
        self.queue(Queued::Contacts(planned.write)).await?;
        Ok((planned.outcomes, planned.errors))
    }

    /// Which of these address hashes this workspace, and other workspaces, suppress.
    pub async fn suppressed(
        &mut self,
        hashes: &[String],
    ) -> Result<(HashSet<String>, HashSet<String>)> {
        let mut here = HashSet::new();
        let mut elsewhere = HashSet::new();
        for chunk in hashes.chunks(1000) {
            let sql = format!(
                "SELECT email_hash, workspace_id, reason FROM suppressions WHERE email_hash IN ({})",
                self.store.params(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for h in chunk {
                q = q.bind(h.clone());
            }
            // The suppression lists are not written by an import: they are
            // read beside it, so the writer need not stop for them.
            for row in q.fetch_all(&self.store.read).await? {
                let hash = get_str(&row, "email_hash")?;
                if get_str(&row, "workspace_id")? == self.ws.as_str() {
                    here.insert(hash);
                } else if ELSEWHERE_REASONS.contains(&get_str(&row, "reason")?.as_str()) {
                    // Only what the address did (bounce, complain, leave); never an
                    // erasure or another workspace's own choice.
                    elsewhere.insert(hash);
                }
            }
        }
        Ok((here, elsewhere))
    }

    /// Queues declared consent for contacts of batches already queued;
    /// contacts who opted out keep their choice.
    pub async fn record_consent(&mut self, mut events: Vec<NewConsentEvent>) -> Result<()> {
        // In memory while small; once past the limit, all of it (in order)
        // is held in the database.
        if self.consent_held == 0 && self.pending.len() + events.len() <= PENDING_CONSENT {
            self.pending.append(&mut events);
            return Ok(());
        }
        if !self.pending.is_empty() {
            let earlier = std::mem::take(&mut self.pending);
            let first = self.consent_held;
            self.consent_held += earlier.len() as u64;
            self.queue(Queued::Consent(earlier, first)).await?;
        }
        let first = self.consent_held;
        self.consent_held += events.len() as u64;
        self.queue(Queued::Consent(events, first)).await
    }

    /// How many consent events the import declared, once everything
    /// queued is written. They reach the ledger when the import is
    /// accepted, at `finish`, or approved.
    pub async fn consent_declared(&mut self) -> Result<u64> {
        self.drained().await?;
        Ok(self.consent_held + self.pending.len() as u64)
    }

    /// Saves the verdict; the created contacts are mailable unless it is `quarantined`.
    pub async fn finish(
        mut self,
        verdict: ImportVerdict,
    ) -> Result<std::result::Result<ImportRecord, Vec<BatchItemError>>> {
        let now = self.store.now();
        self.drained().await?;
        let Some(mut tx) = self.tx.take() else {
            return Err(lost_transaction());
        };
        if let Err(errors) = save_new_types(
            &mut tx,
            &self.ws,
            &self.before,
            &self.written_schema(),
            &[],
            now,
            self.store.max_attributes(),
        )
        .await?
        {
            return Ok(Err(errors));
        }
        let mut counts = verdict.counts.clone();
        let (recorded, held) = self.settle_consent(&mut tx, &verdict.status, now).await?;
        set_consent_counts(&mut counts, recorded, held);
        sqlx::query(
            "UPDATE imports SET status = $1, score = $2, counts = $3, signals = $4, rejects = $5, finished_at = $6 \
             WHERE id = $7",
        )
        .bind(verdict.status.clone())
        .bind(verdict.score)
        .bind(counts.to_string())
        .bind(verdict.signals.to_string())
        .bind(verdict.rejects_csv)
        .bind(now.millis())
        .bind(self.id.clone())
        .execute(&mut *tx)
        .await?;
        let id = self.id.clone();
        tx.commit().await?;
        let record =
            self.store.import_record(None, &id).await?.ok_or_else(|| {
                crate::StoreError::Integrity("finished import not found".to_owned())
            })?;
        Ok(Ok(record))
    }

    /// The schema as the rows actually written use it: attributes only
    /// rejected rows carried stay out.
    fn written_schema(&self) -> AttributeSchema {
        AttributeSchema::new(
            self.schema
                .iter()
                .filter(|(n, _)| self.before.get(n).is_some() || self.used.contains(n.as_str()))
                .map(|(n, k)| (n.clone(), k)),
        )
    }

    /// Declared consent counts once the import does: now when it is
    /// accepted, at the operator's approval when it is quarantined, never
    /// when it is rejected. The events recorded, and those still held.
    async fn settle_consent(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        status: &str,
        now: Timestamp,
    ) -> Result<(u64, u64)> {
        let applying = std::time::Instant::now();
        let pending = std::mem::take(&mut self.pending);
        let in_memory = pending.len() as u64;
        let (recorded, held) = match status {
            "accepted" | "accepted_with_warnings" => {
                let mut recorded = 0;
                for chunk in pending.chunks(5000) {
                    recorded +=
                        append_bulk_in_tx(&self.store, tx, &self.ws, chunk.to_vec(), now).await?;
                }
                recorded += apply_held_consent(&self.store, tx, &self.ws, &self.id, now).await?;
                (recorded, 0)
            }
            "quarantined" => {
                if !pending.is_empty() {
                    hold_consent(tx, &self.ws, &self.id, self.consent_held, &pending).await?;
                }
                (0, self.consent_held + in_memory)
            }
            _ => {
                drop_held_consent(tx, &self.id).await?;
                (0, 0)
            }
        };
        tracing::info!(
            import = %self.id,
            recorded,
            held,
            ms = applying.elapsed().as_millis() as u64,
            "declared consent applied at the import's end"
        );
        Ok((recorded, held))
    }
}
