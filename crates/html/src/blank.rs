//! Whether text shows at all: blank characters and entities that render as
//! nothing.

/// Entities that render as nothing or as blank space.
pub(crate) const BLANK_ENTITIES: &[&str] = &[
    "nbsp", "#160", "#xa0", "ensp", "emsp", "thinsp", "#8194", "#8195", "#8201", "zwnj", "zwj",
    "#8203", "#x200b", "#8204", "#x200c", "#8205", "#x200d", "#8288", "#x2060", "#65279", "#xfeff",
    "shy", "#173", "#xad", "#847", "#x34f", "#32", "#x20", "#9", "#10", "#13",
];

/// Characters that render as nothing: soft hyphen, combining grapheme joiner
/// (a favourite of preheader padding), zero-width ones.
pub(crate) fn is_blank_char(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{ad}' | '\u{34f}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}'
        )
}

/// Whether text shows anything: a character that is not blank, or an entity
/// that is not.
pub fn has_visible_text(text: &str) -> bool {
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
