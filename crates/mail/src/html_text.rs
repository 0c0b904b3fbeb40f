//! The plain-text alternative of a mail, derived from its HTML: it keeps
//! what a reader sees — text, link targets, image alt text, paragraph and
//! list structure — and drops the rest (head, style, script, comments,
//! tags). Tokens, entities and the line-breaking table come from
//! `sendwell-html`, shared with the template check and the content screen.
//!
//! It also runs on template sources before Liquid rendering, so `{{ ... }}`
//! and `{% ... %}` pass through byte for byte wherever they are kept (text,
//! link targets, alt text): no entity decoding or whitespace collapsing
//! inside them, and a `<` or `>` inside them is not markup. Liquid inside a
//! dropped element (a `<style>`, a comment, a tag's other attributes) goes
//! with it, so a Liquid block must open and close within such an element.

use sendwell_html::layout::{layout, Layout};
use sendwell_html::token::{is_liquid_start, liquid_segment};
use sendwell_html::{entity, tokenize, Syntax, Token};

/// A readable text part for a mail, derived from its HTML.
///
/// Block elements become line breaks (paragraph-like ones a blank line, never
/// more than one blank line in a row), `<li>` items get "- " (indented two
/// spaces per nesting level), `<a href="URL">label</a>` becomes
/// `label (URL)` unless the label already is the URL or the target is
/// empty, `#...`, `mailto:` or `javascript:`, images become their alt text,
/// entities are decoded (`&nbsp;` counts as a space), whitespace runs
/// collapse to one space and lines are trimmed. Broken HTML (unclosed tags
/// or comments, stray `<`) never fails: a `<` that does not start markup is
/// text.
pub fn html_to_text(html: &str) -> String {
    let mut out = Out::with_capacity(html.len() / 2);
    // The head shows nothing; a `<body>` ends it even when `</head>` is
    // missing.
    let mut in_head = false;
    for token in tokenize(html, Syntax::Liquid) {
        match token {
            Token::Start { name, .. } if name == "head" => in_head = true,
            Token::End { name } if name == "head" => in_head = false,
            Token::Start { ref name, .. } if name == "body" || !in_head => {
                in_head = false;
                start_tag(&mut out, name, &token);
            }
            Token::End { name } if !in_head => end_tag(&mut out, &name),
            Token::Text { text, .. } if !in_head => inline_text(&mut out, text),
            Token::Output { text, .. } | Token::LiquidTag { text, .. } if !in_head => {
                out.word(text);
            }
            _ => {}
        }
    }
    out.finish()
}

/// The paragraph break around a list: a blank line at the outer level, a
/// line inside another list.
fn list_break(depth: usize) -> Break {
    if depth == 0 {
        Break::Paragraph
    } else {
        Break::Line
    }
}

fn start_tag(out: &mut Out, name: &str, tag: &Token<'_>) {
    match name {
        "a" => out.open_link(attribute_text(tag.attr("href").unwrap_or(""))),
        "img" => inline_text(out, tag.attr("alt").unwrap_or("")),
        _ => match layout(name) {
            Layout::List => {
                out.block(list_break(out.list_depth));
                out.list_depth += 1;
            }
            Layout::ListItem => {
                out.bullet = None;
                out.block(Break::Line);
                out.bullet = Some(out.list_depth.max(1));
            }
            other => boundary(out, other),
        },
    }
}

fn end_tag(out: &mut Out, name: &str) {
    match name {
        "a" => out.close_link(),
        "img" => {}
        _ => match layout(name) {
            Layout::List => {
                out.list_depth = out.list_depth.saturating_sub(1);
                out.bullet = None;
                out.block(list_break(out.list_depth));
            }
            Layout::ListItem => {
                out.bullet = None;
                out.block(Break::Line);
            }
            other => boundary(out, other),
        },
    }
}

/// What either tag of an element other than a list or item writes.
fn boundary(out: &mut Out, layout: Layout) {
    match layout {
        Layout::Paragraph => out.block(Break::Paragraph),
        Layout::Line => out.block(Break::Line),
        Layout::LineBreak => out.line_break(),
        Layout::Cell => out.space(),
        Layout::Inline | Layout::List | Layout::ListItem => {}
    }
}

/// How much vertical space an element boundary asks for.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Break {
    None,
    Line,
    Paragraph,
}

/// The text being written, with the separators it owes: whitespace and
/// breaks are only written once more content follows, which trims lines and
/// caps blank lines for free.
struct Out {
    text: String,
    breaks: Break,
    /// `<br>`s since the last content (a second one makes a blank line).
    line_breaks: u8,
    space: bool,
    /// Nesting depth of the `<li>` whose "- " is still owed.
    bullet: Option<usize>,
    list_depth: usize,
    link: Option<Link>,
}

