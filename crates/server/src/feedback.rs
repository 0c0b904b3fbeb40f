//! From a parsed bounce or complaint to its consequences: the delivery it
//! answers is found by the VERP address it came back to (signed, so it
//! cannot be forged) or, failing that, by the original Message-ID with the
//! recipient checked against the contact; then
//! - a hard bounce suppresses the address for the workspace;
//! - a soft bounce is counted, and suppresses the address after
//!   `SOFT_BOUNCES` of the contact's last `SOFT_WINDOW` deliveries bounced;
//! - a complaint suppresses it at once and appends `opt_out` events (method
//!   `complaint`) for every topic to the consent ledger;
//! - a reputation block (blocked, badreputation, spamdetected,
//!   policyviolation) is recorded against the workspace but suppresses
//!   nothing: the address is not bad;
//! - an auto-reply, a delay warning or a success notice is recorded or
//!   ignored, never held against anyone.

use crate::state::AppState;
use sendwell_core::consent::{ConsentAction, ConsentMethod, Evidence, NewConsentEvent, Topic};
use sendwell_core::EmailAddress;
use sendwell_mail::bounce::{BounceReport, BouncedRecipient, Reason, ReportKind};
use sendwell_store::{DeliveryRef, Feedback, FeedbackOutcome, StoreError};

/// Soft bounces among the contact's last deliveries that suppress it.
pub const SOFT_BOUNCES: i64 = 3;
pub const SOFT_WINDOW: i64 = 5;

/// What became of one recipient of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Recorded on the delivery; `suppressed` names the reason if the
    /// address was suppressed.
    Recorded {
        delivery: sendwell_core::DeliveryId,
        kind: &'static str,
        reason: String,
        suppressed: Option<String>,
    },
    /// The same feedback for this delivery came before.
    Duplicate { delivery: sendwell_core::DeliveryId },
    /// Nothing to act on (a delay warning, a success notice, not a bounce).
    Ignored { why: String },
    /// No delivery of ours matches.
    Unmatched { recipient: String },
}

fn is_reputation(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::Blocked | Reason::BadReputation | Reason::SpamDetected | Reason::PolicyViolation
    )
}

/// Applies a parsed report that reached us for `envelope_rcpts` (the
/// addresses it was sent to: our VERP addresses, or abuse@ for reports).
pub async fn apply_report(
    state: &AppState,
    report: &BounceReport,
    envelope_rcpts: &[String],
    source: &str,
) -> Result<Vec<Applied>, StoreError> {
    if !report.is_bounce() && report.kind != ReportKind::AutoReply {
        return Ok(vec![Applied::Ignored {
            why: "not a bounce or complaint".to_owned(),
        }]);
    }
    let (signed, quoted) = reported_delivery_ids(state, report, envelope_rcpts);
    if report.recipients.is_empty() {
        return Ok(vec![Applied::Ignored {
            why: "the report names no recipient".to_owned(),
        }]);
    }
    // Each delivery is looked up once, whatever the number of recipients.
    let signed = match &signed {
        Some(id) => state.store.delivery_ref(id).await?,
        None => None,
    };
    let quoted = match &quoted {
        Some(id) if signed.is_none() => state.store.delivery_ref(id).await?,
        _ => None,
    };
    let mut out = Vec::new();
    for (i, r) in report.recipients.iter().enumerate() {
        let found = delivery_of_recipient(report, i, r, signed.as_ref(), quoted.as_ref());
        let Some(delivery) = found else {
            out.push(Applied::Unmatched {
                recipient: r.recipient.clone(),
            });
            continue;
        };
        out.push(apply_one(state, report, r, delivery, source).await?);
    }
    Ok(out)
}

/// The delivery ids a report points at: the one its signed VERP envelope
/// address names, and the one quoted inside it (a VERP address or the
/// original Message-ID).
fn reported_delivery_ids(
    state: &AppState,
    report: &BounceReport,
    envelope_rcpts: &[String],
) -> (Option<String>, Option<String>) {
    // The signed VERP address names the delivery for sure; a Message-ID or
    // an address quoted inside the report only with the recipient checked.
    let signed = envelope_rcpts
        .iter()
        .find_map(|r| state.verp().delivery_of(r));
    let quoted = report
        .verp_address
        .as_deref()
        .and_then(|a| state.verp().delivery_of(a))
        .or_else(|| {
            report
                .original_message_id
                .as_deref()
                .and_then(|m| state.verp().delivery_of_message_id(m))
        });
    (signed, quoted)
}

