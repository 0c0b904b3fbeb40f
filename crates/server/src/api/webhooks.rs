//! A workspace's webhook endpoints (Standard Webhooks) and their delivery
//! log. The signing secret is shown once, when the endpoint is made.

use crate::error::{ApiError, ApiResult};
use crate::extract::{can, ApiJson, Ws};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use sendwell_store::{WebhookEndpoint, WebhookMessage, WEBHOOK_EVENTS};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(remove))
        .routes(routes!(log))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointRequest {
    /// Where to POST events: an https URL.
    pub url: String,
    /// Of delivery, open, click, bounce, complaint, unsubscribe, opt_in, state_change, message_held; all when left out.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    /// The signing secret (`whsec_...`): only in the answer that made the endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: String,
}

impl EndpointView {
    fn from(e: WebhookEndpoint, with_secret: bool) -> Self {
        Self {
            id: e.id,
            url: e.url,
            events: e.events,
            secret: with_secret.then_some(e.secret),
            created_at: e.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    pub items: Vec<EndpointView>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryLogEntry {
    pub id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub done_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryLog {
    pub items: Vec<DeliveryLogEntry>,
}

/// Checks an endpoint URL: https with a public host, unless the operator
/// allows private endpoints.
fn check_url(text: &str, allow_private: bool) -> Result<String, String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| {
        format!("'{text}' is not a URL ({e}); give one such as https://hooks.example.com/sendwell")
    })?;
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    if host.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "put no credentials in the URL: verify the webhook-signature header instead".to_owned(),
        );
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        other => {
            return Err(format!(
                "webhooks go to https URLs only ('{other}' was given), so events cannot be read on the way"
            ))
        }
    }
    if !allow_private {
        if let Err(e) = crate::netguard::check_host(&host) {
            return Err(format!(
                "{e}; webhooks go to public hosts (the operator can allow private ones with SENDWELL_WEBHOOK_ALLOW_PRIVATE)"
            ));
        }
    }
    Ok(url.to_string())
}

/// Adds a webhook endpoint (admin); the answer holds its signing secret.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    request_body = EndpointRequest,
    responses((status = 201, body = EndpointView), (status = 422, body = crate::error::Problem)))]
pub async fn create(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    ApiJson(req): ApiJson<EndpointRequest>,
) -> ApiResult<(StatusCode, Json<EndpointView>)> {
    let url = check_url(&req.url, state.delivery().webhook_allow_private)
        .map_err(|e| ApiError::invalid_field("/url", e))?;
    let events = parse_events(req.events.as_deref())?;
    let secret = crate::webhooks::new_secret();
    // Sealed at rest, as DKIM keys are: a copy of the database alone does
    // not let anyone sign events as sendwell.
    let id = sendwell_store::Store::new_webhook_endpoint_id();
    let sealed = state
        .sealer()
        .seal_webhook_secret(&id, &secret)
        .map_err(|e| ApiError::internal(&e))?;
    let mut e = state
        .store
        .create_webhook_endpoint(
            caller.workspace(),
            &id,
            &url,
            &sealed,
            &events,
            &caller.actor(),
        )
        .await?;
    e.secret = secret;
    super::audit(
        &state,
        &caller,
        "webhook.created",
        &format!(
            "webhook endpoint {id} added for {url} ({})",
            events.join(", ")
        ),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(EndpointView::from(e, true))))
}

/// The events an endpoint asks for, each once (all of them when none are named).
fn parse_events(given: Option<&[String]>) -> ApiResult<Vec<String>> {
    let Some(list) = given else {
        return Ok(WEBHOOK_EVENTS.iter().map(|e| (*e).to_owned()).collect());
    };
    let mut events = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let e = e.trim().to_ascii_lowercase();
        if !WEBHOOK_EVENTS.contains(&e.as_str()) {
            return Err(ApiError::invalid_field(
                &format!("/events/{i}"),
                format!(
                    "'{e}' is not an event; the events are {}",
                    WEBHOOK_EVENTS.join(", ")
                ),
            ));
        }
        if !events.contains(&e) {
            events.push(e);
        }
    }
    if events.is_empty() {
        return Err(ApiError::invalid_field(
            "/events",
            "name at least one event",
        ));
    }
    Ok(events)
}

fn no_endpoint(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "There is no webhook endpoint {id} in this workspace."
    ))
}

#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = EndpointList)))]
pub async fn list(Ws { state, caller, .. }: Ws<can::Read>) -> ApiResult<Json<EndpointList>> {
    let items = state
        .store
        .webhook_endpoints(caller.workspace())
        .await?
        .into_iter()
        .map(|e| EndpointView::from(e, false))
        .collect();
    Ok(Json(EndpointList { items }))
}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, body = crate::error::Problem)))]
pub async fn remove(
    Ws { state, caller, .. }: Ws<can::ManageWorkspace>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state
        .store
        .delete_webhook_endpoint(caller.workspace(), &id)
        .await?
    {
        super::audit(
            &state,
            &caller,
            "webhook.deleted",
            &format!("webhook endpoint {id} deleted"),
        )
        .await?;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_endpoint(&id))
    }
}

/// The endpoint's delivery log, newest first: each event, its attempts, the last answer.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = DeliveryLog), (status = 404, body = crate::error::Problem)))]
pub async fn log(
    Ws { state, caller, .. }: Ws<can::Read>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeliveryLog>> {
    if state
        .store
        .webhook_endpoint(caller.workspace(), &id)
        .await?
        .is_none()
    {
        return Err(no_endpoint(&id));
    }
    let items = state
        .store
        .webhook_log(caller.workspace(), &id, 200)
        .await?
        .into_iter()
        .map(|m: WebhookMessage| DeliveryLogEntry {
            next_attempt_at: (m.state == "pending").then(|| m.next_attempt_at.to_rfc3339()),
            id: m.id,
            event_type: m.event_type,
            state: m.state,
            attempts: m.attempts,
            last_status: m.last_status,
            last_error: m.last_error,
            created_at: m.created_at.to_rfc3339(),
            done_at: m.done_at.map(|t| t.to_rfc3339()),
        })
        .collect();
    Ok(Json(DeliveryLog { items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_must_be_public_https_unless_allowed() {
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://[::1]/x",
            "https://localhost:8080/x",
            "https://169.254.169.254/latest",
            "https://user:pw@hooks.example.com/",
            "ftp://hooks.example.com/",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9000/x", true).is_ok());
    }
}