struct Link {
    href: String,
    /// Where the label starts in `text`, once it has any content.
    label_start: Option<usize>,
}

impl Out {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            text: String::with_capacity(capacity),
            breaks: Break::None,
            line_breaks: 0,
            space: false,
            bullet: None,
            list_depth: 0,
            link: None,
        }
    }

    /// Writes what is owed before content.
    fn before_content(&mut self) {
        if !self.text.is_empty() {
            let newlines = match self.breaks {
                Break::None => usize::from(self.line_breaks.min(2)),
                Break::Line => usize::from(self.line_breaks.clamp(1, 2)),
                Break::Paragraph => 2,
            };
            if newlines > 0 {
                for _ in 0..newlines {
                    self.text.push('\n');
                }
            } else if self.space {
                self.text.push(' ');
            }
        }
        if let Some(depth) = self.bullet.take() {
            for _ in 1..depth {
                self.text.push_str("  ");
            }
            self.text.push_str("- ");
        }
        self.breaks = Break::None;
        self.line_breaks = 0;
        self.space = false;
        if let Some(link) = &mut self.link {
            link.label_start.get_or_insert(self.text.len());
        }
    }

    fn word(&mut self, word: &str) {
        if !word.is_empty() {
            self.before_content();
            self.text.push_str(word);
        }
    }

    fn char(&mut self, c: char) {
        self.before_content();
        self.text.push(c);
    }

    fn space(&mut self) {
        self.space = true;
    }

    fn block(&mut self, level: Break) {
        // Inside an item whose "- " is still owed, a nested block (the
        // usual `<li><p>`) must not push the text off the bullet's line;
        // and items stay one per line even when they hold paragraphs.
        if self.bullet.is_none() {
            let level = if self.list_depth > 0 {
                level.min(Break::Line)
            } else {
                level
            };
            self.breaks = self.breaks.max(level);
        }
        self.space = false;
    }

    fn line_break(&mut self) {
        self.line_breaks = self.line_breaks.saturating_add(1);
        self.space = false;
    }

    fn open_link(&mut self, href: String) {
        self.close_link();
        self.link = Some(Link {
            href,
            label_start: None,
        });
    }

    fn close_link(&mut self) {
        let Some(link) = self.link.take() else {
            return;
        };
        let href = link.href.trim();
        let lower = href.get(..11).unwrap_or(href).to_ascii_lowercase();
        if href.is_empty()
            || href.starts_with('#')
            || lower.starts_with("mailto:")
            || lower.starts_with("javascript:")
        {
            return;
        }
        match link.label_start {
            None => self.word(href),
            Some(start) => {
                if !same_target(&self.text[start..], href) {
                    self.text.push_str(" (");
                    self.text.push_str(href);
                    self.text.push(')');
                }
            }
        }
    }

    fn finish(mut self) -> String {
        self.close_link();
        self.text
    }
}

/// Whether a link label already shows its target: equal once the scheme and
/// a trailing slash are ignored, ASCII case-insensitively.
fn same_target(label: &str, href: &str) -> bool {
    fn core(s: &str) -> &str {
        let s = s.trim();
        let lower_prefix = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
        let s = if lower_prefix("https://") {
            &s[8..]
        } else if lower_prefix("http://") {
            &s[7..]
        } else {
            s
        };
        s.strip_suffix('/').unwrap_or(s)
    }
    core(label).eq_ignore_ascii_case(core(href))
}

/// The end (exclusive) of the Liquid `{{ ... }}` or `{% ... %}` starting at
/// `at`, if it is closed. Like Liquid's own lexer, the first closer ends it
/// (quotes inside do not protect a `}}`).
fn liquid_end(src: &str, at: usize) -> Option<usize> {
    if !is_liquid_start(src.as_bytes(), at) {
        return None;
    }
    liquid_segment(src, at).map(|(_, end)| end)
}

/// [`liquid_end`] for a scan from left to right that remembers which
/// closers (`}}`, `%}`) are missing from the rest, so a run of unclosed
/// `{{` costs one search, not one each.
#[derive(Default)]
struct LiquidScan {
    missing: [bool; 2],
}

impl LiquidScan {
    fn end(&mut self, src: &str, at: usize) -> Option<usize> {
        let kind = usize::from(src.as_bytes().get(at + 1) == Some(&b'%'));
        if self.missing[kind] || !is_liquid_start(src.as_bytes(), at) {
            return None;
        }
        let end = liquid_end(src, at);
        self.missing[kind] = end.is_none();
        end
    }
}

