//! Chat sessions, their messages and which agents took part. Every statement runs as the user,
//! so RLS keeps one user's conversations invisible to everyone else: another user's session is
//! simply "not found".

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde_json::Value;
use uuid::Uuid;

use super::{Actor, Store, StoreError, touched};
use crate::domain::{ChatSession, Message, MessageStatus, NewMessage, Page};

const SESSION_COLUMNS: &str = "id, agent, title, archived, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "id, session_id, role, content, tool_calls, tool_call_id, agent, model, \
     prompt_tokens, completion_tokens, status, error, fallback, rating, rating_comment, created_at";

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: Uuid,
    agent: String,
    title: String,
    archived: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SessionRow> for ChatSession {
    fn from(row: SessionRow) -> Self {
        ChatSession {
            id: row.id,
            agent: row.agent,
            title: row.title,
            archived: row.archived,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: Uuid,
    session_id: Uuid,
    role: String,
    content: String,
    tool_calls: Option<Value>,
    tool_call_id: Option<String>,
    agent: Option<String>,
    model: Option<String>,
    prompt_tokens: Option<i32>,
    completion_tokens: Option<i32>,
    status: String,
    error: Option<String>,
    fallback: Option<Value>,
    rating: Option<i16>,
    rating_comment: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        Message {
            id: row.id,
            session_id: row.session_id,
            role: row.role,
            content: row.content,
            tool_calls: row.tool_calls,
            tool_call_id: row.tool_call_id,
            agent: row.agent,
            model: row.model,
            prompt_tokens: row.prompt_tokens.and_then(|t| u32::try_from(t).ok()),
            completion_tokens: row.completion_tokens.and_then(|t| u32::try_from(t).ok()),
            status: MessageStatus::parse(&row.status).unwrap_or(MessageStatus::Complete),
            error: row.error,
            fallback: row.fallback.and_then(|value| serde_json::from_value(value).ok()),
            rating: row.rating,
            rating_comment: row.rating_comment,
            created_at: row.created_at,
        }
    }
}

/// A message that matched a conversation search.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MessageMatch {
    pub session_id: Uuid,
    pub session_title: String,
    pub message_id: Uuid,
    pub role: String,
    /// The start of the message.
    pub snippet: String,
    pub created_at: DateTime<Utc>,
}

/// Changes to a session; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SessionUpdate {
    pub title: Option<String>,
    pub archived: Option<bool>,
}

/// `%`, `_` and `\` match themselves in an ILIKE pattern built from user text.
fn like_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

fn to_db_tokens(tokens: Option<u32>) -> Option<i32> {
    tokens.map(|t| i32::try_from(t).unwrap_or(i32::MAX))
}

