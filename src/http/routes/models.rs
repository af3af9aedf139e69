//! `/api/v1/models`: the models and their files, for every signed-in user; admins download
//! them with `POST /api/v1/models/{name}/pull`, which streams the progress as server-sent events:
//! `progress` (`{done, total, rate, eta_secs}`), then `done` or `error` (`{code, message}`).

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

use crate::engine::llama::LoadedModel;
use crate::http::AppState;
use crate::http::error::{ApiError, engine_error_body};
use crate::http::extract::{ApiPath, ApiQuery, Caller};
use crate::service::models::{ModelList, PullHandle, PullState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    /// Download a model whose catalog entry has no sha256.
    #[serde(default)]
    allow_unverified: bool,
}

/// The `done` event.
#[derive(Debug, Serialize)]
struct DoneEvent<'a> {
    name: &'a str,
    bytes: u64,
    sha256: Option<&'a str>,
    verified: bool,
    already_present: bool,
    resumed_from: u64,
}

pub async fn list(
    State(state): State<AppState>,
    Caller(_caller): Caller,
) -> Result<Json<ModelList>, ApiError> {
    Ok(Json(state.services.models.list().await?))
}

/// Loads a local model into memory now (admins); answers with what was loaded.
pub async fn load(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<LoadedModel>, ApiError> {
    Ok(Json(state.services.inference.load(&caller, &name).await?))
}

/// Frees a local model's memory (admins).
pub async fn unload(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let unloaded = state.services.inference.unload(&caller, &name).await?;
    Ok(Json(json!({ "name": name, "unloaded": unloaded })))
}

/// Starts the download (or joins the one running) and streams its progress. Problems known
/// before anything is downloaded (unknown model, no sha256, not an admin) are plain error
/// responses; later ones arrive as an `error` event.
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

fn events(handle: PullHandle) -> impl Stream<Item = Result<Event, Infallible>> {
    let PullHandle { updates, .. } = handle;
    futures::stream::unfold(Some(Follow { updates, first: true }), |follow| async move {
        let mut follow = follow?;
        let mut ended = false;
        if !follow.first {
            ended = follow.updates.changed().await.is_err();
        }
        follow.first = false;
        let state = follow.updates.borrow_and_update().clone();
        let event = match &state {
            _ if ended && !state.is_finished() => error_event(
                "pull_stopped",
                "the download stopped unexpectedly; start it again to resume",
            ),
            PullState::Starting => progress_event(0, None, 0.0, None),
            PullState::Downloading(p) => progress_event(p.done, p.total, p.rate, p.eta_secs),
            PullState::Done(pulled) => json_event(
                "done",
                &DoneEvent {
                    name: &pulled.name,
                    bytes: pulled.bytes,
                    sha256: pulled.sha256.as_deref(),
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
        let next = (!state.is_finished() && !ended).then_some(follow);
        Some((Ok(event), next))
    })
}

fn progress_event(done: u64, total: Option<u64>, rate: f64, eta_secs: Option<u64>) -> Event {
    json_event(
        "progress",
        &json!({ "done": done, "total": total, "rate": rate, "eta_secs": eta_secs }),
    )
}

fn error_event(code: &str, message: &str) -> Event {
    json_event("error", &json!({ "code": code, "message": message }))
}

fn json_event(name: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| Event::default().event(name).data("{}"))
}
