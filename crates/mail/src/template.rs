//! Templates: what a workspace writes (a layout with its parts, in Liquid)
//! compiled once per message into the subject, HTML and text templates that
//! are rendered for every contact.
//!
//! Liquid as liquid-rust runs it fails on a variable it does not know. A
//! mail must never fail at send time because a contact lacks an attribute,
//! so compiling collects every variable a template names, and rendering
//! gives each one a value (empty when the contact has none). `fallback:` is
//! accepted as another name for `default:`.

use crate::compliance::{self, Placeholder, Visibility};
use crate::html_text::html_to_text;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Text and simple HTML: a clean, readable mail.
    Plain,
    /// A letter from a named teammate, signed by them.
    Personal,
    /// A heading, an image and a button around the body.
    Announcement,
    /// The workspace's own complete HTML document.
    Custom,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Personal => "personal",
            Self::Announcement => "announcement",
            Self::Custom => "custom",
        }
    }
}

/// A template as the workspace writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSource {
    pub layout: Layout,
    /// The body (a fragment), or for `custom` the whole document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The text part; derived from the HTML when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `announcement`: the heading above the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<String>,
    /// `announcement`: an image below the heading (https URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_alt: Option<String>,
    /// `announcement`: a button below the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_url: Option<String>,
    /// `personal`: the teammate's signature (default: the sender's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl TemplateSource {
    /// A `custom` template: the workspace's whole HTML document, nothing
    /// else.
    pub fn custom(html: impl Into<String>) -> Self {
        Self {
            layout: Layout::Custom,
            html: Some(html.into()),
            text: None,
            heading: None,
            image_url: None,
            image_alt: None,
            button_text: None,
            button_url: None,
            signature: None,
        }
    }
}

/// A template that cannot be used, with where and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// The part at fault: `subject`, `html`, `text`, `heading`, ...
    pub field: &'static str,
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl TemplateError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
            line: None,
            column: None,
        }
    }
}

/// Something to look at, not a reason to refuse the template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateWarning {
    pub code: &'static str,
    pub message: String,
}

/// Variables every template may use besides the workspace's attributes.
pub const BUILTIN_VARIABLES: &[&str] = &[
    "email",
    "name",
    "first_name",
    "last_name",
    "external_id",
    "contact_id",
    "unsubscribe_url",
    "report_url",
    "opt_in_url",
    "physical_address",
    "workspace_name",
    "data",
];

/// The most a template part may hold.
pub const MAX_TEMPLATE_BYTES: usize = 512 * 1024;

fn parser() -> Result<&'static liquid::Parser, TemplateError> {
    static PARSER: OnceLock<Option<liquid::Parser>> = OnceLock::new();
    PARSER
        .get_or_init(|| crate::budget::parser_builder().build().ok())
        .as_ref()
        .ok_or_else(|| TemplateError::new("html", "the template engine could not start"))
}

/// A template ready to render for many contacts.
pub struct CompiledTemplate {
    pub(crate) subject: liquid::Template,
    pub(crate) html: liquid::Template,
    pub(crate) text: liquid::Template,
    /// Every top-level name the template parts use.
    pub(crate) variables: Vec<String>,
    /// The wording of the opt-in button, when the template has one.
    pub opt_in_wording: Option<String>,
    /// Where the template itself places the unsubscribe link and the
    /// address; the renderer adds a footer for what is missing.
    pub places: Places,
    pub warnings: Vec<TemplateWarning>,
}

impl std::fmt::Debug for CompiledTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledTemplate")
            .field("variables", &self.variables)
            .field("places", &self.places)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Places {
    pub html_unsubscribe: bool,
    pub html_address: bool,
    pub text_unsubscribe: bool,
    pub text_address: bool,
}

/// What compiling needs besides the source.
#[derive(Clone, Debug)]
pub struct CompileInput<'a> {
    pub source: &'a TemplateSource,
    pub subject: &'a str,
    /// The sender's display name, for the `personal` signature.
    pub from_name: Option<&'a str>,
    /// The workspace's attribute names, for the "not in the schema" warning.
    pub attributes: &'a [String],
}

impl CompiledTemplate {
    /// The top-level names the template reads.
    pub fn variables(&self) -> &[String] {
        &self.variables
    }

    pub fn compile(input: &CompileInput<'_>) -> Result<Self, TemplateError> {
        let source = input.source;
        check_fields(input)?;
        check_opt_in_placement(input)?;
        // Each part is parsed as written first, so an error names the line
        // and column of what the workspace wrote, not of the document a
        // layout builds around it.
        for (field, part) in authored_parts(input) {
            if let Some(part) = part {
                check_as_written(field, part)?;
            }
        }
        let html_source = compose_html(input)?;
        check_hidden(&html_source)?;
        check_links_followable(&html_source)?;
        let text_source = match &source.text {
            Some(text) => layout_text(source, input.from_name, text),
            None => html_to_text(&html_source),
        };
        let mut wording = None;
        let html_ready = preprocess(&html_source, Part::Html, &mut wording);
        let text_ready = preprocess(&text_source, Part::Text, &mut wording);
        // Line breaks in the subject are replaced by spaces when the mail
        // is built.
        let subject_ready = preprocess(input.subject, Part::Text, &mut None);
        let subject = parse_part("subject", &subject_ready)?;
        let html_field = if source.layout == Layout::Custom || source.html.is_some() {
            "html"
        } else {
            "text"
        };
        let html = parse_part(html_field, &html_ready)?;
        let text = parse_part("text", &text_ready)?;
        let mut names = BTreeSet::new();
        for part in [&subject_ready, &html_ready, &text_ready] {
            collect_variables(part, &mut names);
        }
        let mut warnings = unknown_attribute_warnings(&names, input.attributes);
        let places = Places::in_parts(&html_source, &text_source);
        warnings.extend(footer_warning(source.layout, places));
        Ok(Self {
            subject,
            html,
            text,
            variables: names.into_iter().collect(),
            opt_in_wording: wording,
            places,
            warnings,
        })
    }
}

