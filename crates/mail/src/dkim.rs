//! DKIM signing (RFC 6376) with RSA-SHA256 and Ed25519-SHA256 (RFC 8463).
//!
//! [`generate`] makes a key pair for a sending domain: the private key as
//! PKCS#8 DER (the caller stores it encrypted) and the public key as the
//! `p=` value of the DNS TXT record. [`DkimSigner`] holds one parsed key with
//! its domain and selector, and [`sign`] adds one `DKIM-Signature` header
//! field per signer to a complete message, so that a domain can publish an
//! RSA key for older verifiers and an Ed25519 key for newer ones and sign
//! with both.
//!
//! Signatures always use `c=relaxed/relaxed`, SHA-256 and the header fields
//! listed in [`SIGNED_FIELDS`], with `From` signed once more than it occurs
//! so that a `From` added on the way invalidates the signature.
//!
//! Line endings: a message is expected with CRLF line endings. A bare LF
//! (one not preceded by CR) is taken to be a line ending too: it is replaced
//! by CRLF in the message that [`sign`] returns, and the signature covers
//! that converted message. A bare CR is left alone, as ordinary content.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sendwell_core::Timestamp;
use sha2::{Digest, Sha256};

/// The header fields signed when present, in the order they are listed in
/// `h=`. Each occurrence is signed; `from` is then listed once more.
pub const SIGNED_FIELDS: [&str; 14] = [
    "from",
    "to",
    "cc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "feedback-id",
];

/// Header lines are folded so that none is longer than this (RFC 5322 §2.1.1).
const MAX_LINE: usize = 78;

/// The name of the header field this module adds.
const SIGNATURE_FIELD: &str = "DKIM-Signature";

/// The kind of DKIM key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    /// RSA-2048 with RSASSA-PKCS1-v1_5 and SHA-256 (`a=rsa-sha256`).
    Rsa,
    /// Ed25519 over the SHA-256 hash of the header data (`a=ed25519-sha256`).
    Ed25519,
}

impl DkimAlgorithm {
    /// The key type as written in the `k=` tag of the DNS record.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa => "rsa",
            Self::Ed25519 => "ed25519",
        }
    }

    /// The signing algorithm as written in the `a=` tag of the signature.
    pub fn signature_tag(self) -> &'static str {
        match self {
            Self::Rsa => "rsa-sha256",
            Self::Ed25519 => "ed25519-sha256",
        }
    }
}

impl fmt::Display for DkimAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DkimAlgorithm {
    type Err = DkimError;

    /// Reads `rsa` or `ed25519`, ignoring case and surrounding whitespace.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("rsa") {
            Ok(Self::Rsa)
        } else if trimmed.eq_ignore_ascii_case("ed25519") {
            Ok(Self::Ed25519)
        } else {
            Err(DkimError::UnknownAlgorithm(
                trimmed.chars().take(32).collect(),
            ))
        }
    }
}

/// What can go wrong when making keys or signing.
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("unknown DKIM key type '{0}': use 'rsa' or 'ed25519'")]
    UnknownAlgorithm(String),
    #[error("could not generate a new {0} DKIM key")]
    KeyGeneration(DkimAlgorithm),
    #[error("could not encode the {0} DKIM key")]
    KeyEncoding(DkimAlgorithm),
    #[error("the private key is not a usable {algorithm} key in PKCS#8 DER form: {reason}")]
    InvalidKey {
        algorithm: DkimAlgorithm,
        reason: String,
    },
    #[error("'{0}' is not a valid DKIM domain: use a DNS name of letters, digits and hyphens (IDNs in their xn-- form)")]
    InvalidDomain(String),
    #[error("'{0}' is not a valid DKIM selector: use one or more DNS labels of letters, digits, hyphens and underscores")]
    InvalidSelector(String),
    #[error("line {line} of the message header is malformed: {reason}")]
    MalformedHeader { line: usize, reason: &'static str },
    #[error("the message has no From header field, and DKIM must sign it")]
    MissingFrom,
    #[error("the signing time is before 1970, so it cannot be written in the t= tag")]
    TimeBeforeEpoch,
    #[error("signing the message with the {0} DKIM key failed")]
    Signing(DkimAlgorithm),
}

/// A freshly generated key pair.
pub struct GeneratedKey {
    pub algorithm: DkimAlgorithm,
    /// PKCS#8 (v1) DER of the private key, to be stored encrypted by the caller.
    pub private_pkcs8: Vec<u8>,
    /// The `p=` value of the DNS record.
    pub public_key_b64: String,
}

impl GeneratedKey {
    /// The TXT record to publish at `SELECTOR._domainkey.DOMAIN`.
    pub fn dns_txt(&self) -> String {
        dns_txt(self.algorithm, &self.public_key_b64)
    }
}

impl fmt::Debug for GeneratedKey {
    /// Leaves the private key out, so it cannot end up in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("algorithm", &self.algorithm)
            .field("public_key_b64", &self.public_key_b64)
            .finish_non_exhaustive()
    }
}

/// The TXT record for a public key (`p=` value) of the given kind.
pub fn dns_txt(algorithm: DkimAlgorithm, public_key_b64: &str) -> String {
    format!("v=DKIM1; k={}; p={}", algorithm.as_str(), public_key_b64)
}

