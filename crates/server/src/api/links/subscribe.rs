//! The public side of hosted sign-up forms (double opt-in): the form's
//! page (`GET /f/{form}`), its endpoint (`POST /f/{form}`, a page's form
//! or JSON from a listed origin, with CORS), and the confirmation page
//! behind the link of the mail it sends (`/confirm/{token}`).
//!
//! Against bots, without a third party: a honeypot field people never
//! see, a minimum fill time on the hosted page (its form carries a signed
//! issue time; a snippet on the workspace's own page cannot, and relies on
//! the rest), limits per client and per address, and above all the
//! confirmation: nothing is recorded about a person until the owner of
//! the address presses the button. A suppressed address gets no mail. A
//! bot's or a repeated sign-up gets the same answer as a real one, so the
//! form tells no one whether an address is known.

// The `Err` of these is the page to answer with instead (as in `links`).
#![allow(clippy::result_large_err)]

use super::{
    form_is_fresh, form_urlencoded, gone, html, internal, user_agent, LinkRequest, PageResult,
};
use crate::api::forms::{form_inputs, HONEYPOT};
use crate::state::AppState;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sendwell_core::consent::{ConsentAction, ConsentMethod, Evidence, NewConsentEvent, Topic};
use sendwell_core::text::escape_html;
use sendwell_core::{gate, EmailAddress, Timestamp};
use sendwell_mail::mime::{Mailbox, OutgoingMail};
use sendwell_mail::{LinkClaims, Purpose};
use sendwell_store::{Confirmed, ContactInput, FormRecord, Submission};
use serde_json::{Map, Value};

/// How long the hosted page's form may be sent after it was shown.
const PAGE_FORM_SECONDS: i64 = 86_400;
/// A person takes at least this long to fill in the hosted page.
const MIN_FILL_SECONDS: i64 = 3;
/// How long a confirmation link works.
const CONFIRM_DAYS: i64 = 7;
/// Sign-ups one client address may send in an hour, over all forms.
const PER_CLIENT_HOUR: u32 = 20;
/// Confirmation mails to one address: one an hour, three a day.
const PER_ADDRESS_HOUR: i64 = 1;
const PER_ADDRESS_DAY: i64 = 3;
/// The largest sign-up body read.
const MAX_BODY: usize = 16 * 1024;
/// Confirmation mails one workspace's forms send in 24 hours.
const PER_WORKSPACE_DAY: i64 = 5_000;

/// The form behind `/f/{form}`, or a bare 404.
async fn form_of(link: &LinkRequest) -> Result<FormRecord, Response> {
    link.throttle_shared()?;
    match link.state.store.form(&link.token).await {
        Ok(Some(f)) => Ok(f),
        Ok(None) => Err(gone()),
        Err(e) => Err(internal(e)),
    }
}

pub async fn page(link: LinkRequest) -> PageResult {
    let form = form_of(&link).await?;
    let state = &link.state;
    let Some(workspace) = state
        .store
        .workspace(&form.workspace_id)
        .await
        .map_err(internal)?
    else {
        return Err(gone());
    };
    let expires = state.store.now().millis() / 1000 + PAGE_FORM_SECONDS;
    let nonce = state.links().form_nonce(&link.token, expires);
    let body = format!(
        "<h1>Sign up for emails from {}</h1>\n<form method=\"post\">\n{}\
         <input type=\"hidden\" name=\"nonce\" value=\"{nonce}\">\n\
         <input type=\"hidden\" name=\"expires\" value=\"{expires}\">\n</form>\n\
         <p><small>We send you a mail to confirm first: nothing is sent before you confirm.</small></p>",
        escape_html(&workspace.name),
        form_inputs(&form, Some("hp"))
    );
    Ok(html(
        StatusCode::OK,
        &format!("Sign up: {}", workspace.name),
        &body,
    ))
}

/// The CORS headers for a listed origin, none for any other.
fn cors(form: &FormRecord, headers: &HeaderMap, response: &mut Response) {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return;
    };
    if !form.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
        return;
    }
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}

/// The CORS preflight of a script's JSON post.
pub async fn preflight(link: LinkRequest) -> PageResult {
    let form = form_of(&link).await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    cors(&form, &link.headers, &mut r);
    Ok(r)
}

/// A sign-up as sent: form fields or a JSON object, as text values.
fn read_fields(headers: &HeaderMap, body: &[u8]) -> Option<(Map<String, Value>, bool)> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    if json {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return None;
        };
        return Some((map, true));
    }
    let mut map = Map::new();
    for (k, v) in form_urlencoded(body) {
        map.entry(k).or_insert(Value::String(v));
    }
    Some((map, false))
}

