//! What a diagnostic is about, read from its words rather than from one
//! MTA's exact sentence: a subject ("mailbox", "relay", "spf") near a
//! predicate ("full", "denied", "failed") names a reason however a
//! server words the rest. This is the tier between the specific phrases
//! (one provider's wording) and the generic words (one word each), so a
//! bounce from a server the tables never saw still reads right when it
//! says what happened in ordinary terms.
//!
//! Each concept says why it means what it means. The subjects and
//! predicates come from the reply texts RFC 5321 suggests and from what
//! MTAs and providers document for their refusals (Postfix's
//! `smtpd_*_restrictions` replies, Exim's ACL messages, Sendmail's
//! `check_*` rulesets, Microsoft's and Google's published SMTP error
//! lists); not from the wording of any one bounce.

use super::reason::Reason;
use std::collections::HashMap;
use Reason::*;

/// One concept: a subject and a predicate within [`NEAR`] words of each
/// other (in either order) name the reason. An empty predicate list
/// means the subject alone is enough.
struct Concept {
    reason: Reason,
    subjects: &'static [&'static str],
    predicates: &'static [&'static str],
}

/// How many words apart a subject and its predicate may stand.
const NEAR: usize = 6;

/// In order: the first concept whose words occur wins, so the more
/// specific concepts come first.
const CONCEPTS: &[Concept] = &[
    // A temporary DNS failure is the network's, not a verdict on the
    // domain: Postfix says "Host not found, try again" for a DNS
    // SERVFAIL/TRY_AGAIN, others "temporary failure in name resolution".
    Concept {
        reason: NetworkError,
        subjects: &[
            "name service",
            "name server",
            "dns",
            "name resolution",
            "lookup",
            "host not found",
        ],
        predicates: &[
            "try again",
            "temporary failure",
            "servfail",
            "timed out",
            "malformed",
        ],
    },
    // The virus scanners of MTAs and gateways (ClamAV, Sophos, McAfee,
    // Exchange's malware filter) say what they found.
    Concept {
        reason: VirusDetected,
        subjects: &[
            "virus",
            "viruses",
            "malware",
            "trojan",
            "infected",
            "malicious",
        ],
        predicates: &[
            "detected",
            "found",
            "contains",
            "contained",
            "infected",
            "identified",
            "rejected",
        ],
    },
    // RFC 7208/6376/7489 checks by name: a failure or refusal over them.
    Concept {
        reason: AuthFailure,
        subjects: &[
            "spf",
            "dkim",
            "dmarc",
            "sender policy framework",
            "domainkeys",
        ],
        predicates: &[
            "fail",
            "failed",
            "failure",
            "fails",
            "did not pass",
            "hardfail",
            "softfail",
            "permerror",
            "unauthenticated",
            "not authenticated",
        ],
    },
    // A missing or mismatched reverse DNS (PTR) for the sending IP:
    // "Client host rejected: cannot find your reverse hostname"
    // (Postfix's reject_unknown_reverse_client_hostname), Gmail's "does
    // not have a PTR record", Exim's "no reverse DNS".
    Concept {
        reason: RequirePtr,
        subjects: &[
            "ptr",
            "reverse dns",
            "rdns",
            "reverse hostname",
            "reverse lookup",
            "reverse-dns",
        ],
        predicates: &[],
    },
    // Relaying: RFC 5321's 550 "relaying denied", Postfix's "Relay
    // access denied", Exchange's "Unable to relay", Sendmail's
    // "Relaying denied".
    Concept {
        reason: NoRelaying,
        subjects: &["relay", "relaying"],
        predicates: &[
            "denied",
            "not permitted",
            "not allowed",
            "prohibited",
            "refused",
            "unable",
            "cannot",
            "can't",
            "forbidden",
            "not authorized",
            "do not",
            "not configured",
        ],
    },
    // Host block lists by name (DNSBL/RBL, Spamhaus, SpamCop, Barracuda,
    // SORBS), and a host or IP that is listed or blocked.
    Concept {
        reason: Blocked,
        subjects: &[
            "dnsbl",
            "rbl",
            "spamhaus",
            "spamcop",
            "barracudacentral",
            "sorbs",
            "blocklist",
            "block list",
            "blacklist",
            "black list",
            "blacklisted",
            "blocklisted",
        ],
        predicates: &[],
    },
    Concept {
        reason: Blocked,
        subjects: &[
            "your ip",
            "ip address",
            "client host",
            "sending ip",
            "your server",
            "connecting ip",
        ],
        predicates: &[
            "blocked",
            "listed",
            "rejected",
            "refused",
            "banned",
            "not allowed",
            "denied",
        ],
    },
    // Too many simultaneous connections from one client (Postfix's
    // smtpd_client_connection_count_limit, Exchange's "too many
    // connections").
    Concept {
        reason: TooManyConn,
        subjects: &["connections", "sessions", "concurrent"],
        predicates: &["too many", "limit", "exceeded", "maximum"],
    },
    // Sending too fast: rate limits and throttling, as the big mailbox
    // providers document their 421/450 deferrals.
    Concept {
        reason: Speeding,
        subjects: &["rate", "throttled", "throttling"],
        predicates: &[
            "limit",
            "limited",
            "exceeded",
            "too high",
            "throttled",
            "too fast",
        ],
    },
    // A full mailbox: RFC 3463's X.2.2 "mailbox full", "over quota",
    // "quota exceeded", "insufficient space in the mailbox".
    Concept {
        reason: MailboxFull,
        subjects: &[
            "mailbox",
            "mail box",
            "quota",
            "inbox",
            "mailfolder",
            "storage",
            "disk space",
        ],
        predicates: &[
            "full",
            "exceeded",
            "exceeds",
            "over quota",
            "over its",
            "out of space",
            "no space",
            "not enough space",
            "insufficient",
        ],
    },
    // A message over the size limit: RFC 3463's X.3.4 "message too big
    // for system", RFC 1870's SIZE refusals.
    Concept {
        reason: MesgTooBig,
        subjects: &["message", "message size", "mail size", "size", "email"],
        predicates: &[
            "too big",
            "too large",
            "exceeds",
            "exceeded",
            "size limit",
            "maximum size",
        ],
    },
    // A mailbox that exists but is switched off: "account disabled",
    // "mailbox inactive", "user suspended" (Gmail's 5.2.1 "has been
    // disabled", Yahoo's and Outlook.com's inactive accounts).
    Concept {
        reason: Suspend,
        subjects: &["account", "mailbox", "user", "recipient", "address"],
        predicates: &[
            "disabled",
            "suspended",
            "inactive",
            "deactivated",
            "locked",
            "not active",
            "no longer active",
            "frozen",
        ],
    },
    // A domain that does not exist or has no mail host: RFC 5321's "no
    // such domain", DNS NXDOMAIN, no MX and no address.
    Concept {
        reason: HostUnknown,
        subjects: &[
            "domain",
            "host",
            "hostname",
            "mail exchanger",
            "mx record",
            "mx records",
        ],
        predicates: &[
            "unknown",
            "not found",
            "does not exist",
            "doesn't exist",
            "no such",
            "nxdomain",
            "could not be resolved",
            "cannot be resolved",
            "unresolvable",
            "not exist",
        ],
    },
    // A mailbox that does not exist: RFC 5321's 550 "no such user",
    // "user unknown", "mailbox not found", "invalid recipient",
    // "recipient does not exist".
    Concept {
        reason: UserUnknown,
        subjects: &[
            "user",
            "mailbox",
            "recipient",
            "addressee",
            "account",
            "local part",
            "username",
        ],
        predicates: &[
            "unknown",
            "not found",
            "does not exist",
            "doesn't exist",
            "no such",
            "invalid",
            "not valid",
            "not exist",
            "nonexistent",
            "non-existent",
            "not recognized",
            "not known",
            "unrecognized",
            "not listed",
        ],
    },
    // Content judged spam: "looks like spam", "classified as spam",
    // Gmail's "likely unsolicited mail", "spam score".
    Concept {
        reason: SpamDetected,
        subjects: &["spam", "unsolicited", "junk"],
        predicates: &[
            "detected",
            "looks like",
            "considered",
            "classified",
            "identified",
            "suspected",
            "score",
            "content",
            "likely",
            "appears",
            "rejected",
            "message",
        ],
    },
];

