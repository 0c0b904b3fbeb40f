//! Compliance of templates: every mail sendwell sends shows an unsubscribe
//! link and the sender's physical address. A template may place
//! `{{ unsubscribe_url }}` and `{{ physical_address }}` itself; this module
//! finds where ([`placeholder_uses`]) and whether a reader can see each place,
//! so a template that hides them is refused when it is saved, and it injects
//! sendwell's footer into mails that lack them ([`inject_html_footer`],
//! [`inject_text_footer`]).
//!
//! Visibility comes from a small hand-written HTML tokenizer and just enough
//! CSS (inline styles, presentational attributes, simple `<style>` rules) to
//! know what is hidden. No HTML or CSS crate: the rules that matter are few,
//! and a template is checked once, when it is saved. Tokenizing and walking
//! the elements are linear in the template's length; style rules are indexed
//! so that large sheets stay cheap too.

use std::collections::HashMap;

/// A value every mail must show, as the Liquid variable a template places.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// `unsubscribe_url`
    UnsubscribeUrl,
    /// `physical_address`
    PhysicalAddress,
}

impl Placeholder {
    pub const ALL: [Placeholder; 2] = [Self::UnsubscribeUrl, Self::PhysicalAddress];

    /// The Liquid variable name.
    pub fn variable(self) -> &'static str {
        match self {
            Self::UnsubscribeUrl => "unsubscribe_url",
            Self::PhysicalAddress => "physical_address",
        }
    }

    fn from_variable(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.variable() == name)
    }
}

/// One place where a template uses a placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceholderUse {
    pub placeholder: Placeholder,
    /// 1-based line of the opening `{{`.
    pub line: usize,
    /// 1-based column of the opening `{{`, in characters.
    pub column: usize,
    pub visibility: Visibility,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visibility {
    Visible,
    Hidden(HiddenBy),
}

/// Why a reader cannot see a placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HiddenBy {
    /// Inside an HTML comment (Outlook-only conditional comments included)
    /// or a Liquid `{% comment %}`.
    Comment,
    /// Inside `<head>`, `<title>`, `<style>` or `<script>` (`element`).
    NotInBody {
        element: String,
    },
    DisplayNone,
    VisibilityHidden,
    /// A font size of 1px or less.
    ZeroFontSize,
    /// The text colour (`colour`, as `#rrggbb` or `transparent`) is within 8
    /// of the background on every channel.
    ColourLikeBackground {
        colour: String,
    },
    /// Width or height of 1px or less (or `max-height:0`) with overflow
    /// hidden, or an image that small.
    ZeroSize,
    /// The `hidden` attribute.
    HiddenAttribute,
    /// `opacity` below 0.1.
    Opacity,
    /// Positioned 1000px or more off the left or top, or `text-indent` of
    /// -999px or less.
    OffScreen,
    /// The unsubscribe link has no visible text or image.
    EmptyLink,
    /// Inside an attribute readers do not see (`alt`, `title`, `src`...);
    /// only an `<a href>` shows itself, as its link.
    InAttribute {
        attribute: String,
    },
}

impl HiddenBy {
    /// What hides it and what to change, completing "... is hidden: ".
    pub fn explain(&self) -> String {
        match self {
            Self::Comment => "it is inside a comment (an HTML <!-- --> comment, an Outlook-only \
                              conditional comment or a Liquid {% comment %}), which readers never \
                              see; move it out of the comment"
                .to_string(),
            Self::NotInBody { element } => format!(
                "it is inside <{element}>, which is not shown as part of the message; move it \
                 into the body"
            ),
            Self::DisplayNone => "it is inside an element styled display:none; remove that style \
                                  so readers can see it"
                .to_string(),
            Self::VisibilityHidden => "it is inside an element styled visibility:hidden; remove \
                                       that style so readers can see it"
                .to_string(),
            Self::ZeroFontSize => "its font size is 1px or less; give it a readable font size \
                                   (at least 10px)"
                .to_string(),
            Self::ColourLikeBackground { colour } => format!(
                "its text colour {colour} is (almost) the same as the background behind it; \
                 change the text colour or the background so they contrast"
            ),
            Self::ZeroSize => "it is inside an element with no width or height (or max-height:0) \
                               whose overflow is hidden; remove the size limit so it shows"
                .to_string(),
            Self::HiddenAttribute => "it is inside an element with the hidden attribute; remove \
                                      the attribute"
                .to_string(),
            Self::Opacity => "it is inside an element styled with opacity 0 (fully \
                              transparent); remove the opacity style"
                .to_string(),
            Self::OffScreen => "it is moved off screen (positioned far to the left or top, or a \
                                large negative text-indent); remove that positioning"
                .to_string(),
            Self::EmptyLink => "the link it makes has no visible text; put readable text such as \
                                \"Unsubscribe\" inside the link"
                .to_string(),
            Self::InAttribute { attribute } if attribute.is_empty() => {
                "it is inside a tag, where readers do not see it; put it in the text of the mail \
                 (or an unsubscribe link's href)"
                    .to_string()
            }
            Self::InAttribute { attribute } => format!(
                "it is inside the {attribute} attribute, which readers do not see; put it in the \
                 text of the mail (or an unsubscribe link's href)"
            ),
        }
    }
}

/// Every use of a placeholder in an HTML template, in source order, with
/// whether a reader can see it.
pub fn placeholder_uses(html_template: &str) -> Vec<PlaceholderUse> {
    let tokens = tokenize(html_template);
    let sheet = Sheet::from_tokens(&tokens);
    let mut walker = Walker {
        sheet: &sheet,
        root: Frame::root(),
        stack: Vec::new(),
        open: HashMap::new(),
        links: Vec::new(),
        uses: Vec::new(),
        styles: HashMap::new(),
    };
    walker.walk(&tokens);
    let mut uses = walker.uses;
    uses.sort_by_key(|(offset, _, _)| *offset);
    // Forward-only, so many uses on one long line stay linear.
    let (mut at, mut line, mut column) = (0, 1, 1);
    uses.into_iter()
        .map(|(offset, placeholder, visibility)| {
            for c in html_template[at..offset].chars() {
                if c == '\n' {
                    line += 1;
                    column = 1;
                } else {
                    column += 1;
                }
            }
            at = offset;
            PlaceholderUse {
                placeholder,
                line,
                column,
                visibility,
            }
        })
        .collect()
}

/// Whether the template (HTML or text) places `p` anywhere, visible or not.
pub fn contains_placeholder(template: &str, p: Placeholder) -> bool {
    let bytes = template.as_bytes();
    let mut at = 0;
    while let Some(k) = template[at..].find('{') {
        let i = at + k;
        if !is_liquid_start(bytes, i) {
            at = i + 1;
            continue;
        }
        let Some((inner, end)) = liquid_segment(template, i) else {
            return false;
        };
        at = end;
        if bytes.get(i + 1) == Some(&b'{') {
            if output_placeholder(inner) == Some(p) {
                return true;
            }
        } else if tag_name(inner) == "raw" {
            // `{% raw %}{{ unsubscribe_url }}{% endraw %}` prints the braces.
            at = block_end(template, end, "endraw").1;
        }
    }
    false
}

/// `footer_html` before the last `</body>` (any case), else before the last
/// `</html>`, else at the end.
pub fn inject_html_footer(html: &str, footer_html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let at = last_closing_tag(&lower, "body")
        .or_else(|| last_closing_tag(&lower, "html"))
        .unwrap_or(html.len());
    let mut out = String::with_capacity(html.len() + footer_html.len());
    out.push_str(&html[..at]);
    out.push_str(footer_html);
    out.push_str(&html[at..]);
    out
}

/// `footer_text` after the text, a blank line and the `-- ` separator line,
/// ending in a newline. Lines end in `\n`; MIME building makes them CRLF.
pub fn inject_text_footer(text: &str, footer_text: &str) -> String {
    let body = text.trim_end();
    let footer = footer_text.trim_end_matches(['\r', '\n']);
    let mut out = String::with_capacity(body.len() + footer.len() + 8);
    if !body.is_empty() {
        out.push_str(body);
        out.push_str("\n\n");
    }
    out.push_str("-- \n");
    out.push_str(footer);
    out.push('\n');
    out
}

/// Where the last `</name>` (or `</name ...>`) starts, in lowercased HTML.
fn last_closing_tag(lower: &str, name: &str) -> Option<usize> {
    let needle = format!("</{name}");
    let mut end = lower.len();
    while let Some(i) = lower[..end].rfind(&needle) {
        match lower.as_bytes().get(i + needle.len()) {
            Some(b) if *b == b'>' || b.is_ascii_whitespace() => return Some(i),
            _ => end = i,
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Liquid

fn is_liquid_start(bytes: &[u8], i: usize) -> bool {
    bytes.get(i) == Some(&b'{') && matches!(bytes.get(i + 1), Some(b'{' | b'%'))
}

/// The inside of the `{{ }}` or `{% %}` starting at `i`, and where it ends;
/// `None` when it is never closed.
fn liquid_segment(src: &str, i: usize) -> Option<(&str, usize)> {
    let close = if src.as_bytes().get(i + 1) == Some(&b'{') {
        "}}"
    } else {
        "%}"
    };
    let k = src.get(i + 2..)?.find(close)?;
    Some((&src[i + 2..i + 2 + k], i + 2 + k + 2))
}

/// Where the Liquid segment at `i` ends; the end of `src` if it never does.
fn liquid_end(src: &str, i: usize) -> usize {
    liquid_segment(src, i).map_or(src.len(), |(_, end)| end)
}

/// The placeholder an output (`unsubscribe_url | upcase`) prints, if any.
fn output_placeholder(inner: &str) -> Option<Placeholder> {
    // `{{-` and `-}}` only trim whitespace around the output.
    let expr = inner.strip_prefix('-').unwrap_or(inner);
    let expr = expr.strip_suffix('-').unwrap_or(expr).trim();
    let end = expr
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(expr.len());
    let (name, rest) = expr.split_at(end);
    // `unsubscribe_url.size` or `[0]` prints something else.
    if !(rest.is_empty() || rest.starts_with(|c: char| c.is_whitespace() || c == '|')) {
        return None;
    }
    Placeholder::from_variable(name)
}

/// The name of a Liquid tag: `comment` for `{%- comment -%}`.
fn tag_name(inner: &str) -> &str {
    let inner = inner.trim_start_matches('-').trim_start();
    let end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '#'))
        .unwrap_or(inner.len());
    &inner[..end]
}

/// Where a block's content ends and where its `{% end_name %}` tag ends,
/// searching from `from`; the end of `src` for both when it is not closed.
fn block_end(src: &str, from: usize, end_name: &str) -> (usize, usize) {
    let mut at = from;
    while let Some(k) = src[at..].find("{%") {
        let open = at + k;
        let Some((inner, end)) = liquid_segment(src, open) else {
            break;
        };
        if tag_name(inner) == end_name {
            return (open, end);
        }
        at = end;
    }
    (src.len(), src.len())
}

/// The placeholders printed by outputs in `text`, which starts at `base`.
fn placeholders_in(text: &str, base: usize) -> Vec<Found> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(k) = text[at..].find("{{") {
        let open = at + k;
        let Some((inner, end)) = liquid_segment(text, open) else {
            break;
        };
        if let Some(placeholder) = output_placeholder(inner) {
            found.push(Found {
                placeholder,
                offset: base + open,
            });
        }
        at = end;
    }
    found
}

