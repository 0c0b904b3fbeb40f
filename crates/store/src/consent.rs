//! The consent ledger in the database: appends that keep the per-workspace
//! chain intact under concurrency, the derived current consent per contact
//! and topic (updated in the same transaction), and verification.

use crate::{
    bind_batch, corrupt, get_i64, get_opt_str, get_str, get_ts, Result, Store, StoreError,
};
use sendwell_core::consent::{
    check_event, fold, BrokenLink, ChainProblem, ChainVerdict, ChainVerifier, ConsentAction,
    ConsentEvent, ConsentMethod, ConsentStatus, Evidence, NewConsentEvent, SealedEvidence, Topic,
    TopicConsent,
};
use sendwell_core::{ConsentEventId, ContactId, Timestamp, WorkspaceId};
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
        let mut tx = self.write.begin().await?;
        let event = append_in_tx(&mut tx, ws, new, self.now()).await?;
        if event.is_some() {
            tx.commit().await?;
        }
        Ok(event)
    }

    /// Appends several events in one transaction, all or none. `None`
    /// when the contact is not in the workspace.
    pub async fn append_consents(
        &self,
        ws: &WorkspaceId,
        events: Vec<NewConsentEvent>,
    ) -> Result<Option<Vec<ConsentEvent>>> {
        if events.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let mut appended = Vec::with_capacity(events.len());
        for new in events {
            match append_in_tx(&mut tx, ws, new, now).await? {
                Some(e) => appended.push(e),
                None => return Ok(None),
            }
        }
        tx.commit().await?;
        Ok(Some(appended))
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
        let links = self.neighbour_links(ws, &events).await?;
        let problems = broken_links(&events, &links, chain_length);
        Ok(ContactProof {
            events,
            problems,
            chain_length,
        })
    }

    /// The (prev_hash, hash) of the events just before and just after each
    /// of `events` in the workspace's chain, by sequence number.
    async fn neighbour_links(
        &self,
        ws: &WorkspaceId,
        events: &[ConsentEvent],
    ) -> Result<HashMap<i64, (String, String)>> {
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
                "SELECT seq, prev_hash, hash FROM consent_events WHERE {}",
                self.batch_condition("seq", chunk.len())
            );
            for row in bind_batch(&sql, ws, chunk).fetch_all(&self.read).await? {
                links.insert(
                    get_i64(&row, "seq")?,
                    (get_str(&row, "prev_hash")?, get_str(&row, "hash")?),
                );
            }
        }
        Ok(links)
    }

    /// Walks the workspace's whole chain, a page at a time.
    pub async fn verify_ledger(&self, ws: &WorkspaceId) -> Result<LedgerVerification> {
        let head = sqlx::query("SELECT seq, hash FROM consent_heads WHERE workspace_id = $1")
            .bind(ws.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        // Every workspace gets a head when it is created: a missing one was removed.
        let Some(head) = head else {
            return Ok(LedgerVerification {
                verdict: ChainVerdict::Broken(BrokenLink {
                    seq: 1,
                    event_id: None,
                    problem: ChainProblem::HeadMismatch { head_seq: 0 },
                }),
                erased_events: 0,
            });
        };
        let head = (get_i64(&head, "seq")?, get_str(&head, "hash")?);
        let (verifier, without_evidence) = self.walk_chain(ws, head.0).await?;
        let verdict = verifier.finish(Some((head.0, head.1.as_str())));
        self.judge_missing_evidence(ws, verdict, without_evidence)
            .await
    }

    /// Feeds the chain up to `head_seq` to a verifier, a page at a time,
    /// stopping at the first break; the events it met without evidence.
    async fn walk_chain(
        &self,
        ws: &WorkspaceId,
        head_seq: i64,
    ) -> Result<(ChainVerifier, Vec<WithoutEvidence>)> {
        let mut verifier = ChainVerifier::default();
        let mut without_evidence = Vec::new();
        let mut after = 0i64;
        // The walk stops at the head read before it, so appends made
        // meanwhile are not mistaken for a broken end.
        'pages: loop {
            let rows = sqlx::query(&format!(
                "SELECT {EVENT_COLUMNS} FROM consent_events WHERE workspace_id = $1 AND seq > $2 \
                 AND seq <= $3 ORDER BY seq LIMIT 1000"
            ))
            .bind(ws.as_str().to_owned())
            .bind(after)
            .bind(head_seq)
            .fetch_all(&self.read)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let event = event_from(row)?;
                after = event.seq;
                if event.evidence.is_none() {
                    without_evidence.push((event.seq, event.id.clone(), event.contact_id.clone()));
                }
                // Whether a removal of evidence was an erasure is judged after the walk.
                if !verifier.feed(&event, true) {
                    break 'pages;
                }
            }
        }
        Ok((verifier, without_evidence))
    }

    /// Tells erasures from evidence removed by hand: the first event whose
    /// evidence is gone without its contact having been erased breaks the
    /// chain there, unless it broke earlier. Counts the erased events.
    async fn judge_missing_evidence(
        &self,
        ws: &WorkspaceId,
        mut verdict: ChainVerdict,
        without_evidence: Vec<WithoutEvidence>,
    ) -> Result<LedgerVerification> {
        // Read after the walk, so an erasure committed during it is included.
        let erased: HashSet<String> =
            sqlx::query("SELECT contact_id FROM erasures WHERE workspace_id = $1")
                .bind(ws.as_str().to_owned())
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| get_str(r, "contact_id"))
                .collect::<Result<_>>()?;
        let mut erased_events = 0;
        // Whether each erased contact is really gone, asked once per contact.
        let mut gone: HashMap<ContactId, bool> = HashMap::new();
        for (seq, id, contact) in without_evidence {
            // An erasure also removed the contact; evidence gone from a
            // contact that is still there, or never erased, was removed by hand.
            let erasure = erased.contains(contact.as_str())
                && match gone.get(&contact) {
                    Some(g) => *g,
                    None => {
                        let g = !self.contact_exists(ws, &contact).await?;
                        gone.insert(contact.clone(), g);
                        g
                    }
                };
            if erasure {
                erased_events += 1;
                continue;
            }
            let first = match &verdict {
                ChainVerdict::Broken(b) => seq < b.seq,
                ChainVerdict::Intact { .. } => true,
            };
            if first {
                verdict = ChainVerdict::Broken(BrokenLink {
                    seq,
                    event_id: Some(id),
                    problem: ChainProblem::EvidenceRemoved,
                });
            }
            break;
        }
        Ok(LedgerVerification {
            verdict,
            erased_events,
        })
    }
}

