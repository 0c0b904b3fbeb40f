//! The pages behind the signed links in mail: unsubscribe, opt-in, click
//! tracking and the open pixel. No login, no cookies: the token is the
//! authority, and a token that does not check gives a bare 404.
//!
//! Unsubscribe follows RFC 8058: `POST /u/{token}` with the body
//! `List-Unsubscribe=One-Click` unsubscribes at once and answers 200, with no
//! redirect. A bare `GET` never changes anything, for unsubscribe and opt-in
//! alike: mail scanners and link previews follow links, so a person's
//! choice is taken only from a POST (a button press on the page, or a mail
//! client's one-click request).

use crate::extract::client_ip;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use sendwell_core::consent::{ConsentAction, ConsentMethod, Evidence, NewConsentEvent, Topic};
use sendwell_core::text::escape_html;
use sendwell_core::{AttributeName, ContactId, EmailAddress, MessageId, WorkspaceId};
use sendwell_mail::{LinkClaims, Purpose};
use sendwell_store::{LinkEvent, MessageRecord, Workspace};
use std::net::SocketAddr;

mod preferences;
mod subscribe;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/u/{token}", get(unsubscribe_page).post(unsubscribe))
        .route(
            "/p/{token}",
            get(preferences::page).post(preferences::choose),
        )
        .route(
            "/f/{token}",
            get(subscribe::page)
                .post(subscribe::submit)
                .options(subscribe::preflight),
        )
        .route(
            "/confirm/{token}",
            get(subscribe::confirm_page).post(subscribe::confirm),
        )
        .route("/report/{token}", get(report_page).post(report))
        .route("/team/{token}", get(team_page).post(team_confirm))
        .route("/optin/{token}", get(opt_in_page).post(opt_in))
        .route("/c/{token}", get(click))
        .route("/o/{token}", get(open))
        // Every page behind a link takes a few form fields at most: a
        // request no bigger than this is read before it is refused.
        .layer(axum::extract::DefaultBodyLimit::max(LINK_BODY_LIMIT))
}

/// The largest body a page behind a link reads.
const LINK_BODY_LIMIT: usize = 64 * 1024;

/// Recorded events per link and hour; more are answered but not recorded.
const LINK_EVENTS_PER_HOUR: u32 = 10;
/// Requests for one link in a minute: a person follows a link a few times.
const REQUESTS_PER_LINK_MINUTE: u32 = 300;
/// Link requests from one client address in a minute. Mail providers
/// fetch open pixels and send one-click unsubscribes for all their users
/// from a few addresses, so this is far above what one person does.
const REQUESTS_PER_CLIENT_MINUTE: u32 = 6_000;

/// A page, or the page that answers instead: a token that does not check,
/// a limit reached, a failure.
type PageResult = Result<Response, Response>;

/// A request to a page behind a link: the token in its path, and who
/// asks (the client's address and headers), with the server's state.
pub struct LinkRequest {
    state: AppState,
    token: String,
    headers: HeaderMap,
    peer: SocketAddr,
}

impl FromRequestParts<AppState> for LinkRequest {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(token) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            state: state.clone(),
            token,
            headers: parts.headers.clone(),
            peer,
        })
    }
}

// The `Err` of these is the page to answer with instead: made at most once
// a request, so its size costs nothing.
#[allow(clippy::result_large_err)]
impl LinkRequest {
    fn client_ip(&self) -> String {
        client_ip(self.state.trusted_proxies(), &self.headers, self.peer)
    }

    /// `Err(429)` when this link, or this client, has been followed too
    /// often this minute.
    fn throttle(&self) -> Result<(), Response> {
        self.throttle_as(false)
    }

    /// [`Self::throttle`] for a path everyone shares (a public form's id):
    /// its per-link count is kept per client, so one client that floods it
    /// does not close it to everyone else.
    fn throttle_shared(&self) -> Result<(), Response> {
        self.throttle_as(true)
    }

