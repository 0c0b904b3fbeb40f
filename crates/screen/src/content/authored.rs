//! What the sender wrote, taken out of a message: the only input of the
//! content screen. Delivery headers (Received, Return-Path, X-...) are
//! never read, so neither rules nor the classifier can learn from them.
//!
//! The HTML is read by a small tolerant scanner of its own (one pass, no
//! allocation per element) that yields the visible text, the hidden text,
//! the links with their visible text and the number of images. What counts
//! as hidden is decided from inline styles and presentational attributes
//! only: `display:none`, `visibility:hidden`, `opacity:0`, the `hidden`
//! attribute, a font size of 1px or less, and a text colour (almost) equal
//! to the background colour set on it or an enclosing element.

use std::sync::OnceLock;

use mail_parser::{HeaderName, Message, MessageParser, MimeHeaders, PartType};

/// A link as the reader sees it: its visible text and where it really goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    pub text: String,
    pub href: String,
}

/// An attachment's name and declared type (never its content).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: String,
}

/// The authored content of one message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthoredMail {
    pub from_name: Option<String>,
    pub from_address: Option<String>,
    pub subject: String,
    /// The visible text: the text part, or the HTML's visible text when the
    /// message has no text part.
    pub text: String,
    /// The HTML part as written, when there is one.
    pub html: Option<String>,
    /// Text in the HTML that a reader does not see (display:none, zero font
    /// size, white on white, ...), joined with spaces.
    pub hidden_text: String,
    pub links: Vec<Link>,
    /// `<img>` elements in the HTML.
    pub images: usize,
    pub attachments: Vec<Attachment>,
}

/// Bodies past these sizes are cut (at a character boundary): what comes
/// later changes no verdict, and the screen must stay fast on huge mail.
const MAX_TEXT_BYTES: usize = 256 * 1024;
const MAX_HTML_BYTES: usize = 512 * 1024;
/// At most this many links and attachments are kept.
const MAX_LINKS: usize = 1000;
const MAX_ATTACHMENTS: usize = 100;

/// The parser, configured to decode only the headers the screen reads
/// (From, Subject and the MIME headers); every other header, Received
/// included, is skipped unparsed.
fn parser() -> &'static MessageParser {
    static PARSER: OnceLock<MessageParser> = OnceLock::new();
    PARSER.get_or_init(|| {
        MessageParser::new()
            .with_mime_headers()
            .header_text(HeaderName::Subject)
            .header_address(HeaderName::From)
            .default_header_ignore()
    })
}

impl AuthoredMail {
    /// The authored content of an RFC 5322 message; `None` when the bytes
    /// are not a message at all.
    pub fn from_eml(bytes: &[u8]) -> Option<Self> {
        let message = parser().parse(bytes)?;
        if message.parts.is_empty() {
            return None;
        }
        let (from_name, from_address) = message
            .from()
            .and_then(|from| from.first())
            .map(|addr| {
                (
                    addr.name().map(clean_header).filter(|n| !n.is_empty()),
                    addr.address().map(|a| a.trim().to_string()),
                )
            })
            .unwrap_or((None, None));
        let subject = message.subject().map(clean_header).unwrap_or_default();

        let mut bodies = Bodies::of(&message);
        if bodies.text.is_none() && bodies.html.is_none() {
            // A broken multipart can leave the body among the attachments:
            // take the first unnamed text part.
            for &id in &message.attachments {
                let Some(part) = message.parts.get(id as usize) else {
                    continue;
                };
                if part.attachment_name().is_some() {
                    continue;
                }
                let html_type = part
                    .content_type()
                    .is_some_and(|ct| ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("html")));
                match &part.body {
                    PartType::Html(html) => bodies.html = Some(html.as_ref()),
                    PartType::Text(html) if html_type => bodies.html = Some(html.as_ref()),
                    PartType::Text(text) => bodies.text = Some(text.as_ref()),
                    _ => continue,
                }
                bodies.body_parts.push(id);
                break;
            }
        }
        if bodies.text.is_none() && bodies.html.is_none() {
            // A mail that only forwards another one: read the one inside.
            if let Some(inner) = message.parts.iter().find_map(|p| match &p.body {
                PartType::Message(inner) => Some(inner),
                _ => None,
            }) {
                let inner_bodies = Bodies::of(inner);
                bodies.text = inner_bodies.text;
                bodies.html = inner_bodies.html;
            }
        }
        let Bodies {
            mut text,
            mut html,
            body_parts,
        } = bodies;
        // Plain text that is really an HTML document (a missing or wrong
        // Content-Type, common in bulk mail) is read as HTML.
        if html.is_none() && text.is_some_and(looks_like_html) {
            html = text.take();
        }

