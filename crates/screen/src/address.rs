//! Address checks: is this an address a real mail system accepts, does its
//! domain take mail, and does it look like a real person's? The verdict is
//! `valid`, `risky` (with reasons) or `invalid` (with the reason).
//!
//! Disposable domains come from the `mailchecker` crate's list (about 56,000
//! domains, MIT); `cargo update -p mailchecker` brings the newest list.
//! Public suffixes come from the `psl` crate (the Public Suffix List, compiled
//! in); `cargo update -p psl` refreshes it.

use crate::dns::DomainMail;
use sendwell_core::email::EmailAddress;
use serde::Serialize;
use std::collections::HashSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Valid,
    Risky,
    Invalid,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Risky => "risky",
            Self::Invalid => "invalid",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "valid" => Some(Self::Valid),
            "risky" => Some(Self::Risky),
            "invalid" => Some(Self::Invalid),
            _ => None,
        }
    }
}

/// One finding. `code` is stable and machine-readable; `detail` is for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub code: &'static str,
    pub detail: String,
}

/// What invalidates an address.
const INVALID_CODES: &[&str] = &[
    "syntax",
    "reserved_domain",
    "no_public_suffix",
    "null_mx",
    "no_mail_server",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AddressCheck {
    /// As given.
    pub input: String,
    /// Normalised: domain lowercased and in ASCII (punycode) form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized: Option<String>,
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
    /// The address the person probably meant, for a likely typo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// The ASCII domain, for the DNS step.
    #[serde(skip)]
    pub domain: Option<String>,
    /// The parsed address, when its syntax is valid.
    #[serde(skip)]
    pub parsed: Option<EmailAddress>,
}

impl AddressCheck {
    /// A check of `input` that has found nothing yet.
    fn unchecked(input: &str) -> Self {
        AddressCheck {
            input: input.to_owned(),
            normalized: None,
            verdict: Verdict::Valid,
            reasons: Vec::new(),
            suggestion: None,
            domain: None,
            parsed: None,
        }
    }

    /// Ends the check on a syntax error, which makes the address invalid.
    fn syntax_error(mut self, detail: String) -> Self {
        self.reasons.push(Reason {
            code: "syntax",
            detail,
        });
        self.finish()
    }

    fn finish(mut self) -> Self {
        self.verdict = if self.reasons.iter().any(|r| INVALID_CODES.contains(&r.code)) {
            Verdict::Invalid
        } else if self.reasons.is_empty() {
            Verdict::Valid
        } else {
            Verdict::Risky
        };
        self
    }

    pub fn has(&self, code: &str) -> bool {
        self.reasons.iter().any(|r| r.code == code)
    }

    /// Adds what DNS says about the domain. Does nothing to an address that
    /// is already invalid without DNS.
    pub fn with_dns(mut self, mail: &DomainMail) -> Self {
        if self.verdict == Verdict::Invalid || self.domain.is_none() {
            return self;
        }
        let domain = self.domain.clone().unwrap_or_default();
        match mail {
            DomainMail::Mx(_) | DomainMail::AddressFallback => {}
            DomainMail::NullMx => self.reasons.push(Reason {
                code: "null_mx",
                detail: format!(
                    "{domain} publishes a null MX record: it accepts no mail (RFC 7505)"
                ),
            }),
            DomainMail::NoMail => self.reasons.push(Reason {
                code: "no_mail_server",
                detail: format!(
                    "{domain} has no MX or address records: no mail can be delivered there"
                ),
            }),
            DomainMail::TempFail(why) => self.reasons.push(Reason {
                code: "dns_unavailable",
                detail: format!("DNS did not answer for {domain} ({why}); checked without it"),
            }),
        }
        self.finish()
    }
}

/// Local parts that belong to a function, not a person.
const ROLE_ACCOUNTS: &[&str] = &[
    "abuse",
    "admin",
    "administrator",
    "billing",
    "careers",
    "compliance",
    "contact",
    "enquiries",
    "feedback",
    "help",
    "hello",
    "hostmaster",
    "hr",
    "info",
    "inquiries",
    "jobs",
    "legal",
    "list",
    "mail",
    "mailer-daemon",
    "marketing",
    "media",
    "newsletter",
    "no-reply",
    "nobody",
    "noreply",
    "do-not-reply",
    "donotreply",
    "office",
    "postmaster",
    "press",
    "privacy",
    "root",
    "sales",
    "security",
    "service",
    "support",
    "team",
    "webmaster",
];

/// Mailbox providers whose misspellings are worth suggesting a fix for.
const PROVIDERS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "ymail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "protonmail.com",
    "proton.me",
    "gmx.de",
    "gmx.net",
    "gmx.com",
    "web.de",
    "mail.com",
    "yandex.ru",
    "mail.ru",
    "zoho.com",
    "fastmail.com",
    "orange.fr",
    "free.fr",
    "t-online.de",
    "libero.it",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "qq.com",
    "163.com",
];

