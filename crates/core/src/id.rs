//! Identifiers: a short type prefix and a 26-character, time-ordered body
//! (48 bits of milliseconds, 80 random bits, Crockford base32), so ids sort
//! roughly by creation and make stable pagination cursors.

use crate::secret::random_bytes;
use crate::time::Timestamp;
use std::fmt;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const BODY_LEN: usize = 26;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{given}' is not a valid {what} id (expected '{prefix}' followed by 26 characters)")]
pub struct IdError {
    given: String,
    what: &'static str,
    prefix: &'static str,
}

/// The last id body handed out, so that ids made in the same millisecond by
/// this process still sort in the order they were made: a later id in the
/// same millisecond is the earlier one plus a random step of 1 to 2^40.
/// Every id carries fresh random bits, so knowing one id does not tell
/// another (a plain counter let a recipient name their neighbours).
static LAST: std::sync::Mutex<u128> = std::sync::Mutex::new(0);

/// Bits of randomness in the step between two ids of one millisecond.
const STEP_BITS: u32 = 40;

thread_local! {
    /// Random bytes fetched from the operating system in blocks, so that an
    /// import making thousands of ids a millisecond asks it once per 51 ids.
    static POOL: std::cell::RefCell<([u8; 512], usize)> = const { std::cell::RefCell::new(([0; 512], 512)) };
}

/// `N` random bytes from this thread's pool.
fn pooled<const N: usize>() -> [u8; N] {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let (bytes, used) = &mut *pool;
        if *used + N > bytes.len() {
            *bytes = random_bytes::<512>();
            *used = 0;
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&bytes[*used..*used + N]);
        *used += N;
        out
    })
}

/// Writes a new id body after `prefix`.
fn new_id(prefix: &str, now: Timestamp) -> String {
    let ms = u128::from(u64::try_from(now.millis()).unwrap_or(0) & 0xFFFF_FFFF_FFFF);
    let fresh = || {
        let random = u128::from_be_bytes({
            let mut b = [0u8; 16];
            b[6..].copy_from_slice(&pooled::<10>());
            b
        });
        (ms << 80) | random
    };
    let step = || {
        let mut b = [0u8; 8];
        b[3..].copy_from_slice(&pooled::<5>());
        1 + u128::from(u64::from_be_bytes(b) & ((1 << STEP_BITS) - 1))
    };
    let value = match LAST.lock() {
        Ok(mut last) => {
            let v = if (*last >> 80) >= ms {
                last.wrapping_add(step())
            } else {
                fresh()
            };
            *last = v;
            v
        }
        Err(_) => fresh(),
    };
    let mut id = String::with_capacity(prefix.len() + BODY_LEN);
    id.push_str(prefix);
    id.extend((0..BODY_LEN).rev().map(|i| {
        let idx = ((value >> (i * 5)) & 0x1F) as usize;
        char::from(CROCKFORD[idx])
    }));
    id
}

