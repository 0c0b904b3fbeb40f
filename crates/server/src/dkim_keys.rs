//! DKIM private keys at rest, and the signers made from them.
//!
//! Keys are sealed with AES-256-GCM under a key derived from the instance
//! secret (`SecretKey::derive("dkim-keys")`), with the workspace, domain
//! and algorithm as associated data: a sealed key copied to another row
//! does not open. Sealed form: base64 of nonce (12 bytes) then ciphertext
//! and tag.

use crate::error::ApiResult;
use crate::state::AppState;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine as _;
use sendwell_core::WorkspaceId;
use sendwell_mail::dkim::{DkimAlgorithm, DkimSigner};
use sendwell_store::SenderDomain;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

pub struct KeySealer {
    key: LessSafeKey,
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "the stored DKIM key cannot be read (it was sealed with another secret key, or changed)"
    )]
    Open,
    #[error("the DKIM key could not be sealed")]
    Seal,
}

/// What a sealed secret starts with in the database.
const SEALED_PREFIX: &str = "sealed:";

impl KeySealer {
    pub fn new(key: [u8; 32]) -> Result<Self, SealError> {
        let unbound = UnboundKey::new(&AES_256_GCM, &key).map_err(|_| SealError::Seal)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
        })
    }

    fn aad(ws: &WorkspaceId, domain: &str, alg: DkimAlgorithm) -> String {
        format!("dkim|{}|{domain}|{}", ws.as_str(), alg.as_str())
    }

    pub fn seal(
        &self,
        ws: &WorkspaceId,
        domain: &str,
        alg: DkimAlgorithm,
        plain: &[u8],
    ) -> Result<String, SealError> {
        self.seal_for(&Self::aad(ws, domain, alg), plain)
    }

    pub fn open(
        &self,
        ws: &WorkspaceId,
        domain: &str,
        alg: DkimAlgorithm,
        sealed: &str,
    ) -> Result<Vec<u8>, SealError> {
        self.open_for(&Self::aad(ws, domain, alg), sealed)
    }

    /// A webhook endpoint's signing secret, sealed for that endpoint alone.
    pub fn seal_webhook_secret(&self, endpoint: &str, secret: &str) -> Result<String, SealError> {
        Ok(format!(
            "{SEALED_PREFIX}{}",
            self.seal_for(&format!("webhook|{endpoint}"), secret.as_bytes())?
        ))
    }

    /// The signing secret as stored: sealed, or (made before secrets were
    /// sealed) as it was given.
    pub fn open_webhook_secret(&self, endpoint: &str, stored: &str) -> Result<String, SealError> {
        match stored.strip_prefix(SEALED_PREFIX) {
            Some(sealed) => {
                let plain = self.open_for(&format!("webhook|{endpoint}"), sealed)?;
                String::from_utf8(plain).map_err(|_| SealError::Open)
            }
            None => Ok(stored.to_owned()),
        }
    }

    /// Seals `plain` bound to `aad` (what it belongs to: a sealed value
    /// moved to another row does not open).
    fn seal_for(&self, aad: &str, plain: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::Seal)?;
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(B64.encode(out))
    }

    fn open_for(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let raw = B64.decode(sealed.trim()).map_err(|_| SealError::Open)?;
        if raw.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }

    /// The keys of a sender domain, opened, one per key it has.
    pub fn keys<'a>(&self, d: &'a SenderDomain) -> Result<Vec<OpenedKey<'a>>, SealError> {
        let mut out = Vec::new();
        for (alg, selector, sealed) in [
            (DkimAlgorithm::Rsa, &d.rsa_selector, &d.rsa_key),
            (DkimAlgorithm::Ed25519, &d.ed25519_selector, &d.ed25519_key),
        ] {
            if let (Some(selector), Some(sealed)) = (selector, sealed) {
                let pkcs8 = self.open(&d.workspace_id, &d.domain, alg, sealed)?;
                out.push(OpenedKey {
                    alg,
                    selector,
                    pkcs8,
                });
            }
        }
        Ok(out)
    }

    /// The signers of a sender domain: one per key it has.
    pub fn signers(&self, d: &SenderDomain) -> Result<Vec<DkimSigner>, String> {
        let keys = self.keys(d).map_err(|e| format!("{}: {e}", d.domain))?;
        keys.iter()
            .map(|k| {
                DkimSigner::new(k.alg, &d.domain, k.selector, &k.pkcs8)
                    .map_err(|e| format!("{}: {e}", d.domain))
            })
            .collect()
    }
}

