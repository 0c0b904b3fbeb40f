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
    let message_id = v
        .get("mail")
        .and_then(|m| m.get("commonHeaders"))
        .and_then(|h| h.get("messageId"))
        .and_then(Value::as_str)
        .map(|s| s.trim_matches(['<', '>']).to_owned())
        .or_else(|| {
            v.get("mail")
                .and_then(|m| m.get("headers"))
                .and_then(Value::as_array)
                .and_then(|hs| {
                    hs.iter().find_map(|h| {
                        let name = h.get("name")?.as_str()?;
                        if name.eq_ignore_ascii_case("message-id") {
                            Some(
                                h.get("value")?
                                    .as_str()?
                                    .trim_matches(['<', '>'])
                                    .to_owned(),
                            )
                        } else {
                            None
                        }
                    })
                })
        });
    let source = str_of(v, &["mail", "source"]).and_then(address::first_any);
    let mut recipients: Vec<BouncedRecipient> = Vec::new();
    let report_kind;
    match kind {
        "Bounce" => {
            report_kind = ReportKind::Bounce;
            let b = v.get("bounce")?;
            let btype = str_of(b, &["bounceType"]).unwrap_or("");
            let subtype = str_of(b, &["bounceSubType"]).unwrap_or("");
            for r in b.get("bouncedRecipients")?.as_array()? {
                let Some(addr) = r
                    .get("emailAddress")
                    .and_then(Value::as_str)
                    .and_then(address::first_any)
                else {
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
                recipients.push(finish(
                    addr,
                    reason,
                    status,
                    replycode,
                    diag,
                    command,
                    action.map(str::to_owned),
                    None,
                ));
            }
        }
        "Complaint" => {
            report_kind = ReportKind::Complaint;
            let c = v.get("complaint")?;
            let fb = str_of(c, &["complaintFeedbackType"])
                .unwrap_or("abuse")
                .to_ascii_lowercase();
            for r in c.get("complainedRecipients")?.as_array()? {
                let Some(addr) = r
                    .get("emailAddress")
                    .and_then(Value::as_str)
                    .and_then(address::first_any)
                else {
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
        }
        "Delivery" => {
            report_kind = ReportKind::Bounce;
            let d = v.get("delivery")?;
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
                    str_of(d, &["reportingMTA"]).map(str::to_owned),
                ));
            }
        }
        _ => return None,
    }
    if recipients.is_empty() {
        return None;
    }
    Some(BounceReport {
        kind: report_kind,
        recipients,
        original_message_id: message_id,
        original_sender: source,
        verp_address: None,
        original_from: None,
        reporting_mta: None,
    })
}
