//! What every request handler shares.

use sendwell_core::secret::{constant_time_eq, SecretKey};
use sendwell_core::EmailAddress;
use sendwell_screen::dns::CachingResolver;
use sendwell_screen::score::Thresholds;
use sendwell_screen::Checker;
use sendwell_store::Store;
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    inner: Arc<Inner>,
}

struct Inner {
    operator_token_digest: [u8; 32],
    secret: SecretKey,
    max_body_bytes: usize,
    checker: Checker,
    resolver: CachingResolver,
    thresholds: Thresholds,
}

/// What the address checks and imports need besides the store.
pub struct Screening {
    pub resolver: CachingResolver,
    pub thresholds: Thresholds,
}

impl AppState {
    pub fn new(
        store: Store,
        operator_token: &str,
        secret: SecretKey,
        max_body_bytes: usize,
        screening: Screening,
    ) -> Self {
        Self {
            store,
            inner: Arc::new(Inner {
                operator_token_digest: Sha256::digest(operator_token.as_bytes()).into(),
                secret,
                max_body_bytes,
                checker: Checker::new(),
                resolver: screening.resolver,
                thresholds: screening.thresholds,
            }),
        }
    }

    pub fn checker(&self) -> &Checker {
        &self.inner.checker
    }

    /// DNS, cached for each answer's TTL.
    pub fn resolver(&self) -> &CachingResolver {
        &self.inner.resolver
    }

    pub fn thresholds(&self) -> Thresholds {
        self.inner.thresholds
    }

    /// Compares digests, so the comparison takes the same time whatever the token.
    pub fn is_operator_token(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        constant_time_eq(&digest, &self.inner.operator_token_digest)
    }

    pub fn address_hash(&self, email: &EmailAddress) -> String {
        self.inner.secret.address_hash(&email.key())
    }

    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }
}
