//! The sender domain report (issue #19): what mailbox providers check of a
//! domain mail is sent from, each as pass, warn or fail with the record to
//! publish. Gmail's and Yahoo's 2024 rules for bulk senders ask for SPF or
//! DKIM, a DMARC record, and alignment of the From domain with what
//! authenticated; the bounce domain's MX lets bounces come back.
//!
//! - **DKIM**: sendwell signs with `d=` the sender domain itself, so DKIM
//!   aligns when the domain's key records are published (verified).
//! - **SPF** is checked by receivers on the return path (MAIL FROM), which
//!   is the VERP address at the bounce domain: its record must authorise
//!   the relay (the `smtp` transport) or this server (the `mx` transport).
//!   An `a:`, `include:` or `redirect=` in the sending host's own
//!   organisational domain counts as naming it; other mechanisms that need
//!   further lookups are not followed: such a record is a warning to check.
//! - **DMARC** (RFC 7489): `_dmarc.<domain>`, else the organisational
//!   domain's; `p=none` only monitors, and without `rua` nobody sees the
//!   reports.
//! - **Alignment** (relaxed): the return-path domain must share the From
//!   domain's organisational domain for SPF to count towards DMARC, so the
//!   bounce domain should be a subdomain of the sender domain.
//! - **Bounce MX**: the bounce domain's MX must reach this server's
//!   listener.

use crate::state::AppState;
use crate::transport::TransportKind;
use sendwell_screen::dns::{DomainMail, MailDomainResolver, TxtAnswer};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

/// A record to publish (or to change to).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Publish {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Check {
    /// `dkim`, `spf`, `dmarc`, `dkim_alignment`, `return_path_alignment` or `bounce_mx`.
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    /// What DNS has now.
    pub found: Option<String>,
    /// What to publish when the check does not pass.
    pub publish: Option<Publish>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct DomainReport {
    pub domain: String,
    /// The domain of the return path (the bounce domain).
    pub return_path_domain: String,
    /// The worst of the checks.
    pub status: Status,
    pub checks: Vec<Check>,
}

/// The organisational (registrable) domain, RFC 7489 §3.2.
pub fn organizational(domain: &str) -> String {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    psl::domain_str(&d).map(str::to_owned).unwrap_or(d)
}

/// Relaxed alignment: the same organisational domain.
pub fn aligned_relaxed(a: &str, b: &str) -> bool {
    organizational(a) == organizational(b)
}

