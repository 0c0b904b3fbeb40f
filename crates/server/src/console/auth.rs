//! Signing in and out, accepting an invite, resetting a password, and
//! choosing among one's workspaces.
//!
//! Sign-in is throttled per account (5 failures in 15 minutes) and per
//! client address (20 failures a minute); an unknown address costs the
//! same hashing time as a wrong password and gets the same answer.

use super::layout::{bare, field, FieldExtra};
use super::session::{self, live_session, read_form, same_origin};
use super::{html, local_path, plain_error, redirect, Reply};
use crate::accounts::{self, looks_like_token, token_hash, Password};
use crate::extract::client_ip;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use maud::html as markup;
use sendwell_core::{EmailAddress, WorkspaceId};
use sendwell_store::{Account, TokenError, TokenPurpose};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

const ACCOUNT_FAILURES: u32 = 5;
const ACCOUNT_WINDOW: Duration = Duration::from_secs(15 * 60);
const CLIENT_FAILURES: u32 = 20;
const CLIENT_WINDOW: Duration = Duration::from_secs(60);

#[derive(Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    pub(super) email: String,
    #[serde(default)]
    pub(super) password: String,
    #[serde(default)]
    pub(super) next: Option<String>,
}

/// Where a console's sign-in lives: the page's title and the paths its
/// two steps post to. The workspace console and the operator console
/// differ in nothing else.
pub(super) struct SignInAt {
    pub title: &'static str,
    pub login: &'static str,
    pub code: &'static str,
}

pub(super) const MEMBER_SIGN_IN: SignInAt = SignInAt {
    title: "Sign in",
    login: "/login",
    code: "/login/code",
};

