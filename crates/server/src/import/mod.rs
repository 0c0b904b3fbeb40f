//! The import service: a spooled CSV of contacts with its declared
//! provenance and consent, read and checked row by row, written in one
//! transaction, scored for the signals of a bought or scraped list, and
//! accepted, accepted with warnings, quarantined for the operator's review
//! or rejected. The API's `POST /v1/imports` and the console's upload both
//! hand their spooled file to [`run`].
//!
//! The reader ([`reader`]) runs on a blocking thread and hands batches of
//! checked rows to the writer here, which asks DNS where asked to, looks up
//! the suppression lists, writes, and records declared consent.

pub mod reader;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use reader::{
    check_reason, detect_charset, read_csv, Batch, Charset, Decoding, Parsed, ReaderContext, Tally,
};
use sendwell_core::consent::{ConsentAction, ConsentMethod, Evidence, NewConsentEvent, Topic};
use sendwell_core::text::csv_field;
use sendwell_core::text::Label;
use sendwell_core::WorkspaceId;
use sendwell_screen::score::{assess, Context, ImportCounts};
use sendwell_screen::{MailDomainResolver, Verdict};
use sendwell_store::{
    BatchItemProblem, ContactInput, ImportRecord, ImportSession, ImportVerdict, NewImport,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use utoipa::IntoParams;

/// Rows an import may have.
pub const MAX_ROWS: u64 = 1_000_000;
/// Rows the reader hands to the writer at once.
const BATCH: usize = 2000;
/// At most this many rejected rows are listed in the report; the count covers all.
const MAX_LISTED_REJECTS: u64 = 100_000;
/// The key of the counts only the operator sees: what other workspaces'
/// suppressions would change.
pub const CROSS_TENANT: &str = "cross_tenant";

/// How a list was procured. The refused kinds are refused by name.
const SOURCES: &[&str] = &[
    "signup_form",
    "product_users",
    "event_signup",
    "customer_records",
    "migration",
    "other",
];
const REFUSED_SOURCES: &[&str] = &[
    "purchased",
    "rented",
    "scraped",
    "borrowed",
    "bought",
    "list_broker",
];
const CONSENTS: &[&str] = &["none", "opt_in", "double_opt_in"];

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// How the list was procured: signup_form, product_users, event_signup,
    /// customer_records, migration, or other (with a description).
    pub source: Option<String>,
    pub description: Option<String>,
    /// Whether the people on the list agreed to marketing: none (default),
    /// opt_in or double_opt_in. Declared consent becomes ledger events.
    pub consent: Option<String>,
    /// How consent was collected (required unless consent is none), e.g.
    /// "Checkbox 'Email me product news' on our sign-up form, 2024-2026".
    pub consent_statement: Option<String>,
    /// Defaults to marketing.
    pub consent_topic: Option<String>,
    /// offline (default) or dns: DNS asks once per distinct domain.
    pub checks: Option<String>,
    /// The file's text encoding, when it is not UTF-8: windows-1252,
    /// iso-8859-1, utf-16le... (the `charset` of the Content-Type works
    /// too). Without either, a file that is not UTF-8 is read as
    /// windows-1252, and the report says so.
    pub charset: Option<String>,
}

/// The declaration, parsed.
pub struct Declaration {
    meta: NewImport,
    consent: Option<(ConsentAction, Topic, String)>,
    dns: bool,
}

pub fn declaration(q: ImportQuery, actor: String) -> Result<Declaration, ApiError> {
    let source = provenance(q.source.as_deref())?;
    let description = label(q.description.as_deref(), "description", 1000)?;
    if source == "other" && description.is_none() {
        return Err(ApiError::invalid_field(
            "/description",
            "source=other needs a description of how the list was procured",
        ));
    }
    let consent = q.consent.as_deref().unwrap_or("none").trim().to_lowercase();
    if !CONSENTS.contains(&consent.as_str()) {
        return Err(ApiError::invalid_field(
            "/consent",
            format!("consent '{consent}' is not one of {}", CONSENTS.join(", ")),
        ));
    }
    let topic = match q.consent_topic.as_deref() {
        Some(t) => {
            Topic::parse(t).map_err(|e| ApiError::invalid_field("/consent_topic", e.to_string()))?
        }
        None => Topic::marketing(),
    };
    let statement = label(q.consent_statement.as_deref(), "consent_statement", 2000)?;
    let consent_event = declared_consent(&consent, &topic, statement.as_deref())?;
    let dns = match q.checks.as_deref().unwrap_or("offline") {
        "offline" => false,
        "dns" => true,
        other => {
            return Err(ApiError::invalid_field(
                "/checks",
                format!("checks '{other}' is not one of offline, dns"),
            ))
        }
    };
    Ok(Declaration {
        meta: NewImport {
            source,
            description,
            consent,
            consent_topic: consent_event
                .as_ref()
                .map(|(_, t, _)| t.as_str().to_owned()),
            consent_statement: statement,
            actor,
        },
        consent: consent_event,
        dns,
    })
}