/// Generates a key pair: RSA-2048 or Ed25519.
pub fn generate(algorithm: DkimAlgorithm) -> Result<GeneratedKey, DkimError> {
    let (private_pkcs8, public_key_b64) = match algorithm {
        DkimAlgorithm::Rsa => {
            let key = RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| DkimError::KeyGeneration(algorithm))?;
            let der: Pkcs8V1Der = key
                .as_der()
                .map_err(|_| DkimError::KeyEncoding(algorithm))?;
            (der.as_ref().to_vec(), rsa_public_key_b64(&key)?)
        }
        DkimAlgorithm::Ed25519 => {
            let key =
                Ed25519KeyPair::generate().map_err(|_| DkimError::KeyGeneration(algorithm))?;
            let der: Pkcs8V1Der = key
                .as_der()
                .map_err(|_| DkimError::KeyEncoding(algorithm))?;
            (der.as_ref().to_vec(), ed25519_public_key_b64(&key))
        }
    };
    Ok(GeneratedKey {
        algorithm,
        private_pkcs8,
        public_key_b64,
    })
}

/// The `p=` value for a stored private key, so that the DNS record can be
/// shown again later.
pub fn public_key_b64(algorithm: DkimAlgorithm, private_pkcs8: &[u8]) -> Result<String, DkimError> {
    match SigningKey::parse(algorithm, private_pkcs8)? {
        SigningKey::Rsa(key) => rsa_public_key_b64(&key),
        SigningKey::Ed25519(key) => Ok(ed25519_public_key_b64(&key)),
    }
}

/// RSA keys are published as the base64 of the DER `SubjectPublicKeyInfo`
/// (RFC 6376 §3.6.1), which is what aws-lc-rs gives as `PublicKeyX509Der`.
fn rsa_public_key_b64(key: &RsaKeyPair) -> Result<String, DkimError> {
    let spki: PublicKeyX509Der = key
        .public_key()
        .as_der()
        .map_err(|_| DkimError::KeyEncoding(DkimAlgorithm::Rsa))?;
    Ok(STANDARD.encode(spki.as_ref()))
}

/// Ed25519 keys are published as the base64 of the raw 32-byte public key
/// (RFC 8463 §4.2).
fn ed25519_public_key_b64(key: &Ed25519KeyPair) -> String {
    STANDARD.encode(key.public_key().as_ref())
}

/// A parsed private key.
enum SigningKey {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl SigningKey {
    fn parse(algorithm: DkimAlgorithm, pkcs8: &[u8]) -> Result<Self, DkimError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| DkimError::InvalidKey {
            algorithm,
            reason: e.to_string(),
        };
        match algorithm {
            DkimAlgorithm::Rsa => RsaKeyPair::from_pkcs8(pkcs8)
                .map(Self::Rsa)
                .map_err(rejected),
            // Accepts PKCS#8 v1 (what `openssl genpkey` writes) and v2.
            DkimAlgorithm::Ed25519 => Ed25519KeyPair::from_pkcs8(pkcs8)
                .map(Self::Ed25519)
                .map_err(rejected),
        }
    }

    fn algorithm(&self) -> DkimAlgorithm {
        match self {
            Self::Rsa(_) => DkimAlgorithm::Rsa,
            Self::Ed25519(_) => DkimAlgorithm::Ed25519,
        }
    }

    /// Signs the canonicalised header data (RFC 6376 §3.7).
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, DkimError> {
        let failed = |_| DkimError::Signing(self.algorithm());
        match self {
            // aws-lc-rs hashes the data with SHA-256 itself.
            Self::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    data,
                    &mut signature,
                )
                .map_err(failed)?;
                Ok(signature)
            }
            // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data.
            Self::Ed25519(key) => {
                let hash = Sha256::digest(data);
                let signature = key.try_sign(&hash).map_err(failed)?;
                Ok(signature.as_ref().to_vec())
            }
        }
    }
}

/// One signing identity: a domain, a selector and the private key whose
/// public half is published at `SELECTOR._domainkey.DOMAIN`.
pub struct DkimSigner {
    domain: String,
    selector: String,
    key: SigningKey,
}

impl DkimSigner {
    /// Parses the PKCS#8 DER private key and checks the domain and selector,
    /// which go into the header as they are (so they must be DNS names).
    pub fn new(
        algorithm: DkimAlgorithm,
        domain: &str,
        selector: &str,
        private_pkcs8: &[u8],
    ) -> Result<Self, DkimError> {
        if !is_dns_name(domain, false) {
            return Err(DkimError::InvalidDomain(domain.chars().take(64).collect()));
        }
        if !is_dns_name(selector, true) {
            return Err(DkimError::InvalidSelector(
                selector.chars().take(64).collect(),
            ));
        }
        Ok(Self {
            domain: domain.to_owned(),
            selector: selector.to_owned(),
            key: SigningKey::parse(algorithm, private_pkcs8)?,
        })
    }

