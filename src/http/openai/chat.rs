//! `POST /v1/chat/completions`: `OpenAI`'s request body turned into the engine's chat request,
//! checked field by field (what is not supported is refused with the field named, never
//! ignored in silence), then answered by a model through the router or by an agent's loop.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::stream::{self, ChatCompletion};
use crate::engine::ChatMessage;
use crate::engine::ToolCall;
use crate::engine::chat::{ChatRequest, ResponseFormat, ToolUse};
use crate::http::AppState;
use crate::http::compat::{Answer, ToolBody, invalid, tool_specs, unsupported};
use crate::http::error::{ApiError, OpenAiError, OpenAiErrorBody};
use crate::http::extract::{ApiJson, Caller};
use crate::http::openapi::ServerSentEvent;
use crate::service::completions::Target;

/// The most messages one request may carry.
const MAX_MESSAGES: usize = 1_000;
/// The most tools one request may offer.
const MAX_TOOLS: usize = 128;
/// The most stop sequences.
const MAX_STOPS: usize = 16;

/// Other fields are accepted and ignored, among them `user` (the caller is the API key's user),
/// `parallel_tool_calls` (calls are made one at a time), `store` and `metadata`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatCompletionBody {
    /// A model name, a role (`fast`, `reasoning`, `code`) or `agent:<name>` (see `GET /v1/models`).
    pub model: String,
    pub messages: Vec<MessageBody>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub tools: Option<Vec<ToolBody>>,
    /// `auto`, `none`, `required`, or `{"type": "function", "function": {"name": ...}}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<Value>,
    /// `{"type": "text" | "json_object"}` or `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<Value>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(flatten)]
    pub sampling: SamplingBody,
    /// Only 1.
    #[serde(default)]
    pub n: Option<u32>,
    /// Not supported: `true` is refused.
    #[serde(default)]
    pub logprobs: Option<bool>,
    /// Not supported: a non-empty map is refused.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub logit_bias: Option<Value>,
}

impl ChatCompletionBody {
    /// The answer budget asked for: `max_completion_tokens`, or the older `max_tokens`.
    fn answer_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }
}

/// The sampling fields chat and text completions share.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SamplingBody {
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub seed: Option<i64>,
    /// A string or up to 16 strings.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub stop: Option<Value>,
    #[serde(default)]
    pub frequency_penalty: Option<f32>,
    #[serde(default)]
    pub presence_penalty: Option<f32>,
}

