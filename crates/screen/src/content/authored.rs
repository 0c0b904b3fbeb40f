//! What the sender wrote, taken out of a message: the only input of the
//! content screen. Delivery headers (Received, Return-Path, X-...) are
//! never read, so neither rules nor the classifier can learn from them.
//!
//! The HTML is read with `sendwell-html`, the tokenizer and visibility
//! model the template check uses, into the visible text, the hidden text,
//! the links with their visible text and the number of images. What counts
//! as hidden is what a mail client would not show: `display:none`,
//! `visibility:hidden`, `opacity:0`, the `hidden` attribute, a font size of
//! 1px or less, content moved off screen or clipped to nothing, and a text
//! colour (almost) equal to the background behind it, whether set by an
//! attribute, an inline style or a `<style>` rule.

use std::sync::OnceLock;

use mail_parser::{HeaderName, Message, MessageParser, MimeHeaders, PartType};
use sendwell_html::layout::{layout, Layout};
use sendwell_html::tree::is_void;
use sendwell_html::{entity, tokenize, Attr, Syntax, Token, Tree};

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
        let (from_name, from_address) = sender(&message);
        let subject = message.subject().map(clean_header).unwrap_or_default();
        let Bodies {
            mut text,
            mut html,
            body_parts,
        } = Bodies::found_in(&message);
        // Plain text that is really an HTML document (a missing or wrong
        // Content-Type, common in bulk mail) is read as HTML.
        if html.is_none() && text.is_some_and(looks_like_html) {
            html = text.take();
        }
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
        mail.attachments = attachments(&message, &body_parts);
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
        // A mail without HTML links by the addresses its text spells out:
        // they are screened as links too (the text is what it shows).
        let links = if html.is_none() {
            text_links(&text)
        } else {
            scan.links
        };
        Self {
            from_name,
            from_address,
            subject,
            text,
            html,
            hidden_text: scan.hidden,
            links,
            images: scan.images,
            attachments: Vec::new(),
        }
    }
}

/// The web and `data:` addresses a plain text spells out, at most
/// [`MAX_LINKS`], each as a link whose text is itself.
fn text_links(text: &str) -> Vec<Link> {
    let lower = text.to_ascii_lowercase();
    let mut links = Vec::new();
    let mut at = 0;
    while links.len() < MAX_LINKS {
        let next = ["https://", "http://", "data:"]
            .iter()
            .filter_map(|scheme| lower[at..].find(scheme).map(|i| at + i))
            .min();
        let Some(start) = next else { break };
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
            .map_or(text.len(), |i| start + i);
        let href = text[start..end].trim_end_matches(['.', ',', ';', ')', ']', '!', '?']);
        if href.len() > "http://".len() {
            links.push(Link {
                text: href.to_string(),
                href: href.to_string(),
            });
        }
        at = end.max(start + 1);
    }
    links
}

/// The display name and address of the first From mailbox.
fn sender(message: &Message<'_>) -> (Option<String>, Option<String>) {
    message
        .from()
        .and_then(|from| from.first())
        .map(|addr| {
            (
                addr.name().map(clean_header).filter(|n| !n.is_empty()),
                addr.address().map(|a| a.trim().to_string()),
            )
        })
        .unwrap_or((None, None))
}