    pub fn algorithm(&self) -> DkimAlgorithm {
        self.key.algorithm()
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// Builds this signer's complete `DKIM-Signature` field, CRLF included.
    fn signature_field(
        &self,
        signed: &SignedHeaders,
        body_hash: &str,
        seconds: &str,
    ) -> Result<String, DkimError> {
        let mut field = Folder::new(SIGNATURE_FIELD);
        field.tag(&["v=1;"]);
        field.tag(&["a=", self.algorithm().signature_tag(), ";"]);
        field.tag(&["c=relaxed/relaxed;"]);
        field.tag(&["d=", &self.domain, ";"]);
        field.tag(&["s=", &self.selector, ";"]);
        field.tag(&["t=", seconds, ";"]);
        // `h=` may be folded after any colon (RFC 6376 §3.5, sig-h-tag).
        let last = signed.names.len().saturating_sub(1);
        for (i, name) in signed.names.iter().enumerate() {
            let end = if i == last { ";" } else { ":" };
            if i == 0 {
                field.tag(&["h=", name, end]);
            } else {
                field.glue(&[name, end]);
            }
        }
        field.tag(&["bh=", body_hash, ";"]);
        // Keep a few characters of the signature on the line of `b=`.
        field.tag_with_room("b=", 8);

        // The signature covers the signed header fields and then this field
        // with an empty b= value, canonicalised, without its final CRLF.
        let unsigned = field.text.as_bytes();
        let value = &unsigned[SIGNATURE_FIELD.len() + 1..];
        let mut data = Vec::with_capacity(signed.data.len() + unsigned.len());
        data.extend_from_slice(&signed.data);
        relaxed_header(SIGNATURE_FIELD.as_bytes(), value, &mut data);
        let signature = self.key.sign(&data)?;

        // Base64 may be folded anywhere (RFC 6376 §2.4); verifiers drop the
        // whitespace, and the b= value is removed before hashing anyway.
        field.split_anywhere(&STANDARD.encode(signature));
        field.text.push_str("\r\n");
        Ok(field.text)
    }
}

impl fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimSigner")
            .field("algorithm", &self.algorithm())
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

/// Whether `name` is dot-separated labels of letters, digits and hyphens
/// (and underscores where `underscore` is set), each 1 to 63 long.
fn is_dns_name(name: &str, underscore: bool) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || (underscore && b == b'_'))
        })
}

/// Signs a complete RFC 5322 message (CRLF line endings, header fields, an
/// empty line, the body) with every signer, for instance one RSA and one
/// Ed25519 signer, and returns the message with one `DKIM-Signature` field
/// per signer prepended (the last signer's first). A bare LF in `raw` is
/// converted to CRLF (see the module documentation). With no signers the
/// message is returned unchanged apart from that conversion.
///
/// `now` goes into the `t=` tag, in Unix seconds.
pub fn sign(signers: &[DkimSigner], raw: &[u8], now: Timestamp) -> Result<Vec<u8>, DkimError> {
    let message = crlf_line_endings(raw);
    if signers.is_empty() {
        return Ok(message.into_owned());
    }
    let seconds = u64::try_from(now.millis().div_euclid(1000))
        .map_err(|_| DkimError::TimeBeforeEpoch)?
        .to_string();
    let (header, body) = split_message(&message);
    let fields = parse_fields(header)?;
    let signed = select_signed(&fields)?;

    // Every signer uses SHA-256 and relaxed body canonicalisation, so one
    // body hash serves them all.
    let mut hasher = Sha256::new();
    relaxed_body(body, |chunk| hasher.update(chunk));
    let body_hash = STANDARD.encode(hasher.finalize());

    let mut out = Vec::with_capacity(message.len() + signers.len() * 800);
    for signer in signers.iter().rev() {
        out.extend_from_slice(
            signer
                .signature_field(&signed, &body_hash, &seconds)?
                .as_bytes(),
        );
    }
    out.extend_from_slice(&message);
    Ok(out)
}

/// Converts each LF not preceded by CR into CRLF; borrows when there is none.
fn crlf_line_endings(raw: &[u8]) -> Cow<'_, [u8]> {
    let is_bare = |i: usize| raw[i] == b'\n' && (i == 0 || raw[i - 1] != b'\r');
    let bare = (0..raw.len()).filter(|&i| is_bare(i)).count();
    if bare == 0 {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + bare);
    for (i, &b) in raw.iter().enumerate() {
        if is_bare(i) {
            out.push(b'\r');
        }
        out.push(b);
    }
    Cow::Owned(out)
}

/// Splits a CRLF message into the header block (each field ending in CRLF,
/// except perhaps the last when there is no body) and the body.
fn split_message(message: &[u8]) -> (&[u8], &[u8]) {
    if let Some(body) = message.strip_prefix(b"\r\n") {
        return (&[], body);
    }
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&message[..i + 2], &message[i + 4..]),
        None => (message, &[]),
    }
}

/// One header field: its name (without trailing whitespace) and its value,
/// everything after the colon, folding included, without the final CRLF.
struct Field<'a> {
    name: &'a [u8],
    value: &'a [u8],
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_end_wsp(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., last] = bytes {
        if !is_wsp(*last) {
            break;
        }
        bytes = rest;
    }
    bytes
}

