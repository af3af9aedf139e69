//! `POST /api/chat` and `POST /api/generate`: Ollama's requests turned into the engine's, and
//! the answer as newline-delimited JSON (by default) or one object (`stream: false`). A model
//! named `agent:<name>` runs that agent's loop, as on the OpenAI-compatible API. A request
//! without messages (or prompt) loads the model, or unloads it with `keep_alive: 0`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::options::{self, Options};
use super::{nanos, ndjson, now};
use crate::engine::chat::ChatRequest;
use crate::engine::{ChatMessage, ToolCall};
use crate::http::AppState;
use crate::http::compat::{Answer, Finished, Piece, ToolBody, call_id, invalid, tool_specs, unsupported};
use crate::http::error::{ApiError, OllamaError, OllamaErrorBody};
use crate::http::extract::{AnyJson, Caller};
use crate::service::completions::{CompletionService, Residency, Target};

fn yes() -> bool {
    true
}

/// `think` is accepted and ignored (a model that thinks writes it in its answer).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = OllamaChatBody)]
pub struct ChatBody {
    /// A model name, a role, or `agent:<name>`.
    pub model: String,
    #[serde(default)]
    pub messages: Vec<MessageBody>,
    #[serde(default)]
    pub tools: Option<Vec<ToolBody>>,
    /// `"json"` or a JSON schema.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub format: Option<Value>,
    #[serde(default)]
    pub options: Option<Options>,
    /// Newline-delimited JSON unless false.
    #[serde(default = "yes")]
    pub stream: bool,
    /// Seconds or a duration (`5m`); negative keeps the model loaded, 0 unloads it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub keep_alive: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = OllamaMessageBody)]
pub struct MessageBody {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    #[serde(default)]
    pub content: String,
    /// Not supported: a non-empty list is refused.
    #[serde(default)]
    pub images: Option<Vec<String>>,
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCallBody>>,
    /// On a `tool` message: the tool that answered.
    #[serde(default)]
    pub tool_name: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[schema(as = OllamaToolCallBody)]
pub struct ToolCallBody {
    pub function: FunctionCallBody,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[schema(as = OllamaFunctionCallBody)]
pub struct FunctionCallBody {
    pub name: String,
    /// The arguments (a JSON object).
    #[schema(value_type = Object)]
    pub arguments: Value,
}

/// `think` is accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = OllamaGenerateBody)]
pub struct GenerateBody {
    /// A model name, a role, or `agent:<name>`.
    pub model: String,
    #[serde(default)]
    pub prompt: String,
    /// A system prompt (replaces the agent's own instructions' place for models).
    #[serde(default)]
    pub system: Option<String>,
    /// Continue the prompt as it is, without the chat template.
    #[serde(default)]
    pub raw: bool,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub format: Option<Value>,
    #[serde(default)]
    pub options: Option<Options>,
    #[serde(default = "yes")]
    pub stream: bool,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub keep_alive: Option<Value>,
    /// Not supported: refused when not empty.
    #[serde(default)]
    pub suffix: Option<String>,
    /// Not supported: refused when not empty (the model's own template is used).
    #[serde(default)]
    pub template: Option<String>,
    /// Not supported: refused when not empty (send the conversation to `/api/chat`).
    #[serde(default)]
    pub context: Option<Vec<i64>>,
    /// Not supported: a non-empty list is refused.
    #[serde(default)]
    pub images: Option<Vec<String>>,
}

/// The timings and counts of a finished answer (durations in nanoseconds). Lines carry them
/// flattened, and only the last line of an answer has them: not required in the schema.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaStats)]
pub struct Stats {
    #[schema(required = false)]
    pub total_duration: u64,
    #[schema(required = false)]
    pub load_duration: u64,
    #[schema(required = false)]
    pub prompt_eval_count: u32,
    #[schema(required = false)]
    pub prompt_eval_duration: u64,
    #[schema(required = false)]
    pub eval_count: u32,
    #[schema(required = false)]
    pub eval_duration: u64,
}

impl Stats {
    fn of(finished: &Finished) -> Self {
        Self {
            total_duration: nanos(finished.total),
            load_duration: 0,
            prompt_eval_count: finished.prompt_tokens,
            prompt_eval_duration: nanos(finished.time_to_first_token),
            eval_count: finished.completion_tokens,
            eval_duration: nanos(finished.total.saturating_sub(finished.time_to_first_token)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaAssistantMessage)]
pub struct AssistantMessage {
    /// Always `assistant`.
    pub role: &'static str,
    pub content: String,
    /// A reasoning model's thinking, apart from the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallBody>,
}

/// One line of a chat answer; the last has `done: true`, `done_reason` and the stats.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaChatLine)]
pub struct ChatLine {
    pub model: String,
    pub created_at: String,
    pub message: AssistantMessage,
    pub done: bool,
    /// `stop`, `length`, `load` or `unload`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_reason: Option<&'static str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
}

/// One line of a generated answer; the last has `done: true`, `done_reason` and the stats.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OllamaGenerateLine)]
pub struct GenerateLine {
    pub model: String,
    pub created_at: String,
    pub response: String,
    pub done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_reason: Option<&'static str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
}

/// A line of a stream: an answer's, or the error that ended it.
#[derive(Serialize)]
#[serde(untagged)]
enum Line<T> {
    Answer(T),
    Error(OllamaErrorBody),
}

/// Chats with a model or an agent (Ollama-compatible).
#[utoipa::path(
    post,
    path = "/api/chat",
    operation_id = "ollamaChat",
    tag = "ollama",
    request_body = ChatBody,
    responses(
        (status = 200, description = "`ChatLine`s as newline-delimited JSON (`application/x-ndjson`), or one with `stream: false`",
            content((ChatLine = "application/json"), (ChatLine = "application/x-ndjson"))),
        (status = 400, description = "A bad or unsupported field", body = OllamaErrorBody),
        (status = 401, description = "No or a wrong API key", body = OllamaErrorBody),
        (status = 404, description = "No such model or agent", body = OllamaErrorBody),
        (status = 503, description = "The model is not available now", body = OllamaErrorBody),
    )
)]
pub async fn chat(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Result<AnyJson<ChatBody>, ApiError>,
) -> Result<Response, OllamaError> {
    let Caller(caller) = caller?;
    let AnyJson(body) = body?;
    let keep_alive = options::keep_alive(body.keep_alive.as_ref())?;
    let completions = state.services.completions.clone();
    if body.messages.is_empty() {
        let reason = load_or_unload(&completions, &body.model, keep_alive).await?;
        return Ok(axum::Json(chat_line(
            &body.model,
            String::new(),
            Vec::new(),
            Some(reason),
            None,
        ))
        .into_response());
    }
    let messages = messages(&body.messages)?;
    let answer = match Target::parse(&body.model) {
        Target::Agent(agent) => {
            if body.tools.as_ref().is_some_and(|tools| !tools.is_empty()) || body.format.is_some() {
                return Err(unsupported("tools", "an agent calls its own tools and answers in text").into());
            }
            let max_tokens = body.options.as_ref().and_then(Options::max_tokens);
            let run = completions
                .run_agent(&caller, agent, messages, max_tokens)
                .await?;
            Answer::of_agent(body.model.trim().to_owned(), run)
        }
        Target::Model(target) => {
            let mut request = ChatRequest::new(messages);
            request.tools = tool_specs(body.tools.unwrap_or_default())?;
            request.response_format = options::format(body.format.as_ref())?;
            body.options.unwrap_or_default().apply(&mut request)?;
            Answer::of_model(completions.chat(&caller, target, request).await?)
        }
    };
    let keep = keep_alive.map(|residency| (completions, residency));
    answer_response(answer, body.stream, keep, Shape::Chat).await
}

/// Generates an answer to one prompt (Ollama-compatible): through the model's chat template,
/// or continued as it is with `raw: true`.
#[utoipa::path(
    post,
    path = "/api/generate",
    operation_id = "ollamaGenerate",
    tag = "ollama",
    request_body = GenerateBody,
    responses(
        (status = 200, description = "`GenerateLine`s as newline-delimited JSON (`application/x-ndjson`), or one with `stream: false`",
            content((GenerateLine = "application/json"), (GenerateLine = "application/x-ndjson"))),
        (status = 400, description = "A bad or unsupported field", body = OllamaErrorBody),
        (status = 401, description = "No or a wrong API key", body = OllamaErrorBody),
        (status = 404, description = "No such model or agent", body = OllamaErrorBody),
        (status = 503, description = "The model is not available now", body = OllamaErrorBody),
    )
)]
pub async fn generate(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Result<AnyJson<GenerateBody>, ApiError>,
) -> Result<Response, OllamaError> {
    let Caller(caller) = caller?;
    let AnyJson(body) = body?;
    for (field, refused) in [
        ("suffix", body.suffix.as_deref().is_some_and(|s| !s.is_empty())),
        (
            "template",
            body.template.as_deref().is_some_and(|s| !s.is_empty()),
        ),
        ("context", body.context.as_ref().is_some_and(|c| !c.is_empty())),
        ("images", body.images.as_ref().is_some_and(|i| !i.is_empty())),
    ] {
        if refused {
            return Err(unsupported(field, format!("`{field}` is not supported")).into());
        }
    }
    let keep_alive = options::keep_alive(body.keep_alive.as_ref())?;
    let completions = state.services.completions.clone();
    if body.prompt.is_empty() {
        let reason = load_or_unload(&completions, &body.model, keep_alive).await?;
        return Ok(axum::Json(generate_line(&body.model, String::new(), Some(reason), None)).into_response());
    }
    let mut turns = Vec::new();
    if let Some(system) = body.system.filter(|s| !s.is_empty()) {
        turns.push(ChatMessage::new("system", system));
    }
    turns.push(ChatMessage::new("user", body.prompt.clone()));
    let answer = match Target::parse(&body.model) {
        Target::Agent(agent) => {
            if body.raw || body.format.is_some() {
                return Err(unsupported("raw", "an agent answers chat turns in text").into());
            }
            Answer::of_agent(
                body.model.trim().to_owned(),
                completions
                    .run_agent(
                        &caller,
                        agent,
                        turns,
                        body.options.as_ref().and_then(Options::max_tokens),
                    )
                    .await?,
            )
        }
        Target::Model(target) => {
            let mut request = ChatRequest::new(turns);
            request.response_format = options::format(body.format.as_ref())?;
            body.options.unwrap_or_default().apply(&mut request)?;
            let routed = if body.raw {
                completions
                    .complete(&caller, target, body.prompt, &request)
                    .await?
            } else {
                completions.chat(&caller, target, request).await?
            };
            Answer::of_model(routed)
        }
    };
    let keep = keep_alive.map(|residency| (completions, residency));
    answer_response(answer, body.stream, keep, Shape::Generate).await
}

/// Ollama's empty request: load the model, or unload it with `keep_alive: 0`.
async fn load_or_unload(
    completions: &CompletionService,
    model: &str,
    keep_alive: Option<Residency>,
) -> Result<&'static str, ApiError> {
    let Target::Model(model) = Target::parse(model) else {
        return Err(invalid("model", "an agent has nothing to load; send messages"));
    };
    if keep_alive == Some(Residency::For(std::time::Duration::ZERO)) {
        completions.keep_alive(model, Residency::For(std::time::Duration::ZERO));
        return Ok("unload");
    }
    let loaded = completions.load(model).await?;
    if let Some(residency) = keep_alive {
        completions.keep_alive(&loaded.name, residency);
    }
    Ok("load")
}

