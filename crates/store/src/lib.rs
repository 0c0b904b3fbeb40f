//! Persistence for sendwell: one [`Store`] over SQLite (the embedded default)
//! or PostgreSQL (for scale-out), with its own migrations. Every SQL statement
//! of the project lives in this crate. Statements are written once for both
//! backends where the dialects agree (both take `$1` placeholders) and per
//! backend where they do not (JSON columns).
//!
//! On SQLite, writes go through a pool of one connection, so write
//! transactions queue instead of failing with SQLITE_BUSY; reads use their
//! own pool and see committed data (WAL). On PostgreSQL both are one pool,
//! and appends that must be serial (the consent chain) take a row lock.

mod account;
mod audience;
mod audit;
mod campaign;
mod consent;
mod contact;
mod delivery;
mod feedback;
mod form;
mod guidelines;
mod import;
mod key;
mod message;
mod migrate;
mod operator;
mod reputation;
mod saved_audience;
mod sender;
mod suppression;
mod synthetic;
mod team;
mod topic;
mod webhook;
mod workspace;

pub use account::{
    Account, ConsoleSession, Invite, Member, MemberError, Membership, NewToken, SessionRealm,
    TokenError, TokenPurpose,
};
pub use audience::{
    AudienceCounts, AudienceSpec, CountsMaybeEstimated, Excluded, SampleContact, Sunset,
    DEFAULT_AUDIENCE_SAMPLE,
};
pub use audit::AuditEntry;
pub use campaign::{RunChange, RunChanged, RunRefused};
pub use consent::{ContactProof, LedgerVerification};
pub use contact::{
    AddressStamp, BatchItemError, BatchItemProblem, Contact, ContactExport, ContactInput,
    ContactPage, DeclareRefusal, RecentActivity, Suppression, UpsertOutcome, UpsertStatus,
};
pub use delivery::{ClaimedDelivery, DeliveryOutcome, DeliveryState, MailTarget, ReplyRecord};
pub use feedback::{ConcernReport, DeliveryRef, Feedback, FeedbackOutcome, Handled};
pub use form::{Confirmed, FormRecord, NewForm, Submission};
pub use guidelines::{AcceptError, Acceptance, AcceptedThrough, Guidelines};
pub use import::{
    ImportRecord, ImportSession, ImportVerdict, ImportedContact, NewImport, ReviewError,
    MAX_IMPORT_SAMPLE,
};
pub use key::{ApiKeyRecord, AuthKey, NewKeyRow, RevokeError};
pub use message::{
    LinkEvent, MessageRecord, NewMessage, NewTemplate, OutboxEntry, QueueError, Schedule,
    TemplateRecord, Timing,
};
pub use operator::{Operator, OperatorSession};
pub use reputation::{CaseNote, ReviewCase};
pub use saved_audience::{NameTaken, SavedAudience};
pub use sender::SenderDomain;
pub use suppression::{SuppressionEntry, TrapEntry, TrapList, UnsuppressError, PERSON_REASONS};
pub use synthetic::SyntheticHistory;
pub use team::{TeamAddress, TestMail, MAX_TEAM_ADDRESSES};
pub use topic::{TopicExists, TopicRecord};
pub use webhook::{DueWebhook, WebhookAttempt, WebhookEndpoint, WebhookMessage, WEBHOOK_EVENTS};
pub use workspace::{SettingsChange, Warmup, WarmupGrant, Workspace, WorkspaceUpdate};

