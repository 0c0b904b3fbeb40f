//! The sendwell server: configuration, start-up, and the HTTP API.
//!
//! [`App::prepare`] turns [`config::Settings`] into a running database and
//! secrets; [`App::router`] is the whole HTTP surface; [`App::serve`] runs it
//! on a listener. Tests spawn it on port 0 with a fresh database each.

pub mod accounts;
pub mod address;
pub mod admission;
pub mod api;
pub mod config;
pub mod console;
pub mod delivery;
pub mod dkim_keys;
pub mod dns;
pub mod domain_report;
mod error;
mod extract;
pub mod feedback;
pub mod http;
pub mod import;
pub mod inbound;
pub mod journal;
pub mod metrics;
pub mod netguard;
pub mod openapi;
pub mod preflight;
pub mod reputation;
pub mod schedule;
pub mod smtp;
mod state;
pub mod totp;
pub mod transport;
pub mod warmup;
pub mod webhooks;

pub use error::ApiError;
pub use state::AppState;

use config::{SecretSource, Settings};
use sendwell_core::secret::SecretKey;
use sendwell_core::{Clock, SystemClock};
use sendwell_screen::dns::{CachingResolver, MailDomainResolver};
use sendwell_store::Store;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Store(#[from] sendwell_store::StoreError),
    #[error("cannot prepare the key store: {0}")]
    Keys(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A prepared server: database migrated, secrets loaded.
pub struct App {
    pub state: AppState,
    pub settings: Settings,
    /// Where the operator token came from, to tell the person starting the server.
    pub operator_token_source: SecretSource,
    pub database_description: String,
}

impl App {
    pub async fn prepare(settings: Settings) -> Result<Self, StartError> {
        Self::prepare_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn prepare_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartError> {
        let resolver: Arc<dyn MailDomainResolver> = match settings.dns {
            true => match dns::SystemResolver::new() {
                Some(r) => Arc::new(r),
                None => Arc::new(dns::NoResolver),
            },
            false => Arc::new(dns::NoResolver),
        };
        Self::prepare_with(settings, clock, resolver).await
    }

    /// Start-up with the clock and DNS given (tests pass their own).
    pub async fn prepare_with(
        settings: Settings,
        clock: Arc<dyn Clock>,
        resolver: Arc<dyn MailDomainResolver>,
    ) -> Result<Self, StartError> {
        install_crypto_provider();
        let data_dir = settings.data_dir.clone();
        ensure_dir(&data_dir)?;
        let (operator_token, operator_token_source) =
            config::operator_token(&settings).map_err(|e| dir_error(&data_dir, e))?;
        let secret = config::secret_key(&settings).map_err(|e| dir_error(&data_dir, e))?;
        let url = settings.effective_database_url();
        let store = Store::open(&url, clock.clone())
            .await?
            .with_max_attributes(settings.max_attributes)
            .with_audience_sample(settings.audience_sample);
        restrict_files(&data_dir);
        store
            .check_secret_fingerprint(&SecretKey::fingerprint(&secret))
            .await?;
        let database_description = match store.backend() {
            sendwell_store::Backend::Sqlite => format!("SQLite ({url})"),
            sendwell_store::Backend::Postgres => {
                format!("PostgreSQL ({})", sendwell_store::redact(&url))
            }
        };
        let screening = state::Screening {
            resolver: CachingResolver::new(resolver, clock),
            thresholds: settings.import_thresholds,
        };
        let state = AppState::new(
            store,
            &operator_token,
            secret,
            settings.max_body_bytes,
            screening,
            state::Sending {
                public_url: settings.public_url.clone(),
                opt_in_request_interval_days: settings.opt_in_request_interval_days,
                delivery: settings.delivery.clone(),
                journal_dir: data_dir.clone(),
                trusted_proxies: settings.trusted_proxies.clone(),
            },
        )
        .map_err(|e| StartError::Keys(e.to_string()))?;
        Ok(Self {
            state,
            settings,
            operator_token_source,
            database_description,
        })
    }

    pub fn router(&self) -> axum::Router {
        api::router(self.state.clone())
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        if let Ok(addr) = listener.local_addr() {
            self.state.set_public_url_if_unset(format!("http://{addr}"));
        }
        let router = self.router();
        // Held until serving ends: dropping it stops the listener.
        let _inbound = match self.settings.smtp_listen {
            Some(addr) => match inbound::start(
                self.state.clone(),
                addr,
                self.settings.inbound.clone(),
                self.settings.inbound_tls.clone(),
            )
            .await
            {
                Ok(sink) => {
                    self.state.set_inbound_addr(sink.addr());
                    tracing::info!(%addr, bounce_domain = %self.state.bounce_domain(), "inbound SMTP listener for bounces and complaints");
                    Some(sink)
                }
                Err(e) => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("cannot start the inbound SMTP listener on {addr}: {e} (set --smtp-listen to another address, or off)"),
                    ))
                }
            },
            None => None,
        };
        let stop = tokio_util::sync::CancellationToken::new();
        let journal_task = tokio::spawn(replay_journal(self.state.clone(), stop.clone()));
        let sweep_task = tokio::spawn(console::session::sweep(self.state.clone(), stop.clone()));
        let worker_task = self.settings.delivery.serve_worker.then(|| {
            let worker = delivery::DeliveryWorker::new(self.state.clone());
            tokio::spawn(worker.run(stop.clone(), self.settings.worker_idle_ms))
        });
        let webhook_task = self
            .settings
            .delivery
            .serve_worker
            .then(|| tokio::spawn(webhooks::run(self.state.clone(), stop.clone())));
        let served = http::serve(listener, router, self.settings.http, shutdown).await;
        stop.cancel();
        let _ = journal_task.await;
        let _ = sweep_task.await;
        if let Some(task) = worker_task {
            let _ = task.await;
        }
        if let Some(task) = webhook_task {
            let _ = task.await;
        }
        served
    }

    /// Runs only the delivery worker until `shutdown` resolves.
    pub async fn work(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
        let worker = delivery::DeliveryWorker::new(self.state.clone());
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(worker.run(stop.clone(), self.settings.worker_idle_ms));
        let hooks = tokio::spawn(webhooks::run(self.state.clone(), stop.clone()));
        shutdown.await;
        stop.cancel();
        let _ = task.await;
        let _ = hooks.await;
    }

    pub async fn bind(&self) -> Result<tokio::net::TcpListener, StartError> {
        let addr = self.settings.listen;
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Listen { addr, source })
    }
}

