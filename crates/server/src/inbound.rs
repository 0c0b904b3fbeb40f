//! The inbound SMTP listener for the bounce domain (`--smtp-listen`,
//! 127.0.0.1:2525 by default): DSNs, ARF complaint reports and
//! auto-replies come back here. It accepts only our own VERP addresses
//! (with a valid MAC) and the report mailboxes `abuse@`, `postmaster@` and
//! `fbl@` of the bounce domain, refuses every other recipient (never an
//! open relay), limits message size (the SMTP server's 20 MiB) and hands
//! each message to a processing task that parses it and applies it.

use crate::feedback::{apply_report, Applied};
use crate::smtp::sink::{Action, Script, SinkOptions, SmtpSink};
use crate::state::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Messages waiting to be processed before the listener answers "try later".
const QUEUE: usize = 1024;

struct Inbound {
    state: AppState,
    bounce_domain: String,
    tx: mpsc::Sender<(Vec<String>, Vec<u8>)>,
}

impl Script for Inbound {
    fn on_rcpt(&self, to: &str) -> Action {
        let Some((local, domain)) = to.rsplit_once('@') else {
            return Action::Reply(550, "5.1.3 not an address".to_owned());
        };
        if !domain.eq_ignore_ascii_case(&self.bounce_domain) {
            return Action::Reply(
                550,
                "5.7.1 relaying denied: this server takes mail for its bounce domain only"
                    .to_owned(),
            );
        }
        let local = local.to_ascii_lowercase();
        if matches!(local.as_str(), "abuse" | "postmaster" | "fbl") {
            return Action::Accept;
        }
        if self.state.verp().delivery_of(to).is_some() {
            Action::Accept
        } else {
            Action::Reply(550, "5.1.1 no such mailbox".to_owned())
        }
    }

    fn on_data_end(&self, _from: &str, to: &[String], data: &[u8]) -> Action {
        match self.tx.try_send((to.to_vec(), data.to_vec())) {
            Ok(()) => Action::Accept,
            Err(_) => Action::Reply(451, "4.3.2 too busy, try again later".to_owned()),
        }
    }
}

/// Starts the listener and its processing task; the listener stops when
/// the returned handle is dropped.
pub async fn start(state: AppState, addr: SocketAddr) -> std::io::Result<SmtpSink> {
    let (tx, mut rx) = mpsc::channel::<(Vec<String>, Vec<u8>)>(QUEUE);
    let script = Arc::new(Inbound {
        bounce_domain: state.bounce_domain(),
        state: state.clone(),
        tx,
    });
    let sink = SmtpSink::listen(
        addr,
        script,
        SinkOptions {
            auth: None,
            keep: false,
        },
    )
    .await?;
    tokio::spawn(async move {
        while let Some((rcpts, data)) = rx.recv().await {
            let report = sendwell_mail::bounce::parse(&data);
            match apply_report(&state, &report, &rcpts, "smtp").await {
                Ok(applied) => {
                    for a in applied {
                        if let Applied::Unmatched { recipient } = a {
                            tracing::info!(%recipient, "feedback for no delivery of ours");
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "could not record feedback"),
            }
        }
    });
    Ok(sink)
}
