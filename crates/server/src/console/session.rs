//! Console sessions: a random id in an `HttpOnly`, `SameSite=Lax` cookie
//! (`Secure` when the public URL is https), its digest in the store, idle
//! and absolute expiry, and a CSRF token per session that every form
//! carries. The signed-in member's role is read again on every request, so
//! a role change or a removal takes effect at once.

use super::{redirect, Reply};
use crate::accounts::token_hash;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sendwell_core::secret::{constant_time_eq, hmac_sha256, random_bytes, to_hex};
use sendwell_core::{Permission, Role};
use sendwell_store::{Account, Workspace};
use serde::de::DeserializeOwned;

pub const COOKIE: &str = "sendwell_session";
/// The cookie's name behind an https public URL: the `__Host-` prefix makes
/// browsers refuse it unless it is Secure, for this host only and for the
/// whole site, so a sibling subdomain cannot plant one.
pub const SECURE_COOKIE: &str = "__Host-sendwell_session";
/// A session unused this long ends.
pub const IDLE_MINUTES: i64 = 12 * 60;
/// A session ends this long after sign-in, used or not.
pub const ABSOLUTE_DAYS: i64 = 7;
/// How stale `last_seen_at` may get before a request refreshes it.
const TOUCH_MS: i64 = 60_000;
/// The largest form the console takes (uploads have their own limit).
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// Whose session a cookie holds: a workspace member's, or an operator's.
/// The two never share a cookie, a table or a CSRF token, so a signed-in
/// member's browser holds nothing that opens an operator page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Realm {
    Member,
    Operator,
}

impl Realm {
    /// The cookie's name on this server: behind an https public URL with
    /// the `__Host-` prefix, which makes browsers refuse it unless it is
    /// Secure, for this host only and for the whole site, so a sibling
    /// subdomain cannot plant one.
    fn cookie_name(self, state: &AppState) -> &'static str {
        let secure = state.public_url().starts_with("https://");
        match (self, secure) {
            (Self::Member, false) => COOKIE,
            (Self::Member, true) => SECURE_COOKIE,
            (Self::Operator, false) => OPERATOR_COOKIE,
            (Self::Operator, true) => SECURE_OPERATOR_COOKIE,
        }
    }

    /// How long a session lasts after sign-in, used or not, in seconds.
    pub fn absolute_seconds(self) -> i64 {
        match self {
            Self::Member => ABSOLUTE_DAYS * 86_400,
            Self::Operator => OPERATOR_ABSOLUTE_HOURS * 3600,
        }
    }

    /// The store's name for this realm's sessions.
    pub fn stored(self) -> sendwell_store::SessionRealm {
        match self {
            Self::Member => sendwell_store::SessionRealm::Member,
            Self::Operator => sendwell_store::SessionRealm::Operator,
        }
    }

    /// How long a session may go unused, in seconds.
    pub fn idle_seconds(self) -> i64 {
        match self {
            Self::Member => IDLE_MINUTES * 60,
            Self::Operator => OPERATOR_IDLE_MINUTES * 60,
        }
    }
}

/// The operator console's session cookie (and its name behind https).
pub const OPERATOR_COOKIE: &str = "sendwell_operator";
pub const SECURE_OPERATOR_COOKIE: &str = "__Host-sendwell_operator";
/// An operator session unused this long ends.
pub const OPERATOR_IDLE_MINUTES: i64 = 30;
/// An operator session ends this long after sign-in.
pub const OPERATOR_ABSOLUTE_HOURS: i64 = 12;

/// The session cookie's value in a request, if any.
pub fn cookie_value(state: &AppState, realm: Realm, headers: &HeaderMap) -> Option<String> {
    let name = realm.cookie_name(state);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| crate::accounts::looks_like_token(v))
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(state: &AppState, realm: Realm, id: &str) -> HeaderValue {
    cookie_header(state, realm, id, realm.absolute_seconds())
}

/// The `Set-Cookie` value that ends a session in the browser.
pub fn clear_cookie(state: &AppState, realm: Realm) -> HeaderValue {
    cookie_header(state, realm, "", 0)
}

fn cookie_header(state: &AppState, realm: Realm, value: &str, max_age: i64) -> HeaderValue {
    let name = realm.cookie_name(state);
    let secure = if name.starts_with("__Host-") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or(HeaderValue::from_static(""))
}

/// A new session id (the cookie's value) and its digest.
pub fn new_session_id() -> (String, String) {
    let id = to_hex(&random_bytes::<32>());
    let hash = token_hash(&id);
    (id, hash)
}

/// The CSRF token of a session: derived from its digest with the server's
/// key, so it needs no storage and cannot be guessed from outside.
pub fn csrf_token(state: &AppState, realm: Realm, session_hash: &str) -> String {
    let mac = match realm {
        Realm::Member => hmac_sha256(&state.console_key(), &[session_hash.as_bytes()]),
        Realm::Operator => hmac_sha256(
            &state.console_key(),
            &[b"operator-csrf", session_hash.as_bytes()],
        ),
    };
    to_hex(&mac[..16])
}

