//! What an agent run reports while it works: the stream the chat endpoint sends as SSE and a
//! task records as its progress events. Names and payloads are part of the API.

use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{Message, MessageStatus};

/// One step of a run, in order: tokens and tool activity as they happen, every stored message,
/// then one `Done` (after an `Error` when the run failed).
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// A piece of answer text.
    Token(String),
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

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// The final assistant message (absent when nothing could be stored).
    pub message_id: Option<Uuid>,
    pub status: MessageStatus,
    pub agent: String,
    /// The model that answered last.
    pub model: Option<String>,
    pub provider: Option<String>,
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

impl AgentEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            AgentEvent::Token(_) => "token",
            AgentEvent::ToolCall { .. } => "tool_call",
            AgentEvent::ToolResult { .. } => "tool_result",
            AgentEvent::Message(_) => "message",
            AgentEvent::Error { .. } => "error",
            AgentEvent::Done(_) => "done",
        }
    }

    /// The event's JSON payload.
    pub fn data(&self) -> Value {
        match self {
            AgentEvent::Token(text) => json!({ "text": text }),
            AgentEvent::ToolCall { id, name, arguments } => {
                json!({ "id": id, "name": name, "arguments": arguments })
            }
            AgentEvent::ToolResult {
                id,
                name,
                result,
                error,
            } => json!({ "id": id, "name": name, "result": result, "error": error }),
            AgentEvent::Message(message) => serde_json::to_value(message).unwrap_or(Value::Null),
            AgentEvent::Error { code, message } => json!({ "code": code, "message": message }),
            AgentEvent::Done(summary) => serde_json::to_value(summary).unwrap_or(Value::Null),
        }
    }
}
