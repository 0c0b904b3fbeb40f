//! Where sendwell may connect on a workspace's or a stranger's say-so:
//! webhook endpoints (a workspace names them), MX hosts (a recipient's
//! domain names them) and SNS certificate URLs (a request names them).
//! None of them may reach this machine or a private network: that would
//! let a tenant probe or call services behind the firewall (SSRF).
//!
//! A host name is resolved, every address it has is checked against the
//! special-purpose ranges of the IANA IPv4 and IPv6 registries (RFC 6890
//! and its updates), and the connection goes to an address that was
//! checked, never to a second lookup's answer (DNS rebinding). The check is
//! made at every connection, not once when the URL was saved.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is in a special-purpose range: anything but a globally
/// reachable unicast address. Addresses that embed an IPv4 address
/// (mapped, compatible, NAT64, 6to4, Teredo) are refused whole: the
/// address they lead to is not the one that was checked.
pub fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => is_special_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn is_special_v4(ip: Ipv4Addr) -> bool {
    const RANGES: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),       // "this network"
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // shared address space (CGN)
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link local (cloud metadata lives here)
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation
        ([192, 31, 196, 0], 24), // AS112
        ([192, 52, 193, 0], 24), // AMT
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast
        ([192, 168, 0, 0], 16),  // private
        ([192, 175, 48, 0], 24), // direct delegation AS112
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation
        ([203, 0, 113, 0], 24),  // documentation
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, and the limited broadcast
    ];
    RANGES.iter().any(|(net, bits)| in_v4(ip, *net, *bits))
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    (u128::from(ip) & mask) == (u128::from(Ipv6Addr::from(net)) & mask)
}

fn is_special_v6(ip: Ipv6Addr) -> bool {
    const RANGES: &[([u16; 8], u32)] = &[
        ([0, 0, 0, 0, 0, 0, 0, 0], 96), // unspecified, loopback, IPv4-compatible
        ([0, 0, 0, 0, 0, 0xffff, 0, 0], 96), // IPv4-mapped
        ([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), // NAT64 well-known prefix
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), // local-use NAT64
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64), // discard-only
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments (Teredo, ORCHID...)
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
        ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), // 6to4
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation
        ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), // segment routing SIDs
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), // unique local
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link local
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), // site local (deprecated)
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), // multicast
    ];
    RANGES.iter().any(|(net, bits)| in_v6(ip, *net, *bits))
}

/// Why a destination was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "{0} is not a public host name: give a fully qualified name such as hooks.example.com"
    )]
    NotPublicName(String),
    #[error("{host} resolves to {ip}, a private, loopback or other special-purpose address")]
    SpecialAddress { host: String, ip: IpAddr },
    #[error("{host} does not resolve: {why}")]
    Unresolved { host: String, why: String },
}

/// Names that are never public, whatever DNS says (RFC 6761, RFC 8375 and
/// names in common private use).
const PRIVATE_SUFFIXES: &[&str] = &[
    "localhost",
    "local",
    "internal",
    "intranet",
    "lan",
    "home",
    "corp",
    "private",
    "home.arpa",
    "test",
    "invalid",
    "example",
    "onion",
];

