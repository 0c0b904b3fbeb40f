//! What MTAs and providers say, by reason. All lower case; `*` stands for
//! any text in between, and patterns of four characters or fewer match
//! whole words only.
//!
//! Three tiers: providers' own error codes, which name the reason exactly;
//! specific phrases, which beat the status code; and generic words, read
//! only when neither a specific phrase nor the status code decides. Within a
//! tier the first reason (in table order) with a matching phrase wins, so
//! the more specific reasons come first.

use super::reason::Reason;
use aho_corasick::{AhoCorasick, MatchKind};
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::OnceLock;
use Reason::*;

/// Phrase tables compiled into one automaton: for a text, the reason of
/// the matching phrase that comes first in table order.
pub(crate) struct Matcher {
    automaton: Option<AhoCorasick>,
    /// Per automaton pattern: its rank (table order), reason, whether it
    /// must match a whole word, and the phrase as the table writes it.
    patterns: Vec<(usize, Reason, bool, &'static str)>,
    /// Patterns with `*`: rank, reason, pieces, the phrase.
    wildcards: Vec<(usize, Reason, Vec<&'static str>, &'static str)>,
}

impl Matcher {
    /// `entries`: (rank, reason, pattern); patterns of four characters or
    /// fewer, and all of them when `whole_words`, match whole words only.
    fn new(entries: Vec<(usize, Reason, &'static str)>, whole_words: usize) -> Matcher {
        let mut plain = Vec::new();
        let mut patterns = Vec::new();
        let mut wildcards = Vec::new();
        for (rank, reason, p) in entries {
            if p.contains('*') {
                let pieces = p
                    .split('*')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .collect();
                wildcards.push((rank, reason, pieces, p));
            } else {
                plain.push(p);
                patterns.push((rank, reason, p.len() <= 4 || rank < whole_words, p));
            }
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&plain)
            .ok();
        Matcher {
            automaton,
            patterns,
            wildcards,
        }
    }

    /// The reason and the phrase of the best-ranked phrase in `norm`
    /// (normalized text).
    fn first(&self, norm: &str) -> Option<(Reason, &'static str)> {
        let bytes = norm.as_bytes();
        let mut best: Option<(usize, Reason, &'static str)> = None;
        if let Some(ac) = &self.automaton {
            for m in ac.find_overlapping_iter(norm) {
                let Some(&(rank, reason, word, phrase)) = self.patterns.get(m.pattern().as_usize())
                else {
                    continue;
                };
                if best.is_some_and(|(b, _, _)| b <= rank) {
                    continue;
                }
                if word {
                    let before = m.start() == 0 || !bytes[m.start() - 1].is_ascii_alphanumeric();
                    let after = m.end() >= bytes.len() || !bytes[m.end()].is_ascii_alphanumeric();
                    if !(before && after) {
                        continue;
                    }
                }
                best = Some((rank, reason, phrase));
            }
        }
        for (rank, reason, pieces, phrase) in &self.wildcards {
            if best.is_some_and(|(b, _, _)| b <= *rank) {
                continue;
            }
            let mut rest = norm;
            let mut all = true;
            for piece in pieces {
                match rest.find(piece) {
                    Some(p) => rest = &rest[p + piece.len()..],
                    None => {
                        all = false;
                        break;
                    }
                }
            }
            if all {
                best = Some((*rank, *reason, phrase));
            }
        }
        best.map(|(_, r, p)| (r, p))
    }
}

fn table_entries(
    offset: usize,
    table: &'static [(Reason, &'static [&'static str])],
) -> Vec<(usize, Reason, &'static str)> {
    table
        .iter()
        .enumerate()
        .flat_map(|(i, (r, ps))| ps.iter().map(move |p| (offset + i, *r, *p)))
        .collect()
}

/// The three matchers: providers' codes with the specific phrases, the
/// generic words, and the definite "no such mailbox" phrases.
pub(crate) struct Tables {
    specific: Matcher,
    generic: Matcher,
    definite_user: Matcher,
}

impl Tables {
    /// The tables without the phrases `left_out` names.
    fn without(left_out: &HashSet<&str>) -> Tables {
        let kept = |e: &(usize, Reason, &'static str)| !left_out.contains(e.2);
        let mut specific: Vec<(usize, Reason, &'static str)> = PROVIDER
            .iter()
            .enumerate()
            .map(|(i, (p, r))| (i, *r, *p))
            .collect();
        specific.extend(table_entries(PROVIDER.len(), SPECIFIC));
        specific.retain(kept);
        let mut generic = table_entries(0, GENERIC);
        generic.retain(kept);
        let mut definite: Vec<_> = DEFINITE_USER.iter().map(|p| (0, UserUnknown, *p)).collect();
        definite.retain(kept);
        Tables {
            // Providers' codes are tokens, never part of a longer word.
            specific: Matcher::new(specific, PROVIDER.len()),
            generic: Matcher::new(generic, 0),
            definite_user: Matcher::new(definite, 0),
        }
    }
}

fn standard() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| Tables::without(&HashSet::new()))
}

/// A measurement in progress on this thread (see [`Trial`]).
struct Running {
    tables: Option<Rc<Tables>>,
    fired: Vec<&'static str>,
}

thread_local! {
    static RUNNING: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// Runs `f` with the phrase tables of `trial` on this thread, and answers
/// what `f` gave with the phrases that decided a text meanwhile.
///
/// This is how the phrase tables' generalisation is measured: the phrases
/// that decide only the bounces of one MTA family are left out, and that
/// family is parsed without them (leave-one-source-out).
pub fn with_trial<R>(trial: &Trial, f: impl FnOnce() -> R) -> (R, Vec<&'static str>) {
    /// Ends the measurement however `f` ends, a panic included, so the
    /// thread never goes on parsing with the trial's tables.
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            RUNNING.with(|r| r.borrow_mut().take());
        }
    }
    RUNNING.with(|r| {
        *r.borrow_mut() = Some(Running {
            tables: trial.tables.clone(),
            fired: Vec::new(),
        })
    });
    let end = End;
    let out = f();
    let fired = RUNNING
        .with(|r| r.borrow_mut().take())
        .map(|r| r.fired)
        .unwrap_or_default();
    drop(end);
    (out, fired)
}

/// The phrase tables a measurement runs with: all of them, or all but some.
#[derive(Clone, Default)]
pub struct Trial {
    tables: Option<Rc<Tables>>,
}

impl Trial {
    /// Every phrase.
    pub fn all() -> Trial {
        Trial::default()
    }

    /// Every phrase but those named (as the tables write them).
    pub fn without(left_out: &HashSet<&str>) -> Trial {
        Trial {
            tables: Some(Rc::new(Tables::without(left_out))),
        }
    }
}

/// The best-ranked phrase of the matcher `pick` chooses in `norm`, from
/// the tables of the measurement running on this thread, else the
/// standard ones.
fn decide(norm: &str, pick: fn(&Tables) -> &Matcher) -> Option<Reason> {
    let (hit, measuring) = RUNNING.with(|r| match r.borrow().as_ref() {
        Some(Running {
            tables: Some(t), ..
        }) => (pick(t).first(norm), true),
        Some(_) => (pick(standard()).first(norm), true),
        None => (pick(standard()).first(norm), false),
    });
    if let (Some((_, phrase)), true) = (hit, measuring) {
        RUNNING.with(|r| {
            if let Some(r) = r.borrow_mut().as_mut() {
                r.fired.push(phrase);
            }
        });
    }
    hit.map(|(reason, _)| reason)
}

/// Providers' codes, then the specific phrases.
pub(crate) fn specific(norm: &str) -> Option<Reason> {
    decide(norm, |t| &t.specific)
}

/// The generic words.
pub(crate) fn generic(norm: &str) -> Option<Reason> {
    decide(norm, |t| &t.generic)
}

/// A definite "no such mailbox" phrase.
pub(crate) fn definite_user(norm: &str) -> bool {
    decide(norm, |t| &t.definite_user).is_some()
}

/// Providers' codes and signatures.
pub(crate) const PROVIDER: &[(&str, Reason)] = &[
    // Cox, Spectrum (Charter): AUP codes.
    ("aup#cdrbl", Blocked),
    ("aup#cxbl", Blocked),
    ("aup#bl", Blocked),
    ("aup#in-1310", TooManyConn),
    ("aup#in-1320", TooManyConn),
    ("aup#cxmxrt", Speeding),
    ("aup#cxcnct", TooManyConn),
    ("aup#cxrcpt", TooManyConn),
    ("aup#cxsnd", BadReputation),
    ("aup#cxdns", RequirePtr),
    ("aup#rrbl", Blocked),
    ("aup#cxsmtp", NoRelaying),
    // Orange / France Telecom.
    ("ofr_506", SpamDetected),
    ("ofr_416", UserUnknown),
    ("ofr_417", UserUnknown),
    ("ofr_999", Blocked),
    ("ofr_004", Blocked),
    ("ofr_005", Blocked),
    ("lpn000_630", PolicyViolation),
    ("lpn001_108", Blocked),
    ("lpn007_426", Suspend),
    ("lpn007_510", Blocked),
    ("lpn007_511", Blocked),
    ("lpn007_512", Blocked),
    ("lpn007_513", Blocked),
    // Microsoft (Outlook.com / Hotmail).
    ("sc-001", Blocked),
    ("sc-002", Blocked),
    ("sc-003", Blocked),
    ("sc-004", Blocked),
    ("ds-001", Blocked),
    ("ds-002", Blocked),
    ("ou-001", Blocked),
    ("ou-002", Blocked),
    ("rp-001", Speeding),
    ("rp-002", Speeding),
    ("rp-003", Speeding),
    ("ac-001", Suspend),
    // Yahoo.
    ("[tss04]", BadReputation),
    ("[tss01]", BadReputation),
    ("[tss02]", BadReputation),
    ("[tss03]", BadReputation),
    ("[tss09]", BadReputation),
    // Microsoft Exchange and Exchange Online: the component codes after
    // the status in their NDRs, as Microsoft documents them.
    ("resolver.adr.exrecipnotfound", UserUnknown),
    ("resolver.adr.recipnotfound", UserUnknown),
    ("resolver.adr.recipientnotfound", UserUnknown),
    ("resolver.adr.badprimary", UserUnknown),
    ("smtpsend.dns.nonexistentdomain", HostUnknown),
    ("smtpsend.dns.mxcheckfailed", HostUnknown),
    ("resolver.rst.notauthorized", Rejected),
    ("resolver.rst.authrequired", SecurityError),
    ("resolver.rst.recipsizelimit", MesgTooBig),
    ("resolver.rst.sendsizelimit", MesgTooBig),
    (
        "storedrv.deliver.exception:quotaexceededexception",
        MailboxFull,
    ),
    // Mimecast: the sender is on the recipient's own block list.
    ("envelope blocked - user entry", Rejected),
    ("envelope blocked - user domain entry", Rejected),
    // The reply of Postfix's and Exim's DNSBL checks names the list:
    // "Client host [192.0.2.1] blocked using zen.spamhaus.org".
    ("blocked using", Blocked),
    ("[ts01]", BadReputation),
    ("[ts02]", BadReputation),
    ("[ts03]", BadReputation),
    // Gmail's old reports name the SMTP state that failed.
    ("(state 18)", Filtered),
    // Mimecast.
    ("mcspamsignature", VirusDetected),
    // cPanel's Exim.
    ("account or domain may not exist", HostUnknown),
    // au (KDDI).
    ("was rejected by a remote mail server", Filtered),
    // Google Groups.
    ("groups.google.com/support", Rejected),
    // GoDaddy (secureserver.net).
    ("ib401", Blocked),
    ("ib501", Blocked),
    ("ib502", Blocked),
    ("ib504", Blocked),
    ("ib508", AuthFailure),
    ("ib705", VirusDetected),
    ("ib212", SpamDetected),
];

/// Phrases that decide the reason over the status code.
pub(crate) const SPECIFIC: &[(Reason, &[&str])] = &[
    (
        NotAccept,
        &[
            "null mx",
            "nullmx",
            "does not accept mail",
            "doesn't accept mail",
            "does not accept any mail",
            "accepts no mail",
            "doesn't receive email",
            "does not receive email",
            "no mail is accepted",
            "domain does not accept",
            "no mx found for domain",
            "no mx record found",
            "couldn't find a mail exchanger",
            "could not find a mail exchanger",
            // Postfix, for a null MX (RFC 7505) or an SRV record of ".".
            "indicated no smtp service",
        ],
    ),
    (
        FailedStartTls,
        &[
            "does not support tls",
            "doesn't support tls",
            "does not support starttls",
            "starttls failed",
            "starttls is required",
            "tls negotiation failed",
            "tls handshake failed",
            "must issue a starttls",
            "must issue starttls",
            "tls is required",
            "tls required",
            "requires tls",
            "requiretls",
            "encryption required",
            "failed to establish tls",
            "tls connection failed",
            "no tls available",
        ],
    ),
    (
        HasMoved,
        &[
            "has moved",
            "has been moved",
            "no longer on server",
            "not our customer",
            "recipient moved",
            "address has changed",
            "mailbox moved",
            "please use the new address",
        ],
    ),
    (
        VirusDetected,
        &[
            "virus",
            "malware",
            "infected",
            "contains a trojan",
            "worm detected",
            "malicious",
        ],
    ),
    (
        // About the sender, whatever else the text says.
        Rejected,
        &[
            "sender address rejected",
            "sender rejected",
            "sender verify failed",
            "sender verification failed",
            "could not verify sender",
            "sender unknown",
            "unknown sender",
            "invalid sender",
            "bad sender",
            "sender denied",
            "sender not allowed",
            "sender is not allowed",
            "sender domain does not exist",
            "sender domain must exist",
            "sender domain is invalid",
            "domain of sender address",
            "sender address has null mx",
            "bad sender's mailbox address",
            "bad sender's system address",
            "mailing list expansion prohibited",
            "mail from rejected",
            "sender refused",
            "rejecting sender",
            "from address rejected",
            "envelope sender",
            "envelope from",
            "address that has been blacklisted",
            "do not have permission to post",
            "don't have permission to post",
            "not have permission to post",
            "permission to post",
            "send mail as",
            "from: domain is invalid",
            "domain is invalid",
            "your domain is not allowed",
            "not allowed to post",
            "not a registered gateway user",
        ],
    ),
    (
        NetworkError,
        &[
            "malformed or unexpected name server reply",
            "host not found, try again",
            "dns error",
            "dns query failed",
            "dns lookup failure",
            "dns failure",
            "name lookup failure",
            "name server timeout",
            "temporary lookup failure",
            "too many hops",
            "hop count exceeded",
            "routing loop",
            "mail loop",
            "loops back to myself",
            "message is looping",
            "mail is looping",
            "loop detected",
            "too many \"received\" headers",
            "too many received headers",
            "no route to host",
            "network is unreachable",
            "host is unreachable",
            "network error",
            "lost connection with",
            "connection reset by peer",
            "connection dropped",
        ],
    ),
    (
        MailboxFull,
        &[
            "mailbox full",
            "mailbox is full",
            "mailbox is over quota",
            "mailbox over quota",
            "mailbox has exceeded",
            "mailbox exceeded",
            "mailbox exceeds",
            "mailbox size limit exceeded",
            "mailbox size exceeded",
            "mailbox would exceed",
            "mailfolder is full",
            "mail box full",
            "mailbox quota",
            "inbox is full",
            "box is full",
            "account is full",
            "over quota",
            "overquota",
            "over the quota",
            "over its quota",
            "quota exceeded",
            "exceeded quota",
            "exceeds quota",
            "exceed quota",
            "quota violation",
            "quota full",
            "quota has been exceeded",
            "storage quota",
            "exceeded storage allocation",
            "exceeded the storage",
            "not enough disk space",
            "not enough storage",
            "insufficient storage space for user",
            "out of storage",
            "disk quota exceeded",
            "user has exceeded",
            "would exceed the quota",
            "would exceed mailbox",
            "too much mail data",
            "full mailbox",
            "mailbox has too many",
            "user is over",
            "mail quota",
            "exceeds allowed size",
            "mailbox size",
            "mailbox is too big",
        ],
    ),
    (
        ExceedLimit,
        &[
            "recipsizelimit",
            "message too large for this recipient",
            "length exceeds limit set by recipient",
            "exceeds the limit set by the recipient",
            "message size exceeds fixed maximum",
            "message length exceeds administrative limit",
        ],
    ),
    (
        MesgTooBig,
        &[
            "message too large",
            "message too big",
            "message is too large",
            "message is too big",
            "message size exceeds",
            "message exceeds",
            "message length exceeds",
            "mail size exceeds",
            "size of the message exceeds",
            "exceeds maximum message size",
            "exceeds the maximum message size",
            "exceeded maximum message size",
            "maximum message size exceeded",
            "message size limit",
            "message file too big",
            "too big for system",
            "mail data too large",
            "larger than the current system limit",
            "message size is too",
            "size limit exceeded",
        ],
    ),
    (
        Suspend,
        &[
            "mailbox disabled",
            "mailbox is disabled",
            "mailbox has been disabled",
            "account disabled",
            "account is disabled",
            "account has been disabled",
            "account that you tried to reach is disabled",
            "disabled recipient",
            "disabled or discontinued",
            "account has been suspended",
            "account is suspended",
            "account suspended",
            "mailbox suspended",
            "mailbox is suspended",
            "mailbox is frozen",
            "account is frozen",
            "account frozen",
            "account is locked",
            "account has been locked",
            "account is blocked",
            "recipient account is blocked",
            "account inactive",
            "account is inactive",
            "mailbox is inactive",
            "mailbox inactive",
            "account expired",
            "account has expired",
            "account is not active",
            "mailbox not active",
            "mailbox is not active",
            "recipient suspended",
            "user suspended",
            "is temporarily disabled",
            "account has been terminated",
            "account has been deactivated",
            "account deactivated",
            "no longer in use",
            "no longer active",
        ],
    ),
    (
        SecurityError,
        &[
            "unauthenticated senders not allowed",
            "authentication required",
            "authentication is required",
            "smtp authentication",
            "turn on smtp auth",
            "must be authenticated",
            "must authenticate",
            "need to authenticate",
            "authentication failed",
            "authentication failure",
            "auth failed",
            "authentication credentials invalid",
            "invalid credentials",
            "does not advertise auth",
            "sender address spoofing",
            "spoofed",
            "forged",
            "impersonat",
            "security polic",
            "failed to delivery",
            "not authorized to send",
            "unauthorized sender",
            "authentication mechanism is too weak",
            "security conversion required",
            "security features not supported",
            "cryptographic failure",
            "cryptographic algorithm not supported",
            "message integrity failure",
            "delivery not authorized",
        ],
    ),
    (
        NoRelaying,
        &[
            "relay access denied",
            "relaying denied",
            "relay denied",
            "relaying not allowed",
            "relaying is not allowed",
            "relay not permitted",
            "relaying not permitted",
            "relay not allowed",
            "not configured to relay",
            "not permitted to relay",
            "unable to relay",
            "we do not relay",
            "cannot relay",
            "can't relay",
            "no relaying",
            "relaying mail to * is not allowed",
            "relay attempt",
            "mail relay",
            "email address is not verified",
            "address is not verified",
            "identities failed the check",
            "don't relay",
            "do not relay",
        ],
    ),
    (
        BadReputation,
        &[
            "reputation",
            "sender score",
            "senderscore",
            "unexpected volume or user complaints",
            "user complaints",
        ],
    ),
    (
        SpamDetected,
        &[
            "spam detected",
            "detected as spam",
            "detected spam",
            "spam classification",
            "classified as spam",
            "considered as spam",
            "considered spam",
            "identified as spam",
            "rejected as spam",
            "marked as spam",
            "flagged as spam",
            "looks like spam",
            "looks like a spam",
            "appears to be spam",
            "message is spam",
            "message was spam",
            "spam message",
            "spam content",
            "spam score",
            "spamscore",
            "high spam",
            "probable spam",
            "suspected spam",
            "spam-like",
            "spamlike",
            "spam filter",
            "spam policy",
            "spam rejected",
            "blocked as spam",
            "junk mail",
            "unsolicited",
            "ube",
            "bulk mail",
            "message content rejected",
            "content rejected",
            "contents rejected",
            "spamassassin",
            "spam signature",
            "- spam",
            "blacklisted url",
            "uribl",
            "surbl",
            "mail rejete",
            "mail rejeté",
        ],
    ),
    (
        AuthFailure,
        &[
            "dmarc",
            "dkim",
            "spf check",
            "spf fail",
            "spf record",
            "spf settings",
            "spf validation",
            "spf policy",
            "spf authentication",
            "pass spf",
            "bad spf",
            "spf=fail",
            "sender policy framework",
            "sender is unauthenticated",
            "unauthenticated email",
            "does not pass authentication",
            "failed to authenticate the sender",
            "sender authentication failed",
            "sender id check",
            "senderid",
            "sender id validation",
            "arc validation",
            "domain authentication failed",
            "not allowed to send from",
        ],
    ),
    (
        RequirePtr,
        &[
            "ptr record",
            "ptr resource record",
            "no ptr",
            "missing ptr",
            "without ptr",
            "fix reverse dns",
            "reverse dns required",
            "requires reverse dns",
            "no reverse dns",
            "reverse dns lookup",
            "reverse dns record",
            "reverse dns entry",
            "reverse dns failed",
            "without reverse dns",
            "reverse lookup",
            "reverse address",
            "reverse hostname",
            "reverse-dns",
            "rdns",
            "cannot find your hostname",
            "can't find your hostname",
            "cannot resolve your address",
            "cannot resolve your hostname",
            "your ip has no name",
            "ip name lookup failed",
            "mismatches client ip",
            "does not resolve to",
            "not resolve to your ip",
            "hostname does not match",
            "valid sender domain",
            "unresolvable ip",
            "no dns name",
            "has no host name",
            "unknown client host",
            "fcrdns",
            "unverifyable sending ip",
            "unverifiable sending ip",
        ],
    ),
    (
        NotCompliantRfc,
        &[
            "rfc 5322",
            "rfc5322",
            "rfc 2822",
            "rfc2822",
            "rfc822 compliant",
            "not rfc compliant",
            "non-compliant",
            "noncompliant",
            "multiple addresses in from",
            "multiple from",
            "multiple subject",
            "multiple to header",
            "multiple date",
            "duplicate header",
            "more than one from",
            "missing required header",
            "bare lf",
            "bare linefeed",
        ],
    ),
    (
        PolicyViolation,
        &[
            "local policy violation",
            "email policy violation",
            "policy violation detected",
            "content policy violation",
            "protocol violation",
            "policy reasons",
            "violates our",
            "violated our",
            "violation of our",
            "against our policy",
            "local policy",
            "security issue",
            "executable attachment",
            "attachment type",
            "prohibited attachment",
            "message not allowed",
            "not allowed by policy",
            "content policy",
            "email policy",
            "policy rejection",
            "rejected by policy",
            "due to policy",
            "by our policy",
            "header error",
        ],
    ),
    (
        Speeding,
        &[
            "receiving mail at a rate",
            "rate that prevents additional messages",
            "receiving rate",
            "rate limit",
            "ratelimit",
            "rate-limit",
            "mail flood",
            "message rate",
            "sending rate",
            "sending too fast",
        ],
    ),
    (
        TooManyConn,
        &[
            "too many connections",
            "too many concurrent",
            "too many simultaneous",
            "too many sessions",
            "connection limit",
            "connections limit",
            "too many recipients",
            "too many smtp sessions",
            "frequency limited",
            "exceeded the maximum number of connections",
            "maximum number of connections",
        ],
    ),
    (
        Blocked,
        &[
            "blacklist",
            "black list",
            "blocklist",
            "block list",
            "blocklisted",
            "denylist",
            "dnsbl",
            "rbl",
            "spamhaus",
            "spamcop",
            "sorbs",
            "barracudacentral",
            "client host rejected",
            "client host blocked",
            "banned sending ip",
            "banned ip",
            "blocked using",
            "is listed on",
            "is listed in",
            "listed at",
            "ip address blocked",
            "ip blocked",
            "host blocked",
            "refused to talk to me",
            "not allowed to connect",
            "connections not accepted",
            "connection not accepted",
            "service refuse",
            "access denied, banned",
            "your access to this mail system has been rejected",
            "not allowed to send mail from",
            "rejected due to the sending",
            "ip address is not allowed",
            "please use the smtp server of your isp",
            "smtp server of your isp",
            "dynamic ip",
            "dynamic address",
            "dial-up",
            "dialup",
            "invalid ip for sending",
            "weren't sent",
            "were not sent",
            "blocked for abuse",
            "no access from mail server",
            "traffic not accepted from this ip",
            "poor reputation",
        ],
    ),
    (
        UserUnknown,
        &[
            "user unknown",
            "unknown user",
            "user not known",
            "unknown recipient",
            "recipient unknown",
            "unknown or illegal",
            "unknown local part",
            "unknown local-part",
            "unknown mailbox",
            "unknown address",
            "unknown email address",
            "unknown e-mail address",
            "addressee unknown",
            "no such user",
            "no such mailbox",
            "no such recipient",
            "no such account",
            "no such person",
            "no such local user",
            "no such address",
            "no such email",
            "no account by that name",
            "user not found",
            "user not exist",
            "user does not exist",
            "user doesn't exist",
            "user doesn't have a",
            "user does not have a",
            "does not have an account",
            "doesn't have an account",
            "recipient not found",
            "recipient does not exist",
            "recipient doesn't exist",
            "recipient address rejected: access denied",
            "recipient address rejected: user unknown",
            "recipient address rejected: unknown user",
            "recipient address rejected: invalid user",
            "recipient invalid",
            "recipient is not valid",
            "invalid recipient",
            "invalid mailbox",
            "invalid user",
            "bad recipient",
            "bad destination mailbox",
            "mailbox unavailable",
            "mailbox not found",
            "mailbox does not exist",
            "mailbox doesn't exist",
            "address does not exist",
            "address doesn't exist",
            "address not found",
            "address couldn't be found",
            "address could not be found",
            "address unknown",
            "address is not valid",
            "not a valid mailbox",
            "not a valid user",
            "not a known user",
            "not a valid recipient",
            "account does not exist",
            "account doesn't exist",
            "account not found",
            "account that you tried to reach does not exist",
            "recipnotfound",
            "recipientnotfound",
            "recipient not found by smtp address lookup",
            "recipient name is not recognized",
            "e-mail address you entered couldn't be found",
            "email address you entered couldn't be found",
            "no mailbox here by that name",
            "mailbox name not allowed",
            "not our user",
            "not a local user",
            "user is not local",
            "inactive email address",
            "inactive mailbox",
            "destination address rejected",
            "destination mailbox address invalid",
            "no longer accepts mail",
            "unknown in virtual mailbox table",
            "unknown in virtual alias table",
            "unknown in local recipient table",
            "unknown in relay recipient table",
            "not listed in domino directory",
            "not listed in public name & address book",
            "user invalid",
            "user is unknown",
            "no valid recipients",
            "unknown destination address",
            "we do not have a user",
            "no user by that name",
            "user not local",
            "dd this user",
            "unknown account",
            "recipient address invalid",
            "mailbox name invalid",
            "mailbox unknown",
            "undeliverable address",
            "no mailbox",
            "invalid address",
            "recipient rejected",
            "check if address is correct",
            "and other recipients in the same domain",
        ],
    ),
    (
        HostUnknown,
        &[
            "host unknown",
            "unknown host",
            "host not found",
            "domain not found",
            "domain name not found",
            "no such domain",
            "unknown domain",
            "invalid domain",
            "domain does not exist",
            "domain doesn't exist",
            "domain is not reachable",
            "domain isn't reachable",
            "name or service not known",
            "host or domain name not found",
            "unrouteable mail domain",
            "unroutable mail domain",
            "mail domain is unknown",
            "no mx record",
            "no mx for",
            "mx lookup failed",
            "domain name lookup failed",
            "nxdomain",
            "bad destination system address",
            "unknown or invalid domain",
            "not a valid domain",
            "no valid mx",
            "recipient domain * not found",
            "couldn't find any host",
            "could not find any host",
            "account or domain may not exist",
            "unrouteable address",
            "unroutable address",
        ],
    ),
    (
        Filtered,
        &[
            "message filtered",
            "filtered by",
            "refused due to recipient preferences",
            "recipient preferences",
            "content filter",
            "rejected by the recipient's filter",
            "blocked by recipient",
            "rejected by recipient",
            "refused by recipient",
            "recipient has blocked",
            "mail refused by the recipient",
            "domain filter",
            "filter rule",
        ],
    ),
    (
        Expired,
        &[
            "message expired",
            "queue.expired",
            "retry timeout exceeded",
            "retry time not reached",
            "too long in queue",
            "unable to deliver in",
            "could not be delivered within",
            "could not be delivered for",
            "not delivered within",
            "delivery time expired",
            "connection timed out",
            "did not accept our requests to connect",
            "was aborted after",
            "message will be retried",
            "will keep trying",
            "still undelivered",
            "delivery attempts will continue",
            "has not yet been delivered",
            "delivery is delayed",
            "not been delivered for",
        ],
    ),
    (
        SyntaxError,
        &[
            "syntax error",
            "command not recognized",
            "command unrecognized",
            "unrecognized command",
            "unknown command",
            "invalid command",
            "invalid command arguments",
            "wrong protocol version",
            "command parameter not implemented",
            "parameter not implemented",
            "improper sequence of commands",
            "bad sequence of commands",
            "line too long",
        ],
    ),
    (
        ContentError,
        &[
            "8-bit data",
            "media not supported",
            "conversion required",
            "conversion failed",
            "conversion with loss",
            "8bit data",
            "invalid mime",
            "mime error",
            "malformed mime",
            "bad header",
            "invalid header",
            "illegal header",
            "content error",
            "media error",
            "illegal character",
            "encoding error",
            "invalid character",
        ],
    ),
    (
        SystemFull,
        &[
            "insufficient system storage",
            "mail system congestion",
            "system not accepting network messages",
            "system storage",
            "out of disk space",
            "disk full",
            "file system full",
            "mail system full",
            "system is full",
            "no space left",
        ],
    ),
    (
        MailerError,
        &[
            "procmail",
            "command died",
            "command failed",
            "pipe to",
            "mailer error",
            "delivery program",
            "returned non-zero",
            "local delivery failed",
        ],
    ),
    (
        SystemError,
        &[
            "internal system error",
            "system incorrectly configured",
            "directory server failure",
            "mailing list expansion problem",
            "system error",
            "system config error",
            "internal error",
            "internal server error",
            "server error",
            "local error",
            "processing error",
            "i/o error",
            "configuration error",
            "config error",
            "service currently unavailable",
            "could not load",
            "upstream error",
            "insufficient permission",
            "permission denied",
            "too many open files",
            "out of memory",
            "unable to contact ldap",
            "ldap",
            "duplicated message-id",
            "loop alert",
        ],
    ),
    // Gmail's old reports: refused at MAIL FROM with no other word.
    (SecurityError, &["(state 13)"]),
];

/// Generic words: read only when no specific phrase and no status code
/// decided.
pub(crate) const GENERIC: &[(Reason, &[&str])] = &[
    (
        UserUnknown,
        &[
            "recipient address rejected",
            "address rejected",
            "couldn't be found",
            "could not be found",
            "is not a registered",
            "not registered",
            "no such",
        ],
    ),
    (
        Expired,
        &[
            "in the queue too long",
            "queue too long",
            "expired",
            "timed out",
            "timeout",
            "giving up",
            "gave up",
            "delayed",
            "not reachable",
        ],
    ),
    (
        Blocked,
        &[
            "your ip",
            "your host",
            "your server",
            "your network",
            "sender ip",
            "sending ip",
            "has been blocked",
            "is blocked",
            "blocked by",
            "listed in",
            "blocked",
        ],
    ),
    (SpamDetected, &["spam"]),
    (
        SystemError,
        &[
            "resources temporarily",
            "try again later",
            "try later",
            "temporarily unavailable",
            "service unavailable",
            "system problem",
        ],
    ),
    (
        Rejected,
        &[
            "access denied",
            "administrative prohibition",
            "message rejected",
            "not allowed",
            "not permitted",
            "rejected",
            "refused",
            "denied",
        ],
    ),
];

/// `UserUnknown` phrases that hold whatever the SMTP command: a provider's
/// own wording for a mailbox that does not exist.
pub(crate) const DEFINITE_USER: &[&str] = &[
    "account that you tried to reach does not exist",
    "recipnotfound",
    "recipientnotfound",
    "recipient not found by smtp address lookup",
    "dd this user",
    "not listed in domino directory",
    "not listed in public name & address book",
    "check for typos",
    "check if address is correct",
    "recipient address rejected: access denied",
    // InterScan (Trend Micro).
    "and other recipients in the same domain",
    // IMail: "Unknown user: x@y".
    "unknown user: ",
    "recipient name is not recognized",
    "e-mail address you entered couldn't be found",
    "email address you entered couldn't be found",
    "inactive email address",
    "invalid recipient",
    "mailbox unavailable",
    // Yahoo's documented "dd This user doesn't have a yahoo.com account",
    // also without its "dd" prefix.
    "doesn't have a yahoo.com account",
    "does not have a yahoo.com account",
    // Mercury/32 and other local delivery agents: the server itself knows
    // its users.
    "no such local user",
];
