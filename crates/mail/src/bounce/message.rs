//! The bounce reader's view of a message. mail-parser reads the MIME
//! structure: header fields unfolded and RFC 2047 decoded, multiparts
//! split (also when the closing delimiter is missing), base64 and
//! quoted-printable bodies decoded, charsets through encoding_rs. This
//! module flattens the parts into leaves in order and adds what broken
//! bounces need and mail-parser does not do: a multipart whose
//! Content-Type header got lost, a boundary parameter that fell into the
//! body, base64 read leniently where mail-parser gives up on it, and
//! Latin-1 for undeclared 8-bit text. Attached messages
//! (`message/rfc822`, `text/rfc822-headers`) are leaves: the notification
//! never reads text from inside the returned original.

use std::sync::OnceLock;

use mail_parser::{
    ContentType, Encoding, Header, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders,
    PartType,
};

use crate::html_text::html_to_text;

/// Deeper nesting than this is read as opaque text.
const MAX_DEPTH: usize = 8;
/// At most this many leaves are kept.
const MAX_LEAVES: usize = 64;

/// Header fields in order: lower-case name, unfolded and decoded value.
#[derive(Clone, Debug, Default)]
pub(crate) struct Headers(pub(crate) Vec<(String, String)>);

impl Headers {
    /// The first field of that (lower-case) name.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }
}

/// What a leaf holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeafKind {
    /// Human-readable text (text/plain, converted HTML, or a body without
    /// MIME structure).
    Text,
    /// `message/delivery-status` (also `message/global-delivery-status`).
    DeliveryStatus,
    /// `message/feedback-report`.
    FeedbackReport,
    /// The returned message or its headers.
    Original,
    /// Anything else (images, applications, ...).
    Other,
}

#[derive(Clone, Debug)]
pub(crate) struct Leaf {
    pub(crate) kind: LeafKind,
    /// Lower-case `type/subtype`.
    pub(crate) ctype: String,
    pub(crate) text: String,
}

/// One message, flattened.
#[derive(Clone, Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) headers: Headers,
    pub(crate) leaves: Vec<Leaf>,
}

/// Normalises CRLF and lone CR line endings to LF.
pub(crate) fn normalize_newlines(raw: &[u8]) -> Vec<u8> {
    if !raw.contains(&b'\r') {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'\r' {
            out.push(b'\n');
            if raw.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
        } else {
            out.push(b);
        }
        i += 1;
    }
    out
}

/// Parses a whole message (LF line endings already).
pub(crate) fn parse(data: &[u8]) -> Parsed {
    let data = skip_mbox_from(data);
    if !looks_like_field(data) {
        // No header block at all: the whole message is its text.
        let text = bytes_to_string(data, None);
        return Parsed {
            headers: Headers::default(),
            leaves: vec![leaf(LeafKind::Text, "text/plain", text)],
        };
    }
    let Some(message) = parser().parse(data) else {
        return Parsed::default();
    };
    let root = message.root_part();
    let headers = headers_of(root.headers());
    let mut leaves = Vec::new();
    let lost_boundary = if content_type_of(root).starts_with("multipart/") {
        None
    } else {
        guess_boundary(body_bytes(data, root))
    };
    match lost_boundary {
        // A multipart whose Content-Type header got lost.
        Some(boundary) => walk_rebuilt(&boundary, body_bytes(data, root), 0, &mut leaves),
        None => walk(&message, 0, 0, &mut leaves),
    }
    Parsed { headers, leaves }
}

/// Reads MIME headers structured (to walk the parts) and every other field
/// as text, RFC 2047 decoded.
fn parser() -> &'static MessageParser {
    static PARSER: OnceLock<MessageParser> = OnceLock::new();
    PARSER.get_or_init(|| {
        MessageParser::new()
            .with_mime_headers()
            .default_header_text()
    })
}

