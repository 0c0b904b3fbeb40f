//! The compliance renderer: one compiled template rendered for one contact
//! into a complete mail. Whatever the template does, the result carries a
//! visible unsubscribe link and the workspace's physical address in both
//! parts (a footer is added for what the template does not place itself),
//! and a bulk mail carries List-Unsubscribe, one-click List-Unsubscribe-Post
//! (RFC 8058) and List-Id. Links are rewritten to signed click links and an
//! open pixel is added unless the message turned tracking off.

use crate::budget::{render_bounded, within, Exceeded, RenderLimits};
use crate::compliance::{inject_html_footer, inject_text_footer};
use crate::link::MailLinks;
use crate::mime::{Mailbox, OutgoingMail};
use crate::template::CompiledTemplate;
use liquid::model::{Object, Value as LValue};
use sendwell_core::text::escape_html_into;
use sendwell_core::{MessageKind, Timestamp};
use sendwell_html::{entity, tokenize, Attr, Syntax, Token};
use serde_json::{Map, Value};

/// The contact a mail is made for.
#[derive(Clone, Debug)]
pub struct Recipient<'a> {
    pub contact_id: &'a str,
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub attributes: &'a Map<String, Value>,
    /// Per-call data of a transactional send.
    pub data: Option<&'a Map<String, Value>>,
}

