//! Bounce and complaint events from sending providers, for operators who
//! relay through one: each is checked by the provider's own signature
//! scheme and mapped to its delivery by the Message-ID we gave the mail
//! (which names the delivery), with the recipient checked against the
//! contact. Then it is applied like a bounce or complaint that came by
//! SMTP.
//!
//! - `POST /v1/webhooks/mailgun`: HMAC-SHA256 of timestamp and token under
//!   the signing key (`SENDWELL_MAILGUN_SIGNING_KEY`).
//! - `POST /v1/webhooks/sendgrid`: the signed event webhook, ECDSA P-256
//!   over timestamp and body, checked with the verification key
//!   (`SENDWELL_SENDGRID_VERIFICATION_KEY`, base64 DER).
//! - `POST /v1/webhooks/postmark`: Postmark does not sign; the URL carries
//!   a shared secret (`?token=`, `SENDWELL_POSTMARK_WEBHOOK_TOKEN`).
//! - `POST /v1/webhooks/ses`: SNS notifications (SignatureVersion 2),
//!   checked with the certificate SNS names (fetched over HTTPS from an
//!   `sns.REGION.amazonaws.com` host, cached), from the topics listed in
//!   `SENDWELL_SES_TOPIC_ARNS`; subscription confirmations are confirmed.
//!
//! An endpoint whose key is not configured answers 404: it is not there.
//! Events older than 15 minutes are refused (replays).

use crate::error::{ApiError, ApiResult};
use crate::feedback::{apply_one_event, Applied};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use base64::Engine as _;
use sendwell_mail::bounce::Reason;
use sendwell_mail::verp::unverified_delivery_of_message_id;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// How old a signed event may be.
const TOLERANCE_S: i64 = 15 * 60;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mailgun))
        .routes(routes!(sendgrid))
        .routes(routes!(postmark))
        .routes(routes!(ses))
}

/// What the events were turned into.
#[derive(Serialize, ToSchema)]
pub struct ProviderResult {
    pub recorded: usize,
    pub duplicates: usize,
    pub unmatched: usize,
    pub ignored: usize,
}

impl ProviderResult {
    /// Nothing to act on (an event type that is not a bounce or complaint).
    fn ignored() -> Self {
        Self {
            recorded: 0,
            duplicates: 0,
            unmatched: 0,
            ignored: 1,
        }
    }
}

/// One provider event, in our terms.
struct Event {
    message_id: Option<String>,
    recipient: String,
    complaint: bool,
    hard: bool,
    reason: Reason,
    status: Option<String>,
    reply_code: Option<String>,
    detail: String,
}

fn not_configured(provider: &str) -> ApiError {
    ApiError::not_found(format!(
        "The {provider} webhook is not configured on this server."
    ))
}

fn unauthorized(why: &str) -> ApiError {
    ApiError::unauthorized(format!("The event is not signed by the provider: {why}."))
}

/// Refuses an event signed more than [`TOLERANCE_S`] away from now (a
/// replay), or with no readable timestamp.
fn fresh(state: &AppState, timestamp: Option<i64>) -> Result<(), ApiError> {
    match timestamp {
        Some(t) if (state.store.now().millis() / 1000 - t).abs() <= TOLERANCE_S => Ok(()),
        _ => Err(unauthorized("the timestamp is more than 15 minutes away")),
    }
}

/// A webhook body that should be one JSON document.
fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("The body is not JSON: {e}.")))
}

/// Our Message-ID from a provider's list of headers, each an object with
/// its name under `name_key` and its value under `value_key`.
fn message_id_header(headers: &Value, name_key: &str, value_key: &str) -> Option<String> {
    headers.as_array().and_then(|h| {
        h.iter()
            .find(|x| {
                x[name_key]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case("Message-ID"))
            })
            .and_then(|x| s(&x[value_key]))
    })
}

/// A reason from an enhanced status code and the reply text.
fn reason_of(status: Option<&str>, text: &str, hard: bool) -> Reason {
    let t = text.to_ascii_lowercase();
    match status.unwrap_or("") {
        s if s.starts_with("5.1.") || s.starts_with("4.1.") => {
            if s.ends_with(".2") || s.ends_with(".10") {
                Reason::HostUnknown
            } else {
                Reason::UserUnknown
            }
        }
        s if s.ends_with(".2.2") => Reason::MailboxFull,
        _ if t.contains("blocklist") || t.contains("blacklist") || t.contains("blocked") => {
            Reason::Blocked
        }
        _ if t.contains("spam") => Reason::SpamDetected,
        _ if t.contains("mailbox full") || t.contains("quota") => Reason::MailboxFull,
        _ if t.contains("does not exist")
            || t.contains("unknown user")
            || t.contains("no such user") =>
        {
            Reason::UserUnknown
        }
        _ if hard => Reason::UserUnknown,
        _ => Reason::Undefined,
    }
}

