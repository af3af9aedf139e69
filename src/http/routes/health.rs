//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::AppState;
use crate::service::health::Readiness;

/// The answer to `/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
    /// The agentbox version.
    version: &'static str,
}

/// Alive: answers as long as the process serves requests. No auth, no database.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "getHealth",
    tag = "system",
    security(()),
    responses((status = 200, description = "The process serves requests", body = Health))
)]
pub async fn health() -> impl IntoResponse {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Ready: the database answers and every migration is applied; 503 otherwise.
#[utoipa::path(
    get,
    path = "/ready",
    operation_id = "getReadiness",
    tag = "system",
    security(()),
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, body = Readiness, description = "Not ready: the report says what is missing. \
            While the process is still starting (opening the database, applying migrations) the \
            body is an `ErrorBody` with code `starting` instead."),
    )
)]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let readiness = state.services.health.readiness().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}