/// Header fields as the bounce reader reads them: lower-case names, text
/// values (a Content-Type written back as `type/subtype; name=value`).
fn headers_of(fields: &[Header<'_>]) -> Headers {
    Headers(
        fields
            .iter()
            .map(|h| {
                let value = match h.value() {
                    HeaderValue::Text(t) => t.trim().to_owned(),
                    HeaderValue::TextList(list) => list.join(", "),
                    HeaderValue::ContentType(ct) => content_type_text(ct),
                    _ => String::new(),
                };
                (h.name().to_ascii_lowercase(), value)
            })
            .collect(),
    )
}

fn content_type_text(ct: &ContentType<'_>) -> String {
    let mut out = ct.ctype().to_ascii_lowercase();
    if let Some(sub) = ct.subtype() {
        out.push('/');
        out.push_str(&sub.to_ascii_lowercase());
    }
    for a in ct.attributes.iter().flatten() {
        out.push_str(&format!("; {}={}", a.name, a.value));
    }
    out
}

/// Lower-case `type/subtype` of a part, `text/plain` when it has none.
fn content_type_of(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => "text/plain".to_owned(),
        },
        None => "text/plain".to_owned(),
    }
}

/// The raw (still encoded) body of a part, out of the bytes its message
/// was parsed from.
fn body_bytes<'a>(raw: &'a [u8], part: &MessagePart<'_>) -> &'a [u8] {
    let start = (part.raw_body_offset() as usize).min(raw.len());
    let end = part.raw_end_offset() as usize;
    if end <= start || end > raw.len() {
        &raw[start..]
    } else {
        &raw[start..end]
    }
}

/// Walks part `id` of `message` into `leaves`.
fn walk(message: &Message<'_>, id: u32, depth: usize, leaves: &mut Vec<Leaf>) {
    if leaves.len() >= MAX_LEAVES {
        return;
    }
    let Some(part) = message.part(id) else {
        return;
    };
    let ctype = content_type_of(part);
    let raw = message.raw_message();
    match &part.body {
        PartType::Multipart(children) if depth < MAX_DEPTH => {
            let mut sub = Vec::new();
            for &child in children {
                walk(message, child, depth + 1, &mut sub);
            }
            if ctype == "multipart/alternative" {
                keep_plain_alternative(&mut sub);
            }
            sub.truncate(MAX_LEAVES.saturating_sub(leaves.len()));
            leaves.extend(sub);
        }
        PartType::Message(inner) => {
            let text = if part.encoding == Encoding::None {
                body_bytes(raw, part)
            } else {
                inner.raw_message()
            };
            leaves.push(leaf(
                LeafKind::Original,
                &ctype,
                bytes_to_string(text, None),
            ));
        }
        // A multipart without a usable boundary: its boundary parameter may
        // have lost its indentation and landed in the body.
        _ if ctype.starts_with("multipart/") && depth < MAX_DEPTH => {
            let mut body = body_bytes(raw, part);
            match boundary_in_body(&mut body) {
                Some(boundary) => walk_rebuilt(&boundary, body, depth + 1, leaves),
                None => leaves.push(read_leaf(part, &ctype, raw)),
            }
        }
        _ => leaves.push(match headerless(part, raw, id) {
            Some(text) => leaf(LeafKind::Text, "text/plain", text),
            None => read_leaf(part, &ctype, raw),
        }),
    }
}

/// A part (not the message itself) that starts with text instead of a
/// header block: mail-parser read its first lines as header fields, so the
/// part is read again from its start, all of it text.
fn headerless(part: &MessagePart<'_>, raw: &[u8], id: u32) -> Option<String> {
    if id == 0 {
        return None;
    }
    let start = (part.raw_header_offset() as usize).min(raw.len());
    let head = &raw[start..];
    if head.starts_with(b"\n") || head.starts_with(b"\r\n") || looks_like_field(head) {
        return None;
    }
    let end = (part.raw_end_offset() as usize).clamp(start, raw.len());
    Some(bytes_to_string(&raw[start..end], None))
}

