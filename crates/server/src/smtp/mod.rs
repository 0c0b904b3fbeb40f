//! SMTP: a fast client for handing mail to a relay or an MX host, and an
//! in-process sink server to test and benchmark it against.
//!
//! [`SmtpConnection`] opens a session (TLS, EHLO, AUTH) and runs one
//! transaction per [`SmtpConnection::send`], telling the server's verdict on
//! a message (`Ok(Reply)`) apart from a failed connection (`Err`).
//! [`SmtpSink`] listens on loopback, keeps or counts what it gets, and
//! answers as a [`Script`] says; it is for tests. The inbound listener
//! for bounces and complaints runs on [`server`], built for the open
//! internet: timeouts, connection caps, a byte-bounded queue, STARTTLS.

pub mod client;
pub mod server;
pub mod sink;
pub(crate) mod wire;

pub use client::{
    CertCheck, ClientOptions, Credentials, Reply, SmtpConnection, SmtpError, TlsMode,
};
pub use sink::{AcceptAll, Action, Received, Script, SinkOptions, SmtpSink};
