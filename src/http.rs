//! The HTTP edge: routes, extractors, error mapping, TLS and the listeners. Knows axum and
//! status codes, nothing about SQL.

mod compat;
mod error;
mod extract;
mod mcp;
mod metrics;
mod ollama;
mod openai;
mod openapi;
mod replay;
mod routes;
mod security;
pub mod server;
mod startup;
pub mod tls;
#[cfg(feature = "ui")]
mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::HeaderName;
use axum::response::IntoResponse;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, DefaultPredicate};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;
pub use extract::{CSRF_HEADER, SESSION_COOKIE};
pub use startup::LateRouter;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::service::Services;

/// Everything a handler may use: cheap clonable handles, attached with `with_state`.
#[derive(Debug, Clone)]
pub struct AppState {
    pub services: Services,
    pub settings: Arc<Settings>,
    /// Cancelled when the platform stops: long-lived streams (MCP sessions) end with it.
    pub shutdown: CancellationToken,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The platform REST API, nested under `/api/v1`. Every route is registered through `routes!`
/// from a handler with its `#[utoipa::path]` annotation, so the OpenAPI document is built from
/// the very registrations that serve the requests and cannot drift from them: add new routes
/// the same way (a plain `.route(...)` would be served undocumented, and a test refuses it).
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(openapi::document))
        .routes(routes!(routes::auth::setup_state, routes::auth::setup))
        .routes(routes!(routes::auth::login))
        .routes(routes!(routes::auth::logout))
        .routes(routes!(routes::me::me))
        .routes(routes!(routes::agents::list))
        .routes(routes!(
            routes::agents::get,
            routes::agents::put,
            routes::agents::delete
        ))
        .routes(routes!(routes::sessions::list, routes::sessions::create))
        .routes(routes!(
            routes::sessions::get,
            routes::sessions::update,
            routes::sessions::delete
        ))
        .routes(routes!(routes::sessions::messages, routes::sessions::send))
        .routes(routes!(routes::sessions::follow))
        .routes(routes!(routes::keys::list, routes::keys::create))
        .routes(routes!(routes::keys::revoke))
        .routes(routes!(routes::users::list, routes::users::create))
        .routes(routes!(
            routes::users::get,
            routes::users::update,
            routes::users::delete
        ))
        .routes(routes!(routes::users::set_password))
        .routes(routes!(routes::models::list))
        .routes(routes!(routes::models::pull))
        .routes(routes!(routes::models::load))
        .routes(routes!(routes::models::unload))
        .routes(routes!(routes::models::set_roles))
        .routes(routes!(routes::providers::list, routes::providers::create))
        .routes(routes!(routes::providers::update, routes::providers::delete))
        .routes(routes!(routes::providers::models))
        .routes(routes!(
            routes::providers::put_model,
            routes::providers::delete_model
        ))
        .routes(routes!(routes::search::semantic))
        .routes(routes!(routes::search::index))
        .routes(routes!(routes::kpis::list))
        .routes(routes!(routes::kpis::overview))
        .routes(routes!(routes::kpis::performance))
        .routes(routes!(routes::kpis::values))
        .routes(routes!(routes::tasks::list, routes::tasks::create))
        .routes(routes!(routes::tasks::get))
        .routes(routes!(routes::tasks::cancel))
        .routes(routes!(routes::tasks::events))
        .routes(routes!(routes::mcp_servers::list, routes::mcp_servers::create))
        .routes(routes!(
            routes::mcp_servers::get,
            routes::mcp_servers::replace,
            routes::mcp_servers::delete
        ))
        .routes(routes!(routes::mcp_servers::restart))
        .routes(routes!(routes::companies::list))
        .routes(routes!(routes::companies::get))
        .routes(routes!(
            routes::companies::departments,
            routes::companies::create_department
        ))
        .merge(evaluation_routes())
}

/// Every route the platform serves, with its documentation.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(routes::health::health))
        .routes(routes!(routes::health::ready))
        .routes(routes!(routes::health::metrics))
        .merge(openai::routes())
        .merge(ollama::routes())
        .nest("/api/v1", api_routes())
}

/// The OpenAPI 3.1 document of every route [`router`] serves (`GET /api/v1/openapi.json`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut document) = documented_routes().split_for_parts();
    openapi::finish(&mut document);
    document
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let (served, _) = documented_routes().split_for_parts();
    let max_body = state.settings.server.max_body_bytes;
    let tls = state.settings.uses_tls();
    let served = served.merge(mcp::routes(&state));
    #[cfg(feature = "ui")]
    let served = served.fallback(ui::serve);
    #[cfg(not(feature = "ui"))]
    let served = served.fallback(not_found);
    let recorder = state.services.metrics.clone();
    served
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        // Streams are not compressed: an encoder holds small writes back, and a token or an NDJSON
        // line must reach the client when it is made (`text/event-stream` is left out by default).
        .layer(
            CompressionLayer::new().compress_when(
                DefaultPredicate::new().and(NotForContentType::const_new("application/x-ndjson")),
            ),
        )
        .layer(axum::middleware::from_fn_with_state(tls, security::add_headers))
        .layer(CatchPanicLayer::custom(|_| ApiError::Panic.into_response()))
        // Outside the panic catcher, so a handler that panicked is counted with its 500.
        .layer(axum::middleware::from_fn_with_state(recorder, metrics::track))
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
fn evaluation_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(routes::ratings::put, routes::ratings::delete))
        .routes(routes!(routes::analytics::usage))
        .routes(routes!(routes::analytics::summary))
        .routes(routes!(routes::evals::list, routes::evals::create))
        .routes(routes!(routes::evals::get))
}

#[cfg(not(feature = "ui"))]
async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::RouteNotFound(format!("{method} {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
