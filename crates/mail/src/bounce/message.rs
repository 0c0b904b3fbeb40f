//! A small, tolerant MIME reader for bounces: line endings normalised to LF,
//! header fields unfolded and RFC 2047 decoded, multiparts split (also when
//! the closing delimiter is missing), base64 and quoted-printable bodies
//! decoded, and the leaves of the tree flattened in order. Attached messages
//! (`message/rfc822`, `text/rfc822-headers`) are leaves: the notification
//! never reads text from inside the returned original.

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
    let (head, body) = split_head_body(data);
    let headers = parse_headers(head);
    let (mut ctype, mut params) = content_type(&headers);
    if !ctype.starts_with("multipart/") {
        // A multipart whose Content-Type header got lost.
        if let Some(b) = guess_boundary(body) {
            ctype = "multipart/mixed".to_owned();
            params = vec![("boundary".to_owned(), b)];
        }
    }
    let mut leaves = Vec::new();
    walk(&headers, &ctype, &params, body, 0, &mut leaves);
    Parsed { headers, leaves }
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
        let repeats = lines[i + 1..].iter().any(|m| m.trim_end() == *l);
        if next_is_header && repeats {
            return Some(b.to_owned());
        }
    }
    None
}

/// Parses only the header block of `data` (the rest ignored).
pub(crate) fn parse_head(data: &[u8]) -> Headers {
    let data = skip_leading_blank(skip_mbox_from(data));
    let (head, _) = split_head_body(data);
    parse_headers(head)
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

/// Splits at the first empty line. A block whose first line is not a header
/// field has no headers at all.
pub(crate) fn split_head_body(data: &[u8]) -> (&[u8], &[u8]) {
    if data.first() == Some(&b'\n') {
        return (&[], &data[1..]);
    }
    if !looks_like_field(data) {
        return (&[], data);
    }
    let mut i = 0;
    while i < data.len() {
        match data[i..].iter().position(|&b| b == b'\n') {
            Some(p) => {
                let next = i + p + 1;
                if data.get(next) == Some(&b'\n') {
                    return (&data[..next], &data[next + 1..]);
                }
                if next >= data.len() {
                    return (data, &[]);
                }
                i = next;
            }
            None => return (data, &[]),
        }
    }
    (data, &[])
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

pub(crate) fn parse_headers(head: &[u8]) -> Headers {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, v)) = out.last_mut() {
                v.push(b' ');
                v.extend_from_slice(trim_bytes(line));
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = &line[..colon];
        if name.is_empty() || name.iter().any(|&b| !(33..=126).contains(&b)) {
            continue;
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        out.push((name, trim_bytes(&line[colon + 1..]).to_vec()));
    }
    Headers(
        out.into_iter()
            .map(|(n, v)| {
                let v = decode_words(&bytes_to_string(&v, None));
                (n, v)
            })
            .collect(),
    )
}

fn trim_bytes(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// `type/subtype` (lower case, `text/plain` when absent) and parameters
/// (names in lower case, values unquoted).
pub(crate) fn content_type(headers: &Headers) -> (String, Vec<(String, String)>) {
    match headers.get("content-type") {
        Some(v) => parse_content_type(v),
        None => ("text/plain".to_owned(), Vec::new()),
    }
}

pub(crate) fn parse_content_type(v: &str) -> (String, Vec<(String, String)>) {
    let mut pieces = split_params(v).into_iter();
    let ctype = pieces
        .next()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| s.contains('/'))
        .unwrap_or_else(|| "text/plain".to_owned());
    let params = pieces
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .map(|s| s.strip_suffix('"').unwrap_or(s))
                .unwrap_or(v);
            Some((k.trim().to_ascii_lowercase(), v.to_owned()))
        })
        .collect();
    (ctype, params)
}

