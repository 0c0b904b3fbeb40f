//! Audiences: a workspace's filter compiled to parameterised SQL, with the
//! guards the platform adds to every audience whatever the filter says.
//!
//! Every value of a filter is bound as a parameter, attribute names too (as
//! JSON paths or keys): nothing a workspace wrote is ever spliced into SQL.
//! Each contact the filter matches falls into exactly one exclusion
//! category, or none (eligible); the same expression counts a preview and
//! selects the rows a send queues, so the two cannot disagree.

use crate::{Backend, Result, Store};
use sendwell_core::filter::{Field, Filter, Literal, Op};
use sendwell_core::{AttributeName, AttributeType, MessageKind, Timestamp, WorkspaceId};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Row};

const DAY_MS: i64 = 86_400_000;

/// Who may receive a message, and why the others may not.
#[derive(Clone, Debug)]
pub struct AudienceSpec<'a> {
    pub workspace: &'a WorkspaceId,
    pub filter: Option<&'a Filter>,
    pub kind: MessageKind,
    pub topic: &'a str,
    /// An opt-in request is sent to a contact at most once in this period.
    pub opt_in_request_interval_days: u32,
    /// Leave out contacts whose address check says `risky`.
    pub exclude_risky: bool,
    /// Marketing only: leave out contacts who did not engage lately.
    pub sunset: Option<Sunset>,
}

/// The engagement sunset: a contact sent `mails` marketing mails in the
/// last `days` days who opened and clicked none of them is left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sunset {
    pub mails: u32,
    pub days: u32,
}

impl Sunset {
    /// `mails/days`, as the workspace keeps it.
    pub fn parse(text: &str) -> Option<Self> {
        let (m, d) = text.trim().split_once('/')?;
        let s = Self {
            mails: m.trim().parse().ok()?,
            days: d.trim().parse().ok()?,
        };
        ((1..=100).contains(&s.mails) && (1..=730).contains(&s.days)).then_some(s)
    }

    pub fn as_text(self) -> String {
        format!("{}/{}", self.mails, self.days)
    }
}

/// The numbers of a preview.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AudienceCounts {
    pub matched: i64,
    pub eligible: i64,
    pub excluded: Excluded,
    /// Of the eligible, how many have an address the check calls `risky`
    /// (a likely typo, a disposable domain, a role account).
    pub risky: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Excluded {
    pub no_consent: i64,
    pub unsubscribed: i64,
    pub bounced: i64,
    pub complained: i64,
    pub invalid: i64,
    pub erased: i64,
    /// Created by an import that waits for the operator's review.
    pub quarantined: i64,
    /// Asked for permission too recently (opt-in requests only).
    pub recently_asked: i64,
    /// A risky address, left out at the sender's choice.
    pub risky: i64,
    /// Neither opened nor clicked lately (the workspace's sunset).
    pub unengaged: i64,
}

impl AudienceCounts {
    /// Every count multiplied by `scale`, rounded: a sample's counts as
    /// estimates for the whole.
    fn scaled(&self, scale: f64) -> AudienceCounts {
        let up = |n: i64| (n as f64 * scale).round() as i64;
        let e = &self.excluded;
        AudienceCounts {
            matched: up(self.matched),
            eligible: up(self.eligible),
            risky: up(self.risky),
            excluded: Excluded {
                no_consent: up(e.no_consent),
                unsubscribed: up(e.unsubscribed),
                bounced: up(e.bounced),
                complained: up(e.complained),
                invalid: up(e.invalid),
                erased: up(e.erased),
                quarantined: up(e.quarantined),
                recently_asked: up(e.recently_asked),
                risky: up(e.risky),
                unengaged: up(e.unengaged),
            },
        }
    }
}

impl Excluded {
    fn add(&mut self, category: &str, n: i64) {
        match category {
            "no_consent" => self.no_consent += n,
            "unsubscribed" => self.unsubscribed += n,
            "bounced" => self.bounced += n,
            "complained" => self.complained += n,
            "invalid" => self.invalid += n,
            "erased" => self.erased += n,
            "quarantined" => self.quarantined += n,
            "recently_asked" => self.recently_asked += n,
            "risky" => self.risky += n,
            "unengaged" => self.unengaged += n,
            _ => {}
        }
    }
}

