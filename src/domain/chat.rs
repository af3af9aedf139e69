//! Chat sessions and their stored messages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Fallback;

/// A conversation of one user with one or more agents (`agent` is the one it started with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChatSession {
    pub id: Uuid,
    pub agent: String,
    pub title: String,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a stored message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Being generated right now.
    Streaming,
    Complete,
    /// The client went away or stopped it: the text is what was generated until then.
    Interrupted,
    /// The run failed; `error` says why.
    Error,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Streaming => "streaming",
            MessageStatus::Complete => "complete",
            MessageStatus::Interrupted => "interrupted",
            MessageStatus::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Streaming, Self::Complete, Self::Interrupted, Self::Error]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// A stored message: a user's prompt, an assistant's answer or tool calls, or a tool result.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Message {
    pub id: Uuid,
    pub session_id: Uuid,
    pub role: String,
    pub content: String,
    /// An assistant turn's tool calls: `[{"id", "name", "arguments"}]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    pub agent: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub status: MessageStatus,
    pub error: Option<String>,
    /// Set when another model answered in place of the one asked for (and why).
    pub fallback: Option<Fallback>,
    /// 1 (up), -1 (down) or none.
    pub rating: Option<i16>,
    pub rating_comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A message to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub session_id: Uuid,
    pub role: &'static str,
    pub content: String,
    pub tool_calls: Option<Value>,
    pub tool_call_id: Option<String>,
    pub agent: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub status: MessageStatus,
    pub error: Option<String>,
    pub fallback: Option<Fallback>,
}

impl NewMessage {
    pub fn new(session_id: Uuid, role: &'static str, content: impl Into<String>) -> Self {
        Self {
            session_id,
            role,
            content: content.into(),
            tool_calls: None,
            tool_call_id: None,
            agent: None,
            model: None,
            prompt_tokens: None,
            completion_tokens: None,
            status: MessageStatus::Complete,
            error: None,
            fallback: None,
        }
    }
}

/// One event of a session's latest answer, as `POST /sessions/{id}/messages` streamed it: `id`
/// is the sequence a follower resumes from (streamed tokens come joined, one event per write).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    pub id: i64,
    /// The SSE event name: `message`, `token`, `tool_call`, `done`, ...
    pub kind: String,
    pub data: Value,
}