    fn throttle_as(&self, shared: bool) -> Result<(), Response> {
        let (state, token) = (&self.state, self.token.as_str());
        let minute = std::time::Duration::from_secs(60);
        let ip = self.client_ip();
        let link = token.get(..token.len().min(200)).unwrap_or(token);
        let link = if shared {
            format!("{link}|{ip}")
        } else {
            link.to_owned()
        };
        if state.allow("link-token", &link, REQUESTS_PER_LINK_MINUTE, minute)
            && state.allow("link-client", &ip, REQUESTS_PER_CLIENT_MINUTE, minute)
        {
            return Ok(());
        }
        let mut r = html(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "<p>This link was opened too often in the last minute. Please wait a minute and try again.</p>",
        );
        r.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("60"),
        );
        Err(r)
    }

    /// The prologue of every page behind a link: the rate limits, then the
    /// token for `purpose` and what it names.
    async fn admit(&self, purpose: Purpose) -> Result<Target, Response> {
        self.throttle()?;
        target(&self.state, &self.token, purpose).await
    }

    /// The workspace and address a team confirmation link names, once the
    /// rate limits let the request through.
    fn admit_team(&self) -> Result<(WorkspaceId, String), Response> {
        self.throttle()?;
        team_claims(&self.state, &self.token).ok_or_else(gone)
    }

    /// The claims of a tracking link (click or open), once the rate limits
    /// let the request through.
    fn admit_tracking(&self, purpose: Purpose) -> Result<LinkClaims, Response> {
        self.throttle()?;
        self.state
            .links()
            .verify(&self.token, purpose, self.state.store.now())
            .ok_or_else(gone)
    }

    /// Records a click or open for the workspace the link names.
    async fn record_tracking(&self, claims: &LinkClaims, kind: &str, url: Option<&str>) {
        if let Ok(ws) = WorkspaceId::parse(&claims.workspace) {
            let ip = self.client_ip();
            record(&self.state, &ws, claims, kind, url, &ip).await;
        }
    }
}

/// The answer to any token that does not check: nothing more is said.
fn gone() -> Response {
    html(
        StatusCode::NOT_FOUND,
        "Link not valid",
        "<p>This link is not valid.</p>",
    )
}

/// The pages' only style sheet; the CSP allows it by its hash, so no inline
/// style or script of anyone else's can run.
const STYLE: &str = "body{font-family:Arial,Helvetica,sans-serif;max-width:520px;margin:48px auto;padding:0 16px;color:#222;line-height:1.5}\
button{font-size:16px;padding:10px 20px;border:0;border-radius:4px;background:#1a73e8;color:#fff;cursor:pointer}\
label{display:block;margin:6px 0}.hp{position:absolute;left:-5000px}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n{}\n</body>\n</html>\n",
        escape_html(title),
        body
    )
}

/// The Content-Security-Policy of every page sendwell serves: nothing
/// loads but the page's own style sheet (by its hash), no script at all,
/// forms post only back here, and no other site may frame the page (a
/// framed opt-in button could be clicked by a trick).
pub(crate) fn content_security_policy() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; frame-ancestors 'none'"
        )
    })
}

/// The headers every HTML page carries.
pub(crate) fn page_headers() -> [(header::HeaderName, &'static str); 6] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, content_security_policy()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ]
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    (status, page_headers(), Html(page(title, body))).into_response()
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().filter(|c| !c.is_control()).take(1000).collect())
}

/// What a checked token names, loaded: the workspace, the contact and the message.
struct Target {
    claims: LinkClaims,
    workspace: Workspace,
    contact: ContactId,
    message: Option<MessageRecord>,
}

async fn target(state: &AppState, token: &str, purpose: Purpose) -> Result<Target, Response> {
    let Some(claims) = state.links().verify(token, purpose, state.store.now()) else {
        return Err(gone());
    };
    let ws = WorkspaceId::parse(&claims.workspace).map_err(|_| gone())?;
    let contact = ContactId::parse(&claims.contact).map_err(|_| gone())?;
    let workspace = state
        .store
        .workspace(&ws)
        .await
        .map_err(internal)?
        .ok_or_else(gone)?;
    let message = match MessageId::parse(&claims.message) {
        Ok(id) => state.store.message(&ws, &id).await.map_err(internal)?,
        Err(_) => None,
    };
    Ok(Target {
        claims,
        workspace,
        contact,
        message,
    })
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "link page failed");
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "<p>Something went wrong on our side. Please try again in a moment.</p>",
    )
}

/// Records what a recipient did; a failure is logged, never shown to them.
async fn record(
    state: &AppState,
    ws: &WorkspaceId,
    claims: &LinkClaims,
    kind: &str,
    url: Option<&str>,
    ip: &str,
) {
    // One link followed over and over (a scanner, a script) is recorded a
    // few times an hour, not once a request: the table stays the size of
    // what people did.
    let key = format!(
        "{kind}|{}|{}|{}",
        claims.message,
        claims.contact,
        url.unwrap_or("")
    );
    if !state.allow(
        "link-event",
        &key,
        LINK_EVENTS_PER_HOUR,
        std::time::Duration::from_secs(3600),
    ) {
        return;
    }
    let event = LinkEvent {
        workspace_id: ws,
        message_id: &claims.message,
        contact_id: &claims.contact,
        kind,
        url,
        ip: Some(ip),
        user_agent: None,
    };
    if let Err(e) = state.store.record_link_event(&event).await {
        tracing::warn!(error = %e, kind, "a link event was not recorded");
        return;
    }
    // Opens and clicks as webhooks, for the endpoints that asked for them
    // (unsubscribes and opt-ins send their own, with more to say).
    if !matches!(kind, "open" | "click") {
        return;
    }
    match state.store.wants_webhook(ws, kind).await {
        Ok(true) => {
            let data = serde_json::json!({
                "message_id": claims.message,
                "contact_id": claims.contact,
                "url": url,
            });
            crate::webhooks::emit(state, ws, kind, vec![data]).await;
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, kind, "no webhook for a link event"),
    }
}

