//! `OpenAI`'s chat completions wire format, spoken by `OpenAI` and by llama-server, vLLM and
//! Ollama's `/v1`: the request body, and the streamed chunks read back into chat events.
//! Tool calls stream as fragments (`delta.tool_calls[i]`: the id and name once, the arguments
//! as pieces of a JSON string); they are put together and emitted when the answer ends.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::ProviderKind;
use super::sse::SseEvent;
use super::stream::{Clock, Decode, DecodeError};
use crate::engine::chat::{ChatEvent, ChatRequest, ResponseFormat, ToolUse};
use crate::engine::{ChatMessage, FinishReason, ToolCall};

/// The body of `POST /chat/completions`.
pub(super) fn request_body(kind: ProviderKind, model: &str, request: &ChatRequest) -> Value {
    let sampling = &request.sampling;
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), request.messages.iter().map(message).collect());
    body.insert("stream".into(), json!(true));
    // Without it the stream carries no token counts.
    body.insert("stream_options".into(), json!({ "include_usage": true }));
    // `OpenAI` deprecated `max_tokens` and its reasoning models refuse it; the compatible
    // servers know only `max_tokens`.
    let max_tokens_field = match kind {
        ProviderKind::OpenAi => "max_completion_tokens",
        ProviderKind::OpenAiCompatible | ProviderKind::Anthropic => "max_tokens",
    };
    body.insert(max_tokens_field.into(), json!(request.max_tokens));
    body.insert("temperature".into(), json!(sampling.temperature));
    body.insert("top_p".into(), json!(sampling.top_p));
    body.insert("seed".into(), json!(sampling.seed));
    if !request.stop.is_empty() {
        body.insert("stop".into(), json!(request.stop));
    }
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(|tool| {
            json!({
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            })
        });
        body.insert("tools".into(), tools.collect());
        if let Some(choice) = tool_choice(&request.tool_use) {
            body.insert("tool_choice".into(), choice);
        }
    }
    if let Some(format) = &request.response_format {
        body.insert("response_format".into(), response_format(format));
    }
    if sampling.frequency_penalty != 0.0 {
        body.insert("frequency_penalty".into(), json!(sampling.frequency_penalty));
    }
    if sampling.presence_penalty != 0.0 {
        body.insert("presence_penalty".into(), json!(sampling.presence_penalty));
    }
    // llama-server and vLLM take llama.cpp's samplers too; `OpenAI` rejects unknown fields.
    if kind == ProviderKind::OpenAiCompatible {
        body.insert("top_k".into(), json!(sampling.top_k));
        body.insert("min_p".into(), json!(sampling.min_p));
        body.insert("repeat_penalty".into(), json!(sampling.repeat_penalty));
    }
    Value::Object(body)
}

/// `tool_choice` as `OpenAI` spells it; `None` for the default (`auto`).
fn tool_choice(tool_use: &ToolUse) -> Option<Value> {
    match tool_use {
        ToolUse::Auto => None,
        ToolUse::None => Some(json!("none")),
        ToolUse::Required => Some(json!("required")),
        ToolUse::Named(name) => Some(json!({ "type": "function", "function": { "name": name } })),
    }
}

fn response_format(format: &ResponseFormat) -> Value {
    match format {
        ResponseFormat::JsonObject => json!({ "type": "json_object" }),
        ResponseFormat::JsonSchema { name, schema, strict } => json!({
            "type": "json_schema",
            "json_schema": { "name": name, "schema": schema, "strict": strict },
        }),
    }
}

fn message(message: &ChatMessage) -> Value {
    let mut out = Map::new();
    out.insert("role".into(), json!(message.role));
    if message.tool_calls.is_empty() || !message.content.is_empty() {
        out.insert("content".into(), json!(message.content));
    } else {
        // A turn that only calls tools has no content (`OpenAI` wants null, not "").
        out.insert("content".into(), Value::Null);
    }
    if !message.tool_calls.is_empty() {
        let calls = message.tool_calls.iter().map(|call| {
            json!({
                "id": call.id,
                "type": "function",
                // `OpenAI` sends and expects the arguments as a JSON *string*.
                "function": { "name": call.name, "arguments": call.arguments.to_string() },
            })
        });
        out.insert("tool_calls".into(), calls.collect());
    }
    if let Some(id) = &message.tool_call_id {
        out.insert("tool_call_id".into(), json!(id));
    }
    Value::Object(out)
}

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Delta {
    content: Option<String>,
    /// Reasoning apart from the answer (llama-server, `DeepSeek`, vLLM and others name it so).
    reasoning_content: Option<String>,
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Deserialize)]
struct ToolCallDelta {
    index: Option<usize>,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

/// A tool call being put together from fragments.
#[derive(Debug, Default)]
struct PartialCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

/// Reads `chat.completion.chunk`s.
#[derive(Debug)]
pub(super) struct Decoder {
    clock: Clock,
    calls: BTreeMap<usize, PartialCall>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    /// Chunks with output: the token count when the server reports no usage (most servers
    /// send one token a chunk).
    output_chunks: u32,
}

impl Decoder {
    pub fn new(started: Instant) -> Self {
        Self {
            clock: Clock::new(started),
            calls: BTreeMap::new(),
            finish: None,
            usage: None,
            output_chunks: 0,
        }
    }