// ---------------------------------------------------------------------------
// Tokenizer

#[derive(Clone, Copy, Debug)]
struct Found {
    placeholder: Placeholder,
    /// Byte offset of the `{{`.
    offset: usize,
}

struct Attr<'a> {
    /// Lowercased; empty for Liquid standing where an attribute would.
    name: String,
    value: &'a str,
    found: Vec<Found>,
}

enum Token<'a> {
    Start {
        name: String,
        attrs: Vec<Attr<'a>>,
    },
    End {
        name: String,
    },
    /// Text between tags; `visible` when it has a character that shows.
    Text {
        visible: bool,
    },
    /// A Liquid output in text.
    Output {
        offset: usize,
        placeholder: Option<Placeholder>,
    },
    Comment {
        found: Vec<Found>,
    },
    /// The content of a raw-text element (the last `Start`).
    Raw {
        text: &'a str,
        found: Vec<Found>,
    },
}

/// Elements whose content is text up to their end tag, never markup.
const RAW_TEXT: &[&str] = &["style", "script", "title"];

fn tokenize(src: &str) -> Vec<Token<'_>> {
    let mut t = Tokenizer {
        src,
        lower: src.to_ascii_lowercase(),
        tokens: Vec::new(),
    };
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        i = if is_liquid_start(bytes, i) {
            t.liquid(i)
        } else if bytes[i] == b'<' {
            match t.markup(i) {
                Some(end) => end,
                None => t.text(i),
            }
        } else {
            t.text(i)
        };
    }
    t.tokens
}

struct Tokenizer<'a> {
    src: &'a str,
    /// `src` with ASCII lowercased: same byte offsets, for case-insensitive
    /// names and end tags.
    lower: String,
    tokens: Vec<Token<'a>>,
}

impl<'a> Tokenizer<'a> {
    /// Text from `start` (whose character is text whatever it is) up to the
    /// next `<` or `{`.
    fn text(&mut self, start: usize) -> usize {
        let bytes = self.src.as_bytes();
        let end = bytes[start + 1..]
            .iter()
            .position(|&b| b == b'<' || b == b'{')
            .map_or(bytes.len(), |k| start + 1 + k);
        self.tokens.push(Token::Text {
            visible: has_visible_text(&self.src[start..end]),
        });
        end
    }

    fn liquid(&mut self, i: usize) -> usize {
        let src = self.src;
        let Some((inner, end)) = liquid_segment(src, i) else {
            // Liquid refuses an unclosed tag; the rest is text here.
            self.tokens.push(Token::Text {
                visible: has_visible_text(&src[i..]),
            });
            return src.len();
        };
        if src.as_bytes().get(i + 1) == Some(&b'{') {
            self.tokens.push(Token::Output {
                offset: i,
                placeholder: output_placeholder(inner),
            });
            return end;
        }
        match tag_name(inner) {
            "comment" => {
                let (content_end, after) = block_end(src, end, "endcomment");
                self.tokens.push(Token::Comment {
                    found: placeholders_in(&src[end..content_end], end),
                });
                after
            }
            "raw" => {
                let (content_end, after) = block_end(src, end, "endraw");
                self.tokens.push(Token::Text {
                    visible: has_visible_text(&src[end..content_end]),
                });
                after
            }
            // Conditions and loops cannot be evaluated here: their content
            // is read as if it always rendered.
            _ => end,
        }
    }

    /// Markup at a `<`, or `None` when the `<` is text.
    fn markup(&mut self, i: usize) -> Option<usize> {
        let src = self.src;
        let bytes = src.as_bytes();
        if src[i..].starts_with("<!--") {
            let body = i + 4;
            let (content_end, end) = if src[body..].starts_with('>') {
                (body, body + 1)
            } else if src[body..].starts_with("->") {
                (body, body + 2)
            } else {
                src[body..]
                    .find("-->")
                    .map_or((src.len(), src.len()), |k| (body + k, body + k + 3))
            };
            self.tokens.push(Token::Comment {
                found: placeholders_in(&src[body..content_end], body),
            });
            return Some(end);
        }
        let next = *bytes.get(i + 1)?;
        if next == b'!' || next == b'?' {
            // Doctype, CDATA, `<![endif]>`: nothing a reader sees.
            return Some(self.tag_end(i + 2));
        }
        if next == b'/' {
            return match bytes.get(i + 2) {
                Some(c) if c.is_ascii_alphabetic() => {
                    let name_end = name_end(bytes, i + 2);
                    let name = self.lower[i + 2..name_end].to_string();
                    self.tokens.push(Token::End { name });
                    Some(self.tag_end(name_end))
                }
                Some(_) => Some(self.tag_end(i + 2)),
                None => None,
            };
        }
        next.is_ascii_alphabetic().then(|| self.start_tag(i))
    }

    /// Just past the `>` that ends the tag, skipping Liquid (whose `>` is a
    /// comparison, not the end of the tag).
    fn tag_end(&self, mut p: usize) -> usize {
        let bytes = self.src.as_bytes();
        while p < bytes.len() {
            if is_liquid_start(bytes, p) {
                p = liquid_end(self.src, p);
            } else if bytes[p] == b'>' {
                return p + 1;
            } else {
                p += 1;
            }
        }
        bytes.len()
    }

    fn start_tag(&mut self, i: usize) -> usize {
        let src = self.src;
        let bytes = src.as_bytes();
        let len = bytes.len();
        let ne = name_end(bytes, i + 1);
        let name = self.lower[i + 1..ne].to_string();
        let mut attrs = Vec::new();
        let mut p = ne;
        loop {
            while p < len && (bytes[p].is_ascii_whitespace() || bytes[p] == b'/') {
                p += 1;
            }
            if p >= len {
                break;
            }
            if bytes[p] == b'>' {
                p += 1;
                break;
            }
            if is_liquid_start(bytes, p) {
                // `<td {% if wide %}width="600"{% endif %}>` or an output
                // standing where an attribute would.
                let end = liquid_end(src, p);
                let found = placeholders_in(&src[p..end], p);
                if !found.is_empty() {
                    attrs.push(Attr {
                        name: String::new(),
                        value: &src[p..end],
                        found,
                    });
                }
                p = end;
                continue;
            }
            let name_start = p;
            p += 1;
            while p < len
                && !bytes[p].is_ascii_whitespace()
                && !matches!(bytes[p], b'=' | b'>' | b'/')
                && !is_liquid_start(bytes, p)
            {
                p += 1;
            }
            let attr_name = self.lower[name_start..p].to_string();
            let mut q = p;
            while q < len && bytes[q].is_ascii_whitespace() {
                q += 1;
            }
            let (start, end) = if q < len && bytes[q] == b'=' {
                q += 1;
                while q < len && bytes[q].is_ascii_whitespace() {
                    q += 1;
                }
                let (start, end, after) = self.attr_value(q);
                p = after;
                (start, end)
            } else {
                (p, p)
            };
            attrs.push(Attr {
                name: attr_name,
                value: &src[start..end],
                found: placeholders_in(&src[start..end], start),
            });
        }
        let raw = RAW_TEXT.contains(&name.as_str());
        let end_name = format!("</{name}");
        self.tokens.push(Token::Start { name, attrs });
        if raw {
            p = self.raw_text(p, &end_name);
        }
        p
    }

    /// Value start, value end and where parsing goes on, for a value at `q`.
    fn attr_value(&self, q: usize) -> (usize, usize, usize) {
        let bytes = self.src.as_bytes();
        let len = bytes.len();
        match bytes.get(q) {
            Some(&quote) if quote == b'"' || quote == b'\'' => {
                let mut p = q + 1;
                while p < len {
                    if is_liquid_start(bytes, p) {
                        // `href="{{ url | append: '"' }}"`: Liquid runs first.
                        p = liquid_end(self.src, p);
                    } else if bytes[p] == quote {
                        return (q + 1, p, p + 1);
                    } else {
                        p += 1;
                    }
                }
                (q + 1, len, len)
            }
            Some(_) => {
                let mut p = q;
                while p < len && !bytes[p].is_ascii_whitespace() && bytes[p] != b'>' {
                    if is_liquid_start(bytes, p) {
                        p = liquid_end(self.src, p);
                    } else {
                        p += 1;
                    }
                }
                (q, p.min(len), p.min(len))
            }
            None => (len, len, len),
        }
    }