/// How the list was procured: one of [`SOURCES`]; the refused kinds are
/// refused by name, with the guideline that refuses them.
fn provenance(source: Option<&str>) -> Result<String, ApiError> {
    let source = source.map(|s| s.trim().to_lowercase()).ok_or_else(|| {
        ApiError::invalid_field(
            "/source",
            format!(
                "say how this list was procured: source={}",
                SOURCES.join(" | ")
            ),
        )
    })?;
    if REFUSED_SOURCES.contains(&source.as_str()) {
        return Err(ApiError::invalid_field(
            "/source",
            format!(
                "lists that were {source} cannot be imported: the sending guidelines (section 2, \"Mail only your own, \
                 real users\") allow only people who signed up with you or bought from you. Bought, rented, borrowed \
                 and scraped lists are not allowed, however they are labelled."
            ),
        ));
    }
    if !SOURCES.contains(&source.as_str()) {
        return Err(ApiError::invalid_field(
            "/source",
            format!("source '{source}' is not one of {}", SOURCES.join(", ")),
        ));
    }
    Ok(source)
}

/// An optional text field of the declaration, at most `max` characters.
fn label(value: Option<&str>, field: &'static str, max: usize) -> Result<Option<String>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => Label::parse(field, v, max)
            .map(|l| Some(l.into_string()))
            .map_err(|e| ApiError::invalid_field(&format!("/{field}"), e.to_string())),
        None => Ok(None),
    }
}

/// The consent event the import declares for each row, if any: declared
/// consent needs the statement of how and when these people agreed.
fn declared_consent(
    consent: &str,
    topic: &Topic,
    statement: Option<&str>,
) -> Result<Option<(ConsentAction, Topic, String)>, ApiError> {
    let action = match consent {
        "none" => return Ok(None),
        "double_opt_in" => ConsentAction::DoubleOptInConfirmed,
        _ => ConsentAction::OptIn,
    };
    let statement = statement.ok_or_else(|| {
        ApiError::invalid_field(
            "/consent_statement",
            "declared consent needs consent_statement: how and when these people agreed, in words you could show them",
        )
    })?;
    Ok(Some((action, topic.clone(), statement.to_owned())))
}

/// An import that ran to its verdict.
pub struct Finished {
    pub record: ImportRecord,
    /// Nothing could be imported: the import is rejected.
    pub nothing_imported: bool,
}

/// Runs the import of `spooled` into workspace `ws` for `actor`, as
/// `declaration` says, reading it in `declared_charset` when given.
/// Imports of this many rows or more refresh the contacts table's
/// statistics when they end.
const REFRESH_STATISTICS_FROM: u64 = 10_000;

pub async fn run(
    state: &AppState,
    ws: &WorkspaceId,
    actor: String,
    decl: Declaration,
    spooled: std::fs::File,
    declared_charset: Option<String>,
) -> ApiResult<Finished> {
    let (spooled, charset) = spooled_charset(spooled, declared_charset).await?;
    let note = CharsetNote {
        name: charset.encoding.map(|e| e.name().to_ascii_lowercase()),
        guessed: charset.guessed,
    };
    // Read before the import's write transaction opens.
    let known = state.store.attribute_schema(ws).await?;
    let traps = state.store.trap_list().await?;
    let any_suppressions = state.store.any_suppressions().await?;
    let mut session = state.store.begin_import(ws, &decl.meta).await?;
    let context = ReaderContext {
        state: state.clone(),
        known: known.into_iter().map(|(n, t, _)| (n, t)).collect(),
        traps,
        workspace_was_empty: session.existing_contacts == 0,
        dns: decl.dns,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Parsed>(4);
    let reader_task = tokio::task::spawn_blocking(move || match charset.encoding {
        Some(encoding) => read_csv(Decoding::new(spooled, encoding), context, tx),
        None => read_csv(spooled, context, tx),
    });
    let mut intake = Intake::new(any_suppressions);
    let tally = intake
        .take_all(state, &mut session, rx, &decl, &actor)
        .await?;
    reader_task
        .await
        .map_err(|e| ApiError::internal(&format!("the CSV reader stopped: {e}")))?;
    session.consent_declared().await?;
    let tally =
        tally.ok_or_else(|| ApiError::internal(&"the CSV reader ended without its tallies"))?;
    intake.log(&session, tally.counts.rows);
    let rows = tally.counts.rows;
    let (verdict, nothing_imported) = verdict(state, &session, intake, *tally, &note);
    let record = finish(session, verdict).await?;
    if rows >= REFRESH_STATISTICS_FROM {
        // A large import changes the contacts table's shape: the planner's
        // statistics (and the sample size of estimated counts on
        // PostgreSQL) follow at once, not at the next automatic analysis.
        let store = state.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.refresh_contact_statistics().await {
                tracing::warn!(error = %e, "refreshing the contacts table's statistics failed");
            }
        });
    }
    Ok(Finished {
        record,
        nothing_imported,
    })
}

