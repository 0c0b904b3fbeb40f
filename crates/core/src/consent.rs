//! The consent ledger: an append-only, per-workspace chain of events, each
//! carrying the hash of the one before it, so that a changed, removed or
//! reordered event is detectable.
//!
//! Personal data sits only in an event's evidence (IP, user agent, source
//! URL, message id). The chain covers a salted digest of the evidence rather
//! than the evidence itself, so erasing a person removes the evidence and the
//! salt, keeps the digest, and leaves the chain checkable; the salt keeps the
//! digest from being reversed by trying every IPv4 address.

use crate::id::{ConsentEventId, ContactId, WorkspaceId};
use crate::secret::{random_bytes, sha256_hex, to_hex};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The `prev_hash` of a workspace's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
pub const DEFAULT_TOPIC: &str = "marketing";

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The accepted names, for error messages.
            pub fn names() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// What the person did.
    ConsentAction {
        OptIn => "opt_in",
        OptOut => "opt_out",
        DoubleOptInConfirmed => "double_opt_in_confirmed",
    }
);

string_enum!(
    /// How the choice reached sendwell. `preference_centre`: the person's
    /// own choice on the page behind the signed link of a mail to them;
    /// `double_opt_in`: a hosted sign-up form, confirmed from the mail it
    /// sent.
    ConsentMethod {
        Api => "api",
        Form => "form",
        OptInLink => "opt_in_link",
        Import => "import",
        UnsubscribeLink => "unsubscribe_link",
        OneClick => "one_click",
        Mailto => "mailto",
        Complaint => "complaint",
        Operator => "operator",
        PreferenceCentre => "preference_centre",
        DoubleOptIn => "double_opt_in",
    }
);

impl ConsentMethod {
    /// Methods a workspace may claim through the API. The others are
    /// recorded by sendwell itself when it sees them happen (a click on a
    /// signed link, a complaint report, an import, an operator's action), so
    /// a client cannot forge their provenance.
    pub fn recordable_by_client(self) -> bool {
        matches!(self, Self::Api | Self::Form)
    }
}

/// A consent topic (`marketing`, `product_updates`, ...).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Topic(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("topic '{0}' is not valid: use 1 to 64 lowercase letters, digits, '_' or '-' (for example marketing)")]
pub struct TopicError(String);

