//! Settings: built-in defaults, then a TOML file, then `SENDWELL_*`
//! environment variables, then command-line flags, each overriding the one
//! before. Secrets the operator does not give are generated on first start
//! and kept in the data directory with mode 0600.

use crate::smtp::client::{Credentials, TlsMode};
use crate::transport::{Relay, TransportKind, TransportSettings};
use sendwell_core::secret::{random_bytes, to_hex, SecretKey};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./sendwell-data";
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
const OPERATOR_TOKEN_FILE: &str = "operator-token";
const SECRET_KEY_FILE: &str = "secret-key";
const MIN_OPERATOR_TOKEN_LEN: usize = 24;

#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub operator_token: Option<String>,
    pub secret_key: Option<String>,
    pub max_body_bytes: usize,
    /// The most custom attributes a workspace's schema may hold.
    pub max_attributes: usize,
    /// Whether address checks may ask DNS (off: only offline checks).
    pub dns: bool,
    pub import_thresholds: sendwell_screen::score::Thresholds,
    /// The address recipients reach this server at, for the links in mail
    /// (unsubscribe, opt-in, click tracking). Default: `http://` + listen.
    pub public_url: Option<String>,
    /// An opt-in request goes to a contact at most once in this many days.
    pub opt_in_request_interval_days: u32,
    /// How often the delivery worker looks for due mail when idle.
    pub worker_idle_ms: u64,
    pub delivery: DeliverySettings,
    /// Where the inbound SMTP listener for bounces and complaints listens
    /// (`None`: not started).
    pub smtp_listen: Option<SocketAddr>,
    /// Header timeout and connection caps of the HTTP server.
    pub http: crate::http::HttpLimits,
    /// Timeouts, caps and sizes of the inbound SMTP listener.
    pub inbound: crate::smtp::server::InboundLimits,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The inbound listener's STARTTLS identity, when a certificate and key
    /// are configured.
    pub inbound_tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

pub const DEFAULT_SMTP_LISTEN: &str = "127.0.0.1:2525";

/// An address range such as `10.0.0.0/8` or `::1/128` (a bare address is
/// the range of itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    base: std::net::IpAddr,
    bits: u8,
}

impl IpNet {
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, bits) = match text.trim().split_once('/') {
            Some((a, b)) => (a.trim(), Some(b.trim().parse::<u8>().ok()?)),
            None => (text.trim(), None),
        };
        let base: std::net::IpAddr = addr.parse().ok()?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Self { base, bits })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let (a, b, width) = match (self.base, ip) {
            (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => {
                (u128::from(u32::from(a)), u128::from(u32::from(b)), 32)
            }
            (std::net::IpAddr::V6(a), std::net::IpAddr::V6(b)) => {
                (u128::from(a), u128::from(b), 128)
            }
            _ => return false,
        };
        let shift = width - u32::from(self.bits);
        if shift >= 128 {
            return true;
        }
        (a >> shift) == (b >> shift)
    }
}

/// How mail leaves, and how the delivery workers behave.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    pub transport: TransportSettings,
    /// The domain of the VERP return path (`bounces+TOKEN@DOMAIN`); by
    /// default the public URL's host.
    pub bounce_domain: Option<String>,
    /// Lets unverified sender domains send (tests, local relays); preflight
    /// and the log warn.
    pub insecure_skip_domain_verification: bool,
    /// Deliveries claimed at once by one worker loop.
    pub batch: i64,
    /// Worker loops per process.
    pub pipelines: usize,
    /// A claimed delivery returns to the queue if not recorded within this.
    pub lease_ms: i64,
    /// The first retry waits this long; each next one twice as long.
    pub retry_base: Duration,
    /// Transient failures are retried until this long after the first attempt.
    pub give_up_after: Duration,
    /// At most this many mails per second per workspace (per process).
    pub workspace_rate: Option<u32>,
    /// Whether `serve` runs a delivery worker beside the API (off when
    /// separate `sendwell worker` processes deliver).
    pub serve_worker: bool,
    /// The first webhook retry waits this long; later ones longer.
    pub webhook_retry_base: Duration,
    /// Webhook endpoints may be plain http and on private or loopback
    /// addresses (tests, a private network); otherwise https and public.
    pub webhook_allow_private: bool,
    /// What rendering one mail may use (bytes, loop iterations, time).
    pub render: sendwell_mail::RenderLimits,
    /// A delivery whose lease ran out this many times without an outcome
    /// (its worker crashed or hung on it each time) fails.
    pub max_crashes: i64,
    /// A delivery pipeline that makes no progress for this long is
    /// reported by `/healthz`: as long as the lease by default, since a
    /// batch that takes longer is handed to another worker anyway (a slow
    /// relay can hold a healthy batch for minutes).
    pub stall_after: Duration,
    /// How an import's upload must arrive.
    pub upload: crate::api::imports::UploadLimits,
    /// Keys of the sending providers whose bounce webhooks are accepted.
    pub providers: ProviderKeys,
}

/// What checks each provider's webhook; an endpoint without its key is off.
#[derive(Clone, Default)]
pub struct ProviderKeys {
    pub mailgun_signing_key: Option<String>,
    /// Base64 DER public key of SendGrid's signed event webhook.
    pub sendgrid_verification_key: Option<String>,
    /// The secret in Postmark's webhook URL (`?token=`).
    pub postmark_webhook_token: Option<String>,
    /// The SNS topics whose SES notifications are accepted.
    pub ses_topic_arns: Vec<String>,
}

