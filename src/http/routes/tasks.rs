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
use serde_json::json;
use uuid::Uuid;

use crate::domain::{Page, Task, TaskEvent};
use crate::http::AppState;
use crate::http::error::{ApiError, service_error_body};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::service::ServiceError;
use crate::service::tasks::CreateTask;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskBody {
    agent: String,
    input: String,
    session_id: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Like `Last-Event-ID`, for clients that cannot set headers; the header wins.
    after: Option<i64>,
}

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

pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(state.services.tasks.get(&caller, id).await?))
}

/// Answers with the task as it is now: `cancelled` when it had not started, still `running`
/// with `cancel_requested` while its run stops.
pub async fn cancel(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(state.services.tasks.cancel(&caller, id).await?))
}

pub async fn events(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
                .filter(|id| *id >= 0)
                .ok_or_else(|| {
                    ServiceError::invalid(
                        "Last-Event-ID",
                        "Last-Event-ID must be the id of an event of this stream (a whole number)",
                    )
                })?,
        ),
        None => query.after,
    };
    let stream = state.services.tasks.events(&caller, id, after).await?;
    let events = stream.map(|item| {
        Ok(match item {
            Ok(event) => sse_event(&event),
            Err(err) => {
                let (code, message) = service_error_body(err);
                Event::default()
                    .event("error")
                    .json_data(json!({ "code": code, "message": message }))
                    .unwrap_or_else(|_| Event::default().event("error").data("{}"))
            }
        })
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn sse_event(event: &TaskEvent) -> Event {
    Event::default()
        .id(event.id.to_string())
        .event(&event.kind)
        .json_data(&event.data)
        .unwrap_or_else(|_| {
            Event::default()
                .id(event.id.to_string())
                .event(&event.kind)
                .data("{}")
        })
}