/// What is the same for every mail of a message.
#[derive(Clone, Debug)]
pub struct Envelope<'a> {
    pub from: &'a Mailbox,
    pub reply_to: Option<&'a Mailbox>,
    pub kind: MessageKind,
    pub topic: &'a str,
    pub workspace_id: &'a str,
    pub workspace_name: &'a str,
    pub physical_address: &'a str,
    /// The host name of this sendwell, for Message-ID and List-Id.
    pub host: &'a str,
    /// The domain of the unsubscribe mailto: the bounce domain, whose MX
    /// is sendwell's inbound listener.
    pub mailto_domain: &'a str,
    pub track_clicks: bool,
    pub track_opens: bool,
    pub date: Timestamp,
    /// What rendering one mail may use.
    pub limits: RenderLimits,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedMail {
    pub subject: String,
    pub html: String,
    pub text: String,
    pub unsubscribe_url: String,
    /// The headers the renderer added beyond the standard ones (the list
    /// headers of bulk mail), as they are in `raw`.
    pub headers: Vec<(&'static str, String)>,
    pub raw: Vec<u8>,
    /// The footer sendwell added to the HTML part, as it stands there (the
    /// parts the template does not show itself), when it added one.
    pub added_html_footer: Option<String>,
    /// Where the footer sendwell added to the text part starts (its `-- `
    /// separator line included), when it added one.
    pub added_text_footer_at: Option<usize>,
}

impl RenderedMail {
    /// What the workspace wrote, without what sendwell added: the text and
    /// HTML parts without the footers, before click tracking and the open
    /// pixel (a mail rendered untracked has neither). Content screening
    /// reads this, so the footer's words are never held against a mail.
    pub fn authored(&self) -> (String, String) {
        let html = match &self.added_html_footer {
            Some(footer) => self.html.replacen(footer.as_str(), "", 1),
            None => self.html.clone(),
        };
        let text = match self.added_text_footer_at {
            Some(at) => self.text.get(..at).unwrap_or(&self.text).to_owned(),
            None => self.text.clone(),
        };
        (text, html)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the {part} could not be rendered: {reason}")]
pub struct RenderError {
    pub part: &'static str,
    pub reason: String,
    /// The render limit that ran out, when one did.
    pub exceeded: Option<Exceeded>,
    /// Whether the template engine panicked (caught: it ends this mail only).
    pub crashed: bool,
}

impl RenderError {
    fn new(part: &'static str, reason: String) -> Self {
        Self {
            part,
            reason,
            exceeded: None,
            crashed: false,
        }
    }
}

/// A JSON value as Liquid sees it; strings HTML-escaped for the HTML part,
/// so no contact data can add markup to a mail.
fn to_liquid(value: &Value, html: bool) -> LValue {
    match value {
        Value::Null => LValue::Nil,
        Value::Bool(b) => LValue::scalar(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => LValue::scalar(i),
            None => LValue::scalar(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => {
            if html {
                LValue::scalar(sendwell_core::text::escape_html(s))
            } else {
                LValue::scalar(s.clone())
            }
        }
        Value::Array(items) => LValue::Array(items.iter().map(|v| to_liquid(v, html)).collect()),
        Value::Object(map) => {
            let mut obj = Object::new();
            for (k, v) in map {
                obj.insert(k.clone().into(), to_liquid(v, html));
            }
            LValue::Object(obj)
        }
    }
}

fn text_value(text: &str, html: bool) -> LValue {
    if html {
        LValue::scalar(sendwell_core::text::escape_html(text))
    } else {
        LValue::scalar(text.to_owned())
    }
}

struct Globals {
    html: Object,
    text: Object,
}

impl Globals {
    fn set(&mut self, name: &str, html: LValue, text: LValue) {
        self.html.insert(name.to_owned().into(), html);
        self.text.insert(name.to_owned().into(), text);
    }

    /// A variable that prints plain text (escaped in the HTML part), or
    /// nil.
    fn set_plain(&mut self, name: &str, raw: Option<String>) {
        match raw {
            Some(raw) => self.set(name, text_value(&raw, true), LValue::scalar(raw)),
            None => self.set(name, LValue::Nil, LValue::Nil),
        }
    }

    /// The postal address: its lines become `<br>` in the HTML part.
    fn set_address(&mut self, name: &str, address: &str) {
        let html = sendwell_core::text::escape_html(address).replace('\n', "<br>");
        self.set(
            name,
            LValue::scalar(html),
            LValue::scalar(address.to_owned()),
        );
    }

    fn set_value(&mut self, name: &str, value: &Value) {
        self.set(name, to_liquid(value, true), to_liquid(value, false));
    }
}

/// A display name as first and last name: the first word, and the rest.
fn split_name(name: Option<&str>) -> (Option<&str>, Option<&str>) {
    match name {
        Some(name) => match name.trim().split_once(char::is_whitespace) {
            Some((f, l)) => (Some(f), Some(l.trim())),
            None => (Some(name.trim()), None),
        },
        None => (None, None),
    }
}

fn globals(
    t: &CompiledTemplate,
    env: &Envelope<'_>,
    rcpt: &Recipient<'_>,
    links: &MailLinks<'_>,
    unsubscribe_url: &str,
    report_url: &str,
) -> Globals {
    let mut g = Globals {
        html: Object::new(),
        text: Object::new(),
    };
    let (first, last) = split_name(rcpt.name);
    for name in &t.variables {
        let plain: Option<String> = match name.as_str() {
            "email" => Some(rcpt.email.to_owned()),
            "name" => rcpt.name.map(str::to_owned),
            "first_name" => first.map(str::to_owned),
            "last_name" => last.map(str::to_owned),
            "external_id" => rcpt.external_id.map(str::to_owned),
            "contact_id" => Some(rcpt.contact_id.to_owned()),
            "unsubscribe_url" => Some(unsubscribe_url.to_owned()),
            "report_url" => Some(report_url.to_owned()),
            // Only an opt-in request carries a working opt-in link.
            "opt_in_url" => Some(if env.kind == MessageKind::OptInRequest {
                links.opt_in()
            } else {
                String::new()
            }),
            "workspace_name" => Some(env.workspace_name.to_owned()),
            "physical_address" => {
                g.set_address(name, env.physical_address);
                continue;
            }
            "data" => {
                g.set_value(name, &Value::Object(rcpt.data.cloned().unwrap_or_default()));
                continue;
            }
            other => {
                let value = rcpt
                    .data
                    .and_then(|d| d.get(other))
                    .or_else(|| rcpt.attributes.get(other));
                if let Some(value) = value {
                    g.set_value(name, value);
                    continue;
                }
                None
            }
        };
        g.set_plain(name, plain);
    }
    g
}

/// Rewrites the `href` of every `<a>` to an http(s) destination into a
/// signed click link, leaving sendwell's own links and other schemes alone.
pub fn rewrite_links(
    html: &str,
    own_prefix: &str,
    mut click: impl FnMut(&str) -> String,
) -> String {
    let mut out = String::with_capacity(html.len() + 512);
    let mut copied = 0;
    for href in hrefs(html, true) {
        let url = decode_entities(href.value);
        // A URL that cannot be a Location header (control characters)
        // gets no click link: sendwell never redirects to it.
        let safe = header_safe_url(url.trim());
        if let (true, false, Some(safe)) = (is_web(&url), url.starts_with(own_prefix), safe) {
            out.push_str(&html[copied..href.at]);
            out.push_str(&click(&safe));
            copied = href.at + href.value.len();
        }
    }
    out.push_str(&html[copied..]);
    out
}

/// The `href` attributes of `html`: of links only, or of every element.
fn hrefs(html: &str, links_only: bool) -> impl Iterator<Item = Attr<'_>> {
    tokenize(html, Syntax::Html)
        .into_iter()
        .filter_map(move |token| match token {
            Token::Start { name, attrs, .. } if !links_only || name == "a" => {
                attrs.into_iter().find(|a| a.name == "href" && a.has_value)
            }
            _ => None,
        })
}

/// An attribute value as the browser reads it: character references that
/// end in their semicolon decoded.
fn decode_entities(value: &str) -> std::borrow::Cow<'_, str> {
    entity::decode_strict(value)
}

/// Whether a link goes to the web (http or https).
fn is_web(url: &str) -> bool {
    let url = url.trim_start();
    let has = |scheme: &str| {
        url.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
    };
    has("http://") || has("https://")
}

/// `url` as a Location header can carry it: bytes outside visible ASCII
/// percent-encoded; `None` when it holds control characters (a line
/// break in a redirect would split the header).
pub fn header_safe_url(url: &str) -> Option<std::borrow::Cow<'_, str>> {
    if url.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        return Some(std::borrow::Cow::Borrowed(url));
    }
    if url.chars().any(char::is_control) {
        return None;
    }
    let mut out = String::with_capacity(url.len() + 16);
    for b in url.bytes() {
        if b == b' ' || b > 0x7E {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    Some(std::borrow::Cow::Owned(out))
}

/// The web links in `html` that could not be tracked (see
/// [`header_safe_url`]), as the browser would read them.
pub fn untrackable_links(html: &str) -> Vec<String> {
    hrefs(html, false)
        .map(|href| decode_entities(href.value).into_owned())
        .filter(|url| is_web(url) && header_safe_url(url.trim()).is_none())
        .collect()
}

/// What a footer carries: the parts the template does not show itself.
struct Footer<'a> {
    address: Option<&'a str>,
    unsubscribe: Option<&'a str>,
    report: Option<&'a str>,
    workspace_name: &'a str,
}

fn html_footer(f: &Footer<'_>) -> String {
    let link = |url: &str, label: &str| {
        format!("<a href=\"{url}\" style=\"color:#555555;text-decoration:underline;\">{label}</a>")
    };
    let mut out = String::with_capacity(640);
    out.push_str("<div style=\"margin:32px auto 0 auto;max-width:600px;padding:16px 24px;border-top:1px solid #dddddd;font-family:Arial,Helvetica,sans-serif;font-size:12px;line-height:1.5;color:#555555;background-color:#ffffff;text-align:center;\">");
    if f.address.is_some() || f.unsubscribe.is_some() {
        out.push_str("<p style=\"margin:0 0 8px 0;color:#555555;\">");
        escape_html_into(f.workspace_name, &mut out);
        if let Some(address) = f.address {
            out.push_str("<br>");
            out.push_str(&sendwell_core::text::escape_html(address).replace('\n', "<br>"));
        }
        out.push_str("</p>");
    }
    let links: Vec<String> = [
        f.unsubscribe.map(|u| link(u, "Unsubscribe")),
        f.report.map(|u| link(u, "Report this email")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !links.is_empty() {
        out.push_str("<p style=\"margin:0;color:#555555;\">");
        out.push_str(&links.join(" &middot; "));
        out.push_str("</p>");
    }
    out.push_str("</div>\n");
    out
}

fn text_footer(f: &Footer<'_>) -> String {
    let mut out = String::with_capacity(320);
    if f.address.is_some() || f.unsubscribe.is_some() {
        out.push_str(f.workspace_name);
        if let Some(address) = f.address {
            out.push('\n');
            out.push_str(address);
        }
    }
    if let Some(url) = f.unsubscribe {
        out.push_str("\nUnsubscribe: ");
        out.push_str(url);
    }
    if let Some(url) = f.report {
        out.push_str("\nReport this email: ");
        out.push_str(url);
    }
    out.trim_start().to_owned()
}

/// Renders one mail within `env.limits`. Errors when Liquid fails at run
/// time (which compiling makes rare: every name a template uses gets a
/// value), when a render limit runs out, and when the template engine
/// panics: the panic is caught, so it ends this one mail and nothing else.
pub fn render_mail(
    t: &CompiledTemplate,
    env: &Envelope<'_>,
    rcpt: &Recipient<'_>,
    links: &MailLinks<'_>,
    message_id: &str,
) -> Result<RenderedMail, RenderError> {
    let run = || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            render_unguarded(t, env, rcpt, links, message_id)
        }))
    };
    match within(env.limits, run) {
        (Ok(Ok(mail)), _) => Ok(mail),
        (Ok(Err(mut e)), exceeded) => {
            e.exceeded = exceeded;
            if let Some(what) = exceeded {
                e.reason = what.describe(&env.limits);
            }
            Err(e)
        }
        (Err(panic), _) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(RenderError {
                part: "template",
                reason: format!("the template engine crashed ({what}); change the template"),
                exceeded: None,
                crashed: true,
            })
        }
    }
}

