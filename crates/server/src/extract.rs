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
        let limit = req.extensions().get::<BodyLimit>().map(|l| l.0);
        let endpoint = format!("{} {}", req.method(), req.uri().path());
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                let limit = match limit {
                    Some(n) => format!("at most {} KiB ({n} bytes)", n / 1024),
                    None => "less than was sent".to_owned(),
                };
                let hint = if endpoint.ends_with("/contacts/batch") {
                    " Send fewer contacts per batch (at most 1000), or import a CSV file with POST /v1/imports."
                } else {
                    " Shorten the body, or split it across requests."
                };
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    "The body is too large",
                    format!("{endpoint} takes a JSON body of {limit}; this one is larger.{hint}"),
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
    // A byte order mark is not JSON, but editors on Windows write one, and
    // it says nothing that UTF-8 does not.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        use serde_json::error::Category;
        let pointer = json_pointer(e.path());
        let e = e.into_inner();
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request(format!("The body is not valid JSON: {e}."))
            }
            Category::Data => {
                let detail = humane(&e.to_string());
                let at = if pointer.is_empty() {
                    String::new()
                } else {
                    format!(" (at {pointer})")
                };
                let message =
                    format!("The JSON body does not have the expected shape{at}: {detail}.");
                if pointer.is_empty() {
                    ApiError::invalid(message)
                } else {
                    ApiError::invalid_field(&pointer, message)
                }
            }
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("The body is not valid JSON: {e}.")))?;
    Ok(value)
}

/// The JSON pointer (RFC 6901) of a deserializer's path: `contacts[3].email`
/// becomes `/contacts/3/email`.
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('/');
                out.push_str(&escape_pointer(key));
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// One JSON pointer token (RFC 6901): `~` and `/` escaped.
pub(crate) fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// serde's wording without the names of our Rust types, which mean nothing
/// to a caller: "expected struct MessageRequest" says "expected an object".
pub fn humane(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let hit = [
            (
                "data did not match any variant of untagged enum ",
                "the value has none of the accepted forms",
            ),
            ("expected struct variant ", "expected an object"),
            ("expected unit struct ", "expected null"),
            ("expected tuple struct ", "expected a list"),
            ("expected struct ", "expected an object"),
            ("expected enum ", "expected one of the documented values"),
            (
                "expected variant identifier",
                "expected one of the documented values",
            ),
            ("expected field identifier", "expected a field name"),
        ]
        .into_iter()
        .filter_map(|(from, to)| rest.find(from).map(|at| (at, from, to)))
        .min_by_key(|(at, _, _)| *at);
        let Some((at, from, to)) = hit else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        out.push_str(to);
        rest = &rest[at + from.len()..];
        // The type name follows the phrase (except after "identifier").
        if !from.ends_with("identifier") {
            let end = rest
                .find(|c: char| {
                    !(c.is_alphanumeric() || c == '_' || c == ':' || c == '<' || c == '>')
                })
                .unwrap_or(rest.len());
            rest = &rest[end..];
        }
    }
}

/// The body limit of the routes a request reaches, for the 413's wording.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A query string, with errors as problem documents.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| {
                let text = e.body_text();
                let text = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                ApiError::bad_request(format!("The query string is not valid: {}.", humane(text)))
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

/// A caller acting inside one workspace: a program with one of its API
/// keys, or a member signed in to the console. Handlers take either, so
/// the console calls the same handlers, with the same rules and errors.
pub struct WorkspaceCaller {
    workspace: WorkspaceId,
    role: Role,
    by: CalledBy,
}

enum CalledBy {
    Key(sendwell_core::ApiKeyId),
    Member(Box<sendwell_store::Account>),
}

impl WorkspaceCaller {
    fn key(key: ApiKeyRecord) -> Self {
        Self {
            workspace: key.workspace_id,
            role: key.role,
            by: CalledBy::Key(key.id),
        }
    }

    /// A member of `workspace` with `role`, signed in to the console.
    pub fn member(account: sendwell_store::Account, workspace: WorkspaceId, role: Role) -> Self {
        Self {
            workspace,
            role,
            by: CalledBy::Member(Box::new(account)),
        }
    }

    pub fn workspace(&self) -> &WorkspaceId {
        &self.workspace
    }

    /// The actor recorded in audit logs and the ledger.
    pub fn actor(&self) -> String {
        match &self.by {
            CalledBy::Key(id) => format!("key:{id}"),
            CalledBy::Member(account) => account.actor(),
        }
    }