/// Splits the header block into fields, joining continuation lines.
fn parse_fields(header: &[u8]) -> Result<Vec<Field<'_>>, DkimError> {
    let mut fields: Vec<Field<'_>> = Vec::with_capacity(24);
    // (start of the field, end of the name, start of the value)
    let mut current: Option<(usize, usize, usize)> = None;
    let mut start = 0;
    let mut line = 0;
    while start < header.len() {
        line += 1;
        let end = header[start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(header.len(), |i| start + i);
        let text = &header[start..end];
        if text.first().is_some_and(|&b| is_wsp(b)) {
            if current.is_none() {
                return Err(DkimError::MalformedHeader {
                    line,
                    reason: "the first line is a continuation line",
                });
            }
        } else {
            if let Some((field_start, name_end, value_start)) = current {
                fields.push(Field {
                    name: &header[field_start..name_end],
                    value: &header[value_start..start - 2],
                });
            }
            let colon = text
                .iter()
                .position(|&b| b == b':')
                .ok_or(DkimError::MalformedHeader {
                    line,
                    reason: "the line has no colon",
                })?;
            let name = trim_end_wsp(&text[..colon]);
            if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
                return Err(DkimError::MalformedHeader {
                    line,
                    reason: "the field name is empty or has invalid characters",
                });
            }
            current = Some((start, start + name.len(), start + colon + 1));
        }
        start = end + 2;
    }
    if let Some((field_start, name_end, value_start)) = current {
        let end = header.strip_suffix(b"\r\n").unwrap_or(header).len();
        fields.push(Field {
            name: &header[field_start..name_end],
            value: &header[value_start..end],
        });
    }
    Ok(fields)
}

/// The `h=` list and the canonicalised data of the fields it names, shared
/// by all signers of one message.
struct SignedHeaders {
    names: Vec<&'static str>,
    data: Vec<u8>,
}

/// Picks the fields to sign. A name occurring several times is listed as
/// often, and its instances are signed from the bottom up (RFC 6376
/// §5.4.2); `from` is listed once more than it occurs, so that it refers to
/// a missing field and any From added later breaks the signature.
fn select_signed(fields: &[Field<'_>]) -> Result<SignedHeaders, DkimError> {
    let mut signed = SignedHeaders {
        names: Vec::with_capacity(SIGNED_FIELDS.len() + 4),
        data: Vec::with_capacity(1024),
    };
    for name in SIGNED_FIELDS {
        for field in fields
            .iter()
            .rev()
            .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        {
            signed.names.push(name);
            relaxed_header(field.name, field.value, &mut signed.data);
            signed.data.extend_from_slice(b"\r\n");
        }
    }
    if signed.names.first() != Some(&"from") {
        return Err(DkimError::MissingFrom);
    }
    signed.names.push("from");
    Ok(signed)
}

/// Writes a header field in relaxed canonical form (RFC 6376 §3.4.2),
/// without the final CRLF: the name in lower case, a colon, then the value
/// unfolded, with each run of whitespace made one space and whitespace at
/// both ends removed.
fn relaxed_header(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.extend(trim_end_wsp(name).iter().map(u8::to_ascii_lowercase));
    out.push(b':');
    let mut space = false;
    let mut started = false;
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b' ' | b'\t' => space = true,
            // Unfolding removes the CRLF; the whitespace after it remains.
            b'\r' if value.get(i + 1) == Some(&b'\n') => i += 1,
            b => {
                if space && started {
                    out.push(b' ');
                }
                space = false;
                started = true;
                out.push(b);
            }
        }
        i += 1;
    }
}

/// Feeds the relaxed canonical body (RFC 6376 §3.4.4) to `sink`, in pieces:
/// whitespace at line ends removed, other whitespace runs made one space,
/// empty lines at the end removed, and every remaining line ending in CRLF
/// (so a body that is empty or only empty lines canonicalises to nothing).
fn relaxed_body(body: &[u8], mut sink: impl FnMut(&[u8])) {
    let mut blank_lines = 0usize;
    let mut rest = body;
    while !rest.is_empty() {
        let line = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let line = &rest[..i];
                rest = &rest[i + 1..];
                line.strip_suffix(b"\r").unwrap_or(line)
            }
            None => std::mem::take(&mut rest),
        };
        let line = trim_end_wsp(line);
        if line.is_empty() {
            // Written only if a non-empty line follows.
            blank_lines += 1;
            continue;
        }
        for _ in 0..blank_lines {
            sink(b"\r\n");
        }
        blank_lines = 0;
        relaxed_line(line, &mut sink);
        sink(b"\r\n");
    }
}