async fn apply(state: &AppState, events: Vec<Event>, source: &str) -> ApiResult<ProviderResult> {
    let mut result = ProviderResult {
        recorded: 0,
        duplicates: 0,
        unmatched: 0,
        ignored: 0,
    };
    for e in events {
        let delivery = match e
            .message_id
            .as_deref()
            .and_then(unverified_delivery_of_message_id)
        {
            Some(id) => state.store.delivery_ref(&id).await?.filter(|d| {
                d.email
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(e.recipient.trim()))
            }),
            None => None,
        };
        let Some(d) = delivery else {
            result.unmatched += 1;
            continue;
        };
        let applied = apply_one_event(
            state,
            &d,
            source,
            e.complaint,
            e.reason,
            e.hard,
            e.status.as_deref(),
            e.reply_code.as_deref(),
            &e.detail,
        )
        .await?;
        match applied {
            Applied::Recorded { .. } => result.recorded += 1,
            Applied::Duplicate { .. } => result.duplicates += 1,
            Applied::Unmatched { .. } => result.unmatched += 1,
            Applied::Ignored { .. } => result.ignored += 1,
        }
    }
    Ok(result)
}

/// Applies the events, or answers that there was nothing to act on.
async fn apply_or_ignore(
    state: &AppState,
    events: Option<Vec<Event>>,
    source: &str,
) -> ApiResult<Json<ProviderResult>> {
    match events {
        Some(events) => Ok(Json(apply(state, events, source).await?)),
        None => Ok(Json(ProviderResult::ignored())),
    }
}