/// Whether `given` is the CSRF token of the session `session_hash`.
pub fn constant_time_csrf(state: &AppState, realm: Realm, session_hash: &str, given: &str) -> bool {
    constant_time_eq(
        given.as_bytes(),
        csrf_token(state, realm, session_hash).as_bytes(),
    )
}

/// Whether a POST came from a page of this site: browsers say so in
/// `Sec-Fetch-Site` and `Origin`; a request from another site is refused
/// even before its CSRF token is looked at.
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    // Browsers say where a request comes from in Sec-Fetch-Site whatever
    // the page's referrer policy (a page that sends no Referer posts with
    // `Origin: null`), so it decides when it is there.
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin" | "none") => return true,
        Some(_) => return false,
        None => {}
    }
    // Older browsers: the Origin, when they send one.
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin == state.public_url()
        || origin.strip_prefix("http://") == Some(host)
        || origin.strip_prefix("https://") == Some(host)
}

/// What every signed-in page's forms carry.
pub trait Csrf {
    fn csrf(&self) -> &str;
}

impl Csrf for Signed {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A signed-in member acting in one workspace.
pub struct Signed {
    pub account: Account,
    pub workspace: Workspace,
    pub role: Role,
    /// How many workspaces the account belongs to (a switcher when > 1).
    pub workspaces: usize,
    pub session_hash: String,
    pub csrf: String,
}

impl Signed {
    pub fn can(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }

    /// This member as a caller of the API's handlers, which the console's
    /// pages call for everything they change.
    pub fn caller(&self) -> crate::extract::WorkspaceCaller {
        crate::extract::WorkspaceCaller::member(
            self.account.clone(),
            self.workspace.id.clone(),
            self.role,
        )
    }

    /// The actor the audit log and the ledger record.
    pub fn actor(&self) -> String {
        self.account.actor()
    }

    /// Refuses what the member's role does not allow, with a page that
    /// says which role it needs.
    pub fn require(&self, permission: Permission) -> Result<(), Response> {
        // The API's check, with its words: one place says which role an
        // action needs.
        self.caller()
            .require(permission)
            .map_err(|e| super::home::api_error(self, e))
    }
}

/// Where to send someone who is not signed in: the sign-in page, which
/// brings them back to `path` afterwards.
fn to_sign_in(parts: &Parts) -> Response {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    if parts.method == axum::http::Method::GET && path != "/" {
        redirect(&format!("/login?next={}", super::url_encode(path)))
    } else {
        redirect("/login")
    }
}

/// A stored session of one realm, as [`live`] checks it.
pub trait RealmSession: Sized {
    const REALM: Realm;
    fn load(
        state: &AppState,
        hash: &str,
    ) -> impl std::future::Future<Output = sendwell_store::Result<Option<Self>>> + Send;
    fn created_at(&self) -> sendwell_core::Timestamp;
    fn last_seen_at(&self) -> sendwell_core::Timestamp;
    /// Whether the session may be trusted apart from its age.
    fn trusted(&self) -> bool {
        true
    }
}

impl RealmSession for sendwell_store::ConsoleSession {
    const REALM: Realm = Realm::Member;
    async fn load(state: &AppState, hash: &str) -> sendwell_store::Result<Option<Self>> {
        state.store.console_session(hash).await
    }
    fn created_at(&self) -> sendwell_core::Timestamp {
        self.created_at
    }
    fn last_seen_at(&self) -> sendwell_core::Timestamp {
        self.last_seen_at
    }
}

/// The session the request's cookie names, when it is live: one idle or
/// too old (or no longer trusted) is ended, and one in use is noted as
/// used at most once a minute.
pub async fn live<S: RealmSession>(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, S)>, Response> {
    let realm = S::REALM;
    let Some(id) = cookie_value(state, realm, headers) else {
        return Ok(None);
    };
    let hash = token_hash(&id);
    let Some(session) = S::load(state, &hash).await.map_err(super::internal)? else {
        return Ok(None);
    };
    let now = state.store.now().millis();
    let unused = now - session.last_seen_at().millis();
    let idle = unused > realm.idle_seconds() * 1000;
    let old = now - session.created_at().millis() > realm.absolute_seconds() * 1000;
    if idle || old || !session.trusted() {
        state
            .store
            .end_session(realm.stored(), &hash)
            .await
            .map_err(super::internal)?;
        return Ok(None);
    }
    if unused > TOUCH_MS {
        state
            .store
            .touch_session(realm.stored(), &hash)
            .await
            .map_err(super::internal)?;
    }
    Ok(Some((hash, session)))
}

/// The member session the request's cookie names, when it is live.
pub async fn live_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, sendwell_store::ConsoleSession)>, Response> {
    live(state, headers).await
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Reply<Self> {
        let Some((hash, session)) = live_session(state, &parts.headers).await? else {
            return Err(to_sign_in(parts));
        };
        let Some(ws) = session.workspace_id.clone() else {
            return Err(redirect("/workspaces"));
        };
        let memberships = state
            .store
            .memberships(&session.account.id)
            .await
            .map_err(super::internal)?;
        let Some(membership) = memberships.iter().find(|m| m.workspace_id == ws) else {
            // Removed from this workspace since signing in.
            return Err(redirect("/workspaces"));
        };
        let role = membership.role;
        let workspace = state
            .store
            .workspace(&ws)
            .await
            .map_err(super::internal)?
            .ok_or_else(|| redirect("/workspaces"))?;
        Ok(Self {
            csrf: csrf_token(state, Realm::Member, &hash),
            account: session.account,
            workspace,
            role,
            workspaces: memberships.len(),
            session_hash: hash,
        })
    }
}

