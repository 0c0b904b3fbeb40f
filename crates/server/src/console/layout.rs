//! The console's frame (head, navigation, who is signed in) and the small
//! pieces every page uses: labelled fields with their error beside them,
//! forms with the CSRF token, notices.

use super::session::Csrf;
use super::Signed;
use maud::{html, Markup, DOCTYPE};

/// The workspace navigation, in order: (name, path).
pub const NAV: [(&str, &str); 8] = [
    ("Home", "/"),
    ("Contacts", "/contacts"),
    ("Imports", "/imports"),
    ("Audiences", "/audiences"),
    ("Templates", "/templates"),
    ("Messages", "/messages"),
    ("Suppressions", "/suppressions"),
    ("Settings", "/settings"),
];

/// The head of every console page, titled `title · site`.
pub fn head(title: &str, site: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="robots" content="noindex";
            title { (title) " · " (site) }
            link rel="stylesheet" href="/static/console.css";
            script src="/static/console.js" defer {}
        }
    }
}

/// A page of the signed-in console: navigation with `current` marked.
pub fn page(who: &Signed, current: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, "sendwell"))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "sendwell" }
                    span.workspace {
                        (who.workspace.name)
                        @if who.workspaces > 1 {
                            " " a href="/workspaces" { "(switch)" }
                        }
                    }
                    span.who {
                        (who.account.email) " · " (who.role.as_str())
                    }
                    (post_button(who, "/logout", ButtonKind::Link, "Sign out"))
                }
                (nav("Workspace", &NAV, current))
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A console's navigation, labelled `label`, with `current` marked.
pub fn nav(label: &str, items: &[(&str, &str)], current: &str) -> Markup {
    html! {
        nav aria-label=(label) {
            ul {
                @for (name, path) in items {
                    li {
                        @if *name == current {
                            a href=(path) aria-current="page" { (name) }
                        } @else {
                            a href=(path) { (name) }
                        }
                    }
                }
            }
        }
    }
}

/// A page for someone not signed in (sign-in, invites, resets).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, "sendwell"))
            body.bare {
                main #main {
                    p.brand { "sendwell" }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An error page, inside the frame when someone is signed in.
pub fn error(who: Option<&Signed>, title: &str, detail: &str) -> Markup {
    let body = html! {
        p.error role="alert" { (detail) }
        p { a href="/" { "Back to the start" } }
    };
    match who {
        Some(who) => page(who, "", title, body),
        None => bare(title, body),
    }
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf(who: &impl Csrf) -> Markup {
    html! { input type="hidden" name="csrf" value=(who.csrf()); }
}

/// A labelled drop-down of `(value, text)` choices; `name` is what the
/// form sends it as, `selected` the value chosen now.
pub fn select(
    id: &str,
    name: &str,
    label: &str,
    choices: &[(&str, &str)],
    selected: &str,
) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                @for (value, text) in choices {
                    option value=(value) selected[*value == selected] { (text) }
                }
            }
        }
    }
}

/// How a one-button form's button looks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ButtonKind {
    /// An ordinary button.
    Plain,
    /// Like a link, for small actions inside a sentence.
    Link,
    /// Red: the action removes something.
    Danger,
}

/// A form of one button that posts to `action` (with the CSRF token); the
/// button's text says what it does to what.
pub fn post_button(who: &impl Csrf, action: &str, kind: ButtonKind, text: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(who))
            @match kind {
                ButtonKind::Plain => button type="submit" { (text) },
                ButtonKind::Link => button.link type="submit" { (text) },
                ButtonKind::Danger => button.danger type="submit" { (text) },
            }
        }
    }
}

/// A labelled input; its error (if any) is shown under it and tied to it
/// with `aria-describedby`, and the field is marked invalid.
pub fn field(
    id: &str,
    label: &str,
    kind: &str,
    value: &str,
    error: Option<&str>,
    extra: FieldExtra,
) -> Markup {
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described = match (error.is_some(), extra.hint.is_some()) {
        (true, true) => Some(format!("{error_id} {hint_id}")),
        (true, false) => Some(error_id.clone()),
        (false, true) => Some(hint_id.clone()),
        (false, false) => None,
    };
    html! {
        div.field {
            label for=(id) { (label) }
            @if let Some(hint) = extra.hint {
                p.hint id=(hint_id) { (hint) }
            }
            @if kind == "textarea" {
                textarea id=(id) name=(extra.name.unwrap_or(id)) rows="4"
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[described.as_deref()]
                    required[extra.required] { (value) }
            } @else {
                input id=(id) name=(extra.name.unwrap_or(id)) type=(kind) value=(value)
                    autocomplete=[extra.autocomplete]
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[described.as_deref()]
                    required[extra.required];
            }
            @if let Some(e) = error {
                p.field-error id=(error_id) { (e) }
            }
        }
    }
}

/// What else a field may say about itself.
#[derive(Default, Clone, Copy)]
pub struct FieldExtra<'a> {
    pub hint: Option<&'a str>,
    /// The name the form sends it as, when it is not the id (a page with
    /// the same form several times needs unique ids).
    pub name: Option<&'a str>,
    pub autocomplete: Option<&'a str>,
    pub required: bool,
}

/// A notice at the top of a page (after an action).
pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(t) = text {
            p.notice role="status" { (t) }
        }
    }
}

/// A date as the console shows it: `2026-12-07 10:15 UTC`.
pub fn when(t: sendwell_core::Timestamp) -> String {
    let text = t.to_rfc3339();
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => text,
    }
}

/// An estimated count as people read it: three significant figures with
/// thousands separated ("about 260,000" for 259,998).
pub fn about(n: i64) -> String {
    let n = n.max(0);
    let places = n.checked_ilog10().map_or(0, |d| d.saturating_sub(2));
    let unit = 10_i64.pow(places);
    let rounded = (n + unit / 2) / unit * unit;
    let digits = rounded.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::about;

    #[test]
    fn estimates_read_as_three_figures() {
        for (n, shown) in [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1_234, "1,230"),
            (259_998, "260,000"),
            (1_000_000, "1,000,000"),
            (-5, "0"),
        ] {
            assert_eq!(about(n), shown, "{n}");
        }
    }
}
