//! Email addresses inside free text and DSN fields.

fn is_local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&c) || c >= 0x80
}

fn is_domain_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'-' || c == b'_' || c >= 0x80
}

/// An address found in text: byte range and the address itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) address: String,
}

/// Every `local@domain.tld` in `text`, in order. The domain needs a dot
/// unless `allow_dotless`.
pub(crate) fn find_all(text: &str, allow_dotless: bool) -> Vec<Found> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'@' {
            i += 1;
            continue;
        }
        let mut s = i;
        while s > 0 && is_local_char(b[s - 1]) {
            s -= 1;
        }
        // Leading dots and quotes are not part of the address.
        while s < i && (b[s] == b'.' || b[s] == b'\'') {
            s += 1;
        }
        let mut e = i + 1;
        if e < b.len() && b[e] == b'[' {
            // Address literal.
            match b[e..].iter().position(|&c| c == b']') {
                Some(p) => e += p + 1,
                None => {
                    i += 1;
                    continue;
                }
            }
        } else {
            while e < b.len() && is_domain_char(b[e]) {
                e += 1;
            }
            while e > i + 1 && (b[e - 1] == b'.' || b[e - 1] == b'-') {
                e -= 1;
            }
        }
        if s < i && e > i + 1 && text.is_char_boundary(s) && text.is_char_boundary(e) {
            let local = &text[s..i];
            let domain = &text[i + 1..e];
            let ok_domain = domain.starts_with('[')
                || (allow_dotless || domain.contains('.'))
                    && !domain.starts_with('.')
                    && !domain.contains("..");
            if ok_domain && !local.ends_with('.') {
                out.push(Found {
                    start: s,
                    end: e,
                    address: text[s..e].to_owned(),
                });
            }
        }
        i = e.max(i + 1);
    }
    out
}

/// The first address in `text`, also with a dotless domain.
pub(crate) fn first_any(text: &str) -> Option<String> {
    find_all(text, true).into_iter().next().map(|f| f.address)
}

/// An address from a DSN field value (`rfc822; user@example.com`,
/// `<user@example.com>`, `"Name" <user@example.com>`).
pub(crate) fn from_field(value: &str) -> Option<String> {
    let v = value.trim();
    let v = match v.split_once(';') {
        Some((kind, rest)) if !kind.contains('@') && !kind.contains('<') => rest.trim(),
        _ => v,
    };
    if let Some(f) = find_all(v, true).into_iter().next() {
        return Some(f.address);
    }
    None
}

/// Exchange's IMCEA encapsulation of a foreign address in a local one
/// (`IMCEASMTP-jo+2Esmith+40example+2Ecom@exchange.example`, each `+HH`
/// a hex-coded character, as Microsoft documents it): the SMTP address
/// it carries, when it carries one.
pub(crate) fn imcea_decoded(a: &str) -> Option<String> {
    let (local, _) = a.rsplit_once('@')?;
    let rest = local
        .get(..10)
        .filter(|p| p.eq_ignore_ascii_case("imceasmtp-"))
        .map(|_| &local[10..])?;
    let mut out = Vec::with_capacity(rest.len());
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).ok()?;
    let found = find_all(&decoded, false);
    let f = found.first()?;
    (f.start == 0 && f.end == decoded.len()).then(|| f.address.clone())
}

/// Lower-cased for comparison.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Addresses that are never a bounced recipient: the bounce system's own.
pub(crate) fn is_system_address(a: &str) -> bool {
    let lower = a.to_ascii_lowercase();
    let local = lower.split('@').next().unwrap_or("");
    matches!(
        local,
        "mailer-daemon" | "postmaster" | "mail-daemon" | "mailerdaemon"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_addresses() {
        let f = find_all("<a.b@example.com>: host x said: 550 <c@d.example.>.", false);
        let v: Vec<_> = f.iter().map(|f| f.address.as_str()).collect();
        assert_eq!(v, ["a.b@example.com", "c@d.example"]);
        assert_eq!(
            from_field("rfc822; <User@Example.COM>").as_deref(),
            Some("User@Example.COM")
        );
        assert_eq!(
            from_field("rfc822;root@localhost").as_deref(),
            Some("root@localhost")
        );
        assert!(first_any("no address here @ all").is_none());
        assert_eq!(
            imcea_decoded("IMCEASMTP-jo+2Esmith+40example+2Ecom@hq.example").as_deref(),
            Some("jo.smith@example.com")
        );
        assert_eq!(imcea_decoded("jo@example.com"), None);
        assert_eq!(imcea_decoded("IMCEAEX-_O=ORG_OU=X@hq.example"), None);
    }
}