/// Common slips of the finger in `.com`.
const COM_TYPOS: &[&str] = &[
    "con", "cmo", "ocm", "vom", "xom", "comm", "coom", "cpm", "cim", "c0m", "om",
];

/// Names that can never receive real mail (RFC 2606, RFC 6761, RFC 6762).
const RESERVED_SUFFIXES: &[&str] = &[
    "test",
    "invalid",
    "localhost",
    "example",
    "local",
    "onion",
    "internal",
    "home.arpa",
];
const RESERVED_DOMAINS: &[&str] = &["example.com", "example.net", "example.org"];

/// What the offline checks learnt about one domain.
#[derive(Debug)]
pub struct DomainFacts {
    /// The ASCII (punycode) form, or why there is none.
    ascii: Result<String, String>,
    reasons: Vec<Reason>,
    /// The domain the writer probably meant.
    fix: Option<String>,
}

/// Domain facts by domain, for checking many addresses.
#[derive(Debug, Default)]
pub struct DomainCache {
    facts: std::collections::HashMap<String, std::sync::Arc<DomainFacts>>,
}

impl DomainCache {
    /// Bounds memory on a file with ever new domains.
    const MAX: usize = 100_000;

    /// The facts of `domain`, worked out by `learn` the first time.
    fn facts_of(
        &mut self,
        domain: &str,
        learn: impl FnOnce(&str) -> DomainFacts,
    ) -> std::sync::Arc<DomainFacts> {
        if self.facts.len() >= Self::MAX {
            self.facts.clear();
        }
        if let Some(known) = self.facts.get(domain) {
            return known.clone();
        }
        let learnt = std::sync::Arc::new(learn(domain));
        self.facts.insert(domain.to_owned(), learnt.clone());
        learnt
    }
}

impl DomainFacts {
    /// A domain under no public suffix that exists; one ending in a slip
    /// of the finger for `.com` (`.con`) gets the `.com` name as a fix.
    fn note_no_public_suffix(&mut self, domain: &str) {
        let tld = domain.rsplit('.').next().unwrap_or(domain);
        self.fix = COM_TYPOS
            .contains(&tld)
            .then(|| format!("{}.com", &domain[..domain.len() - tld.len() - 1]));
        self.reasons.push(Reason {
            code: "no_public_suffix",
            detail: format!(
                "{domain} does not end in a public suffix (top-level domain) that exists"
            ),
        });
    }
}

/// Reserved for examples, tests or local use (RFC 2606, 6761, 6762).
fn is_reserved(domain: &str) -> bool {
    RESERVED_DOMAINS
        .iter()
        .chain(RESERVED_SUFFIXES)
        .any(|r| same_or_below(domain, r))
}

/// Ends in a public suffix that exists, with a registrable name below it.
fn has_public_suffix(domain: &str) -> bool {
    let known_suffix = psl::suffix(domain.as_bytes()).is_some_and(|s| s.is_known());
    let registrable = psl::domain(domain.as_bytes()).is_some();
    known_suffix && registrable
}

/// `domain` is `zone` or a name below it.
fn same_or_below(domain: &str, zone: &str) -> bool {
    domain == zone
        || (domain.len() > zone.len()
            && domain.ends_with(zone)
            && domain.as_bytes()[domain.len() - zone.len() - 1] == b'.')
}

pub struct Checker {
    disposable: HashSet<&'static str>,
    /// Whether the outgoing transport supports SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
}

impl Default for Checker {
    fn default() -> Self {
        Self::new()
    }
}

impl Checker {
    pub fn new() -> Self {
        Self {
            disposable: mailchecker::blacklist().into_iter().collect(),
            smtputf8: false,
        }
    }

    pub fn disposable_domains(&self) -> usize {
        self.disposable.len()
    }

