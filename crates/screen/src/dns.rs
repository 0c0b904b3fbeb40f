//! What the address checks need to know from DNS about a domain, the
//! resolver interface that supplies it, and a cache that keeps each answer
//! for its TTL, so an import asks once per distinct domain.

use sendwell_core::{Clock, Timestamp};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Whether a domain accepts mail, as DNS says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainMail {
    /// MX hosts, best preference first.
    Mx(Vec<String>),
    /// RFC 7505 null MX: the domain says it never accepts mail.
    NullMx,
    /// No MX, but A/AAAA records: mail goes to the domain itself (RFC 5321 §5.1).
    AddressFallback,
    /// The domain does not exist, or has neither MX nor address records.
    NoMail,
    /// DNS did not answer; nothing can be concluded.
    TempFail(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub answer: DomainMail,
    /// How long the answer may be kept.
    pub ttl: Duration,
}

pub type ResolveFuture<'a> = Pin<Box<dyn Future<Output = Resolved> + Send + 'a>>;

/// The TXT records at a name (a DKIM key record, say).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxtAnswer {
    /// Each record with its strings joined.
    Records(Vec<String>),
    /// The name has no TXT record, or does not exist.
    NotFound,
    /// DNS did not answer.
    TempFail(String),
}

pub type TxtFuture<'a> = Pin<Box<dyn Future<Output = TxtAnswer> + Send + 'a>>;

/// Looks up whether a domain (already in ASCII form) accepts mail, and
/// TXT records.
pub trait MailDomainResolver: Send + Sync {
    fn resolve<'a>(&'a self, domain: &'a str) -> ResolveFuture<'a>;

    /// TXT records are never cached: a check wants to see a record just published.
    fn txt<'a>(&'a self, _name: &'a str) -> TxtFuture<'a> {
        Box::pin(async {
            TxtAnswer::TempFail("this resolver does not look up TXT records".to_owned())
        })
    }
}

/// A failed lookup is cached briefly, so a flapping resolver is retried soon.
const TEMP_FAIL_TTL: Duration = Duration::from_secs(30);
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// Bounds the cache: expired answers go first, then everything.
const MAX_ENTRIES: usize = 200_000;

/// Keeps each answer until its TTL runs out, by the clock it is given.
pub struct CachingResolver {
    inner: Arc<dyn MailDomainResolver>,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<String, (DomainMail, Timestamp)>>,
    lookups: std::sync::atomic::AtomicU64,
}

impl CachingResolver {
    pub fn new(inner: Arc<dyn MailDomainResolver>, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner,
            clock,
            entries: Mutex::new(HashMap::new()),
            lookups: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many lookups reached the resolver behind the cache.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The resolver behind the cache: for a check that must see what is
    /// published now (a domain report after a record was changed).
    pub fn uncached(&self) -> &dyn MailDomainResolver {
        &*self.inner
    }

    fn cached(&self, domain: &str) -> Option<DomainMail> {
        let now = self.clock.now();
        let entries = self.entries.lock().ok()?;
        entries
            .get(domain)
            .filter(|(_, expires)| *expires > now)
            .map(|(answer, _)| answer.clone())
    }
}

impl MailDomainResolver for CachingResolver {
    fn resolve<'a>(&'a self, domain: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            if let Some(answer) = self.cached(domain) {
                return Resolved {
                    answer,
                    ttl: Duration::ZERO,
                };
            }
            self.lookups
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let resolved = self.inner.resolve(domain).await;
            let ttl = match resolved.answer {
                DomainMail::TempFail(_) => TEMP_FAIL_TTL,
                _ => resolved.ttl.min(MAX_TTL),
            };
            let expires = Timestamp::from_millis(
                self.clock
                    .now()
                    .millis()
                    .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
            );
            if let Ok(mut entries) = self.entries.lock() {
                if entries.len() >= MAX_ENTRIES {
                    let now = self.clock.now();
                    entries.retain(|_, (_, until)| *until > now);
                    if entries.len() >= MAX_ENTRIES {
                        entries.clear();
                    }
                }
                entries.insert(domain.to_owned(), (resolved.answer.clone(), expires));
            }
            resolved
        })
    }

    fn txt<'a>(&'a self, name: &'a str) -> TxtFuture<'a> {
        self.inner.txt(name)
    }
}