/// One eligible contact, as a preview shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SampleContact {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    Float(f64),
}

/// SQL text with its values, in the order their placeholders appear.
#[derive(Clone, Debug)]
pub(crate) struct Sql {
    backend: Backend,
    /// Read the contacts table in full rather than through the workspace's
    /// index entries (see `Store::scan_whole_table`).
    pub(crate) scan: bool,
    /// Read only a sample of the contacts table (an estimate).
    pub(crate) sample: Option<Sampling>,
    pub(crate) text: String,
    pub(crate) params: Vec<Param>,
}

/// Which part of the contacts table an estimate reads.
#[derive(Clone, Debug)]
pub(crate) enum Sampling {
    /// SQLite: blocks of `width` rowids from each start, spread evenly over
    /// the table.
    Blocks { starts: Vec<i64>, width: i64 },
    /// PostgreSQL: this percentage of the table's pages (`TABLESAMPLE
    /// SYSTEM`, repeatable, so the same page shows the same estimate).
    Pages { percent: f64 },
}

/// How many contacts an estimate reads by default: 64 blocks of 1,000 rows
/// on SQLite, the same share of pages on PostgreSQL.
pub const DEFAULT_AUDIENCE_SAMPLE: i64 = 64_000;
/// Blocks of rowids an estimate reads on SQLite.
const SAMPLE_BLOCKS: i64 = 64;

/// Audience counts, exact or estimated from a sample.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CountsMaybeEstimated {
    pub counts: AudienceCounts,
    /// When estimated: how many of the workspace's contacts the sample read.
    pub sampled: Option<i64>,
}

impl Sql {
    pub(crate) fn new(backend: Backend) -> Self {
        Self {
            backend,
            scan: false,
            sample: None,
            text: String::with_capacity(512),
            params: Vec::new(),
        }
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `param`.
    pub(crate) fn bind(&mut self, param: Param) -> &mut Self {
        self.params.push(param);
        match self.backend {
            Backend::Sqlite => self.text.push('?'),
            Backend::Postgres => {
                let n = self.params.len();
                self.text.push('$');
                self.text.push_str(&n.to_string());
                // Untyped parameters would leave operators such as ->>
                // ambiguous; say what each one is.
                self.text.push_str(match self.params[n - 1] {
                    Param::Text(_) => "::text",
                    Param::Int(_) => "::bigint",
                    Param::Float(_) => "::double precision",
                });
            }
        }
        self
    }

    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        self.bind(Param::Text(value.to_owned()))
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        self.bind(Param::Int(value))
    }

    pub(crate) fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for p in &self.params {
            q = match p {
                Param::Text(s) => q.bind(s.clone()),
                Param::Int(i) => q.bind(*i),
                Param::Float(f) => q.bind(*f),
            };
        }
        q
    }
}

/// How a field reads in SQL, and in what form its values compare.
enum Column {
    /// A text column or a JSON string attribute.
    Text,
    /// Milliseconds in a BIGINT column.
    Millis,
    /// An RFC 3339 string inside the attributes JSON.
    DateText,
    Number,
    Boolean,
}

fn push_field(sql: &mut Sql, field: &Field) -> Column {
    let (name, column) = match field {
        Field::Email => ("email", Column::Text),
        Field::Name => ("name", Column::Text),
        Field::ExternalId => ("external_id", Column::Text),
        Field::CreatedAt => ("created_at", Column::Millis),
        Field::UpdatedAt => ("updated_at", Column::Millis),
        Field::LastSeenAt => ("last_seen_at", Column::Millis),
        Field::Attribute(name, kind) => return push_attribute(sql, name, *kind),
    };
    sql.push("c.").push(name);
    column
}

