//! Building the RFC 5322 / MIME bytes of one outgoing message, once per
//! recipient: the header block (RFC 2047 encoded-words, folding, no header
//! injection whatever the input), quoted-printable bodies, and the
//! `multipart/alternative` layout when there is an HTML part.
//!
//! Everything is written straight into one `Vec<u8>`: no regex, no per-char
//! allocation, and the only allocations are for inputs that need sanitising.
//! Whatever the caller passes, the output has CRLF line endings only, header
//! lines of at most 998 octets (78 where the content allows folding) and body
//! lines of at most 76.

use std::borrow::Cow;

use sendwell_core::Timestamp;

/// One side of a From / To / Reply-To header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    /// Display name, any text. Trimmed, controls replaced by spaces, then
    /// written as atoms, a quoted-string or encoded-words as needed.
    pub name: Option<String>,
    /// Already validated by the caller (an `EmailAddress`, domain in ASCII
    /// form unless the message goes out over SMTPUTF8). Written as given
    /// except that controls, whitespace and `<` `>` are removed defensively.
    pub address: String,
}

/// Everything one message is built from. Borrowed, so that the per-recipient
/// parts (To, Message-ID, unsubscribe headers, rendered bodies) can change
/// while the shared ones are not copied.
#[derive(Clone, Copy, Debug)]
pub struct OutgoingMail<'a> {
    pub from: &'a Mailbox,
    pub to: &'a Mailbox,
    pub reply_to: Option<&'a Mailbox>,
    pub subject: &'a str,
    pub date: Timestamp,
    /// Without the angle brackets, e.g. `01J...@sendwell.example`.
    pub message_id: &'a str,
    /// Extra header fields written after Message-ID, in this order, e.g.
    /// List-Unsubscribe, List-Unsubscribe-Post, List-Id. Names must be
    /// `[A-Za-z0-9-]+` and must not be one of the fields this module writes.
    pub headers: &'a [(&'a str, String)],
    pub text: &'a str,
    pub html: Option<&'a str>,
}

/// Why a message could not be built. Every case is a bug in the calling
/// code (the user-editable parts — subject, names, bodies — never fail: they
/// are sanitised and encoded instead).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MimeError {
    #[error("the header name {0:?} is not valid: use 1 to 76 letters, digits or '-'")]
    InvalidHeaderName(String),
    #[error(
        "the header {0:?} is written by the MIME builder itself; it cannot be an extra header"
    )]
    ReservedHeaderName(String),
    #[error("the address {0:?} is empty or longer than 254 octets once controls, whitespace and '<' '>' are removed")]
    InvalidAddress(String),
    #[error("the message id {0:?} is empty or longer than 250 octets once controls, whitespace and '<' '>' are removed")]
    InvalidMessageId(String),
}

/// Folding target for header lines (RFC 5322 2.1.1 "SHOULD").
const HEADER_LINE: usize = 78;
/// RFC 2047 2: an encoded-word is at most 75 characters.
const ENCODED_WORD: usize = 75;
/// `=?UTF-8?Q?` + `?=`.
const ENCODED_WORD_OVERHEAD: usize = 12;
/// Content of a QP line that ends in a soft break (`=` makes it 76).
const QP_CONTENT: usize = 75;
/// Longer unbreakable words are encoded (encoded-words can be split
/// anywhere) so that no header line can reach the 998-octet hard limit:
/// 76 (name) + 2 + 900 < 998.
const MAX_PLAIN_WORD: usize = 900;
const MAX_HEADER_NAME: usize = 76;
const MAX_ADDRESS: usize = 254;
const MAX_MESSAGE_ID: usize = 250;
/// Written by this module, or by the receiving side (Return-Path): an extra
/// header with one of these names would duplicate or contradict ours (a second
/// From breaks DMARC, a Bcc adds recipients).
const RESERVED_HEADERS: &[&str] = &[
    "date",
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "subject",
    "message-id",
    "mime-version",
    "return-path",
];

/// The part headers of the text and the HTML body.
const TEXT_PART: &[u8] = b"Content-Type: text/plain; charset=utf-8\r\n\
      Content-Transfer-Encoding: quoted-printable\r\n\r\n";
const HTML_PART: &[u8] = b"Content-Type: text/html; charset=utf-8\r\n\
      Content-Transfer-Encoding: quoted-printable\r\n\r\n";

impl OutgoingMail<'_> {
    /// The whole message, ready for SMTP DATA (before dot-stuffing, which the
    /// transport does; QP already keeps lines from starting with "." or
    /// "From ").
    pub fn build(&self) -> Result<Vec<u8>, MimeError> {
        let mut out = Vec::new();
        self.build_into(&mut out)?;
        Ok(out)
    }

    /// Appends the message to `out` (reuse one buffer across recipients).
    /// On error nothing has been appended.
    pub fn build_into(&self, out: &mut Vec<u8>) -> Result<(), MimeError> {
        // All checks come first so that a failure leaves `out` as it was.
        let from = clean_address(&self.from.address)?;
        let to = clean_address(&self.to.address)?;
        let reply_to = match self.reply_to {
            Some(m) => Some(clean_address(&m.address)?),
            None => None,
        };
        let message_id = clean_message_id(self.message_id)?;
        for (name, _) in self.headers {
            check_header_name(name)?;
        }

        out.reserve(self.size_hint());
        self.write_headers(out, &from, &to, reply_to.as_deref(), &message_id);
        match self.html {
            None => self.write_text_body(out),
            Some(html) => self.write_alternative_body(out, html, &message_id),
        }
        Ok(())
    }

    /// The header block, with addresses and the message id already checked.
    fn write_headers(
        &self,
        out: &mut Vec<u8>,
        from: &str,
        to: &str,
        reply_to: Option<&str>,
        message_id: &str,
    ) {
        out.extend_from_slice(b"Date: ");
        write_date(out, self.date);
        out.extend_from_slice(b"\r\n");
        write_mailbox(out, "From", self.from.name.as_deref(), from);
        write_mailbox(out, "To", self.to.name.as_deref(), to);
        if let (Some(m), Some(addr)) = (self.reply_to, reply_to) {
            write_mailbox(out, "Reply-To", m.name.as_deref(), addr);
        }
        write_text_header(out, "Subject", self.subject);
        out.extend_from_slice(b"Message-ID: <");
        out.extend_from_slice(message_id.as_bytes());
        out.extend_from_slice(b">\r\n");
        for (name, value) in self.headers {
            write_words_header(out, name, value);
        }
        out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    }

    /// A text-only message: the text is the whole body.
    fn write_text_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(TEXT_PART);
        write_qp(out, self.text.as_bytes());
        // The message must end in CRLF; a soft break provides it
        // without adding a line break to the decoded text.
        if !self.text.is_empty() && !self.text.ends_with(['\r', '\n']) {
            out.extend_from_slice(b"=\r\n");
        }
    }

    /// multipart/alternative: the text part, then the HTML part.
    fn write_alternative_body(&self, out: &mut Vec<u8>, html: &str, message_id: &str) {
        let boundary = boundary(message_id);
        out.extend_from_slice(b"Content-Type: multipart/alternative; boundary=\"");
        out.extend_from_slice(&boundary);
        out.extend_from_slice(b"\"\r\n\r\n");
        // The CRLF before each delimiter belongs to the delimiter
        // (RFC 2046 5.1.1), so parts decode to exactly their input.
        for (headers, body) in [(TEXT_PART, self.text), (HTML_PART, html)] {
            out.extend_from_slice(b"--");
            out.extend_from_slice(&boundary);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(headers);
            write_qp(out, body.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--");
        out.extend_from_slice(&boundary);
        out.extend_from_slice(b"--\r\n");
    }

    fn size_hint(&self) -> usize {
        let extra: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 8)
            .sum();
        let bodies = self.text.len() + self.html.map_or(0, str::len);
        // QP of mostly-ASCII text grows by a few percent (soft breaks).
        1024 + extra + 2 * self.subject.len() + bodies + bodies / 8
    }
}

