//! Signing in to the operator console: email and password (throttled as
//! the workspace console's), then always a second factor. The way in for
//! someone new is the setup link `sendwell operator add-user` prints: it
//! sets the password and the second factor together, so a password set any
//! other way (a workspace's invite to the same address, a reset by mail)
//! never opens an operator session.

use crate::accounts::Password;
use crate::console::auth::{
    check_password, client, code_form, no_referrer, pending_token, posted_here, second_step,
    sign_in_form, token_problem, use_code, CodeForm, SignInAt, SignInForm, StepRefused,
};
use crate::console::layout::{bare, field, FieldExtra};
use crate::console::session::{self, Realm};
use crate::console::{html, local_path, redirect, Reply};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use maud::html as markup;
use sendwell_store::Operator;
use serde::Deserialize;
use std::net::SocketAddr;

/// The purpose of a pending token for an operator's code step.
const PENDING_OPERATOR: &str = "operator-pending";
/// How long the second step may take, in seconds.
const STEP_SECONDS: i64 = 300;

#[derive(Deserialize, Default)]
pub struct SignInQuery {
    next: Option<String>,
}

const OPERATOR_SIGN_IN: SignInAt = SignInAt {
    title: "Delivery team sign-in",
    login: "/operator/login",
    code: "/operator/login/code",
};

fn next_path(next: Option<&str>) -> String {
    let path = local_path(next);
    if path.starts_with("/operator") {
        path.to_owned()
    } else {
        "/operator".to_owned()
    }
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
        sign_in_form(&OPERATOR_SIGN_IN, "", &next, None),
    ))
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
            sign_in_form(&OPERATOR_SIGN_IN, form.email.trim(), &next, Some(text)),
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
    if account.totp_secret.is_none() {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "Your second factor is not set up. Open the setup link the delivery team gave you, or ask them for a new one (sendwell operator add-user).",
        ));
    }
    let until = state.store.now().millis() / 1000 + STEP_SECONDS;
    let pending = pending_token(&state, PENDING_OPERATOR, &account, until);
    Ok(html(
        StatusCode::OK,
        code_form(&OPERATOR_SIGN_IN, &pending, &next, None),
    ))
}

pub async fn sign_in_code(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Reply {
    let (headers, form): (HeaderMap, CodeForm) = posted_here(req, &state).await?;
    let next = next_path(form.next.as_deref());
    let refused = |status: StatusCode, text: &str| {
        html(
            status,
            sign_in_form(&OPERATOR_SIGN_IN, "", &next, Some(text)),
        )
    };
    let account = match second_step(&state, PENDING_OPERATOR, &form.pending, &form.code).await? {
        Ok(account) => account,
        Err(StepRefused::Stale) => {
            return Err(refused(StatusCode::UNAUTHORIZED, StepRefused::Stale.text()))
        }
        Err(why) => {
            return Err(html(
                why.status(),
                code_form(&OPERATOR_SIGN_IN, &form.pending, &next, Some(why.text())),
            ))
        }
    };
    // Taken off the team meanwhile: no session.
    let Some(operator) = state
        .store
        .operator(&account.id)
        .await
        .map_err(crate::console::internal)?
    else {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "This account is not on the delivery team.",
        ));
    };
    let ip = client(&state, &headers, peer);
    start(&state, &operator, &ip, &next).await
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    code: String,
}

/// What a setup form says is wrong, field by field.
#[derive(Default)]
struct SetupErrors {
    password: Option<String>,
    confirm: Option<String>,
    code: Option<String>,
}

fn setup_form(
    token: &str,
    operator: &Operator,
    secret: &[u8],
    name: &str,
    errors: &SetupErrors,
) -> maud::Markup {
    let key = crate::totp::base32(secret);
    let grouped: Vec<String> = key
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let account = &operator.account;
    bare(
        "Set up your delivery team account",
        markup! {
            p { "For " strong { (account.email) } ", as " (operator.role.as_str()) "." }
            form method="post" action=(format!("/operator/setup/{token}")) {
                (field("name", "Your name", "text", name, None,
                    FieldExtra { autocomplete: Some("name"), hint: Some("Shown with your notes and decisions."), ..Default::default() }))
                (field("password", "Password", "password", "", errors.password.as_deref(),
                    FieldExtra { autocomplete: Some("new-password"), required: true,
                        hint: Some("At least 10 characters; a few unrelated words work well."), ..Default::default() }))
                (field("confirm", "Confirm password", "password", "", errors.confirm.as_deref(),
                    FieldExtra { autocomplete: Some("new-password"), required: true, ..Default::default() }))
                h2 { "Two-step sign-in" }
                p { "The delivery team always signs in with a second factor. Add sendwell to an authenticator app on your phone, then type the code it shows." }
                ol {
                    li { "Type this key: " code #totp-key { (grouped.join(" ")) } " (time-based, six digits), or open "
                         a href=(crate::totp::uri(secret, "sendwell operator", &account.email)) { "this setup link" } " on the phone." }
                    li { "Type the six-digit code the app shows." }
                }
                input type="hidden" name="secret" value=(sendwell_core::secret::to_hex(secret));
                (field("code", "Authentication code", "text", "", errors.code.as_deref(),
                    FieldExtra { autocomplete: Some("one-time-code"), required: true, ..Default::default() }))
                button type="submit" { "Set up and sign in" }
            }
        },
    )
}