/// Which keys are set, never their values.
impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderKeys")
            .field("mailgun", &self.mailgun_signing_key.is_some())
            .field("sendgrid", &self.sendgrid_verification_key.is_some())
            .field("postmark", &self.postmark_webhook_token.is_some())
            .field("ses_topic_arns", &self.ses_topic_arns)
            .finish()
    }
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            transport: TransportSettings::capture(),
            bounce_domain: None,
            insecure_skip_domain_verification: false,
            batch: 500,
            pipelines: 2,
            lease_ms: 5 * 60 * 1000,
            retry_base: Duration::from_secs(5 * 60),
            give_up_after: Duration::from_secs(72 * 3600),
            workspace_rate: None,
            serve_worker: true,
            webhook_retry_base: Duration::from_secs(5),
            webhook_allow_private: false,
            render: sendwell_mail::RenderLimits::default(),
            max_crashes: 3,
            stall_after: Duration::from_secs(300),
            upload: crate::api::imports::UploadLimits::default(),
            providers: ProviderKeys::default(),
        }
    }
}

/// Secrets and the database URL (which may hold a password) never reach a log.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(sendwell_store::redact),
            )
            .field(
                "operator_token",
                &self.operator_token.as_ref().map(|_| "(set)"),
            )
            .field("secret_key", &self.secret_key.as_ref().map(|_| "(set)"))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_attributes", &self.max_attributes)
            .field("dns", &self.dns)
            .field("import_thresholds", &self.import_thresholds)
            .field("public_url", &self.public_url)
            .field(
                "opt_in_request_interval_days",
                &self.opt_in_request_interval_days,
            )
            .field("delivery", &self.delivery)
            .finish()
    }
}

/// Values from the command line; `None` means "not given".
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub transport: Option<String>,
    pub smtp_relay: Option<String>,
    pub smtp_user: Option<String>,
    pub smtp_password: Option<String>,
    pub smtp_tls: Option<String>,
    pub bounce_domain: Option<String>,
    pub insecure_skip_domain_verification: bool,
    pub smtp_listen: Option<String>,
}

/// The TOML file's shape. Unknown keys are refused, so a typo is not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    operator_token: Option<String>,
    secret_key: Option<String>,
    max_body_bytes: Option<usize>,
    max_attributes: Option<usize>,
    dns: Option<bool>,
    import_accept_score: Option<u32>,
    import_quarantine_below: Option<u32>,
    public_url: Option<String>,
    opt_in_request_interval_days: Option<u32>,
    transport: Option<String>,
    smtp_relay: Option<String>,
    smtp_user: Option<String>,
    smtp_password: Option<String>,
    smtp_tls: Option<String>,
    bounce_domain: Option<String>,
    insecure_skip_domain_verification: Option<bool>,
    helo_name: Option<String>,
    mx_port: Option<u16>,
    mx_allow_private: Option<bool>,
    http_header_timeout_seconds: Option<u64>,
    smtp_max_connections: Option<usize>,
    smtp_max_connections_per_ip: Option<usize>,
    smtp_max_message_bytes: Option<usize>,
    smtp_queue_bytes: Option<usize>,
    smtp_timeout_seconds: Option<u64>,
    smtp_tls_cert: Option<String>,
    smtp_tls_key: Option<String>,
    trusted_proxies: Option<String>,
    http_max_connections: Option<usize>,
    http_max_connections_per_ip: Option<usize>,
    max_connections: Option<usize>,
    connections_per_domain: Option<usize>,
    domain_limits: Option<HashMap<String, usize>>,
    messages_per_connection: Option<u64>,
    workspace_rate: Option<u32>,
    retry_base_seconds: Option<u64>,
    retry_give_up_hours: Option<u64>,
    worker_lease_seconds: Option<u64>,
    worker_batch: Option<i64>,
    worker_pipelines: Option<usize>,
    serve_worker: Option<bool>,
    smtp_listen: Option<String>,
    webhook_allow_private: Option<bool>,
    render_max_output_bytes: Option<usize>,
    render_max_iterations: Option<u64>,
    render_max_time_ms: Option<u64>,
    worker_max_crashes: Option<i64>,
    worker_stall_seconds: Option<u64>,
    import_upload_seconds: Option<u64>,
    import_min_bytes_per_second: Option<u64>,
    mailgun_signing_key: Option<String>,
    sendgrid_verification_key: Option<String>,
    postmark_webhook_token: Option<String>,
    ses_topic_arns: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{what} '{value}' is not a valid listen address: write it as HOST:PORT, for example 127.0.0.1:8080")]
    Listen { what: String, value: String },
    #[error("{what} '{value}' is not a valid value")]
    Number { what: String, value: String },
    #[error("{what} '{value}' is not usable: give an address such as https://mail.example.com, without a path")]
    PublicUrl { what: String, value: String },
    #[error("the operator token from {0} is shorter than 24 characters; use a long random value, for example from `openssl rand -hex 32`")]
    WeakOperatorToken(String),
    #[error("{what} '{value}' is not valid: {hint}")]
    Delivery {
        what: String,
        value: String,
        hint: &'static str,
    },
    #[error("the inbound listener's TLS identity is not usable: {0}")]
    Tls(String),
    #[error("the secret key from {0} is not valid: {1}")]
    SecretKey(String, sendwell_core::secret::SecretKeyError),
}

