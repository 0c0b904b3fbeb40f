//! The SMTP server that faces the internet: the inbound listener for
//! bounces and complaints runs on it. Anyone can connect, so every input
//! has a limit (RFC 5321 §4.5.3 for sizes and timeouts):
//!
//! - each command must arrive within the command timeout (the RFC's
//!   server timeout, 5 minutes), each line of a message within the data
//!   timeout (3 minutes), and a whole session ends after the session limit;
//! - at most `max_connections` sessions at once and `max_per_ip` from one
//!   client address; a connection over a cap gets 421 and is closed;
//! - a message may have at most `max_message_bytes` (a bounce is small;
//!   10 MB by default) and `max_recipients` recipients;
//! - accepted messages wait for processing in a queue bounded in bytes:
//!   when it is full, the server answers 451 and the sender tries later;
//! - with a certificate, STARTTLS (RFC 3207), discarding whatever the
//!   client sent after the command in the clear.
//!
//! Which recipients are taken is the caller's [`Recipients`] decision;
//! accepted messages come out of the channel [`InboundServer::start`]
//! returns, each holding its share of the queue until dropped.

use super::client::{read_line_limited, LineRead};
use super::wire::{check_mail_parameters, discard_line, path_argument, trim_ending, verb};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Longest command line, CRLF included (RFC 5321 §4.5.3.1.4: 512).
const MAX_COMMAND_LINE: usize = 1024;
/// Longest text line of a message, CRLF included (RFC 5321 §4.5.3.1.6:
/// 1000; some senders exceed it, so a little room).
const MAX_TEXT_LINE: usize = 8192;
/// Bad commands in a session before it is closed.
const MAX_ERRORS: u32 = 10;

/// What the inbound server allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundLimits {
    pub max_connections: usize,
    pub max_per_ip: usize,
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    /// Bytes of accepted messages waiting to be processed.
    pub queue_bytes: usize,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub session_timeout: Duration,
}

impl Default for InboundLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            max_per_ip: 16,
            max_message_bytes: 10 * 1024 * 1024,
            max_recipients: 100,
            queue_bytes: 64 * 1024 * 1024,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(180),
            session_timeout: Duration::from_secs(1800),
        }
    }
}

/// Decides whether a recipient is taken: `Err((code, text))` refuses it.
pub type Recipients = Arc<dyn Fn(&str) -> Result<(), (u16, String)> + Send + Sync>;

/// An accepted message; its share of the queue is given back when dropped.
pub struct Inbound {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
    pub peer: SocketAddr,
    _queued: OwnedSemaphorePermit,
}

/// A running server; it stops when dropped.
pub struct InboundServer {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for InboundServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

struct Config {
    name: String,
    limits: InboundLimits,
    recipients: Recipients,
    tls: Option<tokio_rustls::TlsAcceptor>,
    queue: Arc<Semaphore>,
    out: mpsc::UnboundedSender<Inbound>,
}

impl InboundServer {
    /// Listens on `addr` as `name` (the host name it greets with).
    pub async fn start(
        addr: SocketAddr,
        name: &str,
        limits: InboundLimits,
        recipients: Recipients,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> std::io::Result<(InboundServer, mpsc::UnboundedReceiver<Inbound>)> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (out, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(Semaphore::new(
            limits.queue_bytes.min(Semaphore::MAX_PERMITS),
        ));
        let config = Arc::new(Config {
            name: name.to_owned(),
            limits,
            recipients,
            tls: tls.map(tokio_rustls::TlsAcceptor::from),
            queue,
            out,
        });
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(listener, config, stop.clone()));
        Ok((InboundServer { addr, stop }, rx))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn accept_loop(listener: TcpListener, config: Arc<Config>, stop: CancellationToken) {
    let admission =
        crate::admission::Admission::new(config.limits.max_connections, config.limits.max_per_ip);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "inbound SMTP: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(ticket) = admission.admit(peer.ip()) else {
            // Said without waiting: a full send buffer just loses the words.
            let _ = stream.try_write(b"421 4.7.0 Too many connections, try again later\r\n");
            continue;
        };
        let config = config.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let _ticket = ticket;
            let session = Session::new(Box::new(stream), peer, &config);
            tokio::select! {
                _ = stop.cancelled() => {}
                result = session.run() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "inbound SMTP: session ended");
                    }
                }
            }
        });
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