/// The delivery the report's `i`th recipient `r` is about, if any.
fn delivery_of_recipient<'a>(
    report: &BounceReport,
    i: usize,
    r: &BouncedRecipient,
    signed: Option<&'a DeliveryRef>,
    quoted: Option<&'a DeliveryRef>,
) -> Option<&'a DeliveryRef> {
    let is_recipient = |d: &DeliveryRef| {
        d.email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(r.recipient.trim()))
    };
    match (signed, quoted) {
        // A VERP mail had one recipient: the report's first (or the one
        // with the contact's address) is it.
        (Some(d), _) => {
            let named = d.email.as_deref().is_some_and(|e| {
                report
                    .recipients
                    .iter()
                    .any(|x| x.recipient.trim().eq_ignore_ascii_case(e))
            });
            (is_recipient(d) || (!named && i == 0)).then_some(d)
        }
        (None, Some(d)) => is_recipient(d).then_some(d),
        (None, None) => None,
    }
}

/// One recipient of a report, matched to its delivery: the feedback as
/// it is recorded and told.
struct RecipientFeedback<'a> {
    report: &'a BounceReport,
    r: &'a BouncedRecipient,
    d: &'a DeliveryRef,
    source: &'a str,
    kind: &'static str,
    reason: &'static str,
}

async fn apply_one(
    state: &AppState,
    report: &BounceReport,
    r: &BouncedRecipient,
    d: &DeliveryRef,
    source: &str,
) -> Result<Applied, StoreError> {
    if let Some(ignored) = ignored_notice(r) {
        return Ok(ignored);
    }
    let kind = feedback_kind(report, r);
    let fb = RecipientFeedback {
        report,
        r,
        d,
        source,
        kind,
        reason: r.reason.as_str(),
    };
    let email = d.email.clone().unwrap_or_default();
    let hash = EmailAddress::parse(&email)
        .ok()
        .map(|e| state.address_hash(&e));
    let consequences = match hash.as_deref() {
        Some(hash) => consequences(state, &fb, &email, hash).await?,
        None => Consequences::default(),
    };
    let outcome = record(state, &fb, consequences).await?;
    if outcome.duplicate {
        return Ok(Applied::Duplicate {
            delivery: d.id.clone(),
        });
    }
    if kind != "auto_reply" {
        emit_feedback_webhook(state, &fb, &outcome.suppressed).await;
    }
    crate::reputation::evaluate(state, &d.workspace_id, &d.message_id).await?;
    tracing::info!(
        delivery = %d.id,
        kind,
        reason = %fb.reason,
        suppressed = ?outcome.suppressed,
        "feedback recorded"
    );
    Ok(Applied::Recorded {
        delivery: d.id.clone(),
        kind,
        reason: fb.reason.to_owned(),
        suppressed: outcome.suppressed,
    })
}

/// What a piece of feedback does to the address besides being noted.
#[derive(Default)]
struct Consequences<'a> {
    suppress: Option<(&'a str, &'a str, &'a str)>,
    soft_rule: Option<(i64, i64, &'a str, &'a str)>,
    opt_outs: Vec<NewConsentEvent>,
}

/// A complaint suppresses the address and opts it out of every topic, a
/// hard bounce suppresses it, a soft bounce counts towards the soft rule;
/// a reputation block and an auto-reply do nothing to it.
async fn consequences<'a>(
    state: &AppState,
    fb: &RecipientFeedback<'_>,
    email: &'a str,
    hash: &'a str,
) -> Result<Consequences<'a>, StoreError> {
    let r = fb.r;
    let mut out = Consequences::default();
    match fb.kind {
        "complaint" => {
            out.suppress = Some(("complained", email, hash));
            out.opt_outs = complaint_opt_outs(state, fb).await?;
        }
        "bounce" if is_reputation(r.reason) => {}
        "bounce" if r.hardbounce => out.suppress = Some(("bounced", email, hash)),
        "bounce" => out.soft_rule = Some((SOFT_BOUNCES, SOFT_WINDOW, email, hash)),
        _ => {}
    }
    Ok(out)
}

/// Writes the feedback and its consequences to the store.
async fn record(
    state: &AppState,
    fb: &RecipientFeedback<'_>,
    consequences: Consequences<'_>,
) -> Result<FeedbackOutcome, StoreError> {
    let r = fb.r;
    state
        .store
        .record_feedback(Feedback {
            delivery: fb.d,
            kind: fb.kind,
            reason: fb.reason,
            hard: r.hardbounce,
            status: r.status.as_deref(),
            reply_code: r.replycode.as_deref(),
            feedback_type: r.feedback_type.as_deref(),
            diagnostic: Some(r.diagnostic.as_str()).filter(|t| !t.is_empty()),
            source: fb.source,
            suppress: consequences.suppress,
            soft_rule: consequences.soft_rule,
            opt_outs: consequences.opt_outs,
        })
        .await
}

