//! Signing in to the operator console: email and password (throttled as
//! the workspace console's), then always a second factor. Someone of the
//! team without one sets it up in the same sign-in, before any session
//! exists: the page shows a new secret, and a code from it proves the app
//! has it. Only then does an operator session start.

use crate::console::auth::{
    check_password, client, pending_account, pending_token, posted_here, use_code, ACCOUNT_WINDOW,
    CODE_FAILURES,
};
use crate::console::layout::{bare, field, FieldExtra};
use crate::console::session::{self, constant_time_csrf, Realm};
use crate::console::{html, local_path, redirect, Reply};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use maud::html as markup;
use sendwell_core::AccountId;
use sendwell_store::{Account, Operator};
use serde::Deserialize;
use std::net::SocketAddr;

/// The purpose of a pending token for an operator's code step.
const PENDING_OPERATOR: &str = "operator-pending";
/// How long the second step may take, in seconds.
const STEP_SECONDS: i64 = 300;

#[derive(Deserialize, Default)]
pub struct SignInQuery {
    next: Option<String>,
    welcome: Option<String>,
}

fn next_path(next: Option<&str>) -> String {
    let path = local_path(next);
    if path.starts_with("/operator") {
        path.to_owned()
    } else {
        "/operator".to_owned()
    }
}

fn sign_in_form(email: &str, next: &str, error: Option<&str>, welcome: bool) -> maud::Markup {
    bare(
        "Delivery team sign-in",
        markup! {
            @if welcome {
                p.notice role="status" { "Your password is set. Sign in with it; you will then set up two-step sign-in, which the delivery team always uses." }
            }
            @if let Some(e) = error {
                p.error role="alert" #signin-error { (e) }
            }
            form method="post" action="/operator/login" {
                input type="hidden" name="next" value=(next);
                (field("email", "Email", "email", email, None,
                    FieldExtra { autocomplete: Some("username"), required: true, ..Default::default() }))
                (field("password", "Password", "password", "", None,
                    FieldExtra { autocomplete: Some("current-password"), required: true, ..Default::default() }))
                button type="submit" { "Sign in" }
            }
            p { a href="/reset" { "Forgot your password?" } }
        },
    )
}

pub async fn sign_in_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Reply {
    let next = next_path(q.next.as_deref());
    if super::session::live(&state, &headers).await?.is_some() {
        return Ok(redirect(&next));
    }
    Ok(html(
        StatusCode::OK,
        sign_in_form("", &next, None, q.welcome.is_some()),
    ))
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Reply {
    let (headers, form): (HeaderMap, SignInForm) = posted_here(req, &state).await?;
    let next = next_path(form.next.as_deref());
    let ip = client(&state, &headers, peer);
    let refuse = |status: StatusCode, text: &str| {
        html(
            status,
            sign_in_form(form.email.trim(), &next, Some(text), false),
        )
    };
    let account = match check_password(&state, &form.email, &form.password, &ip).await? {
        Ok(account) => account,
        Err(refused) => return Err(refuse(refused.status(), refused.text())),
    };
    let operator = state
        .store
        .operator(&account.id)
        .await
        .map_err(crate::console::internal)?;
    if operator.is_none() {
        // The password was right, so saying this tells nothing new.
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "This account is not on the delivery team. Workspace members sign in at /login.",
        ));
    }
    let until = state.store.now().millis() / 1000 + STEP_SECONDS;
    match account.totp_secret {
        Some(_) => {
            let pending = pending_token(&state, PENDING_OPERATOR, &account.id, until);
            Ok(html(StatusCode::OK, code_form(&pending, &next, None)))
        }
        None => {
            let secret = crate::totp::new_secret();
            Ok(html(
                StatusCode::OK,
                enrol_form(&state, &account, &secret, until, &next, None),
            ))
        }
    }
}

fn code_form(pending: &str, next: &str, error: Option<&str>) -> maud::Markup {
    bare(
        "Two-step sign-in",
        markup! {
            p { "Open your authenticator app and type the six-digit code it shows for sendwell." }
            form method="post" action="/operator/login/code" {
                input type="hidden" name="pending" value=(pending);
                input type="hidden" name="next" value=(next);
                (field("code", "Authentication code", "text", "", error,
                    FieldExtra { autocomplete: Some("one-time-code"), required: true, ..Default::default() }))
                button type="submit" { "Verify" }
            }
            p { a href="/operator/login" { "Start again" } }
        },
    )
}

/// The purpose of the pending token of an enrolment: it vouches for the
/// secret shown, so the form cannot swap in one of its own.
fn enrol_purpose(secret_hex: &str) -> String {
    format!("operator-enrol:{secret_hex}")
}

fn enrol_form(
    state: &AppState,
    account: &Account,
    secret: &[u8],
    until: i64,
    next: &str,
    error: Option<&str>,
) -> maud::Markup {
    let hex = sendwell_core::secret::to_hex(secret);
    let pending = pending_token(state, &enrol_purpose(&hex), &account.id, until);
    let key = crate::totp::base32(secret);
    let grouped: Vec<String> = key
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    bare(
        "Set up two-step sign-in",
        markup! {
            p { "The delivery team always signs in with a second factor. Add sendwell to an authenticator app on your phone, then type the code it shows." }
            ol {
                li { "Type this key: " code #totp-key { (grouped.join(" ")) } " (time-based, six digits), or open "
                     a href=(crate::totp::uri(secret, "sendwell operator", &account.email)) { "this setup link" } " on the phone." }
                li { "Type the six-digit code the app shows." }
            }
            form method="post" action="/operator/login/enrol" {
                input type="hidden" name="pending" value=(pending);
                input type="hidden" name="secret" value=(hex);
                input type="hidden" name="next" value=(next);
                (field("code", "Authentication code", "text", "", error,
                    FieldExtra { autocomplete: Some("one-time-code"), required: true, ..Default::default() }))
                button type="submit" { "Turn on and sign in" }
            }
            p { a href="/operator/login" { "Start again" } }
        },
    )
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pending: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: Option<String>,
}