impl Places {
    /// Where the composed HTML and text place the unsubscribe link and the
    /// address.
    fn in_parts(html: &str, text: &str) -> Self {
        Places {
            html_unsubscribe: compliance::contains_placeholder(html, Placeholder::UnsubscribeUrl),
            html_address: compliance::contains_placeholder(html, Placeholder::PhysicalAddress),
            text_unsubscribe: compliance::contains_placeholder(text, Placeholder::UnsubscribeUrl),
            text_address: compliance::contains_placeholder(text, Placeholder::PhysicalAddress),
        }
    }
}

/// A custom document that does not place both the unsubscribe link and the
/// address gets sendwell's footer: the workspace should know.
fn footer_warning(layout: Layout, places: Places) -> Option<TemplateWarning> {
    (layout == Layout::Custom && !(places.html_unsubscribe && places.html_address)).then(|| {
        TemplateWarning {
            code: "footer_added",
            message: "the template does not place {{ unsubscribe_url }} and {{ physical_address }} itself: sendwell adds a footer with them to every mail".to_owned(),
        }
    })
}

/// Refuses a link no mail client could follow (a line break or another
/// control character in it).
fn check_links_followable(html: &str) -> Result<(), TemplateError> {
    match crate::render::untrackable_links(html).first() {
        Some(bad) => Err(TemplateError::new(
            "html",
            format!(
                "the link {:?} holds a line break or other control character: no mail client could follow it; remove it",
                bad.chars().take(200).collect::<String>()
            ),
        )),
        None => Ok(()),
    }
}

/// Every part within the size limit, and the image and button addresses
/// plain http(s) without spaces or quotes.
fn check_fields(input: &CompileInput<'_>) -> Result<(), TemplateError> {
    let source = input.source;
    check_size("subject", input.subject)?;
    for (field, part) in [
        ("html", &source.html),
        ("text", &source.text),
        ("heading", &source.heading),
        ("signature", &source.signature),
        ("button_text", &source.button_text),
        ("image_alt", &source.image_alt),
    ] {
        if let Some(part) = part {
            check_size(field, part)?;
        }
    }
    for (field, url) in [
        ("image_url", &source.image_url),
        ("button_url", &source.button_url),
    ] {
        let Some(url) = url else { continue };
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.contains(['"', '<', '>', ' '])
        {
            return Err(TemplateError::new(
                field,
                format!("{field} must be an http:// or https:// address without spaces or quotes"),
            ));
        }
    }
    Ok(())
}

/// One part parsed by the template engine, within our nesting limit. The
/// engine's parser is not ours: a panic in it ends this template's
/// compilation, never the request or the worker.
fn parse_part(field: &'static str, text: &str) -> Result<liquid::Template, TemplateError> {
    check_nesting(field, text)?;
    let parser = parser()?;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse(text))) {
        Ok(parsed) => parsed.map_err(|e| liquid_error(field, &e)),
        Err(_) => Err(TemplateError::new(
            field,
            format!("the template engine could not read {field}; simplify it"),
        )),
    }
}

/// A warning for each name the template reads that is neither sendwell's
/// nor an attribute of the workspace: it renders empty for everyone.
fn unknown_attribute_warnings(
    names: &BTreeSet<String>,
    attributes: &[String],
) -> Vec<TemplateWarning> {
    names
        .iter()
        .filter(|name| {
            !BUILTIN_VARIABLES.contains(&name.as_str()) && !attributes.iter().any(|a| a == *name)
        })
        .map(|name| TemplateWarning {
            code: "unknown_attribute",
            message: format!(
                "'{name}' is not an attribute of this workspace yet: it renders empty for every contact until contacts have it (check the spelling, or give a fallback with {{{{ {name} | fallback: \"...\" }}}})"
            ),
        })
        .collect()
}

fn check_size(field: &'static str, text: &str) -> Result<(), TemplateError> {
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError::new(
            field,
            format!(
                "{field} is longer than {} KiB; shorten it",
                MAX_TEMPLATE_BYTES / 1024
            ),
        ));
    }
    if text.contains('\0') {
        return Err(TemplateError::new(
            field,
            format!("{field} contains a NUL character; remove it"),
        ));
    }
    Ok(())
}

/// Every part the workspace writes, by field name.
fn authored_parts<'a>(input: &CompileInput<'a>) -> [(&'static str, Option<&'a str>); 9] {
    let source = input.source;
    [
        ("subject", Some(input.subject)),
        ("html", source.html.as_deref()),
        ("text", source.text.as_deref()),
        ("heading", source.heading.as_deref()),
        ("image_url", source.image_url.as_deref()),
        ("image_alt", source.image_alt.as_deref()),
        ("button_text", source.button_text.as_deref()),
        ("button_url", source.button_url.as_deref()),
        ("signature", source.signature.as_deref()),
    ]
}