/// Walks `body` as a `multipart/mixed` with `boundary`, which its own
/// headers failed to say.
fn walk_rebuilt(boundary: &str, body: &[u8], depth: usize, leaves: &mut Vec<Leaf>) {
    let mut rebuilt =
        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\n").into_bytes();
    rebuilt.extend_from_slice(body);
    if let Some(message) = parser().parse(&rebuilt) {
        walk(&message, 0, depth, leaves);
    }
}

/// Of the alternatives, keeps the plain text when there is one, else the
/// HTML.
fn keep_plain_alternative(sub: &mut Vec<Leaf>) {
    let has_plain = sub
        .iter()
        .any(|l| l.kind == LeafKind::Text && l.ctype == "text/plain");
    if has_plain {
        sub.retain(|l| !(l.kind == LeafKind::Text && l.ctype == "text/html"));
    }
}

/// One part read as a leaf: its body as text (HTML converted).
fn read_leaf(part: &MessagePart<'_>, ctype: &str, raw: &[u8]) -> Leaf {
    let charset = part.content_type().and_then(|ct| ct.attribute("charset"));
    let base64 = part
        .content_transfer_encoding()
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("base64"));
    let text = if part.is_encoding_problem && base64 {
        // Base64 that mail-parser refused (stray characters, a broken
        // line): read leniently, or as the text it turned out to be.
        let body = body_bytes(raw, part);
        let decoded = decode_base64(body);
        if decoded.is_empty() {
            bytes_to_string(body, charset)
        } else {
            bytes_to_string(&normalize_newlines(&decoded), charset)
        }
    } else {
        match &part.body {
            PartType::Text(t) | PartType::Html(t) if !undeclared_8bit(t, charset) => {
                unix_newlines(t)
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                bytes_to_string(&normalize_newlines(b), charset)
            }
            _ => bytes_to_string(&normalize_newlines(&decoded_again(part, raw)), charset),
        }
    };
    let text = if ctype == "text/html" {
        html_to_text(&text)
    } else {
        text
    };
    leaf(leaf_kind(ctype), ctype, text)
}

/// Text mail-parser decoded as lossy UTF-8 for want of a charset: 8-bit
/// bytes that were not UTF-8, which this reader takes for Latin-1.
fn undeclared_8bit(text: &str, charset: Option<&str>) -> bool {
    charset.is_none() && text.contains('\u{fffd}')
}

/// A text part's bytes decoded again from its raw body (for the Latin-1
/// reading of undeclared 8-bit text).
fn decoded_again(part: &MessagePart<'_>, raw: &[u8]) -> Vec<u8> {
    let body = body_bytes(raw, part);
    match part.encoding {
        Encoding::Base64 => decode_base64(body),
        Encoding::QuotedPrintable => decode_qp(body),
        Encoding::None => body.to_vec(),
    }
}

fn unix_newlines(text: &str) -> String {
    if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.to_owned()
    }
}

fn leaf(kind: LeafKind, ctype: &str, text: String) -> Leaf {
    Leaf {
        kind,
        ctype: ctype.to_owned(),
        text,
    }
}

/// Parses only the header block of `data` (the rest ignored).
pub(crate) fn parse_head(data: &[u8]) -> Headers {
    let data = skip_leading_blank(skip_mbox_from(data));
    if !looks_like_field(data) {
        return Headers::default();
    }
    parser()
        .parse_headers(data)
        .map(|m| headers_of(m.root_part().headers()))
        .unwrap_or_default()
}

