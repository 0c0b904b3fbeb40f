//! The delivery worker: claims a batch of due deliveries under a lease,
//! checks once more that each may still go (the workspace may send, the
//! contact is not suppressed or unsubscribed since queueing), renders it
//! with the compliance renderer, signs it with the sender domain's DKIM
//! keys, and hands it to the transport with a VERP return path naming the
//! delivery. Every claimed delivery ends in a recorded state: delivered,
//! deferred (with the time of the next attempt), bounced, failed, skipped,
//! held or cancelled.
//!
//! Retries follow RFC 5321 §4.5.4.1: transient failures wait, twice as
//! long each time (from `retry_base`, at most four hours), until
//! `give_up_after` from the first attempt; then the delivery fails with the
//! last reply kept.
//!
//! `run_once` does one batch and says whether there was work, so tests can
//! step the worker; `run` loops until cancelled.

use crate::dkim_keys::signing_domain;
use crate::smtp::client::Reply;
use crate::state::AppState;
use crate::transport::{Outgoing, SendResult, SmtpTransport, TransportKind};
use sendwell_core::gate;
use sendwell_core::SendingState;
use sendwell_core::{ContactId, MessageId, MessageState, Timestamp, WorkspaceId};
use sendwell_mail::dkim::DkimSigner;
use sendwell_mail::template::{CompileInput, CompiledTemplate, TemplateError, TemplateSource};
use sendwell_mail::{
    render_mail, Envelope, MailLinks, Mailbox, Recipient, RenderError, RenderedMail,
};
use sendwell_store::{
    AudienceSpec, ClaimedDelivery, DeliveryOutcome, MailTarget, MessageRecord, ReplyRecord,
    SenderDomain, StoreError, Workspace,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Prepared messages kept; older ones are compiled again when needed.
const CACHE_LIMIT: usize = 64;
/// How long a workspace's sender domains and keys are kept before reading again.
const KEYS_TTL: Duration = Duration::from_secs(30);
/// How often a busy worker looks for held mail it may release.
const RELEASE_EVERY: Duration = Duration::from_secs(5);
/// The longest pause between two attempts.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(4 * 3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This many deliveries were processed.
    Worked(usize),
    /// Nothing was due.
    Idle,
}

/// A message ready to render: compiled once, used for every recipient.
pub struct Prepared {
    pub message: MessageRecord,
    pub template: CompiledTemplate,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
}

/// Compiles a message's template against the workspace's attribute names.
pub fn compile_message(
    message: &MessageRecord,
    attributes: &[String],
) -> Result<CompiledTemplate, TemplateError> {
    let source: TemplateSource =
        serde_json::from_value(message.template.clone()).map_err(|e| TemplateError {
            field: "template",
            message: format!("the stored template cannot be read: {e}"),
            line: None,
            column: None,
        })?;
    CompiledTemplate::compile(&CompileInput {
        source: &source,
        subject: &message.subject,
        from_name: message.from_name.as_deref(),
        attributes,
    })
}

pub fn prepare(message: MessageRecord, attributes: &[String]) -> Result<Prepared, TemplateError> {
    let template = compile_message(&message, attributes)?;
    let from = Mailbox {
        name: message.from_name.clone(),
        address: message.from_address.clone(),
    };
    let reply_to = message.reply_to.clone().map(|address| Mailbox {
        name: None,
        address,
    });
    Ok(Prepared {
        message,
        template,
        from,
        reply_to,
    })
}

/// The contact one mail is rendered for.
pub struct MailContact<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub attributes: &'a serde_json::Map<String, serde_json::Value>,
}

/// Renders a prepared message for one contact, with the message's tracking
/// settings (`tracked`) or none, as the content screen reads it.
pub fn render_for(
    state: &AppState,
    workspace: &Workspace,
    prepared: &Prepared,
    contact: &MailContact<'_>,
    tracked: bool,
    message_id: &str,
    now: Timestamp,
) -> Result<RenderedMail, RenderError> {
    render_signed(
        state, workspace, prepared, contact, tracked, false, message_id, now,
    )
}

/// [`render_for`], with the links of a preview (`preview`: signed with a
/// key that verifies nowhere) or of a real mail.
#[allow(clippy::too_many_arguments)]
pub fn render_signed(
    state: &AppState,
    workspace: &Workspace,
    prepared: &Prepared,
    contact: &MailContact<'_>,
    tracked: bool,
    preview: bool,
    message_id: &str,
    now: Timestamp,
) -> Result<RenderedMail, RenderError> {
    let message = &prepared.message;
    let address = workspace.physical_address.clone().unwrap_or_default();
    let host = state.public_host();
    let bounce_domain = state.bounce_domain();
    let envelope = Envelope {
        from: &prepared.from,
        reply_to: prepared.reply_to.as_ref(),
        kind: message.kind,
        topic: &message.topic,
        workspace_id: workspace.id.as_str(),
        workspace_name: &workspace.name,
        physical_address: &address,
        host: &host,
        mailto_domain: &bounce_domain,
        track_clicks: tracked && message.track_clicks,
        track_opens: tracked && message.track_opens,
        date: now,
        limits: state.delivery().render,
    };
    let links = MailLinks {
        signer: if preview {
            state.preview_links()
        } else {
            state.links()
        },
        base_url: state.public_url(),
        workspace: workspace.id.as_str(),
        contact: contact.id,
        message: message.id.as_str(),
        now,
    };
    let recipient = Recipient {
        contact_id: contact.id,
        email: contact.email,
        name: contact.name,
        external_id: contact.external_id,
        attributes: contact.attributes,
        data: message.data.as_ref().and_then(|d| d.as_object()),
    };
    render_mail(
        &prepared.template,
        &envelope,
        &recipient,
        &links,
        message_id,
    )
}

