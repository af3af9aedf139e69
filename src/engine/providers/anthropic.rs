//! Anthropic's Messages API: the request body (system prompt apart, tool calls and results as
//! content blocks) and the streamed events read back into chat events. A `tool_use` block's
//! input streams as pieces of JSON text and is complete at its `content_block_stop`.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::sse::SseEvent;
use super::stream::{Clock, Decode, DecodeError};
use crate::engine::chat::{ChatEvent, ChatRequest, ToolUse};
use crate::engine::{ChatMessage, EngineError, FinishReason, ToolCall};

/// The body of `POST /v1/messages`.
pub(super) fn request_body(model: &str, request: &ChatRequest) -> Result<Value, EngineError> {
    let (system, messages) = messages(&request.messages)?;
    let sampling = &request.sampling;
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("max_tokens".into(), json!(request.max_tokens));
    body.insert("stream".into(), json!(true));
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), json!(system));
    }
    // Anthropic's range is 0–1. `top_p` is left out: recent models refuse a request that sets
    // both, and the temperature is what callers tune.
    body.insert("temperature".into(), json!(sampling.temperature.clamp(0.0, 1.0)));
    if sampling.top_k > 0 {
        body.insert("top_k".into(), json!(sampling.top_k));
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(|tool| {
            json!({ "name": tool.name, "description": tool.description, "input_schema": tool.parameters })
        });
        body.insert("tools".into(), tools.collect());
        let choice = match &request.tool_use {
            ToolUse::Auto => None,
            ToolUse::None => Some(json!({ "type": "none" })),
            ToolUse::Required => Some(json!({ "type": "any" })),
            ToolUse::Named(name) => Some(json!({ "type": "tool", "name": name })),
        };
        if let Some(choice) = choice {
            body.insert("tool_choice".into(), choice);
        }
    }
    if request.response_format.is_some() {
        return Err(EngineError::InvalidRequest(
            "Anthropic models have no JSON response format; describe the JSON in the prompt or use a tool"
                .into(),
        ));
    }
    Ok(Value::Object(body))
}

/// The system prompt, and the turns as content blocks. Consecutive turns of one side merge
/// into one (the API wants them alternating), so several tool results form one user turn.
fn messages(messages: &[ChatMessage]) -> Result<(String, Vec<Value>), EngineError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for message in messages {
        let (side, blocks) = match message.role.as_str() {
            "system" => {
                system.push(message.content.as_str());
                continue;
            }
            "user" => ("user", text_block(&message.content).into_iter().collect()),
            "assistant" => {
                let mut blocks: Vec<Value> = text_block(&message.content).into_iter().collect();
                blocks.extend(message.tool_calls.iter().map(|call| {
                    json!({ "type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments })
                }));
                ("assistant", blocks)
            }
            "tool" => {
                let id = message.tool_call_id.as_deref().ok_or_else(|| {
                    EngineError::InvalidRequest("a tool result needs the id of its tool call".into())
                })?;
                let result = json!({ "type": "tool_result", "tool_use_id": id, "content": message.content });
                ("user", vec![result])
            }
            other => {
                return Err(EngineError::InvalidRequest(format!(
                    "unknown chat role `{other}` (known: system, user, assistant, tool)"
                )));
            }
        };
        match turns.last_mut() {
            Some((last, last_blocks)) if *last == side => last_blocks.extend(blocks),
            _ => turns.push((side, blocks)),
        }
    }
    let turns = turns
        .into_iter()
        // The API refuses empty turns.
        .filter(|(_, blocks)| !blocks.is_empty())
        .map(|(side, blocks)| json!({ "role": side, "content": blocks }))
        .collect();
    Ok((system.join("\n\n"), turns))
}

/// The API refuses empty text blocks.
fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({ "type": "text", "text": text }))
}

/// A content block being streamed.
#[derive(Debug)]
enum Block {
    ToolUse {
        id: String,
        name: String,
        input: String,
    },
    /// Text streams straight through; thinking and other blocks are not part of the answer.
    Other,
}

/// Reads the Messages stream (`message_start` … `message_stop`).
#[derive(Debug)]
pub(super) struct Decoder {
    clock: Clock,
    blocks: HashMap<u64, Block>,
    prompt_tokens: u32,
    output_tokens: u32,
    finish: Option<FinishReason>,
    called_tools: bool,
}

impl Decoder {
    pub fn new(started: Instant) -> Self {
        Self {
            clock: Clock::new(started),
            blocks: HashMap::new(),
            prompt_tokens: 0,
            output_tokens: 0,
            finish: None,
            called_tools: false,
        }
    }

