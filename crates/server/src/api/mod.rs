//! The HTTP API under `/v1`, one module per resource, each exposing its
//! routes. Handlers parse input into domain types, call the store once, and
//! shape the answer; they hold no SQL.

pub mod addresses;
pub mod audiences;
pub mod campaigns;
pub mod consent;
pub mod contacts;
pub mod enforcement;
pub mod forms;
pub mod guidelines;
pub mod health;
pub mod imports;
pub mod keys;
pub mod links;
pub mod members;
pub mod messages;
pub mod operator;
pub mod provider_hooks;
pub mod reports;
pub mod reviews;
pub mod sender_domains;
pub mod suppressions;
pub mod team;
pub mod templates;
pub mod topics;
pub mod webhooks;
pub mod workspace;

use crate::error::ApiError;
use crate::extract::WorkspaceCaller;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::Router;
use sendwell_core::text::Label;
use sendwell_core::EmailAddress;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Every documented endpoint: each module declares its routes with
/// `routes!`, which takes the path and method from the handler's
/// `#[utoipa::path]`, so a route and its OpenAPI entry are one declaration.
pub(crate) fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .merge(health::routes())
        .merge(operator::routes())
        .merge(workspace::routes())
        .merge(guidelines::routes())
        .merge(keys::routes())
        .merge(members::routes())
        .merge(contacts::routes())
        .merge(contacts::attribute_routes())
        .merge(consent::routes())
        .merge(addresses::routes())
        .merge(suppressions::routes())
        .merge(imports::routes())
        .merge(templates::routes())
        .merge(team::routes())
        .merge(messages::routes())
        .merge(campaigns::routes())
        .merge(audiences::routes())
        .merge(topics::routes())
        .merge(forms::routes())
        .merge(reviews::routes())
        .merge(sender_domains::routes())
        .merge(enforcement::routes())
        .merge(reports::routes())
        .merge(webhooks::routes())
        .merge(provider_hooks::routes())
}

pub fn router(state: AppState) -> Router {
    let limit = state.max_body_bytes();
    let (api, _) = documented().split_for_parts();
    api
        // The pages behind the links in mails are HTML for people, not API.
        .merge(links::routes())
        // The web console, for workspace members.
        .merge(crate::console::routes())
        .fallback(|| async {
            ApiError::not_found("There is no such endpoint; GET /openapi.json lists them all.")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "This endpoint does not take that HTTP method; GET /openapi.json lists what it takes.",
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::map_request(
            move |mut req: axum::extract::Request| async move {
                req.extensions_mut()
                    .insert(crate::extract::BodyLimit(limit));
                req
            },
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Headers every answer carries: no content sniffing, no referrer, and a
/// policy that lets nothing load or frame (the HTML pages set their own,
/// which allows their style sheet and nothing else).
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::header::{self, HeaderValue};
    let headers = response.headers_mut();
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        ));
    headers
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    response
}

/// One page of a list read with a cursor: the items, and the cursor to
/// pass for the next page, absent on the last one.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page of `rows` read with `limit + 1`: the extra row only says
    /// that more follow, and the last row kept gives the cursor (`key`).
    pub fn cut(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Self {
        let keep = usize::try_from(limit).unwrap_or(50);
        let more = rows.len() > keep;
        rows.truncate(keep);
        let next_cursor = if more { rows.last().map(key) } else { None };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// The same page with every item turned into what the API shows.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

impl<T> Page<T> {
    /// The page after `cursor`: the limit checked ([`page_limit`]), `read`
    /// asked for one row more than the page holds, the rows cut by `key`.
    pub(crate) async fn read<'c, F>(
        cursor: Option<&'c str>,
        limit: Option<i64>,
        read: impl FnOnce(Option<&'c str>, i64) -> F,
        key: impl Fn(&T) -> String,
    ) -> Result<Self, ApiError>
    where
        F: std::future::Future<Output = Result<Vec<T>, sendwell_store::StoreError>>,
    {
        let limit = page_limit(limit)?;
        let rows = read(cursor, limit + 1).await?;
        Ok(Self::cut(rows, limit, key))
    }
}

/// Page sizes: `limit` defaults to 50 and may be 1 to 1000.
pub(crate) fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::invalid_field(
            "/limit",
            format!("limit must be between 1 and 1000; {n} was given"),
        )),
    }
}

/// A short text field (a name, a note) of at most `max` characters; a
/// problem points at `/{field}`.
pub(crate) fn label(field: &'static str, text: &str, max: usize) -> Result<Label, ApiError> {
    Label::parse(field, text, max)
        .map_err(|e| ApiError::invalid_field(&format!("/{field}"), e.to_string()))
}

/// An email address given at `pointer`.
pub(crate) fn parse_email(text: &str, pointer: &str) -> Result<EmailAddress, ApiError> {
    EmailAddress::parse(text).map_err(|e| ApiError::invalid_field(pointer, e.to_string()))
}

/// Notes in the workspace's audit log what its caller did.
pub(crate) async fn audit(
    state: &AppState,
    caller: &WorkspaceCaller,
    action: &str,
    reason: &str,
) -> Result<(), ApiError> {
    state
        .store
        .record_audit(caller.workspace(), &caller.actor(), action, reason)
        .await?;
    Ok(())
}
