//! Email addresses as sendwell accepts them from users: RFC 5321/5322
//! mailbox syntax (dot-atom or quoted local part, UTF-8 allowed as RFC 6531
//! does), length limits, no control characters anywhere (so an address can
//! never smuggle a header line), and a fully qualified domain.
//! Deliverability checks (DNS, disposable domains, typos) live elsewhere.

use std::fmt;

const MAX_TOTAL: usize = 254;
const MAX_LOCAL: usize = 64;
const MAX_LABEL: usize = 63;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    #[error("the email address is empty")]
    Empty,
    #[error("the email address contains a control character (such as CR, LF or NUL); remove it")]
    ControlCharacter,
    #[error("the email address is {0} characters long; the limit is 254")]
    TooLong(usize),
    #[error("the email address has no '@'; write it as name@example.org")]
    MissingAt,
    #[error("the email address has nothing before the '@'")]
    EmptyLocalPart,
    #[error("the part before the '@' is {0} characters long; the limit is 64")]
    LocalPartTooLong(usize),
    #[error("the part before the '@' is not valid: {0}")]
    InvalidLocalPart(&'static str),
    #[error("the email address has no domain after the '@'; write it as name@example.org")]
    MissingDomain,
    #[error("the domain '{0}' is not valid: {1}")]
    InvalidDomain(String, &'static str),
}

/// A syntactically valid email address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmailAddress {
    /// As given, with the domain lowercased.
    address: String,
    at: usize,
    /// `key()`, worked out once: an import asks for it several times a row.
    key: String,
}

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        if input.chars().any(char::is_control) {
            return Err(EmailError::ControlCharacter);
        }
        let text = input.trim_matches(' ');
        if text.is_empty() {
            return Err(EmailError::Empty);
        }
        if text.len() > MAX_TOTAL {
            return Err(EmailError::TooLong(text.chars().count()));
        }
        let at = text.rfind('@').ok_or(EmailError::MissingAt)?;
        let (local, domain) = (&text[..at], &text[at + 1..]);
        parse_local(local)?;
        let domain = parse_domain(domain)?;
        let ascii_domain = if domain.is_ascii() {
            domain.clone()
        } else {
            match idna::domain_to_ascii(&domain) {
                Ok(d) if !d.is_empty() => d,
                _ => {
                    return Err(EmailError::InvalidDomain(
                        domain,
                        "it is not a valid internationalised domain name",
                    ))
                }
            }
        };
        let mut address = String::with_capacity(local.len() + 1 + domain.len());
        address.push_str(local);
        address.push('@');
        address.push_str(&domain);
        let mut key = String::with_capacity(local.len() + 1 + ascii_domain.len());
        if local.bytes().any(|b| b.is_ascii_uppercase()) || !local.is_ascii() {
            key.push_str(&local.to_lowercase());
        } else {
            key.push_str(local);
        }
        key.push('@');
        key.push_str(&ascii_domain);
        Ok(Self { address, at, key })
    }

    pub fn as_str(&self) -> &str {
        &self.address
    }

    pub fn local_part(&self) -> &str {
        &self.address[..self.at]
    }

    pub fn domain(&self) -> &str {
        &self.address[self.at + 1..]
    }

    /// The form used to decide that two addresses are the same person's:
    /// lowercased throughout, the domain in ASCII form (so `bücher.de` and
    /// `xn--bcher-kva.de` are one domain). Mailbox providers treat local parts
    /// case-insensitively in practice, and so do listmonk and Intercom.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the local part is a quoted string (legal, but a sign of a
    /// hand-made or scraped address).
    pub fn is_quoted(&self) -> bool {
        self.local_part().starts_with('"')
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

impl serde::Serialize for EmailAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.address)
    }
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn parse_local(local: &str) -> Result<(), EmailError> {
    if local.is_empty() {
        return Err(EmailError::EmptyLocalPart);
    }
    if local.len() > MAX_LOCAL {
        return Err(EmailError::LocalPartTooLong(local.chars().count()));
    }
    if let Some(inner) = local.strip_prefix('"') {
        let inner = inner.strip_suffix('"').ok_or(EmailError::InvalidLocalPart(
            "a quoted part must end with '\"'",
        ))?;
        let mut escaped = false;
        for c in inner.chars() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    return Err(EmailError::InvalidLocalPart(
                        "a '\"' inside a quoted part must be escaped as \\\"",
                    ))
                }
                _ => {}
            }
        }
        if escaped {
            return Err(EmailError::InvalidLocalPart(
                "a quoted part ends with a lone backslash",
            ));
        }
        return Ok(());
    }
    if local.starts_with('.') || local.ends_with('.') {
        return Err(EmailError::InvalidLocalPart("it starts or ends with a dot"));
    }
    if local.contains("..") {
        return Err(EmailError::InvalidLocalPart("it has two dots in a row"));
    }
    if let Some(bad) = local.chars().find(|&c| c != '.' && !is_atext(c)) {
        return Err(EmailError::InvalidLocalPart(match bad {
            ' ' => "it contains a space",
            '@' => "it contains a second '@'",
            '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '\\' | '"' => {
                "it contains a character that must be quoted: <>()[],;:\\\""
            }
            _ => "it contains a character that is not allowed",
        }));
    }
    Ok(())
}