/// Answers from a fixed table: for tests and for benchmarks on a machine
/// without DNS. Domains not in the table have no mail.
#[derive(Default)]
pub struct StaticResolver {
    answers: Mutex<HashMap<String, Resolved>>,
    asked: Mutex<Vec<String>>,
    txt: Mutex<HashMap<String, Vec<String>>>,
}

impl StaticResolver {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(self, domain: &str, answer: DomainMail, ttl_seconds: u64) -> Self {
        self.set(domain, answer, ttl_seconds);
        self
    }

    /// Sets (or replaces) the answer for a domain.
    pub fn set(&self, domain: &str, answer: DomainMail, ttl_seconds: u64) {
        let Ok(mut answers) = self.answers.lock() else {
            return;
        };
        answers.insert(
            domain.to_owned(),
            Resolved {
                answer,
                ttl: Duration::from_secs(ttl_seconds),
            },
        );
    }

    /// Publishes TXT records at a name (tests publish a DKIM key this way).
    pub fn set_txt(&self, name: &str, records: Vec<String>) {
        if let Ok(mut txt) = self.txt.lock() {
            txt.insert(name.trim_end_matches('.').to_ascii_lowercase(), records);
        }
    }

    /// Every domain asked for, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl MailDomainResolver for StaticResolver {
    fn resolve<'a>(&'a self, domain: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            if let Ok(mut asked) = self.asked.lock() {
                asked.push(domain.to_owned());
            }
            let known = self
                .answers
                .lock()
                .ok()
                .and_then(|a| a.get(domain).cloned());
            known.unwrap_or(Resolved {
                answer: DomainMail::NoMail,
                ttl: Duration::from_secs(300),
            })
        })
    }

    fn txt<'a>(&'a self, name: &'a str) -> TxtFuture<'a> {
        Box::pin(async move {
            let key = name.trim_end_matches('.').to_ascii_lowercase();
            match self.txt.lock().ok().and_then(|t| t.get(&key).cloned()) {
                Some(records) => TxtAnswer::Records(records),
                None => TxtAnswer::NotFound,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    struct TestClock(AtomicI64);
    impl Clock for TestClock {
        fn now(&self) -> Timestamp {
            Timestamp::from_millis(self.0.load(Ordering::SeqCst))
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        // The futures here never wait on IO, so one poll finishes them.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("a static resolver never waits"),
        }
    }

    #[test]
    fn answers_are_kept_for_their_ttl_and_then_asked_again() {
        let inner = Arc::new(StaticResolver::new().with(
            "acme.org",
            DomainMail::Mx(vec!["mx.acme.org".into()]),
            60,
        ));
        let clock = Arc::new(TestClock(AtomicI64::new(0)));
        let cache = CachingResolver::new(inner.clone(), clock.clone());
        for _ in 0..5 {
            let r = block_on(cache.resolve("acme.org"));
            assert_eq!(r.answer, DomainMail::Mx(vec!["mx.acme.org".into()]));
        }
        assert_eq!(inner.asked().len(), 1, "one lookup for five questions");
        clock.0.store(59_000, Ordering::SeqCst);
        block_on(cache.resolve("acme.org"));
        assert_eq!(cache.lookups(), 1);
        clock.0.store(61_000, Ordering::SeqCst);
        block_on(cache.resolve("acme.org"));
        assert_eq!(cache.lookups(), 2, "asked again once the TTL ran out");
        block_on(cache.resolve("other.org"));
        assert_eq!(inner.asked(), ["acme.org", "acme.org", "other.org"]);
    }
}
