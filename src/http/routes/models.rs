//! `/api/v1/models`: the models and their files, for every signed-in user; admins download
//! them with `POST /api/v1/models/{name}/pull`, which streams the progress as server-sent events:
//! `progress` ([`PullProgress`]), then `done` ([`PullDone`]) or `error` (`{code, message}`), and
//! choose which roles a model plays with `PUT /api/v1/models/{name}/roles`.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use utoipa::{IntoParams, ToSchema};

use crate::engine::catalog::ModelRole;
use crate::engine::library::RoleChange;
use crate::engine::llama::LoadedModel;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, engine_error_body};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::http::openapi::ServerSentEvent;
use crate::service::models::{ModelList, PullHandle, PullState};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    /// Download a model whose catalog entry has no sha256.
    #[serde(default)]
    allow_unverified: bool,
}

/// The data of a pull's `progress` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct PullProgress {
    /// Bytes downloaded so far.
    done: u64,
    /// The file's size, when known.
    total: Option<u64>,
    /// Bytes per second.
    rate: f64,
    /// Seconds left, when known.
    eta_secs: Option<u64>,
}

/// The data of a pull's `done` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct PullDone {
    name: String,
    bytes: u64,
    sha256: Option<String>,
    /// The file's sha256 matched the catalog's.
    verified: bool,
    /// The file was there already; nothing was downloaded.
    already_present: bool,
    /// A partial download was resumed from this byte.
    resumed_from: u64,
}

/// The roles a model is to play.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelRoles {
    /// Every role it should play: `fast`, `reasoning`, `code`, `embedding`. Roles it was given
    /// and that are left out go back to the catalog's models; the others move to it from
    /// whichever model played them.
    roles: Vec<ModelRole>,
}

/// The answer to an unload.
#[derive(Debug, Serialize, ToSchema)]
pub struct Unloaded {
    name: String,
    /// `false`: the model was not in memory.
    unloaded: bool,
}

/// The models the platform knows.
///
/// Catalog entries, imported files and unlisted files in the models folder, with their download
/// and memory state.
#[utoipa::path(
    get,
    path = "/models",
    operation_id = "listModels",
    tag = "models",
    responses((status = 200, description = "The models", body = ModelList))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(_caller): Caller,
) -> Result<Json<ModelList>, ApiError> {
    Ok(Json(state.services.models.list().await?))
}

/// Loads a local model into memory now (admins); answers with what was loaded.
#[utoipa::path(
    post,
    path = "/models/{name}/load",
    operation_id = "loadModel",
    tag = "models",
    params(("name" = String, Path, description = "The model's name")),
    responses(
        (status = 200, description = "The model in memory", body = LoadedModel),
        (status = 404, description = "No such model (`model_not_found`)", body = ErrorBody),
        (status = 503, description = "The file is missing (`model_unavailable`) or does not fit in memory (`model_over_budget`)", body = ErrorBody),
    )
)]
pub async fn load(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<LoadedModel>, ApiError> {
    Ok(Json(state.services.inference.load(&caller, &name).await?))
}

/// Frees a local model's memory (admins).
#[utoipa::path(
    post,
    path = "/models/{name}/unload",
    operation_id = "unloadModel",
    tag = "models",
    params(("name" = String, Path, description = "The model's name")),
    responses(
        (status = 200, description = "Whether it was in memory", body = Unloaded),
        (status = 404, description = "No such model (`model_not_found`)", body = ErrorBody),
    )
)]
pub async fn unload(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Unloaded>, ApiError> {
    let unloaded = state.services.inference.unload(&caller, &name).await?;
    Ok(Json(Unloaded { name, unloaded }))
}

/// Sets the roles a model plays (admins).
///
/// One model may play several roles. Roles in the list move to this model; roles it had been
/// given and that are not in the list go back to the catalog's models. A role the model plays
/// as the catalog's model for it cannot be left out: give it to another model instead.
#[utoipa::path(
    put,
    path = "/models/{name}/roles",
    operation_id = "setModelRoles",
    tag = "models",
    params(("name" = String, Path, description = "The model's name")),
    request_body = ModelRoles,
    responses(
        (status = 200, description = "The roles it plays now, and the roles that changed hands", body = RoleChange),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such model (`model_not_found`)", body = ErrorBody),
        (status = 409, description = "A role the catalog gives it was left out, or its file is missing (`role_conflict`)", body = ErrorBody),
        (status = 422, description = "An unknown role (`invalid_body`)", body = ErrorBody),
    )
)]
pub async fn set_roles(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ModelRoles>,
) -> Result<Json<RoleChange>, ApiError> {
    Ok(Json(
        state
            .services
            .models
            .set_roles(&caller, &name, body.roles)
            .await?,
    ))
}