// ---- unsubscribe -------------------------------------------------------------------

/// The unsubscribe page: who is asking, and a button to confirm.
pub async fn unsubscribe_page(link: LinkRequest) -> PageResult {
    let state = &link.state;
    let t = link.admit(Purpose::Unsubscribe).await?;
    let name = escape_html(&t.workspace.name);
    let topics = preferences::shown_topics(state, &t.workspace.id)
        .await
        .map_err(internal)?;
    let mut body = format!(
        "<h1>Unsubscribe</h1>\n<p>Stop receiving emails from <strong>{name}</strong>?</p>\n\
         <form method=\"post\">\n<input type=\"hidden\" name=\"confirm\" value=\"all\">\n\
         <button type=\"submit\">Unsubscribe from all emails</button>\n</form>\n"
    );
    if topics.len() > 1 {
        body.push_str("<h2>Or choose what to stop</h2>\n<form method=\"post\">\n");
        for topic in &topics {
            let key = escape_html(&topic.key);
            let name = escape_html(&topic.name);
            body.push_str(&format!(
                "<label><input type=\"checkbox\" name=\"topic\" value=\"{key}\"> {name}</label>\n"
            ));
        }
        body.push_str(
            "<button type=\"submit\">Unsubscribe from the chosen topics</button>\n</form>\n",
        );
    }
    body.push_str(&format!(
        "<p><a href=\"/p/{}\">Choose which emails you get</a></p>\n",
        escape_html(&link.token)
    ));
    Ok(html(
        StatusCode::OK,
        &format!("Unsubscribe from {}", t.workspace.name),
        &body,
    ))
}

/// How long an unsubscribe's write may take before the request goes to the
/// journal instead (and is applied from there).
const UNSUBSCRIBE_WRITE_LIMIT: std::time::Duration = std::time::Duration::from_millis(800);

/// Unsubscribes: one-click (RFC 8058) or the page's button. The answer
/// comes within a second whatever the database is doing: a write that
/// takes longer is journaled to disk and applied from there.
pub async fn unsubscribe(link: LinkRequest, body: Bytes) -> PageResult {
    let state = &link.state;
    let t = link.admit(Purpose::Unsubscribe).await?;
    // Only the two bodies an unsubscribe takes: a bare or odd POST (a
    // scanner, a prefetch) changes nothing.
    if !is_unsubscribe_form(&body) {
        return Err(html(
            StatusCode::BAD_REQUEST,
            "Nothing was changed",
            "<p>This address unsubscribes with the button on its page, or with a mail client's one-click request (<code>List-Unsubscribe=One-Click</code>). Nothing was changed.</p>",
        ));
    }
    let ip = link.client_ip();
    let request = crate::journal::PendingUnsubscribe {
        token: link.token.clone(),
        body: String::from_utf8_lossy(&body).chars().take(4096).collect(),
        ip,
        user_agent: user_agent(&link.headers),
        received_at: state.store.now().millis(),
        mailto: false,
    };
    if let Err(e) = apply_or_journal(state, &t, request).await {
        tracing::error!(error = %e, "unsubscribe: neither written nor journaled");
        return Err(internal("the unsubscribe could not be recorded"));
    }
    let name = escape_html(&t.workspace.name);
    Ok(html(
        StatusCode::OK,
        "Unsubscribed",
        &format!(
            "<h1>You are unsubscribed</h1>\n<p>{name} will not send you these emails any more.</p>"
        ),
    ))
}

