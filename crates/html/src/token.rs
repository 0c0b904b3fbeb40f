//! The one HTML tokenizer: tolerant of whatever mail and templates hold,
//! linear in the input, and aware of Liquid when it reads a template, so
//! `{{ ... }}` and `{% ... %}` are never taken for markup (`{% if a > b %}`
//! inside a tag does not end it) and pass through byte for byte.
//!
//! Tokens carry byte offsets into the source, so callers can rewrite in
//! place (link tracking) or point at a line and column (template checks).
//! Names are ASCII-lowercased, borrowed when they already are.

use std::borrow::Cow;

/// What the source is: a Liquid template, or HTML as sent or received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    Html,
    /// HTML with Liquid: outputs and tags become tokens of their own, never
    /// markup or text (conditions and loops cannot be evaluated, so their
    /// content is read as if it rendered).
    Liquid,
}

/// One attribute of a start tag.
#[derive(Clone, Debug)]
pub struct Attr<'a> {
    /// Lowercased; empty for Liquid standing where an attribute would
    /// (`<td {% if wide %}width="600"{% endif %}>`), whose `value` is then
    /// the Liquid segment.
    pub name: Cow<'a, str>,
    /// Raw: entities are not decoded.
    pub value: &'a str,
    /// Byte offset of `value` in the source.
    pub at: usize,
    /// Whether the attribute had a value (`hidden` has none).
    pub has_value: bool,
}

#[derive(Clone, Debug)]
pub enum Token<'a> {
    Start {
        name: Cow<'a, str>,
        attrs: Vec<Attr<'a>>,
        /// Written `<br/>`.
        self_closing: bool,
        /// Byte offsets of the `<` and just past the `>`.
        at: usize,
        end: usize,
    },
    End {
        name: Cow<'a, str>,
    },
    /// Text between tags, raw (entities are not decoded).
    Text {
        text: &'a str,
        at: usize,
    },
    /// A Liquid output `{{ ... }}`, whole; only with [`Syntax::Liquid`].
    Output {
        text: &'a str,
        at: usize,
    },
    /// A Liquid tag `{% ... %}`, whole; only with [`Syntax::Liquid`]. The
    /// content of a `{% raw %}` block comes as text and that of a
    /// `{% comment %}` block as a comment, between their tags.
    LiquidTag {
        text: &'a str,
        at: usize,
    },
    /// The content of an HTML comment or a Liquid `{% comment %}`.
    Comment {
        text: &'a str,
        at: usize,
    },
    /// The content of a raw-text element (`style`, `script`, `title`): the
    /// element is the last `Start`.
    Raw {
        text: &'a str,
        at: usize,
    },
}

impl Token<'_> {
    /// The attribute `name` of a start tag (lowercase), raw.
    pub fn attr(&self, name: &str) -> Option<&str> {
        match self {
            Token::Start { attrs, .. } => attrs.iter().find(|a| a.name == name).map(|a| a.value),
            _ => None,
        }
    }
}

/// Whether the content of the element `name` is text up to its end tag,
/// never markup.
pub fn is_raw_text(name: &str) -> bool {
    matches!(name, "style" | "script" | "title" | "textarea" | "xmp")
}

/// Every token of `src`, in order.
pub fn tokenize(src: &str, syntax: Syntax) -> Vec<Token<'_>> {
    let mut t = Tokenizer {
        src,
        liquid: syntax == Syntax::Liquid,
        // About one token per 24 bytes in mail as sent.
        tokens: Vec::with_capacity(src.len() / 24),
        text_from: 0,
        unclosed: false,
    };
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let next = if t.liquid && is_liquid_start(bytes, i) {
            Some(t.liquid_segment(i))
        } else if bytes[i] == b'<' {
            t.markup(i)
        } else {
            None
        };
        match next {
            Some(end) => {
                i = end;
                t.text_from = end;
            }
            None => {
                i += 1 + bytes[i + 1..]
                    .iter()
                    .take_while(|&&b| !t.special(b))
                    .count()
            }
        }
    }
    t.flush_text(src.len());
    t.tokens
}