/// Writes one `Name: value` header field (with its CRLF) as the builder
/// writes extra headers: controls become spaces, whitespace runs collapse to
/// one space (the value is treated as structured: whitespace is not
/// significant), words that are non-ASCII, contain `=?` or are too long to
/// fit a line become encoded-words, and the line is folded at spaces.
pub fn write_header(out: &mut Vec<u8>, name: &str, value: &str) -> Result<(), MimeError> {
    check_header_name(name)?;
    write_words_header(out, name, value);
    Ok(())
}

/// The RFC 5322 form of an instant, in UTC: `Thu, 26 Nov 2026 16:05:00 +0000`.
/// Instants before 1970 or after 9999 are clamped to that range.
pub fn rfc5322_date(t: Timestamp) -> String {
    t.to_rfc5322()
}

fn write_date(out: &mut Vec<u8>, t: Timestamp) {
    out.extend_from_slice(t.to_rfc5322().as_bytes());
}

// ---------------------------------------------------------------------------
// Validation and sanitising

/// Characters that must never reach a header: CR and LF (a new header
/// line), NUL, every other C0/C1 control and DEL, and the Unicode line and
/// paragraph separators some readers display as line breaks.
fn is_forbidden(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Replaces each forbidden character with a space; borrows when there is
/// none (the common case).
fn sanitize(text: &str) -> Cow<'_, str> {
    let clean_ascii = text.bytes().all(|b| (0x20..0x7f).contains(&b));
    if clean_ascii || !text.chars().any(is_forbidden) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if is_forbidden(c) { ' ' } else { c })
            .collect(),
    )
}

/// Removes what can never be part of an addr-spec or msg-id written inside
/// angle brackets.
fn strip_for_angle(text: &str) -> Cow<'_, str> {
    let plain_ascii = |b: u8| (0x21..0x7f).contains(&b) && b != b'<' && b != b'>';
    let bad = |c: char| is_forbidden(c) || c.is_whitespace() || c == '<' || c == '>';
    if !text.bytes().all(plain_ascii) && text.chars().any(bad) {
        Cow::Owned(text.chars().filter(|&c| !bad(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

fn clean_address(address: &str) -> Result<Cow<'_, str>, MimeError> {
    let clean = strip_for_angle(address);
    if clean.is_empty() || clean.len() > MAX_ADDRESS {
        return Err(MimeError::InvalidAddress(truncated(address)));
    }
    Ok(clean)
}

fn clean_message_id(id: &str) -> Result<Cow<'_, str>, MimeError> {
    let clean = strip_for_angle(id);
    if clean.is_empty() || clean.len() > MAX_MESSAGE_ID {
        return Err(MimeError::InvalidMessageId(truncated(id)));
    }
    Ok(clean)
}

fn check_header_name(name: &str) -> Result<(), MimeError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_HEADER_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid {
        return Err(MimeError::InvalidHeaderName(truncated(name)));
    }
    let reserved = RESERVED_HEADERS
        .iter()
        .any(|r| name.eq_ignore_ascii_case(r))
        || name
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("content-"));
    if reserved {
        return Err(MimeError::ReservedHeaderName(name.to_owned()));
    }
    Ok(())
}

fn truncated(text: &str) -> String {
    text.chars().take(80).collect()
}

// ---------------------------------------------------------------------------
// Header fields

/// Writes one header field token by token, folding (CRLF SP) before a token
/// that would take the line past 78 characters.
struct HeaderLine<'o> {
    out: &'o mut Vec<u8>,
    col: usize,
    has_token: bool,
}

impl<'o> HeaderLine<'o> {
    fn start(out: &'o mut Vec<u8>, name: &str) -> Self {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        Self {
            col: name.len() + 1,
            out,
            has_token: false,
        }
    }

    /// Writes the separator before a token of `len` characters. The first
    /// token stays on the name's line (folding there gains nothing) unless
    /// `force_fold` says it cannot fit at all.
    fn separator(&mut self, len: usize, force_fold: bool) {
        if force_fold || (self.has_token && self.col + 1 + len > HEADER_LINE) {
            self.out.extend_from_slice(b"\r\n ");
            self.col = 1;
        } else {
            self.out.push(b' ');
            self.col += 1;
        }
        self.col += len;
        self.has_token = true;
    }

    fn token(&mut self, token: &str) {
        self.separator(token.len(), false);
        self.out.extend_from_slice(token.as_bytes());
    }

    fn angle_addr(&mut self, address: &str) {
        self.separator(address.len() + 2, false);
        self.out.push(b'<');
        self.out.extend_from_slice(address.as_bytes());
        self.out.push(b'>');
    }

    fn quoted_string(&mut self, text: &str) {
        self.separator(quoted_len(text), false);
        self.out.push(b'"');
        for &b in text.as_bytes() {
            if b == b'"' || b == b'\\' {
                self.out.push(b'\\');
            }
            self.out.push(b);
        }
        self.out.push(b'"');
    }

    /// Writes `text` as UTF-8 encoded-words, each at most 75 characters and
    /// fitting the current line, split only between characters. Whitespace
    /// between adjacent encoded-words is dropped by readers, so spaces in the
    /// text are encoded inside the words.
    fn encoded_words(&mut self, text: &str) {
        let mut rest = text;
        while !rest.is_empty() {
            let fits_here = HEADER_LINE.saturating_sub(self.col + 1).min(ENCODED_WORD);
            let room = fits_here.saturating_sub(ENCODED_WORD_OVERHEAD);
            let (mut q, mut b) = (q_chunk(rest, room), base64_chunk(rest, room));
            // Not even one character fits: continue on a new line, where
            // " " + a 75-character word always fits.
            let fold = q.0 == 0 && b.0 == 0;
            if fold {
                let room = ENCODED_WORD - ENCODED_WORD_OVERHEAD;
                (q, b) = (q_chunk(rest, room), base64_chunk(rest, room));
            }
            // Q stays readable in raw sources and suits mostly-Latin text
            // (about 2 characters a byte for German); B (4 for 3) wins where
            // nearly every byte would be =XX (CJK, emoji: 3 a byte).
            let base64 = q.0 == 0 || 2 * q.1 > 5 * q.0;
            let (take, len) = if base64 { b } else { q };
            let (chunk, tail) = rest.split_at(take);
            self.separator(ENCODED_WORD_OVERHEAD + len, fold);
            if base64 {
                self.out.extend_from_slice(b"=?UTF-8?B?");
                push_base64(self.out, chunk.as_bytes());
            } else {
                self.out.extend_from_slice(b"=?UTF-8?Q?");
                push_q(self.out, chunk.as_bytes());
            }
            self.out.extend_from_slice(b"?=");
            rest = tail;
        }
    }

    fn finish(self) {
        self.out.extend_from_slice(b"\r\n");
    }
}