/// Applies one journaled unsubscribe; `Ok` when it stuck (or its token no
/// longer names anything: there is nothing left to do).
pub async fn replay_unsubscribe(
    state: &AppState,
    entry: &crate::journal::PendingUnsubscribe,
) -> Result<(), String> {
    if state
        .links()
        .verify(&entry.token, Purpose::Unsubscribe, state.store.now())
        .is_none()
    {
        return Ok(());
    }
    let t = target(state, &entry.token, Purpose::Unsubscribe)
        .await
        .map_err(|r| format!("the link's target could not be read ({})", r.status()))?;
    apply_unsubscribe(
        state,
        &t,
        entry.body.as_bytes(),
        &entry.ip,
        entry.user_agent.clone(),
        entry.mailto,
    )
    .await
    .map_err(|e| e.to_string())
}

/// Applies an unsubscribe, or journals it when its write does not finish
/// within [`UNSUBSCRIBE_WRITE_LIMIT`] (it is applied from the journal then).
/// `Err` only when it could be neither written nor journaled.
async fn apply_or_journal(
    state: &AppState,
    t: &Target,
    request: crate::journal::PendingUnsubscribe,
) -> Result<(), String> {
    let applied = tokio::time::timeout(
        UNSUBSCRIBE_WRITE_LIMIT,
        apply_unsubscribe(
            state,
            t,
            request.body.as_bytes(),
            &request.ip,
            request.user_agent.clone(),
            request.mailto,
        ),
    )
    .await;
    match applied {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "unsubscribe: the write failed; journaled to retry")
        }
        Err(_) => tracing::info!("unsubscribe: the write waits; journaled"),
    }
    let journal = state.journal();
    tokio::task::spawn_blocking(move || journal.append(&request))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Whether a POST body is one of the two an unsubscribe takes: RFC 8058's
/// `List-Unsubscribe=One-Click`, or the confirmation page's own form.
fn is_unsubscribe_form(body: &[u8]) -> bool {
    form_urlencoded(body).iter().any(|(k, v)| {
        (k == "List-Unsubscribe" && v == "One-Click")
            || (k == "confirm" && v == "all")
            || k == "topic"
    })
}

/// Unsubscribes the person a mailto unsubscribe (RFC 2369) names by its
/// signed token: every topic, and the address suppressed, as one-click
/// does. `Ok(false)` when the token does not check.
pub async fn unsubscribe_by_mail(
    state: &AppState,
    token: &str,
    peer: &str,
) -> Result<bool, String> {
    let Ok(t) = target(state, token, Purpose::Unsubscribe).await else {
        return Ok(false);
    };
    let request = crate::journal::PendingUnsubscribe {
        token: token.to_owned(),
        body: String::new(),
        ip: peer.to_owned(),
        user_agent: None,
        received_at: state.store.now().millis(),
        mailto: true,
    };
    apply_or_journal(state, &t, request).await?;
    Ok(true)
}

/// Records an unsubscribe in the ledger and the suppression list; `mailto`
/// when it came by mail (every topic, like one-click).
async fn apply_unsubscribe(
    state: &AppState,
    t: &Target,
    body: &[u8],
    ip: &str,
    user_agent: Option<String>,
    mailto: bool,
) -> Result<(), sendwell_store::StoreError> {
    let asked = Asked::read(body, mailto);
    let all_topics = state.store.workspace_topics(&t.workspace.id).await?;
    let (topics, everything) = asked.topics(t, all_topics);
    let events = asked.opt_outs(t, &topics, asked.evidence(t, ip, user_agent));
    let suppress = address_to_suppress(state, t, everything).await?;
    let recorded = state
        .store
        .unsubscribe(
            &t.workspace.id,
            events,
            t.message.as_ref().map(|m| m.topic.as_str()),
            suppress.as_ref().map(|(h, e)| (e.as_str(), h.as_str())),
            if asked.one_click {
                "one_click"
            } else {
                "unsubscribe_link"
            },
        )
        .await?;
    if let Some(events) = recorded.filter(|e| !e.is_empty()) {
        announce_unsubscribe(state, t, &events, everything, &asked, ip).await;
    }
    Ok(())
}

/// The contact's address, keyed hash first, to suppress when it leaves
/// `everything`.
async fn address_to_suppress(
    state: &AppState,
    t: &Target,
    everything: bool,
) -> Result<Option<(String, String)>, sendwell_store::StoreError> {
    let contact = state.store.contact(&t.workspace.id, &t.contact).await?;
    Ok(match (everything, contact.and_then(|c| c.email)) {
        (true, Some(email)) => EmailAddress::parse(&email)
            .ok()
            .map(|e| (state.address_hash(&e), email)),
        _ => None,
    })
}

