//! Liveness and the API description.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the database does not answer.
    pub status: &'static str,
    pub database: &'static str,
    pub version: &'static str,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
}

/// Whether the server and its database answer.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let (status, code, database) = match state.store.ping().await {
        Ok(()) => ("ok", StatusCode::OK, state.store.backend().name()),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database does not answer");
            ("degraded", StatusCode::SERVICE_UNAVAILABLE, "unreachable")
        }
    };
    (
        code,
        Json(Health {
            status,
            database,
            version: env!("CARGO_PKG_VERSION"),
        }),
    )
}

/// The OpenAPI 3.1 description of this API, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "system", responses((status = 200, description = "OpenAPI document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

/// Prometheus metrics (operator token): queue depth by state from the
/// database; deliveries by outcome, SMTP reply classes and deferrals by
/// domain as counted by this process's worker. Recipient domains of every
/// workspace appear here, so it is not public.
#[utoipa::path(get, path = "/metrics", tag = "system", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text exposition format"), (status = 401, body = crate::error::Problem)))]
pub async fn metrics(
    State(state): State<AppState>,
    _operator: crate::extract::OperatorCaller,
) -> crate::error::ApiResult<([(axum::http::header::HeaderName, &'static str); 1], String)> {
    let queue = state.store.queue_depth().await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(&queue),
    ))
}