        let attachments = message
            .attachments
            .iter()
            .filter(|id| !body_parts.contains(id))
            .filter_map(|&id| message.parts.get(id as usize))
            .take(MAX_ATTACHMENTS)
            .map(|part| Attachment {
                filename: part
                    .attachment_name()
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty()),
                content_type: part
                    .content_type()
                    .map(|ct| match ct.subtype() {
                        Some(sub) => format!("{}/{}", ct.ctype(), sub),
                        None => ct.ctype().to_string(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".to_string())
                    .to_ascii_lowercase(),
            })
            .collect();

        let text = text.map(|t| {
            let t = cut(t, MAX_TEXT_BYTES);
            if t.contains('\r') {
                t.replace("\r\n", "\n")
            } else {
                t.to_string()
            }
        });
        let mut mail = Self::build(
            from_name,
            from_address,
            subject,
            text,
            html.map(|h| cut(h, MAX_HTML_BYTES).to_string()),
        );
        mail.attachments = attachments;
        Some(mail)
    }

    /// The authored content of a mail sendwell is about to send.
    pub fn from_parts(
        from_name: Option<&str>,
        from_address: &str,
        subject: &str,
        text: &str,
        html: Option<&str>,
    ) -> Self {
        let from_address = from_address.trim();
        Self::build(
            from_name.map(clean_header).filter(|n| !n.is_empty()),
            (!from_address.is_empty()).then(|| from_address.to_string()),
            clean_header(subject),
            Some(cut(text, MAX_TEXT_BYTES).to_string()),
            html.map(|h| cut(h, MAX_HTML_BYTES).to_string()),
        )
    }

    fn build(
        from_name: Option<String>,
        from_address: Option<String>,
        subject: String,
        text: Option<String>,
        html: Option<String>,
    ) -> Self {
        let scan = html.as_deref().map(scan_html).unwrap_or_default();
        let text = match text {
            Some(t) if !t.trim().is_empty() => t,
            _ => scan.visible,
        };
        Self {
            from_name,
            from_address,
            subject,
            text,
            html,
            hidden_text: scan.hidden,
            links: scan.links,
            images: scan.images,
            attachments: Vec::new(),
        }
    }
}

/// The first text/plain and text/html bodies of a message, and the ids of
/// the parts they came from.
struct Bodies<'m> {
    text: Option<&'m str>,
    html: Option<&'m str>,
    body_parts: Vec<u32>,
}

impl<'m> Bodies<'m> {
    fn of(message: &'m Message<'_>) -> Self {
        let mut bodies = Bodies {
            text: None,
            html: None,
            body_parts: Vec::new(),
        };
        for &id in message.text_body.iter().chain(&message.html_body) {
            let Some(part) = message.parts.get(id as usize) else {
                continue;
            };
            match &part.body {
                PartType::Text(text) if bodies.text.is_none() => {
                    let plain = part.content_type().is_none_or(|ct| {
                        ct.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain"))
                    });
                    if plain {
                        bodies.text = Some(text.as_ref());
                        bodies.body_parts.push(id);
                    }
                }
                PartType::Html(html) if bodies.html.is_none() => {
                    bodies.html = Some(html.as_ref());
                    bodies.body_parts.push(id);
                }
                _ => {}
            }
        }
        bodies
    }
}

/// A header value on one line: control characters and whitespace runs
/// become one space.
fn clean_header(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split(|c: char| c.is_whitespace() || c.is_control()) {
        if !word.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Whether a "plain text" body is an HTML document (or a fragment of one:
/// several common tags in its first few kilobytes).
fn looks_like_html(text: &str) -> bool {
    let head = cut(text.trim_start(), 4096).as_bytes();
    if head.len() >= 14 && head[..14].eq_ignore_ascii_case(b"<!doctype html") {
        return true;
    }
    let mut tags = 0;
    for (i, _) in head.iter().enumerate().filter(|(_, b)| **b == b'<') {
        let rest = &head[i + 1..];
        let starts = |t: &[u8]| rest.len() >= t.len() && rest[..t.len()].eq_ignore_ascii_case(t);
        if starts(b"html") || starts(b"body") {
            return true;
        }
        let rest = rest.strip_prefix(b"/").unwrap_or(rest);
        let starts = |t: &[u8]| rest.len() >= t.len() && rest[..t.len()].eq_ignore_ascii_case(t);
        if [
            &b"a "[..],
            b"a>",
            b"br",
            b"p>",
            b"p ",
            b"font",
            b"img ",
            b"table",
            b"td",
            b"tr",
            b"div",
            b"center",
            b"b>",
        ]
        .iter()
        .any(|t| starts(t))
        {
            tags += 1;
            if tags >= 4 {
                return true;
            }
        }
    }
    false
}

/// What the HTML scanner found.
#[derive(Default)]
struct HtmlScan {
    visible: String,
    hidden: String,
    links: Vec<Link>,
    images: usize,
}

/// An RGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rgb(u8, u8, u8);

impl Rgb {
    const WHITE: Rgb = Rgb(255, 255, 255);
    const BLACK: Rgb = Rgb(0, 0, 0);

    /// Within 8 on every channel: text a reader cannot tell from the
    /// background.
    fn alike(self, other: Rgb) -> bool {
        self.0.abs_diff(other.0) <= 8
            && self.1.abs_diff(other.1) <= 8
            && self.2.abs_diff(other.2) <= 8
    }
}

/// One open element and the state it gives its content.
struct Frame<'a> {
    name: &'a str,
    /// Hidden by display, visibility, opacity, font size or `hidden`.
    hidden: bool,
    colour: Rgb,
    /// `None` when unknown (a background image).
    background: Option<Rgb>,
}

impl Frame<'_> {
    fn hides_text(&self) -> bool {
        self.hidden || self.background.is_some_and(|bg| bg.alike(self.colour))
    }
}

/// What an element does, for the scanner.
#[derive(Clone, Copy, Default)]
struct Kind {
    /// Never has content (`br`, `img`...).
    void: bool,
    /// Its content is never shown (`style`, `script`, `title`...).
    skipped: bool,
    /// Starts a new line, so words on either side stay apart.
    breaks_line: bool,
    /// A table cell: words on either side stay apart.
    cell: bool,
    link: bool,
    image: bool,
    head: bool,
    /// An opening tag of the same element closes the open one, searching no
    /// further than these elements.
    implicit_close_scope: Option<&'static [&'static str]>,
}