impl Store {
    pub async fn create_chat_session(
        &self,
        user: Uuid,
        agent: String,
        title: String,
    ) -> Result<ChatSession, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                let sql = format!(
                    "insert into public.sessions (user_id, agent, title) values ($1, $2, $3) returning {SESSION_COLUMNS}"
                );
                let row: SessionRow = sqlx::query_as(&sql)
                    .bind(user)
                    .bind(agent)
                    .bind(title)
                    .fetch_one(conn)
                    .await?;
                Ok(row.into())
            }
            .boxed()
        })
        .await
    }

    /// The user's sessions, most recently active first. With `query`, only those whose title
    /// contains it or with a user or assistant message matching it as full-text search.
    pub async fn list_chat_sessions(
        &self,
        user: Uuid,
        page: Page,
        query: Option<String>,
        archived: bool,
    ) -> Result<Vec<ChatSession>, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                let pattern = query.as_deref().map(like_pattern);
                // The message predicate repeats the search index's expression and WHERE clause
                // (see the initial migration), so the GIN index serves it.
                let sql = format!(
                    "select {SESSION_COLUMNS} from public.sessions s
                      where s.deleted_at is null and s.archived = $4
                        and ($1::text is null
                             or s.title ilike $5
                             or exists (select 1 from public.messages m
                                         where m.session_id = s.id
                                           and m.role in ('user', 'assistant')
                                           and to_tsvector('simple', left(m.content, 100000))
                                               @@ websearch_to_tsquery('simple', $1)))
                      order by s.updated_at desc, s.id
                      limit $2 offset $3"
                );
                let rows: Vec<SessionRow> = sqlx::query_as(&sql)
                    .bind(query)
                    .bind(page.limit)
                    .bind(page.offset)
                    .bind(archived)
                    .bind(pattern)
                    .fetch_all(conn)
                    .await?;
                Ok(rows.into_iter().map(ChatSession::from).collect())
            }
            .boxed()
        })
        .await
    }

    pub async fn get_chat_session(&self, user: Uuid, id: Uuid) -> Result<ChatSession, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                let sql = format!(
                    "select {SESSION_COLUMNS} from public.sessions where id = $1 and deleted_at is null"
                );
                let row: Option<SessionRow> = sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?;
                row.map(ChatSession::from).ok_or(StoreError::NotFound)
            }
            .boxed()
        })
        .await
    }

    pub async fn update_chat_session(
        &self,
        user: Uuid,
        id: Uuid,
        update: SessionUpdate,
    ) -> Result<ChatSession, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                let sql = format!(
                    "update public.sessions set title = coalesce($2, title), archived = coalesce($3, archived)
                      where id = $1 and deleted_at is null
                      returning {SESSION_COLUMNS}"
                );
                let row: Option<SessionRow> = sqlx::query_as(&sql)
                    .bind(id)
                    .bind(update.title)
                    .bind(update.archived)
                    .fetch_optional(conn)
                    .await?;
                row.map(ChatSession::from).ok_or(StoreError::NotFound)
            }
            .boxed()
        })
        .await
    }

    /// Sets the title only while it is still empty: a title the user chose is never replaced
    /// by a generated one that finishes later.
    pub async fn set_generated_title(&self, user: Uuid, id: Uuid, title: String) -> Result<(), StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                sqlx::query("update public.sessions set title = $2 where id = $1 and title = ''")
                    .bind(id)
                    .bind(title)
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// Deletes a session with its messages (evaluations keep their numbers, unlinked).
    pub async fn delete_chat_session(&self, user: Uuid, id: Uuid) -> Result<(), StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                let result = sqlx::query("delete from public.sessions where id = $1")
                    .bind(id)
                    .execute(conn)
                    .await?;
                touched(&result)
            }
            .boxed()
        })
        .await
    }

    /// A page of a session's messages in the order they were written.
    pub async fn list_messages(
        &self,
        user: Uuid,
        session: Uuid,
        page: Page,
    ) -> Result<Vec<Message>, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                let sql = format!(
                    "select {MESSAGE_COLUMNS} from public.messages where session_id = $1
                      order by seq limit $2 offset $3"
                );
                let rows: Vec<MessageRow> = sqlx::query_as(&sql)
                    .bind(session)
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(conn)
                    .await?;
                Ok(rows.into_iter().map(Message::from).collect())
            }
            .boxed()
        })
        .await
    }

    /// The last `limit` messages of a session, oldest first: the history a model sees.
    pub async fn recent_messages(
        &self,
        user: Uuid,
        session: Uuid,
        limit: i64,
    ) -> Result<Vec<Message>, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                let sql = format!(
                    "select * from (select {MESSAGE_COLUMNS}, seq from public.messages
                                     where session_id = $1 order by seq desc limit $2) recent
                      order by seq"
                );
                let rows: Vec<MessageRow> = sqlx::query_as(&sql)
                    .bind(session)
                    .bind(limit)
                    .fetch_all(conn)
                    .await?;
                Ok(rows.into_iter().map(Message::from).collect())
            }
            .boxed()
        })
        .await
    }

    pub async fn insert_message(&self, user: Uuid, message: NewMessage) -> Result<Message, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                let sql = format!(
                    "insert into public.messages
                        (session_id, user_id, role, content, tool_calls, tool_call_id, agent, model,
                         prompt_tokens, completion_tokens, status, error, fallback)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                     returning {MESSAGE_COLUMNS}"
                );
                let row: MessageRow = sqlx::query_as(&sql)
                    .bind(message.session_id)
                    .bind(user)
                    .bind(message.role)
                    .bind(message.content)
                    .bind(message.tool_calls)
                    .bind(message.tool_call_id)
                    .bind(message.agent)
                    .bind(message.model)
                    .bind(to_db_tokens(message.prompt_tokens))
                    .bind(to_db_tokens(message.completion_tokens))
                    .bind(message.status.as_str())
                    .bind(message.error)
                    .bind(message.fallback.and_then(|f| serde_json::to_value(f).ok()))
                    .fetch_one(conn)
                    .await?;
                Ok(row.into())
            }
            .boxed()
        })
        .await
    }

    /// Records that `agent` took `steps` model calls in a session, on `model`.
    pub async fn record_agent_turn(
        &self,
        user: Uuid,
        session: Uuid,
        agent: String,
        model: Option<String>,
        steps: u32,
    ) -> Result<(), StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                sqlx::query(
                    "insert into public.agent_conversations (session_id, user_id, agent, model, step_count)
                     values ($1, $2, $3, $4, $5)
                     on conflict (session_id, agent) do update set
                        model = coalesce(excluded.model, agent_conversations.model),
                        step_count = agent_conversations.step_count + excluded.step_count,
                        last_used_at = now()",
                )
                .bind(session)
                .bind(user)
                .bind(agent)
                .bind(model)
                .bind(i32::try_from(steps).unwrap_or(i32::MAX))
                .execute(conn)
                .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// The agents a session used: (agent, model, steps), first used first.
    pub async fn session_agents(
        &self,
        user: Uuid,
        session: Uuid,
    ) -> Result<Vec<(String, Option<String>, i32)>, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                Ok(sqlx::query_as(
                    "select agent, model, step_count from public.agent_conversations
                      where session_id = $1 order by started_at, agent",
                )
                .bind(session)
                .fetch_all(conn)
                .await?)
            }
            .boxed()
        })
        .await
    }

    /// Full-text search over the user's own user and assistant messages, newest first.
    pub async fn search_messages(
        &self,
        user: Uuid,
        query: String,
        limit: i64,
    ) -> Result<Vec<MessageMatch>, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                let rows: Vec<(Uuid, String, Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
                    "select m.session_id, s.title, m.id, m.role, left(m.content, 300), m.created_at
                       from public.messages m join public.sessions s on s.id = m.session_id
                      where m.role in ('user', 'assistant') and s.deleted_at is null
                        and to_tsvector('simple', left(m.content, 100000)) @@ websearch_to_tsquery('simple', $1)
                      order by m.seq desc limit $2",
                )
                .bind(query)
                .bind(limit)
                .fetch_all(conn)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(session_id, session_title, message_id, role, snippet, created_at)| MessageMatch {
                        session_id,
                        session_title,
                        message_id,
                        role,
                        snippet,
                        created_at,
                    })
                    .collect())
            }
            .boxed()
        })
        .await
    }
}