fn s(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Mailgun's webhook (a `failed` or `complained` event).
#[utoipa::path(post, path = "/v1/webhooks/mailgun", tag = "feedback",
    responses((status = 200, body = ProviderResult), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn mailgun(
    State(state): State<AppState>,
    body: Bytes,
) -> ApiResult<Json<ProviderResult>> {
    let Some(key) = state.provider_keys().mailgun_signing_key.clone() else {
        return Err(not_configured("Mailgun"));
    };
    let v = json_body(&body)?;
    mailgun_verified(&state, &key, &v["signature"])?;
    let event = mailgun_event(&v["event-data"]);
    apply_or_ignore(&state, event.map(|e| vec![e]), "mailgun").await
}

/// Mailgun's signature: HMAC-SHA256 of timestamp and token under the signing key.
fn mailgun_verified(state: &AppState, key: &str, sig: &Value) -> Result<(), ApiError> {
    let (Some(ts), Some(token), Some(given)) =
        (s(&sig["timestamp"]), s(&sig["token"]), s(&sig["signature"]))
    else {
        return Err(unauthorized(
            "signature.timestamp, signature.token and signature.signature are needed",
        ));
    };
    let expected = sendwell_core::secret::to_hex(&sendwell_core::secret::hmac_sha256(
        key.as_bytes(),
        &[ts.as_bytes(), token.as_bytes()],
    ));
    if !sendwell_core::secret::constant_time_eq(
        expected.as_bytes(),
        given.to_ascii_lowercase().as_bytes(),
    ) {
        return Err(unauthorized("the signature does not match"));
    }
    fresh(state, ts.parse::<i64>().ok())
}

/// A Mailgun `failed` or `complained` event in our terms; `None` for any other.
fn mailgun_event(ev: &Value) -> Option<Event> {
    let kind = ev["event"].as_str().unwrap_or_default();
    let complaint = kind == "complained";
    if !complaint && kind != "failed" {
        return None;
    }
    let hard = ev["severity"].as_str() == Some("permanent");
    let status = s(&ev["delivery-status"]["enhanced-code"]).filter(|x| !x.is_empty());
    let detail = s(&ev["delivery-status"]["description"])
        .filter(|x| !x.is_empty())
        .or_else(|| s(&ev["delivery-status"]["message"]))
        .unwrap_or_default();
    Some(Event {
        message_id: s(&ev["message"]["headers"]["message-id"]),
        recipient: s(&ev["recipient"]).unwrap_or_default(),
        complaint,
        hard: hard && !complaint,
        reason: if complaint {
            Reason::Feedback
        } else {
            reason_of(status.as_deref(), &detail, hard)
        },
        status,
        reply_code: s(&ev["delivery-status"]["code"]),
        detail,
    })
}

/// SendGrid's signed event webhook (`bounce`, `dropped`, `spamreport`).
#[utoipa::path(post, path = "/v1/webhooks/sendgrid", tag = "feedback",
    responses((status = 200, body = ProviderResult), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn sendgrid(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ProviderResult>> {
    let Some(key) = state.provider_keys().sendgrid_verification_key.clone() else {
        return Err(not_configured("SendGrid"));
    };
    sendgrid_verified(&state, &key, &headers, &body)?;
    let list: Vec<Value> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("The body is not a JSON array of events: {e}.")))?;
    let events: Vec<Event> = list.iter().filter_map(sendgrid_event).collect();
    let ignored = list.len() - events.len();
    let mut result = apply(&state, events, "sendgrid").await?;
    result.ignored += ignored;
    Ok(Json(result))
}

/// SendGrid's signature: ECDSA P-256 over the timestamp header and the
/// body, checked with the verification key (base64 DER).
fn sendgrid_verified(
    state: &AppState,
    key: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (Some(sig), Some(ts)) = (
        header("x-twilio-email-event-webhook-signature"),
        header("x-twilio-email-event-webhook-timestamp"),
    ) else {
        return Err(unauthorized(
            "the signature and timestamp headers are missing",
        ));
    };
    let sig = B64
        .decode(sig.trim())
        .map_err(|_| unauthorized("the signature is not base64"))?;
    let spki = B64
        .decode(key.trim())
        .map_err(|_| ApiError::internal(&"the SendGrid key is not base64"))?;
    // The key is a DER SubjectPublicKeyInfo; its last 65 bytes are the point.
    let point = spki
        .get(spki.len().saturating_sub(65)..)
        .unwrap_or_default();
    let mut signed = ts.as_bytes().to_vec();
    signed.extend_from_slice(body);
    let verifier = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        point,
    );
    if verifier.verify(&signed, &sig).is_err() {
        return Err(unauthorized("the signature does not match"));
    }
    fresh(state, ts.trim().parse::<i64>().ok())
}

/// A SendGrid `bounce`, `dropped` or `spamreport` event in our terms;
/// `None` for any other.
fn sendgrid_event(ev: &Value) -> Option<Event> {
    let kind = ev["event"].as_str().unwrap_or_default();
    let complaint = kind == "spamreport";
    if !complaint && kind != "bounce" && kind != "dropped" {
        return None;
    }
    let status = s(&ev["status"]);
    let detail = s(&ev["reason"]).unwrap_or_default();
    let blocked = ev["type"].as_str() == Some("blocked");
    let hard = !complaint && !blocked && status.as_deref().is_some_and(|x| x.starts_with('5'));
    Some(Event {
        message_id: s(&ev["smtp-id"]),
        recipient: s(&ev["email"]).unwrap_or_default(),
        complaint,
        hard,
        reason: if complaint {
            Reason::Feedback
        } else if blocked {
            Reason::Blocked
        } else {
            reason_of(status.as_deref(), &detail, hard)
        },
        status,
        reply_code: None,
        detail,
    })
}

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// Postmark's bounce and spam-complaint webhooks.
#[utoipa::path(post, path = "/v1/webhooks/postmark", tag = "feedback",
    params(("token" = String, Query, description = "The shared secret configured for Postmark")),
    responses((status = 200, body = ProviderResult), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn postmark(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
    body: Bytes,
) -> ApiResult<Json<ProviderResult>> {
    let Some(secret) = state.provider_keys().postmark_webhook_token.clone() else {
        return Err(not_configured("Postmark"));
    };
    let given = q.token.unwrap_or_default();
    if !sendwell_core::secret::constant_time_eq(secret.as_bytes(), given.as_bytes()) {
        return Err(unauthorized("the token in the URL is wrong"));
    }
    let event = postmark_event(&json_body(&body)?);
    apply_or_ignore(&state, event.map(|e| vec![e]), "postmark").await
}

/// A Postmark bounce or spam complaint in our terms; `None` for any other record.
fn postmark_event(ev: &Value) -> Option<Event> {
    let record = ev["RecordType"].as_str().unwrap_or_default();
    let complaint = record == "SpamComplaint";
    if !complaint && record != "Bounce" {
        return None;
    }
    let kind = ev["Type"].as_str().unwrap_or_default();
    let hard = matches!(
        kind,
        "HardBounce" | "BadEmailAddress" | "ManuallyDeactivated"
    );
    let detail = s(&ev["Details"])
        .or_else(|| s(&ev["Description"]))
        .unwrap_or_default();
    // Postmark reports its own message id; ours comes back in the
    // metadata when the mail carried it, or in the headers of the content.
    let message_id = s(&ev["Metadata"]["message_id"])
        .or_else(|| message_id_header(&ev["Headers"], "Name", "Value"));
    Some(Event {
        message_id,
        recipient: s(&ev["Email"]).unwrap_or_default(),
        complaint,
        hard: hard && !complaint,
        reason: if complaint {
            Reason::Feedback
        } else if kind == "SpamNotification" {
            Reason::SpamDetected
        } else if kind == "SoftBounce" {
            Reason::MailboxFull
        } else {
            reason_of(None, &detail, hard)
        },
        status: None,
        reply_code: None,
        detail,
    })
}

// ---- Amazon SES through SNS ----------------------------------------------------

/// Fetches an SNS signing certificate (or confirms a subscription): the
/// real one speaks HTTPS to amazonaws.com; tests put their own.
pub type SnsFetch = std::sync::Arc<
    dyn Fn(
            String,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, String>> + Send>>
        + Send
        + Sync,
>;

/// Whether a URL is SNS's own: https on `sns.REGION.amazonaws.com` (or
/// `.amazonaws.com.cn`), where REGION is a region name such as
/// `eu-west-1` or `us-gov-west-1`: letters, then words, then a number.
/// `sns.s3.amazonaws.com` is S3, where anyone can host a file.
fn is_sns_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or_default();
    let region = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
        .and_then(|h| h.strip_prefix("sns."));
    u.scheme() == "https"
        && u.port().is_none()
        && u.username().is_empty()
        && region.is_some_and(is_region)
}

/// `eu-west-1`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-3`.
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words[0].len() == 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The default fetcher: HTTPS with the web PKI, to SNS hosts only.
pub fn http_sns_fetch() -> SnsFetch {
    std::sync::Arc::new(|url: String| {
        Box::pin(async move {
            let client = crate::webhooks::client(false)?;
            let resp = client.get(&url).send().await.map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("{url} answered {}", resp.status()));
            }
            Ok(resp.bytes().await.map_err(|e| e.to_string())?.to_vec())
        })
    })
}