/// A DMARC record's tags, when it is one (`v=DMARC1` first, `p` given).
pub fn parse_dmarc(record: &str) -> Option<Vec<(String, String)>> {
    let tags: Vec<(String, String)> = record
        .split(';')
        .filter_map(|t| {
            let (k, v) = t.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let first = tags.first()?;
    if first.0 != "v" || !first.1.eq_ignore_ascii_case("DMARC1") {
        return None;
    }
    tags.iter().any(|(k, _)| k == "p").then_some(tags)
}

fn tag<'t>(tags: &'t [(String, String)], name: &str) -> Option<&'t str> {
    tags.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// How an SPF record treats a sending host: authorised by a mechanism
/// that names it (`a:host`, or its domain), maybe (mechanisms not
/// followed), or not at all.
#[derive(Debug, PartialEq, Eq)]
pub enum SpfVerdict {
    Names(String),
    Unsure(String),
    Excludes,
}

pub fn spf_names(record: &str, host: &str) -> SpfVerdict {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let org = organizational(&host);
    let mut unsure = Vec::new();
    for term in record.split_whitespace().skip(1) {
        // Only a pass (`+`, or no qualifier) authorises; `-` fails the
        // host, `~` and `?` leave it unjudged (RFC 7208 §4.6.2).
        let term = term.trim_start_matches('+').to_ascii_lowercase();
        if term.starts_with(['-', '~', '?']) {
            continue;
        }
        let target = term
            .strip_prefix("a:")
            .or_else(|| term.strip_prefix("include:"))
            .or_else(|| term.strip_prefix("mx:"))
            .or_else(|| term.strip_prefix("redirect="));
        if let Some(t) = target {
            let t = t.split('/').next().unwrap_or(t);
            if t == host || organizational(t) == org {
                return SpfVerdict::Names(term.clone());
            }
            unsure.push(term.clone());
        } else if term.starts_with("ip4:")
            || term.starts_with("ip6:")
            || term == "a"
            || term == "mx"
            || term.starts_with("exists:")
        {
            unsure.push(term.clone());
        }
    }
    if unsure.is_empty() {
        SpfVerdict::Excludes
    } else {
        SpfVerdict::Unsure(unsure.join(" "))
    }
}

fn check(
    check: &'static str,
    status: Status,
    detail: String,
    found: Option<String>,
    publish: Option<Publish>,
) -> Check {
    Check {
        check,
        status,
        detail,
        found,
        publish,
    }
}

/// The report for `domain` (a sender domain of a workspace), whose DKIM
/// records are `dkim` (name, value) and verified or not.
pub async fn report(
    state: &AppState,
    domain: &str,
    dkim_verified: bool,
    dkim: Option<Publish>,
) -> DomainReport {
    let bounce = state.bounce_domain();
    let dmarc = dmarc_check(state, domain).await;
    let mut checks = vec![
        dkim_check(domain, dkim_verified, dkim.clone()),
        spf_check(state, &bounce).await,
        dmarc.0,
        check(
            "dkim_alignment",
            if dkim_verified {
                Status::Pass
            } else {
                Status::Fail
            },
            if dkim_verified {
                format!("Mail is signed with d={domain}, the From domain itself: DKIM aligns.")
            } else {
                format!("DKIM aligns only once the key records of {domain} are published and verified (see dkim).")
            },
            None,
            None,
        ),
        return_path_check(state, domain, &bounce, dmarc.1.as_deref()),
        bounce_mx_check(state, &bounce).await,
    ];
    checks.sort_by_key(|c| c.check != "dkim");
    let status = checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(Status::Pass);
    DomainReport {
        domain: domain.to_owned(),
        return_path_domain: bounce,
        status,
        checks,
    }
}

fn dkim_check(domain: &str, verified: bool, record: Option<Publish>) -> Check {
    if verified {
        check(
            "dkim",
            Status::Pass,
            format!("The DKIM key records of {domain} are published and match this server's keys."),
            None,
            None,
        )
    } else {
        check(
            "dkim",
            Status::Fail,
            format!("The DKIM key records of {domain} are not verified: publish them, then POST /v1/sender-domains/{domain}/verify."),
            None,
            record,
        )
    }
}

/// Who sends: the relay host, or this server (named by its public host).
fn sending_host(state: &AppState) -> (String, bool) {
    let transport = &state.delivery().transport;
    match (&transport.kind, &transport.relay) {
        (TransportKind::Smtp, Some(relay)) => (relay.host.clone(), true),
        _ => (state.public_host(), false),
    }
}

async fn spf_check(state: &AppState, bounce: &str) -> Check {
    let (host, relay) = sending_host(state);
    let who = if relay {
        format!("the relay {host}")
    } else {
        format!("this server ({host})")
    };
    let publish = Some(Publish {
        kind: "TXT",
        name: bounce.to_owned(),
        value: format!("v=spf1 a:{host} ~all"),
    });
    let records = match state.resolver().txt(bounce).await {
        TxtAnswer::Records(r) => r,
        TxtAnswer::NotFound => Vec::new(),
        TxtAnswer::TempFail(e) => {
            return check(
                "spf",
                Status::Warn,
                format!("DNS did not answer for {bounce}: {e}; try again later."),
                None,
                None,
            )
        }
    };
    let spf: Vec<&String> = records
        .iter()
        .filter(|r| r.trim().to_ascii_lowercase().starts_with("v=spf1"))
        .collect();
    match spf.as_slice() {
        [] => check(
            "spf",
            Status::Fail,
            format!("{bounce}, the domain of the return path, has no SPF record: receivers cannot tell that {who} may send for it."),
            None,
            publish,
        ),
        [one] => match spf_names(one, &host) {
            SpfVerdict::Names(term) => check(
                "spf",
                Status::Pass,
                format!("The SPF record of {bounce} authorises {who} ({term})."),
                Some((*one).clone()),
                None,
            ),
            SpfVerdict::Unsure(terms) => check(
                "spf",
                Status::Warn,
                format!("The SPF record of {bounce} does not name {who}; it may still cover it through {terms}, which this check does not follow. Make sure it does, or add a:{host}."),
                Some((*one).clone()),
                publish,
            ),
            SpfVerdict::Excludes => check(
                "spf",
                Status::Fail,
                format!("The SPF record of {bounce} authorises no host that could be {who}."),
                Some((*one).clone()),
                publish,
            ),
        },
        _ => check(
            "spf",
            Status::Fail,
            format!("{bounce} has {} SPF records; receivers treat that as an error (RFC 7208 §4.5): merge them into one.", spf.len()),
            Some(spf.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" | ")),
            publish,
        ),
    }
}

