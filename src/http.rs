//! The HTTP edge: routes, extractors, error mapping, TLS and the listeners. Knows axum and
//! status codes, nothing about SQL.

mod error;
mod extract;
mod routes;
mod security;
pub mod server;
mod startup;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, Method};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use extract::{CSRF_HEADER, SESSION_COOKIE};
pub use startup::LateRouter;

use crate::config::Settings;
use crate::service::Services;

/// Everything a handler may use: cheap clonable handles, attached with `with_state`.
#[derive(Debug, Clone)]
pub struct AppState {
    pub services: Services,
    pub settings: Arc<Settings>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The platform REST API, nested under `/api/v1`.
fn api_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/auth/setup",
            get(routes::auth::setup_state).post(routes::auth::setup),
        )
        .route("/auth/login", post(routes::auth::login))
        .route("/auth/logout", post(routes::auth::logout))
        .route("/me", get(routes::me::me))
        .route("/agents", get(routes::agents::list))
        .route(
            "/agents/{name}",
            get(routes::agents::get)
                .put(routes::agents::put)
                .delete(routes::agents::delete),
        )
        .route(
            "/sessions",
            get(routes::sessions::list).post(routes::sessions::create),
        )
        .route(
            "/sessions/{id}",
            get(routes::sessions::get)
                .patch(routes::sessions::update)
                .delete(routes::sessions::delete),
        )
        .route(
            "/sessions/{id}/messages",
            get(routes::sessions::messages).post(routes::sessions::send),
        )
        .route("/keys", get(routes::keys::list).post(routes::keys::create))
        .route("/keys/{id}", delete(routes::keys::revoke))
        .route("/users", get(routes::users::list).post(routes::users::create))
        .route(
            "/users/{id}",
            get(routes::users::get)
                .patch(routes::users::update)
                .delete(routes::users::delete),
        )
        .route(
            "/users/{id}/password",
            axum::routing::put(routes::users::set_password),
        )
        .route("/models", get(routes::models::list))
        .route("/models/{name}/pull", post(routes::models::pull))
        .route("/models/{name}/load", post(routes::models::load))
        .route("/models/{name}/unload", post(routes::models::unload))
        .route(
            "/providers",
            get(routes::providers::list).post(routes::providers::create),
        )
        .route(
            "/providers/{name}",
            axum::routing::patch(routes::providers::update).delete(routes::providers::delete),
        )
        .route("/providers/{name}/models", get(routes::providers::models))
        .route(
            "/providers/{name}/models/{model}",
            axum::routing::put(routes::providers::put_model).delete(routes::providers::delete_model),
        )
        .route("/search/semantic", post(routes::search::semantic))
        .route("/search/index", post(routes::search::index))
        .route("/kpis", get(routes::kpis::list))
        .route("/kpis/performance", get(routes::kpis::performance))
        .route("/kpis/{id}/values", get(routes::kpis::values))
        .route("/tasks", get(routes::tasks::list).post(routes::tasks::create))
        .route("/tasks/{id}", get(routes::tasks::get))
        .route("/tasks/{id}/cancel", post(routes::tasks::cancel))
        .route("/tasks/{id}/events", get(routes::tasks::events))
        .route("/companies", get(routes::companies::list))
        .route("/companies/{id}", get(routes::companies::get))
        .route(
            "/companies/{id}/departments",
            get(routes::companies::departments).post(routes::companies::create_department),
        )
        .merge(evaluation_routes())
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let api = api_routes();
    let max_body = state.settings.server.max_body_bytes;
    let tls = state.settings.uses_tls();
    Router::new()
        .route("/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready))
        .route("/v1/embeddings", post(routes::embeddings::create))
        .nest("/api/v1", api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(tls, security::add_headers))
        .layer(CatchPanicLayer::custom(|_| ApiError::Panic.into_response()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", MatchedPath::as_str);
                    let request_id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!("request", method = %request.method(), route, request_id)
                })
                .on_response(
                    |response: &axum::response::Response, latency: Duration, _: &tracing::Span| {
                        tracing::info!(
                            status = response.status().as_u16(),
                            latency_ms = latency.as_secs_f64() * 1000.0,
                            "response"
                        );
                    },
                ),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Ratings, usage analytics and recorded eval runs.
fn evaluation_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/messages/{id}/rating",
            axum::routing::put(routes::ratings::put).delete(routes::ratings::delete),
        )
        .route("/analytics/usage", get(routes::analytics::usage))
        .route("/analytics/summary", get(routes::analytics::summary))
        .route("/evals", get(routes::evals::list).post(routes::evals::create))
        .route("/evals/{id}", get(routes::evals::get))
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::RouteNotFound(format!("{method} {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
