//! Contacts, the workspace's attribute schema, suppressions and erasure.
//!
//! A batch upsert resolves every item against the schema and the existing
//! contacts before it writes anything, and writes everything in one
//! transaction: it succeeds whole or leaves the database as it was.

use crate::audit;
use crate::consent::CONSENT_OF_CONTACTS;
use crate::{
    bind_batch, corrupt, get_opt_str, get_opt_ts, get_str, get_ts, numbered_rows, Backend, Result,
    Store, StoreError,
};
use sendwell_core::attribute::{
    apply_changes, AttributeChange, AttributeError, AttributeSchema, MAX_ATTRIBUTES,
};
use sendwell_core::consent::{Topic, TopicConsent};
use sendwell_core::{
    AttributeName, AttributeType, ContactId, EmailAddress, Timestamp, WorkspaceId,
};
use serde_json::{Map, Value};
use sqlx::any::{AnyArguments, AnyRow, AnyTypeInfoKind};
use sqlx::{Any, Row, Transaction};
use sqlx_core::any::AnyValueKind;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// Bound values per contact row in a multi-row write.
const CONTACT_PARAMS: usize = 14;
/// Rows per statement: 3,000 parameters, well inside both backends' limits.
const WRITE_CHUNK: usize = 200;

/// The verdict of the address checks, stored with the contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressStamp {
    /// `valid`, `risky` or `invalid`.
    pub verdict: String,
    /// Reasons and suggestion as JSON, for display; empty when there are none.
    pub json: String,
}

/// Marks contacts an import creates; they are quarantined while that
/// import's status says so.
#[derive(Clone, Debug)]
pub struct CreateTag {
    pub import_id: String,
}

/// Import statuses whose contacts may not be mailed.
pub const QUARANTINE_STATUSES: &[&str] = &["running", "quarantined", "rejected"];