/// Classifies an element by name, ASCII case-insensitively.
fn kind(name: &str) -> Kind {
    let mut lower = [0u8; 12];
    if name.len() > lower.len() {
        return Kind::default();
    }
    for (l, b) in lower.iter_mut().zip(name.bytes()) {
        *l = b.to_ascii_lowercase();
    }
    let block = Kind {
        breaks_line: true,
        ..Kind::default()
    };
    let void = Kind {
        void: true,
        ..Kind::default()
    };
    match &lower[..name.len()] {
        b"a" => Kind {
            link: true,
            ..Kind::default()
        },
        b"img" => Kind {
            void: true,
            image: true,
            ..Kind::default()
        },
        b"br" | b"hr" => Kind {
            void: true,
            breaks_line: true,
            ..Kind::default()
        },
        b"meta" | b"link" | b"input" | b"area" | b"base" | b"col" | b"embed" | b"param"
        | b"source" | b"track" | b"wbr" | b"basefont" | b"frame" | b"keygen" => void,
        b"style" | b"script" | b"title" | b"template" | b"noscript" | b"xml" => Kind {
            skipped: true,
            ..Kind::default()
        },
        b"head" => Kind {
            head: true,
            ..Kind::default()
        },
        b"td" | b"th" => Kind {
            cell: true,
            implicit_close_scope: Some(&["tr", "table"]),
            ..Kind::default()
        },
        b"tr" => Kind {
            breaks_line: true,
            implicit_close_scope: Some(&["table"]),
            ..Kind::default()
        },
        b"li" => Kind {
            breaks_line: true,
            implicit_close_scope: Some(&["ul", "ol"]),
            ..Kind::default()
        },
        b"p" => Kind {
            breaks_line: true,
            implicit_close_scope: Some(&["div", "td", "th", "table", "body", "blockquote", "li"]),
            ..Kind::default()
        },
        b"option" => Kind {
            implicit_close_scope: Some(&["select"]),
            ..Kind::default()
        },
        b"div" | b"ul" | b"ol" | b"table" | b"h1" | b"h2" | b"h3" | b"h4" | b"h5" | b"h6"
        | b"blockquote" | b"pre" | b"center" | b"section" | b"article" | b"header" | b"footer"
        | b"dt" | b"dd" | b"dl" | b"form" | b"body" | b"html" | b"address" | b"caption" => block,
        _ => Kind::default(),
    }
}

/// Deepest nesting kept; deeper elements are read with their parent's state.
const MAX_DEPTH: usize = 512;

struct Scanner<'a> {
    src: &'a str,
    stack: Vec<Frame<'a>>,
    root: Frame<'a>,
    out: HtmlScan,
    /// The open link: its href and where its text starts in `visible`.
    link: Option<(String, usize)>,
    /// A separator is owed before the next visible word.
    pending_break: bool,
    pending_space: bool,
}

fn scan_html(html: &str) -> HtmlScan {
    let mut scanner = Scanner {
        src: html,
        stack: Vec::new(),
        root: Frame {
            name: "",
            hidden: false,
            colour: Rgb::BLACK,
            background: Some(Rgb::WHITE),
        },
        out: HtmlScan {
            visible: String::with_capacity(html.len() / 3),
            ..HtmlScan::default()
        },
        link: None,
        pending_break: false,
        pending_space: false,
    };
    scanner.run();
    scanner.close_link();
    scanner.out
}