    /// How an acceptance of the guidelines by this caller is recorded.
    pub fn accepted_through(&self) -> sendwell_store::AcceptedThrough<'_> {
        match &self.by {
            CalledBy::Key(id) => sendwell_store::AcceptedThrough::Key(id),
            CalledBy::Member(account) => sendwell_store::AcceptedThrough::Member(account),
        }
    }

    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.role.allows(permission) {
            return Ok(());
        }
        let needed = Role::least_for(permission);
        let or_higher = if needed == Role::Admin {
            ""
        } else {
            " or higher"
        };
        Err(ApiError::forbidden(match &self.by {
            CalledBy::Key(_) => format!(
                "This needs an API key with the {} role{or_higher}; this key has the {} role.",
                needed.as_str(),
                self.role.as_str()
            ),
            CalledBy::Member(_) => format!(
                "This needs the {} role{or_higher}; you are a {} in this workspace. Ask an admin of the workspace.",
                needed.as_str(),
                self.role.as_str()
            ),
        }))
    }
}

impl FromRequestParts<AppState> for WorkspaceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match identify(parts, state).await? {
            Caller::Workspace(key) => Ok(Self::key(key)),
            Caller::Operator => Err(ApiError::forbidden(
                "This endpoint acts inside one workspace: call it with one of the workspace's API keys. \
                 The operator token works on the operator endpoints only.",
            )),
        }
    }
}

/// What a handler needs of its workspace caller, named in its signature:
/// `Ws<can::Send>` is a caller whose role may send, with the app state. A
/// caller without the permission is refused before the handler runs, so a
/// handler cannot forget to check.
pub use sendwell_core::can;

/// A workspace caller allowed `P`, and the app state.
pub struct Ws<P> {
    pub state: AppState,
    pub caller: WorkspaceCaller,
    need: std::marker::PhantomData<P>,
}

impl<P: can::Need> FromRequestParts<AppState> for Ws<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = WorkspaceCaller::from_request_parts(parts, state).await?;
        Self::checked(state.clone(), caller)
    }
}

/// The platform operator (the delivery team): the operator token, or a
/// person of the team signed in to the operator console. An `auditor`
/// reads and changes nothing.
pub struct OperatorCaller {
    actor: String,
    role: sendwell_core::OperatorRole,
}

impl OperatorCaller {
    /// The actor the operator token is recorded as.
    pub const TOKEN_ACTOR: &'static str = "operator";

    /// The holder of the operator token: may do everything.
    pub fn token() -> Self {
        Self {
            actor: Self::TOKEN_ACTOR.to_owned(),
            role: sendwell_core::OperatorRole::Operator,
        }
    }

    /// A person of the delivery team, signed in to the operator console.
    pub fn person(operator: &sendwell_store::Operator) -> Self {
        Self {
            actor: operator.actor(),
            role: operator.role,
        }
    }

    /// Who audit logs and notes name as having acted.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn role(&self) -> sendwell_core::OperatorRole {
        self.role
    }

    /// Refuses a change by an auditor, who may only read.
    pub fn require_act(&self) -> Result<(), ApiError> {
        if self.role.may_act() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "This changes something, and auditors may only read. Ask an operator of the platform to do it.",
            ))
        }
    }
}

impl FromRequestParts<AppState> for OperatorCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match identify(parts, state).await? {
            Caller::Operator => Ok(Self::token()),
            Caller::Workspace(_) => Err(ApiError::forbidden(
                "This is an operator endpoint: call it with the operator token, not a workspace API key.",
            )),
        }
    }
}

/// An operator who may change things (not an auditor), and the app state.
pub struct Acting {
    pub state: AppState,
    pub operator: OperatorCaller,
}

impl FromRequestParts<AppState> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let operator = OperatorCaller::from_request_parts(parts, state).await?;
        Self::checked(state.clone(), operator)
    }
}

/// A caller an API handler takes already checked ([`Ws`], [`Acting`]).
pub trait Checked: Sized {
    type Caller;
    fn checked(state: AppState, caller: Self::Caller) -> Result<Self, ApiError>;
}

/// `caller` with the state, when its role allows `P`.
impl<P: can::Need> Checked for Ws<P> {
    type Caller = WorkspaceCaller;
    fn checked(state: AppState, caller: WorkspaceCaller) -> Result<Self, ApiError> {
        caller.require(P::PERMISSION)?;
        Ok(Self {
            state,
            caller,
            need: std::marker::PhantomData,
        })
    }
}

/// `operator` with the state, unless an auditor.
impl Checked for Acting {
    type Caller = OperatorCaller;
    fn checked(state: AppState, operator: OperatorCaller) -> Result<Self, ApiError> {
        operator.require_act()?;
        Ok(Self { state, operator })
    }
}

/// Calls an API handler for someone the console signed in, checking what
/// the handler needs as its extractor would for an API client.
pub async fn call<C, T, F, Fut>(
    state: AppState,
    caller: C::Caller,
    handler: F,
) -> Result<T, ApiError>
where
    C: Checked,
    F: FnOnce(C) -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    handler(C::checked(state, caller)?).await
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