fn parse_domain(domain: &str) -> Result<String, EmailError> {
    if domain.is_empty() {
        return Err(EmailError::MissingDomain);
    }
    let invalid = |why| {
        Err(EmailError::InvalidDomain(
            domain.chars().take(80).collect(),
            why,
        ))
    };
    if domain.starts_with('[') {
        return invalid("address literals such as [192.0.2.1] are not accepted; use a domain name");
    }
    let lower = domain.trim_end_matches('.').to_lowercase();
    if lower.is_empty() {
        return Err(EmailError::MissingDomain);
    }
    let labels: Vec<&str> = lower.split('.').collect();
    if labels.len() < 2 {
        return invalid("it must be a fully qualified name such as example.org");
    }
    for label in &labels {
        if label.is_empty() {
            return invalid("it has an empty label (two dots in a row)");
        }
        if label.len() > MAX_LABEL {
            return invalid("a label is longer than 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return invalid("a label starts or ends with a hyphen");
        }
        if !label.chars().all(|c| {
            c.is_ascii_alphanumeric() || c == '-' || (!c.is_ascii() && c.is_alphanumeric())
        }) {
            return invalid("it contains a character that is not a letter, digit, hyphen or dot");
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return invalid("the last label is numeric; IP addresses are not accepted");
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_parse_with_lowercase_domain() {
        let e = EmailAddress::parse("Ada.Lovelace+news@Example.ORG").expect("valid");
        assert_eq!(e.as_str(), "Ada.Lovelace+news@example.org");
        assert_eq!(e.key(), "ada.lovelace+news@example.org");
        assert_eq!(e.local_part(), "Ada.Lovelace+news");
        assert_eq!(e.domain(), "example.org");
    }

    #[test]
    fn an_idn_domain_and_its_punycode_are_one_key() {
        let a = EmailAddress::parse("Jörg@Bücher.de").expect("unicode");
        let b = EmailAddress::parse("jörg@xn--bcher-kva.de").expect("punycode");
        assert_eq!(a.key(), b.key());
        assert_eq!(a.key(), "jörg@xn--bcher-kva.de");
    }

    #[test]
    fn utf8_and_quoted_local_parts_are_accepted() {
        assert!(EmailAddress::parse("jörg@bücher.de").is_ok());
        let q = EmailAddress::parse("\"john smith\"@example.org").expect("quoted");
        assert!(q.is_quoted());
        assert!(EmailAddress::parse("\"a\"b\"@example.org").is_err());
    }

    #[test]
    fn header_injection_characters_are_refused() {
        for bad in [
            "a@b.org\r\nBcc: x@y.org",
            "a@b.org\n",
            "a\0@b.org",
            "a@b.org\r",
        ] {
            assert_eq!(
                EmailAddress::parse(bad),
                Err(EmailError::ControlCharacter),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn missing_parts_are_named() {
        assert_eq!(EmailAddress::parse("ada@"), Err(EmailError::MissingDomain));
        assert_eq!(EmailAddress::parse("ada"), Err(EmailError::MissingAt));
        assert_eq!(
            EmailAddress::parse("@b.org"),
            Err(EmailError::EmptyLocalPart)
        );
        assert_eq!(EmailAddress::parse("  "), Err(EmailError::Empty));
        assert!(matches!(
            EmailAddress::parse("ada@localhost"),
            Err(EmailError::InvalidDomain(_, _))
        ));
    }

    #[test]
    fn length_limits_hold() {
        let long_local = format!("{}@example.org", "a".repeat(65));
        assert_eq!(
            EmailAddress::parse(&long_local),
            Err(EmailError::LocalPartTooLong(65))
        );
        let long_total = format!("a@{}.org", vec!["b".repeat(60); 5].join("."));
        assert!(matches!(
            EmailAddress::parse(&long_total),
            Err(EmailError::TooLong(_))
        ));
        let ok = format!("{}@example.org", "a".repeat(64));
        assert!(EmailAddress::parse(&ok).is_ok());
    }

    #[test]
    fn malformed_local_parts_and_domains_are_refused() {
        for bad in [
            ".a@b.org",
            "a.@b.org",
            "a..b@b.org",
            "a b@b.org",
            "a(b)@b.org",
            "a@b..org",
            "a@-b.org",
            "a@b_c.org",
            "a@[192.0.2.1]",
            "a@192.0.2.1",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
