//! `GET /v1/models` and `GET /v1/models/{id}`: every name the caller may send as `model` —
//! local models, the roles, remote providers' models and the agents as `agent:<name>`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::error::{ApiError, OpenAiError, OpenAiErrorBody};
use crate::http::extract::{ApiPath, Caller};
use crate::service::completions::{CardKind, ModelCard};

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OpenAiModel)]
pub struct ModelObject {
    /// The name to send as `model`.
    pub id: String,
    /// Always `model`.
    pub object: &'static str,
    /// Unix seconds: when a local model's file was written; 0 for the others.
    pub created: i64,
    /// `local`, a provider's name, or `agentbox` for roles and agents.
    pub owned_by: String,
    /// `local`, `remote`, `role` or `agent`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The role a model plays, or an agent's role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OpenAiModelList)]
pub struct ModelList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<ModelObject>,
}

impl From<ModelCard> for ModelObject {
    fn from(card: ModelCard) -> Self {
        let created = card
            .file
            .as_ref()
            .and_then(|file| file.modified)
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |since| i64::try_from(since.as_secs()).unwrap_or(0));
        Self {
            id: card.id,
            object: "model",
            created,
            owned_by: card.owned_by,
            kind: kind_name(card.kind),
            description: card.description,
            role: card.role,
        }
    }
}

pub fn kind_name(kind: CardKind) -> &'static str {
    match kind {
        CardKind::Local => "local",
        CardKind::Remote => "remote",
        CardKind::Role => "role",
        CardKind::Agent => "agent",
    }
}

/// Lists the models, roles and agents the caller may name (OpenAI-compatible).
#[utoipa::path(
    get,
    path = "/v1/models",
    operation_id = "listOpenAiModels",
    tag = "openai",
    responses(
        (status = 200, description = "Local models with their file present, the roles `fast`, `reasoning`, `code`, remote providers' models, and `agent:<name>` for every enabled agent", body = ModelList),
        (status = 401, description = "No or a wrong API key (`unauthenticated`)", body = OpenAiErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
) -> Result<Json<ModelList>, OpenAiError> {
    let Caller(caller) = caller?;
    let cards = state.services.completions.models(&caller).await?;
    Ok(Json(ModelList {
        object: "list",
        data: cards.into_iter().map(ModelObject::from).collect(),
    }))
}

/// One model, role or agent (OpenAI-compatible).
#[utoipa::path(
    get,
    path = "/v1/models/{id}",
    operation_id = "getOpenAiModel",
    tag = "openai",
    params(("id" = String, Path, description = "A model name, a role or `agent:<name>`")),
    responses(
        (status = 200, description = "The model", body = ModelObject),
        (status = 404, description = "The caller may not name it (`model_not_found`)", body = OpenAiErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    id: Result<ApiPath<String>, ApiError>,
) -> Result<Json<ModelObject>, OpenAiError> {
    let Caller(caller) = caller?;
    let ApiPath(id) = id?;
    let card = state.services.completions.model(&caller, &id).await?;
    Ok(Json(card.into()))
}