/// The string SNS signs, from the message's fields in its fixed order.
fn sns_canonical(v: &Value) -> Option<String> {
    let kind = v["Type"].as_str()?;
    let fields: &[&str] = match kind {
        "Notification" => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
        _ => return None,
    };
    let mut out = String::new();
    for f in fields {
        match v[*f].as_str() {
            Some(x) => {
                out.push_str(f);
                out.push('\n');
                out.push_str(x);
                out.push('\n');
            }
            None if *f == "Subject" => {}
            None => return None,
        }
    }
    Some(out)
}

async fn sns_verified(state: &AppState, v: &Value) -> Result<(), ApiError> {
    if v["SignatureVersion"].as_str() != Some("2") {
        return Err(unauthorized(
            "only SignatureVersion 2 (SHA256withRSA) is accepted; set it on the SNS topic",
        ));
    }
    let cert_url = v["SigningCertURL"].as_str().unwrap_or_default();
    if !is_sns_url(cert_url) || !cert_url.ends_with(".pem") {
        return Err(unauthorized("the signing certificate is not SNS's"));
    }
    let canonical = sns_canonical(v).ok_or_else(|| unauthorized("fields SNS signs are missing"))?;
    let sig = B64
        .decode(v["Signature"].as_str().unwrap_or_default())
        .map_err(|_| unauthorized("the signature is not base64"))?;
    let pem = state.sns_certificate(cert_url).await.map_err(|e| {
        tracing::warn!(url = cert_url, error = %e, "cannot fetch the SNS signing certificate");
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "sns-certificate-unavailable",
            "Certificate unavailable",
            "The SNS signing certificate could not be fetched; SNS will retry.",
        )
    })?;
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem)
        .map_err(|_| unauthorized("the signing certificate is not a PEM certificate"))?;
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|_| unauthorized("the signing certificate cannot be read"))?;
    cert.verify_signature(
        webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
        canonical.as_bytes(),
        &sig,
    )
    .map_err(|_| unauthorized("the signature does not match"))?;
    let ts = v["Timestamp"].as_str().unwrap_or_default();
    let signed_at = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp());
    fresh(state, signed_at)
}

