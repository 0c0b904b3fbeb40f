//! What the server makes of an address check, for every caller that
//! checks addresses (the API, imports, contact writes): the view shown to
//! people and the stamp stored with a contact.

use sendwell_screen::AddressCheck;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct ReasonView {
    pub code: String,
    pub detail: String,
}

/// One address's verdict: the same shape as `sendwell check-address` prints.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct CheckView {
    pub address: String,
    /// `valid`, `risky` or `invalid`.
    pub verdict: &'static str,
    /// Reason codes: syntax, reserved_domain, no_public_suffix, null_mx,
    /// no_mail_server, dns_unavailable, disposable, role_account,
    /// likely_typo, quoted_local_part, utf8_local_part, blocked.
    pub reasons: Vec<String>,
    pub details: Vec<ReasonView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized: Option<String>,
}

impl CheckView {
    pub fn from(c: &AddressCheck) -> Self {
        Self {
            address: c.input.clone(),
            verdict: c.verdict.as_str(),
            reasons: c.reasons.iter().map(|r| r.code.to_owned()).collect(),
            details: c
                .reasons
                .iter()
                .map(|r| ReasonView {
                    code: r.code.to_owned(),
                    detail: r.detail.clone(),
                })
                .collect(),
            suggestion: c.suggestion.clone(),
            normalized: c.normalized.clone(),
        }
    }
}

/// The check's verdict, as stored with the contact: the verdict, and for a
/// risky or invalid address its reason codes and suggestion (kept small: an
/// import writes one per row).
pub(crate) fn stamp(check: &AddressCheck) -> sendwell_store::AddressStamp {
    let json = if check.reasons.is_empty() && check.suggestion.is_none() {
        String::new()
    } else {
        let reasons: Vec<&str> = check.reasons.iter().map(|r| r.code).collect();
        let mut v = serde_json::json!({"verdict": check.verdict.as_str(), "reasons": reasons});
        if let Some(s) = &check.suggestion {
            v["suggestion"] = Value::String(s.clone());
        }
        v.to_string()
    };
    sendwell_store::AddressStamp {
        verdict: check.verdict.as_str().to_owned(),
        json,
    }
}