struct Session<'a> {
    io: BufReader<Box<dyn Stream>>,
    peer: SocketAddr,
    config: &'a Config,
    started: Instant,
    line: Vec<u8>,
    greeted: bool,
    secure: bool,
    from: Option<String>,
    to: Vec<String>,
    errors: u32,
}

/// What reading a line came to.
enum Read {
    Line(String),
    TooLong,
    Closed,
    TimedOut,
}

/// A message read after DATA.
enum Message {
    Data(Vec<u8>),
    /// Larger than allowed; what came was dropped.
    TooBig,
    /// A line longer than [`MAX_TEXT_LINE`]; what came was dropped.
    LineTooLong,
}

/// Whether the session goes on.
enum Flow {
    Continue,
    Close,
}

impl<'a> Session<'a> {
    fn new(stream: Box<dyn Stream>, peer: SocketAddr, config: &'a Config) -> Self {
        Self {
            io: BufReader::with_capacity(16 * 1024, stream),
            peer,
            config,
            started: Instant::now(),
            line: Vec::with_capacity(256),
            greeted: false,
            secure: false,
            from: None,
            to: Vec::new(),
            errors: 0,
        }
    }

    async fn run(mut self) -> std::io::Result<()> {
        let name = self.config.name.clone();
        self.reply(220, &format!("{name} ESMTP")).await?;
        loop {
            let line = match self
                .read(MAX_COMMAND_LINE, self.config.limits.command_timeout)
                .await?
            {
                Read::Line(l) => l,
                Read::TooLong => {
                    if let Flow::Close = self.error(500, "5.5.2 Line too long").await? {
                        return self.close().await;
                    }
                    continue;
                }
                Read::Closed => return Ok(()),
                Read::TimedOut => {
                    self.reply(421, "4.4.2 Timeout waiting for a command, closing")
                        .await?;
                    return self.close().await;
                }
            };
            if let Flow::Close = self.command(&line).await? {
                return self.close().await;
            }
        }
    }

    /// Reads one line within `timeout` and what is left of the session's
    /// time.
    async fn read(&mut self, max: usize, timeout: Duration) -> std::io::Result<Read> {
        let left = self
            .config
            .limits
            .session_timeout
            .saturating_sub(self.started.elapsed());
        self.line.clear();
        let read = read_line_limited(&mut self.io, &mut self.line, max);
        match tokio::time::timeout(timeout.min(left), read).await {
            Err(_) => Ok(Read::TimedOut),
            Ok(Err(e)) => Err(e),
            Ok(Ok(LineRead::Eof)) => Ok(Read::Closed),
            Ok(Ok(LineRead::TooLong)) => {
                // The rest of the line within what the session has left
                // now, after the read.
                let left = self
                    .config
                    .limits
                    .session_timeout
                    .saturating_sub(self.started.elapsed());
                let discard = discard_line(&mut self.io);
                match tokio::time::timeout(timeout.min(left), discard).await {
                    Ok(r) => r.map(|()| Read::TooLong),
                    Err(_) => Ok(Read::TimedOut),
                }
            }
            Ok(Ok(LineRead::Line)) => Ok(Read::Line(
                String::from_utf8_lossy(trim_ending(&self.line)).into_owned(),
            )),
        }
    }

    async fn reply(&mut self, code: u16, text: &str) -> std::io::Result<()> {
        let line = format!("{code:03} {text}\r\n");
        let io = self.io.get_mut();
        io.write_all(line.as_bytes()).await?;
        io.flush().await
    }

