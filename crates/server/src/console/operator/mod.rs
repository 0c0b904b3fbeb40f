//! The operator's console at `/operator`: where the delivery team works
//! enforcement (workspaces, review cases, quarantined imports, the content
//! review queue, reports of concern, the policy and the guidelines).
//!
//! It stands on the workspace console's foundations (maud pages, the same
//! style sheet, script and CSP, forms with CSRF tokens) with its own
//! accounts' role, sessions and cookie. Its pages call the API's operator
//! handlers with the signed-in person as the caller, so the API's rules,
//! errors and audit entries are the console's too; an auditor's forms are
//! refused before any handler runs, and the handlers refuse them again.

mod auth;
mod layout;
mod overview;
mod policy;
mod queues;
pub mod session;
mod workspaces;

use crate::console::html;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

pub use session::{OperatorPosted, OperatorSigned};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/operator", get(overview::page))
        .route(
            "/operator/login",
            get(auth::sign_in_page).post(auth::sign_in),
        )
        .route("/operator/login/code", post(auth::sign_in_code))
        .route(
            "/operator/setup/{token}",
            get(auth::setup_page).post(auth::setup),
        )
        .route("/operator/logout", post(auth::sign_out))
        .route("/operator/workspaces", get(workspaces::list))
        .route("/operator/workspaces/{id}", get(workspaces::show))
        .route(
            "/operator/workspaces/{id}/reinstate",
            post(workspaces::reinstate),
        )
        .route(
            "/operator/workspaces/{id}/withdraw",
            post(workspaces::withdraw),
        )
        .route(
            "/operator/workspaces/{id}/restore",
            post(workspaces::restore),
        )
        .route("/operator/cases", get(workspaces::cases))
        .route("/operator/cases/{id}/notes", post(workspaces::add_note))
        .route("/operator/imports", get(queues::imports))
        .route("/operator/imports/{id}", get(queues::import))
        .route("/operator/imports/{id}/decide", post(queues::decide_import))
        .route("/operator/reviews", get(queues::reviews))
        .route("/operator/reviews/{id}", get(queues::review))
        .route("/operator/reviews/{id}/mail.html", get(queues::review_mail))
        .route("/operator/reviews/{id}/decide", post(queues::decide_review))
        .route("/operator/reports", get(queues::reports))
        .route("/operator/reports/{id}/handle", post(queues::handle_report))
        .route("/operator/policy", get(policy::page).post(policy::save))
        .route(
            "/operator/guidelines",
            get(policy::guidelines).post(policy::publish),
        )
}

/// A page that says what went wrong, inside the operator's frame.
pub fn error_page(who: &OperatorSigned, status: StatusCode, title: &str, detail: &str) -> Response {
    html(status, layout::error(who, title, detail))
}

/// An API handler's refusal as a page, with the API's words.
pub fn api_error(who: &OperatorSigned, e: ApiError) -> Response {
    let title = match e.status() {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::CONFLICT => "That cannot be done now",
        _ => "That did not work",
    };
    error_page(who, e.status(), title, e.detail())
}
