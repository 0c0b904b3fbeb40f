//! Team addresses and test sends. A workspace declares its own people's
//! addresses; each confirms by a link mailed to it; a message can then be
//! sent to them as a test: marked in its subject, its links inert (signed
//! with a preview key), and never counted in the message's stats or the
//! workspace's rates.

use super::parse_email;
use crate::api::messages::load as load_message;
use crate::delivery::{prepare, render_off_runtime_as, OwnedContact};
use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use sendwell_core::EmailAddress;
use sendwell_mail::mime::{Mailbox, OutgoingMail};
use sendwell_mail::{LinkClaims, Purpose};
use sendwell_store::{MessageRecord, Workspace};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(remove))
        .routes(routes!(test_send))
        .routes(routes!(test_mails))
        .routes(routes!(test_mail_raw))
}

/// Team confirmation links work this long.
const CONFIRM_DAYS: i64 = 7;
/// Addresses one test send may go to.
const MAX_TEST_RECIPIENTS: usize = 10;
/// Test sends a workspace may make in an hour (each to at most ten team
/// addresses): tests leave through the platform's own addresses too.
const TEST_SENDS_PER_HOUR: u32 = 30;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamAddressRequest {
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct TeamAddressView {
    pub email: String,
    pub confirmed: bool,
    pub confirmed_at: Option<String>,
    pub created_at: String,
}

impl From<sendwell_store::TeamAddress> for TeamAddressView {
    fn from(t: sendwell_store::TeamAddress) -> Self {
        Self {
            email: t.email,
            confirmed: t.confirmed_at.is_some(),
            confirmed_at: t.confirmed_at.map(|t| t.to_rfc3339()),
            created_at: t.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TeamAddressList {
    pub items: Vec<TeamAddressView>,
}

/// Declares a team address (admin) and mails it a confirmation link; it
/// receives test sends once confirmed.
#[utoipa::path(post, path = "/v1/workspace/team-addresses", tag = "messages", security(("bearer" = [])),
    request_body = TeamAddressRequest,
    responses((status = 201, body = TeamAddressView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn add(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    ApiJson(req): ApiJson<TeamAddressRequest>,
) -> ApiResult<(StatusCode, Json<TeamAddressView>)> {
    let email = parse_email(&req.email, "/email")?;
    let ws = caller.workspace();
    let workspace = super::workspace::load(&state, ws).await?;
    let (subject, raw) = confirmation_mail(&state, &workspace, &email)?;
    let added = state
        .store
        .add_team_address(ws, email.as_str(), &caller.actor(), (&subject, &raw))
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "team-address-limit",
                format!(
                    "the workspace has its limit of {} team addresses; delete one first",
                    sendwell_store::MAX_TEAM_ADDRESSES
                ),
            )
        })?;
    state.notify_queued();
    Ok((StatusCode::CREATED, Json(added.into())))
}

/// The signed token of a team address's confirmation link, good for
/// [`CONFIRM_DAYS`].
fn confirmation_token(
    state: &AppState,
    ws: &sendwell_core::WorkspaceId,
    email: &EmailAddress,
    now: sendwell_core::Timestamp,
) -> String {
    state.links().sign(&LinkClaims {
        purpose: Purpose::Team,
        workspace: ws.to_string(),
        contact: String::new(),
        message: String::new(),
        expires: Some(now.millis() / 1000 + CONFIRM_DAYS * 86_400),
        url: Some(email.as_str().to_owned()),
    })
}

/// The mail that asks a team address to confirm: its subject and its
/// RFC 5322 text, with a link that works for [`CONFIRM_DAYS`].
fn confirmation_mail(
    state: &AppState,
    workspace: &Workspace,
    email: &EmailAddress,
) -> ApiResult<(String, String)> {
    let now = state.store.now();
    let token = confirmation_token(state, &workspace.id, email, now);
    let link = format!("{}{}{token}", state.public_url(), Purpose::Team.path());
    let subject = format!(
        "Confirm test mails from {}",
        workspace.name.replace(['\r', '\n'], " ")
    );
    let text = format!(
        "Someone at {name} asked that {address} receive the test mails of their workspace on this \
         sending service: drafts they send to themselves to check them.\r\n\r\n\
         To confirm, open this link and press the button (it works for {CONFIRM_DAYS} days):\r\n{link}\r\n\r\n\
         If you did not expect this, ignore this mail: nothing will be sent to you.\r\n",
        name = workspace.name,
        address = email.as_str(),
    );
    let from = Mailbox {
        name: Some("sendwell".to_owned()),
        address: format!("no-reply@{}", state.bounce_domain()),
    };
    let to = Mailbox {
        name: None,
        address: email.as_str().to_owned(),
    };
    let message_id = format!(
        "team.{}@{}",
        &token[..token.len().min(16)],
        state.public_host()
    );
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
    .map_err(|e| ApiError::internal(&e))?;
    Ok((subject, String::from_utf8_lossy(&raw).into_owned()))
}

#[utoipa::path(get, path = "/v1/workspace/team-addresses", tag = "messages", security(("bearer" = [])),
    responses((status = 200, body = TeamAddressList)))]
pub async fn list(Ws { state, caller, .. }: Ws<can::Read>) -> ApiResult<Json<TeamAddressList>> {
    let items = state
        .store
        .team_addresses(caller.workspace())
        .await?
        .into_iter()
        .map(TeamAddressView::from)
        .collect();
    Ok(Json(TeamAddressList { items }))
}

#[utoipa::path(delete, path = "/v1/workspace/team-addresses/{email}", tag = "messages", security(("bearer" = [])),
    params(("email" = String, Path)), responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn remove(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    Path(email): Path<String>,
) -> ApiResult<StatusCode> {
    let email = parse_email(&email, "/email")?;
    if state
        .store
        .delete_team_address(caller.workspace(), email.as_str(), &caller.actor())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "{email} is not a team address of this workspace."
        )))
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSendRequest {
    /// Confirmed team addresses (at most 10).
    pub to: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TestSendResponse {
    pub queued: usize,
    pub ids: Vec<String>,
}

/// Sends the message to confirmed team addresses as a test (sender or
/// admin): the subject starts with "[Test]", the content is rendered with
/// the data of a contact of the audience when there is one, the links lead
/// nowhere, and nothing is counted in the message's stats or the rates.
#[utoipa::path(post, path = "/v1/messages/{id}/test", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = TestSendRequest,
    responses((status = 202, body = TestSendResponse), (status = 422, body = crate::error::Problem)))]
