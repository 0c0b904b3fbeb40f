//! Just enough CSS to tell what hides content: `<style>` rules with simple
//! selectors, declarations, colours (with alpha, blended over the
//! background), lengths, font sizes and opacity. Values are compared
//! lowercased; Liquid in a value becomes `__liquid__`, which no parser
//! knows, so a colour a template computes is "unknown", never a guess.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::token::{is_liquid_start, liquid_end, Token};

/// The simple rules of a template's `<style>` blocks: selectors made of a tag,
/// classes and ids only (`td.footer`, `#address`, `.hide`). Descendant and
/// pseudo selectors and `@media` blocks are ignored: what they hide applies
/// only sometimes, and the rest of the check does not depend on them.
///
/// Rules with the same selector are merged, and each selector is filed under
/// its rarest class or id, so a sheet of thousands of rules costs an element
/// only the few that could match it.
#[derive(Default)]
pub(crate) struct Sheet {
    selectors: Vec<Selector>,
    by_selector: HashMap<(Option<String>, Vec<u32>), usize>,
    /// `#id` and `.class` names, interned.
    names: HashMap<String, u32>,
    /// Selector indices filed under a name, indexed by name, then by tag
    /// (`*` for any): an element visits only the rules of its own tag, so
    /// a sheet of `u1.a`, `u2.a`... costs each element one list.
    by_name: Vec<HashMap<String, Vec<usize>>>,
    /// Selector indices of selectors without names, by tag (`*` for any).
    by_tag: HashMap<String, Vec<usize>>,
    /// Source order of the last declaration.
    order: usize,
}

pub(crate) struct Selector {
    tag: Option<String>,
    /// Interned `#id` and `.class` names, sorted.
    names: Vec<u32>,
    specificity: (usize, usize, usize),
    /// The last value of each property (by index in [`RELEVANT`]) and its
    /// source order.
    decls: Vec<(usize, String, usize)>,
}

