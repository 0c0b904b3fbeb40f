//! Bounce and complaint parsing, with no IO: one raw message in (LF, CRLF
//! or CR line endings), a [`BounceReport`] out — whether it is a bounce,
//! a complaint or an auto-reply at all, and per failed recipient the
//! address, the [`Reason`], hard or soft, the enhanced status and SMTP reply
//! codes, the diagnostic text and, for complaints, the ARF feedback type;
//! plus the original Message-ID and envelope sender (the VERP return path)
//! when the bounce carries them, so a caller can map it to its delivery.
//!
//! It reads standard delivery status notifications (RFC 3464), ARF reports
//! (RFC 5965) and the providers' own complaint and bounce formats (Amazon
//! SES notifications, Hotmail complaints), and the non-standard bounces of
//! real MTAs (Postfix, Exim, Sendmail, qmail, Exchange, Gmail, Yahoo, ...)
//! by the way they lay recipients and diagnostics out (the `text` module:
//! lines that start with the address, transcripts, sentences that name it),
//! then decides the reason from providers' codes and the phrases MTAs use,
//! the status code and the SMTP command that failed ([`reason`]).
//!
//! The reason is decided from meaning first where the bounce states it:
//! a provider's own code, the enhanced status code (RFC 3463) where it is
//! specific, the SMTP command that failed; then from the words, in three
//! tiers: one MTA's specific phrase, what the text speaks of (a subject such
//! as "mailbox" near a predicate such as "full", the `concepts` module), and
//! single generic words.
//!
//! Text in any charset encoding_rs knows (ISO-2022-JP, Shift_JIS, EUC-KR,
//! ...) is decoded; an mbox file gives the recipients of all its bounces in
//! one report.

mod address;
mod concepts;
mod dsn;
mod message;
mod phrases;
mod provider;
pub mod reason;
mod text;

pub use reason::{Reason, SmtpCommand};

/// Measuring how the phrase tables generalise: parse with some phrases
/// left out, and learn which phrases decided (the leave-one-source-out
/// figures of docs/BENCHMARKS.md).
pub mod trial {
    pub use super::phrases::{with_trial, Trial};
}

use message::{Headers, LeafKind, Parsed};
use reason::Evidence;
use serde::Serialize;

/// What kind of message it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// An ordinary message: nothing to act on.
    NotBounce,
    /// A delivery status notification or an MTA's bounce (including
    /// delay warnings and success notifications).
    Bounce,
    /// A complaint: an ARF (RFC 5965) report or a provider's own format.
    Complaint,
    /// An auto-reply (RFC 3834: vacation, out of office, ...).
    AutoReply,
}

/// One parsed message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BounceReport {
    pub kind: ReportKind,
    /// One entry per failed (or reported) recipient, in the order the
    /// message lists them. Empty when `kind` is `NotBounce`.
    pub recipients: Vec<BouncedRecipient>,
    /// The Message-ID of the returned message, without angle brackets.
    pub original_message_id: Option<String>,
    /// The envelope sender of the returned message (its Return-Path, the
    /// DSN's X-Postfix-Sender or the ARF Original-Mail-From), e.g.
    /// `bounces+TOKEN@bounce.example`.
    pub original_sender: Option<String>,
    /// The first VERP address (`bounces+...@...`) anywhere the bounce
    /// names one: the original's Return-Path, the DSN, the bounce's own
    /// To / Delivered-To / X-Original-To.
    pub verp_address: Option<String>,
    /// The From address of the returned message.
    pub original_from: Option<String>,
    /// The MTA that wrote the report (Reporting-MTA), when it says.
    pub reporting_mta: Option<String>,
}

impl BounceReport {
    /// A bounce, a complaint or an auto-reply: anything with recipients
    /// to act on.
    pub fn is_bounce(&self) -> bool {
        self.kind != ReportKind::NotBounce
    }

    fn not_bounce() -> Self {
        BounceReport {
            kind: ReportKind::NotBounce,
            recipients: Vec::new(),
            original_message_id: None,
            original_sender: None,
            verp_address: None,
            original_from: None,
            reporting_mta: None,
        }
    }
}

/// One failed recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BouncedRecipient {
    pub recipient: String,
    pub reason: Reason,
    /// The address is bad: userunknown, hostunknown, hasmoved, and
    /// notaccept when permanent.
    pub hardbounce: bool,
    /// Enhanced status code (RFC 3463), e.g. "5.1.1".
    pub status: Option<String>,
    /// SMTP reply code, e.g. "550".
    pub replycode: Option<String>,
    /// What the remote or local MTA said, whitespace collapsed.
    pub diagnostic: String,
    /// The SMTP command that failed, when the bounce says.
    pub command: Option<SmtpCommand>,
    /// The DSN Action (failed, delayed, delivered, relayed, expanded).
    pub action: Option<String>,
    /// The remote MTA that refused the message, when known.
    pub remote_mta: Option<String>,
    /// For complaints: the ARF feedback type (abuse, opt-out, auth-failure,
    /// fraud, virus, not-spam, other, ...).
    pub feedback_type: Option<String>,
}