fn text_of<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m str> {
    map.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The answer to a sign-up taken (or quietly not): JSON for a script,
/// the form's redirect or our page for a browser.
fn taken(form: &FormRecord, json: bool) -> Response {
    if json {
        return (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({"status": "confirmation_sent",
                "detail": "Check your inbox: the subscription starts when you confirm from the mail we sent."})),
        )
            .into_response();
    }
    match &form.redirect_url {
        Some(url) => Redirect::to(url).into_response(),
        None => html(
            StatusCode::OK,
            "Check your inbox",
            "<h1>Check your inbox</h1>\n<p>We sent you a mail with a button to confirm. Nothing is sent to you before you press it.</p>\n\
             <p><small>If you signed up a moment ago, the first mail is on its way: look in your spam folder too.</small></p>",
        ),
    }
}

fn refused(json: bool, status: StatusCode, title: &str, detail: &str) -> Response {
    if json {
        return (
            status,
            axum::Json(serde_json::json!({"title": title, "detail": detail})),
        )
            .into_response();
    }
    html(
        status,
        title,
        &format!(
            "<h1>{}</h1>\n<p>{}</p>",
            escape_html(title),
            escape_html(detail)
        ),
    )
}

/// Whether the hosted page's form was filled by a person: `None` when it
/// carries no issue time (a snippet), `Some(false)` when too fast or stale.
fn filled_by_a_person(state: &AppState, token: &str, fields: &Map<String, Value>) -> Option<bool> {
    let expires = text_of(fields, "expires")?;
    let Ok(expires) = expires.parse::<i64>() else {
        return Some(false);
    };
    let nonce = text_of(fields, "nonce").unwrap_or("");
    let now = state.store.now();
    if !state.links().check_form_nonce(token, expires, nonce, now) {
        return Some(false);
    }
    let shown = expires - PAGE_FORM_SECONDS;
    Some(now.millis() / 1000 - shown >= MIN_FILL_SECONDS)
}

pub async fn submit(link: LinkRequest, body: Bytes) -> PageResult {
    let form = form_of(&link).await?;
    let state = &link.state;
    let read = if body.len() <= MAX_BODY {
        read_fields(&link.headers, &body)
    } else {
        None
    };
    let mut answer = match read {
        Some((fields, json)) => match sign_up(state, &link, &form, &fields, json).await {
            Ok(r) | Err(r) => r,
        },
        None => refused(
            false,
            StatusCode::BAD_REQUEST,
            "Not a sign-up",
            "Send the form's fields (email, and the others it asks for) as a form or a JSON object of at most 16 KB.",
        ),
    };
    // A listed origin's script reads refusals too.
    cors(&form, &link.headers, &mut answer);
    Ok(answer)
}

async fn sign_up(
    state: &AppState,
    link: &LinkRequest,
    form: &FormRecord,
    fields: &Map<String, Value>,
    json: bool,
) -> Result<Response, Response> {
    let ip = link.client_ip();
    if !state.allow(
        "form-client",
        &client_bucket(&ip),
        PER_CLIENT_HOUR,
        std::time::Duration::from_secs(3600),
    ) {
        return Err(refused(
            json,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ups",
            "This connection sent many sign-ups in the last hour. Please try again later.",
        ));
    }
    let Some(email) = text_of(fields, "email").and_then(|e| EmailAddress::parse(e).ok()) else {
        return Err(refused(
            json,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Check the address",
            "That does not look like an email address: check it and send the form again.",
        ));
    };
    // A bot: the same answer as a person, and nothing done.
    if text_of(fields, HONEYPOT).is_some()
        || filled_by_a_person(state, &link.token, fields) == Some(false)
    {
        return Ok(taken(form, json));
    }
    let Some(workspace) = state
        .store
        .workspace(&form.workspace_id)
        .await
        .map_err(internal)?
    else {
        return Err(gone());
    };
    if !gate::evaluate(workspace.gate_input(state.store.now())).can_send() {
        return Err(refused(
            json,
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-ups are closed for now",
            "This sender cannot take sign-ups at the moment. Please try again later.",
        ));
    }
    if !quiet_enough(state, form, &email).await.map_err(internal)? {
        return Ok(taken(form, json));
    }
    let mut values = Map::new();
    for f in &form.fields {
        if let Some(v) = text_of(fields, f) {
            values.insert(f.clone(), Value::String(v.chars().take(255).collect()));
        }
    }
    let submission = Submission {
        id: sendwell_store::Store::new_submission_id(),
        form_id: form.id.clone(),
        workspace_id: form.workspace_id.clone(),
        email: email.as_str().to_owned(),
        fields: Value::Object(values),
        ip: Some(ip),
        user_agent: user_agent(&link.headers),
        submitted_at: state.store.now(),
        confirmed_at: None,
    };
    let (subject, raw) = confirmation_mail(state, &workspace, form, &submission)?;
    state
        .store
        .record_submission(&submission, email.key(), (&subject, &raw))
        .await
        .map_err(internal)?;
    Ok(taken(form, json))
}