/// Amazon SES bounce and complaint notifications, delivered by SNS.
#[utoipa::path(post, path = "/v1/webhooks/ses", tag = "feedback",
    responses((status = 200, body = ProviderResult), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
pub async fn ses(State(state): State<AppState>, body: Bytes) -> ApiResult<Json<ProviderResult>> {
    let topics = state.provider_keys().ses_topic_arns.clone();
    if topics.is_empty() {
        return Err(not_configured("Amazon SES"));
    }
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("The body is not an SNS message: {e}.")))?;
    let topic = v["TopicArn"].as_str().unwrap_or_default();
    if !topics.iter().any(|t| t == topic) {
        // Signed by SNS proves only that it came from some AWS account's topic.
        return Err(unauthorized(
            "the topic is not one this server subscribed to",
        ));
    }
    sns_verified(&state, &v).await?;
    match v["Type"].as_str() {
        Some("SubscriptionConfirmation") => {
            confirm_subscription(&state, &v, topic).await?;
            return Ok(Json(ProviderResult::ignored()));
        }
        Some("Notification") => {}
        _ => return Ok(Json(ProviderResult::ignored())),
    }
    let msg: Value = serde_json::from_str(v["Message"].as_str().unwrap_or_default())
        .map_err(|e| ApiError::invalid(format!("The SES notification is not JSON: {e}.")))?;
    apply_or_ignore(&state, ses_events(&msg), "ses").await
}

/// Confirms the subscription an SNS `SubscriptionConfirmation` asks for,
/// by fetching its SubscribeURL (only ever an SNS one).
async fn confirm_subscription(state: &AppState, v: &Value, topic: &str) -> Result<(), ApiError> {
    let url = v["SubscribeURL"].as_str().unwrap_or_default();
    if !is_sns_url(url) {
        return Err(unauthorized("the subscription URL is not SNS's"));
    }
    state.sns_fetch()(url.to_owned())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    tracing::info!(topic, "confirmed the SNS subscription");
    Ok(())
}

/// The events of an SES notification, one a recipient; `None` when it is
/// neither a bounce nor a complaint.
fn ses_events(msg: &Value) -> Option<Vec<Event>> {
    let kind = msg["notificationType"]
        .as_str()
        .or_else(|| msg["eventType"].as_str())
        .unwrap_or_default();
    let message_id = message_id_header(&msg["mail"]["headers"], "name", "value")
        .or_else(|| s(&msg["mail"]["commonHeaders"]["messageId"]));
    match kind {
        "Bounce" => Some(ses_bounces(&msg["bounce"], &message_id)),
        "Complaint" => Some(ses_complaints(&msg["complaint"], &message_id)),
        _ => None,
    }
}

fn ses_bounces(bounce: &Value, message_id: &Option<String>) -> Vec<Event> {
    let hard = bounce["bounceType"].as_str() == Some("Permanent");
    let recipients = bounce["bouncedRecipients"].as_array().into_iter().flatten();
    recipients
        .map(|r| {
            let status = s(&r["status"]);
            let detail = s(&r["diagnosticCode"]).unwrap_or_default();
            Event {
                message_id: message_id.clone(),
                recipient: s(&r["emailAddress"]).unwrap_or_default(),
                complaint: false,
                hard,
                reason: reason_of(status.as_deref(), &detail, hard),
                status,
                reply_code: None,
                detail,
            }
        })
        .collect()
}

fn ses_complaints(complaint: &Value, message_id: &Option<String>) -> Vec<Event> {
    let recipients = complaint["complainedRecipients"]
        .as_array()
        .into_iter()
        .flatten();
    recipients
        .map(|r| Event {
            message_id: message_id.clone(),
            recipient: s(&r["emailAddress"]).unwrap_or_default(),
            complaint: true,
            hard: false,
            reason: Reason::Feedback,
            status: None,
            reply_code: None,
            detail: s(&complaint["complaintFeedbackType"]).unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `sns.s3.amazonaws.com` passed, and S3 serves anyone's files.
    #[test]
    fn regression_only_sns_region_hosts_serve_certificates() {
        for ok in [
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.us-gov-west-1.amazonaws.com/x.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
        ] {
            assert!(is_sns_url(ok), "{ok}");
        }
        for bad in [
            "https://sns.s3.amazonaws.com/x.pem",
            "https://sns.evil.amazonaws.com/x.pem",
            "https://sns.eu-west.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com:8443/x.pem",
            "http://sns.eu-west-1.amazonaws.com/x.pem",
            "https://user@sns.eu-west-1.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
        ] {
            assert!(!is_sns_url(bad), "{bad}");
        }
    }
}
