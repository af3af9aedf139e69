//! `/api/v1/sessions`: a user's chat sessions, and `POST /api/v1/sessions/{id}/messages`, which
//! answers as server-sent events — `message` (the stored prompt first, then every stored turn),
//! `token`, `tool_call`, `tool_result`, `error`, and `done` last. Closing the connection stops
//! the model; what it had written is stored marked interrupted.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::users::PageQuery;
use crate::domain::{ChatSession, Message};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::service::chat::events::AgentEvent;
use crate::service::chat::{ChatRun, SendMessage};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionBody {
    /// An agent name, or `auto` (the default) to let the router pick per message.
    agent: Option<String>,
    title: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSessionsQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    /// Search titles and message text.
    q: Option<String>,
    #[serde(default)]
    archived: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSessionBody {
    title: Option<String>,
    archived: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessageBody {
    content: String,
    /// Another agent for this message only (`auto`: the router picks).
    agent: Option<String>,
    /// A model name or role that replaces the agent's for this message.
    model: Option<String>,
}

/// A session with the agents it has used.
#[derive(Debug, Serialize)]
pub struct SessionDetail {
    #[serde(flatten)]
    session: ChatSession,
    agents: Vec<SessionAgent>,
}

#[derive(Debug, Serialize)]
pub struct SessionAgent {
    agent: String,
    model: Option<String>,
    steps: i32,
}

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

pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services.chat.delete(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

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