/// Tells the workspace's webhooks, and counts the unsubscribe in the
/// message's stats.
async fn announce_unsubscribe(
    state: &AppState,
    t: &Target,
    events: &[sendwell_core::consent::ConsentEvent],
    everything: bool,
    asked: &Asked,
    ip: &str,
) {
    let topics: Vec<String> = events.iter().map(|e| e.topic.to_string()).collect();
    let data = serde_json::json!({
        "contact_id": t.contact.as_str(),
        "message_id": t.message.as_ref().map(|m| m.id.to_string()),
        "topics": topics,
        "everything": everything,
        "method": asked.method.as_str(),
    });
    crate::webhooks::emit(state, &t.workspace.id, "unsubscribe", vec![data]).await;
    // Counted once: a second press changes nothing, so the message's
    // stats do not move either.
    record(state, &t.workspace.id, &t.claims, "unsubscribe", None, ip).await;
}

/// What an unsubscribe asks for: how it came, and the topics chosen on
/// the page (none: all of them).
struct Asked {
    mailto: bool,
    one_click: bool,
    method: ConsentMethod,
    chosen: Vec<String>,
}

impl Asked {
    fn read(body: &[u8], mailto: bool) -> Self {
        let form = form_urlencoded(body);
        let one_click = mailto
            || form
                .iter()
                .any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click");
        let method = if mailto {
            ConsentMethod::Mailto
        } else if one_click {
            ConsentMethod::OneClick
        } else {
            ConsentMethod::UnsubscribeLink
        };
        let chosen = form
            .into_iter()
            .filter(|(k, _)| k == "topic")
            .map(|(_, v)| v)
            .collect();
        Self {
            mailto,
            one_click,
            method,
            chosen,
        }
    }

    /// The topics to leave, and whether that is every topic (then the
    /// address is suppressed too). One-click and "all" leave every topic;
    /// chosen topics leave only those the workspace has.
    fn topics(&self, t: &Target, all_topics: Vec<String>) -> (Vec<String>, bool) {
        if self.one_click || self.chosen.is_empty() {
            let mut all = all_topics;
            if let Some(m) = &t.message {
                if !all.contains(&m.topic) && m.kind.is_bulk() {
                    all.push(m.topic.clone());
                }
            }
            if all.is_empty() {
                all.push(sendwell_core::consent::DEFAULT_TOPIC.to_owned());
            }
            return (all, true);
        }
        let mut picked: Vec<String> = self
            .chosen
            .iter()
            .filter(|c| all_topics.contains(c))
            .cloned()
            .collect();
        picked.sort();
        picked.dedup();
        let everything = picked.len() == all_topics.len();
        (picked, everything)
    }

    /// An opt-out of each topic that parses, with the evidence.
    fn opt_outs(&self, t: &Target, topics: &[String], evidence: Evidence) -> Vec<NewConsentEvent> {
        topics
            .iter()
            .filter_map(|topic| Topic::parse(topic).ok())
            .map(|topic| NewConsentEvent {
                contact_id: t.contact.clone(),
                action: ConsentAction::OptOut,
                topic,
                method: self.method,
                actor: "recipient".to_owned(),
                evidence: evidence.clone(),
            })
            .collect()
    }

    /// The evidence kept with the opt-out: where it came from and what the
    /// person used.
    fn evidence(&self, t: &Target, ip: &str, user_agent: Option<String>) -> Evidence {
        let wording = if self.mailto {
            "An unsubscribe mail to the List-Unsubscribe mailto address (RFC 2369)"
        } else if self.one_click {
            "List-Unsubscribe=One-Click (RFC 8058) from the mail client"
        } else {
            "Unsubscribe button on the unsubscribe page"
        };
        Evidence {
            ip: Some(ip.to_owned()),
            user_agent,
            message_id: t.message.as_ref().map(|m| m.id.to_string()),
            subject: t
                .message
                .as_ref()
                .map(|m| m.subject.chars().take(998).collect()),
            wording: Some(wording.to_owned()),
            ..Evidence::default()
        }
        .checked()
        .unwrap_or_default()
    }
}

