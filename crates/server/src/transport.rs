//! Transports: how a rendered mail leaves.
//!
//! - `capture` keeps every mail in the outbox (the default; nothing leaves).
//! - `smtp` hands every mail to one relay (STARTTLS or implicit TLS, AUTH,
//!   pipelining, a pool of reused connections).
//! - `mx` delivers straight to each recipient domain's MX hosts (A/AAAA
//!   when there is no MX; a null MX means never), with opportunistic TLS and
//!   connections reused per destination.
//!
//! Limits: connections overall (`max_connections`), per destination
//! (`domain_limits`, e.g. fewer to a large mailbox provider), and mails per
//! connection. A throttling reply (421, 451 4.7.x, 454) cools the
//! destination down: its mails wait, with a growing pause, instead of
//! failing.

use crate::smtp::client::{
    CertCheck, ClientOptions, Credentials, Reply, SmtpConnection, SmtpError, TlsMode,
};
use sendwell_screen::dns::{CachingResolver, DomainMail, MailDomainResolver};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    Capture,
    Smtp,
    Mx,
}

impl TransportKind {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "capture" => Some(Self::Capture),
            "smtp" => Some(Self::Smtp),
            "mx" => Some(Self::Mx),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Capture => "capture",
            Self::Smtp => "smtp",
            Self::Mx => "mx",
        }
    }
}

/// How to reach the relay of the `smtp` transport.
#[derive(Clone)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub credentials: Option<Credentials>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|c| &c.username))
            .finish()
    }
}

/// The transport's settings.
#[derive(Clone, Debug)]
pub struct TransportSettings {
    pub kind: TransportKind,
    pub relay: Option<Relay>,
    /// The port MX hosts are reached on (25; tests use another).
    pub mx_port: u16,
    /// MX hosts may have private or loopback addresses (tests, a private
    /// network); otherwise such an MX is refused, as a recipient's domain
    /// could otherwise aim sendwell at this machine's own services.
    pub mx_allow_private: bool,
    /// The name given in EHLO.
    pub helo_name: String,
    pub max_connections: usize,
    /// Connections to one destination unless `domain_limits` says otherwise.
    pub connections_per_domain: usize,
    pub domain_limits: HashMap<String, usize>,
    pub messages_per_connection: u64,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

impl TransportSettings {
    pub fn capture() -> Self {
        Self {
            kind: TransportKind::Capture,
            relay: None,
            mx_port: 25,
            mx_allow_private: false,
            helo_name: "localhost".to_owned(),
            max_connections: 8,
            connections_per_domain: 4,
            domain_limits: HashMap::new(),
            messages_per_connection: 1000,
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(120),
        }
    }
}

/// Connections to the large consumer mailbox providers, shipped as
/// defaults: each throttles a sender that opens many connections at once
/// (Gmail answers `421 4.7.28`, Yahoo and AOL `421 4.7.0 [TSS04]`,
/// Outlook.com `451 4.7.500`/`4.7.650`), most of all a new one. None of
/// them publishes a number; these are conservative starting points, lower
/// than the general `connections_per_domain`, which the operator raises or
/// lowers per domain with `domain_limits`.
pub const PROVIDER_CONNECTIONS: &[(&str, usize)] = &[
    ("gmail.com", 3),
    ("googlemail.com", 3),
    ("yahoo.com", 2),
    ("ymail.com", 2),
    ("aol.com", 2),
    ("outlook.com", 2),
    ("hotmail.com", 2),
    ("live.com", 2),
    ("msn.com", 2),
    ("icloud.com", 2),
    ("me.com", 2),
    ("mac.com", 2),
    ("gmx.de", 2),
    ("gmx.net", 2),
    ("web.de", 2),
    ("yandex.ru", 2),
    ("mail.ru", 2),
    ("orange.fr", 2),
    ("free.fr", 2),
    ("comcast.net", 2),
];

/// Connections to one destination: the operator's `domain_limits` for it,
/// else the shipped provider default (never above `connections_per_domain`),
/// else `connections_per_domain`; at least one.
pub fn limit_for(settings: &TransportSettings, domain: &str) -> usize {
    let general = settings.connections_per_domain;
    let limit = match settings.domain_limits.get(domain) {
        Some(n) => *n,
        None => PROVIDER_CONNECTIONS
            .iter()
            .find(|(d, _)| *d == domain)
            .map_or(general, |(_, n)| (*n).min(general)),
    };
    limit.max(1)
}

/// One mail to hand over.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub return_path: String,
    pub recipient: String,
    /// The recipient's domain, lower case ASCII.
    pub domain: String,
    pub data: Vec<u8>,
}

