//! The machine-readable parts: `message/delivery-status` (RFC 3464) and
//! `message/feedback-report` (RFC 5965), both blocks of header-like fields.

use super::address;

/// Field groups separated by empty lines; names in lower case, values
/// unfolded.
pub(crate) fn field_groups(text: &str) -> Vec<Vec<(String, String)>> {
    let mut groups = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                groups.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, v)) = cur.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        match field_name(line) {
            Some((name, value)) => cur.push((name, value.trim().to_owned())),
            None => {
                // A wrapped line that lost its indentation: keep it with
                // the field it continues, when that is free text.
                if let Some((n, v)) = cur.last_mut() {
                    if n == "diagnostic-code" || n == "x-diagnostic" {
                        v.push(' ');
                        v.push_str(line.trim());
                    }
                }
            }
        }
    }
    if !cur.is_empty() {
        groups.push(cur);
    }
    groups
}

/// `Name: value` with a plausible field name.
fn field_name(line: &str) -> Option<(String, &str)> {
    let (name, value) = line.split_once(':')?;
    if name.is_empty()
        || name.len() > 40
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some((name.to_ascii_lowercase(), value))
}

/// One per-recipient block of a DSN.
#[derive(Clone, Debug, Default)]
pub(crate) struct DsnRecipient {
    pub(crate) final_recipient: Option<String>,
    pub(crate) original_recipient: Option<String>,
    pub(crate) actual_recipient: Option<String>,
    /// Lower case.
    pub(crate) action: Option<String>,
    /// Only the code, e.g. "5.1.1".
    pub(crate) status: Option<String>,
    /// Text after the code in the Status field.
    pub(crate) status_comment: Option<String>,
    pub(crate) remote_mta: Option<String>,
    /// Lower case, e.g. "smtp", "x-unix", "x-postfix".
    pub(crate) diagnostic_type: Option<String>,
    pub(crate) diagnostic: Option<String>,
    /// Vendor bounce category (PowerMTA and the like), lower case.
    pub(crate) category: Option<String>,
}

impl DsnRecipient {
    /// The address: Final-Recipient, else Original-Recipient, else
    /// X-Actual-Recipient.
    pub(crate) fn address(&self) -> Option<String> {
        let f = self
            .final_recipient
            .as_deref()
            .and_then(address::from_field);
        let o = self
            .original_recipient
            .as_deref()
            .and_then(address::from_field);
        let a = self
            .actual_recipient
            .as_deref()
            .and_then(address::from_field);
        let dotted = |s: &Option<String>| {
            s.as_ref()
                .is_some_and(|a| a.rsplit('@').next().is_some_and(|d| d.contains('.')))
        };
        if dotted(&f) {
            return f;
        }
        if dotted(&o) {
            return o;
        }
        if dotted(&a) {
            return a;
        }
        f.or(o).or(a)
    }
}

/// A parsed delivery-status part.
#[derive(Clone, Debug, Default)]
pub(crate) struct Dsn {
    pub(crate) reporting_mta: Option<String>,
    /// X-Postfix-Sender and the like: the original envelope sender.
    pub(crate) envelope_sender: Option<String>,
    pub(crate) recipients: Vec<DsnRecipient>,
}

const RECIPIENT_FIELDS: &[&str] = &[
    "final-recipient",
    "original-recipient",
    "x-actual-recipient",
    "action",
    "status",
    "diagnostic-code",
    "remote-mta",
];

pub(crate) fn parse_dsn(text: &str) -> Dsn {
    let mut dsn = Dsn::default();
    for group in field_groups(text) {
        let mut cur: Option<DsnRecipient> = None;
        for (name, value) in group {
            if dsn.take_message_field(&name, &value) || !is_recipient_field(&name) {
                continue;
            }
            // A second Final-Recipient (or a repeated field) starts the next
            // recipient even without an empty line in between.
            if starts_new_recipient(cur.as_ref(), &name) {
                if let Some(r) = cur.take() {
                    dsn.recipients.push(r);
                }
                cur = Some(DsnRecipient::default());
            }
            if let Some(r) = cur.as_mut() {
                r.set_field(&name, value);
            }
        }
        if let Some(r) = cur.take() {
            dsn.recipients.push(r);
        }
    }
    // Blocks without any address are not recipients.
    dsn.recipients.retain(|r| {
        r.final_recipient.is_some()
            || r.original_recipient.is_some()
            || r.actual_recipient.is_some()
    });
    dsn
}

impl Dsn {
    /// Records a field about the whole message; false for any other field.
    fn take_message_field(&mut self, name: &str, value: &str) -> bool {
        match name {
            "reporting-mta" => {
                self.reporting_mta
                    .get_or_insert_with(|| after_type(value).to_owned());
                true
            }
            "x-postfix-sender" | "x-original-envelope-from" | "x-envelope-from" => {
                if self.envelope_sender.is_none() {
                    self.envelope_sender = address::from_field(value);
                }
                true
            }
            _ => false,
        }
    }
}

/// A field a per-recipient block may hold (vendor `x-` fields included).
fn is_recipient_field(name: &str) -> bool {
    RECIPIENT_FIELDS.contains(&name)
        || name.starts_with("x-")
        || name == "last-attempt-date"
        || name == "will-retry-until"
}