/// `application/x-www-form-urlencoded` pairs; anything unreadable is skipped.
fn form_urlencoded(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The first value of a form field.
fn form_value<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- report ----------------------------------------------------------------------------

/// The page behind "Report this email" in every footer: what is wrong,
/// and (if the person wants an answer) how to reach them.
pub async fn report_page(link: LinkRequest) -> PageResult {
    let t = link.admit(Purpose::Unsubscribe).await?;
    let name = escape_html(&t.workspace.name);
    let body = format!(
        "<h1>Report this email</h1>\n<p>Tell the operator of this sending service what is wrong with the email \
         you received from <strong>{name}</strong>: you did not ask for it, it is a scam, it is offensive. \
         Reporting also stops all email from {name} to you.</p>\n\
         <form method=\"post\">\n<p><label for=\"reason\">What is wrong with it?</label><br>\n\
         <textarea id=\"reason\" name=\"reason\" rows=\"5\" cols=\"50\" maxlength=\"2000\" required></textarea></p>\n\
         <p><label for=\"reporter\">Your email address, if you want an answer (optional)</label><br>\n\
         <input id=\"reporter\" name=\"reporter\" type=\"email\" maxlength=\"320\" autocomplete=\"email\"></p>\n\
         <button type=\"submit\">Send the report</button>\n</form>\n"
    );
    Ok(html(StatusCode::OK, "Report this email", &body))
}

/// Files the report of the page's form: proven by the token, so it is a
/// complaint (the sender stops mailing the person, and its rate counts it).
pub async fn report(link: LinkRequest, body: Bytes) -> PageResult {
    let state = &link.state;
    let t = link.admit(Purpose::Unsubscribe).await?;
    let ip = link.client_ip();
    if !state.allow_report(&ip) {
        return Err(html(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many reports",
            "<p>This address sent many reports in the last hour; please try again later.</p>",
        ));
    }
    let (Some(reason), reporter) = report_form(&body) else {
        return Err(html(
            StatusCode::BAD_REQUEST,
            "Say what is wrong",
            "<p>The report needs a few words (at most 2,000 characters) on what is wrong with the email. Go back and write them.</p>",
        ));
    };
    let delivery_id = format!("{}.{}", t.claims.message, t.claims.contact);
    let delivery = state
        .store
        .delivery_ref(&delivery_id)
        .await
        .map_err(internal)?
        .ok_or_else(gone)?;
    match super::reports::file(state.clone(), delivery, &reason, reporter.as_deref(), &ip, true)
        .await
    {
        Ok(_) => Ok(html(
            StatusCode::OK,
            "Thank you",
            &format!(
                "<h1>Thank you</h1>\n<p>Your report reached the operator, and {} will not email you again.</p>",
                escape_html(&t.workspace.name)
            ),
        )),
        Err(e) => {
            tracing::warn!(error = ?e, "a report from the footer link was not filed");
            Err(html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Not filed",
                "<p>The report could not be filed just now; please try again in a minute.</p>",
            ))
        }
    }
}