/// A sender domain's key, unsealed.
pub struct OpenedKey<'a> {
    pub alg: DkimAlgorithm,
    pub selector: &'a str,
    /// The private key, PKCS#8 DER.
    pub pkcs8: Vec<u8>,
}

/// The sender domain that signs mail from `from_domain`: the domain itself,
/// or the closest parent the workspace verified (its signature aligns
/// with From under relaxed DMARC alignment).
pub fn signing_domain<'a>(
    domains: &'a [SenderDomain],
    from_domain: &str,
    verified_only: bool,
) -> Option<&'a SenderDomain> {
    let from = from_domain.to_ascii_lowercase();
    let mut best: Option<&SenderDomain> = None;
    for d in domains {
        if verified_only && d.verified_at.is_none() {
            continue;
        }
        let fits = from == d.domain || from.ends_with(&format!(".{}", d.domain));
        if fits && best.is_none_or(|b| d.domain.len() > b.domain.len()) {
            best = Some(d);
        }
    }
    best
}

/// What preflight says about the From domain: `None` when it is a
/// verified sender domain (or a subdomain of one); otherwise the message,
/// and whether it blocks sending (every transport but capture, unless the
/// operator skips the check).
pub(crate) async fn sender_domain_problem(
    state: &AppState,
    ws: &WorkspaceId,
    from_address: &str,
) -> ApiResult<Option<(bool, String)>> {
    let from_domain = from_address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    let domains = state.store.sender_domains(ws).await?;
    if signing_domain(&domains, &from_domain, true).is_some() {
        return Ok(None);
    }
    let known = signing_domain(&domains, &from_domain, false).is_some();
    let step = if known {
        format!("publish its DKIM record and verify it with POST /v1/sender-domains/{from_domain}/verify")
    } else {
        format!("add it with POST /v1/sender-domains {{\"domain\": \"{from_domain}\"}}, publish the DKIM record shown and verify it")
    };
    let blocks = state.requires_verified_domain();
    let message = if blocks {
        format!("{from_domain} is not a verified sender domain of this workspace, and mail leaves only from verified domains: {step}.")
    } else if state.delivery().transport.kind == crate::transport::TransportKind::Capture {
        format!("{from_domain} is not a verified sender domain. On the capture transport mail is only stored, so this does not block; real delivery will need it: {step}.")
    } else {
        format!("{from_domain} is not a verified sender domain; it sends only because the operator skips domain verification (--insecure-skip-domain-verification). Mail from it is not DKIM-signed: {step}.")
    };
    Ok(Some((blocks, message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_for_their_row_and_secret() {
        let ws = WorkspaceId::parse("ws_01J9ZK3Q4R5S6T7V8W9X0Y1Z2A").expect("id");
        let other = WorkspaceId::parse("ws_01J9ZK3Q4R5S6T7V8W9X0Y1Z2B").expect("id");
        let s = KeySealer::new([1; 32]).expect("sealer");
        let sealed = s
            .seal(&ws, "example.com", DkimAlgorithm::Rsa, b"private key")
            .expect("seal");
        assert!(!sealed.contains("private"));
        assert_eq!(
            s.open(&ws, "example.com", DkimAlgorithm::Rsa, &sealed)
                .expect("open"),
            b"private key"
        );
        assert!(s
            .open(&other, "example.com", DkimAlgorithm::Rsa, &sealed)
            .is_err());
        assert!(s
            .open(&ws, "example.org", DkimAlgorithm::Rsa, &sealed)
            .is_err());
        assert!(s
            .open(&ws, "example.com", DkimAlgorithm::Ed25519, &sealed)
            .is_err());
        let t = KeySealer::new([2; 32]).expect("sealer");
        assert!(t
            .open(&ws, "example.com", DkimAlgorithm::Rsa, &sealed)
            .is_err());
    }
}