/// Subject: unstructured text that must read back exactly as sanitised.
/// Plain when it is ASCII with single spaces between reasonable words and no
/// `=?`; otherwise entirely encoded-words, which also preserve leading,
/// trailing and repeated spaces (a parser would collapse or trim them).
fn write_text_header(out: &mut Vec<u8>, name: &str, value: &str) {
    let value = sanitize(value);
    let mut line = HeaderLine::start(out, name);
    let shape = Shape::of(&value);
    let plain = !shape.non_ascii
        && !shape.encoded_word_start
        && !shape.odd_spaces
        && shape.longest_word <= MAX_PLAIN_WORD;
    if value.is_empty() {
        // "Subject:" with nothing after it.
    } else if plain {
        for word in value.split(' ') {
            line.token(word);
        }
    } else {
        line.encoded_words(&value);
    }
    line.finish();
}

/// Extra headers: typically structured (List-Unsubscribe URLs, List-Id), so
/// only the words that need it are encoded and the rest stay as they are.
fn write_words_header(out: &mut Vec<u8>, name: &str, value: &str) {
    let value = sanitize(value);
    let needs_encoding = |w: &str| !w.is_ascii() || w.contains("=?") || w.len() > MAX_PLAIN_WORD;
    let mut line = HeaderLine::start(out, name);
    // Consecutive words to encode become one encoded text, the spaces
    // between them encoded too (readers drop whitespace between
    // encoded-words): its byte range in `value`.
    let mut to_encode: Option<(usize, usize)> = None;
    let mut offset = 0;
    for word in value.split(' ') {
        let start = offset;
        offset += word.len() + 1;
        if word.is_empty() {
            continue;
        }
        if needs_encoding(word) {
            let from = to_encode.map_or(start, |(from, _)| from);
            to_encode = Some((from, start + word.len()));
            continue;
        }
        if let Some((from, to)) = to_encode.take() {
            line.encoded_words(&value[from..to]);
        }
        line.token(word);
    }
    if let Some((from, to)) = to_encode {
        line.encoded_words(&value[from..to]);
    }
    line.finish();
}

enum Phrase {
    Atoms,
    Quoted,
    Encoded,
}

/// What one pass over a sanitised header text finds, to pick its form.
#[derive(Default)]
struct Shape {
    non_ascii: bool,
    /// `=?`, which a reader could take for the start of an encoded-word.
    encoded_word_start: bool,
    /// One of the RFC 5322 specials `()<>[]:;@\,."`.
    specials: bool,
    /// Leading, trailing or repeated spaces, which parsers do not keep
    /// outside quoted-strings and encoded-words.
    odd_spaces: bool,
    /// `"` and `\\`, escaped in a quoted-string.
    escapes: usize,
    longest_word: usize,
}

impl Shape {
    fn of(text: &str) -> Self {
        const SPECIAL: u8 = 1;
        const ESCAPE: u8 = 2;
        static CLASS: [u8; 128] = {
            let mut table = [0u8; 128];
            let specials = b"()<>[]:;@,.";
            let mut k = 0;
            while k < specials.len() {
                table[specials[k] as usize] = SPECIAL;
                k += 1;
            }
            table[b'"' as usize] = SPECIAL | ESCAPE;
            table[b'\\' as usize] = SPECIAL | ESCAPE;
            table
        };
        let bytes = text.as_bytes();
        let mut shape = Self {
            odd_spaces: bytes.first() == Some(&b' ') || bytes.last() == Some(&b' '),
            ..Self::default()
        };
        let (mut prev, mut word) = (0u8, 0usize);
        for &b in bytes {
            if b >= 0x80 {
                shape.non_ascii = true;
            } else {
                let class = CLASS[usize::from(b)];
                shape.specials |= class & SPECIAL != 0;
                shape.escapes += usize::from(class & ESCAPE != 0);
            }
            if b == b' ' {
                shape.odd_spaces |= prev == b' ';
                shape.longest_word = shape.longest_word.max(word);
                word = 0;
            } else {
                word += 1;
            }
            shape.encoded_word_start |= prev == b'=' && b == b'?';
            prev = b;
        }
        shape.longest_word = shape.longest_word.max(word);
        shape
    }
}

/// How a display name is written: atoms when it is plain words, a
/// quoted-string when it contains RFC 5322 specials (or runs of spaces, which
/// a quoted-string keeps), encoded-words when it is not ASCII or contains
/// `=?` (a reader would otherwise decode it).
fn phrase_form(name: &str) -> Phrase {
    let shape = Shape::of(name);
    let quoted_len = 2 + name.len() + shape.escapes;
    if shape.non_ascii || shape.encoded_word_start || quoted_len > MAX_PLAIN_WORD {
        Phrase::Encoded
    } else if shape.specials || shape.odd_spaces {
        Phrase::Quoted
    } else {
        Phrase::Atoms
    }
}

fn quoted_len(text: &str) -> usize {
    2 + text.len() + text.bytes().filter(|&b| b == b'"' || b == b'\\').count()
}

fn write_mailbox(out: &mut Vec<u8>, header: &str, name: Option<&str>, address: &str) {
    let mut line = HeaderLine::start(out, header);
    let name = name.map(sanitize);
    let name = name.as_deref().map(|n| n.trim_matches(' ')).unwrap_or("");
    if name.is_empty() {
        line.token(address);
    } else {
        match phrase_form(name) {
            Phrase::Atoms => name.split(' ').for_each(|w| line.token(w)),
            Phrase::Quoted => line.quoted_string(name),
            Phrase::Encoded => line.encoded_words(name),
        }
        line.angle_addr(address);
    }
    line.finish();
}

// ---------------------------------------------------------------------------
// RFC 2047 encodings

/// Bytes a Q encoded-word may carry literally anywhere, including in a
/// display name (RFC 2047 5(3)); space is written as `_`.
fn q_literal(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'!' | b'*' | b'+' | b'-' | b'/')
}

fn q_len(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .map(|&b| if q_literal(b) || b == b' ' { 1 } else { 3 })
        .sum()
}

fn b64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// The longest prefix of `text`, on a character boundary, whose Q form is at
/// most `room` characters: (bytes taken, encoded length).
fn q_chunk(text: &str, room: usize) -> (usize, usize) {
    let mut len = 0;
    for (i, c) in text.char_indices() {
        let n = q_len(&text.as_bytes()[i..i + c.len_utf8()]);
        if len + n > room {
            return (i, len);
        }
        len += n;
    }
    (text.len(), len)
}