impl<'a> Scanner<'a> {
    fn top(&self) -> &Frame<'a> {
        self.stack.last().unwrap_or(&self.root)
    }

    fn run(&mut self) {
        let src = self.src;
        let bytes = src.as_bytes();
        let mut pos = 0;
        let mut text_start = 0;
        while let Some(offset) = memchr_lt(&bytes[pos..]) {
            let at = pos + offset;
            match self.markup(at, text_start) {
                Some(end) => {
                    pos = end;
                    text_start = end;
                }
                None => pos = at + 1,
            }
            if pos >= bytes.len() {
                break;
            }
        }
        if text_start < src.len() {
            self.text(&src[text_start..]);
        }
    }

    /// Reads the markup at the `<` at `at`, first writing the text from
    /// `text_start` that precedes it; returns where text resumes, or `None`
    /// (and writes nothing) when this `<` is text.
    fn markup(&mut self, at: usize, text_start: usize) -> Option<usize> {
        let src = self.src;
        let bytes = src.as_bytes();
        let next = *bytes.get(at + 1)?;
        if next == b'!' || next == b'?' {
            self.text(&src[text_start..at]);
        }
        if next == b'!' {
            if bytes[at..].starts_with(b"<!--") {
                return Some(find(src, "-->", at + 4).map_or(src.len(), |p| p + 3));
            }
            return Some(find(src, ">", at).map_or(src.len(), |p| p + 1));
        }
        if next == b'?' {
            return Some(find(src, ">", at).map_or(src.len(), |p| p + 1));
        }
        let closing = next == b'/';
        let name_start = at + 1 + usize::from(closing);
        if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
            return None;
        }
        let name_end = bytes[name_start..]
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b':'))
            .map_or(bytes.len(), |p| name_start + p);
        let name = &src[name_start..name_end];
        let tag = parse_attributes(src, name_end)?;
        self.text(&src[text_start..at]);
        let kind = kind(name);
        if closing {
            self.close(name, kind);
        } else {
            self.open(name, kind, &tag);
            if kind.skipped && !tag.self_closing {
                return Some(skip_to_close(src, name, tag.end));
            }
            if kind.head && !tag.self_closing {
                // The head shows nothing, but a broken mail may never close it.
                if let Some(p) = find_ci(src, "</head", tag.end) {
                    self.close(name, kind);
                    return Some(find(src, ">", p).map_or(src.len(), |e| e + 1));
                }
            }
        }
        Some(tag.end)
    }

    fn open(&mut self, name: &'a str, kind: Kind, tag: &Tag<'_>) {
        if kind.breaks_line {
            self.pending_break = true;
        } else if kind.cell {
            self.pending_space = true;
        }
        if kind.image {
            self.out.images += 1;
        }
        if kind.link {
            self.close_link();
            if let Some(href) = tag.href {
                let href = decode_entities(href.trim());
                let href = href.trim();
                if !href.is_empty() && self.out.links.len() < MAX_LINKS {
                    self.link = Some((href.to_string(), self.out.visible.len()));
                }
            }
        }
        if kind.void || tag.self_closing {
            return;
        }
        if let Some(scope) = kind.implicit_close_scope {
            for i in (0..self.stack.len()).rev() {
                let open = self.stack[i].name;
                if scope.iter().any(|s| open.eq_ignore_ascii_case(s)) {
                    break;
                }
                if open.eq_ignore_ascii_case(name) {
                    self.stack.truncate(i);
                    break;
                }
            }
        }
        if self.stack.len() >= MAX_DEPTH {
            return;
        }
        let parent = self.top();
        let mut frame = Frame {
            name,
            hidden: parent.hidden || tag.hidden_attribute,
            colour: parent.colour,
            background: parent.background,
        };
        if let Some(colour) = tag.colour.and_then(parse_colour) {
            frame.colour = colour;
        }
        if tag.background_image {
            frame.background = None;
        }
        if let Some(bg) = tag.bgcolor.and_then(parse_colour) {
            frame.background = Some(bg);
        }
        if let Some(style) = tag.style {
            apply_style(&mut frame, &decode_entities(style));
        }
        self.stack.push(frame);
    }

    fn close(&mut self, name: &str, kind: Kind) {
        if kind.breaks_line {
            self.pending_break = true;
        }
        if kind.link {
            self.close_link();
        }
        // Close the nearest open element of that name (and what it holds);
        // a stray closing tag changes nothing.
        if let Some(i) = self
            .stack
            .iter()
            .rposition(|f| f.name.eq_ignore_ascii_case(name))
        {
            self.stack.truncate(i);
        }
    }

    fn close_link(&mut self) {
        if let Some((href, start)) = self.link.take() {
            let text = self
                .out
                .visible
                .get(start..)
                .unwrap_or("")
                .trim()
                .to_string();
            self.out.links.push(Link { text, href });
        }
    }

    /// A run of text between tags.
    fn text(&mut self, raw: &str) {
        if raw.is_empty() {
            return;
        }
        let decoded = decode_entities(raw);
        let hidden = self.top().hides_text();
        if hidden {
            let out = &mut self.out.hidden;
            for word in decoded.split(is_space) {
                if !word.is_empty() {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(word);
                }
            }
            return;
        }
        let starts_with_space = decoded.starts_with(is_space);
        let ends_with_space = decoded.ends_with(is_space);
        if starts_with_space {
            self.pending_space = true;
        }
        let mut first = true;
        for word in decoded.split(is_space).filter(|w| !w.is_empty()) {
            let out = &mut self.out.visible;
            if !out.is_empty() {
                if self.pending_break {
                    if !out.ends_with('\n') {
                        out.push('\n');
                    }
                } else if (!first || self.pending_space) && !out.ends_with([' ', '\n']) {
                    out.push(' ');
                }
            }
            self.pending_break = false;
            self.pending_space = false;
            out.push_str(word);
            first = false;
        }
        if ends_with_space {
            self.pending_space = true;
        }
    }
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn memchr_lt(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'<')
}

fn find(src: &str, needle: &str, from: usize) -> Option<usize> {
    src.get(from..)?.find(needle).map(|p| from + p)
}