    /// The raw text from `from` up to `end_tag` (`</style`), which is left
    /// for the next token.
    fn raw_text(&mut self, from: usize, end_tag: &str) -> usize {
        let mut at = from;
        let close = loop {
            match self.lower[at..].find(end_tag) {
                Some(k) => {
                    let c = at + k;
                    match self.lower.as_bytes().get(c + end_tag.len()) {
                        Some(b) if !(b.is_ascii_whitespace() || *b == b'>' || *b == b'/') => {
                            at = c + end_tag.len();
                        }
                        _ => break c,
                    }
                }
                None => break self.src.len(),
            }
        };
        let text = &self.src[from..close];
        self.tokens.push(Token::Raw {
            text,
            found: placeholders_in(text, from),
        });
        close
    }
}

/// Where a tag name starting at `from` ends.
fn name_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
        .map_or(bytes.len(), |k| from + k)
}

/// Entities that render as nothing or as blank space.
const BLANK_ENTITIES: &[&str] = &[
    "nbsp", "#160", "#xa0", "ensp", "emsp", "thinsp", "#8194", "#8195", "#8201", "zwnj", "zwj",
    "#8203", "#x200b", "#8204", "#x200c", "#8205", "#x200d", "#8288", "#x2060", "#65279", "#xfeff",
    "shy", "#173", "#xad", "#847", "#x34f", "#32", "#x20", "#9", "#10", "#13",
];

/// Characters that render as nothing: soft hyphen, combining grapheme joiner
/// (a favourite of preheader padding), zero-width ones.
fn is_blank_char(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{ad}' | '\u{34f}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}'
        )
}

/// Whether text shows anything: a character that is not blank, or an entity
/// that is not.
fn has_visible_text(text: &str) -> bool {
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '&' {
            // Entity names are short: looking further would be quadratic.
            let entity = rest[1..]
                .char_indices()
                .take(12)
                .find(|&(_, c)| c == ';')
                .map(|(k, _)| &rest[1..1 + k]);
            match entity {
                Some(name) if BLANK_ENTITIES.contains(&name.to_ascii_lowercase().as_str()) => {
                    rest = &rest[name.len() + 2..];
                    continue;
                }
                _ => return true,
            }
        }
        if !is_blank_char(c) {
            return true;
        }
        rest = &rest[c.len_utf8()..];
    }
    false
}

// ---------------------------------------------------------------------------
// Style sheets

/// The simple rules of a template's `<style>` blocks: selectors made of a tag,
/// classes and ids only (`td.footer`, `#address`, `.hide`). Descendant and
/// pseudo selectors and `@media` blocks are ignored: what they hide applies
/// only sometimes, and the rest of the check does not depend on them.
///
/// Rules with the same selector are merged, and each selector is filed under
/// its rarest class or id, so a sheet of thousands of rules costs an element
/// only the few that could match it.
#[derive(Default)]
struct Sheet {
    selectors: Vec<Selector>,
    by_selector: HashMap<(Option<String>, Vec<u32>), usize>,
    /// `#id` and `.class` names, interned.
    names: HashMap<String, u32>,
    /// Selector indices filed under a name, indexed by name.
    by_name: Vec<Vec<usize>>,
    /// Selector indices of selectors without names, by tag (`*` for any).
    by_tag: HashMap<String, Vec<usize>>,
    /// Source order of the last declaration.
    order: usize,
}

struct Selector {
    tag: Option<String>,
    /// Interned `#id` and `.class` names, sorted.
    names: Vec<u32>,
    specificity: (usize, usize, usize),
    /// The last value of each property (by index in [`RELEVANT`]) and its
    /// source order.
    decls: Vec<(usize, String, usize)>,
}

/// A property and its value, both lowercased, without `!important`.
type Decl = (String, String);

/// The properties that can hide something; the rest are dropped on parsing.
const RELEVANT: &[&str] = &[
    "display",
    "visibility",
    "opacity",
    "position",
    "left",
    "top",
    "text-indent",
    "overflow",
    "overflow-x",
    "overflow-y",
    "width",
    "height",
    "max-width",
    "max-height",
    "font-size",
    "color",
    "background",
    "background-color",
    "background-image",
];

impl Sheet {
    fn from_tokens(tokens: &[Token]) -> Sheet {
        let mut sheet = Sheet::default();
        let mut after_style = false;
        for token in tokens {
            if let (true, Token::Raw { text, .. }) = (after_style, token) {
                sheet.add(text);
            }
            after_style = matches!(token, Token::Start { name, .. } if name == "style");
        }
        sheet.index();
        sheet
    }

    fn is_empty(&self) -> bool {
        self.selectors.is_empty()
    }

    fn add(&mut self, css: &str) {
        let css = clean_css(css);
        let mut rest = css.as_str();
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            if rest.starts_with('@') {
                match rest.find([';', '{']) {
                    Some(k) if rest.as_bytes()[k] == b';' => rest = &rest[k + 1..],
                    Some(k) => rest = &rest[block_close(rest, k).1..],
                    None => break,
                }
                continue;
            }
            let Some(open) = rest.find('{') else {
                break;
            };
            let (body_end, after) = block_close(rest, open);
            let body = &rest[open + 1..body_end];
            // Nested rules are not plain declarations.
            if !body.contains('{') {
                let decls: Vec<(usize, String, usize)> = parse_declarations(body)
                    .into_iter()
                    .filter_map(|(p, v)| {
                        self.order += 1;
                        let property = RELEVANT.iter().position(|r| *r == p)?;
                        Some((property, v, self.order))
                    })
                    .collect();
                if !decls.is_empty() {
                    for selector in rest[..open].split(',') {
                        self.merge(selector, &decls);
                    }
                }
            }
            rest = &rest[after..];
        }
    }

    fn merge(&mut self, selector: &str, decls: &[(usize, String, usize)]) {
        let Some((tag, ids, classes)) = parse_selector(selector) else {
            return;
        };
        let specificity = (ids.len(), classes.len(), usize::from(tag.is_some()));
        let mut names: Vec<u32> = ids
            .iter()
            .map(|id| format!("#{id}"))
            .chain(classes.iter().map(|class| format!(".{class}")))
            .map(|name| {
                let next = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
                *self.names.entry(name).or_insert(next)
            })
            .collect();
        names.sort_unstable();
        let key = (tag, names);
        let index = match self.by_selector.get(&key) {
            Some(&i) => i,
            None => {
                let (tag, names) = key.clone();
                self.selectors.push(Selector {
                    tag,
                    names,
                    specificity,
                    decls: Vec::new(),
                });
                self.by_selector.insert(key, self.selectors.len() - 1);
                self.selectors.len() - 1
            }
        };
        let merged = &mut self.selectors[index].decls;
        for (property, value, order) in decls {
            match merged.iter_mut().find(|(p, _, _)| p == property) {
                Some(slot) => *slot = (*property, value.clone(), *order),
                None => merged.push((*property, value.clone(), *order)),
            }
        }
    }

    /// Files each selector under its rarest name, else under its tag.
    fn index(&mut self) {
        let mut frequency = vec![0usize; self.names.len()];
        for selector in &self.selectors {
            for &name in &selector.names {
                if let Some(f) = frequency.get_mut(name as usize) {
                    *f += 1;
                }
            }
        }
        self.by_name = vec![Vec::new(); self.names.len()];
        for (i, selector) in self.selectors.iter().enumerate() {
            let rarest = selector
                .names
                .iter()
                .copied()
                .min_by_key(|&name| frequency.get(name as usize).copied().unwrap_or(0));
            match rarest.and_then(|name| self.by_name.get_mut(name as usize)) {
                Some(list) => list.push(i),
                None => {
                    let tag = selector.tag.clone().unwrap_or_else(|| "*".to_string());
                    self.by_tag.entry(tag).or_default().push(i);
                }
            }
        }
    }

    /// The interned names of an element's id and classes that some selector
    /// uses, sorted: others cannot make a difference.
    fn element_names(&self, id: Option<&str>, classes: &[String]) -> Vec<u32> {
        let mut names: Vec<u32> = id
            .map(|id| format!("#{id}"))
            .into_iter()
            .chain(classes.iter().map(|class| format!(".{class}")))
            .filter_map(|name| self.names.get(&name).copied())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The winning declaration of each property among the selectors
    /// matching an element with `tag` and `names` (from
    /// [`Sheet::element_names`]).
    fn declarations(&self, tag: &str, names: &[u32]) -> Vec<Decl> {
        type Winner<'s> = ((usize, usize, usize), usize, &'s str);
        let mut winners: Vec<Option<Winner>> = vec![None; RELEVANT.len()];
        let candidates = [tag, "*"]
            .into_iter()
            .filter_map(|t| self.by_tag.get(t))
            .chain(names.iter().filter_map(|&n| self.by_name.get(n as usize)))
            .flatten();
        for &i in candidates {
            let selector = &self.selectors[i];
            let matches = selector.tag.as_deref().is_none_or(|t| t == tag)
                && selector
                    .names
                    .iter()
                    .all(|n| names.binary_search(n).is_ok());
            if !matches {
                continue;
            }
            for (property, value, order) in &selector.decls {
                let Some(slot) = winners.get_mut(*property) else {
                    continue;
                };
                // The more specific wins, then the later, as in CSS.
                let this = (selector.specificity, *order);
                if slot.is_none_or(|(s, o, _)| (s, o) < this) {
                    *slot = Some((selector.specificity, *order, value));
                }
            }
        }
        winners
            .into_iter()
            .enumerate()
            .filter_map(|(property, winner)| {
                winner.map(|(_, _, value)| (RELEVANT[property].to_string(), value.to_string()))
            })
            .collect()
    }
}

/// Where the block opened at `open` ends: its `}` and just past it (the end
/// of `css` for both when it is never closed).
fn block_close(css: &str, open: usize) -> (usize, usize) {
    let mut depth = 0usize;
    for (i, b) in css.bytes().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return (i, i + 1);
                }
            }
            _ => {}
        }
    }
    (css.len(), css.len())
}