/// Splits at `;` outside double quotes.
fn split_params(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in v.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn walk(
    headers: &Headers,
    ctype: &str,
    params: &[(String, String)],
    body: &[u8],
    depth: usize,
    leaves: &mut Vec<Leaf>,
) {
    if leaves.len() >= MAX_LEAVES {
        return;
    }
    if ctype.starts_with("multipart/")
        && depth < MAX_DEPTH
        && walk_multipart(ctype, params, body, depth, leaves)
    {
        return;
    }
    // A multipart without a usable boundary is read as text.
    leaves.push(read_leaf(headers, ctype, params, body));
}

/// Walks the parts of a multipart body into `leaves`; false (and nothing
/// walked) when it has no usable boundary.
fn walk_multipart(
    ctype: &str,
    params: &[(String, String)],
    mut body: &[u8],
    depth: usize,
    leaves: &mut Vec<Leaf>,
) -> bool {
    // A boundary parameter that lost its indentation and landed in the
    // body.
    let from_body = if param(params, "boundary").is_none() {
        boundary_in_body(&mut body)
    } else {
        None
    };
    let Some(boundary) = param(params, "boundary")
        .map(str::to_owned)
        .or(from_body)
        .filter(|b| !b.is_empty())
    else {
        return false;
    };
    let parts = split_multipart(body, boundary.as_bytes());
    if parts.is_empty() {
        return false;
    }
    let mut sub = Vec::new();
    for part in parts {
        let (head, pbody) = split_head_body(part);
        let h = parse_headers(head);
        let (ct, ps) = content_type(&h);
        walk(&h, &ct, &ps, pbody, depth + 1, &mut sub);
    }
    if ctype == "multipart/alternative" {
        keep_plain_alternative(&mut sub);
    }
    leaves.extend(sub);
    true
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

/// One part read as a leaf: its body decoded to text (HTML converted).
fn read_leaf(headers: &Headers, ctype: &str, params: &[(String, String)], body: &[u8]) -> Leaf {
    let cte = headers
        .get("content-transfer-encoding")
        .map(|s| s.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let decoded = decode_body(body, &cte);
    let charset = param(params, "charset");
    let text = bytes_to_string(&decoded, charset);
    let text = if ctype == "text/html" {
        html_to_text(&text)
    } else {
        text
    };
    Leaf {
        kind: leaf_kind(ctype),
        ctype: ctype.to_owned(),
        text,
    }
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

/// The body parts between the delimiter lines; an unterminated last part
/// runs to the end. Empty when the boundary never occurs.
fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    while pos <= body.len() {
        let end = body[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |p| pos + p);
        let line = &body[pos..end];
        if let Some(rest) = line.strip_prefix(b"--") {
            if let Some(after) = rest.strip_prefix(boundary) {
                let closing = after.starts_with(b"--");
                if closing || trim_bytes(after).is_empty() {
                    if let Some(s) = start {
                        // The line break before the delimiter belongs to it.
                        let e = if pos > s { pos - 1 } else { s };
                        parts.push(&body[s..e]);
                    }
                    if closing {
                        return parts;
                    }
                    start = Some((end + 1).min(body.len()));
                }
            }
        }
        if end >= body.len() {
            break;
        }
        pos = end + 1;
    }
    if let Some(s) = start {
        parts.push(&body[s..]);
    }
    parts
}

pub(crate) fn decode_body(body: &[u8], cte: &str) -> Vec<u8> {
    match cte {
        "base64" => {
            let decoded = decode_base64(body);
            // Not base64 after all (a mislabelled part): keep the text.
            if decoded.is_empty() && !body.iter().all(u8::is_ascii_whitespace) {
                body.to_vec()
            } else {
                normalize_newlines(&decoded)
            }
        }
        "quoted-printable" => decode_qp(body, false),
        _ => body.to_vec(),
    }
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

/// Quoted-printable; `underscore` for the RFC 2047 "Q" form.
pub(crate) fn decode_qp(input: &[u8], underscore: bool) -> Vec<u8> {
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
        } else if underscore && c == b'_' {
            out.push(b' ');
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

/// Decodes RFC 2047 encoded-words; whitespace between two adjacent
/// encoded-words is dropped.
pub(crate) fn decode_words(s: &str) -> String {
    if !s.contains("=?") {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, after) = rest.split_at(start);
        match parse_word(after) {
            Some((text, used)) => {
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &after[used..];
                last_was_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &after[2..];
                last_was_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `=?charset?E?text?=` at the start of `s`: the decoded text and the
/// number of bytes used.
fn parse_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let q1 = inner.find('?')?;
    let charset = &inner[..q1];
    let rest = &inner[q1 + 1..];
    let enc = rest.chars().next()?;
    let rest = rest.get(1..)?.strip_prefix('?')?;
    let end = rest.find("?=")?;
    let text = &rest[..end];
    if text.contains(' ') {
        return None;
    }
    let charset = charset.split('*').next().unwrap_or(charset);
    let bytes = match enc {
        'B' | 'b' => decode_base64(text.as_bytes()),
        'Q' | 'q' => decode_qp(text.as_bytes(), true),
        _ => return None,
    };
    let used = 2 + q1 + 1 + 1 + 1 + end + 2;
    Some((bytes_to_string(&bytes, Some(charset)), used))
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
        assert_eq!(decode_words("=?ISO-2022-JP?B?GyRCJU8lbSE8GyhC?="), "ハロー");
        // What was read before stays as it was.
        assert_eq!(
            bytes_to_string("café".as_bytes(), Some("iso-8859-1")),
            "café"
        );
        assert_eq!(bytes_to_string(b"caf\xe9", None), "café");
    }

    #[test]
    fn encoded_words_and_qp() {
        assert_eq!(decode_words("=?UTF-8?Q?a_b?= =?UTF-8?B?Yw==?= d"), "a bc d");
        assert_eq!(decode_qp(b"a=3Db=\nc", false), b"a=bc");
        assert_eq!(normalize_newlines(b"a\r\nb\rc\n"), b"a\nb\nc\n");
    }
}