/// The attachments other than the parts read as the body, at most
/// [`MAX_ATTACHMENTS`].
fn attachments(message: &Message<'_>, body_parts: &[u32]) -> Vec<Attachment> {
    message
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
        .collect()
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

    /// The bodies of a message, looking further when the usual places are
    /// empty: an unnamed text part among the attachments (a broken
    /// multipart), then a forwarded message inside.
    fn found_in(message: &'m Message<'_>) -> Self {
        let mut bodies = Bodies::of(message);
        if bodies.is_empty() {
            bodies.take_unnamed_attachment(message);
        }
        if bodies.is_empty() {
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
        bodies
    }

    fn is_empty(&self) -> bool {
        self.text.is_none() && self.html.is_none()
    }

    /// A broken multipart can leave the body among the attachments: take
    /// the first unnamed text part.
    fn take_unnamed_attachment(&mut self, message: &'m Message<'_>) {
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
                PartType::Html(html) => self.html = Some(html.as_ref()),
                PartType::Text(html) if html_type => self.html = Some(html.as_ref()),
                PartType::Text(text) => self.text = Some(text.as_ref()),
                _ => continue,
            }
            self.body_parts.push(id);
            break;
        }
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

/// Reads the HTML of a mail into visible text, hidden text, links and
/// images, with the tokenizer and visibility model the template check uses.
fn scan_html(html: &str) -> HtmlScan {
    let tokens = tokenize(html, Syntax::Html);
    let mut scanner = Scanner {
        tree: Tree::new(&tokens),
        out: HtmlScan {
            visible: String::with_capacity(html.len() / 3),
            ..HtmlScan::default()
        },
        link: None,
        pending_break: false,
        pending_space: false,
    };
    for token in &tokens {
        match token {
            Token::Start { name, attrs, .. } => scanner.open(name, attrs),
            Token::End { name } => scanner.close(name),
            Token::Text { text, .. } => scanner.text(text),
            Token::Output { .. }
            | Token::LiquidTag { .. }
            | Token::Comment { .. }
            | Token::Raw { .. } => {}
        }
    }
    scanner.close_link();
    scanner.out
}

struct Scanner {
    tree: Tree<()>,
    out: HtmlScan,
    /// The open link: its href and where its text starts in `visible`.
    link: Option<(String, usize)>,
    /// A separator is owed before the next visible word.
    pending_break: bool,
    pending_space: bool,
}

impl Scanner {
    fn open(&mut self, name: &str, attrs: &[Attr<'_>]) {
        match layout(name) {
            Layout::Cell => self.pending_space = true,
            l if l.breaks_line() => self.pending_break = true,
            _ => {}
        }
        if name == "img" {
            self.out.images += 1;
        }
        if name == "a" {
            self.close_link();
            self.open_link(attrs);
        }
        // `/>` closes nothing in HTML: `<div style="display:none"/>` hides
        // what follows, as the template check reads it too.
        let frame = self.tree.start(name, attrs, ());
        if !is_void(name) {
            self.tree.push(frame);
        }
        self.tree.clear_closed();
    }

    fn open_link(&mut self, attrs: &[Attr<'_>]) {
        let Some(href) = attrs.iter().find(|a| a.name == "href") else {
            return;
        };
        let href = entity::decode(href.value.trim());
        let href = href.trim();
        if !href.is_empty() && self.out.links.len() < MAX_LINKS {
            self.link = Some((href.to_string(), self.out.visible.len()));
        }
    }

    fn close(&mut self, name: &str) {
        if layout(name).breaks_line() {
            self.pending_break = true;
        }
        if name == "a" {
            self.close_link();
        }
        self.tree.end(name);
        self.tree.clear_closed();
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
        let decoded = entity::decode(raw);
        if !self.tree.top().text_shows() {
            let out = &mut self.out.hidden;
            for word in decoded.split(is_space).filter(|w| !w.is_empty()) {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(word);
            }
            return;
        }
        if decoded.starts_with(is_space) {
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
        if decoded.ends_with(is_space) {
            self.pending_space = true;
        }
    }
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_text_mail_links_by_the_addresses_it_spells_out() {
        let mail = AuthoredMail::from_parts(
            None,
            "a@b.example",
            "s",
            "Upgrade here: http://203.0.113.45/owa/quota.php?u=1. Or (https://x.example/a), \
             or data:text/html;base64,PGgxPg== now",
            None,
        );
        let hrefs: Vec<&str> = mail.links.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(
            hrefs,
            [
                "http://203.0.113.45/owa/quota.php?u=1",
                "https://x.example/a",
                "data:text/html;base64,PGgxPg=="
            ]
        );
        let with_html = AuthoredMail::from_parts(
            None,
            "a@b.example",
            "s",
            "see https://y.example",
            Some("<a href=\"https://z.example\">z</a>"),
        );
        assert_eq!(
            with_html.links.len(),
            1,
            "HTML's links are the mail's links"
        );
    }

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

    /// Regression: the screen once read inline styles only, so text hidden
    /// by a `<style>` rule counted as visible though the template check knew
    /// better.
    #[test]
    fn text_hidden_by_a_style_sheet_rule_is_hidden() {
        let scan = scan_html(
            "<style>.x { display: none } td.pale { color: #fefefe }</style>\
             <p class=\"x\">secret offer</p><table><tr><td class=pale>white on white</td>\
             <td>cell</td></tr></table><p>shown</p>",
        );
        assert_eq!(scan.visible, "cell\nshown");
        assert_eq!(scan.hidden, "secret offer white on white");
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