/// The conversation as the engine takes it. Ollama's tool results name no call: each answers
/// the earliest call not answered yet, and one that answers none is refused.
fn messages(bodies: &[MessageBody]) -> Result<Vec<ChatMessage>, ApiError> {
    let mut messages = Vec::with_capacity(bodies.len());
    let mut open: std::collections::VecDeque<ToolCall> = std::collections::VecDeque::new();
    for (at, body) in bodies.iter().enumerate() {
        if body.images.as_ref().is_some_and(|images| !images.is_empty()) {
            return Err(unsupported(
                "messages",
                format!("messages[{at}] has images; only text is supported"),
            ));
        }
        let message = match body.role.as_str() {
            "system" | "user" => ChatMessage::new(body.role.clone(), body.content.clone()),
            "assistant" => {
                let calls: Vec<ToolCall> = body
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(|call| {
                        if call.function.arguments.is_object() {
                            Ok(ToolCall {
                                id: call_id(),
                                name: call.function.name.clone(),
                                arguments: call.function.arguments.clone(),
                            })
                        } else {
                            Err(invalid(
                                "messages",
                                format!("messages[{at}].tool_calls: arguments must be a JSON object"),
                            ))
                        }
                    })
                    .collect::<Result<_, _>>()?;
                open.extend(calls.iter().cloned());
                ChatMessage {
                    tool_calls: calls,
                    ..ChatMessage::new("assistant", body.content.clone())
                }
            }
            "tool" => {
                let position = match body.tool_name.as_deref() {
                    Some(name) => open.iter().position(|call| call.name == name),
                    None => (!open.is_empty()).then_some(0),
                };
                let Some(call) = position.and_then(|at| open.remove(at)) else {
                    return Err(invalid(
                        "messages",
                        format!(
                            "messages[{at}] is a tool result, but no earlier assistant message made a call it answers"
                        ),
                    ));
                };
                ChatMessage::tool_result(call.id, body.content.clone())
            }
            other => {
                return Err(invalid(
                    "messages",
                    format!("messages[{at}].role `{other}` is not one of system, user, assistant, tool"),
                ));
            }
        };
        messages.push(message);
    }
    Ok(messages)
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Chat,
    Generate,
}