struct Tokenizer<'a> {
    src: &'a str,
    liquid: bool,
    tokens: Vec<Token<'a>>,
    /// Where the text not yet emitted starts.
    text_from: usize,
    /// A tag ran into the end of the input: every later `<` is text, as
    /// browsers drop such a tag, and no later `<` searches to the end
    /// again (`<a<a<a...` would cost the square of its length).
    unclosed: bool,
}

impl<'a> Tokenizer<'a> {
    fn special(&self, b: u8) -> bool {
        b == b'<' || (self.liquid && b == b'{')
    }

    /// Emits the text from `text_from` up to `to`, if any.
    fn flush_text(&mut self, to: usize) {
        if to > self.text_from {
            self.tokens.push(Token::Text {
                text: &self.src[self.text_from..to],
                at: self.text_from,
            });
        }
        self.text_from = to;
    }

    fn liquid_segment(&mut self, i: usize) -> usize {
        let src = self.src;
        let Some((inner, end)) = liquid_segment(src, i) else {
            // Liquid refuses an unclosed tag; the rest is text here.
            self.flush_text(src.len());
            return src.len();
        };
        self.flush_text(i);
        if src.as_bytes().get(i + 1) == Some(&b'{') {
            self.tokens.push(Token::Output {
                text: &src[i..end],
                at: i,
            });
            return end;
        }
        self.tokens.push(Token::LiquidTag {
            text: &src[i..end],
            at: i,
        });
        let (block, end_name) = match tag_name(inner) {
            "comment" => (true, "endcomment"),
            "raw" => (false, "endraw"),
            _ => return end,
        };
        let (content_end, after) = block_end(src, end, end_name);
        if content_end > end {
            let (text, at) = (&src[end..content_end], end);
            self.tokens.push(if block {
                Token::Comment { text, at }
            } else {
                Token::Text { text, at }
            });
        }
        if content_end < after {
            self.tokens.push(Token::LiquidTag {
                text: &src[content_end..after],
                at: content_end,
            });
        }
        after
    }

    /// Markup at a `<`, or `None` when the `<` is text.
    fn markup(&mut self, i: usize) -> Option<usize> {
        let src = self.src;
        let bytes = src.as_bytes();
        if src[i..].starts_with("<!--") {
            self.flush_text(i);
            let body = i + 4;
            let (content_end, end) = if src[body..].starts_with('>') {
                (body, body + 1)
            } else if src[body..].starts_with("->") {
                (body, body + 2)
            } else {
                comment_close(&src[body..])
                    .map_or((src.len(), src.len()), |(k, n)| (body + k, body + k + n))
            };
            self.tokens.push(Token::Comment {
                text: &src[body..content_end],
                at: body,
            });
            return Some(end);
        }
        let next = *bytes.get(i + 1)?;
        if self.unclosed {
            return None;
        }
        if next == b'!' || next == b'?' {
            // Doctype, CDATA, `<![endif]>`: nothing a reader sees.
            self.flush_text(i);
            return Some(self.tag_end(i + 2).unwrap_or(src.len()));
        }
        if next == b'/' {
            // `</>` and `</ x` are text, and so is an end tag never closed.
            if !bytes.get(i + 2).is_some_and(u8::is_ascii_alphabetic) {
                return None;
            }
            let name_end = name_end(bytes, i + 2);
            let Some(end) = self.tag_end(name_end) else {
                self.unclosed = true;
                return None;
            };
            self.flush_text(i);
            let name = lowercase(&src[i + 2..name_end]);
            self.tokens.push(Token::End { name });
            return Some(end);
        }
        if !next.is_ascii_alphabetic() {
            return None;
        }
        self.start_tag(i)
    }

    /// Just past the `>` that ends the tag, skipping Liquid (whose `>` is a
    /// comparison, not the end of the tag); `None` when no `>` does.
    fn tag_end(&self, mut p: usize) -> Option<usize> {
        let bytes = self.src.as_bytes();
        while p < bytes.len() {
            if self.liquid && is_liquid_start(bytes, p) {
                p = liquid_end(self.src, p);
            } else if bytes[p] == b'>' {
                return Some(p + 1);
            } else {
                p += 1;
            }
        }
        None
    }