/// The opt-in link is sendwell's, not the template's: it exists only as the
/// button `{% opt_in_button %}` makes, between tags. Written by hand it
/// could go anywhere (an image URL sends it to whoever serves the image on
/// open), so `{{ opt_in_url }}` is refused in every part.
fn check_opt_in_placement(input: &CompileInput<'_>) -> Result<(), TemplateError> {
    let source = input.source;
    for (field, part) in authored_parts(input) {
        let Some(part) = part else { continue };
        let mut names = BTreeSet::new();
        collect_variables(part, &mut names);
        if names.contains("opt_in_url") {
            return Err(TemplateError::new(
                field,
                "{{ opt_in_url }} cannot be placed by hand: write {% opt_in_button \"Yes, keep me posted\" %} where the button goes (in an opt_in_request message)",
            ));
        }
        if field != "html" && field != "text" && part.contains("opt_in_button") {
            return Err(TemplateError::new(
                field,
                format!("{field} cannot hold the opt-in button: place it in the body"),
            ));
        }
    }
    for (field, part) in [
        ("html", source.html.as_deref()),
        ("text", source.text.as_deref()),
    ] {
        if let Some(part) = part {
            check_opt_in_wording(field, part)?;
        }
    }
    match source.html.as_deref() {
        Some(html) => check_opt_in_between_tags(html),
        None => Ok(()),
    }
}

/// Every opt-in button says, in quotes, what the person agrees to.
fn check_opt_in_wording(field: &'static str, part: &str) -> Result<(), TemplateError> {
    let mut rest = part;
    while let Some(start) = rest.find("{%") {
        let tag = &rest[start + 2..];
        let Some(end) = tag.find("%}") else { break };
        let inner = tag[..end].trim_matches(|c: char| c == '-' || c.is_whitespace());
        if let Some(arg) = inner.strip_prefix("opt_in_button") {
            let wording = parse_quoted(arg.trim());
            if wording.as_deref().is_none_or(|w| w.trim().is_empty()) {
                return Err(TemplateError::new(
                    field,
                    "the opt-in button needs the words the person agrees to, in quotes: write {% opt_in_button \"Yes, send me the monthly newsletter\" %}",
                ));
            }
        }
        rest = &tag[end + 2..];
    }
    Ok(())
}

/// The opt-in button stands between HTML tags, never inside one.
fn check_opt_in_between_tags(html: &str) -> Result<(), TemplateError> {
    let mut rest = html;
    let mut before = String::new();
    while let Some(at) = rest.find("opt_in_button") {
        before.push_str(&rest[..at]);
        let open = before.rfind('<');
        let close = before.rfind('>');
        if open.is_some() && (close.is_none() || close < open) {
            return Err(TemplateError::new(
                "html",
                "the opt-in button is inside an HTML tag: place {% opt_in_button %} between tags",
            ));
        }
        before.push_str("opt_in_button");
        rest = &rest[at + "opt_in_button".len()..];
    }
    Ok(())
}

/// How deep blocks may nest. Liquid's parser recurses once per level, so
/// thousands of nested `{% if %}` would overflow the stack of the thread
/// that compiles them (a crash no panic handler catches).
pub const MAX_NESTING: usize = 32;

const BLOCKS: &[&str] = &[
    "if",
    "unless",
    "for",
    "case",
    "capture",
    "comment",
    "raw",
    "ifchanged",
    "tablerow",
];

/// Refuses blocks nested deeper than [`MAX_NESTING`], before parsing.
fn check_nesting(field: &'static str, text: &str) -> Result<(), TemplateError> {
    let mut depth = 0usize;
    let mut rest = text;
    while let Some(start) = rest.find("{%") {
        let tag = &rest[start + 2..];
        let end = tag.find("%}").unwrap_or(tag.len());
        let name = tag[..end]
            .trim_start_matches(['-', ' ', '\t', '\r', '\n'])
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .next()
            .unwrap_or("");
        if BLOCKS.contains(&name) {
            depth += 1;
            if depth > MAX_NESTING {
                return Err(TemplateError::new(
                    field,
                    format!("{field} nests blocks more than {MAX_NESTING} deep; flatten it"),
                ));
            }
        } else if name
            .strip_prefix("end")
            .is_some_and(|b| BLOCKS.contains(&b))
        {
            depth = depth.saturating_sub(1);
        }
        rest = &tag[end.min(tag.len())..];
    }
    Ok(())
}

/// Refuses a template that places the unsubscribe link or the address where
/// a reader cannot see it.
fn check_hidden(html: &str) -> Result<(), TemplateError> {
    for used in compliance::placeholder_uses(html) {
        if let Visibility::Hidden(how) = &used.visibility {
            let what = match used.placeholder {
                Placeholder::UnsubscribeUrl => "the unsubscribe link ({{ unsubscribe_url }})",
                Placeholder::PhysicalAddress => "the physical address ({{ physical_address }})",
            };
            return Err(TemplateError {
                field: "html",
                message: format!(
                    "{what} at line {}, column {} is hidden from readers: {}",
                    used.line,
                    used.column,
                    how.explain()
                ),
                line: Some(used.line),
                column: Some(used.column),
            });
        }
    }
    Ok(())
}

/// Parses one part as the workspace wrote it: sendwell's own tag and
/// filter are replaced by text of the same length, so positions stay.
fn check_as_written(field: &'static str, text: &str) -> Result<(), TemplateError> {
    check_nesting(field, text)?;
    let masked = rewrite_tags(text, text.len(), |inner, tag, out| {
        if inner.starts_with("opt_in_button") {
            out.extend(tag.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
        } else {
            out.push_str(tag);
        }
    });
    let masked = masked.replace("fallback:", " default:");
    let parser = parser()?;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse(&masked))) {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(liquid_error_in(field, &e, Some(text))),
        Err(_) => Err(TemplateError::new(
            field,
            format!("the template engine could not read {field}; simplify it"),
        )),
    }
}