impl SamplingBody {
    /// Sets the request's stop strings and sampler; out-of-range values are refused.
    pub fn apply(&self, request: &mut ChatRequest) -> Result<(), ApiError> {
        request.stop = stops(self.stop.as_ref())?;
        let sampling = &mut request.sampling;
        if let Some(temperature) = self.temperature {
            sampling.temperature = in_range("temperature", temperature, 0.0, 2.0)?;
        }
        if let Some(top_p) = self.top_p {
            sampling.top_p = in_range("top_p", top_p, 0.0, 1.0)?;
        }
        if let Some(penalty) = self.frequency_penalty {
            sampling.frequency_penalty = in_range("frequency_penalty", penalty, -2.0, 2.0)?;
        }
        if let Some(penalty) = self.presence_penalty {
            sampling.presence_penalty = in_range("presence_penalty", penalty, -2.0, 2.0)?;
        }
        if let Some(seed) = self.seed {
            // Any integer is a seed; the engine's are 32-bit.
            sampling.seed = u32::try_from(seed.rem_euclid(1 << 32)).unwrap_or_default();
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StreamOptions {
    /// Send a last chunk with the token usage (and `usage: null` before).
    #[serde(default)]
    pub include_usage: bool,
}

/// `name` is accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = OpenAiMessage)]
pub struct MessageBody {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// A string or an array of `{"type": "text", "text": ...}` parts.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub content: Option<Value>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCallBody>>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = OpenAiToolCall)]
pub struct ToolCallBody {
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub function: FunctionCallBody,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = OpenAiFunctionCall)]
pub struct FunctionCallBody {
    pub name: String,
    /// The arguments as a JSON string.
    pub arguments: String,
}

/// Creates a chat completion (OpenAI-compatible).
///
/// With `stream: true` the answer comes as server-sent events of the default type, `message`
/// (data: `ChatCompletionChunk`), ending with `data: [DONE]`; closing the connection stops
/// the model. A model named `agent:<name>` runs
/// that agent's loop on the server — its tools executed as the caller, under row-level
/// security — and answers with its final message; its turns are kept as a session of the
/// caller's (`x-agentbox-session` header). Unsupported fields (`n` > 1, `logprobs`,
/// `logit_bias`, image parts) are refused with 400 `unsupported_value`.
#[utoipa::path(
    post,
    path = "/v1/chat/completions",
    operation_id = "createChatCompletion",
    tag = "openai",
    request_body = ChatCompletionBody,
    responses(
        (status = 200, description = "A `chat.completion`, or with `stream` server-sent `chat.completion.chunk`s then `[DONE]`",
            content((stream::ChatCompletion = "application/json"), (ServerSentEvent = "text/event-stream"))),
        (status = 400, description = "A bad or unsupported field (`invalid_input`, `unsupported_value`, `invalid_json`, `context_overflow`)", body = OpenAiErrorBody),
        (status = 401, description = "No or a wrong API key (`unauthenticated`)", body = OpenAiErrorBody),
        (status = 404, description = "No such model or agent (`model_not_found`, `not_found`)", body = OpenAiErrorBody),
        (status = 503, description = "The model is not available now (`model_unavailable`)", body = OpenAiErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Result<ApiJson<ChatCompletionBody>, ApiError>,
) -> Result<Response, OpenAiError> {
    let Caller(caller) = caller?;
    let ApiJson(body) = body?;
    let default_max = state.settings.engine.context_per_slot / 2;
    let streamed = body.stream;
    let usage = body.stream_options.as_ref().is_some_and(|o| o.include_usage);
    let model = body.model.clone();
    let completions = &state.services.completions;
    let (answer, session) = match Target::parse(&model) {
        Target::Agent(agent) => {
            let messages = agent_messages(&body)?;
            let run = completions
                .run_agent(&caller, agent, messages, body.answer_tokens())
                .await?;
            let session = run.session_id;
            (Answer::of_agent(model.trim().to_owned(), run), Some(session))
        }
        Target::Model(target) => {
            let request = chat_request(body, default_max)?;
            let routed = completions.chat(&caller, target, request).await?;
            (Answer::of_model(routed), None)
        }
    };
    let mut response = if streamed {
        stream::sse(answer, usage).into_response()
    } else {
        let model = answer.model.clone();
        let collected = answer.collect().await?;
        axum::Json(ChatCompletion::of(&collected, model)).into_response()
    };
    if let Some(session) = session.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        response.headers_mut().insert("x-agentbox-session", session);
    }
    Ok(response)
}

/// The engine's request for a model call.
fn chat_request(body: ChatCompletionBody, default_max: u32) -> Result<ChatRequest, ApiError> {
    check_common(&body)?;
    let mut request = ChatRequest::new(messages(&body.messages)?);
    request.max_tokens = body.answer_tokens().unwrap_or(default_max.clamp(16, 2048));
    request.tools = tool_specs(body.tools.unwrap_or_default())?;
    if request.tools.len() > MAX_TOOLS {
        return Err(invalid("tools", format!("at most {MAX_TOOLS} tools")));
    }
    request.tool_use = tool_use(body.tool_choice.as_ref(), &request.tools)?;
    request.response_format = response_format(body.response_format.as_ref())?;
    body.sampling.apply(&mut request)?;
    Ok(request)
}

/// The conversation for an agent: an agent calls its own tools and answers in its own words,
/// so offering tools or asking for a format is refused rather than ignored.
fn agent_messages(body: &ChatCompletionBody) -> Result<Vec<ChatMessage>, ApiError> {
    check_common(body)?;
    if body.tools.as_ref().is_some_and(|tools| !tools.is_empty()) {
        return Err(unsupported(
            "tools",
            "an agent calls its own tools; send `tools` to a model instead of `agent:<name>`",
        ));
    }
    if response_format(body.response_format.as_ref())?.is_some() {
        return Err(unsupported(
            "response_format",
            "an agent answers in text; send `response_format` to a model instead of `agent:<name>`",
        ));
    }
    messages(&body.messages)
}

/// Checks that hold for models and agents alike.
fn check_common(body: &ChatCompletionBody) -> Result<(), ApiError> {
    if body.model.trim().is_empty() {
        return Err(invalid("model", "model is required (see GET /v1/models)"));
    }
    if let Some(n) = body.n
        && n != 1
    {
        return Err(unsupported(
            "n",
            format!("n must be 1 (one choice per request), not {n}"),
        ));
    }
    if body.logprobs == Some(true) {
        return Err(unsupported("logprobs", "logprobs are not supported"));
    }
    if body
        .logit_bias
        .as_ref()
        .is_some_and(|bias| bias.as_object().is_none_or(|map| !map.is_empty()))
    {
        return Err(unsupported("logit_bias", "logit_bias is not supported"));
    }
    if body.answer_tokens() == Some(0) {
        return Err(invalid("max_tokens", "max_tokens must be at least 1"));
    }
    if body.messages.is_empty() {
        return Err(invalid("messages", "messages must hold at least one message"));
    }
    if body.messages.len() > MAX_MESSAGES {
        return Err(invalid("messages", format!("at most {MAX_MESSAGES} messages")));
    }
    Ok(())
}

/// The messages as the engine takes them; every tool message must answer a call made before.
fn messages(bodies: &[MessageBody]) -> Result<Vec<ChatMessage>, ApiError> {
    let mut messages: Vec<ChatMessage> = Vec::with_capacity(bodies.len());
    let mut open_calls: Vec<String> = Vec::new();
    for (at, body) in bodies.iter().enumerate() {
        let content = content_text(body.content.as_ref(), at)?;
        let message = match body.role.as_str() {
            "system" | "developer" => ChatMessage::new("system", content),
            "user" => ChatMessage::new("user", content),
            "assistant" => {
                let calls = assistant_calls(body.tool_calls.as_deref().unwrap_or_default(), at)?;
                open_calls.extend(calls.iter().map(|call| call.id.clone()));
                ChatMessage {
                    tool_calls: calls,
                    ..ChatMessage::new("assistant", content)
                }
            }
            "tool" => {
                let id = body.tool_call_id.as_deref().unwrap_or_default();
                if !open_calls.iter().any(|open| open == id) {
                    return Err(invalid(
                        "messages",
                        format!(
                            "messages[{at}] is a tool result for `{id}`, which no earlier assistant message called"
                        ),
                    ));
                }
                ChatMessage::tool_result(id, content)
            }
            other => {
                return Err(invalid(
                    "messages",
                    format!(
                        "messages[{at}].role `{other}` is not one of system, developer, user, assistant, tool"
                    ),
                ));
            }
        };
        messages.push(message);
    }
    Ok(messages)
}

/// A message's text: a string, an array of text parts, or nothing (an assistant turn that
/// only calls tools).
fn content_text(content: Option<&Value>, at: usize) -> Result<String, ApiError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for part in parts {
                match (part["type"].as_str(), part["text"].as_str()) {
                    (Some("text"), Some(piece)) => text.push_str(piece),
                    (Some(kind @ ("image_url" | "input_audio" | "file")), _) => {
                        return Err(unsupported(
                            "messages",
                            format!("messages[{at}] has a `{kind}` part; only text is supported"),
                        ));
                    }
                    _ => {
                        return Err(invalid(
                            "messages",
                            format!(
                                "messages[{at}].content parts must be {{\"type\": \"text\", \"text\": ...}}"
                            ),
                        ));
                    }
                }
            }
            Ok(text)
        }
        Some(_) => Err(invalid(
            "messages",
            format!("messages[{at}].content must be a string or an array of text parts"),
        )),
    }
}