/// A property (one of [`RELEVANT`]) and its value, lowercased, without
/// `!important`.
pub(crate) type Decl = (&'static str, String);

/// The properties that can hide something; the rest are dropped on parsing.
pub(crate) const RELEVANT: &[&str] = &[
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
    pub(crate) fn from_tokens(tokens: &[Token]) -> Sheet {
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

    pub(crate) fn is_empty(&self) -> bool {
        self.selectors.is_empty()
    }

    pub(crate) fn add(&mut self, css: &str) {
        let css = clean_css(css);
        let mut rest: &str = &css;
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

    pub(crate) fn merge(&mut self, selector: &str, decls: &[(usize, String, usize)]) {
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
    pub(crate) fn index(&mut self) {
        let mut frequency = vec![0usize; self.names.len()];
        for selector in &self.selectors {
            for &name in &selector.names {
                if let Some(f) = frequency.get_mut(name as usize) {
                    *f += 1;
                }
            }
        }
        self.by_name = vec![HashMap::new(); self.names.len()];
        for (i, selector) in self.selectors.iter().enumerate() {
            let rarest = selector
                .names
                .iter()
                .copied()
                .min_by_key(|&name| frequency.get(name as usize).copied().unwrap_or(0));
            let tag = selector.tag.clone().unwrap_or_else(|| "*".to_string());
            match rarest.and_then(|name| self.by_name.get_mut(name as usize)) {
                Some(by_tag) => by_tag.entry(tag).or_default().push(i),
                None => self.by_tag.entry(tag).or_default().push(i),
            }
        }
    }

    /// The interned names of an element's id and classes that some selector
    /// uses, sorted: others cannot make a difference.
    pub(crate) fn element_names(&self, id: Option<&str>, classes: &[String]) -> Vec<u32> {
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
    pub(crate) fn declarations(&self, tag: &str, names: &[u32]) -> Vec<Decl> {
        type Winner<'s> = ((usize, usize, usize), usize, &'s str);
        let mut winners: Vec<Option<Winner>> = vec![None; RELEVANT.len()];
        let filed = |t: &str| {
            names
                .iter()
                .filter_map(|&n| self.by_name.get(n as usize))
                .filter_map(move |by_tag| by_tag.get(t))
                .collect::<Vec<_>>()
        };
        let candidates = [tag, "*"]
            .into_iter()
            .filter_map(|t| self.by_tag.get(t))
            .chain(filed(tag))
            .chain(filed("*"))
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
                winner.map(|(_, _, value)| (RELEVANT[property], value.to_string()))
            })
            .collect()
    }
}

/// Where the block opened at `open` ends: its `}` and just past it (the end
/// of `css` for both when it is never closed).
pub(crate) fn block_close(css: &str, open: usize) -> (usize, usize) {
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
pub(crate) fn clean_css(css: &str) -> Cow<'_, str> {
    // Most inline styles hold none of it: no copy then.
    if !["/*", "{{", "{%", "<!--", "-->"]
        .iter()
        .any(|m| css.contains(m))
    {
        return Cow::Borrowed(css);
    }
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
    Cow::Owned(out)
}

/// The relevant `prop: value; ...`, lowercased, `!important` dropped (inline
/// styles win over `<style>` rules here whatever they say, which is close
/// enough).
pub(crate) fn parse_declarations(css: &str) -> Vec<Decl> {
    css.split(';')
        .filter_map(|part| {
            let (property, value) = part.split_once(':')?;
            // Most properties are not relevant: nothing is copied for them.
            let property = property.trim();
            let property = *RELEVANT.iter().find(|r| r.eq_ignore_ascii_case(property))?;
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
pub(crate) type Compound = (Option<String>, Vec<String>, Vec<String>);

pub(crate) fn parse_selector(selector: &str) -> Option<Compound> {
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
pub(crate) struct Rgba {
    pub(crate) r: u8,
    pub(crate) g: u8,
    pub(crate) b: u8,
    pub(crate) a: f32,
}

pub(crate) const BLACK: Rgba = rgb(0x000000);
pub(crate) const WHITE: Rgba = rgb(0xffffff);
/// What mail clients colour a link the template does not colour itself.
pub(crate) const LINK_BLUE: Rgba = rgb(0x0000ee);

pub(crate) const fn rgb(hex: u32) -> Rgba {
    Rgba {
        r: (hex >> 16) as u8,
        g: (hex >> 8) as u8,
        b: hex as u8,
        a: 1.0,
    }
}

/// The named colours templates use, the near-whites above all.
pub(crate) const NAMED_COLOURS: &[(&str, u32)] = &[
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
pub(crate) fn parse_colour(value: &str) -> Option<Rgba> {
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

pub(crate) fn parse_hex(hex: &str) -> Option<Rgba> {
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
pub(crate) fn legacy_colour(value: &str) -> String {
    let value = value.trim().to_ascii_lowercase();
    if matches!(value.len(), 3 | 6) && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("#{value}")
    } else {
        value
    }
}

/// `top` painted over the opaque `under`.
pub(crate) fn blend(top: Rgba, under: Rgba) -> Rgba {
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
pub(crate) fn alike(text: Rgba, background: Rgba) -> bool {
    let seen = blend(text, background);
    [
        (seen.r, background.r),
        (seen.g, background.g),
        (seen.b, background.b),
    ]
    .iter()
    .all(|&(a, b)| a.abs_diff(b) <= 8)
}

pub(crate) fn describe(colour: Rgba) -> String {
    if colour.a <= 0.0 {
        "transparent".to_string()
    } else {
        format!("#{:02x}{:02x}{:02x}", colour.r, colour.g, colour.b)
    }
}

/// A number and the unit after it: `(-9999.0, "px")`.
pub(crate) fn parse_number(value: &str) -> Option<(f32, &str)> {
    let value = value.trim();
    let end = value
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+')))
        .unwrap_or(value.len());
    let n: f32 = value[..end].parse().ok()?;
    Some((n, value[end..].trim()))
}

/// A length in CSS pixels, taking an em as 16px; `None` for `auto`,
/// percentages other than 0 and the like.
pub(crate) fn length_px(value: &str) -> Option<f32> {
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

pub(crate) const FONT_KEYWORDS: &[(&str, f32)] = &[
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
pub(crate) fn font_size(value: &str, parent: Option<f32>) -> Option<f32> {
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

pub(crate) fn parse_opacity(value: &str) -> Option<f32> {
    match parse_number(value)? {
        (n, "") => Some(n),
        (n, "%") => Some(n / 100.0),
        _ => None,
    }
}

/// Space-separated tokens, keeping `rgb(1, 2, 3)` whole.
pub(crate) fn css_tokens(value: &str) -> Vec<&str> {
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
