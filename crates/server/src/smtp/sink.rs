//! An SMTP server inside the process, for tests and benchmarks: it takes
//! mail on a loopback address and keeps it (or only counts it), and a
//! [`Script`] decides what it answers at each stage, so that tests can
//! make it refuse, defer or hang up.
//!
//! It speaks enough ESMTP for the client: PIPELINING, 8BITMIME,
//! ENHANCEDSTATUSCODES, SIZE and, when asked, AUTH PLAIN and LOGIN. It has
//! no certificate, so no STARTTLS.

use super::client::{read_line_limited, LineRead};
use super::wire::{check_mail_parameters, discard_line, path_argument, trim_ending, verb};
use base64::Engine as _;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Largest message taken; larger ones get 552.
pub const MAX_MESSAGE_SIZE: usize = 20 * 1024 * 1024;
/// Longest command line, CRLF included (long enough for AUTH PLAIN).
const MAX_COMMAND_LINE: usize = 4096;
/// Recipients per transaction.
const MAX_RECIPIENTS: usize = 1000;
/// Bad commands in a row before the sink hangs up.
const MAX_ERRORS: u32 = 20;
/// The name the sink gives itself.
const NAME: &str = "sendwell-sink";

/// A message the sink took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The reverse path from MAIL FROM (empty for `<>`).
    pub from: String,
    /// The accepted recipients, in order.
    pub to: Vec<String>,
    /// The message as sent: without the final `.` line, dot-stuffing
    /// undone, lines ending in CRLF.
    pub data: Vec<u8>,
}

/// What the sink answers at a stage; the [`Script`] decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The normal positive answer.
    Accept,
    /// This code and the text after it, such as `(450, "4.2.0 try later")`.
    /// A 2yz counts as accepting; after 421 the sink hangs up.
    Reply(u16, String),
    /// Close the TCP connection without answering.
    Disconnect,
}

/// Decides the sink's answers; every method accepts by default.
pub trait Script: Send + Sync + 'static {
    /// A new connection; `n` counts connections from 1.
    fn on_connect(&self, _n: u64) -> Action {
        Action::Accept
    }

    /// A RCPT TO with this address.
    fn on_rcpt(&self, _to: &str) -> Action {
        Action::Accept
    }

    /// A whole message has come in (dot-stuffing undone, CRLF lines).
    fn on_data_end(&self, _from: &str, _to: &[String], _data: &[u8]) -> Action {
        Action::Accept
    }
}

/// A script that takes everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAll;

impl Script for AcceptAll {}

/// How the sink behaves apart from its script.
#[derive(Clone, Debug)]
pub struct SinkOptions {
    /// Require AUTH (PLAIN or LOGIN) with this user name and password
    /// before MAIL.
    pub auth: Option<(String, String)>,
    /// Keep every accepted message (tests) or only count them (benchmarks).
    pub keep: bool,
}

impl Default for SinkOptions {
    /// No AUTH; messages kept.
    fn default() -> Self {
        Self {
            auth: None,
            keep: true,
        }
    }
}

/// What the connection tasks share with the [`SmtpSink`] handle.
#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    accepted: AtomicU64,
    connections: AtomicU64,
    pipelined: AtomicU64,
}

