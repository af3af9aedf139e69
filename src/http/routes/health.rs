//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
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

/// Prometheus metrics: HTTP requests by method, route and status with latency histograms;
/// model calls with tokens, time to first token and tokens per second; background tasks by
/// status and the queue depth; the database pool; the loaded models' memory. No auth (like
/// `/health`): restrict it at the proxy if the counts are private.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "system",
    security(()),
    responses((
        status = 200,
        description = "The metrics in the OpenMetrics text format (Prometheus scrapes it as is)",
        content_type = "application/openmetrics-text",
        body = String
    ))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let snapshot = state.services.health.metrics_snapshot().await;
    let text = state.services.metrics.render(&snapshot);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text)
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