impl Serialize for SmtpCommand {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The context shared by every recipient of one message.
struct Context<'a> {
    parsed: &'a Parsed,
    /// The human-readable notification (without the returned message).
    notification: String,
    /// The returned message's header block, when there is one.
    original: Option<Headers>,
    /// The returned message's raw text (headers and body).
    original_text: Option<String>,
    from: String,
    subject: String,
}

/// Parses one raw message.
///
/// An mbox file (messages after `From ` separator lines) is read whole:
/// the recipients of every bounce in it, in order.
pub fn parse(raw: &[u8]) -> BounceReport {
    let data = message::normalize_newlines(raw);
    let mut messages = split_mbox(&data).into_iter();
    let first = messages.next().unwrap_or(&[]);
    let mut report = parse_normalized(first, 0);
    for m in messages {
        let next = parse_normalized(m, 0);
        if !next.is_bounce() {
            continue;
        }
        if !report.is_bounce() {
            report = next;
            continue;
        }
        for r in next.recipients {
            if !report
                .recipients
                .iter()
                .any(|o| address::same(&o.recipient, &r.recipient))
            {
                report.recipients.push(r);
            }
        }
    }
    report
}

/// The messages of an mbox file: split before each `From ` line that
/// follows an empty line. A single message stays whole.
fn split_mbox(data: &[u8]) -> Vec<&[u8]> {
    if !data.starts_with(b"From ") {
        return vec![data];
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while let Some(p) = data[i..].windows(7).position(|w| w == b"\n\nFrom ") {
        let at = i + p + 2;
        out.push(&data[start..at]);
        start = at;
        i = at;
    }
    out.push(&data[start..]);
    out
}

fn parse_normalized(data: &[u8], depth: usize) -> BounceReport {
    let parsed = message::parse(data);
    let ctx = context(&parsed);

    let mut report = if let Some(r) = provider::parse_json(&ctx) {
        r
    } else if let Some(r) = parse_arf(&ctx) {
        r
    } else if let Some(r) = parse_dsn(&ctx) {
        r
    } else if let Some(r) = parse_embedded(&ctx, depth) {
        return r;
    } else if let Some(r) = parse_text(&ctx) {
        r
    } else if let Some(r) = parse_autoreply(&ctx) {
        r
    } else {
        return BounceReport::not_bounce();
    };
    fill_original(&ctx, &mut report);
    report
}

/// A bounce attached whole to a notification (a filter or gateway that
/// forwards the MTA's report): the attached one is the report.
fn parse_embedded(ctx: &Context<'_>, depth: usize) -> Option<BounceReport> {
    if depth > 0 {
        return None;
    }
    let h = ctx.original.as_ref()?;
    let ctype = h.get("content-type").unwrap_or("").to_ascii_lowercase();
    let from = h.get("from").unwrap_or("").to_ascii_lowercase();
    let subject = h.get("subject").unwrap_or("").to_ascii_lowercase();
    // A report by its type, or a bounce by its From or Subject (a mailing
    // list's "uncaught bounce" forwards the MTA's own, whatever it is).
    let is_report = ctype.contains("report-type=delivery-status")
        || ctype.contains("report-type=feedback-report")
        || BOUNCE_FROM.iter().any(|p| from.contains(p))
        || BOUNCE_SUBJECT.iter().any(|p| subject.contains(p));
    if !is_report {
        return None;
    }
    let inner = parse_normalized(ctx.original_text.as_deref()?.as_bytes(), depth + 1);
    inner.is_bounce().then_some(inner)
}

fn context(parsed: &Parsed) -> Context<'_> {
    let mut notification = String::new();
    let mut original: Option<Headers> = None;
    let mut original_text: Option<String> = None;
    let mut seen_original = false;
    for leaf in &parsed.leaves {
        match leaf.kind {
            LeafKind::Original if !seen_original => {
                seen_original = true;
                original = Some(message::parse_head(leaf.text.as_bytes()));
                original_text = Some(leaf.text.clone());
            }
            LeafKind::Text if !seen_original => {
                if !notification.is_empty() {
                    notification.push_str("\n\n");
                }
                notification.push_str(&leaf.text);
            }
            _ => {}
        }
    }
    if let std::borrow::Cow::Owned(u) = text::unquote(&notification) {
        notification = u;
    }
    if seen_original {
        // The returned message is attached, and the text may quote its
        // headers as well (Exchange's "Original message headers:"): they
        // are not the notification either.
        if let Some(cut) = text::original_start(&notification) {
            notification.truncate(cut);
        }
    } else {
        if let Some(body) = cut_quoted_original(&mut notification) {
            let head = message::parse_head(body.as_bytes());
            if !head.0.is_empty() {
                original = Some(head);
            }
            original_text = Some(body);
        }
    }
    let from = parsed.headers.get("from").unwrap_or("").to_owned();
    let subject = parsed.headers.get("subject").unwrap_or("").to_owned();
    Context {
        parsed,
        notification,
        original,
        original_text,
        from,
        subject,
    }
}

