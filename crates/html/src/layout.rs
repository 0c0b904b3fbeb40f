//! What an element does to the flow of text: the one table both the
//! plain-text alternative and the content screen read, so "a new line
//! here" means the same to both.

/// How an element's boundaries separate the text around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// span, b, font... or unknown: nothing.
    Inline,
    /// A block that stands apart with a blank line (p, h1, table...).
    Paragraph,
    /// A block that starts on a new line (div, tr, section...).
    Line,
    /// br: one line break per element.
    LineBreak,
    /// td, th: cells of one row are separated by a space.
    Cell,
    /// ul, ol.
    List,
    /// li.
    ListItem,
}

impl Layout {
    /// Whether words on either side of the element stay on separate lines.
    pub fn breaks_line(self) -> bool {
        !matches!(self, Layout::Inline | Layout::Cell)
    }
}

fn is_paragraph(name: &str) -> bool {
    matches!(
        name,
        "p" | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "table"
            | "dl"
            | "hr"
            | "pre"
            | "figure"
            | "address"
    )
}

fn is_line(name: &str) -> bool {
    matches!(
        name,
        "div"
            | "tr"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "nav"
            | "aside"
            | "main"
            | "center"
            | "form"
            | "fieldset"
            | "legend"
            | "dt"
            | "dd"
            | "figcaption"
            | "caption"
            | "thead"
            | "tbody"
            | "tfoot"
            | "details"
            | "summary"
            | "body"
            | "html"
    )
}

/// The layout of the element `name` (lowercase).
pub fn layout(name: &str) -> Layout {
    match name {
        "br" => Layout::LineBreak,
        "li" => Layout::ListItem,
        "ul" | "ol" => Layout::List,
        "td" | "th" => Layout::Cell,
        _ if is_paragraph(name) => Layout::Paragraph,
        _ if is_line(name) => Layout::Line,
        _ => Layout::Inline,
    }
}