fn base64_chunk(text: &str, room: usize) -> (usize, usize) {
    let max_bytes = room / 4 * 3;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if i + c.len_utf8() > max_bytes {
            break;
        }
        end = i + c.len_utf8();
    }
    (end, b64_len(end))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_q(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        if q_literal(b) {
            out.push(b);
        } else if b == b' ' {
            out.push(b'_');
        } else {
            out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    use base64::Engine as _;
    let start = out.len();
    out.resize(start + b64_len(bytes.len()), 0);
    // The room is exactly the encoded length, which encode_slice needs.
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + written);
}

// ---------------------------------------------------------------------------
// Bodies

/// `=_` never occurs in quoted-printable output (`=` is always followed by
/// two hex digits or a line break), so a boundary starting with it cannot
/// appear in a QP-encoded part whatever the content. The rest is a hash of
/// the message id: deterministic for a message, different between messages.
fn boundary(message_id: &str) -> [u8; 20] {
    // FNV-1a 64: no security needed here, only spread.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in message_id.as_bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut out = *b"=_sw0000000000000000";
    for (i, slot) in out[4..].iter_mut().enumerate() {
        *slot = HEX[((hash >> (60 - 4 * i)) & 15) as usize].to_ascii_lowercase();
    }
    out
}

/// Bytes copied as they are inside a QP line: printable ASCII except `=`
/// (RFC 2045 6.7 rule 2), plus space and tab, which are literal unless they
/// would end a line (rule 3).
static QP_PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 32;
    while b <= 126 {
        table[b] = b != b'=' as usize;
        b += 1;
    }
    table[b'\t' as usize] = true;
    table
};

/// Quoted-printable encodes `input`: LF, CRLF and CR all become CRLF hard
/// breaks, lines stay within 76 characters with soft breaks, trailing spaces
/// and tabs are encoded (transports strip them), and a line never starts with
/// "." or "From " (SMTP dot handling and mbox "From " munging both alter such
/// lines) so the text decodes exactly as given.
fn write_qp(out: &mut Vec<u8>, input: &[u8]) {
    // Lines are encoded straight into a zeroed tail of `out` through a plain
    // slice: pushing byte by byte makes the compiler reload the Vec's length
    // after every store (a u8 store may alias it), and one memcpy call per
    // short run costs more than the encoding. Growing ahead by what is left
    // of the input (plus an eighth) makes resizing rare.
    let n = input.len();
    let mut w = out.len();
    let mut i = 0;
    while i < n {
        if out.len() < w + QP_LINE_BYTES {
            let rest = n - i;
            out.resize(w + QP_LINE_BYTES + rest + rest / 8, 0);
        }
        let (written, next) = qp_line(input, i, &mut out[w..w + QP_LINE_BYTES]);
        w += written;
        i = next;
    }
    out.truncate(w);
}

/// The most one physical QP line takes: 75 characters and `=` CRLF.
const QP_LINE_BYTES: usize = QP_CONTENT + 3;

/// Whether all eight bytes of `x` are in 0x20..=0x7E and none is `=`
/// (bit tricks from "Bit Twiddling Hacks": a byte below n, a zero byte).
fn all_printable_no_equals(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    // High bit set, or 0x7F (which becomes 0x80 when 1 is added).
    let del_or_high = (x | x.wrapping_add(ONES)) & HIGH;
    let eq = x ^ (ONES * u64::from(b'='));
    let equals = eq.wrapping_sub(ONES) & !eq & HIGH;
    below_space | del_or_high | equals == 0
}

/// Copies plain bytes from `i` while they fit the line, eight at a time
/// while all eight are printable ASCII: the new (i, col). A space or tab
/// that would end the line is left to be encoded.
// Inlined: it runs once per run of plain bytes in the hot loop.
#[inline(always)]
fn copy_plain_run(input: &[u8], mut i: usize, dst: &mut [u8], mut col: usize) -> (usize, usize) {
    let n = input.len();
    let end = n.min(i + QP_CONTENT - col);
    while let Some(chunk) = input[i..end].first_chunk::<8>() {
        if !all_printable_no_equals(u64::from_le_bytes(*chunk)) {
            break;
        }
        dst[col..col + 8].copy_from_slice(chunk);
        col += 8;
        i += 8;
    }
    while i < end && QP_PLAIN[usize::from(input[i])] {
        dst[col] = input[i];
        col += 1;
        i += 1;
    }
    // A space or tab may not end a line: take it back and encode it.
    let line_ends = i == n || input[i] == b'\r' || input[i] == b'\n';
    if line_ends && matches!(input[i - 1], b' ' | b'\t') {
        i -= 1;
        col -= 1;
    }
    (i, col)
}