pub async fn test_send(
    Ws { state, caller, .. }: Ws<can::Send>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TestSendRequest>,
) -> ApiResult<(StatusCode, Json<TestSendResponse>)> {
    let ws = caller.workspace();
    let to = confirmed_recipients(&state, ws, &req.to).await?;
    let mut message = load_message(&state, ws, &id).await?;
    let workspace = super::workspace::load(&state, ws).await?;
    may_send_tests(&state, &workspace)?;
    let sample = crate::preflight::sample_contact(&state, &message).await?;
    message.subject = format!("[Test] {}", message.subject);
    let mails = render_tests(&state, &workspace, &message, sample.as_ref(), &to).await?;
    let ids = state
        .store
        .queue_test_mails(ws, message.id.as_str(), &mails)
        .await?;
    state.notify_queued();
    Ok((
        StatusCode::ACCEPTED,
        Json(TestSendResponse {
            queued: ids.len(),
            ids,
        }),
    ))
}

/// Refuses a test from a workspace that may send nothing (suspended or
/// withdrawn), or that has made its tests for this hour.
fn may_send_tests(state: &AppState, workspace: &Workspace) -> ApiResult<()> {
    if matches!(
        workspace.state,
        sendwell_core::SendingState::Suspended | sendwell_core::SendingState::Withdrawn
    ) {
        return Err(ApiError::conflict(
            "sending-stopped",
            format!(
                "This workspace is {}: it sends no mail, test mails included, until the operator reinstates it.",
                workspace.state.as_str()
            ),
        ));
    }
    if !state.allow(
        "test-send",
        workspace.id.as_str(),
        TEST_SENDS_PER_HOUR,
        std::time::Duration::from_secs(3600),
    ) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-test-sends",
            "Too many test sends",
            format!("A workspace may send {TEST_SENDS_PER_HOUR} tests an hour; try again later."),
        ));
    }
    Ok(())
}