/// An attribute's value out of the contact's attributes JSON, in the form
/// its type compares in.
fn push_attribute(sql: &mut Sql, name: &AttributeName, kind: AttributeType) -> Column {
    match (sql.backend, kind) {
        (Backend::Sqlite, _) => {
            sql.push("json_extract(c.attributes, ");
            sql.text(&format!("$.\"{}\"", name.as_str()));
            sql.push(")");
        }
        (Backend::Postgres, AttributeType::Number) => {
            sql.push("(c.attributes->>");
            sql.text(name.as_str());
            sql.push(")::double precision");
        }
        (Backend::Postgres, AttributeType::Date) => {
            // Byte order: a locale's collation may weigh the
            // punctuation of an RFC 3339 time differently.
            sql.push("((c.attributes->>");
            sql.text(name.as_str());
            sql.push(") COLLATE \"C\")");
        }
        (Backend::Postgres, _) => {
            sql.push("(c.attributes->>");
            sql.text(name.as_str());
            sql.push(")");
        }
    }
    match kind {
        AttributeType::String => Column::Text,
        AttributeType::Number => Column::Number,
        AttributeType::Boolean => Column::Boolean,
        AttributeType::Date => Column::DateText,
    }
}

fn bind_literal(sql: &mut Sql, column: &Column, literal: &Literal) {
    match (column, literal) {
        (Column::Millis, Literal::Date(t)) => sql.int(t.millis()),
        (_, Literal::Date(t)) => sql.text(&t.to_rfc3339()),
        (Column::Boolean, Literal::Boolean(b)) => match sql.backend {
            // json_extract gives 1 or 0 for JSON true and false.
            Backend::Sqlite => sql.int(i64::from(*b)),
            Backend::Postgres => sql.text(if *b { "true" } else { "false" }),
        },
        (_, Literal::Boolean(b)) => sql.text(if *b { "true" } else { "false" }),
        (_, Literal::Number(n)) => sql.bind(Param::Float(*n)),
        (_, Literal::String(s)) => sql.text(s),
    };
}

fn bind_time(sql: &mut Sql, column: &Column, t: Timestamp) {
    match column {
        Column::Millis => sql.int(t.millis()),
        _ => sql.text(&t.to_rfc3339()),
    };
}

/// Appends a predicate that is true, false or (for a missing value) NULL.
fn push_predicate(sql: &mut Sql, field: &Field, op: &Op, now: Timestamp) {
    sql.push("(");
    match op {
        Op::HasAnyValue | Op::HasNoValue => {
            push_presence(sql, field, matches!(op, Op::HasAnyValue))
        }
        Op::Is(lit) | Op::IsNot(lit) => push_equal(sql, field, lit, matches!(op, Op::IsNot(_))),
        Op::Contains(s) | Op::DoesNotContain(s) => {
            push_contains(sql, field, s, matches!(op, Op::DoesNotContain(_)));
        }
        Op::StartsWith(s) | Op::EndsWith(s) => {
            push_affix(sql, field, s, matches!(op, Op::EndsWith(_)));
        }
        Op::GreaterThan(lit) | Op::LessThan(lit) => {
            let column = push_field(sql, field);
            sql.push(if matches!(op, Op::GreaterThan(_)) {
                " > "
            } else {
                " < "
            });
            bind_literal(sql, &column, lit);
        }
        Op::Between(low, high) => push_between(sql, field, low, high),
        Op::In(list) => push_in(sql, field, list),
        Op::Before(t) | Op::After(t) => {
            push_time_bound(sql, field, matches!(op, Op::Before(_)), *t);
        }
        Op::MoreThanDaysAgo(days) | Op::LessThanDaysAgo(days) => {
            let edge = Timestamp::from_millis(now.millis() - i64::from(*days) * DAY_MS);
            push_time_bound(sql, field, matches!(op, Op::MoreThanDaysAgo(_)), edge);
        }
    }
    sql.push(")");
}

/// `between` two literals, both included.
fn push_between(sql: &mut Sql, field: &Field, low: &Literal, high: &Literal) {
    let column = push_field(sql, field);
    sql.push(" BETWEEN ");
    bind_literal(sql, &column, low);
    sql.push(" AND ");
    bind_literal(sql, &column, high);
}

/// `in` a list of literals.
fn push_in(sql: &mut Sql, field: &Field, list: &[Literal]) {
    let column = push_field(sql, field);
    sql.push(" IN (");
    for (i, lit) in list.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        bind_literal(sql, &column, lit);
    }
    sql.push(")");
}

