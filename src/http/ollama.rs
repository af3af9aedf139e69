//! The Ollama-compatible API: `/api/version`, `/api/tags`, `/api/ps`, `/api/show`, `/api/chat`,
//! `/api/generate`, `/api/embed`, `/api/embeddings`, `/api/pull` and `/api/delete`, beside the
//! platform's own `/api/v1/...` (no Ollama path starts with `v1/`, and unknown `/api` paths get
//! JSON errors, never the web app). Streams are newline-delimited JSON objects, durations are
//! nanoseconds, errors are `{"error": "message"}`. Authenticated by API keys like every route.

mod chat;
mod embed;
mod models;
mod options;

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

/// The Ollama API version this one follows (clients check it for features).
pub const OLLAMA_VERSION: &str = "0.12.0";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(models::version))
        .routes(routes!(models::tags))
        .routes(routes!(models::running))
        .routes(routes!(models::show))
        .routes(routes!(models::pull))
        .routes(routes!(models::delete))
        .routes(routes!(chat::chat))
        .routes(routes!(chat::generate))
        .routes(routes!(embed::embed))
        .routes(routes!(embed::embeddings))
}

/// A stream of JSON objects as `application/x-ndjson`, one per line.
fn ndjson<T: Serialize + Send + 'static>(lines: impl Stream<Item = T> + Send + 'static) -> Response {
    // Fused: a body may be polled once more after its end.
    let body = lines.fuse().map(|line| {
        let mut bytes = serde_json::to_vec(&line).unwrap_or_else(|_| b"{}".to_vec());
        bytes.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(bytes))
    });
    let mut response = Body::from_stream(body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

/// Now, as Ollama writes times (RFC 3339 with nanoseconds).
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