fn chat_line(
    model: &str,
    content: String,
    tool_calls: Vec<ToolCallBody>,
    done_reason: Option<&'static str>,
    stats: Option<Stats>,
) -> ChatLine {
    ChatLine {
        model: model.trim().to_owned(),
        created_at: now(),
        message: AssistantMessage {
            role: "assistant",
            content,
            thinking: None,
            tool_calls,
        },
        done: done_reason.is_some(),
        done_reason,
        stats,
    }
}

fn generate_line(
    model: &str,
    response: String,
    done_reason: Option<&'static str>,
    stats: Option<Stats>,
) -> GenerateLine {
    GenerateLine {
        model: model.trim().to_owned(),
        created_at: now(),
        response,
        done: done_reason.is_some(),
        done_reason,
        stats,
    }
}

/// A line of thinking: in a chat, the message's `thinking`; in a generation, `thinking` beside
/// an empty response.
fn thinking_line(shape: Shape, model: &str, thinking: String) -> Value {
    let mut line = shaped(shape, model, String::new(), Vec::new(), None);
    match shape {
        Shape::Chat => line["message"]["thinking"] = Value::String(thinking),
        Shape::Generate => line["thinking"] = Value::String(thinking),
    }
    line
}

fn call_body(call: &ToolCall) -> ToolCallBody {
    ToolCallBody {
        function: FunctionCallBody {
            name: call.name.clone(),
            arguments: call.arguments.clone(),
        },
    }
}

