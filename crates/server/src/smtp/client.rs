//! An async SMTP client (RFC 5321) built for throughput: one connection
//! carries many transactions, commands are pipelined when the server allows
//! it (RFC 2920), and the message is written through a buffer in large
//! chunks.
//!
//! [`SmtpConnection::connect`] does everything up to the first transaction:
//! greeting, EHLO (HELO as a fallback), STARTTLS or implicit TLS, and AUTH.
//! [`SmtpConnection::send`] then runs one transaction and tells apart the
//! server's answer about the message (an `Ok(Reply)`, positive or not) from
//! a broken connection (an `Err`).

use base64::Engine as _;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter,
    ReadBuf,
};
use tokio::net::TcpStream;

/// A reply, all its lines together, may not be longer than this.
const MAX_REPLY: usize = 64 * 1024;
/// Read buffer of a connection.
const READ_BUFFER: usize = 8 * 1024;
/// Write buffer of a connection; also the size of the pieces the message
/// is written in.
const WRITE_BUFFER: usize = 64 * 1024;

/// How a connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP; no TLS at all.
    None,
    /// Plain TCP upgraded with STARTTLS (RFC 3207). When `required` is
    /// false the upgrade is opportunistic: a server that does not offer
    /// STARTTLS, or refuses it, is talked to in plain text.
    StartTls {
        /// Fail the connection when TLS cannot be had.
        required: bool,
    },
    /// TLS from the first byte (submissions on port 465, RFC 8314).
    Implicit,
}

/// How the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertCheck {
    /// Verify the chain against the Web PKI roots and the host name.
    WebPki,
    /// Accept any certificate: opportunistic encryption towards MX hosts
    /// (RFC 7435), which protects against passive listeners only. The
    /// handshake signatures are still checked.
    AcceptAny,
}

/// A user name and password for SMTP AUTH.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password; never printed by `Debug`.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Everything [`SmtpConnection::connect`] needs besides the address.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The name this client gives in EHLO/HELO.
    pub helo_name: String,
    /// Plain, STARTTLS or implicit TLS.
    pub tls: TlsMode,
    /// How the certificate is checked when TLS is used.
    pub cert_check: CertCheck,
    /// Log in with these after the connection is set up.
    pub credentials: Option<Credentials>,
    /// Limit for the TCP connect and the TLS handshake.
    pub connect_timeout: Duration,
    /// Limit for each command's reply (and for writing the command).
    pub command_timeout: Duration,
    /// Limit for writing the message and reading the reply after it.
    pub data_timeout: Duration,
}

impl Default for ClientOptions {
    /// `localhost`, opportunistic STARTTLS with Web PKI checks, no
    /// credentials; 30 s to connect, 2 min per command, 10 min for the data.
    fn default() -> Self {
        Self {
            helo_name: "localhost".to_owned(),
            tls: TlsMode::StartTls { required: false },
            cert_check: CertCheck::WebPki,
            credentials: None,
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(120),
            data_timeout: Duration::from_secs(600),
        }
    }
}

/// One server reply, possibly made of several lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// The enhanced status code (RFC 3463) such as `5.1.1`, when given.
    pub enhanced: Option<String>,
    /// The text of all lines joined with a space, without the codes.
    pub text: String,
}

impl Reply {
    /// A 2yz reply: the command succeeded.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// A 4yz reply: failed for now, may succeed when tried again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// A 5yz reply: failed for good.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The reply as one line, such as `550 5.1.1 no such user`.
    pub fn to_line(&self) -> String {
        let mut line = self.code.to_string();
        if let Some(enhanced) = &self.enhanced {
            line.push(' ');
            line.push_str(enhanced);
        }
        if !self.text.is_empty() {
            line.push(' ');
            line.push_str(&self.text);
        }
        line
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_line())
    }
}

/// Why a connection or a transaction could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// The TCP connection could not be made.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The server did not answer in time at this stage.
    #[error("timed out at {0}")]
    Timeout(&'static str),
    /// Reading or writing failed, or the server closed the connection.
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
    /// TLS could not be set up, or was needed and not available.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server said something that is not SMTP, or the request itself
    /// cannot be sent (an address that would inject commands).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A negative reply at connection level (greeting, EHLO, STARTTLS, AUTH).
    #[error("{stage} refused: {reply}")]
    Reply {
        /// The stage that failed.
        stage: &'static str,
        /// What the server answered.
        reply: Reply,
    },
}

/// The transport under the buffers: plain TCP or TLS over TCP.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type Io = BufReader<BufWriter<Stream>>;

fn buffered(stream: Stream) -> Io {
    BufReader::with_capacity(READ_BUFFER, BufWriter::with_capacity(WRITE_BUFFER, stream))
}

/// What the server advertised in its EHLO reply, as far as this client uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Extensions {
    pub(crate) pipelining: bool,
    pub(crate) starttls: bool,
    pub(crate) eight_bit_mime: bool,
    pub(crate) enhanced_status_codes: bool,
    /// `Some(0)` when SIZE is offered without a limit.
    pub(crate) size: Option<u64>,
    pub(crate) auth_plain: bool,
    pub(crate) auth_login: bool,
    /// RFC 6531: the server takes addresses with UTF-8 local parts.
    pub(crate) smtputf8: bool,
}