/// Renders `t` once for a contact with no attributes, to find out before a
/// template is stored whether it runs out of a render limit or crashes the
/// template engine whatever the contact. Only those failures are returned:
/// anything else is for the usual checks.
pub fn trial_render(
    t: &CompiledTemplate,
    kind: MessageKind,
    limits: RenderLimits,
) -> Result<(), RenderError> {
    match sample_render(t, kind, limits, &Sample::default()) {
        Err(e) if e.exceeded.is_some() || e.crashed => Err(e),
        _ => Ok(()),
    }
}

/// Who a sample render is for and from: a template's preview shows the
/// workspace's own name and address, and a made-up person.
#[derive(Clone, Debug)]
pub struct Sample<'a> {
    pub workspace_name: &'a str,
    pub physical_address: &'a str,
    pub contact_name: Option<&'a str>,
}

impl Default for Sample<'_> {
    fn default() -> Self {
        Self {
            workspace_name: "Workspace",
            physical_address: "1 Main Street, Springfield",
            contact_name: None,
        }
    }
}

/// Renders `t` for a made-up contact with no attributes, its links signed
/// with a key nobody has (they lead nowhere): a template's preview.
pub fn sample_render(
    t: &CompiledTemplate,
    kind: MessageKind,
    limits: RenderLimits,
    sample: &Sample<'_>,
) -> Result<RenderedMail, RenderError> {
    let from = Mailbox {
        name: Some("Sender".to_owned()),
        address: "sender@sendwell.invalid".to_owned(),
    };
    let env = Envelope {
        from: &from,
        reply_to: None,
        kind,
        topic: "general",
        workspace_id: "ws_00000000000000000000000000",
        workspace_name: sample.workspace_name,
        physical_address: sample.physical_address,
        host: "sendwell.invalid",
        mailto_domain: "sendwell.invalid",
        track_clicks: true,
        track_opens: true,
        date: Timestamp::from_millis(0),
        limits,
    };
    let attributes = Map::new();
    let rcpt = Recipient {
        contact_id: "ct_00000000000000000000000000",
        email: "contact@sendwell.invalid",
        name: sample.contact_name,
        external_id: None,
        attributes: &attributes,
        data: None,
    };
    let signer = crate::link::LinkSigner::new([0; 32]);
    let links = MailLinks {
        signer: &signer,
        base_url: "https://sendwell.invalid",
        workspace: env.workspace_id,
        contact: rcpt.contact_id,
        message: "msg_00000000000000000000000000",
        now: env.date,
    };
    render_mail(t, &env, &rcpt, &links, "trial@sendwell.invalid")
}