/// Whether the field opens a new recipient: the first recipient field, or
/// one the current recipient already has.
fn starts_new_recipient(cur: Option<&DsnRecipient>, name: &str) -> bool {
    match cur {
        None => RECIPIENT_FIELDS.contains(&name),
        Some(r) => match name {
            "final-recipient" => r.final_recipient.is_some(),
            "original-recipient" => r.original_recipient.is_some(),
            "action" => r.action.is_some(),
            "status" => r.status.is_some(),
            _ => false,
        },
    }
}

impl DsnRecipient {
    /// Records one per-recipient field; fields it does not read are ignored.
    fn set_field(&mut self, name: &str, value: String) {
        match name {
            "final-recipient" => self.final_recipient = Some(value),
            "original-recipient" => self.original_recipient = Some(value),
            "x-actual-recipient" => self.actual_recipient = Some(value),
            "action" => {
                let a = value
                    .split(|c: char| c.is_whitespace() || c == '(' || c == ';')
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                self.action = Some(a);
            }
            "status" => {
                let (code, comment) = split_status(&value);
                self.status = code;
                if !comment.is_empty() {
                    self.status_comment = Some(comment.to_owned());
                }
            }
            "remote-mta" => self.remote_mta = Some(after_type(&value).to_owned()),
            "diagnostic-code" => {
                let (t, d) = split_diagnostic(&value);
                self.diagnostic_type = t;
                self.diagnostic = Some(d);
            }
            "x-powermta-bouncecategory" | "x-bounce-category" => {
                self.category = Some(value.to_ascii_lowercase())
            }
            _ => {}
        }
    }
}

/// `dns; host` → `host`.
fn after_type(v: &str) -> &str {
    match v.split_once(';') {
        Some((_, rest)) => rest.trim(),
        None => v.trim(),
    }
}

/// `5.1.1 (comment)` → (Some("5.1.1"), "(comment)").
pub(crate) fn split_status(v: &str) -> (Option<String>, &str) {
    let v = v.trim();
    let end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let code = &v[..end];
    if is_status_code(code) {
        (Some(code.to_owned()), v[end..].trim())
    } else {
        (None, v)
    }
}

/// `smtp; 550 ...` → (Some("smtp"), "550 ..."). A value without a type
/// keeps its text.
fn split_diagnostic(v: &str) -> (Option<String>, String) {
    if let Some((t, rest)) = v.split_once(';') {
        let t = t.trim();
        if !t.is_empty()
            && t.len() <= 30
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return (Some(t.to_ascii_lowercase()), rest.trim().to_owned());
        }
    }
    (None, v.trim().to_owned())
}

/// `2.x.x`, `4.x.x` or `5.x.x` with 1-3 digit parts.
pub(crate) fn is_status_code(s: &str) -> bool {
    let mut parts = s.split('.');
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    matches!(a, "2" | "4" | "5")
        && (1..=3).contains(&b.len())
        && (1..=3).contains(&c.len())
        && b.bytes().all(|x| x.is_ascii_digit())
        && c.bytes().all(|x| x.is_ascii_digit())
}

/// A parsed feedback-report part.
#[derive(Clone, Debug, Default)]
pub(crate) struct Feedback {
    pub(crate) feedback_type: Option<String>,
    pub(crate) original_rcpt_to: Vec<String>,
    pub(crate) removal_recipient: Vec<String>,
    pub(crate) original_mail_from: Option<String>,
    pub(crate) reporting_mta: Option<String>,
    pub(crate) source_ip: Option<String>,
    pub(crate) user_agent: Option<String>,
}

pub(crate) fn parse_feedback(text: &str) -> Feedback {
    let mut fb = Feedback::default();
    for group in field_groups(text) {
        for (name, value) in group {
            match name.as_str() {
                "feedback-type" => {
                    fb.feedback_type
                        .get_or_insert_with(|| value.trim().to_ascii_lowercase());
                }
                "original-rcpt-to" => {
                    if let Some(a) = address::from_field(&value) {
                        fb.original_rcpt_to.push(a);
                    }
                }
                "removal-recipient" => {
                    if let Some(a) = address::from_field(&value) {
                        fb.removal_recipient.push(a);
                    }
                }
                "original-mail-from" if fb.original_mail_from.is_none() => {
                    fb.original_mail_from = address::from_field(&value);
                }
                "reporting-mta" => {
                    fb.reporting_mta
                        .get_or_insert_with(|| after_type(&value).to_owned());
                }
                "source-ip" => {
                    fb.source_ip.get_or_insert(value);
                }
                "user-agent" => {
                    fb.user_agent.get_or_insert(value);
                }
                _ => {}
            }
        }
    }
    fb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_and_fields() {
        let d = parse_dsn(
            "Reporting-MTA: dns; mx.example\nX-Postfix-Sender: rfc822; bounces+T@b.example\n\nFinal-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.1.1 (bad)\nDiagnostic-Code: smtp; 550 5.1.1\n  user unknown\nFinal-Recipient: rfc822; b@x.example\nAction: delayed\nStatus: 4.4.7\n",
        );
        assert_eq!(d.reporting_mta.as_deref(), Some("mx.example"));
        assert_eq!(d.envelope_sender.as_deref(), Some("bounces+T@b.example"));
        assert_eq!(d.recipients.len(), 2);
        assert_eq!(d.recipients[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(
            d.recipients[0].diagnostic.as_deref(),
            Some("550 5.1.1 user unknown")
        );
        assert_eq!(d.recipients[1].address().as_deref(), Some("b@x.example"));
        assert!(is_status_code("5.7.509"));
        assert!(!is_status_code("5.7"));
    }
}
