//! Request extractors that turn every kind of bad input into a problem
//! document: JSON bodies (400 malformed, 422 wrong shape, 413 too large, 415
//! not JSON), query strings, and the caller's credentials.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use bytes_alias::Bytes;
use sendwell_core::secret::{constant_time_eq, ApiKeyToken};
use sendwell_core::{Permission, Role, WorkspaceId};
use sendwell_store::ApiKeyRecord;
use serde::de::DeserializeOwned;

mod bytes_alias {
    pub use axum::body::Bytes;
}

/// A JSON body, with errors as problem documents.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "The body must be JSON",
                "Send the body as JSON with the header Content-Type: application/json.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    "The body is too large",
                    "The request body is larger than this server accepts; send fewer items per request \
                     (for contacts, at most 1000 per batch).",
                )
            } else {
                ApiError::bad_request(format!("The request body could not be read: {rejection}"))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON: a syntax error is 400 (with line and column), a value of the
/// wrong shape or an unknown field is 422.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request(format!("The body is not valid JSON: {e}."))
            }
            Category::Data => ApiError::invalid(format!(
                "The JSON body does not have the expected shape: {e}."
            )),
        }
    })
}

/// A query string, with errors as problem documents.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| {
                ApiError::bad_request(format!("The query string is not valid: {}.", e.body_text()))
            })
    }
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("Send an API key in the header Authorization: Bearer <key>.")
    })?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("The Authorization header is not valid text."))?;
    let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "Use the Bearer scheme: Authorization: Bearer <key>.",
        ));
    }
    Ok(token.trim())
}

enum Caller {
    Operator,
    Workspace(ApiKeyRecord),
}

/// Failed authentications one client may make in a minute; then 429.
const AUTH_FAILURES_PER_MINUTE: u32 = 20;

async fn identify(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let client = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| client_ip(state.trusted_proxies(), &parts.headers, c.0))
        .unwrap_or_default();
    let window = std::time::Duration::from_secs(60);
    let too_many = || {
        ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too-many-failed-logins",
            "Too many failed authentications",
            "Too many requests from this address had a wrong key or token in the last minute; wait a minute and try again.",
        )
    };
    // Only failures count and only failures are refused: a valid key from
    // an address someone else guesses from (a shared NAT) still works.
    match authenticate(parts, state).await {
        Err(e) if e.status() == axum::http::StatusCode::UNAUTHORIZED => {
            if state.allow("auth-fail", &client, AUTH_FAILURES_PER_MINUTE, window) {
                Err(e)
            } else {
                Err(too_many())
            }
        }
        other => other,
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let token = bearer(parts)?;
    if state.is_operator_token(token) {
        return Ok(Caller::Operator);
    }
    let invalid =
        || ApiError::unauthorized("The API key is not valid. Check that it was copied whole.");
    let presented = ApiKeyToken::parse(token).ok_or_else(invalid)?;
    let key = state
        .store
        .key_for_auth(&presented.key_id)
        .await?
        .ok_or_else(invalid)?;
    if !constant_time_eq(
        key.secret_hash.as_bytes(),
        presented.secret_hash().as_bytes(),
    ) {
        return Err(invalid());
    }
    if let Some(revoked) = key.record.revoked_at {
        return Err(ApiError::unauthorized(format!(
            "This API key was revoked at {revoked}; ask an admin of the workspace for a new key."
        )));
    }
    // Recording use is a write; it must not make a read wait behind a long
    // write on SQLite's single writer, so it happens beside the request.
    let store = state.store.clone();
    let record = key.record.clone();
    tokio::spawn(async move {
        if let Err(e) = store.touch_api_key(&record).await {
            tracing::warn!(error = %e, "could not record API key use");
        }
    });
    Ok(Caller::Workspace(key.record))
}

/// A caller holding one of a workspace's API keys.
pub struct WorkspaceCaller {
    pub key: ApiKeyRecord,
}

impl WorkspaceCaller {
    pub fn workspace(&self) -> &WorkspaceId {
        &self.key.workspace_id
    }

    /// The actor recorded in audit logs and the ledger.
    pub fn actor(&self) -> String {
        format!("key:{}", self.key.id)
    }

    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.key.role.allows(permission) {
            return Ok(());
        }
        let needed = Role::least_for(permission);
        Err(ApiError::forbidden(format!(
            "This needs an API key with the {} role{}; this key has the {} role.",
            needed.as_str(),
            if needed == Role::Admin {
                ""
            } else {
                " or higher"
            },
            self.key.role.as_str()
        )))
    }
}

impl FromRequestParts<AppState> for WorkspaceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match identify(parts, state).await? {
            Caller::Workspace(key) => Ok(Self { key }),
            Caller::Operator => Err(ApiError::forbidden(
                "This endpoint acts inside one workspace: call it with one of the workspace's API keys. \
                 The operator token works on the operator endpoints only.",
            )),
        }
    }
}

/// The platform operator (the delivery team).
pub struct OperatorCaller;

impl OperatorCaller {
    pub const ACTOR: &'static str = "operator";
}

impl FromRequestParts<AppState> for OperatorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match identify(parts, state).await? {
            Caller::Operator => Ok(Self),
            Caller::Workspace(_) => Err(ApiError::forbidden(
                "This is an operator endpoint: call it with the operator token, not a workspace API key.",
            )),
        }
    }
}

/// The client's address: the TCP peer, or, when the peer is one of the
/// operator's trusted proxies (`SENDWELL_TRUSTED_PROXIES`), the nearest
/// address in `X-Forwarded-For` that is not itself a trusted proxy. The
/// header is never believed from anyone else: a client could name any
/// address there and escape every per-client limit.
pub fn client_ip(
    trusted: &[crate::config::IpNet],
    headers: &axum::http::HeaderMap,
    peer: std::net::SocketAddr,
) -> String {
    let is_trusted = |ip: std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer.ip()) {
        return peer.ip().to_string();
    }
    let forwarded: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(**ip))
        .or(forwarded.first())
        .copied()
        .unwrap_or(peer.ip())
        .to_string()
}