/// Downloads a model (admins), streaming its progress.
///
/// Starts the download, or joins the one running, and answers with server-sent events:
/// `progress` (data: `PullProgress`) while it runs, then `done` (data: `PullDone`) or
/// `error` (data: `ErrorBody`, `{code, message}`), after which the stream ends. Problems known
/// before anything is downloaded (unknown model, no sha256, not an admin) are plain error
/// responses.
#[utoipa::path(
    post,
    path = "/models/{name}/pull",
    operation_id = "pullModel",
    tag = "models",
    params(("name" = String, Path, description = "The model's name"), PullQuery),
    responses(
        (status = 200, content_type = "text/event-stream", body = ServerSentEvent,
            description = "Server-sent events: `progress` (`PullProgress`), then `done` (`PullDone`) or `error` (`ErrorBody`)"),
        (status = 404, description = "No such model in the catalog (`model_not_found`)", body = ErrorBody),
        (status = 409, description = "Another process is downloading it (`pull_in_progress`)", body = ErrorBody),
        (status = 422, description = "The catalog has no sha256 for it and `allow_unverified` is not set (`unverified_model`)", body = ErrorBody),
    )
)]
pub async fn pull(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<PullQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let handle = state
        .services
        .models
        .pull(&caller, &name, query.allow_unverified)
        .await?;
    Ok(Sse::new(events(handle)).keep_alive(KeepAlive::default()))
}

struct Follow {
    updates: watch::Receiver<PullState>,
    first: bool,
}

/// A pull's state as it changes, once now and then at every change, ending with a finished
/// state; `stopped` marks a pull whose task went away before it finished.
pub(crate) struct Followed {
    pub state: PullState,
    pub stopped: bool,
}

/// The states of a pull, for the SSE events here and Ollama's `/api/pull` lines.
pub(crate) fn follow(handle: PullHandle) -> impl Stream<Item = Followed> {
    let PullHandle { updates, .. } = handle;
    futures::stream::unfold(Some(Follow { updates, first: true }), |follow| async move {
        let mut follow = follow?;
        let mut ended = false;
        if !follow.first {
            ended = follow.updates.changed().await.is_err();
        }
        follow.first = false;
        let state = follow.updates.borrow_and_update().clone();
        let stopped = ended && !state.is_finished();
        let next = (!state.is_finished() && !ended).then_some(follow);
        Some((Followed { state, stopped }, next))
    })
}

fn events(handle: PullHandle) -> impl Stream<Item = Result<Event, Infallible>> {
    follow(handle).map(|Followed { state, stopped }| {
        let event = match &state {
            _ if stopped => error_event(
                "pull_stopped",
                "the download stopped unexpectedly; start it again to resume",
            ),
            PullState::Starting => progress_event(0, None, 0.0, None),
            PullState::Downloading(p) => progress_event(p.done, p.total, p.rate, p.eta_secs),
            PullState::Done(pulled) => json_event(
                "done",
                &PullDone {
                    name: pulled.name.clone(),
                    bytes: pulled.bytes,
                    sha256: pulled.sha256.clone(),
                    verified: pulled.verified,
                    already_present: pulled.already_present,
                    resumed_from: pulled.resumed_from,
                },
            ),
            PullState::Failed(err) => {
                let (code, message) = engine_error_body(err);
                error_event(code, &message)
            }
        };
        Ok(event)
    })
}

fn progress_event(done: u64, total: Option<u64>, rate: f64, eta_secs: Option<u64>) -> Event {
    json_event(
        "progress",
        &PullProgress {
            done,
            total,
            rate,
            eta_secs,
        },
    )
}

fn error_event(code: &str, message: &str) -> Event {
    json_event("error", &ErrorBody::new(code, message.to_owned()))
}

fn json_event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("{}"))
}