fn assistant_calls(calls: &[ToolCallBody], at: usize) -> Result<Vec<ToolCall>, ApiError> {
    calls
        .iter()
        .map(|call| {
            if call.kind.as_deref().is_some_and(|kind| kind != "function") {
                return Err(invalid(
                    "messages",
                    format!("messages[{at}].tool_calls: only `function` calls are supported"),
                ));
            }
            let arguments: Value = serde_json::from_str(&call.function.arguments).map_err(|err| {
                invalid(
                    "messages",
                    format!(
                        "messages[{at}].tool_calls: the arguments of `{}` are not JSON: {err}",
                        call.function.name
                    ),
                )
            })?;
            Ok(ToolCall {
                id: call.id.clone(),
                name: call.function.name.clone(),
                arguments,
            })
        })
        .collect()
}

fn tool_use(choice: Option<&Value>, tools: &[crate::engine::grammar::ToolSpec]) -> Result<ToolUse, ApiError> {
    let tool_use = match choice {
        None => ToolUse::Auto,
        Some(Value::String(mode)) => match mode.as_str() {
            "auto" => ToolUse::Auto,
            "none" => ToolUse::None,
            "required" => ToolUse::Required,
            other => {
                return Err(invalid(
                    "tool_choice",
                    format!("tool_choice `{other}` is not one of auto, none, required or a named function"),
                ));
            }
        },
        Some(named) => match named["function"]["name"].as_str() {
            Some(name) if named["type"] == "function" => ToolUse::Named(name.to_owned()),
            _ => {
                return Err(invalid(
                    "tool_choice",
                    "a named tool_choice is {\"type\": \"function\", \"function\": {\"name\": ...}}",
                ));
            }
        },
    };
    match &tool_use {
        ToolUse::Required if tools.is_empty() => {
            Err(invalid("tool_choice", "tool_choice `required` needs tools"))
        }
        ToolUse::Named(name) if !tools.iter().any(|tool| &tool.name == name) => Err(invalid(
            "tool_choice",
            format!("tool_choice names `{name}`, which is not among the tools"),
        )),
        _ => Ok(tool_use),
    }
}