impl Extensions {
    /// Reads the extension lines of an EHLO reply: every line after the first.
    pub(crate) fn parse<S: AsRef<str>>(lines: &[S]) -> Self {
        let mut ext = Extensions::default();
        for line in lines.iter().skip(1) {
            let mut words = line.as_ref().split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => ext.pipelining = true,
                "STARTTLS" => ext.starttls = true,
                "8BITMIME" => ext.eight_bit_mime = true,
                "ENHANCEDSTATUSCODES" => ext.enhanced_status_codes = true,
                "SMTPUTF8" => ext.smtputf8 = true,
                "SIZE" => {
                    ext.size = Some(words.next().and_then(|w| w.parse().ok()).unwrap_or(0));
                }
                _ => {
                    // "AUTH PLAIN LOGIN", or the old "AUTH=PLAIN LOGIN".
                    if let Some(rest) = keyword.strip_prefix("AUTH") {
                        let first = match rest.strip_prefix('=') {
                            Some(m) => Some(m.to_owned()),
                            None if rest.is_empty() => None,
                            None => continue,
                        };
                        for mech in first
                            .into_iter()
                            .chain(words.map(|w| w.to_ascii_uppercase()))
                        {
                            match mech.as_str() {
                                "PLAIN" => ext.auth_plain = true,
                                "LOGIN" => ext.auth_login = true,
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
        ext
    }
}

/// Result of reading one line with a length limit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LineRead {
    /// A whole line, ending in `\n`, was appended.
    Line,
    /// The line is longer than allowed; what was read of it is consumed
    /// and dropped, the rest of it (at least its LF) is still to be read.
    TooLong,
    /// The peer closed the connection before a whole line came.
    Eof,
}

/// Appends one line (with its `\n`) to `out`, reading at most `max` bytes.
pub(crate) async fn read_line_limited<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    let start = out.len();
    loop {
        let (done, used) = {
            let buf = reader.fill_buf().await?;
            if buf.is_empty() {
                out.truncate(start);
                return Ok(LineRead::Eof);
            }
            let (done, take) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (true, i + 1),
                None => (false, buf.len()),
            };
            if out.len() - start + take > max {
                // Leave the LF (if it came) for whoever drops the rest.
                out.truncate(start);
                reader.consume(if done { take - 1 } else { take });
                return Ok(LineRead::TooLong);
            }
            out.extend_from_slice(&buf[..take]);
            (done, take)
        };
        reader.consume(used);
        if done {
            return Ok(LineRead::Line);
        }
    }
}

/// Builds a [`Reply`] from its lines.
#[derive(Default)]
pub(crate) struct ReplyParser {
    code: Option<u16>,
    enhanced: Option<String>,
    lines: Vec<String>,
}

impl ReplyParser {
    /// Adds one line (with or without its line ending). Returns true when
    /// it was the last line of the reply.
    pub(crate) fn push(&mut self, raw: &[u8]) -> Result<bool, SmtpError> {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let garbage = || SmtpError::Protocol(format!("not an SMTP reply: {:?}", snippet(raw)));
        if raw.len() < 3 || !raw[..3].iter().all(u8::is_ascii_digit) {
            return Err(garbage());
        }
        let code = u16::from(raw[0] - b'0') * 100
            + u16::from(raw[1] - b'0') * 10
            + u16::from(raw[2] - b'0');
        if !(200..600).contains(&code) {
            return Err(garbage());
        }
        let (last, rest) = match raw.get(3) {
            None => (true, &raw[3..]),
            Some(b' ') => (true, &raw[4..]),
            Some(b'-') => (false, &raw[4..]),
            Some(_) => return Err(garbage()),
        };
        match self.code {
            Some(first) if first != code => {
                return Err(SmtpError::Protocol(format!(
                    "reply lines with different codes: {first} and {code}"
                )))
            }
            _ => self.code = Some(code),
        }
        let text = String::from_utf8_lossy(rest);
        let text = text.trim();
        let text = match enhanced_prefix(code, text) {
            Some((enhanced, after)) => {
                if self.enhanced.is_none() && self.lines.is_empty() {
                    self.enhanced = Some(enhanced.to_owned());
                }
                after
            }
            None => text,
        };
        self.lines.push(text.to_owned());
        Ok(last)
    }

    /// The reply, and each line's text for the EHLO keywords.
    pub(crate) fn finish(self) -> (Reply, Vec<String>) {
        let text = self
            .lines
            .iter()
            .filter(|l| !l.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let reply = Reply {
            code: self.code.unwrap_or(0),
            enhanced: self.enhanced,
            text,
        };
        (reply, self.lines)
    }
}

/// An enhanced status code at the start of `text` whose class matches the
/// reply code's first digit; returns it and the text after it.
fn enhanced_prefix(code: u16, text: &str) -> Option<(&str, &str)> {
    let end = text.find(' ').unwrap_or(text.len());
    let candidate = &text[..end];
    let mut parts = candidate.split('.');
    let class = parts.next()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    let class_matches = class.len() == 1 && class.as_bytes()[0] == b'0' + (code / 100) as u8;
    if class_matches && digits(subject, 3) && digits(detail, 3) {
        Some((candidate, text[end..].trim_start()))
    } else {
        None
    }
}

/// The start of a line for error messages.
fn snippet(raw: &[u8]) -> String {
    let end = raw.len().min(80);
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// Reads one whole reply: all its lines, at most [`MAX_REPLY`] bytes.
pub(crate) async fn read_reply<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> Result<(Reply, Vec<String>), SmtpError> {
    let mut parser = ReplyParser::default();
    let mut line = Vec::with_capacity(128);
    let mut total = 0usize;
    loop {
        line.clear();
        match read_line_limited(reader, &mut line, MAX_REPLY - total).await? {
            LineRead::Line => {}
            LineRead::TooLong => {
                return Err(SmtpError::Protocol(format!(
                    "reply longer than {MAX_REPLY} bytes"
                )))
            }
            LineRead::Eof => {
                return Err(SmtpError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )))
            }
        }
        total += line.len();
        if parser.push(&line)? {
            return Ok(parser.finish());
        }
    }
}

/// Whether credentials may be sent: always over TLS, and in plain text
/// only to a loopback address (where nobody can listen in).
pub(crate) fn may_send_credentials(is_tls: bool, addr: &SocketAddr) -> bool {
    if is_tls {
        return true;
    }
    match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Refuses an address that could break out of its command.
fn check_address(address: &str) -> Result<(), SmtpError> {
    if let Some(bad) = address
        .chars()
        .find(|&c| c == '<' || c == '>' || c.is_ascii_control())
    {
        return Err(SmtpError::Protocol(format!(
            "refusing address with {bad:?} in it"
        )));
    }
    Ok(())
}

/// Runs `f` with a time limit; on timeout the error names `stage`.
async fn timed<T>(
    limit: Duration,
    stage: &'static str,
    f: impl Future<Output = Result<T, SmtpError>>,
) -> Result<T, SmtpError> {
    match tokio::time::timeout(limit, f).await {
        Ok(result) => result,
        Err(_) => Err(SmtpError::Timeout(stage)),
    }
}

/// The shared TLS client settings for each kind of certificate check.
fn tls_config(check: CertCheck) -> Result<Arc<rustls::ClientConfig>, SmtpError> {
    static WEBPKI: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    static ANY: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let cell = match check {
        CertCheck::WebPki => &WEBPKI,
        CertCheck::AcceptAny => &ANY,
    };
    cell.get_or_init(|| build_tls_config(check).map(Arc::new))
        .clone()
        .map_err(SmtpError::Tls)
}

pub(crate) fn build_tls_config(check: CertCheck) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = match check {
        CertCheck::WebPki => {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        CertCheck::AcceptAny => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// Accepts every certificate but still checks that the server holds the
/// key it presents (the handshake signature).
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The name to present and verify in TLS: the host name without a final
/// dot; for [`CertCheck::AcceptAny`] the IP address when the host is no
/// valid name.
fn server_name(
    host: &str,
    addr: &SocketAddr,
    check: CertCheck,
) -> Result<rustls::pki_types::ServerName<'static>, SmtpError> {
    let host = host.strip_suffix('.').unwrap_or(host);
    match rustls::pki_types::ServerName::try_from(host) {
        Ok(name) => Ok(name.to_owned()),
        Err(e) => match check {
            CertCheck::AcceptAny => Ok(rustls::pki_types::ServerName::IpAddress(addr.ip().into())),
            CertCheck::WebPki => Err(SmtpError::Tls(format!(
                "{host:?} cannot be checked against a certificate: {e}"
            ))),
        },
    }
}

async fn tls_handshake(
    tcp: TcpStream,
    host: &str,
    addr: &SocketAddr,
    options: &ClientOptions,
) -> Result<Stream, SmtpError> {
    let config = tls_config(options.cert_check)?;
    let name = server_name(host, addr, options.cert_check)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let handshake = async {
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| SmtpError::Tls(e.to_string()))
    };
    let tls = timed(options.connect_timeout, "TLS handshake", handshake).await?;
    Ok(Stream::Tls(Box::new(tls)))
}

/// The SASL mechanisms this client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthMechanism {
    Plain,
    Login,
}

/// Lines of the message as sent: dot-stuffed, each ending in CRLF, and the
/// final `.` line. CRLF, a bare LF and a bare CR all end a line, so no
/// lone CR or LF reaches the server (which could otherwise be tricked into
/// seeing the end of the data early).
pub(crate) async fn write_data<W: AsyncWrite + Unpin>(
    writer: &mut W,
    data: &[u8],
) -> io::Result<()> {
    let chunk = WRITE_BUFFER / 2;
    let mut out = Vec::with_capacity(
        data.len()
            .saturating_add(data.len() / 64 + 8)
            .min(WRITE_BUFFER),
    );
    let mut rest = data;
    while !rest.is_empty() {
        let (line, ending) = match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => (&rest[..i], 2),
            Some(i) => (&rest[..i], 1),
            None => (rest, 0),
        };
        rest = &rest[line.len() + ending..];
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        if line.len() >= chunk {
            writer.write_all(&out).await?;
            out.clear();
            writer.write_all(line).await?;
        } else {
            out.extend_from_slice(line);
        }
        out.extend_from_slice(b"\r\n");
        if out.len() >= chunk {
            writer.write_all(&out).await?;
            out.clear();
        }
    }
    out.extend_from_slice(b".\r\n");
    writer.write_all(&out).await
}

/// An open SMTP session, ready for transactions.
pub struct SmtpConnection {
    io: Io,
    ext: Extensions,
    tls: bool,
    sent: u64,
    /// Set after a connection-level failure: the session's state is unknown.
    broken: bool,
    command_timeout: Duration,
    data_timeout: Duration,
}

impl fmt::Debug for SmtpConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConnection")
            .field("tls", &self.tls)
            .field("extensions", &self.ext)
            .field("sent", &self.sent)
            .field("broken", &self.broken)
            .finish()
    }
}