/// Applies journaled unsubscribes (see [`journal`]) every few seconds until
/// cancelled, and once more on the way out.
pub async fn replay_journal(state: AppState, stop: tokio_util::sync::CancellationToken) {
    loop {
        replay_journal_once(&state).await;
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
        }
    }
    replay_journal_once(&state).await;
}

/// One pass over the unsubscribe journal: every entry applied, the ones
/// that failed kept for the next pass.
pub async fn replay_journal_once(state: &AppState) -> usize {
    let journal = state.journal();
    if journal.is_empty() {
        return 0;
    }
    let taken = {
        let journal = journal.clone();
        tokio::task::spawn_blocking(move || journal.take()).await
    };
    let entries = match taken {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "unsubscribe journal: cannot be read");
            return 0;
        }
        Err(_) => return 0,
    };
    let mut failed = Vec::new();
    let mut applied = 0;
    for entry in entries {
        match api::links::replay_unsubscribe(state, &entry).await {
            Ok(()) => applied += 1,
            Err(e) => {
                tracing::warn!(error = %e, "unsubscribe journal: an entry did not apply yet");
                failed.push(entry);
            }
        }
    }
    if let Err(e) = tokio::task::spawn_blocking(move || journal.give_back(&failed)).await {
        tracing::error!(error = %e, "unsubscribe journal: failed entries could not be kept");
    }
    applied
}

/// Makes aws-lc-rs the process's TLS crypto provider (for HTTP clients
/// that do not bring their own configuration). Doing it twice is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Makes the data directory (0700: it holds the database, the secret key
/// and the operator token, for this user alone).
fn ensure_dir(path: &Path) -> Result<(), StartError> {
    std::fs::create_dir_all(path).map_err(|e| dir_error(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| dir_error(path, e))?;
    }
    Ok(())
}

/// The files in the data directory are this user's alone (0600): SQLite
/// makes its database, WAL and shared-memory files with the umask's mode.
fn restrict_files(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                if let Err(e) =
                    std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))
                {
                    tracing::warn!(path = %entry.path().display(), error = %e, "cannot make the file private");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn dir_error(path: &Path, source: std::io::Error) -> StartError {
    StartError::DataDir {
        path: path.to_owned(),
        source,
    }
}
