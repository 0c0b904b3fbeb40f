//! Liveness and the API description.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the database does not answer or a delivery
    /// pipeline has made no progress for longer than the stall limit.
    pub status: &'static str,
    pub database: &'static str,
    /// `ok`, or `stalled` when a delivery pipeline is stuck.
    pub worker: &'static str,
    /// The stuck pipelines, with the seconds since each last made progress.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stalled: Vec<Stalled>,
    pub version: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Stalled {
    pub pipeline: String,
    pub seconds: u64,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(openapi))
        .routes(routes!(metrics))
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
    let stalled: Vec<Stalled> = state
        .stalled_workers()
        .into_iter()
        .map(|(pipeline, d)| Stalled {
            pipeline,
            seconds: d.as_secs(),
        })
        .collect();
    let (status, code, worker) = if stalled.is_empty() {
        (status, code, "ok")
    } else {
        tracing::warn!(
            pipelines = stalled.len(),
            "health check: a delivery pipeline makes no progress"
        );
        ("degraded", StatusCode::SERVICE_UNAVAILABLE, "stalled")
    };
    (
        code,
        Json(Health {
            status,
            database,
            worker,
            stalled,
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