/// Finds `needle` (ASCII, lowercase) in `hay` from `from`, ASCII
/// case-insensitively.
fn find_ci(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let (hay, needle) = (hay.as_bytes(), needle.as_bytes());
    let first = needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let offset = hay[i..hay.len() - needle.len() + 1]
            .iter()
            .position(|b| b.eq_ignore_ascii_case(first))?;
        i += offset;
        if hay[i..i + needle.len()].eq_ignore_ascii_case(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Where text resumes after a `<style>` (or other skipped element) whose
/// opening tag ends at `from`: past its closing tag, or the end when it is
/// never closed.
fn skip_to_close(src: &str, name: &str, from: usize) -> usize {
    let mut needle = String::with_capacity(name.len() + 2);
    needle.push_str("</");
    needle.push_str(&name.to_ascii_lowercase());
    match find_ci(src, &needle, from) {
        Some(p) => find(src, ">", p).map_or(src.len(), |e| e + 1),
        None => src.len(),
    }
}

/// The attributes of a tag the scanner uses, raw.
#[derive(Default)]
struct Tag<'a> {
    href: Option<&'a str>,
    style: Option<&'a str>,
    colour: Option<&'a str>,
    bgcolor: Option<&'a str>,
    background_image: bool,
    hidden_attribute: bool,
    self_closing: bool,
    /// Just past the `>`.
    end: usize,
}

/// Parses the attributes from `at` (just after the tag name) to the `>`;
/// `None` when the tag is never closed.
fn parse_attributes(src: &str, at: usize) -> Option<Tag<'_>> {
    let bytes = src.as_bytes();
    let mut tag = Tag::default();
    let mut pos = at;
    loop {
        let mut slash = false;
        while pos < bytes.len() && (bytes[pos].is_ascii_whitespace() || bytes[pos] == b'/') {
            slash = bytes[pos] == b'/';
            pos += 1;
        }
        match bytes.get(pos) {
            None => return None,
            Some(b'>') => {
                tag.self_closing = slash;
                tag.end = pos + 1;
                return Some(tag);
            }
            Some(_) => {}
        }
        let name_start = pos;
        while pos < bytes.len()
            && !bytes[pos].is_ascii_whitespace()
            && !matches!(bytes[pos], b'=' | b'>')
        {
            pos += 1;
        }
        let name = &src[name_start..pos];
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let value = if bytes.get(pos) == Some(&b'=') {
            pos += 1;
            while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
                pos += 1;
            }
            let (value, after) = attribute_value(src, pos);
            pos = after;
            Some(value)
        } else {
            None
        };
        if name.eq_ignore_ascii_case("href") {
            tag.href = value;
        } else if name.eq_ignore_ascii_case("style") {
            tag.style = value;
        } else if name.eq_ignore_ascii_case("color") {
            tag.colour = value;
        } else if name.eq_ignore_ascii_case("bgcolor") {
            tag.bgcolor = value;
        } else if name.eq_ignore_ascii_case("background") {
            tag.background_image = value.is_some_and(|v| !v.trim().is_empty());
        } else if name.eq_ignore_ascii_case("hidden") {
            tag.hidden_attribute = true;
        }
    }
}

/// An attribute value at `at`, quoted or not; returns the raw value and
/// where parsing resumes. An unclosed quote ends at the next `>`.
fn attribute_value(src: &str, at: usize) -> (&str, usize) {
    let bytes = src.as_bytes();
    match bytes.get(at) {
        Some(&q @ (b'"' | b'\'')) => {
            let rest = &src[at + 1..];
            match rest.find(q as char) {
                Some(p) => (&rest[..p], at + 1 + p + 1),
                None => {
                    let p = rest.find('>').unwrap_or(rest.len());
                    (&rest[..p], at + 1 + p)
                }
            }
        }
        _ => {
            let end = bytes[at..]
                .iter()
                .position(|b| b.is_ascii_whitespace() || *b == b'>')
                .map_or(bytes.len(), |p| at + p);
            (&src[at..end], end)
        }
    }
}

/// Applies the inline declarations the scanner understands.
fn apply_style(frame: &mut Frame<'_>, style: &str) {
    for declaration in style.split(';') {
        let Some((property, value)) = declaration.split_once(':') else {
            continue;
        };
        let property = property.trim();
        let value = value.trim().trim_end_matches("!important").trim();
        let is = |p: &str| property.eq_ignore_ascii_case(p);
        let value_is = |v: &str| value.eq_ignore_ascii_case(v);
        let hides = (is("display") && value_is("none"))
            || (is("visibility") && (value_is("hidden") || value_is("collapse")))
            || (is("opacity") && value.parse::<f32>().is_ok_and(|o| o < 0.1))
            || (is("font-size") && tiny_font(value));
        if hides {
            frame.hidden = true;
        } else if is("color") {
            if let Some(colour) = parse_colour(value) {
                frame.colour = colour;
            }
        } else if is("background-color") {
            if let Some(colour) = parse_colour(value) {
                frame.background = Some(colour);
            }
        } else if is("background") {
            if value.to_ascii_lowercase().contains("url(") {
                frame.background = None;
            } else if let Some(colour) = value.split_whitespace().find_map(parse_colour) {
                frame.background = Some(colour);
            }
        } else if is("background-image") && value.to_ascii_lowercase().contains("url(") {
            frame.background = None;
        }
    }
}

/// A font size of 1px (or 1pt, 0.1em...) or less.
fn tiny_font(value: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    let number_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let Ok(number) = value[..number_end].parse::<f32>() else {
        return false;
    };
    match value[number_end..].trim() {
        "" | "px" | "pt" => number <= 1.0,
        "em" | "rem" => number <= 0.1,
        "%" => number <= 10.0,
        _ => false,
    }
}