/// The operator a pending token names, or the sign-in page again.
async fn pending_operator(
    state: &AppState,
    purpose: &str,
    form: &CodeForm,
    next: &str,
) -> Reply<(AccountId, Operator)> {
    let again = || {
        html(
            StatusCode::UNAUTHORIZED,
            sign_in_form(
                "",
                next,
                Some("The sign-in took too long or was not started here; sign in again."),
                false,
            ),
        )
    };
    let id = pending_account(state, purpose, &form.pending).ok_or_else(again)?;
    let operator = state
        .store
        .operator(&id)
        .await
        .map_err(crate::console::internal)?
        .ok_or_else(again)?;
    Ok((id, operator))
}

/// Whether the account has had too many wrong codes lately.
fn too_many_codes(state: &AppState, id: &AccountId) -> bool {
    state.exhausted("signin-code", id.as_str(), CODE_FAILURES, ACCOUNT_WINDOW)
}

fn count_wrong_code(state: &AppState, id: &AccountId) {
    state.allow("signin-code", id.as_str(), CODE_FAILURES, ACCOUNT_WINDOW);
}

const TOO_MANY_CODES: &str =
    "Too many wrong codes for this account. Wait 15 minutes and sign in again.";
const WRONG_CODE: &str =
    "This code is not right, or was used already. Type the code your app shows now.";

pub async fn sign_in_code(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Reply {
    let (headers, form): (HeaderMap, CodeForm) = posted_here(req, &state).await?;
    let next = next_path(form.next.as_deref());
    let (id, operator) = pending_operator(&state, PENDING_OPERATOR, &form, &next).await?;
    let again =
        |status: StatusCode, text: &str| html(status, code_form(&form.pending, &next, Some(text)));
    if too_many_codes(&state, &id) {
        return Err(again(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_CODES));
    }
    let secret = operator
        .account
        .totp_secret
        .as_deref()
        .and_then(sendwell_core::secret::from_hex);
    let Some(secret) = secret else {
        return Err(redirect("/operator/login"));
    };
    if !use_code(&state, &id, &secret, &form.code) {
        count_wrong_code(&state, &id);
        return Err(again(StatusCode::UNAUTHORIZED, WRONG_CODE));
    }
    let ip = client(&state, &headers, peer);
    start(&state, &operator, &ip, &next).await
}

pub async fn enrol(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Reply {
    let (headers, form): (HeaderMap, CodeForm) = posted_here(req, &state).await?;
    let next = next_path(form.next.as_deref());
    let hex = form.secret.to_ascii_lowercase();
    let (id, operator) = pending_operator(&state, &enrol_purpose(&hex), &form, &next).await?;
    let Some(secret) = sendwell_core::secret::from_hex(&hex) else {
        return Err(redirect("/operator/login"));
    };
    let until = state.store.now().millis() / 1000 + STEP_SECONDS;
    let again = |status: StatusCode, text: &str| {
        html(
            status,
            enrol_form(&state, &operator.account, &secret, until, &next, Some(text)),
        )
    };
    if operator.account.totp_secret.is_some() {
        // Set up meanwhile (another tab): sign in with it.
        return Err(redirect("/operator/login"));
    }
    if too_many_codes(&state, &id) {
        return Err(again(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_CODES));
    }
    if !use_code(&state, &id, &secret, &form.code) {
        count_wrong_code(&state, &id);
        return Err(again(StatusCode::UNAUTHORIZED, WRONG_CODE));
    }
    state
        .store
        .set_totp_secret(&operator.account, Some(&hex))
        .await
        .map_err(crate::console::internal)?;
    let ip = client(&state, &headers, peer);
    start(&state, &operator, &ip, &next).await
}

/// Starts an operator session and goes on to `next`.
async fn start(state: &AppState, operator: &Operator, ip: &str, next: &str) -> Reply {
    let (id, hash) = session::new_session_id();
    state
        .store
        .create_operator_session(&hash, &operator.account.id, ip)
        .await
        .map_err(crate::console::internal)?;
    tracing::info!(operator = %operator.account.email, client = %ip, "operator signed in");
    let mut response = redirect(next);
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(state, Realm::Operator, &id),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(State(state): State<AppState>, req: Request) -> Reply {
    let (headers, form): (HeaderMap, CsrfOnly) = posted_here(req, &state).await?;
    if let Some((hash, _)) = super::session::live(&state, &headers).await? {
        if !constant_time_csrf(&state, Realm::Operator, &hash, &form.csrf) {
            return Err(crate::console::plain_error(
                StatusCode::FORBIDDEN,
                "The form has expired",
                "Go back, reload the page and sign out again.",
            ));
        }
        state
            .store
            .end_operator_session(&hash)
            .await
            .map_err(crate::console::internal)?;
    }
    let mut response: Response = redirect("/operator/login");
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::clear_cookie(&state, Realm::Operator),
    );
    Ok(response)
}
