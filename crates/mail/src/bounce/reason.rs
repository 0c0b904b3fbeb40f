//! Why a message bounced: the reason vocabulary, and the classifier that
//! decides a reason from what a bounce says about one recipient — the
//! phrases MTAs use, the enhanced status code (RFC 3463 and its later
//! additions), the SMTP reply code and the command that failed.

use super::phrases;
use serde::{Serialize, Serializer};

/// The reason of one bounced recipient (the vocabulary of the corpus).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The mailbox does not exist (hard).
    UserUnknown,
    /// The domain does not exist or has no mail host (hard).
    HostUnknown,
    /// The recipient has moved (hard).
    HasMoved,
    /// The domain accepts no mail (null MX) (hard when permanent).
    NotAccept,
    MailboxFull,
    /// The message stayed in the queue too long.
    Expired,
    /// Refused by a filter at the recipient's side after the recipient was
    /// accepted (a "user unknown" after DATA, a content filter, ...).
    Filtered,
    /// The sender (envelope or header) was refused.
    Rejected,
    /// The sending host (IP, connection) was refused: block lists, ...
    Blocked,
    /// A complaint (ARF report); see the feedback type.
    Feedback,
    /// SPF, DKIM or DMARC failed.
    AuthFailure,
    NetworkError,
    /// The mailbox is disabled or suspended.
    Suspend,
    PolicyViolation,
    /// The sending IP has no (matching) PTR record.
    RequirePtr,
    SystemError,
    SpamDetected,
    SecurityError,
    NoRelaying,
    /// There is a diagnostic, but it names no known reason.
    OnHold,
    /// The local delivery agent (a pipe, procmail, ...) failed.
    MailerError,
    NotCompliantRfc,
    TooManyConn,
    /// An auto-reply (RFC 3834), not a bounce.
    Vacation,
    /// A success notification (Action: delivered, relayed, expanded).
    Delivered,
    ExceedLimit,
    MesgTooBig,
    BadReputation,
    ContentError,
    VirusDetected,
    SyntaxError,
    SystemFull,
    Speeding,
    FailedStartTls,
    /// Nothing is known about the failure.
    Undefined,
}

impl Reason {
    pub const ALL: [Reason; 35] = [
        Reason::UserUnknown,
        Reason::HostUnknown,
        Reason::HasMoved,
        Reason::NotAccept,
        Reason::MailboxFull,
        Reason::Expired,
        Reason::Filtered,
        Reason::Rejected,
        Reason::Blocked,
        Reason::Feedback,
        Reason::AuthFailure,
        Reason::NetworkError,
        Reason::Suspend,
        Reason::PolicyViolation,
        Reason::RequirePtr,
        Reason::SystemError,
        Reason::SpamDetected,
        Reason::SecurityError,
        Reason::NoRelaying,
        Reason::OnHold,
        Reason::MailerError,
        Reason::NotCompliantRfc,
        Reason::TooManyConn,
        Reason::Vacation,
        Reason::Delivered,
        Reason::ExceedLimit,
        Reason::MesgTooBig,
        Reason::BadReputation,
        Reason::ContentError,
        Reason::VirusDetected,
        Reason::SyntaxError,
        Reason::SystemFull,
        Reason::Speeding,
        Reason::FailedStartTls,
        Reason::Undefined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UserUnknown => "userunknown",
            Reason::HostUnknown => "hostunknown",
            Reason::HasMoved => "hasmoved",
            Reason::NotAccept => "notaccept",
            Reason::MailboxFull => "mailboxfull",
            Reason::Expired => "expired",
            Reason::Filtered => "filtered",
            Reason::Rejected => "rejected",
            Reason::Blocked => "blocked",
            Reason::Feedback => "feedback",
            Reason::AuthFailure => "authfailure",
            Reason::NetworkError => "networkerror",
            Reason::Suspend => "suspend",
            Reason::PolicyViolation => "policyviolation",
            Reason::RequirePtr => "requireptr",
            Reason::SystemError => "systemerror",
            Reason::SpamDetected => "spamdetected",
            Reason::SecurityError => "securityerror",
            Reason::NoRelaying => "norelaying",
            Reason::OnHold => "onhold",
            Reason::MailerError => "mailererror",
            Reason::NotCompliantRfc => "notcompliantrfc",
            Reason::TooManyConn => "toomanyconn",
            Reason::Vacation => "vacation",
            Reason::Delivered => "delivered",
            Reason::ExceedLimit => "exceedlimit",
            Reason::MesgTooBig => "mesgtoobig",
            Reason::BadReputation => "badreputation",
            Reason::ContentError => "contenterror",
            Reason::VirusDetected => "virusdetected",
            Reason::SyntaxError => "syntaxerror",
            Reason::SystemFull => "systemfull",
            Reason::Speeding => "speeding",
            Reason::FailedStartTls => "failedstarttls",
            Reason::Undefined => "undefined",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the address itself is bad, so sending to it again is
    /// pointless: userunknown, hostunknown, hasmoved and notaccept, when the
    /// failure was permanent (a 4xx answer is never a hard bounce).
    pub fn is_hard(self, permanent: bool) -> bool {
        permanent
            && matches!(
                self,
                Reason::UserUnknown | Reason::HostUnknown | Reason::HasMoved | Reason::NotAccept
            )
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The SMTP command a failure answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpCommand {
    /// The greeting (connection time) or HELO/EHLO.
    Connect,
    Helo,
    StartTls,
    Auth,
    Mail,
    Rcpt,
    Data,
}

impl SmtpCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpCommand::Connect => "CONN",
            SmtpCommand::Helo => "EHLO",
            SmtpCommand::StartTls => "STARTTLS",
            SmtpCommand::Auth => "AUTH",
            SmtpCommand::Mail => "MAIL",
            SmtpCommand::Rcpt => "RCPT",
            SmtpCommand::Data => "DATA",
        }
    }
}