/// A delay warning or a success notice is no failure: nothing to record.
fn ignored_notice(r: &BouncedRecipient) -> Option<Applied> {
    let delayed = r
        .action
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case("delayed") || a.eq_ignore_ascii_case("relayed"));
    (matches!(r.reason, Reason::Delivered) || delayed).then(|| Applied::Ignored {
        why: format!(
            "a {} notice, not a failure",
            r.action.as_deref().unwrap_or("delivery")
        ),
    })
}

/// Tells the workspace's webhooks about a recorded bounce or complaint.
async fn emit_feedback_webhook(
    state: &AppState,
    fb: &RecipientFeedback<'_>,
    suppressed: &Option<String>,
) {
    let (r, d) = (fb.r, fb.d);
    let data = serde_json::json!({
        "delivery_id": d.id,
        "message_id": d.message_id.as_str(),
        "contact_id": d.contact_id.as_str(),
        "email": d.email,
        "reason": fb.reason,
        "hard": r.hardbounce,
        "status": r.status,
        "reply_code": r.replycode,
        "feedback_type": r.feedback_type,
        "source": fb.source,
        "suppressed": suppressed,
    });
    crate::webhooks::emit(state, &d.workspace_id, fb.kind, vec![data]).await;
}

/// What a report about one recipient is: a complaint, an automatic reply
/// or a bounce.
fn feedback_kind(report: &BounceReport, r: &BouncedRecipient) -> &'static str {
    match report.kind {
        ReportKind::Complaint => "complaint",
        ReportKind::AutoReply => "auto_reply",
        _ if matches!(r.reason, Reason::Feedback) => "complaint",
        _ if matches!(r.reason, Reason::Vacation) => "auto_reply",
        _ => "bounce",
    }
}

/// A complaint opts the person out of every topic of the workspace, with
/// the report as the evidence.
async fn complaint_opt_outs(
    state: &AppState,
    fb: &RecipientFeedback<'_>,
) -> Result<Vec<NewConsentEvent>, StoreError> {
    let (report, r, d, source) = (fb.report, fb.r, fb.d, fb.source);
    let evidence = Evidence {
        message_id: Some(d.message_id.to_string()),
        wording: Some(format!(
            "complaint report ({}) from {}",
            r.feedback_type.as_deref().unwrap_or("abuse"),
            report.reporting_mta.as_deref().unwrap_or(source)
        )),
        ..Evidence::default()
    }
    .checked()
    .unwrap_or_default();
    let mut topics = state.store.workspace_topics(&d.workspace_id).await?;
    if topics.is_empty() {
        topics.push(sendwell_core::consent::DEFAULT_TOPIC.to_owned());
    }
    Ok(topics
        .iter()
        .filter_map(|t| Topic::parse(t).ok())
        .map(|topic| NewConsentEvent {
            contact_id: d.contact_id.clone(),
            action: ConsentAction::OptOut,
            topic,
            method: ConsentMethod::Complaint,
            actor: format!("feedback:{source}"),
            evidence: evidence.clone(),
        })
        .collect())
}

/// Records one event that did not come as a mail (a provider webhook, a
/// recipient's report): the same consequences as a bounce or complaint
/// that came by SMTP.
#[allow(clippy::too_many_arguments)]
pub async fn apply_one_event(
    state: &AppState,
    d: &DeliveryRef,
    source: &str,
    complaint: bool,
    reason: Reason,
    hard: bool,
    status: Option<&str>,
    reply_code: Option<&str>,
    detail: &str,
) -> Result<Applied, StoreError> {
    let recipient = BouncedRecipient {
        recipient: d.email.clone().unwrap_or_default(),
        reason: if complaint { Reason::Feedback } else { reason },
        hardbounce: hard && !complaint,
        status: status.map(str::to_owned),
        replycode: reply_code.map(str::to_owned),
        diagnostic: detail.chars().take(2000).collect(),
        command: None,
        action: None,
        remote_mta: None,
        feedback_type: complaint.then(|| "abuse".to_owned()),
    };
    let report = BounceReport {
        kind: if complaint {
            ReportKind::Complaint
        } else {
            ReportKind::Bounce
        },
        recipients: vec![recipient.clone()],
        original_message_id: None,
        original_sender: None,
        verp_address: None,
        original_from: None,
        reporting_mta: Some(source.to_owned()),
    };
    apply_one(state, &report, &recipient, d, source).await
}

/// Records a complaint reported through `POST /v1/reports`.
pub async fn apply_complaint(
    state: &AppState,
    d: &DeliveryRef,
    source: &str,
    detail: &str,
) -> Result<Applied, StoreError> {
    apply_one_event(
        state,
        d,
        source,
        true,
        Reason::Feedback,
        false,
        None,
        None,
        detail,
    )
    .await
}
