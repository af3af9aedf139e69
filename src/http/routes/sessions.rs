//! `/api/v1/sessions`: a user's chat sessions, and `POST /api/v1/sessions/{id}/messages`, which
//! answers as server-sent events — `message` (the stored prompt first, then every stored turn),
//! `token`, `reasoning`, `tool_call_delta`, `tool_call`, `tool_result`, `error`, and `done` last. Closing the connection stops
//! the model; what it had written is stored marked interrupted. `GET /api/v1/sessions/{id}/events`
//! follows the latest answer from any replica: the same events, with ids, from its start.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::users::PageQuery;
use crate::domain::{ChatSession, Message};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::http::openapi::ServerSentEvent;
use crate::http::replay::{resume_after, stored_events};
use crate::service::chat::events::AgentEvent;
use crate::service::chat::{ChatRun, SendMessage};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionBody {
    /// An agent name, or `auto` (the default) to let the router pick per message.
    agent: Option<String>,
    title: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListSessionsQuery {
    /// How many (1-200, default 50).
    limit: Option<i64>,
    /// How many to skip (default 0).
    offset: Option<i64>,
    /// Search titles and message text.
    q: Option<String>,
    /// List the archived sessions instead of the others.
    #[serde(default)]
    archived: bool,
}

/// The fields to change; those left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSessionBody {
    title: Option<String>,
    archived: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessageBody {
    content: String,
    /// Another agent for this message only (`auto`: the router picks).
    agent: Option<String>,
    /// A model name or role that replaces the agent's for this message.
    model: Option<String>,
}

/// A session with the agents it has used.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDetail {
    #[serde(flatten)]
    session: ChatSession,
    agents: Vec<SessionAgent>,
}

/// An agent that answered in a session, the model it used last, and its model calls.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionAgent {
    agent: String,
    model: Option<String>,
    steps: i32,
}

