//! The guidelines' Markdown as HTML for the consoles: CommonMark by
//! pulldown-cmark, with raw HTML shown as text (the text is the operator's,
//! but what it says should be read, not run) and links kept only to
//! http(s) and mailto addresses.

use maud::{Markup, PreEscaped};
use pulldown_cmark::{CowStr, Event, Parser, Tag};

/// Whether a link's destination is one a reader may follow from here.
fn safe_link(dest: &str) -> bool {
    let lower = dest.trim().to_ascii_lowercase();
    lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("mailto:")
        || lower.starts_with('#')
}

/// `text` rendered; inline HTML as text, unsafe links without a target.
pub fn render(text: &str) -> Markup {
    let events = Parser::new(text).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe_link(&dest_url) => Event::Start(Tag::Link {
            link_type,
            dest_url: CowStr::Borrowed("#"),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            title,
            id,
            ..
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: CowStr::Borrowed(""),
            title,
            id,
        }),
        other => other,
    });
    let mut html = String::with_capacity(text.len() * 5 / 4);
    pulldown_cmark::html::push_html(&mut html, events);
    PreEscaped(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered_and_html_in_it_is_text() {
        let out =
            render("# Rules\n\nSend **only** to people who asked.\n\n<script>alert(1)</script>\n")
                .into_string();
        assert!(out.contains("<h1>Rules</h1>"), "{out}");
        assert!(out.contains("<strong>only</strong>"), "{out}");
        assert!(!out.contains("<script>"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
    }

    #[test]
    fn only_web_and_mail_links_are_kept() {
        let out = render(
            "[a](https://example.org/x) [b](javascript:alert(1)) ![c](https://t.example/p.gif)",
        )
        .into_string();
        assert!(out.contains("href=\"https://example.org/x\""), "{out}");
        assert!(!out.contains("javascript:"), "{out}");
        assert!(!out.contains("t.example"), "images load nothing: {out}");
    }
}
