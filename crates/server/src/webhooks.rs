//! Outgoing webhooks, signed as the Standard Webhooks specification says:
//! headers `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! (`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the
//! endpoint's `whsec_` secret). Events are queued in the database with the
//! change that caused them; a sender loop posts them and retries failures
//! with back-off (the base, then 60, 360, 1,440, 3,600 and 7,200 times it
//! twice), after which the message is failed. Every attempt is in the log.

use crate::state::AppState;
use base64::Engine as _;
use sendwell_core::{Timestamp, WorkspaceId};
use sendwell_store::{DueWebhook, WebhookAttempt, WebhookMessage};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Multiples of the retry base between attempts.
const SCHEDULE: &[u32] = &[1, 60, 360, 1440, 3600, 7200, 7200];

/// A new endpoint secret.
pub fn new_secret() -> String {
    format!(
        "whsec_{}",
        B64.encode(sendwell_core::secret::random_bytes::<24>())
    )
}

/// The `webhook-signature` header value for a message.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = B64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mac =
        sendwell_core::secret::hmac_sha256(&key, &[format!("{id}.{timestamp}.{body}").as_bytes()]);
    Some(format!("v1,{}", B64.encode(mac)))
}

/// Queues an event for every endpoint of the workspace that wants it. A
/// failure is logged: the change it reports has already happened.
pub async fn emit(state: &AppState, ws: &WorkspaceId, event: &str, mut data: Vec<Value>) {
    if data.is_empty() {
        return;
    }
    name_contacts(state, ws, &mut data).await;
    let now = state.store.now().to_rfc3339();
    let payloads: Vec<String> = data
        .into_iter()
        .map(|d| {
            json!({"type": event, "timestamp": now, "workspace_id": ws.as_str(), "data": d})
                .to_string()
        })
        .collect();
    if let Err(e) = state.store.enqueue_webhooks(ws, event, &payloads).await {
        tracing::error!(error = %e, workspace = %ws, event, "could not queue webhooks");
    }
}

/// Adds the contact's `email` and `external_id` to every payload that
/// names a `contact_id`, so a receiver can match the event to its own
/// records without a second call (null for a contact erased since). An
/// `email` the event itself carries (a bounce's recipient) is kept.
async fn name_contacts(state: &AppState, ws: &WorkspaceId, data: &mut [Value]) {
    let ids: Vec<String> = data
        .iter()
        .filter_map(|d| d.get("contact_id").and_then(Value::as_str))
        .map(str::to_owned)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return;
    }
    let known = match state.store.contact_identities(ws, &ids).await {
        Ok(known) => known,
        Err(e) => {
            tracing::warn!(error = %e, workspace = %ws, "webhook payloads sent without the contacts' addresses");
            return;
        }
    };
    for d in data.iter_mut() {
        let Some(id) = d.get("contact_id").and_then(Value::as_str) else {
            continue;
        };
        let (email, external_id) = known.get(id).cloned().unwrap_or((None, None));
        if let Some(o) = d.as_object_mut() {
            if o.get("email").is_none_or(Value::is_null) {
                o.insert("email".to_owned(), json!(email));
            }
            o.insert("external_id".to_owned(), json!(external_id));
        }
    }
}

/// The HTTP client for webhooks and SNS certificates: no redirects, a
/// deadline, and unless private destinations are allowed, every host name
/// resolved through the guard so only public addresses are ever reached.
pub(crate) fn client(allow_private: bool) -> Result<reqwest::Client, String> {
    let tls = crate::smtp::client::build_tls_config(crate::smtp::client::CertCheck::WebPki)?;
    let builder = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none());
    let builder = if allow_private {
        builder
    } else {
        builder.dns_resolver(std::sync::Arc::new(crate::netguard::GuardedResolver))
    };
    builder.build().map_err(|e| e.to_string())
}

