//! Providers' own notification formats: Amazon SES bounce, complaint and
//! delivery notifications (JSON, mailed by SNS, or the bare SNS envelope).

use super::reason::{self, Evidence, Reason};
use super::{address, finish, text, BounceReport, BouncedRecipient, Context, ReportKind};
use serde_json::Value;

/// The first JSON object in `s` (string-aware brace matching).
fn json_object(s: &str) -> Option<&str> {
    let start = s.find('{')?;
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    for (i, &c) in b.iter().enumerate().skip(start) {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(&s[start..=i]);
                }
            }
            _ => {}
        }
    }
    None
}

fn str_of<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

/// An SES notification mailed as a text body.
pub(super) fn parse_json(ctx: &Context<'_>) -> Option<BounceReport> {
    let body = &ctx.notification;
    if !(body.contains("notificationType") || body.contains("eventType")) {
        return None;
    }
    // SNS wraps long lines as "!\n " when it mails a notification.
    let unwrapped = body.replace("!\n ", "").replace("!\r\n ", "");
    let obj = json_object(&unwrapped)?;
    let mut v: Value = serde_json::from_str(obj).ok()?;
    // The SNS envelope carries the notification as a string.
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        let inner = v.get("Message").and_then(Value::as_str)?;
        v = serde_json::from_str(inner).ok()?;
    }
    ses(&v)
}

/// One SES notification (already parsed).
pub(crate) fn ses(v: &Value) -> Option<BounceReport> {
    let kind = str_of(v, &["notificationType"]).or_else(|| str_of(v, &["eventType"]))?;
    let (report_kind, recipients) = match kind {
        "Bounce" => (ReportKind::Bounce, ses_bounced(v.get("bounce")?)?),
        "Complaint" => (ReportKind::Complaint, ses_complained(v.get("complaint")?)?),
        "Delivery" => (ReportKind::Bounce, ses_delivered(v.get("delivery")?)?),
        _ => return None,
    };
    if recipients.is_empty() {
        return None;
    }
    Some(BounceReport {
        kind: report_kind,
        recipients,
        original_message_id: ses_message_id(v),
        original_sender: str_of(v, &["mail", "source"]).and_then(address::first_any),
        verp_address: None,
        original_from: None,
        reporting_mta: None,
    })
}

/// The Message-ID of the mail a notification is about: from its common
/// headers, else from the list of all its headers.
fn ses_message_id(v: &Value) -> Option<String> {
    let mail = v.get("mail")?;
    let common = mail
        .get("commonHeaders")
        .and_then(|h| h.get("messageId"))
        .and_then(Value::as_str);
    let listed = || {
        mail.get("headers")?.as_array()?.iter().find_map(|h| {
            let name = h.get("name")?.as_str()?;
            if name.eq_ignore_ascii_case("message-id") {
                h.get("value")?.as_str()
            } else {
                None
            }
        })
    };
    common
        .or_else(listed)
        .map(|s| s.trim_matches(['<', '>']).to_owned())
}

/// The address of a recipient entry (`{"emailAddress": ...}`).
fn ses_address(r: &Value) -> Option<String> {
    r.get("emailAddress")
        .and_then(Value::as_str)
        .and_then(address::first_any)
}

/// The recipients of a `bounce` object, each classified from its
/// diagnostic, and from SES's bounce type where the diagnostic says
/// nothing specific.
fn ses_bounced(b: &Value) -> Option<Vec<BouncedRecipient>> {
    let btype = str_of(b, &["bounceType"]).unwrap_or("");
    let subtype = str_of(b, &["bounceSubType"]).unwrap_or("");
    let mut recipients = Vec::new();
    for r in b.get("bouncedRecipients")?.as_array()? {
        let Some(addr) = ses_address(r) else {
            continue;
        };
        let diag = text::collapse(
            r.get("diagnosticCode")
                .and_then(Value::as_str)
                .unwrap_or(""),
        );
        let diag = diag
            .strip_prefix("smtp;")
            .map(|s| s.trim().to_owned())
            .unwrap_or(diag);
        let status = r
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| text::status_in(&diag));
        let replycode = text::replycode_in(&diag);
        let command = text::command_in(&diag);
        let action = r.get("action").and_then(Value::as_str);
        let ev = Evidence {
            diagnostic: &diag,
            extra: Vec::new(),
            status: status.as_deref(),
            replycode: replycode.as_deref(),
            command,
            action,
            diagnostic_type: None,
        };
        let mut reason = reason::classify(&ev);
        if matches!(reason, Reason::OnHold | Reason::Undefined) {
            reason = match subtype {
                "NoEmail" => Reason::UserUnknown,
                "Suppressed" | "OnAccountSuppressionList" => Reason::UserUnknown,
                "MailboxFull" => Reason::MailboxFull,
                "MessageTooLarge" => Reason::MesgTooBig,
                "ContentRejected" => Reason::ContentError,
                "AttachmentRejected" => Reason::SecurityError,
                _ if btype == "Transient" => Reason::OnHold,
                _ => reason,
            };
        }
        let action = action.map(str::to_owned);
        recipients.push(finish(
            addr, reason, status, replycode, diag, command, action, None,
        ));
    }
    Some(recipients)
}

/// The recipients of a `complaint` object, with its feedback type.
fn ses_complained(c: &Value) -> Option<Vec<BouncedRecipient>> {
    let fb = str_of(c, &["complaintFeedbackType"])
        .unwrap_or("abuse")
        .to_ascii_lowercase();
    let mut recipients = Vec::new();
    for r in c.get("complainedRecipients")?.as_array()? {
        let Some(addr) = ses_address(r) else {
            continue;
        };
        let mut x = finish(
            addr,
            Reason::Feedback,
            None,
            None,
            String::new(),
            None,
            None,
            None,
        );
        x.feedback_type = Some(fb.clone());
        recipients.push(x);
    }
    Some(recipients)
}

/// The recipients of a `delivery` object, with the receiving server's reply.
fn ses_delivered(d: &Value) -> Option<Vec<BouncedRecipient>> {
    let resp = text::collapse(str_of(d, &["smtpResponse"]).unwrap_or(""));
    let status = text::status_in(&resp).or_else(|| {
        resp.split_whitespace()
            .nth(1)
            .filter(|s| s.starts_with("2."))
            .map(str::to_owned)
    });
    let replycode = resp
        .split_whitespace()
        .next()
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned);
    let mta = str_of(d, &["reportingMTA"]).map(str::to_owned);
    let mut recipients = Vec::new();
    for r in d.get("recipients")?.as_array()? {
        let Some(addr) = r.as_str().and_then(address::first_any) else {
            continue;
        };
        recipients.push(finish(
            addr,
            Reason::Delivered,
            status.clone(),
            replycode.clone(),
            resp.clone(),
            None,
            Some("delivered".to_owned()),
            mta.clone(),
        ));
    }
    Some(recipients)
}