    async fn error(&mut self, code: u16, text: &str) -> std::io::Result<Flow> {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            self.reply(421, "4.7.0 Too many errors, closing").await?;
            return Ok(Flow::Close);
        }
        self.reply(code, text).await?;
        Ok(Flow::Continue)
    }

    async fn ok(&mut self, code: u16, text: &str) -> std::io::Result<Flow> {
        self.errors = 0;
        self.reply(code, text).await?;
        Ok(Flow::Continue)
    }

    async fn close(&mut self) -> std::io::Result<()> {
        self.io.get_mut().shutdown().await
    }

    async fn command(&mut self, line: &str) -> std::io::Result<Flow> {
        let verb = verb(line).to_ascii_uppercase();
        let args = line.get(verb.len()..).unwrap_or("").trim();
        match verb.as_str() {
            "EHLO" | "HELO" => self.hello(&verb, args).await,
            "STARTTLS" => self.starttls(args).await,
            "MAIL" => self.mail(args).await,
            "RCPT" => self.rcpt(args).await,
            "DATA" => self.data(args).await,
            "RSET" => {
                self.from = None;
                self.to.clear();
                self.ok(250, "2.0.0 Reset").await
            }
            "NOOP" => self.ok(250, "2.0.0 Ok").await,
            "QUIT" => {
                self.reply(221, "2.0.0 Bye").await?;
                Ok(Flow::Close)
            }
            "VRFY" => self.ok(252, "2.5.0 Cannot verify, send the message").await,
            _ => self.error(502, "5.5.1 Command not implemented").await,
        }
    }

    async fn hello(&mut self, verb: &str, args: &str) -> std::io::Result<Flow> {
        if args.is_empty() || args.len() > 255 {
            return self.error(501, "5.5.4 A domain name is needed").await;
        }
        self.from = None;
        self.to.clear();
        self.greeted = true;
        self.errors = 0;
        let name = self.config.name.clone();
        if verb == "HELO" {
            return self.ok(250, &name).await;
        }
        let mut lines = vec![
            name,
            "8BITMIME".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
            format!("SIZE {}", self.config.limits.max_message_bytes),
        ];
        if self.config.tls.is_some() && !self.secure {
            lines.push("STARTTLS".to_owned());
        }
        let last = lines.len() - 1;
        let mut out = String::new();
        for (i, l) in lines.iter().enumerate() {
            out.push_str(&format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }));
        }
        let io = self.io.get_mut();
        io.write_all(out.as_bytes()).await?;
        io.flush().await?;
        Ok(Flow::Continue)
    }

    async fn starttls(&mut self, args: &str) -> std::io::Result<Flow> {
        let Some(acceptor) = self.config.tls.clone() else {
            return self.error(502, "5.5.1 STARTTLS not offered").await;
        };
        if self.secure {
            return self.error(503, "5.5.1 TLS already active").await;
        }
        if !args.is_empty() {
            return self.error(501, "5.5.4 STARTTLS takes no arguments").await;
        }
        self.reply(220, "2.0.0 Ready to start TLS").await?;
        // Whatever came after STARTTLS in the clear is dropped with the
        // buffer (RFC 3207 §4.2): it could be an injected command.
        let io = std::mem::replace(
            &mut self.io,
            BufReader::new(Box::new(empty::Empty) as Box<dyn Stream>),
        );
        let stream = io.into_inner();
        let handshake = acceptor.accept(stream);
        let tls = match tokio::time::timeout(self.config.limits.command_timeout, handshake).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.peer, error = %e, "inbound SMTP: TLS handshake failed");
                return Ok(Flow::Close);
            }
            Err(_) => return Ok(Flow::Close),
        };
        self.io = BufReader::with_capacity(16 * 1024, Box::new(tls));
        self.secure = true;
        self.greeted = false;
        self.from = None;
        self.to.clear();
        Ok(Flow::Continue)
    }

    async fn mail(&mut self, args: &str) -> std::io::Result<Flow> {
        if !self.greeted {
            return self.error(503, "5.5.1 EHLO first").await;
        }
        if self.from.is_some() {
            return self.error(503, "5.5.1 Nested MAIL").await;
        }
        let Some((from, params)) = path_argument(args, "FROM:") else {
            return self.error(501, "5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        if let Err((code, text)) =
            check_mail_parameters(params, self.config.limits.max_message_bytes)
        {
            return self.error(code, text).await;
        }
        self.from = Some(from.to_owned());
        self.ok(250, "2.1.0 Ok").await
    }

    async fn rcpt(&mut self, args: &str) -> std::io::Result<Flow> {
        if self.from.is_none() {
            return self.error(503, "5.5.1 MAIL first").await;
        }
        let Some((to, _)) = path_argument(args, "TO:") else {
            return self.error(501, "5.5.4 Syntax: RCPT TO:<address>").await;
        };
        if to.is_empty() || to.len() > 320 {
            return self.error(501, "5.1.3 Bad recipient address").await;
        }
        if self.to.len() >= self.config.limits.max_recipients {
            return self.ok(452, "4.5.3 Too many recipients").await;
        }
        match (self.config.recipients)(to) {
            Ok(()) => {
                self.to.push(to.to_owned());
                self.ok(250, "2.1.5 Ok").await
            }
            Err((code, text)) => self.error(code, &text).await,
        }
    }

    async fn data(&mut self, args: &str) -> std::io::Result<Flow> {
        if !args.is_empty() {
            return self.error(501, "5.5.4 DATA takes no arguments").await;
        }
        if self.from.is_none() {
            return self.error(503, "5.5.1 MAIL first").await;
        }
        if self.to.is_empty() {
            return self.error(554, "5.5.1 No valid recipients").await;
        }
        self.reply(354, "End data with <CR><LF>.<CR><LF>").await?;
        let max = self.config.limits.max_message_bytes;
        let Some(message) = self.read_message(max).await? else {
            return Ok(Flow::Close);
        };
        let from = self.from.take().unwrap_or_default();
        let to = std::mem::take(&mut self.to);
        match message {
            Message::TooBig => {
                self.ok(552, &format!("5.3.4 Message larger than {max} bytes"))
                    .await
            }
            Message::LineTooLong => {
                let text = format!(
                    "5.3.4 A line of the message is longer than {MAX_TEXT_LINE} bytes; \
                     RFC 5321 allows 1000"
                );
                self.ok(552, &text).await
            }
            Message::Data(data) => self.queue(from, to, data).await,
        }
    }

    /// Reads the message up to the `.` line, dot-stuffing undone, taking
    /// at most `max` bytes of it. `None` when the session ends first.
    async fn read_message(&mut self, max: usize) -> std::io::Result<Option<Message>> {
        let mut data = Vec::new();
        let mut too_big = false;
        let mut long_line = false;
        loop {
            match self
                .read(MAX_TEXT_LINE, self.config.limits.data_timeout)
                .await?
            {
                Read::Line(_) => {}
                Read::TooLong => {
                    long_line = true;
                    continue;
                }
                Read::Closed => return Ok(None),
                Read::TimedOut => {
                    self.reply(421, "4.4.2 Timeout reading the message, closing")
                        .await?;
                    return Ok(None);
                }
            }
            let content = trim_ending(&self.line);
            if content == b"." {
                break;
            }
            let content = content.strip_prefix(b".").unwrap_or(content);
            if too_big || long_line {
                continue;
            }
            if data.len() + content.len() + 2 > max {
                too_big = true;
                continue;
            }
            data.extend_from_slice(content);
            data.extend_from_slice(b"\r\n");
        }
        Ok(Some(if too_big {
            Message::TooBig
        } else if long_line {
            Message::LineTooLong
        } else {
            Message::Data(data)
        }))
    }

    /// Hands an accepted message on, when the queue has room for it.
    async fn queue(
        &mut self,
        from: String,
        to: Vec<String>,
        data: Vec<u8>,
    ) -> std::io::Result<Flow> {
        let bytes = u32::try_from(data.len().max(1)).unwrap_or(u32::MAX);
        let Ok(queued) = self.config.queue.clone().try_acquire_many_owned(bytes) else {
            return self.ok(451, "4.3.2 Too busy, try again later").await;
        };
        let message = Inbound {
            from,
            to,
            data,
            peer: self.peer,
            _queued: queued,
        };
        if self.config.out.send(message).is_err() {
            return self
                .ok(451, "4.3.0 Not accepting mail now, try again later")
                .await;
        }
        self.ok(250, "2.0.0 Ok: queued").await
    }
}

/// A stream that is always at its end: a placeholder while STARTTLS
/// takes the real one.
mod empty {
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    pub struct Empty;

    impl AsyncRead for Empty {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Empty {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
}

/// Loads a certificate chain and its private key (PEM files) for STARTTLS.
pub fn load_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
    Ok(Arc::new(config))
}
