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
        self.tagged_mac_hex(b"verp|", delivery)
    }

    /// The MAC of `delivery` under one use's tag, so a Message-ID's MAC is
    /// never a valid return path's and the other way round.
    fn tagged_mac_hex(&self, tag: &[u8], delivery: &str) -> String {
        let out = sendwell_core::secret::hmac_sha256(
            &self.key,
            &[tag, delivery.to_ascii_uppercase().as_bytes()],
        );
        sendwell_core::secret::to_hex(&out[..MAC_BYTES])
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

impl VerpSigner {
    /// The Message-ID (without angle brackets) of one delivery:
    /// `DELIVERY.MAC@host`. The MAC lets a report that quotes the header
    /// prove that its sender saw the mail; ids alone are not secret.
    pub fn message_id(&self, delivery: &str, host: &str) -> String {
        format!(
            "{delivery}.{}@{host}",
            self.tagged_mac_hex(b"mid|", delivery)
        )
    }

    /// The delivery a Message-ID of ours names, when its MAC is right
    /// (angle brackets and surrounding space are allowed).
    pub fn delivery_of_message_id(&self, message_id: &str) -> Option<String> {
        let (delivery, mac) = split_message_id(message_id)?;
        let mac = mac?;
        let expected = self.tagged_mac_hex(b"mid|", delivery);
        sendwell_core::secret::constant_time_eq(
            expected.as_bytes(),
            mac.to_ascii_lowercase().as_bytes(),
        )
        .then(|| canonical_delivery(delivery))
    }
}

/// The delivery a Message-ID of ours names, *without* checking its MAC:
/// only for events whose sender is authenticated another way (a provider's
/// signed webhook) and whose recipient is checked against the contact.
/// Mail sent before Message-IDs carried a MAC has none.
pub fn unverified_delivery_of_message_id(message_id: &str) -> Option<String> {
    split_message_id(message_id).map(|(d, _)| canonical_delivery(d))
}

/// `msg_X.ct_Y[.MAC]` from `<msg_X.ct_Y[.MAC]@host>`.
fn split_message_id(message_id: &str) -> Option<(&str, Option<&str>)> {
    let inner = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    let (local, _) = inner.rsplit_once('@')?;
    let mut parts = local.split('.');
    let msg = parts.next()?;
    let ct = parts.next()?;
    let mac = parts.next();
    // Checked for our characters first, so the prefixes below are ASCII.
    let well_formed = local.chars().all(is_delivery_char)
        && msg.len() > 4
        && msg.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("msg_"))
        && ct.len() > 3
        && ct.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("ct_"))
        && parts.next().is_none();
    well_formed.then(|| (&local[..msg.len() + 1 + ct.len()], mac))
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

    #[test]
    fn a_message_id_carries_a_mac_that_a_neighbour_cannot_forge() {
        let s = VerpSigner::new([7; 32]);
        let mid = s.message_id(DELIVERY, "mail.example.com");
        assert!(
            mid.starts_with(DELIVERY) && mid.ends_with("@mail.example.com"),
            "{mid}"
        );
        assert_eq!(
            s.delivery_of_message_id(&format!("<{mid}>")).as_deref(),
            Some(DELIVERY)
        );
        assert_eq!(
            s.delivery_of_message_id(&mid.to_ascii_uppercase())
                .as_deref(),
            Some(DELIVERY)
        );
        // The bare delivery id, a neighbour's id with this MAC, another
        // key's MAC and a return path's MAC are all refused.
        assert_eq!(
            s.delivery_of_message_id(&format!("<{DELIVERY}@mail.example.com>")),
            None
        );
        let neighbour = mid.replace("Z2B.", "Z2C.");
        assert_eq!(s.delivery_of_message_id(&neighbour), None);
        assert_eq!(VerpSigner::new([8; 32]).delivery_of_message_id(&mid), None);
        let rp = s.return_path(DELIVERY, "b.example").expect("path");
        let verp_mac = rp
            .rsplit_once('=')
            .map(|(_, m)| m.split('@').next().unwrap_or(""))
            .unwrap_or("");
        assert_eq!(
            s.delivery_of_message_id(&format!("{DELIVERY}.{verp_mac}@h")),
            None
        );
        assert_eq!(
            unverified_delivery_of_message_id(&format!("<{DELIVERY}@h>")).as_deref(),
            Some(DELIVERY)
        );
        assert_eq!(
            unverified_delivery_of_message_id(&mid).as_deref(),
            Some(DELIVERY)
        );
        assert_eq!(unverified_delivery_of_message_id("<abc@example.com>"), None);
        // Found by the property test: a multi-byte character where the
        // prefix was cut used to panic.
        assert_eq!(unverified_delivery_of_message_id("q\"\u{1166a}?x@h"), None);
        assert_eq!(s.delivery_of_message_id("<m\u{1166a}g_x.ct_y@h>"), None);
    }
}