/// The key of the per-client limit: the address, or for IPv6 its /64 (one
/// subscriber line holds a whole /64).
fn client_bucket(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => ip.to_owned(),
    }
}

/// Whether a confirmation may go to `email` now: not suppressed, and
/// within the per-address limits and the workspace's daily cap.
async fn quiet_enough(
    state: &AppState,
    form: &FormRecord,
    email: &EmailAddress,
) -> Result<bool, sendwell_store::StoreError> {
    let ws = &form.workspace_id;
    if state
        .store
        .suppression(ws, &state.address_hash(email))
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let now = state.store.now().millis();
    let today = state
        .store
        .workspace_submissions_since(ws, Timestamp::from_millis(now - 86_400_000))
        .await?;
    if today >= PER_WORKSPACE_DAY {
        tracing::warn!(form = %form.id, "a workspace's forms reached their daily cap of confirmation mails");
        return Ok(false);
    }
    let key = email.key();
    let hour = state
        .store
        .submissions_since(ws, key, Timestamp::from_millis(now - 3_600_000))
        .await?;
    let day = state
        .store
        .submissions_since(ws, key, Timestamp::from_millis(now - 86_400_000))
        .await?;
    Ok(hour < PER_ADDRESS_HOUR && day < PER_ADDRESS_DAY)
}

/// The confirmation mail: subject and RFC 5322 text, with the link.
fn confirmation_mail(
    state: &AppState,
    workspace: &sendwell_store::Workspace,
    form: &FormRecord,
    s: &Submission,
) -> Result<(String, String), Response> {
    let now = s.submitted_at;
    let token = state.links().sign(&LinkClaims {
        purpose: Purpose::Subscribe,
        workspace: workspace.id.to_string(),
        contact: String::new(),
        message: s.id.clone(),
        expires: Some(now.millis() / 1000 + CONFIRM_DAYS * 86_400),
        url: None,
    });
    let link = format!("{}{}{token}", state.public_url(), Purpose::Subscribe.path());
    let name = workspace.name.replace(['\r', '\n'], " ");
    let subject = format!("Confirm your subscription to {name}");
    let text = format!(
        "Someone, we hope you, asked to receive emails from {name} at this address, agreeing to:\r\n\r\n\
         {wording}\r\n\r\n\
         To confirm, open this link and press the button (it works for {CONFIRM_DAYS} days):\r\n{link}\r\n\r\n\
         If you did not ask for this, ignore this mail: nothing more will be sent to you.\r\n\r\n\
         {name}, {address}\r\n",
        wording = form.wording.replace('\n', "\r\n"),
        address = workspace.physical_address.as_deref().unwrap_or(""),
    );
    let from = Mailbox {
        name: Some(name.clone()),
        address: format!("no-reply@{}", state.bounce_domain()),
    };
    let to = Mailbox {
        name: None,
        address: s.email.clone(),
    };
    let message_id = format!("confirm.{}@{}", s.id, state.public_host());
    let raw = OutgoingMail {
        from: &from,
        to: &to,
        reply_to: None,
        subject: &subject,
        date: now,
        message_id: &message_id,
        headers: &[],
        text: &text,
        html: None,
    }
    .build()
    .map_err(internal)?;
    Ok((subject, String::from_utf8_lossy(&raw).into_owned()))
}

/// The submission a confirmation link names, once the link checks.
async fn submission_of(link: &LinkRequest) -> Result<Submission, Response> {
    link.throttle()?;
    let state = &link.state;
    let claims = state
        .links()
        .verify(&link.token, Purpose::Subscribe, state.store.now())
        .ok_or_else(gone)?;
    match state.store.submission(&claims.message).await {
        Ok(Some(s)) if s.workspace_id.as_str() == claims.workspace => Ok(s),
        Ok(_) => Err(gone()),
        Err(e) => Err(internal(e)),
    }
}

/// The page behind the confirmation link: one button, so a mail scanner
/// that follows the link confirms nothing.
pub async fn confirm_page(link: LinkRequest) -> PageResult {
    let s = submission_of(&link).await?;
    let state = &link.state;
    let Some(workspace) = state
        .store
        .workspace(&s.workspace_id)
        .await
        .map_err(internal)?
    else {
        return Err(gone());
    };
    let expires = state.store.now().millis() / 1000 + super::OPT_IN_FORM_SECONDS;
    let nonce = state.links().form_nonce(&link.token, expires);
    let name = escape_html(&workspace.name);
    Ok(html(
        StatusCode::OK,
        &format!("Confirm: {}", workspace.name),
        &format!(
            "<h1>{name}</h1>\n<p>Confirm that {} wants to receive emails from <strong>{name}</strong>.</p>\n\
             <form method=\"post\">\n<input type=\"hidden\" name=\"nonce\" value=\"{nonce}\">\n\
             <input type=\"hidden\" name=\"expires\" value=\"{expires}\">\n\
             <button type=\"submit\">Yes, subscribe me</button>\n</form>",
            escape_html(&s.email)
        ),
    ))
}