/// Stores the verdict and ends the import's transaction.
async fn finish(session: ImportSession, verdict: ImportVerdict) -> ApiResult<ImportRecord> {
    session.finish(verdict).await?.map_err(|errors| {
        ApiError::conflict(
            "concurrent-change",
            format!(
                "{} attribute types were fixed by a concurrent request; import again",
                errors.len()
            ),
        )
    })
}

/// The spooled file's encoding, worked out on a blocking thread; the file
/// is handed back rewound.
async fn spooled_charset(
    spooled: std::fs::File,
    declared_charset: Option<String>,
) -> ApiResult<(std::fs::File, Charset)> {
    tokio::task::spawn_blocking(move || {
        let mut spooled = spooled;
        detect_charset(&mut spooled, declared_charset.as_deref()).map(|c| (spooled, c))
    })
    .await
    .map_err(|e| ApiError::internal(&format!("the charset check stopped: {e}")))?
}

/// What the writer's side counts: what DNS, the suppression lists and the
/// write add to the reader's tallies, the rejected rows and where the time
/// went.
struct Intake {
    counts: ImportCounts,
    /// Verdict counts of rows the reader counted and DNS then found invalid.
    found_invalid: ImportCounts,
    rejects: String,
    /// Rejected rows by the kind of their reason, for an import that
    /// stored nothing.
    reasons: HashMap<String, u64>,
    any_suppressions: bool,
    /// Waiting for rows, checks, suppression look-ups, writes.
    timing: [Duration; 4],
    mark: Instant,
}

impl Intake {
    fn new(any_suppressions: bool) -> Self {
        Self {
            counts: ImportCounts::default(),
            found_invalid: ImportCounts::default(),
            rejects: String::from("line,email,reason\n"),
            reasons: HashMap::new(),
            any_suppressions,
            timing: [Duration::ZERO; 4],
            mark: Instant::now(),
        }
    }

    /// Counts and lists a rejected row.
    fn reject(&mut self, line: u64, email: &str, reason: &str) {
        self.counts.rejected += 1;
        let kind: String = reason
            .split(['(', ':'])
            .next()
            .unwrap_or(reason)
            .trim()
            .chars()
            .take(80)
            .collect();
        if self.reasons.len() < 100 || self.reasons.contains_key(&kind) {
            *self.reasons.entry(kind).or_default() += 1;
        }
        if self.counts.rejected <= MAX_LISTED_REJECTS {
            let short = |t: &str| t.chars().take(300).collect::<String>();
            self.rejects.push_str(&format!(
                "{line},{},{}\n",
                csv_field(&short(email)),
                csv_field(&short(reason))
            ));
        }
    }

    /// Every batch the reader sends, until it is done: its tallies.
    async fn take_all(
        &mut self,
        state: &AppState,
        session: &mut ImportSession,
        mut rx: tokio::sync::mpsc::Receiver<Parsed>,
        decl: &Declaration,
        actor: &str,
    ) -> ApiResult<Option<Box<Tally>>> {
        let mut tally = None;
        while let Some(msg) = rx.recv().await {
            self.lap(0);
            match msg {
                Parsed::Batch(batch) => self.take(state, session, batch, decl, actor).await?,
                Parsed::Done(t) => tally = Some(t),
                Parsed::Fatal(e) => return Err(e),
            }
        }
        Ok(tally)
    }

    /// Time since the last mark goes to step `i`.
    fn lap(&mut self, i: usize) {
        self.timing[i] += self.mark.elapsed();
        self.mark = Instant::now();
    }