/// The operator a setup link is for, or the page that says why it does not work.
async fn setup_operator(state: &AppState, token: &str) -> Reply<Operator> {
    if !crate::accounts::looks_like_token(token) {
        return Err(token_problem(sendwell_store::TokenError::Unknown, "setup"));
    }
    state
        .store
        .operator_setup(&crate::accounts::token_hash(token))
        .await
        .map_err(crate::console::internal)?
        .map_err(|e| token_problem(e, "setup"))
}

pub async fn setup_page(State(state): State<AppState>, Path(token): Path<String>) -> Reply {
    let operator = setup_operator(&state, &token).await?;
    let secret = crate::totp::new_secret();
    let name = operator.account.name.clone();
    Ok(no_referrer(html(
        StatusCode::OK,
        setup_form(&token, &operator, &secret, &name, &SetupErrors::default()),
    )))
}

/// Wrong codes one setup link may take in 15 minutes.
const SETUP_FAILURES: u32 = 5;

pub async fn setup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(token): Path<String>,
    req: Request,
) -> Reply {
    let (headers, form): (HeaderMap, SetupForm) = posted_here(req, &state).await?;
    let operator = setup_operator(&state, &token).await?;
    let Some(secret) = sendwell_core::secret::from_hex(&form.secret).filter(|s| s.len() >= 16)
    else {
        return Err(redirect(&format!("/operator/setup/{token}")));
    };
    let again = |errors: SetupErrors| {
        no_referrer(html(
            StatusCode::UNPROCESSABLE_ENTITY,
            setup_form(&token, &operator, &secret, &form.name, &errors),
        ))
    };
    let password = match Password::parse(&form.password, &operator.account.email) {
        Ok(p) => p,
        Err(e) => {
            return Err(again(SetupErrors {
                password: Some(e),
                ..Default::default()
            }))
        }
    };
    if form.password != form.confirm {
        return Err(again(SetupErrors {
            confirm: Some(
                "The two passwords are not the same; type the same password in both fields."
                    .to_owned(),
            ),
            ..Default::default()
        }));
    }
    // Each attempt counts before the code is checked, and is given back
    // when it was right.
    let key = crate::accounts::token_hash(&token);
    if !state.allow("operator-setup", &key, SETUP_FAILURES, SETUP_WINDOW) {
        return Err(again(SetupErrors {
            code: Some(
                "Too many wrong codes for this link. Wait 15 minutes and try again.".to_owned(),
            ),
            ..Default::default()
        }));
    }
    if !use_code(&state, &operator.account.id, &secret, &form.code) {
        return Err(again(SetupErrors {
            code: Some("This code is not right. Check that the app shows sendwell operator, and type the code it shows now.".to_owned()),
            ..Default::default()
        }));
    }
    state.refund("operator-setup", &key);
    let hash = crate::accounts::hash_password(&password)
        .await
        .map_err(crate::console::internal)?;
    let name = form.name.trim();
    let name: Option<String> =
        (!name.is_empty()).then(|| name.chars().filter(|c| !c.is_control()).take(200).collect());
    let done = state
        .store
        .complete_operator_setup(
            &key,
            &hash,
            name.as_deref(),
            &sendwell_core::secret::to_hex(&secret),
        )
        .await
        .map_err(crate::console::internal)?
        .map_err(|e| token_problem(e, "setup"))?;
    let ip = client(&state, &headers, peer);
    start(&state, &done, &ip, "/operator").await
}

const SETUP_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

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

pub async fn sign_out(State(state): State<AppState>, req: Request) -> Reply {
    crate::console::auth::sign_out_of::<sendwell_store::OperatorSession>(
        &state,
        req,
        "/operator/login",
    )
    .await
}
