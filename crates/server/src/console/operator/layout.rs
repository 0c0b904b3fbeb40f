//! The operator console's frame: who is signed in with which role, and
//! the team's navigation.

use super::OperatorSigned;
use crate::console::layout::{head, nav, post_button, ButtonKind};
use maud::{html, Markup, DOCTYPE};

/// The operator navigation, in order: (name, path).
pub const NAV: [(&str, &str); 8] = [
    ("Overview", "/operator"),
    ("Workspaces", "/operator/workspaces"),
    ("Cases", "/operator/cases"),
    ("Imports", "/operator/imports"),
    ("Reviews", "/operator/reviews"),
    ("Reports", "/operator/reports"),
    ("Policy", "/operator/policy"),
    ("Guidelines", "/operator/guidelines"),
];

/// A page of the operator console, `current` marked in the navigation.
pub fn page(who: &OperatorSigned, current: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, "sendwell operator"))
            body.operator {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "sendwell · delivery team" }
                    span.who {
                        (who.operator.account.email) " · " (who.operator.role.as_str())
                    }
                    (post_button(who, "/operator/logout", ButtonKind::Link, "Sign out"))
                }
                (nav("Operator", &NAV, current))
                main #main {
                    h1 { (title) }
                    @if !who.may_act() {
                        p.notice role="note" { "You are an auditor: you can read everything here and change nothing." }
                    }
                    (body)
                }
            }
        }
    }
}

/// An error page inside the operator's frame.
pub fn error(who: &OperatorSigned, title: &str, detail: &str) -> Markup {
    page(
        who,
        "",
        title,
        html! {
            p.error role="alert" { (detail) }
            p { a href="/operator" { "Back to the overview" } }
        },
    )
}