    /// One batch from the reader: DNS where asked, the suppression
    /// look-ups, the write, and the consent it declares.
    async fn take(
        &mut self,
        state: &AppState,
        session: &mut ImportSession,
        batch: Batch,
        decl: &Declaration,
        actor: &str,
    ) -> ApiResult<()> {
        for (line, email, reason) in &batch.rejected {
            self.reject(*line, email, reason);
        }
        let (items, lines) = self.check_dns(state, batch).await;
        self.lap(1);
        let (here, elsewhere) = if self.any_suppressions {
            let hashes: Vec<String> = items.iter().filter_map(|i| i.email_hash.clone()).collect();
            session.suppressed(&hashes).await?
        } else {
            Default::default()
        };
        self.lap(2);
        self.counts.suppressed_here += here.len() as u64;
        self.counts.suppressed_elsewhere += elsewhere.len() as u64;
        let (outcomes, errors) = session.write(&items).await?;
        for e in errors {
            let (line, email) = &lines[e.index];
            let reason = match e.problem {
                BatchItemProblem::Attribute(a) => a.to_string(),
                BatchItemProblem::Conflict(c) => c,
            };
            self.reject(*line, email, &reason);
        }
        for o in &outcomes {
            match o.status {
                sendwell_store::UpsertStatus::Created => self.counts.created += 1,
                sendwell_store::UpsertStatus::Updated => self.counts.updated += 1,
            }
        }
        self.counts.imported += outcomes.len() as u64;
        self.lap(3);
        if let Some(consent) = &decl.consent {
            let events = consent_events(session, decl, consent, actor, &outcomes, &lines);
            session.record_consent(events).await?;
        }
        Ok(())
    }

    /// The batch's rows with DNS asked about their domains where the reader
    /// kept the offline checks for it; rows DNS finds invalid are rejected.
    /// The rows to write, and each one's line and address.
    async fn check_dns(
        &mut self,
        state: &AppState,
        batch: Batch,
    ) -> (Vec<ContactInput>, Vec<(u64, String)>) {
        let mut items = Vec::with_capacity(batch.ready.len());
        let mut lines = Vec::with_capacity(batch.ready.len());
        for mut row in batch.ready {
            if let Some(before) = row.check.take() {
                if let Some(domain) = before.domain.as_deref() {
                    let check = before
                        .clone()
                        .with_dns(&state.resolver().resolve(domain).await.answer);
                    if check.verdict == Verdict::Invalid {
                        self.reject(row.line, &row.email, &check_reason(&check));
                        self.found_invalid.count_verdict(&before);
                        self.found_invalid.invalid += 1;
                        continue;
                    }
                    if check.verdict != before.verdict {
                        row.input.address = Some(crate::address::stamp(&check));
                    }
                }
            }
            items.push(row.input);
            lines.push((row.line, row.email));
        }
        (items, lines)
    }

    /// Where the importing request spent its time, for the `rows` the
    /// reader read.
    fn log(&self, session: &ImportSession, rows: u64) {
        let ms = |d: Duration| d.as_millis() as u64;
        tracing::info!(
            import = %session.id,
            rows,
            waiting_for_rows_ms = ms(self.timing[0]),
            checks_ms = ms(self.timing[1]),
            suppression_lookups_ms = ms(self.timing[2]),
            writes_ms = ms(self.timing[3]),
            "import read; times are where the importing request spent its time"
        );
    }
}

/// The consent the import declares, as ledger events for the contacts it
/// wrote (`lines`: each written row's line and address).
fn consent_events(
    session: &ImportSession,
    decl: &Declaration,
    (action, topic, statement): &(ConsentAction, Topic, String),
    actor: &str,
    outcomes: &[sendwell_store::UpsertOutcome],
    lines: &[(u64, String)],
) -> Vec<NewConsentEvent> {
    outcomes
        .iter()
        .map(|o| NewConsentEvent {
            contact_id: o.id.clone(),
            action: *action,
            topic: topic.clone(),
            method: ConsentMethod::Import,
            actor: actor.to_owned(),
            evidence: Evidence {
                declaration: Some(format!(
                    "{statement} (declared with import {} from source {}, line {})",
                    session.id, decl.meta.source, lines[o.index].0
                )),
                ..Evidence::default()
            },
        })
        .collect()
}

/// The encoding the file was read in, for the report.
struct CharsetNote {
    name: Option<String>,
    guessed: bool,
}