/// Feeds a body line without trailing whitespace to `sink`, each whitespace
/// run replaced by one space. Text that is already canonical (single
/// spaces) is passed on in one piece.
fn relaxed_line(line: &[u8], sink: &mut impl FnMut(&[u8])) {
    let mut piece_start = 0;
    let mut i = 0;
    while i < line.len() {
        if !is_wsp(line[i]) {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < line.len() && is_wsp(line[i]) {
            i += 1;
        }
        if i - run_start == 1 && line[run_start] == b' ' {
            continue;
        }
        sink(&line[piece_start..run_start]);
        sink(b" ");
        piece_start = i;
    }
    sink(&line[piece_start..]);
}

/// Builds a folded header field, tracking the length of the current line.
/// Folds are CRLF followed by one space.
struct Folder {
    text: String,
    line_len: usize,
}

impl Folder {
    fn new(name: &str) -> Self {
        let mut text = String::with_capacity(800);
        text.push_str(name);
        text.push(':');
        Self {
            line_len: text.len(),
            text,
        }
    }

    fn fold(&mut self) {
        self.text.push_str("\r\n ");
        self.line_len = 1;
    }

    fn push(&mut self, parts: &[&str]) {
        for part in parts {
            self.text.push_str(part);
            self.line_len += part.len();
        }
    }

    /// Starts a tag after a space, or on a new line if it would not fit.
    fn tag(&mut self, parts: &[&str]) {
        self.tag_with_room_parts(parts, 0);
    }

    /// Like [`Folder::tag`], but also wants `room` characters left after it.
    fn tag_with_room(&mut self, text: &str, room: usize) {
        self.tag_with_room_parts(&[text], room);
    }

    fn tag_with_room_parts(&mut self, parts: &[&str], room: usize) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if self.line_len + 1 + len + room > MAX_LINE {
            self.fold();
        } else {
            self.push(&[" "]);
        }
        self.push(parts);
    }

    /// Continues the current tag directly, or on a new line if it would not
    /// fit (only where the grammar allows folding whitespace).
    fn glue(&mut self, parts: &[&str]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if self.line_len + len > MAX_LINE {
            self.fold();
        }
        self.push(parts);
    }

    /// Appends ASCII text (base64) that may be split at any character.
    fn split_anywhere(&mut self, mut text: &str) {
        while !text.is_empty() {
            let room = MAX_LINE.saturating_sub(self.line_len);
            if room == 0 {
                self.fold();
                continue;
            }
            let (now, later) = text.split_at(room.min(text.len()));
            self.push(&[now]);
            text = later;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    const DOMAIN: &str = "news.example.com";

    fn now() -> Timestamp {
        Timestamp::from_millis(1_767_225_600_123)
    }

    /// One key of each kind, generated once for all tests.
    fn keys() -> &'static (GeneratedKey, GeneratedKey) {
        static KEYS: OnceLock<(GeneratedKey, GeneratedKey)> = OnceLock::new();
        KEYS.get_or_init(|| {
            (
                generate(DkimAlgorithm::Rsa).expect("rsa key"),
                generate(DkimAlgorithm::Ed25519).expect("ed25519 key"),
            )
        })
    }

    fn rsa_signer() -> DkimSigner {
        let key = &keys().0;
        DkimSigner::new(DkimAlgorithm::Rsa, DOMAIN, "sw-rsa", &key.private_pkcs8).expect("rsa")
    }

    fn ed_signer() -> DkimSigner {
        let key = &keys().1;
        DkimSigner::new(DkimAlgorithm::Ed25519, DOMAIN, "sw-ed", &key.private_pkcs8).expect("ed")
    }

    /// The DNS records for both test signers.
    fn records() -> Vec<(String, String)> {
        vec![
            (format!("sw-rsa._domainkey.{DOMAIN}."), keys().0.dns_txt()),
            (format!("sw-ed._domainkey.{DOMAIN}."), keys().1.dns_txt()),
        ]
    }

    /// A message with the awkward parts canonicalisation has to get right:
    /// folded and tabbed headers, a repeated To, mixed-case names, trailing
    /// whitespace, whitespace runs and empty lines at the end of the body.
    fn message() -> Vec<u8> {
        [
            "From: \"News\" <news@news.example.com>\r\n",
            "To: alice@example.org\r\n",
            "to:  bob@example.org \r\n",
            "Subject: Welcome to\r\n\tthe   newsletter  \r\n",
            "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n",
            "Message-ID: <abc.123@news.example.com>\r\n",
            "MIME-Version: 1.0\r\n",
            "Content-Type: text/plain; charset=utf-8\r\n",
            "Content-Transfer-Encoding: 8bit\r\n",
            "List-Unsubscribe: <https://news.example.com/u/token>\r\n",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            "X-Mailer: sendwell\r\n",
            "\r\n",
            "Hello  Alice,\t \r\n",
            "\r\n",
            "  indented\tline\r\n",
            "Bye.\r\n",
            "\r\n",
            " \r\n",
        ]
        .concat()
        .into_bytes()
    }

    fn body_hash(body: &[u8]) -> String {
        let mut hasher = Sha256::new();
        relaxed_body(body, |chunk| hasher.update(chunk));
        STANDARD.encode(hasher.finalize())
    }

    fn canonical_body(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        relaxed_body(body, |chunk| out.extend_from_slice(chunk));
        out
    }

    fn canonical_headers(header: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for field in parse_fields(header).expect("fields") {
            relaxed_header(field.name, field.value, &mut out);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// The header block of a message, as text.
    fn header_text(message: &[u8]) -> String {
        let (header, _) = split_message(message);
        String::from_utf8(header.to_vec()).expect("utf-8")
    }

    /// The unfolded DKIM-Signature fields of a signed message.
    fn signature_fields(message: &[u8]) -> Vec<String> {
        let (header, _) = split_message(message);
        parse_fields(header)
            .expect("fields")
            .iter()
            .filter(|f| f.name == SIGNATURE_FIELD.as_bytes())
            .map(|f| {
                let mut out = Vec::new();
                relaxed_header(f.name, f.value, &mut out);
                String::from_utf8(out).expect("utf-8")
            })
            .collect()
    }

    fn tag<'a>(field: &'a str, name: &str) -> &'a str {
        let value = field.split_once(':').expect("colon").1;
        value
            .split(';')
            .map(str::trim)
            .find_map(|t| t.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .expect("tag present")
    }

    #[test]
    fn rfc6376_example_headers() {
        // RFC 6376 §3.4.5.
        let header = b"A: X\r\nB : Y\t\r\n\tZ  \r\n";
        assert_eq!(canonical_headers(header), b"a:X\r\nb:Y Z\r\n");
    }

    #[test]
    fn rfc6376_example_body() {
        // RFC 6376 §3.4.5.
        let body = b" C \r\nD \t E\r\n\r\n\r\n";
        assert_eq!(canonical_body(body), b" C\r\nD E\r\n");
    }

    #[test]
    fn relaxed_header_unfolds_lowercases_and_trims() {
        let header = b"SUBJECT:\t  Hello \r\n   big\t\r\n\tworld \t\r\nX-Empty:\r\nX-Blank:   \r\n";
        assert_eq!(
            canonical_headers(header),
            b"subject:Hello big world\r\nx-empty:\r\nx-blank:\r\n"
        );
    }

    #[test]
    fn relaxed_body_edge_cases() {
        let empty_hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        assert_eq!(body_hash(b""), empty_hash);
        assert_eq!(body_hash(b"\r\n"), empty_hash);
        assert_eq!(body_hash(b"\r\n \t\r\n\r\n"), empty_hash);
        // A final CRLF is added, inner empty lines are kept.
        assert_eq!(canonical_body(b"a  b"), b"a b\r\n");
        assert_eq!(
            canonical_body(b"a\r\n\r\n \r\nb\r\n"),
            b"a\r\n\r\n\r\nb\r\n"
        );
        // Leading whitespace becomes one space; a bare CR stays content.
        assert_eq!(canonical_body(b"\t\tx\ry \r\n"), b" x\ry\r\n");
        // Bare LF ends a line too.
        assert_eq!(canonical_body(b"a \nb\n\n"), b"a\r\nb\r\n");
    }

    #[test]
    fn bare_lf_is_converted_to_crlf() {
        let crlf = message();
        let lf = String::from_utf8(crlf.clone())
            .expect("utf-8")
            .replace("\r\n", "\n");
        assert!(matches!(crlf_line_endings(&crlf), Cow::Borrowed(_)));
        assert_eq!(crlf_line_endings(lf.as_bytes()).as_ref(), crlf.as_slice());
        // Both algorithms are deterministic, so the results must match.
        let signers = [rsa_signer(), ed_signer()];
        let from_crlf = sign(&signers, &crlf, now()).expect("sign");
        let from_lf = sign(&signers, lf.as_bytes(), now()).expect("sign");
        assert_eq!(from_crlf, from_lf);
    }

    #[test]
    fn signature_tags_and_signed_fields() {
        let signed = sign(&[ed_signer()], &message(), now()).expect("sign");
        let fields = signature_fields(&signed);
        assert_eq!(fields.len(), 1);
        let field = &fields[0];
        assert_eq!(tag(field, "v"), "1");
        assert_eq!(tag(field, "a"), "ed25519-sha256");
        assert_eq!(tag(field, "c"), "relaxed/relaxed");
        assert_eq!(tag(field, "d"), DOMAIN);
        assert_eq!(tag(field, "s"), "sw-ed");
        assert_eq!(tag(field, "t"), "1767225600");
        assert_eq!(
            tag(field, "h").replace(' ', ""),
            "from:to:to:subject:date:message-id:mime-version:content-type:\
             content-transfer-encoding:list-unsubscribe:list-unsubscribe-post:from"
        );
        let (_, body) = split_message(&signed);
        assert_eq!(tag(field, "bh"), body_hash(body));
        assert_eq!(tag(field, "b").replace(' ', "").len(), 88);
        // The original message follows the signature unchanged.
        assert!(signed.ends_with(&message()));
    }

    #[test]
    fn header_lines_are_folded_within_78_characters() {
        let signed = sign(&[rsa_signer(), ed_signer()], &message(), now()).expect("sign");
        let header = header_text(&signed);
        for line in header.split("\r\n") {
            assert!(line.len() <= MAX_LINE, "line too long: {line:?}");
        }
        assert_eq!(header.matches("DKIM-Signature:").count(), 2);
        // The last signer's field comes first.
        assert!(header.starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"));
    }

    #[test]
    fn refuses_bad_input() {
        let signers = [ed_signer()];
        let no_from = b"To: a@example.org\r\nSubject: x\r\n\r\nbody\r\n";
        assert!(matches!(
            sign(&signers, no_from, now()),
            Err(DkimError::MissingFrom)
        ));
        let continuation_first = b" From: a@example.org\r\n\r\nbody\r\n";
        assert!(matches!(
            sign(&signers, continuation_first, now()),
            Err(DkimError::MalformedHeader { line: 1, .. })
        ));
        let no_colon = b"From: a@example.org\r\nnot a header\r\n\r\nbody\r\n";
        assert!(matches!(
            sign(&signers, no_colon, now()),
            Err(DkimError::MalformedHeader { line: 2, .. })
        ));
        assert!(matches!(
            sign(&signers, &message(), Timestamp::from_millis(-5)),
            Err(DkimError::TimeBeforeEpoch)
        ));
        let pkcs8 = &keys().1.private_pkcs8;
        for domain in ["", "a..b", "x;y.com", "a b.com", "d.com\r\nX: y"] {
            assert!(matches!(
                DkimSigner::new(DkimAlgorithm::Ed25519, domain, "s1", pkcs8),
                Err(DkimError::InvalidDomain(_))
            ));
        }
        assert!(matches!(
            DkimSigner::new(DkimAlgorithm::Ed25519, DOMAIN, "s;1", pkcs8),
            Err(DkimError::InvalidSelector(_))
        ));
        // An Ed25519 key is not an RSA key, and garbage is no key.
        assert!(matches!(
            DkimSigner::new(DkimAlgorithm::Rsa, DOMAIN, "s1", pkcs8),
            Err(DkimError::InvalidKey { .. })
        ));
        assert!(matches!(
            public_key_b64(DkimAlgorithm::Ed25519, b"not a key"),
            Err(DkimError::InvalidKey { .. })
        ));
    }

    #[test]
    fn no_signers_and_no_body() {
        let raw = b"From: a@example.org\nSubject: x";
        assert_eq!(
            sign(&[], raw, now()).expect("sign"),
            b"From: a@example.org\r\nSubject: x"
        );
        let signed = sign(&[ed_signer()], raw, now()).expect("sign");
        let field = &signature_fields(&signed)[0];
        assert_eq!(tag(field, "bh"), body_hash(b""));
    }

    #[test]
    fn algorithm_names() {
        for algorithm in [DkimAlgorithm::Rsa, DkimAlgorithm::Ed25519] {
            assert_eq!(
                algorithm.as_str().parse::<DkimAlgorithm>().ok(),
                Some(algorithm)
            );
            let json = serde_json::to_string(&algorithm).expect("json");
            assert_eq!(json, format!("\"{}\"", algorithm.as_str()));
        }
        assert_eq!(
            " RSA ".parse::<DkimAlgorithm>().ok(),
            Some(DkimAlgorithm::Rsa)
        );
        assert!("dsa".parse::<DkimAlgorithm>().is_err());
    }

    #[test]
    fn generated_keys_and_dns_records() {
        let (rsa, ed) = keys();
        assert!(rsa.dns_txt().starts_with("v=DKIM1; k=rsa; p=MII"));
        assert!(ed.dns_txt().starts_with("v=DKIM1; k=ed25519; p="));
        // The p= value can be recomputed from the stored private key.
        assert_eq!(
            public_key_b64(DkimAlgorithm::Rsa, &rsa.private_pkcs8).expect("rsa"),
            rsa.public_key_b64
        );
        assert_eq!(
            public_key_b64(DkimAlgorithm::Ed25519, &ed.private_pkcs8).expect("ed"),
            ed.public_key_b64
        );
        assert_eq!(STANDARD.decode(&ed.public_key_b64).expect("b64").len(), 32);
        // RSA p= is a SubjectPublicKeyInfo with the rsaEncryption OID.
        let spki = STANDARD.decode(&rsa.public_key_b64).expect("b64");
        let rsa_encryption = [
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
        ];
        assert_eq!(spki[0], 0x30);
        assert!(spki
            .windows(rsa_encryption.len())
            .any(|w| w == rsa_encryption));
        assert!(format!("{rsa:?}").contains("public_key_b64"));
        assert!(!format!("{rsa:?}").contains("private"));
    }

    // --- Independent verification with dkimpy ---------------------------

    /// Runs dkimpy on `message`, answering DNS queries from `records`, and
    /// returns whether every DKIM-Signature in it verifies. `None` when
    /// dkimpy is missing and SENDWELL_SKIP_DKIMPY=1 allows skipping.
    fn dkimpy_verifies(message: &[u8], records: &[(String, String)]) -> Option<bool> {
        if !dkimpy_available() {
            if std::env::var("SENDWELL_SKIP_DKIMPY").as_deref() == Ok("1") {
                eprintln!("skipped the dkimpy verification: SENDWELL_SKIP_DKIMPY=1");
                return None;
            }
            panic!(
                "python3 with dkimpy is needed to verify DKIM signatures: \
                 run `pip install dkimpy pynacl` (or set SENDWELL_SKIP_DKIMPY=1 to skip)"
            );
        }
        let path = write_temp_message(message);
        let mut command = Command::new("python3");
        command.arg("-c").arg(DKIMPY_SCRIPT).arg(&path);
        for (name, txt) in records {
            command.arg(name).arg(txt);
        }
        let output = command.output().expect("run python3");
        let _ = std::fs::remove_file(&path);
        match output.status.code() {
            Some(0) => Some(true),
            Some(10) => Some(false),
            _ => panic!(
                "the dkimpy script failed: {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }

    /// Whether python3 can import dkimpy, asked once per test run.
    fn dkimpy_available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            let importable = || {
                Command::new("python3")
                    .args(["-c", "import dkim, nacl"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            // A fresh machine gets the verifier from PyPI once.
            importable()
                || (Command::new("python3")
                    .args(["-m", "pip", "install", "--quiet", "dkimpy", "pynacl"])
                    .status()
                    .is_ok_and(|s| s.success())
                    && importable())
        })
    }

    /// The message in a temp file of its own (tests run in parallel).
    fn write_temp_message(message: &[u8]) -> std::path::PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "sendwell-dkim-{}-{}.eml",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, message).expect("write temp message");
        path
    }

    /// Verifies every DKIM-Signature of the file `argv[1]`, with DNS
    /// answered from the name/value pairs after it; exits 0 when there are
    /// some and all pass, else 10.
    const DKIMPY_SCRIPT: &str = r#"
import logging, sys
import dkim
logging.basicConfig(level=logging.INFO)
msg = open(sys.argv[1], 'rb').read()
records = {sys.argv[i].encode(): sys.argv[i + 1].encode() for i in range(2, len(sys.argv), 2)}
def dnsfunc(name, timeout=5):
    return records.get(name)
header = msg.split(b'\r\n\r\n', 1)[0]
count = sum(1 for line in header.split(b'\r\n') if line.lower().startswith(b'dkim-signature:'))
d = dkim.DKIM(msg)
results = []
for i in range(count):
    try:
        results.append(bool(d.verify(idx=i, dnsfunc=dnsfunc)))
    except dkim.DKIMException as e:
        print('signature', i, 'error:', e)
        results.append(False)
print('signatures:', count, 'results:', results)
sys.exit(0 if count > 0 and all(results) else 10)
"#;

    fn replace_once(message: &[u8], from: &str, to: &str) -> Vec<u8> {
        let text = String::from_utf8(message.to_vec()).expect("utf-8");
        assert!(text.contains(from), "{from:?} not in the message");
        text.replacen(from, to, 1).into_bytes()
    }

    fn assert_verifies(signers: &[DkimSigner]) {
        let signed = sign(signers, &message(), now()).expect("sign");
        if let Some(ok) = dkimpy_verifies(&signed, &records()) {
            assert!(ok, "dkimpy rejected:\n{}", header_text(&signed));
        }
    }

    fn assert_tampering_fails(signers: &[DkimSigner]) {
        let signed = sign(signers, &message(), now()).expect("sign");
        let body = replace_once(&signed, "Hello  Alice", "Hello  Alica");
        let subject = replace_once(&signed, "Subject: Welcome", "Subject: Welcomf");
        for tampered in [body, subject] {
            if let Some(ok) = dkimpy_verifies(&tampered, &records()) {
                assert!(!ok, "dkimpy accepted a tampered message");
            }
        }
    }

    #[test]
    fn dkimpy_verifies_rsa() {
        assert_verifies(&[rsa_signer()]);
    }

    #[test]
    fn dkimpy_verifies_ed25519() {
        assert_verifies(&[ed_signer()]);
    }

    #[test]
    fn dkimpy_verifies_rsa_and_ed25519_together() {
        assert_verifies(&[rsa_signer(), ed_signer()]);
    }

    #[test]
    fn dkimpy_rejects_tampered_messages() {
        assert_tampering_fails(&[rsa_signer()]);
        assert_tampering_fails(&[ed_signer()]);
        assert_tampering_fails(&[rsa_signer(), ed_signer()]);
    }

    #[test]
    fn dkimpy_rejects_an_added_from() {
        let signed = sign(&[rsa_signer(), ed_signer()], &message(), now()).expect("sign");
        let added = replace_once(&signed, "From: ", "From: evil@example.net\r\nFrom: ");
        if let Some(ok) = dkimpy_verifies(&added, &records()) {
            assert!(!ok, "dkimpy accepted a message with an added From");
        }
    }

    #[test]
    fn dkimpy_verifies_a_lf_message_and_a_fresh_rsa_key() {
        // A key generated here, published only through its p= value: proves
        // that p= is a SubjectPublicKeyInfo verifiers can read.
        let key = generate(DkimAlgorithm::Rsa).expect("rsa");
        let signer = DkimSigner::new(
            DkimAlgorithm::Rsa,
            "example.net",
            "fresh",
            &key.private_pkcs8,
        )
        .expect("signer");
        let lf = "From: a@example.net\nTo: b@example.org\nSubject: Hi\n\nBody\n";
        let signed = sign(&[signer], lf.as_bytes(), now()).expect("sign");
        let records = [("fresh._domainkey.example.net.".to_owned(), key.dns_txt())];
        if let Some(ok) = dkimpy_verifies(&signed, &records) {
            assert!(ok, "dkimpy rejected:\n{}", header_text(&signed));
        }
    }
}
