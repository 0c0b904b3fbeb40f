//! The web console: server-rendered pages for workspace members, served
//! by the same binary at `/`. Pages are written with maud (HTML as Rust,
//! checked and escaped when the crate compiles); every action is a plain
//! form POST with a CSRF token, so each page works without JavaScript. The
//! one style sheet and the one script are static files of our own; the
//! Content-Security-Policy allows nothing else (no inline script or style).
//!
//! Pages are thin, like the API's handlers: they read the request, call
//! the same store functions and services, and show the result.

// A refused request answers with a whole page (a `Response`); it is made
// once per request, so its size on the stack does not matter.
#![allow(clippy::result_large_err)]

mod auth;
mod contacts;
mod home;
mod imports;
mod layout;
mod lists;
mod markdown;
mod messages;
pub mod operator;
pub mod session;
mod settings;
mod templates;

use crate::state::AppState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;

pub use session::Signed;

/// A page (or a value), or the page or redirect that answers instead.
pub type Reply<T = Response> = Result<T, Response>;

const STYLE: &str = include_str!("static/console.css");
const SCRIPT: &str = include_str!("static/console.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home::page))
        .route("/login", get(auth::sign_in_page).post(auth::sign_in))
        .route("/login/code", post(auth::sign_in_code))
        .route("/logout", post(auth::sign_out))
        .route(
            "/settings/totp",
            get(settings::totp_page).post(settings::totp_on),
        )
        .route("/settings/totp/off", post(settings::totp_off))
        .route(
            "/invite/{token}",
            get(auth::invite_page).post(auth::accept_invite),
        )
        .route(
            "/reset",
            get(auth::reset_request_page).post(auth::reset_request),
        )
        .route("/reset/{token}", get(auth::reset_page).post(auth::reset))
        .route(
            "/workspaces",
            get(auth::workspaces_page).post(auth::switch_workspace),
        )
        .route("/settings/address", post(home::set_address))
        .route("/settings/guidelines", post(home::accept_guidelines))
        .route("/settings/domains", post(home::add_domain))
        .route("/settings/domains/verify", post(home::verify_domain))
        .route("/contacts", get(contacts::list))
        .route("/contacts/{id}", get(contacts::show))
        .route("/contacts/{id}/export.json", get(contacts::export))
        .route("/contacts/{id}/consent.json", get(contacts::proof))
        .route(
            "/contacts/{id}/erase",
            get(contacts::erase_page).post(contacts::erase),
        )
        .route(
            "/imports",
            get(imports::page_get).post(imports::upload).layer(
                axum::extract::DefaultBodyLimit::max(crate::api::imports::MAX_IMPORT_BYTES),
            ),
        )
        .route("/imports/{id}", get(imports::show))
        .route("/imports/{id}/rejects.csv", get(imports::rejects))
        .route(
            "/audiences",
            get(lists::audiences).post(lists::save_audience),
        )
        .route("/audiences/{id}/delete", post(lists::delete_audience))
        .route("/templates", get(templates::index).post(templates::create))
        .route("/templates/new", get(templates::new))
        .route("/templates/preview", post(templates::preview_html))
        .route("/templates/preview.txt", post(templates::preview_text))
        .route(
            "/templates/{id}",
            get(templates::show).post(templates::update),
        )
        .route("/messages", get(messages::index).post(messages::compose))
        .route("/messages/new", get(messages::new))
        .route("/messages/{id}", get(messages::show))
        .route("/messages/{id}/send", post(messages::send))
        .route("/messages/{id}/{action}", post(messages::run))
        .route("/messages/{id}/test", post(messages::test_send))
        .route("/messages/{id}/preview.html", get(messages::preview_html))
        .route("/messages/{id}/preview.txt", get(messages::preview_text))
        .route(
            "/suppressions",
            get(lists::suppressions).post(lists::suppress),
        )
        .route("/suppressions/lift", post(lists::lift))
        .route("/suppressions.csv", get(lists::suppressions_csv))
        .route("/settings", get(settings::page))
        .route("/settings/members", post(settings::invite))
        .route("/settings/members/{id}/role", post(settings::change_role))
        .route("/settings/members/{id}/remove", post(settings::remove))
        .route("/settings/members/{id}/reinvite", post(settings::reinvite))
        .route("/settings/keys", post(settings::create_key))
        .route("/settings/keys/{id}/revoke", post(settings::revoke_key))
        .route("/settings/webhooks", post(settings::create_webhook))
        .route("/settings/webhooks/{id}", get(settings::webhook_log))
        .route(
            "/settings/webhooks/{id}/remove",
            post(settings::remove_webhook),
        )
        .route("/settings/landing", post(settings::set_landing))
        .merge(operator::routes())
        .route("/static/console.css", get(style))
        .route("/static/console.js", get(script))
}

/// The Content-Security-Policy of console pages: the site's own style
/// sheet and script (which may fetch pages of this site), forms that post
/// back here, nothing framed but the site's own (sandboxed) previews, and
/// no one may frame the console.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers every console page carries.
fn page_headers() -> [(header::HeaderName, HeaderValue); 6] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

/// An HTML answer with the console's headers.
pub fn html(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        page_headers(),
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// A 303 to `to` (a path of this site).
pub fn redirect(to: &str) -> Response {
    let location = HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/"));
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

/// A page that says what went wrong, inside the console's frame.
pub fn error_page(who: &Signed, status: StatusCode, title: &str, detail: &str) -> Response {
    html(status, layout::error(Some(who), title, detail))
}

/// The same for someone not signed in.
pub fn plain_error(status: StatusCode, title: &str, detail: &str) -> Response {
    html(status, layout::error(None, title, detail))
}

/// A store or render failure: logged with its cause, shown without it.
pub fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console: internal error");
    plain_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not complete this request. Try again in a moment; if it keeps happening, tell the platform's operator.",
    )
}

/// Percent-encodes a value for a query string.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path of this site to go to after signing in: only a local path (one
/// `/`, not `//` or `/\`, which browsers take for another host), else `/`.
pub fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 2000
                && !p.chars().any(|c| c.is_control()) =>
        {
            p
        }
        _ => "/",
    }
}

/// A rendered mail for a sandboxed frame: no script can run in it (the
/// CSP's `sandbox`), it loads nothing but inline styles and https images,
/// and only this site may frame it.
pub fn framed(body: String, content_type: &'static str) -> Response {
    framed_with(body, content_type, FRAME_CSP)
}

/// The same for someone else's mail (the operator's review): not even its
/// images load, so its sender learns nothing of when or from where it was
/// read.
pub fn framed_offline(body: String, content_type: &'static str) -> Response {
    framed_with(body, content_type, OFFLINE_FRAME_CSP)
}

const FRAME_CSP: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'self'";
const OFFLINE_FRAME_CSP: &str =
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'";

fn framed_with(body: String, content_type: &'static str, csp: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(csp),
            ),
            (
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("SAMEORIGIN"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body,
    )
        .into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path(Some("/contacts?q=a")), "/contacts?q=a");
        for hostile in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/\nLocation: x",
        ] {
            assert_eq!(local_path(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(url_encode("/contacts?q=a b&c"), "/contacts%3Fq%3Da%20b%26c");
    }
}
