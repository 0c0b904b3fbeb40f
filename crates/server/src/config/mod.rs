//! Settings: built-in defaults, then a TOML file, then `SENDWELL_*`
//! environment variables, then command-line flags, each overriding the one
//! before. Every setting is declared once, in [`table::SETTINGS`]. Secrets
//! the operator does not give are generated on first start and kept in the
//! data directory with mode 0600.

pub mod table;

use crate::smtp::client::{Credentials, TlsMode};
use crate::transport::{Relay, TransportKind, TransportSettings};
use sendwell_core::secret::{random_bytes, to_hex, SecretKey};
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
    /// How many contacts an estimated audience count reads (at least 640).
    pub audience_sample: i64,
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
            .field("audience_sample", &self.audience_sample)
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

/// Values from the command line: the configuration file's path, and the
/// flags given, by the key of their setting (`smtp_relay`).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    flags: Vec<(String, String)>,
}

impl Overrides {
    /// `--KEY VALUE` was given: `key` is a setting's key in
    /// [`table::SETTINGS`] (a key no setting has is refused when loading).
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.flags.push((key.to_owned(), value.into()));
        self
    }

    /// The same, by value, for building overrides in one expression.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    fn flag(&self, key: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Settings while they are read, with what is checked only once all are
/// known (the relay and its credentials, the inbound TLS identity).
pub struct Loading {
    pub settings: Settings,
    relay: Option<(String, u16)>,
    user: Option<String>,
    password: Option<String>,
    tls: TlsMode,
    tls_cert: Option<String>,
    tls_key: Option<String>,
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
    #[error("the configuration file {path} has a key sendwell does not know, '{key}'{suggestion}; the README lists every setting")]
    UnknownKey {
        path: PathBuf,
        key: String,
        suggestion: String,
    },
    #[error("--{0} is not a setting that can be given as a flag")]
    UnknownFlag(String),
    /// A value a setting does not take; `what` names where it was given.
    #[error("{what} '{value}' is not valid: {hint}")]
    Invalid {
        what: String,
        value: String,
        hint: &'static str,
    },
    /// Settings that do not fit together.
    #[error("{what} '{value}' is not valid: {hint}")]
    Delivery {
        what: String,
        value: String,
        hint: &'static str,
    },
    #[error("the inbound listener's TLS identity is not usable: {0}")]
    Tls(String),
}

/// Where a secret came from, to tell the operator on start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Given,
    File { path: PathBuf, created: bool },
}