/// Where a secret came from, to tell the operator on start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Given,
    File { path: PathBuf, created: bool },
}

impl Settings {
    /// Loads settings with `env` as the environment (tests pass their own).
    pub fn load(
        overrides: Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let config_path = overrides
            .config
            .clone()
            .or_else(|| env("SENDWELL_CONFIG").map(PathBuf::from));
        let overrides_delivery = overrides.clone();
        let file = match &config_path {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let delivery = delivery_settings(&overrides_delivery, &file, &env)?;
        let listen_text = overrides
            .listen
            .map(|v| ("--listen".to_owned(), v))
            .or_else(|| env("SENDWELL_LISTEN").map(|v| ("SENDWELL_LISTEN".to_owned(), v)))
            .or_else(|| {
                file.listen
                    .map(|v| ("listen in the configuration file".to_owned(), v))
            })
            .unwrap_or_else(|| ("the default".to_owned(), DEFAULT_LISTEN.to_owned()));
        let listen = listen_text.1.parse().map_err(|_| ConfigError::Listen {
            what: listen_text.0,
            value: listen_text.1.clone(),
        })?;
        let data_dir = overrides
            .data_dir
            .or_else(|| env("SENDWELL_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = overrides
            .database_url
            .or_else(|| env("SENDWELL_DATABASE_URL"))
            .or(file.database_url)
            .filter(|u| !u.trim().is_empty());
        let operator_token = env("SENDWELL_OPERATOR_TOKEN")
            .map(|t| ("SENDWELL_OPERATOR_TOKEN", t))
            .or_else(|| file.operator_token.map(|t| ("the configuration file", t)));
        if let Some((from, token)) = &operator_token {
            if token.trim().len() < MIN_OPERATOR_TOKEN_LEN {
                return Err(ConfigError::WeakOperatorToken((*from).to_owned()));
            }
        }
        let secret_key = env("SENDWELL_SECRET_KEY")
            .map(|k| ("SENDWELL_SECRET_KEY", k))
            .or_else(|| file.secret_key.map(|k| ("the configuration file", k)));
        if let Some((from, key)) = &secret_key {
            SecretKey::parse_hex(key).map_err(|e| ConfigError::SecretKey((*from).to_owned(), e))?;
        }
        let max_body_bytes = match env("SENDWELL_MAX_BODY_BYTES") {
            Some(v) => v.trim().parse().map_err(|_| ConfigError::Number {
                what: "SENDWELL_MAX_BODY_BYTES".to_owned(),
                value: v.clone(),
            })?,
            None => file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        };
        let max_attributes = match env("SENDWELL_MAX_ATTRIBUTES") {
            Some(v) => v.trim().parse().map_err(|_| ConfigError::Number {
                what: "SENDWELL_MAX_ATTRIBUTES".to_owned(),
                value: v.clone(),
            })?,
            None => file
                .max_attributes
                .unwrap_or(sendwell_core::attribute::DEFAULT_MAX_SCHEMA_ATTRIBUTES),
        };
        let dns = match env("SENDWELL_DNS").as_deref().map(str::trim) {
            Some("on" | "true" | "1" | "system") => true,
            Some("off" | "false" | "0") => false,
            Some(other) => {
                return Err(ConfigError::Number {
                    what: "SENDWELL_DNS (on or off)".to_owned(),
                    value: other.to_owned(),
                })
            }
            None => file.dns.unwrap_or(true),
        };
        let mut thresholds = sendwell_screen::score::Thresholds::default();
        let number = |name: &str, from_file: Option<u32>| -> Result<Option<u32>, ConfigError> {
            match env(name) {
                Some(v) => v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n <= 100)
                    .map(Some)
                    .ok_or(ConfigError::Number {
                        what: format!("{name} (a score from 0 to 100)"),
                        value: v.clone(),
                    }),
                None => Ok(from_file),
            }
        };
        if let Some(v) = number("SENDWELL_IMPORT_ACCEPT_SCORE", file.import_accept_score)? {
            thresholds.accept_at = v;
        }
        if let Some(v) = number(
            "SENDWELL_IMPORT_QUARANTINE_BELOW",
            file.import_quarantine_below,
        )? {
            thresholds.quarantine_below = v;
        }
        let public_url = env("SENDWELL_PUBLIC_URL")
            .map(|v| ("SENDWELL_PUBLIC_URL", v))
            .or_else(|| {
                file.public_url
                    .map(|v| ("public_url in the configuration file", v))
            })
            .map(|(what, v)| check_public_url(what, &v))
            .transpose()?;
        let opt_in_request_interval_days = match env("SENDWELL_OPT_IN_REQUEST_INTERVAL_DAYS") {
            Some(v) => v.trim().parse().map_err(|_| ConfigError::Number {
                what: "SENDWELL_OPT_IN_REQUEST_INTERVAL_DAYS (whole days)".to_owned(),
                value: v.clone(),
            })?,
            None => file.opt_in_request_interval_days.unwrap_or(30),
        };
        let listen_text = overrides
            .smtp_listen
            .clone()
            .map(|v| ("--smtp-listen".to_owned(), v))
            .or_else(|| env("SENDWELL_SMTP_LISTEN").map(|v| ("SENDWELL_SMTP_LISTEN".to_owned(), v)))
            .or_else(|| {
                file.smtp_listen
                    .clone()
                    .map(|v| ("smtp_listen in the configuration file".to_owned(), v))
            })
            .unwrap_or_else(|| ("the default".to_owned(), DEFAULT_SMTP_LISTEN.to_owned()));
        let smtp_listen = match listen_text.1.trim() {
            "off" | "none" | "" => None,
            v => Some(v.parse().map_err(|_| ConfigError::Listen {
                what: listen_text.0.clone(),
                value: v.to_owned(),
            })?),
        };
        let mut http = crate::http::HttpLimits::default();
        if let Some(v) = pick(
            None,
            &env,
            "SENDWELL_HTTP_HEADER_TIMEOUT_SECONDS",
            file.http_header_timeout_seconds,
            "seconds",
        )? {
            http.header_timeout = std::time::Duration::from_secs(v.max(1));
        }
        if let Some(v) = pick(
            None,
            &env,
            "SENDWELL_HTTP_MAX_CONNECTIONS",
            file.http_max_connections,
            "a whole number",
        )? {
            http.max_connections = v.max(1);
        }
        if let Some(v) = pick(
            None,
            &env,
            "SENDWELL_HTTP_MAX_CONNECTIONS_PER_IP",
            file.http_max_connections_per_ip,
            "a whole number",
        )? {
            http.max_per_ip = v.max(1);
        }
        let mut inbound = crate::smtp::server::InboundLimits::default();
        if let Some(v) = pick(
            None,
            &env,
            "SENDWELL_SMTP_MAX_CONNECTIONS",
            file.smtp_max_connections,
            "a whole number",
        )? {
            inbound.max_connections = v.max(1);
        }
        if let Some(v) = pick(
            None,
            &env,
            "SENDWELL_SMTP_MAX_CONNECTIONS_PER_IP",
            file.smtp_max_connections_per_ip,
            "a whole number",
        )? {
            inbound.max_per_ip = v.max(1);
        }
        if let Some(v) = pick(
            None,
            &env,
            "SENDWELL_SMTP_MAX_MESSAGE_BYTES",
            file.smtp_max_message_bytes,
            "bytes",
        )? {
            inbound.max_message_bytes = v.max(1024);
        }
        if let Some(v) = pick(
            None,
            &env,
            "SENDWELL_SMTP_QUEUE_BYTES",
            file.smtp_queue_bytes,
            "bytes",
        )? {
            inbound.queue_bytes = v.max(1024);
        }
        if let Some(v) = pick(
            None,
            &env,
            "SENDWELL_SMTP_TIMEOUT_SECONDS",
            file.smtp_timeout_seconds,
            "seconds",
        )? {
            inbound.command_timeout = std::time::Duration::from_secs(v.max(1));
            inbound.data_timeout = std::time::Duration::from_secs(v.max(1));
        }
        let cert = env("SENDWELL_SMTP_TLS_CERT").or(file.smtp_tls_cert.clone());
        let key = env("SENDWELL_SMTP_TLS_KEY").or(file.smtp_tls_key.clone());
        let inbound_tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(
                crate::smtp::server::load_tls(
                    std::path::Path::new(&cert),
                    std::path::Path::new(&key),
                )
                .map_err(ConfigError::Tls)?,
            ),
            (None, None) => None,
            _ => return Err(ConfigError::Tls(
                "set both SENDWELL_SMTP_TLS_CERT and SENDWELL_SMTP_TLS_KEY (PEM files), or neither"
                    .to_owned(),
            )),
        };
        let proxies_text = env("SENDWELL_TRUSTED_PROXIES").or(file.trusted_proxies.clone());
        let mut trusted_proxies = Vec::new();
        for part in proxies_text
            .iter()
            .flat_map(|t| t.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            trusted_proxies.push(IpNet::parse(part).ok_or_else(|| ConfigError::Number {
                what: "SENDWELL_TRUSTED_PROXIES (addresses or ranges such as 10.0.0.0/8, separated by commas)"
                    .to_owned(),
                value: part.to_owned(),
            })?);
        }
        Ok(Self {
            trusted_proxies,
            inbound,
            inbound_tls,
            http,
            smtp_listen,
            delivery,
            public_url,
            opt_in_request_interval_days,
            worker_idle_ms: 250,
            listen,
            data_dir,
            database_url,
            operator_token: operator_token.map(|(_, t)| t.trim().to_owned()),
            secret_key: secret_key.map(|(_, k)| k),
            max_body_bytes,
            max_attributes,
            dns,
            import_thresholds: thresholds,
        })
    }

    /// Settings for a fresh instance in `data_dir` with nothing else given.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            database_url: None,
            operator_token: None,
            secret_key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_attributes: sendwell_core::attribute::DEFAULT_MAX_SCHEMA_ATTRIBUTES,
            dns: true,
            import_thresholds: sendwell_screen::score::Thresholds::default(),
            public_url: None,
            opt_in_request_interval_days: 30,
            worker_idle_ms: 250,
            delivery: DeliverySettings::default(),
            smtp_listen: None,
            http: crate::http::HttpLimits::default(),
            inbound: crate::smtp::server::InboundLimits::default(),
            inbound_tls: None,
            trusted_proxies: Vec::new(),
        }
    }

    /// The base of every link in mail, without a trailing slash.
    pub fn effective_public_url(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => format!("http://{bound}"),
        }
    }

    /// What about the links and return paths of outgoing mail would make
    /// it look like phishing or fail for its recipients, as warnings for
    /// the start of `serve`.
    pub fn mail_link_warnings(&self, bound: SocketAddr) -> Vec<String> {
        let mut out = Vec::new();
        let url = self.effective_public_url(bound);
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url.as_str()));
        let host = rest.split('/').next().unwrap_or("");
        let host = match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => host,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if self.public_url.is_none() {
            out.push(format!(
                "SENDWELL_PUBLIC_URL is not set: the links in mail (unsubscribe, opt-in, clicks) point at {url}, \
                 which recipients cannot reach. Set it to the https address this server is reached at, \
                 such as SENDWELL_PUBLIC_URL=https://mail.example.com"
            ));
        } else if scheme != "https" {
            out.push(format!(
                "The links in mail use {scheme}:// ({url}): mail with plain-http links is treated as suspicious \
                 by receivers and browsers; serve sendwell behind https and set SENDWELL_PUBLIC_URL to that address"
            ));
        }
        if self.public_url.is_some()
            && (host.parse::<std::net::IpAddr>().is_ok()
                || host == "localhost"
                || host.ends_with(".localhost"))
        {
            out.push(format!(
                "The links in mail point at {host}: links to a bare IP address or localhost look like phishing \
                 and do not reach recipients; use a domain name"
            ));
        }
        if self.delivery.bounce_domain.is_none() {
            out.push(
                "SENDWELL_BOUNCE_DOMAIN is not set: return paths and the mailto unsubscribe use sendwell.localhost, \
                 which no receiver can answer; set it to a domain whose MX points at this server"
                    .to_owned(),
            );
        }
        out
    }

    /// The database URL given, or the SQLite file in the data directory.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("sendwell.db").display()),
        }
    }
}