/// A contact's data, owned, for a render on another thread.
#[derive(Clone)]
pub struct OwnedContact {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl OwnedContact {
    /// A stored contact's data, mailed to `email`.
    pub fn of(c: &sendwell_store::Contact, email: String) -> Self {
        Self {
            id: c.id.to_string(),
            email,
            name: c.name.clone(),
            external_id: c.external_id.clone(),
            attributes: c.attributes.clone(),
        }
    }
}

/// [`render_for`] on a blocking thread: a render may take up to its time
/// limit, and the runtime's threads serve every other request meanwhile.
pub async fn render_off_runtime(
    state: &AppState,
    workspace: &Workspace,
    prepared: Arc<Prepared>,
    contact: OwnedContact,
    tracked: bool,
    message_id: String,
    now: Timestamp,
) -> Result<RenderedMail, RenderError> {
    render_off_runtime_as(
        state, workspace, prepared, contact, tracked, false, message_id, now,
    )
    .await
}

/// [`render_off_runtime`], for a preview when `preview`.
#[allow(clippy::too_many_arguments)]
pub async fn render_off_runtime_as(
    state: &AppState,
    workspace: &Workspace,
    prepared: Arc<Prepared>,
    contact: OwnedContact,
    tracked: bool,
    preview: bool,
    message_id: String,
    now: Timestamp,
) -> Result<RenderedMail, RenderError> {
    let turn = state.api_render_turn().await;
    let state = state.clone();
    let workspace = workspace.clone();
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let person = MailContact {
            id: &contact.id,
            email: &contact.email,
            name: contact.name.as_deref(),
            external_id: contact.external_id.as_deref(),
            attributes: &contact.attributes,
        };
        render_signed(
            &state,
            &workspace,
            &prepared,
            &person,
            tracked,
            preview,
            &message_id,
            now,
        )
    })
    .await
    .unwrap_or_else(|e| {
        Err(RenderError {
            part: "template",
            reason: format!("the render task failed: {e}"),
            exceeded: None,
            crashed: true,
        })
    })
}

/// A message rendered for one stored contact, as its mail would be (its
/// tracking settings applied when `tracked`). `Ok(None)` when the contact
/// no longer exists or has no address.
pub async fn render_for_contact(
    state: &AppState,
    workspace: &Workspace,
    message: &MessageRecord,
    contact: &sendwell_core::ContactId,
    tracked: bool,
    preview: bool,
) -> Result<Option<RenderedMail>, crate::error::ApiError> {
    let Some(c) = state.store.contact(&workspace.id, contact).await? else {
        return Ok(None);
    };
    let Some(email) = c.email.clone() else {
        return Ok(None);
    };
    let schema = state.store.schema(&workspace.id).await?;
    let names: Vec<String> = schema.iter().map(|(n, _)| n.as_str().to_owned()).collect();
    let prepared = prepare(message.clone(), &names)
        .map_err(|e| crate::error::ApiError::invalid_field("/template", e.to_string()))?;
    let now = state.store.now();
    let person = OwnedContact::of(&c, email);
    let message_id = format!("preview.{}@{}", message.id, state.public_host());
    render_off_runtime_as(
        state,
        workspace,
        Arc::new(prepared),
        person,
        tracked,
        preview,
        message_id,
        now,
    )
    .await
    .map(Some)
    .map_err(|e| crate::error::ApiError::invalid_field("/template", e.to_string()))
}

/// A workspace's sender domains, and the signers made from their keys.
struct WorkspaceKeys {
    loaded: Instant,
    domains: Vec<SenderDomain>,
    signers: HashMap<String, Result<Arc<Vec<DkimSigner>>, String>>,
}

/// One mail to render: the delivery's index in its batch, its Message-ID
/// and its contact.
struct RenderJob {
    index: usize,
    message_id: String,
    target: MailTarget,
}

/// What rendering one job came to: its index, its recipient, and the
/// signed mail with its subject or the outcome that ends the delivery.
type Rendered = (usize, String, Result<(Vec<u8>, String), DeliveryOutcome>);

/// Renders and signs `jobs` (on a blocking thread). A template that runs
/// out of time for one contact fails the rest of its batch at once rather
/// than spending the limit again on each.
fn render_jobs(
    state: &AppState,
    workspace: &Workspace,
    prepared: &Prepared,
    signers: Option<&Vec<DkimSigner>>,
    jobs: Vec<RenderJob>,
    now: Timestamp,
) -> Vec<Rendered> {
    let mut out = Vec::with_capacity(jobs.len());
    let mut too_slow: Option<String> = None;
    for job in jobs {
        let email = job.target.email.clone().unwrap_or_default();
        let failed = |reason: String| DeliveryOutcome::Failed {
            reason,
            reply: None,
        };
        if let Some(reason) = &too_slow {
            out.push((job.index, email, Err(failed(reason.clone()))));
            continue;
        }
        let result = match render_job(state, workspace, prepared, &job, &email, now) {
            Ok(mail) => sign_rendered(signers, mail, now),
            Err(e) => {
                if e.crashed {
                    tracing::error!(message = %prepared.message.id, "delivery worker: the template engine panicked; the delivery fails");
                }
                let reason = e.to_string();
                if e.exceeded == Some(sendwell_mail::Exceeded::Time) {
                    too_slow = Some(reason.clone());
                }
                Err(reason)
            }
        };
        out.push((job.index, email, result.map_err(failed)));
    }
    out
}

