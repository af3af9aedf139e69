//! What callers ask the engine for and what comes back: plain types, no llama.cpp.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One chat turn, as chat templates and chat APIs expect it: `system`, `user`, `assistant`
/// (text and/or tool calls) or `tool` (the result of the call named by `tool_call_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    /// Calls an assistant turn made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// On a `tool` turn: which call this is the result of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// An assistant turn that called tools.
    pub fn tool_calls(calls: Vec<ToolCall>) -> Self {
        Self {
            tool_calls: calls,
            ..Self::new("assistant", "")
        }
    }

    /// The result of one tool call, fed back to the model.
    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(call_id.into()),
            ..Self::new("tool", content)
        }
    }
}

/// A call of a tool, as the model made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Unique within a conversation; providers that have none get one made up.
    pub id: String,
    pub name: String,
    /// The arguments (an object matching the tool's schema).
    pub arguments: serde_json::Value,
}

/// How the next token is chosen. `temperature == 0` means greedy (deterministic).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: i32,
    pub min_p: f32,
    /// 1.0 disables the penalty.
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    pub repeat_last_n: i32,
    /// Subtracted from a token's logit once per earlier occurrence (`OpenAI`'s
    /// `frequency_penalty`, -2..2; 0 disables it).
    #[serde(default)]
    pub frequency_penalty: f32,
    /// Subtracted once from every token that occurred before (`OpenAI`'s `presence_penalty`).
    #[serde(default)]
    pub presence_penalty: f32,
    pub seed: u32,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_p: 0.95,
            top_k: 40,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: 0x5eed,
        }
    }
}

/// The text to continue: raw, or chat messages rendered with the model's template.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    Text(String),
    Chat(Vec<ChatMessage>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    pub max_tokens: u32,
    /// Generation ends before any of these strings; they are not part of the output.
    pub stop: Vec<String>,
    pub sampling: SamplingParams,
    /// A grammar the output must follow (see `engine::grammar`).
    pub grammar: Option<Grammar>,
    /// Never end on the model's end-of-turn token (benchmarks generate exactly `max_tokens`).
    pub ignore_eos: bool,
}

impl GenerateRequest {
    pub fn chat(messages: Vec<ChatMessage>) -> Self {
        Self {
            prompt: Prompt::Chat(messages),
            max_tokens: 256,
            stop: Vec::new(),
            sampling: SamplingParams::default(),
            grammar: None,
            ignore_eos: false,
        }
    }
}

/// A GBNF grammar over the output: from its first token, or — lazily — from the point where
/// one of `triggers` matches (a tool call after free text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grammar {
    pub gbnf: String,
    /// Regular expressions over the output (llama.cpp's lazy grammar patterns); empty: the
    /// grammar holds from the start.
    pub triggers: Vec<String>,
    /// Texts of special tokens the output must show (a trigger such as `[TOOL_CALLS]`), which
    /// llama.cpp otherwise leaves out of the text.
    pub preserved: Vec<String>,
}

impl Grammar {
    /// A grammar over the whole output.
    pub fn strict(gbnf: String) -> Self {
        Self {
            gbnf,
            triggers: Vec::new(),
            preserved: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its answer, or a stop string appeared.
    Stop,
    /// `max_tokens` or the context window was reached.
    Length,
    /// The model called tools and waits for their results.
    ToolCalls,
}

/// Measured on the engine thread for one generation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GenerationStats {
    pub prompt_tokens: u32,
    /// Of the prompt tokens, those whose KV cache was reused (not evaluated again).
    pub cached_tokens: u32,
    pub completion_tokens: u32,
    /// From admission to the first generated token.
    pub time_to_first_token: Duration,
    pub total: Duration,
    pub finish: FinishReason,
}

impl GenerationStats {
    /// Generated tokens per second after the first one (decode speed).
    pub fn tokens_per_second(&self) -> f64 {
        let decoding = self.total.saturating_sub(self.time_to_first_token).as_secs_f64();
        if self.completion_tokens <= 1 || decoding <= 0.0 {
            return 0.0;
        }
        f64::from(self.completion_tokens - 1) / decoding
    }
}

/// What a generation streams back.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerationEvent {
    /// Newly generated text (complete UTF-8, never part of a stop string).
    Text(String),
    /// The generation ended.
    Done(GenerationStats),
}
