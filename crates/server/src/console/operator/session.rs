//! Operator sessions: their own cookie and table, 30 minutes idle and 12
//! hours at most, begun only after the second factor. The operator's role
//! is read again on every request, so removing someone from the team (or
//! making them an auditor) takes effect at once.

use crate::console::session::{self as member_session, csrf_token, same_origin, Csrf, Realm};
use crate::console::{redirect, Reply};
use crate::extract::OperatorCaller;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sendwell_core::secret::constant_time_eq;
use sendwell_store::Operator;
use serde::de::DeserializeOwned;

/// A signed-in person of the delivery team.
pub struct OperatorSigned {
    pub operator: Operator,
    pub session_hash: String,
    pub csrf: String,
}

impl Csrf for OperatorSigned {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl OperatorSigned {
    /// This person as a caller of the API's operator handlers.
    pub fn caller(&self) -> OperatorCaller {
        OperatorCaller::person(&self.operator)
    }

    /// Whether the role may change anything (an auditor only reads).
    pub fn may_act(&self) -> bool {
        self.operator.role.may_act()
    }
}

/// The live operator session behind a request's cookie; an expired one
/// is ended.
pub async fn live(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, sendwell_store::OperatorSession)>, Response> {
    let Some(id) = member_session::cookie_value(state, Realm::Operator, headers) else {
        return Ok(None);
    };
    let hash = crate::accounts::token_hash(&id);
    let session = state
        .store
        .operator_session(&hash)
        .await
        .map_err(crate::console::internal)?;
    let Some(session) = session else {
        return Ok(None);
    };
    let now = state.store.now().millis();
    let idle = now - session.last_seen_at.millis() > Realm::Operator.idle_seconds() * 1000;
    let old = now - session.created_at.millis() > Realm::Operator.absolute_seconds() * 1000;
    // A session is only ever started after the second factor; one whose
    // account has lost it (a reset) is not trusted either.
    let factor = session.operator.account.totp_secret.is_some();
    if idle || old || !factor {
        state
            .store
            .end_operator_session(&hash)
            .await
            .map_err(crate::console::internal)?;
        return Ok(None);
    }
    if now - session.last_seen_at.millis() > 60_000 {
        state
            .store
            .touch_operator_session(&hash)
            .await
            .map_err(crate::console::internal)?;
    }
    Ok(Some((hash, session)))
}

fn to_sign_in(parts: &Parts) -> Response {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/operator");
    if parts.method == axum::http::Method::GET {
        redirect(&format!(
            "/operator/login?next={}",
            crate::console::url_encode(path)
        ))
    } else {
        redirect("/operator/login")
    }
}

impl FromRequestParts<AppState> for OperatorSigned {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Reply<Self> {
        let Some((hash, session)) = live(state, &parts.headers).await? else {
            return Err(to_sign_in(parts));
        };
        Ok(Self {
            csrf: csrf_token(state, Realm::Operator, &hash),
            operator: session.operator,
            session_hash: hash,
        })
    }
}

/// A form posted by a signed-in operator: origin and CSRF token checked,
/// and refused for an auditor, who may read but not change anything.
pub struct OperatorPosted<T> {
    pub who: OperatorSigned,
    pub form: T,
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for OperatorPosted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        if !same_origin(state, &parts.headers) {
            return Err(member_session::forbidden_origin());
        }
        let who = OperatorSigned::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, member_session::MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                super::error_page(
                    &who,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The form is too large",
                    &format!(
                        "A form may send at most {} KiB; shorten the text and send it again.",
                        member_session::MAX_FORM_BYTES / 1024
                    ),
                )
            })?;
        let token: CsrfField = serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfField {
            csrf: String::new(),
        });
        if !constant_time_eq(token.csrf.as_bytes(), who.csrf.as_bytes()) {
            return Err(super::error_page(
                &who,
                StatusCode::FORBIDDEN,
                "The form has expired",
                "The form was not sent from a page of this session (its security token does not match). Go back, reload the page and send it again.",
            ));
        }
        if !who.may_act() {
            return Err(super::error_page(
                &who,
                StatusCode::FORBIDDEN,
                "Auditors only read",
                "This form changes something, and your role on the delivery team is auditor. Ask an operator to do it.",
            ));
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            super::error_page(
                &who,
                StatusCode::BAD_REQUEST,
                "The form could not be read",
                &format!(
                    "The form's fields were not as expected ({e}); reload the page and try again."
                ),
            )
        })?;
        Ok(Self { who, form })
    }
}
