//! Character references: one decoder for everything sendwell reads out of
//! HTML (text, attribute values, link targets).

use std::borrow::Cow;

/// Decodes HTML character references as browsers read HTML; unknown ones
/// stay as written.
pub fn decode(s: &str) -> Cow<'_, str> {
    decode_with(s, true)
}

/// Decodes only the references that end in their semicolon, as a template's
/// author means them (`&amp` in a URL stays as written).
pub fn decode_strict(s: &str) -> Cow<'_, str> {
    decode_with(s, false)
}

fn decode_with(s: &str, lenient: bool) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        match reference(rest, lenient) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Named references sendwell decodes: the ones mail and templates use.
const NAMED: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", '\u{a0}'),
    ("copy", '©'),
    ("reg", '®'),
    ("trade", '™'),
    ("hellip", '…'),
    ("mdash", '—'),
    ("ndash", '–'),
    ("rsquo", '’'),
    ("lsquo", '‘'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("laquo", '«'),
    ("raquo", '»'),
    ("bull", '•'),
    ("middot", '·'),
    ("euro", '€'),
    ("pound", '£'),
    ("yen", '¥'),
    ("cent", '¢'),
    ("times", '×'),
    ("deg", '°'),
    ("zwnj", '\u{200c}'),
    ("zwj", '\u{200d}'),
    ("shy", '\u{ad}'),
    ("eacute", 'é'),
    ("egrave", 'è'),
    ("aacute", 'á'),
    ("agrave", 'à'),
    ("iacute", 'í'),
    ("oacute", 'ó'),
    ("uacute", 'ú'),
    ("ntilde", 'ñ'),
    ("ccedil", 'ç'),
    ("auml", 'ä'),
    ("ouml", 'ö'),
    ("uuml", 'ü'),
    ("szlig", 'ß'),
    ("Auml", 'Ä'),
    ("Ouml", 'Ö'),
    ("Uuml", 'Ü'),
];

/// Legacy references that browsers accept without the semicolon, even when
/// letters follow ("&nbspat").
const LEGACY: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("nbsp", '\u{a0}'),
    ("copy", '©'),
    ("reg", '®'),
];

/// The character the reference at the start of `s` (an `&`) stands for, and
/// the reference's length; `None` when it is not one this decoder knows
/// (the `&` is then text). With `lenient`, as browsers read HTML: numbers
/// and the legacy names without their semicolon. Without it, as a template
/// author means it: `&amp` in a URL stays as written.
pub fn reference(s: &str, lenient: bool) -> Option<(char, usize)> {
    let bytes = s.as_bytes();
    if bytes.get(1) == Some(&b'#') {
        return numeric(s, lenient);
    }
    let name_len = bytes[1..]
        .iter()
        .take(10)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let name = &s[1..1 + name_len];
    if bytes.get(1 + name_len) == Some(&b';') {
        if let Some((_, c)) = NAMED.iter().find(|(n, _)| *n == name) {
            return Some((*c, name_len + 2));
        }
    }
    if !lenient {
        return None;
    }
    LEGACY
        .iter()
        .find(|(n, _)| name.starts_with(n))
        .map(|(n, c)| (*c, n.len() + 1))
}

/// A numeric reference `&#65;` or `&#x41;`.
fn numeric(s: &str, lenient: bool) -> Option<(char, usize)> {
    let bytes = s.as_bytes();
    let (digits_start, radix) = match bytes.get(2) {
        Some(b'x' | b'X') => (3, 16),
        _ => (2, 10),
    };
    let digits_len = bytes[digits_start..]
        .iter()
        .take_while(|b| b.is_ascii_hexdigit() && (radix == 16 || b.is_ascii_digit()))
        .count();
    if digits_len == 0 {
        return None;
    }
    // Leading zeros count for nothing, as in browsers: `&#0000000118;` is
    // a `v`. More than eight digits after them is no reference here (it
    // stays as written; a browser shows U+FFFD).
    let digits = s[digits_start..digits_start + digits_len].trim_start_matches('0');
    let code = match digits.len() {
        0 => 0,
        1..=8 => u32::from_str_radix(digits, radix).ok()?,
        _ => return None,
    };
    let mut len = digits_start + digits_len;
    if bytes.get(len) == Some(&b';') {
        len += 1;
    } else if !lenient {
        return None;
    }
    Some((numeric_char(code), len))
}

/// The character a numeric reference stands for, as browsers read it: the
/// C1 range as Windows-1252 (old mail and templates write `&#150;` for a
/// dash), NUL, surrogates and out-of-range values as U+FFFD.
pub fn numeric_char(code: u32) -> char {
    const CP1252: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match code {
        0x80..=0x9f => CP1252[(code - 0x80) as usize],
        0 => char::REPLACEMENT_CHARACTER,
        _ => char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_decode_as_browsers_read_them() {
        assert_eq!(
            decode("&amp;&lt;&#65;&#x42;&eacute;&#150;&#0;"),
            "&<AB\u{e9}\u{2013}\u{fffd}"
        );
        assert_eq!(
            decode("AT&T &unknown; &nbspat &#66"),
            "AT&T &unknown; \u{a0}at B"
        );
    }

    #[test]
    fn long_numbers_are_read_whole() {
        assert_eq!(decode("&#0000000118;iagra"), "viagra");
        assert_eq!(decode("&#x00000000000056;"), "V");
        assert_eq!(decode("&#99999999999999;x"), "&#99999999999999;x");
    }

    #[test]
    fn strict_references_need_their_semicolon() {
        assert_eq!(reference("&amp x", false), None);
        assert_eq!(reference("&#65 x", false), None);
        assert_eq!(reference("&amp;", false), Some(('&', 5)));
        assert_eq!(reference("&#xZZ;", true), None);
    }
}
