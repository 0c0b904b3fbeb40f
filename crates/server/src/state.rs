//! What every request handler shares.

use crate::config::DeliverySettings;
use crate::dkim_keys::{KeySealer, SealError};
use crate::metrics::Metrics;
use crate::transport::TransportKind;
use sendwell_core::secret::{constant_time_eq, SecretKey};
use sendwell_core::EmailAddress;
use sendwell_mail::LinkSigner;
use sendwell_mail::VerpSigner;
use sendwell_screen::dns::CachingResolver;
use sendwell_screen::score::Thresholds;
use sendwell_screen::Checker;
use sendwell_store::Store;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};
use tokio::sync::Notify;

/// Per-key counters of the rate limits: (limit, key) to the window's
/// start and the count in it.
type RateCounters = std::collections::HashMap<
    (&'static str, String),
    (std::time::Instant, u32, std::time::Duration),
>;

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
    resolver: Arc<CachingResolver>,
    thresholds: Thresholds,
    links: LinkSigner,
    /// Signs the links of previews with a key nobody keeps: they look like
    /// the real ones and verify nowhere, so a preview cannot be used to
    /// unsubscribe or opt in a contact as if the contact had.
    preview_links: LinkSigner,
    public_url: OnceLock<String>,
    opt_in_request_interval_days: u32,
    /// Wakes the delivery worker when mail is queued.
    queued: Notify,
    delivery: DeliverySettings,
    sealer: KeySealer,
    verp: VerpSigner,
    metrics: Metrics,
    /// Where the inbound SMTP listener listens, once started.
    inbound: OnceLock<std::net::SocketAddr>,
    /// Fetches SNS certificates (tests put their own), and the ones fetched.
    sns_fetch: OnceLock<crate::api::provider_hooks::SnsFetch>,
    sns_certs: std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>,
    trusted_proxies: Vec<crate::config::IpNet>,
    /// Per-key counters of the rate limits: (limit, key) to the window's
    /// start and the count in it.
    limits: std::sync::Mutex<RateCounters>,
    /// Unsubscribes whose write is still to be applied.
    journal: Arc<crate::journal::Journal>,
    /// Renders the API runs at once (previews, preflights, checks when a
    /// template is saved): one per core, so keys that compose heavy
    /// templates in parallel queue instead of taking every core.
    api_renders: Arc<tokio::sync::Semaphore>,
    /// When each running delivery pipeline last made progress.
    heartbeats: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// What the address checks and imports need besides the store.
pub struct Screening {
    pub resolver: CachingResolver,
    pub thresholds: Thresholds,
}

/// What sending needs besides the store.
pub struct Sending {
    /// Known at start when configured; else set once the server is bound.
    pub public_url: Option<String>,
    pub opt_in_request_interval_days: u32,
    pub delivery: DeliverySettings,
    /// Where the unsubscribe journal lives (the data directory).
    pub journal_dir: std::path::PathBuf,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<crate::config::IpNet>,
}

impl AppState {
    pub fn new(
        store: Store,
        operator_token: &str,
        secret: SecretKey,
        max_body_bytes: usize,
        screening: Screening,
        sending: Sending,
    ) -> Result<Self, SealError> {
        let links = LinkSigner::new(secret.derive("links"));
        let verp = VerpSigner::new(secret.derive("verp"));
        let sealer = KeySealer::new(secret.derive("dkim-keys"))?;
        let public_url = OnceLock::new();
        if let Some(url) = sending.public_url {
            let _ = public_url.set(url);
        }
        Ok(Self {
            store,
            inner: Arc::new(Inner {
                operator_token_digest: Sha256::digest(operator_token.as_bytes()).into(),
                secret,
                max_body_bytes,
                checker: Checker::new(),
                resolver: Arc::new(screening.resolver),
                thresholds: screening.thresholds,
                links,
                preview_links: LinkSigner::new(sendwell_core::secret::random_bytes::<32>()),
                public_url,
                opt_in_request_interval_days: sending.opt_in_request_interval_days,
                queued: Notify::new(),
                delivery: sending.delivery,
                sealer,
                verp,
                metrics: Metrics::default(),
                inbound: OnceLock::new(),
                sns_fetch: OnceLock::new(),
                sns_certs: std::sync::Mutex::new(std::collections::HashMap::new()),
                heartbeats: std::sync::Mutex::new(std::collections::HashMap::new()),
                journal: Arc::new(crate::journal::Journal::new(sending.journal_dir)),
                trusted_proxies: sending.trusted_proxies,
                limits: std::sync::Mutex::new(std::collections::HashMap::new()),
                api_renders: Arc::new(tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                )),
            }),
        })
    }

    /// A turn to render for an API request; held while the render runs.
    pub async fn api_render_turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.inner.api_renders.clone().acquire_owned().await.ok()
    }

    pub fn journal(&self) -> Arc<crate::journal::Journal> {
        self.inner.journal.clone()
    }

    /// A delivery pipeline made progress (finished a batch, or found none).
    pub fn worker_beat(&self, pipeline: &str) {
        if let Ok(mut beats) = self.inner.heartbeats.lock() {
            beats.insert(pipeline.to_owned(), std::time::Instant::now());
        }
    }

    /// A delivery pipeline stopped on purpose: it is no longer watched.
    pub fn worker_gone(&self, pipeline: &str) {
        if let Ok(mut beats) = self.inner.heartbeats.lock() {
            beats.remove(pipeline);
        }
    }

    /// The pipelines that made no progress for longer than the stall
    /// limit, with how long.
    pub fn stalled_workers(&self) -> Vec<(String, std::time::Duration)> {
        let limit = self.inner.delivery.stall_after;
        let Ok(beats) = self.inner.heartbeats.lock() else {
            return vec![("unknown".to_owned(), limit)];
        };
        let mut stalled: Vec<_> = beats
            .iter()
            .map(|(k, t)| (k.clone(), t.elapsed()))
            .filter(|(_, d)| *d > limit)
            .collect();
        stalled.sort();
        stalled
    }

    pub fn provider_keys(&self) -> &crate::config::ProviderKeys {
        &self.inner.delivery.providers
    }

    pub fn delivery(&self) -> &DeliverySettings {
        &self.inner.delivery
    }

    pub fn sealer(&self) -> &KeySealer {
        &self.inner.sealer
    }

    pub fn verp(&self) -> &VerpSigner {
        &self.inner.verp
    }

    /// The inbound SMTP listener's address, once it is listening.
    pub fn inbound_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.inbound.get().copied()
    }

    pub(crate) fn set_inbound_addr(&self, addr: std::net::SocketAddr) {
        let _ = self.inner.inbound.set(addr);
    }

    /// Replaces how SNS URLs are fetched (tests); only before the first use.
    pub fn set_sns_fetch(&self, fetch: crate::api::provider_hooks::SnsFetch) {
        let _ = self.inner.sns_fetch.set(fetch);
    }

    pub fn sns_fetch(&self) -> crate::api::provider_hooks::SnsFetch {
        self.inner
            .sns_fetch
            .get_or_init(crate::api::provider_hooks::http_sns_fetch)
            .clone()
    }

    /// An SNS signing certificate, fetched once per URL.
    pub async fn sns_certificate(&self, url: &str) -> Result<Vec<u8>, String> {
        if let Some(pem) = self
            .inner
            .sns_certs
            .lock()
            .ok()
            .and_then(|c| c.get(url).cloned())
        {
            return Ok(pem);
        }
        let pem = self.sns_fetch()(url.to_owned()).await?;
        if let Ok(mut cache) = self.inner.sns_certs.lock() {
            if cache.len() > 100 {
                cache.clear();
            }
            cache.insert(url.to_owned(), pem.clone());
        }
        Ok(pem)
    }

    /// Concern reports: at most 10 an hour from one client.
    pub fn allow_report(&self, ip: &str) -> bool {
        self.allow("report", ip, 10, std::time::Duration::from_secs(3600))
    }

    /// Counts one use of `key` against `limit` uses per `window` of the
    /// limit named `bucket`; whether it is allowed. The table is bounded:
    /// when it grows past 200,000 keys, windows that ended are dropped.
    pub fn allow(
        &self,
        bucket: &'static str,
        key: &str,
        limit: u32,
        window: std::time::Duration,
    ) -> bool {
        let Ok(mut map) = self.inner.limits.lock() else {
            return false;
        };
        let now = std::time::Instant::now();
        if map.len() > 200_000 {
            // Each entry by its own window: a short limit's clean-up must
            // not drop a long one's count (a sign-in lock-out).
            map.retain(|_, (start, _, kept)| now.duration_since(*start) < *kept);
            if map.len() > 200_000 {
                return false;
            }
        }
        let entry = map
            .entry((bucket, key.to_owned()))
            .or_insert((now, 0, window));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0, window);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= limit
    }

    /// Gives back one use counted by [`Self::allow`] (a sign-in counted
    /// before its password was checked, and found right).
    pub fn refund(&self, bucket: &'static str, key: &str) {
        if let Ok(mut map) = self.inner.limits.lock() {
            if let Some(entry) = map.get_mut(&(bucket, key.to_owned())) {
                entry.1 = entry.1.saturating_sub(1);
            }
        }
    }

    /// Whether `key` has used up `limit` of the bucket's current window,
    /// without counting a use (see [`Self::allow`]).
    pub fn exhausted(
        &self,
        bucket: &'static str,
        key: &str,
        limit: u32,
        window: std::time::Duration,
    ) -> bool {
        let Ok(map) = self.inner.limits.lock() else {
            return true;
        };
        map.get(&(bucket, key.to_owned()))
            .is_some_and(|(start, n, _)| start.elapsed() < window && *n >= limit)
    }

    /// The key the console's CSRF tokens are made with.
    pub fn console_key(&self) -> [u8; 32] {
        self.inner.secret.derive("console-csrf")
    }

    /// The reverse proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[crate::config::IpNet] {
        &self.inner.trusted_proxies
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Whether mail may only leave from verified sender domains: on every
    /// transport but `capture`, unless the operator chose to skip the check.
    pub fn requires_verified_domain(&self) -> bool {
        self.inner.delivery.transport.kind != TransportKind::Capture
            && !self.inner.delivery.insecure_skip_domain_verification
    }

    /// The domain of the VERP return path.
    pub fn bounce_domain(&self) -> String {
        self.inner
            .delivery
            .bounce_domain
            .clone()
            .unwrap_or_else(|| self.public_host())
    }

    pub fn checker(&self) -> &Checker {
        &self.inner.checker
    }

    /// DNS, cached for each answer's TTL.
    pub fn resolver_arc(&self) -> Arc<CachingResolver> {
        self.inner.resolver.clone()
    }

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
        self.inner.secret.address_hash(email.key())
    }

    pub fn links(&self) -> &LinkSigner {
        &self.inner.links
    }

    pub fn preview_links(&self) -> &LinkSigner {
        &self.inner.preview_links
    }

    /// The base of every link in mail, without a trailing slash.
    pub fn public_url(&self) -> &str {
        self.inner
            .public_url
            .get()
            .map(String::as_str)
            .unwrap_or("http://localhost")
    }

    /// Sets the public URL from the bound address when none was configured.
    pub fn set_public_url_if_unset(&self, url: String) {
        let _ = self.inner.public_url.set(url);
    }

    /// The host part of the public URL, for Message-ID and List-Id.
    pub fn public_host(&self) -> String {
        let url = self.public_url();
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
        let host = if host.starts_with('[') {
            host.split(']')
                .next()
                .unwrap_or(host)
                .trim_start_matches('[')
        } else {
            host.split(':').next().unwrap_or(host)
        };
        if host.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
            "sendwell.localhost".to_owned()
        } else {
            host.to_ascii_lowercase()
        }
    }

    pub fn opt_in_request_interval_days(&self) -> u32 {
        self.inner.opt_in_request_interval_days
    }

    pub fn notify_queued(&self) {
        self.inner.queued.notify_one();
    }

    pub async fn queued_notified(&self) {
        self.inner.queued.notified().await;
    }

    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }
}