/// Where `name` is used as a filter (`| name`) in `text`: line and column
/// from 1, columns in characters.
fn filter_position(text: &str, name: &str) -> Option<(usize, usize)> {
    for (i, line) in text.lines().enumerate() {
        let mut from = 0;
        while let Some(at) = line[from..].find('|') {
            let pipe = from + at;
            let after = line[pipe + 1..].trim_start();
            let start = line.len() - after.len();
            let word: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if word == name {
                return Some((i + 1, line[..start].chars().count() + 1));
            }
            from = pipe + 1;
        }
    }
    None
}

/// The closest of `known` to `name`, if it is a likely typo.
fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (sendwell_core::text::edit_distance(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// A liquid error as a template error; with the part's text, an error
/// liquid gives no position for (an unknown filter) is found in it.
fn liquid_error_in(field: &'static str, e: &liquid::Error, text: Option<&str>) -> TemplateError {
    let raw = e.to_string();
    let requested = raw
        .lines()
        .find_map(|l| l.trim().strip_prefix("requested filter="))
        .map(str::trim);
    let Some(name) = requested else {
        return liquid_error(field, e);
    };
    let available: Vec<&str> = raw
        .lines()
        .find_map(|l| l.trim().strip_prefix("available filters="))
        .map(|l| l.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let position = text.and_then(|t| filter_position(t, name));
    let at = match position {
        Some((l, c)) => format!(" at line {l}, column {c}"),
        None => String::new(),
    };
    let hint = match closest(name, available.iter().copied().chain(["fallback"])) {
        Some(k) => format!(" (did you mean '{k}'?)"),
        None => String::new(),
    };
    TemplateError {
        field,
        message: format!(
            "the {field} template uses the unknown filter '{name}'{at}{hint}; the filters are fallback, {}",
            available.join(", ")
        ),
        line: position.map(|p| p.0),
        column: position.map(|p| p.1),
    }
}

/// Line and column from liquid's error text (`--> 3:14`), when it has them.
fn liquid_error(field: &'static str, e: &liquid::Error) -> TemplateError {
    let text = e.to_string();
    let mut line = None;
    let mut column = None;
    if let Some(at) = text.find("--> ") {
        let rest = &text[at + 4..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ':'))
            .unwrap_or(rest.len());
        if let Some((l, c)) = rest[..end].split_once(':') {
            line = l.parse().ok();
            column = c.parse().ok();
        }
    }
    let detail: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with('=')
                || l.starts_with("liquid:")
                || l.starts_with("expected")
                || l.starts_with("unexpected")
        })
        .map(|l| l.trim_start_matches('=').trim())
        .collect();
    let detail = if detail.is_empty() {
        text.lines().next().unwrap_or("syntax error").to_owned()
    } else {
        detail.join("; ")
    };
    let at = match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        _ => String::new(),
    };
    TemplateError {
        field,
        message: format!("the {field} template has a Liquid syntax error{at}: {detail}"),
        line,
        column,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Html,
    Text,
}

/// Rewrites sendwell's additions to plain Liquid: `fallback:` becomes
/// `default:`, and `{% opt_in_button "wording" %}` a link to the opt-in URL.
fn preprocess(source: &str, part: Part, wording: &mut Option<String>) -> String {
    let out = rewrite_tags(source, source.len() + 64, |inner, tag, out| {
        match inner.strip_prefix("opt_in_button") {
            Some(arg) => push_opt_in_button(out, arg, part, wording),
            None => out.push_str(tag),
        }
    });
    replace_fallback(&out)
}

/// The opt-in button as a link to the opt-in URL (HTML) or its wording and
/// the URL (text); the first button's wording is the template's.
fn push_opt_in_button(out: &mut String, arg: &str, part: Part, wording: &mut Option<String>) {
    let text = parse_quoted(arg.trim()).unwrap_or_else(|| "Yes, keep me posted".to_owned());
    match part {
        Part::Html => {
            out.push_str(
                "<a href=\"{{ opt_in_url }}\" style=\"display:inline-block;padding:12px 24px;background-color:#1a73e8;color:#ffffff;text-decoration:none;border-radius:4px;font-weight:bold;\">",
            );
            out.push_str(&escape_literal_html(&text));
            out.push_str("</a>");
        }
        Part::Text => {
            out.push_str(&text.replace(['{', '}'], ""));
            out.push_str(": {{ opt_in_url }}");
        }
    }
    if wording.is_none() {
        *wording = Some(text);
    }
}

/// `text` with each `{% ... %}` tag replaced by what `rewrite` writes for it
/// (given the tag's inside, trimmed, and the whole tag); an unclosed tag and
/// the rest of the text are copied as they are.
fn rewrite_tags(
    text: &str,
    capacity: usize,
    mut rewrite: impl FnMut(&str, &str, &mut String),
) -> String {
    let mut out = String::with_capacity(capacity);
    let mut rest = text;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        // The closing `%}` after the opening one: in `{%}` they overlap.
        let Some(end) = tag[2..].find("%}").map(|e| e + 4) else {
            out.push_str(tag);
            rest = "";
            break;
        };
        let inner = tag[2..end - 2].trim_matches(|c: char| c == '-' || c.is_whitespace());
        rewrite(inner, &tag[..end], &mut out);
        rest = &tag[end..];
    }
    out.push_str(rest);
    out
}