/// The test mails, one an address: recipient, subject and RFC 5322 text,
/// rendered with the sample contact's data (or none) and inert links.
async fn render_tests(
    state: &AppState,
    workspace: &Workspace,
    message: &MessageRecord,
    sample: Option<&sendwell_store::Contact>,
    to: &[EmailAddress],
) -> ApiResult<Vec<(String, String, String)>> {
    let names = super::templates::attribute_names(state, &workspace.id).await?;
    let prepared = Arc::new(
        prepare(message.clone(), &names)
            .map_err(|e| ApiError::invalid_field("/template", e.to_string()))?,
    );
    let now = state.store.now();
    let mut mails = Vec::with_capacity(to.len());
    for email in to {
        let person = test_person(sample, email.as_str().to_owned());
        let host = state.public_host();
        let message_id = format!("test.{}.{}@{host}", message.id, mails.len());
        let mail = render_off_runtime_as(
            state,
            workspace,
            prepared.clone(),
            person,
            false,
            true,
            message_id,
            now,
        )
        .await
        .map_err(|e| ApiError::invalid_field("/template", e.to_string()))?;
        let raw = String::from_utf8_lossy(&mail.raw).into_owned();
        mails.push((email.as_str().to_owned(), mail.subject, raw));
    }
    Ok(mails)
}

/// Whom a test is rendered for: the sample contact's data, or a bare
/// stand-in, at the team address.
fn test_person(sample: Option<&sendwell_store::Contact>, to: String) -> OwnedContact {
    match sample {
        Some(c) => OwnedContact::of(c, to),
        None => OwnedContact {
            id: "ct_test".to_owned(),
            email: to,
            name: None,
            external_id: None,
            attributes: Default::default(),
        },
    }
}

/// The addresses a test goes to: 1 to 10, each a confirmed team address
/// of the workspace.
async fn confirmed_recipients(
    state: &AppState,
    ws: &sendwell_core::WorkspaceId,
    given: &[String],
) -> ApiResult<Vec<EmailAddress>> {
    if given.is_empty() || given.len() > MAX_TEST_RECIPIENTS {
        return Err(ApiError::invalid_field(
            "/to",
            format!("a test goes to 1 to {MAX_TEST_RECIPIENTS} team addresses"),
        ));
    }
    let team = state.store.team_addresses(ws).await?;
    let mut to = Vec::with_capacity(given.len());
    for (i, t) in given.iter().enumerate() {
        let pointer = format!("/to/{i}");
        let email = parse_email(t, &pointer)?;
        match team.iter().find(|a| a.email == email.as_str()) {
            Some(a) if a.confirmed_at.is_some() => to.push(email),
            Some(_) => {
                return Err(ApiError::invalid_field(
                    &pointer,
                    format!("{email} has not confirmed yet: open the link mailed to it (POST /v1/workspace/team-addresses sends a new one, at most once an hour)"),
                ))
            }
            None => {
                return Err(ApiError::invalid_field(
                    &pointer,
                    format!("{email} is not a team address of this workspace: add it with POST /v1/workspace/team-addresses and confirm it"),
                ))
            }
        }
    }
    Ok(to)
}

#[derive(Serialize, ToSchema)]
pub struct TestMailView {
    pub id: String,
    pub message_id: Option<String>,
    /// `test` or `confirmation` (of a team address).
    pub kind: String,
    pub to: String,
    pub subject: String,
    /// `queued`, `sending`, `sent`, `captured` (the capture transport) or `failed`.
    pub state: String,
    pub last_reply: Option<String>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct TestMailList {
    pub items: Vec<TestMailView>,
}

/// The workspace's test mails and team confirmations, newest first.
#[utoipa::path(get, path = "/v1/test-mails", tag = "messages", security(("bearer" = [])),
    responses((status = 200, body = TestMailList)))]
pub async fn test_mails(Ws { state, caller, .. }: Ws<can::Read>) -> ApiResult<Json<TestMailList>> {
    let items = state
        .store
        .test_mails(caller.workspace(), 200)
        .await?
        .into_iter()
        .map(|t| TestMailView {
            id: t.id,
            message_id: t.message_id,
            kind: t.kind,
            to: t.recipient,
            subject: t.subject,
            state: t.state,
            last_reply: t.last_reply,
            created_at: t.created_at.to_rfc3339(),
        })
        .collect();
    Ok(Json(TestMailList { items }))
}

/// One test mail as sent (RFC 5322).
#[utoipa::path(get, path = "/v1/test-mails/{id}/raw", tag = "messages", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, content_type = "message/rfc822", body = String), (status = 404, body = crate::error::Problem)))]
pub async fn test_mail_raw(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let mail = state
        .store
        .test_mail(caller.workspace(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("There is no test mail {id}.")))?;
    Ok(([(header::CONTENT_TYPE, "message/rfc822")], mail.raw))
}