/// An attribute value as text: entities decoded outside Liquid, Liquid kept
/// byte for byte.
fn attribute_text(raw: &str) -> String {
    let mut text = String::with_capacity(raw.len());
    let bytes = raw.as_bytes();
    let (mut pos, mut run) = (0, 0);
    let mut liquid = LiquidScan::default();
    while pos < bytes.len() {
        match bytes[pos] {
            b'{' => pos = liquid.end(raw, pos).unwrap_or(pos + 1),
            b'&' => {
                text.push_str(&raw[run..pos]);
                match entity(raw, pos) {
                    Some((decoded, end)) => {
                        if let Some(c) = decoded {
                            text.push(c);
                        }
                        pos = end;
                    }
                    None => {
                        text.push('&');
                        pos += 1;
                    }
                }
                run = pos;
            }
            _ => pos += 1,
        }
    }
    text.push_str(&raw[run..]);
    text
}

/// Writes text that holds no markup: entities decoded, whitespace collapsed,
/// Liquid byte for byte.
fn inline_text(out: &mut Out, text: &str) {
    let bytes = text.as_bytes();
    let (mut pos, mut run) = (0, 0);
    let mut liquid = LiquidScan::default();
    while pos < bytes.len() {
        let b = bytes[pos];
        // U+00A0 written as is counts as a space too.
        let nbsp = b == 0xC2 && bytes.get(pos + 1) == Some(&0xA0);
        if !(b.is_ascii_whitespace() || nbsp || b == b'&' || b == b'{') {
            pos += 1;
            continue;
        }
        out.word(&text[run..pos]);
        if b == b'{' {
            match liquid.end(text, pos) {
                Some(end) => {
                    out.word(&text[pos..end]);
                    pos = end;
                }
                None => {
                    out.word("{");
                    pos += 1;
                }
            }
        } else if b == b'&' {
            match entity(text, pos) {
                Some((Some(c), end)) => {
                    if c.is_whitespace() {
                        out.space();
                    } else if !c.is_control() {
                        out.char(c);
                    }
                    pos = end;
                }
                Some((None, end)) => pos = end,
                None => {
                    out.word("&");
                    pos += 1;
                }
            }
        } else {
            out.space();
            pos += if nbsp { 2 } else { 1 };
        }
        run = pos;
    }
    out.word(&text[run..]);
}