fn replace_fallback(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let expr = &rest[start..];
        let end = expr.find("}}").map(|e| e + 2).unwrap_or(expr.len());
        out.push_str(
            &expr[..end]
                .replace("| fallback:", "| default:")
                .replace("|fallback:", "|default:"),
        );
        rest = &expr[end..];
    }
    out.push_str(rest);
    out
}

/// The wording of a template's opt-in button, without compiling it (the
/// opt-in page shows it and the ledger records it).
pub fn opt_in_wording(source: &TemplateSource) -> Option<String> {
    let mut wording = None;
    for part in [&source.html, &source.text].into_iter().flatten() {
        preprocess(part, Part::Text, &mut wording);
    }
    wording
}

fn parse_quoted(text: &str) -> Option<String> {
    let quote = text.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &text[1..];
    let end = body.find(quote)?;
    Some(body[..end].to_owned())
}

/// Escapes text placed literally in the HTML source: HTML specials, and
/// braces, so a literal cannot turn into Liquid.
pub(crate) fn escape_literal_html(text: &str) -> String {
    sendwell_core::text::escape_html(text)
        .replace('{', "&#123;")
        .replace('}', "&#125;")
}

/// Text with Liquid kept intact and everything else escaped for HTML, with
/// blank lines as paragraphs and single line breaks as `<br>`.
fn text_to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    for para in normalized
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        out.push_str("<p style=\"margin:0 0 16px 0;\">");
        out.push_str(&escape_outside_liquid(para));
        out.push_str("</p>\n");
    }
    out
}