impl Topic {
    pub fn parse(text: &str) -> Result<Self, TopicError> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(TopicError(text.chars().take(80).collect()))
        }
    }

    pub fn marketing() -> Self {
        Self(DEFAULT_TOPIC.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What proves the choice. Every field is optional, but an opt-in must carry
/// at least one. Unknown fields are refused rather than dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// The words the person was shown when making the choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wording: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The subject of the mail the choice was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A sender's own statement, e.g. an import's declaration of how consent was collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration: Option<String>,
    /// Of a double opt-in: where the sign-up form was sent from, with
    /// what, and when (RFC 3339); `ip` and `user_agent` are the
    /// confirmation's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EvidenceError {
    #[error("evidence.ip '{0}' is not an IPv4 or IPv6 address")]
    BadIp(String),
    #[error("evidence.{field} is {len} characters long; the limit is {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("evidence.{0} contains a control character; remove it")]
    ControlCharacter(&'static str),
    #[error("evidence.source_url must be an http:// or https:// URL")]
    BadUrl,
}

impl Evidence {
    /// Checks limits and shapes; empty strings count as absent.
    pub fn checked(mut self) -> Result<Self, EvidenceError> {
        fn field(
            value: &mut Option<String>,
            name: &'static str,
            max: usize,
            multiline: bool,
        ) -> Result<(), EvidenceError> {
            if let Some(v) = value.as_deref() {
                let v = v.trim();
                if v.is_empty() {
                    *value = None;
                    return Ok(());
                }
                let len = v.chars().count();
                if len > max {
                    return Err(EvidenceError::TooLong {
                        field: name,
                        len,
                        max,
                    });
                }
                if v.chars()
                    .any(|c| c.is_control() && !(multiline && c == '\n'))
                {
                    return Err(EvidenceError::ControlCharacter(name));
                }
                *value = Some(v.to_owned());
            }
            Ok(())
        }
        field(&mut self.ip, "ip", 64, false)?;
        field(&mut self.user_agent, "user_agent", 1_000, false)?;
        field(&mut self.source_url, "source_url", 2_000, false)?;
        field(&mut self.wording, "wording", 5_000, true)?;
        field(&mut self.message_id, "message_id", 998, false)?;
        field(&mut self.subject, "subject", 998, false)?;
        field(&mut self.declaration, "declaration", 5_000, true)?;
        field(&mut self.submitted_ip, "submitted_ip", 64, false)?;
        field(
            &mut self.submitted_user_agent,
            "submitted_user_agent",
            1_000,
            false,
        )?;
        field(&mut self.submitted_at, "submitted_at", 64, false)?;
        for ip in [&self.ip, &self.submitted_ip].into_iter().flatten() {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(EvidenceError::BadIp(ip.chars().take(64).collect()));
            }
        }
        if let Some(url) = &self.source_url {
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return Err(EvidenceError::BadUrl);
            }
        }
        Ok(self)
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    fn canonical(&self) -> String {
        // Field order is the struct's, so the text is stable.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Evidence with the salt that its digest was computed with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedEvidence {
    pub evidence: Evidence,
    pub salt: String,
}

impl SealedEvidence {
    pub fn seal(evidence: Evidence) -> Self {
        Self {
            evidence,
            salt: to_hex(&random_bytes::<16>()),
        }
    }

    pub fn digest(&self) -> String {
        sha256_hex(format!("{}:{}", self.salt, self.evidence.canonical()).as_bytes())
    }

    pub fn canonical_json(&self) -> String {
        self.evidence.canonical()
    }
}

/// An event as it is about to be appended.
#[derive(Clone, Debug)]
pub struct NewConsentEvent {
    pub contact_id: ContactId,
    pub action: ConsentAction,
    pub topic: Topic,
    pub method: ConsentMethod,
    /// Who recorded it: `key:<id>`, `operator`, `system`.
    pub actor: String,
    pub evidence: Evidence,
}

/// An event of the ledger, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentEvent {
    pub id: ConsentEventId,
    pub workspace_id: WorkspaceId,
    pub seq: i64,
    pub contact_id: ContactId,
    pub action: ConsentAction,
    pub topic: Topic,
    pub method: ConsentMethod,
    pub actor: String,
    pub occurred_at: Timestamp,
    /// `None` once the contact has been erased.
    pub evidence: Option<SealedEvidence>,
    pub evidence_digest: String,
    pub prev_hash: String,
    pub hash: String,
}

fn push_field(buf: &mut String, value: &str) {
    buf.push_str(&value.len().to_string());
    buf.push(':');
    buf.push_str(value);
    buf.push('\n');
}

impl ConsentEvent {
    /// Seals a new event onto a chain whose last event is `(seq - 1, prev_hash)`.
    pub fn append(
        new: NewConsentEvent,
        workspace_id: WorkspaceId,
        seq: i64,
        prev_hash: String,
        occurred_at: Timestamp,
    ) -> Self {
        let evidence = SealedEvidence::seal(new.evidence);
        let mut event = Self {
            id: ConsentEventId::generate(occurred_at),
            workspace_id,
            seq,
            contact_id: new.contact_id,
            action: new.action,
            topic: new.topic,
            method: new.method,
            actor: new.actor,
            occurred_at,
            evidence_digest: evidence.digest(),
            evidence: Some(evidence),
            prev_hash,
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        event
    }

    /// The hash over every field but the evidence itself (covered by its digest).
    pub fn compute_hash(&self) -> String {
        let mut buf = String::with_capacity(512);
        buf.push_str("sendwell-consent-v1\n");
        for value in [
            self.id.as_str(),
            self.workspace_id.as_str(),
            &self.seq.to_string(),
            self.contact_id.as_str(),
            self.action.as_str(),
            self.topic.as_str(),
            self.method.as_str(),
            &self.actor,
            &self.occurred_at.millis().to_string(),
            &self.evidence_digest,
            &self.prev_hash,
        ] {
            push_field(&mut buf, value);
        }
        sha256_hex(buf.as_bytes())
    }
}

/// Why a chain does not verify, at the first event where it breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainProblem {
    /// The event's fields no longer match its hash: it was changed.
    EventAltered,
    /// The evidence no longer matches the digest the chain covers.
    EvidenceAltered,
    /// Evidence is gone although the contact was never erased.
    EvidenceRemoved,
    /// The event does not point at the hash of the event before it.
    LinkBroken,
    /// Sequence numbers jump: an event was removed.
    EventMissing { expected_seq: i64 },
    /// The recorded head of the chain is not the last event: events were removed from the end.
    HeadMismatch { head_seq: i64 },
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EventAltered => f.write_str("the event was changed after it was recorded (its hash does not match)"),
            Self::EvidenceAltered => f.write_str("the event's evidence was changed after it was recorded"),
            Self::EvidenceRemoved => f.write_str("the event's evidence was removed although its contact was not erased"),
            Self::LinkBroken => f.write_str("the event does not carry the hash of the event before it: an earlier event was changed or removed"),
            Self::EventMissing { expected_seq } => write!(f, "event number {expected_seq} is missing: it was removed"),
            Self::HeadMismatch { head_seq } => write!(f, "the ledger's head says it holds {head_seq} events, but the last one found is earlier: events were removed from its end"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub event_id: Option<ConsentEventId>,
    pub problem: ChainProblem,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainVerdict {
    Intact { events: i64 },
    Broken(BrokenLink),
}

/// Checks one event on its own: its hash and its evidence digest.
pub fn check_event(event: &ConsentEvent, contact_erased: bool) -> Result<(), ChainProblem> {
    match &event.evidence {
        Some(sealed) if sealed.digest() != event.evidence_digest => {
            return Err(ChainProblem::EvidenceAltered)
        }
        None if !contact_erased => return Err(ChainProblem::EvidenceRemoved),
        _ => {}
    }
    if event.compute_hash() != event.hash {
        return Err(ChainProblem::EventAltered);
    }
    Ok(())
}

/// Walks a chain in sequence order, one event at a time, so a store can
/// stream a large ledger through it.
#[derive(Debug)]
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: String,
    failure: Option<BrokenLink>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_owned(),
            failure: None,
        }
    }
}

