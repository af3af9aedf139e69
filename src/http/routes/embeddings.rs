//! `POST /v1/embeddings`, OpenAI-compatible: `{model, input: string | [string],
//! encoding_format?: "float" | "base64", dimensions?}` → `{object: "list", data: [{object:
//! "embedding", index, embedding}], model, usage}`. The platform has one embedding model; the
//! `model` asked for is accepted whatever it names (clients send their configured name) and the
//! answer says which model made the vectors.

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::extract::{ApiJson, Caller};
use crate::http::{AppState, error::ApiError};
use crate::service::ServiceError;

/// Other fields (`model`, `user`) are accepted and ignored, as the module doc says.
#[derive(Debug, Deserialize)]
pub struct EmbeddingsBody {
    input: Value,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct EmbeddingsResponse {
    object: &'static str,
    data: Vec<EmbeddingItem>,
    model: String,
    usage: Usage,
}

#[derive(Debug, Serialize)]
struct EmbeddingItem {
    object: &'static str,
    index: usize,
    embedding: Value,
}

#[derive(Debug, Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
}

/// The texts of `input`: one string or an array of strings (token arrays are not supported).
fn texts(input: Value) -> Result<Vec<String>, ServiceError> {
    let wrong = || {
        ServiceError::invalid(
            "input",
            "input must be a string or an array of strings (token arrays are not supported)",
        )
    };
    match input {
        Value::String(text) => Ok(vec![text]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                _ => Err(wrong()),
            })
            .collect(),
        _ => Err(wrong()),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Caller(_identity): Caller,
    ApiJson(body): ApiJson<EmbeddingsBody>,
) -> Result<Json<EmbeddingsResponse>, ApiError> {
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => {
            return Err(ServiceError::invalid(
                "encoding_format",
                "encoding_format must be \"float\" or \"base64\"",
            )
            .into());
        }
    };
    let result = state.services.search.embed(texts(body.input)?).await?;
    let dims = result.embeddings.vectors.first().map_or(0, Vec::len);
    if let Some(asked) = body.dimensions
        && usize::try_from(asked).ok() != Some(dims)
    {
        return Err(ServiceError::invalid(
            "dimensions",
            format!("the model `{}` makes vectors of {dims} dimensions", result.model),
        )
        .into());
    }
    let data = result
        .embeddings
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, vector)| EmbeddingItem {
            object: "embedding",
            index,
            embedding: if base64 {
                // OpenAI's base64 form: the little-endian f32 bytes.
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Value::from(vector)
            },
        })
        .collect();
    let tokens = result.embeddings.tokens;
    Ok(Json(EmbeddingsResponse {
        object: "list",
        data,
        model: result.model,
        usage: Usage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    }))
}
