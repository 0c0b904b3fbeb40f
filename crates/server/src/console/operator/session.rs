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

impl member_session::RealmSession for sendwell_store::OperatorSession {
    const REALM: Realm = Realm::Operator;
    async fn load(state: &AppState, hash: &str) -> sendwell_store::Result<Option<Self>> {
        state.store.operator_session(hash).await
    }
    fn created_at(&self) -> sendwell_core::Timestamp {
        self.created_at
    }
    fn last_seen_at(&self) -> sendwell_core::Timestamp {
        self.last_seen_at
    }
    /// A session is only ever started after the second factor; one whose
    /// account has lost it (a reset) is not trusted either.
    fn trusted(&self) -> bool {
        self.operator.account.totp_secret.is_some()
    }
}

/// The operator session the request's cookie names, when it is live.
pub async fn live(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, sendwell_store::OperatorSession)>, Response> {
    member_session::live(state, headers).await
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

impl member_session::Refused for OperatorSigned {
    fn page(&self, status: StatusCode, title: &str, detail: &str) -> Response {
        super::error_page(self, status, title, detail)
    }
}

/// A form posted by a signed-in operator: origin and CSRF token checked,
/// and refused for an auditor, who may read but not change anything.
pub struct OperatorPosted<T> {
    pub who: OperatorSigned,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for OperatorPosted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        if !same_origin(state, &parts.headers) {
            return Err(member_session::forbidden_origin());
        }
        let who = OperatorSigned::from_request_parts(&mut parts, state).await?;
        let bytes = member_session::form_bytes(body, &who).await?;
        member_session::check_csrf(&bytes, &who.csrf, &who)?;
        if !who.may_act() {
            return Err(super::error_page(
                &who,
                StatusCode::FORBIDDEN,
                "Auditors only read",
                "This form changes something, and your role on the delivery team is auditor. Ask an operator to do it.",
            ));
        }
        let form = member_session::parse_form(&bytes, &who)?;
        Ok(Self { who, form })
    }
}