impl ChainVerifier {
    /// Feeds the next event; returns false once the chain is broken.
    pub fn feed(&mut self, event: &ConsentEvent, contact_erased: bool) -> bool {
        if self.failure.is_some() {
            return false;
        }
        let broken = |problem| BrokenLink {
            seq: event.seq,
            event_id: Some(event.id.clone()),
            problem,
        };
        if event.seq != self.next_seq {
            self.failure = Some(BrokenLink {
                seq: self.next_seq,
                event_id: None,
                problem: ChainProblem::EventMissing {
                    expected_seq: self.next_seq,
                },
            });
            return false;
        }
        if let Err(problem) = check_event(event, contact_erased) {
            self.failure = Some(broken(problem));
            return false;
        }
        if event.prev_hash != self.prev_hash {
            self.failure = Some(broken(ChainProblem::LinkBroken));
            return false;
        }
        self.prev_hash.clone_from(&event.hash);
        self.next_seq += 1;
        true
    }

    /// The verdict, given the head the store recorded as `(seq, hash)`.
    pub fn finish(self, head: Option<(i64, &str)>) -> ChainVerdict {
        if let Some(failure) = self.failure {
            return ChainVerdict::Broken(failure);
        }
        let last_seq = self.next_seq - 1;
        match head {
            Some((seq, hash)) if seq != last_seq || hash != self.prev_hash => {
                ChainVerdict::Broken(BrokenLink {
                    seq: last_seq + 1,
                    event_id: None,
                    problem: ChainProblem::HeadMismatch { head_seq: seq },
                })
            }
            _ => ChainVerdict::Intact { events: last_seq },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentStatus {
    OptedIn,
    OptedOut,
}

impl ConsentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptedIn => "opted_in",
            Self::OptedOut => "opted_out",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "opted_in" => Some(Self::OptedIn),
            "opted_out" => Some(Self::OptedOut),
            _ => None,
        }
    }
}