impl Settings {
    /// Loads settings with `env` as the environment (tests pass their own):
    /// each setting of [`table::SETTINGS`] from its flag, else its
    /// environment variable, else the configuration file, else its default.
    pub fn load(
        overrides: Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        for (key, _) in &overrides.flags {
            let known = table::SETTINGS.iter().find(|s| s.key == key);
            if known.is_none_or(|s| s.flag == table::Flag::None) {
                return Err(ConfigError::UnknownFlag(key.replace('_', "-")));
            }
        }
        let config_path = overrides
            .config
            .clone()
            .or_else(|| env("SENDWELL_CONFIG").map(PathBuf::from));
        let file = match &config_path {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        let mut loading = Loading {
            settings: Settings::defaults(),
            relay: None,
            user: None,
            password: None,
            tls: TlsMode::StartTls { required: false },
            tls_cert: None,
            tls_key: None,
        };
        for setting in table::SETTINGS {
            let given = overrides
                .flag(setting.key)
                .filter(|_| setting.flag != table::Flag::None)
                .map(|v| (format!("--{}", setting.key.replace('_', "-")), v.to_owned()))
                .or_else(|| env(&setting.env()).map(|v| (setting.env(), v)))
                .or_else(|| {
                    file.get(setting.key).map(|v| {
                        let what = format!("{} in the configuration file", setting.key);
                        // A list or table only where the setting takes one.
                        let value = file_value(v, setting.list).unwrap_or_default();
                        (what, value)
                    })
                });
            let Some((what, value)) = given else {
                continue;
            };
            (setting.apply)(&mut loading, &value).map_err(|table::Refused| {
                ConfigError::Invalid {
                    what,
                    value: shown(&value, setting.secret),
                    hint: setting.hint,
                }
            })?;
        }
        loading.finish()
    }

    /// What sendwell runs with when nothing is given.
    pub fn defaults() -> Self {
        let mut s = Self::for_data_dir(DEFAULT_DATA_DIR);
        s.listen = DEFAULT_LISTEN
            .parse()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
        s.smtp_listen = DEFAULT_SMTP_LISTEN.parse().ok();
        s
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
            audience_sample: sendwell_store::DEFAULT_AUDIENCE_SAMPLE,
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

impl Loading {
    /// The checks that need several settings, then the settings.
    fn finish(mut self) -> Result<Settings, ConfigError> {
        let t = &mut self.settings.delivery.transport;
        if let Some((host, port)) = self.relay {
            // Credentials are the relay's: they are checked with it.
            let credentials = match (self.user, self.password) {
                (Some(username), Some(password)) => Some(Credentials { username, password }),
                (None, None) => None,
                _ => {
                    return Err(ConfigError::Delivery {
                        what: "the SMTP credentials".to_owned(),
                        value: "(one of user and password)".to_owned(),
                        hint: "give both --smtp-user and --smtp-password, or neither",
                    })
                }
            };
            t.relay = Some(Relay {
                host,
                port,
                tls: self.tls,
                credentials,
            });
        }
        if t.kind == TransportKind::Smtp && t.relay.is_none() {
            return Err(ConfigError::Delivery {
                what: "the smtp transport".to_owned(),
                value: "(no relay)".to_owned(),
                hint: "name the relay with --smtp-relay HOST:PORT (or SENDWELL_SMTP_RELAY)",
            });
        }
        self.settings.inbound_tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(
                crate::smtp::server::load_tls(Path::new(&cert), Path::new(&key))
                    .map_err(ConfigError::Tls)?,
            ),
            (None, None) => None,
            _ => return Err(ConfigError::Tls(
                "set both SENDWELL_SMTP_TLS_CERT and SENDWELL_SMTP_TLS_KEY (PEM files), or neither"
                    .to_owned(),
            )),
        };
        Ok(self.settings)
    }
}

/// A refused value as an error shows it: hidden when secret, cut to 100
/// characters and quoted (a huge value or control characters stay out of
/// the terminal).
fn shown(value: &str, secret: bool) -> String {
    if secret {
        return "(hidden)".to_owned();
    }
    let cut: String = value.chars().take(100).collect();
    let quoted = format!("{cut:?}");
    let quoted = quoted.trim_matches('"');
    if cut.len() < value.len() {
        format!("{quoted}...")
    } else {
        quoted.to_owned()
    }
}

/// A value of the configuration file as the text a flag or variable would
/// give: lists joined by commas and tables as `KEY=VALUE` pairs where the
/// setting takes them (`list`); `None` (refused as empty) for a list or
/// table anywhere else, or a nested one.
fn file_value(value: &toml::Value, list: bool) -> Option<String> {
    Some(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(items) if list => items
            .iter()
            .map(|v| file_value(v, false))
            .collect::<Option<Vec<_>>>()?
            .join(","),
        toml::Value::Table(t) if list => t
            .iter()
            .map(|(k, v)| file_value(v, false).map(|v| format!("{k}={v}")))
            .collect::<Option<Vec<_>>>()?
            .join(","),
        toml::Value::Array(_) | toml::Value::Table(_) => return None,
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(n) => n.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
    })
}

/// A public URL must be absolute http(s), with no path, query or fragment
/// beyond a trailing slash, which is removed.
fn check_public_url(value: &str) -> Option<String> {
    let v = value.trim().trim_end_matches('/');
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ', '"', '<', '>']) => {
            Some(v.to_owned())
        }
        _ => None,
    }
}