    fn block_start(&mut self, index: u64, block: &Value) -> Vec<ChatEvent> {
        match field(block, "type") {
            "tool_use" => {
                self.clock.output();
                let id = field(block, "id").to_owned();
                let name = field(block, "name").to_owned();
                self.blocks.insert(
                    index,
                    Block::ToolUse {
                        id,
                        name,
                        input: String::new(),
                    },
                );
                Vec::new()
            }
            "text" => {
                self.blocks.insert(index, Block::Other);
                self.text(field(block, "text"))
            }
            _ => {
                self.blocks.insert(index, Block::Other);
                Vec::new()
            }
        }
    }

    fn block_delta(&mut self, index: u64, delta: &Value) -> Vec<ChatEvent> {
        match field(delta, "type") {
            "text_delta" => self.text(field(delta, "text")),
            "input_json_delta" => {
                self.clock.output();
                if let Some(Block::ToolUse { input, .. }) = self.blocks.get_mut(&index) {
                    input.push_str(field(delta, "partial_json"));
                }
                Vec::new()
            }
            // thinking_delta, signature_delta, citations_delta: not answer text.
            _ => Vec::new(),
        }
    }

    fn block_stop(&mut self, index: u64) -> Result<Vec<ChatEvent>, DecodeError> {
        let Some(Block::ToolUse { id, name, input }) = self.blocks.remove(&index) else {
            return Ok(Vec::new());
        };
        let arguments = if input.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_str(&input).map_err(|err| {
                DecodeError::InvalidOutput(format!("the input of the call of `{name}` is not JSON: {err}"))
            })?
        };
        self.called_tools = true;
        Ok(vec![ChatEvent::ToolCall(ToolCall { id, name, arguments })])
    }

    fn text(&mut self, text: &str) -> Vec<ChatEvent> {
        if text.is_empty() {
            return Vec::new();
        }
        self.clock.output();
        vec![ChatEvent::Text(text.to_owned())]
    }

    fn done(&self) -> ChatEvent {
        let finish = match self.finish {
            Some(finish) => finish,
            None if self.called_tools => FinishReason::ToolCalls,
            None => FinishReason::Stop,
        };
        ChatEvent::Done(self.clock.stats(self.prompt_tokens, self.output_tokens, finish))
    }
}

impl Decode for Decoder {
    fn event(&mut self, event: &SseEvent) -> Result<Vec<ChatEvent>, DecodeError> {
        let data: Value = serde_json::from_str(&event.data).map_err(|err| {
            DecodeError::Unavailable(format!("unreadable stream event ({err}): {}", event.data))
        })?;
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        match field(&data, "type") {
            "message_start" => {
                let usage = data.pointer("/message/usage").unwrap_or(&Value::Null);
                // Cached prompt tokens are counted apart from `input_tokens`.
                self.prompt_tokens = [
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                ]
                .iter()
                .map(|key| count(usage, key))
                .fold(0, u32::saturating_add);
                self.output_tokens = count(usage, "output_tokens");
                Ok(Vec::new())
            }
            "content_block_start" => {
                Ok(self.block_start(index, data.get("content_block").unwrap_or(&Value::Null)))
            }
            "content_block_delta" => Ok(self.block_delta(index, data.get("delta").unwrap_or(&Value::Null))),
            "content_block_stop" => self.block_stop(index),
            "message_delta" => {
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.finish = Some(stop_reason(reason));
                }
                // Cumulative: the latest count is the total.
                if let Some(usage) = data
                    .get("usage")
                    .filter(|usage| usage.get("output_tokens").is_some())
                {
                    self.output_tokens = count(usage, "output_tokens");
                }
                Ok(Vec::new())
            }
            "message_stop" => Ok(vec![self.done()]),
            "error" => {
                let error = data.get("error").unwrap_or(&Value::Null);
                let message = format!("{} ({})", field(error, "message"), field(error, "type"));
                Err(match field(error, "type") {
                    "overloaded_error" | "api_error" | "rate_limit_error" | "timeout_error" => {
                        DecodeError::Unavailable(message)
                    }
                    _ => DecodeError::Refused(message),
                })
            }
            // `ping`, and event types added later.
            _ => Ok(Vec::new()),
        }
    }

    fn end(&mut self) -> Result<Vec<ChatEvent>, DecodeError> {
        Err(DecodeError::Unavailable(
            "the stream ended before the answer finished".into(),
        ))
    }
}

fn stop_reason(reason: &str) -> FinishReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        // end_turn, stop_sequence, and refusal or pause_turn: the answer ended.
        _ => FinishReason::Stop,
    }
}

fn field<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn count(value: &Value, key: &str) -> u32 {
    value
        .get(key)
        .and_then(Value::as_u64)
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests;