/// A form posted by a signed-in member: the origin checked, the CSRF token
/// checked, the body parsed (at most [`MAX_FORM_BYTES`]).
pub struct Posted<T> {
    pub who: Signed,
    pub form: T,
}

/// Reads an urlencoded body into `T`, or a page that says what is wrong.
pub async fn read_form<T: DeserializeOwned>(req: Request) -> Result<T, Response> {
    let bytes = form_bytes(req.into_body(), &Nobody).await?;
    parse_form(&bytes, &Nobody)
}

/// Whom the page refusing a form is shown to: a member or an operator in
/// their console's frame, or someone not signed in.
pub trait Refused {
    fn page(&self, status: StatusCode, title: &str, detail: &str) -> Response;
}

/// Someone not signed in (a sign-in or setup form).
pub struct Nobody;

impl Refused for Nobody {
    fn page(&self, status: StatusCode, title: &str, detail: &str) -> Response {
        super::plain_error(status, title, detail)
    }
}

impl Refused for Signed {
    fn page(&self, status: StatusCode, title: &str, detail: &str) -> Response {
        super::error_page(self, status, title, detail)
    }
}

/// A form's bytes, at most [`MAX_FORM_BYTES`], or the page that says it
/// is too large.
pub async fn form_bytes(
    body: axum::body::Body,
    who: &impl Refused,
) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            let detail = format!(
                "A form may send at most {} KiB; shorten the text and send it again.",
                MAX_FORM_BYTES / 1024
            );
            who.page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form is too large",
                &detail,
            )
        })
}

/// A form's fields, or the page that says they are not as expected.
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8], who: &impl Refused) -> Result<T, Response> {
    serde_urlencoded::from_bytes(bytes).map_err(|e| {
        let detail =
            format!("The form's fields were not as expected ({e}); reload the page and try again.");
        who.page(
            StatusCode::BAD_REQUEST,
            "The form could not be read",
            &detail,
        )
    })
}

/// Refuses a form whose CSRF token is not `expected`, the token of the
/// session whose page sent it.
pub fn check_csrf(bytes: &[u8], expected: &str, who: &impl Refused) -> Result<(), Response> {
    let token: CsrfField = serde_urlencoded::from_bytes(bytes).unwrap_or(CsrfField {
        csrf: String::new(),
    });
    if constant_time_eq(token.csrf.as_bytes(), expected.as_bytes()) {
        return Ok(());
    }
    Err(who.page(
        StatusCode::FORBIDDEN,
        "The form has expired",
        "The form was not sent from a page of this session (its security token does not match). Go back, reload the page and send it again.",
    ))
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        if !same_origin(state, &parts.headers) {
            return Err(forbidden_origin());
        }
        let who = Signed::from_request_parts(&mut parts, state).await?;
        let bytes = form_bytes(body, &who).await?;
        check_csrf(&bytes, &who.csrf, &who)?;
        let form = parse_form(&bytes, &who)?;
        Ok(Self { who, form })
    }
}

pub fn forbidden_origin() -> Response {
    super::plain_error(
        StatusCode::FORBIDDEN,
        "Refused",
        "This form was sent from another site. Open sendwell's own page and send it from there.",
    )
    .into_response()
}

/// Drops expired sessions and spent or expired one-time links every ten
/// minutes, until `stop`: a session is otherwise dropped only when its
/// cookie comes back.
pub async fn sweep(state: AppState, stop: tokio_util::sync::CancellationToken) {
    loop {
        let now = state.store.now().millis();
        let idle = sendwell_core::Timestamp::from_millis(now - IDLE_MINUTES * 60_000);
        let old = sendwell_core::Timestamp::from_millis(now - ABSOLUTE_DAYS * 86_400_000);
        if let Err(e) = state.store.expire_sessions(idle, old).await {
            tracing::warn!(error = %e, "console: expired sessions not dropped");
        }
        let day_ago = sendwell_core::Timestamp::from_millis(now - 86_400_000);
        if let Err(e) = state.store.prune_account_tokens(day_ago).await {
            tracing::warn!(error = %e, "console: spent links not dropped");
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
        }
    }
}
