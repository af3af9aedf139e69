//! `/api/v1/tasks`: background agent runs. `POST` queues one (201), `GET` lists the caller's
//! (newest first, `?status=&limit=&offset=`), `GET /{id}` reads one, `POST /{id}/cancel`
//! cancels it, and `GET /{id}/events` streams its events as server-sent events: `id:` is the
//! event's id, `event:` its kind (`started`, `progress`, `finished`, or the agent run's own such
//! as `token`), `data:` its JSON object. The stream replays from the start (or after the
//! `Last-Event-ID` header, or `?after=`), follows the task live, and ends after `finished`.
//! Another user's task is "not found".

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::{Page, Task};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::http::openapi::ServerSentEvent;
use crate::http::replay::{resume_after, stored_events};
use crate::service::tasks::CreateTask;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskBody {
    /// The agent that runs it, by name.
    agent: String,
    /// What to ask the agent.
    input: String,
    /// Run it in this chat session of the caller's (a new one when absent).
    session_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only tasks in this state: `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    status: Option<String>,
    /// How many (1-200, default 50).
    limit: Option<i64>,
    /// How many to skip (default 0).
    offset: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Like `Last-Event-ID`, for clients that cannot set headers; the header wins.
    after: Option<i64>,
}

/// Queues a background task: an agent run on one input.
#[utoipa::path(
    post,
    path = "/tasks",
    operation_id = "createTask",
    tag = "tasks",
    request_body = CreateTaskBody,
    responses(
        (status = 201, description = "The task, queued", body = Task),
        (status = 422, description = "An unknown or disabled agent, an empty or too long input, or a session not the caller's (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateTaskBody>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    let request = CreateTask {
        agent: body.agent,
        input: body.input,
        session_id: body.session_id,
    };
    let task = state.services.tasks.create(&caller, request).await?;
    Ok((StatusCode::CREATED, Json(task)))
}

/// The caller's tasks, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/tasks",
    operation_id = "listTasks",
    tag = "tasks",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of tasks", body = Vec<Task>),
        (status = 422, description = "An unknown status (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<Task>>, ApiError> {
    let page = Page::new(query.limit, query.offset);
    Ok(Json(
        state
            .services
            .tasks
            .list(&caller, query.status.as_deref(), page)
            .await?,
    ))
}

/// One of the caller's tasks.
#[utoipa::path(
    get,
    path = "/tasks/{id}",
    operation_id = "getTask",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task", body = Task),
        (status = 404, description = "No such task of the caller's (`not_found`)", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(state.services.tasks.get(&caller, id).await?))
}

/// Cancels a task.
///
/// Answers with the task as it is now: `cancelled` when it had not started, still `running`
/// with `cancel_requested` while its run stops.
#[utoipa::path(
    post,
    path = "/tasks/{id}/cancel",
    operation_id = "cancelTask",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's id")),
    responses(
        (status = 200, description = "The task as it is now", body = Task),
        (status = 404, description = "No such task of the caller's (`not_found`)", body = ErrorBody),
        (status = 409, description = "The task has already ended (`task_finished`)", body = ErrorBody),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(state.services.tasks.cancel(&caller, id).await?))
}

/// Streams a task's events.
///
/// Answers with server-sent events: `id:` is the event's id, `event:` its kind, `data:` one
/// JSON object. The stream replays from the start (or after `Last-Event-ID` / `after`), follows
/// the task live, and ends after `finished`. Kinds: `started` (`{attempt, worker}`),
/// `progress` (`{progress, message}`), `cancel_requested` (`{}`), `requeued` (`{reason}`),
/// the agent run's `token` (data: `TokenData`), `message` (`{id, session_id, role, status,
/// model}`), `tool_call` (data: `ToolCallData`), `tool_result` (data: `ToolResultData`),
/// `agent_error` (`{code, message}`) and `answer` (data: `RunSummary`), then `finished`
/// (`{status, result?, error?}`). A failure of the stream itself arrives as
/// `error` (data: `ErrorBody`).
#[utoipa::path(
    get,
    path = "/tasks/{id}/events",
    operation_id = "streamTaskEvents",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's id"),
        ("Last-Event-ID" = Option<i64>, Header, description = "Replay only the events after this id"),
        EventsQuery),
    responses(
        (status = 200, content_type = "text/event-stream", body = ServerSentEvent,
            description = "Server-sent events, each with its `id`; the last is `finished`"),
        (status = 404, description = "No such task of the caller's (`not_found`)", body = ErrorBody),
        (status = 422, description = "A `Last-Event-ID` that is not an event id (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = resume_after(&headers, query.after)?;
    let stream = state.services.tasks.events(&caller, id, after).await?;
    let events = stored_events(stream.map(|item| item.map(|event| (event.id, event.kind, event.data))));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