fn render_unguarded(
    t: &CompiledTemplate,
    env: &Envelope<'_>,
    rcpt: &Recipient<'_>,
    links: &MailLinks<'_>,
    message_id: &str,
) -> Result<RenderedMail, RenderError> {
    let unsubscribe_url = links.unsubscribe();
    let report_url = links.report();
    let g = globals(t, env, rcpt, links, &unsubscribe_url, &report_url);
    let fail = |part: &'static str| move |e: liquid::Error| RenderError::new(part, e.to_string());
    let subject = render_bounded(&t.subject, &g.text).map_err(fail("subject"))?;
    let subject = subject.trim().to_owned();
    let html = render_bounded(&t.html, &g.html).map_err(fail("HTML part"))?;
    let text = render_bounded(&t.text, &g.text).map_err(fail("text part"))?;
    let footer = FooterLinks {
        unsubscribe: &unsubscribe_url,
        report: &report_url,
    };
    let (mut html, text, added_html_footer, added_text_footer_at) =
        with_footers(t.places, env, &footer, html, text);
    if env.track_clicks {
        html = rewrite_links(&html, links.base_url, |url| links.click(url));
    }
    if env.track_opens {
        let pixel = format!(
            "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0;width:1px;height:1px;\">\n",
            links.open_pixel()
        );
        html = inject_html_footer(&html, &pixel);
    }
    let headers = list_headers(env, links, &unsubscribe_url);
    let to = Mailbox {
        name: rcpt.name.map(str::to_owned),
        address: rcpt.email.to_owned(),
    };
    let mail = OutgoingMail {
        from: env.from,
        to: &to,
        reply_to: env.reply_to,
        subject: &subject,
        date: env.date,
        message_id,
        headers: &headers,
        text: &text,
        html: Some(&html),
    };
    let raw = mail
        .build()
        .map_err(|e| RenderError::new("MIME message", e.to_string()))?;
    Ok(RenderedMail {
        subject,
        html,
        text,
        unsubscribe_url,
        headers,
        raw,
        added_html_footer,
        added_text_footer_at,
    })
}

