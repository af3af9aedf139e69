//! What the OpenAI- and Ollama-compatible endpoints share: one answer to read, whether a model
//! answers through the router or an agent runs its loop on the server, and the function tools
//! both APIs describe the same way. Dropping an [`Answer`] stops the model (or cancels the run),
//! so a client that disconnects frees its slot.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::error::ApiError;
use crate::engine::chat::{ChatEvent, ChatStream, ToolCallDelta};
use crate::engine::grammar::ToolSpec;
use crate::engine::{FinishReason, ToolCall};
use crate::service::chat::ChatRun;
use crate::service::chat::events::AgentEvent;
use crate::service::inference::RoutedChat;

/// One step of an answer.
#[derive(Debug)]
pub enum Piece {
    Text(String),
    /// A reasoning model's thinking, apart from the answer.
    Reasoning(String),
    /// A tool call being generated (its name, then pieces of its arguments' JSON); the
    /// complete `ToolCall` with the same id follows.
    ToolCallDelta(ToolCallDelta),
    ToolCall(ToolCall),
    Done(Finished),
    /// The answer failed after it started; nothing follows.
    Failed(ApiError),
}

/// How an answer ended.
#[derive(Debug, Clone)]
pub struct Finished {
    pub finish: FinishReason,
    pub prompt_tokens: u32,
    /// Prompt tokens the engine did not evaluate again (its prompt cache).
    pub cached_tokens: u32,
    pub completion_tokens: u32,
    pub time_to_first_token: Duration,
    pub total: Duration,
    /// An agent's final answer (the text of its last model call).
    pub answer: Option<String>,
}

/// A whole answer.
#[derive(Debug)]
pub struct Collected {
    pub text: String,
    pub reasoning: String,
    pub tool_calls: Vec<ToolCall>,
    pub finished: Finished,
}

enum Source {
    Model(ChatStream),
    Agent(ChatRun),
}

/// An answer being made.
pub struct Answer {
    /// The model that answers, or `agent:<name>`.
    pub model: String,
    source: Option<Source>,
}

impl Answer {
    pub fn of_model(routed: RoutedChat) -> Self {
        Self {
            model: routed.answerer.model,
            source: Some(Source::Model(routed.stream)),
        }
    }

    pub fn of_agent(model: String, run: ChatRun) -> Self {
        Self {
            model,
            source: Some(Source::Agent(run)),
        }
    }

    /// The next piece; `None` after `Done` or `Failed`.
    pub async fn next(&mut self) -> Option<Piece> {
        let piece = match self.source.as_mut()? {
            Source::Model(stream) => match stream.next().await {
                Some(Ok(ChatEvent::Text(text))) => Piece::Text(text),
                Some(Ok(ChatEvent::Reasoning(text))) => Piece::Reasoning(text),
                Some(Ok(ChatEvent::ToolCallDelta(delta))) => Piece::ToolCallDelta(delta),
                Some(Ok(ChatEvent::ToolCall(call))) => Piece::ToolCall(call),
                Some(Ok(ChatEvent::Done(stats))) => Piece::Done(Finished {
                    finish: stats.finish,
                    prompt_tokens: stats.prompt_tokens,
                    cached_tokens: stats.cached_tokens,
                    completion_tokens: stats.completion_tokens,
                    time_to_first_token: stats.time_to_first_token,
                    total: stats.total,
                    answer: None,
                }),
                Some(Err(err)) => Piece::Failed(err.into()),
                None => Piece::Failed(ended_early()),
            },
            Source::Agent(run) => loop {
                match run.events.recv().await {
                    Some(AgentEvent::Token(text)) => break Piece::Text(text),
                    Some(AgentEvent::Reasoning(text)) => break Piece::Reasoning(text),
                    Some(AgentEvent::Error { code, message }) => {
                        break Piece::Failed(ApiError::RunFailed { code, message });
                    }
                    Some(AgentEvent::Done(summary)) => {
                        let millis = |ms: Option<u64>| Duration::from_millis(ms.unwrap_or(0));
                        break Piece::Done(Finished {
                            finish: FinishReason::Stop,
                            prompt_tokens: summary.prompt_tokens,
                            cached_tokens: 0,
                            completion_tokens: summary.completion_tokens,
                            time_to_first_token: millis(summary.ttft_ms),
                            total: millis(Some(summary.latency_ms)),
                            answer: Some(summary.answer),
                        });
                    }
                    // Tool calls, their results and stored turns are the agent's own business.
                    Some(_) => {}
                    None => break Piece::Failed(ended_early()),
                }
            },
        };
        if matches!(piece, Piece::Done(_) | Piece::Failed(_)) {
            self.source = None;
        }
        Some(piece)
    }