/// Encodes one physical line of `input` from `i` into `dst`, with its hard
/// or soft line break unless the input ends first: (bytes written, next i).
fn qp_line(input: &[u8], mut i: usize, dst: &mut [u8]) -> (usize, usize) {
    let n = input.len();
    let mut col = 0;
    while i < n {
        let b = input[i];
        if b == b'\r' || b == b'\n' {
            dst[col] = b'\r';
            dst[col + 1] = b'\n';
            i += if b == b'\r' && input.get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            return (col + 2, i);
        }
        let line_start_hazard =
            col == 0 && (b == b'.' || (b == b'F' && input[i..].starts_with(b"From ")));
        if QP_PLAIN[usize::from(b)] && !line_start_hazard {
            if col == QP_CONTENT {
                break;
            }
            // The common case: a run of plain bytes.
            let start = i;
            (i, col) = copy_plain_run(input, i, dst, col);
            if i > start {
                continue;
            }
        }
        if col + 3 > QP_CONTENT {
            break;
        }
        dst[col] = b'=';
        dst[col + 1] = HEX[usize::from(b >> 4)];
        dst[col + 2] = HEX[usize::from(b & 15)];
        col += 3;
        i += 1;
    }
    if i < n {
        // Soft break; the line-start rules then apply to the next byte.
        dst[col..col + 3].copy_from_slice(b"=\r\n");
        col += 3;
    }
    (col, i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::{Message, MessageParser, MimeHeaders};

    fn mailbox(name: Option<&str>, address: &str) -> Mailbox {
        Mailbox {
            name: name.map(str::to_owned),
            address: address.to_owned(),
        }
    }

    /// 2026-11-26T16:05:00Z, a Thursday.
    const DATE: Timestamp = Timestamp::from_millis(1_795_709_100_000);

    struct Fixture {
        from: Mailbox,
        to: Mailbox,
        reply_to: Option<Mailbox>,
        headers: Vec<(&'static str, String)>,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                from: mailbox(Some("Sendwell News"), "news@sendwell.example"),
                to: mailbox(Some("Ada Lovelace"), "ada@example.org"),
                reply_to: None,
                headers: Vec::new(),
            }
        }

        fn mail<'a>(
            &'a self,
            subject: &'a str,
            text: &'a str,
            html: Option<&'a str>,
        ) -> OutgoingMail<'a> {
            OutgoingMail {
                from: &self.from,
                to: &self.to,
                reply_to: self.reply_to.as_ref(),
                subject,
                date: DATE,
                message_id: "01JABCDEFGHJKMNPQRSTVWXYZ0@sendwell.example",
                headers: &self.headers,
                text,
                html,
            }
        }

        fn build(&self, subject: &str, text: &str, html: Option<&str>) -> Vec<u8> {
            self.mail(subject, text, html).build().expect("builds")
        }
    }

    fn parse(raw: &[u8]) -> Message<'_> {
        MessageParser::default()
            .parse(raw)
            .expect("mail-parser reads it")
    }

    /// The field names as written, checked against the independent reader's
    /// view (which canonicalises case, e.g. "List-ID").
    fn header_names(raw: &[u8]) -> Vec<String> {
        let written: Vec<String> = header_block(raw)
            .split("\r\n")
            .filter(|l| !l.is_empty() && !l.starts_with(' '))
            .map(|l| l.split(':').next().unwrap_or_default().to_owned())
            .collect();
        let parsed = parse(raw);
        let read: Vec<&str> = parsed.headers().iter().map(|h| h.name()).collect();
        assert_eq!(written.len(), read.len(), "{written:?} / {read:?}");
        for (w, r) in written.iter().zip(&read) {
            assert!(w.eq_ignore_ascii_case(r), "{written:?} / {read:?}");
        }
        written
    }

    fn header_block(raw: &[u8]) -> &str {
        let text = std::str::from_utf8(raw).expect("ASCII output");
        let end = text.find("\r\n\r\n").expect("header block ends");
        &text[..end + 2]
    }

    /// The literal (unfolded, undecoded) value of the first `name` field.
    fn raw_value(raw: &[u8], name: &str) -> String {
        let block = header_block(raw);
        let prefix = format!("{name}:");
        let start = block
            .split("\r\n")
            .position(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {name} header in {block}"));
        let lines: Vec<&str> = block.split("\r\n").collect();
        let mut value = lines[start][prefix.len()..].to_owned();
        for l in &lines[start + 1..] {
            if l.starts_with(' ') {
                value.push_str("\r\n");
                value.push_str(l);
            } else {
                break;
            }
        }
        value.trim_start().to_owned()
    }

    /// CRLF only, headers within 78 (unless one unbreakable token is
    /// longer), body lines within 76.
    fn assert_line_limits(raw: &[u8]) {
        for (i, &b) in raw.iter().enumerate() {
            if b == b'\r' {
                assert_eq!(raw.get(i + 1), Some(&b'\n'), "bare CR at {i}");
            }
            if b == b'\n' {
                assert!(i > 0 && raw[i - 1] == b'\r', "bare LF at {i}");
            }
        }
        assert!(raw.ends_with(b"\r\n"), "message ends with CRLF");
        let text = std::str::from_utf8(raw).expect("ASCII output");
        let split = text.find("\r\n\r\n").expect("header block ends");
        for line in text[..split].split("\r\n") {
            assert!(line.len() <= 78, "header line of {}: {line:?}", line.len());
        }
        for line in text[split + 4..].split("\r\n") {
            assert!(line.len() <= 76, "body line of {}: {line:?}", line.len());
        }
    }

    #[test]
    fn non_ascii_subjects_and_names_decode_exactly() {
        let cases = [
            "Grüße aus Köln – 10 € Rabatt",
            "José Müller",
            "東京の春のセールが始まりました。今だけ全品二十パーセントオフです。お見逃しなく！",
            "🎉 Party time 🎉 👩‍👩‍👧 on Friday",
            "Ünïcödé at the very end of a rather long subject line that needs folding ü",
        ];
        for text in cases {
            let mut f = Fixture::new();
            f.from.name = Some(text.to_owned());
            f.to.name = Some(format!("{text} (to)"));
            let raw = f.build(text, "Hello", None);
            assert_line_limits(&raw);
            assert!(raw.is_ascii(), "headers are 7-bit");
            let m = parse(&raw);
            assert_eq!(m.subject(), Some(text));
            let from = m.from().and_then(|a| a.first()).expect("from");
            assert_eq!(from.name.as_deref(), Some(text));
            assert_eq!(from.address.as_deref(), Some("news@sendwell.example"));
            let to = m.to().and_then(|a| a.first()).expect("to");
            assert_eq!(to.name.as_deref(), Some(format!("{text} (to)").as_str()));
            assert_eq!(to.address.as_deref(), Some("ada@example.org"));
        }
    }

    #[test]
    fn encoded_words_are_at_most_75_characters_and_well_formed() {
        let long = "Grüße aus Köln ".repeat(12) + &"日本語".repeat(20) + &"🎉".repeat(30);
        let mut f = Fixture::new();
        f.from.name = Some(long.clone());
        let raw = f.build(&long, "x", None);
        let block = header_block(&raw);
        let mut count = 0;
        for token in block
            .split([' ', '\r', '\n'])
            .filter(|t| t.starts_with("=?"))
        {
            count += 1;
            assert!(token.len() <= 75, "{} characters: {token}", token.len());
            assert!(token.ends_with("?="), "{token}");
            assert!(
                token.starts_with("=?UTF-8?Q?") || token.starts_with("=?UTF-8?B?"),
                "{token}"
            );
        }
        assert!(count > 10, "{block}");
        assert!(block.contains("=?UTF-8?B?"), "CJK and emoji use B: {block}");
        assert!(
            block.contains("=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus"),
            "Latin uses Q: {block}"
        );
        assert_line_limits(&raw);
        let m = parse(&raw);
        assert_eq!(m.subject(), Some(long.as_str()));
        let from = m.from().and_then(|a| a.first()).expect("from");
        assert_eq!(from.name.as_deref(), Some(long.as_str()));
    }

    const EXPECTED_HEADERS: [&str; 8] = [
        "Date",
        "From",
        "To",
        "Subject",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    ];

    #[test]
    fn subject_cannot_inject_headers() {
        let cases = [
            ("Hello\r\nBcc: victim@x.test", "Hello  Bcc: victim@x.test"),
            ("Hi\nX-Evil: 1", "Hi X-Evil: 1"),
            ("\nX-Evil: 1", " X-Evil: 1"),
            ("Hi\rX-Evil: 1\r\n\r\nbody", "Hi X-Evil: 1    body"),
            (
                "nul\0byte\u{85}nel\u{2028}ls\u{7f}del\ttab",
                "nul byte nel ls del tab",
            ),
            (
                "=?utf-8?q?a=0D=0ABcc:_x@y.test?=",
                "=?utf-8?q?a=0D=0ABcc:_x@y.test?=",
            ),
            ("Grüße\r\nBcc: x@y.test", "Grüße  Bcc: x@y.test"),
        ];
        for (subject, sanitised) in cases {
            let f = Fixture::new();
            let raw = f.build(subject, "body", None);
            assert_line_limits(&raw);
            let m = parse(&raw);
            assert_eq!(header_names(&raw), EXPECTED_HEADERS, "{subject:?}");
            assert!(m.bcc().is_none());
            assert!(m.header("X-Evil").is_none());
            assert_eq!(m.subject(), Some(sanitised), "{subject:?}");
            assert_eq!(m.body_text(0).as_deref(), Some("body"), "{subject:?}");
        }
    }

    #[test]
    fn names_addresses_and_extra_headers_cannot_inject_headers() {
        let mut f = Fixture::new();
        f.from.name = Some("Eve\r\nBcc: victim@x.test".into());
        f.to.address = "ada@example.org>\r\nBcc: victim@x.test".into();
        f.reply_to = Some(mailbox(Some("R\nX-Evil: 1"), "r@x.test\n"));
        f.headers = vec![("List-Id", "news\r\nBcc: victim@x.test\r\n\r\n<body>".into())];
        let mut mail = f.mail("Subject", "body", None);
        mail.message_id = "id@x.test>\r\nBcc: victim@x.test";
        let raw = mail.build().expect("builds");
        assert_line_limits(&raw);
        let m = parse(&raw);
        let mut expected: Vec<&str> = EXPECTED_HEADERS.to_vec();
        expected.insert(3, "Reply-To");
        expected.insert(6, "List-Id");
        assert_eq!(header_names(&raw), expected);
        assert!(m.bcc().is_none());
        assert!(m.header("X-Evil").is_none());
        let from = m.from().and_then(|a| a.first()).expect("from");
        assert_eq!(from.name.as_deref(), Some("Eve  Bcc: victim@x.test"));
        assert_eq!(from.address.as_deref(), Some("news@sendwell.example"));
        assert_eq!(
            raw_value(&raw, "To"),
            "Ada Lovelace <ada@example.orgBcc:victim@x.test>"
        );
        assert_eq!(
            raw_value(&raw, "Message-ID"),
            "<id@x.testBcc:victim@x.test>"
        );
        assert_eq!(raw_value(&raw, "List-Id"), "news Bcc: victim@x.test <body>");
        assert_eq!(m.body_text(0).as_deref(), Some("body"));
    }

    #[test]
    fn bad_extra_header_names_are_refused_and_nothing_is_written() {
        let f = Fixture::new();
        let cases = [
            ("", MimeError::InvalidHeaderName(String::new())),
            ("X Evil", MimeError::InvalidHeaderName("X Evil".into())),
            ("X-Evil:", MimeError::InvalidHeaderName("X-Evil:".into())),
            (
                "X-Evil\r\nBcc",
                MimeError::InvalidHeaderName("X-Evil\r\nBcc".into()),
            ),
            ("X-Évil", MimeError::InvalidHeaderName("X-Évil".into())),
            ("bcc", MimeError::ReservedHeaderName("bcc".into())),
            ("From", MimeError::ReservedHeaderName("From".into())),
            (
                "Content-Type",
                MimeError::ReservedHeaderName("Content-Type".into()),
            ),
            (
                "content-disposition",
                MimeError::ReservedHeaderName("content-disposition".into()),
            ),
        ];
        for (name, err) in cases {
            let headers = [(name, "v".to_owned())];
            let mut mail = f.mail("s", "t", None);
            mail.headers = &headers;
            let mut out = b"previous".to_vec();
            assert_eq!(mail.build_into(&mut out), Err(err));
            assert_eq!(out, b"previous");
        }
        let long = "X".repeat(77);
        assert!(matches!(
            write_header(&mut Vec::new(), &long, "v"),
            Err(MimeError::InvalidHeaderName(_))
        ));
        let mut ok = Vec::new();
        write_header(&mut ok, "X-Campaign-9", "v").expect("valid name");
        assert_eq!(ok, b"X-Campaign-9: v\r\n");
    }

    #[test]
    fn empty_addresses_and_message_ids_are_refused() {
        let mut f = Fixture::new();
        f.to.address = " <>\r\n".into();
        assert!(matches!(
            f.mail("s", "t", None).build(),
            Err(MimeError::InvalidAddress(_))
        ));
        f.to.address = format!("{}@x.test", "a".repeat(250));
        assert!(matches!(
            f.mail("s", "t", None).build(),
            Err(MimeError::InvalidAddress(_))
        ));
        let f = Fixture::new();
        let mut mail = f.mail("s", "t", None);
        mail.message_id = "<>";
        assert!(matches!(mail.build(), Err(MimeError::InvalidMessageId(_))));
    }

    #[test]
    fn display_names_with_specials_are_quoted_and_read_back() {
        let cases = [
            (
                r#"Doe, "Jack" <jack@evil.test>"#,
                r#""Doe, \"Jack\" <jack@evil.test>""#,
            ),
            (
                r"back\slash; (c) [x]: y@z",
                r#""back\\slash; (c) [x]: y@z""#,
            ),
            ("Dr. Who", r#""Dr. Who""#),
            ("two  spaces", r#""two  spaces""#),
            ("Plain Name", "Plain Name"),
        ];
        for (name, written) in cases {
            let mut f = Fixture::new();
            f.from.name = Some(name.into());
            let raw = f.build("s", "t", None);
            assert_eq!(
                raw_value(&raw, "From"),
                format!("{written} <news@sendwell.example>")
            );
            let m = parse(&raw);
            let from = m.from().and_then(|a| a.first()).expect("from");
            assert_eq!(from.name.as_deref(), Some(name), "{name}");
            assert_eq!(from.address.as_deref(), Some("news@sendwell.example"));
            assert!(m
                .from()
                .and_then(|a| a.as_list())
                .is_some_and(|l| l.len() == 1));
        }
    }

    #[test]
    fn missing_or_blank_names_give_a_bare_address() {
        let mut f = Fixture::new();
        f.from.name = None;
        f.to.name = Some(" \r\n ".into());
        let raw = f.build("s", "t", None);
        assert_eq!(raw_value(&raw, "From"), "news@sendwell.example");
        assert_eq!(raw_value(&raw, "To"), "ada@example.org");
    }

    #[test]
    fn a_literal_encoded_word_in_a_name_is_not_decoded() {
        let mut f = Fixture::new();
        let name = "=?utf-8?q?Bank_Security?=";
        f.from.name = Some(name.into());
        let raw = f.build("s", "t", None);
        let m = parse(&raw);
        let from = m.from().and_then(|a| a.first()).expect("from");
        assert_eq!(from.name.as_deref(), Some(name));
    }

    #[test]
    fn reply_to_is_written_only_when_given() {
        let mut f = Fixture::new();
        let raw = f.build("s", "t", None);
        assert!(parse(&raw).reply_to().is_none());
        f.reply_to = Some(mailbox(Some("Support Team"), "help@sendwell.example"));
        let raw = f.build("s", "t", None);
        let m = parse(&raw);
        let reply = m.reply_to().and_then(|a| a.first()).expect("reply-to");
        assert_eq!(reply.name.as_deref(), Some("Support Team"));
        assert_eq!(reply.address.as_deref(), Some("help@sendwell.example"));
        assert_eq!(header_names(&raw)[3], "Reply-To");
    }

    #[test]
    fn headers_come_in_the_documented_order_and_extras_are_unchanged() {
        let mut f = Fixture::new();
        f.reply_to = Some(mailbox(None, "help@sendwell.example"));
        let unsubscribe = "<https://sendwell.example/u/01JABCDEF?sig=abc_123&c=9>, \
                           <mailto:unsubscribe@sendwell.example?subject=unsubscribe>";
        f.headers = vec![
            ("List-Unsubscribe", unsubscribe.to_owned()),
            (
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".to_owned(),
            ),
            (
                "List-Id",
                "Weekly news <weekly.ws1.sendwell.example>".to_owned(),
            ),
            ("X-Campaign", "spring-sale".to_owned()),
        ];
        let raw = f.build("Spring sale", "text", Some("<p>html</p>"));
        assert_line_limits(&raw);
        let m = parse(&raw);
        assert_eq!(
            header_names(&raw),
            [
                "Date",
                "From",
                "To",
                "Reply-To",
                "Subject",
                "Message-ID",
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
                "List-Id",
                "X-Campaign",
                "MIME-Version",
                "Content-Type",
            ]
        );
        let unfolded = |name: &str| raw_value(&raw, name).replace("\r\n", "");
        assert_eq!(unfolded("List-Unsubscribe"), unsubscribe);
        assert_eq!(
            unfolded("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click"
        );
        assert_eq!(
            unfolded("List-Id"),
            "Weekly news <weekly.ws1.sendwell.example>"
        );
        assert_eq!(unfolded("X-Campaign"), "spring-sale");
        assert_eq!(raw_value(&raw, "Date"), "Thu, 26 Nov 2026 16:05:00 +0000");
        assert_eq!(
            m.message_id(),
            Some("01JABCDEFGHJKMNPQRSTVWXYZ0@sendwell.example")
        );
        assert_eq!(raw_value(&raw, "MIME-Version"), "1.0");
    }

    #[test]
    fn extra_header_values_encode_only_the_words_that_need_it() {
        let mut out = Vec::new();
        write_header(
            &mut out,
            "List-Id",
            "Grüße aus  Köln <koeln.sendwell.example>",
        )
        .expect("valid name");
        let text = String::from_utf8(out.clone()).expect("ASCII");
        assert_eq!(
            text,
            "List-Id: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?UTF-8?Q?K=C3=B6ln?=\r\n \
             <koeln.sendwell.example>\r\n"
        );
        let mut raw = out;
        raw.extend_from_slice(b"Subject: x\r\n\r\nbody");
        let m = parse(&raw);
        let id = m.list_id().as_address().and_then(|a| a.first());
        let id = id.expect("List-Id reads as a phrase and an id");
        assert_eq!(id.name.as_deref(), Some("Grüße aus Köln"));
        assert_eq!(id.address.as_deref(), Some("koeln.sendwell.example"));
        // Adjacent words needing encoding share encoded-words, so the space
        // between them survives decoding.
        let mut raw = Vec::new();
        write_header(&mut raw, "List-Id", "Grüße Köln <k.sendwell.example>").expect("valid");
        assert!(raw.starts_with(b"List-Id: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_K=C3=B6ln?= <k."));
        raw.extend_from_slice(b"Subject: x\r\n\r\nbody");
        let m = parse(&raw);
        let id = m.list_id().as_address().and_then(|a| a.first());
        assert_eq!(id.and_then(|a| a.name.as_deref()), Some("Grüße Köln"));
        let mut out = Vec::new();
        write_header(&mut out, "X-Note", "a =?x?q?y?= b").expect("valid name");
        assert_eq!(out, b"X-Note: a =?UTF-8?Q?=3D=3Fx=3Fq=3Fy=3F=3D?= b\r\n");
    }

    #[test]
    fn long_ascii_subjects_fold_at_spaces_and_read_back() {
        let subject = "Your weekly digest: twelve new articles about gardening, cooking, \
                       travelling on a budget and the best books of the season, picked for you";
        let f = Fixture::new();
        let raw = f.build(subject, "t", None);
        assert_line_limits(&raw);
        let value = raw_value(&raw, "Subject");
        assert!(value.contains("\r\n "), "folded: {value:?}");
        assert!(!value.contains("=?"), "not encoded: {value:?}");
        assert_eq!(value.replace("\r\n", ""), subject);
        assert_eq!(parse(&raw).subject(), Some(subject));
    }

    #[test]
    fn an_unbreakable_word_stays_below_the_hard_limit() {
        let word = "x".repeat(950);
        let f = Fixture::new();
        let raw = f.build(&word, "t", None);
        let block = header_block(&raw);
        assert!(
            block.split("\r\n").all(|l| l.len() <= 78),
            "encoded and folded"
        );
        assert_eq!(parse(&raw).subject(), Some(word.as_str()));
        let word = "y".repeat(500);
        let raw = f.build(&format!("a {word} b"), "t", None);
        let block = header_block(&raw);
        assert!(block.split("\r\n").all(|l| l.len() <= 998));
        assert!(block.contains(&format!("\r\n {word}\r\n b\r\n")), "{block}");
    }

    const TEXT: &str = "Grüße, José!\n\
        A line that is far longer than seventy-six characters, so that it has to be wrapped with soft line breaks by the encoder, twice over maybe.\n\
        Trailing spaces   \n\
        Trailing tab\t\r\n\
        .\n\
        From the team\n\
        ..dots\r\
        = equals =3D and =_ and --=_sw not a boundary\n\
        \n\
        ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé\n\
        ends without newline ";

    const HTML: &str = "<!doctype html><html><body style=\"margin:0\">\n\
        <p>Grüße aus Köln – 10 € Rabatt</p>\r\n\
        <p>A long line of HTML with <a href=\"https://sendwell.example/c/01JABC?u=1&amp;v=2\">a link</a> and more text so it wraps around.</p>   \n\
        .\n\
        From here\n\
        </body></html>\n";

    fn normalise_breaks(text: &str) -> String {
        text.replace("\r\n", "\n")
            .replace('\r', "\n")
            .replace('\n', "\r\n")
    }

    #[test]
    fn multipart_parts_decode_to_exactly_the_input() {
        let f = Fixture::new();
        let raw = f.build("Parts", TEXT, Some(HTML));
        assert_line_limits(&raw);
        let m = parse(&raw);
        assert_eq!(m.text_body_count(), 1);
        assert_eq!(m.html_body_count(), 1);
        let ct = m.content_type().expect("content type");
        assert_eq!(
            (ct.ctype(), ct.subtype()),
            ("multipart", Some("alternative"))
        );
        let text = m.text_part(0).expect("text part");
        let ct = text.content_type().expect("text ct");
        assert_eq!((ct.ctype(), ct.subtype()), ("text", Some("plain")));
        assert_eq!(ct.attribute("charset"), Some("utf-8"));
        assert_eq!(text.text_contents(), Some(normalise_breaks(TEXT).as_str()));
        let html = m.html_part(0).expect("html part");
        let ct = html.content_type().expect("html ct");
        assert_eq!((ct.ctype(), ct.subtype()), ("text", Some("html")));
        assert_eq!(html.text_contents(), Some(normalise_breaks(HTML).as_str()));
        // text/plain comes first.
        assert_eq!(m.root_part().sub_parts().map(<[u32]>::len), Some(2));
        let body = String::from_utf8(raw.clone()).expect("ASCII");
        assert!(body.find("text/plain").expect("plain") < body.find("text/html").expect("html"));
    }

    #[test]
    fn single_part_text_decodes_to_exactly_the_input() {
        let f = Fixture::new();
        for text in [TEXT, "short", "ends with a newline\n", ""] {
            let raw = f.build("Plain", text, None);
            assert_line_limits(&raw);
            let m = parse(&raw);
            assert_eq!(header_names(&raw), EXPECTED_HEADERS);
            let ct = m.content_type().expect("content type");
            assert_eq!((ct.ctype(), ct.subtype()), ("text", Some("plain")));
            let expected = normalise_breaks(text);
            let got = m.body_text(0).unwrap_or_default();
            assert_eq!(got, expected.as_str());
        }
    }

    #[test]
    fn quoted_printable_follows_the_rules() {
        let mut out = Vec::new();
        write_qp(&mut out, b"a=b \nend \t\n.\nFrom me\nFrom\n\xc3\xa9");
        assert_eq!(
            String::from_utf8(out).expect("ASCII"),
            "a=3Db=20\r\nend =09\r\n=2E\r\n=46rom me\r\nFrom\r\n=C3=A9"
        );
        let mut out = Vec::new();
        write_qp(&mut out, "x".repeat(200).as_bytes());
        let text = String::from_utf8(out).expect("ASCII");
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[..2].iter().all(|l| l.len() == 76 && l.ends_with('=')));
        assert_eq!(lines.concat().replace('=', ""), "x".repeat(200));
        // A "." or "From " that a soft break moves to the start of a line
        // is encoded too.
        let mut out = Vec::new();
        let input = format!("{}.{}From x", "a".repeat(75), "b".repeat(72));
        write_qp(&mut out, input.as_bytes());
        let text = String::from_utf8(out).expect("ASCII");
        assert!(text
            .split("\r\n")
            .all(|l| !l.starts_with('.') && !l.starts_with("From ")));
        assert!(
            text.contains("=\r\n=2E") && text.contains("=\r\n=46rom"),
            "{text}"
        );
    }

    #[test]
    fn the_boundary_is_deterministic_and_cannot_occur_in_the_parts() {
        let a = boundary("01JA@sendwell.example");
        assert_eq!(a, boundary("01JA@sendwell.example"));
        assert_ne!(a, boundary("01JB@sendwell.example"));
        assert!(a.starts_with(b"=_"));
        let boundary_text = String::from_utf8(a.to_vec()).expect("ASCII");
        // Every byte value, '=' and '_' combinations and the boundary itself.
        let mut nasty: Vec<u8> = (0..=255u8).collect();
        nasty.extend_from_slice(format!("\n--{boundary_text}\n=_ =_=__==\n").as_bytes());
        let mut out = Vec::new();
        write_qp(&mut out, &nasty);
        assert!(!out.windows(2).any(|w| w == b"=_"));
        // And the whole message still has exactly three delimiter lines.
        let f = Fixture::new();
        let text = format!("--{}\n--{}--\n", "=_sw", boundary_text);
        let raw = f.build("s", &text, Some(&text));
        let raw_text = String::from_utf8(raw.clone()).expect("ASCII");
        let delimiters = raw_text.lines().filter(|l| l.starts_with("--=_sw")).count();
        assert_eq!(delimiters, 3);
        assert_eq!(
            parse(&raw).text_part(0).and_then(|p| p.text_contents()),
            Some(normalise_breaks(&text).as_str())
        );
    }

    #[test]
    fn dates_are_rfc5322_in_utc() {
        assert_eq!(rfc5322_date(DATE), "Thu, 26 Nov 2026 16:05:00 +0000");
        assert_eq!(
            rfc5322_date(Timestamp::from_millis(0)),
            "Thu, 01 Jan 1970 00:00:00 +0000"
        );
        assert_eq!(
            rfc5322_date(Timestamp::from_millis(1_709_251_199_999)),
            "Thu, 29 Feb 2024 23:59:59 +0000"
        );
        assert_eq!(
            rfc5322_date(Timestamp::from_millis(951_868_800_000)),
            "Wed, 01 Mar 2000 00:00:00 +0000"
        );
        assert_eq!(
            rfc5322_date(Timestamp::from_millis(i64::MAX)),
            "Fri, 31 Dec 9999 23:59:59 +0000"
        );
        assert_eq!(
            rfc5322_date(Timestamp::from_millis(-1)),
            "Thu, 01 Jan 1970 00:00:00 +0000"
        );
        let f = Fixture::new();
        let raw = f.build("s", "t", None);
        let date = parse(&raw).date().cloned().expect("date parses");
        assert_eq!(date.to_timestamp(), DATE.millis() / 1000);
    }

    #[test]
    fn build_into_appends_the_same_bytes_as_build() {
        let f = Fixture::new();
        let mail = f.mail("s", TEXT, Some(HTML));
        let mut out = b"kept".to_vec();
        mail.build_into(&mut out).expect("builds");
        assert_eq!(&out[..4], b"kept");
        assert_eq!(out[4..], mail.build().expect("builds")[..]);
    }

    /// Run with `cargo test --release -p sendwell-mail --lib -- --ignored`.
    #[test]
    #[ignore = "timing, meaningful only in release builds"]
    fn builds_a_typical_message_in_a_few_microseconds() {
        // A table-layout newsletter row with inline styles, German text and
        // a tracked link, as email builders produce them; 14 rows ≈ 5 KB.
        let row = "<tr><td style=\"padding:16px 24px;font-family:Helvetica,Arial,\
                   sans-serif;font-size:16px;line-height:24px;color:#333333;\" \
                   align=\"left\">Liebe Kundin, lieber Kunde, unsere Frühjahrsaktion \
                   läuft: 10 € Rabatt auf alles – nur diese Woche. <a href=\"https://\
                   sendwell.example/c/01JABCDEF?u=42&amp;l=3\" style=\"color:#0066cc;\
                   text-decoration:underline;\">Jetzt ansehen</a></td></tr>\n";
        let html = format!("<table width=\"100%\">\n{}</table>\n", row.repeat(14));
        let text = "A paragraph of plain text, as the text part of the newsletter.\n".repeat(32);
        let mut f = Fixture::new();
        f.headers = vec![
            (
                "List-Unsubscribe",
                "<https://sendwell.example/u/01JABCDEF?sig=abc>".into(),
            ),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()),
        ];
        let mail = f.mail("Grüße aus Köln – 10 € Rabatt", &text, Some(&html));
        let mut out = Vec::new();
        let rounds = 20_000;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            out.clear();
            mail.build_into(&mut out).expect("builds");
        }
        let per = start.elapsed() / rounds;
        eprintln!("{} bytes in {per:?}", out.len());
        assert!(per < std::time::Duration::from_micros(10), "{per:?}");
    }
}