    /// A start tag at `i`, or `None` (the `<` is text) when it never ends.
    fn start_tag(&mut self, i: usize) -> Option<usize> {
        let src = self.src;
        let ne = name_end(src.as_bytes(), i + 1);
        let name = lowercase(&src[i + 1..ne]);
        let Some((attrs, self_closing, end)) = self.attributes(ne) else {
            self.unclosed = true;
            return None;
        };
        self.flush_text(i);
        let raw = is_raw_text(&name);
        let end_tag = raw.then(|| format!("</{name}"));
        self.tokens.push(Token::Start {
            name,
            attrs,
            self_closing,
            at: i,
            end,
        });
        Some(match end_tag {
            Some(end_tag) if !self_closing => self.raw_text(end, &end_tag),
            _ => end,
        })
    }

    /// The attributes from `p` (just after the tag name) to the `>`, whether
    /// the tag ends in `/>`, and where it ends; `None` when no `>` ends it.
    #[allow(clippy::type_complexity)]
    fn attributes(&self, mut p: usize) -> Option<(Vec<Attr<'a>>, bool, usize)> {
        let src = self.src;
        let bytes = src.as_bytes();
        let len = bytes.len();
        let mut attrs = Vec::new();
        loop {
            let mut slash = false;
            while p < len && (bytes[p].is_ascii_whitespace() || bytes[p] == b'/') {
                slash = bytes[p] == b'/';
                p += 1;
            }
            if p >= len {
                return None;
            }
            if bytes[p] == b'>' {
                return Some((attrs, slash, p + 1));
            }
            if self.liquid && is_liquid_start(bytes, p) {
                let end = liquid_end(src, p);
                attrs.push(Attr {
                    name: Cow::Borrowed(""),
                    value: &src[p..end],
                    at: p,
                    has_value: true,
                });
                p = end;
                continue;
            }
            let (attr, after) = self.attribute(p);
            attrs.push(attr);
            p = after;
        }
    }

    /// One attribute whose name starts at `p`, and where parsing goes on.
    fn attribute(&self, mut p: usize) -> (Attr<'a>, usize) {
        let src = self.src;
        let bytes = src.as_bytes();
        let len = bytes.len();
        let name_start = p;
        p += 1;
        let ends_name = |p: usize| {
            bytes[p].is_ascii_whitespace()
                || matches!(bytes[p], b'=' | b'>' | b'/')
                || (self.liquid && is_liquid_start(bytes, p))
        };
        while p < len && !ends_name(p) {
            p += 1;
        }
        let name = lowercase(&src[name_start..p]);
        let mut q = p;
        while q < len && bytes[q].is_ascii_whitespace() {
            q += 1;
        }
        if q >= len || bytes[q] != b'=' {
            let attr = Attr {
                name,
                value: &src[p..p],
                at: p,
                has_value: false,
            };
            return (attr, p);
        }
        q += 1;
        while q < len && bytes[q].is_ascii_whitespace() {
            q += 1;
        }
        let (start, end, after) = self.attr_value(q);
        let attr = Attr {
            name,
            value: &src[start..end],
            at: start,
            has_value: true,
        };
        (attr, after)
    }

