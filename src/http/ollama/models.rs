//! Ollama's model endpoints: `/api/version`, `/api/tags` (what may be named), `/api/ps` (what
//! is in memory), `/api/show` (what the GGUF file says), `/api/pull` (the catalog's download,
//! as Ollama's status lines; admins) and `/api/delete` (admins).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{OLLAMA_VERSION, ndjson};
use crate::http::AppState;
use crate::http::compat::invalid;
use crate::http::error::{ApiError, OllamaError, OllamaErrorBody, engine_error_body};
use crate::http::extract::{AnyJson, Caller};
use crate::http::openai::models::kind_name;
use crate::http::routes::models::{Followed, follow};
use crate::service::completions::{CardKind, GgufFacts, ModelCard};
use crate::service::models::PullState;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaVersion)]
pub struct Version {
    /// The Ollama API version followed.
    pub version: &'static str,
    /// This agentbox's version.
    pub agentbox: &'static str,
}

/// The Ollama API version this follows (Ollama-compatible).
#[utoipa::path(
    get,
    path = "/api/version",
    operation_id = "ollamaVersion",
    tag = "ollama",
    responses((status = 200, description = "The version", body = Version))
)]
pub async fn version(caller: Result<Caller, ApiError>) -> Result<Json<Version>, OllamaError> {
    caller?;
    Ok(Json(Version {
        version: OLLAMA_VERSION,
        agentbox: env!("CARGO_PKG_VERSION"),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaDetails)]
pub struct Details {
    pub parent_model: String,
    /// `gguf` for local models; empty for the others.
    pub format: String,
    /// The architecture (`llama`, `qwen2`...), or `role`, `remote`, `agent`.
    pub family: String,
    pub families: Vec<String>,
    pub parameter_size: String,
    pub quantization_level: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaTagModel)]
pub struct TagModel {
    pub name: String,
    pub model: String,
    pub modified_at: String,
    pub size: u64,
    /// The file's sha256, when known.
    pub digest: String,
    pub details: Details,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaTags)]
pub struct Tags {
    pub models: Vec<TagModel>,
}

fn details(card: &ModelCard, facts: Option<&GgufFacts>) -> Details {
    let family = match facts.and_then(|facts| facts.architecture.clone()) {
        Some(architecture) => architecture,
        None => kind_name(card.kind).to_owned(),
    };
    Details {
        parent_model: String::new(),
        format: if card.kind == CardKind::Local { "gguf" } else { "" }.to_owned(),
        families: vec![family.clone()],
        family,
        parameter_size: facts.and_then(|f| f.parameter_size.clone()).unwrap_or_default(),
        quantization_level: facts.and_then(|f| f.quantization.clone()).unwrap_or_default(),
    }
}

fn tag_model(card: &ModelCard, facts: Option<&GgufFacts>) -> TagModel {
    let file = card.file.as_ref();
    let modified = file
        .and_then(|file| file.modified)
        .map_or_else(chrono::Utc::now, chrono::DateTime::<chrono::Utc>::from);
    TagModel {
        name: card.id.clone(),
        model: card.id.clone(),
        modified_at: modified.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        size: file.map_or(0, |file| file.size_bytes),
        digest: file.and_then(|file| file.sha256.clone()).unwrap_or_default(),
        details: details(card, facts),
    }
}