pub(super) fn sign_in_form(
    at: &SignInAt,
    email: &str,
    next: &str,
    error: Option<&str>,
) -> maud::Markup {
    bare(
        at.title,
        markup! {
            @if let Some(e) = error {
                p.error role="alert" #signin-error { (e) }
            }
            form method="post" action=(at.login) {
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
    Query(q): Query<NextQuery>,
) -> Reply {
    if live_session(&state, &headers).await?.is_some() {
        return Ok(redirect(local_path(q.next.as_deref())));
    }
    let next = local_path(q.next.as_deref());
    Ok(html(
        StatusCode::OK,
        sign_in_form(&MEMBER_SIGN_IN, "", next, None),
    ))
}

/// A form posted from a page of this site by someone who may not be
/// signed in (sign-in, a one-time link, a reset request): the request's
/// headers and the form, or the page that refuses it.
pub(super) async fn posted_here<T: serde::de::DeserializeOwned>(
    req: Request,
    state: &AppState,
) -> Reply<(HeaderMap, T)> {
    let headers = req.headers().clone();
    if !same_origin(state, &headers) {
        return Err(session::forbidden_origin());
    }
    let form = read_form(req).await?;
    Ok((headers, form))
}

/// The key of a client's network for the sign-in limit: its IPv4 address,
/// or the /64 of an IPv6 one (one subscriber's whole prefix).
pub(super) fn client_network(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => ip.to_owned(),
    }
}

pub(super) fn client(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> String {
    client_ip(state.trusted_proxies(), headers, peer)
}

pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Reply {
    let (headers, form): (HeaderMap, SignInForm) = posted_here(req, &state).await?;
    let next = local_path(form.next.as_deref()).to_owned();
    let ip = client(&state, &headers, peer);
    let account = match check_password(&state, &form.email, &form.password, &ip).await? {
        Ok(account) => account,
        Err(refused) => {
            return Err(html(
                refused.status(),
                sign_in_form(
                    &MEMBER_SIGN_IN,
                    form.email.trim(),
                    &next,
                    Some(refused.text()),
                ),
            ))
        }
    };
    if account.totp_secret.is_some() {
        let until = state.store.now().millis() / 1000 + 300;
        let pending = pending_token(&state, PENDING_MEMBER, &account, until);
        return Ok(html(
            StatusCode::OK,
            code_form(&MEMBER_SIGN_IN, &pending, &next, None),
        ));
    }
    start_session(&state, &account, &ip, &next).await
}

/// Why a password was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PasswordRefused {
    /// Too many failures for the account or from the client's network.
    Throttled,
    /// No turn to hash came in time.
    Busy,
    /// The address or the password is not right (which, is not said).
    Wrong,
}

impl PasswordRefused {
    pub(super) fn status(self) -> StatusCode {
        match self {
            Self::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Wrong => StatusCode::UNAUTHORIZED,
        }
    }

    pub(super) fn text(self) -> &'static str {
        match self {
            Self::Throttled => "Too many failed sign-ins for this account or from this network. Wait 15 minutes and try again, or reset your password.",
            Self::Busy => "The server is busy checking other sign-ins; try again in a moment.",
            Self::Wrong => "The email or the password is not right. Check both and try again.",
        }
    }
}

/// The account whose address and password were given, throttled per
/// account and per client network; both consoles sign in through it.
pub(super) async fn check_password(
    state: &AppState,
    email: &str,
    password: &str,
    ip: &str,
) -> Reply<Result<Account, PasswordRefused>> {
    let email = EmailAddress::parse(email.trim())
        .map(|e| e.key().to_owned())
        .unwrap_or_else(|_| email.trim().to_lowercase());
    // Every attempt is counted before its password is checked (and given
    // back when it was right), so attempts sent in parallel cannot all
    // pass while none has failed yet.
    // The client's network first: a throttled client adds no entry for
    // the addresses it tries, so it cannot fill the limiter's table.
    let network = client_network(ip);
    if !state.allow("signin-client", &network, CLIENT_FAILURES, CLIENT_WINDOW) {
        return Ok(Err(PasswordRefused::Throttled));
    }
    if !state.allow("signin-account", &email, ACCOUNT_FAILURES, ACCOUNT_WINDOW) {
        state.refund("signin-client", &network);
        return Ok(Err(PasswordRefused::Throttled));
    }
    let account = state
        .store
        .account_by_email(&email)
        .await
        .map_err(super::internal)?;
    let hash = account.as_ref().and_then(|a| a.password_hash.as_deref());
    let verified = match accounts::verify_password(password, hash).await {
        Ok(v) => v,
        Err(accounts::Busy) => {
            state.refund("signin-account", &email);
            state.refund("signin-client", &network);
            return Ok(Err(PasswordRefused::Busy));
        }
    };
    if !verified {
        return Ok(Err(PasswordRefused::Wrong));
    }
    state.refund("signin-account", &email);
    state.refund("signin-client", &network);
    match account {
        Some(account) => Ok(Ok(account)),
        None => Err(super::internal("verified a password without an account")),
    }
}

/// Whether `code` is the account's current code and not used before: a
/// code works once (its step is remembered for as long as it is good), in
/// sign-in and in the settings that turn the factor on or off alike.
pub(super) fn use_code(
    state: &AppState,
    account: &sendwell_core::AccountId,
    secret: &[u8],
    code: &str,
) -> bool {
    let now = state.store.now().millis() / 1000;
    crate::totp::verify(secret, code, now).is_some_and(|step| {
        state.allow(
            "totp-step",
            &format!("{account}:{step}"),
            1,
            Duration::from_secs(120),
        )
    })
}

/// What a pending token is for: the member's second step, the operator's,
/// or an operator's first sign-in that sets the factor up (then with the
/// new secret in the purpose, so the token vouches for that secret too).
pub(super) const PENDING_MEMBER: &str = "totp-pending";

/// Proof that the password was right, for the second step: the account,
/// until when (Unix seconds), and a MAC with the console's key over both,
/// the purpose and when the password was last set (so a reset of the
/// password voids every step begun with the old one).
pub(super) fn pending_token(
    state: &AppState,
    purpose: &str,
    account: &Account,
    until: i64,
) -> String {
    let id = &account.id;
    format!(
        "{id}.{until}.{}",
        pending_mac(state, purpose, account, until)
    )
}

fn pending_mac(state: &AppState, purpose: &str, account: &Account, until: i64) -> String {
    let set_at = account.password_set_at.map(|t| t.millis()).unwrap_or(0);
    let mac = sendwell_core::secret::hmac_sha256(
        &state.console_key(),
        &[
            purpose.as_bytes(),
            b"\0",
            account.id.as_str().as_bytes(),
            b"\0",
            until.to_string().as_bytes(),
            b"\0",
            set_at.to_string().as_bytes(),
        ],
    );
    sendwell_core::secret::to_hex(&mac)
}

/// The account a pending token was made for, if its MAC holds for
/// `purpose` and the account as it is now, and it has not expired.
pub(super) async fn pending_account(
    state: &AppState,
    purpose: &str,
    token: &str,
) -> Reply<Option<Account>> {
    let mut parts = token.split('.');
    let (Some(id), Some(until), Some(mac), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let (Ok(id), Ok(until)) = (sendwell_core::AccountId::parse(id), until.parse::<i64>()) else {
        return Ok(None);
    };
    if until < state.store.now().millis() / 1000 {
        return Ok(None);
    }
    let Some(account) = state.store.account(&id).await.map_err(super::internal)? else {
        return Ok(None);
    };
    let expected = pending_mac(state, purpose, &account, until);
    Ok(
        sendwell_core::secret::constant_time_eq(expected.as_bytes(), mac.as_bytes())
            .then_some(account),
    )
}

/// Why a second step was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StepRefused {
    /// The step was not begun here, took too long, or the password changed.
    Stale,
    TooManyCodes,
    WrongCode,
}

impl StepRefused {
    pub(super) fn status(self) -> StatusCode {
        match self {
            Self::Stale | Self::WrongCode => StatusCode::UNAUTHORIZED,
            Self::TooManyCodes => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    pub(super) fn text(self) -> &'static str {
        match self {
            Self::Stale => "The sign-in took too long or was not started here; sign in again.",
            Self::TooManyCodes => {
                "Too many wrong codes for this account. Wait 15 minutes and sign in again."
            }
            Self::WrongCode => {
                "This code is not right, or was used already. Type the code your app shows now."
            }
        }
    }
}

/// The second step of a sign-in, in either console: the account whose
/// pending token and current code were given. Each attempt is counted
/// before the code is checked (and given back when it was right), so
/// codes sent in parallel cannot all be tried while none has failed yet.
pub(super) async fn second_step(
    state: &AppState,
    purpose: &str,
    pending: &str,
    code: &str,
) -> Reply<Result<Account, StepRefused>> {
    let Some(account) = pending_account(state, purpose, pending).await? else {
        return Ok(Err(StepRefused::Stale));
    };
    let Some(secret) = account
        .totp_secret
        .as_deref()
        .and_then(sendwell_core::secret::from_hex)
    else {
        return Ok(Err(StepRefused::Stale));
    };
    let key = account.id.as_str().to_owned();
    if !state.allow("signin-code", &key, CODE_FAILURES, ACCOUNT_WINDOW) {
        return Ok(Err(StepRefused::TooManyCodes));
    }
    if !use_code(state, &account.id, &secret, code) {
        return Ok(Err(StepRefused::WrongCode));
    }
    state.refund("signin-code", &key);
    Ok(Ok(account))
}

pub(super) fn code_form(
    at: &SignInAt,
    pending: &str,
    next: &str,
    error: Option<&str>,
) -> maud::Markup {
    bare(
        "Two-step sign-in",
        markup! {
            p { "Open your authenticator app and type the six-digit code it shows for sendwell." }
            form method="post" action=(at.code) {
                input type="hidden" name="pending" value=(pending);
                input type="hidden" name="next" value=(next);
                (field("code", "Authentication code", "text", "", error,
                    FieldExtra { autocomplete: Some("one-time-code"), required: true, ..Default::default() }))
                button type="submit" { "Verify" }
            }
            p { a href=(at.login) { "Start again" } }
        },
    )
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pub(super) pending: String,
    #[serde(default)]
    pub(super) code: String,
    #[serde(default)]
    pub(super) next: Option<String>,
}

/// Codes one account may get wrong in 15 minutes.
const CODE_FAILURES: u32 = 5;

pub async fn sign_in_code(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Reply {
    let (headers, form): (HeaderMap, CodeForm) = posted_here(req, &state).await?;
    let next = local_path(form.next.as_deref()).to_owned();
    let account = match second_step(&state, PENDING_MEMBER, &form.pending, &form.code).await? {
        Ok(account) => account,
        Err(StepRefused::Stale) => {
            return Err(html(
                StatusCode::UNAUTHORIZED,
                sign_in_form(&MEMBER_SIGN_IN, "", &next, Some(StepRefused::Stale.text())),
            ))
        }
        Err(refused) => {
            return Err(html(
                refused.status(),
                code_form(&MEMBER_SIGN_IN, &form.pending, &next, Some(refused.text())),
            ))
        }
    };
    let ip = client(&state, &headers, peer);
    start_session(&state, &account, &ip, &next).await
}

/// Starts a session for `account` and sends it on: to `next` when it
/// belongs to one workspace, else to the list of its workspaces.
async fn start_session(state: &AppState, account: &Account, ip: &str, next: &str) -> Reply {
    let memberships = state
        .store
        .memberships(&account.id)
        .await
        .map_err(super::internal)?;
    let ws = match memberships.as_slice() {
        [only] => Some(&only.workspace_id),
        _ => None,
    };
    let (id, hash) = session::new_session_id();
    state
        .store
        .create_session(&hash, account, ws, ip)
        .await
        .map_err(super::internal)?;
    let to = if ws.is_some() { next } else { "/workspaces" };
    let mut response = redirect(to);
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(state, session::Realm::Member, &id),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(State(state): State<AppState>, req: Request) -> Reply {
    sign_out_of::<sendwell_store::ConsoleSession>(&state, req, "/login").await
}

/// Ends the session of `S`'s realm that the cookie names (when the form
/// came from one of its pages), clears the cookie and goes on to `then`.
pub(super) async fn sign_out_of<S: session::RealmSession>(
    state: &AppState,
    req: Request,
    then: &str,
) -> Reply {
    let (headers, form): (HeaderMap, CsrfOnly) = posted_here(req, state).await?;
    if let Some((hash, _)) = session::live::<S>(state, &headers).await? {
        if !session::constant_time_csrf(state, S::REALM, &hash, &form.csrf) {
            return Err(plain_error(
                StatusCode::FORBIDDEN,
                "The form has expired",
                "Go back, reload the page and sign out again.",
            ));
        }
        state
            .store
            .end_session(S::REALM.stored(), &hash)
            .await
            .map_err(super::internal)?;
    }
    let mut response = redirect(then);
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(state, S::REALM));
    Ok(response)
}

pub(super) fn token_problem(e: TokenError, what: &str) -> Response {
    let text = match e {
        TokenError::Unknown => format!(
            "This {what} link is not valid. Check that the whole link was copied, or ask for a new one."
        ),
        TokenError::Used => format!(
            "This {what} link was already used. Sign in with your password, or ask for a new link."
        ),
        TokenError::Expired => {
            format!("This {what} link has expired. Ask for a new one.")
        }
    };
    plain_error(StatusCode::GONE, "This link does not work", &text)
}

async fn token_account(state: &AppState, token: &str, purpose: TokenPurpose) -> Reply<Account> {
    let what = match purpose {
        TokenPurpose::Invite => "invite",
        TokenPurpose::Reset => "password reset",
    };
    if !looks_like_token(token) {
        return Err(token_problem(TokenError::Unknown, what));
    }
    state
        .store
        .token_account(&token_hash(token), purpose)
        .await
        .map_err(super::internal)?
        .map_err(|e| token_problem(e, what))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

fn password_form(
    action: &str,
    title: &str,
    account: &Account,
    with_name: bool,
    errors: (Option<&str>, Option<&str>),
) -> maud::Markup {
    bare(
        title,
        markup! {
            p { "For " strong { (account.email) } "." }
            form method="post" action=(action) {
                @if with_name {
                    (field("name", "Your name", "text", &account.name, None,
                        FieldExtra { autocomplete: Some("name"), hint: Some("Shown to your workspace's other members and in its audit log."), ..Default::default() }))
                }
                (field("password", "Password", "password", "", errors.0,
                    FieldExtra { autocomplete: Some("new-password"), required: true,
                        hint: Some("At least 10 characters; a few unrelated words work well."), ..Default::default() }))
                (field("confirm", "Confirm password", "password", "", errors.1,
                    FieldExtra { autocomplete: Some("new-password"), required: true, ..Default::default() }))
                button type="submit" { "Set password" }
            }
        },
    )
}

/// A page whose address holds a one-time token: it sends no Referer at
/// all, so the token cannot leave in one.
pub(super) fn no_referrer(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static("no-referrer"),
    );
    response
}

pub async fn invite_page(State(state): State<AppState>, Path(token): Path<String>) -> Reply {
    let account = token_account(&state, &token, TokenPurpose::Invite).await?;
    let action = format!("/invite/{token}");
    Ok(no_referrer(html(
        StatusCode::OK,
        password_form(&action, "Welcome to sendwell", &account, true, (None, None)),
    )))
}

pub async fn accept_invite(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    req: Request,
) -> Reply {
    set_password(&state, peer, &token, TokenPurpose::Invite, req).await
}

/// Checks the two password fields, sets the password with the one-time
/// link, and signs the person in.
async fn set_password(
    state: &AppState,
    peer: SocketAddr,
    token: &str,
    purpose: TokenPurpose,
    req: Request,
) -> Reply {
    let (headers, form): (HeaderMap, PasswordForm) = posted_here(req, state).await?;
    let account = token_account(state, token, purpose).await?;
    let (action, title, with_name) = match purpose {
        TokenPurpose::Invite => (format!("/invite/{token}"), "Welcome to sendwell", true),
        TokenPurpose::Reset => (format!("/reset/{token}"), "Choose a new password", false),
    };
    let again = |errors: (Option<&str>, Option<&str>)| {
        no_referrer(html(
            StatusCode::UNPROCESSABLE_ENTITY,
            password_form(&action, title, &account, with_name, errors),
        ))
    };
    let password = match Password::parse(&form.password, &account.email) {
        Ok(p) => p,
        Err(e) => return Err(again((Some(&e), None))),
    };
    if form.password != form.confirm {
        return Err(again((
            None,
            Some("The two passwords are not the same; type the same password in both fields."),
        )));
    }
    let name = form
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        });
    let hash = accounts::hash_password(&password)
        .await
        .map_err(super::internal)?;
    let account = state
        .store
        .redeem_token(&token_hash(token), purpose, &hash, name.as_deref())
        .await
        .map_err(super::internal)?
        .map_err(|e| token_problem(e, "one-time"))?;
    if account.totp_secret.is_some() {
        // A reset link proves the mailbox, not the second factor: the
        // person signs in with both.
        return Ok(redirect("/login"));
    }
    let ip = client(state, &headers, peer);
    start_session(state, &account, &ip, "/").await
}

#[derive(Deserialize)]
pub struct ResetRequestForm {
    #[serde(default)]
    email: String,
}

fn reset_request_form(error: Option<&str>) -> maud::Markup {
    bare(
        "Reset your password",
        markup! {
            p { "Give the address you sign in with; we mail it a link to choose a new password." }
            form method="post" action="/reset" {
                (field("email", "Email", "email", "", error,
                    FieldExtra { autocomplete: Some("username"), required: true, ..Default::default() }))
                button type="submit" { "Send the link" }
            }
            p { a href="/login" { "Back to sign in" } }
        },
    )
}

pub async fn reset_request_page() -> Response {
    html(StatusCode::OK, reset_request_form(None))
}

pub async fn reset_request(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Reply {
    let (headers, form): (HeaderMap, ResetRequestForm) = posted_here(req, &state).await?;
    let Ok(email) = EmailAddress::parse(form.email.trim()) else {
        return Err(html(
            StatusCode::UNPROCESSABLE_ENTITY,
            reset_request_form(Some(
                "This is not an email address; check it and send it again.",
            )),
        ));
    };
    let ip = client(&state, &headers, peer);
    if !state.allow("reset-client", &ip, 10, Duration::from_secs(3600)) {
        return Err(plain_error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "Too many reset links were asked for from this network in the last hour; try again later.",
        ));
    }
    // Looked up and mailed beside the answer, so its timing does not tell
    // whether the address has an account.
    let (task_state, key) = (state.clone(), email.key().to_owned());
    tokio::spawn(async move {
        if let Err(e) = crate::accounts::mail_reset_link(&task_state, &key).await {
            tracing::error!(error = %e, "could not mail a password reset link");
        }
    });
    // The same answer whether or not the address has an account.
    Ok(html(
        StatusCode::OK,
        bare(
            "Check your mail",
            markup! {
                p role="status" {
                    "If " strong { (email.as_str()) } " has an account here, a link to choose a new password is on its way. It works for "
                    (accounts::RESET_MINUTES) " minutes."
                }
                p { a href="/login" { "Back to sign in" } }
            },
        ),
    ))
}

pub async fn reset_page(State(state): State<AppState>, Path(token): Path<String>) -> Reply {
    let account = token_account(&state, &token, TokenPurpose::Reset).await?;
    let action = format!("/reset/{token}");
    Ok(no_referrer(html(
        StatusCode::OK,
        password_form(
            &action,
            "Choose a new password",
            &account,
            false,
            (None, None),
        ),
    )))
}

pub async fn reset(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    req: Request,
) -> Reply {
    set_password(&state, peer, &token, TokenPurpose::Reset, req).await
}

pub async fn workspaces_page(State(state): State<AppState>, headers: HeaderMap) -> Reply {
    let Some((hash, session)) = live_session(&state, &headers).await? else {
        return Err(redirect("/login"));
    };
    let memberships = state
        .store
        .memberships(&session.account.id)
        .await
        .map_err(super::internal)?;
    let csrf = session::csrf_token(&state, session::Realm::Member, &hash);
    let body = markup! {
        @if memberships.is_empty() {
            p { "You are not a member of any workspace now. Ask an admin of your workspace to invite you again." }
        } @else {
            p { "Choose the workspace to work in." }
            ul.choices {
                @for m in &memberships {
                    li {
                        form method="post" action="/workspaces" {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="workspace" value=(m.workspace_id.as_str());
                            button type="submit" { (m.workspace_name) }
                            " as " (m.role.as_str())
                        }
                    }
                }
            }
        }
        form method="post" action="/logout" {
            input type="hidden" name="csrf" value=(csrf);
            button.link type="submit" { "Sign out" }
        }
    };
    Ok(html(StatusCode::OK, bare("Your workspaces", body)))
}

#[derive(Deserialize)]
pub struct SwitchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    workspace: String,
}

pub async fn switch_workspace(State(state): State<AppState>, req: Request) -> Reply {
    let (headers, form): (HeaderMap, SwitchForm) = posted_here(req, &state).await?;
    let Some((hash, session)) = live_session(&state, &headers).await? else {
        return Err(redirect("/login"));
    };
    let expected = session::csrf_token(&state, session::Realm::Member, &hash);
    if !sendwell_core::secret::constant_time_eq(form.csrf.as_bytes(), expected.as_bytes()) {
        return Err(plain_error(
            StatusCode::FORBIDDEN,
            "The form has expired",
            "Go back, reload the page and choose again.",
        ));
    }
    let memberships = state
        .store
        .memberships(&session.account.id)
        .await
        .map_err(super::internal)?;
    let chosen = WorkspaceId::parse(&form.workspace)
        .ok()
        .filter(|ws| memberships.iter().any(|m| &m.workspace_id == ws));
    let Some(ws) = chosen else {
        return Err(plain_error(
            StatusCode::FORBIDDEN,
            "Not a member",
            "You are not a member of that workspace.",
        ));
    };
    state
        .store
        .switch_session_workspace(&hash, &ws)
        .await
        .map_err(super::internal)?;
    Ok(redirect("/"))
}
