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