use sendwell_core::{Clock, Timestamp, WorkspaceId};
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Row};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("migration {version} ({name}) failed: {reason}")]
    Migration {
        version: i64,
        name: String,
        reason: String,
    },
    #[error("{0}")]
    Integrity(String),
    /// A concurrent write got there first; the request can be sent again.
    #[error("{0}")]
    Conflict(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
    clock: Arc<dyn Clock>,
    /// The most attributes a workspace's schema may hold.
    max_attributes: usize,
    /// How many contacts an estimated audience count reads.
    estimate_rows: i64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// The writer keeps a 32 MB page cache, each of the four readers 8 MB,
/// and none maps the file into memory: a million-recipient send stays
/// within about 200 MB of memory. The writer checkpoints the WAL every
/// 20,000 pages (80 MB) rather than every 1,000: a large import rewrote the
/// same pages at every checkpoint (docs/BENCHMARKS.md).
const SQLITE_WRITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
     PRAGMA cache_size = -32768; PRAGMA mmap_size = 0; PRAGMA wal_autocheckpoint = 20000;";
const SQLITE_READ_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
     PRAGMA cache_size = -8192; PRAGMA mmap_size = 0;";

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://...`), creating a
    /// SQLite file if needed, and applies pending migrations.
    pub async fn open(url: &str, clock: Arc<dyn Clock>) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact(url)));
        };
        let (read, write) = match backend {
            Backend::Sqlite => sqlite_pools(url).await?,
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(postgres_session)
                    .connect(url)
                    .await?;
                (pool.clone(), pool)
            }
        };
        let store = Self {
            backend,
            read,
            write,
            clock,
            max_attributes: sendwell_core::attribute::DEFAULT_MAX_SCHEMA_ATTRIBUTES,
            estimate_rows: DEFAULT_AUDIENCE_SAMPLE,
        };
        migrate::run(&store).await?;
        store.install_bundled_guidelines().await?;
        Ok(store)
    }

    /// Sets the most attributes a workspace's schema may hold.
    /// How many contacts an estimated audience count reads (at least 640:
    /// 64 blocks of 10).
    pub fn with_audience_sample(mut self, rows: i64) -> Self {
        self.estimate_rows = rows.max(640);
        self
    }

    pub fn with_max_attributes(mut self, max: usize) -> Self {
        self.max_attributes = max;
        self
    }

    pub fn max_attributes(&self) -> usize {
        self.max_attributes
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Checks that the instance secret matches the one this database was
    /// first used with; records it on first use.
    pub async fn check_secret_fingerprint(&self, fingerprint: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO instance_settings (key, value) VALUES ('secret_fingerprint', $1) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(fingerprint)
        .execute(&self.write)
        .await?;
        let row =
            sqlx::query("SELECT value FROM instance_settings WHERE key = 'secret_fingerprint'")
                .fetch_one(&self.write)
                .await?;
        let stored: String = row.try_get("value")?;
        if stored != fingerprint {
            return Err(StoreError::Integrity(
                "this database was set up with a different secret key: start sendwell with the \
                 same SENDWELL_SECRET_KEY (or data directory) it was first started with"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// The reading and the writing pool of a SQLite file, created if needed.
async fn sqlite_pools(url: &str) -> Result<(AnyPool, AnyPool)> {
    let url = if url.contains('?') {
        url.to_owned()
    } else {
        format!("{url}?mode=rwc")
    };
    let write = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::Executor::execute(conn, SQLITE_WRITE_PRAGMAS).await?;
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    let read = AnyPoolOptions::new()
        .max_connections(4)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                sqlx::Executor::execute(conn, SQLITE_READ_PRAGMAS).await?;
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    Ok((read, write))
}

/// Hides a password in a database URL before it reaches a message.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// A write transaction that first takes a lock with `lock`, an UPDATE
    /// that changes nothing and whose one value is the workspace: the lock
    /// (a row lock on PostgreSQL, the write lock on SQLite) serialises the
    /// writes that take it, until this transaction ends.
    async fn begin_locked(
        &self,
        lock: &str,
        ws: &WorkspaceId,
    ) -> Result<sqlx::Transaction<'static, Any>> {
        let mut tx = self.write.begin().await?;
        sqlx::query(lock)
            .bind(ws.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// The placeholder for the `n`th bound value of a statement whose values
    /// are all bound in order. SQLite gets anonymous `?`: sqlx looks up the
    /// name of every numbered parameter, and SQLite finds a name by walking a
    /// list, which made statements with thousands of `$n` quadratic.
    fn param(&self, n: usize) -> String {
        match self.backend {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// Placeholders for `count` values starting at the `start`th.
    fn params(&self, start: usize, count: usize) -> String {
        (start..start + count)
            .map(|i| self.param(i))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `(?, ?), (?, ?)`: the placeholders of `count` rows of `width`
    /// values each, bound row by row from the first.
    fn value_rows(&self, count: usize, width: usize) -> String {
        numbered_rows(count, width, 1, |_, _, n| self.param(n))
    }

    /// `workspace_id = ? AND {column} IN (?, ...)` for `count` values: the
    /// condition of a look-up of many rows of one workspace at once, whose
    /// values [`bind_batch`] binds.
    fn batch_condition(&self, column: &str, count: usize) -> String {
        format!(
            "workspace_id = {} AND {column} IN ({})",
            self.param(1),
            self.params(2, count)
        )
    }
}

/// A statement with a [`Store::batch_condition`], its values bound: the
/// workspace, then each of `values`.
fn bind_batch<'q, T>(
    sql: &'q str,
    ws: &WorkspaceId,
    values: &[T],
) -> Query<'q, Any, AnyArguments<'q>>
where
    T: Clone + Send + 'q + sqlx::Encode<'q, Any> + sqlx::Type<Any>,
{
    let mut q = sqlx::query(sql).bind(ws.as_str().to_owned());
    for v in values {
        q = q.bind(v.clone());
    }
    q
}

fn get_str(row: &AnyRow, col: &str) -> Result<String> {
    Ok(row.try_get::<String, _>(col)?)
}

fn get_opt_str(row: &AnyRow, col: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

fn get_i64(row: &AnyRow, col: &str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(col)?)
}

fn get_ts(row: &AnyRow, col: &str) -> Result<Timestamp> {
    Ok(Timestamp::from_millis(get_i64(row, col)?))
}

fn get_opt_ts(row: &AnyRow, col: &str) -> Result<Option<Timestamp>> {
    Ok(row
        .try_get::<Option<i64>, _>(col)?
        .map(Timestamp::from_millis))
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} '{value}'"))
}

/// A column read into its domain type (an id, a state); a value that does
/// not parse was written behind sendwell's back and is reported as corrupt.
fn get_as<T, E>(
    row: &AnyRow,
    col: &str,
    what: &str,
    parse: impl FnOnce(&str) -> std::result::Result<T, E>,
) -> Result<T> {
    let text = get_str(row, col)?;
    parse(&text).map_err(|_| corrupt(what, &text))
}

/// A delivery's state column.
fn get_delivery_status(row: &AnyRow, col: &str) -> Result<sendwell_core::DeliveryStatus> {
    get_as(row, col, "delivery state", |s| {
        sendwell_core::DeliveryStatus::parse(s).ok_or(())
    })
}

/// A delivery id column.
fn get_delivery_id(row: &AnyRow, col: &str) -> Result<sendwell_core::DeliveryId> {
    get_as(row, col, "delivery id", sendwell_core::DeliveryId::parse)
}

/// A message's kind column.
fn get_message_kind(row: &AnyRow, col: &str) -> Result<sendwell_core::MessageKind> {
    get_as(row, col, "message kind", |s| {
        sendwell_core::MessageKind::parse(s).ok_or(())
    })
}

/// A workspace id column.
fn get_workspace_id(row: &AnyRow, col: &str) -> Result<WorkspaceId> {
    get_as(row, col, "workspace id", WorkspaceId::parse)
}

/// A contact id column.
fn get_contact_id(row: &AnyRow, col: &str) -> Result<sendwell_core::ContactId> {
    get_as(row, col, "contact id", sendwell_core::ContactId::parse)
}

/// A message id column.
fn get_message_id(row: &AnyRow, col: &str) -> Result<sendwell_core::MessageId> {
    get_as(row, col, "message id", sendwell_core::MessageId::parse)
}

/// `count` parenthesised rows of `width` numbered placeholders (`$n`),
/// numbered on from `first`; `placeholder(row, column, n)` writes each.
fn numbered_rows(
    count: usize,
    width: usize,
    first: usize,
    placeholder: impl Fn(usize, usize, usize) -> String,
) -> String {
    let mut sql = String::new();
    let mut n = first;
    for k in 0..count {
        if k > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&placeholder(k, c, n));
            n += 1;
        }
        sql.push(')');
    }
    sql
}

/// Plans every execution for its own parameters. A cached generic plan for
/// the batch look-ups (`IN` lists of up to 1,000 values) was seen choosing a
/// sequential scan once a workspace grew, taking a second per batch.
fn postgres_session(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_core_box::BoxFuture<'_, std::result::Result<(), sqlx::Error>> {
    Box::pin(async move {
        sqlx::Executor::execute(conn, "SET plan_cache_mode = force_custom_plan").await?;
        Ok(())
    })
}

mod futures_core_box {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
