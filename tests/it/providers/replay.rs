//! A local stand-in for a provider: replays recorded event streams (in small pieces, as a
//! network would cut them) and recorded error answers, and remembers what it was sent.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub const ANTHROPIC_KEY: &str = "sk-ant-test-secret";
pub const ANTHROPIC_TOOL_USE: &str = include_str!("../../fixtures/providers/anthropic-tool-use.sse");

#[derive(Clone, Default)]
struct Seen {
    bodies: Arc<Mutex<Vec<Value>>>,
}

pub struct Replay {
    pub base_url: String,
    seen: Seen,
    task: JoinHandle<()>,
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Replay {
    pub async fn start() -> Self {
        let seen = Seen::default();
        let app = Router::new()
            .route("/v1/messages", post(anthropic_messages))
            .route("/v1/models", get(anthropic_models))
            .route("/v1/chat/completions", post(openai_cut_short))
            .route("/slow/chat/completions", post(never_answers))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base_url, seen, task }
    }

    /// The JSON bodies received so far.
    pub fn bodies(&self) -> Vec<Value> {
        self.seen.bodies.lock().unwrap().clone()
    }
}

/// A streamed answer cut into 7-byte pieces.
fn event_stream(text: &'static str) -> Response {
    let pieces = text
        .as_bytes()
        .chunks(7)
        .map(|piece| Ok::<_, Infallible>(Bytes::from_static(piece)));
    let body = Body::from_stream(futures::stream::iter(pieces));
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

fn anthropic_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({ "type": "error", "error": { "type": kind, "message": message } });
    (status, axum::Json(body)).into_response()
}

/// Checks the headers like the real API, then answers by model: `claude-overloaded` → 529,
/// anything else → the recorded tool-use stream.
async fn anthropic_messages(
    State(seen): State<Seen>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    seen.bodies.lock().unwrap().push(body.0.clone());
    if headers.get("anthropic-version").is_none_or(|v| v != "2023-06-01") {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version missing",
        );
    }
    if headers.get("x-api-key").is_none_or(|key| key != ANTHROPIC_KEY) {
        return anthropic_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key",
        );
    }
    if body.0["model"] == "claude-overloaded" {
        return anthropic_error(
            StatusCode::from_u16(529).unwrap(),
            "overloaded_error",
            "Overloaded",
        );
    }
    event_stream(ANTHROPIC_TOOL_USE)
}

async fn anthropic_models(headers: HeaderMap) -> Response {
    if headers.get("x-api-key").is_none_or(|key| key != ANTHROPIC_KEY) {
        return anthropic_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key",
        );
    }
    let models = json!({ "data": [
        { "type": "model", "id": "claude-opus-4-6", "display_name": "Claude Opus 4.6" },
        { "type": "model", "id": "claude-haiku-4-5", "display_name": "Claude Haiku 4.5" },
    ], "has_more": false });
    axum::Json(models).into_response()
}

/// An `OpenAI` stream that breaks off after some text: no finish reason, no `[DONE]`.
async fn openai_cut_short() -> Response {
    event_stream(concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n",
    ))
}

async fn never_answers() -> Response {
    tokio::time::sleep(Duration::from_mins(10)).await;
    StatusCode::OK.into_response()
}