    /// Value start, value end and where parsing goes on, for a value at `q`.
    fn attr_value(&self, q: usize) -> (usize, usize, usize) {
        let bytes = self.src.as_bytes();
        let len = bytes.len();
        match bytes.get(q) {
            Some(&quote) if quote == b'"' || quote == b'\'' => {
                let mut p = q + 1;
                while p < len {
                    if self.liquid && is_liquid_start(bytes, p) {
                        // `href="{{ url | append: '"' }}"`: Liquid runs first.
                        p = liquid_end(self.src, p);
                    } else if bytes[p] == quote {
                        return (q + 1, p, p + 1);
                    } else {
                        p += 1;
                    }
                }
                // An unclosed quote: the value (and the tag) end at the
                // next `>`.
                let gt = self.src[q + 1..].find('>').map_or(len, |k| q + 1 + k);
                (q + 1, gt, gt)
            }
            Some(_) => {
                let mut p = q;
                while p < len && !bytes[p].is_ascii_whitespace() && bytes[p] != b'>' {
                    if self.liquid && is_liquid_start(bytes, p) {
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
        let src = self.src;
        let mut at = from;
        let close = loop {
            match find_ci(src, end_tag, at) {
                Some(c) => match src.as_bytes().get(c + end_tag.len()) {
                    Some(b) if !(b.is_ascii_whitespace() || *b == b'>' || *b == b'/') => {
                        at = c + end_tag.len();
                    }
                    _ => break c,
                },
                None => break src.len(),
            }
        };
        self.tokens.push(Token::Raw {
            text: &src[from..close],
            at: from,
        });
        self.text_from = close;
        close
    }
}

/// Where a comment's content ends and how long its close is: `-->`, or
/// `--!>`, which browsers accept too.
fn comment_close(rest: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(k) = rest[from..].find("--") {
        let at = from + k;
        let after = &rest[at + 2..];
        if after.starts_with('>') {
            return Some((at, 3));
        }
        if after.starts_with("!>") {
            return Some((at, 4));
        }
        from = at + 1;
    }
    None
}

/// `s` ASCII-lowercased, borrowed when it already is.
fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Where a tag name starting at `from` ends.
fn name_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
        .map_or(bytes.len(), |k| from + k)
}

/// Finds `needle` (ASCII, lowercase) in `hay` from `from`, ASCII
/// case-insensitively.
pub fn find_ci(hay: &str, needle: &str, from: usize) -> Option<usize> {
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

// ---------------------------------------------------------------------------
// Liquid

/// Whether a Liquid output or tag (`{{` or `{%`) starts at `i`.
pub fn is_liquid_start(bytes: &[u8], i: usize) -> bool {
    bytes.get(i) == Some(&b'{') && matches!(bytes.get(i + 1), Some(b'{' | b'%'))
}

/// The inside of the `{{ }}` or `{% %}` starting at `i`, and where it ends;
/// `None` when it is never closed.
pub fn liquid_segment(src: &str, i: usize) -> Option<(&str, usize)> {
    let close = if src.as_bytes().get(i + 1) == Some(&b'{') {
        "}}"
    } else {
        "%}"
    };
    let k = src.get(i + 2..)?.find(close)?;
    Some((&src[i + 2..i + 2 + k], i + 2 + k + 2))
}

/// Where the Liquid segment at `i` ends; the end of `src` if it never does.
pub fn liquid_end(src: &str, i: usize) -> usize {
    liquid_segment(src, i).map_or(src.len(), |(_, end)| end)
}

/// The name of a Liquid tag: `comment` for `{%- comment -%}`.
pub fn tag_name(inner: &str) -> &str {
    let inner = inner.trim_start_matches('-').trim_start();
    let end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '#'))
        .unwrap_or(inner.len());
    &inner[..end]
}

/// Where a block's content ends and where its `{% end_name %}` tag ends,
/// searching from `from`; the end of `src` for both when it is not closed.
pub fn block_end(src: &str, from: usize, end_name: &str) -> (usize, usize) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tokens: &[Token<'_>]) -> Vec<String> {
        tokens
            .iter()
            .map(|t| match t {
                Token::Start { name, .. } => format!("<{name}>"),
                Token::End { name } => format!("</{name}>"),
                Token::Text { text, .. } => format!("text:{text}"),
                Token::Output { text, .. } => format!("out:{text}"),
                Token::LiquidTag { text, .. } => format!("tag:{text}"),
                Token::Comment { text, .. } => format!("comment:{text}"),
                Token::Raw { text, .. } => format!("raw:{text}"),
            })
            .collect()
    }

    #[test]
    fn tags_text_and_comments_come_in_order_with_offsets() {
        let src = "<P Class=x>Hi <b>there</B><!-- no --></p>";
        let tokens = tokenize(src, Syntax::Html);
        assert_eq!(
            names(&tokens),
            [
                "<p>",
                "text:Hi ",
                "<b>",
                "text:there",
                "</b>",
                "comment: no ",
                "</p>"
            ]
        );
        let Token::Start { attrs, at, end, .. } = &tokens[0] else {
            panic!("a start tag first");
        };
        assert_eq!((attrs[0].name.as_ref(), attrs[0].value), ("class", "x"));
        assert_eq!((*at, *end), (0, 11));
        assert_eq!(&src[attrs[0].at..attrs[0].at + 1], "x");
    }

    #[test]
    fn a_tag_that_runs_into_the_end_leaves_the_rest_as_text_in_linear_time() {
        let tokens = tokenize("<p>a</p><b c=d e", Syntax::Html);
        assert_eq!(names(&tokens), ["<p>", "text:a", "</p>", "text:<b c=d e"]);
        // Each `<` searched to the end once cost the square of the length.
        let attack = "<a".repeat(200_000);
        let tokens = tokenize(&attack, Syntax::Html);
        assert_eq!(names(&tokens).len(), 1);
    }

    #[test]
    fn a_comment_ends_at_either_close_browsers_accept() {
        let tokens = tokenize("<!-- a --!>shown<!-- b -- c -->", Syntax::Html);
        assert_eq!(
            names(&tokens),
            ["comment: a ", "text:shown", "comment: b -- c "]
        );
    }

    #[test]
    fn raw_text_elements_hold_no_markup() {
        let tokens = tokenize("<style>p{}</b></STYLE >after", Syntax::Html);
        assert_eq!(
            names(&tokens),
            ["<style>", "raw:p{}</b>", "</style>", "text:after"]
        );
    }

    #[test]
    fn a_lone_angle_bracket_is_text() {
        let tokens = tokenize("a < b and 3<4", Syntax::Html);
        assert_eq!(names(&tokens), ["text:a < b and 3<4"]);
        let tokens = tokenize("</> and <div and </p", Syntax::Html);
        assert_eq!(names(&tokens), ["text:</> and <div and </p"]);
        let tokens = tokenize("<a href=\"x>b</a>", Syntax::Html);
        assert_eq!(tokens[0].attr("href"), Some("x"));
        assert_eq!(names(&tokens)[1..], ["text:b", "</a>"]);
    }

    #[test]
    fn liquid_is_opaque_in_templates_and_text_in_html() {
        let src = r#"<a href="{{ url | append: '"' }}" {% if x > 1 %}title="t"{% endif %}>{{ name }}</a>"#;
        let tokens = tokenize(src, Syntax::Liquid);
        assert_eq!(tokens[0].attr("href"), Some(r#"{{ url | append: '"' }}"#));
        assert_eq!(names(&tokens)[1..], ["out:{{ name }}", "</a>"]);
        let plain = tokenize("{{ x }}<b>", Syntax::Html);
        assert_eq!(names(&plain), ["text:{{ x }}", "<b>"]);
    }

    #[test]
    fn liquid_raw_and_comment_blocks() {
        let src = "{% raw %}{{ a }}{% endraw %}{% comment %}{{ b }}{% endcomment %}{% if c %}d{% endif %}";
        let tokens = tokenize(src, Syntax::Liquid);
        assert_eq!(
            names(&tokens),
            [
                "tag:{% raw %}",
                "text:{{ a }}",
                "tag:{% endraw %}",
                "tag:{% comment %}",
                "comment:{{ b }}",
                "tag:{% endcomment %}",
                "tag:{% if c %}",
                "text:d",
                "tag:{% endif %}"
            ]
        );
    }

    #[test]
    fn valueless_and_self_closing_attributes() {
        let tokens = tokenize("<input hidden disabled=\"\"/><br/>", Syntax::Html);
        let Token::Start {
            attrs,
            self_closing,
            ..
        } = &tokens[0]
        else {
            panic!("a start tag first");
        };
        assert!(*self_closing);
        assert!(!attrs[0].has_value && attrs[1].has_value);
    }
}