/// The field's time is before `t` (`earlier`), or after it.
fn push_time_bound(sql: &mut Sql, field: &Field, earlier: bool, t: Timestamp) {
    let column = push_field(sql, field);
    sql.push(if earlier { " < " } else { " > " });
    bind_time(sql, &column, t);
}

/// `has any value` (`any`) or `has no value`: an empty text counts as none.
fn push_presence(sql: &mut Sql, field: &Field, any: bool) {
    let column = push_field(sql, field);
    sql.push(if any { " IS NOT NULL" } else { " IS NULL" });
    if matches!(column, Column::Text) {
        sql.push(if any { " AND " } else { " OR " });
        push_field(sql, field);
        sql.push(if any { " <> ''" } else { " = ''" });
    }
}

/// `is` (or `is not`, which a missing value also satisfies); a date is the
/// whole UTC day it falls on.
fn push_equal(sql: &mut Sql, field: &Field, lit: &Literal, negate: bool) {
    if negate {
        push_field(sql, field);
        sql.push(" IS NULL OR NOT (");
    }
    let column = push_field(sql, field);
    match (&column, lit) {
        (Column::Millis | Column::DateText, Literal::Date(t)) => {
            let start = t.millis().div_euclid(DAY_MS) * DAY_MS;
            sql.push(" >= ");
            bind_time(sql, &column, Timestamp::from_millis(start));
            sql.push(" AND ");
            push_field(sql, field);
            sql.push(" < ");
            bind_time(sql, &column, Timestamp::from_millis(start + DAY_MS));
        }
        _ => {
            sql.push(" = ");
            bind_literal(sql, &column, lit);
        }
    }
    if negate {
        sql.push(")");
    }
}

/// `contains` (or `does not contain`, which a missing value satisfies),
/// without regard to case.
fn push_contains(sql: &mut Sql, field: &Field, s: &str, negate: bool) {
    if negate {
        push_field(sql, field);
        sql.push(" IS NULL OR ");
    }
    sql.push(match sql.backend {
        Backend::Sqlite => "instr(lower(",
        Backend::Postgres => "strpos(lower(",
    });
    push_field(sql, field);
    sql.push("), lower(");
    sql.text(s);
    sql.push(if negate { ")) = 0" } else { ")) > 0" });
}

/// `starts with`, or `ends with` (`end`), without regard to case.
fn push_affix(sql: &mut Sql, field: &Field, s: &str, end: bool) {
    let n = s.chars().count() as i64;
    if !end {
        sql.push("substr(lower(");
        push_field(sql, field);
        // substr takes INTEGER on PostgreSQL, not BIGINT.
        sql.push("), 1, CAST(");
        sql.int(n);
        sql.push(" AS INTEGER)) = lower(");
        sql.text(s);
        sql.push(")");
        return;
    }
    sql.push("length(");
    push_field(sql, field);
    sql.push(") >= ");
    sql.int(n);
    sql.push(" AND substr(lower(");
    push_field(sql, field);
    sql.push("), CAST(length(");
    push_field(sql, field);
    sql.push(") - ");
    sql.int(n - 1);
    sql.push(" AS INTEGER)) = lower(");
    sql.text(s);
    sql.push(")");
}

pub(crate) fn push_filter(sql: &mut Sql, filter: &Filter, now: Timestamp) {
    match filter {
        Filter::And(parts) | Filter::Or(parts) => {
            let joiner = if matches!(filter, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.push("(");
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    sql.push(joiner);
                }
                push_filter(sql, part, now);
            }
            sql.push(")");
        }
        // A missing value makes a comparison unknown; "not" of unknown is
        // taken as true, as a person reading the filter would expect.
        Filter::Not(inner) => {
            sql.push("(NOT COALESCE(");
            push_filter(sql, inner, now);
            sql.push(", FALSE))");
        }
        Filter::Predicate(p) => push_predicate(sql, &p.field, &p.op, now),
    }
}

