//! Secrets: random bytes, API key tokens (shown once, stored as a SHA-256
//! digest), and the keyed hash that lets an erased or suppressed address be
//! recognised without keeping the address.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;

/// Random bytes from the operating system. The OS generator failing is not a
/// condition sendwell can work around, so it aborts loudly.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    buf
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`: the one place
/// sendwell computes a MAC, whatever it signs (links, return paths,
/// Message-IDs, webhooks, provider signatures, derived keys).
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC hashes a key longer than a block and pads a shorter one, so
    // every length is accepted; the error case of the trait cannot happen.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts a key of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0F)]));
    }
    out
}

pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? << 4) | digit(pair[1])?))
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    to_hex(&Sha256::digest(data))
}

/// Compares two byte strings in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The instance secret: keys the address hashes. Never printed.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

#[derive(Debug, thiserror::Error)]
#[error("the secret key must be 64 hexadecimal characters (32 bytes); generate one with `openssl rand -hex 32`")]
pub struct SecretKeyError;

impl SecretKey {
    pub fn generate() -> Self {
        Self(random_bytes::<32>())
    }

    pub fn parse_hex(text: &str) -> Result<Self, SecretKeyError> {
        let bytes = from_hex(text.trim()).ok_or(SecretKeyError)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| SecretKeyError)?;
        Ok(Self(arr))
    }

    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    fn mac(&self, purpose: &str, data: &[u8]) -> String {
        to_hex(&hmac_sha256(&self.0, &[purpose.as_bytes(), &[0], data]))
    }

    /// Keyed hash of a normalised address: the same for every workspace of
    /// this instance, so suppressions can be compared without revealing the
    /// address to anyone who lacks the key.
    pub fn address_hash(&self, email_key: &str) -> String {
        self.mac("address", email_key.as_bytes())
    }

    /// A key for one purpose (signing links, ...), derived from this one so
    /// that a token made for one use can never pass as another's.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        hmac_sha256(&self.0, &[b"derive", &[0], purpose.as_bytes()])
    }

    /// A value that identifies the key without revealing it, stored in the
    /// database so a server started with a different key refuses to run.
    pub fn fingerprint(&self) -> String {
        self.mac("fingerprint", b"sendwell")
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// An API key as handed to its owner once: `sw_<key id>_<secret>`.
pub struct ApiKeyToken {
    pub key_id: crate::ApiKeyId,
    secret: String,
}

impl ApiKeyToken {
    pub fn generate(key_id: crate::ApiKeyId) -> Self {
        Self {
            key_id,
            secret: to_hex(&random_bytes::<32>()),
        }
    }

    /// Splits a presented bearer token; `None` when it is not of our shape.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("sw_")?;
        let (id, secret) = rest.rsplit_once('_')?;
        let key_id = crate::ApiKeyId::parse(id).ok()?;
        if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Self {
            key_id,
            secret: secret.to_owned(),
        })
    }

    /// What the store keeps: a digest of the secret. The secret has 256 bits
    /// of entropy, so a fast hash is enough.
    pub fn secret_hash(&self) -> String {
        sha256_hex(self.secret.as_bytes())
    }

    /// The full token, for the one response that shows it.
    pub fn reveal(&self) -> String {
        format!("sw_{}_{}", self.key_id, self.secret)
    }
}

impl fmt::Debug for ApiKeyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyToken({}, ..)", self.key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiKeyId, Timestamp};

    #[test]
    fn token_round_trips_and_hash_matches() {
        let token = ApiKeyToken::generate(ApiKeyId::generate(Timestamp::from_millis(1)));
        let parsed = ApiKeyToken::parse(&token.reveal()).expect("parses");
        assert_eq!(parsed.key_id, token.key_id);
        assert_eq!(parsed.secret_hash(), token.secret_hash());
        assert!(!format!("{token:?}").contains(&token.secret));
    }

    #[test]
    fn malformed_tokens_are_not_parsed() {
        assert!(ApiKeyToken::parse("Bearer x").is_none());
        assert!(ApiKeyToken::parse("sw_key_nothex_zz").is_none());
    }

    #[test]
    fn address_hash_depends_on_the_key() {
        let a = SecretKey::generate();
        let b = SecretKey::generate();
        assert_eq!(a.address_hash("x@y.org"), a.address_hash("x@y.org"));
        assert_ne!(a.address_hash("x@y.org"), b.address_hash("x@y.org"));
        assert_ne!(a.address_hash("x@y.org"), a.address_hash("z@y.org"));
        let again = SecretKey::parse_hex(&a.to_hex()).expect("hex");
        assert_eq!(again.fingerprint(), a.fingerprint());
        assert!(SecretKey::parse_hex("abc").is_err());
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(from_hex(&to_hex(&[0, 15, 255])), Some(vec![0, 15, 255]));
        assert_eq!(from_hex("zz"), None);
    }
}