    /// Every check that needs no network.
    pub fn offline(&self, input: &str) -> AddressCheck {
        self.offline_cached(input, &mut DomainCache::default())
    }

    /// The same, remembering what it learnt about each domain in `cache`
    /// (an import sees the same few thousand domains a million times).
    pub fn offline_cached(&self, input: &str, cache: &mut DomainCache) -> AddressCheck {
        let mut check = AddressCheck::unchecked(input);
        let parsed = match EmailAddress::parse(input) {
            Ok(p) => p,
            Err(e) => return check.syntax_error(e.to_string()),
        };
        let facts = cache.facts_of(parsed.domain(), |domain| self.domain_facts(domain));
        let local = parsed.local_part();
        let domain = match &facts.ascii {
            Ok(d) => d.clone(),
            Err(why) => return check.syntax_error(why.clone()),
        };
        let normalized = format!("{local}@{domain}");
        if normalized.len() > 254 {
            return check.syntax_error(format!(
                "in ASCII form the address is {} characters long; the limit is 254",
                normalized.len()
            ));
        }
        check.reasons.extend(facts.reasons.iter().cloned());
        if let Some(fixed) = &facts.fix {
            check.suggestion = Some(format!("{local}@{fixed}"));
        }
        check.normalized = Some(normalized);
        check.domain = Some(domain);
        self.check_local(&mut check, local);
        check.parsed = Some(parsed);
        check.finish()
    }

    /// What can be said of a domain (as written, lowercased) without DNS.
    fn domain_facts(&self, written: &str) -> DomainFacts {
        let mut facts = DomainFacts {
            ascii: Ok(String::new()),
            reasons: Vec::new(),
            fix: None,
        };
        let domain = match idna::domain_to_ascii(written) {
            Ok(d) if !d.is_empty() => d,
            _ => {
                facts.ascii = Err(format!(
                    "the domain '{written}' is not a valid internationalised domain name"
                ));
                return facts;
            }
        };
        if is_reserved(&domain) {
            facts.reasons.push(Reason {
                code: "reserved_domain",
                detail: format!(
                    "{domain} is reserved for examples, tests or local use and never receives mail"
                ),
            });
        } else if !has_public_suffix(&domain) {
            facts.note_no_public_suffix(&domain);
        } else {
            self.note_registered_domain(&domain, &mut facts);
        }
        facts.ascii = Ok(domain);
        facts
    }

    /// What can be wrong with a domain under a real public suffix: it hands
    /// out throwaway addresses, or it misspells a mailbox provider's.
    fn note_registered_domain(&self, domain: &str, facts: &mut DomainFacts) {
        if self.is_disposable(domain) {
            facts.reasons.push(Reason {
                code: "disposable",
                detail: format!(
                    "{domain} hands out throwaway addresses that expire within hours or days"
                ),
            });
        }
        if let Some(fixed) = likely_typo(domain) {
            facts.reasons.push(Reason {
                code: "likely_typo",
                detail: format!("{domain} looks like a misspelling of {fixed}"),
            });
            facts.fix = Some(fixed);
        }
    }

    fn check_local(&self, check: &mut AddressCheck, local: &str) {
        if local.starts_with('"') {
            check.reasons.push(Reason {
                code: "quoted_local_part",
                detail: "the part before the '@' is quoted; legal, but rare in real addresses and often a sign of a hand-made or scraped one".to_owned(),
            });
        } else {
            let base = local.split('+').next().unwrap_or(local).to_lowercase();
            if ROLE_ACCOUNTS.contains(&base.as_str()) {
                check.reasons.push(Reason {
                    code: "role_account",
                    detail: format!("'{base}@' is a role account: it reaches a function or a team, not a person who opted in"),
                });
            }
        }
        if !local.is_ascii() && !self.smtputf8 {
            check.reasons.push(Reason {
                code: "utf8_local_part",
                detail: "the part before the '@' has non-ASCII characters; only servers with SMTPUTF8 (RFC 6531) can deliver it, and the configured transport does not announce it".to_owned(),
            });
        }
    }

    /// A domain or any parent of it is on the disposable list.
    fn is_disposable(&self, domain: &str) -> bool {
        let mut rest = domain;
        loop {
            if self.disposable.contains(rest) {
                return true;
            }
            match rest.split_once('.') {
                Some((_, parent)) if parent.contains('.') => rest = parent,
                _ => return false,
            }
        }
    }
}