/// The import's verdict from the reader's and the writer's counts, and
/// whether it stored nothing (and so is rejected whatever its score).
fn verdict(
    state: &AppState,
    session: &ImportSession,
    intake: Intake,
    tally: Tally,
    charset: &CharsetNote,
) -> (ImportVerdict, bool) {
    let Tally {
        mut counts,
        domains,
        ..
    } = tally;
    counts.add(&intake.counts);
    counts.take_back(&intake.found_invalid, intake.found_invalid.invalid);
    let context = score_context(session, &counts, &domains);
    // What other workspaces suppress is the operator's to know: the
    // workspace's score, status and signals are worked out without it (any
    // threshold on it could be probed one address at a time by a tenant
    // with a second workspace), and the operator sees what it would change.
    let own_counts = ImportCounts {
        suppressed_elsewhere: 0,
        ..counts.clone()
    };
    let assessment = assess(&own_counts, context, state.thresholds());
    let with_others = assess(&counts, context, state.thresholds());
    let counts_json = counts_report(&counts, &with_others, charset);
    let rejects = rejects_csv(intake.rejects, counts.rejected);
    let mut signals = serde_json::to_value(&assessment.signals).unwrap_or(Value::Null);
    let nothing = counts.imported == 0;
    let (status, score) = if nothing {
        let detail = nothing_imported(&counts, &intake.reasons, session);
        if let Value::Array(list) = &mut signals {
            list.insert(
                0,
                serde_json::json!({"code": "nothing_imported", "share": 1.0, "points": 100.0, "detail": detail}),
            );
        }
        ("rejected".to_owned(), 0)
    } else {
        (
            assessment.status.as_str().to_owned(),
            i64::from(assessment.score),
        )
    };
    let verdict = ImportVerdict {
        status,
        score,
        counts: counts_json,
        signals,
        rejects_csv: rejects,
    };
    (verdict, nothing)
}

/// What the score weighs the counts against: the workspace's size, and
/// the share of the checked rows in the commonest domain.
fn score_context(
    session: &ImportSession,
    counts: &ImportCounts,
    domains: &HashMap<String, u64>,
) -> Context {
    let top = domains.values().max().copied().unwrap_or(0);
    Context {
        existing_contacts: session.existing_contacts,
        top_domain_share: if counts.checked == 0 {
            0.0
        } else {
            top as f64 / counts.checked as f64
        },
    }
}

/// The listed rejected rows, and a last line counting those not listed.
fn rejects_csv(mut rejects: String, rejected: u64) -> String {
    if rejected > MAX_LISTED_REJECTS {
        rejects.push_str(&format!(
            ",,\"and {} more rejected rows, counted but not listed\"\n",
            rejected - MAX_LISTED_REJECTS
        ));
    }
    rejects
}

/// The counts as the import's report keeps them: with what other
/// workspaces' suppressions would change (for the operator's eyes only)
/// and the charset the file was read in.
fn counts_report(
    counts: &ImportCounts,
    with_others: &sendwell_screen::score::Assessment,
    charset: &CharsetNote,
) -> Value {
    let mut counts_json = serde_json::to_value(counts).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut counts_json {
        let elsewhere: Vec<_> = with_others
            .signals
            .iter()
            .filter(|s| s.code == "suppressed_elsewhere")
            .collect();
        m.insert(
            CROSS_TENANT.into(),
            serde_json::json!({
                "suppressed_elsewhere": counts.suppressed_elsewhere,
                "score": with_others.score,
                "status": with_others.status.as_str(),
                "signals": elsewhere,
            }),
        );
        m.insert(
            "charset".into(),
            Value::from(charset.name.clone().unwrap_or_else(|| "utf-8".to_owned())),
        );
        if charset.guessed {
            m.insert("charset_guessed".into(), Value::from(true));
        }
    }
    counts_json
}

/// Why an import stored nothing: an empty file, or the commonest reasons
/// its rows were rejected.
fn nothing_imported(
    counts: &ImportCounts,
    reasons: &HashMap<String, u64>,
    session: &ImportSession,
) -> String {
    if counts.rows == 0 {
        return "The file has a header but no rows.".to_owned();
    }
    let mut top: Vec<(&String, &u64)> = reasons.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let why: Vec<String> = top
        .iter()
        .take(5)
        .map(|(r, n)| format!("{r} ({n} rows)"))
        .collect();
    format!(
        "No row could be imported: {}. GET /v1/imports/{}/rejects.csv lists each row with its reason.",
        why.join("; "),
        session.id
    )
}