/// The report form's reason (when given in at most 2,000 characters) and
/// the reporter's address (when at most 320 characters, on one line).
fn report_form(body: &[u8]) -> (Option<String>, Option<String>) {
    let form = form_urlencoded(body);
    let field = |name: &str| {
        form_value(&form, name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let reason = field("reason").filter(|r| r.chars().count() <= 2000);
    let reporter =
        field("reporter").filter(|r| r.chars().count() <= 320 && !r.chars().any(char::is_control));
    (reason, reporter)
}

// ---- team addresses --------------------------------------------------------------------

/// The workspace and address a team confirmation link names.
fn team_claims(state: &AppState, token: &str) -> Option<(WorkspaceId, String)> {
    let claims = state
        .links()
        .verify(token, Purpose::Team, state.store.now())?;
    let ws = WorkspaceId::parse(&claims.workspace).ok()?;
    Some((ws, claims.url?))
}

/// The page behind a team address's confirmation link: one button, so a
/// scanner following the link confirms nothing.
pub async fn team_page(link: LinkRequest) -> PageResult {
    let state = &link.state;
    let (ws, email) = link.admit_team()?;
    let name = state
        .store
        .workspace(&ws)
        .await
        .map_err(internal)?
        .ok_or_else(gone)?
        .name;
    let body = format!(
        "<h1>Receive test mails</h1>\n<p>Confirm that <strong>{}</strong> receives the test mails of <strong>{}</strong> \
         (drafts its team sends to check them before they go out).</p>\n\
         <form method=\"post\">\n<input type=\"hidden\" name=\"confirm\" value=\"yes\">\n\
         <button type=\"submit\">Confirm</button>\n</form>\n<p><small>If you did not expect this, ignore it: nothing will be sent to you.</small></p>",
        escape_html(&email),
        escape_html(&name)
    );
    Ok(html(StatusCode::OK, "Confirm test mails", &body))
}

pub async fn team_confirm(link: LinkRequest, body: Bytes) -> PageResult {
    let state = &link.state;
    let (ws, email) = link.admit_team()?;
    if !form_urlencoded(&body)
        .iter()
        .any(|(k, v)| k == "confirm" && v == "yes")
    {
        return Err(html(
            StatusCode::BAD_REQUEST,
            "Not confirmed",
            "<p>Press the button on the confirmation page. Nothing was changed.</p>",
        ));
    }
    match state.store.confirm_team_address(&ws, &email).await {
        Ok(true) => Ok(html(
            StatusCode::OK,
            "Confirmed",
            &format!(
                "<h1>Confirmed</h1>\n<p>{} now receives the team's test mails.</p>",
                escape_html(&email)
            ),
        )),
        Ok(false) => Err(gone()),
        Err(e) => Err(internal(e)),
    }
}

// ---- opt-in --------------------------------------------------------------------------

/// The opt-in page: the button's wording and one confirming press.
pub async fn opt_in_page(link: LinkRequest) -> PageResult {
    let state = &link.state;
    let t = link.admit(Purpose::OptIn).await?;
    let wording = t
        .message
        .as_ref()
        .and_then(opt_in_button)
        .ok_or_else(gone)?;
    let name = escape_html(&t.workspace.name);
    let expires = state.store.now().millis() / 1000 + OPT_IN_FORM_SECONDS;
    let nonce = state.links().form_nonce(&link.token, expires);
    let body = format!(
        "<h1>{name}</h1>\n<p>Confirm that you want to receive emails from <strong>{name}</strong>.</p>\n\
         <form method=\"post\">\n<input type=\"hidden\" name=\"nonce\" value=\"{nonce}\">\n\
         <input type=\"hidden\" name=\"expires\" value=\"{expires}\">\n\
         <button type=\"submit\">{}</button>\n</form>\n\
         <p><small>You can unsubscribe at any time from the link in every email.</small></p>",
        escape_html(&wording)
    );
    Ok(html(
        StatusCode::OK,
        &format!("Confirm: {}", t.workspace.name),
        &body,
    ))
}

/// How long the opt-in page's form may be sent after the page was shown.
const OPT_IN_FORM_SECONDS: i64 = 3600;

/// The wording of an opt-in request's button, as the recipient saw it;
/// `None` for any other message, or one without a button: it has no
/// working opt-in link.
fn opt_in_button(m: &MessageRecord) -> Option<String> {
    if m.kind != sendwell_core::MessageKind::OptInRequest {
        return None;
    }
    button_wording(m)
}

/// The wording of the message's opt-in button, as the recipient saw it.
fn button_wording(m: &MessageRecord) -> Option<String> {
    let source: sendwell_mail::TemplateSource = serde_json::from_value(m.template.clone()).ok()?;
    sendwell_mail::template::opt_in_wording(&source)
}

/// Records the opt-in with its evidence, sets the message's opt-in
/// attribute, and sends the person on.
pub async fn opt_in(link: LinkRequest, body: Bytes) -> PageResult {
    let state = &link.state;
    let t = link.admit(Purpose::OptIn).await?;
    let message = t.message.as_ref().ok_or_else(gone)?;
    let wording = opt_in_button(message).ok_or_else(gone)?;
    if !form_is_fresh(state, &link.token, &body) {
        return Err(html(
            StatusCode::FORBIDDEN,
            "Please confirm again",
            "<p>This confirmation is too old or did not come from the confirmation page. Open the link in the email again and press the button.</p>",
        ));
    }
    let (Ok(topic), Ok(attribute)) = (
        Topic::parse(&message.topic),
        AttributeName::parse(&message.opt_in_attribute),
    ) else {
        return Err(gone());
    };
    let ip = link.client_ip();
    // Pressing again (or replaying the form) records nothing new, and
    // renders nothing for its evidence.
    let latest = current_choice(state, &t, &topic).await.map_err(internal)?;
    if latest == Some(ConsentAction::OptIn) {
        return Ok(thanks(state, &t).await);
    }
    let evidence = opt_in_evidence(state, &t, message, wording, &ip, &link.headers).await;
    let event = NewConsentEvent {
        contact_id: t.contact.clone(),
        action: ConsentAction::OptIn,
        topic,
        method: ConsentMethod::OptInLink,
        actor: opt_in_actor(state, &t, message).await?,
        evidence,
    };
    confirm(state, &t, event, &attribute).await?;
    record(state, &t.workspace.id, &t.claims, "opt_in", None, &ip).await;
    Ok(thanks(state, &t).await)
}

/// Who pressed the button, as the ledger names them. A mail the capture
/// transport only stored never reached the person: whoever pressed its
/// button is not known to be them, and the ledger says so.
async fn opt_in_actor(
    state: &AppState,
    t: &Target,
    message: &MessageRecord,
) -> Result<String, Response> {
    let captured = state
        .store
        .delivery_was_captured(message.id.as_str(), t.contact.as_str())
        .await
        .map_err(internal)?;
    let actor = if captured {
        "captured-mail-reader"
    } else {
        "recipient"
    };
    Ok(actor.to_owned())
}

/// Only a press of the page's own button counts: the form carries a nonce
/// the page made for this token, an hour at most before.
fn form_is_fresh(state: &AppState, token: &str, body: &[u8]) -> bool {
    let form = form_urlencoded(body);
    match (
        form_value(&form, "nonce"),
        form_value(&form, "expires").and_then(|e| e.parse::<i64>().ok()),
    ) {
        (Some(nonce), Some(expires)) => {
            state
                .links()
                .check_form_nonce(token, expires, nonce, state.store.now())
        }
        _ => false,
    }
}

/// The evidence of an opt-in: what this person saw, the subject rendered
/// for them (the button's wording is literal text, never Liquid), and
/// where the press came from.
async fn opt_in_evidence(
    state: &AppState,
    t: &Target,
    message: &MessageRecord,
    wording: String,
    ip: &str,
    headers: &HeaderMap,
) -> Evidence {
    let rendered =
        crate::delivery::render_for_contact(state, &t.workspace, message, &t.contact, false, false)
            .await;
    let subject = match rendered {
        Ok(Some(mail)) => mail.subject,
        _ => message.subject.clone(),
    };
    Evidence {
        ip: Some(ip.to_owned()),
        user_agent: user_agent(headers),
        message_id: Some(message.id.to_string()),
        subject: Some(subject.chars().take(998).collect()),
        wording: Some(wording),
        ..Evidence::default()
    }
    .checked()
    .unwrap_or_default()
}

/// The person's latest choice for `topic`, if any.
async fn current_choice(
    state: &AppState,
    t: &Target,
    topic: &Topic,
) -> Result<Option<ConsentAction>, sendwell_store::StoreError> {
    let events = state
        .store
        .contact_consent_events(&t.workspace.id, &t.contact)
        .await?;
    Ok(events
        .iter()
        .rev()
        .find(|e| e.topic == *topic)
        .map(|e| e.action))
}

/// Appends the opt-in and sets the attribute, then tells the workspace's
/// webhooks; the page to show instead when that cannot be done.
async fn confirm(
    state: &AppState,
    t: &Target,
    event: NewConsentEvent,
    attribute: &AttributeName,
) -> Result<(), Response> {
    let confirmed = state
        .store
        .confirm_opt_in(&t.workspace.id, event, attribute)
        .await;
    match confirmed {
        Ok(Ok(Some(appended))) => {
            let data = serde_json::json!({
                "contact_id": t.contact.as_str(),
                "message_id": t.message.as_ref().map(|m| m.id.to_string()),
                "topic": appended.topic.to_string(),
                "method": "opt_in_link",
            });
            crate::webhooks::emit(state, &t.workspace.id, "opt_in", vec![data]).await;
            Ok(())
        }
        Ok(Ok(None)) => Err(gone()),
        Ok(Err(kind)) => {
            tracing::warn!(attribute = %attribute, kind = kind.as_str(), "opt-in attribute has another type");
            Err(html(
                StatusCode::CONFLICT,
                "Not recorded",
                "<p>Your choice could not be recorded because of a setting of the sender. Please contact them.</p>",
            ))
        }
        Err(e) => Err(internal(e)),
    }
}

/// The answer to a confirmed opt-in: the workspace's landing page, or ours.
async fn thanks(state: &AppState, t: &Target) -> Response {
    match state.store.opt_in_landing_url(&t.workspace.id).await {
        Ok(Some(url)) => Redirect::to(&url).into_response(),
        Ok(None) => {
            let name = escape_html(&t.workspace.name);
            html(
                StatusCode::OK,
                "Thank you",
                &format!("<h1>Thank you</h1>\n<p>You will now receive emails from {name}. You can unsubscribe at any time.</p>"),
            )
        }
        Err(e) => internal(e),
    }
}

// ---- click and open --------------------------------------------------------------------

/// Redirects to the URL signed into the token, and only to that.
pub async fn click(link: LinkRequest) -> PageResult {
    let claims = link.admit_tracking(Purpose::Click)?;
    let url = claims.url.clone().ok_or_else(gone)?;
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://"))
        || url.contains(['\r', '\n'])
    {
        return Err(gone());
    }
    link.record_tracking(&claims, "click", Some(&url)).await;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, url.as_str()),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
    )
        .into_response())
}

/// A transparent 1x1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

pub async fn open(link: LinkRequest) -> PageResult {
    let claims = link.admit_tracking(Purpose::Open)?;
    link.record_tracking(&claims, "open", None).await;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PIXEL,
    )
        .into_response())
}