/// The exclusion category of the contact `c` joined with its suppression
/// `s`: NULL when the contact may receive the message.
fn push_category(sql: &mut Sql, spec: &AudienceSpec<'_>, now: Timestamp) {
    sql.push(
        "CASE WHEN s.reason = 'erased' THEN 'erased' \
         WHEN s.reason = 'complained' THEN 'complained' \
         WHEN s.reason = 'bounced' THEN 'bounced' ",
    );
    match spec.kind {
        // A receipt still reaches someone who left the newsletter; a
        // suppression the workspace set by hand still holds.
        MessageKind::Transactional => sql.push("WHEN s.reason = 'manual' THEN 'unsubscribed' "),
        _ => sql.push("WHEN s.reason IS NOT NULL THEN 'unsubscribed' "),
    };
    // The workspace's quarantined imports are few: the subquery is
    // evaluated once, not per contact.
    sql.push(
        "WHEN c.email IS NULL OR c.address_verdict = 'invalid' THEN 'invalid' \
         WHEN c.import_id IN (SELECT i.id FROM imports i WHERE i.workspace_id = ",
    );
    sql.text(spec.workspace.as_str());
    sql.push(" AND i.status IN ('running', 'quarantined', 'rejected')) THEN 'quarantined' ");
    let find = match sql.backend {
        Backend::Sqlite => "instr",
        Backend::Postgres => "strpos",
    };
    match spec.kind {
        // The contact's consent summary, `|topic:in|other:out|`.
        MessageKind::Marketing => {
            sql.push(&format!("WHEN {find}(COALESCE(c.consent_state, ''), "));
            sql.text(&format!("|{}:out|", spec.topic));
            sql.push(&format!(
                ") > 0 THEN 'unsubscribed' WHEN {find}(COALESCE(c.consent_state, ''), "
            ));
            sql.text(&format!("|{}:in|", spec.topic));
            sql.push(") = 0 THEN 'no_consent' ");
        }
        MessageKind::OptInRequest => {
            sql.push(&format!(
                "WHEN {find}(COALESCE(c.consent_state, ''), ':out|') > 0 THEN 'unsubscribed' \
                 WHEN {find}(COALESCE(c.consent_state, ''), "
            ));
            sql.text(&format!("|{}:", spec.topic));
            sql.push(") > 0 THEN 'no_consent' ");
            sql.push(
                "WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.workspace_id = c.workspace_id \
                 AND d.contact_id = c.id AND d.kind = 'opt_in_request' AND d.created_at > ",
            );
            let since = now.millis() - i64::from(spec.opt_in_request_interval_days) * DAY_MS;
            sql.int(since);
            sql.push(") THEN 'recently_asked' ");
        }
        MessageKind::Transactional => {}
    }
    if spec.exclude_risky {
        sql.push("WHEN c.address_verdict = 'risky' THEN 'risky' ");
    }
    if let (MessageKind::Marketing, Some(sunset)) = (spec.kind, spec.sunset) {
        // By the indexes on (workspace, contact): a count of the contact's
        // recent marketing deliveries that could show an open or a click
        // (tracked), and any open or click since.
        let since = now.millis() - i64::from(sunset.days) * DAY_MS;
        sql.push(
            "WHEN (SELECT COUNT(*) FROM deliveries d JOIN messages m ON m.id = d.message_id \
             WHERE d.workspace_id = c.workspace_id AND d.contact_id = c.id AND d.kind = 'marketing' \
             AND d.state = 'delivered' AND (m.track_opens <> 0 OR m.track_clicks <> 0) AND d.created_at > ",
        );
        sql.int(since);
        sql.push(") >= ");
        sql.int(i64::from(sunset.mails));
        sql.push(
            " AND NOT EXISTS (SELECT 1 FROM link_events e WHERE e.workspace_id = c.workspace_id \
             AND e.contact_id = c.id AND e.kind IN ('open', 'click') AND e.created_at > ",
        );
        sql.int(since);
        sql.push(") THEN 'unengaged' ");
    }
    sql.push("ELSE NULL END");
}