/// Everything the classifier reads about one recipient.
#[derive(Clone, Debug, Default)]
pub(crate) struct Evidence<'a> {
    /// The diagnostic text (any case).
    pub(crate) diagnostic: &'a str,
    /// Further texts about the recipient, read only when the diagnostic
    /// names no reason (the human-readable part, its preamble, ...).
    pub(crate) extra: Vec<&'a str>,
    /// Enhanced status code, e.g. "5.1.1".
    pub(crate) status: Option<&'a str>,
    /// SMTP reply code, e.g. "550".
    pub(crate) replycode: Option<&'a str>,
    pub(crate) command: Option<SmtpCommand>,
    /// The DSN's Action field, lower case.
    pub(crate) action: Option<&'a str>,
    /// The diagnostic type of the DSN (smtp, x-unix, x-postfix, ...), lower case.
    pub(crate) diagnostic_type: Option<&'a str>,
}

/// Lower case, with the reply codes of continued SMTP replies removed
/// (`550-5.7.1 foo 550-5.7.1 bar` reads `foo bar`), whitespace collapsed.
pub(crate) fn normalize(text: &str) -> String {
    let lower = text.to_lowercase();
    let mut out = String::with_capacity(lower.len());
    let mut skipped_code = false;
    for (i, w) in lower.split_whitespace().enumerate() {
        if w == "<<<" || w == ">>>" {
            continue;
        }
        if i > 0 && is_reply_prefix(w) {
            skipped_code = true;
            continue;
        }
        if skipped_code && super::dsn::is_status_code(w) {
            skipped_code = false;
            continue;
        }
        skipped_code = false;
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// `550`, `550-`, `550-5.7.1`, `5.7.1` in the middle of a text.
fn is_reply_prefix(w: &str) -> bool {
    let b = w.as_bytes();
    let code =
        |s: &[u8]| s.len() == 3 && matches!(s[0], b'4' | b'5') && s.iter().all(u8::is_ascii_digit);
    if code(b) {
        return true;
    }
    if b.len() >= 4 && code(&b[..3]) && b[3] == b'-' {
        let rest = &w[4..];
        return rest.is_empty() || super::dsn::is_status_code(rest);
    }
    false
}

/// A provider's code, or a specific phrase, in a normalized text.
fn specific_norm(norm: &str) -> Option<Reason> {
    phrases::specific(norm)
}

/// A generic word (or what "X does not exist" names) in a normalized text.
fn generic_norm(norm: &str) -> Option<Reason> {
    does_not_exist(norm).or_else(|| phrases::generic(norm))
}

/// The reason the phrases of the text name, specific or generic.
pub(crate) fn from_text(text: &str) -> Option<Reason> {
    if text.trim().is_empty() {
        return None;
    }
    let norm = normalize(text);
    specific_norm(&norm).or_else(|| generic_norm(&norm))
}

/// "X does not exist": an address is an unknown user, a domain an unknown
/// host.
fn does_not_exist(norm: &str) -> Option<Reason> {
    for key in ["does not exist", "doesn't exist", "does not exists"] {
        let Some(p) = norm.find(key) else { continue };
        let before = norm[..p].trim_end();
        let word = before
            .rsplit(' ')
            .next()
            .unwrap_or("")
            .trim_matches(|c: char| matches!(c, '<' | '>' | '\'' | '"' | '(' | ')' | ':' | ','));
        if word.contains('@') {
            return Some(Reason::UserUnknown);
        }
        if word.contains('.') || matches!(word, "domain" | "host" | "hostname") {
            return Some(Reason::HostUnknown);
        }
        return Some(Reason::UserUnknown);
    }
    None
}

/// Whether a definite "no such mailbox" phrase occurs (normalized text).
fn definite_user(norm: &str) -> bool {
    phrases::definite_user(norm)
}

/// How much an enhanced status code says about the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strength {
    /// Only a hint: the text wins.
    Weak,
    /// The code is specific: it wins over the text.
    Strong,
}

/// The reason an enhanced status code names, if it names one.
pub(crate) fn from_status(status: &str) -> Option<(Reason, Strength)> {
    let mut it = status.split('.');
    let class = it.next()?;
    let subject: u32 = it.next()?.parse().ok()?;
    let detail: u32 = it.next()?.parse().ok()?;
    if class == "2" {
        return Some((Reason::Delivered, Strength::Strong));
    }
    if class != "4" && class != "5" {
        return None;
    }
    // One table per subject of RFC 3463 (X.1 addressing ... X.7 security).
    match subject {
        1 => addressing_status(detail),
        2 => mailbox_status(detail),
        3 => mail_system_status(detail),
        4 => routing_status(class, detail),
        5 => protocol_status(detail),
        6 => Some((Reason::ContentError, Strength::Weak)),
        7 => security_status(detail),
        _ => None,
    }
}

/// X.1.*: addressing status.
fn addressing_status(detail: u32) -> Option<(Reason, Strength)> {
    use Reason::*;
    use Strength::*;
    Some(match detail {
        1 => (UserUnknown, Weak),
        2 => (HostUnknown, Weak),
        3 => (UserUnknown, Weak),
        4 => (UserUnknown, Weak),
        6 => (HasMoved, Strong),
        7 => (Rejected, Weak),
        8 => (Rejected, Weak),
        10 => (NotAccept, Weak),
        351 => (UserUnknown, Weak),
        _ => return None,
    })
}

/// X.2.*: mailbox status.
fn mailbox_status(detail: u32) -> Option<(Reason, Strength)> {
    use Reason::*;
    use Strength::*;
    Some(match detail {
        1 => (Suspend, Weak),
        2 => (MailboxFull, Strong),
        3 => (ExceedLimit, Strong),
        4 => (SystemError, Weak),
        _ => return None,
    })
}

/// X.3.*: mail system status.
fn mail_system_status(detail: u32) -> Option<(Reason, Strength)> {
    use Reason::*;
    use Strength::*;
    Some(match detail {
        1 => (SystemFull, Weak),
        4 => (MesgTooBig, Strong),
        5 => (SystemError, Weak),
        0 | 2 | 3 => (SystemError, Weak),
        _ => return None,
    })
}

/// X.4.*: network and routing status.
fn routing_status(class: &str, detail: u32) -> Option<(Reason, Strength)> {
    use Reason::*;
    use Strength::*;
    Some(match detail {
        // Exchange Online answers 5.4.1 to recipients it does not accept.
        1 if class == "4" => (NetworkError, Weak),
        2 => (NetworkError, Weak),
        3 => (SystemError, Weak),
        4 => (HostUnknown, Weak),
        5 => (SystemFull, Weak),
        6 => (NetworkError, Weak),
        7 => (Expired, Weak),
        312 => (NetworkError, Weak),
        316 => (Expired, Weak),
        _ => return None,
    })
}

/// X.5.*: mail delivery protocol status.
fn protocol_status(detail: u32) -> Option<(Reason, Strength)> {
    use Reason::*;
    use Strength::*;
    Some(match detail {
        0 | 1 | 2 | 4 | 5 => (SyntaxError, Weak),
        3 => (TooManyConn, Weak),
        _ => return None,
    })
}

/// X.7.*: security and policy status.
fn security_status(detail: u32) -> Option<(Reason, Strength)> {
    use Reason::*;
    use Strength::*;
    Some(match detail {
        0 => (SecurityError, Weak),
        1 => (Rejected, Weak),
        2 | 3 => (Rejected, Weak),
        4 | 5 | 6 | 8 | 10 | 12 | 15 | 16 | 17 | 18 | 19 => (SecurityError, Weak),
        7 => (SecurityError, Weak),
        9 => (PolicyViolation, Weak),
        11 | 30 => (FailedStartTls, Weak),
        13 | 14 => (Suspend, Weak),
        20 | 21 | 22 | 23 | 24 | 26 | 29 => (AuthFailure, Strong),
        25 => (RequirePtr, Strong),
        // RFC 7505: the *sender's* domain has a null MX. About the sender,
        // so never a hard bounce of the recipient (Gmail also answers
        // 5.7.27 for a failed SPF check; the text then says so).
        27 => (Rejected, Weak),
        28 => (Speeding, Weak),
        509..=511 => (AuthFailure, Weak),
        606..=649 => (Blocked, Weak),
        650..=699 => (BadReputation, Weak),
        _ => return None,
    })
}

/// The reason for one recipient: a provider's code or a specific phrase
/// (in the diagnostic, else in the other texts) beats the status code,
/// which beats generic words; then the SMTP command that failed refines it.
pub(crate) fn classify(ev: &Evidence<'_>) -> Reason {
    if is_success(ev) {
        return Reason::Delivered;
    }
    let status = ev.status.filter(|s| !s.is_empty());
    let coded = status.and_then(from_status);
    // Each text normalized once.
    let normalized: Vec<String> = std::iter::once(ev.diagnostic)
        .chain(ev.extra.iter().copied())
        .filter(|t| !t.trim().is_empty())
        .map(normalize)
        .collect();
    let texts = || normalized.iter().map(String::as_str);
    // A specific phrase in any text, else what a text speaks of.
    let phrase_reason = texts().find_map(specific_norm);
    let specific_reason = phrase_reason.or_else(|| texts().find_map(super::concepts::first));
    let generic_reason = texts().find_map(generic_norm);

    let mut reason = match (specific_reason, coded) {
        (Some(t), Some((c, Strength::Strong))) if t != c => text_or_strong_code(t, c),
        (Some(t), _) => t,
        (None, Some((c, _))) => c,
        (None, None) => generic_reason.unwrap_or_else(|| fallback(ev)),
    };
    if is_local_agent_failure(ev, specific_reason, reason) {
        reason = Reason::MailerError;
    }
    reason = refine_by_command(ev.command, reason);
    // Refused at connection time, before any sender or recipient: a text
    // that only speaks of the client's reverse DNS in general terms is a
    // block of the host (a provider's own PTR wording keeps requireptr).
    if phrase_reason.is_none()
        && reason == Reason::RequirePtr
        && matches!(ev.command, Some(SmtpCommand::Connect | SmtpCommand::Helo))
    {
        reason = Reason::Blocked;
    }

    // "User unknown" is only that when the recipient was refused at RCPT
    // (or the status code says so): answered to DATA, or with no word on
    // the command, it is a filter's answer.
    if reason == Reason::UserUnknown && ev.command != Some(SmtpCommand::Rcpt) {
        let code_says_user = status.is_some_and(|s| s.ends_with(".1.1") || s.ends_with(".1.0"));
        let definite = texts().any(definite_user);
        let only_code = specific_reason.is_none() && generic_reason.is_none();
        if !code_says_user && !definite && !only_code {
            reason = Reason::Filtered;
        }
    }
    if reason == Reason::Undefined || reason == Reason::OnHold {
        if let Some(r) = command_fallback(ev) {
            reason = r;
        }
    }
    reason
}

/// A success notification: the action or a 2.x.x status says so.
fn is_success(ev: &Evidence<'_>) -> bool {
    let action = ev.action.unwrap_or("");
    matches!(action, "delivered" | "relayed" | "expanded" | "deliverable")
        || ev.status.is_some_and(|s| s.starts_with("2."))
}

/// A specific code wins over a differing specific text, except over texts
/// that are more specific still.
fn text_or_strong_code(text: Reason, code: Reason) -> Reason {
    if matches!(
        text,
        Reason::NotAccept
            | Reason::VirusDetected
            | Reason::Suspend
            | Reason::SpamDetected
            | Reason::NoRelaying
            | Reason::PolicyViolation
            | Reason::Speeding
    ) {
        text
    } else {
        code
    }
}

/// What the local delivery agent (a pipe, procmail) said is its own
/// failure, unless it is about space.
fn is_local_agent_failure(ev: &Evidence<'_>, specific: Option<Reason>, reason: Reason) -> bool {
    ev.diagnostic_type == Some("x-unix")
        && !(specific == Some(reason)
            && matches!(
                reason,
                Reason::MailboxFull | Reason::SystemFull | Reason::MesgTooBig | Reason::SystemError
            ))
}

/// Who was refused follows from the command the refusal answered.
fn refine_by_command(command: Option<SmtpCommand>, reason: Reason) -> Reason {
    match command {
        // Refused before any recipient: the connecting host is blocked.
        Some(SmtpCommand::Connect | SmtpCommand::Helo)
            if matches!(
                reason,
                Reason::Rejected
                    | Reason::OnHold
                    | Reason::Undefined
                    | Reason::UserUnknown
                    | Reason::Filtered
                    | Reason::HostUnknown
                    | Reason::SecurityError
                    | Reason::SyntaxError
            ) =>
        {
            Reason::Blocked
        }
        // Whatever it said, a refusal of STARTTLS is a failed TLS start
        // (RFC 3207: the answer to STARTTLS is about TLS alone).
        Some(SmtpCommand::StartTls) if reason != Reason::Blocked => Reason::FailedStartTls,
        // Refused at MAIL FROM: the sender.
        Some(SmtpCommand::Mail)
            if matches!(
                reason,
                Reason::UserUnknown
                    | Reason::HostUnknown
                    | Reason::Filtered
                    | Reason::OnHold
                    | Reason::Undefined
                    | Reason::SyntaxError
            ) =>
        {
            Reason::Rejected
        }
        _ => reason,
    }
}

fn command_fallback(ev: &Evidence<'_>) -> Option<Reason> {
    match ev.command? {
        SmtpCommand::Connect | SmtpCommand::Helo => Some(Reason::Blocked),
        SmtpCommand::Mail => Some(Reason::Rejected),
        SmtpCommand::StartTls => Some(Reason::FailedStartTls),
        SmtpCommand::Auth => Some(Reason::SecurityError),
        _ => None,
    }
}

fn fallback(ev: &Evidence<'_>) -> Reason {
    if let Some(r) = ev.replycode.and_then(from_replycode) {
        return r;
    }
    if ev.diagnostic.trim().is_empty() {
        Reason::Undefined
    } else {
        Reason::OnHold
    }
}

fn from_replycode(code: &str) -> Option<Reason> {
    match code {
        "551" => Some(Reason::HasMoved),
        "552" => Some(Reason::MailboxFull),
        "500" | "501" | "502" | "503" | "504" => Some(Reason::SyntaxError),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn phrases_and_codes() {
        let ev = Evidence {
            diagnostic: "550 5.1.1 <a@b.example>... User Unknown",
            status: Some("5.1.1"),
            ..Evidence::default()
        };
        assert_eq!(classify(&ev), Reason::UserUnknown);
        let ev = Evidence {
            diagnostic: "550 5.2.1 <a@b.example>... User Unknown",
            status: Some("5.2.1"),
            command: Some(SmtpCommand::Data),
            ..Evidence::default()
        };
        assert_eq!(classify(&ev), Reason::Filtered);
        // Short patterns match whole words only.
        assert_eq!(from_text("listed in an RBL"), Some(Reason::Blocked));
        assert_ne!(from_text("a terrible day"), Some(Reason::Blocked));
        // Codes of continued replies do not split phrases.
        assert_eq!(
            from_text("550-5.7.1 Messages with multiple 550-5.7.1 addresses in From: header"),
            Some(Reason::NotCompliantRfc)
        );
    }
}