/// Escapes text for HTML, leaving `{{ }}` and `{% %}` as they are.
fn escape_outside_liquid(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    loop {
        let next = [rest.find("{{"), rest.find("{%")]
            .into_iter()
            .flatten()
            .min();
        let Some(start) = next else {
            out.push_str(&escape_text(rest));
            break;
        };
        out.push_str(&escape_text(&rest[..start]));
        let closer = if rest[start..].starts_with("{{") {
            "}}"
        } else {
            "%}"
        };
        let end = rest[start..]
            .find(closer)
            .map(|e| start + e + 2)
            .unwrap_or(rest.len());
        out.push_str(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

fn escape_text(text: &str) -> String {
    sendwell_core::text::escape_html(text).replace('\n', "<br>\n")
}

const SHELL_START: &str = "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n</head>\n<body style=\"margin:0;padding:0;background-color:#ffffff;\">\n<div style=\"max-width:600px;margin:0 auto;padding:24px;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#222222;\">\n";
const SHELL_END: &str = "</div>\n</body>\n</html>\n";

/// The full HTML document of a template, still in Liquid.
fn compose_html(input: &CompileInput<'_>) -> Result<String, TemplateError> {
    let source = input.source;
    let mut out = String::with_capacity(4096);
    match source.layout {
        Layout::Custom => {
            let html = source.html.clone().ok_or_else(|| {
                TemplateError::new(
                    "html",
                    "a 'custom' template needs \"html\": the whole HTML document",
                )
            })?;
            return Ok(html);
        }
        Layout::Plain => {
            out.push_str(SHELL_START);
            out.push_str(&layout_body(source)?);
        }
        Layout::Personal => {
            out.push_str(SHELL_START);
            out.push_str(&layout_body(source)?);
            push_signature(&mut out, source.signature.as_deref().or(input.from_name))?;
        }
        Layout::Announcement => {
            out.push_str(SHELL_START);
            push_heading_and_image(&mut out, source)?;
            out.push_str(&layout_body(source)?);
            push_button(&mut out, source)?;
        }
    }
    out.push_str(SHELL_END);
    Ok(out)
}

/// The body a layout wraps: the HTML as written, else the text as HTML.
fn layout_body(source: &TemplateSource) -> Result<String, TemplateError> {
    match (&source.html, &source.text) {
        (Some(html), _) => Ok(html.clone()),
        (None, Some(text)) => Ok(text_to_html(text)),
        (None, None) => Err(TemplateError::new(
            "html",
            format!(
                "a '{}' template needs its body: give \"html\" or \"text\"",
                source.layout.as_str()
            ),
        )),
    }
}

/// The `personal` letter's signature below the body.
fn push_signature(out: &mut String, signature: Option<&str>) -> Result<(), TemplateError> {
    let signature = signature.ok_or_else(|| {
        TemplateError::new(
            "signature",
            "a 'personal' template is a letter from a teammate: give \"signature\" (for example \"Anna, founder\") or a sender name",
        )
    })?;
    out.push_str("\n<p style=\"margin:24px 0 0 0;\">");
    out.push_str(&escape_literal_html(signature).replace('\n', "<br>\n"));
    out.push_str("</p>\n");
    Ok(())
}

/// The announcement's heading, and its image when it has one.
fn push_heading_and_image(out: &mut String, source: &TemplateSource) -> Result<(), TemplateError> {
    let heading = source.heading.as_deref().ok_or_else(|| {
        TemplateError::new("heading", "an 'announcement' template needs \"heading\"")
    })?;
    out.push_str("<h1 style=\"font-size:28px;line-height:1.25;margin:0 0 16px 0;\">");
    out.push_str(&escape_outside_liquid(heading));
    out.push_str("</h1>\n");
    if let Some(url) = &source.image_url {
        out.push_str("<img src=\"");
        out.push_str(url);
        out.push_str("\" alt=\"");
        out.push_str(&escape_literal_html(
            source.image_alt.as_deref().unwrap_or(""),
        ));
        out.push_str("\" width=\"552\" style=\"display:block;max-width:100%;height:auto;margin:0 0 16px 0;border:0;\">\n");
    }
    Ok(())
}

/// The announcement's button below the body: both its text and its address,
/// or neither.
fn push_button(out: &mut String, source: &TemplateSource) -> Result<(), TemplateError> {
    match (&source.button_text, &source.button_url) {
        (Some(text), Some(url)) => {
            out.push_str("\n<p style=\"margin:24px 0;\"><a href=\"");
            out.push_str(url);
            out.push_str("\" style=\"display:inline-block;padding:12px 24px;background-color:#1a73e8;color:#ffffff;text-decoration:none;border-radius:4px;font-weight:bold;\">");
            out.push_str(&escape_literal_html(text));
            out.push_str("</a></p>\n");
            Ok(())
        }
        (None, None) => Ok(()),
        _ => Err(TemplateError::new(
            "button_url",
            "an announcement button needs both \"button_text\" and \"button_url\"",
        )),
    }
}

/// The text part of a layout whose body text is given: everything the
/// layout's HTML says around the body (the announcement's heading, image
/// description and button with its address, the letter's signature), in
/// the same order. The layout's own words are literal text, as in the HTML.
fn layout_text(source: &TemplateSource, from_name: Option<&str>, body: &str) -> String {
    let literal = |t: &str| t.replace(['{', '}'], "");
    let mut out = String::with_capacity(body.len() + 256);
    match source.layout {
        Layout::Custom | Layout::Plain => out.push_str(body),
        Layout::Personal => {
            out.push_str(body.trim_end());
            if let Some(signature) = source.signature.as_deref().or(from_name) {
                out.push_str("\n\n");
                out.push_str(&literal(signature));
            }
        }
        Layout::Announcement => {
            if let Some(heading) = &source.heading {
                out.push_str(heading.trim());
                out.push_str("\n\n");
            }
            if source.image_url.is_some() {
                if let Some(alt) = source.image_alt.as_deref().filter(|a| !a.trim().is_empty()) {
                    out.push_str(&format!("[{}]\n\n", literal(alt.trim())));
                }
            }
            out.push_str(body.trim_end());
            if let (Some(text), Some(url)) = (&source.button_text, &source.button_url) {
                out.push_str(&format!("\n\n{}: {url}", literal(text.trim())));
            }
        }
    }
    out
}

const KEYWORDS: &[&str] = &[
    "if",
    "elsif",
    "else",
    "endif",
    "unless",
    "endunless",
    "for",
    "in",
    "endfor",
    "case",
    "when",
    "endcase",
    "assign",
    "capture",
    "endcapture",
    "and",
    "or",
    "not",
    "contains",
    "true",
    "false",
    "nil",
    "null",
    "empty",
    "blank",
    "limit",
    "offset",
    "reversed",
    "cycle",
    "raw",
    "endraw",
    "comment",
    "endcomment",
    "break",
    "continue",
    "increment",
    "decrement",
    "include",
    "render",
    "tablerow",
    "endtablerow",
    "with",
    "as",
    "liquid",
    "echo",
    "forloop",
    "tablerowloop",
    "by",
];

/// Adds every top-level variable name used inside `{{ }}` and `{% %}`.
pub fn collect_variables(source: &str, names: &mut BTreeSet<String>) {
    let mut rest = source;
    loop {
        let next = [rest.find("{{"), rest.find("{%")]
            .into_iter()
            .flatten()
            .min();
        let Some(start) = next else { break };
        let closer = if rest[start..].starts_with("{{") {
            "}}"
        } else {
            "%}"
        };
        let body_start = start + 2;
        let end = rest[body_start..]
            .find(closer)
            .map(|e| body_start + e)
            .unwrap_or(rest.len());
        scan_expression(&rest[body_start..end], names);
        rest = &rest[(end + 2).min(rest.len())..];
    }
}

fn scan_expression(expr: &str, names: &mut BTreeSet<String>) {
    let bytes = expr.as_bytes();
    let mut i = 0;
    // The token before: '.', '|' or ':' decides whether a word is a name.
    let mut previous = b' ';
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'"' || b == b'\'' {
            let close = expr[i + 1..]
                .find(b as char)
                .map(|e| i + 2 + e)
                .unwrap_or(bytes.len());
            i = close;
            previous = b'"';
            continue;
        }
        // `..` in a range `(a..b)` is not member access: `b` is a name.
        if b == b'.' && bytes.get(i + 1) == Some(&b'.') {
            previous = b' ';
            i += 2;
            continue;
        }
        if b.is_ascii_alphabetic() || b == b'_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'-')
            {
                i += 1;
            }
            let word = &expr[start..i];
            // A filter name follows '|'; a named argument is followed by ':'.
            let next = expr[i..].trim_start().as_bytes().first().copied();
            let is_name = previous != b'.'
                && previous != b'|'
                && next != Some(b':')
                && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str());
            if is_name {
                names.insert(word.to_owned());
            }
            previous = b'a';
            continue;
        }
        if !b.is_ascii_whitespace() {
            previous = b;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(source: TemplateSource) -> Result<CompiledTemplate, TemplateError> {
        CompiledTemplate::compile(&CompileInput {
            source: &source,
            subject: "Hello {{ first_name | fallback: \"there\" }}",
            from_name: Some("Anna"),
            attributes: &["plan".to_owned()],
        })
    }

    /// Compiled with the subject "News", no sender name and no attributes.
    fn compile_news(source: &TemplateSource) -> Result<CompiledTemplate, TemplateError> {
        CompiledTemplate::compile(&CompileInput {
            source,
            subject: "News",
            from_name: None,
            attributes: &[],
        })
    }

    #[test]
    fn variables_are_collected_without_filters_keywords_or_members() {
        let mut names = BTreeSet::new();
        collect_variables(
            "{{ first_name | default: \"x\" }} {% if plan == 'pro' and seats > 3 %}{{ company.name | upcase }}{% endif %}{% for i in items %}{{ i }}{% endfor %}",
            &mut names,
        );
        let got: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(
            got,
            ["company", "first_name", "i", "items", "plan", "seats"]
        );
    }

    /// Regression: `{{ opt_in_url }}` worked anywhere, so a workspace
    /// could put it in an image URL and collect the token when the mail was
    /// opened, then confirm the opt-in itself.
    #[test]
    fn regression_the_opt_in_link_is_only_placed_by_the_button() {
        for html in [
            "<p><img src=\"https://pixel.example/{{ opt_in_url }}\"></p>",
            "<p><a href=\"{{opt_in_url}}\">yes</a></p>",
            "<p><img alt='{% opt_in_button \"Yes\" %}'></p>",
        ] {
            assert!(compile(TemplateSource::custom(html)).is_err(), "{html}");
        }
        assert!(compile(TemplateSource::custom(
            "<p>Would you like news?</p>{% opt_in_button \"Yes\" %}"
        ))
        .is_ok());
    }

    /// Regression: a link whose URL held a line break (written as `&#10;`)
    /// became a click link whose redirect could not be a header.
    #[test]
    fn regression_a_link_with_a_line_break_is_refused() {
        let err = compile(TemplateSource::custom(
            "<p><a href=\"https://shop.example/&#10;Set-Cookie: x=1\">x</a></p>",
        ))
        .expect_err("refused");
        assert!(err.message.contains("control character"), "{}", err.message);
        assert_eq!(
            crate::render::header_safe_url("https://shop.example/über uns").as_deref(),
            Some("https://shop.example/%C3%BCber%20uns")
        );
    }

    /// Found by the property test: `{%}` (the opening and closing marks
    /// overlapping) panicked the compiler, in the API handler.
    #[test]
    fn regression_overlapping_tag_marks_do_not_panic() {
        let _ = compile(TemplateSource::custom("<p>{%}x</p>"));
        let mut wording = None;
        assert_eq!(preprocess("{%}", Part::Html, &mut wording), "{%}");
    }

    #[test]
    fn regression_names_in_a_range_are_variables() {
        let mut names = BTreeSet::new();
        collect_variables("{% for i in (from..reps) %}{{ i }}{% endfor %}", &mut names);
        assert!(
            names.contains("reps") && names.contains("from"),
            "{names:?}"
        );
    }

    #[test]
    fn unknown_attributes_are_warnings_not_errors() {
        let t = compile(TemplateSource::custom(
            "<html><body>{{ plan }} {{ plna }}</body></html>",
        ))
        .expect("compiles");
        let codes: Vec<&str> = t.warnings.iter().map(|w| w.code).collect();
        assert!(codes.contains(&"unknown_attribute"));
        assert!(t.warnings.iter().any(|w| w.message.contains("'plna'")));
        assert!(!t.warnings.iter().any(|w| w.message.contains("'plan'")));
    }

    #[test]
    fn a_liquid_syntax_error_names_line_and_column() {
        let err = compile(TemplateSource::custom(
            "<html><body>\n<p>{% if plan %}open</p>\n</body></html>",
        ))
        .expect_err("unclosed if");
        assert_eq!(err.field, "html");
        assert!(
            err.message.contains("Liquid syntax error"),
            "{}",
            err.message
        );
        let err = compile(TemplateSource::custom(
            "<html>\n<body>{{ first_name | }}</body></html>",
        ))
        .expect_err("bad filter");
        assert_eq!(err.line, Some(2), "{}", err.message);
        assert!(err.column.is_some(), "{}", err.message);
    }

    #[test]
    fn the_text_part_says_everything_the_layout_html_says() {
        let announcement = TemplateSource {
            layout: Layout::Announcement,
            html: None,
            text: Some("Our spring release is out.".to_owned()),
            heading: Some("Spring is here".to_owned()),
            image_url: Some("https://acme-mail.com/spring.png".to_owned()),
            image_alt: Some("A field of tulips".to_owned()),
            button_text: Some("See what is new".to_owned()),
            button_url: Some("https://acme-mail.com/spring".to_owned()),
            signature: None,
        };
        let derived = TemplateSource {
            text: None,
            html: Some("<p>Our spring release is out.</p>".to_owned()),
            ..announcement.clone()
        };
        for source in [announcement, derived] {
            let t = compile(source).expect("compiles");
            let text = t.text.render(&liquid::object!({})).expect("renders");
            for said in [
                "Spring is here",
                "A field of tulips",
                "Our spring release is out.",
                "See what is new",
                "https://acme-mail.com/spring",
            ] {
                assert!(text.contains(said), "{said:?} is missing from {text:?}");
            }
        }
        let letter = TemplateSource {
            layout: Layout::Personal,
            html: None,
            text: Some("Thanks for trying us.".to_owned()),
            signature: Some("Anna, founder".to_owned()),
            ..TemplateSource::custom("")
        };
        let t = compile(letter).expect("compiles");
        let text = t.text.render(&liquid::object!({})).expect("renders");
        assert!(text.contains("Anna, founder"), "{text}");
    }

    #[test]
    fn errors_name_the_line_and_column_of_the_field_written_and_the_filter() {
        // A two-line plain text: the error is on its line 2, not on a line
        // of the HTML document the layout makes of it.
        let source = TemplateSource {
            layout: Layout::Plain,
            html: None,
            text: Some(
                "Hi {{ first_name | fallback: \"you\" }},\nsee {{ plan | upcas }} and {% if %}."
                    .to_owned(),
            ),
            ..TemplateSource::custom("")
        };
        let err = compile_news(&source).expect_err("bad");
        eprintln!("{}", err.message);
        assert_eq!(err.field, "text", "{}", err.message);
        assert_eq!(err.line, Some(2), "{}", err.message);
        let source = TemplateSource {
            layout: Layout::Plain,
            html: None,
            text: Some(
                "Hi {{ first_name | fallback: \"you\" }},\nsee {{ plan | upcas }}.".to_owned(),
            ),
            ..TemplateSource::custom("")
        };
        let err = compile_news(&source).expect_err("unknown filter");
        eprintln!("{}", err.message);
        assert!(err.message.contains("upcas"), "{}", err.message);
        assert_eq!(err.line, Some(2), "{}", err.message);
        assert_eq!(err.column, Some(15), "{}", err.message);
        // In the subject, after a fallback and an opt-in button elsewhere.
        let source = TemplateSource {
            layout: Layout::Custom,
            ..TemplateSource::custom("<html><body>\n<p>{% opt_in_button \"Yes\" %} {{ x | fallback: \"y\" }} {{ y | nope }}</p></body></html>")
        };
        let err = compile_news(&source).expect_err("unknown filter");
        assert_eq!(err.field, "html");
        assert_eq!(
            (err.line, err.column),
            (Some(2), Some(61)),
            "{}",
            err.message
        );
        assert!(err.message.contains("nope"), "{}", err.message);
    }

    #[test]
    fn opt_in_button_becomes_a_link_to_the_opt_in_url_and_keeps_its_wording() {
        let t = compile(TemplateSource::custom(
            "<html><body>{% opt_in_button \"Yes, keep me posted\" %}</body></html>",
        ))
        .expect("compiles");
        assert_eq!(t.opt_in_wording.as_deref(), Some("Yes, keep me posted"));
        let source = TemplateSource::custom(
            "<html><body>{% opt_in_button \"Yes, keep me posted\" %}</body></html>",
        );
        assert_eq!(
            opt_in_wording(&source).as_deref(),
            Some("Yes, keep me posted")
        );
        assert!(t.variables.iter().any(|v| v == "opt_in_url"));
    }

    #[test]
    fn layouts_check_their_parts() {
        let mut announcement = TemplateSource::custom("<p>Body</p>");
        announcement.layout = Layout::Announcement;
        assert_eq!(
            compile(announcement.clone()).expect_err("no heading").field,
            "heading"
        );
        announcement.heading = Some("News".into());
        announcement.button_text = Some("Go".into());
        assert_eq!(
            compile(announcement.clone())
                .expect_err("half a button")
                .field,
            "button_url"
        );
        announcement.button_url = Some("javascript:alert(1)".into());
        assert_eq!(
            compile(announcement.clone()).expect_err("bad url").field,
            "button_url"
        );
        announcement.button_url = Some("https://example.com/".into());
        assert!(compile(announcement).is_ok());
        let mut custom_without_html = TemplateSource::custom("");
        custom_without_html.html = None;
        assert_eq!(
            compile(custom_without_html).expect_err("no html").field,
            "html"
        );
    }

    #[test]
    fn a_custom_template_that_hides_the_unsubscribe_link_is_refused() {
        let err = compile(TemplateSource::custom(
            "<html><body><p>Hi</p><div style=\"display:none\"><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> {{ physical_address }}</div></body></html>",
        ))
        .expect_err("hidden");
        assert!(err.message.contains("unsubscribe link"), "{}", err.message);
        assert!(err.line.is_some());
    }

    #[test]
    fn regression_hidden_placeholders_are_refused_in_every_layout() {
        let mut plain = TemplateSource::custom(
            "<p>Hi</p><!-- {{ unsubscribe_url }} {{ physical_address }} -->",
        );
        plain.layout = Layout::Plain;
        let err = compile(plain).expect_err("hidden in a comment");
        assert!(err.message.contains("hidden"), "{}", err.message);
    }

    /// Regression: thousands of nested blocks overflowed the stack of the
    /// thread that parsed them, which takes the whole process down.
    #[test]
    fn regression_deeply_nested_blocks_are_refused_before_parsing() {
        let deep = "{% if true %}".repeat(20_000) + &"{% endif %}".repeat(20_000);
        let err = compile(TemplateSource::custom(format!("<p>{deep}</p>"))).expect_err("refused");
        assert!(err.message.contains("nests blocks"), "{}", err.message);
        let fine = "{% if true %}".repeat(10) + "x" + &"{% endif %}".repeat(10);
        assert!(compile(TemplateSource::custom(format!("<p>{fine}</p>"))).is_ok());
    }

    #[test]
    fn text_to_html_escapes_text_and_keeps_liquid() {
        let html = text_to_html(
            "Hi {{ first_name }} & <friends>\nline two\n\nnext {% if a %}x{% endif %}",
        );
        assert!(html.contains("Hi {{ first_name }} &amp; &lt;friends&gt;<br>"));
        assert!(html.contains("<p style=\"margin:0 0 16px 0;\">next {% if a %}x{% endif %}</p>"));
    }
}