impl SmtpConnection {
    /// Connects to `addr` and sets up the session: reads the greeting,
    /// sends EHLO (HELO when EHLO is refused with 5yz), upgrades with
    /// STARTTLS when asked and offered (then EHLO again), and logs in when
    /// credentials are given (PLAIN if offered, else LOGIN).
    ///
    /// `host` is the server's name, used for TLS (SNI and the certificate
    /// check). Credentials are never sent over a plain connection unless
    /// `addr` is a loopback address. With opportunistic STARTTLS, a
    /// failed handshake after the server agreed is an error: try again
    /// with [`TlsMode::None`] if plain text is acceptable.
    pub async fn connect(
        host: &str,
        addr: SocketAddr,
        options: &ClientOptions,
    ) -> Result<Self, SmtpError> {
        check_address(&options.helo_name)
            .map_err(|_| SmtpError::Protocol("the HELO name has control characters".into()))?;
        let tcp =
            match tokio::time::timeout(options.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => return Err(SmtpError::Connect(format!("{addr}: {e}"))),
                Err(_) => return Err(SmtpError::Timeout("connect")),
            };
        tcp.set_nodelay(true)?;
        let stream = match options.tls {
            TlsMode::Implicit => tls_handshake(tcp, host, &addr, options).await?,
            TlsMode::None | TlsMode::StartTls { .. } => Stream::Plain(tcp),
        };
        let mut conn = SmtpConnection {
            tls: matches!(stream, Stream::Tls(_)),
            io: buffered(stream),
            ext: Extensions::default(),
            sent: 0,
            broken: false,
            command_timeout: options.command_timeout,
            data_timeout: options.data_timeout,
        };
        let greeting = conn.read("greeting").await?;
        if !greeting.is_positive() {
            return Err(SmtpError::Reply {
                stage: "greeting",
                reply: greeting,
            });
        }
        conn.hello(&options.helo_name).await?;
        if let TlsMode::StartTls { required } = options.tls {
            conn = conn.start_tls(host, &addr, options, required).await?;
        }
        if let Some(credentials) = &options.credentials {
            if !may_send_credentials(conn.tls, &addr) {
                return Err(SmtpError::Tls(format!(
                    "refusing to send credentials in plain text to {addr}"
                )));
            }
            let mechanism = if conn.ext.auth_plain {
                AuthMechanism::Plain
            } else if conn.ext.auth_login {
                AuthMechanism::Login
            } else {
                return Err(SmtpError::Protocol(
                    "the server offers neither AUTH PLAIN nor AUTH LOGIN".into(),
                ));
            };
            conn.authenticate(mechanism, credentials).await?;
        }
        tracing::debug!(%addr, host, tls = conn.tls, pipelining = conn.ext.pipelining, "SMTP session ready");
        Ok(conn)
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether the server offered PIPELINING, so that MAIL, RCPT and DATA
    /// go out together.
    pub fn supports_pipelining(&self) -> bool {
        self.ext.pipelining
    }

    /// Whether the server offered SMTPUTF8 (RFC 6531), which an address
    /// with a UTF-8 local part needs.
    pub fn supports_smtputf8(&self) -> bool {
        self.ext.smtputf8
    }

    /// Transactions done on this connection: sends that returned `Ok`,
    /// whether the server took the message or not.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// False once a send failed at connection level (or the server said it
    /// is closing with 421): the connection must then be dropped.
    pub fn is_usable(&self) -> bool {
        !self.broken
    }

    /// Runs one transaction: `MAIL FROM:<from>`, `RCPT TO:<to>`, `DATA`,
    /// then the message, dot-stuffed with CRLF line endings and ended with
    /// `CRLF.CRLF`. With PIPELINING the three commands go out in one write
    /// (RFC 2920) and their replies are read after.
    ///
    /// Returns the transaction's final reply: the one after the data, or
    /// the first negative reply (to MAIL, RCPT or DATA; the session is then
    /// reset with RSET so that it can be used again). An empty `from` is the
    /// null reverse path `<>`. An address with CR, LF, other control
    /// characters, `<` or `>` is refused with [`SmtpError::Protocol`]
    /// before anything is sent, and the connection stays usable.
    ///
    /// `Err` means the connection failed (IO, timeout, not SMTP): it must
    /// not be used again.
    pub async fn send(&mut self, from: &str, to: &str, data: &[u8]) -> Result<Reply, SmtpError> {
        check_address(from)?;
        check_address(to)?;
        if to.is_empty() {
            return Err(SmtpError::Protocol("empty recipient address".into()));
        }
        if self.broken {
            return Err(SmtpError::Protocol(
                "the connection failed before and cannot be used".into(),
            ));
        }
        let result = self.transaction(from, to, data).await;
        match &result {
            Ok(reply) => {
                self.sent += 1;
                if reply.code == 421 {
                    self.broken = true;
                }
            }
            Err(_) => self.broken = true,
        }
        result
    }

    /// Says QUIT and closes the connection; errors are of no interest then.
    pub async fn quit(mut self) {
        let limit = self.command_timeout.min(Duration::from_secs(10));
        let _ = tokio::time::timeout(limit, async {
            if self.io.write_all(b"QUIT\r\n").await.is_ok() && self.io.flush().await.is_ok() {
                let _ = read_reply(&mut self.io).await;
            }
            let _ = self.io.shutdown().await;
        })
        .await;
    }

    async fn transaction(&mut self, from: &str, to: &str, data: &[u8]) -> Result<Reply, SmtpError> {
        let mail = self.mail_command(from, to, data)?;
        let rcpt = format!("RCPT TO:<{to}>\r\n");
        let replies = if self.ext.pipelining {
            match self.envelope_pipelined(&mail, &rcpt).await? {
                ControlFlow::Break(closing) => return Ok(closing),
                ControlFlow::Continue(replies) => replies,
            }
        } else {
            self.envelope_in_turn(&mail, &rcpt).await?
        };
        if let Some(rejection) = self.leave_rejected_envelope(replies).await? {
            return Ok(rejection);
        }
        self.send_message(data).await
    }

    /// The MAIL command line with the parameters the message needs.
    fn mail_command(&self, from: &str, to: &str, data: &[u8]) -> Result<String, SmtpError> {
        let utf8 = !from.is_ascii() || !to.is_ascii();
        if utf8 && !self.ext.smtputf8 {
            // Never handed over without the extension: a server that did not
            // offer it may mangle the address or deliver to someone else.
            return Err(SmtpError::Protocol(
                "the address has a UTF-8 local part and the server does not offer SMTPUTF8"
                    .to_owned(),
            ));
        }
        let mut mail = format!("MAIL FROM:<{from}>");
        if utf8 {
            mail.push_str(" SMTPUTF8");
        }
        if self.ext.size.is_some() {
            mail.push_str(&format!(" SIZE={}", data.len()));
        }
        if self.ext.eight_bit_mime && data.iter().any(|&b| b >= 0x80) {
            mail.push_str(" BODY=8BITMIME");
        }
        mail.push_str("\r\n");
        Ok(mail)
    }

    /// MAIL, RCPT and DATA in one write, then their replies. Breaks with
    /// a 421 to MAIL or RCPT: the server is closing, nothing more comes.
    async fn envelope_pipelined(
        &mut self,
        mail: &str,
        rcpt: &str,
    ) -> Result<ControlFlow<Reply, EnvelopeReplies>, SmtpError> {
        self.write_flush("MAIL", &[mail.as_bytes(), rcpt.as_bytes(), b"DATA\r\n"])
            .await?;
        let mail_reply = self.read("MAIL").await?;
        if mail_reply.code == 421 {
            return Ok(ControlFlow::Break(mail_reply));
        }
        let rcpt_reply = self.read("RCPT").await?;
        if rcpt_reply.code == 421 {
            return Ok(ControlFlow::Break(rcpt_reply));
        }
        let data_reply = self.read("DATA").await?;
        Ok(ControlFlow::Continue(EnvelopeReplies {
            mail: mail_reply,
            rcpt: Some(rcpt_reply),
            data: Some(data_reply),
        }))
    }

    /// MAIL, RCPT and DATA one after the other, stopping at the first
    /// negative reply.
    async fn envelope_in_turn(
        &mut self,
        mail: &str,
        rcpt: &str,
    ) -> Result<EnvelopeReplies, SmtpError> {
        self.write_flush("MAIL", &[mail.as_bytes()]).await?;
        let mail_reply = self.read("MAIL").await?;
        let mut replies = EnvelopeReplies {
            mail: mail_reply,
            rcpt: None,
            data: None,
        };
        if !replies.mail.is_positive() {
            return Ok(replies);
        }
        self.write_flush("RCPT", &[rcpt.as_bytes()]).await?;
        let rcpt_reply = self.read("RCPT").await?;
        let rcpt_ok = rcpt_reply.is_positive();
        replies.rcpt = Some(rcpt_reply);
        if !rcpt_ok {
            return Ok(replies);
        }
        self.write_flush("DATA", &[b"DATA\r\n"]).await?;
        replies.data = Some(self.read("DATA").await?);
        Ok(replies)
    }

    /// When MAIL, RCPT or DATA was refused: brings the session back in
    /// step and returns the refusal. `None` when the data may follow.
    async fn leave_rejected_envelope(
        &mut self,
        replies: EnvelopeReplies,
    ) -> Result<Option<Reply>, SmtpError> {
        let data_ok = replies.data.as_ref().is_some_and(|r| r.code == 354);
        let transaction_open = replies.mail.is_positive();
        let Some(rejection) = replies.rejection()? else {
            return Ok(None);
        };
        if data_ok {
            // The server took DATA although MAIL or RCPT failed: end
            // the (empty) message so the session is back in step.
            self.write_flush("DATA", &[b".\r\n"]).await?;
            let _ = self.read("data end").await?;
        }
        if rejection.code == 421 {
            self.broken = true;
        } else if transaction_open {
            self.reset().await?;
        }
        Ok(Some(rejection))
    }

    /// Writes the message and reads the reply to it.
    async fn send_message(&mut self, data: &[u8]) -> Result<Reply, SmtpError> {
        let limit = self.data_timeout;
        timed(limit, "data", async {
            write_data(&mut self.io, data).await?;
            self.io.flush().await?;
            Ok(())
        })
        .await?;
        let (reply, _) = timed(limit, "data end", read_reply(&mut self.io)).await?;
        if (300..400).contains(&reply.code) {
            return Err(SmtpError::Protocol(format!(
                "unexpected reply after the data: {reply}"
            )));
        }
        Ok(reply)
    }

    /// RSET, to leave a failed transaction. A refused RSET leaves the
    /// session in an unknown state: the connection is marked broken.
    async fn reset(&mut self) -> Result<(), SmtpError> {
        self.write_flush("RSET", &[b"RSET\r\n"]).await?;
        let reply = self.read("RSET").await?;
        if !reply.is_positive() {
            self.broken = true;
        }
        Ok(())
    }

    /// EHLO, or HELO when EHLO is refused for good.
    async fn hello(&mut self, name: &str) -> Result<(), SmtpError> {
        let ehlo = format!("EHLO {name}\r\n");
        self.write_flush("EHLO", &[ehlo.as_bytes()]).await?;
        let (reply, lines) = self.read_lines("EHLO").await?;
        if reply.is_positive() {
            self.ext = Extensions::parse(&lines);
            return Ok(());
        }
        if !reply.is_permanent() {
            return Err(SmtpError::Reply {
                stage: "EHLO",
                reply,
            });
        }
        let helo = format!("HELO {name}\r\n");
        self.write_flush("HELO", &[helo.as_bytes()]).await?;
        let reply = self.read("HELO").await?;
        if !reply.is_positive() {
            return Err(SmtpError::Reply {
                stage: "HELO",
                reply,
            });
        }
        self.ext = Extensions::default();
        Ok(())
    }

    /// STARTTLS when offered; an error when `required` and not possible.
    async fn start_tls(
        mut self,
        host: &str,
        addr: &SocketAddr,
        options: &ClientOptions,
        required: bool,
    ) -> Result<Self, SmtpError> {
        if !self.ext.starttls {
            if required {
                return Err(SmtpError::Tls("the server does not offer STARTTLS".into()));
            }
            tracing::debug!(%addr, "STARTTLS not offered; going on in plain text");
            return Ok(self);
        }
        self.write_flush("STARTTLS", &[b"STARTTLS\r\n"]).await?;
        let reply = self.read("STARTTLS").await?;
        if !reply.is_positive() {
            if required || reply.code == 421 {
                return Err(SmtpError::Reply {
                    stage: "STARTTLS",
                    reply,
                });
            }
            tracing::debug!(%addr, %reply, "STARTTLS refused; going on in plain text");
            return Ok(self);
        }
        if !self.io.buffer().is_empty() {
            // Anything sent before the handshake could be an injected
            // command (CVE-2011-0411 and kin).
            return Err(SmtpError::Protocol(
                "the server sent data before the TLS handshake".into(),
            ));
        }
        let tcp = match self.io.into_inner().into_inner() {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(_) => return Err(SmtpError::Tls("TLS is already on".into())),
        };
        let stream = tls_handshake(tcp, host, addr, options).await?;
        self.io = buffered(stream);
        self.tls = true;
        self.ext = Extensions::default();
        self.hello(&options.helo_name).await?;
        Ok(self)
    }

    /// Logs in with the given mechanism.
    pub(crate) async fn authenticate(
        &mut self,
        mechanism: AuthMechanism,
        credentials: &Credentials,
    ) -> Result<(), SmtpError> {
        let b64 = &base64::engine::general_purpose::STANDARD;
        let fail = |reply| SmtpError::Reply {
            stage: "AUTH",
            reply,
        };
        let reply = match mechanism {
            AuthMechanism::Plain => {
                let mut token =
                    Vec::with_capacity(credentials.username.len() + credentials.password.len() + 2);
                token.push(0);
                token.extend_from_slice(credentials.username.as_bytes());
                token.push(0);
                token.extend_from_slice(credentials.password.as_bytes());
                let line = format!("AUTH PLAIN {}\r\n", b64.encode(&token));
                self.write_flush("AUTH", &[line.as_bytes()]).await?;
                self.read("AUTH").await?
            }
            AuthMechanism::Login => {
                self.write_flush("AUTH", &[b"AUTH LOGIN\r\n"]).await?;
                let reply = self.read("AUTH").await?;
                if reply.code != 334 {
                    return Err(fail(reply));
                }
                let user = format!("{}\r\n", b64.encode(credentials.username.as_bytes()));
                self.write_flush("AUTH", &[user.as_bytes()]).await?;
                let reply = self.read("AUTH").await?;
                if reply.code != 334 {
                    return Err(fail(reply));
                }
                let pass = format!("{}\r\n", b64.encode(credentials.password.as_bytes()));
                self.write_flush("AUTH", &[pass.as_bytes()]).await?;
                self.read("AUTH").await?
            }
        };
        if reply.code == 235 {
            Ok(())
        } else {
            Err(fail(reply))
        }
    }

    /// Writes the pieces and flushes, within the command time limit.
    async fn write_flush(
        &mut self,
        stage: &'static str,
        pieces: &[&[u8]],
    ) -> Result<(), SmtpError> {
        let limit = self.command_timeout;
        timed(limit, stage, async {
            for piece in pieces {
                self.io.write_all(piece).await?;
            }
            self.io.flush().await?;
            Ok(())
        })
        .await
    }

    async fn read(&mut self, stage: &'static str) -> Result<Reply, SmtpError> {
        Ok(self.read_lines(stage).await?.0)
    }

    async fn read_lines(&mut self, stage: &'static str) -> Result<(Reply, Vec<String>), SmtpError> {
        timed(self.command_timeout, stage, read_reply(&mut self.io)).await
    }
}

/// The replies to MAIL, RCPT and DATA, as far as the commands were sent.
struct EnvelopeReplies {
    mail: Reply,
    rcpt: Option<Reply>,
    data: Option<Reply>,
}

impl EnvelopeReplies {
    /// The first refusal among the replies, if any.
    fn rejection(self) -> Result<Option<Reply>, SmtpError> {
        Ok(if !self.mail.is_positive() {
            Some(unexpected("MAIL", self.mail)?)
        } else if let Some(r) = self.rcpt.filter(|r| !r.is_positive()) {
            Some(unexpected("RCPT", r)?)
        } else if let Some(r) = self.data.filter(|r| r.code != 354) {
            Some(unexpected("DATA", r)?)
        } else {
            None
        })
    }
}

/// A reply to MAIL, RCPT or DATA that is neither what was hoped for nor a
/// failure (a 3yz, or a 2yz to DATA) means the server is not speaking SMTP.
fn unexpected(stage: &'static str, reply: Reply) -> Result<Reply, SmtpError> {
    if reply.is_transient() || reply.is_permanent() {
        Ok(reply)
    } else {
        Err(SmtpError::Protocol(format!(
            "unexpected reply to {stage}: {reply}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::sink::{AcceptAll, Action, Script, SinkOptions, SmtpSink};

    fn options() -> ClientOptions {
        ClientOptions {
            helo_name: "client.test".into(),
            tls: TlsMode::None,
            cert_check: CertCheck::WebPki,
            credentials: None,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
            data_timeout: Duration::from_secs(10),
        }
    }

    fn credentials(user: &str, pass: &str) -> Credentials {
        Credentials {
            username: user.into(),
            password: pass.into(),
        }
    }

    async fn sink(script: impl Script, auth: Option<(&str, &str)>) -> SmtpSink {
        let options = SinkOptions {
            auth: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
            keep: true,
        };
        SmtpSink::start(Arc::new(script), options)
            .await
            .expect("start the sink")
    }

    async fn connect(sink: &SmtpSink, options: &ClientOptions) -> SmtpConnection {
        SmtpConnection::connect("localhost", sink.addr(), options)
            .await
            .expect("connect to the sink")
    }

    /// A sink without AUTH running `script`, and a plain connection to it.
    async fn connected(script: impl Script) -> (SmtpSink, SmtpConnection) {
        let sink = sink(script, None).await;
        let conn = connect(&sink, &options()).await;
        (sink, conn)
    }

    /// Sends one mail that the server answers, positively or not.
    async fn send(conn: &mut SmtpConnection, from: &str, to: &str, data: &[u8]) -> Reply {
        conn.send(from, to, data).await.expect("send")
    }

    /// The reply of a connection-level refusal at `stage`.
    fn refusal<T: fmt::Debug>(result: Result<T, SmtpError>, stage: &str) -> Reply {
        match result {
            Err(SmtpError::Reply { stage: at, reply }) => {
                assert_eq!(at, stage);
                reply
            }
            other => panic!("expected a refused {stage}, got {other:?}"),
        }
    }

    fn parse(lines: &[&str]) -> Result<(Reply, Vec<String>), SmtpError> {
        let mut parser = ReplyParser::default();
        for (i, line) in lines.iter().enumerate() {
            let last = parser.push(line.as_bytes())?;
            assert_eq!(last, i + 1 == lines.len(), "line {i}: {line:?}");
        }
        Ok(parser.finish())
    }

    #[test]
    fn parses_a_multi_line_ehlo_reply() {
        let (reply, lines) = parse(&[
            "250-mx.example.org at your service\r\n",
            "250-SIZE 35882577\r\n",
            "250-8BITMIME\r\n",
            "250-STARTTLS\r\n",
            "250-AUTH LOGIN PLAIN XOAUTH2\r\n",
            "250-ENHANCEDSTATUSCODES\r\n",
            "250-PIPELINING\r\n",
            "250 SMTPUTF8\r\n",
        ])
        .expect("ok");
        assert_eq!(reply.code, 250);
        assert_eq!(reply.enhanced, None);
        assert!(reply
            .text
            .starts_with("mx.example.org at your service SIZE 35882577"));
        let ext = Extensions::parse(&lines);
        assert_eq!(
            ext,
            Extensions {
                pipelining: true,
                starttls: true,
                eight_bit_mime: true,
                enhanced_status_codes: true,
                size: Some(35882577),
                auth_plain: true,
                auth_login: true,
                smtputf8: true,
            }
        );
        // The old AUTH= form, LF-only lines, a bare final code.
        let (_, lines) =
            parse(&["250-host\n", "250-AUTH=LOGIN\n", "250-SIZE\n", "250"]).expect("parse");
        let ext = Extensions::parse(&lines);
        assert!(ext.auth_login && !ext.auth_plain && !ext.pipelining);
        assert_eq!(ext.size, Some(0));
    }

    #[test]
    fn parses_enhanced_codes() {
        let (reply, _) = parse(&[
            "550-5.1.1 The email account that you tried to reach does\r\n",
            "550 5.1.1 not exist.\r\n",
        ])
        .expect("parse");
        assert_eq!(reply.code, 550);
        assert_eq!(reply.enhanced.as_deref(), Some("5.1.1"));
        assert_eq!(
            reply.text,
            "The email account that you tried to reach does not exist."
        );
        assert!(reply.is_permanent() && !reply.is_transient() && !reply.is_positive());
        assert_eq!(
            reply.to_line(),
            "550 5.1.1 The email account that you tried to reach does not exist."
        );

        let (reply, _) = parse(&["451 4.7.1\n"]).expect("parse");
        assert_eq!(reply.enhanced.as_deref(), Some("4.7.1"));
        assert_eq!(reply.text, "");
        assert_eq!(reply.to_line(), "451 4.7.1");
        assert!(reply.is_transient());

        // The class must match the code, and the form must be X.Y.Z.
        let (reply, _) = parse(&["250 5.1.1 odd"]).expect("parse");
        assert_eq!(reply.enhanced, None);
        assert_eq!(reply.text, "5.1.1 odd");
        let (reply, _) = parse(&["250 2.0 ok"]).expect("parse");
        assert_eq!(reply.enhanced, None);
        let (reply, _) = parse(&["250 2.0.0.1 ok"]).expect("parse");
        assert_eq!(reply.enhanced, None);
    }

    #[test]
    fn refuses_garbage_replies() {
        for bad in ["hello", "25", "250x", "199 nope", "600 nope", "2a0 x"] {
            assert!(
                matches!(parse(&[bad]), Err(SmtpError::Protocol(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse(&["250-a", "251 b"]),
            Err(SmtpError::Protocol(_))
        ));
    }

    #[tokio::test]
    async fn reads_replies_and_limits_their_length() {
        let mut input: &[u8] = b"220-first\r\n220 second\r\n250 next\n";
        let (reply, lines) = read_reply(&mut input).await.expect("reply");
        assert_eq!((reply.code, reply.text.as_str()), (220, "first second"));
        assert_eq!(lines, ["first", "second"]);
        let (reply, _) = read_reply(&mut input).await.expect("reply");
        assert_eq!(reply.code, 250);
        assert!(matches!(
            read_reply(&mut input).await,
            Err(SmtpError::Io(_))
        ));

        let mut long = Vec::new();
        for _ in 0..2000 {
            long.extend_from_slice(b"250-0123456789012345678901234567890123456789\r\n");
        }
        long.extend_from_slice(b"250 end\r\n");
        let mut input: &[u8] = &long;
        assert!(matches!(
            read_reply(&mut input).await,
            Err(SmtpError::Protocol(_))
        ));
    }

    #[tokio::test]
    async fn dot_stuffs_and_normalizes_line_endings() {
        let mut out = Vec::new();
        write_data(&mut out, b"a\r\n.b\n..c\rd\r\n.\r\ne")
            .await
            .expect("write");
        assert_eq!(out, b"a\r\n..b\r\n...c\r\nd\r\n..\r\ne\r\n.\r\n");
        let mut out = Vec::new();
        write_data(&mut out, b"").await.expect("write");
        assert_eq!(out, b".\r\n");
        let mut out = Vec::new();
        write_data(&mut out, b"x\r\n").await.expect("write");
        assert_eq!(out, b"x\r\n.\r\n");
        // Large input goes through in pieces and comes out whole.
        let line = [b'y'; 100];
        let mut big = Vec::new();
        for _ in 0..5000 {
            big.extend_from_slice(b".");
            big.extend_from_slice(&line);
            big.push(b'\n');
        }
        let mut long_line = vec![b'z'; 200_000];
        long_line.insert(0, b'.');
        big.extend_from_slice(&long_line);
        let mut out = Vec::new();
        write_data(&mut out, &big).await.expect("write");
        let mut expected = Vec::new();
        for _ in 0..5000 {
            expected.extend_from_slice(b"..");
            expected.extend_from_slice(&line);
            expected.extend_from_slice(b"\r\n");
        }
        expected.push(b'.');
        expected.extend_from_slice(&long_line);
        expected.extend_from_slice(b"\r\n.\r\n");
        assert_eq!(out, expected);
    }

    #[test]
    fn credentials_need_tls_or_loopback() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("address");
        assert!(!may_send_credentials(false, &addr("192.0.2.10:587")));
        assert!(!may_send_credentials(false, &addr("[2001:db8::1]:587")));
        assert!(!may_send_credentials(
            false,
            &addr("[::ffff:192.0.2.10]:25")
        ));
        assert!(may_send_credentials(false, &addr("127.0.0.1:25")));
        assert!(may_send_credentials(false, &addr("127.8.9.10:25")));
        assert!(may_send_credentials(false, &addr("[::1]:25")));
        assert!(may_send_credentials(false, &addr("[::ffff:127.0.0.1]:25")));
        assert!(may_send_credentials(true, &addr("192.0.2.10:465")));
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let shown = format!("{:?}", credentials("ann", "hunter2"));
        assert!(
            shown.contains("ann") && !shown.contains("hunter2"),
            "{shown}"
        );
        let mut opts = options();
        opts.credentials = Some(credentials("ann", "hunter2"));
        assert!(!format!("{opts:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn plain_send_arrives_byte_exact() {
        let (sink, mut conn) = connected(AcceptAll).await;
        assert!(!conn.is_tls());
        let data = b"Subject: hi\r\n\r\nline one\r\n.starts with a dot\r\nbare LF\nlast";
        let reply = send(&mut conn, "from@a.test", "to@b.test", data).await;
        assert!(reply.is_positive(), "{reply:?}");
        assert_eq!(reply.code, 250);
        assert_eq!(reply.enhanced.as_deref(), Some("2.0.0"));
        assert_eq!(conn.sent(), 1);
        conn.quit().await;

        let got = sink.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].from, "from@a.test");
        assert_eq!(got[0].to, ["to@b.test"]);
        assert_eq!(
            got[0].data,
            b"Subject: hi\r\n\r\nline one\r\n.starts with a dot\r\nbare LF\r\nlast\r\n"
        );
        assert_eq!(sink.accepted_count(), 1);
        assert_eq!(sink.connections(), 1);
    }

    #[tokio::test]
    async fn eight_bit_data_and_null_sender() {
        let (sink, mut conn) = connected(AcceptAll).await;
        let data = "Subject: caf\u{e9}\r\n\r\nd\u{e9}j\u{e0} vu\r\n".as_bytes();
        let reply = send(&mut conn, "", "to@b.test", data).await;
        assert_eq!(reply.code, 250);
        let got = sink.received();
        assert_eq!(got[0].from, "");
        assert_eq!(got[0].data, data);
    }

    #[tokio::test]
    async fn pipelines_many_messages_on_one_connection() {
        let (sink, mut conn) = connected(AcceptAll).await;
        assert!(conn.supports_pipelining());
        for i in 0..50 {
            let data = format!("Subject: {i}\r\n\r\nbody {i}\r\n");
            let reply = send(
                &mut conn,
                "from@a.test",
                &format!("to{i}@b.test"),
                data.as_bytes(),
            )
            .await;
            assert_eq!(reply.code, 250);
        }
        assert_eq!(conn.sent(), 50);
        conn.quit().await;
        assert_eq!(sink.connections(), 1);
        assert_eq!(sink.accepted_count(), 50);
        let got = sink.received();
        assert_eq!(got[49].to, ["to49@b.test"]);
        assert_eq!(got[49].data, b"Subject: 49\r\n\r\nbody 49\r\n");
        // MAIL and RCPT came in the same write as the commands after them.
        assert!(
            sink.pipelined_commands() >= 50,
            "{}",
            sink.pipelined_commands()
        );
    }

    #[tokio::test]
    async fn auth_plain_with_right_and_wrong_credentials() {
        let sink = sink(AcceptAll, Some(("ann", "s3cret"))).await;
        let mut opts = options();
        opts.credentials = Some(credentials("ann", "s3cret"));
        let mut conn = connect(&sink, &opts).await;
        let reply = send(&mut conn, "ann@a.test", "to@b.test", b"hi\r\n").await;
        assert_eq!(reply.code, 250);

        opts.credentials = Some(credentials("ann", "wrong"));
        let refused = SmtpConnection::connect("localhost", sink.addr(), &opts).await;
        let reply = refusal(refused, "AUTH");
        assert_eq!(reply.code, 535);
        assert_eq!(reply.enhanced.as_deref(), Some("5.7.8"));
    }

    #[tokio::test]
    async fn auth_login_with_right_and_wrong_credentials() {
        let sink = sink(AcceptAll, Some(("bob", "pa:ss word"))).await;
        let mut conn = connect(&sink, &options()).await;
        conn.authenticate(AuthMechanism::Login, &credentials("bob", "pa:ss word"))
            .await
            .expect("AUTH");
        let reply = send(&mut conn, "bob@a.test", "to@b.test", b"hi\r\n").await;
        assert_eq!(reply.code, 250);

        let mut conn = connect(&sink, &options()).await;
        let refused = conn
            .authenticate(AuthMechanism::Login, &credentials("bob", "nope"))
            .await;
        assert_eq!(refusal(refused, "AUTH").code, 535);
        // Without AUTH the sink refuses MAIL: a reply, not a failure.
        let reply = send(&mut conn, "bob@a.test", "to@b.test", b"hi\r\n").await;
        assert_eq!(reply.code, 530);
        assert_eq!(reply.enhanced.as_deref(), Some("5.7.0"));
        assert!(conn.is_usable());
    }

    struct RejectSome;

    impl Script for RejectSome {
        fn on_rcpt(&self, to: &str) -> Action {
            if to.starts_with("nobody@") {
                Action::Reply(550, "5.1.1 no such user".into())
            } else {
                Action::Accept
            }
        }

        fn on_data_end(&self, _from: &str, to: &[String], _data: &[u8]) -> Action {
            match to.first().map(String::as_str) {
                Some("later@b.test") => Action::Reply(451, "4.7.1 try again later".into()),
                Some("hangup@b.test") => Action::Disconnect,
                _ => Action::Accept,
            }
        }
    }

    #[tokio::test]
    async fn rejected_recipient_leaves_the_connection_usable() {
        let (sink, mut conn) = connected(RejectSome).await;
        let reply = send(&mut conn, "a@a.test", "nobody@b.test", b"x\r\n").await;
        assert_eq!(reply.code, 550);
        assert_eq!(reply.enhanced.as_deref(), Some("5.1.1"));
        assert_eq!(reply.text, "no such user");
        assert!(reply.is_permanent());
        assert!(conn.is_usable());
        let reply = send(&mut conn, "a@a.test", "someone@b.test", b"y\r\n").await;
        assert_eq!(reply.code, 250);
        let got = sink.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].to, ["someone@b.test"]);
    }

    #[tokio::test]
    async fn rejected_recipient_without_pipelining() {
        let (sink, mut conn) = connected(RejectSome).await;
        conn.ext.pipelining = false;
        let reply = send(&mut conn, "a@a.test", "nobody@b.test", b"x\r\n").await;
        assert_eq!(
            (reply.code, reply.enhanced.as_deref()),
            (550, Some("5.1.1"))
        );
        let reply = send(&mut conn, "a@a.test", "someone@b.test", b"y\r\n").await;
        assert_eq!(reply.code, 250);
        assert_eq!(sink.received().len(), 1);
        assert_eq!(sink.pipelined_commands(), 0);
    }

    #[tokio::test]
    async fn transient_reply_after_data() {
        let (sink, mut conn) = connected(RejectSome).await;
        let reply = send(&mut conn, "a@a.test", "later@b.test", b"x\r\n").await;
        assert_eq!(reply.code, 451);
        assert_eq!(reply.enhanced.as_deref(), Some("4.7.1"));
        assert!(reply.is_transient());
        let reply = send(&mut conn, "a@a.test", "now@b.test", b"x\r\n").await;
        assert_eq!(reply.code, 250);
        assert_eq!(sink.accepted_count(), 1);
    }

    #[tokio::test]
    async fn disconnect_after_data_is_an_error() {
        let (sink, mut conn) = connected(RejectSome).await;
        let result = conn.send("a@a.test", "hangup@b.test", b"x\r\n").await;
        assert!(matches!(result, Err(SmtpError::Io(_))), "{result:?}");
        assert!(!conn.is_usable());
        assert!(conn.send("a@a.test", "now@b.test", b"x\r\n").await.is_err());
        assert_eq!(sink.accepted_count(), 0);
    }

    #[tokio::test]
    async fn refuses_injected_addresses_before_sending() {
        let (sink, mut conn) = connected(AcceptAll).await;
        for (from, to) in [
            ("a@a.test\r\nRCPT TO:<evil@c.test>", "to@b.test"),
            ("a@a.test", "to@b.test>\r\nDATA"),
            ("a@a.test", "to@b.test\n"),
            ("a@a.test", "<to@b.test>"),
            ("a@a.test", ""),
        ] {
            let result = conn.send(from, to, b"x\r\n").await;
            assert!(matches!(result, Err(SmtpError::Protocol(_))), "{result:?}");
        }
        assert_eq!(conn.sent(), 0);
        assert!(conn.is_usable());
        // Nothing reached the server: the session is still in step.
        let reply = send(&mut conn, "a@a.test", "to@b.test", b"x\r\n").await;
        assert_eq!(reply.code, 250);
        let got = sink.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].to, ["to@b.test"]);
    }

    #[tokio::test]
    async fn opportunistic_starttls_goes_on_without_it() {
        let sink = sink(AcceptAll, None).await;
        let mut opts = options();
        opts.tls = TlsMode::StartTls { required: false };
        let mut conn = connect(&sink, &opts).await;
        assert!(!conn.is_tls());
        let reply = send(&mut conn, "a@a.test", "to@b.test", b"x\r\n").await;
        assert_eq!(reply.code, 250);

        opts.tls = TlsMode::StartTls { required: true };
        let result = SmtpConnection::connect("localhost", sink.addr(), &opts).await;
        assert!(matches!(result, Err(SmtpError::Tls(_))), "{result:?}");
    }

    #[tokio::test]
    async fn credentials_over_plain_loopback_are_allowed() {
        let sink = sink(AcceptAll, Some(("ann", "pw"))).await;
        let mut opts = options();
        opts.tls = TlsMode::StartTls { required: false };
        opts.credentials = Some(credentials("ann", "pw"));
        let mut conn = connect(&sink, &opts).await;
        assert!(!conn.is_tls());
        let reply = send(&mut conn, "a@a.test", "to@b.test", b"x\r\n").await;
        assert_eq!(reply.code, 250);
    }

    #[tokio::test]
    async fn refused_greeting_and_closed_port() {
        struct Busy;
        impl Script for Busy {
            fn on_connect(&self, _n: u64) -> Action {
                Action::Reply(554, "5.3.2 no service".into())
            }
        }
        let sink = sink(Busy, None).await;
        let refused = SmtpConnection::connect("localhost", sink.addr(), &options()).await;
        assert_eq!(refusal(refused, "greeting").code, 554);
        let addr = sink.addr();
        sink.shutdown();
        drop(sink);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let result = SmtpConnection::connect("localhost", addr, &options()).await;
        assert!(matches!(result, Err(SmtpError::Connect(_))), "{result:?}");
    }

    #[tokio::test]
    async fn tls_configs_build() {
        assert!(tls_config(CertCheck::WebPki).is_ok());
        assert!(tls_config(CertCheck::AcceptAny).is_ok());
        let addr: SocketAddr = "192.0.2.1:25".parse().expect("ok");
        assert!(server_name("mx.example.org.", &addr, CertCheck::WebPki).is_ok());
        assert!(server_name("bad name", &addr, CertCheck::WebPki).is_err());
        assert!(server_name("bad name", &addr, CertCheck::AcceptAny).is_ok());
    }
}