/// Whether the domain is a large mailbox provider (many unrelated people share it).
pub fn is_mailbox_provider(domain: &str) -> bool {
    PROVIDERS.contains(&domain)
}

/// The provider a domain is one slip away from, if any.
fn likely_typo(domain: &str) -> Option<String> {
    if PROVIDERS.contains(&domain) {
        return None;
    }
    let (name, tld) = domain.rsplit_once('.')?;
    // gmail.co, hotmail.cm: a known provider name with a mangled .com.
    if tld != "com" && (COM_TYPOS.contains(&tld) || tld == "co" || tld == "cm") {
        let fixed = format!("{name}.com");
        if PROVIDERS.contains(&fixed.as_str()) {
            return Some(fixed);
        }
    }
    // A slip rarely changes both of the first two letters; checking that first
    // spares most comparisons (this runs for every imported row).
    let first_two = |s: &str| -> (u8, u8) {
        let b = s.as_bytes();
        (
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        )
    };
    let (d0, d1) = first_two(domain);
    PROVIDERS
        .iter()
        .filter(|p| {
            let (p0, p1) = first_two(p);
            (p0 == d0 || p1 == d1) && p.len().abs_diff(domain.len()) <= 2
        })
        .filter(|p| {
            let limit = if p.len() >= 10 { 2 } else { 1 };
            edit_distance(domain, p) <= limit
        })
        .min_by_key(|p| edit_distance(domain, p))
        .map(|p| (*p).to_owned())
}

