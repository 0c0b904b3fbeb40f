//! Compliance of templates: every mail sendwell sends shows an unsubscribe
//! link and the sender's physical address. A template may place
//! `{{ unsubscribe_url }}` and `{{ physical_address }}` itself; this module
//! finds where ([`placeholder_uses`]) and whether a reader can see each place,
//! so a template that hides them is refused when it is saved, and it injects
//! sendwell's footer into mails that lack them ([`inject_html_footer`],
//! [`inject_text_footer`]).
//!
//! Tokens and visibility come from `sendwell-html`, the model the content
//! screen uses too; what is particular here is following each placeholder,
//! including an unsubscribe link whose visibility is known only once its
//! content is.

use sendwell_html::token::{block_end, is_liquid_start, liquid_segment, tag_name};
use sendwell_html::{has_visible_text, tokenize, Attr, Frame, Syntax, Token, Tree};
pub use sendwell_html::{HiddenBy, Visibility};

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

/// Every use of a placeholder in an HTML template, in source order, with
/// whether a reader can see it.
pub fn placeholder_uses(html_template: &str) -> Vec<PlaceholderUse> {
    let tokens = tokenize(html_template, Syntax::Liquid);
    let mut walker = Walker {
        tree: Tree::new(&tokens),
        uses: Vec::new(),
        link: None,
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

#[derive(Clone, Copy, Debug)]
struct Found {
    placeholder: Placeholder,
    /// Byte offset of the `{{`.
    offset: usize,
}

// ---------------------------------------------------------------------------
// Following placeholders through the element tree

/// An `<a href="{{ unsubscribe_url }}">` whose visibility is known once its
/// content is: a link nobody can see or click does not count.
#[derive(Clone, Debug)]
struct Link {
    pending: Vec<Found>,
    visible: bool,
    /// Why the first hidden content was hidden, to say more than "empty".
    hidden_content: Option<HiddenBy>,
}

struct Walker {
    tree: Tree<Option<Link>>,
    uses: Vec<(usize, Placeholder, Visibility)>,
    /// Stack index of the open link with pending placeholders (links do not
    /// nest: a new `<a>` closes the open one).
    link: Option<usize>,
}

impl Walker {
    fn walk(&mut self, tokens: &[Token<'_>]) {
        for token in tokens {
            match token {
                Token::Start { name, attrs, .. } => self.start(name, attrs),
                Token::End { name } => {
                    self.tree.end(name);
                    self.settle_closed();
                }
                Token::Text { text, .. } => {
                    if has_visible_text(text) {
                        let v = self.tree.top().text_visibility();
                        self.content(v);
                    }
                }
                Token::Output { text, at } => {
                    let v = self.tree.top().text_visibility();
                    if let Some(p) = output_placeholder(&text[2..text.len() - 2]) {
                        self.uses.push((*at, p, v.clone()));
                    }
                    // Whatever a Liquid output prints is taken to be text.
                    self.content(v);
                }
                Token::LiquidTag { .. } => {}
                Token::Comment { text, at } => {
                    for f in placeholders_in(text, *at) {
                        self.uses.push((
                            f.offset,
                            f.placeholder,
                            Visibility::Hidden(HiddenBy::Comment),
                        ));
                    }
                }
                Token::Raw { text, at } => {
                    let element = self.tree.top().name.to_string();
                    for f in placeholders_in(text, *at) {
                        let v = Visibility::Hidden(HiddenBy::NotInBody {
                            element: element.clone(),
                        });
                        self.uses.push((f.offset, f.placeholder, v));
                    }
                }
            }
        }
        self.tree.finish();
        self.settle_closed();
    }

    fn start(&mut self, name: &str, attrs: &[Attr<'_>]) {
        let mut frame = self.tree.start(name, attrs, None);
        self.settle_closed();
        let pending = self.attribute_uses(name, attrs, &frame);
        if name == "img" {
            self.content(frame.box_visibility());
        }
        if sendwell_html::tree::is_void(name) {
            return;
        }
        if !pending.is_empty() {
            frame.extra = Some(Link {
                pending,
                visible: false,
                hidden_content: None,
            });
            self.link = Some(self.tree.depth());
        }
        self.tree.push(frame);
    }

    /// Records the placeholders in a start tag's attributes, and returns
    /// those in a visible link's href, whose visibility its content decides.
    fn attribute_uses(
        &mut self,
        name: &str,
        attrs: &[Attr<'_>],
        frame: &Frame<Option<Link>>,
    ) -> Vec<Found> {
        let mut pending = Vec::new();
        for attr in attrs {
            for f in placeholders_in(attr.value, attr.at) {
                let v = match frame.box_visibility() {
                    hidden @ Visibility::Hidden(_) => hidden,
                    Visibility::Visible if name == "a" && attr.name == "href" => {
                        pending.push(f);
                        continue;
                    }
                    Visibility::Visible => Visibility::Hidden(HiddenBy::InAttribute {
                        attribute: attr.name.to_string(),
                    }),
                };
                self.uses.push((f.offset, f.placeholder, v));
            }
        }
        pending
    }

    /// Settles the links among the elements the tree just closed.
    fn settle_closed(&mut self) {
        for frame in self.tree.take_closed() {
            let Some(link) = frame.extra else {
                continue;
            };
            if self.link.is_some_and(|i| i >= self.tree.depth()) {
                self.link = None;
            }
            let v = if link.visible {
                Visibility::Visible
            } else {
                Visibility::Hidden(link.hidden_content.unwrap_or(HiddenBy::EmptyLink))
            };
            for f in link.pending {
                self.uses.push((f.offset, f.placeholder, v.clone()));
            }
        }
    }

    /// Content that may make the open link visible.
    fn content(&mut self, v: Visibility) {
        let Some(i) = self.link else {
            return;
        };
        if let Some(link) = self.tree.frame_mut(i).and_then(|f| f.extra.as_mut()) {
            match v {
                Visibility::Visible => link.visible = true,
                Visibility::Hidden(why) => {
                    link.hidden_content.get_or_insert(why);
                }
            }
        }
    }
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