/// `#rgb`, `#rrggbb`, `rrggbb` (legacy attributes), `rgb(r, g, b)` or a
/// common colour name.
fn parse_colour(value: &str) -> Option<Rgb> {
    let value = value.trim();
    let hex = value.strip_prefix('#').unwrap_or(value);
    if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        return Some(Rgb(channel(0)?, channel(2)?, channel(4)?));
    }
    if value.starts_with('#') && hex.len() == 3 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let channel = |i: usize| u8::from_str_radix(&hex[i..i + 1], 16).ok().map(|v| v * 17);
        return Some(Rgb(channel(0)?, channel(1)?, channel(2)?));
    }
    let lower = value.to_ascii_lowercase();
    if let Some(args) = lower
        .strip_prefix("rgb(")
        .or_else(|| lower.strip_prefix("rgba("))
    {
        let mut channels = args.trim_end_matches(')').split(',').map(|c| {
            let c = c.trim();
            match c.strip_suffix('%') {
                Some(p) => p
                    .parse::<f32>()
                    .ok()
                    .map(|p| (p.clamp(0.0, 100.0) * 2.55) as u8),
                None => c.parse::<f32>().ok().map(|v| v.clamp(0.0, 255.0) as u8),
            }
        });
        let (r, g, b) = (channels.next()??, channels.next()??, channels.next()??);
        if let Some(alpha) = channels.next().flatten() {
            if alpha == 0 {
                return None;
            }
        }
        return Some(Rgb(r, g, b));
    }
    const NAMED: &[(&str, Rgb)] = &[
        ("white", Rgb(255, 255, 255)),
        ("black", Rgb(0, 0, 0)),
        ("red", Rgb(255, 0, 0)),
        ("green", Rgb(0, 128, 0)),
        ("blue", Rgb(0, 0, 255)),
        ("yellow", Rgb(255, 255, 0)),
        ("navy", Rgb(0, 0, 128)),
        ("gray", Rgb(128, 128, 128)),
        ("grey", Rgb(128, 128, 128)),
        ("silver", Rgb(192, 192, 192)),
        ("maroon", Rgb(128, 0, 0)),
        ("purple", Rgb(128, 0, 128)),
        ("orange", Rgb(255, 165, 0)),
        ("whitesmoke", Rgb(245, 245, 245)),
        ("snow", Rgb(255, 250, 250)),
        ("ivory", Rgb(255, 255, 240)),
    ];
    NAMED.iter().find(|(n, _)| *n == lower).map(|(_, c)| *c)
}

