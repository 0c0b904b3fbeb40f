//! The VERP return path: every delivery leaves with its own envelope sender,
//! `bounces+TOKEN@BOUNCE-DOMAIN`, where the token names the delivery and
//! carries a MAC, so a bounce that comes back maps to exactly one delivery
//! and nobody can forge a bounce for a delivery they did not receive.
//!
//! The token is `DELIVERY=MAC`: the delivery id (letters, digits, `_` and
//! `.`, as the store makes them) and 80 bits of HMAC-SHA256 in lower-case
//! hex. Mail systems sometimes change the case of local parts, so the token
//! is compared without regard to case: the delivery id is upper-cased
//! before the MAC is computed and when it is read back.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The local part before the `+`.
pub const PREFIX: &str = "bounces";
const MAC_BYTES: usize = 10;

#[derive(Clone)]
pub struct VerpSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for VerpSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerpSigner(..)")
    }
}

fn is_delivery_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

impl VerpSigner {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac_hex(&self, delivery: &str) -> String {
        // The key is 32 bytes, which HMAC always accepts.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable_hmac(),
        };
        mac.update(b"verp|");
        mac.update(delivery.to_ascii_uppercase().as_bytes());
        let out = mac.finalize().into_bytes();
        out[..MAC_BYTES]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The envelope sender for one delivery, or `None` when the delivery id
    /// holds characters a local part should not (it never does for ids the
    /// store makes).
    pub fn return_path(&self, delivery: &str, bounce_domain: &str) -> Option<String> {
        if delivery.is_empty() || !delivery.chars().all(is_delivery_char) {
            return None;
        }
        Some(format!(
            "{PREFIX}+{delivery}={}@{bounce_domain}",
            self.mac_hex(delivery)
        ))
    }

    /// The delivery a bounce address names, when its MAC is right. Takes
    /// the whole address or only its local part.
    pub fn delivery_of(&self, address: &str) -> Option<String> {
        let local = address.rsplit_once('@').map_or(address, |(l, _)| l);
        let (prefix, token) = local.split_once('+')?;
        if !prefix.eq_ignore_ascii_case(PREFIX) {
            return None;
        }
        let (delivery, mac) = token.rsplit_once('=')?;
        if delivery.is_empty() || !delivery.chars().all(is_delivery_char) {
            return None;
        }
        let expected = self.mac_hex(delivery);
        let given = mac.to_ascii_lowercase();
        if sendwell_core::secret::constant_time_eq(expected.as_bytes(), given.as_bytes()) {
            Some(canonical_delivery(delivery))
        } else {
            None
        }
    }
}

/// Ids are `prefix_BODY` parts joined by `.`: a lower-case prefix and an
/// upper-case Crockford body, whatever case the token came back in.
fn canonical_delivery(delivery: &str) -> String {
    delivery
        .split('.')
        .map(|part| match part.split_once('_') {
            Some((prefix, body)) => format!(
                "{}_{}",
                prefix.to_ascii_lowercase(),
                body.to_ascii_uppercase()
            ),
            None => part.to_ascii_uppercase(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cold]
fn unreachable_hmac() -> ! {
    panic!("HMAC-SHA256 accepts a key of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELIVERY: &str = "msg_01J9ZK3Q4R5S6T7V8W9X0Y1Z2A.ct_01J9ZK3Q4R5S6T7V8W9X0Y1Z2B";

    #[test]
    fn a_return_path_names_its_delivery() {
        let s = VerpSigner::new([7; 32]);
        let rp = s.return_path(DELIVERY, "bounce.example.com").expect("path");
        assert!(rp.starts_with("bounces+msg_01J9"), "{rp}");
        assert!(rp.ends_with("@bounce.example.com"));
        assert_eq!(s.delivery_of(&rp).as_deref(), Some(DELIVERY));
    }

    #[test]
    fn case_changes_on_the_way_back_do_not_matter() {
        let s = VerpSigner::new([7; 32]);
        let rp = s.return_path(DELIVERY, "b.example").expect("path");
        assert_eq!(
            s.delivery_of(&rp.to_ascii_lowercase()).as_deref(),
            Some(DELIVERY)
        );
        assert_eq!(
            s.delivery_of(&rp.to_ascii_uppercase()).as_deref(),
            Some(DELIVERY)
        );
    }

    #[test]
    fn forged_or_other_keys_tokens_are_refused() {
        let s = VerpSigner::new([7; 32]);
        let rp = s.return_path(DELIVERY, "b.example").expect("path");
        let other = VerpSigner::new([8; 32]);
        assert_eq!(other.delivery_of(&rp), None);
        let forged = rp.replace(
            "ct_01J9ZK3Q4R5S6T7V8W9X0Y1Z2B",
            "ct_01J9ZK3Q4R5S6T7V8W9X0Y1Z2C",
        );
        assert_eq!(s.delivery_of(&forged), None);
        assert_eq!(s.delivery_of("bounces@b.example"), None);
        assert_eq!(s.delivery_of("someone+x=y@b.example"), None);
        assert_eq!(s.return_path("msg_1\r\nRCPT", "b.example"), None);
    }
}
