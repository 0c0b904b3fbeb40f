//! The consent ledger in the database: appends that keep the per-workspace
//! chain intact under concurrency, the derived current consent per contact
//! and topic (updated in the same transaction), and verification.

use crate::{corrupt, get_i64, get_opt_str, get_str, get_ts, Result, Store, StoreError};
use sendwell_core::consent::{
    check_event, fold, BrokenLink, ChainProblem, ChainVerdict, ChainVerifier, ConsentAction,
    ConsentEvent, ConsentMethod, ConsentStatus, Evidence, NewConsentEvent, SealedEvidence, Topic,
    TopicConsent,
};
use sendwell_core::{ConsentEventId, ContactId, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::{HashMap, HashSet};

const EVENT_COLUMNS: &str =
    "id, workspace_id, seq, contact_id, action, topic, method, actor, occurred_at, \
     evidence, evidence_salt, evidence_digest, prev_hash, hash";

/// The proof bundle for one contact: its events, and whether each still
/// matches its hash and its place in the workspace's chain.
#[derive(Clone, Debug)]
pub struct ContactProof {
    pub events: Vec<ConsentEvent>,
    pub problems: Vec<BrokenLink>,
    pub chain_length: i64,
}

#[derive(Clone, Debug)]
pub struct LedgerVerification {
    pub verdict: ChainVerdict,
    pub erased_events: i64,
}

fn event_from(row: &AnyRow) -> Result<ConsentEvent> {
    let id = get_str(row, "id")?;
    let bad = |what: &str, v: &str| corrupt(&format!("{what} in consent event {id}:"), v);
    let ws = get_str(row, "workspace_id")?;
    let contact = get_str(row, "contact_id")?;
    let action = get_str(row, "action")?;
    let topic = get_str(row, "topic")?;
    let method = get_str(row, "method")?;
    let evidence = match (
        get_opt_str(row, "evidence")?,
        get_opt_str(row, "evidence_salt")?,
    ) {
        (Some(json), Some(salt)) => {
            // Evidence that no longer parses is reported by verification as
            // altered rather than failing the read.
            let evidence = serde_json::from_str::<Evidence>(&json).unwrap_or_else(|_| Evidence {
                declaration: Some(format!("unreadable evidence: {json}")),
                ..Evidence::default()
            });
            Some(SealedEvidence { evidence, salt })
        }
        _ => None,
    };
    Ok(ConsentEvent {
        id: ConsentEventId::parse(&id).map_err(|_| corrupt("consent event id", &id))?,
        workspace_id: WorkspaceId::parse(&ws).map_err(|_| bad("workspace id", &ws))?,
        seq: get_i64(row, "seq")?,
        contact_id: ContactId::parse(&contact).map_err(|_| bad("contact id", &contact))?,
        action: ConsentAction::parse(&action).ok_or_else(|| bad("action", &action))?,
        topic: Topic::parse(&topic).map_err(|_| bad("topic", &topic))?,
        method: ConsentMethod::parse(&method).ok_or_else(|| bad("method", &method))?,
        actor: get_str(row, "actor")?,
        occurred_at: get_ts(row, "occurred_at")?,
        evidence,
        evidence_digest: get_str(row, "evidence_digest")?,
        prev_hash: get_str(row, "prev_hash")?,
        hash: get_str(row, "hash")?,
    })
}

impl Store {
    /// Appends an event to the workspace's chain and updates the contact's
    /// current consent. `None` when the contact is not in the workspace.
    pub async fn append_consent(
        &self,
        ws: &WorkspaceId,
        new: NewConsentEvent,
    ) -> Result<Option<ConsentEvent>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let exists =
            sqlx::query("SELECT 1 AS one FROM contacts WHERE workspace_id = $1 AND id = $2")
                .bind(ws.as_str().to_owned())
                .bind(new.contact_id.as_str().to_owned())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Ok(None);
        }
        // Updating the head first takes its row lock (PostgreSQL) or the write
        // lock (SQLite), so appends to one workspace's chain are serial.
        let head = sqlx::query(
            "UPDATE consent_heads SET seq = seq + 1 WHERE workspace_id = $1 RETURNING seq, hash",
        )
        .bind(ws.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            StoreError::Integrity(format!("workspace {ws} has no consent ledger head"))
        })?;
        let seq = get_i64(&head, "seq")?;
        let prev_hash = get_str(&head, "hash")?;
        let previous = current_for(&mut tx, ws, &new.contact_id, &new.topic).await?;
        let event = ConsentEvent::append(new, ws.clone(), seq, prev_hash, now);
        let sealed = event
            .evidence
            .as_ref()
            .ok_or_else(|| StoreError::Integrity("a new event has no evidence".to_owned()))?;
        sqlx::query(&format!(
            "INSERT INTO consent_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(event.id.as_str().to_owned())
        .bind(ws.as_str().to_owned())
        .bind(event.seq)
        .bind(event.contact_id.as_str().to_owned())
        .bind(event.action.as_str())
        .bind(event.topic.as_str().to_owned())
        .bind(event.method.as_str())
        .bind(event.actor.clone())
        .bind(event.occurred_at.millis())
        .bind(sealed.canonical_json())
        .bind(sealed.salt.clone())
        .bind(event.evidence_digest.clone())
        .bind(event.prev_hash.clone())
        .bind(event.hash.clone())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE consent_heads SET hash = $1 WHERE workspace_id = $2")
            .bind(event.hash.clone())
            .bind(ws.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        let state = fold(previous.as_ref(), &event);
        sqlx::query(
            "INSERT INTO contact_consent (workspace_id, contact_id, topic, status, double_opt_in, since, event_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (workspace_id, contact_id, topic) DO UPDATE SET \
             status = excluded.status, double_opt_in = excluded.double_opt_in, since = excluded.since, \
             event_id = excluded.event_id",
        )
        .bind(ws.as_str().to_owned())
        .bind(event.contact_id.as_str().to_owned())
        .bind(event.topic.as_str().to_owned())
        .bind(state.status.as_str())
        .bind(i64::from(state.double_opt_in))
        .bind(state.since.millis())
        .bind(state.event_id.as_str().to_owned())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(event))
    }

    pub async fn contact_consent_events(
        &self,
        ws: &WorkspaceId,
        contact: &ContactId,
    ) -> Result<Vec<ConsentEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM consent_events WHERE workspace_id = $1 AND contact_id = $2 ORDER BY seq"
        ))
        .bind(ws.as_str().to_owned())
        .bind(contact.as_str().to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(event_from).collect()
    }

    /// The contact's events, each checked against its own hash, the hash of
    /// the event before it and the link of the event after it.
    pub async fn contact_proof(
        &self,
        ws: &WorkspaceId,
        contact: &ContactId,
    ) -> Result<ContactProof> {
        let events = self.contact_consent_events(ws, contact).await?;
        let head = sqlx::query("SELECT seq FROM consent_heads WHERE workspace_id = $1")
            .bind(ws.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        let chain_length = match head {
            Some(row) => get_i64(&row, "seq")?,
            None => 0,
        };
        let mut neighbours: Vec<i64> = events
            .iter()
            .flat_map(|e| [e.seq - 1, e.seq + 1])
            .filter(|s| *s >= 1)
            .collect();
        neighbours.sort_unstable();
        neighbours.dedup();
        let mut links: HashMap<i64, (String, String)> = HashMap::new();
        for chunk in neighbours.chunks(500) {
            let sql = format!(
                "SELECT seq, prev_hash, hash FROM consent_events WHERE workspace_id = {} AND seq IN ({})",
                self.param(1),
                self.params(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(ws.as_str().to_owned());
            for s in chunk {
                q = q.bind(*s);
            }
            for row in q.fetch_all(&self.read).await? {
                links.insert(
                    get_i64(&row, "seq")?,
                    (get_str(&row, "prev_hash")?, get_str(&row, "hash")?),
                );
            }
        }
        let mut problems = Vec::new();
        for e in &events {
            let broken = |problem| BrokenLink {
                seq: e.seq,
                event_id: Some(e.id.clone()),
                problem,
            };
            if let Err(problem) = check_event(e, false) {
                problems.push(broken(problem));
                continue;
            }
            let before_ok = if e.seq == 1 {
                e.prev_hash == sendwell_core::consent::GENESIS_HASH
            } else {
                links
                    .get(&(e.seq - 1))
                    .is_some_and(|(_, h)| *h == e.prev_hash)
            };
            let after_ok =
                e.seq >= chain_length || links.get(&(e.seq + 1)).is_some_and(|(p, _)| *p == e.hash);
            if !before_ok || !after_ok {
                problems.push(broken(ChainProblem::LinkBroken));
            }
        }
        Ok(ContactProof {
            events,
            problems,
            chain_length,
        })
    }

    /// Walks the workspace's whole chain, a page at a time.
    pub async fn verify_ledger(&self, ws: &WorkspaceId) -> Result<LedgerVerification> {
        let head = sqlx::query("SELECT seq, hash FROM consent_heads WHERE workspace_id = $1")
            .bind(ws.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        let head = match head {
            Some(row) => Some((get_i64(&row, "seq")?, get_str(&row, "hash")?)),
            None => None,
        };
        let erased: HashSet<String> =
            sqlx::query("SELECT contact_id FROM erasures WHERE workspace_id = $1")
                .bind(ws.as_str().to_owned())
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| get_str(r, "contact_id"))
                .collect::<Result<_>>()?;
        let mut verifier = ChainVerifier::default();
        let mut erased_events = 0;
        let mut after = 0i64;
        'pages: loop {
            let rows = sqlx::query(&format!(
                "SELECT {EVENT_COLUMNS} FROM consent_events WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT 1000"
            ))
            .bind(ws.as_str().to_owned())
            .bind(after)
            .fetch_all(&self.read)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let event = event_from(row)?;
                after = event.seq;
                let is_erased = erased.contains(event.contact_id.as_str());
                if event.evidence.is_none() && is_erased {
                    erased_events += 1;
                }
                if !verifier.feed(&event, is_erased) {
                    break 'pages;
                }
            }
        }
        let verdict = verifier.finish(head.as_ref().map(|(s, h)| (*s, h.as_str())));
        Ok(LedgerVerification {
            verdict,
            erased_events,
        })
    }
}

async fn current_for(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    contact: &ContactId,
    topic: &Topic,
) -> Result<Option<TopicConsent>> {
    let row = sqlx::query(
        "SELECT status, double_opt_in, since, event_id FROM contact_consent \
         WHERE workspace_id = $1 AND contact_id = $2 AND topic = $3",
    )
    .bind(ws.as_str().to_owned())
    .bind(contact.as_str().to_owned())
    .bind(topic.as_str().to_owned())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let status = get_str(&row, "status")?;
    let event_id = get_str(&row, "event_id")?;
    Ok(Some(TopicConsent {
        status: ConsentStatus::parse(&status).ok_or_else(|| corrupt("consent status", &status))?,
        double_opt_in: row.try_get::<i64, _>("double_opt_in")? != 0,
        since: get_ts(&row, "since")?,
        event_id: ConsentEventId::parse(&event_id).map_err(|_| corrupt("event id", &event_id))?,
    }))
}