/// The links every mail's footer may carry.
struct FooterLinks<'a> {
    unsubscribe: &'a str,
    report: &'a str,
}

/// The parts with a footer for whatever of the unsubscribe link, the
/// physical address and the report link the template does not show
/// itself. What the template shows is checked on the result, so a
/// placeholder inside a condition that was false still gets a footer; only
/// the template's own (visible, checked when compiled) placeholders count:
/// the same text elsewhere, say in a comment, does not.
fn with_footers(
    places: crate::template::Places,
    env: &Envelope<'_>,
    links: &FooterLinks<'_>,
    mut html: String,
    mut text: String,
) -> (String, String, Option<String>, Option<usize>) {
    let address_html = sendwell_core::text::escape_html(env.physical_address).replace('\n', "<br>");
    let html_has_unsub = places.html_unsubscribe && html.contains(links.unsubscribe);
    let html_has_address = places.html_address && html.contains(&address_html);
    // Every mail says how to report it; the template may place the link
    // itself ({{ report_url }}), or the footer does.
    let html_has_report = html.contains(links.report);
    let (mut added_html, mut added_text) = (None, None);
    if !(html_has_unsub && html_has_address && html_has_report) {
        let footer = html_footer(&Footer {
            address: (!html_has_address).then_some(env.physical_address),
            unsubscribe: (!html_has_unsub).then_some(links.unsubscribe),
            report: (!html_has_report).then_some(links.report),
            workspace_name: env.workspace_name,
        });
        html = inject_html_footer(&html, &footer);
        added_html = Some(footer);
    }
    let text_has_unsub = places.text_unsubscribe && text.contains(links.unsubscribe);
    let text_has_address = places.text_address && text.contains(env.physical_address);
    let text_has_report = text.contains(links.report);
    if !(text_has_unsub && text_has_address && text_has_report) {
        let footer = text_footer(&Footer {
            address: (!text_has_address).then_some(env.physical_address),
            unsubscribe: (!text_has_unsub).then_some(links.unsubscribe),
            report: (!text_has_report).then_some(links.report),
            workspace_name: env.workspace_name,
        });
        // The footer follows the text without its trailing blank space.
        added_text = Some(text.trim_end().len());
        text = inject_text_footer(&text, &footer);
    }
    (html, text, added_html, added_text)
}

/// The list headers of bulk mail: List-Unsubscribe (the page and the
/// mailto address), one-click List-Unsubscribe-Post (RFC 8058) and List-Id.
fn list_headers(
    env: &Envelope<'_>,
    links: &MailLinks<'_>,
    unsubscribe_url: &str,
) -> Vec<(&'static str, String)> {
    if !env.kind.is_bulk() {
        return Vec::new();
    }
    vec![
        (
            "List-Unsubscribe",
            format!(
                "<{unsubscribe_url}>, <mailto:unsubscribe@{}?subject=unsubscribe%20{}>",
                env.mailto_domain,
                links.unsubscribe_token()
            ),
        ),
        (
            "List-Unsubscribe-Post",
            "List-Unsubscribe=One-Click".to_owned(),
        ),
        (
            "List-Id",
            format!(
                "<{}.{}.{}>",
                env.topic,
                env.workspace_id.to_ascii_lowercase().replace('_', "-"),
                env.host
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_rewritten_with_their_html_references_decoded() {
        let html = "<p><a href=\"https://shop.example/?a=1&amp;ref=a&#39;b&#x26;c\">x</a> <A HREF='https://own.example/u/t'>u</A> <a href=\"mailto:a@b.example\">m</a> <link href=\"https://cdn.example/s.css\"></p>";
        let mut seen = Vec::new();
        let out = rewrite_links(html, "https://own.example", |u| {
            seen.push(u.to_owned());
            "https://own.example/c/T".to_owned()
        });
        assert_eq!(seen, ["https://shop.example/?a=1&ref=a'b&c"]);
        assert!(out.contains("<a href=\"https://own.example/c/T\">x</a>"));
        assert!(out.contains("https://own.example/u/t"));
        assert!(out.contains("mailto:a@b.example"));
        assert!(
            out.contains("https://cdn.example/s.css"),
            "only <a> links: {out}"
        );
        assert_eq!(
            decode_entities("a&bogus;b&#9999999999;&"),
            "a&bogus;b&#9999999999;&"
        );
    }
}