    /// Waits for the whole answer.
    pub async fn collect(mut self) -> Result<Collected, ApiError> {
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut tool_calls = Vec::new();
        while let Some(piece) = self.next().await {
            match piece {
                Piece::Text(piece) => text.push_str(&piece),
                Piece::Reasoning(piece) => reasoning.push_str(&piece),
                Piece::ToolCall(call) => tool_calls.push(call),
                Piece::ToolCallDelta(_) => {}
                Piece::Failed(err) => return Err(err),
                Piece::Done(finished) => {
                    if let Some(answer) = &finished.answer {
                        text.clone_from(answer);
                    }
                    return Ok(Collected {
                        text,
                        reasoning,
                        tool_calls,
                        finished,
                    });
                }
            }
        }
        Err(ended_early())
    }
}

fn ended_early() -> ApiError {
    crate::engine::EngineError::Decode("the answer ended without finishing".into()).into()
}

/// A function tool, as both `OpenAI` and Ollama describe it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ToolBody {
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: FunctionBody,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct FunctionBody {
    /// 1–64 letters, digits, `_`, `-` or `.`.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A JSON schema of an object: the arguments.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
}

fn function_kind() -> String {
    "function".to_owned()
}

/// The tools as the engine takes them; a tool that is not a function, a bad name or arguments
/// that are not an object schema is refused with the field at fault.
pub fn tool_specs(tools: Vec<ToolBody>) -> Result<Vec<ToolSpec>, ApiError> {
    let mut specs: Vec<ToolSpec> = Vec::with_capacity(tools.len());
    for tool in tools {
        if tool.kind != "function" {
            return Err(unsupported(
                "tools",
                format!("tools of type `{}` are not supported; only `function`", tool.kind),
            ));
        }
        let FunctionBody {
            name,
            description,
            parameters,
        } = tool.function;
        let valid_name = (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid_name {
            return Err(invalid(
                "tools",
                format!("the tool name `{name}` must be 1-64 letters, digits, `_`, `-` or `.`"),
            ));
        }
        if specs.iter().any(|spec| spec.name == name) {
            return Err(invalid("tools", format!("the tool `{name}` is given twice")));
        }
        let parameters = match parameters {
            None => json!({ "type": "object", "properties": {} }),
            Some(Value::Object(schema))
                if schema.get("type").is_none_or(|kind| kind == "object")
                    && schema.get("properties").is_none_or(Value::is_object)
                    && schema.get("required").is_none_or(Value::is_array) =>
            {
                Value::Object(schema)
            }
            Some(_) => {
                return Err(invalid(
                    "tools",
                    format!(
                        "the parameters of tool `{name}` must be a JSON schema of an object (`type: object`, `properties` an object, `required` an array)"
                    ),
                ));
            }
        };
        specs.push(ToolSpec {
            name,
            description: description.unwrap_or_default(),
            parameters,
        });
    }
    Ok(specs)
}

/// A bad value in the request (400 on both compatible APIs).
pub fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
    crate::service::ServiceError::invalid(field, message).into()
}

/// A field or value the compatible APIs do not support.
pub fn unsupported(field: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Unsupported {
        field,
        message: message.into(),
    }
}

/// `call_…` ids for tool calls that came without one.
pub fn call_id() -> String {
    format!("call_{}", uuid::Uuid::new_v4().simple())
}