/// The configuration file (at most 1 MiB), every key of which must be a
/// setting's.
fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    use std::io::Read;
    const MAX_FILE_BYTES: u64 = 1024 * 1024;
    let read_error = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(read_error)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(ConfigError::Parse {
            path: path.to_owned(),
            message: "it is larger than 1 MiB; a configuration file is a few lines".to_owned(),
        });
    }
    // toml's own message quotes the offending line, which may hold a
    // password: only its words and the position are shown.
    let file: toml::Table = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        ConfigError::Parse {
            path: path.to_owned(),
            message: match line {
                Some(line) => format!("line {line}: {}", e.message().trim()),
                None => e.message().trim().to_owned(),
            },
        }
    })?;
    for key in file.keys() {
        if table::SETTINGS.iter().all(|s| s.key != key) {
            let closest = table::SETTINGS
                .iter()
                .map(|s| (sendwell_core::text::edit_distance(key, s.key), s.key))
                .min()
                .filter(|(d, _)| *d <= 3);
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                key: key.clone(),
                suggestion: closest
                    .map(|(_, k)| format!(" (did you mean '{k}'?)"))
                    .unwrap_or_default(),
            });
        }
    }
    Ok(file)
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

    /// The README's table of settings is the one the table makes; with
    /// SENDWELL_WRITE_README=1 the test writes it there instead.
    #[test]
    fn the_readme_lists_every_setting_as_declared() {
        const START: &str = "<!-- settings: generated from crates/server/src/config/table.rs; a test checks it -->\n";
        const END: &str = "<!-- end of settings -->";
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
        let readme = std::fs::read_to_string(&path).expect("README.md");
        let (Some(a), Some(b)) = (readme.find(START), readme.find(END)) else {
            panic!("the README has no settings table markers");
        };
        let listed = &readme[a + START.len()..b];
        let table = table::readme_table();
        if listed != table && std::env::var_os("SENDWELL_WRITE_README").is_some() {
            let updated = format!("{}{table}{}", &readme[..a + START.len()], &readme[b..]);
            std::fs::write(&path, updated).expect("write README.md");
            return;
        }
        assert_eq!(
            listed, table,
            "the README's settings table differs from config/table.rs; \
             SENDWELL_WRITE_README=1 cargo test -p sendwell-server readme writes it"
        );
        for s in table::SETTINGS {
            assert!(listed.contains(&format!("`{}`", s.env())), "{}", s.key);
        }
    }

    #[test]
    fn every_setting_has_one_key_one_variable_and_reads_yes_or_no_the_same() {
        let mut keys: Vec<&str> = table::SETTINGS.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), table::SETTINGS.len(), "a key is declared twice");
        for (value, expected) in [
            ("off", false),
            ("false", false),
            ("no", false),
            ("0", false),
        ] {
            let s = Settings::load(
                Overrides::default(),
                env_of(&[
                    ("SENDWELL_DNS", value),
                    ("SENDWELL_SERVE_WORKER", value),
                    ("SENDWELL_WEBHOOK_ALLOW_PRIVATE", "on"),
                ]),
            )
            .expect(value);
            assert_eq!((s.dns, s.delivery.serve_worker), (expected, expected));
            assert!(s.delivery.webhook_allow_private);
        }
        let err = Settings::load(
            Overrides::default(),
            env_of(&[("SENDWELL_SERVE_WORKER", "maybe")]),
        )
        .expect_err("not a yes or no");
        assert!(err.to_string().contains("true or false"), "{err}");
        let err = Settings::load(
            Overrides::default(),
            env_of(&[("SENDWELL_MAILGUN_SIGNING_KEY", "  ")]),
        );
        assert!(err.is_ok(), "an empty key leaves the webhook off");
        let err = Settings::load(
            Overrides::default(),
            env_of(&[("SENDWELL_SECRET_KEY", "not-hex-and-secret")]),
        )
        .expect_err("bad key");
        assert!(
            !err.to_string().contains("not-hex-and-secret") && err.to_string().contains("(hidden)"),
            "a secret is never echoed: {err}"
        );
        let err = Settings::load(Overrides::default().with("dns", "off"), env_of(&[]))
            .expect_err("dns has no flag");
        assert!(err.to_string().contains("--dns"), "{err}");
    }

    #[test]
    fn file_values_of_every_type_are_read() {
        let dir = std::env::temp_dir().join(format!("sw-config-{}", to_hex(&random_bytes::<6>())));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("sendwell.toml");
        std::fs::write(
            &file,
            "dns = false\nworker_batch = 42\nses_topic_arns = [\"arn:a\", \"arn:b\"]\n\
             [domain_limits]\n\"Gmail.com\" = 2\n",
        )
        .expect("write");
        let s = Settings::load(
            Overrides {
                config: Some(file.clone()),
                ..Overrides::default()
            },
            env_of(&[]),
        )
        .expect("load");
        assert!(!s.dns);
        assert_eq!(s.delivery.batch, 42);
        assert_eq!(s.delivery.providers.ses_topic_arns, ["arn:a", "arn:b"]);
        assert_eq!(
            s.delivery.transport.domain_limits.get("gmail.com"),
            Some(&2)
        );
        std::fs::write(&file, "worker_bach = 42\n").expect("write");
        let err = Settings::load(
            Overrides {
                config: Some(file),
                ..Overrides::default()
            },
            env_of(&[]),
        )
        .expect_err("typo");
        assert!(
            err.to_string().contains("did you mean 'worker_batch'"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    /// Review: a secret in a file toml cannot read, a list where one value
    /// belongs, and numbers that would overflow the clocks and semaphores
    /// they reach.
    #[test]
    fn hostile_values_are_refused_or_bounded_without_echoing_secrets() {
        let dir = std::env::temp_dir().join(format!("sw-config-{}", to_hex(&random_bytes::<6>())));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("bad.toml");
        let load_file = |text: &str| {
            std::fs::write(&file, text).expect("write");
            Settings::load(
                Overrides {
                    config: Some(file.clone()),
                    ..Overrides::default()
                },
                env_of(&[]),
            )
        };
        let err = load_file("smtp_password = \"p\\w-secret\"\n").expect_err("bad escape");
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = load_file("smtp_relay = [\"a.example:25\", \"b.example:25\"]\n")
            .expect_err("a list for one relay");
        assert!(err.to_string().contains("smtp_relay"), "{err}");
        let s = load_file("trusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n").expect("a list");
        assert_eq!(s.trusted_proxies.len(), 2);
        std::fs::remove_dir_all(dir).ok();
        let s = Settings::load(
            Overrides::default(),
            env_of(&[
                ("SENDWELL_MAX_CONNECTIONS", "18446744073709551615"),
                ("SENDWELL_WORKER_LEASE_SECONDS", "18446744073709551615"),
                ("SENDWELL_RETRY_GIVE_UP_HOURS", "18446744073709551615"),
                (
                    "SENDWELL_HTTP_HEADER_TIMEOUT_SECONDS",
                    "18446744073709551615",
                ),
                ("SENDWELL_SMTP_USER", "only-the-user"),
            ]),
        )
        .expect("bounded, and credentials without a relay are not checked");
        assert!(s.delivery.transport.max_connections <= 100_000);
        assert_eq!(s.delivery.lease_ms, 24 * 3600 * 1000);
        assert_eq!(
            s.delivery.give_up_after,
            Duration::from_secs(30 * 24 * 3600)
        );
        assert_eq!(s.http.header_timeout, Duration::from_secs(24 * 3600));
        let huge = "x".repeat(10_000);
        let err = Settings::load(Overrides::default(), env_of(&[("SENDWELL_LISTEN", &huge)]))
            .expect_err("not an address");
        assert!(
            err.to_string().len() < 400,
            "the value is cut: {}",
            err.to_string().len()
        );
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
                ..Overrides::default()
            }
            .with("listen", "127.0.0.1:7002"),
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
            Overrides::default()
                .with("transport", "smtp")
                .with("smtp_relay", "relay.example.net:587")
                .with("smtp_user", "u")
                .with("bounce_domain", "Bounces.Example.NET"),
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
        let err = Settings::load(Overrides::default().with("transport", "smtp"), env_of(&[]))
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