/// CSS without comments, HTML comment markers and Liquid: a Liquid output
/// becomes `__liquid__`, which no value parser knows, so a colour taken from
/// a variable counts as unknown rather than as whatever it looks like.
fn clean_css(css: &str) -> String {
    let bytes = css.as_bytes();
    let mut out = String::with_capacity(css.len());
    let mut i = 0;
    while i < css.len() {
        let rest = &css[i..];
        if let Some(comment) = rest.strip_prefix("/*") {
            i = comment.find("*/").map_or(css.len(), |k| i + 2 + k + 2);
            out.push(' ');
        } else if is_liquid_start(bytes, i) {
            out.push_str(if bytes[i + 1] == b'{' {
                " __liquid__ "
            } else {
                " "
            });
            i = liquid_end(css, i);
        } else if rest.starts_with("<!--") {
            out.push(' ');
            i += 4;
        } else if rest.starts_with("-->") {
            out.push(' ');
            i += 3;
        } else if let Some(c) = rest.chars().next() {
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The relevant `prop: value; ...`, lowercased, `!important` dropped (inline
/// styles win over `<style>` rules here whatever they say, which is close
/// enough).
fn parse_declarations(css: &str) -> Vec<Decl> {
    css.split(';')
        .filter_map(|part| {
            let (property, value) = part.split_once(':')?;
            let property = property.trim().to_ascii_lowercase();
            if !RELEVANT.contains(&property.as_str()) {
                return None;
            }
            let mut value = value.trim().to_ascii_lowercase();
            if let Some(v) = value.strip_suffix("important") {
                if let Some(v) = v.trim_end().strip_suffix('!') {
                    value = v.trim_end().to_string();
                }
            }
            Some((property, value))
        })
        .collect()
}

/// A selector of a tag (or `*`), classes and ids, as (tag, ids, classes);
/// `None` for anything else.
type Compound = (Option<String>, Vec<String>, Vec<String>);

fn parse_selector(selector: &str) -> Option<Compound> {
    let selector = selector.trim().to_ascii_lowercase();
    if selector.is_empty() {
        return None;
    }
    let ident_len = |s: &str| {
        s.find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(s.len())
    };
    let mut rest = selector.as_str();
    let mut tag = None;
    if let Some(r) = rest.strip_prefix('*') {
        rest = r;
    } else {
        let n = ident_len(rest);
        if n > 0 {
            tag = Some(rest[..n].to_string());
            rest = &rest[n..];
        }
    }
    let (mut ids, mut classes) = (Vec::new(), Vec::new());
    while let Some(kind) = rest.chars().next() {
        let target = match kind {
            '.' => &mut classes,
            '#' => &mut ids,
            _ => return None,
        };
        let name = &rest[1..];
        let n = ident_len(name);
        if n == 0 {
            return None;
        }
        target.push(name[..n].to_string());
        rest = &name[n..];
    }
    Some((tag, ids, classes))
}

// ---------------------------------------------------------------------------
// Values

#[derive(Clone, Copy, Debug, PartialEq)]
struct Rgba {
    r: u8,
    g: u8,
    b: u8,
    a: f32,
}

const BLACK: Rgba = rgb(0x000000);
const WHITE: Rgba = rgb(0xffffff);
/// What mail clients colour a link the template does not colour itself.
const LINK_BLUE: Rgba = rgb(0x0000ee);

const fn rgb(hex: u32) -> Rgba {
    Rgba {
        r: (hex >> 16) as u8,
        g: (hex >> 8) as u8,
        b: hex as u8,
        a: 1.0,
    }
}

/// The named colours templates use, the near-whites above all.
const NAMED_COLOURS: &[(&str, u32)] = &[
    ("white", 0xffffff),
    ("black", 0x000000),
    ("red", 0xff0000),
    ("green", 0x008000),
    ("blue", 0x0000ff),
    ("gray", 0x808080),
    ("grey", 0x808080),
    ("silver", 0xc0c0c0),
    ("yellow", 0xffff00),
    ("navy", 0x000080),
    ("orange", 0xffa500),
    ("purple", 0x800080),
    ("maroon", 0x800000),
    ("olive", 0x808000),
    ("teal", 0x008080),
    ("aqua", 0x00ffff),
    ("cyan", 0x00ffff),
    ("fuchsia", 0xff00ff),
    ("magenta", 0xff00ff),
    ("lime", 0x00ff00),
    ("pink", 0xffc0cb),
    ("brown", 0xa52a2a),
    ("gold", 0xffd700),
    ("beige", 0xf5f5dc),
    ("lightgray", 0xd3d3d3),
    ("lightgrey", 0xd3d3d3),
    ("darkgray", 0xa9a9a9),
    ("darkgrey", 0xa9a9a9),
    ("dimgray", 0x696969),
    ("dimgrey", 0x696969),
    ("gainsboro", 0xdcdcdc),
    ("whitesmoke", 0xf5f5f5),
    ("snow", 0xfffafa),
    ("ivory", 0xfffff0),
    ("ghostwhite", 0xf8f8ff),
    ("floralwhite", 0xfffaf0),
    ("mintcream", 0xf5fffa),
    ("azure", 0xf0ffff),
    ("seashell", 0xfff5ee),
    ("honeydew", 0xf0fff0),
    ("aliceblue", 0xf0f8ff),
    ("linen", 0xfaf0e6),
];

/// A CSS colour (lowercased): a name, `#rgb`, `#rgba`, `#rrggbb`,
/// `#rrggbbaa`, `rgb()` or `rgba()`. `None` when unknown (`hsl()`, a name
/// not in the table, Liquid).
fn parse_colour(value: &str) -> Option<Rgba> {
    let value = value.trim();
    if value == "transparent" {
        return Some(Rgba { a: 0.0, ..BLACK });
    }
    if let Some(&(_, hex)) = NAMED_COLOURS.iter().find(|(name, _)| *name == value) {
        return Some(rgb(hex));
    }
    if let Some(hex) = value.strip_prefix('#') {
        return parse_hex(hex);
    }
    let args = value
        .strip_prefix("rgba(")
        .or_else(|| value.strip_prefix("rgb("))?
        .strip_suffix(')')?;
    let args = args.replace([',', '/'], " ");
    let parts: Vec<&str> = args.split_whitespace().collect();
    if !(3..=4).contains(&parts.len()) {
        return None;
    }
    let channel = |part: &str| -> Option<u8> {
        let (n, unit) = parse_number(part)?;
        let v = match unit {
            "%" => n * 2.55,
            "" => n,
            _ => return None,
        };
        Some(v.clamp(0.0, 255.0).round() as u8)
    };
    let a = match parts.get(3) {
        None => 1.0,
        Some(part) => match parse_number(part)? {
            (n, "%") => n / 100.0,
            (n, "") => n,
            _ => return None,
        }
        .clamp(0.0, 1.0),
    };
    Some(Rgba {
        r: channel(parts[0])?,
        g: channel(parts[1])?,
        b: channel(parts[2])?,
        a,
    })
}

fn parse_hex(hex: &str) -> Option<Rgba> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digit = |i: usize| u8::from_str_radix(&hex[i..i + 1], 16).ok().map(|d| d * 17);
    let pair = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    let (r, g, b, a) = match hex.len() {
        3 => (digit(0)?, digit(1)?, digit(2)?, 255),
        4 => (digit(0)?, digit(1)?, digit(2)?, digit(3)?),
        6 => (pair(0)?, pair(2)?, pair(4)?, 255),
        8 => (pair(0)?, pair(2)?, pair(4)?, pair(6)?),
        _ => return None,
    };
    Some(Rgba {
        r,
        g,
        b,
        a: f32::from(a) / 255.0,
    })
}

/// An HTML colour attribute (`bgcolor="ffffff"`): browsers accept the hex
/// digits without `#` there.
fn legacy_colour(value: &str) -> String {
    let value = value.trim().to_ascii_lowercase();
    if matches!(value.len(), 3 | 6) && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("#{value}")
    } else {
        value
    }
}

/// `top` painted over the opaque `under`.
fn blend(top: Rgba, under: Rgba) -> Rgba {
    let mix = |t: u8, u: u8| (f32::from(t) * top.a + f32::from(u) * (1.0 - top.a)).round() as u8;
    Rgba {
        r: mix(top.r, under.r),
        g: mix(top.g, under.g),
        b: mix(top.b, under.b),
        a: 1.0,
    }
}

/// Text that differs from its background by at most 8 on every channel
/// cannot be read.
fn alike(text: Rgba, background: Rgba) -> bool {
    let seen = blend(text, background);
    [
        (seen.r, background.r),
        (seen.g, background.g),
        (seen.b, background.b),
    ]
    .iter()
    .all(|&(a, b)| a.abs_diff(b) <= 8)
}

fn describe(colour: Rgba) -> String {
    if colour.a <= 0.0 {
        "transparent".to_string()
    } else {
        format!("#{:02x}{:02x}{:02x}", colour.r, colour.g, colour.b)
    }
}

/// A number and the unit after it: `(-9999.0, "px")`.
fn parse_number(value: &str) -> Option<(f32, &str)> {
    let value = value.trim();
    let end = value
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+')))
        .unwrap_or(value.len());
    let n: f32 = value[..end].parse().ok()?;
    Some((n, value[end..].trim()))
}

/// A length in CSS pixels, taking an em as 16px; `None` for `auto`,
/// percentages other than 0 and the like.
fn length_px(value: &str) -> Option<f32> {
    let (n, unit) = parse_number(value)?;
    if n == 0.0 {
        return Some(0.0);
    }
    let factor = match unit {
        // Unitless: an HTML width or height attribute.
        "" | "px" => 1.0,
        "pt" => 4.0 / 3.0,
        "pc" | "em" | "rem" => 16.0,
        "ex" | "ch" => 8.0,
        "in" => 96.0,
        "cm" => 96.0 / 2.54,
        "mm" => 96.0 / 25.4,
        _ => return None,
    };
    Some(n * factor)
}

const FONT_KEYWORDS: &[(&str, f32)] = &[
    ("xx-small", 9.0),
    ("x-small", 10.0),
    ("small", 13.0),
    ("medium", 16.0),
    ("initial", 16.0),
    ("large", 18.0),
    ("x-large", 24.0),
    ("xx-large", 32.0),
    ("xxx-large", 48.0),
];

/// The computed font size in pixels, given the parent's; `None` when unknown.
fn font_size(value: &str, parent: Option<f32>) -> Option<f32> {
    match value {
        "inherit" | "unset" => return parent,
        "smaller" => return parent.map(|p| p / 1.2),
        "larger" => return parent.map(|p| p * 1.2),
        _ => {}
    }
    if let Some(&(_, px)) = FONT_KEYWORDS.iter().find(|(k, _)| *k == value) {
        return Some(px);
    }
    let (n, unit) = parse_number(value)?;
    if n < 0.0 {
        // Invalid, so ignored.
        return parent;
    }
    if n == 0.0 {
        return Some(0.0);
    }
    match unit {
        "%" => parent.map(|p| p * n / 100.0),
        "em" => parent.map(|p| p * n),
        "ex" | "ch" => parent.map(|p| p * n / 2.0),
        _ => length_px(value),
    }
}

fn parse_opacity(value: &str) -> Option<f32> {
    match parse_number(value)? {
        (n, "") => Some(n),
        (n, "%") => Some(n / 100.0),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The element tree

const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input",
    "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// Start tags that close an open `<p>`, as HTML parsers do.
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dd",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "li",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "ul",
];

/// Elements an implied `</p>` or `</li>` does not reach past.
const SCOPE: &[&str] = &[
    "html", "table", "td", "th", "caption", "button", "marquee", "object", "applet", "template",
];

/// An open element and what it passes on to its content.
#[derive(Clone, Debug)]
struct Frame {
    name: String,
    in_head: bool,
    /// What hides the element and everything in it; no descendant undoes it.
    hidden: Option<HiddenBy>,
    /// `visibility:hidden`, which a descendant may undo.
    visibility_hidden: bool,
    /// Font size in pixels; `None` when unknown.
    font_px: Option<f32>,
    /// Text colour; `None` when unknown (a Liquid variable, an unknown name).
    colour: Option<Rgba>,
    /// The colour of links that do not set their own (`<body link>`).
    link_colour: Option<Rgba>,
    /// The opaque colour behind the content; `None` when unknown (an image).
    background: Option<Rgba>,
    /// Stack index of the `<p>` a block start tag closes.
    p_scope: Option<usize>,
    /// Stack index of the `<li>` a new `<li>` closes.
    li_scope: Option<usize>,
    link: Option<Link>,
}

/// An `<a href="{{ unsubscribe_url }}">` whose visibility is known once its
/// content is: a link nobody can see or click does not count.
#[derive(Clone, Debug)]
struct Link {
    pending: Vec<Found>,
    visible: bool,
    /// Why the first hidden content was hidden, to say more than "empty".
    hidden_content: Option<HiddenBy>,
}

impl Frame {
    fn root() -> Frame {
        Frame {
            name: "#document".to_string(),
            in_head: false,
            hidden: None,
            visibility_hidden: false,
            font_px: Some(16.0),
            colour: Some(BLACK),
            link_colour: Some(LINK_BLUE),
            // A mail client shows a mail without a background on white.
            background: Some(WHITE),
            p_scope: None,
            li_scope: None,
            link: None,
        }
    }

    /// Whether the element's box shows, whatever its text looks like.
    fn box_visibility(&self) -> Visibility {
        if self.in_head {
            Visibility::Hidden(HiddenBy::NotInBody {
                element: "head".to_string(),
            })
        } else if let Some(hidden) = &self.hidden {
            Visibility::Hidden(hidden.clone())
        } else if self.visibility_hidden {
            Visibility::Hidden(HiddenBy::VisibilityHidden)
        } else {
            Visibility::Visible
        }
    }

    /// Whether text directly in this element can be read.
    fn text_visibility(&self) -> Visibility {
        if let hidden @ Visibility::Hidden(_) = self.box_visibility() {
            return hidden;
        }
        if self.font_px.is_some_and(|px| px <= 1.0) {
            return Visibility::Hidden(HiddenBy::ZeroFontSize);
        }
        if let (Some(text), Some(background)) = (self.colour, self.background) {
            if alike(text, background) {
                return Visibility::Hidden(HiddenBy::ColourLikeBackground {
                    colour: describe(text),
                });
            }
        }
        Visibility::Visible
    }
}

struct Walker<'s> {
    sheet: &'s Sheet,
    /// The document around every element, never closed.
    root: Frame,
    stack: Vec<Frame>,
    /// How many elements of each name are open, so a stray end tag costs
    /// nothing.
    open: HashMap<String, usize>,
    /// Stack indices of open links with pending placeholders.
    links: Vec<usize>,
    uses: Vec<(usize, Placeholder, Visibility)>,
    /// Style-sheet declarations by tag and names.
    styles: HashMap<(String, Vec<u32>), Vec<Decl>>,
}

impl Walker<'_> {
    fn top(&self) -> &Frame {
        self.stack.last().unwrap_or(&self.root)
    }

    fn walk(&mut self, tokens: &[Token]) {
        for token in tokens {
            match token {
                Token::Start { name, attrs } => self.start(name, attrs),
                Token::End { name } => self.end(name),
                Token::Text { visible } => {
                    if *visible {
                        let v = self.top().text_visibility();
                        self.content(v);
                    }
                }
                Token::Output {
                    offset,
                    placeholder,
                } => {
                    let v = self.top().text_visibility();
                    if let Some(p) = placeholder {
                        self.uses.push((*offset, *p, v.clone()));
                    }
                    // Whatever a Liquid output prints is taken to be text.
                    self.content(v);
                }
                Token::Comment { found } => {
                    for f in found {
                        self.uses.push((
                            f.offset,
                            f.placeholder,
                            Visibility::Hidden(HiddenBy::Comment),
                        ));
                    }
                }
                Token::Raw { found, .. } => {
                    let element = self.top().name.clone();
                    for f in found {
                        let v = Visibility::Hidden(HiddenBy::NotInBody {
                            element: element.clone(),
                        });
                        self.uses.push((f.offset, f.placeholder, v));
                    }
                }
            }
        }
        self.pop_to(0);
    }

    fn start(&mut self, name: &str, attrs: &[Attr]) {
        if name == "body" {
            if let Some(head) = self.open_index("head") {
                self.pop_to(head);
            }
        }
        if CLOSES_P.contains(&name) {
            if let Some(p) = self.top().p_scope {
                self.pop_to(p);
            }
        }
        if name == "li" {
            if let Some(li) = self.top().li_scope {
                self.pop_to(li);
            }
        }
        // Links do not nest: a new one ends the open one.
        if name == "a" {
            if let Some(a) = self.open_index("a") {
                self.pop_to(a);
            }
        }
        let decls = self.cascade(name, attrs);
        let mut frame = self.child(name, attrs, decls);
        let mut pending = Vec::new();
        for attr in attrs {
            for f in &attr.found {
                let v = match frame.box_visibility() {
                    hidden @ Visibility::Hidden(_) => hidden,
                    Visibility::Visible if name == "a" && attr.name == "href" => {
                        pending.push(*f);
                        continue;
                    }
                    Visibility::Visible => Visibility::Hidden(HiddenBy::InAttribute {
                        attribute: attr.name.clone(),
                    }),
                };
                self.uses.push((f.offset, f.placeholder, v));
            }
        }
        if name == "img" {
            self.content(frame.box_visibility());
        }
        if VOID.contains(&name) {
            return;
        }
        if !pending.is_empty() {
            frame.link = Some(Link {
                pending,
                visible: false,
                hidden_content: None,
            });
            self.links.push(self.stack.len());
        }
        *self.open.entry(name.to_string()).or_default() += 1;
        self.stack.push(frame);
    }

    fn end(&mut self, name: &str) {
        // Content after `</body>` is still shown in the body.
        if matches!(name, "body" | "html") {
            return;
        }
        if let Some(i) = self.open_index(name) {
            self.pop_to(i);
        }
    }

    fn open_index(&self, name: &str) -> Option<usize> {
        if self.open.get(name).copied().unwrap_or(0) == 0 {
            return None;
        }
        self.stack.iter().rposition(|f| f.name == name)
    }

    /// Closes elements until `len` are open.
    fn pop_to(&mut self, len: usize) {
        while self.stack.len() > len {
            let Some(frame) = self.stack.pop() else {
                return;
            };
            if let Some(count) = self.open.get_mut(&frame.name) {
                *count = count.saturating_sub(1);
            }
            if let Some(link) = frame.link {
                self.links.pop();
                let v = if link.visible {
                    Visibility::Visible
                } else {
                    Visibility::Hidden(link.hidden_content.unwrap_or(HiddenBy::EmptyLink))
                };
                for f in link.pending {
                    self.uses.push((f.offset, f.placeholder, v.clone()));
                }
                if link.visible {
                    // What an inner link shows, an outer one shows too.
                    self.content(Visibility::Visible);
                }
            }
        }
    }

    /// Content that may make the innermost open link visible.
    fn content(&mut self, v: Visibility) {
        let Some(&i) = self.links.last() else {
            return;
        };
        if let Some(link) = self.stack.get_mut(i).and_then(|f| f.link.as_mut()) {
            match v {
                Visibility::Visible => link.visible = true,
                Visibility::Hidden(why) => {
                    link.hidden_content.get_or_insert(why);
                }
            }
        }
    }

    /// The declarations that apply to an element, weakest first:
    /// presentational attributes, `<style>` rules, the `style` attribute.
    fn cascade(&mut self, name: &str, attrs: &[Attr]) -> Vec<Decl> {
        let mut decls = Vec::new();
        for attr in attrs {
            let value = || clean_css(attr.value).trim().to_ascii_lowercase();
            match attr.name.as_str() {
                "bgcolor" => decls.push(("background-color".to_string(), legacy_colour(&value()))),
                // Only <font> takes a colour from an attribute, and <body>
                // a text colour.
                "color" if matches!(name, "font" | "basefont") => {
                    decls.push(("color".to_string(), legacy_colour(&value())));
                }
                "text" if name == "body" => {
                    decls.push(("color".to_string(), legacy_colour(&value())));
                }
                "background" => decls.push(("background-image".to_string(), "url()".to_string())),
                "width" | "height" => decls.push((attr.name.clone(), value())),
                _ => {}
            }
        }
        let attr = |n: &str| attrs.iter().find(|a| a.name == n).map(|a| a.value);
        let id = attr("id").map(|id| id.trim().to_ascii_lowercase());
        let classes: Vec<String> = attr("class")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        if !self.sheet.is_empty() {
            let names = self.sheet.element_names(id.as_deref(), &classes);
            // Elements alike (every <td class="cell">) match alike.
            let signature = (name.to_string(), names);
            let rules = match self.styles.get(&signature) {
                Some(rules) => rules.clone(),
                None => {
                    let rules = self.sheet.declarations(name, &signature.1);
                    self.styles.insert(signature, rules.clone());
                    rules
                }
            };
            decls.extend(rules);
        }
        if let Some(style) = attr("style") {
            decls.extend(parse_declarations(&clean_css(style)));
        }
        decls
    }

    /// The frame of a new element inside the current one.
    fn child(&self, name: &str, attrs: &[Attr], decls: Vec<Decl>) -> Frame {
        let parent = self.top();
        let get = |p: &str| {
            decls
                .iter()
                .rev()
                .find(|(k, _)| k == p)
                .map(|(_, v)| v.as_str())
        };
        let has_attr = |a: &str| attrs.iter().any(|x| x.name == a);
        let index = self.stack.len();
        Frame {
            name: name.to_string(),
            in_head: match name {
                "head" => true,
                "body" => false,
                _ => parent.in_head,
            },
            hidden: parent
                .hidden
                .clone()
                .or_else(|| own_hiding(name, has_attr("hidden"), &get)),
            visibility_hidden: match get("visibility") {
                Some("hidden" | "collapse") => true,
                Some("visible") => false,
                _ => parent.visibility_hidden,
            },
            font_px: get("font-size").map_or(parent.font_px, |v| font_size(v, parent.font_px)),
            colour: match get("color") {
                Some("inherit" | "currentcolor" | "unset") => parent.colour,
                Some("initial") => Some(BLACK),
                Some(v) => parse_colour(v),
                None if name == "a" && has_attr("href") => parent.link_colour,
                None => parent.colour,
            },
            link_colour: match attrs.iter().find(|a| a.name == "link") {
                Some(link) if name == "body" => parse_colour(&legacy_colour(link.value)),
                _ => parent.link_colour,
            },
            background: background(&decls, parent.background),
            p_scope: if SCOPE.contains(&name) {
                None
            } else if name == "p" {
                Some(index)
            } else {
                parent.p_scope
            },
            li_scope: if SCOPE.contains(&name) || matches!(name, "ul" | "ol") {
                None
            } else if name == "li" {
                Some(index)
            } else {
                parent.li_scope
            },
            link: None,
        }
    }
}

/// What hides an element itself, in the order the reason is reported.
fn own_hiding<'d>(
    name: &str,
    hidden_attribute: bool,
    get: &impl Fn(&str) -> Option<&'d str>,
) -> Option<HiddenBy> {
    let display = get("display");
    if display == Some("none") {
        return Some(HiddenBy::DisplayNone);
    }
    // `hidden` is a default display:none, which a display style overrides.
    if hidden_attribute && display.is_none() {
        return Some(HiddenBy::HiddenAttribute);
    }
    if get("opacity")
        .and_then(parse_opacity)
        .is_some_and(|o| o < 0.1)
    {
        return Some(HiddenBy::Opacity);
    }
    let positioned = matches!(get("position"), Some("absolute" | "fixed" | "relative"));
    let beyond = |p: &str, limit: f32| get(p).and_then(length_px).is_some_and(|px| px <= limit);
    if (positioned && (beyond("left", -1000.0) || beyond("top", -1000.0)))
        || beyond("text-indent", -999.0)
    {
        return Some(HiddenBy::OffScreen);
    }
    // Content overflows a small box unless overflow is hidden; an image is
    // its box.
    let clipped = ["overflow", "overflow-x", "overflow-y"]
        .iter()
        .any(|p| matches!(get(p), Some("hidden" | "clip")));
    let tiny = ["width", "height", "max-width", "max-height"]
        .iter()
        .any(|p| {
            get(p)
                .and_then(length_px)
                .is_some_and(|px| (0.0..=1.0).contains(&px))
        });
    if tiny && (clipped || name == "img") {
        return Some(HiddenBy::ZeroSize);
    }
    None
}