/// The models, roles and agents the caller may name (Ollama-compatible).
#[utoipa::path(
    get,
    path = "/api/tags",
    operation_id = "ollamaTags",
    tag = "ollama",
    responses(
        (status = 200, description = "Local models (with their file's facts), roles, remote models and `agent:<name>`s", body = Tags),
        (status = 401, description = "No or a wrong API key", body = OllamaErrorBody),
    )
)]
pub async fn tags(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
) -> Result<Json<Tags>, OllamaError> {
    let Caller(caller) = caller?;
    let models = state.services.completions.models_with_facts(&caller).await?;
    Ok(Json(Tags {
        models: models
            .iter()
            .map(|(card, facts)| tag_model(card, facts.as_ref()))
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaRunningModel)]
pub struct RunningModel {
    #[serde(flatten)]
    pub tag: TagModel,
    /// When its `keep_alive` ends; absent while it stays until memory is needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Bytes in GPU memory (0: CPU).
    pub size_vram: u64,
    pub context_length: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaRunning)]
pub struct Running {
    pub models: Vec<RunningModel>,
}

/// The local models in memory (Ollama-compatible).
#[utoipa::path(
    get,
    path = "/api/ps",
    operation_id = "ollamaRunning",
    tag = "ollama",
    responses((status = 200, description = "The loaded models", body = Running))
)]
pub async fn running(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
) -> Result<Json<Running>, OllamaError> {
    let Caller(caller) = caller?;
    let completions = &state.services.completions;
    let known = completions.models_with_facts(&caller).await?;
    let models = completions
        .running()
        .await
        .into_iter()
        .map(|running| {
            let found = known.iter().find(|(card, _)| card.id == running.model.name);
            let mut tag = match found {
                Some((card, facts)) => tag_model(card, facts.as_ref()),
                None => tag_model(
                    &ModelCard {
                        id: running.model.name.clone(),
                        kind: CardKind::Local,
                        owned_by: "local".to_owned(),
                        description: None,
                        role: None,
                        file: None,
                    },
                    None,
                ),
            };
            tag.size = running.model.size_bytes;
            RunningModel {
                tag,
                expires_at: running.expires_at.map(|at| {
                    chrono::DateTime::<chrono::Utc>::from(at)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                }),
                size_vram: 0,
                context_length: running.model.context_per_slot,
            }
        })
        .collect();
    Ok(Json(Running { models }))
}

/// `verbose` and `insecure` are accepted and ignored (downloads are always checked).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = OllamaNameBody)]
pub struct NameBody {
    /// The model (`name` is accepted too, as older clients send it).
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// For `/api/pull`: status lines unless false.
    #[serde(default)]
    pub stream: Option<bool>,
}

impl NameBody {
    fn model(&self) -> Result<String, ApiError> {
        self.model
            .as_deref()
            .or(self.name.as_deref())
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| invalid("model", "model is required"))
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaShow)]
pub struct Show {
    pub modelfile: String,
    pub parameters: String,
    pub template: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub details: Details,
    /// The GGUF file's scalar metadata.
    #[schema(value_type = Object)]
    pub model_info: serde_json::Map<String, Value>,
    /// `completion`, and `tools` for models (agents call their own).
    pub capabilities: Vec<&'static str>,
    pub modified_at: String,
}