/// Starts a chat session.
#[utoipa::path(
    post,
    path = "/sessions",
    operation_id = "createSession",
    tag = "sessions",
    request_body = CreateSessionBody,
    responses(
        (status = 201, description = "The session", body = ChatSession),
        (status = 404, description = "No such agent (`not_found`)", body = ErrorBody),
        (status = 422, description = "A disabled agent or too long a title (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateSessionBody>,
) -> Result<(StatusCode, Json<ChatSession>), ApiError> {
    let session = state
        .services
        .chat
        .create(&caller, body.agent, body.title)
        .await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// The caller's sessions, most recent first, a page at a time.
#[utoipa::path(
    get,
    path = "/sessions",
    operation_id = "listSessions",
    tag = "sessions",
    params(ListSessionsQuery),
    responses(
        (status = 200, description = "One page of sessions", body = Vec<ChatSession>),
        (status = 422, description = "Too long a search text (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<ListSessionsQuery>,
) -> Result<Json<Vec<ChatSession>>, ApiError> {
    let page = crate::domain::Page::new(query.limit, query.offset);
    Ok(Json(
        state
            .services
            .chat
            .list(&caller, page, query.q, query.archived)
            .await?,
    ))
}

/// One of the caller's sessions, with the agents that answered in it.
#[utoipa::path(
    get,
    path = "/sessions/{id}",
    operation_id = "getSession",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The session", body = SessionDetail),
        (status = 404, description = "No such session of the caller's (`not_found`)", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SessionDetail>, ApiError> {
    let session = state.services.chat.get(&caller, id).await?;
    let agents = state
        .services
        .chat
        .session_agents(&caller, id)
        .await?
        .into_iter()
        .map(|(agent, model, steps)| SessionAgent { agent, model, steps })
        .collect();
    Ok(Json(SessionDetail { session, agents }))
}

/// Renames a session or archives it.
#[utoipa::path(
    patch,
    path = "/sessions/{id}",
    operation_id = "updateSession",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id")),
    request_body = UpdateSessionBody,
    responses(
        (status = 200, description = "The session as changed", body = ChatSession),
        (status = 404, description = "No such session of the caller's (`not_found`)", body = ErrorBody),
        (status = 422, description = "Too long a title (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateSessionBody>,
) -> Result<Json<ChatSession>, ApiError> {
    Ok(Json(
        state
            .services
            .chat
            .update(&caller, id, body.title, body.archived)
            .await?,
    ))
}

/// Deletes a session and its messages.
#[utoipa::path(
    delete,
    path = "/sessions/{id}",
    operation_id = "deleteSession",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such session of the caller's (`not_found`)", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services.chat.delete(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A session's stored messages, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/sessions/{id}/messages",
    operation_id = "listMessages",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id"), PageQuery),
    responses(
        (status = 200, description = "One page of messages", body = Vec<Message>),
        (status = 404, description = "No such session of the caller's (`not_found`)", body = ErrorBody),
    )
)]
pub async fn messages(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Vec<Message>>, ApiError> {
    Ok(Json(
        state.services.chat.messages(&caller, id, query.page()).await?,
    ))
}

/// Sends a message and streams the agent's answer.
///
/// Answers with server-sent events: `message` (data: `Message`; the stored prompt first, then
/// every stored turn), `token` (data: `TokenData`), `reasoning` (data: `TokenData`: a reasoning
/// model's thinking, not part of the answer), `tool_call_delta` (data: `ToolCallDeltaData`: a
/// call being generated, its name and then pieces of its arguments' JSON, as a local model
/// writes them), `tool_call` (data: `ToolCallData`: the complete call, same id),
/// `tool_result` (data: `ToolResultData`), `error` (data: `ErrorBody`, `{code, message}`) when
/// the run fails, and `done` (data: `RunSummary`) last, after which the stream ends. Closing the
/// connection stops the model; what it had written is stored marked `interrupted`. Problems
/// found before the run starts (an empty message, an unknown agent) are plain error responses.
#[utoipa::path(
    post,
    path = "/sessions/{id}/messages",
    operation_id = "sendMessage",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id")),
    request_body = SendMessageBody,
    responses(
        (status = 200, content_type = "text/event-stream", body = ServerSentEvent,
            description = "Server-sent events: `message`, `token`, `reasoning`, `tool_call_delta`, `tool_call`, `tool_result`, `error`, then `done`"),
        (status = 404, description = "No such session of the caller's, or agent (`not_found`)", body = ErrorBody),
        (status = 409, description = "The session is still answering the previous message (`session_busy`)", body = ErrorBody),
        (status = 422, description = "An empty or too long message, or a disabled agent (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn send(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SendMessageBody>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let send = SendMessage {
        content: body.content,
        agent: body.agent,
        model: body.model,
    };
    let run = state.services.chat.send(&caller, id, send).await?;
    Ok(Sse::new(events(run)).keep_alive(KeepAlive::default()))
}

/// The run's events as SSE, ending after `done`. The stream owns the run's drop guard: when
/// the client goes away, axum drops the stream and the run is cancelled.
fn events(run: ChatRun) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(Some(run), |run| async move {
        let mut run = run?;
        let event = run.events.recv().await?;
        let last = matches!(event, AgentEvent::Done(_));
        let sse = Event::default()
            .event(event.name())
            .json_data(event.data())
            .unwrap_or_else(|_| Event::default().event(event.name()).data("{}"));
        Some((Ok(sse), (!last).then_some(run)))
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FollowQuery {
    /// Like `Last-Event-ID`, for clients that cannot set headers; the header wins.
    after: Option<i64>,
}

/// Follows the session's latest answer, on whichever replica runs it.
///
/// Answers with the server-sent events `POST /sessions/{id}/messages` streams, each with its
/// `id`, from the answer's start (or after `Last-Event-ID`), then live: `message` (data:
/// `Message`; the prompt first), `token` (data: `TokenData`; streamed pieces joined into larger
/// ones), `reasoning` (data: `TokenData`), `tool_call_delta` (data: `ToolCallDeltaData`),
/// `tool_call` (data: `ToolCallData`), `tool_result` (data: `ToolResultData`), `error` (data:
/// `ErrorBody`), and `done` (data: `RunSummary`) last, after which the stream ends. When no answer
/// is running, it replays what the latest answer recorded (nothing before the first) and ends.
#[utoipa::path(
    get,
    path = "/sessions/{id}/events",
    operation_id = "followSession",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id"),
        ("Last-Event-ID" = Option<i64>, Header, description = "Replay only the events after this id"),
        FollowQuery),
    responses(
        (status = 200, content_type = "text/event-stream", body = ServerSentEvent,
            description = "Server-sent events, each with its `id`: `message`, `token`, `reasoning`, `tool_call_delta`, `tool_call`, `tool_result`, `error`, then `done`"),
        (status = 404, description = "No such session of the caller's (`not_found`)", body = ErrorBody),
        (status = 422, description = "A `Last-Event-ID` that is not an event id (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn follow(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<FollowQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = resume_after(&headers, query.after)?;
    let stream = state.services.chat.follow(&caller, id, after).await?;
    let events = stored_events(stream.map(|item| item.map(|event| (event.id, event.kind, event.data))));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