/// `FROM contacts c LEFT JOIN suppressions s ... WHERE <workspace and filter>`,
/// over the sample `sql.sample` names when it names one.
pub(crate) fn push_from_where(sql: &mut Sql, spec: &AudienceSpec<'_>, now: Timestamp) {
    push_contacts_source(sql);
    sql.push(
        " LEFT JOIN suppressions s ON s.workspace_id = c.workspace_id \
         AND s.email_hash = c.email_hash",
    );
    // A unary plus keeps SQLite from walking an index on workspace_id and
    // looking every row up again, when the workspace is most of the table.
    sql.push(if sql.scan {
        " WHERE +c.workspace_id = "
    } else {
        " WHERE c.workspace_id = "
    });
    sql.text(spec.workspace.as_str());
    if let Some(filter) = spec.filter {
        sql.push(" AND ");
        push_filter(sql, filter, now);
    }
}

/// ` FROM contacts c`, or the part of it the sample reads.
fn push_contacts_source(sql: &mut Sql) {
    match sql.sample.take() {
        None => {
            sql.push(" FROM contacts c");
        }
        Some(Sampling::Blocks { starts, width }) => {
            // Each block is a range of rowids: SQLite reads it with a
            // range search on the table itself, not a scan.
            sql.push(" FROM (VALUES ");
            for (i, start) in starts.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.push("(");
                sql.int(*start);
                sql.push(")");
            }
            sql.push(") AS b JOIN contacts c ON c.rowid >= b.column1 AND c.rowid < b.column1 + ");
            sql.int(width);
        }
        Some(Sampling::Pages { percent }) => {
            sql.push(&format!(
                " FROM contacts c TABLESAMPLE SYSTEM ({percent:.6}) REPEATABLE (7)"
            ));
        }
    }
}

/// `<category> AS category FROM ... WHERE <workspace>`: the category of any
/// contact of the workspace, whatever the message's filter says.
pub(crate) fn push_category_unfiltered(sql: &mut Sql, spec: &AudienceSpec<'_>, now: Timestamp) {
    push_category(sql, spec, now);
    sql.push(" AS category");
    let unfiltered = AudienceSpec {
        filter: None,
        ..spec.clone()
    };
    push_from_where(sql, &unfiltered, now);
}

