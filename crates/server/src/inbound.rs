//! The inbound SMTP listener for the bounce domain (`--smtp-listen`,
//! 127.0.0.1:2525 by default): DSNs, ARF complaint reports and
//! auto-replies come back here. It accepts only our own VERP addresses
//! (with a valid MAC) and the report mailboxes `abuse@`, `postmaster@` and
//! `fbl@` of the bounce domain, refuses every other recipient (never an
//! open relay), and runs on the internet-facing [`InboundServer`] with its
//! timeouts, connection caps, message size limit and byte-bounded queue.
//! One task parses and applies the queued messages in turn.

use crate::feedback::{apply_report, Applied};
use crate::smtp::server::{Inbound, InboundLimits, InboundServer, Recipients};
use crate::state::AppState;
use std::net::SocketAddr;
use std::sync::Arc;

/// The local part of the List-Unsubscribe mailto address.
const UNSUBSCRIBE: &str = "unsubscribe";

/// The signed token of a mailto unsubscribe: the word after "unsubscribe"
/// in the Subject (as the mailto URL sets it), or else anywhere in the
/// first lines of the body, as some clients put it there.
fn unsubscribe_token(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&data[..data.len().min(64 * 1024)]);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut subject = String::new();
    let mut in_subject = false;
    for line in head.split("\r\n") {
        if in_subject && line.starts_with([' ', '\t']) {
            // Unfolding removes the line break and keeps the white space.
            subject.push_str(line);
            continue;
        }
        // `get`: a header name with a multi-byte character must not panic
        // the task that processes every inbound mail.
        match line.get(..8).zip(line.get(8..)) {
            Some((name, value)) if name.eq_ignore_ascii_case("subject:") => {
                in_subject = true;
                subject.push_str(value);
            }
            _ => in_subject = false,
        }
    }
    let token_of = |text: &str| {
        text.split(|c: char| c.is_whitespace() || c == '<' || c == '>')
            .find(|w| {
                w.len() > 20
                    && w.contains('.')
                    && w.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            })
            .map(str::to_owned)
    };
    token_of(&subject).or_else(|| token_of(&body.chars().take(4096).collect::<String>()))
}

/// The answer to a recipient of the bounce domain.
fn take_recipient(state: &AppState, bounce_domain: &str, to: &str) -> Result<(), (u16, String)> {
    let Some((local, domain)) = to.rsplit_once('@') else {
        return Err((550, "5.1.3 not an address".to_owned()));
    };
    if !domain.eq_ignore_ascii_case(bounce_domain) {
        return Err((
            550,
            "5.7.1 relaying denied: this server takes mail for its bounce domain only".to_owned(),
        ));
    }
    let local = local.to_ascii_lowercase();
    if matches!(local.as_str(), "abuse" | "postmaster" | "fbl" | UNSUBSCRIBE) {
        return Ok(());
    }
    if state.verp().delivery_of(to).is_some() {
        Ok(())
    } else {
        Err((550, "5.1.1 no such mailbox".to_owned()))
    }
}

/// Starts the listener and its processing task; the listener stops when
/// the returned handle is dropped.
pub async fn start(
    state: AppState,
    addr: SocketAddr,
    limits: InboundLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<InboundServer> {
    let bounce_domain = state.bounce_domain();
    let recipients: Recipients = {
        let state = state.clone();
        let bounce_domain = bounce_domain.clone();
        Arc::new(move |to: &str| take_recipient(&state, &bounce_domain, to))
    };
    let (server, mut rx) =
        InboundServer::start(addr, &bounce_domain, limits, recipients, tls).await?;
    tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            process(&state, message).await;
        }
    });
    Ok(server)
}

/// Acts on one accepted message: a mailto unsubscribe, or a bounce or
/// complaint report. Its share of the queue is given back at the end.
async fn process(state: &AppState, message: Inbound) {
    let to_unsubscribe = message.to.iter().any(|r| {
        r.rsplit_once('@')
            .is_some_and(|(l, _)| l.eq_ignore_ascii_case(UNSUBSCRIBE))
    });
    if to_unsubscribe {
        unsubscribe(state, &message).await;
        return;
    }
    let data = message.data.clone();
    // Parsing is CPU work on input from anyone: off the runtime.
    let report =
        match tokio::task::spawn_blocking(move || sendwell_mail::bounce::parse(&data)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "inbound SMTP: a message could not be parsed");
                return;
            }
        };
    match apply_report(state, &report, &message.to, "smtp").await {
        Ok(applied) => {
            let unmatched = applied
                .iter()
                .filter(|a| matches!(a, Applied::Unmatched { .. }))
                .count();
            if unmatched > 0 {
                tracing::info!(unmatched, "feedback for no delivery of ours");
            }
        }
        Err(e) => tracing::error!(error = %e, "could not record feedback"),
    }
    drop(message);
}

/// Records a mailto unsubscribe by the signed token the mail carries.
async fn unsubscribe(state: &AppState, message: &Inbound) {
    let Some(token) = unsubscribe_token(&message.data) else {
        tracing::info!("a mailto unsubscribe without a token");
        return;
    };
    let peer = message.peer.ip().to_string();
    match crate::api::links::unsubscribe_by_mail(state, &token, &peer).await {
        Ok(true) => {}
        Ok(false) => tracing::info!("a mailto unsubscribe with a token that does not check"),
        Err(e) => {
            tracing::error!(error = %e, "a mailto unsubscribe could not be recorded")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_the_subject_or_the_body() {
        let token = "dW5zdWJzY3JpYmU.abcdefghijklmnop";
        let mail = format!("From: a@b.example\r\nSubject: unsubscribe\r\n {token}\r\n\r\n");
        assert_eq!(unsubscribe_token(mail.as_bytes()).as_deref(), Some(token));
        let mail = format!("Subject: please\r\n\r\nunsubscribe {token}\r\n");
        assert_eq!(unsubscribe_token(mail.as_bytes()).as_deref(), Some(token));
        assert_eq!(
            unsubscribe_token(b"Subject: hello\r\n\r\nno token here\r\n"),
            None
        );
    }

    /// Found reading the change again: a header name with a multi-byte
    /// character where "Subject:" would end panicked the task that
    /// processes every inbound mail.
    #[test]
    fn regression_a_multi_byte_header_name_does_not_panic() {
        assert_eq!(
            unsubscribe_token("Subjeé: x\r\nSubjéct: y\r\n\r\n".as_bytes()),
            None
        );
    }
}