/// The DMARC check, and the record's `aspf` (alignment mode for SPF).
pub(crate) async fn dmarc_check(state: &AppState, domain: &str) -> (Check, Option<String>) {
    let org = organizational(domain);
    let publish = Some(Publish {
        kind: "TXT",
        name: format!("_dmarc.{domain}"),
        value: format!("v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}"),
    });
    let mut names = vec![format!("_dmarc.{domain}")];
    if org != domain {
        names.push(format!("_dmarc.{org}"));
    }
    for name in names {
        let records = match state.resolver().txt(&name).await {
            TxtAnswer::Records(r) => r,
            TxtAnswer::NotFound => continue,
            TxtAnswer::TempFail(e) => {
                return (
                    check(
                        "dmarc",
                        Status::Warn,
                        format!("DNS did not answer for {name}: {e}; try again later."),
                        None,
                        None,
                    ),
                    None,
                )
            }
        };
        let Some((record, tags)) = records
            .iter()
            .find_map(|r| parse_dmarc(r).map(|t| (r.clone(), t)))
        else {
            continue;
        };
        let policy = tag(&tags, "p").unwrap_or("").to_ascii_lowercase();
        let aspf = tag(&tags, "aspf").map(str::to_ascii_lowercase);
        let rua = tag(&tags, "rua").is_some();
        let (status, detail) = match (policy.as_str(), rua) {
            ("quarantine" | "reject", true) => (Status::Pass, format!("DMARC is published at {name} with p={policy} and aggregate reports (rua).")),
            ("quarantine" | "reject", false) => (Status::Warn, format!("DMARC at {name} has p={policy} but no rua: add rua=mailto:... to receive the reports that show who sends as {domain}.")),
            ("none", _) => (Status::Warn, format!("DMARC at {name} has p=none: it only monitors. Once the reports show only your own mail, move to p=quarantine.{}", if rua { "" } else { " Add rua=mailto:... to receive the reports." })),
            _ => (Status::Fail, format!("The DMARC record at {name} has p={policy}, which is not none, quarantine or reject.")),
        };
        let publish = (status != Status::Pass).then(|| Publish {
            kind: "TXT",
            name: name.clone(),
            value: format!(
                "v=DMARC1; p={}; rua=mailto:dmarc-reports@{domain}",
                if policy == "none" {
                    "none"
                } else {
                    "quarantine"
                }
            ),
        });
        return (check("dmarc", status, detail, Some(record), publish), aspf);
    }
    (
        check(
            "dmarc",
            Status::Fail,
            format!("{domain} publishes no DMARC record (neither _dmarc.{domain} nor its organisational domain's): Gmail and Yahoo require one of bulk senders."),
            None,
            publish,
        ),
        None,
    )
}

fn return_path_check(state: &AppState, domain: &str, bounce: &str, aspf: Option<&str>) -> Check {
    let strict = aspf == Some("s");
    let aligned = if strict {
        bounce.eq_ignore_ascii_case(domain)
    } else {
        aligned_relaxed(bounce, domain)
    };
    if aligned {
        return check(
            "return_path_alignment",
            Status::Pass,
            format!("The return path's domain {bounce} shares {}'s organisational domain: SPF aligns with the From domain.", organizational(domain)),
            None,
            None,
        );
    }
    let suggested = format!("bounces.{domain}");
    check(
        "return_path_alignment",
        Status::Warn,
        format!(
            "The return path is at {bounce}, which is not under {domain}{}: SPF passes for {bounce} but does not count towards DMARC, which then rests on DKIM alone. Have the operator use a bounce domain under {domain} (such as {suggested}), with its MX pointing at this server and an SPF record.",
            if strict { " (aspf=s asks for the very same domain)" } else { "" }
        ),
        None,
        Some(Publish {
            kind: "MX",
            name: suggested,
            value: format!("10 {}", state.public_host()),
        }),
    )
}