/// A public URL must be absolute http(s), with no path, query or fragment
/// beyond a trailing slash, which is removed.
/// The first of: the flag, the environment variable, the file's value.
fn pick<T: std::str::FromStr>(
    flag: Option<&str>,
    env: &impl Fn(&str) -> Option<String>,
    name: &str,
    file: Option<T>,
    hint: &'static str,
) -> Result<Option<T>, ConfigError> {
    let given = flag
        .map(|v| {
            (
                format!(
                    "--{}",
                    name.trim_start_matches("SENDWELL_")
                        .to_ascii_lowercase()
                        .replace('_', "-")
                ),
                v.to_owned(),
            )
        })
        .or_else(|| env(name).map(|v| (name.to_owned(), v)));
    match given {
        Some((what, v)) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::Delivery {
                what,
                value: v,
                hint,
            }),
        None => Ok(file),
    }
}

fn delivery_settings(
    o: &Overrides,
    file: &FileSettings,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<DeliverySettings, ConfigError> {
    let mut d = DeliverySettings::default();
    let t = &mut d.transport;
    let kind: Option<String> = pick(
        o.transport.as_deref(),
        env,
        "SENDWELL_TRANSPORT",
        file.transport.clone(),
        "use capture, smtp or mx",
    )?;
    if let Some(k) = kind {
        t.kind = TransportKind::parse(&k).ok_or(ConfigError::Delivery {
            what: "the transport".to_owned(),
            value: k.clone(),
            hint: "use capture (store mail in the outbox), smtp (a relay) or mx (direct)",
        })?;
    }
    let relay: Option<String> = pick(
        o.smtp_relay.as_deref(),
        env,
        "SENDWELL_SMTP_RELAY",
        file.smtp_relay.clone(),
        "write HOST:PORT",
    )?;
    let tls: Option<String> = pick(
        o.smtp_tls.as_deref(),
        env,
        "SENDWELL_SMTP_TLS",
        file.smtp_tls.clone(),
        "use starttls, tls or none",
    )?;
    let tls_mode = match tls.as_deref().map(str::trim) {
        None | Some("opportunistic") => TlsMode::StartTls { required: false },
        Some("starttls") => TlsMode::StartTls { required: true },
        Some("tls" | "implicit") => TlsMode::Implicit,
        Some("none") => TlsMode::None,
        Some(other) => {
            return Err(ConfigError::Delivery {
                what: "the SMTP TLS mode".to_owned(),
                value: other.to_owned(),
                hint: "use starttls (required), opportunistic (STARTTLS when offered, the default), tls (implicit, port 465) or none",
            })
        }
    };
    let user: Option<String> = pick(
        o.smtp_user.as_deref(),
        env,
        "SENDWELL_SMTP_USER",
        file.smtp_user.clone(),
        "a user name",
    )?;
    let password: Option<String> = pick(
        o.smtp_password.as_deref(),
        env,
        "SENDWELL_SMTP_PASSWORD",
        file.smtp_password.clone(),
        "a password",
    )?;
    if let Some(r) = relay {
        let (host, port) = match r.trim().rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse::<u16>().ok()),
            None => (r.trim().to_owned(), Some(25)),
        };
        let Some(port) = port.filter(|_| !host.is_empty()) else {
            return Err(ConfigError::Delivery {
                what: "the SMTP relay".to_owned(),
                value: r,
                hint: "write HOST:PORT, for example smtp.example.com:587",
            });
        };
        t.relay = Some(Relay {
            host,
            port,
            tls: tls_mode,
            credentials: match (user, password) {
                (Some(username), Some(password)) => Some(Credentials { username, password }),
                (None, None) => None,
                _ => {
                    return Err(ConfigError::Delivery {
                        what: "the SMTP credentials".to_owned(),
                        value: "(one of user and password)".to_owned(),
                        hint: "give both --smtp-user and --smtp-password, or neither",
                    })
                }
            },
        });
    }
    if t.kind == TransportKind::Smtp && t.relay.is_none() {
        return Err(ConfigError::Delivery {
            what: "the smtp transport".to_owned(),
            value: "(no relay)".to_owned(),
            hint: "name the relay with --smtp-relay HOST:PORT (or SENDWELL_SMTP_RELAY)",
        });
    }
    if let Some(h) = pick(
        None,
        env,
        "SENDWELL_HELO_NAME",
        file.helo_name.clone(),
        "a host name",
    )? {
        t.helo_name = h;
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_MX_ALLOW_PRIVATE",
        file.mx_allow_private,
        "true or false",
    )? {
        t.mx_allow_private = v;
    }
    if let Some(v) = pick(None, env, "SENDWELL_MX_PORT", file.mx_port, "a port number")? {
        t.mx_port = v;
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_MAX_CONNECTIONS",
        file.max_connections,
        "a whole number",
    )? {
        t.max_connections = v;
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_CONNECTIONS_PER_DOMAIN",
        file.connections_per_domain,
        "a whole number",
    )? {
        t.connections_per_domain = v;
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_MESSAGES_PER_CONNECTION",
        file.messages_per_connection,
        "a whole number",
    )? {
        t.messages_per_connection = v;
    }
    if let Some(limits) = &file.domain_limits {
        t.domain_limits
            .extend(limits.iter().map(|(k, v)| (k.to_ascii_lowercase(), *v)));
    }
    if let Some(text) = env("SENDWELL_DOMAIN_LIMITS") {
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let parsed = part.split_once('=').and_then(|(d, n)| {
                Some((
                    d.trim().to_ascii_lowercase(),
                    n.trim().parse::<usize>().ok()?,
                ))
            });
            let Some((domain, n)) = parsed else {
                return Err(ConfigError::Delivery {
                    what: "SENDWELL_DOMAIN_LIMITS".to_owned(),
                    value: text.clone(),
                    hint: "write DOMAIN=CONNECTIONS pairs separated by commas, for example gmail.com=2,outlook.com=2",
                });
            };
            t.domain_limits.insert(domain, n);
        }
    }
    d.bounce_domain = pick(
        o.bounce_domain.as_deref(),
        env,
        "SENDWELL_BOUNCE_DOMAIN",
        file.bounce_domain.clone(),
        "a domain",
    )?
    .map(|b: String| b.trim().to_ascii_lowercase());
    if let Some(b) = &d.bounce_domain {
        if b.is_empty()
            || !b
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(ConfigError::Delivery {
                what: "the bounce domain".to_owned(),
                value: b.clone(),
                hint:
                    "give a domain name such as bounces.example.com, whose MX points at this server",
            });
        }
    }
    d.insecure_skip_domain_verification = o.insecure_skip_domain_verification
        || pick(
            None,
            env,
            "SENDWELL_INSECURE_SKIP_DOMAIN_VERIFICATION",
            file.insecure_skip_domain_verification,
            "true or false",
        )?
        .unwrap_or(false);
    d.workspace_rate = pick(
        None,
        env,
        "SENDWELL_WORKSPACE_RATE",
        file.workspace_rate,
        "mails per second",
    )?
    .filter(|r| *r > 0);
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_RETRY_BASE_SECONDS",
        file.retry_base_seconds,
        "seconds",
    )? {
        d.retry_base = Duration::from_secs(v.max(1));
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_RETRY_GIVE_UP_HOURS",
        file.retry_give_up_hours,
        "hours",
    )? {
        d.give_up_after = Duration::from_secs(v.saturating_mul(3600));
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_WORKER_LEASE_SECONDS",
        file.worker_lease_seconds,
        "seconds",
    )? {
        d.lease_ms = i64::try_from(v.max(1).saturating_mul(1000)).unwrap_or(i64::MAX);
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_WORKER_BATCH",
        file.worker_batch,
        "a whole number",
    )? {
        d.batch = v.clamp(1, 5000);
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_WORKER_PIPELINES",
        file.worker_pipelines,
        "a whole number",
    )? {
        d.pipelines = v.clamp(1, 16);
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_SERVE_WORKER",
        file.serve_worker,
        "true or false",
    )? {
        d.serve_worker = v;
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_WEBHOOK_ALLOW_PRIVATE",
        file.webhook_allow_private,
        "true or false",
    )? {
        d.webhook_allow_private = v;
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_RENDER_MAX_OUTPUT_BYTES",
        file.render_max_output_bytes,
        "bytes",
    )? {
        d.render.max_output_bytes = v.max(1024);
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_RENDER_MAX_ITERATIONS",
        file.render_max_iterations,
        "a whole number",
    )? {
        d.render.max_iterations = v;
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_RENDER_MAX_TIME_MS",
        file.render_max_time_ms,
        "milliseconds",
    )? {
        d.render.max_time = Duration::from_millis(v.max(1));
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_WORKER_MAX_CRASHES",
        file.worker_max_crashes,
        "a whole number",
    )? {
        d.max_crashes = v.max(1);
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_WORKER_STALL_SECONDS",
        file.worker_stall_seconds,
        "seconds",
    )? {
        d.stall_after = Duration::from_secs(v.max(1));
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_IMPORT_UPLOAD_SECONDS",
        file.import_upload_seconds,
        "seconds",
    )? {
        d.upload.deadline = Duration::from_secs(v.max(1));
    }
    if let Some(v) = pick(
        None,
        env,
        "SENDWELL_IMPORT_MIN_BYTES_PER_SECOND",
        file.import_min_bytes_per_second,
        "bytes a second",
    )? {
        d.upload.min_rate = v;
    }
    d.providers = ProviderKeys {
        mailgun_signing_key: env("SENDWELL_MAILGUN_SIGNING_KEY")
            .or_else(|| file.mailgun_signing_key.clone())
            .filter(|k| !k.trim().is_empty()),
        sendgrid_verification_key: env("SENDWELL_SENDGRID_VERIFICATION_KEY")
            .or_else(|| file.sendgrid_verification_key.clone())
            .filter(|k| !k.trim().is_empty()),
        postmark_webhook_token: env("SENDWELL_POSTMARK_WEBHOOK_TOKEN")
            .or_else(|| file.postmark_webhook_token.clone())
            .filter(|k| k.trim().len() >= 16),
        ses_topic_arns: match env("SENDWELL_SES_TOPIC_ARNS") {
            Some(v) => v
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect(),
            None => file.ses_topic_arns.clone().unwrap_or_default(),
        },
    };
    Ok(d)
}