/// A contact's current choice on one topic, derived from the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicConsent {
    pub status: ConsentStatus,
    /// Whether the opt-in was confirmed by a second step.
    pub double_opt_in: bool,
    pub since: Timestamp,
    pub event_id: ConsentEventId,
}

/// The state after one more event. A plain opt-in after a confirmed one keeps
/// the confirmation; an opt-out clears it.
pub fn fold(previous: Option<&TopicConsent>, event: &ConsentEvent) -> TopicConsent {
    let (status, double_opt_in) = match event.action {
        ConsentAction::OptOut => (ConsentStatus::OptedOut, false),
        ConsentAction::DoubleOptInConfirmed => (ConsentStatus::OptedIn, true),
        ConsentAction::OptIn => {
            let kept =
                previous.is_some_and(|p| p.status == ConsentStatus::OptedIn && p.double_opt_in);
            (ConsentStatus::OptedIn, kept)
        }
    };
    let unchanged = previous.filter(|p| p.status == status && p.double_opt_in == double_opt_in);
    TopicConsent {
        status,
        double_opt_in,
        since: unchanged.map_or(event.occurred_at, |p| p.since),
        event_id: event.id.clone(),
    }
}

/// A contact's current consent per topic, from its events in ledger order.
pub fn current<'a>(
    events: impl IntoIterator<Item = &'a ConsentEvent>,
) -> BTreeMap<Topic, TopicConsent> {
    let mut state: BTreeMap<Topic, TopicConsent> = BTreeMap::new();
    for event in events {
        let next = fold(state.get(&event.topic), event);
        state.insert(event.topic.clone(), next);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> WorkspaceId {
        WorkspaceId::generate(Timestamp::from_millis(1))
    }

    fn chain(n: i64, contact: &ContactId) -> Vec<ConsentEvent> {
        let ws = ws();
        let mut out: Vec<ConsentEvent> = Vec::new();
        for seq in 1..=n {
            let prev = out
                .last()
                .map_or(GENESIS_HASH.to_owned(), |e| e.hash.clone());
            let action = if seq % 2 == 0 {
                ConsentAction::OptOut
            } else {
                ConsentAction::OptIn
            };
            out.push(ConsentEvent::append(
                NewConsentEvent {
                    contact_id: contact.clone(),
                    action,
                    topic: Topic::marketing(),
                    method: ConsentMethod::Form,
                    actor: "key:test".into(),
                    evidence: Evidence {
                        ip: Some("192.0.2.7".into()),
                        wording: Some("Send me news".into()),
                        ..Evidence::default()
                    },
                },
                ws.clone(),
                seq,
                prev,
                Timestamp::from_millis(1_000 * seq),
            ));
        }
        out
    }

    fn verify(events: &[ConsentEvent], erased: bool) -> ChainVerdict {
        let mut v = ChainVerifier::default();
        for e in events {
            v.feed(e, erased);
        }
        let head = events.last().map(|e| (e.seq, e.hash.as_str()));
        v.finish(head)
    }

    fn contact() -> ContactId {
        ContactId::generate(Timestamp::from_millis(1))
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let events = chain(5, &contact());
        assert_eq!(verify(&events, false), ChainVerdict::Intact { events: 5 });
    }

    #[test]
    fn a_changed_field_is_found_at_its_event() {
        let mut events = chain(5, &contact());
        events[2].action = ConsentAction::OptIn; // was opt_out? seq 3 is opt_in; flip method instead
        events[2].method = ConsentMethod::Api;
        let ChainVerdict::Broken(b) = verify(&events, false) else {
            panic!("must break")
        };
        assert_eq!((b.seq, b.problem), (3, ChainProblem::EventAltered));
    }

    #[test]
    fn changed_evidence_is_found() {
        let mut events = chain(3, &contact());
        if let Some(s) = events[1].evidence.as_mut() {
            s.evidence.ip = Some("198.51.100.1".into());
        }
        let ChainVerdict::Broken(b) = verify(&events, false) else {
            panic!("must break")
        };
        assert_eq!((b.seq, b.problem), (2, ChainProblem::EvidenceAltered));
    }

    #[test]
    fn a_deleted_event_is_found() {
        let mut events = chain(5, &contact());
        events.remove(1);
        let ChainVerdict::Broken(b) = verify(&events, false) else {
            panic!("must break")
        };
        assert_eq!(b.problem, ChainProblem::EventMissing { expected_seq: 2 });
    }

    #[test]
    fn a_rehashed_forgery_still_breaks_the_next_link() {
        let mut events = chain(4, &contact());
        events[1].method = ConsentMethod::Api;
        events[1].hash = events[1].compute_hash();
        let ChainVerdict::Broken(b) = verify(&events, false) else {
            panic!("must break")
        };
        assert_eq!((b.seq, b.problem), (3, ChainProblem::LinkBroken));
    }

    #[test]
    fn removing_the_last_events_is_found_through_the_head() {
        let events = chain(4, &contact());
        let head = (events[3].seq, events[3].hash.clone());
        let mut v = ChainVerifier::default();
        for e in &events[..2] {
            v.feed(e, false);
        }
        let verdict = v.finish(Some((head.0, &head.1)));
        assert!(matches!(
            verdict,
            ChainVerdict::Broken(BrokenLink {
                problem: ChainProblem::HeadMismatch { head_seq: 4 },
                ..
            })
        ));
    }

    #[test]
    fn erased_evidence_keeps_the_chain_valid_only_for_erased_contacts() {
        let mut events = chain(3, &contact());
        for e in &mut events {
            e.evidence = None;
        }
        assert_eq!(verify(&events, true), ChainVerdict::Intact { events: 3 });
        let ChainVerdict::Broken(b) = verify(&events, false) else {
            panic!("must break")
        };
        assert_eq!(b.problem, ChainProblem::EvidenceRemoved);
    }

    #[test]
    fn current_consent_follows_the_last_event_per_topic() {
        let c = contact();
        let mut events = chain(3, &c); // in, out, in
        let state = current(&events);
        let m = &state[&Topic::marketing()];
        assert_eq!(m.status, ConsentStatus::OptedIn);
        assert_eq!(m.since, Timestamp::from_millis(3_000));
        events[2].action = ConsentAction::DoubleOptInConfirmed;
        let m = current(&events)[&Topic::marketing()].clone();
        assert!(m.double_opt_in);
        let mut again = events[2].clone();
        again.action = ConsentAction::OptIn;
        again.occurred_at = Timestamp::from_millis(9_000);
        let after = fold(Some(&m), &again);
        assert!(
            after.double_opt_in,
            "a later plain opt-in keeps the confirmation"
        );
        assert_eq!(after.since, m.since, "nothing changed, so 'since' stays");
    }

    #[test]
    fn evidence_is_checked() {
        let bad_ip = Evidence {
            ip: Some("999.1.1.1".into()),
            ..Evidence::default()
        };
        assert!(matches!(bad_ip.checked(), Err(EvidenceError::BadIp(_))));
        let bad_url = Evidence {
            source_url: Some("javascript:alert(1)".into()),
            ..Evidence::default()
        };
        assert_eq!(bad_url.checked(), Err(EvidenceError::BadUrl));
        let blank = Evidence {
            wording: Some("  ".into()),
            ..Evidence::default()
        };
        assert!(blank.checked().expect("ok").is_empty());
        let injected = Evidence {
            user_agent: Some("a\r\nb".into()),
            ..Evidence::default()
        };
        assert_eq!(
            injected.checked(),
            Err(EvidenceError::ControlCharacter("user_agent"))
        );
        let err =
            serde_json::from_str::<Evidence>(r#"{"ipaddress": "1.2.3.4"}"#).expect_err("unknown");
        assert!(err.to_string().contains("unknown field"));
    }

    #[test]
    fn client_methods_are_limited() {
        assert!(ConsentMethod::Form.recordable_by_client());
        assert!(!ConsentMethod::Complaint.recordable_by_client());
        assert!(!ConsentMethod::OneClick.recordable_by_client());
        assert_eq!(ConsentAction::parse("opt_in"), Some(ConsentAction::OptIn));
        assert!(Topic::parse("Marketing").is_err());
    }
}