/// Decodes the character reference starting with the `&` at `at`:
/// `Some((char, end))`, with no char for the invisible spacers (`&zwnj;`,
/// `&shy;`) email templates pad preheaders with; `None` when it is not a
/// reference (the `&` is then text). A template means `&amp` without its
/// semicolon literally.
fn entity(src: &str, at: usize) -> Option<(Option<char>, usize)> {
    let (c, len) = entity::reference(src.get(at..)?, false)?;
    let c = (!matches!(c, '\u{200c}' | '\u{ad}')).then_some(c);
    Some((c, at + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_style_script_comments_and_tags_are_dropped() {
        let html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
                    <title>Newsletter</title><style>p { color: red; }</style></head>\
                    <body><script>var x = '<p>not text</p>';</script>\
                    <!-- a comment with <p>markup</p> -->\
                    <!--[if mso]><table><tr><td>Outlook only</td></tr></table><![endif]-->\
                    <p>Hello <b>bold</b> <span style=\"x\">and</span> <o:p>plain</o:p></p>\
                    <?xml version=\"1.0\"?></body></html>";
        assert_eq!(html_to_text(html), "Hello bold and plain");
    }

    #[test]
    fn hidden_elements_tolerate_missing_or_odd_end_tags() {
        assert_eq!(html_to_text("<head><title>T</title><body><p>Hi</p>"), "Hi");
        assert_eq!(
            html_to_text("<p>a</p><STYLE>p {}</Style ><p>b</p>"),
            "a\n\nb"
        );
        assert_eq!(html_to_text("<p>a</p><style>p { color: red }"), "a");
        assert_eq!(html_to_text("a<!-- never closed <p>b</p>"), "a");
    }

    #[test]
    fn blocks_become_lines_and_paragraphs_a_blank_line() {
        let html = "<h1>Title</h1><p>One</p><p>Two</p><div>Three</div><div>Four</div>\
                    <section>Five</section><blockquote>Six</blockquote>Seven<hr>Eight";
        assert_eq!(
            html_to_text(html),
            "Title\n\nOne\n\nTwo\n\nThree\nFour\nFive\n\nSix\n\nSeven\n\nEight"
        );
    }

    #[test]
    fn never_more_than_one_blank_line_and_no_blank_edges() {
        let html = "<br><p></p><p>a</p><br><br><br><p></p><p>&nbsp;</p>\
                    <div><div><p> </p></div></div><h2>b</h2><br><br>";
        assert_eq!(html_to_text(html), "a\n\nb");
    }

    #[test]
    fn br_breaks_lines() {
        assert_eq!(html_to_text("a<br>b<br/><br />c</br>d"), "a\nb\n\nc\nd");
        assert_eq!(html_to_text("<div>a<br></div><div>b</div>"), "a\nb");
        assert_eq!(html_to_text("a<br><br><br><br>b"), "a\n\nb");
        assert_eq!(
            html_to_text("<div>a</div><br><br><br><div>b</div>"),
            "a\n\nb"
        );
    }

    #[test]
    fn table_rows_are_lines_and_cells_are_separated() {
        let html = "<table><tr><th>Item</th><th>Price</th></tr>\
                    <tr><td>Tea</td><td>3&nbsp;&euro;</td></tr></table><p>Thanks</p>";
        assert_eq!(html_to_text(html), "Item Price\nTea 3 €\n\nThanks");
    }

    #[test]
    fn list_items_get_a_dash_and_nest() {
        let html = "<p>Intro</p><ul><li>One</li><li>Two<ul><li>Inner</li></ul></li>\
                    <li></li></ul><p>After</p>";
        assert_eq!(
            html_to_text(html),
            "Intro\n\n- One\n- Two\n  - Inner\n\nAfter"
        );
        let html = "<ol>\n  <li><p>First</p></li>\n  <li><p>Second</p><p>more</p></li>\n</ol>";
        assert_eq!(html_to_text(html), "- First\n- Second\nmore");
    }

    #[test]
    fn links_show_their_target_unless_redundant() {
        let cases = [
            (
                "<a href=\"https://x.test/a?b=1&amp;c=2\">Read more</a>.",
                "Read more (https://x.test/a?b=1&c=2).",
            ),
            (
                "<a href=\"https://x.test/\">https://x.test/</a>",
                "https://x.test/",
            ),
            ("<a href=\"https://x.test/\">x.test</a>", "x.test"),
            ("<a href=\"HTTP://X.test\">x.TEST/</a>", "x.TEST/"),
            (
                "<a href=\"mailto:hi@x.test\">Write to us</a>",
                "Write to us",
            ),
            ("<a href=\"MAILTO:hi@x.test\">hi@x.test</a>", "hi@x.test"),
            ("<a href=\"#top\">Top</a>", "Top"),
            ("<a href=\"#\">Nothing</a>", "Nothing"),
            ("<a href=\"\">Empty</a>", "Empty"),
            ("<a name=\"x\">Anchor</a>", "Anchor"),
            ("<a href=\"javascript:void(0)\">Js</a>", "Js"),
            (
                "<a href='https://x.test/p'><img src=\"p.png\"></a>",
                "https://x.test/p",
            ),
            (
                "<a href=https://t.test/s><img alt=\"Follow us\"></a>",
                "Follow us (https://t.test/s)",
            ),
            (
                "<p>See <a href=\"https://x.test\">the <b>full</b>\n story</a> now</p>",
                "See the full story (https://x.test) now",
            ),
            (
                "<a href=\"https://a.test\">A<a href=\"https://b.test\">B</a>",
                "A (https://a.test)B (https://b.test)",
            ),
            (
                "<a href=\"https://x.test\">unclosed",
                "unclosed (https://x.test)",
            ),
        ];
        for (html, text) in cases {
            assert_eq!(html_to_text(html), text, "{html}");
        }
    }

    #[test]
    fn images_become_their_alt_text() {
        let html = "<p>Logo: <img src=\"l.png\" alt=\"Sendwell &amp; Co\"> \
                    <img src=\"spacer.gif\" width=1><IMG ALT='x  y'/></p>";
        assert_eq!(html_to_text(html), "Logo: Sendwell & Co x y");
    }

    #[test]
    fn entities_are_decoded() {
        let html = "&amp; &lt; &gt; &quot; &apos; a&nbsp;b &copy; &reg; &hellip; &mdash; \
                    &ndash; &rsquo; &lsquo; &ldquo; &rdquo; &euro; &trade; &#65;&#x42;&#X43; \
                    &#150; &#8364; &#128512;";
        assert_eq!(
            html_to_text(html),
            "& < > \" ' a b © ® … — – ’ ‘ “ ” € ™ ABC – € 😀"
        );
        assert_eq!(
            html_to_text("AT&T &unknown; & &amp &#; &#xZZ; &#0; &#1114112;"),
            "AT&T &unknown; & &amp &#; &#xZZ; \u{fffd} \u{fffd}"
        );
        // The preheader padding trick leaves nothing behind.
        assert_eq!(
            html_to_text("Hi&zwnj;&nbsp;&zwnj;&nbsp;&shy; there"),
            "Hi there"
        );
    }

    #[test]
    fn unclosed_liquid_costs_one_search() {
        // Each `{{` once searched to the end for its `}}`.
        let text = html_to_text(&format!("<p>{}</p>", "{{ x ".repeat(100_000)));
        assert!(text.starts_with("{{ x {{ x"), "{}", &text[..20]);
        assert_eq!(html_to_text("a {b} {{ c }} {% d"), "a {b} {{ c }} {% d");
    }

    #[test]
    fn whitespace_collapses_and_lines_are_trimmed() {
        let html = "<p>  Hello \n\t  world  </p>\n\n   <p>\n  Next\u{a0} </p>  \r\n <div> x </div>";
        assert_eq!(html_to_text(html), "Hello world\n\nNext\n\nx");
        assert_eq!(html_to_text("a<span> </span>b<span>c</span>"), "a bc");
    }

    #[test]
    fn broken_html_is_tolerated() {
        assert_eq!(html_to_text("a < b and c > d"), "a < b and c > d");
        assert_eq!(html_to_text("x <3 y <= z"), "x <3 y <= z");
        assert_eq!(html_to_text("<p>unclosed <b>bold"), "unclosed bold");
        assert_eq!(html_to_text("text <div"), "text <div");
        assert_eq!(html_to_text("a <a href=\"x>b</a> c"), "a b (x) c");
        assert_eq!(html_to_text("</>"), "</>");
        assert_eq!(html_to_text("<"), "<");
        assert_eq!(html_to_text(""), "");
        assert_eq!(html_to_text("</p></div>tail"), "tail");
    }

    /// Every `{{ }}` / `{% %}` span of `source`.
    fn liquid_spans(source: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        let mut pos = 0;
        while let Some(p) = source[pos..].find('{') {
            let at = pos + p;
            match liquid_end(source, at) {
                Some(end) => {
                    spans.push(&source[at..end]);
                    pos = end;
                }
                None => pos = at + 1,
            }
        }
        spans
    }

    #[test]
    fn liquid_passes_through_byte_for_byte() {
        let html = "<p>Hi {{ first_name | default: \"there\" }},</p>\n\
                    {% if vip  %}<p>VIP &amp; more</p>{% endif %}\n\
                    <p>{{ a < b }} and {% if a > b   and\n   c %}x{% endif %}</p>\
                    <p>{{ \"x &amp; y\" }} {{ \"<b>bold</b>\" }}&nbsp;{{x}}{{y}}</p>\
                    <p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a> \
                    <a href=\"{{ base }}/x?a=1&amp;b=2\">Shop</a> \
                    <a href=\"{{ url | append: \"?utm=1&amp;x=>\" }}\">Go</a> \
                    <a href=\"{{ link }}\">{{ link }}</a> \
                    <img alt=\"{{ brand }}  logo &amp; {{ 'a  &amp;  b' }}\"></p>\
                    <p {% if dark %}class=\"dark\"{% endif %}>Styled</p>{{ unclosed";
        let text = html_to_text(html);
        assert_eq!(
            text,
            "Hi {{ first_name | default: \"there\" }},\n\n\
             {% if vip  %}\n\nVIP & more\n\n{% endif %}\n\n\
             {{ a < b }} and {% if a > b   and\n   c %}x{% endif %}\n\n\
             {{ \"x &amp; y\" }} {{ \"<b>bold</b>\" }} {{x}}{{y}}\n\n\
             Unsubscribe ({{ unsubscribe_url }}) \
             Shop ({{ base }}/x?a=1&b=2) \
             Go ({{ url | append: \"?utm=1&amp;x=>\" }}) \
             {{ link }} \
             {{ brand }} logo & {{ 'a  &amp;  b' }}\n\n\
             Styled\n\n{{ unclosed"
        );
        // Every span that is not inside a dropped attribute survives as is.
        for span in liquid_spans(html) {
            if span.contains("dark") || span.contains("endif %}\"") {
                continue;
            }
            assert!(text.contains(span), "{span:?} lost in {text:?}");
        }
    }
}