/// The opaque colour behind an element's content; `None` when unknown.
fn background(decls: &[Decl], parent: Option<Rgba>) -> Option<Rgba> {
    // `Some(None)`: a colour was set that is not known.
    let mut colour: Option<Option<Rgba>> = None;
    let mut image = false;
    for (property, value) in decls {
        match property.as_str() {
            "background-color" => colour = Some(background_colour(value)),
            "background" => {
                image = has_image(value);
                let tokens = css_tokens(value);
                colour = Some(if tokens.iter().any(|t| t.contains("__liquid__")) {
                    None
                } else {
                    // The shorthand resets the colour when it names none.
                    Some(
                        tokens
                            .iter()
                            .find_map(|t| parse_colour(t))
                            .unwrap_or(Rgba { a: 0.0, ..BLACK }),
                    )
                });
            }
            "background-image" => image = has_image(value),
            _ => {}
        }
    }
    // Text over an image may be readable whatever the colours say.
    if image {
        return None;
    }
    match colour {
        None => parent,
        Some(None) => None,
        Some(Some(c)) if c.a <= 0.0 => parent,
        Some(Some(c)) if c.a >= 1.0 => Some(c),
        Some(Some(c)) => parent.map(|p| blend(c, p)),
    }
}

fn background_colour(value: &str) -> Option<Rgba> {
    match value {
        "inherit" | "initial" | "unset" | "none" => Some(Rgba { a: 0.0, ..BLACK }),
        _ => parse_colour(value),
    }
}