/// What a model, role or agent is (Ollama-compatible): read from the GGUF file of the local
/// model that answers for it.
#[utoipa::path(
    post,
    path = "/api/show",
    operation_id = "ollamaShow",
    tag = "ollama",
    request_body = NameBody,
    responses(
        (status = 200, description = "The model's details", body = Show),
        (status = 404, description = "The caller may not name it", body = OllamaErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Result<AnyJson<NameBody>, ApiError>,
) -> Result<Json<Show>, OllamaError> {
    let Caller(caller) = caller?;
    let AnyJson(body) = body?;
    let details_of = state
        .services
        .completions
        .details(&caller, &body.model()?)
        .await?;
    let facts = details_of.facts.as_ref();
    let card = &details_of.card;
    let mut model_info: serde_json::Map<String, Value> = facts
        .map(|facts| facts.metadata.clone().into_iter().collect())
        .unwrap_or_default();
    if let Some(answered_by) = &details_of.answered_by {
        model_info.insert(
            "agentbox.answered_by".to_owned(),
            Value::from(answered_by.clone()),
        );
    }
    let from = card.file.as_ref().map_or_else(
        || details_of.answered_by.clone().unwrap_or_else(|| card.id.clone()),
        |file| file.path.display().to_string(),
    );
    Ok(Json(Show {
        modelfile: format!(
            "# {} ({}), served by agentbox\nFROM {from}\n",
            card.id,
            kind_name(card.kind)
        ),
        parameters: String::new(),
        template: facts.and_then(|f| f.chat_template.clone()).unwrap_or_default(),
        system: details_of.system.clone(),
        details: details(card, facts),
        model_info,
        capabilities: if card.kind == CardKind::Agent {
            vec!["completion"]
        } else {
            vec!["completion", "tools"]
        },
        modified_at: tag_model(card, facts).modified_at,
    }))
}

/// One of Ollama's pull status lines.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaPullStatus)]
pub struct PullStatus {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<u64>,
}

fn status(text: impl Into<String>) -> PullStatus {
    PullStatus {
        status: text.into(),
        digest: None,
        total: None,
        completed: None,
    }
}

/// The lines of one pull state: progress, or the end (`success`, or an error line).
fn pull_lines(followed: Followed, name: &str) -> Vec<Result<PullStatus, OllamaErrorBody>> {
    let stopped = || {
        Err(OllamaErrorBody {
            error: "the download stopped unexpectedly; start it again to resume".to_owned(),
        })
    };
    match followed.state {
        _ if followed.stopped => vec![stopped()],
        // The first line, `pulling manifest`, is sent before any state.
        PullState::Starting => Vec::new(),
        PullState::Downloading(progress) => vec![Ok(PullStatus {
            status: format!("pulling {name}"),
            digest: None,
            total: progress.total,
            completed: Some(progress.done),
        })],
        PullState::Done(pulled) => vec![
            Ok(PullStatus {
                status: format!("pulling {name}"),
                digest: pulled.sha256.as_ref().map(|sha| format!("sha256:{sha}")),
                total: Some(pulled.bytes),
                completed: Some(pulled.bytes),
            }),
            Ok(status("verifying sha256 digest")),
            Ok(status("success")),
        ],
        PullState::Failed(err) => vec![Err(OllamaErrorBody {
            error: engine_error_body(&err).1,
        })],
    }
}

/// Downloads a model of the catalog (admins; Ollama-compatible status lines).
#[utoipa::path(
    post,
    path = "/api/pull",
    operation_id = "ollamaPull",
    tag = "ollama",
    request_body = NameBody,
    responses(
        (status = 200, description = "`PullStatus` lines (newline-delimited JSON) ending with `success` or an `error` line; one object with `stream: false`",
            content((PullStatus = "application/json"), (PullStatus = "application/x-ndjson"))),
        (status = 403, description = "Not an admin", body = OllamaErrorBody),
        (status = 404, description = "Not in the catalog", body = OllamaErrorBody),
    )
)]
pub async fn pull(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Result<AnyJson<NameBody>, ApiError>,
) -> Result<Response, OllamaError> {
    let Caller(caller) = caller?;
    let AnyJson(body) = body?;
    let name = body.model()?;
    let handle = state.services.models.pull(&caller, &name, false).await?;
    let name = handle.name.clone();
    // Ollama's stream always opens with the manifest line, whatever state the pull is in.
    let lines = futures::stream::iter([Ok(status("pulling manifest"))])
        .chain(follow(handle).flat_map(move |followed| futures::stream::iter(pull_lines(followed, &name))));
    if body.stream != Some(false) {
        return Ok(ndjson(lines.map(|line| match line {
            Ok(status) => serde_json::to_value(status).unwrap_or_default(),
            Err(error) => serde_json::to_value(error).unwrap_or_default(),
        })));
    }
    let last = lines.collect::<Vec<_>>().await.pop();
    match last {
        Some(Ok(status)) => Ok(Json(status).into_response()),
        Some(Err(error)) => Err(ApiError::RunFailed {
            code: "download_failed",
            message: error.error,
        }
        .into()),
        None => Err(invalid("model", "the download reported nothing").into()),
    }
}

/// Deletes a local model's files (admins; Ollama-compatible).
#[utoipa::path(
    delete,
    path = "/api/delete",
    operation_id = "ollamaDelete",
    tag = "ollama",
    request_body = NameBody,
    responses(
        (status = 200, description = "Deleted"),
        (status = 403, description = "Not an admin", body = OllamaErrorBody),
        (status = 404, description = "No such model", body = OllamaErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Result<AnyJson<NameBody>, ApiError>,
) -> Result<Response, OllamaError> {
    let Caller(caller) = caller?;
    let AnyJson(body) = body?;
    state.services.completions.delete(&caller, &body.model()?).await?;
    Ok(axum::http::StatusCode::OK.into_response())
}