impl Store {
    /// Whether an audience query should read the whole contacts table: on
    /// SQLite, when the workspace holds at least a quarter of all contacts,
    /// a table scan reads each row once, while the index on workspace_id
    /// would read each one twice. (PostgreSQL's planner decides itself.)
    pub(crate) async fn scan_whole_table(&self, ws: &WorkspaceId) -> Result<bool> {
        if self.backend != Backend::Sqlite {
            return Ok(false);
        }
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM contacts WHERE workspace_id = $1) AS mine, \
             (SELECT COALESCE(MAX(rowid), 0) FROM contacts) AS total",
        )
        .bind(ws.as_str().to_owned())
        .fetch_one(&self.read)
        .await?;
        let mine: i64 = row.try_get("mine")?;
        let total: i64 = row.try_get("total")?;
        Ok(mine >= 10_000 && mine.saturating_mul(4) >= total)
    }

    /// Counts the contacts a filter matches and, of those, the ones the
    /// message may go to, with the reason for every one left out.
    pub async fn audience_counts(&self, spec: &AudienceSpec<'_>) -> Result<AudienceCounts> {
        let now = self.now();
        let mut sql = Sql::new(self.backend);
        sql.scan = self.scan_whole_table(spec.workspace).await?;
        Ok(self.counts_with_unmatched(sql, spec, now, false).await?.0)
    }

    /// The counts by category over what `sql` reads and, when
    /// `with_unmatched`, how many of the workspace's contacts it read in
    /// all: the filter then decides a category ('unmatched') instead of
    /// leaving rows out, so one pass over a sample gives both.
    async fn counts_with_unmatched(
        &self,
        mut sql: Sql,
        spec: &AudienceSpec<'_>,
        now: Timestamp,
        with_unmatched: bool,
    ) -> Result<(AudienceCounts, i64)> {
        sql.push("SELECT category, risky, COUNT(*) AS n FROM (SELECT ");
        let filter = spec.filter.filter(|_| with_unmatched);
        if let Some(f) = filter {
            sql.push("CASE WHEN ");
            push_filter(&mut sql, f, now);
            sql.push(" THEN (");
            push_category(&mut sql, spec, now);
            sql.push(") ELSE 'unmatched' END");
        } else {
            push_category(&mut sql, spec, now);
        }
        sql.push(" AS category, CASE WHEN c.address_verdict = 'risky' THEN 1 ELSE 0 END AS risky");
        // The filter already decided a category above: the rows are the
        // workspace's, all of them.
        let source = AudienceSpec {
            filter: spec.filter.filter(|_| filter.is_none()),
            ..spec.clone()
        };
        push_from_where(&mut sql, &source, now);
        sql.push(") t GROUP BY category, risky");
        let rows = sql.query().fetch_all(&self.read).await?;
        let mut counts = AudienceCounts::default();
        let mut read = 0;
        for row in rows {
            let category: Option<String> = row.try_get("category")?;
            let n: i64 = row.try_get("n")?;
            let risky: i64 = row
                .try_get::<i64, _>("risky")
                .or_else(|_| row.try_get::<i32, _>("risky").map(i64::from))?;
            read += n;
            if category.as_deref() == Some("unmatched") {
                continue;
            }
            counts.matched += n;
            match category {
                None => {
                    counts.eligible += n;
                    if risky != 0 {
                        counts.risky += n;
                    }
                }
                Some(c) => counts.excluded.add(&c, n),
            }
        }
        Ok((counts, read))
    }

    /// Brings the contacts table's statistics up to date after a large
    /// import: PostgreSQL's `ANALYZE` (its planner and the size of an
    /// estimate's sample read them). SQLite keeps none: its queries are
    /// planned by hand (see `scan_whole_table`), and an estimate reads the
    /// rowid range.
    pub async fn refresh_contact_statistics(&self) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("ANALYZE contacts").execute(&self.write).await?;
        }
        Ok(())
    }

    /// How an estimate samples the contacts table, and by how much its
    /// counts are scaled up; `None` when the table is small enough to count
    /// whole.
    async fn sampling_plan(&self) -> Result<Option<(Sampling, f64)>> {
        match self.backend {
            Backend::Sqlite => {
                let row = sqlx::query(
                    // Two subqueries: each reads one end of the rowid
                    // b-tree, where MIN and MAX in one SELECT scan it all.
                    "SELECT COALESCE((SELECT MIN(rowid) FROM contacts), 0) AS lo, \
                     COALESCE((SELECT MAX(rowid) FROM contacts), 0) AS hi",
                )
                .fetch_one(&self.read)
                .await?;
                let lo: i64 = row.try_get("lo")?;
                let hi: i64 = row.try_get("hi")?;
                let span = hi - lo + 1;
                if span < 2 * self.estimate_rows {
                    return Ok(None);
                }
                let width = self.estimate_rows / SAMPLE_BLOCKS;
                let step = span / SAMPLE_BLOCKS;
                let starts = (0..SAMPLE_BLOCKS).map(|i| lo + i * step).collect();
                let scale = span as f64 / (SAMPLE_BLOCKS * width) as f64;
                Ok(Some((Sampling::Blocks { starts, width }, scale)))
            }
            Backend::Postgres => {
                let row = sqlx::query(
                    "SELECT reltuples::float8 AS n FROM pg_class WHERE oid = 'contacts'::regclass",
                )
                .fetch_one(&self.read)
                .await?;
                let n: f64 = row.try_get("n")?;
                if n < (2 * self.estimate_rows) as f64 {
                    return Ok(None);
                }
                let percent = (100.0 * self.estimate_rows as f64 / n).min(100.0);
                Ok(Some((Sampling::Pages { percent }, 100.0 / percent)))
            }
        }
    }

    /// [`Store::audience_counts`], estimated from a sample of the contacts
    /// table when the workspace is large (a page that shows a count at a
    /// glance); exact when it is small. The send always counts exactly.
    pub async fn audience_counts_estimated(
        &self,
        spec: &AudienceSpec<'_>,
    ) -> Result<CountsMaybeEstimated> {
        let exact = |counts| CountsMaybeEstimated {
            counts,
            sampled: None,
        };
        let Some((sampling, scale)) = self.sampling_plan().await? else {
            return Ok(exact(self.audience_counts(spec).await?));
        };
        let now = self.now();
        let mut sql = Sql::new(self.backend);
        sql.scan = self.backend == Backend::Sqlite;
        sql.sample = Some(sampling);
        let (counts, sampled) = self.counts_with_unmatched(sql, spec, now, true).await?;
        // A workspace with fewer contacts than an eighth of the sample in
        // it is counted exactly: its own index makes that fast, and so few
        // rows would make a coarse estimate.
        if sampled < self.estimate_rows / 8 {
            return Ok(exact(self.audience_counts(spec).await?));
        }
        Ok(CountsMaybeEstimated {
            counts: counts.scaled(scale),
            sampled: Some(sampled),
        })
    }

    /// Up to `limit` eligible contacts, by id, from the sample an estimate
    /// reads when the contacts table is large (the first by id in the
    /// sample, not in the workspace); the first `limit` by id otherwise, or
    /// when the sample holds fewer.
    pub async fn audience_sample_estimated(
        &self,
        spec: &AudienceSpec<'_>,
        limit: i64,
    ) -> Result<Vec<SampleContact>> {
        let Some((sampling, _)) = self.sampling_plan().await? else {
            return self.audience_sample(spec, limit).await;
        };
        let mut sql = Sql::new(self.backend);
        sql.scan = self.backend == Backend::Sqlite;
        sql.sample = Some(sampling);
        let found = self.sample_from(sql, spec, limit, false).await?;
        if (found.len() as i64) < limit {
            return self.audience_sample(spec, limit).await;
        }
        Ok(found)
    }

    /// The first `limit` eligible contacts, by id.
    pub async fn audience_sample(
        &self,
        spec: &AudienceSpec<'_>,
        limit: i64,
    ) -> Result<Vec<SampleContact>> {
        self.sample_from(Sql::new(self.backend), spec, limit, true)
            .await
    }

    /// The first `limit` eligible contacts of what `sql` (empty, with its
    /// scan and sample set) reads: by id when `by_id`, else in the order
    /// the sample reads them (it stops at the `limit`-th).
    async fn sample_from(
        &self,
        mut sql: Sql,
        spec: &AudienceSpec<'_>,
        limit: i64,
        by_id: bool,
    ) -> Result<Vec<SampleContact>> {
        let now = self.now();
        sql.push("SELECT c.id, c.email, c.name");
        push_from_where(&mut sql, spec, now);
        sql.push(" AND (");
        push_category(&mut sql, spec, now);
        sql.push(if by_id {
            ") IS NULL ORDER BY c.id LIMIT "
        } else {
            ") IS NULL LIMIT "
        });
        sql.int(limit);
        let rows = sql.query().fetch_all(&self.read).await?;
        rows.iter()
            .map(|row| {
                Ok(SampleContact {
                    id: row.try_get("id")?,
                    email: row.try_get("email")?,
                    name: row.try_get("name")?,
                })
            })
            .collect()
    }

    /// Contacts the filter of `spec` matches, whatever they may receive:
    /// `limit` after the id `after`, by id (the console's filtered list).
    pub async fn matching_contacts(
        &self,
        spec: &AudienceSpec<'_>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SampleContact>> {
        let now = self.now();
        let mut sql = Sql::new(self.backend);
        sql.push("SELECT c.id, c.email, c.name");
        push_from_where(&mut sql, spec, now);
        sql.push(" AND c.id > ");
        sql.text(after.unwrap_or(""));
        sql.push(" ORDER BY c.id LIMIT ");
        sql.int(limit);
        let rows = sql.query().fetch_all(&self.read).await?;
        rows.iter()
            .map(|row| {
                Ok(SampleContact {
                    id: row.try_get("id")?,
                    email: row.try_get("email")?,
                    name: row.try_get("name")?,
                })
            })
            .collect()
    }

    /// The category of one contact for a message: `None` when it may
    /// receive it. The delivery worker asks again just before sending.
    pub(crate) fn push_contact_category(
        &self,
        sql: &mut Sql,
        spec: &AudienceSpec<'_>,
        now: Timestamp,
    ) {
        push_category(sql, spec, now);
    }
}