fn response_format(format: Option<&Value>) -> Result<Option<ResponseFormat>, ApiError> {
    let Some(format) = format else {
        return Ok(None);
    };
    match format["type"].as_str() {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(ResponseFormat::JsonObject)),
        Some("json_schema") => {
            let spec = &format["json_schema"];
            let schema = &spec["schema"];
            if !schema.is_object() {
                return Err(invalid(
                    "response_format",
                    "response_format.json_schema.schema must be a JSON schema object",
                ));
            }
            Ok(Some(ResponseFormat::JsonSchema {
                name: spec["name"].as_str().unwrap_or("response").to_owned(),
                schema: schema.clone(),
                strict: spec["strict"].as_bool().unwrap_or(false),
            }))
        }
        _ => Err(invalid(
            "response_format",
            "response_format.type must be text, json_object or json_schema",
        )),
    }
}

/// `stop`: a string or a list of strings.
fn stops(stop: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let wrong = || {
        invalid(
            "stop",
            format!("stop must be a string or a list of at most {MAX_STOPS} non-empty strings"),
        )
    };
    let stops: Vec<String> = match stop {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(stop)) => vec![stop.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(wrong()),
    };
    if stops.len() > MAX_STOPS || stops.iter().any(String::is_empty) {
        return Err(wrong());
    }
    Ok(stops)
}

fn in_range(field: &'static str, value: f32, low: f32, high: f32) -> Result<f32, ApiError> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            field,
            format!("{field} must be between {low} and {high}"),
        ))
    }
}