/// A running sink. It stops accepting connections, and closes those it
/// has, on [`SmtpSink::shutdown`] or when dropped.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl SmtpSink {
    /// Starts a sink on 127.0.0.1 with a port the system picks.
    pub async fn start(script: Arc<dyn Script>, options: SinkOptions) -> std::io::Result<SmtpSink> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), script, options).await
    }

    /// Starts a sink on the given address, which must be a loopback one.
    pub async fn start_on(
        addr: SocketAddr,
        script: Arc<dyn Script>,
        options: SinkOptions,
    ) -> std::io::Result<SmtpSink> {
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the SMTP sink listens on loopback addresses only, not {addr}"),
            ));
        }
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let config = Arc::new(Config { script, options });
        tokio::spawn(accept_loop(listener, config, shared.clone(), stop.clone()));
        Ok(SmtpSink { addr, shared, stop })
    }

    /// The address the sink listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A copy of the messages kept so far (none when `keep` is off).
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// Messages accepted (a 2yz after the data).
    pub fn accepted_count(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections accepted.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Commands that came in together with the next one, before the sink
    /// answered: a sign that the client pipelines.
    pub fn pipelined_commands(&self) -> u64 {
        self.shared.pipelined.load(Ordering::Relaxed)
    }

    /// Stops accepting connections and closes the open ones.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Config {
    script: Arc<dyn Script>,
    options: SinkOptions,
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<Config>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    // Dropping the set at the end aborts the connections still open.
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let n = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
                    let config = config.clone();
                    let shared = shared.clone();
                    tasks.spawn(async move {
                        if let Err(e) = serve(stream, n, &config, &shared).await {
                            tracing::trace!(n, error = %e, "SMTP sink connection ended");
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little.
                    tracing::debug!(error = %e, "SMTP sink cannot accept");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
}

type Io = BufReader<BufWriter<TcpStream>>;

/// One connection's session.
struct Session<'a> {
    io: Io,
    config: &'a Config,
    shared: &'a Shared,
    line: Vec<u8>,
    greeted: bool,
    authenticated: bool,
    from: Option<String>,
    to: Vec<String>,
    data: Vec<u8>,
    errors: u32,
}

/// Whether the session goes on after a command.
enum Flow {
    Continue,
    Close,
}

async fn serve(stream: TcpStream, n: u64, config: &Config, shared: &Shared) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut s = Session {
        io: BufReader::with_capacity(64 * 1024, BufWriter::with_capacity(16 * 1024, stream)),
        config,
        shared,
        line: Vec::with_capacity(256),
        greeted: false,
        authenticated: false,
        from: None,
        to: Vec::new(),
        data: Vec::new(),
        errors: 0,
    };
    let in_service = match config.script.on_connect(n) {
        Action::Accept => {
            s.reply(220, &format!("{NAME} ESMTP ready")).await?;
            true
        }
        Action::Reply(code, text) => {
            s.reply(code, &text).await?;
            if code == 421 {
                return s.close().await;
            }
            (200..300).contains(&code)
        }
        Action::Disconnect => return Ok(()),
    };
    loop {
        let line = match s.next_line(MAX_COMMAND_LINE).await? {
            Some(Ok(line)) => line,
            Some(Err(TooLong)) => {
                if let Flow::Close = s.error(500, "5.5.2 Line too long").await? {
                    return s.close().await;
                }
                continue;
            }
            None => return Ok(()),
        };
        let flow = if in_service {
            s.command(&line).await?
        } else if verb(&line).eq_ignore_ascii_case("QUIT") {
            s.reply(221, &format!("2.0.0 {NAME} closing")).await?;
            Flow::Close
        } else {
            s.error(503, "5.5.1 No service here").await?
        };
        if let Flow::Close = flow {
            return s.close().await;
        }
    }
}

/// A line longer than allowed.
struct TooLong;

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

impl Session<'_> {
    /// Reads a line, flushing the answers first when no more input is
    /// buffered (so pipelined commands are answered in one write). `None`
    /// when the client hung up; the line comes without its ending.
    async fn next_line(&mut self, max: usize) -> std::io::Result<Option<Result<String, TooLong>>> {
        if self.io.buffer().is_empty() {
            self.io.flush().await?;
        }
        self.line.clear();
        match read_line_limited(&mut self.io, &mut self.line, max).await? {
            LineRead::Line => {
                let text = trim_ending(&self.line);
                Ok(Some(Ok(String::from_utf8_lossy(text).into_owned())))
            }
            LineRead::TooLong => {
                discard_line(&mut self.io).await?;
                Ok(Some(Err(TooLong)))
            }
            LineRead::Eof => Ok(None),
        }
    }

    async fn reply(&mut self, code: u16, text: &str) -> std::io::Result<()> {
        let text: String = text
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        let line = format!("{code:03} {text}\r\n");
        self.io.write_all(line.as_bytes()).await
    }

    /// Answers a bad command; hangs up after too many in a row.
    async fn error(&mut self, code: u16, text: &str) -> std::io::Result<Flow> {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            self.reply(421, &format!("4.7.0 {NAME} too many errors, closing"))
                .await?;
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

    /// Sends what is buffered and closes the connection.
    async fn close(&mut self) -> std::io::Result<()> {
        self.io.flush().await?;
        self.io.shutdown().await
    }

    /// Answers with a script's reply; a 421 closes the session.
    async fn scripted(&mut self, code: u16, text: &str) -> std::io::Result<Flow> {
        self.reply(code, text).await?;
        Ok(if code == 421 {
            Flow::Close
        } else {
            Flow::Continue
        })
    }

    /// Notes that the client sent this command together with the next one.
    fn note_pipelining(&self) {
        if !self.io.buffer().is_empty() {
            self.shared.pipelined.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.to.clear();
    }

    async fn command(&mut self, line: &str) -> std::io::Result<Flow> {
        let verb = verb(line).to_ascii_uppercase();
        let args = line.get(verb.len()..).unwrap_or("").trim();
        match verb.as_str() {
            "EHLO" | "HELO" => self.greet(&verb, args).await,
            "AUTH" => self.auth(args).await,
            "MAIL" => self.mail_from(args).await,
            "RCPT" => self.rcpt_to(args).await,
            "DATA" => {
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
                self.data_phase().await
            }
            "RSET" => {
                self.reset();
                self.ok(250, "2.0.0 Reset").await
            }
            "NOOP" => self.ok(250, "2.0.0 Ok").await,
            "QUIT" => {
                self.reply(221, &format!("2.0.0 {NAME} closing")).await?;
                Ok(Flow::Close)
            }
            "VRFY" | "EXPN" | "STARTTLS" | "HELP" | "TURN" | "ETRN" | "BDAT" => {
                self.error(502, "5.5.1 Not implemented").await
            }
            _ => self.error(500, "5.5.2 Command not recognized").await,
        }
    }

    /// EHLO (with the extensions offered) or HELO.
    async fn greet(&mut self, verb: &str, args: &str) -> std::io::Result<Flow> {
        if args.is_empty() {
            return self.error(501, "5.5.4 A domain name is needed").await;
        }
        self.reset();
        self.greeted = true;
        self.errors = 0;
        if verb == "HELO" {
            return self.ok(250, NAME).await;
        }
        let mut lines = vec![
            format!("{NAME} greets {args}"),
            "PIPELINING".to_owned(),
            "8BITMIME".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
            format!("SIZE {MAX_MESSAGE_SIZE}"),
        ];
        if self.config.options.auth.is_some() {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        let last = lines.len() - 1;
        let mut out = String::new();
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            out.push_str(&format!("250{sep}{l}\r\n"));
        }
        self.io.write_all(out.as_bytes()).await?;
        Ok(Flow::Continue)
    }

    async fn mail_from(&mut self, args: &str) -> std::io::Result<Flow> {
        self.note_pipelining();
        if !self.greeted {
            return self.error(503, "5.5.1 EHLO first").await;
        }
        if self.config.options.auth.is_some() && !self.authenticated {
            return self.error(530, "5.7.0 Authentication required").await;
        }
        if self.from.is_some() {
            return self.error(503, "5.5.1 Nested MAIL").await;
        }
        let Some((from, params)) = path_argument(args, "FROM:") else {
            return self.error(501, "5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        if let Err((code, text)) = check_mail_parameters(params, MAX_MESSAGE_SIZE) {
            return self.error(code, text).await;
        }
        self.from = Some(from.to_owned());
        self.ok(250, "2.1.0 Sender ok").await
    }

    async fn rcpt_to(&mut self, args: &str) -> std::io::Result<Flow> {
        self.note_pipelining();
        if self.from.is_none() {
            return self.error(503, "5.5.1 MAIL first").await;
        }
        let Some((to, _params)) = path_argument(args, "TO:") else {
            return self.error(501, "5.5.4 Syntax: RCPT TO:<address>").await;
        };
        if to.is_empty() {
            return self.error(501, "5.1.3 Empty recipient").await;
        }
        if self.to.len() >= MAX_RECIPIENTS {
            return self.ok(452, "4.5.3 Too many recipients").await;
        }
        let to = to.to_owned();
        match self.config.script.on_rcpt(&to) {
            Action::Accept => {
                self.to.push(to);
                self.ok(250, "2.1.5 Recipient ok").await
            }
            Action::Reply(code, text) => {
                if (200..300).contains(&code) {
                    self.to.push(to);
                }
                self.scripted(code, &text).await
            }
            Action::Disconnect => Ok(Flow::Close),
        }
    }

    /// Reads the message up to the `.` line and answers it.
    async fn data_phase(&mut self) -> std::io::Result<Flow> {
        self.data.clear();
        let mut too_big = false;
        loop {
            if self.io.buffer().is_empty() {
                self.io.flush().await?;
            }
            self.line.clear();
            // A line longer than the size limit makes the message too big;
            // the rest of it is dropped with the same call.
            match read_line_limited(&mut self.io, &mut self.line, MAX_MESSAGE_SIZE + 2).await? {
                LineRead::Line => {}
                LineRead::TooLong => {
                    too_big = true;
                    discard_line(&mut self.io).await?;
                    continue;
                }
                LineRead::Eof => return Ok(Flow::Close),
            }
            let content = trim_ending(&self.line);
            if content == b"." {
                break;
            }
            if too_big {
                continue;
            }
            let content = content.strip_prefix(b".").unwrap_or(content);
            if self.data.len() + content.len() + 2 > MAX_MESSAGE_SIZE {
                too_big = true;
                continue;
            }
            self.data.extend_from_slice(content);
            self.data.extend_from_slice(b"\r\n");
        }
        let from = self.from.take().unwrap_or_default();
        let to = std::mem::take(&mut self.to);
        if too_big {
            return self.ok(552, "5.3.4 Message too big").await;
        }
        let (code, text) = match self.config.script.on_data_end(&from, &to, &self.data) {
            Action::Accept => (250, "2.0.0 Ok: queued".to_owned()),
            Action::Reply(code, text) => (code, text),
            Action::Disconnect => return Ok(Flow::Close),
        };
        if (200..300).contains(&code) {
            if self.config.options.keep {
                let data = self.data.clone();
                lock(&self.shared.received).push(Received { from, to, data });
            }
            self.shared.accepted.fetch_add(1, Ordering::Relaxed);
        }
        self.errors = 0;
        self.scripted(code, &text).await
    }

    async fn auth(&mut self, args: &str) -> std::io::Result<Flow> {
        let Some((user, pass)) = self.config.options.auth.clone() else {
            return self.error(502, "5.5.1 AUTH not offered").await;
        };
        if !self.greeted {
            return self.error(503, "5.5.1 EHLO first").await;
        }
        if self.authenticated {
            return self.error(503, "5.5.1 Already authenticated").await;
        }
        if self.from.is_some() {
            return self
                .error(503, "5.5.1 AUTH not allowed in a transaction")
                .await;
        }
        let mut words = args.split_whitespace();
        let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
        let initial = words.next().map(str::to_owned);
        let given = match mechanism.as_str() {
            "PLAIN" => self.plain_credentials(initial).await?,
            "LOGIN" => self.login_credentials(initial).await?,
            _ => {
                return self
                    .error(504, "5.5.4 Unrecognized authentication type")
                    .await
            }
        };
        let given = match given {
            ControlFlow::Continue(given) => given,
            ControlFlow::Break(flow) => return Ok(flow),
        };
        if given.0 == user.as_bytes() && given.1 == pass.as_bytes() {
            self.authenticated = true;
            self.ok(235, "2.7.0 Authentication successful").await
        } else {
            self.error(535, "5.7.8 Authentication credentials invalid")
                .await
        }
    }

    /// The user name and password of an AUTH PLAIN exchange (RFC 4616),
    /// from the `initial` response or a challenge; breaks with the flow
    /// when the exchange ended without them (already answered).
    async fn plain_credentials(
        &mut self,
        initial: Option<String>,
    ) -> std::io::Result<ControlFlow<Flow, (Vec<u8>, Vec<u8>)>> {
        let token = match initial {
            Some(t) if t != "=" => t,
            Some(_) => String::new(),
            None => match self.challenge("").await? {
                Some(t) => t,
                None => return Ok(ControlFlow::Break(Flow::Continue)),
            },
        };
        let Some(decoded) = decode_base64(&token) else {
            return Ok(ControlFlow::Break(
                self.error(501, "5.5.2 Bad base64").await?,
            ));
        };
        let mut parts = decoded.split(|&b| b == 0);
        let (_authzid, user, pass) = (parts.next(), parts.next(), parts.next());
        match (user, pass, parts.next()) {
            (Some(u), Some(p), None) => Ok(ControlFlow::Continue((u.to_vec(), p.to_vec()))),
            _ => Ok(ControlFlow::Break(
                self.error(501, "5.5.2 Bad PLAIN response").await?,
            )),
        }
    }

    /// The user name and password of an AUTH LOGIN exchange, the user
    /// name perhaps as the `initial` response; breaks with the flow when
    /// the exchange ended without them (already answered).
    async fn login_credentials(
        &mut self,
        initial: Option<String>,
    ) -> std::io::Result<ControlFlow<Flow, (Vec<u8>, Vec<u8>)>> {
        let user_b64 = match initial {
            Some(t) => t,
            None => match self.challenge("VXNlcm5hbWU6").await? {
                Some(t) => t,
                None => return Ok(ControlFlow::Break(Flow::Continue)),
            },
        };
        let Some(user) = decode_base64(&user_b64) else {
            return Ok(ControlFlow::Break(
                self.error(501, "5.5.2 Bad base64").await?,
            ));
        };
        let Some(pass_b64) = self.challenge("UGFzc3dvcmQ6").await? else {
            return Ok(ControlFlow::Break(Flow::Continue));
        };
        let Some(pass) = decode_base64(&pass_b64) else {
            return Ok(ControlFlow::Break(
                self.error(501, "5.5.2 Bad base64").await?,
            ));
        };
        Ok(ControlFlow::Continue((user, pass)))
    }

    /// Sends a 334 challenge and reads the answer; `None` when the client
    /// cancelled with `*` or sent a too-long line (both already answered).
    async fn challenge(&mut self, prompt: &str) -> std::io::Result<Option<String>> {
        self.reply(334, prompt).await?;
        match self.next_line(MAX_COMMAND_LINE).await? {
            Some(Ok(line)) if line.trim() == "*" => {
                self.reply(501, "5.0.0 Authentication cancelled").await?;
                Ok(None)
            }
            Some(Ok(line)) => Ok(Some(line)),
            Some(Err(TooLong)) => {
                self.reply(500, "5.5.6 Authentication exchange line too long")
                    .await?;
                Ok(None)
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "client hung up during AUTH",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::client::read_reply;
    use tokio::io::AsyncWriteExt;

    /// A raw client: writes bytes, reads replies.
    struct Raw {
        io: BufReader<TcpStream>,
    }

    impl Raw {
        /// A connection whose greeting is still to be read.
        async fn connect(sink: &SmtpSink) -> Raw {
            let stream = TcpStream::connect(sink.addr()).await.expect("connect");
            Raw {
                io: BufReader::new(stream),
            }
        }

        /// A connection the sink greeted with 220.
        async fn open(sink: &SmtpSink) -> Raw {
            let mut raw = Raw::connect(sink).await;
            assert_eq!(raw.code().await, 220);
            raw
        }

        async fn send(&mut self, bytes: &[u8]) {
            self.io.get_mut().write_all(bytes).await.expect("write");
        }

        async fn code(&mut self) -> u16 {
            read_reply(&mut self.io).await.expect("reply").0.code
        }

        async fn says(&mut self, bytes: &[u8]) -> u16 {
            self.send(bytes).await;
            self.code().await
        }

        /// True when the sink closed the connection.
        async fn closed(&mut self) -> bool {
            let mut rest = Vec::new();
            matches!(
                tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::io::AsyncReadExt::read_to_end(&mut self.io, &mut rest)
                )
                .await,
                Ok(Ok(_))
            )
        }
    }

    async fn start(options: SinkOptions) -> SmtpSink {
        SmtpSink::start(Arc::new(AcceptAll), options)
            .await
            .expect("start the sink")
    }

    #[tokio::test]
    async fn answers_pipelined_commands_in_order() {
        let sink = start(SinkOptions::default()).await;
        let mut raw = Raw::open(&sink).await;
        raw.send(
            b"EHLO c.test\r\nMAIL FROM:<a@a.test> BODY=8BITMIME SIZE=10\r\n\
              RCPT TO:<b@b.test>\r\nRCPT TO:<c@b.test>\r\nDATA\r\n",
        )
        .await;
        let (ehlo, lines) = read_reply(&mut raw.io).await.expect("EHLO reply");
        assert_eq!(ehlo.code, 250);
        for keyword in [
            "PIPELINING",
            "8BITMIME",
            "ENHANCEDSTATUSCODES",
            "SIZE 20971520",
        ] {
            assert!(lines.iter().any(|l| l == keyword), "{keyword} in {lines:?}");
        }
        assert!(!lines.iter().any(|l| l.starts_with("AUTH")));
        for expected in [250, 250, 250, 354] {
            assert_eq!(raw.code().await, expected);
        }
        assert_eq!(raw.says(b"..dot\r\nx\n.\r\nNOOP\r\nRSET\r\n").await, 250);
        assert_eq!(raw.code().await, 250);
        assert_eq!(raw.code().await, 250);
        assert_eq!(raw.says(b"QUIT\r\n").await, 221);
        assert!(raw.closed().await);
        let got = sink.received();
        assert_eq!(
            got,
            [Received {
                from: "a@a.test".into(),
                to: vec!["b@b.test".into(), "c@b.test".into()],
                data: b".dot\r\nx\r\n".to_vec(),
            }]
        );
        assert!(sink.pipelined_commands() >= 3);
    }

    #[tokio::test]
    async fn refuses_commands_out_of_order_and_garbage() {
        let sink = start(SinkOptions::default()).await;
        let mut raw = Raw::open(&sink).await;
        assert_eq!(raw.says(b"MAIL FROM:<a@a.test>\r\n").await, 503);
        assert_eq!(raw.says(b"EHLO\r\n").await, 501);
        assert_eq!(raw.says(b"HELO c.test\r\n").await, 250);
        assert_eq!(raw.says(b"RCPT TO:<b@b.test>\r\n").await, 503);
        assert_eq!(raw.says(b"DATA\r\n").await, 503);
        assert_eq!(raw.says(b"\xff\xfe\x00garbage\r\n").await, 500);
        assert_eq!(raw.says(b"\r\n").await, 500);
        assert_eq!(raw.says(b"VRFY x\r\n").await, 502);
        assert_eq!(raw.says(b"AUTH PLAIN AGFAYg==\r\n").await, 502);
        assert_eq!(raw.says(b"MAIL FROM:a@a.test\r\n").await, 501);
        assert_eq!(raw.says(b"MAIL FROM:<a@a.test> FOO=1\r\n").await, 555);
        assert_eq!(
            raw.says(b"MAIL FROM:<a@a.test> SIZE=99999999\r\n").await,
            552
        );
        assert_eq!(raw.says(b"mail from: <a@a.test>\r\n").await, 250);
        assert_eq!(raw.says(b"MAIL FROM:<a@a.test>\r\n").await, 503);
        assert_eq!(raw.says(b"DATA\r\n").await, 554);
        assert_eq!(raw.says(b"RCPT TO:<>\r\n").await, 501);
        let mut long = vec![b'N'; MAX_COMMAND_LINE * 3];
        long.extend_from_slice(b"\r\n");
        assert_eq!(raw.says(&long).await, 500);
        // Still in step after the long line.
        assert_eq!(raw.says(b"NOOP\r\n").await, 250);
        assert_eq!(raw.says(b"RSET\r\n").await, 250);
        assert_eq!(raw.says(b"QUIT\r\n").await, 221);
        assert_eq!(sink.accepted_count(), 0);
    }

    #[tokio::test]
    async fn hangs_up_after_too_many_errors() {
        let sink = start(SinkOptions::default()).await;
        let mut raw = Raw::open(&sink).await;
        for _ in 1..MAX_ERRORS {
            assert_eq!(raw.says(b"BOGUS\r\n").await, 500);
        }
        assert_eq!(raw.says(b"BOGUS\r\n").await, 421);
        assert!(raw.closed().await);
    }

    #[tokio::test]
    async fn refuses_too_big_messages() {
        let sink = start(SinkOptions::default()).await;
        let mut raw = Raw::open(&sink).await;
        raw.send(b"EHLO c.test\r\n").await;
        let _ = read_reply(&mut raw.io).await.expect("EHLO");
        assert_eq!(raw.says(b"MAIL FROM:<a@a.test>\r\n").await, 250);
        assert_eq!(raw.says(b"RCPT TO:<b@b.test>\r\n").await, 250);
        assert_eq!(raw.says(b"DATA\r\n").await, 354);
        let line = [b'x'; 998];
        let mut chunk = Vec::new();
        for _ in 0..1024 {
            chunk.extend_from_slice(&line);
            chunk.extend_from_slice(b"\r\n");
        }
        for _ in 0..21 {
            raw.send(&chunk).await;
        }
        assert_eq!(raw.says(b".\r\n").await, 552);
        // The session goes on.
        assert_eq!(raw.says(b"MAIL FROM:<a@a.test>\r\n").await, 250);
        assert_eq!(sink.accepted_count(), 0);
    }

    #[tokio::test]
    async fn survives_abrupt_disconnects() {
        let sink = start(SinkOptions::default()).await;
        let mut raw = Raw::open(&sink).await;
        raw.send(
            b"HELO c.test\r\nMAIL FROM:<a@a.test>\r\nRCPT TO:<b@b.test>\r\nDATA\r\nhalf a mess",
        )
        .await;
        drop(raw);
        let mut raw = Raw::open(&sink).await;
        raw.send(b"EHLO c.te").await;
        drop(raw);
        let mut raw = Raw::open(&sink).await;
        assert_eq!(raw.says(b"HELO c.test\r\n").await, 250);
        assert_eq!(raw.says(b"QUIT\r\n").await, 221);
        assert_eq!(sink.connections(), 3);
        assert_eq!(sink.accepted_count(), 0);
    }

    #[tokio::test]
    async fn auth_is_required_and_checked() {
        let sink = start(SinkOptions {
            auth: Some(("ann".into(), "pw".into())),
            keep: true,
        })
        .await;
        let mut raw = Raw::open(&sink).await;
        raw.send(b"EHLO c.test\r\n").await;
        let (_, lines) = read_reply(&mut raw.io).await.expect("EHLO");
        assert!(lines.iter().any(|l| l == "AUTH PLAIN LOGIN"), "{lines:?}");
        assert_eq!(raw.says(b"MAIL FROM:<a@a.test>\r\n").await, 530);
        assert_eq!(raw.says(b"AUTH CRAM-MD5\r\n").await, 504);
        assert_eq!(raw.says(b"AUTH PLAIN !!!\r\n").await, 501);
        // "\0ann\0nope"
        assert_eq!(raw.says(b"AUTH PLAIN AGFubgBub3Bl\r\n").await, 535);
        assert_eq!(raw.says(b"AUTH LOGIN\r\n").await, 334);
        assert_eq!(raw.says(b"*\r\n").await, 501);
        // PLAIN with the response after an empty challenge: "\0ann\0pw".
        assert_eq!(raw.says(b"AUTH PLAIN\r\n").await, 334);
        assert_eq!(raw.says(b"AGFubgBwdw==\r\n").await, 235);
        assert_eq!(raw.says(b"AUTH PLAIN AGFubgBwdw==\r\n").await, 503);
        assert_eq!(raw.says(b"MAIL FROM:<a@a.test>\r\n").await, 250);
    }

    #[tokio::test]
    async fn scripted_greeting_and_shutdown() {
        struct Closed;
        impl Script for Closed {
            fn on_connect(&self, n: u64) -> Action {
                match n {
                    1 => Action::Reply(554, "5.3.2 not today".into()),
                    2 => Action::Reply(421, "4.3.2 busy".into()),
                    _ => Action::Disconnect,
                }
            }
        }
        let sink = SmtpSink::start(Arc::new(Closed), SinkOptions::default())
            .await
            .expect("start the sink");
        let mut raw = Raw::connect(&sink).await;
        assert_eq!(raw.code().await, 554);
        assert_eq!(raw.says(b"HELO c.test\r\n").await, 503);
        assert_eq!(raw.says(b"QUIT\r\n").await, 221);

        let mut raw = Raw::connect(&sink).await;
        assert_eq!(raw.code().await, 421);
        assert!(raw.closed().await);

        let mut raw = Raw::connect(&sink).await;
        assert!(raw.closed().await);

        let addr = sink.addr();
        sink.shutdown();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn listens_on_loopback_only() {
        let addr = SocketAddr::from(([0, 0, 0, 0], 0));
        let result = SmtpSink::start_on(addr, Arc::new(AcceptAll), SinkOptions::default()).await;
        assert!(result.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn counts_many_messages_without_keeping_them() {
        use crate::smtp::client::{ClientOptions, SmtpConnection, TlsMode};
        let sink = start(SinkOptions {
            auth: None,
            keep: false,
        })
        .await;
        let options = ClientOptions {
            tls: TlsMode::None,
            ..ClientOptions::default()
        };
        let body = "Subject: load\r\n\r\n".to_owned() + &"0123456789 ".repeat(200) + "\r\n";
        let mut tasks = Vec::new();
        for c in 0..4 {
            let addr = sink.addr();
            let options = options.clone();
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = SmtpConnection::connect("localhost", addr, &options)
                    .await
                    .expect("connect");
                for i in 0..250 {
                    let reply = conn
                        .send("a@a.test", &format!("r{c}-{i}@b.test"), body.as_bytes())
                        .await
                        .expect("send");
                    assert_eq!(reply.code, 250);
                }
                conn.quit().await;
            }));
        }
        for task in tasks {
            task.await.expect("sender task");
        }
        assert_eq!(sink.accepted_count(), 1000);
        assert_eq!(sink.connections(), 4);
        assert!(sink.received().is_empty());
    }
}