/// A line `--X` that occurs at least twice and is followed by a
/// `Content-Type:` line somewhere: the boundary of a multipart body sent
/// without its Content-Type header.
fn guess_boundary(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains("\nContent-Type: message/") && !text.contains("\nContent-Type: text/") {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    // How often each line occurs, so a candidate's repeat is found at once
    // (a scan of the rest for each would be quadratic on a hostile body).
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for l in &lines {
        *seen.entry(l.trim_end()).or_default() += 1;
    }
    let mut before = 0;
    for (i, l) in lines.iter().enumerate() {
        let Some(b) = l.strip_prefix("--") else {
            if !l.trim().is_empty() {
                before += 1;
                if before > 3 {
                    // Only a short preamble may come before the first part.
                    return None;
                }
            }
            continue;
        };
        let b = b.trim_end();
        if b.len() < 8
            || b.contains(' ')
            || b.starts_with('-') && b.trim_start_matches('-').is_empty()
        {
            continue;
        }
        let next_is_header = lines
            .get(i + 1)
            .is_some_and(|n| n.to_ascii_lowercase().starts_with("content-"));
        let repeats = seen.get(l.trim_end()).is_some_and(|n| *n > 1);
        if next_is_header && repeats {
            return Some(b.to_owned());
        }
    }
    None
}

fn skip_mbox_from(data: &[u8]) -> &[u8] {
    if data.starts_with(b"From ") {
        match data.iter().position(|&b| b == b'\n') {
            Some(p) => &data[p + 1..],
            None => &[],
        }
    } else {
        data
    }
}

fn skip_leading_blank(mut data: &[u8]) -> &[u8] {
    while let Some(rest) = data.strip_prefix(b"\n") {
        data = rest;
    }
    data
}

/// `Name:` at the very start, with a name of printable non-space ASCII.
fn looks_like_field(data: &[u8]) -> bool {
    for (n, &b) in data.iter().take(80).enumerate() {
        if b == b':' {
            return n > 0;
        }
        if !(33..=126).contains(&b) {
            return false;
        }
    }
    false
}

fn leaf_kind(ctype: &str) -> LeafKind {
    match ctype {
        "message/delivery-status" | "message/global-delivery-status" => LeafKind::DeliveryStatus,
        "message/feedback-report" => LeafKind::FeedbackReport,
        "message/rfc822"
        | "message/global"
        | "text/rfc822-headers"
        | "message/rfc822-headers"
        | "message/global-headers"
        | "message/partial" => LeafKind::Original,
        t if t.starts_with("text/") || t.starts_with("multipart/") => LeafKind::Text,
        // Some MTAs label the report parts loosely.
        "application/octet-stream" | "message/disposition-notification" => LeafKind::Other,
        _ => LeafKind::Other,
    }
}

/// `boundary="X"` on the first line of `body`: X, and `body` moves past
/// that line.
fn boundary_in_body(body: &mut &[u8]) -> Option<String> {
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = std::str::from_utf8(&body[..end]).ok()?.trim();
    let v = line.strip_prefix("boundary=")?;
    let v = v.trim_end_matches(';').trim_matches('"');
    *body = body.get(end + 1..).unwrap_or(&[]);
    Some(v.to_owned())
}

/// Lenient base64: skips anything outside the alphabet, stops at `=`
/// padding only at the end of the input group.
pub(crate) fn decode_base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                acc = 0;
                bits = 0;
                continue;
            }
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    out
}

