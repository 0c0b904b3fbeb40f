//! The one visibility model: the element tree as a mail client builds it
//! (implied end tags, the head, void elements) and the state each element
//! passes to its content, from presentational attributes, `<style>` rules
//! and inline styles, weakest first. It answers whether an element's box
//! shows and whether text directly in it can be read, and why not.
//!
//! Callers walk the tokens themselves and keep what they need per element
//! in a frame's `extra` (a pending link, where a link's text starts); the
//! tree hands back every frame it closes, in closing order.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::css::{
    alike, blend, clean_css, css_tokens, describe, font_size, legacy_colour, length_px,
    parse_colour, parse_declarations, parse_opacity, Decl, Rgba, Sheet, BLACK, LINK_BLUE, WHITE,
};
use crate::token::{Attr, Token};

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

/// Elements that never have content.
fn is_void_element(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "basefont"
            | "bgsound"
            | "br"
            | "col"
            | "embed"
            | "frame"
            | "hr"
            | "img"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// Whether `name` (lowercase) never has content.
pub fn is_void(name: &str) -> bool {
    is_void_element(name)
}

/// Start tags that close an open `<p>`, as HTML parsers do.
fn closes_p(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "center"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "dd"
            | "dt"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hgroup"
            | "hr"
            | "li"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "summary"
            | "table"
            | "ul"
    )
}

/// Elements an implied `</p>` or `</li>` does not reach past.
fn is_scope(name: &str) -> bool {
    matches!(
        name,
        "html"
            | "table"
            | "td"
            | "th"
            | "caption"
            | "button"
            | "marquee"
            | "object"
            | "applet"
            | "template"
    )
}

/// The deepest nesting kept.
pub const MAX_DEPTH: usize = 512;

/// Elements whose content is never rendered, though it is markup.
fn not_rendered(name: &str) -> bool {
    matches!(name, "template" | "xml")
}

/// An open element and what it passes on to its content.
#[derive(Clone, Debug)]
pub struct Frame<X> {
    /// Lowercase; borrowed for the elements mail is made of.
    pub name: Cow<'static, str>,
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
    /// What the caller keeps for the element.
    pub extra: X,
}

impl<X: Default> Frame<X> {
    fn root() -> Frame<X> {
        Frame {
            name: Cow::Borrowed("#document"),
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
            extra: X::default(),
        }
    }
}