/// One contact to create or update, already parsed.
#[derive(Clone, Debug, Default)]
pub struct ContactInput {
    pub email: Option<EmailAddress>,
    /// The keyed hash of `email.key()`, computed by the caller with the instance secret.
    pub email_hash: Option<String>,
    pub external_id: Option<String>,
    pub name: Option<String>,
    /// Raw attributes, checked against the schema inside the write.
    pub attributes: Map<String, Value>,
    pub created_at: Option<Timestamp>,
    pub last_seen_at: Option<Timestamp>,
    /// The address checks' verdict for `email`; replaces the stored one when given.
    pub address: Option<AddressStamp>,
    /// Set when the caller knows no stored contact can match (an import into
    /// an empty workspace, for an address not seen earlier in the file): the
    /// look-up is skipped.
    pub known_new: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpsertStatus {
    Created,
    Updated,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpsertOutcome {
    pub index: usize,
    pub id: ContactId,
    pub status: UpsertStatus,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchItemProblem {
    Attribute(AttributeError),
    /// The item names two different existing contacts, or an id already taken.
    Conflict(String),
}

/// Why an attribute could not be declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeclareRefusal {
    /// It exists with this other type.
    OtherType(AttributeType),
    /// The schema holds its limit of attributes.
    SchemaFull(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchItemError {
    pub index: usize,
    pub problem: BatchItemProblem,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    pub reason: String,
    pub source: String,
    pub since: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Contact {
    pub id: ContactId,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub attributes: Map<String, Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_seen_at: Option<Timestamp>,
    pub suppression: Option<Suppression>,
    pub consent: BTreeMap<Topic, TopicConsent>,
    /// `valid`, `risky` or `invalid`, when the address was checked.
    pub address_verdict: Option<String>,
    pub address_check: Option<Value>,
    /// The import that created the contact.
    pub import_id: Option<String>,
    /// Created by an import that waits for the operator's review: not mailable until approved.
    pub quarantined: bool,
    email_hash: Option<String>,
}

impl Contact {
    /// Whether sendwell may mail this contact at all (consent is judged per message).
    pub fn mailable(&self) -> bool {
        self.email.is_some()
            && self.suppression.is_none()
            && !self.quarantined
            && self.address_verdict.as_deref() != Some("invalid")
    }
}

#[derive(Clone, Debug)]
pub struct ContactPage {
    pub items: Vec<Contact>,
    pub next_cursor: Option<String>,
}

/// Everything held on one contact.
#[derive(Clone, Debug)]
pub struct ContactExport {
    pub contact: Contact,
    pub consent_events: Vec<sendwell_core::consent::ConsentEvent>,
    /// Everything else held on the person, each a list of JSON objects:
    /// `deliveries`, `mails`, `link_events`, `feedback`, `reports`,
    /// `imports`, `held_consent`, `suppressions`.
    pub activity: Map<String, Value>,
}

/// A column of an export query, and how to read it.
#[derive(Clone, Copy)]
enum Col {
    Text(&'static str),
    Int(&'static str),
    Time(&'static str),
    Json(&'static str),
}

/// One list of the person's activity an export holds: its name, the query
/// by workspace (`$1`) and contact (`$2`), and its columns.
struct ActivityQuery {
    name: &'static str,
    sql: &'static str,
    cols: &'static [Col],
}

/// A contact's recent mail and what happened to it, for the console.
#[derive(Clone, Debug, Default)]
pub struct RecentActivity {
    /// (message name, delivery state, when it finished or was made).
    pub mails: Vec<(String, String, Timestamp)>,
    /// (kind: open, click, unsubscribe, opt_in, bounce, complaint...,
    /// message name, when).
    pub events: Vec<(String, String, Timestamp)>,
}

/// Rows per activity list: far more than one person gathers.
const MAX_ACTIVITY_ROWS: i64 = 100_000;

/// The person's activity an export lists, one query each.
const ACTIVITY_QUERIES: &[ActivityQuery] = {
    use Col::{Int, Json, Text, Time};
    &[
        ActivityQuery {
            name: "deliveries",
            sql: "SELECT d.id, d.message_id, m.name AS message_name, d.kind, d.state, d.attempts, \
                  d.last_reply, d.reply_code, d.enhanced_status, d.created_at, d.done_at \
                  FROM deliveries d LEFT JOIN messages m ON m.id = d.message_id \
                  WHERE d.workspace_id = $1 AND d.contact_id = $2 ORDER BY d.id",
            cols: &[
                Text("id"), Text("message_id"), Text("message_name"), Text("kind"), Text("state"),
                Int("attempts"), Text("last_reply"), Int("reply_code"), Text("enhanced_status"),
                Time("created_at"), Time("done_at"),
            ],
        },
        ActivityQuery {
            name: "mails",
            sql: "SELECT o.id, o.message_id, o.delivery_id, o.recipient, o.subject, o.raw, o.created_at \
                  FROM outbox o JOIN deliveries d ON d.id = o.delivery_id \
                  WHERE d.workspace_id = $1 AND d.contact_id = $2 ORDER BY o.id",
            cols: &[
                Text("id"), Text("message_id"), Text("delivery_id"), Text("recipient"), Text("subject"),
                Text("raw"), Time("created_at"),
            ],
        },
        ActivityQuery {
            name: "link_events",
            sql: "SELECT id, message_id, kind, url, ip, user_agent, created_at FROM link_events \
                  WHERE workspace_id = $1 AND contact_id = $2 ORDER BY id",
            cols: &[
                Text("id"), Text("message_id"), Text("kind"), Text("url"), Text("ip"),
                Text("user_agent"), Time("created_at"),
            ],
        },
        ActivityQuery {
            name: "feedback",
            sql: "SELECT id, delivery_id, message_id, kind, reason, hard, status, reply_code, \
                  feedback_type, diagnostic, source, created_at FROM delivery_events \
                  WHERE workspace_id = $1 AND contact_id = $2 ORDER BY id",
            cols: &[
                Text("id"), Text("delivery_id"), Text("message_id"), Text("kind"), Text("reason"),
                Int("hard"), Text("status"), Text("reply_code"), Text("feedback_type"),
                Text("diagnostic"), Text("source"), Time("created_at"),
            ],
        },
        ActivityQuery {
            name: "reports",
            sql: "SELECT r.id, r.delivery_id, r.message_id, r.reason, r.reporter, r.ip, r.proven, r.created_at \
                  FROM concern_reports r JOIN deliveries d ON d.id = r.delivery_id \
                  WHERE d.workspace_id = $1 AND d.contact_id = $2 ORDER BY r.id",
            cols: &[
                Text("id"), Text("delivery_id"), Text("message_id"), Text("reason"), Text("reporter"),
                Text("ip"), Int("proven"), Time("created_at"),
            ],
        },
        ActivityQuery {
            name: "held_consent",
            sql: "SELECT import_id, action, topic, method, evidence FROM import_consent \
                  WHERE workspace_id = $1 AND contact_id = $2 ORDER BY import_id, seq",
            cols: &[Text("import_id"), Text("action"), Text("topic"), Text("method"), Json("evidence")],
        },
    ]
};

/// The import that brought the contact in, and those that declared consent
/// for it (named in the ledger's evidence or still held).
fn contact_imports(
    contact: &Contact,
    consent_events: &[sendwell_core::consent::ConsentEvent],
    activity: &Map<String, Value>,
) -> Vec<String> {
    const NAMED: &str = "declared with import ";
    let mut ids: Vec<String> = contact.import_id.iter().cloned().collect();
    for e in consent_events {
        let declaration = e
            .evidence
            .as_ref()
            .and_then(|ev| ev.evidence.declaration.as_deref());
        if let Some(at) = declaration.and_then(|d| d.find(NAMED).map(|at| &d[at + NAMED.len()..])) {
            let id: String = at
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            ids.push(id);
        }
    }
    if let Some(Value::Array(held)) = activity.get("held_consent") {
        ids.extend(
            held.iter()
                .filter_map(|h| h["import_id"].as_str().map(str::to_owned)),
        );
    }
    ids.sort();
    ids.dedup();
    ids
}

/// Each item's attribute changes against the schema (fixing types on
/// first use); `None` for an item whose attributes do not fit, with its
/// errors in `errors`.
fn resolve_types(
    schema: &mut AttributeSchema,
    items: &[ContactInput],
    errors: &mut Vec<BatchItemError>,
) -> Vec<Option<Vec<AttributeChange>>> {
    let mut changes = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match schema.resolve(&item.attributes) {
            Ok(c) => changes.push(Some(c)),
            Err(errs) => {
                errors.extend(errs.into_iter().map(|e| BatchItemError {
                    index,
                    problem: BatchItemProblem::Attribute(e),
                }));
                changes.push(None);
            }
        }
    }
    changes
}

/// The rows of a batch by address and by external id, kept current as
/// items move addresses and ids between them.
struct Identity {
    by_email: HashMap<String, usize>,
    by_ext: HashMap<String, usize>,
}

impl Identity {
    fn of(rows: &[Row_], items: usize) -> Self {
        let mut by_email = HashMap::with_capacity(items);
        let mut by_ext = HashMap::with_capacity(items);
        for (i, r) in rows.iter().enumerate() {
            if let Some(k) = &r.email_key {
                by_email.insert(k.clone(), i);
            }
            if let Some(x) = &r.external_id {
                by_ext.insert(x.clone(), i);
            }
        }
        Self { by_email, by_ext }
    }

    /// The row `item` is (`None`: a new contact), or why it cannot be
    /// told: its external id and its address name two different contacts.
    fn target(
        &self,
        item: &ContactInput,
        rows: &[Row_],
    ) -> std::result::Result<Option<usize>, String> {
        let email_key = item.email.as_ref().map(EmailAddress::key);
        let found_ext = item
            .external_id
            .as_ref()
            .and_then(|x| self.by_ext.get(x).copied());
        let found_email = email_key.and_then(|k| self.by_email.get(k).copied());
        let email = || item.email.as_ref().map(EmailAddress::as_str).unwrap_or("");
        match (found_ext, found_email) {
            (Some(a), Some(b)) if a != b => Err(format!(
                "external_id '{}' belongs to contact {} but email '{}' belongs to contact {}; \
                 change or remove one of them",
                item.external_id.as_deref().unwrap_or(""),
                rows[a].id,
                email(),
                rows[b].id
            )),
            (Some(a), _) => Ok(Some(a)),
            (None, Some(b)) => match (&rows[b].external_id, &item.external_id) {
                (Some(theirs), Some(ours)) => Err(format!(
                    "email '{}' belongs to contact {} whose external_id is '{theirs}', not '{ours}'",
                    email(),
                    rows[b].id
                )),
                _ => Ok(Some(b)),
            },
            (None, None) => Ok(None),
        }
    }

    /// Row `i` takes the item's address, external id, name, dates and
    /// address check; the look-ups follow.
    fn take(&mut self, row: &mut Row_, i: usize, item: &ContactInput, tag: Option<&CreateTag>) {
        if let (Some(email), Some(key)) = (&item.email, item.email.as_ref().map(EmailAddress::key))
        {
            if row.email_key.as_deref() != Some(key) {
                if let Some(old) = row.email_key.take() {
                    self.by_email.remove(&old);
                    // An import that gives a stored contact a new address
                    // vouches for that address: it is quarantined with the import.
                    if let Some(tag) = tag {
                        row.import_id = Some(tag.import_id.clone());
                    }
                }
                self.by_email.insert(key.to_owned(), i);
                row.email_key = Some(key.to_owned());
            }
            row.email = Some(email.as_str().to_owned());
            row.email_hash.clone_from(&item.email_hash);
        }
        if let Some(stamp) = &item.address {
            row.address_verdict = Some(stamp.verdict.clone());
            row.address_check = (!stamp.json.is_empty()).then(|| stamp.json.clone());
        }
        if let Some(x) = &item.external_id {
            self.by_ext.insert(x.clone(), i);
            row.external_id = Some(x.clone());
        }
        if let Some(name) = &item.name {
            row.name = Some(name.clone());
        }
        if let Some(created) = item.created_at {
            row.created_at = created;
        }
        if let Some(seen) = item.last_seen_at {
            row.last_seen_at = Some(seen);
        }
    }
}

/// Which stored row `item` is (`None`: a new contact), and its attributes
/// as they will be; why the item cannot be written, when it cannot.
fn resolve_item(
    identity: &Identity,
    rows: &[Row_],
    item: &ContactInput,
    changes: &[AttributeChange],
) -> std::result::Result<(Option<usize>, Map<String, Value>), BatchItemProblem> {
    let target = identity
        .target(item, rows)
        .map_err(BatchItemProblem::Conflict)?;
    // 3. The attributes as they will be, within the limit.
    let mut merged = target.map_or_else(Map::new, |i| rows[i].attributes.clone());
    apply_changes(&mut merged, changes);
    if merged.len() > MAX_ATTRIBUTES {
        return Err(BatchItemProblem::Attribute(AttributeError::TooMany(
            merged.len(),
        )));
    }
    Ok((target, merged))
}

/// A new contact's row, before the item's values are taken.
fn new_row(item: &ContactInput, now: Timestamp, tag: Option<&CreateTag>) -> Row_ {
    Row_ {
        id: ContactId::generate(now),
        email: None,
        email_key: None,
        email_hash: None,
        external_id: None,
        name: None,
        attributes: Map::new(),
        created_at: item.created_at.unwrap_or(now),
        updated_at: now,
        last_seen_at: None,
        address_verdict: None,
        address_check: None,
        import_id: tag.map(|t| t.import_id.clone()),
        import_status: None,
        dirty: true,
    }
}

/// The changed rows in chunks of bound values, and the stored contacts
/// whose address moves (released first, so the unique index never sees one
/// address on two rows). `original_keys` are the stored rows' addresses
/// before the batch.
fn plan_write(ws: &WorkspaceId, rows: Vec<Row_>, original_keys: &[Option<String>]) -> PlannedWrite {
    let moved: Vec<String> = rows
        .iter()
        .zip(original_keys)
        .filter(|(r, original)| r.dirty && original.is_some() && r.email_key != **original)
        .map(|(r, _)| r.id.as_str().to_owned())
        .collect();
    let mut dirty = rows
        .into_iter()
        .filter(|r| r.dirty)
        .collect::<Vec<_>>()
        .into_iter();
    let mut chunks = Vec::with_capacity(dirty.len().div_ceil(WRITE_CHUNK));
    while dirty.len() > 0 {
        let mut values = ChunkValues::with_rows(dirty.len().min(WRITE_CHUNK));
        let rows = dirty
            .by_ref()
            .take(WRITE_CHUNK)
            .map(|row| values.row(ws, row))
            .count();
        chunks.push((rows, values.into_arguments()));
    }
    PlannedWrite { moved, chunks }
}

fn export_row(row: &AnyRow, cols: &[Col]) -> Result<Value> {
    let mut out = Map::new();
    for col in cols {
        let (name, value) = match *col {
            Col::Text(n) => (
                n,
                get_opt_str(row, n)?.map(Value::from).unwrap_or(Value::Null),
            ),
            Col::Int(n) => (
                n,
                row.try_get::<Option<i64>, _>(n)?
                    .map(Value::from)
                    .unwrap_or(Value::Null),
            ),
            Col::Time(n) => (
                n,
                get_opt_ts(row, n)?
                    .map(|t| Value::from(t.to_rfc3339()))
                    .unwrap_or(Value::Null),
            ),
            Col::Json(n) => (
                n,
                get_opt_str(row, n)?
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or(Value::Null),
            ),
        };
        out.insert(name.to_owned(), value);
    }
    Ok(Value::Object(out))
}

/// A contact row while a batch is being worked out.
#[derive(Clone, Debug)]
pub(crate) struct Row_ {
    id: ContactId,
    email: Option<String>,
    email_key: Option<String>,
    email_hash: Option<String>,
    external_id: Option<String>,
    name: Option<String>,
    attributes: Map<String, Value>,
    created_at: Timestamp,
    updated_at: Timestamp,
    last_seen_at: Option<Timestamp>,
    address_verdict: Option<String>,
    address_check: Option<String>,
    import_id: Option<String>,
    /// The status of `import_id`'s import, as read (quarantine is derived from it).
    import_status: Option<String>,
    dirty: bool,
}

/// A contact write worked out by `plan_upsert`, not yet in the database.
pub(crate) struct PlannedWrite {
    /// Stored contacts whose address moves: their old address is released first.
    moved: Vec<String>,
    /// One upsert statement per chunk of rows: how many rows, and their values.
    chunks: Vec<(usize, AnyArguments<'static>)>,
}

/// The values of a chunk of rows, moved in rather than bound by reference.
///
/// `bind(&str)` makes the SQLite driver copy every string on the database's
/// path (`into_static`), and `bind(String)` copies it when binding. Values
/// built here from owned strings are moved all the way to SQLite, and are
/// built while the previous chunk is being written.
struct ChunkValues(Vec<AnyValueKind<'static>>);

impl ChunkValues {
    fn with_rows(rows: usize) -> Self {
        Self(Vec::with_capacity(rows * CONTACT_PARAMS))
    }

    fn text(&mut self, v: String) {
        self.0.push(AnyValueKind::Text(Cow::Owned(v)));
    }

    fn opt_text(&mut self, v: Option<String>) {
        match v {
            Some(v) => self.text(v),
            None => self.0.push(AnyValueKind::Null(AnyTypeInfoKind::Text)),
        }
    }

    fn int(&mut self, v: Option<i64>) {
        self.0.push(match v {
            Some(v) => AnyValueKind::BigInt(v),
            None => AnyValueKind::Null(AnyTypeInfoKind::BigInt),
        });
    }

    /// One row, in the column order of `upsert_sql`.
    fn row(&mut self, ws: &WorkspaceId, row: Row_) {
        let attributes = serde_json::to_string(&row.attributes).unwrap_or_else(|_| "{}".to_owned());
        self.text(row.id.as_str().to_owned());
        self.text(ws.as_str().to_owned());
        self.opt_text(row.email);
        self.opt_text(row.email_key);
        self.opt_text(row.email_hash);
        self.opt_text(row.external_id);
        self.opt_text(row.name);
        self.text(attributes);
        self.int(Some(row.created_at.millis()));
        self.int(Some(row.updated_at.millis()));
        self.int(row.last_seen_at.map(Timestamp::millis));
        self.opt_text(row.address_verdict);
        self.opt_text(row.address_check);
        self.opt_text(row.import_id);
    }

    fn into_arguments(self) -> AnyArguments<'static> {
        let mut args = AnyArguments::default();
        args.values.0 = self.0;
        args
    }
}

pub(crate) struct PlannedUpsert {
    pub(crate) write: PlannedWrite,
    pub(crate) outcomes: Vec<UpsertOutcome>,
    pub(crate) errors: Vec<BatchItemError>,
}

/// The statement for a full chunk, made once per backend.
static FULL_UPSERT_SQL: [std::sync::OnceLock<String>; 2] =
    [std::sync::OnceLock::new(), std::sync::OnceLock::new()];

impl Store {
    fn full_upsert_sql(&self) -> &'static str {
        let slot = match self.backend {
            Backend::Sqlite => &FULL_UPSERT_SQL[0],
            Backend::Postgres => &FULL_UPSERT_SQL[1],
        };
        slot.get_or_init(|| self.upsert_sql(WRITE_CHUNK))
    }

    pub(crate) fn attributes_column(&self) -> &'static str {
        match self.backend {
            // Stored as SQLite's binary JSON, so audience filters read
            // attributes without parsing text for every contact.
            Backend::Sqlite => "json(attributes) AS attributes",
            Backend::Postgres => "attributes::text AS attributes",
        }
    }

    fn json_param(&self, n: usize) -> String {
        match self.backend {
            Backend::Sqlite => format!("jsonb({})", self.param(n)),
            Backend::Postgres => format!("CAST(${n} AS jsonb)"),
        }
    }

    /// Inserts `n` contacts, updating those whose id exists (in this workspace).
    fn upsert_sql(&self, n: usize) -> String {
        let mut sql = String::from(
            "INSERT INTO contacts (id, workspace_id, email, email_key, email_hash, external_id, name, attributes, \
             created_at, updated_at, last_seen_at, address_verdict, address_check, import_id) VALUES ",
        );
        // The eighth value of each row, the attributes, is stored as JSON.
        sql.push_str(&numbered_rows(n, CONTACT_PARAMS, 1, |_, c, k| {
            if c == 7 {
                self.json_param(k)
            } else {
                self.param(k)
            }
        }));
        sql.push_str(
            " ON CONFLICT (workspace_id, id) DO UPDATE SET email = excluded.email, email_key = excluded.email_key, \
             email_hash = excluded.email_hash, external_id = excluded.external_id, name = excluded.name, \
             attributes = excluded.attributes, created_at = excluded.created_at, updated_at = excluded.updated_at, \
             last_seen_at = excluded.last_seen_at, address_verdict = excluded.address_verdict, \
             address_check = excluded.address_check, import_id = excluded.import_id",
        );
        sql
    }

    fn contact_columns(&self) -> String {
        format!(
            "id, email, email_key, email_hash, external_id, name, {}, created_at, updated_at, last_seen_at, \
             address_verdict, address_check, import_id, \
             (SELECT i.status FROM imports i WHERE i.id = contacts.import_id) AS import_status",
            self.attributes_column()
        )
    }
}

/// A contact row's `id`, and its `attributes` (a JSON object).
pub(crate) fn id_and_attributes(row: &AnyRow) -> Result<(ContactId, Map<String, Value>)> {
    let id = get_str(row, "id")?;
    let raw = get_str(row, "attributes")?;
    let attributes = match serde_json::from_str::<Value>(&raw) {
        Ok(Value::Object(map)) => map,
        _ => return Err(corrupt("contact attributes of", &id)),
    };
    let id = ContactId::parse(&id).map_err(|_| corrupt("contact id", &id))?;
    Ok((id, attributes))
}

fn row_from(row: &AnyRow) -> Result<Row_> {
    let (id, attributes) = id_and_attributes(row)?;
    Ok(Row_ {
        id,
        email: get_opt_str(row, "email")?,
        email_key: get_opt_str(row, "email_key")?,
        email_hash: get_opt_str(row, "email_hash")?,
        external_id: get_opt_str(row, "external_id")?,
        name: get_opt_str(row, "name")?,
        attributes,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
        last_seen_at: get_opt_ts(row, "last_seen_at")?,
        address_verdict: get_opt_str(row, "address_verdict")?,
        address_check: get_opt_str(row, "address_check")?,
        import_id: get_opt_str(row, "import_id")?,
        import_status: get_opt_str(row, "import_status")?,
        dirty: false,
    })
}

fn contact_from(row: Row_) -> Contact {
    Contact {
        id: row.id,
        email: row.email,
        external_id: row.external_id,
        name: row.name,
        attributes: row.attributes,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_seen_at: row.last_seen_at,
        suppression: None,
        consent: BTreeMap::new(),
        address_verdict: row.address_verdict,
        address_check: row
            .address_check
            .and_then(|j| serde_json::from_str(&j).ok()),
        import_id: row.import_id,
        quarantined: row
            .import_status
            .is_some_and(|s| QUARANTINE_STATUSES.contains(&s.as_str())),
        email_hash: row.email_hash,
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(crate) async fn load_schema(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
) -> Result<AttributeSchema> {
    let rows = sqlx::query("SELECT name, kind FROM attribute_schema WHERE workspace_id = $1")
        .bind(ws.as_str().to_owned())
        .fetch_all(&mut **tx)
        .await?;
    let mut types = Vec::with_capacity(rows.len());
    for row in rows {
        let name = get_str(&row, "name")?;
        let kind = get_str(&row, "kind")?;
        types.push((
            AttributeName::parse(&name).map_err(|_| corrupt("attribute name", &name))?,
            AttributeType::parse(&kind).ok_or_else(|| corrupt("attribute type", &kind))?,
        ));
    }
    Ok(AttributeSchema::new(types))
}

/// Stores attribute types first seen in this write. On PostgreSQL a
/// concurrent write may have fixed a different type in the meantime: then
/// the items that used the attribute fail like any other wrong-type value.
pub(crate) async fn save_new_types(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    before: &AttributeSchema,
    after: &AttributeSchema,
    items: &[ContactInput],
    now: Timestamp,
    limit: usize,
) -> Result<std::result::Result<(), Vec<BatchItemError>>> {
    // The cap is checked before anything is written: the names already
    // stored (a concurrent write may have added some) plus the new ones.
    let new: Vec<&AttributeName> = after
        .iter()
        .filter(|(n, _)| before.get(n).is_none())
        .map(|(n, _)| n)
        .collect();
    if !new.is_empty() && stored_types(tx, ws).await?.saturating_add(new.len()) > limit {
        return Ok(Err(schema_full_errors(&new, items, limit)));
    }
    for (name, kind) in after.iter() {
        if before.get(name).is_some() {
            continue;
        }
        sqlx::query(
            "INSERT INTO attribute_schema (workspace_id, name, kind, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (workspace_id, name) DO NOTHING",
        )
        .bind(ws.as_str().to_owned())
        .bind(name.as_str().to_owned())
        .bind(kind.as_str())
        .bind(now.millis())
        .execute(&mut **tx)
        .await?;
        let stored = stored_kind(tx, ws, name).await?;
        if stored != kind.as_str() {
            let expected =
                AttributeType::parse(&stored).ok_or_else(|| corrupt("attribute type", &stored))?;
            return Ok(Err(wrong_type_errors(items, name, kind, expected)));
        }
    }
    Ok(Ok(()))
}

/// How many attribute types the workspace's schema holds.
async fn stored_types(tx: &mut Transaction<'_, Any>, ws: &WorkspaceId) -> Result<usize> {
    let stored: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM attribute_schema WHERE workspace_id = $1")
            .bind(ws.as_str().to_owned())
            .fetch_one(&mut **tx)
            .await?
            .try_get("n")?;
    Ok(usize::try_from(stored).unwrap_or(usize::MAX))
}

/// The type stored for an attribute (which a concurrent write may have fixed).
pub(crate) async fn stored_kind(
    tx: &mut Transaction<'_, Any>,
    ws: &WorkspaceId,
    name: &AttributeName,
) -> Result<String> {
    Ok(
        sqlx::query("SELECT kind FROM attribute_schema WHERE workspace_id = $1 AND name = $2")
            .bind(ws.as_str().to_owned())
            .bind(name.as_str().to_owned())
            .fetch_one(&mut **tx)
            .await?
            .try_get("kind")?,
    )
}

/// The schema cannot take the `new` attributes: each item that uses one
/// fails, or (when none does) the first item does.
fn schema_full_errors(
    new: &[&AttributeName],
    items: &[ContactInput],
    limit: usize,
) -> Vec<BatchItemError> {
    let full = |name: &AttributeName| AttributeError::SchemaFull {
        name: name.as_str().to_owned(),
        limit,
    };
    let mut errors: Vec<BatchItemError> = items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| {
            new.iter()
                .find(|n| item.attributes.contains_key(n.as_str()))
                .map(|n| BatchItemError {
                    index,
                    problem: BatchItemProblem::Attribute(full(n)),
                })
        })
        .collect();
    if errors.is_empty() {
        errors.push(BatchItemError {
            index: 0,
            problem: BatchItemProblem::Attribute(full(new[0])),
        });
    }
    errors
}

/// A concurrent write fixed `name` as `expected`, not `kind`: every item
/// that uses it fails.
fn wrong_type_errors(
    items: &[ContactInput],
    name: &AttributeName,
    kind: AttributeType,
    expected: AttributeType,
) -> Vec<BatchItemError> {
    items
        .iter()
        .enumerate()
        .filter(|(_, item)| item.attributes.contains_key(name.as_str()))
        .map(|(index, _)| BatchItemError {
            index,
            problem: BatchItemProblem::Attribute(AttributeError::WrongType {
                name: name.as_str().to_owned(),
                expected,
                given: format!("a value of type {kind}"),
                hint: "a value of the attribute's type (it was fixed by a concurrent request)",
            }),
        })
        .collect()
}

impl Store {
    /// Creates or updates contacts, matched by `external_id` first, then by
    /// email. All or nothing: on any item error nothing is written and every
    /// item error is returned.
    pub async fn upsert_contacts(
        &self,
        ws: &WorkspaceId,
        items: &[ContactInput],
    ) -> Result<std::result::Result<Vec<UpsertOutcome>, Vec<BatchItemError>>> {
        let mut tx = self.write.begin().await?;
        let before = load_schema(&mut tx, ws).await?;
        let mut schema = before.clone();
        let stored = self.prefetch(&mut tx, ws, items).await?;
        let planned = self.plan_upsert(ws, &mut schema, items, stored, None);
        if !planned.errors.is_empty() {
            return Ok(Err(planned.errors));
        }
        if let Err(errors) = save_new_types(
            &mut tx,
            ws,
            &before,
            &schema,
            items,
            self.now(),
            self.max_attributes,
        )
        .await?
        {
            return Ok(Err(errors));
        }
        self.apply_upsert(&mut tx, ws, planned.write).await?;
        tx.commit().await?;
        Ok(Ok(planned.outcomes))
    }

    /// Works out a contact write without touching the database: types
    /// (fixing new ones in `schema`), which of `stored` (the contacts any
    /// item could match, from `prefetch`) each item is, and the rows to write.
    pub(crate) fn plan_upsert(
        &self,
        ws: &WorkspaceId,
        schema: &mut AttributeSchema,
        items: &[ContactInput],
        mut rows: Vec<Row_>,
        tag: Option<&CreateTag>,
    ) -> PlannedUpsert {
        let now = self.now();
        let mut errors = Vec::new();
        // 1. Types: every item against the schema, fixing types on first use.
        let changes = resolve_types(schema, items, &mut errors);
        // 2. Identity: which existing contact each item is.
        let mut identity = Identity::of(&rows, items.len());
        let stored = rows.len();
        let original_keys: Vec<Option<String>> = rows.iter().map(|r| r.email_key.clone()).collect();
        rows.reserve(items.len());
        let mut outcomes = Vec::with_capacity(items.len());
        for (index, (item, item_changes)) in items.iter().zip(&changes).enumerate() {
            let Some(item_changes) = item_changes else {
                continue;
            };
            let (target, merged) = match resolve_item(&identity, &rows, item, item_changes) {
                Ok(resolved) => resolved,
                Err(problem) => {
                    errors.push(BatchItemError { index, problem });
                    continue;
                }
            };
            // 4. The row, found or new, takes what the item gives.
            let (i, status) = match target {
                Some(i) => (i, UpsertStatus::Updated),
                None => {
                    rows.push(new_row(item, now, tag));
                    (rows.len() - 1, UpsertStatus::Created)
                }
            };
            identity.take(&mut rows[i], i, item, tag);
            let row = &mut rows[i];
            row.attributes = merged;
            row.updated_at = now;
            row.dirty = true;
            outcomes.push(UpsertOutcome {
                index,
                id: row.id.clone(),
                status,
            });
        }
        PlannedUpsert {
            write: plan_write(ws, rows, &original_keys[..stored]),
            outcomes,
            errors,
        }
    }

    /// Writes what `plan_upsert` worked out.
    pub(crate) async fn apply_upsert(
        &self,
        tx: &mut Transaction<'_, Any>,
        ws: &WorkspaceId,
        write: PlannedWrite,
    ) -> Result<()> {
        for chunk in write.moved.chunks(1000) {
            let sql = format!(
                "UPDATE contacts SET email_key = NULL WHERE {}",
                self.batch_condition("id", chunk.len())
            );
            bind_batch(&sql, ws, chunk).execute(&mut **tx).await?;
        }
        // One multi-row statement per chunk: a round trip per statement, not per contact.
        for (rows, values) in write.chunks {
            let owned;
            let sql = if rows == WRITE_CHUNK {
                self.full_upsert_sql()
            } else {
                owned = self.upsert_sql(rows);
                owned.as_str()
            };
            match sqlx::query_with(sql, values).execute(&mut **tx).await {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict(
                    "another request created a contact with the same email or external_id at the \
                         same time; send the request again"
                        .to_owned(),
                )),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Existing contacts that any item could match, by email key or external id.
    pub(crate) async fn prefetch(
        &self,
        tx: &mut Transaction<'_, Any>,
        ws: &WorkspaceId,
        items: &[ContactInput],
    ) -> Result<Vec<Row_>> {
        let mut keys: Vec<String> = items
            .iter()
            .filter(|i| !i.known_new)
            .filter_map(|i| i.email.as_ref().map(|e| e.key().to_owned()))
            .collect();
        let mut exts: Vec<String> = items
            .iter()
            .filter(|i| !i.known_new)
            .filter_map(|i| i.external_id.clone())
            .collect();
        keys.sort();
        keys.dedup();
        exts.sort();
        exts.dedup();
        let mut found: Vec<Row_> = Vec::new();
        let columns = self.contact_columns();
        for (column, values) in [("email_key", &keys), ("external_id", &exts)] {
            for chunk in values.chunks(1000) {
                // On PostgreSQL the rows are locked, so a concurrent erasure or
                // update waits for this write instead of being undone by it.
                let lock = match self.backend {
                    Backend::Sqlite => "",
                    Backend::Postgres => " FOR UPDATE",
                };
                let sql = format!(
                    "SELECT {columns} FROM contacts WHERE {}{lock}",
                    self.batch_condition(column, chunk.len())
                );
                for r in bind_batch(&sql, ws, chunk).fetch_all(&mut **tx).await? {
                    let row = row_from(&r)?;
                    if !found.iter().any(|f| f.id == row.id) {
                        found.push(row);
                    }
                }
            }
        }
        Ok(found)
    }

    pub async fn contact(&self, ws: &WorkspaceId, id: &ContactId) -> Result<Option<Contact>> {
        let sql = format!(
            "SELECT {} FROM contacts WHERE workspace_id = $1 AND id = $2",
            self.contact_columns()
        );
        let row = sqlx::query(&sql)
            .bind(ws.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut contacts = vec![contact_from(row_from(&row)?)];
        self.decorate(ws, &mut contacts).await?;
        Ok(contacts.pop())
    }

    /// A page of contacts in id order, after `cursor`; optionally only the one with `email`.
    pub async fn list_contacts(
        &self,
        ws: &WorkspaceId,
        cursor: Option<&ContactId>,
        limit: i64,
        email: Option<&EmailAddress>,
    ) -> Result<ContactPage> {
        let mut sql = format!(
            "SELECT {} FROM contacts WHERE workspace_id = $1 AND id > $2",
            self.contact_columns()
        );
        if email.is_some() {
            sql.push_str(" AND email_key = $4");
        }
        sql.push_str(" ORDER BY id LIMIT $3");
        let mut q = sqlx::query(&sql)
            .bind(ws.as_str().to_owned())
            .bind(cursor.map_or(String::new(), |c| c.as_str().to_owned()))
            .bind(limit + 1);
        if let Some(e) = email {
            q = q.bind(e.key());
        }
        let rows = q.fetch_all(&self.read).await?;
        let mut items = rows
            .iter()
            .map(|r| row_from(r).map(contact_from))
            .collect::<Result<Vec<_>>>()?;
        let more = usize::try_from(limit).is_ok_and(|l| items.len() > l);
        if more {
            items.pop();
        }
        self.decorate(ws, &mut items).await?;
        let next_cursor = if more {
            items.last().map(|c| c.id.as_str().to_owned())
        } else {
            None
        };
        Ok(ContactPage { items, next_cursor })
    }

    /// Contacts whose external id is `text`, or whose name starts with it
    /// (letter case as typed), at most `limit`, by name: the console's
    /// search box. Both use an index, so the search stays fast however
    /// many contacts the workspace has.
    pub async fn search_contacts(
        &self,
        ws: &WorkspaceId,
        text: &str,
        limit: i64,
    ) -> Result<Vec<Contact>> {
        // Byte order on both backends (PostgreSQL's locale order would put
        // names that start with `text` outside the range); the index is in
        // the same order.
        let name = match self.backend {
            crate::Backend::Postgres => "name COLLATE \"C\"",
            crate::Backend::Sqlite => "name",
        };
        let sql = format!(
            "SELECT {0} FROM contacts WHERE workspace_id = $1 AND external_id = $2 \
             UNION ALL SELECT {0} FROM contacts WHERE workspace_id = $1 AND {name} >= $2 AND {name} < $3 \
             ORDER BY name, id LIMIT $4",
            self.contact_columns()
        );
        // Every name that starts with `text` sorts before `text` followed by
        // the highest character.
        let upper = format!("{text}\u{10FFFF}");
        let rows = sqlx::query(&sql)
            .bind(ws.as_str().to_owned())
            .bind(text.to_owned())
            .bind(upper)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        let mut items = rows
            .iter()
            .map(|r| row_from(r).map(contact_from))
            .collect::<Result<Vec<_>>>()?;
        // A contact found both ways is listed once.
        let mut seen = std::collections::HashSet::new();
        items.retain(|c| seen.insert(c.id.clone()));
        self.decorate(ws, &mut items).await?;
        Ok(items)
    }

    /// The newest `limit` mails of a contact and the newest `limit` events
    /// (link events, bounces and complaints), each newest first.
    pub async fn recent_activity(
        &self,
        ws: &WorkspaceId,
        contact: &ContactId,
        limit: i64,
    ) -> Result<RecentActivity> {
        let mails = sqlx::query(
            "SELECT COALESCE(m.name, '') AS name, d.state, COALESCE(d.done_at, d.created_at) AS at_ms \
             FROM deliveries d LEFT JOIN messages m ON m.id = d.message_id \
             WHERE d.workspace_id = $1 AND d.contact_id = $2 ORDER BY d.created_at DESC, d.id DESC LIMIT $3",
        )
        .bind(ws.as_str().to_owned())
        .bind(contact.as_str().to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let events = sqlx::query(
            "SELECT kind, name, at_ms FROM (\
               SELECT e.kind, COALESCE(m.name, '') AS name, e.created_at AS at_ms, e.id FROM link_events e \
               LEFT JOIN messages m ON m.id = e.message_id WHERE e.workspace_id = $1 AND e.contact_id = $2 \
               UNION ALL \
               SELECT f.kind, COALESCE(m.name, '') AS name, f.created_at AS at_ms, f.id FROM delivery_events f \
               LEFT JOIN messages m ON m.id = f.message_id WHERE f.workspace_id = $1 AND f.contact_id = $2\
             ) t ORDER BY at_ms DESC, id DESC LIMIT $3",
        )
        .bind(ws.as_str().to_owned())
        .bind(contact.as_str().to_owned())
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let triple = |r: &AnyRow, a: &str, b: &str| -> Result<(String, String, Timestamp)> {
            Ok((get_str(r, a)?, get_str(r, b)?, get_ts(r, "at_ms")?))
        };
        Ok(RecentActivity {
            mails: mails
                .iter()
                .map(|r| triple(r, "name", "state"))
                .collect::<Result<_>>()?,
            events: events
                .iter()
                .map(|r| triple(r, "kind", "name"))
                .collect::<Result<_>>()?,
        })
    }

    /// Fills in suppression and current consent for a page of contacts.
    async fn decorate(&self, ws: &WorkspaceId, contacts: &mut [Contact]) -> Result<()> {
        if contacts.is_empty() {
            return Ok(());
        }
        let hashes: Vec<String> = contacts
            .iter()
            .filter_map(|c| c.email_hash.clone())
            .collect();
        let suppressions = self.suppressions_by_hash(ws, &hashes).await?;
        let sql = format!(
            "{CONSENT_OF_CONTACTS}{}",
            self.batch_condition("contact_id", contacts.len())
        );
        let ids: Vec<String> = contacts.iter().map(|c| c.id.as_str().to_owned()).collect();
        let mut consent: HashMap<String, BTreeMap<Topic, TopicConsent>> = HashMap::new();
        for row in bind_batch(&sql, ws, &ids).fetch_all(&self.read).await? {
            let topic = get_str(&row, "topic")?;
            consent
                .entry(get_str(&row, "contact_id")?)
                .or_default()
                .insert(
                    Topic::parse(&topic).map_err(|_| corrupt("topic", &topic))?,
                    crate::consent::topic_consent_from(&row)?,
                );
        }
        for c in contacts.iter_mut() {
            c.suppression = c
                .email_hash
                .as_ref()
                .and_then(|h| suppressions.get(h).cloned());
            c.consent = consent.remove(c.id.as_str()).unwrap_or_default();
        }
        Ok(())
    }

    async fn suppressions_by_hash(
        &self,
        ws: &WorkspaceId,
        hashes: &[String],
    ) -> Result<HashMap<String, Suppression>> {
        let mut out = HashMap::new();
        for chunk in hashes.chunks(500) {
            let sql = format!(
                "SELECT email_hash, reason, source, created_at FROM suppressions WHERE {}",
                self.batch_condition("email_hash", chunk.len())
            );
            for row in bind_batch(&sql, ws, chunk).fetch_all(&self.read).await? {
                out.insert(
                    get_str(&row, "email_hash")?,
                    Suppression {
                        reason: get_str(&row, "reason")?,
                        source: get_str(&row, "source")?,
                        since: get_ts(&row, "created_at")?,
                    },
                );
            }
        }
        Ok(out)
    }

    /// The workspace's attribute schema with the time each type was fixed.
    pub async fn attribute_schema(
        &self,
        ws: &WorkspaceId,
    ) -> Result<Vec<(String, AttributeType, Timestamp)>> {
        let rows = sqlx::query("SELECT name, kind, created_at FROM attribute_schema WHERE workspace_id = $1 ORDER BY name")
            .bind(ws.as_str().to_owned())
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|row| {
                let kind = get_str(row, "kind")?;
                Ok((
                    get_str(row, "name")?,
                    AttributeType::parse(&kind).ok_or_else(|| corrupt("attribute type", &kind))?,
                    get_ts(row, "created_at")?,
                ))
            })
            .collect()
    }

    /// Declares an attribute's type ahead of first use. `Ok(Err(existing))`
    /// when it already has another type.
    pub async fn declare_attribute(
        &self,
        ws: &WorkspaceId,
        name: &AttributeName,
        kind: AttributeType,
        actor: &str,
    ) -> Result<std::result::Result<bool, DeclareRefusal>> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let before = load_schema(&mut tx, ws).await?;
        if let Some(existing) = before.get(name) {
            return Ok(if existing == kind {
                Ok(false)
            } else {
                Err(DeclareRefusal::OtherType(existing))
            });
        }
        let mut after = before.clone();
        if after.declare(name.clone(), kind).is_err() {
            return Ok(Err(DeclareRefusal::OtherType(kind)));
        }
        if let Err(errors) =
            save_new_types(&mut tx, ws, &before, &after, &[], now, self.max_attributes).await?
        {
            if let Some(BatchItemError {
                problem: BatchItemProblem::Attribute(AttributeError::SchemaFull { limit, .. }),
                ..
            }) = errors.first()
            {
                return Ok(Err(DeclareRefusal::SchemaFull(*limit)));
            }
            let current = load_schema(&mut tx, ws).await?;
            return Ok(Err(DeclareRefusal::OtherType(
                current.get(name).unwrap_or(kind),
            )));
        }
        audit::record_action(
            &mut tx,
            ws,
            actor,
            "attribute.declared",
            &format!("attribute '{name}' declared as {kind}"),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(true))
    }

    /// Removes an attribute from the schema and from every contact of the
    /// workspace, with an audit entry. `false` when there is no such attribute.
    pub async fn delete_attribute(
        &self,
        ws: &WorkspaceId,
        name: &AttributeName,
        actor: &str,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.write.begin().await?;
        let gone =
            sqlx::query("DELETE FROM attribute_schema WHERE workspace_id = $1 AND name = $2")
                .bind(ws.as_str().to_owned())
                .bind(name.as_str().to_owned())
                .execute(&mut *tx)
                .await?;
        if gone.rows_affected() == 0 {
            return Ok(false);
        }
        let (sql, key) = match self.backend {
            Backend::Sqlite => (
                "UPDATE contacts SET attributes = jsonb_remove(attributes, $1) \
                 WHERE workspace_id = $2 AND json_type(attributes, $3) IS NOT NULL",
                format!("$.\"{}\"", name.as_str()),
            ),
            Backend::Postgres => (
                "UPDATE contacts SET attributes = attributes - $1 \
                 WHERE workspace_id = $2 AND jsonb_exists(attributes, $3)",
                name.as_str().to_owned(),
            ),
        };
        sqlx::query(sql)
            .bind(key.clone())
            .bind(ws.as_str().to_owned())
            .bind(key)
            .execute(&mut *tx)
            .await?;
        audit::record_action(
            &mut tx,
            ws,
            actor,
            "attribute.deleted",
            &format!("attribute '{name}' deleted, with its values on every contact"),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Erases a contact: personal data goes, a keyed hash of the address stays
    /// on the suppression list, the ledger's evidence for the contact is
    /// removed while its chain stays checkable. `false` when there is no such contact.
    pub async fn erase_contact(
        &self,
        ws: &WorkspaceId,
        id: &ContactId,
        actor: &str,
    ) -> Result<bool> {
        let now = self.now();
        // Take the ledger's head first: an append for this contact either
        // finished before (its evidence is erased below) or waits and then
        // finds no contact.
        let mut tx = self
            .begin_locked(
                "UPDATE consent_heads SET seq = seq WHERE workspace_id = $1",
                ws,
            )
            .await?;
        let row =
            sqlx::query("SELECT email_hash FROM contacts WHERE workspace_id = $1 AND id = $2")
                .bind(ws.as_str().to_owned())
                .bind(id.as_str().to_owned())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else { return Ok(false) };
        if let Some(hash) = get_opt_str(&row, "email_hash")? {
            sqlx::query(
                "INSERT INTO suppressions (workspace_id, email_hash, reason, source, created_at) \
                 VALUES ($1, $2, 'erased', 'erasure', $3) ON CONFLICT (workspace_id, email_hash) \
                 DO UPDATE SET reason = 'erased', source = 'erasure', created_at = excluded.created_at, email = NULL",
            )
            .bind(ws.as_str().to_owned())
            .bind(hash)
            .bind(now.millis())
            .execute(&mut *tx)
            .await?;
        }
        scrub_person(&mut tx, ws, id, actor, now).await?;
        audit::record_action(
            &mut tx,
            ws,
            actor,
            "contact.erased",
            &format!("contact {id} erased on request; its address stays suppressed by hash"),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn export_contact(
        &self,
        ws: &WorkspaceId,
        id: &ContactId,
    ) -> Result<Option<ContactExport>> {
        let Some(contact) = self.contact(ws, id).await? else {
            return Ok(None);
        };
        let consent_events = self.contact_consent_events(ws, id).await?;
        let mut activity = Map::new();
        for query in ACTIVITY_QUERIES {
            let sql = format!("{} LIMIT {MAX_ACTIVITY_ROWS}", query.sql);
            let rows = sqlx::query(&sql)
                .bind(ws.as_str().to_owned())
                .bind(id.as_str().to_owned())
                .fetch_all(&self.read)
                .await?;
            let list = rows
                .iter()
                .map(|r| export_row(r, query.cols))
                .collect::<Result<Vec<_>>>()?;
            activity.insert(query.name.to_owned(), Value::Array(list));
        }
        let import_ids = contact_imports(&contact, &consent_events, &activity);
        let imports = self.export_imports(ws, import_ids).await?;
        activity.insert("imports".to_owned(), Value::Array(imports));
        let suppressions = match &contact.email_hash {
            Some(hash) => self.export_suppressions(ws, hash).await?,
            None => Vec::new(),
        };
        activity.insert("suppressions".to_owned(), Value::Array(suppressions));
        Ok(Some(ContactExport {
            contact,
            consent_events,
            activity,
        }))
    }

    /// The imports named, as an export lists them.
    async fn export_imports(&self, ws: &WorkspaceId, ids: Vec<String>) -> Result<Vec<Value>> {
        use Col::{Text, Time};
        let mut imports = Vec::new();
        for import in ids {
            let row = sqlx::query(
                "SELECT id, source, description, consent, consent_topic, consent_statement, status, created_at, finished_at \
                 FROM imports WHERE workspace_id = $1 AND id = $2",
            )
            .bind(ws.as_str().to_owned())
            .bind(import)
            .fetch_optional(&self.read)
            .await?;
            let cols = [
                Text("id"),
                Text("source"),
                Text("description"),
                Text("consent"),
                Text("consent_topic"),
                Text("consent_statement"),
                Text("status"),
                Time("created_at"),
                Time("finished_at"),
            ];
            if let Some(row) = row {
                imports.push(export_row(&row, &cols)?);
            }
        }
        Ok(imports)
    }

    /// The workspace's suppressions of the address with this hash.
    async fn export_suppressions(&self, ws: &WorkspaceId, hash: &str) -> Result<Vec<Value>> {
        use Col::{Text, Time};
        let rows = sqlx::query(
            "SELECT reason, source, email, created_at FROM suppressions WHERE workspace_id = $1 AND email_hash = $2",
        )
        .bind(ws.as_str().to_owned())
        .bind(hash.to_owned())
        .fetch_all(&self.read)
        .await?;
        let cols = [
            Text("reason"),
            Text("source"),
            Text("email"),
            Time("created_at"),
        ];
        rows.iter().map(|r| export_row(r, &cols)).collect()
    }

    pub async fn contact_exists(&self, ws: &WorkspaceId, id: &ContactId) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM contacts WHERE workspace_id = $1 AND id = $2")
            .bind(ws.as_str().to_owned())
            .bind(id.as_str().to_owned())
            .fetch_optional(&self.read)
            .await?;
        Ok(row.is_some())
    }
}

/// Removes every other copy of what identifies a contact, inside the
/// erasure's transaction: the ledger's evidence, the mails kept in the
/// outbox, the replies and reports that quote the address, what the
/// person's clicks and opens recorded, consent an import still holds and
/// webhook payloads about them; then the contact itself, with a record of
/// the erasure. What stays is the pseudonymous id, so counts and the
/// ledger's chain still add up.
async fn scrub_person(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: &WorkspaceId,
    id: &ContactId,
    actor: &str,
    now: Timestamp,
) -> Result<()> {
    let ws_s = ws.as_str().to_owned();
    let id_s = id.as_str().to_owned();
    sqlx::query(
        "UPDATE consent_events SET evidence = NULL, evidence_salt = NULL, erased_at = $3 \
         WHERE workspace_id = $1 AND contact_id = $2",
    )
    .bind(ws_s.clone())
    .bind(id_s.clone())
    .bind(now.millis())
    .execute(&mut **tx)
    .await?;
    scrub_mail_about(tx, &ws_s, &id_s).await?;
    scrub_rows_of(tx, &ws_s, &id_s).await?;
    sqlx::query(
        "INSERT INTO erasures (contact_id, workspace_id, erased_at, actor) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (contact_id) DO NOTHING",
    )
    .bind(id_s)
    .bind(ws_s)
    .bind(now.millis())
    .bind(actor.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The mails kept of the person, the reports that quote them and the
/// webhook payloads about them.
async fn scrub_mail_about(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws_s: &str,
    id_s: &str,
) -> Result<()> {
    for sql in [
        "DELETE FROM outbox WHERE workspace_id = $1 AND delivery_id IN \
         (SELECT id FROM deliveries WHERE workspace_id = $2 AND contact_id = $3)",
        "UPDATE concern_reports SET reporter = NULL, ip = NULL, reason = '(erased)' \
         WHERE workspace_id = $1 AND delivery_id IN \
         (SELECT id FROM deliveries WHERE workspace_id = $2 AND contact_id = $3)",
    ] {
        sqlx::query(sql)
            .bind(ws_s.to_owned())
            .bind(ws_s.to_owned())
            .bind(id_s.to_owned())
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "UPDATE webhook_messages SET payload = $1 WHERE workspace_id = $2 AND payload LIKE $3",
    )
    .bind(serde_json::json!({"contact_id": id_s, "erased": true}).to_string())
    .bind(ws_s.to_owned())
    .bind(format!("%\"{id_s}\"%"))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What the person's deliveries, feedback and clicks recorded, their
/// consent (held and current), and the contact itself.
async fn scrub_rows_of(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws_s: &str,
    id_s: &str,
) -> Result<()> {
    for sql in [
        "UPDATE deliveries SET last_reply = NULL, recipient_domain = NULL \
         WHERE workspace_id = $1 AND contact_id = $2",
        "UPDATE delivery_events SET diagnostic = NULL WHERE workspace_id = $1 AND contact_id = $2",
        "UPDATE link_events SET ip = NULL, user_agent = NULL, url = NULL \
         WHERE workspace_id = $1 AND contact_id = $2",
        "DELETE FROM import_consent WHERE workspace_id = $1 AND contact_id = $2",
        "DELETE FROM contact_consent WHERE workspace_id = $1 AND contact_id = $2",
        "DELETE FROM contacts WHERE workspace_id = $1 AND id = $2",
    ] {
        sqlx::query(sql)
            .bind(ws_s.to_owned())
            .bind(id_s.to_owned())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