/// What became of one mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendResult {
    /// The server took it (2xx after the data).
    Accepted(Reply),
    /// A permanent refusal (5xx), or a destination that never takes mail.
    Rejected(Reply),
    /// Try again later: a 4xx, a connection that failed, a timeout, or a
    /// destination that is cooling down. `wait` is the least pause.
    Transient {
        reply: Option<Reply>,
        reason: String,
        wait: Option<Duration>,
    },
}

/// Whether a reply means "slow down" rather than "this mail failed".
pub fn is_throttling(reply: &Reply) -> bool {
    match reply.code {
        421 | 454 => true,
        451 => reply
            .enhanced
            .as_deref()
            .is_some_and(|e| e.starts_with("4.7.")),
        _ => false,
    }
}

/// A destination slowed down by throttling replies.
#[derive(Clone, Copy, Debug)]
struct Cooling {
    until: Instant,
    level: u32,
}

const COOL_BASE: Duration = Duration::from_secs(2);
const COOL_MAX: Duration = Duration::from_secs(15 * 60);

pub struct SmtpTransport {
    settings: TransportSettings,
    resolver: Option<Arc<CachingResolver>>,
    all: Arc<Semaphore>,
    per_destination: Mutex<HashMap<String, Arc<Semaphore>>>,
    idle: Mutex<HashMap<String, Vec<SmtpConnection>>>,
    cooling: Mutex<HashMap<String, Cooling>>,
}

/// Where a group of mails goes: the relay, or one recipient domain.
struct Destination {
    key: String,
    hosts: Vec<(String, SocketAddr)>,
    options: ClientOptions,
}

impl SmtpTransport {
    /// `resolver` is needed for the `mx` transport.
    pub fn new(settings: TransportSettings, resolver: Option<Arc<CachingResolver>>) -> Self {
        let all = Arc::new(Semaphore::new(settings.max_connections.max(1)));
        Self {
            settings,
            resolver,
            all,
            per_destination: Mutex::new(HashMap::new()),
            idle: Mutex::new(HashMap::new()),
            cooling: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &TransportSettings {
        &self.settings
    }

    fn limit_for(&self, key: &str) -> usize {
        limit_for(&self.settings, key)
    }

    fn semaphore(&self, key: &str) -> Arc<Semaphore> {
        let mut map = match self.per_destination.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.entry(key.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.limit_for(key))))
            .clone()
    }

