//! Bounded pieces of text that users give us: single-line labels (names,
//! "accepted by") and the business's physical postal address. None may carry
//! control characters, so none can break a header or a log line.

use std::fmt;

/// Appends `text` to `out` with the five HTML specials escaped, so it is
/// safe both as element content and inside a quoted attribute value. The
/// one HTML escape every page and mail part uses.
pub fn escape_html_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// `text` with the HTML specials escaped; see [`escape_html_into`].
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    escape_html_into(text, &mut out);
    out
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TextError {
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} is {len} characters long; the limit is {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{field} contains a control character (such as a line break, tab or NUL); remove it")]
    ControlCharacter { field: &'static str },
    #[error(
        "{field} is too short to be a postal address: give street, city, postal code and country"
    )]
    TooShort { field: &'static str },
    #[error(
        "{field} contains a web address ({found}); a postal address has none: give street, city, \
         postal code and country, and put links in the message itself"
    )]
    WebAddress { field: &'static str, found: String },
}

/// A single line of user text, trimmed, 1..=max characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label(String);

impl Label {
    pub fn parse(field: &'static str, text: &str, max: usize) -> Result<Self, TextError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(TextError::Empty { field });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(TextError::ControlCharacter { field });
        }
        let len = trimmed.chars().count();
        if len > max {
            return Err(TextError::TooLong { field, len, max });
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The business's physical postal address, printed in every message footer.
/// Several lines are allowed (stored with `\n`), other control characters not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhysicalAddress(String);

impl PhysicalAddress {
    const FIELD: &'static str = "physical_address";
    const MIN: usize = 10;
    const MAX: usize = 500;

    pub fn parse(text: &str) -> Result<Self, TextError> {
        let field = Self::FIELD;
        let normalised = text.replace("\r\n", "\n");
        let lines: Vec<&str> = normalised
            .split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let joined = lines.join("\n");
        if joined.is_empty() {
            return Err(TextError::Empty { field });
        }
        if lines.iter().any(|l| l.chars().any(char::is_control)) {
            return Err(TextError::ControlCharacter { field });
        }
        let len = joined.chars().count();
        if len > Self::MAX {
            return Err(TextError::TooLong {
                field,
                len,
                max: Self::MAX,
            });
        }
        if len < Self::MIN {
            return Err(TextError::TooShort { field });
        }
        // The address stands in every mail's footer, which content
        // screening does not read (it is sendwell's addition): a link there
        // would reach recipients unscreened.
        if let Some(found) = joined.split_whitespace().find(|w| {
            let w = w.to_ascii_lowercase();
            w.contains("://") || w.starts_with("www.")
        }) {
            return Err(TextError::WebAddress {
                field,
                found: found.to_owned(),
            });
        }
        Ok(Self(joined))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of neighbours each cost one, so `plna` is one edit from `plan`.
/// Short ASCII words (the common case: attribute names, domains of every
/// imported row) are compared on the stack without allocating.
pub fn edit_distance(a: &str, b: &str) -> usize {
    const SHORT: usize = 64;
    if a.is_ascii() && b.is_ascii() && a.len() < SHORT && b.len() < SHORT {
        let mut rows = [[0usize; SHORT]; 3];
        return alignment_distance(a.as_bytes(), b.as_bytes(), &mut rows);
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let row = vec![0usize; b.len() + 1];
    alignment_distance(&a, &b, &mut [row.clone(), row.clone(), row])
}

/// The distance of `a` and `b` with three rows of at least `b.len() + 1`
/// cells: the row two back (for swaps), the previous one and the current.
fn alignment_distance<T: PartialEq, R: AsMut<[usize]>>(
    a: &[T],
    b: &[T],
    rows: &mut [R; 3],
) -> usize {
    let [before, prev, cur] = rows;
    let (before, prev, cur) = (before.as_mut(), prev.as_mut(), cur.as_mut());
    for (j, cell) in prev.iter_mut().enumerate().take(b.len() + 1) {
        *cell = j;
    }
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(before[j - 2] + 1);
            }
            cur[j] = v;
        }
        before[..=b.len()].copy_from_slice(&prev[..=b.len()]);
        prev[..=b.len()].copy_from_slice(&cur[..=b.len()]);
    }
    prev[b.len()]
}

/// Quotes a CSV field when it needs it, and defuses spreadsheet formulas.
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("@x,y"), "\"'@x,y\"");
    }

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(
            Label::parse("name", "  Acme  ", 10).expect("ok").as_str(),
            "Acme"
        );
        assert_eq!(
            Label::parse("name", " ", 10),
            Err(TextError::Empty { field: "name" })
        );
        assert!(matches!(
            Label::parse("name", "abcdefghijk", 10),
            Err(TextError::TooLong { .. })
        ));
        assert!(matches!(
            Label::parse("name", "a\r\nBcc: x", 100),
            Err(TextError::ControlCharacter { .. })
        ));
    }

    #[test]
    fn addresses_keep_lines_and_refuse_junk() {
        let a = PhysicalAddress::parse("Acme Ltd\r\n 1 Main Street \n\nSpringfield 12345\n")
            .expect("ok");
        assert_eq!(a.as_str(), "Acme Ltd\n1 Main Street\nSpringfield 12345");
        assert!(matches!(
            PhysicalAddress::parse("x"),
            Err(TextError::TooShort { .. })
        ));
        assert!(matches!(
            PhysicalAddress::parse("1 Main Street\tSpringfield"),
            Err(TextError::ControlCharacter { .. })
        ));
        for spam in [
            "1 Main Street, Springfield; claim your prize at https://prize.example/x",
            "Acme, 1 Main Street, Springfield, see WWW.prize.example",
        ] {
            assert!(
                matches!(
                    PhysicalAddress::parse(spam),
                    Err(TextError::WebAddress { .. })
                ),
                "{spam}"
            );
        }
        assert!(matches!(
            PhysicalAddress::parse("\n \n"),
            Err(TextError::Empty { .. })
        ));
    }
}