fn has_image(value: &str) -> bool {
    value.contains("url(") || value.contains("gradient(")
}

/// Space-separated tokens, keeping `rgb(1, 2, 3)` whole.
fn css_tokens(value: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let (mut depth, mut start) = (0usize, None);
    for (i, c) in value.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if c.is_whitespace() && depth == 0 => {
                if let Some(s) = start.take() {
                    tokens.push(&value[s..i]);
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        tokens.push(&value[s..]);
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOOTER: &str = r##"<p>Acme Ltd, {{ physical_address }}</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>"##;

    fn visibility_of(html: &str, p: Placeholder) -> Visibility {
        let uses: Vec<_> = placeholder_uses(html)
            .into_iter()
            .filter(|u| u.placeholder == p)
            .collect();
        assert_eq!(uses.len(), 1, "{html}: {uses:?}");
        uses[0].visibility.clone()
    }

    fn address(html: &str) -> Visibility {
        visibility_of(html, Placeholder::PhysicalAddress)
    }

    fn unsubscribe(html: &str) -> Visibility {
        visibility_of(html, Placeholder::UnsubscribeUrl)
    }

    fn hidden(by: HiddenBy) -> Visibility {
        Visibility::Hidden(by)
    }

    fn colour_like(colour: &str) -> Visibility {
        hidden(HiddenBy::ColourLikeBackground {
            colour: colour.to_string(),
        })
    }

    #[test]
    fn visible_footer_shows_link_and_address() {
        let html = format!(
            "<!DOCTYPE html><html><head><title>News</title></head>\n<body>\n<h1>Hello</h1>\n{FOOTER}\n</body></html>"
        );
        let uses = placeholder_uses(&html);
        assert_eq!(
            uses,
            vec![
                PlaceholderUse {
                    placeholder: Placeholder::PhysicalAddress,
                    line: 4,
                    column: 14,
                    visibility: Visibility::Visible,
                },
                PlaceholderUse {
                    placeholder: Placeholder::UnsubscribeUrl,
                    line: 5,
                    column: 13,
                    visibility: Visibility::Visible,
                },
            ]
        );
    }

    #[test]
    fn placeholders_are_found_with_any_spacing_and_filters() {
        let html = "<p>{{unsubscribe_url}} {{- physical_address | upcase -}} \
                    {{ unsubscribe_url | escape }} {{physical_address|strip}}</p>";
        let found: Vec<_> = placeholder_uses(html)
            .iter()
            .map(|u| u.placeholder)
            .collect();
        assert_eq!(
            found,
            vec![
                Placeholder::UnsubscribeUrl,
                Placeholder::PhysicalAddress,
                Placeholder::UnsubscribeUrl,
                Placeholder::PhysicalAddress,
            ]
        );
        for other in [
            "{{ unsubscribe_url_text }}",
            "{{ contact.unsubscribe_url }}",
            "{{ unsubscribe_url.size }}",
            "{{ 'unsubscribe_url' }}",
            "{% if unsubscribe_url %}x{% endif %}",
            "{% raw %}{{ unsubscribe_url }}{% endraw %}",
        ] {
            assert!(placeholder_uses(other).is_empty(), "{other}");
            assert!(
                !contains_placeholder(other, Placeholder::UnsubscribeUrl),
                "{other}"
            );
        }
    }

    #[test]
    fn contains_placeholder_counts_any_use() {
        assert!(contains_placeholder(
            "<!-- {{ unsubscribe_url }} -->",
            Placeholder::UnsubscribeUrl
        ));
        assert!(contains_placeholder(
            "Write to us at {{physical_address}}.",
            Placeholder::PhysicalAddress
        ));
        assert!(!contains_placeholder(
            "Write to us at {{physical_address}}.",
            Placeholder::UnsubscribeUrl
        ));
        assert!(!contains_placeholder(
            "{{ unsubscribe_url",
            Placeholder::UnsubscribeUrl
        ));
    }

    #[test]
    fn display_none_hides() {
        assert_eq!(
            address(r##"<div style="display:none">{{ physical_address }}</div>"##),
            hidden(HiddenBy::DisplayNone)
        );
        assert_eq!(
            address(r##"<div style="DISPLAY : NONE !important">{{ physical_address }}</div>"##),
            hidden(HiddenBy::DisplayNone)
        );
    }

    #[test]
    fn display_block_and_readable_sizes_are_visible() {
        assert_eq!(
            address(r##"<div style="display:block">{{ physical_address }}</div>"##),
            Visibility::Visible
        );
        assert_eq!(
            address(r##"<p style="font-size:12px">{{ physical_address }}</p>"##),
            Visibility::Visible
        );
    }

    #[test]
    fn style_block_class_rule_hides() {
        let html = r##"<html><head><style>
            @import url("fonts.css");
            /* preheader */
            .preheader, .spacer { display: none !important; }
            @media (max-width: 600px) { .footer { display: none; } }
        </style></head><body>
        <div class="Preheader">{{ physical_address }}</div>
        <div class="footer"><a href="{{ unsubscribe_url }}">Unsubscribe</a></div>
        </body></html>"##;
        assert_eq!(address(html), hidden(HiddenBy::DisplayNone));
        // @media rules apply only sometimes: ignored.
        assert_eq!(unsubscribe(html), Visibility::Visible);
    }

    #[test]
    fn style_block_id_and_tag_rules_hide() {
        let by_id = r##"<style>#addr { visibility: hidden }</style><p id="addr">{{ physical_address }}</p>"##;
        assert_eq!(address(by_id), hidden(HiddenBy::VisibilityHidden));
        let by_tag =
            r##"<style>address { font-size: 0 }</style><address>{{ physical_address }}</address>"##;
        assert_eq!(address(by_tag), hidden(HiddenBy::ZeroFontSize));
        let compound = r##"<style>td.x { opacity: 0 }</style><table><tr><td class="x">{{ physical_address }}</td></tr></table>"##;
        assert_eq!(address(compound), hidden(HiddenBy::Opacity));
        let descendant = r##"<style>div p { display: none } p:hover { display:none }</style><div><p>{{ physical_address }}</p></div>"##;
        assert_eq!(address(descendant), Visibility::Visible);
    }

    #[test]
    fn style_rules_apply_before_the_style_block_too() {
        let html = r##"<p class="x">{{ physical_address }}</p><style>.x{display:none}</style>"##;
        assert_eq!(address(html), hidden(HiddenBy::DisplayNone));
    }

    #[test]
    fn inline_style_beats_style_block() {
        let html = r##"<style>.x { display: none }</style><p class="x" style="display:block">{{ physical_address }}</p>"##;
        assert_eq!(address(html), Visibility::Visible);
    }

    #[test]
    fn ancestor_style_hides_descendants() {
        let html = r##"<table><tr><td style="visibility:hidden"><div><span>{{ physical_address }}</span></div></td></tr></table>"##;
        assert_eq!(address(html), hidden(HiddenBy::VisibilityHidden));
        let html = r##"<div style="display:none"><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></div>"##;
        assert_eq!(unsubscribe(html), hidden(HiddenBy::DisplayNone));
    }

    #[test]
    fn visibility_visible_in_a_child_undoes_hidden() {
        let html = r##"<div style="visibility:hidden"><p style="visibility:visible">{{ physical_address }}</p></div>"##;
        assert_eq!(address(html), Visibility::Visible);
        // display:none cannot be undone.
        let html = r##"<div style="display:none"><p style="display:block">{{ physical_address }}</p></div>"##;
        assert_eq!(address(html), hidden(HiddenBy::DisplayNone));
    }

    #[test]
    fn inherited_white_text_on_default_white_background_is_hidden() {
        let html = r##"<div style="color:#fff"><p><span>{{ physical_address }}</span></p></div>"##;
        assert_eq!(address(html), colour_like("#ffffff"));
    }

    #[test]
    fn font_colour_attribute_like_background_is_hidden() {
        assert_eq!(
            address(r##"<font color="#FFF">{{ physical_address }}</font>"##),
            colour_like("#ffffff")
        );
        assert_eq!(
            address(
                r##"<table bgcolor="black"><tr><td><font color="000000">{{ physical_address }}</font></td></tr></table>"##
            ),
            colour_like("#000000")
        );
        assert_eq!(
            address(r##"<body text="#ffffff"><p>{{ physical_address }}</p></body>"##),
            colour_like("#ffffff")
        );
    }

    #[test]
    fn rgb_text_on_bgcolor_like_it_is_hidden() {
        let html = r##"<table><tr><td bgcolor="#ffffff"><p style="color: rgb(255,255,255)">{{ physical_address }}</p></td></tr></table>"##;
        assert_eq!(address(html), colour_like("#ffffff"));
        let html = r##"<div style="background:#123456 url(x.png) no-repeat; background-image:none"><p style="color:rgba(18, 52, 86, 1)">{{ physical_address }}</p></div>"##;
        assert_eq!(address(html), colour_like("#123456"));
        let html = r##"<div style="background-color:rgb(100%,100%,100%)"><p style="color:#fafafaff">{{ physical_address }}</p></div>"##;
        assert_eq!(address(html), colour_like("#fafafa"));
        assert_eq!(
            address(r##"<p style="color:transparent">{{ physical_address }}</p>"##),
            colour_like("transparent")
        );
        assert_eq!(
            address(r##"<p style="color:snow">{{ physical_address }}</p>"##),
            colour_like("#fffafa")
        );
    }

    #[test]
    fn contrasting_colours_are_visible() {
        let white_on_black =
            r##"<td bgcolor="#000000" style="color:#ffffff">{{ physical_address }}</td>"##;
        assert_eq!(address(white_on_black), Visibility::Visible);
        let on_black_shorthand = r##"<div style="background: #000"><p style="color: white">{{ physical_address }}</p></div>"##;
        assert_eq!(address(on_black_shorthand), Visibility::Visible);
        // 15 and 10 apart on every channel: faint, but readable.
        let light_grey = r##"<p style="color:#f0f0f0">{{ physical_address }}</p>"##;
        assert_eq!(address(light_grey), Visibility::Visible);
        let whitesmoke = r##"<p style="color:whitesmoke">{{ physical_address }}</p>"##;
        assert_eq!(address(whitesmoke), Visibility::Visible);
        let see_through = r##"<div style="background:#000"><p style="background-color:transparent;color:#fff">{{ physical_address }}</p></div>"##;
        assert_eq!(address(see_through), Visibility::Visible);
        // Colours that cannot be known are not held against the template.
        let from_liquid = r##"<p style="color:{{ brand_colour }}">{{ physical_address }}</p>"##;
        assert_eq!(address(from_liquid), Visibility::Visible);
        let over_image = r##"<div style="background:url(hero.png)"><p style="color:#fff">{{ physical_address }}</p></div>"##;
        assert_eq!(address(over_image), Visibility::Visible);
    }

    #[test]
    fn tiny_font_sizes_hide() {
        for size in ["0", "0px", "0pt", "0em", "0%", "1px", "0.5pt"] {
            let html = format!(r##"<p style="font-size:{size}">{{{{ physical_address }}}}</p>"##);
            assert_eq!(address(&html), hidden(HiddenBy::ZeroFontSize), "{size}");
        }
        let relative = r##"<div style="font-size:2px"><p style="font-size:50%">{{ physical_address }}</p></div>"##;
        assert_eq!(address(relative), hidden(HiddenBy::ZeroFontSize));
        let em = r##"<div style="font-size:2px"><p style="font-size:0.5em">{{ physical_address }}</p></div>"##;
        assert_eq!(address(em), hidden(HiddenBy::ZeroFontSize));
        let reset = r##"<div style="font-size:0"><p style="font-size:14px">{{ physical_address }}</p></div>"##;
        assert_eq!(address(reset), Visibility::Visible);
    }

    #[test]
    fn zero_size_with_hidden_overflow_hides() {
        for style in [
            "max-height:0;overflow:hidden",
            "width:0;height:0;overflow:hidden",
            "height:1px; overflow-y: hidden",
        ] {
            let html = format!(r##"<div style="{style}">{{{{ physical_address }}}}</div>"##);
            assert_eq!(address(&html), hidden(HiddenBy::ZeroSize), "{style}");
        }
        // Without hidden overflow the content spills out and shows.
        let spills = r##"<div style="height:0">{{ physical_address }}</div>"##;
        assert_eq!(address(spills), Visibility::Visible);
        let wide =
            r##"<div style="max-height:200px;overflow:hidden">{{ physical_address }}</div>"##;
        assert_eq!(address(wide), Visibility::Visible);
    }

    #[test]
    fn hidden_attribute_hides() {
        assert_eq!(
            address(r##"<div hidden>{{ physical_address }}</div>"##),
            hidden(HiddenBy::HiddenAttribute)
        );
        assert_eq!(
            address(r##"<div hidden style="display:block">{{ physical_address }}</div>"##),
            Visibility::Visible
        );
    }

    #[test]
    fn opacity_zero_hides() {
        assert_eq!(
            address(r##"<div style="opacity:0">{{ physical_address }}</div>"##),
            hidden(HiddenBy::Opacity)
        );
        assert_eq!(
            address(r##"<div style="opacity:0.9">{{ physical_address }}</div>"##),
            Visibility::Visible
        );
    }

    #[test]
    fn off_screen_positions_hide() {
        for style in [
            "position:absolute;left:-9999px",
            "position: fixed; top: -1000px",
            "text-indent:-9999px",
        ] {
            let html = format!(r##"<div style="{style}">{{{{ physical_address }}}}</div>"##);
            assert_eq!(address(&html), hidden(HiddenBy::OffScreen), "{style}");
        }
        let near = r##"<div style="position:absolute;left:-10px">{{ physical_address }}</div>"##;
        assert_eq!(address(near), Visibility::Visible);
        let static_left = r##"<div style="left:-9999px">{{ physical_address }}</div>"##;
        assert_eq!(address(static_left), Visibility::Visible);
    }

    #[test]
    fn comments_hide() {
        assert_eq!(
            address("<p>Hi</p><!-- {{ physical_address }} -->"),
            hidden(HiddenBy::Comment)
        );
        assert_eq!(
            unsubscribe(
                r##"<!--[if mso]><a href="{{ unsubscribe_url }}">Unsubscribe</a><![endif]-->"##
            ),
            hidden(HiddenBy::Comment)
        );
        assert_eq!(
            address("{% comment %}{{ physical_address }}{% endcomment %}"),
            hidden(HiddenBy::Comment)
        );
        // After a downlevel-revealed conditional, content is visible again.
        assert_eq!(
            address("<!--[if !mso]><!--><p>{{ physical_address }}</p><!--<![endif]-->"),
            Visibility::Visible
        );
    }

    #[test]
    fn head_title_style_and_script_are_not_in_body() {
        let not_in = |element: &str| {
            hidden(HiddenBy::NotInBody {
                element: element.to_string(),
            })
        };
        assert_eq!(
            address("<html><head><title>{{ physical_address }}</title></head><body></body></html>"),
            not_in("title")
        );
        assert_eq!(
            address(
                r##"<head><meta name="x" content="{{ physical_address }}"></head><body></body>"##
            ),
            not_in("head")
        );
        assert_eq!(
            address("<body><style>/* {{ physical_address }} */</style></body>"),
            not_in("style")
        );
        assert_eq!(
            address("<script>var a = '{{ physical_address }}';</SCRIPT><p>x</p>"),
            not_in("script")
        );
        // A missing </head> ends at <body>.
        assert_eq!(
            address("<head><meta charset=utf-8><body><p>{{ physical_address }}</p></body>"),
            Visibility::Visible
        );
    }

    #[test]
    fn empty_unsubscribe_links_are_hidden() {
        for (html, by) in [
            (
                r##"<a href="{{ unsubscribe_url }}"></a>"##,
                HiddenBy::EmptyLink,
            ),
            (
                // The second link ends the first, which is left empty.
                r##"<a href="{{ unsubscribe_url }}"><a href="/">Home</a>"##,
                HiddenBy::EmptyLink,
            ),
            (
                "<a href=\"{{ unsubscribe_url }}\">  &nbsp; &#8203;\u{200b}\u{34f}</a>",
                HiddenBy::EmptyLink,
            ),
            (
                r##"<a href="{{ unsubscribe_url }}"><img src="x.png" width="1" height="1"></a>"##,
                HiddenBy::ZeroSize,
            ),
        ] {
            assert_eq!(unsubscribe(html), hidden(by), "{html}");
        }
    }

    #[test]
    fn unsubscribe_link_with_hidden_text_says_why() {
        let white = r##"<a href="{{ unsubscribe_url }}" style="color:#ffffff">Unsubscribe</a>"##;
        assert_eq!(unsubscribe(white), colour_like("#ffffff"));
        let span = r##"<a href="{{ unsubscribe_url }}"><span style="display:none">Unsubscribe</span></a>"##;
        assert_eq!(unsubscribe(span), hidden(HiddenBy::DisplayNone));
    }

    #[test]
    fn unsubscribe_link_with_text_or_image_is_visible() {
        // Links are blue unless coloured, so white-on-white around them is fine.
        let blue = r##"<td style="color:#fff"><a href="{{ unsubscribe_url }}"><b>Unsubscribe</b></a></td>"##;
        assert_eq!(unsubscribe(blue), Visibility::Visible);
        let image = r##"<a href="{{ unsubscribe_url }}"><img src="unsubscribe.png" alt="Unsubscribe"></a>"##;
        assert_eq!(unsubscribe(image), Visibility::Visible);
        let liquid_text = r##"<a href="{{ unsubscribe_url }}">{{ unsubscribe_label }}</a>"##;
        assert_eq!(unsubscribe(liquid_text), Visibility::Visible);
        let unclosed = r##"<p><a href="{{ unsubscribe_url }}">Unsubscribe"##;
        assert_eq!(unsubscribe(unclosed), Visibility::Visible);
        let body_link = r##"<body link="#000000" bgcolor="#000000"><a href="{{ unsubscribe_url }}">Unsubscribe</a></body>"##;
        assert_eq!(unsubscribe(body_link), colour_like("#000000"));
    }

    #[test]
    fn other_attributes_are_hidden() {
        assert_eq!(
            address(r##"<img src="logo.png" alt="{{ physical_address }}">"##),
            hidden(HiddenBy::InAttribute {
                attribute: "alt".to_string()
            })
        );
        assert_eq!(
            unsubscribe(r##"<a href="/" title="{{ unsubscribe_url }}">Home</a>"##),
            hidden(HiddenBy::InAttribute {
                attribute: "title".to_string()
            })
        );
    }

    #[test]
    fn liquid_inside_tags_does_not_end_them() {
        // The `>` inside the output is not the end of the tag: the style
        // after it still applies.
        let html = r##"<a href="{{ unsubscribe_url | append: '?a>b' }}" style="display:none">Unsubscribe</a>"##;
        assert_eq!(unsubscribe(html), hidden(HiddenBy::DisplayNone));
        let html = r##"<a href="{{ unsubscribe_url | append: "x>" }}" style="display:none">Unsubscribe</a>"##;
        assert_eq!(unsubscribe(html), hidden(HiddenBy::DisplayNone));
        let html = r##"<a href={{ unsubscribe_url | append: '>' }} hidden>Unsubscribe</a>"##;
        assert_eq!(unsubscribe(html), hidden(HiddenBy::HiddenAttribute));
        let html =
            r##"<div {% if a > b %}style="display:none"{% endif %}>{{ physical_address }}</div>"##;
        assert_eq!(address(html), hidden(HiddenBy::DisplayNone));
        let html =
            r##"<div title="{{ "quote\"" }}" style="opacity:0">{{ physical_address }}</div>"##;
        assert_eq!(address(html), hidden(HiddenBy::Opacity));
        let html = r##"{% if count > 1 %}<p>{{ physical_address }}</p>{% endif %}"##;
        assert_eq!(address(html), Visibility::Visible);
    }

    #[test]
    fn void_tags_do_not_stay_open() {
        let html = r##"<div><img src="x.png" style="display:none"><br style="display:none"><input type="hidden" hidden>{{ physical_address }}</div>"##;
        assert_eq!(address(html), Visibility::Visible);
    }

    #[test]
    fn unclosed_paragraphs_and_stray_end_tags_are_tolerated() {
        let html = r##"<p style="display:none">preheader<div>{{ physical_address }}</div>"##;
        assert_eq!(address(html), Visibility::Visible);
        let html = r##"<ul><li style="display:none">a<li>{{ physical_address }}</ul>"##;
        assert_eq!(address(html), Visibility::Visible);
        // End tags of elements that are not open change nothing.
        let html =
            r##"<div style="display:none"><span>x</p></b>{{ physical_address }}</span></div>"##;
        assert_eq!(address(html), hidden(HiddenBy::DisplayNone));
        let html = r##"<table><tr><td><p style="display:none">x<table><tr><td>{{ physical_address }}</td></tr></table></td></tr></table>"##;
        // A table closes a <p> (in standards mode, as mail clients render).
        assert_eq!(address(html), Visibility::Visible);
    }

    #[test]
    fn line_and_column_count_characters() {
        let html = "<p>é\n  ü {{ physical_address }}</p>";
        let uses = placeholder_uses(html);
        assert_eq!((uses[0].line, uses[0].column), (2, 5));
    }

    #[test]
    fn large_templates_take_linear_time() {
        let n = 20_000;
        let mut html = String::new();
        html.push_str("<span>");
        html.push_str(&"<div>".repeat(n));
        html.push_str(&"</span>".repeat(n));
        html.push_str(&"{{ physical_address }}".repeat(n));
        html.push_str(&"{{ ".repeat(n));
        assert_eq!(placeholder_uses(&html).len(), n);
    }

    #[test]
    fn hidden_by_explains_what_to_change() {
        assert_eq!(
            HiddenBy::DisplayNone.explain(),
            "it is inside an element styled display:none; remove that style so readers can see it"
        );
        assert!(HiddenBy::ColourLikeBackground {
            colour: "#ffffff".to_string()
        }
        .explain()
        .contains("#ffffff"));
        assert!(HiddenBy::EmptyLink.explain().contains("Unsubscribe"));
    }

    #[test]
    fn html_footer_goes_before_the_last_body_end_in_any_case() {
        assert_eq!(
            inject_html_footer("<HTML><BODY><p>Hi</p></BODY></HTML>", "<footer>"),
            "<HTML><BODY><p>Hi</p><footer></BODY></HTML>"
        );
        assert_eq!(
            inject_html_footer("<body><p>a</body> b</Body >\n</html>", "F"),
            "<body><p>a</body> bF</Body >\n</html>"
        );
        assert_eq!(
            inject_html_footer("<p>x</p></bodyguard></html>", "F"),
            "<p>x</p></bodyguard>F</html>"
        );
    }

    #[test]
    fn html_footer_is_appended_without_body_or_html_end() {
        assert_eq!(
            inject_html_footer("<p>Hi</p>", "<footer>"),
            "<p>Hi</p><footer>"
        );
    }

    #[test]
    fn text_footer_follows_a_blank_line_and_separator() {
        assert_eq!(
            inject_text_footer(
                "Hello\nBye\n\n\n",
                "Acme, 1 Main St\nUnsubscribe: https://u"
            ),
            "Hello\nBye\n\n-- \nAcme, 1 Main St\nUnsubscribe: https://u\n"
        );
        assert_eq!(inject_text_footer("", "F\n"), "-- \nF\n");
    }
}