/// The contact a confirmed sign-up writes: its address (checked, as an
/// API upsert checks it) and the form's fields, `name` as the name.
async fn contact_of(
    state: &AppState,
    s: &Submission,
    email: EmailAddress,
) -> Result<ContactInput, Response> {
    let mut attributes = s.fields.as_object().cloned().unwrap_or_default();
    let name = attributes
        .remove("name")
        .and_then(|v| v.as_str().map(str::to_owned));
    let traps = state.store.trap_list().await.map_err(internal)?;
    let mut check = state.checker().offline(email.as_str());
    crate::api::addresses::flag_trap(state, &mut check, &traps);
    Ok(ContactInput {
        email_hash: Some(state.address_hash(&email)),
        address: Some(crate::address::stamp(&check)),
        email: Some(email),
        external_id: None,
        name,
        attributes,
        created_at: None,
        last_seen_at: None,
        known_new: false,
    })
}

/// The evidence of a double opt-in: the form's wording and address, the
/// confirmation's client, and the sign-up's client and time.
fn both_steps(link: &LinkRequest, form: &FormRecord, s: &Submission) -> Evidence {
    Evidence {
        ip: Some(link.client_ip()),
        user_agent: user_agent(&link.headers),
        source_url: Some(format!("{}/f/{}", link.state.public_url(), form.id)),
        wording: Some(form.wording.clone()),
        submitted_ip: s.ip.clone(),
        submitted_user_agent: s.user_agent.clone(),
        submitted_at: Some(s.submitted_at.to_rfc3339()),
        ..Evidence::default()
    }
    .checked()
    .unwrap_or_default()
}

pub async fn confirm(link: LinkRequest, body: Bytes) -> PageResult {
    let s = submission_of(&link).await?;
    let state = &link.state;
    if !form_is_fresh(state, &link.token, &body) {
        return Err(html(
            StatusCode::FORBIDDEN,
            "Please confirm again",
            "<p>This confirmation is too old or did not come from the confirmation page. Open the link in the email again and press the button.</p>",
        ));
    }
    // The form may be gone since: the sign-up was made under its wording,
    // which the ledger needs, so a removed form's sign-up is not confirmed.
    let form = match state.store.form(&s.form_id).await.map_err(internal)? {
        Some(f) => f,
        None => return Err(gone()),
    };
    let Ok(email) = EmailAddress::parse(&s.email) else {
        return Err(gone());
    };
    let Ok(topic) = Topic::parse(&form.topic) else {
        return Err(gone());
    };
    let input = contact_of(state, &s, email).await?;
    let evidence = both_steps(&link, &form, &s);
    // On the capture transport the mail never left: whoever pressed its
    // button is not known to be the address's owner, and the ledger says so.
    let actor = if state.delivery().transport.kind == crate::transport::TransportKind::Capture {
        "captured-mail-reader"
    } else {
        "recipient"
    };
    let event = |contact| NewConsentEvent {
        contact_id: contact,
        action: ConsentAction::DoubleOptInConfirmed,
        topic,
        method: ConsentMethod::DoubleOptIn,
        actor: actor.to_owned(),
        evidence,
    };
    match state.store.confirm_submission(&s, &input, event).await {
        Ok(Confirmed::Now(contact, appended)) => {
            let data = serde_json::json!({
                "contact_id": contact.as_str(),
                "topic": appended.topic.to_string(),
                "method": ConsentMethod::DoubleOptIn.as_str(),
                "form_id": form.id,
            });
            crate::webhooks::emit(state, &s.workspace_id, "opt_in", vec![data]).await;
        }
        Ok(Confirmed::Already) => {}
        Ok(Confirmed::Refused(errors)) => {
            tracing::warn!(form = %form.id, problems = errors.len(), "a sign-up's fields no longer fit the attributes");
            return Err(html(
                StatusCode::CONFLICT,
                "Not recorded",
                "<p>Your confirmation could not be recorded because of a setting of the sender. Please contact them.</p>",
            ));
        }
        Err(e) => return Err(internal(e)),
    }
    Ok(match &form.redirect_url {
        Some(url) => Redirect::to(url).into_response(),
        None => html(
            StatusCode::OK,
            "Subscribed",
            "<h1>You are subscribed</h1>\n<p>Thank you. You can unsubscribe at any time from the link in every email.</p>",
        ),
    })
}