    /// How long the destination still cools down, if it does.
    fn cooling_left(&self, key: &str) -> Option<Duration> {
        let map = self.cooling.lock().ok()?;
        let c = map.get(key)?;
        let left = c.until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    fn cool_down(&self, key: &str) -> Duration {
        let Ok(mut map) = self.cooling.lock() else {
            return COOL_BASE;
        };
        let level = map.get(key).map_or(0, |c| c.level + 1).min(16);
        let pause = COOL_BASE
            .saturating_mul(1u32 << level.min(12))
            .min(COOL_MAX);
        map.insert(
            key.to_owned(),
            Cooling {
                until: Instant::now() + pause,
                level,
            },
        );
        tracing::warn!(
            destination = key,
            pause_s = pause.as_secs(),
            "throttled: slowing down"
        );
        pause
    }

    fn warmed_up(&self, key: &str) {
        if let Ok(mut map) = self.cooling.lock() {
            if map.get(key).is_some_and(|c| c.until <= Instant::now()) {
                map.remove(key);
            }
        }
    }

    fn options(
        &self,
        tls: TlsMode,
        cert_check: CertCheck,
        credentials: Option<Credentials>,
    ) -> ClientOptions {
        ClientOptions {
            helo_name: self.settings.helo_name.clone(),
            tls,
            cert_check,
            credentials,
            connect_timeout: self.settings.connect_timeout,
            command_timeout: self.settings.command_timeout,
            data_timeout: self.settings.command_timeout,
        }
    }

    /// Sends every mail, concurrently within the limits; the answer is in
    /// the order of `mails`.
    pub async fn send_all(&self, mails: Vec<Outgoing>) -> Vec<SendResult> {
        let n = mails.len();
        let mut groups: HashMap<String, Vec<(usize, Outgoing)>> = HashMap::new();
        for (i, mail) in mails.into_iter().enumerate() {
            let key = match self.settings.kind {
                TransportKind::Mx => mail.domain.clone(),
                _ => String::new(),
            };
            groups.entry(key).or_default().push((i, mail));
        }
        let mut tasks = Vec::new();
        for group in groups.into_values() {
            tasks.push(self.send_group(group));
        }
        let mut results: Vec<Option<SendResult>> = vec![None; n];
        for done in futures_util::future::join_all(tasks).await {
            for (i, r) in done {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(r);
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or(SendResult::Transient {
                    reply: None,
                    reason: "not attempted".to_owned(),
                    wait: None,
                })
            })
            .collect()
    }

    async fn destination(&self, domain: &str) -> Result<Destination, SendResult> {
        if let Some(relay) = &self.settings.relay {
            if self.settings.kind == TransportKind::Smtp {
                return self.relay_destination(relay).await;
            }
        }
        let Some(resolver) = &self.resolver else {
            return Err(transient("no DNS resolver for MX delivery".to_owned()));
        };
        let names = mx_host_names(resolver, domain).await?;
        let hosts = self.mx_addresses(domain, names).await?;
        Ok(Destination {
            key: domain.to_owned(),
            hosts,
            options: self.options(
                TlsMode::StartTls { required: false },
                CertCheck::AcceptAny,
                None,
            ),
        })
    }

    /// The one relay of the `smtp` transport, at each of its addresses.
    async fn relay_destination(&self, relay: &Relay) -> Result<Destination, SendResult> {
        let addrs = resolve(&relay.host, relay.port)
            .await
            .map_err(|e| transient(format!("cannot resolve the relay {}: {e}", relay.host)))?;
        Ok(Destination {
            key: format!("{}:{}", relay.host, relay.port),
            hosts: addrs.into_iter().map(|a| (relay.host.clone(), a)).collect(),
            options: self.options(relay.tls, CertCheck::WebPki, relay.credentials.clone()),
        })
    }

    /// The addresses of the MX hosts `names`; private ones only when
    /// allowed. No address at all is a failure, a final one when some host
    /// was refused for being private.
    async fn mx_addresses(
        &self,
        domain: &str,
        names: Vec<String>,
    ) -> Result<Vec<(String, SocketAddr)>, SendResult> {
        let mut hosts = Vec::new();
        let mut refused = None;
        for name in names {
            match resolve(&name, self.settings.mx_port).await {
                Ok(addrs) if self.settings.mx_allow_private => {
                    hosts.extend(addrs.into_iter().map(|a| (name.clone(), a)))
                }
                Ok(addrs) => match crate::netguard::checked(&name, addrs) {
                    Ok(addrs) => hosts.extend(addrs.into_iter().map(|a| (name.clone(), a))),
                    Err(e) => refused = Some(e),
                },
                Err(e) => tracing::debug!(host = %name, error = %e, "MX host does not resolve"),
            }
        }
        if let (true, Some(e)) = (hosts.is_empty(), refused) {
            return Err(SendResult::Rejected(synthetic(
                550,
                "5.4.4",
                &format!("the MX of {domain} is not on the public internet: {e}"),
            )));
        }
        if hosts.is_empty() {
            return Err(transient(format!("no MX host of {domain} has an address")));
        }
        Ok(hosts)
    }

    /// Sends mails for one destination (all of them, for a relay).
    async fn send_group(&self, group: Vec<(usize, Outgoing)>) -> Vec<(usize, SendResult)> {
        let domain = group
            .first()
            .map(|(_, m)| m.domain.clone())
            .unwrap_or_default();
        let dest = match self.destination(&domain).await {
            Ok(d) => d,
            Err(r) => return group.into_iter().map(|(i, _)| (i, r.clone())).collect(),
        };
        let limit = self.limit_for(&dest.key);
        let lanes = limit.min(group.len().div_ceil(20)).max(1);
        let per_lane = group.len().div_ceil(lanes);
        let mut chunks: Vec<Vec<(usize, Outgoing)>> = Vec::new();
        let mut it = group.into_iter().peekable();
        while it.peek().is_some() {
            chunks.push(it.by_ref().take(per_lane).collect());
        }
        let dest = &dest;
        let runs = chunks.into_iter().map(|chunk| self.send_lane(dest, chunk));
        futures_util::future::join_all(runs)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    fn take_idle(&self, key: &str) -> Option<SmtpConnection> {
        self.idle.lock().ok()?.get_mut(key)?.pop()
    }

    fn put_idle(&self, key: &str, conn: SmtpConnection) {
        if let Ok(mut map) = self.idle.lock() {
            map.entry(key.to_owned()).or_default().push(conn);
        }
    }

    async fn connect(&self, dest: &Destination) -> Result<SmtpConnection, SmtpError> {
        let mut last = SmtpError::Connect("no address to connect to".to_owned());
        for (host, addr) in &dest.hosts {
            match SmtpConnection::connect(host, *addr, &dest.options).await {
                Ok(c) => return Ok(c),
                Err(e) => {
                    tracing::debug!(host = %host, %addr, error = %e, "SMTP connection failed");
                    // A 5xx greeting or EHLO from the one relay is final;
                    // from an MX host, the next one may do better.
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Sends a chunk over one connection at a time, reconnecting as needed.
    async fn send_lane(
        &self,
        dest: &Destination,
        chunk: Vec<(usize, Outgoing)>,
    ) -> Vec<(usize, SendResult)> {
        let mut out = Vec::with_capacity(chunk.len());
        let mut pending = chunk.into_iter();
        let Ok(_all) = self.all.acquire().await else {
            return pending
                .map(|(i, _)| (i, not_attempted("shutting down")))
                .collect();
        };
        let sem = self.semaphore(&dest.key);
        let Ok(_one) = sem.acquire().await else {
            return pending
                .map(|(i, _)| (i, not_attempted("shutting down")))
                .collect();
        };
        let mut conn: Option<SmtpConnection> = None;
        while let Some((i, mail)) = pending.next() {
            let cooling_down = self.cooling_left(&dest.key).map(cooling);
            let next = match cooling_down {
                Some(r) => Err(r),
                None => self.connection(dest, conn.take()).await,
            };
            let c = match next {
                Ok(c) => c,
                Err(r) => {
                    // Nothing more goes to this destination now.
                    out.push((i, r.clone()));
                    out.extend(pending.by_ref().map(|(j, _)| (j, r.clone())));
                    break;
                }
            };
            let (result, kept) = self.send_one(dest, c, &mail).await;
            out.push((i, result));
            conn = kept;
        }
        if let Some(c) = conn {
            self.put_idle(&dest.key, c);
        }
        out
    }

    /// The connection to send the next mail over: the one in hand, an idle
    /// one, or a new one; the result every waiting mail gets instead when
    /// the destination cannot be reached.
    async fn connection(
        &self,
        dest: &Destination,
        held: Option<SmtpConnection>,
    ) -> Result<SmtpConnection, SendResult> {
        if let Some(c) = held.or_else(|| self.take_idle(&dest.key)) {
            return Ok(c);
        }
        self.connect(dest).await.map_err(|e| {
            let r = connection_failed(&e);
            if let SendResult::Transient {
                reply: Some(reply), ..
            } = &r
            {
                if is_throttling(reply) {
                    self.cool_down(&dest.key);
                }
            }
            r
        })
    }

    /// Sends one mail over `c`: the result, and the connection when it may
    /// carry the next mail.
    async fn send_one(
        &self,
        dest: &Destination,
        mut c: SmtpConnection,
        mail: &Outgoing,
    ) -> (SendResult, Option<SmtpConnection>) {
        let needs_utf8 = !mail.recipient.is_ascii() || !mail.return_path.is_ascii();
        if needs_utf8 && !c.supports_smtputf8() {
            let refused = SendResult::Rejected(Reply {
                code: 553,
                enhanced: Some("5.6.7".to_owned()),
                text: "not sent: the address has a UTF-8 local part, and the receiving server \
                       does not offer SMTPUTF8 (RFC 6531), which it needs"
                    .to_owned(),
            });
            return (refused, Some(c));
        }
        match c.send(&mail.return_path, &mail.recipient, &mail.data).await {
            Ok(reply) if reply.is_positive() => {
                self.warmed_up(&dest.key);
                if c.sent() < self.settings.messages_per_connection {
                    return (SendResult::Accepted(reply), Some(c));
                }
                c.quit().await;
                (SendResult::Accepted(reply), None)
            }
            Ok(reply) if reply.is_permanent() => (SendResult::Rejected(reply), Some(c)),
            Ok(reply) if is_throttling(&reply) => {
                let wait = self.cool_down(&dest.key);
                // 421 closes the connection; the others may not, but the
                // server wants fewer of them.
                if reply.code != 421 {
                    c.quit().await;
                }
                let slow_down = SendResult::Transient {
                    reason: "the destination asked us to slow down".to_owned(),
                    reply: Some(reply),
                    wait: Some(wait),
                };
                (slow_down, None)
            }
            Ok(reply) => {
                let deferred = SendResult::Transient {
                    reason: "the receiving server deferred it".to_owned(),
                    reply: Some(reply),
                    wait: None,
                };
                (deferred, Some(c))
            }
            // The connection is unusable; this mail's fate is unknown to
            // the server only if it never answered 250, so it is tried
            // again later.
            Err(e) => (connection_failed(&e), None),
        }
    }

    /// Closes every idle connection.
    pub async fn close_idle(&self) {
        let conns: Vec<SmtpConnection> = match self.idle.lock() {
            Ok(mut map) => map.drain().flat_map(|(_, v)| v).collect(),
            Err(_) => Vec::new(),
        };
        for c in conns {
            c.quit().await;
        }
    }
}

/// The host names to deliver `domain`'s mail to: its MX hosts, or the
/// domain itself when it has no MX; a domain that takes no mail at all is
/// a final failure.
async fn mx_host_names(
    resolver: &CachingResolver,
    domain: &str,
) -> Result<Vec<String>, SendResult> {
    match resolver.resolve(domain).await.answer {
        DomainMail::Mx(hosts) => Ok(hosts),
        DomainMail::AddressFallback => Ok(vec![domain.to_owned()]),
        DomainMail::NullMx => Err(SendResult::Rejected(synthetic(
            556,
            "5.1.10",
            &format!("{domain} publishes a null MX: it accepts no mail (RFC 7505)"),
        ))),
        DomainMail::NoMail => Err(SendResult::Rejected(synthetic(
            550,
            "5.1.2",
            &format!("{domain} has no MX and no address records: it cannot receive mail"),
        ))),
        DomainMail::TempFail(e) => Err(transient(format!("DNS lookup of {domain} failed: {e}"))),
    }
}

fn synthetic(code: u16, enhanced: &str, text: &str) -> Reply {
    Reply {
        code,
        enhanced: Some(enhanced.to_owned()),
        text: text.to_owned(),
    }
}

fn not_attempted(reason: &str) -> SendResult {
    transient(reason.to_owned())
}

/// A failure to try again later, with no reply from a server behind it.
fn transient(reason: String) -> SendResult {
    SendResult::Transient {
        reply: None,
        reason,
        wait: None,
    }
}

fn cooling(left: Duration) -> SendResult {
    SendResult::Transient {
        reply: None,
        reason: "the destination is cooling down after throttling replies".to_owned(),
        wait: Some(left),
    }
}

fn connection_failed(e: &SmtpError) -> SendResult {
    match e {
        SmtpError::Reply { stage, reply } if reply.is_permanent() => {
            // A relay that refuses us at EHLO or AUTH will not change its
            // mind by itself; the mail waits while the operator fixes it.
            SendResult::Transient {
                reason: format!("the server refused the connection at {stage}"),
                reply: Some(reply.clone()),
                wait: None,
            }
        }
        SmtpError::Reply { stage, reply } => SendResult::Transient {
            reason: format!("the server answered {stage} with a temporary failure"),
            reply: Some(reply.clone()),
            wait: None,
        },
        other => SendResult::Transient {
            reply: None,
            reason: format!("connection failed: {other}"),
            wait: None,
        },
    }
}

async fn resolve(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    Ok(tokio::net::lookup_host((host, port)).await?.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_defaults_apply_unless_the_operator_names_the_domain() {
        let mut s = TransportSettings::capture();
        assert_eq!(limit_for(&s, "gmail.com"), 3);
        assert_eq!(limit_for(&s, "outlook.com"), 2);
        assert_eq!(limit_for(&s, "small-company.example"), 4);
        s.domain_limits.insert("gmail.com".to_owned(), 6);
        assert_eq!(limit_for(&s, "gmail.com"), 6, "the operator's word wins");
        s.connections_per_domain = 1;
        assert_eq!(
            limit_for(&s, "yahoo.com"),
            1,
            "never above the general limit"
        );
        s.domain_limits.insert("zero.example".to_owned(), 0);
        assert_eq!(limit_for(&s, "zero.example"), 1);
    }

    fn reply(code: u16, enhanced: Option<&str>) -> Reply {
        Reply {
            code,
            enhanced: enhanced.map(str::to_owned),
            text: String::new(),
        }
    }

    #[test]
    fn throttling_replies_are_told_apart_from_failures() {
        assert!(is_throttling(&reply(421, None)));
        assert!(is_throttling(&reply(454, Some("4.7.0"))));
        assert!(is_throttling(&reply(451, Some("4.7.1"))));
        assert!(!is_throttling(&reply(451, Some("4.3.0"))));
        assert!(!is_throttling(&reply(450, Some("4.2.0"))));
        assert!(!is_throttling(&reply(550, Some("5.7.1"))));
    }
}