/// Quoted-printable, for re-reading a body mail-parser decoded as UTF-8.
fn decode_qp(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if c == b'=' {
            // Soft line break, possibly after trailing blanks.
            let mut j = i + 1;
            while j < input.len() && (input[j] == b' ' || input[j] == b'\t') {
                j += 1;
            }
            if j < input.len() && input[j] == b'\n' {
                i = j + 1;
                continue;
            }
            if j >= input.len() {
                break;
            }
            if i + 2 < input.len() {
                if let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2])) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
            }
            out.push(c);
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Bytes to text: UTF-8 where valid, Latin-1 / windows-1252 for those
/// charsets (and for invalid UTF-8 without a charset), the declared
/// charset's decoder (encoding_rs: every WHATWG encoding) for the others,
/// lossy UTF-8 when the charset is unknown. ISO-2022-JP, written in 7-bit
/// escapes, is always decoded: its bytes are valid UTF-8 but do not mean
/// what UTF-8 says.
pub(crate) fn bytes_to_string(b: &[u8], charset: Option<&str>) -> String {
    let declared = charset.unwrap_or("").trim();
    let escaped = ["iso-2022-jp", "csiso2022jp"]
        .iter()
        .any(|c| declared.eq_ignore_ascii_case(c));
    if !escaped {
        if let Ok(s) = std::str::from_utf8(b) {
            return s.to_owned();
        }
    }
    let cs = declared.to_ascii_lowercase();
    let latin = matches!(
        cs.as_str(),
        "iso-8859-1"
            | "iso8859-1"
            | "latin1"
            | "latin-1"
            | "windows-1252"
            | "cp1252"
            | "iso-8859-15"
            | "us-ascii"
            | "ascii"
            | ""
    );
    if latin {
        return b.iter().map(|&c| char::from(c)).collect();
    }
    // WHATWG maps a few unsafe labels to "replacement", which would turn the
    // whole text into one U+FFFD: lossy UTF-8 keeps more.
    match encoding_rs::Encoding::for_label(cs.as_bytes()) {
        Some(encoding) if encoding != encoding_rs::REPLACEMENT => {
            encoding.decode_without_bom_handling(b).0.into_owned()
        }
        _ => String::from_utf8_lossy(b).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_without_closing_delimiter() {
        let raw = b"Content-Type: multipart/report; boundary=\"XX\"\n\npre\n--XX\nContent-Type: text/plain\n\nhello\n--XX\nContent-Type: message/delivery-status\n\nAction: failed\n";
        let p = parse(raw);
        assert_eq!(p.leaves.len(), 2);
        assert_eq!(p.leaves[0].text, "hello");
        assert_eq!(p.leaves[1].kind, LeafKind::DeliveryStatus);
    }

    /// What this reader adds to mail-parser for broken bounces.
    #[test]
    fn lost_content_type_is_recovered() {
        let raw = b"From: MAILER-DAEMON@mx.example\nSubject: failure\n\n--B0UNDARY1\nContent-Type: text/plain\n\nUser unknown\n--B0UNDARY1\nContent-Type: message/delivery-status\n\nAction: failed\n--B0UNDARY1--\n";
        let p = parse(raw);
        assert_eq!(p.leaves.len(), 2, "{:?}", p.leaves);
        assert_eq!(p.leaves[0].text.trim(), "User unknown");
        assert_eq!(p.leaves[1].kind, LeafKind::DeliveryStatus);
        assert_eq!(p.headers.get("subject"), Some("failure"));
    }

    #[test]
    fn boundary_that_fell_into_the_body_is_used() {
        let raw = b"Subject: x\nContent-Type: multipart/report; report-type=delivery-status;\n\nboundary=\"QQ\"\n--QQ\nContent-Type: text/plain\n\nMailbox full\n--QQ--\n";
        let p = parse(raw);
        assert_eq!(p.leaves.len(), 1, "{:?}", p.leaves);
        assert_eq!(p.leaves[0].text.trim(), "Mailbox full");
    }

    #[test]
    fn broken_base64_is_read_leniently_and_latin1_is_kept() {
        // A stray '*' inside the base64 of "Delivery failed".
        let raw = b"Subject: x\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nRGVsaXZl*cnkgZmFpbGVk\n";
        let p = parse(raw);
        assert_eq!(p.leaves[0].text.trim(), "Delivery failed");
        // 8-bit text without a charset is read as Latin-1, not replaced.
        let p = parse(b"Subject: x\n\nBo\xeete pleine\n");
        assert_eq!(p.leaves[0].text.trim(), "Bo\u{ee}te pleine");
        // No header block at all: the whole text is the notification.
        let p = parse(b"The mail to a@b.example failed.\n");
        assert_eq!(p.leaves[0].text.trim(), "The mail to a@b.example failed.");
        assert!(p.headers.0.is_empty());
    }

    /// A part with no header block at all is text from its first line.
    #[test]
    fn a_part_without_headers_is_read_whole() {
        let raw = b"Subject: x\nContent-Type: multipart/report; boundary=\"B\"\n\n--B\nThe mail to ann@b.example failed.\nReason: 550 5.1.1 user unknown\n\nGood luck.\n--B\nContent-Type: message/delivery-status\n\nAction: failed\n--B--\n";
        let p = parse(raw);
        assert_eq!(p.leaves.len(), 2, "{:?}", p.leaves);
        assert!(
            p.leaves[0]
                .text
                .starts_with("The mail to ann@b.example failed."),
            "{:?}",
            p.leaves[0]
        );
        assert!(p.leaves[0].text.contains("550 5.1.1 user unknown"));
        assert!(p.leaves[0].text.contains("Good luck."));
        assert_eq!(p.leaves[1].kind, LeafKind::DeliveryStatus);
    }

    /// A hostile bounce: thousands of nested multiparts and parts. The
    /// walk stops at its depth and leaf limits instead of following them.
    #[test]
    fn nesting_and_parts_are_bounded() {
        let mut raw = String::from("Subject: x\n");
        for i in 0..2_000 {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
            ));
        }
        raw.push_str("Content-Type: text/plain\n\ndeep\n");
        let p = parse(raw.as_bytes());
        assert!(p.leaves.len() <= MAX_LEAVES);
        assert!(
            p.leaves.iter().all(|l| l.text != "deep"),
            "read below MAX_DEPTH"
        );

        let mut wide =
            String::from("Subject: x\nContent-Type: multipart/mixed; boundary=\"w\"\n\n");
        for _ in 0..5_000 {
            wide.push_str("--w\nContent-Type: text/plain\n\npart\n");
        }
        wide.push_str("--w--\n");
        assert_eq!(parse(wide.as_bytes()).leaves.len(), MAX_LEAVES);
    }

    /// Bounces from Japanese, Chinese and Korean servers come in their own
    /// charsets; ISO-2022-JP is 7-bit and would pass for UTF-8.
    #[test]
    fn east_asian_charsets_are_decoded() {
        let iso_2022_jp = b"\x1b$B%O%m!<!&%o!<%k%I\x1b(B";
        assert_eq!(
            bytes_to_string(iso_2022_jp, Some("ISO-2022-JP")),
            "ハロー・ワールド"
        );
        let shift_jis = b"\x83n\x83\x8D\x81[\x81E\x83\x8F\x81[\x83\x8B\x83h";
        assert_eq!(
            bytes_to_string(shift_jis, Some("Shift_JIS")),
            "ハロー・ワールド"
        );
        let euc_kr = b"\xbe\xc8\xb3\xe7\xc7\xcf\xbc\xbc\xbf\xe4";
        assert_eq!(bytes_to_string(euc_kr, Some("euc-kr")), "안녕하세요");
        let head = parse_head(b"Subject: =?ISO-2022-JP?B?GyRCJU8lbSE8GyhC?=\n\n");
        assert_eq!(head.get("subject"), Some("ハロー"));
        // What was read before stays as it was.
        assert_eq!(
            bytes_to_string("café".as_bytes(), Some("iso-8859-1")),
            "café"
        );
        assert_eq!(bytes_to_string(b"caf\xe9", None), "café");
    }

    #[test]
    fn encoded_words_and_qp() {
        let head = parse_head(b"Subject: =?UTF-8?Q?a_b?= =?UTF-8?B?Yw==?= d\n\n");
        assert_eq!(head.get("subject"), Some("a bc d"));
        assert_eq!(decode_qp(b"a=3Db=\nc"), b"a=bc");
        assert_eq!(normalize_newlines(b"a\r\nb\rc\n"), b"a\nb\nc\n");
    }
}
