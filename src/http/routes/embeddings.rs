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
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};

use crate::http::AppState;
use crate::http::error::{ApiError, OpenAiError, OpenAiErrorBody};
use crate::http::extract::{ApiJson, Caller};
use crate::service::ServiceError;

/// Other fields (`model`, `user`) are accepted and ignored, as the module doc says.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EmbeddingsBody {
    /// One text, or an array of texts (token arrays are not supported).
    #[schema(schema_with = input_schema)]
    input: Value,
    /// `float` (default) or `base64` (the little-endian f32 bytes).
    #[serde(default)]
    encoding_format: Option<String>,
    /// When sent, must equal the model's dimensions.
    #[serde(default)]
    dimensions: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingsResponse {
    /// Always `list`.
    object: &'static str,
    data: Vec<EmbeddingItem>,
    /// The model that made the vectors.
    model: String,
    usage: EmbeddingsUsage,
}

#[derive(Debug, Serialize, ToSchema)]
struct EmbeddingItem {
    /// Always `embedding`.
    object: &'static str,
    /// The position of the text in `input`.
    index: usize,
    /// The vector: numbers, or a base64 string with `encoding_format: "base64"`.
    #[schema(schema_with = embedding_schema)]
    embedding: Value,
}

#[derive(Debug, Serialize, ToSchema)]
struct EmbeddingsUsage {
    prompt_tokens: usize,
    total_tokens: usize,
}

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// `string | string[]`
fn input_schema() -> impl Into<RefOr<Schema>> {
    OneOfBuilder::new()
        .item(string_schema())
        .item(ArrayBuilder::new().items(string_schema()))
}

/// `number[] | string` (base64)
fn embedding_schema() -> impl Into<RefOr<Schema>> {
    OneOfBuilder::new()
        .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Number)))
        .item(string_schema().content_encoding("base64"))
}

/// The texts of `input`: one string or an array of strings (token arrays are not supported).
pub(crate) fn texts(input: Value) -> Result<Vec<String>, ServiceError> {
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

/// Embeds one text or several (OpenAI-compatible).
///
/// The `model` field is accepted whatever it names: the platform has one embedding model, and
/// the answer says which.
#[utoipa::path(
    post,
    path = "/v1/embeddings",
    operation_id = "createEmbeddings",
    tag = "openai",
    request_body = EmbeddingsBody,
    responses(
        (status = 200, description = "One vector per input text", body = EmbeddingsResponse),
        (status = 400, description = "An invalid `input`, `encoding_format` or `dimensions` (`invalid_input`)", body = OpenAiErrorBody),
        (status = 401, description = "No or a wrong API key (`unauthenticated`)", body = OpenAiErrorBody),
        (status = 503, description = "The embedding model is not ready (`embeddings_unavailable`)", body = OpenAiErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Result<ApiJson<EmbeddingsBody>, ApiError>,
) -> Result<Json<EmbeddingsResponse>, OpenAiError> {
    let Caller(_identity) = caller?;
    let ApiJson(body) = body?;
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
        usage: EmbeddingsUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    }))
}
