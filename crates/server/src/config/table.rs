//! Every setting, declared once: its TOML key (the environment variable is
//! `SENDWELL_` and the key in capitals, the flag `--` and the key with
//! dashes), whether it has a flag, what it is, how a value is read into
//! [`Settings`] and how the default is shown. Loading, the command line's
//! flags and the README's table all come from [`SETTINGS`].

use super::{check_public_url, IpNet, Loading, Settings};
use crate::smtp::client::TlsMode;
use crate::transport::TransportKind;
use std::time::Duration;

/// Where a setting can be given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    /// Only in the environment and the configuration file.
    None,
    /// On every command that opens the instance (`--data-dir`, ...).
    Everywhere,
    /// On `serve` and `worker`: how mail leaves.
    Delivery,
    /// On `serve` only.
    Serve,
}

/// A value that is not what the setting takes; the setting's hint says
/// what would be.
#[derive(Debug)]
pub struct Refused;

type Apply = fn(&mut Loading, &str) -> Result<(), Refused>;
type Show = fn(&Settings) -> Option<String>;

/// One setting.
pub struct Setting {
    /// The key in the configuration file.
    pub key: &'static str,
    pub flag: Flag,
    /// A value never shown back (in errors or logs).
    pub secret: bool,
    /// A switch: the flag takes no value and means `true`.
    pub switch: bool,
    /// Takes a list (or, for `domain_limits`, a table) in the file.
    pub list: bool,
    /// What it sets, as the README's table says it.
    pub about: &'static str,
    /// What a valid value looks like, for the error when one is not.
    pub hint: &'static str,
    pub apply: Apply,
    /// The default as shown in the README, from the built-in defaults.
    pub show: Show,
    /// What the default is when `show` has no value to show.
    pub unset: &'static str,
}

impl Setting {
    /// `SENDWELL_` and the key in capitals.
    pub fn env(&self) -> String {
        format!("SENDWELL_{}", self.key.to_ascii_uppercase())
    }

    /// The flag's name without its dashes (`smtp-relay`), if it has one.
    pub fn flag_name(&self) -> Option<String> {
        (self.flag != Flag::None).then(|| self.key.replace('_', "-"))
    }

    /// The default as the README shows it.
    pub fn default_text(&self, defaults: &Settings) -> String {
        if self.secret {
            return self.unset.to_owned();
        }
        (self.show)(defaults).unwrap_or_else(|| self.unset.to_owned())
    }
}

fn number<T: std::str::FromStr>(v: &str) -> Result<T, Refused> {
    v.trim().parse().map_err(|_| Refused)
}

/// The one way sendwell reads a yes or no, wherever it is given.
pub fn boolean(v: &str) -> Result<bool, Refused> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(Refused),
    }
}