/// Cuts a returned message quoted inline (after a marker line) off the
/// notification and gives its text.
fn cut_quoted_original(notification: &mut String) -> Option<String> {
    let cut = text::original_start(notification)?;
    let rest = notification[cut..].to_owned();
    notification.truncate(cut);
    // Skip the marker line itself.
    let body = match rest.find('\n') {
        Some(p) => rest[p + 1..].trim_start_matches('\n').to_owned(),
        None => String::new(),
    };
    if body
        .to_ascii_lowercase()
        .starts_with("content-type: message/rfc822")
    {
        // A marker line followed by a MIME-ish part header.
        return Some(match body.find("\n\n") {
            Some(p) => body[p + 2..].to_owned(),
            None => body,
        });
    }
    Some(body)
}

/// Sets the original Message-ID, sender and VERP address.
fn fill_original(ctx: &Context<'_>, report: &mut BounceReport) {
    if let Some(h) = &ctx.original {
        if report.original_message_id.is_none() {
            report.original_message_id = h.get("message-id").and_then(message_id);
        }
        if report.original_sender.is_none() {
            report.original_sender = h.get("return-path").and_then(address::first_any);
        }
        if report.original_from.is_none() {
            report.original_from = h.get("from").and_then(address::first_any);
        }
    }
    if report.original_message_id.is_none() {
        // Some MTAs quote only the Message-ID in their text.
        report.original_message_id = ctx
            .notification
            .lines()
            .filter_map(|l| {
                let t = l.trim();
                let lower = t.to_ascii_lowercase();
                lower
                    .strip_prefix("message-id:")
                    .map(|_| t["message-id:".len()..].trim())
            })
            .find_map(message_id);
    }
    let mut candidates: Vec<String> = Vec::new();
    if let Some(s) = &report.original_sender {
        candidates.push(s.clone());
    }
    if let Some(h) = &ctx.original {
        for name in ["return-path", "sender", "x-envelope-from"] {
            candidates.extend(h.all(name).filter_map(address::first_any));
        }
    }
    for name in ["to", "delivered-to", "x-original-to", "envelope-to"] {
        candidates.extend(ctx.parsed.headers.all(name).filter_map(address::first_any));
    }
    report.verp_address = candidates.into_iter().find(|a| {
        a.to_ascii_lowercase()
            .starts_with(&format!("{}+", crate::verp::PREFIX))
    });
}

fn message_id(v: &str) -> Option<String> {
    let v = v.trim();
    let inner = match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if b > a + 1 => &v[a + 1..b],
        _ => v.split_whitespace().next()?,
    };
    (!inner.is_empty() && inner.contains('@')).then(|| inner.to_owned())
}