/// Renders one job's mail for its contact, mailed to `email`.
fn render_job(
    state: &AppState,
    workspace: &Workspace,
    prepared: &Prepared,
    job: &RenderJob,
    email: &str,
    now: Timestamp,
) -> Result<RenderedMail, RenderError> {
    let person = MailContact {
        id: job.target.contact_id.as_str(),
        email,
        name: job.target.name.as_deref(),
        external_id: job.target.external_id.as_deref(),
        attributes: &job.target.attributes,
    };
    render_for(
        state,
        workspace,
        prepared,
        &person,
        true,
        &job.message_id,
        now,
    )
}

/// The rendered mail signed with the sender domain's keys (as it is when
/// there are none), and its subject; why signing failed otherwise.
fn sign_rendered(
    signers: Option<&Vec<DkimSigner>>,
    mail: RenderedMail,
    now: Timestamp,
) -> Result<(Vec<u8>, String), String> {
    let raw = match signers {
        Some(s) => sendwell_mail::dkim::sign(s, &mail.raw, now)
            .map_err(|e| format!("DKIM signing failed: {e}"))?,
        None => mail.raw,
    };
    Ok((raw, mail.subject))
}

/// A mail rendered and signed, waiting for the transport.
struct Ready {
    index: usize,
    outgoing: Outgoing,
}

pub struct DeliveryWorker {
    state: AppState,
    /// Names this worker's leases.
    owner: String,
    transport: Option<Arc<SmtpTransport>>,
    cache: Mutex<HashMap<MessageId, Arc<Prepared>>>,
    keys: Mutex<HashMap<WorkspaceId, Arc<Mutex<WorkspaceKeys>>>>,
    /// Per-workspace rate limit: the earliest time the next mail may go.
    pace: Mutex<HashMap<WorkspaceId, Instant>>,
}

/// The pause before the attempt after `attempts` attempts.
pub fn retry_pause(base: Duration, attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    base.saturating_mul(1u32 << doublings.min(20))
        .min(MAX_RETRY_PAUSE)
}

fn record(reply: &Reply) -> ReplyRecord {
    ReplyRecord {
        code: reply.code,
        enhanced: reply.enhanced.clone(),
        line: reply.to_line(),
    }
}

