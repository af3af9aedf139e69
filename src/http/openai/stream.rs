//! `OpenAI`'s answer shapes: a whole `chat.completion`, and the `chat.completion.chunk`s of a
//! streamed one — the role in the first delta, text deltas, tool-call deltas with their
//! `index`, a last chunk with `finish_reason`, the usage chunk when asked for, `data: [DONE]`.
//! An error after the stream began is sent as `data: {"error": {...}}`, which the SDKs raise.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::engine::{FinishReason, ToolCall};
use crate::http::compat::{Answer, Collected, Finished, Piece};
use crate::http::error::OpenAiError;

/// A whole chat completion.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatCompletion {
    /// `chatcmpl-…`
    pub id: String,
    /// Always `chat.completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: i64,
    /// The model that answered, or the `agent:<name>` asked for.
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    pub usage: Usage,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionChoice {
    pub index: u32,
    pub message: AssistantMessage,
    /// `stop`, `length` or `tool_calls`.
    pub finish_reason: &'static str,
    /// Always null (not supported).
    #[schema(value_type = Option<Object>)]
    pub logprobs: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OpenAiAssistantMessage)]
pub struct AssistantMessage {
    /// Always `assistant`.
    pub role: &'static str,
    /// Null when the answer only calls tools.
    pub content: Option<String>,
    /// A reasoning model's thinking, apart from the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallOut>>,
    /// Always null.
    pub refusal: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ToolCallOut {
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionOut,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunctionOut {
    pub name: String,
    /// The arguments as a JSON string.
    pub arguments: String,
}

// OpenAI's field names.
#[allow(clippy::struct_field_names)]
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[schema(as = OpenAiUsage)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    pub prompt_tokens_details: PromptTokensDetails,
}

/// How the prompt was processed.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct PromptTokensDetails {
    /// Prompt tokens whose KV cache the engine reused from an earlier request (a chat's
    /// previous turns, a shared system prompt) instead of evaluating them again.
    pub cached_tokens: u32,
}

impl Usage {
    pub fn of(finished: &Finished) -> Self {
        Self {
            prompt_tokens: finished.prompt_tokens,
            completion_tokens: finished.completion_tokens,
            total_tokens: finished.prompt_tokens.saturating_add(finished.completion_tokens),
            prompt_tokens_details: PromptTokensDetails {
                cached_tokens: finished.cached_tokens,
            },
        }
    }
}

impl ToolCallOut {
    pub fn of(call: &ToolCall) -> Self {
        Self {
            id: call.id.clone(),
            kind: "function",
            function: FunctionOut {
                name: call.name.clone(),
                arguments: call.arguments.to_string(),
            },
        }
    }
}

impl ChatCompletion {
    pub fn of(collected: &Collected, model: String) -> Self {
        let tool_calls = (!collected.tool_calls.is_empty())
            .then(|| collected.tool_calls.iter().map(ToolCallOut::of).collect());
        let content =
            (!collected.text.is_empty() || collected.tool_calls.is_empty()).then(|| collected.text.clone());
        Self {
            id: completion_id("chatcmpl"),
            object: "chat.completion",
            created: chrono::Utc::now().timestamp(),
            model,
            choices: vec![CompletionChoice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content,
                    reasoning_content: (!collected.reasoning.is_empty()).then(|| collected.reasoning.clone()),
                    tool_calls,
                    refusal: None,
                },
                finish_reason: finish_reason(collected.finished.finish),
                logprobs: None,
            }],
            usage: Usage::of(&collected.finished),
        }
    }
}

pub fn finish_reason(finish: FinishReason) -> &'static str {
    match finish {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
    }
}

/// A new `prefix-…` id.
pub fn completion_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// One event of a streamed chat completion.
#[derive(Serialize, ToSchema)]
#[schema(as = ChatCompletionChunk)]
pub struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: Vec<ChunkChoice>,
    /// `null` on every chunk but the last when usage was asked for; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Usage>)]
    usage: Option<Value>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = ChatCompletionChunkChoice)]
struct ChunkChoice {
    index: u32,
    delta: Delta,
    finish_reason: Option<&'static str>,
    /// Always `null`.
    #[schema(value_type = Option<Object>)]
    logprobs: Option<Value>,
}

#[derive(Default, Serialize, ToSchema)]
#[schema(as = ChatCompletionDelta)]
struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    /// A reasoning model's thinking (as llama-server and `DeepSeek`'s API name it).
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCallChunk>>,
}