fn check_public_url(what: &str, value: &str) -> Result<String, ConfigError> {
    let v = value.trim().trim_end_matches('/');
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ', '"', '<', '>']) => {
            Ok(v.to_owned())
        }
        _ => Err(ConfigError::PublicUrl {
            what: what.to_owned(),
            value: value.to_owned(),
        }),
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string().trim().to_owned(),
    })
}

/// The operator token: given, or read from (or created in) the data directory.
pub fn operator_token(settings: &Settings) -> std::io::Result<(String, SecretSource)> {
    if let Some(token) = &settings.operator_token {
        return Ok((token.clone(), SecretSource::Given));
    }
    let path = settings.data_dir.join(OPERATOR_TOKEN_FILE);
    let (token, created) =
        read_or_create_secret(&path, || format!("swop_{}", to_hex(&random_bytes::<32>())))?;
    Ok((token, SecretSource::File { path, created }))
}

/// The instance secret that keys address hashes.
pub fn secret_key(settings: &Settings) -> std::io::Result<SecretKey> {
    if let Some(hex) = &settings.secret_key {
        // Checked when the settings were loaded.
        return SecretKey::parse_hex(hex)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()));
    }
    let path = settings.data_dir.join(SECRET_KEY_FILE);
    let (hex, _) = read_or_create_secret(&path, || SecretKey::generate().to_hex())?;
    SecretKey::parse_hex(&hex).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

