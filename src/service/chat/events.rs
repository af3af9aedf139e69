//! What an agent run reports while it works: the stream the chat endpoint sends as SSE and a
//! task records as its progress events. Names and payloads are part of the API.

use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{Fallback, Message, MessageStatus};

/// One step of a run, in order: tokens and tool activity as they happen, every stored message,
/// then one `Done` (after an `Error` when the run failed).
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// A piece of answer text.
    Token(String),
    /// A piece of a reasoning model's thinking (not part of the answer).
    Reasoning(String),
    /// A tool call being generated: the tool's name, then its arguments' JSON text piece by
    /// piece (`arguments` holds the new piece); the `ToolCall` with the same id follows.
    ToolCallDelta {
        id: String,
        name: String,
        arguments: String,
    },
    /// The model asked for a tool.
    ToolCall {
        id: String,
        name: String,
        arguments: Value,
    },
    /// What the tool answered, or why it failed (`error` true); the model sees the same.
    ToolResult {
        id: String,
        name: String,
        result: Value,
        error: bool,
    },
    /// A message was stored (the prompt, a tool-calling turn, a tool result, the answer).
    Message(Box<Message>),
    /// The run failed; `code` is stable, `message` says why.
    Error {
        code: &'static str,
        message: String,
    },
    Done(RunSummary),
}

impl From<crate::engine::chat::ToolCallDelta> for AgentEvent {
    fn from(delta: crate::engine::chat::ToolCallDelta) -> Self {
        AgentEvent::ToolCallDelta {
            id: delta.id,
            name: delta.name,
            arguments: delta.arguments,
        }
    }
}

/// How a run ended: the data of the `done` event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunSummary {
    /// The final assistant message (absent when nothing could be stored).
    pub message_id: Option<Uuid>,
    pub status: MessageStatus,
    pub agent: String,
    /// The model that answered last.
    pub model: Option<String>,
    pub provider: Option<String>,
    /// Set when that model answered in place of the one the agent asked for.
    pub fallback: Option<Fallback>,
    /// Model calls made.
    pub steps: u32,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// From the start of the run to its first answer token.
    pub ttft_ms: Option<u64>,
    pub latency_ms: u64,
    /// The final answer's text.
    #[serde(skip)]
    pub answer: String,
}

/// The data of a `token` event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenData {
    pub text: String,
}

/// The data of a `tool_call` event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolCallData {
    pub id: String,
    pub name: String,
    /// The arguments the model sent (a JSON object).
    pub arguments: Value,
}

/// The data of a `tool_call_delta` event: more of a call being generated.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolCallDeltaData {
    /// The id the `tool_call` event will carry.
    pub id: String,
    pub name: String,
    /// The next piece of the arguments' JSON text (empty in the delta that names the tool);
    /// the pieces joined are the arguments object.
    pub arguments: String,
}

/// The data of a `tool_result` event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolResultData {
    pub id: String,
    pub name: String,
    /// What the tool answered, or why it failed.
    pub result: Value,
    pub error: bool,
}

impl AgentEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            AgentEvent::Token(_) => "token",
            AgentEvent::Reasoning(_) => "reasoning",
            AgentEvent::ToolCallDelta { .. } => "tool_call_delta",
            AgentEvent::ToolCall { .. } => "tool_call",
            AgentEvent::ToolResult { .. } => "tool_result",
            AgentEvent::Message(_) => "message",
            AgentEvent::Error { .. } => "error",
            AgentEvent::Done(_) => "done",
        }
    }

    /// The event's JSON payload.
    pub fn data(&self) -> Value {
        let data = match self {
            AgentEvent::Token(text) | AgentEvent::Reasoning(text) => {
                serde_json::to_value(TokenData { text: text.clone() })
            }
            AgentEvent::ToolCallDelta { id, name, arguments } => serde_json::to_value(ToolCallDeltaData {
                id: id.clone(),
                name: name.clone(),
                arguments: arguments.clone(),
            }),
            AgentEvent::ToolCall { id, name, arguments } => serde_json::to_value(ToolCallData {
                id: id.clone(),
                name: name.clone(),
                arguments: arguments.clone(),
            }),
            AgentEvent::ToolResult {
                id,
                name,
                result,
                error,
            } => serde_json::to_value(ToolResultData {
                id: id.clone(),
                name: name.clone(),
                result: result.clone(),
                error: *error,
            }),
            AgentEvent::Message(message) => serde_json::to_value(message),
            AgentEvent::Error { code, message } => Ok(json!({ "code": code, "message": message })),
            AgentEvent::Done(summary) => serde_json::to_value(summary),
        };
        data.unwrap_or(Value::Null)
    }
}