/// The host as it is looked up: lower case, without a trailing dot or
/// IPv6 brackets.
pub fn normalize_host(host: &str) -> String {
    host.trim()
        .trim_matches(['[', ']'])
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Checks a host name or address literal without looking it up: an
/// address must not be special, a name must have a dot and must not end in
/// a private-use suffix.
pub fn check_host(host: &str) -> Result<(), Refused> {
    let host = normalize_host(host);
    if let Some(ip) = parse_ip(&host) {
        return if is_special(ip) {
            Err(Refused::SpecialAddress {
                host: host.clone(),
                ip,
            })
        } else {
            Ok(())
        };
    }
    let single_label = !host.contains('.');
    let private = PRIVATE_SUFFIXES
        .iter()
        .any(|s| host == *s || host.ends_with(&format!(".{s}")));
    if host.is_empty() || single_label || private {
        return Err(Refused::NotPublicName(host));
    }
    Ok(())
}

/// An address literal, in any of the forms URL parsers accept for IPv4
/// (`0.1.2.3`, but also what `inet_aton` reads: `127.1`, `0x7f.1`, `2130706433`).
fn parse_ip(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 || !parts.iter().all(|p| is_number(p)) {
        return None;
    }
    let values: Option<Vec<u64>> = parts.iter().map(|p| parse_number(p)).collect();
    let values = values?;
    let (last, first) = values.split_last()?;
    let mut n: u64 = 0;
    for (i, v) in first.iter().enumerate() {
        if *v > 255 {
            return None;
        }
        n |= v << (24 - 8 * i);
    }
    let room = 32 - 8 * first.len() as u32;
    if room < 64 && *last >= (1u64 << room) {
        return None;
    }
    n |= last;
    u32::try_from(n).ok().map(|n| IpAddr::V4(Ipv4Addr::from(n)))
}

fn is_number(p: &str) -> bool {
    !p.is_empty()
        && (p.bytes().all(|b| b.is_ascii_digit())
            || (p.len() > 2
                && (p.starts_with("0x") || p.starts_with("0X"))
                && p[2..].bytes().all(|b| b.is_ascii_hexdigit())))
}

fn parse_number(p: &str) -> Option<u64> {
    if let Some(hex) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if p.len() > 1 && p.starts_with('0') {
        u64::from_str_radix(p, 8).ok()
    } else {
        p.parse().ok()
    }
}

/// Resolves `host` and checks every address; the checked addresses with
/// `port`, for the caller to connect to and nothing else.
pub async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
    check_host(host)?;
    let host = normalize_host(host);
    if let Some(ip) = parse_ip(&host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| Refused::Unresolved {
            host: host.clone(),
            why: e.to_string(),
        })?
        .collect();
    checked(&host, addrs)
}

/// `addrs` when every one is public; a name with one special address is
/// refused whole (its owner could hand out either).
pub fn checked(host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refused> {
    if let Some(bad) = addrs.iter().find(|a| is_special(a.ip())) {
        return Err(Refused::SpecialAddress {
            host: host.to_owned(),
            ip: bad.ip(),
        });
    }
    if addrs.is_empty() {
        return Err(Refused::Unresolved {
            host: host.to_owned(),
            why: "no addresses".to_owned(),
        });
    }
    Ok(addrs)
}

/// A resolver for the HTTP client of webhooks and SNS certificates: every
/// name it resolves is checked, so the client only ever connects to a
/// checked address, at every request.
pub struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_public(&host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: each of these was accepted as a webhook endpoint.
    #[test]
    fn regression_special_hosts_are_refused() {
        for host in [
            "localhost.",
            "vm",
            "[::127.0.0.1]",
            "[64:ff9b::a9fe:a9fe]",
            "[fec0::1]",
            "0.1.2.3",
            "198.18.0.1",
            "240.0.0.1",
            "127.1",
            "0x7f.0.0.1",
            "2130706433",
            "017700000001",
            "[::ffff:169.254.169.254]",
            "[::1]",
            "169.254.169.254",
            "100.64.0.1",
            "[fd00::1]",
            "[2002:7f00:1::]",
            "[2001::1]",
            "metadata.google.internal",
            "printer.local",
            "router.home.arpa",
            "255.255.255.255",
            "224.0.0.1",
        ] {
            assert!(check_host(host).is_err(), "{host} was accepted");
        }
    }

    #[test]
    fn public_hosts_pass() {
        for host in [
            "hooks.example.com",
            "93.184.215.14",
            "[2606:4700::1111]",
            "api.Acme-Mail.COM.",
        ] {
            assert!(check_host(host).is_ok(), "{host} was refused");
        }
        assert_eq!(
            checked("x.example.com", vec!["8.8.8.8:443".parse().expect("addr")]).map(|a| a.len()),
            Ok(1)
        );
        assert!(checked(
            "x.example.com",
            vec![
                "8.8.8.8:443".parse().expect("addr"),
                "10.0.0.1:443".parse().expect("addr")
            ]
        )
        .is_err());
    }
}