fn read_or_create_secret(
    path: &Path,
    make: impl FnOnce() -> String,
) -> std::io::Result<(String, bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok((text.trim().to_owned(), false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let value = make();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(value.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            Ok((value, true))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok((std::fs::read_to_string(path)?.trim().to_owned(), false))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod ip_net_tests {
    use super::IpNet;

    #[test]
    fn ranges_contain_their_addresses() {
        let net = IpNet::parse("10.0.0.0/8").expect("net");
        assert!(net.contains("10.1.2.3".parse().expect("ip")));
        assert!(!net.contains("11.0.0.1".parse().expect("ip")));
        assert!(IpNet::parse("::1")
            .expect("net")
            .contains("::1".parse().expect("ip")));
        assert!(IpNet::parse("0.0.0.0/0")
            .expect("net")
            .contains("8.8.8.8".parse().expect("ip")));
        assert!(IpNet::parse("10.0.0.0/33").is_none());
        assert!(IpNet::parse("ten").is_none());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn serve_warns_about_links_that_look_like_phishing() {
        let bound = SocketAddr::from(([127, 0, 0, 1], 8080));
        let mut s = Settings::for_data_dir("/tmp/x");
        let w = s.mail_link_warnings(bound).join("\n");
        assert!(w.contains("SENDWELL_PUBLIC_URL is not set"), "{w}");
        assert!(w.contains("SENDWELL_BOUNCE_DOMAIN is not set"), "{w}");
        s.public_url = Some("http://203.0.113.7:8080".to_owned());
        let w = s.mail_link_warnings(bound).join("\n");
        assert!(w.contains("plain-http"), "{w}");
        assert!(w.contains("bare IP address"), "{w}");
        s.public_url = Some("https://[2001:db8::1]".to_owned());
        let w = s.mail_link_warnings(bound).join("\n");
        assert!(
            !w.contains("plain-http") && w.contains("bare IP address"),
            "{w}"
        );
        s.public_url = Some("https://mail.acme-mail.com".to_owned());
        s.delivery.bounce_domain = Some("bounces.acme-mail.com".to_owned());
        assert_eq!(s.mail_link_warnings(bound), Vec::<String>::new());
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let s = Settings::load(Overrides::default(), env_of(&[])).expect("defaults");
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert!(s.effective_database_url().starts_with("sqlite://"));
    }

    #[test]
    fn flags_beat_environment_beats_file() {
        let dir = std::env::temp_dir().join(format!("sw-config-{}", to_hex(&random_bytes::<6>())));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("sendwell.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:7000\"\ndata_dir = \"/from/file\"\nmax_body_bytes = 1000\n",
        )
        .expect("write");
        let env = env_of(&[("SENDWELL_LISTEN", "127.0.0.1:7001")]);
        let s = Settings::load(
            Overrides {
                config: Some(file.clone()),
                ..Overrides::default()
            },
            &env,
        )
        .expect("load");
        assert_eq!(s.listen.port(), 7001);
        assert_eq!(s.data_dir, PathBuf::from("/from/file"));
        assert_eq!(s.max_body_bytes, 1000);
        let s = Settings::load(
            Overrides {
                config: Some(file),
                listen: Some("127.0.0.1:7002".into()),
                ..Overrides::default()
            },
            &env,
        )
        .expect("load");
        assert_eq!(s.listen.port(), 7002);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn unknown_file_keys_and_bad_values_are_errors_that_say_what() {
        let dir = std::env::temp_dir().join(format!("sw-config-{}", to_hex(&random_bytes::<6>())));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("bad.toml");
        std::fs::write(&file, "listn = \"127.0.0.1:1\"\n").expect("write");
        let err = Settings::load(
            Overrides {
                config: Some(file),
                ..Overrides::default()
            },
            env_of(&[]),
        )
        .expect_err("typo refused");
        assert!(err.to_string().contains("listn"), "{err}");
        let err = Settings::load(
            Overrides::default(),
            env_of(&[("SENDWELL_LISTEN", "eight")]),
        )
        .expect_err("bad");
        assert!(err.to_string().contains("HOST:PORT"), "{err}");
        let err = Settings::load(
            Overrides::default(),
            env_of(&[("SENDWELL_OPERATOR_TOKEN", "short")]),
        )
        .expect_err("weak");
        assert!(err.to_string().contains("24 characters"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn generated_secrets_are_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("sw-secret-{}", to_hex(&random_bytes::<6>())));
        std::fs::create_dir_all(&dir).expect("dir");
        let settings = Settings::for_data_dir(&dir);
        let (token, source) = operator_token(&settings).expect("token");
        let SecretSource::File { path, created } = source else {
            panic!("file expected")
        };
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, source) = operator_token(&settings).expect("token");
        assert_eq!(token, again);
        assert!(matches!(source, SecretSource::File { created: false, .. }));
        let a = secret_key(&settings).expect("key");
        let b = secret_key(&settings).expect("key");
        assert_eq!(a.fingerprint(), b.fingerprint());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn delivery_settings_come_from_flags_environment_and_file() {
        let s = Settings::load(
            Overrides {
                transport: Some("smtp".into()),
                smtp_relay: Some("relay.example.net:587".into()),
                smtp_user: Some("u".into()),
                bounce_domain: Some("Bounces.Example.NET".into()),
                ..Overrides::default()
            },
            env_of(&[
                ("SENDWELL_SMTP_PASSWORD", "secret-password"),
                ("SENDWELL_SMTP_TLS", "starttls"),
                ("SENDWELL_DOMAIN_LIMITS", "gmail.com=2, outlook.com=3"),
                ("SENDWELL_RETRY_GIVE_UP_HOURS", "48"),
            ]),
        )
        .expect("load");
        let d = &s.delivery;
        assert_eq!(d.transport.kind, TransportKind::Smtp);
        let relay = d.transport.relay.as_ref().expect("relay");
        assert_eq!(
            (relay.host.as_str(), relay.port),
            ("relay.example.net", 587)
        );
        assert_eq!(relay.tls, TlsMode::StartTls { required: true });
        assert_eq!(d.transport.domain_limits.get("gmail.com"), Some(&2));
        assert_eq!(d.transport.domain_limits.get("outlook.com"), Some(&3));
        assert_eq!(d.give_up_after, Duration::from_secs(48 * 3600));
        assert_eq!(d.bounce_domain.as_deref(), Some("bounces.example.net"));
        assert!(
            !format!("{s:?}").contains("secret-password"),
            "the password never reaches a log"
        );
        let err = Settings::load(
            Overrides {
                transport: Some("smtp".into()),
                ..Overrides::default()
            },
            env_of(&[]),
        )
        .expect_err("smtp without a relay");
        assert!(err.to_string().contains("--smtp-relay"), "{err}");
        let err = Settings::load(
            Overrides::default(),
            env_of(&[("SENDWELL_TRANSPORT", "carrier-pigeon")]),
        )
        .expect_err("unknown transport");
        assert!(
            err.to_string().contains("capture") && err.to_string().contains("carrier-pigeon"),
            "{err}"
        );
        let err = Settings::load(
            Overrides::default(),
            env_of(&[("SENDWELL_DOMAIN_LIMITS", "gmail.com")]),
        )
        .expect_err("bad limits");
        assert!(err.to_string().contains("DOMAIN=CONNECTIONS"), "{err}");
    }
}