impl<X> Frame<X> {
    /// Whether the element's box shows, whatever its text looks like.
    pub fn box_visibility(&self) -> Visibility {
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
    pub fn text_visibility(&self) -> Visibility {
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

    /// Whether text directly in this element can be read, without saying
    /// why not (no allocation).
    pub fn text_shows(&self) -> bool {
        !self.in_head
            && self.hidden.is_none()
            && !self.visibility_hidden
            && !self.font_px.is_some_and(|px| px <= 1.0)
            && !matches!((self.colour, self.background), (Some(t), Some(b)) if alike(t, b))
    }
}

/// The open elements of a document being walked.
pub struct Tree<X> {
    sheet: Sheet,
    /// The document around every element, never closed.
    root: Frame<X>,
    stack: Vec<Frame<X>>,
    /// How many elements of each name are open, so a stray end tag costs
    /// nothing.
    open: HashMap<String, usize>,
    /// Style-sheet declarations by tag and names.
    styles: HashMap<(String, Vec<u32>), Vec<Decl>>,
    /// Frames closed and not yet taken by the caller, in closing order.
    closed: Vec<Frame<X>>,
}

impl<X: Default> Tree<X> {
    /// A tree for the document `tokens` come from, with the rules of its
    /// `<style>` elements.
    pub fn new(tokens: &[Token<'_>]) -> Tree<X> {
        Tree {
            sheet: Sheet::from_tokens(tokens),
            root: Frame::root(),
            stack: Vec::new(),
            open: HashMap::new(),
            styles: HashMap::new(),
            closed: Vec::new(),
        }
    }
}

impl<X> Tree<X> {
    /// The innermost open element (the document when none is).
    pub fn top(&self) -> &Frame<X> {
        self.stack.last().unwrap_or(&self.root)
    }

    /// How many elements are open.
    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    /// The open element at stack index `i`.
    pub fn frame_mut(&mut self, i: usize) -> Option<&mut Frame<X>> {
        self.stack.get_mut(i)
    }

    /// The frames closed since the last call, in closing order.
    pub fn take_closed(&mut self) -> Vec<Frame<X>> {
        std::mem::take(&mut self.closed)
    }

    /// Forgets the frames closed since the last call, for a caller that
    /// keeps nothing in them.
    pub fn clear_closed(&mut self) {
        self.closed.clear();
    }

    /// A start tag: closes what it implies (an open `<p>`, `<li>`, `<a>`,
    /// cell or row, the head) and returns the new element's frame, not yet
    /// open: the caller fills `extra` and calls [`Tree::push`] unless the
    /// element is void.
    pub fn start(&mut self, name: &str, attrs: &[Attr<'_>], extra: X) -> Frame<X> {
        self.close_implied(name);
        let decls = self.cascade(name, attrs);
        self.child(name, attrs, decls, extra)
    }

    /// Opens an element returned by [`Tree::start`]. Past [`MAX_DEPTH`] an
    /// element is closed at once: its content is read with its parent's
    /// state, and no search of the stack costs more than that depth.
    pub fn push(&mut self, frame: Frame<X>) {
        if self.stack.len() >= MAX_DEPTH {
            self.closed.push(frame);
            return;
        }
        match self.open.get_mut(frame.name.as_ref()) {
            Some(count) => *count += 1,
            None => {
                self.open.insert(frame.name.to_string(), 1);
            }
        }
        self.stack.push(frame);
    }

    /// An end tag: closes the nearest open element of that name and what it
    /// holds; a stray end tag changes nothing.
    pub fn end(&mut self, name: &str) {
        // Content after `</body>` is still shown in the body.
        if matches!(name, "body" | "html") {
            return;
        }
        if let Some(i) = self.open_index(name) {
            self.pop_to(i);
        }
    }

    /// Closes every open element.
    pub fn finish(&mut self) {
        self.pop_to(0);
    }

    fn close_implied(&mut self, name: &str) {
        if name == "body" {
            if let Some(head) = self.open_index("head") {
                self.pop_to(head);
            }
        }
        if closes_p(name) {
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
        // A cell ends the open cell of its row, a row the open row.
        match name {
            "td" | "th" => self.close_within(&["td", "th"], &["tr", "table"]),
            "tr" => self.close_within(&["tr"], &["table"]),
            _ => {}
        }
    }

    /// Closes the innermost open element named in `names`, looking no
    /// further out than an element named in `stop`.
    fn close_within(&mut self, names: &[&str], stop: &[&str]) {
        // Nothing to close: no walk down a deep stack for each cell.
        if names
            .iter()
            .all(|n| self.open.get(*n).is_none_or(|&c| c == 0))
        {
            return;
        }
        for i in (0..self.stack.len()).rev() {
            let open = self.stack[i].name.as_ref();
            if names.contains(&open) {
                self.pop_to(i);
                return;
            }
            if stop.contains(&open) {
                return;
            }
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
            if let Some(count) = self.open.get_mut(frame.name.as_ref()) {
                *count = count.saturating_sub(1);
            }
            self.closed.push(frame);
        }
    }

    /// The declarations that apply to an element, weakest first:
    /// presentational attributes, `<style>` rules, the `style` attribute.
    fn cascade(&mut self, name: &str, attrs: &[Attr<'_>]) -> Vec<Decl> {
        let mut decls = presentational(name, attrs);
        let attr = |n: &str| attrs.iter().find(|a| a.name == n).map(|a| a.value);
        if !self.sheet.is_empty() {
            let id = attr("id").map(|id| id.trim().to_ascii_lowercase());
            let classes: Vec<String> = attr("class")
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_ascii_lowercase)
                .collect();
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
    fn child(&self, name: &str, attrs: &[Attr<'_>], decls: Vec<Decl>, extra: X) -> Frame<X> {
        let parent = self.top();
        let get = |p: &str| {
            decls
                .iter()
                .rev()
                .find(|(k, _)| *k == p)
                .map(|(_, v)| v.as_str())
        };
        let has_attr = |a: &str| attrs.iter().any(|x| x.name == a);
        let index = self.stack.len();
        Frame {
            name: element_name(name),
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
            p_scope: scope_of(name, "p", index, parent.p_scope, false),
            li_scope: scope_of(
                name,
                "li",
                index,
                parent.li_scope,
                matches!(name, "ul" | "ol"),
            ),
            extra,
        }
    }
}

/// The elements mail is made of, sorted, so their frames need no
/// allocation for the name.
const COMMON: &[&str] = &[
    "a", "b", "body", "br", "center", "div", "em", "font", "h1", "h2", "h3", "head", "hr", "html",
    "i", "img", "li", "link", "meta", "ol", "p", "small", "span", "strong", "style", "table",
    "tbody", "td", "th", "title", "tr", "u", "ul",
];

fn element_name(name: &str) -> Cow<'static, str> {
    match COMMON.binary_search(&name) {
        Ok(i) => Cow::Borrowed(COMMON[i]),
        Err(_) => Cow::Owned(name.to_owned()),
    }
}

/// The stack index of the open `opener` (`p`, `li`) a later start tag may
/// close: this element when it is one, none past a scope boundary.
fn scope_of(
    name: &str,
    opener: &str,
    index: usize,
    parent: Option<usize>,
    boundary: bool,
) -> Option<usize> {
    if is_scope(name) || boundary {
        None
    } else if name == opener {
        Some(index)
    } else {
        parent
    }
}

/// Declarations from presentational attributes (`bgcolor`, `<font
/// color>`, `width`...), the weakest of the cascade.
fn presentational(name: &str, attrs: &[Attr<'_>]) -> Vec<Decl> {
    let mut decls = Vec::new();
    for attr in attrs {
        let value = || clean_css(attr.value).trim().to_ascii_lowercase();
        match attr.name.as_ref() {
            "bgcolor" => decls.push(("background-color", legacy_colour(&value()))),
            // Only <font> takes a colour from an attribute, and <body>
            // a text colour.
            "color" if matches!(name, "font" | "basefont") => {
                decls.push(("color", legacy_colour(&value())));
            }
            "text" if name == "body" => {
                decls.push(("color", legacy_colour(&value())));
            }
            "background" => decls.push(("background-image", "url()".to_string())),
            "width" => decls.push(("width", value())),
            "height" => decls.push(("height", value())),
            _ => {}
        }
    }
    decls
}

/// What hides an element itself, in the order the reason is reported.
fn own_hiding<'d>(
    name: &str,
    hidden_attribute: bool,
    get: &impl Fn(&str) -> Option<&'d str>,
) -> Option<HiddenBy> {
    if not_rendered(name) {
        return Some(HiddenBy::NotInBody {
            element: name.to_string(),
        });
    }
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
        match *property {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{tokenize, Syntax};

    /// The text visibility of each text token of `html`, in order.
    fn text_visibility(html: &str) -> Vec<(String, bool)> {
        let tokens = tokenize(html, Syntax::Html);
        let mut tree: Tree<()> = Tree::new(&tokens);
        let mut seen = Vec::new();
        for token in &tokens {
            match token {
                Token::Start { name, attrs, .. } => {
                    let frame = tree.start(name, attrs, ());
                    if !is_void(name) {
                        tree.push(frame);
                    }
                }
                Token::End { name } => tree.end(name),
                Token::Text { text, .. } => {
                    let shows = tree.top().text_shows();
                    assert_eq!(shows, tree.top().text_visibility() == Visibility::Visible);
                    seen.push((text.to_string(), shows));
                }
                _ => {}
            }
            tree.clear_closed();
        }
        seen
    }

    #[test]
    fn style_sheet_rules_attributes_and_inline_styles_all_hide() {
        let seen = text_visibility(
            "<style>.gone { display: none } #pale { color: #fefefe }</style>\
             <p class=\"Gone\">a</p><p id=pale>b</p><p hidden>c</p>\
             <p style=\"font-size:0\">d</p><p>e</p>",
        );
        let shown: Vec<_> = seen.iter().map(|(t, s)| (t.as_str(), *s)).collect();
        assert_eq!(
            shown,
            [
                ("a", false),
                ("b", false),
                ("c", false),
                ("d", false),
                ("e", true)
            ]
        );
    }

    #[test]
    fn the_common_names_are_sorted_for_their_binary_search() {
        assert!(COMMON.windows(2).all(|w| w[0] < w[1]));
        assert!(matches!(element_name("td"), Cow::Borrowed("td")));
        assert_eq!(element_name("o:p"), "o:p");
    }

    #[test]
    fn rules_filed_by_class_apply_to_their_own_tag_only() {
        let seen = text_visibility(
            "<style>u.a { display: none } p.a { color: #fff } *.b { display: none }</style>\
             <p class=a>p</p><u class=a>u</u><i class=a>i</i><i class=b>b</i>",
        );
        let shown: Vec<_> = seen.iter().map(|(t, s)| (t.as_str(), *s)).collect();
        assert_eq!(
            shown,
            [("p", false), ("u", false), ("i", true), ("b", false)]
        );
    }

    #[test]
    fn a_new_cell_or_row_closes_the_open_one() {
        let seen = text_visibility(
            "<table><tr><td style=\"display:none\">a<td>b<tr><td hidden>c<tr><td>d</table>",
        );
        let shown: Vec<_> = seen.iter().map(|(_, s)| *s).collect();
        assert_eq!(shown, [false, true, false, true]);
    }

    #[test]
    fn nesting_past_the_limit_is_read_with_the_parent_state() {
        let html = format!(
            "<div style=\"display:none\">{}x{}</div><p>y</p>",
            "<div>".repeat(MAX_DEPTH * 2),
            "</div>".repeat(MAX_DEPTH * 2)
        );
        let seen = text_visibility(&html);
        assert_eq!(seen, [("x".to_string(), false), ("y".to_string(), true)]);
    }
}
