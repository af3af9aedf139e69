//! `POST /api/embed` and the legacy `POST /api/embeddings`: vectors from the platform's
//! embedding model. Like `/v1/embeddings`, the `model` asked for is accepted whatever it names
//! (the platform has one embedding model) and the answer says which made the vectors.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::nanos;
use crate::http::AppState;
use crate::http::error::{ApiError, OllamaError, OllamaErrorBody};
use crate::http::extract::{AnyJson, Caller};
use crate::http::routes::embeddings::texts;

/// `model` is accepted whatever it names; `truncate` (texts longer than the model's window are
/// always truncated), `options` and `keep_alive` are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = OllamaEmbedBody)]
pub struct EmbedBody {
    /// One text or a list of texts.
    #[schema(value_type = Object)]
    pub input: Value,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaEmbed)]
pub struct Embed {
    /// The model that made the vectors.
    pub model: String,
    pub embeddings: Vec<Vec<f32>>,
    pub total_duration: u64,
    pub load_duration: u64,
    pub prompt_eval_count: usize,
}

/// Embeds one text or several (Ollama-compatible).
#[utoipa::path(
    post,
    path = "/api/embed",
    operation_id = "ollamaEmbed",
    tag = "ollama",
    request_body = EmbedBody,
    responses(
        (status = 200, description = "One vector per text", body = Embed),
        (status = 400, description = "A bad `input`", body = OllamaErrorBody),
        (status = 503, description = "The embedding model is not ready", body = OllamaErrorBody),
    )
)]
pub async fn embed(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Result<AnyJson<EmbedBody>, ApiError>,
) -> Result<Json<Embed>, OllamaError> {
    let Caller(_caller) = caller?;
    let AnyJson(body) = body?;
    let started = Instant::now();
    let result = state.services.search.embed(texts(body.input)?).await?;
    Ok(Json(Embed {
        model: result.model,
        embeddings: result.embeddings.vectors,
        total_duration: nanos(started.elapsed()),
        load_duration: 0,
        prompt_eval_count: result.embeddings.tokens,
    }))
}

/// `model` is accepted whatever it names.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = OllamaEmbeddingsBody)]
pub struct EmbeddingsBody {
    pub prompt: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaEmbedding)]
pub struct Embedding {
    pub embedding: Vec<f32>,
}

/// Embeds one text (Ollama's legacy endpoint).
#[utoipa::path(
    post,
    path = "/api/embeddings",
    operation_id = "ollamaEmbeddings",
    tag = "ollama",
    request_body = EmbeddingsBody,
    responses(
        (status = 200, description = "The vector", body = Embedding),
        (status = 400, description = "An empty or too long prompt", body = OllamaErrorBody),
        (status = 503, description = "The embedding model is not ready", body = OllamaErrorBody),
    )
)]
pub async fn embeddings(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Result<AnyJson<EmbeddingsBody>, ApiError>,
) -> Result<Json<Embedding>, OllamaError> {
    let Caller(_caller) = caller?;
    let AnyJson(body) = body?;
    let result = state.services.search.embed(vec![body.prompt]).await?;
    Ok(Json(Embedding {
        embedding: result.embeddings.vectors.into_iter().next().unwrap_or_default(),
    }))
}
