//! The delivery worker: claims due deliveries from the queue, checks once
//! more that each may still go (the workspace may send, the contact is not
//! suppressed or unsubscribed since queueing), renders it with the
//! compliance renderer and hands it to the transport. The transport here is
//! `capture`: the mail is stored in the outbox. Every claimed delivery ends
//! in a recorded state.
//!
//! `run_once` does one batch and says whether there was work, so tests can
//! step the worker; `run` loops until cancelled.

use crate::state::AppState;
use sendwell_core::gate;
use sendwell_core::{MessageId, Timestamp, WorkspaceId};
use sendwell_mail::template::{CompileInput, CompiledTemplate, TemplateError, TemplateSource};
use sendwell_mail::{
    render_mail, Envelope, MailLinks, Mailbox, Recipient, RenderError, RenderedMail,
};
use sendwell_store::{
    AudienceSpec, ClaimedDelivery, DeliveryOutcome, MessageRecord, StoreError, Workspace,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Deliveries claimed per batch.
const BATCH: i64 = 200;
/// A claimed delivery returns to the queue if not recorded within this.
const LEASE_MS: i64 = 5 * 60 * 1000;
/// Prepared messages kept; older ones are compiled again when needed.
const CACHE_LIMIT: usize = 64;

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
    let message = &prepared.message;
    let address = workspace.physical_address.clone().unwrap_or_default();
    let host = state.public_host();
    let envelope = Envelope {
        from: &prepared.from,
        reply_to: prepared.reply_to.as_ref(),
        kind: message.kind,
        topic: &message.topic,
        workspace_id: workspace.id.as_str(),
        workspace_name: &workspace.name,
        physical_address: &address,
        host: &host,
        track_clicks: tracked && message.track_clicks,
        track_opens: tracked && message.track_opens,
        date: now,
    };
    let links = MailLinks {
        signer: state.links(),
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

pub struct DeliveryWorker {
    state: AppState,
    cache: Mutex<HashMap<MessageId, Arc<Prepared>>>,
}

impl DeliveryWorker {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Loops until cancelled, sleeping when idle (or until mail is queued).
    pub async fn run(self, stop: CancellationToken, idle_ms: u64) {
        loop {
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                outcome = self.run_once() => outcome,
            };
            match outcome {
                Ok(Outcome::Worked(_)) => continue,
                Ok(Outcome::Idle) => {
                    if let Err(e) = self.release_held().await {
                        tracing::error!(error = %e, "delivery worker: could not release held mail");
                    }
                }
                Err(e) => tracing::error!(error = %e, "delivery worker: batch failed; retrying"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.state.queued_notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(idle_ms)) => {}
            }
        }
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

    /// Returns held mail to the queue for every workspace that may send again.
    pub async fn release_held(&self) -> Result<u64, StoreError> {
        let store = &self.state.store;
        let mut released = 0;
        for ws in store.workspaces_with_held().await? {
            let Some(workspace) = store.workspace(&ws).await? else {
                continue;
            };
            if gate::evaluate(workspace.gate_input()).can_send() {
                released += store.release_held(&ws).await?;
            }
        }
        Ok(released)
    }

    /// Claims one batch of due deliveries and records an outcome for each.
    pub async fn run_once(&self) -> Result<Outcome, StoreError> {
        let store = &self.state.store;
        let claimed = store.claim_deliveries(BATCH, LEASE_MS).await?;
        if claimed.is_empty() {
            return Ok(Outcome::Idle);
        }
        let mut workspaces: HashMap<WorkspaceId, Option<Workspace>> = HashMap::new();
        let mut outcomes = Vec::with_capacity(claimed.len());
        let now = store.now();
        for delivery in claimed {
            let outcome = self.deliver(&delivery, &mut workspaces, now).await?;
            outcomes.push((delivery, outcome));
        }
        let n = outcomes.len();
        store.record_outcomes(&outcomes).await?;
        Ok(Outcome::Worked(n))
    }

    async fn deliver(
        &self,
        delivery: &ClaimedDelivery,
        workspaces: &mut HashMap<WorkspaceId, Option<Workspace>>,
        now: Timestamp,
    ) -> Result<DeliveryOutcome, StoreError> {
        let store = &self.state.store;
        if !workspaces.contains_key(&delivery.workspace_id) {
            let ws = store.workspace(&delivery.workspace_id).await?;
            workspaces.insert(delivery.workspace_id.clone(), ws);
        }
        let Some(Some(workspace)) = workspaces.get(&delivery.workspace_id) else {
            return Ok(DeliveryOutcome::Failed {
                reason: "the workspace no longer exists".to_owned(),
            });
        };
        let status = gate::evaluate(workspace.gate_input());
        if !status.can_send() {
            let codes: Vec<&str> = status.blockers.iter().map(|b| b.code).collect();
            return Ok(DeliveryOutcome::Held {
                reason: format!("the workspace may not send now: {}", codes.join(", ")),
            });
        }
        let prepared = match self.prepared(&delivery.message_id).await? {
            Ok(p) => p,
            Err(reason) => return Ok(DeliveryOutcome::Failed { reason }),
        };
        let message = &prepared.message;
        let spec = AudienceSpec {
            workspace: &delivery.workspace_id,
            filter: None,
            kind: message.kind,
            topic: &message.topic,
            // Asked again now, the delivery itself would count as the
            // earlier request: only the other guards apply here.
            opt_in_request_interval_days: 0,
        };
        if let Some(reason) = store.contact_category(&spec, &delivery.contact_id).await? {
            return Ok(DeliveryOutcome::Skipped { reason });
        }
        let Some(contact) = store
            .contact(&delivery.workspace_id, &delivery.contact_id)
            .await?
        else {
            return Ok(DeliveryOutcome::Skipped {
                reason: "erased".to_owned(),
            });
        };
        let Some(email) = contact.email.as_deref() else {
            return Ok(DeliveryOutcome::Skipped {
                reason: "invalid".to_owned(),
            });
        };
        let message_id = format!("{}@{}", delivery.id, self.state.public_host());
        let person = MailContact {
            id: contact.id.as_str(),
            email,
            name: contact.name.as_deref(),
            external_id: contact.external_id.as_deref(),
            attributes: &contact.attributes,
        };
        match render_for(
            &self.state,
            workspace,
            &prepared,
            &person,
            true,
            &message_id,
            now,
        ) {
            Ok(mail) => Ok(DeliveryOutcome::Captured {
                recipient: email.to_owned(),
                subject: mail.subject,
                raw: String::from_utf8_lossy(&mail.raw).into_owned(),
            }),
            Err(e) => Ok(DeliveryOutcome::Failed {
                reason: e.to_string(),
            }),
        }
    }
}