/// The words of a normalized text (lower case), split at anything but
/// letters, digits, `-` and `'`.
fn words(norm: &str) -> Vec<&str> {
    norm.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .filter(|w| !w.is_empty())
        .collect()
}

/// The words of a text with where each stands, for looking terms up.
struct Index<'a> {
    words: Vec<&'a str>,
    at: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Index<'a> {
    fn new(words: Vec<&'a str>) -> Self {
        let mut at: HashMap<&'a str, Vec<usize>> = HashMap::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            at.entry(*w).or_default().push(i);
        }
        Index { words, at }
    }

    /// Where a term (one or more words) starts.
    fn positions(&self, term: &str) -> Vec<usize> {
        let mut parts = term.split(' ');
        let Some(first) = parts.next() else {
            return Vec::new();
        };
        let Some(starts) = self.at.get(first) else {
            return Vec::new();
        };
        let rest: Vec<&str> = parts.collect();
        starts
            .iter()
            .copied()
            .filter(|&i| {
                rest.iter()
                    .enumerate()
                    .all(|(k, p)| self.words.get(i + 1 + k) == Some(p))
            })
            .collect()
    }
}

/// The reason of the first concept a normalized text speaks of.
pub(crate) fn first(norm: &str) -> Option<Reason> {
    let words = words(norm);
    if words.is_empty() {
        return None;
    }
    let index = Index::new(words);
    CONCEPTS
        .iter()
        .find(|c| speaks_of(c, &index))
        .map(|c| c.reason)
}