fn body_is_valid(body: &str) -> bool {
    body.len() == BODY_LEN && body.bytes().all(|b| CROCKFORD.contains(&b))
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate(now: Timestamp) -> Self {
                Self(new_id($prefix, now))
            }

            pub fn parse(text: &str) -> Result<Self, IdError> {
                match text.strip_prefix($prefix) {
                    Some(body) if body_is_valid(body) => Ok(Self(text.to_owned())),
                    _ => Err(IdError {
                        given: text.chars().take(64).collect(),
                        what: $what,
                        prefix: $prefix,
                    }),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

define_id!(
    /// A workspace: one business sending to its own users.
    WorkspaceId, "ws_", "workspace"
);
define_id!(
    /// A contact inside one workspace.
    ContactId, "ct_", "contact"
);
define_id!(
    /// An API key (the id part, never the secret).
    ApiKeyId, "key_", "API key"
);
define_id!(
    /// One event of the consent ledger.
    ConsentEventId, "ce_", "consent event"
);
define_id!(
    /// One entry of a workspace's audit log.
    AuditId, "au_", "audit entry"
);
define_id!(
    /// A message: one mail composed once and sent to an audience.
    MessageId, "msg_", "message"
);
define_id!(
    /// A saved template.
    TemplateId, "tpl_", "template"
);
define_id!(
    /// One captured mail in the outbox.
    OutboxId, "ob_", "outbox mail"
);
define_id!(
    /// One recorded click, open or other link event.
    LinkEventId, "le_", "link event"
);
define_id!(
    /// A saved audience: a named filter, evaluated again at each use.
    AudienceId, "aud_", "audience"
);
define_id!(
    /// A person who signs in to the web console (one email, one password),
    /// a member of one or more workspaces.
    AccountId, "acc_", "account"
);

/// One delivery: a message to one contact, named by both
/// (`msg_<body>.ct_<body>`), so a message can reach a contact only once.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeliveryId(String);

impl DeliveryId {
    pub fn new(message: &MessageId, contact: &ContactId) -> Self {
        Self(format!("{message}.{contact}"))
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        let invalid = || IdError {
            given: text.chars().take(64).collect(),
            what: "delivery",
            prefix: "msg_<message>.ct_",
        };
        let (message, contact) = text.split_once('.').ok_or_else(invalid)?;
        let valid = |part: &str, prefix: &str| part.strip_prefix(prefix).is_some_and(body_is_valid);
        if !valid(message, MessageId::PREFIX) || !valid(contact, ContactId::PREFIX) {
            return Err(invalid());
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The message this delivery sends.
    pub fn message(&self) -> MessageId {
        let message = self.0.split_once('.').map_or(self.0.as_str(), |(m, _)| m);
        MessageId(message.to_owned())
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for DeliveryId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_name_their_message_and_contact() {
        let now = Timestamp::from_millis(1_000);
        let (m, c) = (MessageId::generate(now), ContactId::generate(now));
        let id = DeliveryId::new(&m, &c);
        assert_eq!(DeliveryId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.message(), m);
        assert!(DeliveryId::parse(m.as_str()).is_err());
        assert!(DeliveryId::parse(&format!("{c}.{m}")).is_err());
    }

    #[test]
    fn generated_ids_parse_and_sort_by_time() {
        let a = ContactId::generate(Timestamp::from_millis(1_000));
        let b = ContactId::generate(Timestamp::from_millis(2_000));
        assert!(a < b);
        assert_eq!(ContactId::parse(a.as_str()), Ok(a.clone()));
        assert_eq!(a.as_str().len(), 3 + 26);
    }

    #[test]
    fn ids_made_in_one_millisecond_keep_their_order() {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let ids: Vec<AuditId> = (0..100).map(|_| AuditId::generate(now)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    /// Regression: ids made in one millisecond were the last plus one, so
    /// a recipient could name the contacts created next to them.
    #[test]
    fn regression_ids_made_in_one_millisecond_are_not_a_counter() {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let ids: Vec<ContactId> = (0..200).map(|_| ContactId::generate(now)).collect();
        let value = |id: &ContactId| {
            id.as_str()[3..].bytes().fold(0u128, |acc, b| {
                let digit = CROCKFORD.iter().position(|c| *c == b).unwrap_or(0);
                (acc << 5) | digit as u128
            })
        };
        let steps: Vec<u128> = ids
            .windows(2)
            .map(|w| value(&w[1]) - value(&w[0]))
            .collect();
        assert!(steps.iter().all(|s| *s >= 1), "ids keep their order");
        let small = steps.iter().filter(|s| **s < 1 << 20).count();
        assert!(
            small <= 2,
            "{small} of 199 steps were guessable: {:?}",
            &steps[..5]
        );
        let distinct: std::collections::HashSet<_> = steps.iter().collect();
        assert!(distinct.len() > 190, "steps are random, not one constant");
    }

    #[test]
    fn wrong_prefix_or_body_is_refused() {
        let ws = WorkspaceId::generate(Timestamp::from_millis(5));
        assert!(ContactId::parse(ws.as_str()).is_err());
        assert!(ContactId::parse("ct_short").is_err());
        assert!(ContactId::parse("ct_0000000000000000000000000u").is_err());
        let err = ContactId::parse("nope").expect_err("refused");
        assert!(err.to_string().contains("contact id"));
    }
}