    fn chunk(&mut self, chunk: Chunk) -> Result<Vec<ChatEvent>, DecodeError> {
        if let Some(error) = chunk.error {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_owned);
            return Err(DecodeError::Unavailable(format!(
                "the provider reported an error mid-answer: {message}"
            )));
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        let mut events = Vec::new();
        for choice in chunk.choices {
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(finish_reason(&reason));
            }
            let Some(delta) = choice.delta else { continue };
            if let Some(text) = delta.reasoning_content.filter(|text| !text.is_empty()) {
                self.clock.output();
                self.output_chunks += 1;
                events.push(ChatEvent::Reasoning(text));
            }
            if let Some(text) = delta.content.filter(|text| !text.is_empty()) {
                self.clock.output();
                self.output_chunks += 1;
                events.push(ChatEvent::Text(text));
            }
            for (position, fragment) in delta.tool_calls.into_iter().flatten().enumerate() {
                self.clock.output();
                self.output_chunks += 1;
                let call = self.calls.entry(fragment.index.unwrap_or(position)).or_default();
                if let Some(id) = fragment.id.filter(|id| !id.is_empty()) {
                    call.id = Some(id);
                }
                if let Some(function) = fragment.function {
                    call.name.push_str(function.name.as_deref().unwrap_or(""));
                    call.arguments
                        .push_str(function.arguments.as_deref().unwrap_or(""));
                }
            }
        }
        Ok(events)
    }

    /// The tool calls, then `Done`.
    fn finish(&mut self) -> Result<Vec<ChatEvent>, DecodeError> {
        let truncated = self.finish == Some(FinishReason::Length);
        let mut events = Vec::new();
        for call in std::mem::take(&mut self.calls).into_values() {
            events.push(ChatEvent::ToolCall(complete_call(call, truncated)?));
        }
        let finish = if events.is_empty() {
            self.finish.unwrap_or(FinishReason::Stop)
        } else {
            FinishReason::ToolCalls
        };
        let (prompt, completion) = match &self.usage {
            Some(usage) => (usage.prompt_tokens, usage.completion_tokens),
            None => (0, self.output_chunks),
        };
        events.push(ChatEvent::Done(self.clock.stats(prompt, completion, finish)));
        Ok(events)
    }
}

impl Decode for Decoder {
    fn event(&mut self, event: &SseEvent) -> Result<Vec<ChatEvent>, DecodeError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return self.finish();
        }
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let chunk = serde_json::from_str(data)
            .map_err(|err| DecodeError::Unavailable(format!("unreadable stream chunk ({err}): {data}")))?;
        self.chunk(chunk)
    }

    fn end(&mut self) -> Result<Vec<ChatEvent>, DecodeError> {
        // Some servers close without `[DONE]`; a finish reason shows the answer was complete.
        if self.finish.is_some() {
            return self.finish();
        }
        Err(DecodeError::Unavailable(
            "the stream ended before the answer finished".into(),
        ))
    }
}

fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        // "stop", and "content_filter": the answer ended, if not the way the model meant.
        _ => FinishReason::Stop,
    }
}

fn complete_call(call: PartialCall, truncated: bool) -> Result<ToolCall, DecodeError> {
    if call.name.is_empty() {
        return Err(DecodeError::InvalidOutput(
            "the model made a tool call without a tool name".into(),
        ));
    }
    let arguments = if call.arguments.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(&call.arguments).map_err(|err| {
            let cut = if truncated {
                " (the answer was cut off at max_tokens)"
            } else {
                ""
            };
            DecodeError::InvalidOutput(format!(
                "the arguments of the call of `{}` are not JSON{cut}: {err}",
                call.name
            ))
        })?
    };
    Ok(ToolCall {
        // Ids link results to calls; servers that give none get one that is unique.
        id: call
            .id
            .unwrap_or_else(|| format!("call_{}", uuid::Uuid::new_v4().simple())),
        name: call.name,
        arguments,
    })
}

#[cfg(test)]
mod tests;