fn done_reason(finished: &Finished) -> &'static str {
    match finished.finish {
        crate::engine::FinishReason::Length => "length",
        crate::engine::FinishReason::Stop | crate::engine::FinishReason::ToolCalls => "stop",
    }
}

/// The answer in the request's shape, streamed or whole; the keep-alive is applied once the
/// answer has ended.
async fn answer_response(
    answer: Answer,
    stream: bool,
    keep: Option<(CompletionService, Residency)>,
    shape: Shape,
) -> Result<Response, OllamaError> {
    if !stream {
        let model = answer.model.clone();
        let collected = answer.collect().await;
        release(keep, &model);
        let collected = collected?;
        let calls = collected.tool_calls.iter().map(call_body).collect();
        let mut line = shaped(shape, &model, collected.text, calls, Some(&collected.finished));
        if !collected.reasoning.is_empty() {
            match shape {
                Shape::Chat => line["message"]["thinking"] = Value::String(collected.reasoning),
                Shape::Generate => line["thinking"] = Value::String(collected.reasoning),
            }
        }
        return Ok(axum::Json(line).into_response());
    }
    let lines = futures::stream::unfold(Some((answer, keep)), move |state| async move {
        let (mut answer, keep) = state?;
        let model = answer.model.clone();
        // Ollama's stream carries whole calls: the pieces of one being generated are skipped.
        let piece = loop {
            match answer.next().await? {
                Piece::ToolCallDelta(_) => {}
                piece => break piece,
            }
        };
        let ended = matches!(piece, Piece::Done(_) | Piece::Failed(_));
        let line: Line<Value> = match piece {
            Piece::Text(text) => Line::Answer(shaped(shape, &model, text, Vec::new(), None)),
            Piece::Reasoning(text) => Line::Answer(thinking_line(shape, &model, text)),
            Piece::ToolCall(call) => {
                Line::Answer(shaped(shape, &model, String::new(), vec![call_body(&call)], None))
            }
            Piece::Done(finished) => {
                Line::Answer(shaped(shape, &model, String::new(), Vec::new(), Some(&finished)))
            }
            Piece::Failed(err) => Line::Error(OllamaError(err).body().1),
            Piece::ToolCallDelta(_) => unreachable!("skipped above"),
        };
        if ended {
            release(keep, &model);
            return Some((line, None));
        }
        Some((line, Some((answer, keep))))
    });
    Ok(ndjson(lines))
}

/// One line of the answer in the request's shape (`finished` on the last); a generate line
/// has no tool calls (nothing offers tools there).
fn shaped(
    shape: Shape,
    model: &str,
    text: String,
    calls: Vec<ToolCallBody>,
    finished: Option<&Finished>,
) -> Value {
    let reason = finished.map(done_reason);
    let stats = finished.map(Stats::of);
    match shape {
        Shape::Chat => serde_json::to_value(chat_line(model, text, calls, reason, stats)),
        Shape::Generate => serde_json::to_value(generate_line(model, text, reason, stats)),
    }
    .unwrap_or_default()
}

/// Applies the request's keep-alive to the model that answered.
fn release(keep: Option<(CompletionService, Residency)>, model: &str) {
    if let Some((completions, residency)) = keep
        && Target::parse(model) == Target::Model(model)
    {
        completions.keep_alive(model, residency);
    }
}