fn text(v: &str) -> Option<String> {
    Some(v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A count of at least 1 and at most `max`: connection and permit counts
/// beyond what a semaphore takes would panic where they are used.
fn count(v: &str, max: usize) -> Result<usize, Refused> {
    Ok(number::<usize>(v)?.clamp(1, max))
}

/// Connections (and other permits) a setting may ask for.
const MAX_PERMITS: usize = 100_000;

/// A duration in whole seconds, from 1 second to a day: longer timeouts
/// and leases overflow the clocks they are added to.
fn seconds(v: &str) -> Result<Duration, Refused> {
    Ok(Duration::from_secs(number::<u64>(v)?.clamp(1, DAY)))
}

const DAY: u64 = 24 * 3600;

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

fn score(v: &str) -> Result<u32, Refused> {
    number::<u32>(v).and_then(|n| if n <= 100 { Ok(n) } else { Err(Refused) })
}

fn mib(bytes: usize) -> String {
    if bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{bytes} bytes")
    }
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

const WHOLE: &str = "a whole number";
const SECONDS: &str = "a whole number of seconds";
const YES_NO: &str = "true or false (also on/off, yes/no, 1/0)";
const HOST_PORT: &str = "write it as HOST:PORT, for example 127.0.0.1:8080";

/// Every setting sendwell reads, in the order the README lists them.
pub static SETTINGS: &[Setting] = &[
    Setting {
        key: "listen",
        flag: Flag::Serve,
        secret: false,
        switch: false,
        list: false,
        about: "HTTP listen address",
        hint: HOST_PORT,
        apply: |l, v| {
            l.settings.listen = v.trim().parse().map_err(|_| Refused)?;
            Ok(())
        },
        show: |s| Some(s.listen.to_string()),
        unset: "",
    },
    Setting {
        key: "data_dir",
        flag: Flag::Everywhere,
        secret: false,
        switch: false,
        list: false,
        about: "where the SQLite database and generated secrets live",
        hint: "a directory",
        apply: |l, v| {
            l.settings.data_dir = text(v).ok_or(Refused)?.into();
            Ok(())
        },
        show: |s| Some(s.data_dir.display().to_string()),
        unset: "",
    },
    Setting {
        key: "database_url",
        flag: Flag::Everywhere,
        secret: true,
        switch: false,
        list: false,
        about: "the database: `postgres://USER@HOST/DB` for PostgreSQL",
        hint: "postgres://USER@HOST/DB or sqlite://FILE",
        apply: |l, v| {
            l.settings.database_url = text(v);
            Ok(())
        },
        show: |s| s.database_url.clone(),
        unset: "SQLite file `sendwell.db` in the data directory",
    },
    Setting {
        key: "operator_token",
        flag: Flag::None,
        secret: true,
        switch: false,
        list: false,
        about: "the operator's API token",
        hint: "a random value of at least 24 characters, for example from `openssl rand -hex 32`; \
               this one is shorter than 24 characters",
        apply: |l, v| {
            let token = v.trim();
            if token.len() < super::MIN_OPERATOR_TOKEN_LEN {
                return Err(Refused);
            }
            l.settings.operator_token = Some(token.to_owned());
            Ok(())
        },
        show: |s| s.operator_token.clone(),
        unset: "generated into `DATA_DIR/operator-token` (0600)",
    },
    Setting {
        key: "secret_key",
        flag: Flag::None,
        secret: true,
        switch: false,
        list: false,
        about: "the instance key of address hashes and signed links",
        hint: "64 hexadecimal characters (32 bytes), for example from `openssl rand -hex 32`",
        apply: |l, v| {
            sendwell_core::secret::SecretKey::parse_hex(v).map_err(|_| Refused)?;
            l.settings.secret_key = Some(v.to_owned());
            Ok(())
        },
        show: |s| s.secret_key.clone(),
        unset: "generated into `DATA_DIR/secret-key` (0600)",
    },
    Setting {
        key: "public_url",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "public URL of the links in mail",
        hint: "give an address such as https://mail.example.com, without a path",
        apply: |l, v| {
            l.settings.public_url = Some(check_public_url(v).ok_or(Refused)?);
            Ok(())
        },
        show: |s| s.public_url.clone(),
        unset: "`http://` + the listen address",
    },
    Setting {
        key: "max_body_bytes",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "request body limit (imports excepted)",
        hint: "bytes",
        apply: |l, v| {
            l.settings.max_body_bytes = number(v)?;
            Ok(())
        },
        show: |s| Some(mib(s.max_body_bytes)),
        unset: "",
    },
    Setting {
        key: "max_attributes",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "custom attributes a workspace may declare",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.max_attributes = number(v)?;
            Ok(())
        },
        show: |s| Some(s.max_attributes.to_string()),
        unset: "",
    },
    Setting {
        key: "audience_sample",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "contacts an estimated audience count reads (the console's counts)",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.audience_sample = number(v)?;
            Ok(())
        },
        show: |s| Some(s.audience_sample.to_string()),
        unset: "",
    },
    Setting {
        key: "dns",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "DNS for address checks, from the system's resolver configuration",
        hint: "on or off (also true/false, yes/no, 1/0, or system)",
        apply: |l, v| {
            l.settings.dns = v.trim() == "system" || boolean(v)?;
            Ok(())
        },
        show: |s| Some(if s.dns { "on" } else { "off" }.to_owned()),
        unset: "",
    },
    Setting {
        key: "import_accept_score",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "import score: accepted at or above",
        hint: "a score from 0 to 100",
        apply: |l, v| {
            l.settings.import_thresholds.accept_at = score(v)?;
            Ok(())
        },
        show: |s| Some(s.import_thresholds.accept_at.to_string()),
        unset: "",
    },
    Setting {
        key: "import_quarantine_below",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "import score: quarantined below",
        hint: "a score from 0 to 100",
        apply: |l, v| {
            l.settings.import_thresholds.quarantine_below = score(v)?;
            Ok(())
        },
        show: |s| Some(s.import_thresholds.quarantine_below.to_string()),
        unset: "",
    },
    Setting {
        key: "opt_in_request_interval_days",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "days between opt-in requests to one contact",
        hint: "whole days",
        apply: |l, v| {
            l.settings.opt_in_request_interval_days = number(v)?;
            Ok(())
        },
        show: |s| Some(s.opt_in_request_interval_days.to_string()),
        unset: "",
    },
    Setting {
        key: "transport",
        flag: Flag::Delivery,
        secret: false,
        switch: false,
        list: false,
        about: "how mail leaves: `capture` (kept in the outbox), `smtp` (a relay) or `mx` (direct)",
        hint: "use capture (store mail in the outbox), smtp (a relay) or mx (direct)",
        apply: |l, v| {
            l.settings.delivery.transport.kind = TransportKind::parse(v.trim()).ok_or(Refused)?;
            Ok(())
        },
        show: |s| Some(format!("`{}`", s.delivery.transport.kind.as_str())),
        unset: "",
    },
    Setting {
        key: "smtp_relay",
        flag: Flag::Delivery,
        secret: false,
        switch: false,
        list: false,
        about: "the relay of the `smtp` transport",
        hint: "write HOST:PORT, for example smtp.example.com:587",
        apply: |l, v| {
            let (host, port) = match v.trim().rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse::<u16>().map_err(|_| Refused)?),
                None => (v.trim().to_owned(), 25),
            };
            if host.is_empty() {
                return Err(Refused);
            }
            l.relay = Some((host, port));
            Ok(())
        },
        show: |s| {
            s.delivery
                .transport
                .relay
                .as_ref()
                .map(|r| format!("{}:{}", r.host, r.port))
        },
        unset: "none",
    },
    Setting {
        key: "smtp_user",
        flag: Flag::Delivery,
        secret: false,
        switch: false,
        list: false,
        about: "user name for AUTH at the relay",
        hint: "a user name",
        apply: |l, v| {
            l.user = Some(v.trim().to_owned());
            Ok(())
        },
        show: |_| None,
        unset: "none",
    },
    Setting {
        key: "smtp_password",
        flag: Flag::Delivery,
        secret: true,
        switch: false,
        list: false,
        about: "password for AUTH at the relay (better in the environment than as a flag)",
        hint: "a password",
        apply: |l, v| {
            l.password = Some(v.trim().to_owned());
            Ok(())
        },
        show: |_| None,
        unset: "none",
    },
    Setting {
        key: "smtp_tls",
        flag: Flag::Delivery,
        secret: false,
        switch: false,
        list: false,
        about: "relay TLS: `opportunistic`, `starttls` (required), `tls` (implicit, port 465) or `none`",
        hint: "use starttls (required), opportunistic (STARTTLS when offered, the default), \
               tls (implicit, port 465) or none",
        apply: |l, v| {
            l.tls = match v.trim() {
                "opportunistic" => TlsMode::StartTls { required: false },
                "starttls" => TlsMode::StartTls { required: true },
                "tls" | "implicit" => TlsMode::Implicit,
                "none" => TlsMode::None,
                _ => return Err(Refused),
            };
            Ok(())
        },
        show: |_| Some("`opportunistic`".to_owned()),
        unset: "",
    },
    Setting {
        key: "bounce_domain",
        flag: Flag::Delivery,
        secret: false,
        switch: false,
        list: false,
        about: "the domain of the VERP return path, `bounces+TOKEN@DOMAIN`",
        hint: "give a domain name such as bounces.example.com, whose MX points at this server",
        apply: |l, v| {
            let b = v.trim().to_ascii_lowercase();
            let name = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
            if b.is_empty() || !b.chars().all(name) {
                return Err(Refused);
            }
            l.settings.delivery.bounce_domain = Some(b);
            Ok(())
        },
        show: |s| s.delivery.bounce_domain.clone(),
        unset: "the public URL's host",
    },
    Setting {
        key: "insecure_skip_domain_verification",
        flag: Flag::Delivery,
        secret: false,
        switch: true,
        list: false,
        about: "let unverified sender domains send (tests, local relays); preflight and the log warn",
        hint: YES_NO,
        apply: |l, v| {
            l.settings.delivery.insecure_skip_domain_verification = boolean(v)?;
            Ok(())
        },
        show: |s| Some(s.delivery.insecure_skip_domain_verification.to_string()),
        unset: "",
    },
    Setting {
        key: "smtp_listen",
        flag: Flag::Delivery,
        secret: false,
        switch: false,
        list: false,
        about: "inbound SMTP for bounces and complaints (`off` to disable)",
        hint: "write it as HOST:PORT, for example 127.0.0.1:2525, or off",
        apply: |l, v| {
            l.settings.smtp_listen = match v.trim() {
                "off" | "none" | "" => None,
                v => Some(v.parse().map_err(|_| Refused)?),
            };
            Ok(())
        },
        show: |s| s.smtp_listen.map(|a| a.to_string()),
        unset: "off",
    },
    Setting {
        key: "helo_name",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "the name given in EHLO",
        hint: "a host name",
        apply: |l, v| {
            l.settings.delivery.transport.helo_name = text(v).ok_or(Refused)?;
            Ok(())
        },
        show: |s| Some(format!("`{}`", s.delivery.transport.helo_name)),
        unset: "",
    },
    Setting {
        key: "mx_port",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "the port MX hosts are reached on",
        hint: "a port number",
        apply: |l, v| {
            l.settings.delivery.transport.mx_port = number(v)?;
            Ok(())
        },
        show: |s| Some(s.delivery.transport.mx_port.to_string()),
        unset: "",
    },
    Setting {
        key: "mx_allow_private",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "MX hosts on private addresses (tests)",
        hint: YES_NO,
        apply: |l, v| {
            l.settings.delivery.transport.mx_allow_private = boolean(v)?;
            Ok(())
        },
        show: |s| Some(s.delivery.transport.mx_allow_private.to_string()),
        unset: "",
    },
    Setting {
        key: "max_connections",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "outgoing SMTP connections overall",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.delivery.transport.max_connections = count(v, MAX_PERMITS)?;
            Ok(())
        },
        show: |s| Some(s.delivery.transport.max_connections.to_string()),
        unset: "",
    },
    Setting {
        key: "connections_per_domain",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "outgoing SMTP connections to one destination",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.delivery.transport.connections_per_domain = count(v, MAX_PERMITS)?;
            Ok(())
        },
        show: |s| Some(s.delivery.transport.connections_per_domain.to_string()),
        unset: "",
    },
    Setting {
        key: "domain_limits",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: true,
        about: "connections to named domains (`gmail.com=2,outlook.com=2`; a table in the file)",
        hint: "write DOMAIN=CONNECTIONS pairs separated by commas, for example gmail.com=2,outlook.com=2",
        apply: |l, v| {
            for part in v.split(',').filter(|p| !p.trim().is_empty()) {
                let (domain, n) = part.split_once('=').ok_or(Refused)?;
                l.settings
                    .delivery
                    .transport
                    .domain_limits
                    .insert(domain.trim().to_ascii_lowercase(), count(n, MAX_PERMITS)?);
            }
            Ok(())
        },
        show: |_| None,
        unset: "none",
    },
    Setting {
        key: "messages_per_connection",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "mails sent over one SMTP connection",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.delivery.transport.messages_per_connection = number(v)?;
            Ok(())
        },
        show: |s| Some(s.delivery.transport.messages_per_connection.to_string()),
        unset: "",
    },
    Setting {
        key: "workspace_rate",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "mails per second per workspace (per process; 0 for no limit)",
        hint: "mails per second",
        apply: |l, v| {
            l.settings.delivery.workspace_rate = Some(number::<u32>(v)?).filter(|r| *r > 0);
            Ok(())
        },
        show: |s| s.delivery.workspace_rate.map(|r| r.to_string()),
        unset: "unlimited",
    },
    Setting {
        key: "retry_base_seconds",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "the first retry waits this long; each next one twice as long",
        hint: SECONDS,
        apply: |l, v| {
            l.settings.delivery.retry_base = seconds(v)?;
            Ok(())
        },
        show: |s| Some(secs(s.delivery.retry_base)),
        unset: "",
    },
    Setting {
        key: "retry_give_up_hours",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "transient failures are retried for this long",
        hint: "hours",
        apply: |l, v| {
            // At most 30 days: the deadline is added to the first attempt.
            l.settings.delivery.give_up_after =
                Duration::from_secs(number::<u64>(v)?.min(30 * 24).saturating_mul(3600));
            Ok(())
        },
        show: |s| Some(format!("{} h", s.delivery.give_up_after.as_secs() / 3600)),
        unset: "",
    },
    Setting {
        key: "worker_lease_seconds",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "a claimed delivery returns to the queue when not recorded within this",
        hint: SECONDS,
        apply: |l, v| {
            let ms = seconds(v)?.as_millis();
            l.settings.delivery.lease_ms = i64::try_from(ms).unwrap_or(i64::MAX);
            Ok(())
        },
        show: |s| Some(format!("{} s", s.delivery.lease_ms / 1000)),
        unset: "",
    },
    Setting {
        key: "worker_batch",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "deliveries one worker loop claims at once (1 to 5000)",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.delivery.batch = number::<i64>(v)?.clamp(1, 5000);
            Ok(())
        },
        show: |s| Some(s.delivery.batch.to_string()),
        unset: "",
    },
    Setting {
        key: "worker_pipelines",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "worker loops per process (1 to 16)",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.delivery.pipelines = number::<usize>(v)?.clamp(1, 16);
            Ok(())
        },
        show: |s| Some(s.delivery.pipelines.to_string()),
        unset: "",
    },
    Setting {
        key: "serve_worker",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "`serve` runs a delivery worker too",
        hint: YES_NO,
        apply: |l, v| {
            l.settings.delivery.serve_worker = boolean(v)?;
            Ok(())
        },
        show: |s| Some(s.delivery.serve_worker.to_string()),
        unset: "",
    },
    Setting {
        key: "worker_max_crashes",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "a delivery fails after its worker died on it this many times",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.delivery.max_crashes = number::<i64>(v)?.max(1);
            Ok(())
        },
        show: |s| Some(s.delivery.max_crashes.to_string()),
        unset: "",
    },
    Setting {
        key: "worker_stall_seconds",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "`/healthz` reports a pipeline without progress for this long",
        hint: SECONDS,
        apply: |l, v| {
            l.settings.delivery.stall_after = seconds(v)?;
            Ok(())
        },
        show: |s| Some(secs(s.delivery.stall_after)),
        unset: "",
    },
    Setting {
        key: "webhook_allow_private",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "webhooks to private or plain-http endpoints",
        hint: YES_NO,
        apply: |l, v| {
            l.settings.delivery.webhook_allow_private = boolean(v)?;
            Ok(())
        },
        show: |s| Some(s.delivery.webhook_allow_private.to_string()),
        unset: "",
    },
    Setting {
        key: "render_max_output_bytes",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "render limit per mail: bytes of a part",
        hint: "bytes",
        apply: |l, v| {
            l.settings.delivery.render.max_output_bytes = number::<usize>(v)?.max(1024);
            Ok(())
        },
        show: |s| Some(mib(s.delivery.render.max_output_bytes)),
        unset: "",
    },
    Setting {
        key: "render_max_iterations",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "render limit per mail: loop iterations",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.delivery.render.max_iterations = number(v)?;
            Ok(())
        },
        show: |s| Some(s.delivery.render.max_iterations.to_string()),
        unset: "",
    },
    Setting {
        key: "render_max_time_ms",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "render limit per mail: time",
        hint: "milliseconds",
        apply: |l, v| {
            let ms = number::<u64>(v)?.clamp(1, DAY * 1000);
            l.settings.delivery.render.max_time = Duration::from_millis(ms);
            Ok(())
        },
        show: |s| Some(format!("{} ms", s.delivery.render.max_time.as_millis())),
        unset: "",
    },
    Setting {
        key: "import_upload_seconds",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "an import's whole upload must arrive within this",
        hint: SECONDS,
        apply: |l, v| {
            l.settings.delivery.upload.deadline = seconds(v)?;
            Ok(())
        },
        show: |s| Some(secs(s.delivery.upload.deadline)),
        unset: "",
    },
    Setting {
        key: "import_min_bytes_per_second",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "an import's upload must average at least this rate",
        hint: "bytes a second",
        apply: |l, v| {
            l.settings.delivery.upload.min_rate = number(v)?;
            Ok(())
        },
        show: |s| Some(s.delivery.upload.min_rate.to_string()),
        unset: "",
    },
    Setting {
        key: "http_header_timeout_seconds",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "HTTP header and idle timeout",
        hint: SECONDS,
        apply: |l, v| {
            l.settings.http.header_timeout = seconds(v)?;
            Ok(())
        },
        show: |s| Some(secs(s.http.header_timeout)),
        unset: "",
    },
    Setting {
        key: "http_max_connections",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "HTTP connections overall",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.http.max_connections = count(v, MAX_PERMITS)?;
            Ok(())
        },
        show: |s| Some(s.http.max_connections.to_string()),
        unset: "",
    },
    Setting {
        key: "http_max_connections_per_ip",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "HTTP connections per client address",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.http.max_per_ip = count(v, MAX_PERMITS)?;
            Ok(())
        },
        show: |s| Some(s.http.max_per_ip.to_string()),
        unset: "",
    },
    Setting {
        key: "trusted_proxies",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: true,
        about: "reverse proxies whose `X-Forwarded-For` is believed (`10.0.0.0/8,::1`)",
        hint: "addresses or ranges such as 10.0.0.0/8, separated by commas",
        apply: |l, v| {
            l.settings.trusted_proxies = list(v)
                .iter()
                .map(|p| IpNet::parse(p).ok_or(Refused))
                .collect::<Result<_, _>>()?;
            Ok(())
        },
        show: |_| None,
        unset: "none",
    },
    Setting {
        key: "smtp_max_connections",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "inbound SMTP connections overall",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.inbound.max_connections = count(v, MAX_PERMITS)?;
            Ok(())
        },
        show: |s| Some(s.inbound.max_connections.to_string()),
        unset: "",
    },
    Setting {
        key: "smtp_max_connections_per_ip",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "inbound SMTP connections per client address",
        hint: WHOLE,
        apply: |l, v| {
            l.settings.inbound.max_per_ip = count(v, MAX_PERMITS)?;
            Ok(())
        },
        show: |s| Some(s.inbound.max_per_ip.to_string()),
        unset: "",
    },
    Setting {
        key: "smtp_max_message_bytes",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "inbound SMTP message size",
        hint: "bytes",
        apply: |l, v| {
            l.settings.inbound.max_message_bytes = number::<usize>(v)?.max(1024);
            Ok(())
        },
        show: |s| Some(mib(s.inbound.max_message_bytes)),
        unset: "",
    },
    Setting {
        key: "smtp_queue_bytes",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "inbound SMTP: bytes of accepted mail waiting to be processed",
        hint: "bytes",
        apply: |l, v| {
            l.settings.inbound.queue_bytes = number::<usize>(v)?.max(1024);
            Ok(())
        },
        show: |s| Some(mib(s.inbound.queue_bytes)),
        unset: "",
    },
    Setting {
        key: "smtp_timeout_seconds",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "inbound SMTP command and data timeout",
        hint: SECONDS,
        apply: |l, v| {
            let t = seconds(v)?;
            l.settings.inbound.command_timeout = t;
            l.settings.inbound.data_timeout = t;
            Ok(())
        },
        show: |s| Some(secs(s.inbound.command_timeout)),
        unset: "",
    },
    Setting {
        key: "smtp_tls_cert",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "inbound STARTTLS certificate chain (PEM; with `smtp_tls_key`)",
        hint: "a PEM file",
        apply: |l, v| {
            l.tls_cert = text(v);
            Ok(())
        },
        show: |_| None,
        unset: "none",
    },
    Setting {
        key: "smtp_tls_key",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "inbound STARTTLS private key (PEM; with `smtp_tls_cert`)",
        hint: "a PEM file",
        apply: |l, v| {
            l.tls_key = text(v);
            Ok(())
        },
        show: |_| None,
        unset: "none",
    },
    Setting {
        key: "ses_topic_arns",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: true,
        about: "the SNS topics whose SES notifications are accepted (comma-separated; a list in the file)",
        hint: "topic ARNs separated by commas",
        apply: |l, v| {
            l.settings.delivery.providers.ses_topic_arns = list(v);
            Ok(())
        },
        show: |_| None,
        unset: "off",
    },
    Setting {
        key: "sendgrid_verification_key",
        flag: Flag::None,
        secret: false,
        switch: false,
        list: false,
        about: "SendGrid's signed event webhook key (base64 DER)",
        hint: "the verification key SendGrid shows",
        apply: |l, v| {
            l.settings.delivery.providers.sendgrid_verification_key = text(v);
            Ok(())
        },
        show: |_| None,
        unset: "off",
    },
    Setting {
        key: "mailgun_signing_key",
        flag: Flag::None,
        secret: true,
        switch: false,
        list: false,
        about: "Mailgun's webhook signing key",
        hint: "the signing key Mailgun shows",
        apply: |l, v| {
            l.settings.delivery.providers.mailgun_signing_key = text(v);
            Ok(())
        },
        show: |_| None,
        unset: "off",
    },
    Setting {
        key: "postmark_webhook_token",
        flag: Flag::None,
        secret: true,
        switch: false,
        list: false,
        about: "the secret in Postmark's webhook URL (`?token=`, at least 16 characters)",
        hint: "a random value of at least 16 characters",
        apply: |l, v| {
            let token = v.trim();
            if !token.is_empty() && token.len() < 16 {
                return Err(Refused);
            }
            l.settings.delivery.providers.postmark_webhook_token =
                Some(token.to_owned()).filter(|t| !t.is_empty());
            Ok(())
        },
        show: |_| None,
        unset: "off",
    },
];

/// The README's table of settings, one row each, from [`SETTINGS`] and the
/// built-in defaults.
pub fn readme_table() -> String {
    let defaults = Settings::defaults();
    let mut out = String::from(
        "| setting | flag | environment | file key | default |\n| --- | --- | --- | --- | --- |\n",
    );
    for s in SETTINGS {
        let flag = s
            .flag_name()
            .map(|f| format!("`--{f}`"))
            .unwrap_or_default();
        let default = s.default_text(&defaults);
        out.push_str(&format!(
            "| {} | {flag} | `{}` | `{}` | {default} |\n",
            s.about,
            s.env(),
            s.key
        ));
    }
    out
}
