//! The HTTP server loop: axum's router behind hyper's HTTP/1 connection,
//! with the limits a public server needs and `axum::serve` does not have.
//!
//! - A client must send a request's headers within the header timeout,
//!   and an idle keep-alive connection is closed after it too (hyper's
//!   header read timer runs while waiting for the next request), so slow
//!   or silent connections cannot pile up.
//! - At most `max_connections` connections are open at once, and at most
//!   `max_per_ip` from one client address; a connection over either cap is
//!   closed at once, before anything is read.
//! - On shutdown, no new connection is accepted, and open ones finish the
//!   request in hand (up to 30 s).

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// What one HTTP server allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Time to send a request's headers, and to start the next request on
    /// a kept-alive connection.
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub max_per_ip: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_per_ip: 128,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let admission = crate::admission::Admission::new(limits.max_connections, limits.max_per_ip);
    let stop = CancellationToken::new();
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it
                    // was taken: wait a moment rather than spin.
                    tracing::warn!(error = %e, "http: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(ticket) = admission.admit(peer.ip()) else {
            tracing::debug!(%peer, "http: a connection cap is reached; closed");
            continue;
        };
        let router = router.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            let _ticket = ticket;
            serve_connection(stream, peer, router, limits.header_timeout, stop).await;
        });
    }
    stop.cancel();
    drain(connections).await;
    Ok(())
}

/// Serves one connection's requests until it ends, or until `stop`, when
/// the request in hand is finished first.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    router: Router,
    header_timeout: Duration,
    stop: CancellationToken,
) {
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "http: connection ended");
            }
        }
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Waits up to 30 s for the open connections to finish; the ones still
/// open then are aborted when the set is dropped.
async fn drain(mut connections: tokio::task::JoinSet<()>) {
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("http: connections still open 30 s after shutdown; closing them");
    }
}