/// An event met without evidence: its place, id and contact.
type WithoutEvidence = (i64, ConsentEventId, ContactId);

/// What is wrong with each of a contact's events: its own hash, or its
/// links to the events around it (`links`, from `neighbour_links`).
fn broken_links(
    events: &[ConsentEvent],
    links: &HashMap<i64, (String, String)>,
    chain_length: i64,
) -> Vec<BrokenLink> {
    let mut problems = Vec::new();
    for e in events {
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
    problems
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
    row.as_ref().map(topic_consent_from).transpose()
}

/// A `contact_consent` row (status, double_opt_in, since, event_id).
pub(crate) fn topic_consent_from(row: &AnyRow) -> Result<TopicConsent> {
    let status = get_str(row, "status")?;
    let event_id = get_str(row, "event_id")?;
    Ok(TopicConsent {
        status: ConsentStatus::parse(&status).ok_or_else(|| corrupt("consent status", &status))?,
        double_opt_in: row.try_get::<i64, _>("double_opt_in")? != 0,
        since: get_ts(row, "since")?,
        event_id: ConsentEventId::parse(&event_id).map_err(|_| corrupt("event id", &event_id))?,
    })
}

/// The start of a look-up of contacts' consent, by topic, to be followed
/// by a [`Store::batch_condition`] on `contact_id`.
pub(crate) const CONSENT_OF_CONTACTS: &str =
    "SELECT contact_id, topic, status, double_opt_in, since, event_id FROM contact_consent WHERE ";

/// Values per row in the multi-row writes below.
const EVENT_PARAMS: usize = 14;
const STATE_PARAMS: usize = 7;

/// Appends many events in one transaction (an import's declared consent):
/// the head is locked once, the chain is built in memory, rows are written
/// many per statement. An opt-in for a contact whose current choice on the
/// topic is an opt-out is not recorded: a list cannot overrule a person.
pub(crate) async fn append_bulk_in_tx(
    store: &Store,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    events: Vec<NewConsentEvent>,
    now: sendwell_core::Timestamp,
) -> Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let head = lock_head(
        tx,
        ws,
        "UPDATE consent_heads SET seq = seq WHERE workspace_id = $1 RETURNING seq, hash",
    )
    .await?;
    let mut seq = get_i64(&head, "seq")?;
    let mut prev_hash = get_str(&head, "hash")?;
    let mut current = current_consent(store, tx, ws, &events).await?;
    let mut sealed = Vec::with_capacity(events.len());
    for new in events {
        let key = (
            new.contact_id.as_str().to_owned(),
            new.topic.as_str().to_owned(),
        );
        let previous = current.get(&key);
        if new.action != ConsentAction::OptOut
            && previous.is_some_and(|p| p.status == ConsentStatus::OptedOut)
        {
            continue;
        }
        seq += 1;
        let event = ConsentEvent::append(new, ws.clone(), seq, prev_hash.clone(), now);
        prev_hash.clone_from(&event.hash);
        let state = fold(previous, &event);
        current.insert(key, state);
        sealed.push(event);
    }
    insert_events(store, tx, ws, &sealed).await?;
    let new_ids: HashSet<&ConsentEventId> = sealed.iter().map(|e| &e.id).collect();
    let states: Vec<(&(String, String), &TopicConsent)> = current
        .iter()
        .filter(|(_, s)| new_ids.contains(&s.event_id))
        .collect();
    upsert_states(store, tx, ws, &states).await?;
    write_summaries(store, tx, ws, &current).await?;
    sqlx::query("UPDATE consent_heads SET seq = $1, hash = $2 WHERE workspace_id = $3")
        .bind(seq)
        .bind(prev_hash)
        .bind(ws.as_str().to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(sealed.len() as u64)
}

/// Each topic's consent now of every contact the events concern, by
/// (contact, topic).
async fn current_consent(
    store: &Store,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    events: &[NewConsentEvent],
) -> Result<HashMap<(String, String), TopicConsent>> {
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| e.contact_id.as_str().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    let mut current = HashMap::new();
    for chunk in ids.chunks(1000) {
        let sql = format!(
            "{CONSENT_OF_CONTACTS}{}",
            store.batch_condition("contact_id", chunk.len())
        );
        for row in bind_batch(&sql, ws, chunk).fetch_all(&mut **tx).await? {
            current.insert(
                (get_str(&row, "contact_id")?, get_str(&row, "topic")?),
                topic_consent_from(&row)?,
            );
        }
    }
    Ok(current)
}

/// The sealed events, 150 to an INSERT.
async fn insert_events(
    store: &Store,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    sealed: &[ConsentEvent],
) -> Result<()> {
    for chunk in sealed.chunks(150) {
        let sql = format!(
            "INSERT INTO consent_events ({EVENT_COLUMNS}) VALUES {}",
            store.value_rows(chunk.len(), EVENT_PARAMS)
        );
        let mut q = sqlx::query(&sql);
        for e in chunk {
            let (json, salt) = match &e.evidence {
                Some(s) => (Some(s.canonical_json()), Some(s.salt.clone())),
                None => (None, None),
            };
            q = q
                .bind(e.id.as_str().to_owned())
                .bind(ws.as_str().to_owned())
                .bind(e.seq)
                .bind(e.contact_id.as_str().to_owned())
                .bind(e.action.as_str())
                .bind(e.topic.as_str().to_owned())
                .bind(e.method.as_str())
                .bind(e.actor.clone())
                .bind(e.occurred_at.millis())
                .bind(json)
                .bind(salt)
                .bind(e.evidence_digest.clone())
                .bind(e.prev_hash.clone())
                .bind(e.hash.clone());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The topic states the new events changed, 300 to an upsert.
async fn upsert_states(
    store: &Store,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    states: &[(&(String, String), &TopicConsent)],
) -> Result<()> {
    for chunk in states.chunks(300) {
        let sql = format!(
            "INSERT INTO contact_consent (workspace_id, contact_id, topic, status, double_opt_in, since, event_id) \
             VALUES {} ON CONFLICT (workspace_id, contact_id, topic) DO UPDATE SET status = excluded.status, \
             double_opt_in = excluded.double_opt_in, since = excluded.since, event_id = excluded.event_id",
            store.value_rows(chunk.len(), STATE_PARAMS)
        );
        let mut q = sqlx::query(&sql);
        for ((contact, topic), s) in chunk {
            q = q
                .bind(ws.as_str().to_owned())
                .bind(contact.clone())
                .bind(topic.clone())
                .bind(s.status.as_str())
                .bind(i64::from(s.double_opt_in))
                .bind(s.since.millis())
                .bind(s.event_id.as_str().to_owned());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Each concerned contact's consent summary, written whole: every topic of
/// each is in `current`.
async fn write_summaries(
    store: &Store,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    current: &HashMap<(String, String), TopicConsent>,
) -> Result<()> {
    let mut summaries: HashMap<&str, Vec<(&str, ConsentStatus)>> = HashMap::new();
    for ((contact, topic), state) in current {
        summaries
            .entry(contact.as_str())
            .or_default()
            .push((topic.as_str(), state.status));
    }
    let summaries: Vec<(&str, String)> = summaries
        .into_iter()
        .map(|(contact, topics)| (contact, consent_summary(topics)))
        .collect();
    for chunk in summaries.chunks(400) {
        let sql = format!(
            "UPDATE contacts SET consent_state = v.column2 FROM (VALUES {}) AS v \
             WHERE contacts.workspace_id = {} AND contacts.id = v.column1",
            store.value_rows(chunk.len(), 2),
            store.param(chunk.len() * 2 + 1)
        );
        let mut q = sqlx::query(&sql);
        for (contact, summary) in chunk {
            q = q.bind((*contact).to_owned()).bind(summary.clone());
        }
        q.bind(ws.as_str().to_owned()).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Appends an event inside the caller's transaction (see `append_consent`).
pub(crate) async fn append_in_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    new: NewConsentEvent,
    now: Timestamp,
) -> Result<Option<ConsentEvent>> {
    // Updating the head first takes its row lock (PostgreSQL) or the write
    // lock (SQLite), so appends to one workspace's chain are serial.
    let head = lock_head(
        tx,
        ws,
        "UPDATE consent_heads SET seq = seq + 1 WHERE workspace_id = $1 RETURNING seq, hash",
    )
    .await?;
    // Checked under the head's lock, so an erasure cannot slip in between.
    let exists = sqlx::query("SELECT 1 AS one FROM contacts WHERE workspace_id = $1 AND id = $2")
        .bind(ws.as_str().to_owned())
        .bind(new.contact_id.as_str().to_owned())
        .fetch_optional(&mut **tx)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let seq = get_i64(&head, "seq")?;
    let prev_hash = get_str(&head, "hash")?;
    let previous = current_for(tx, ws, &new.contact_id, &new.topic).await?;
    let event = ConsentEvent::append(new, ws.clone(), seq, prev_hash, now);
    insert_event(tx, ws, &event).await?;
    sqlx::query("UPDATE consent_heads SET hash = $1 WHERE workspace_id = $2")
        .bind(event.hash.clone())
        .bind(ws.as_str().to_owned())
        .execute(&mut **tx)
        .await?;
    let state = fold(previous.as_ref(), &event);
    upsert_state(tx, ws, &event, &state).await?;
    refresh_summary(tx, ws, &event.contact_id).await?;
    Ok(Some(event))
}

/// Takes the workspace's ledger head with `sql`, an UPDATE that returns
/// its seq and hash: the row stays locked until the transaction ends.
async fn lock_head(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    sql: &str,
) -> Result<AnyRow> {
    sqlx::query(sql)
        .bind(ws.as_str().to_owned())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::Integrity(format!("workspace {ws} has no consent ledger head")))
}

/// One new event, with its evidence, into the ledger.
async fn insert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    event: &ConsentEvent,
) -> Result<()> {
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The contact's consent on the event's topic, as the event left it.
async fn upsert_state(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    event: &ConsentEvent,
    state: &TopicConsent,
) -> Result<()> {
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Rewrites the contact's consent summary from all its topics.
async fn refresh_summary(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    contact: &ContactId,
) -> Result<()> {
    let rows = sqlx::query(
        "SELECT topic, status FROM contact_consent WHERE workspace_id = $1 AND contact_id = $2",
    )
    .bind(ws.as_str().to_owned())
    .bind(contact.as_str().to_owned())
    .fetch_all(&mut **tx)
    .await?;
    let mut topics = Vec::with_capacity(rows.len());
    for row in &rows {
        let status = get_str(row, "status")?;
        topics.push((
            get_str(row, "topic")?,
            ConsentStatus::parse(&status).ok_or_else(|| corrupt("consent status", &status))?,
        ));
    }
    let summary = consent_summary(topics.iter().map(|(t, s)| (t.as_str(), *s)).collect());
    sqlx::query("UPDATE contacts SET consent_state = $1 WHERE workspace_id = $2 AND id = $3")
        .bind(summary)
        .bind(ws.as_str().to_owned())
        .bind(contact.as_str().to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A contact's current consent in one short text, `|marketing:in|news:out|`,
/// kept on the contact row so an audience query need not look it up per
/// contact. Written in the same transaction as `contact_consent`.
pub(crate) fn consent_summary(mut topics: Vec<(&str, ConsentStatus)>) -> String {
    topics.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::from("|");
    for (topic, status) in topics {
        out.push_str(topic);
        out.push_str(match status {
            ConsentStatus::OptedIn => ":in|",
            ConsentStatus::OptedOut => ":out|",
        });
    }
    out
}