/// The domain of an address, in lower case; empty when there is no `@`.
fn lowercase_domain(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The deliveries at `indexes` that may reach their person now; the
/// others are postponed to the first moment their local hours allow.
fn outside_hours(
    hours: &crate::schedule::LocalHours,
    claimed: &[ClaimedDelivery],
    indexes: &[usize],
    targets: &HashMap<ContactId, sendwell_store::MailTarget>,
    now: Timestamp,
    outcomes: &mut [Option<DeliveryOutcome>],
) -> Vec<usize> {
    // A minute's grace: a delivery released at its window's opening is open.
    let grace = now.millis() + 60_000;
    indexes
        .iter()
        .copied()
        .filter(|&i| {
            let zone = targets
                .get(&claimed[i].contact_id)
                .and_then(|t| t.attributes.get("timezone"))
                .and_then(|z| z.as_str());
            let open = hours.first_open(zone, now);
            if open.millis() <= grace {
                return true;
            }
            outcomes[i] = Some(DeliveryOutcome::Postponed {
                reason: format!(
                    "local hours: the delivery window or quiet hours hold it until {}",
                    open.to_rfc3339()
                ),
                until: open,
            });
            false
        })
        .collect()
}

impl DeliveryWorker {
    pub fn new(state: AppState) -> Self {
        let settings = &state.delivery().transport;
        let transport = match settings.kind {
            TransportKind::Capture => None,
            TransportKind::Smtp | TransportKind::Mx => Some(Arc::new(SmtpTransport::new(
                settings.clone(),
                Some(state.resolver_arc()),
            ))),
        };
        let owner = format!(
            "w-{}",
            sendwell_core::secret::to_hex(&sendwell_core::secret::random_bytes::<6>())
        );
        Self {
            state,
            owner,
            transport,
            cache: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
            pace: Mutex::new(HashMap::new()),
        }
    }

    /// The name this worker's leases carry.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs `pipelines` batch loops until cancelled, so one batch's database
    /// work overlaps another's SMTP conversation. A loop that ends other than
    /// by cancellation (a panic) is logged and started again: one bad batch
    /// must not stop delivery for everyone.
    pub async fn run(self, stop: CancellationToken, idle_ms: u64) {
        let pipelines = self.state.delivery().pipelines.max(1);
        let me = Arc::new(self);
        let mut loops = tokio::task::JoinSet::new();
        let mut names = HashMap::new();
        let start = |loops: &mut tokio::task::JoinSet<()>, n: usize| {
            let me = me.clone();
            let stop = stop.clone();
            loops
                .spawn(async move { me.run_loop(stop, idle_ms, n).await })
                .id()
        };
        for n in 0..pipelines {
            names.insert(start(&mut loops, n), n);
        }
        while let Some(ended) = loops.join_next_with_id().await {
            let (id, panicked) = match ended {
                Ok((id, ())) => (id, false),
                Err(e) => (e.id(), e.is_panic()),
            };
            let Some(n) = names.remove(&id) else {
                continue;
            };
            me.state.worker_gone(&me.pipeline_name(n));
            if panicked && !stop.is_cancelled() {
                tracing::error!(
                    pipeline = n,
                    "delivery worker: a pipeline crashed; starting it again"
                );
                me.state.metrics().pipeline_restart();
                tokio::select! {
                    _ = stop.cancelled() => continue,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                names.insert(start(&mut loops, n), n);
            }
        }
        if let Some(t) = &me.transport {
            t.close_idle().await;
        }
    }

    fn pipeline_name(&self, n: usize) -> String {
        format!("{}/{n}", self.owner)
    }

    async fn run_loop(&self, stop: CancellationToken, idle_ms: u64, n: usize) {
        let housekeeper = n == 0;
        let name = self.pipeline_name(n);
        self.state.worker_beat(&name);
        let mut last_release: Option<Instant> = None;
        loop {
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                outcome = self.run_once() => outcome,
            };
            self.state.worker_beat(&name);
            if housekeeper {
                if let Err(e) = self.send_test_mails().await {
                    tracing::error!(error = %e, "delivery worker: could not send test mails");
                }
            }
            // Held mail is looked at when idle, and every few seconds while
            // busy, so a reinstated workspace does not wait for a quiet moment.
            let due = last_release.is_none_or(|t| t.elapsed() >= RELEASE_EVERY);
            if housekeeper && (matches!(outcome, Ok(Outcome::Idle)) || due) {
                last_release = Some(Instant::now());
                if let Err(e) = crate::reputation::end_probations(&self.state).await {
                    tracing::error!(error = %e, "delivery worker: could not end probations");
                }
                if let Err(e) = self.release_held().await {
                    tracing::error!(error = %e, "delivery worker: could not release held mail");
                }
                if let Err(e) = crate::schedule::release_due(&self.state).await {
                    tracing::error!(error = %e, "delivery worker: could not queue scheduled sends");
                }
            }
            match outcome {
                Ok(Outcome::Worked(_)) => continue,
                Ok(Outcome::Idle) => {}
                Err(e) => tracing::error!(error = %e, "delivery worker: batch failed; retrying"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.state.queued_notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(idle_ms)) => {}
            }
            self.state.worker_beat(&name);
        }
    }

    /// Sends queued test mails and team confirmations through this worker's
    /// transport (the capture transport keeps them). They are not
    /// deliveries: no retries, no stats, no rates; a failure is recorded
    /// with its reason and the team sends again.
    pub async fn send_test_mails(&self) -> Result<usize, StoreError> {
        let store = &self.state.store;
        let mails = store.claim_test_mails(20).await?;
        if mails.is_empty() {
            return Ok(0);
        }
        let Some(transport) = &self.transport else {
            for m in &mails {
                store.finish_test_mail(&m.id, "captured", None).await?;
            }
            return Ok(mails.len());
        };
        let return_path = format!("no-reply@{}", self.state.bounce_domain());
        let outgoing = mails
            .iter()
            .map(|m| Outgoing {
                return_path: return_path.clone(),
                recipient: m.recipient.clone(),
                domain: lowercase_domain(&m.recipient),
                data: m.raw.as_bytes().to_vec(),
            })
            .collect();
        let results = transport.send_all(outgoing).await;
        for (m, result) in mails.iter().zip(results) {
            let (state, reply) = match result {
                SendResult::Accepted(r) => ("sent", format!("{} {}", r.code, r.text)),
                SendResult::Rejected(r) => ("failed", format!("{} {}", r.code, r.text)),
                SendResult::Transient { reply, reason, .. } => (
                    "failed",
                    match reply {
                        Some(r) => format!("{reason}: {} {}", r.code, r.text),
                        None => reason,
                    },
                ),
            };
            store.finish_test_mail(&m.id, state, Some(&reply)).await?;
        }
        Ok(mails.len())
    }

    async fn prepared(&self, id: &MessageId) -> Result<Result<Arc<Prepared>, String>, StoreError> {
        if let Some(p) = self.cache.lock().ok().and_then(|c| c.get(id).cloned()) {
            return Ok(Ok(p));
        }
        let store = &self.state.store;
        let Some(message) = store.message_by_id(id).await? else {
            return Ok(Err(format!("message {id} no longer exists")));
        };
        let schema = store.schema(&message.workspace_id).await?;
        let names: Vec<String> = schema.iter().map(|(n, _)| n.as_str().to_owned()).collect();
        match prepare(message, &names) {
            Ok(p) => {
                let p = Arc::new(p);
                if let Ok(mut cache) = self.cache.lock() {
                    if cache.len() >= CACHE_LIMIT {
                        cache.clear();
                    }
                    cache.insert(id.clone(), p.clone());
                }
                Ok(Ok(p))
            }
            Err(e) => Ok(Err(e.to_string())),
        }
    }

    /// Returns held mail to the queue for every workspace that may send
    /// again, and cancels it for every workspace whose sending was withdrawn.
    pub async fn release_held(&self) -> Result<u64, StoreError> {
        let store = &self.state.store;
        let mut released = 0;
        for ws in store.workspaces_with_held().await? {
            let Some(workspace) = store.workspace(&ws).await? else {
                continue;
            };
            if workspace.state == SendingState::Withdrawn {
                store
                    .cancel_pending(&ws, "cancelled: the workspace's sending was withdrawn")
                    .await?;
            } else {
                let status = gate::evaluate(workspace.gate_input(store.now()));
                if status.can_send() {
                    released += store.release_held(&ws, false).await?;
                } else if status.can_send_transactional() {
                    released += store.release_held(&ws, true).await?;
                }
            }
        }
        Ok(released)
    }

    /// The signers for mail from `from_domain`, or why there are none.
    /// `Ok(None)`: no key, and none is needed (capture, or checks skipped).
    async fn signers_for(
        &self,
        ws: &WorkspaceId,
        from_domain: &str,
    ) -> Result<Result<Option<Arc<Vec<DkimSigner>>>, String>, StoreError> {
        let entry = {
            let map = self.keys.lock().ok();
            map.and_then(|m| m.get(ws).cloned())
        };
        let entry = match entry {
            Some(e) if e.lock().is_ok_and(|k| k.loaded.elapsed() < KEYS_TTL) => e,
            _ => {
                let domains = self.state.store.sender_domains(ws).await?;
                let e = Arc::new(Mutex::new(WorkspaceKeys {
                    loaded: Instant::now(),
                    domains,
                    signers: HashMap::new(),
                }));
                if let Ok(mut m) = self.keys.lock() {
                    m.insert(ws.clone(), e.clone());
                }
                e
            }
        };
        let Ok(mut keys) = entry.lock() else {
            return Ok(Err("the key cache is unusable".to_owned()));
        };
        let required = self.state.requires_verified_domain();
        let Some(domain) = signing_domain(&keys.domains, from_domain, required).cloned() else {
            return Ok(if required {
                Err(format!(
                    "{from_domain} is not a verified sender domain of this workspace: add it with \
                     POST /v1/sender-domains, publish its DKIM record and verify it"
                ))
            } else {
                Ok(None)
            });
        };
        let sealer = self.state.sealer();
        let signers = keys
            .signers
            .entry(domain.domain.clone())
            .or_insert_with(|| sealer.signers(&domain).map(Arc::new))
            .clone();
        Ok(signers.map(Some))
    }

    /// Waits out the workspace's rate limit: the answer is when this mail
    /// may go, if not now.
    fn paced(&self, ws: &WorkspaceId) -> Option<Instant> {
        let rate = self.state.delivery().workspace_rate?;
        let gap = Duration::from_secs(1) / rate.max(1);
        let mut pace = self.pace.lock().ok()?;
        let now = Instant::now();
        let next = pace.entry(ws.clone()).or_insert(now);
        if *next > now + Duration::from_secs(1) {
            return Some(*next);
        }
        *next = (*next).max(now) + gap;
        None
    }

    /// Claims one batch of due deliveries and records an outcome for each.
    pub async fn run_once(&self) -> Result<Outcome, StoreError> {
        let store = &self.state.store;
        let settings = self.state.delivery();
        let claimed = store
            .claim_deliveries(&self.owner, settings.batch, settings.lease_ms)
            .await?;
        if claimed.is_empty() {
            return Ok(Outcome::Idle);
        }
        let now = store.now();
        let mut outcomes: Vec<Option<DeliveryOutcome>> = vec![None; claimed.len()];
        let ready = self.render_batch(&claimed, now, &mut outcomes).await?;
        let refused = if ready.is_empty() {
            Vec::new()
        } else {
            self.hand_over(ready, &claimed, now, &mut outcomes).await
        };
        let finished: Vec<(ClaimedDelivery, DeliveryOutcome)> = claimed
            .into_iter()
            .zip(outcomes)
            .map(|(d, o)| {
                let o = o.unwrap_or(DeliveryOutcome::Failed {
                    reason: "no outcome was reached (a bug)".to_owned(),
                    reply: None,
                });
                (d, o)
            })
            .collect();
        let n = finished.len();
        store.record_outcomes(&self.owner, &finished).await?;
        self.after_outcomes(&finished, refused).await?;
        Ok(Outcome::Worked(n))
    }

    /// Renders the claimed deliveries, message by message (one query for
    /// the contacts of each), into mails ready for the transport; the
    /// deliveries that go no further get their outcome in `outcomes`.
    async fn render_batch(
        &self,
        claimed: &[ClaimedDelivery],
        now: Timestamp,
        outcomes: &mut [Option<DeliveryOutcome>],
    ) -> Result<Vec<Ready>, StoreError> {
        let mut ready: Vec<Ready> = Vec::new();
        let mut workspaces: HashMap<WorkspaceId, Option<Workspace>> = HashMap::new();
        let mut by_message: HashMap<MessageId, Vec<usize>> = HashMap::new();
        for (i, d) in claimed.iter().enumerate() {
            by_message.entry(d.message_id.clone()).or_default().push(i);
        }
        for (message_id, indexes) in by_message {
            let first = &claimed[indexes[0]];
            if !workspaces.contains_key(&first.workspace_id) {
                let ws = self.state.store.workspace(&first.workspace_id).await?;
                workspaces.insert(first.workspace_id.clone(), ws);
            }
            let workspace = workspaces.get(&first.workspace_id).and_then(Option::as_ref);
            if let Some(stopped) = self.stopped(&message_id).await? {
                for i in indexes {
                    outcomes[i] = Some(stopped.clone());
                }
                continue;
            }
            let to_render = match self.may_send(workspace, first.kind, now) {
                Ok(w) => self
                    .prepared(&message_id)
                    .await?
                    .map(|p| (w, p))
                    .map_err(|reason| DeliveryOutcome::Failed {
                        reason,
                        reply: None,
                    }),
                Err(outcome) => Err(outcome),
            };
            match to_render {
                Ok((w, prepared)) => {
                    self.render_message(w, &prepared, claimed, &indexes, now, outcomes, &mut ready)
                        .await?;
                }
                Err(outcome) => {
                    for i in indexes {
                        outcomes[i] = Some(outcome.clone());
                    }
                }
            }
        }
        Ok(ready)
    }

    /// The outcome of a message's claimed deliveries when the workspace
    /// paused or cancelled it since they were queued (a retry falling due,
    /// or a claim made just before the pause). Read fresh for every batch:
    /// the prepared message is cached.
    async fn stopped(&self, id: &MessageId) -> Result<Option<DeliveryOutcome>, StoreError> {
        Ok(match self.state.store.message_state(id).await? {
            Some(MessageState::Paused) => Some(DeliveryOutcome::Paused {
                reason: "paused by the workspace".to_owned(),
            }),
            Some(MessageState::Cancelled) => Some(DeliveryOutcome::Cancelled {
                reason: "cancelled by the workspace".to_owned(),
            }),
            _ => None,
        })
    }

    /// Whether a workspace may send mail of `kind` now: the outcome of its
    /// deliveries when it may not (gone, withdrawn, or held by the gate).
    fn may_send<'w>(
        &self,
        workspace: Option<&'w Workspace>,
        kind: sendwell_core::MessageKind,
        now: Timestamp,
    ) -> Result<&'w Workspace, DeliveryOutcome> {
        let Some(w) = workspace else {
            return Err(DeliveryOutcome::Failed {
                reason: "the workspace no longer exists".to_owned(),
                reply: None,
            });
        };
        if w.state == SendingState::Withdrawn {
            return Err(DeliveryOutcome::Cancelled {
                reason: "cancelled: the workspace's sending was withdrawn".to_owned(),
            });
        }
        let status = gate::evaluate(w.gate_input(now));
        let may = if kind == sendwell_core::MessageKind::Transactional {
            status.can_send_transactional()
        } else {
            status.can_send()
        };
        if may {
            return Ok(w);
        }
        let codes: Vec<&str> = status.blockers.iter().map(|b| b.code).collect();
        Err(DeliveryOutcome::Held {
            reason: format!("the workspace may not send now: {}", codes.join(", ")),
        })
    }

    /// What follows recorded outcomes: addresses a server refused for good
    /// are suppressed, webhooks told, the reputation monitor judges what
    /// was sent, and the metrics count each outcome.
    async fn after_outcomes(
        &self,
        finished: &[(ClaimedDelivery, DeliveryOutcome)],
        refused: Vec<(WorkspaceId, String)>,
    ) -> Result<(), StoreError> {
        for (ws, email) in refused {
            if let Ok(address) = sendwell_core::EmailAddress::parse(&email) {
                let hash = self.state.address_hash(&address);
                self.state
                    .store
                    .add_suppression(&ws, &email, &hash, "bounced", "smtp")
                    .await?;
            }
        }
        self.emit_delivery_webhooks(finished).await?;
        let mut judged: Vec<(&WorkspaceId, &MessageId)> = finished
            .iter()
            .filter(|(_, o)| {
                matches!(
                    o,
                    DeliveryOutcome::Delivered { .. } | DeliveryOutcome::Bounced { .. }
                )
            })
            .map(|(d, _)| (&d.workspace_id, &d.message_id))
            .collect();
        judged.sort();
        judged.dedup();
        for (ws, msg) in judged {
            crate::reputation::evaluate(&self.state, ws, msg).await?;
        }
        let metrics = self.state.metrics();
        for (_, o) in finished {
            metrics.outcome(o.state().as_str());
            if let DeliveryOutcome::Deferred {
                domain: Some(domain),
                reply,
                ..
            } = o
            {
                metrics.deferral_reason(
                    domain,
                    reply.as_ref().map(|r| r.code),
                    reply.as_ref().and_then(|r| r.enhanced.as_deref()),
                );
            }
        }
        Ok(())
    }

    /// `delivery` webhooks for the outcomes that end a delivery, for the
    /// workspaces with an endpoint that wants them.
    async fn emit_delivery_webhooks(
        &self,
        finished: &[(ClaimedDelivery, DeliveryOutcome)],
    ) -> Result<(), StoreError> {
        let mut by_ws: HashMap<&WorkspaceId, Vec<serde_json::Value>> = HashMap::new();
        for (d, o) in finished {
            if !matches!(
                o,
                DeliveryOutcome::Delivered { .. }
                    | DeliveryOutcome::Captured { .. }
                    | DeliveryOutcome::Bounced { .. }
                    | DeliveryOutcome::Failed { .. }
            ) {
                continue;
            }
            let reply = match o {
                DeliveryOutcome::Delivered { reply, .. }
                | DeliveryOutcome::Bounced { reply, .. } => Some(reply.line.clone()),
                DeliveryOutcome::Failed { reason, .. } => Some(reason.clone()),
                _ => None,
            };
            by_ws
                .entry(&d.workspace_id)
                .or_default()
                .push(serde_json::json!({
                    "delivery_id": d.id,
                    "message_id": d.message_id.as_str(),
                    "contact_id": d.contact_id.as_str(),
                    "state": o.state(),
                    "attempts": d.attempts,
                    "reply": reply,
                }));
        }
        for (ws, data) in by_ws {
            if self.state.store.wants_webhook(ws, "delivery").await? {
                crate::webhooks::emit(&self.state, ws, "delivery", data).await;
            }
        }
        Ok(())
    }

    /// Renders one message's claimed deliveries (`indexes` into `claimed`)
    /// into `ready`; the ones that go no further get their outcome.
    #[allow(clippy::too_many_arguments)]
    async fn render_message(
        &self,
        workspace: &Workspace,
        prepared: &Arc<Prepared>,
        claimed: &[ClaimedDelivery],
        indexes: &[usize],
        now: Timestamp,
        outcomes: &mut [Option<DeliveryOutcome>],
        ready: &mut Vec<Ready>,
    ) -> Result<(), StoreError> {
        let message = &prepared.message;
        let targets = self
            .mail_targets(workspace, message, claimed, indexes)
            .await?;
        // Quiet hours and the window hold at every claim, not only when the
        // message was queued: a retry, a warm-up deferral, held mail
        // released late or a backlog past the window's end waits too.
        let hours = crate::schedule::LocalHours::of(
            workspace,
            message.kind,
            message.schedule.window.as_ref(),
        );
        let mut indexes = match &hours {
            Some(hours) => outside_hours(hours, claimed, indexes, &targets, now, outcomes),
            None => indexes.to_vec(),
        };
        // Over the warm-up cap: put off to tomorrow, in order. Only what
        // may go now asks for room, so mail held for local hours uses none.
        if !indexes.is_empty() {
            let grant =
                crate::warmup::take(&self.state, workspace, message.kind, indexes.len()).await?;
            let fit = usize::try_from(grant.granted)
                .unwrap_or(usize::MAX)
                .min(indexes.len());
            for (k, i) in indexes[fit..].iter().enumerate() {
                outcomes[*i] = Some(crate::warmup::put_off(&grant, k, now));
            }
            indexes.truncate(fit);
        }
        if indexes.is_empty() {
            return Ok(());
        }
        let indexes = &indexes[..];
        let from_domain = lowercase_domain(&message.from_address);
        let signers = self.signers_for(&workspace.id, &from_domain).await?;
        let jobs = self.plan_renders(
            workspace, claimed, indexes, targets, &signers, now, outcomes,
        );
        if jobs.is_empty() {
            return Ok(());
        }
        let signers = signers.ok().flatten();
        let Some(rendered) = self
            .render_off_thread(workspace, prepared, signers, jobs, now)
            .await
        else {
            for &i in indexes {
                outcomes[i].get_or_insert(DeliveryOutcome::Failed {
                    reason: "rendering failed unexpectedly".to_owned(),
                    reply: None,
                });
            }
            return Ok(());
        };
        let bounce_domain = self.state.bounce_domain();
        for (i, email, result) in rendered {
            let made = result.and_then(|(raw, subject)| {
                self.outgoing(&claimed[i], email, raw, subject, &bounce_domain)
            });
            match made {
                Ok(outgoing) => ready.push(Ready { index: i, outgoing }),
                Err(outcome) => outcomes[i] = Some(outcome),
            }
        }
        Ok(())
    }

    /// The contacts of the deliveries at `indexes` that may still receive
    /// `message`, by contact id.
    async fn mail_targets(
        &self,
        workspace: &Workspace,
        message: &MessageRecord,
        claimed: &[ClaimedDelivery],
        indexes: &[usize],
    ) -> Result<HashMap<ContactId, MailTarget>, StoreError> {
        let spec = AudienceSpec {
            workspace: &workspace.id,
            filter: None,
            kind: message.kind,
            topic: &message.topic,
            // Asked again now, the delivery itself would count as the
            // earlier request: only the other guards apply here.
            opt_in_request_interval_days: 0,
            exclude_risky: message.exclude_risky,
            // Decided when the message was queued: counted again now, this
            // delivery's own predecessors would decide it.
            sunset: None,
        };
        let ids: Vec<_> = indexes
            .iter()
            .map(|&i| claimed[i].contact_id.clone())
            .collect();
        Ok(self
            .state
            .store
            .mail_targets(&spec, &ids)
            .await?
            .into_iter()
            .map(|t| (t.contact_id.clone(), t))
            .collect())
    }

    /// A render job for each delivery at `indexes` that may be rendered
    /// now; the others get their outcome.
    #[allow(clippy::too_many_arguments)]
    fn plan_renders(
        &self,
        workspace: &Workspace,
        claimed: &[ClaimedDelivery],
        indexes: &[usize],
        mut targets: HashMap<ContactId, MailTarget>,
        signers: &Result<Option<Arc<Vec<DkimSigner>>>, String>,
        now: Timestamp,
        outcomes: &mut [Option<DeliveryOutcome>],
    ) -> Vec<RenderJob> {
        let host = self.state.public_host();
        let mut jobs: Vec<RenderJob> = Vec::new();
        for &i in indexes {
            let delivery = &claimed[i];
            let target = targets.remove(&delivery.contact_id);
            match self.may_render(workspace, delivery, target, signers, now) {
                Ok(target) => jobs.push(RenderJob {
                    index: i,
                    message_id: self.state.verp().message_id(delivery.id.as_str(), &host),
                    target,
                }),
                Err(outcome) => outcomes[i] = Some(outcome),
            }
        }
        jobs
    }

    /// Whether `delivery` is rendered now: its contact (`target`) may still
    /// receive it, its worker did not die on it too often, its workspace's
    /// keys are usable and its rate leaves room. The outcome instead when not.
    fn may_render(
        &self,
        workspace: &Workspace,
        delivery: &ClaimedDelivery,
        target: Option<MailTarget>,
        signers: &Result<Option<Arc<Vec<DkimSigner>>>, String>,
        now: Timestamp,
    ) -> Result<MailTarget, DeliveryOutcome> {
        let skipped = |reason: &str| DeliveryOutcome::Skipped {
            reason: reason.to_owned(),
        };
        // A delivery whose worker died on it again and again is not handed
        // to this one: it fails, with the reason on record.
        if delivery.lease_expiries >= self.state.delivery().max_crashes {
            return Err(DeliveryOutcome::Failed {
                reason: format!(
                    "the worker stopped without an outcome {} times while sending this mail (a crash or hang in rendering or sending); it was given up",
                    delivery.lease_expiries
                ),
                reply: None,
            });
        }
        let target = target.ok_or_else(|| skipped("erased"))?;
        if let Some(reason) = &target.category {
            return Err(skipped(reason));
        }
        if target.email.is_none() {
            return Err(skipped("invalid"));
        }
        if let Err(reason) = signers {
            return Err(DeliveryOutcome::Failed {
                reason: reason.clone(),
                reply: None,
            });
        }
        // The capture transport is not paced (the pace slot is not taken).
        let paced = if self.transport.is_some() {
            self.paced(&workspace.id)
        } else {
            None
        };
        if let Some(at) = paced {
            let wait = at.saturating_duration_since(Instant::now());
            // Not an attempt: no SMTP conversation took place.
            return Err(DeliveryOutcome::Postponed {
                reason: "the workspace's sending rate limit".to_owned(),
                until: Timestamp::from_millis(now.millis() + ms(wait)),
            });
        }
        Ok(target)
    }

    /// Renders and signs the jobs on a blocking thread, never on the
    /// runtime's threads that serve the API; `None` if that thread failed
    /// (every panic inside is caught per mail, so that is a bug).
    async fn render_off_thread(
        &self,
        workspace: &Workspace,
        prepared: &Arc<Prepared>,
        signers: Option<Arc<Vec<DkimSigner>>>,
        jobs: Vec<RenderJob>,
        now: Timestamp,
    ) -> Option<Vec<Rendered>> {
        let state = self.state.clone();
        let workspace = workspace.clone();
        let prepared = prepared.clone();
        let rendered = tokio::task::spawn_blocking(move || {
            render_jobs(&state, &workspace, &prepared, signers.as_deref(), jobs, now)
        })
        .await;
        match rendered {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(error = %e, "delivery worker: the render task failed");
                None
            }
        }
    }

    /// A rendered mail ready for the transport, with its VERP return path;
    /// the outcome instead when it goes no further (the capture transport
    /// records the mail itself as the outcome, here and now).
    fn outgoing(
        &self,
        delivery: &ClaimedDelivery,
        email: String,
        raw: Vec<u8>,
        subject: String,
        bounce_domain: &str,
    ) -> Result<Outgoing, DeliveryOutcome> {
        if self.transport.is_none() {
            return Err(DeliveryOutcome::Captured {
                recipient: email,
                subject,
                raw: String::from_utf8_lossy(&raw).into_owned(),
            });
        }
        let Some(return_path) = self
            .state
            .verp()
            .return_path(delivery.id.as_str(), bounce_domain)
        else {
            return Err(DeliveryOutcome::Failed {
                reason: format!("the delivery id {} cannot be a return path", delivery.id),
                reply: None,
            });
        };
        let domain = lowercase_domain(&email);
        Ok(Outgoing {
            return_path,
            recipient: email,
            domain,
            data: raw,
        })
    }

    /// Sends the rendered mails and turns each result into an outcome.
    async fn hand_over(
        &self,
        ready: Vec<Ready>,
        claimed: &[ClaimedDelivery],
        now: Timestamp,
        outcomes: &mut [Option<DeliveryOutcome>],
    ) -> Vec<(WorkspaceId, String)> {
        let mut refused = Vec::new();
        let Some(transport) = &self.transport else {
            return refused;
        };
        let (indexes, mails): (Vec<usize>, Vec<Outgoing>) =
            ready.into_iter().map(|r| (r.index, r.outgoing)).unzip();
        let recipients: Vec<String> = mails.iter().map(|m| m.recipient.clone()).collect();
        let domains: Vec<String> = mails.iter().map(|m| m.domain.clone()).collect();
        let results = transport.send_all(mails).await;
        for (((i, domain), result), recipient) in indexes
            .into_iter()
            .zip(domains)
            .zip(results)
            .zip(recipients)
        {
            let delivery = &claimed[i];
            let (outcome, address_refused) = self.outcome_of_send(delivery, domain, result, now);
            if address_refused {
                refused.push((delivery.workspace_id.clone(), recipient));
            }
            outcomes[i] = Some(outcome);
        }
        refused
    }

    /// What the transport's result makes of a delivery, counted in the
    /// metrics; true when the server refused the address itself (5.1.x:
    /// no such mailbox or domain), which is then suppressed.
    fn outcome_of_send(
        &self,
        delivery: &ClaimedDelivery,
        domain: String,
        result: SendResult,
        now: Timestamp,
    ) -> (DeliveryOutcome, bool) {
        let metrics = self.state.metrics();
        match result {
            SendResult::Accepted(reply) => {
                metrics.reply(Some(reply.code));
                let delivered = DeliveryOutcome::Delivered {
                    domain,
                    reply: record(&reply),
                };
                (delivered, false)
            }
            SendResult::Rejected(reply) => {
                metrics.reply(Some(reply.code));
                let address_refused = reply
                    .enhanced
                    .as_deref()
                    .is_some_and(|e| e.starts_with("5.1."));
                let bounced = DeliveryOutcome::Bounced {
                    domain,
                    reply: record(&reply),
                };
                (bounced, address_refused)
            }
            SendResult::Transient {
                reply,
                reason,
                wait,
            } => {
                metrics.reply(reply.as_ref().map(|r| r.code));
                let reply = reply.as_ref().map(record);
                let outcome = self.retry_or_give_up(delivery, domain, reply, reason, wait, now);
                (outcome, false)
            }
        }
    }

    /// After a temporary failure: another attempt after the back-off (or
    /// the server's `wait`, if longer), or failure once the delivery has
    /// been tried for `give_up_after`.
    fn retry_or_give_up(
        &self,
        delivery: &ClaimedDelivery,
        domain: String,
        reply: Option<ReplyRecord>,
        reason: String,
        wait: Option<Duration>,
        now: Timestamp,
    ) -> DeliveryOutcome {
        let settings = self.state.delivery();
        let deadline = delivery.first_attempt_at.millis() + ms(settings.give_up_after);
        if now.millis() >= deadline {
            DeliveryOutcome::Failed {
                reason: format!(
                    "gave up after {} hours of temporary failures; the last: {reason}",
                    settings.give_up_after.as_secs() / 3600
                ),
                reply,
            }
        } else {
            let pause = retry_pause(settings.retry_base, delivery.attempts)
                .max(wait.unwrap_or(Duration::ZERO));
            DeliveryOutcome::Deferred {
                domain: Some(domain),
                reply,
                reason,
                retry_at: Timestamp::from_millis((now.millis() + ms(pause)).min(deadline)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_doubling_up_to_four_hours() {
        let base = Duration::from_secs(300);
        assert_eq!(retry_pause(base, 1), Duration::from_secs(300));
        assert_eq!(retry_pause(base, 2), Duration::from_secs(600));
        assert_eq!(retry_pause(base, 4), Duration::from_secs(2400));
        assert_eq!(retry_pause(base, 30), MAX_RETRY_PAUSE);
        assert_eq!(retry_pause(base, 0), Duration::from_secs(300));
    }
}