/// An error with its causes, so "the address is private" is not lost
/// behind "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Posts due webhook messages until cancelled.
pub async fn run(state: AppState, stop: CancellationToken) {
    let client = match client(state.delivery().webhook_allow_private) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: cannot build the HTTP client; no webhooks will be sent");
            return;
        }
    };
    let idle = state
        .delivery()
        .webhook_retry_base
        .min(Duration::from_millis(500));
    loop {
        let sent = tokio::select! {
            _ = stop.cancelled() => return,
            n = send_due(&state, &client) => n,
        };
        match sent {
            Ok(0) => {}
            Ok(_) => continue,
            Err(e) => tracing::error!(error = %e, "webhooks: a round failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(idle) => {}
        }
    }
}

/// One round: claims due messages and posts each.
pub async fn send_due(
    state: &AppState,
    client: &reqwest::Client,
) -> Result<usize, sendwell_store::StoreError> {
    let due = state.store.claim_webhooks(50, 60_000).await?;
    let n = due.len();
    for d in &due {
        post_and_record(state, client, d).await?;
    }
    Ok(n)
}

/// Signs and posts one message, then records how the attempt went.
async fn post_and_record(
    state: &AppState,
    client: &reqwest::Client,
    d: &DueWebhook,
) -> Result<(), sendwell_store::StoreError> {
    let m = &d.message;
    let timestamp = state.store.now().millis() / 1000;
    let secret = state
        .sealer()
        .open_webhook_secret(&m.endpoint_id, &d.secret)
        .unwrap_or_default();
    let Some(signature) = sign(&secret, &m.id, timestamp, &m.payload) else {
        return state
            .store
            .record_webhook_attempt(
                &m.id,
                None,
                Some("the endpoint secret is unusable"),
                WebhookAttempt::GaveUp,
            )
            .await;
    };
    let result = match destination_allowed(state, &d.url) {
        Err(e) => Err(e),
        Ok(()) => post(client, &d.url, m, timestamp, signature).await,
    };
    let (status, error) = match result {
        Ok(resp) if resp.status().is_success() => {
            return state
                .store
                .record_webhook_attempt(
                    &m.id,
                    Some(i64::from(resp.status().as_u16())),
                    None,
                    WebhookAttempt::Delivered,
                )
                .await;
        }
        Ok(resp) => (
            Some(i64::from(resp.status().as_u16())),
            format!("the endpoint answered {}", resp.status()),
        ),
        Err(e) => (None, e),
    };
    let outcome = retry_or_give_up(state, m.attempts);
    state
        .store
        .record_webhook_attempt(&m.id, status, Some(&error), outcome)
        .await
}

/// The endpoint's address is checked again at every delivery: an address
/// literal here, a name by the client's guarded resolver.
fn destination_allowed(state: &AppState, url: &str) -> Result<(), String> {
    if state.delivery().webhook_allow_private {
        Ok(())
    } else {
        reqwest::Url::parse(url)
            .map_err(|e| e.to_string())
            .and_then(|u| {
                crate::netguard::check_host(u.host_str().unwrap_or_default())
                    .map_err(|e| e.to_string())
            })
    }
}

/// Posts the signed message; an error says why no answer came.
async fn post(
    client: &reqwest::Client,
    url: &str,
    m: &WebhookMessage,
    timestamp: i64,
    signature: String,
) -> Result<reqwest::Response, String> {
    client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &m.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .header(
            "user-agent",
            concat!("sendwell/", env!("CARGO_PKG_VERSION")),
        )
        .body(m.payload.clone())
        .send()
        .await
        .map_err(|e| format!("the request failed: {}", error_chain(&e)))
}

/// When to try a failed message again after its `attempts`th attempt, or
/// to give up once the schedule is used up.
fn retry_or_give_up(state: &AppState, attempts: i64) -> WebhookAttempt {
    let base = state.delivery().webhook_retry_base;
    let attempt = usize::try_from(attempts).unwrap_or(usize::MAX);
    match SCHEDULE.get(attempt.saturating_sub(1)) {
        Some(k) => WebhookAttempt::RetryAt(Timestamp::from_millis(
            state.store.now().millis()
                + i64::try_from(base.saturating_mul(*k).as_millis()).unwrap_or(i64::MAX),
        )),
        None => WebhookAttempt::GaveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(sign("nope", "id", 1, "{}"), None);
        assert!(new_secret().starts_with("whsec_"));
    }
}