/// The edit distance of two domains, or 3 (more than any limit asked for)
/// when their lengths alone differ by more than two: this runs for every
/// imported row against every popular domain.
fn edit_distance(a: &str, b: &str) -> usize {
    if a.len().abs_diff(b.len()) > 2 {
        return 3;
    }
    sendwell_core::text::edit_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(c: &AddressCheck) -> Vec<&'static str> {
        c.reasons.iter().map(|r| r.code).collect()
    }

    #[test]
    fn ordinary_addresses_are_valid() {
        let checker = Checker::new();
        for a in [
            "ada.lovelace@gmail.com",
            "j.smith+news@acme.co.uk",
            "o'brien@fastmail.com",
            "user@sub.domain.de",
        ] {
            let c = checker.offline(a);
            assert_eq!(c.verdict, Verdict::Valid, "{a}: {:?}", c.reasons);
        }
    }

    #[test]
    fn syntax_errors_are_invalid_with_the_reason() {
        let checker = Checker::new();
        for (a, says) in [
            ("ann@", "no domain"),
            ("ann.example.com", "no '@'"),
            ("a..b@gmail.com", "two dots"),
            ("ann@gmail.com\r\nBcc: x@y.com", "control character"),
            (&format!("{}@gmail.com", "a".repeat(65)), "limit is 64"),
        ] {
            let c = checker.offline(a);
            assert_eq!(c.verdict, Verdict::Invalid, "{a}");
            assert_eq!(codes(&c), ["syntax"]);
            assert!(
                c.reasons[0].detail.contains(says),
                "{a}: {}",
                c.reasons[0].detail
            );
        }
    }

    #[test]
    fn idn_domains_become_punycode() {
        let c = Checker::new().offline("jörg@bücher.de");
        assert_eq!(c.normalized.as_deref(), Some("jörg@xn--bcher-kva.de"));
        assert_eq!(c.domain.as_deref(), Some("xn--bcher-kva.de"));
        assert_eq!(
            codes(&c),
            ["utf8_local_part"],
            "UTF-8 local parts need SMTPUTF8"
        );
        let mut utf8 = Checker::new();
        utf8.smtputf8 = true;
        assert_eq!(utf8.offline("jörg@bücher.de").verdict, Verdict::Valid);
        assert_eq!(
            Checker::new()
                .offline("info@münchen.de")
                .normalized
                .as_deref(),
            Some("info@xn--mnchen-3ya.de")
        );
    }

    #[test]
    fn quoted_local_parts_are_allowed_but_flagged() {
        let c = Checker::new().offline("\"john smith\"@gmail.com");
        assert_eq!(c.verdict, Verdict::Risky);
        assert_eq!(codes(&c), ["quoted_local_part"]);
    }

    #[test]
    fn reserved_and_unknown_domains_are_invalid() {
        let checker = Checker::new();
        for a in [
            "a@example.com",
            "a@mail.example.org",
            "a@host.test",
            "a@x.invalid",
            "a@box.localhost",
            "a@foo.example",
            "a@printer.local",
        ] {
            let c = checker.offline(a);
            assert_eq!(codes(&c), ["reserved_domain"], "{a}");
            assert_eq!(c.verdict, Verdict::Invalid);
        }
        let c = checker.offline("a@company.notatld");
        assert_eq!(codes(&c), ["no_public_suffix"]);
        let c = checker.offline("ann@yahoo.con");
        assert_eq!(c.verdict, Verdict::Invalid);
        assert_eq!(c.suggestion.as_deref(), Some("ann@yahoo.com"));
    }

    #[test]
    fn disposable_domains_are_risky() {
        let checker = Checker::new();
        assert!(checker.disposable_domains() > 2000);
        for a in [
            "x@mailinator.com",
            "x@guerrillamailblock.com",
            "x@33mail.com",
            "x@sub.33mail.com",
        ] {
            let c = checker.offline(a);
            assert!(c.has("disposable"), "{a}: {:?}", c.reasons);
            assert_eq!(c.verdict, Verdict::Risky);
        }
        assert!(!checker.offline("x@gmail.com").has("disposable"));
    }

    #[test]
    fn role_accounts_are_risky() {
        let checker = Checker::new();
        for a in [
            "admin@acme.com",
            "INFO@acme.com",
            "noreply@acme.com",
            "postmaster@acme.com",
            "abuse@acme.com",
            "support+eu@acme.com",
        ] {
            assert!(checker.offline(a).has("role_account"), "{a}");
        }
        for a in [
            "adminson@acme.com",
            "ann@acme.com",
            "information.desk.jane@acme.com",
        ] {
            assert!(!checker.offline(a).has("role_account"), "{a}");
        }
    }

    #[test]
    fn likely_typos_come_with_a_suggestion() {
        let checker = Checker::new();
        for (a, meant) in [
            ("ann@gmial.com", "ann@gmail.com"),
            ("ann@hotmial.com", "ann@hotmail.com"),
            ("ann@yaho.com", "ann@yahoo.com"),
            ("ann@gmail.co", "ann@gmail.com"),
            ("ann@outlok.com", "ann@outlook.com"),
            ("ann@gmail.con", "ann@gmail.com"),
        ] {
            let c = checker.offline(a);
            assert_eq!(c.suggestion.as_deref(), Some(meant), "{a}: {:?}", c.reasons);
            assert_ne!(c.verdict, Verdict::Valid);
        }
        for a in [
            "ann@gmail.com",
            "ann@mail.com",
            "ann@acme.com",
            "ann@gmx.de",
        ] {
            assert_eq!(checker.offline(a).suggestion, None, "{a}");
        }
    }

    #[test]
    fn dns_decides_whether_the_domain_takes_mail() {
        let checker = Checker::new();
        let c = checker.offline("ann@acme.com");
        assert_eq!(
            c.clone()
                .with_dns(&DomainMail::Mx(vec!["mx.acme.com".into()]))
                .verdict,
            Verdict::Valid
        );
        assert_eq!(
            c.clone().with_dns(&DomainMail::AddressFallback).verdict,
            Verdict::Valid
        );
        let null = c.clone().with_dns(&DomainMail::NullMx);
        assert_eq!(
            (null.verdict, codes(&null)),
            (Verdict::Invalid, vec!["null_mx"])
        );
        let none = c.clone().with_dns(&DomainMail::NoMail);
        assert_eq!(
            (none.verdict, codes(&none)),
            (Verdict::Invalid, vec!["no_mail_server"])
        );
        let temp = c.with_dns(&DomainMail::TempFail("timeout".into()));
        assert_eq!(temp.verdict, Verdict::Risky);
        let bad = checker
            .offline("ann@example.com")
            .with_dns(&DomainMail::Mx(vec![]));
        assert_eq!(
            codes(&bad),
            ["reserved_domain"],
            "DNS cannot rescue an invalid address"
        );
    }

    #[test]
    fn edit_distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("gmial.com", "gmail.com"), 1);
        assert_eq!(edit_distance("hotmial.com", "hotmail.com"), 1);
        assert_eq!(edit_distance("gmail.com", "gmail.co"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("yaho.com", "yahoo.com"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
    }
}