/// A tool call in a streamed delta, as `OpenAI` streams them: the first chunk of a call carries
/// its id, type and name; the next ones add to its arguments' JSON text, joined by `index`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ChatCompletionToolCallChunk)]
struct ToolCallChunk {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    /// `function`, in a call's first chunk.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionChunk,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ChatCompletionFunctionChunk)]
struct FunctionChunk {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    arguments: String,
}

impl ToolCallChunk {
    fn first(index: usize, id: &str, name: &str, arguments: String) -> Self {
        Self {
            index,
            id: Some(id.to_owned()),
            kind: Some("function"),
            function: FunctionChunk {
                name: Some(name.to_owned()),
                arguments,
            },
        }
    }

    fn more(index: usize, arguments: String) -> Self {
        Self {
            index,
            id: None,
            kind: None,
            function: FunctionChunk {
                name: None,
                arguments,
            },
        }
    }
}

/// The state of a streamed completion.
struct Chunks {
    answer: Answer,
    id: String,
    created: i64,
    include_usage: bool,
    /// The ids of the calls sent so far (whole, or begun in pieces), in order.
    calls: Vec<String>,
    /// Set once `[DONE]` (or an error) is sent.
    ended: bool,
}

impl Chunks {
    fn event(&self, delta: Delta, finish: Option<&'static str>) -> Event {
        json_event(&Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.answer.model,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
                logprobs: None,
            }],
            usage: self.include_usage.then_some(Value::Null),
        })
    }

    fn tool_call_event(&self, chunk: ToolCallChunk) -> Event {
        self.event(
            Delta {
                tool_calls: Some(vec![chunk]),
                ..Delta::default()
            },
            None,
        )
    }

    /// The events of the next piece of the answer.
    async fn next(&mut self) -> Vec<Event> {
        match self.answer.next().await {
            Some(Piece::Text(text)) => vec![self.event(
                Delta {
                    content: Some(text),
                    ..Delta::default()
                },
                None,
            )],
            Some(Piece::Reasoning(text)) => vec![self.event(
                Delta {
                    reasoning_content: Some(text),
                    ..Delta::default()
                },
                None,
            )],
            Some(Piece::ToolCallDelta(delta)) => {
                let chunk = if let Some(index) = self.calls.iter().position(|id| *id == delta.id) {
                    ToolCallChunk::more(index, delta.arguments)
                } else {
                    self.calls.push(delta.id.clone());
                    ToolCallChunk::first(self.calls.len() - 1, &delta.id, &delta.name, delta.arguments)
                };
                vec![self.tool_call_event(chunk)]
            }
            // A call streamed in pieces is complete already.
            Some(Piece::ToolCall(call)) if self.calls.contains(&call.id) => Vec::new(),
            Some(Piece::ToolCall(call)) => {
                self.calls.push(call.id.clone());
                let arguments = call.arguments.to_string();
                vec![self.tool_call_event(ToolCallChunk::first(
                    self.calls.len() - 1,
                    &call.id,
                    &call.name,
                    arguments,
                ))]
            }
            Some(Piece::Done(finished)) => {
                self.ended = true;
                let mut events = vec![self.event(Delta::default(), Some(finish_reason(finished.finish)))];
                if self.include_usage {
                    events.push(json_event(&Chunk {
                        id: &self.id,
                        object: "chat.completion.chunk",
                        created: self.created,
                        model: &self.answer.model,
                        choices: Vec::new(),
                        usage: serde_json::to_value(Usage::of(&finished)).ok(),
                    }));
                }
                events.push(Event::default().data("[DONE]"));
                events
            }
            Some(Piece::Failed(err)) => {
                self.ended = true;
                let (_, body) = OpenAiError(err).body();
                vec![json_event(&body)]
            }
            None => {
                self.ended = true;
                Vec::new()
            }
        }
    }
}

fn json_event(data: &impl Serialize) -> Event {
    Event::default().data(serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned()))
}

/// The answer as server-sent chunks. The stream owns the answer: a closed connection drops it
/// and stops the model.
pub fn sse(answer: Answer, include_usage: bool) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let chunks = Chunks {
        answer,
        id: completion_id("chatcmpl"),
        created: chrono::Utc::now().timestamp(),
        include_usage,
        calls: Vec::new(),
        ended: false,
    };
    let first = chunks.event(
        Delta {
            role: Some("assistant"),
            content: Some(String::new()),
            ..Delta::default()
        },
        None,
    );
    let rest = futures::stream::unfold(chunks, |mut chunks| async move {
        if chunks.ended {
            return None;
        }
        let events = chunks.next().await;
        Some((futures::stream::iter(events.into_iter().map(Ok)), chunks))
    })
    .flatten();
    Sse::new(futures::stream::once(async { Ok(first) }).chain(rest)).keep_alive(KeepAlive::default())
}