/// Addresses that are the bounce's own or the original sender's: never a
/// failed recipient (unless nothing else is named).
fn excluded_addresses(ctx: &Context<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["to", "from", "delivered-to", "x-original-to", "return-path"] {
        for v in ctx.parsed.headers.all(name) {
            out.extend(address::find_all(v, true).into_iter().map(|f| f.address));
        }
    }
    if let Some(h) = &ctx.original {
        for name in ["from", "return-path", "sender", "reply-to"] {
            for v in h.all(name) {
                out.extend(address::find_all(v, true).into_iter().map(|f| f.address));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------
// ARF and complaint formats

fn parse_arf(ctx: &Context<'_>) -> Option<BounceReport> {
    let fb = feedback_report(ctx)?;
    let mut recipients = complained_recipients(ctx, &fb);
    if recipients.is_empty() {
        return None;
    }
    dedup(&mut recipients);
    let feedback_type = fb
        .feedback_type
        .clone()
        .unwrap_or_else(|| "abuse".to_owned());
    let recipients = recipients
        .into_iter()
        .map(|r| BouncedRecipient {
            recipient: r,
            reason: Reason::Feedback,
            hardbounce: false,
            status: None,
            replycode: None,
            diagnostic: String::new(),
            command: None,
            action: None,
            remote_mta: None,
            feedback_type: Some(feedback_type.clone()),
        })
        .collect();
    Some(BounceReport {
        kind: ReportKind::Complaint,
        recipients,
        original_message_id: None,
        original_sender: fb.original_mail_from.clone(),
        verp_address: None,
        original_from: None,
        reporting_mta: fb.reporting_mta.clone(),
    })
}

/// The feedback fields of a complaint (an ARF part, a report without one,
/// Hotmail's format, fields pasted into the text); None when the message
/// is no complaint.
fn feedback_report(ctx: &Context<'_>) -> Option<dsn::Feedback> {
    let report_type = ctx
        .parsed
        .headers
        .get("content-type")
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    let fb_leaf = ctx
        .parsed
        .leaves
        .iter()
        .find(|l| l.kind == LeafKind::FeedbackReport);
    let subject = ctx.subject.to_ascii_lowercase();
    let from = ctx.from.to_ascii_lowercase();
    let hotmail_style = subject.contains("complaint about message from")
        || (from.contains("staff@hotmail.com") && ctx.original.is_some());
    let inline_fields = fb_leaf.is_none()
        && ctx
            .notification
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("feedback-type:"));
    if fb_leaf.is_none()
        && !report_type.contains("report-type=feedback-report")
        && !hotmail_style
        && !inline_fields
    {
        return None;
    }
    Some(match fb_leaf {
        Some(l) => dsn::parse_feedback(&l.text),
        None if inline_fields => dsn::parse_feedback(&ctx.notification),
        None => dsn::Feedback::default(),
    })
}

/// Who complained: the report's Original-Rcpt-To, else its
/// Removal-Recipient, else the returned message's To, else an address its
/// text names.
fn complained_recipients(ctx: &Context<'_>, fb: &dsn::Feedback) -> Vec<String> {
    let mut recipients: Vec<String> = fb.original_rcpt_to.clone();
    if recipients.is_empty() {
        recipients = fb.removal_recipient.clone();
    }
    if recipients.is_empty() {
        if let Some(h) = &ctx.original {
            for v in h.all("to") {
                recipients.extend(address::find_all(v, true).into_iter().map(|f| f.address));
            }
        }
    }
    if recipients.is_empty() {
        // Some reports name only a redacted address; the text may name it.
        if let Some(a) = ctx
            .original_text
            .as_deref()
            .and_then(|t| text::scan(t, &[]).recipients.into_iter().next())
        {
            recipients.push(a.address);
        }
    }
    recipients
}

fn dedup(v: &mut Vec<String>) {
    let mut seen: Vec<String> = Vec::new();
    v.retain(|a| {
        let l = a.to_ascii_lowercase();
        if seen.contains(&l) {
            false
        } else {
            seen.push(l);
            true
        }
    });
}

// ---------------------------------------------------------------------
// DSN

fn parse_dsn(ctx: &Context<'_>) -> Option<BounceReport> {
    let mut dsn_all = delivery_status(ctx);
    dsn_all.recipients.retain(|r| r.address().is_some());
    if dsn_all.recipients.is_empty() {
        return None;
    }
    let exclude = excluded_addresses(ctx);
    let scan = text::scan(&ctx.notification, &exclude);
    let single = dsn_all.recipients.len() == 1;
    let mut out: Vec<BouncedRecipient> = Vec::new();
    for r in &dsn_all.recipients {
        let Some(addr) = r.address() else { continue };
        if !out.iter().any(|o| address::same(&o.recipient, &addr)) {
            out.push(dsn_recipient(r, addr, &scan, single));
        }
    }
    Some(BounceReport {
        kind: ReportKind::Bounce,
        recipients: out,
        original_message_id: None,
        original_sender: dsn_all.envelope_sender,
        verp_address: None,
        original_from: None,
        reporting_mta: dsn_all.reporting_mta,
    })
}

/// The delivery-status parts of the message taken together, or a DSN
/// pasted into a text part when there is none.
fn delivery_status(ctx: &Context<'_>) -> dsn::Dsn {
    let mut dsn_all = dsn::Dsn::default();
    let parts = ctx
        .parsed
        .leaves
        .iter()
        .filter(|l| l.kind == LeafKind::DeliveryStatus);
    for leaf in parts {
        let d = dsn::parse_dsn(&leaf.text);
        if dsn_all.reporting_mta.is_none() {
            dsn_all.reporting_mta = d.reporting_mta;
        }
        if dsn_all.envelope_sender.is_none() {
            dsn_all.envelope_sender = d.envelope_sender;
        }
        dsn_all.recipients.extend(d.recipients);
    }
    if !dsn_all.recipients.is_empty() {
        return dsn_all;
    }
    let lower = ctx.notification.to_ascii_lowercase();
    let has_recipient =
        lower.contains("\nfinal-recipient:") || lower.contains("\noriginal-recipient:");
    if has_recipient && (lower.contains("\naction:") || lower.contains("\nstatus:")) {
        return dsn::parse_dsn(&ctx.notification);
    }
    dsn_all
}

/// One recipient of a DSN, classified from its own fields first and from
/// what the human-readable text says about it.
fn dsn_recipient(
    r: &dsn::DsnRecipient,
    addr: String,
    scan: &text::Scan,
    single: bool,
) -> BouncedRecipient {
    let text_block = text_about(scan, &addr, single);
    let primary = text::collapse(r.diagnostic.as_deref().unwrap_or(""));
    let primary = match &r.status_comment {
        Some(c) if c.len() > 3 => format!("{primary} {c}"),
        _ => primary,
    };
    let status = pick_status(r.status.as_deref(), &primary, &text_block);
    let replycode = text::replycode_in(&primary).or_else(|| text::replycode_in(&text_block));
    let command = text::command_in(&primary).or_else(|| text::command_in(&text_block));
    let preamble = if single { scan.preamble.as_str() } else { "" };
    let ev = Evidence {
        diagnostic: &primary,
        extra: vec![text::reason_line(&text_block), &text_block, preamble],
        status: status.as_deref(),
        replycode: replycode.as_deref(),
        command,
        action: r.action.as_deref(),
        diagnostic_type: r.diagnostic_type.as_deref(),
    };
    let reason = reason::classify(&ev);
    let diagnostic = if primary.is_empty() {
        text_block.clone()
    } else {
        primary.clone()
    };
    finish(
        addr,
        reason,
        status,
        replycode,
        diagnostic,
        command,
        r.action.clone(),
        r.remote_mta.clone(),
    )
}

/// What the human-readable text says about the recipient: the blocks
/// that name it, or the text's only block when the DSN has one recipient.
fn text_about(scan: &text::Scan, addr: &str, single: bool) -> String {
    let text_block = scan
        .recipients
        .iter()
        .filter(|t| address::same(&t.address, addr))
        .map(|t| t.diagnostic.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if text_block.is_empty() && single && scan.recipients.len() <= 1 {
        scan.recipients
            .first()
            .map(|t| t.diagnostic.clone())
            .unwrap_or_default()
    } else {
        text_block
    }
}

/// The DSN's status, unless it is the unspecific `X.0.0` and the text has
/// a more specific code of the same class.
fn pick_status(dsn: Option<&str>, primary: &str, block: &str) -> Option<String> {
    let in_text = text::status_in(primary).or_else(|| text::status_in(block));
    match dsn {
        Some(s) if s.ends_with(".0.0") => match in_text {
            Some(t) if t.as_bytes().first() == s.as_bytes().first() && !t.ends_with(".0.0") => {
                Some(t)
            }
            _ => Some(s.to_owned()),
        },
        Some(s) => Some(s.to_owned()),
        None => in_text,
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    recipient: String,
    reason: Reason,
    status: Option<String>,
    replycode: Option<String>,
    diagnostic: String,
    command: Option<SmtpCommand>,
    action: Option<String>,
    remote_mta: Option<String>,
) -> BouncedRecipient {
    let recipient = address::imcea_decoded(&recipient).unwrap_or(recipient);
    let temporary = status.as_deref().is_some_and(|s| s.starts_with('4'))
        || (status.is_none() && replycode.as_deref().is_some_and(|c| c.starts_with('4')));
    BouncedRecipient {
        recipient,
        reason,
        hardbounce: reason.is_hard(!temporary),
        status,
        replycode,
        diagnostic,
        command,
        action,
        remote_mta,
        feedback_type: None,
    }
}

// ---------------------------------------------------------------------
// Bounces without a DSN

/// Words in the From of a bounce (lower case).
const BOUNCE_FROM: &[&str] = &[
    "mailer-daemon",
    "mail-daemon",
    "post_master",
    "mailerdaemon",
    "postmaster",
    "mail delivery",
    "mail system",
    "mailadmin",
    "mail administrator",
    "bounce",
    "noreply@",
    "no-reply@",
    "daemon@",
    "mmdf",
    "root@",
    "smtp gateway",
    "mail transport",
    "mailer@",
    "-admin@",
    "administrator",
    "dragonfly",
];
/// Words in the Subject of a bounce (lower case).
const BOUNCE_SUBJECT: &[&str] = &[
    "undeliver",
    "undelivered",
    "delivery status",
    "delivery failure",
    "delivery failed",
    "delivery notification",
    "delivery problem",
    "delivery report",
    "failure notice",
    "failure delivery",
    "returned mail",
    "returned to sender",
    "return to sender",
    "mail delivery",
    "could not be delivered",
    "couldn't be delivered",
    "not delivered",
    "non-delivery",
    "nondeliverable",
    "non delivery",
    "delivery has failed",
    "message delayed",
    "delayed mail",
    "delivery delay",
    "warning: could not send",
    "mail system error",
    "bounce",
    "rejected",
    "error sending",
    "failed delivery",
    "failed mail",
    "mail error",
    "mail failure",
    "message not delivered",
    "nicht zustellbar",
    "unzustellbar",
    "non remis",
    "no entregado",
    "non recapitabile",
    "notice: mail delivery",
    "problem delivering",
    "delivery unsuccessful",
    "permanent error",
    "transient failure",
    "could not send message",
    "mail could not be delivered",
    "message you sent",
    "your message",
    "message blocked",
    "message rejected",
    "smtp error",
    "failure",
    "loop alert",
];

/// From and Subject of a bounce.
fn looks_like_bounce(ctx: &Context<'_>) -> bool {
    let from = ctx.from.to_ascii_lowercase();
    let subject = ctx.subject.to_ascii_lowercase();
    let h = &ctx.parsed.headers;
    h.has("x-failed-recipients")
        || BOUNCE_FROM.iter().any(|p| from.contains(p))
        || BOUNCE_SUBJECT.iter().any(|p| subject.contains(p))
        || h.get("content-type").is_some_and(|c| {
            c.to_ascii_lowercase()
                .contains("report-type=delivery-status")
        })
}

/// Phrases of a bounce's text.
fn text_says_bounce(text: &str) -> bool {
    static AC: std::sync::OnceLock<Option<aho_corasick::AhoCorasick>> = std::sync::OnceLock::new();
    const BODY: &[&str] = &[
        "could not be delivered",
        "couldn't be delivered",
        "could not deliver",
        "couldn't deliver",
        "wasn't delivered",
        "was not delivered",
        "not be delivered",
        "undeliverable",
        "undelivered",
        "unable to deliver",
        "delivery failed",
        "delivery has failed",
        "delivery to the following",
        "failed permanently",
        "permanent error",
        "permanent fatal error",
        "following address",
        "following recipient",
        "did not reach",
        "returned to sender",
        "has not yet been delivered",
        "delivery attempts",
        "mail delivery",
        "smtp error",
        "remote host said",
        "rejected your message",
        "message was rejected",
        "was rejected",
        "requested action not taken",
        "invalid user address",
    ];
    AC.get_or_init(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(BODY)
            .ok()
    })
    .as_ref()
    .is_some_and(|ac| ac.is_match(text))
}

fn parse_text(ctx: &Context<'_>) -> Option<BounceReport> {
    let headers_say = looks_like_bounce(ctx);
    if !headers_say && !text_says_bounce(&ctx.notification) {
        return None;
    }
    if !headers_say && is_autoreply(ctx) {
        return None;
    }
    let exclude = excluded_addresses(ctx);
    let scan = text::scan(&ctx.notification, &exclude);
    let hints = format_hints(ctx);
    let mut found: Vec<(String, String)> = scan
        .recipients
        .iter()
        .filter(|r| headers_say || r.strength > text::Strength::Weak)
        .map(|r| (r.address.clone(), r.diagnostic.clone()))
        .collect();
    if !headers_say {
        // Neither From nor Subject says bounce: only a text that gives an
        // SMTP code or names a reason for some recipient is one.
        let says_why = found.iter().any(|(_, d)| {
            text::replycode_in(d).is_some()
                || text::status_in(d).is_some()
                || reason::from_text(d).is_some()
        });
        if !says_why {
            return None;
        }
    }
    if found.is_empty() && headers_say {
        found.extend(named_elsewhere(ctx).into_iter().map(|a| (a, String::new())));
    }
    if found.is_empty() {
        return None;
    }
    // One recipient, or only ones the headers name: the text's preamble
    // is about them all.
    let single = found.len() == 1 || found.iter().all(|(_, d)| d.is_empty());
    let preamble = if single { scan.preamble.as_str() } else { "" };
    let mut out: Vec<BouncedRecipient> = Vec::new();
    for (addr, diag) in found {
        if !out.iter().any(|o| address::same(&o.recipient, &addr)) {
            out.push(text_recipient(addr, diag, preamble, hints.command));
        }
    }
    Some(BounceReport {
        kind: ReportKind::Bounce,
        recipients: out,
        original_message_id: None,
        original_sender: None,
        verp_address: None,
        original_from: None,
        reporting_mta: None,
    })
}

/// The recipients of a bounce whose text names nobody: the
/// X-Failed-Recipients header does, or else the returned message's To. A
/// delivery-status part without any recipient block says the MTA refused
/// the whole message (the sender's relay or alias failed) before any
/// recipient was tried: the returned message's addressees failed then,
/// first of all.
fn named_elsewhere(ctx: &Context<'_>) -> Vec<String> {
    let failed: Vec<String> = ctx
        .parsed
        .headers
        .all("x-failed-recipients")
        .flat_map(|v| address::find_all(v, true))
        .map(|f| f.address)
        .collect();
    // The returned message's addressees, but not a mailing list it was
    // sent to (the list names itself as the Sender or Reply-To, or is
    // the bounce's own address) nor a daemon.
    let exclude = excluded_addresses(ctx);
    let mut to: Vec<String> = Vec::new();
    if let Some(h) = &ctx.original {
        for v in h.all("to") {
            for f in address::find_all(v, true) {
                let own = exclude.iter().any(|e| address::same(e, &f.address));
                if !address::is_system_address(&f.address) && !own {
                    to.push(f.address);
                }
            }
        }
    }
    if failed.is_empty() {
        to
    } else if whole_message_refused(ctx) {
        to.into_iter().chain(failed).collect()
    } else {
        failed
    }
}

/// One recipient of a text bounce, classified from its own diagnostic and
/// (when it is the only one) the text's preamble.
fn text_recipient(
    addr: String,
    diag: String,
    preamble: &str,
    hint: Option<SmtpCommand>,
) -> BouncedRecipient {
    let status = text::status_in(&diag).or_else(|| {
        if preamble.is_empty() {
            None
        } else {
            text::status_in(preamble)
        }
    });
    let replycode = text::replycode_in(&diag);
    let command = text::command_in(&diag).or(hint);
    let summary = text::reason_line(&diag);
    let ev = Evidence {
        diagnostic: if summary.is_empty() { &diag } else { summary },
        extra: vec![&diag, preamble],
        status: status.as_deref(),
        replycode: replycode.as_deref(),
        command,
        action: None,
        diagnostic_type: None,
    };
    let reason = reason::classify(&ev);
    finish(addr, reason, status, replycode, diag, command, None, None)
}

/// A `message/delivery-status` part with no per-recipient block: the MTA
/// reports a failure of the whole message, not of a recipient.
fn whole_message_refused(ctx: &Context<'_>) -> bool {
    let mut dsn_parts = ctx
        .parsed
        .leaves
        .iter()
        .filter(|l| l.kind == LeafKind::DeliveryStatus)
        .peekable();
    dsn_parts.peek().is_some()
        && dsn_parts.all(|l| {
            !l.text.lines().any(|line| {
                let lower = line.trim_start().to_ascii_lowercase();
                lower.starts_with("final-recipient:")
                    || lower.starts_with("original-recipient:")
                    || lower.starts_with("x-actual-recipient:")
            })
        })
}

/// What a known MTA's layout implies when its text does not say.
#[derive(Default)]
struct Hints {
    /// The SMTP command its reports are about.
    command: Option<SmtpCommand>,
}

fn format_hints(ctx: &Context<'_>) -> Hints {
    let text = ctx.notification.to_ascii_lowercase();
    let mut h = Hints::default();
    // Yahoo's outbound MTA reports what the remote host answered to the
    // recipient (it tags other commands, "[DATA]", when they fail).
    if text.contains("sorry, we were unable to deliver your message to the following address") {
        h.command = Some(SmtpCommand::Rcpt);
    }
    h
}

// ---------------------------------------------------------------------
// Auto-replies

fn is_autoreply(ctx: &Context<'_>) -> bool {
    let h = &ctx.parsed.headers;
    let subject = ctx.subject.to_ascii_lowercase();
    let auto = h
        .get("auto-submitted")
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("auto-replied"));
    const SUBJECT: &[&str] = &[
        "auto:",
        "automatic reply",
        "auto reply",
        "auto-reply",
        "autoreply",
        "auto response",
        "auto-response",
        "autoresponse",
        "autorespons",
        "out of office",
        "out of the office",
        "away from",
        "away until",
        "on vacation",
        "vacation",
        "abwesenheit",
        "absence",
        "réponse automatique",
        "respuesta automática",
        "risposta automatica",
        "自動応答",
        "不在",
    ];
    auto || h.has("x-autoreply")
        || h.has("x-autorespond")
        || h.get("precedence")
            .is_some_and(|v| v.eq_ignore_ascii_case("auto_reply"))
        || SUBJECT.iter().any(|p| subject.contains(p))
}

fn parse_autoreply(ctx: &Context<'_>) -> Option<BounceReport> {
    if !is_autoreply(ctx) {
        return None;
    }
    let from = address::first_any(&ctx.from)?;
    let mut reason = Reason::Vacation;
    if let Some(r) = reason::from_text(&ctx.notification) {
        if matches!(r, Reason::Suspend | Reason::HasMoved) {
            reason = r;
        }
    }
    let mut r = finish(
        from,
        reason,
        None,
        None,
        text::collapse(&ctx.notification)
            .chars()
            .take(500)
            .collect(),
        None,
        None,
        None,
    );
    r.hardbounce = false;
    Some(BounceReport {
        kind: ReportKind::AutoReply,
        recipients: vec![r],
        original_message_id: ctx.parsed.headers.get("in-reply-to").and_then(message_id),
        original_sender: None,
        verp_address: None,
        original_from: None,
        reporting_mta: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSTFIX: &str = "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example (Mail Delivery System)\r\nTo: bounces+D1=abc@b.example\r\nSubject: Undelivered Mail Returned to Sender\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n<nobody@x.example>: host mx.x.example[192.0.2.1] said: 550 5.1.1\r\n    <nobody@x.example>: Recipient address rejected: User unknown (in reply to\r\n    RCPT TO command)\r\n\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\nX-Postfix-Sender: rfc822; bounces+D1=abc@b.example\r\n\r\nFinal-Recipient: rfc822; nobody@x.example\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <nobody@x.example>: Recipient address\r\n    rejected: User unknown\r\n\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nReturn-Path: <bounces+D1=abc@b.example>\r\nMessage-ID: <m1@b.example>\r\nFrom: a@b.example\r\nTo: nobody@x.example\r\n\r\n--B--\r\n";

    #[test]
    fn a_postfix_dsn() {
        let r = parse(POSTFIX.as_bytes());
        assert_eq!(r.kind, ReportKind::Bounce);
        assert_eq!(r.recipients.len(), 1);
        let x = &r.recipients[0];
        assert_eq!(x.recipient, "nobody@x.example");
        assert_eq!(x.reason, Reason::UserUnknown);
        assert!(x.hardbounce);
        assert_eq!(x.status.as_deref(), Some("5.1.1"));
        assert_eq!(x.replycode.as_deref(), Some("550"));
        assert_eq!(x.command, Some(SmtpCommand::Rcpt));
        assert_eq!(r.original_message_id.as_deref(), Some("m1@b.example"));
        assert_eq!(
            r.original_sender.as_deref(),
            Some("bounces+D1=abc@b.example")
        );
        assert_eq!(r.verp_address.as_deref(), Some("bounces+D1=abc@b.example"));
        // The same with CR-only line endings.
        let cr = POSTFIX.replace("\r\n", "\r");
        assert_eq!(parse(cr.as_bytes()), r);
    }

    #[test]
    fn an_ses_notification_in_its_sns_envelope() {
        let raw = r#"From: no-reply@sns.amazonaws.com
Subject: AWS Notification Message

{"Type":"Notification","Message":"{\"notificationType\":\"Complaint\",\"complaint\":{\"complainedRecipients\":[{\"emailAddress\":\"jane@example.com\"}],\"complaintFeedbackType\":\"abuse\"},\"mail\":{\"source\":\"bounces+X1=ab@b.example\",\"commonHeaders\":{\"messageId\":\"<m9@b.example>\"}}}"}
"#;
        let r = parse(raw.as_bytes());
        assert_eq!(r.kind, ReportKind::Complaint);
        assert_eq!(r.recipients[0].recipient, "jane@example.com");
        assert_eq!(r.recipients[0].feedback_type.as_deref(), Some("abuse"));
        assert_eq!(r.original_message_id.as_deref(), Some("m9@b.example"));
        assert_eq!(r.verp_address.as_deref(), Some("bounces+X1=ab@b.example"));
    }

    #[test]
    fn text_bounces_and_auto_replies() {
        let kddi = "From: postmaster@ezweb.ne.jp\nSubject: Mail System Error - Returned Mail\n\n Could not be delivered to: <kijitora@ezweb.ne.jp>\n  As their mailbox is full.\n";
        let r = parse(kddi.as_bytes());
        assert_eq!(r.recipients[0].recipient, "kijitora@ezweb.ne.jp");
        assert_eq!(r.recipients[0].reason, Reason::MailboxFull);
        let exim = "From: Mail Delivery System <Mailer-Daemon@mx.example>\nSubject: Mail delivery failed: returning message to sender\n\nThe following address(es) failed:\n\n  nobody@x.example\n    SMTP error from remote mail server after RCPT TO:<nobody@x.example>:\n    host mx.x.example [192.0.2.1]: 550 No such user here\n\n------ This is a copy of the message, including all the headers. ------\nReturn-path: <bounces+D3=cd@b.example>\nMessage-Id: <m3@b.example>\nTo: nobody@x.example\n";
        let r = parse(exim.as_bytes());
        assert_eq!(r.recipients.len(), 1);
        assert_eq!(r.recipients[0].reason, Reason::UserUnknown);
        assert_eq!(r.recipients[0].command, Some(SmtpCommand::Rcpt));
        assert_eq!(r.original_message_id.as_deref(), Some("m3@b.example"));
        assert_eq!(r.verp_address.as_deref(), Some("bounces+D3=cd@b.example"));
        let away = "From: Bob <bob@example.org>\nSubject: Automatic reply: hello\nAuto-Submitted: auto-replied\n\nI am out of the office until Monday.\n";
        let r = parse(away.as_bytes());
        assert_eq!(r.kind, ReportKind::AutoReply);
        assert_eq!(r.recipients[0].reason, Reason::Vacation);
        // A person quoting a failure is not a bounce.
        let human = "From: Carol <carol@example.org>\nSubject: Re: news\n\nMy colleague says the mail could not be delivered to him either.\n\ndave@example.org\n";
        assert!(!parse(human.as_bytes()).is_bounce());
    }

    #[test]
    fn a_whole_message_refusal_names_the_returned_messages_addressees() {
        // Gmail's "Send mail as" failure: an empty delivery-status part, a
        // text that names nobody, and an X-Failed-Recipients header that
        // the returned message does not name.
        let raw = "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\nSubject: Delivery Status Notification (Failure)\nX-Failed-Recipients: list@groups.example\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\n** Message not delivered **\n\nThe settings for your 'Send mail as' account are misconfigured.\n\nThe response was:\n\nUnspecified Error (SENT_SECOND_EHLO): Smtp server does not advertise AUTH capability\n\n--B\nContent-Type: message/delivery-status\n\n\n--B\nContent-Type: message/rfc822\n\nFrom: <me@a.example>\nTo: <you@b.example>\nSubject: hi\n\nhello\n--B--\n";
        let r = parse(raw.as_bytes());
        let names: Vec<&str> = r.recipients.iter().map(|x| x.recipient.as_str()).collect();
        assert_eq!(names, ["you@b.example", "list@groups.example"]);
        let cr = raw.replace('\n', "\r");
        assert_eq!(parse(cr.as_bytes()), r);
        // With a recipient block, the header names the failed recipient.
        let with_block = raw.replace(
            "message/delivery-status\n\n",
            "message/delivery-status\n\nFinal-Recipient: rfc822; /var/mail/x\nAction: failed\n",
        );
        let r = parse(with_block.as_bytes());
        let names: Vec<&str> = r.recipients.iter().map(|x| x.recipient.as_str()).collect();
        assert_eq!(names, ["list@groups.example"]);
    }

    #[test]
    fn not_a_bounce() {
        let r = parse(b"From: a@b.example\nTo: c@d.example\nSubject: hello\n\nHi there.\n");
        assert!(!r.is_bounce());
    }

    #[test]
    fn an_arf_report() {
        let raw = "From: fbl@isp.example\nSubject: Abuse report\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"X\"\n\n--X\nContent-Type: text/plain\n\nA complaint.\n--X\nContent-Type: message/feedback-report\n\nFeedback-Type: opt-out\nVersion: 1\nOriginal-Rcpt-To: <user@isp.example>\n\n--X\nContent-Type: message/rfc822\n\nMessage-ID: <m2@b.example>\nReturn-Path: <bounces+D2=ff@b.example>\nTo: user@isp.example\n\nbody\n--X--\n";
        let r = parse(raw.as_bytes());
        assert_eq!(r.kind, ReportKind::Complaint);
        assert_eq!(r.recipients[0].recipient, "user@isp.example");
        assert_eq!(r.recipients[0].reason, Reason::Feedback);
        assert_eq!(r.recipients[0].feedback_type.as_deref(), Some("opt-out"));
        assert_eq!(r.original_message_id.as_deref(), Some("m2@b.example"));
        assert_eq!(r.verp_address.as_deref(), Some("bounces+D2=ff@b.example"));
    }
}