/// Decodes HTML character references; unknown ones stay as written.
fn decode_entities(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('&') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        match decode_reference(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// The character a reference at the start of `s` (an `&`) stands for, and
/// its length.
fn decode_reference(s: &str) -> Option<(char, usize)> {
    let bytes = s.as_bytes();
    if bytes.get(1) == Some(&b'#') {
        let (digits_start, radix) = match bytes.get(2) {
            Some(b'x' | b'X') => (3, 16),
            _ => (2, 10),
        };
        let digits_len = bytes[digits_start..]
            .iter()
            .take(8)
            .take_while(|b| b.is_ascii_hexdigit() && (radix == 16 || b.is_ascii_digit()))
            .count();
        if digits_len == 0 {
            return None;
        }
        let code = u32::from_str_radix(&s[digits_start..digits_start + digits_len], radix).ok()?;
        let mut len = digits_start + digits_len;
        if bytes.get(len) == Some(&b';') {
            len += 1;
        }
        // Windows-1252 code points that old mail writes as numbers.
        let c = match code {
            0x80 => '€',
            0x91 => '‘',
            0x92 => '’',
            0x93 => '“',
            0x94 => '”',
            0x96 => '–',
            0x97 => '—',
            0 => '\u{fffd}',
            _ => char::from_u32(code).unwrap_or('\u{fffd}'),
        };
        return Some((c, len));
    }
    let name_len = bytes[1..]
        .iter()
        .take(10)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let name = &s[1..1 + name_len];
    let with_semicolon = bytes.get(1 + name_len) == Some(&b';');
    const NAMED: &[(&str, char)] = &[
        ("amp", '&'),
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("apos", '\''),
        ("nbsp", '\u{a0}'),
        ("copy", '©'),
        ("reg", '®'),
        ("trade", '™'),
        ("hellip", '…'),
        ("mdash", '—'),
        ("ndash", '–'),
        ("rsquo", '’'),
        ("lsquo", '‘'),
        ("ldquo", '“'),
        ("rdquo", '”'),
        ("laquo", '«'),
        ("raquo", '»'),
        ("bull", '•'),
        ("middot", '·'),
        ("euro", '€'),
        ("pound", '£'),
        ("yen", '¥'),
        ("cent", '¢'),
        ("times", '×'),
        ("deg", '°'),
        ("zwnj", '\u{200c}'),
        ("zwj", '\u{200d}'),
        ("shy", '\u{ad}'),
        ("eacute", 'é'),
        ("egrave", 'è'),
        ("aacute", 'á'),
        ("agrave", 'à'),
        ("iacute", 'í'),
        ("oacute", 'ó'),
        ("uacute", 'ú'),
        ("ntilde", 'ñ'),
        ("ccedil", 'ç'),
        ("auml", 'ä'),
        ("ouml", 'ö'),
        ("uuml", 'ü'),
        ("szlig", 'ß'),
        ("Auml", 'Ä'),
        ("Ouml", 'Ö'),
        ("Uuml", 'Ü'),
    ];
    if with_semicolon {
        if let Some((_, c)) = NAMED.iter().find(|(n, _)| *n == name) {
            return Some((*c, name_len + 2));
        }
    }
    // Legacy references that browsers accept without the semicolon, even
    // when letters follow ("&nbspat").
    const LEGACY: &[(&str, char)] = &[
        ("amp", '&'),
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("nbsp", '\u{a0}'),
        ("copy", '©'),
        ("reg", '®'),
    ];
    LEGACY
        .iter()
        .find(|(n, _)| name.starts_with(n))
        .map(|(n, c)| (*c, n.len() + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eml(headers: &str, body: &str) -> Vec<u8> {
        format!("{headers}\r\n\r\n{body}")
            .replace("\r\n", "\n")
            .replace('\n', "\r\n")
            .into_bytes()
    }

    const ALTERNATIVE: &str =
        "Received: from relay.example (relay.example [192.0.2.1]) by mx.example\n\
        Return-Path: <bounce@lists.example>\n\
        X-Spam-Status: Yes, score=99 viagra\n\
        From: =?UTF-8?Q?Caf=C3=A9_Team?= <news@cafe.example>\n\
        To: reader@example.org\n\
        Subject: =?UTF-8?B?TmV3cyBmcm9tIHRoZSBjYWbDqQ==?=\n\
        MIME-Version: 1.0\n\
        Content-Type: multipart/mixed; boundary=\"outer\"";

    fn alternative_body() -> String {
        "--outer\n\
         Content-Type: multipart/alternative; boundary=\"inner\"\n\
         \n\
         --inner\n\
         Content-Type: text/plain; charset=utf-8\n\
         \n\
         Our autumn menu is here.\n\
         --inner\n\
         Content-Type: text/html; charset=utf-8\n\
         \n\
         <html><head><title>Title text</title><style>p { color: red }</style></head>\
         <body><p>Our <b>autumn</b> menu is here.</p>\
         <a href=\"https://cafe.example/menu?a=1&amp;b=2\">See the <i>menu</i></a>\
         <img src=\"logo.png\" alt=\"logo\"><img src=\"pixel.gif\">\
         <div style=\"display:none\">secret preheader</div>\
         <span style=\"font-size: 0px\">tiny</span>\
         <font color=\"#FFFFFF\">white on white</font>\
         <p style=\"visibility: hidden\">invisible</p>\
         <!-- a comment --><script>var hidden = 1;</script>\
         </body></html>\n\
         --inner--\n\
         --outer\n\
         Content-Type: application/pdf; name=\"menu.pdf\"\n\
         Content-Disposition: attachment; filename=\"menu.pdf\"\n\
         Content-Transfer-Encoding: base64\n\
         \n\
         JVBERi0xLjQK\n\
         --outer--\n"
            .to_string()
    }

    #[test]
    fn from_eml_reads_what_the_sender_wrote() {
        let mail =
            AuthoredMail::from_eml(&eml(ALTERNATIVE, &alternative_body())).expect("a message");
        assert_eq!(mail.from_name.as_deref(), Some("Café Team"));
        assert_eq!(mail.from_address.as_deref(), Some("news@cafe.example"));
        assert_eq!(mail.subject, "News from the café");
        assert_eq!(mail.text.trim(), "Our autumn menu is here.");
        assert!(mail
            .html
            .as_deref()
            .is_some_and(|h| h.contains("<b>autumn</b>")));
        assert_eq!(
            mail.links,
            vec![Link {
                text: "See the menu".to_string(),
                href: "https://cafe.example/menu?a=1&b=2".to_string(),
            }]
        );
        assert_eq!(mail.images, 2);
        assert_eq!(
            mail.hidden_text,
            "secret preheader tiny white on white invisible"
        );
        assert_eq!(
            mail.attachments,
            vec![Attachment {
                filename: Some("menu.pdf".to_string()),
                content_type: "application/pdf".to_string(),
            }]
        );
    }

    #[test]
    fn delivery_headers_are_never_read() {
        let mail =
            AuthoredMail::from_eml(&eml(ALTERNATIVE, &alternative_body())).expect("a message");
        let everything = format!("{mail:?}");
        for word in [
            "relay.example",
            "192.0.2.1",
            "bounce@lists",
            "viagra",
            "reader@example.org",
        ] {
            assert!(
                !everything.contains(word),
                "{word} leaked into {everything}"
            );
        }
    }

    #[test]
    fn html_only_mail_gives_its_visible_text() {
        let mail = AuthoredMail::from_eml(&eml(
            "From: shop@example.com\nSubject: Sale\nContent-Type: text/html; charset=utf-8",
            "<html><head><title>Not shown</title></head><body>\
             <h1>Big&nbsp;sale</h1><p>Everything&nbspat 20&#37; off &mdash; caf\u{e9}s too.</p>\
             <table><tr><td>one</td><td>two</td></tr></table>\
             <span style=\"DISPLAY: NONE\">hidden words</span>Unsubscribe</body></html>",
        ))
        .expect("a message");
        assert_eq!(mail.from_name, None);
        assert_eq!(mail.from_address.as_deref(), Some("shop@example.com"));
        assert_eq!(
            mail.text,
            "Big sale\nEverything at 20% off — cafés too.\none two\nUnsubscribe"
        );
        assert_eq!(mail.hidden_text, "hidden words");
    }

    #[test]
    fn plain_text_that_is_html_is_read_as_html() {
        let mail = AuthoredMail::from_eml(&eml(
            "From: a@example.com\nSubject: hi",
            "<HTML><BODY><P>Earn <FONT color=red>money</FONT> now!</P>\
             <A HREF=http://198.51.100.7/x>click here</A></BODY></HTML>",
        ))
        .expect("a message");
        assert!(mail.html.is_some());
        assert_eq!(mail.text, "Earn money now!\nclick here");
        assert_eq!(mail.links[0].href, "http://198.51.100.7/x");
        assert_eq!(mail.links[0].text, "click here");
        let fragment = AuthoredMail::from_eml(&eml(
            "From: a@example.com",
            "<p>one</p><p>two</p><br><a href=\"https://x.example\">three</a>",
        ))
        .expect("a message");
        assert_eq!(fragment.text, "one\ntwo\nthree");
        let prose = AuthoredMail::from_eml(&eml(
            "From: a@example.com",
            "if a <b or c> d, use <br> tags",
        ))
        .expect("a message");
        assert_eq!(prose.html, None);
        assert_eq!(prose.text, "if a <b or c> d, use <br> tags");
    }

    #[test]
    fn colour_hiding_follows_the_background() {
        let scan = scan_html(
            "<table bgcolor=\"#000000\"><tr><td><font color=white>light on dark</font></td></tr></table>\
             <div style=\"background: url(bg.png)\"><span style=\"color:#fff\">on an image</span></div>\
             <div style=\"background-color: rgb(250, 250, 250)\"><p style=\"color:#fdfdfd\">pale</p></div>\
             <p style=\"color: #111\">dark text</p>",
        );
        assert_eq!(scan.visible, "light on dark\non an image\ndark text");
        assert_eq!(scan.hidden, "pale");
    }

    #[test]
    fn hiding_ends_with_its_element() {
        let scan = scan_html(
            "<div><span style=\"display:none\">gone <b>too</b></span> here</div>\
             <p style=\"font-size:1px\">small<p>next paragraph\
             <td style=\"opacity:0\">cell</td><td>shown</td>",
        );
        assert_eq!(scan.visible, "here\nnext paragraph shown");
        assert_eq!(scan.hidden, "gone too small cell");
    }

    #[test]
    fn links_keep_their_visible_text() {
        let scan = scan_html(
            "<a href=\" https://bank.example.com/login \">https://www.mybank.example</a>\
             <a href='https://x.example/?q=&quot;a&quot;'><img src=a.png></a>\
             <a href=https://y.example>unclosed <a href=\"mailto:hi@y.example\">mail us</a>\
             <a name=\"anchor\">no href</a>",
        );
        let links: Vec<(&str, &str)> = scan
            .links
            .iter()
            .map(|l| (l.text.as_str(), l.href.as_str()))
            .collect();
        assert_eq!(
            links,
            vec![
                (
                    "https://www.mybank.example",
                    "https://bank.example.com/login"
                ),
                ("", "https://x.example/?q=\"a\""),
                ("unclosed", "https://y.example"),
                ("mail us", "mailto:hi@y.example"),
            ]
        );
        assert_eq!(scan.images, 1);
    }

    #[test]
    fn zero_width_characters_are_kept_for_the_rules() {
        let scan = scan_html("<p>V&#8203;iagra and fr\u{200b}ee</p>");
        assert_eq!(scan.visible, "V\u{200b}iagra and fr\u{200b}ee");
    }

    #[test]
    fn broken_input_is_tolerated() {
        assert_eq!(AuthoredMail::from_eml(b""), None);
        // Headers only, no body.
        let mail = AuthoredMail::from_eml(b"From: a@example.com\r\nSubject: empty\r\n")
            .expect("a message");
        assert_eq!(mail.subject, "empty");
        assert_eq!(mail.text, "");
        // An unknown charset, a broken base64 body and a truncated multipart.
        let mail = AuthoredMail::from_eml(&eml(
            "From: a@example.com\nContent-Type: text/plain; charset=x-unknown-9\n\
             Content-Transfer-Encoding: base64",
            "!!!not base64",
        ));
        assert!(mail.is_some());
        let mail = AuthoredMail::from_eml(&eml(
            "From: a@example.com\nContent-Type: multipart/alternative; boundary=b",
            "--b\nContent-Type: text/html\n\n<p>cut <b",
        ))
        .expect("a message");
        assert!(mail.text.starts_with("cut"), "{mail:?}");
        // Random bytes never panic.
        let mut seed = 7u32;
        for len in [1usize, 10, 100, 1000] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            let _ = AuthoredMail::from_eml(&bytes);
        }
        for html in [
            "<",
            "<a",
            "<a href=\"x",
            "</",
            "<!--",
            "<style>",
            "&",
            "&#",
            "&#x;",
            "<p style=\"color:",
            "<<>>",
        ] {
            let _ = scan_html(html);
        }
    }

    #[test]
    fn a_forwarded_message_is_read_inside() {
        let mail = AuthoredMail::from_eml(&eml(
            "From: a@example.com\nSubject: Fwd: offer\nContent-Type: multipart/mixed; boundary=b",
            "--b\nContent-Type: message/rfc822\n\nFrom: c@example.com\nSubject: offer\n\nInner text.\n--b--\n",
        ))
        .expect("a message");
        assert_eq!(mail.text.trim(), "Inner text.");
    }

    #[test]
    fn from_parts_builds_the_same_view() {
        let mail = AuthoredMail::from_parts(
            Some(" Café\n Team "),
            "news@cafe.example",
            "Autumn\tmenu",
            "",
            Some("<p>Hello <a href=\"https://cafe.example\">menu</a></p><p hidden>pre</p>"),
        );
        assert_eq!(mail.from_name.as_deref(), Some("Café Team"));
        assert_eq!(mail.from_address.as_deref(), Some("news@cafe.example"));
        assert_eq!(mail.subject, "Autumn menu");
        assert_eq!(mail.text, "Hello menu");
        assert_eq!(mail.hidden_text, "pre");
        assert_eq!(mail.links.len(), 1);
        let plain = AuthoredMail::from_parts(None, "", "s", "Just text", None);
        assert_eq!(plain.text, "Just text");
        assert_eq!(plain.from_address, None);
        assert_eq!(plain.html, None);
    }
}