fn speaks_of(c: &Concept, index: &Index<'_>) -> bool {
    let subjects: Vec<usize> = c.subjects.iter().flat_map(|s| index.positions(s)).collect();
    if subjects.is_empty() {
        return false;
    }
    if c.predicates.is_empty() {
        return true;
    }
    c.predicates.iter().any(|p| {
        index
            .positions(p)
            .into_iter()
            .any(|q| subjects.iter().any(|&s| s.abs_diff(q) <= NEAR))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_meaning_not_wording() {
        let cases = [
            (
                "the recipient mailbox is full and cannot accept",
                Some(MailboxFull),
            ),
            ("the user's disk quota has been exceeded", Some(MailboxFull)),
            ("mailbox 'jo' does not exist here", Some(UserUnknown)),
            (
                "sorry, relaying is not permitted from your host",
                Some(NoRelaying),
            ),
            (
                "your ip 192.0.2.1 is listed at zen.spamhaus.org",
                Some(Blocked),
            ),
            (
                "message size 30000000 exceeds the limit of this server",
                Some(MesgTooBig),
            ),
            (
                "the account you wrote to has been deactivated",
                Some(Suspend),
            ),
            ("spf check failed for example.com", Some(AuthFailure)),
            ("host not found, try again", Some(NetworkError)),
            (
                "the domain example.invalid does not exist",
                Some(HostUnknown),
            ),
            ("thank you for your message", None),
        ];
        for (text, want) in cases {
            assert_eq!(first(text), want, "{text}");
        }
        // The subject and its predicate must stand near each other.
        assert_eq!(
            first("mailbox delivery was attempted several times today by our friendly servers and the disk was full"),
            None
        );
    }
}