async fn bounce_mx_check(state: &AppState, bounce: &str) -> Check {
    let listener = state.public_host();
    let publish = Some(Publish {
        kind: "MX",
        name: bounce.to_owned(),
        value: format!("10 {listener}"),
    });
    match state.resolver().uncached().resolve(bounce).await.answer {
        DomainMail::Mx(hosts) => {
            let found = hosts.join(", ");
            if hosts
                .iter()
                .any(|h| h.trim_end_matches('.').eq_ignore_ascii_case(&listener))
            {
                check(
                    "bounce_mx",
                    Status::Pass,
                    format!("The MX of {bounce} points at {listener}, where bounces are read."),
                    Some(found),
                    None,
                )
            } else {
                check("bounce_mx", Status::Warn, format!("The MX of {bounce} is {found}, not {listener}: make sure it delivers to this server's bounce listener, or bounces are never seen."), Some(found), publish)
            }
        }
        DomainMail::TempFail(e) => check(
            "bounce_mx",
            Status::Warn,
            format!("DNS did not answer for {bounce}: {e}; try again later."),
            None,
            None,
        ),
        _ => check(
            "bounce_mx",
            Status::Fail,
            format!(
                "{bounce} has no MX: bounces and mailto unsubscribes cannot reach this server."
            ),
            None,
            publish,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisational_domains_and_relaxed_alignment() {
        assert_eq!(
            organizational("bounces.news.example.co.uk"),
            "example.co.uk"
        );
        assert!(aligned_relaxed("bounces.acme.com", "acme.com"));
        assert!(aligned_relaxed("mail.acme.com", "news.acme.com"));
        assert!(!aligned_relaxed("bounces.sendwell.test", "acme.com"));
    }

    #[test]
    fn dmarc_records_are_read_by_their_tags() {
        let tags = parse_dmarc("v=DMARC1; p=reject; rua=mailto:d@acme.com; aspf=s").expect("dmarc");
        assert_eq!(tag(&tags, "p"), Some("reject"));
        assert_eq!(tag(&tags, "aspf"), Some("s"));
        assert!(
            parse_dmarc("p=reject; v=DMARC1").is_none(),
            "v must come first"
        );
        assert!(
            parse_dmarc("v=DMARC1; rua=mailto:x@y").is_none(),
            "p is required"
        );
        assert!(parse_dmarc("v=spf1 -all").is_none());
    }

    #[test]
    fn spf_names_a_host_its_domain_or_leaves_it_unsure() {
        assert_eq!(
            spf_names("v=spf1 a:smtp.relay.net -all", "smtp.relay.net"),
            SpfVerdict::Names("a:smtp.relay.net".to_owned())
        );
        assert_eq!(
            spf_names("v=spf1 include:_spf.relay.net ~all", "smtp.relay.net"),
            SpfVerdict::Names("include:_spf.relay.net".to_owned())
        );
        assert_eq!(
            spf_names(
                "v=spf1 include:_spf.google.com ip4:192.0.2.1 ~all",
                "smtp.relay.net"
            ),
            SpfVerdict::Unsure("include:_spf.google.com ip4:192.0.2.1".to_owned())
        );
        assert_eq!(
            spf_names("v=spf1 -all", "smtp.relay.net"),
            SpfVerdict::Excludes
        );
        assert_eq!(
            spf_names(
                "v=spf1 ?a:smtp.relay.net ~include:relay.net -all",
                "smtp.relay.net"
            ),
            SpfVerdict::Excludes,
            "neutral and softfail authorise nothing"
        );
        assert_eq!(
            spf_names("v=spf1 -a:smtp.relay.net ~all", "smtp.relay.net"),
            SpfVerdict::Excludes,
            "a mechanism that fails the host does not authorise it"
        );
    }
}
