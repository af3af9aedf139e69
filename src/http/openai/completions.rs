//! `POST /v1/completions`: legacy text completions (editor autocompletion speaks them). The
//! prompt is continued as it is, without a chat template, by a local model.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::chat::SamplingBody;
use super::stream::{Usage, completion_id, finish_reason};
use crate::engine::chat::ChatRequest;
use crate::http::AppState;
use crate::http::compat::{Answer, Piece, invalid, unsupported};
use crate::http::error::{ApiError, OpenAiError, OpenAiErrorBody};
use crate::http::extract::{ApiJson, Caller};
use crate::http::openapi::ServerSentEvent;
use crate::service::completions::Target;

/// `OpenAI`'s default.
const DEFAULT_MAX_TOKENS: u32 = 16;

/// Other fields (`user`...) are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CompletionBody {
    /// A local model's name or a role.
    pub model: String,
    /// A string, or a list holding one string.
    #[schema(value_type = Object)]
    pub prompt: Value,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(flatten)]
    pub sampling: SamplingBody,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<super::chat::StreamOptions>,
    /// Only 1.
    #[serde(default)]
    pub n: Option<u32>,
    /// Only false.
    #[serde(default)]
    pub echo: Option<bool>,
    /// Not supported.
    #[serde(default)]
    pub suffix: Option<String>,
    /// Not supported.
    #[serde(default)]
    pub logprobs: Option<u32>,
    /// Only 1.
    #[serde(default)]
    pub best_of: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TextCompletion {
    /// `cmpl-…`
    pub id: String,
    /// Always `text_completion`.
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub choices: Vec<TextChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TextChoice {
    pub text: String,
    pub index: u32,
    #[schema(value_type = Option<Object>)]
    pub logprobs: Option<Value>,
    /// `stop` or `length`; null on streamed chunks before the last.
    pub finish_reason: Option<&'static str>,
}

/// Continues a prompt (legacy OpenAI text completions), on a local model.
///
/// With `stream: true` the answer comes as server-sent events of the default type, `message`
/// (data: `TextCompletion`), ending with `data: [DONE]`.
#[utoipa::path(
    post,
    path = "/v1/completions",
    operation_id = "createCompletion",
    tag = "openai",
    request_body = CompletionBody,
    responses(
        (status = 200, description = "A `text_completion`, or with `stream` server-sent ones then `[DONE]`",
            content((TextCompletion = "application/json"), (ServerSentEvent = "text/event-stream"))),
        (status = 400, description = "A bad or unsupported field, or a remote model (`invalid_input`, `unsupported_value`)", body = OpenAiErrorBody),
        (status = 404, description = "No such model (`model_not_found`)", body = OpenAiErrorBody),
        (status = 503, description = "The model is not available now (`model_unavailable`)", body = OpenAiErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    body: Result<ApiJson<CompletionBody>, ApiError>,
) -> Result<Response, OpenAiError> {
    let Caller(caller) = caller?;
    let ApiJson(body) = body?;
    let Target::Model(model) = Target::parse(&body.model) else {
        return Err(unsupported(
            "model",
            "agents answer chat completions only (POST /v1/chat/completions)",
        )
        .into());
    };
    let model = model.to_owned();
    let streamed = body.stream;
    let usage = body.stream_options.as_ref().is_some_and(|o| o.include_usage);
    let (prompt, request) = completion_request(body)?;
    let routed = state
        .services
        .completions
        .complete(&caller, &model, prompt, &request)
        .await?;
    let answer = Answer::of_model(routed);
    if streamed {
        return Ok(sse(answer, usage).into_response());
    }
    let model = answer.model.clone();
    let collected = answer.collect().await?;
    Ok(axum::Json(TextCompletion {
        id: completion_id("cmpl"),
        object: "text_completion",
        created: chrono::Utc::now().timestamp(),
        model,
        choices: vec![TextChoice {
            text: collected.text,
            index: 0,
            logprobs: None,
            finish_reason: Some(finish_reason(collected.finished.finish)),
        }],
        usage: Some(Usage::of(&collected.finished)),
    })
    .into_response())
}

fn completion_request(body: CompletionBody) -> Result<(String, ChatRequest), ApiError> {
    let prompt = match body.prompt {
        Value::String(prompt) => prompt,
        Value::Array(mut prompts) if prompts.len() == 1 && prompts[0].is_string() => prompts
            .pop()
            .and_then(|p| p.as_str().map(str::to_owned))
            .unwrap_or_default(),
        Value::Array(_) => {
            return Err(unsupported(
                "prompt",
                "one prompt per request (a string, or a list of one string)",
            ));
        }
        _ => return Err(invalid("prompt", "prompt must be a string")),
    };
    if prompt.is_empty() {
        return Err(invalid("prompt", "prompt is empty"));
    }
    for (field, refused) in [
        ("n", body.n.is_some_and(|n| n != 1)),
        ("best_of", body.best_of.is_some_and(|n| n != 1)),
        ("echo", body.echo == Some(true)),
        ("suffix", body.suffix.as_deref().is_some_and(|s| !s.is_empty())),
        ("logprobs", body.logprobs.is_some()),
    ] {
        if refused {
            return Err(unsupported(
                field,
                format!("`{field}` is not supported with this value"),
            ));
        }
    }
    let mut request = ChatRequest::new(Vec::new());
    request.max_tokens = body.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if request.max_tokens == 0 {
        return Err(invalid("max_tokens", "max_tokens must be at least 1"));
    }
    body.sampling.apply(&mut request)?;
    Ok((prompt, request))
}

/// The continuation as server-sent `text_completion` chunks, then `[DONE]`.
fn sse(answer: Answer, include_usage: bool) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let id = completion_id("cmpl");
    let created = chrono::Utc::now().timestamp();
    let stream = futures::stream::unfold(Some(answer), move |answer| {
        let id = id.clone();
        async move {
            let mut answer = answer?;
            let chunk = |text: String, finish: Option<&'static str>, usage: Option<Usage>, model: &str| {
                let data = TextCompletion {
                    id: id.clone(),
                    object: "text_completion",
                    created,
                    model: model.to_owned(),
                    choices: vec![TextChoice {
                        text,
                        index: 0,
                        logprobs: None,
                        finish_reason: finish,
                    }],
                    usage,
                };
                Event::default().data(serde_json::to_string(&data).unwrap_or_default())
            };
            let (events, next) = match answer.next().await {
                Some(Piece::Text(text)) => (vec![chunk(text, None, None, &answer.model)], Some(answer)),
                Some(Piece::Done(finished)) => {
                    let usage = include_usage.then(|| Usage::of(&finished));
                    let last = chunk(
                        String::new(),
                        Some(finish_reason(finished.finish)),
                        usage,
                        &answer.model,
                    );
                    (vec![last, Event::default().data("[DONE]")], None)
                }
                Some(Piece::Failed(err)) => {
                    let (_, body) = OpenAiError(err).body();
                    (
                        vec![Event::default().data(serde_json::to_string(&body).unwrap_or_default())],
                        None,
                    )
                }
                Some(Piece::ToolCall(_) | Piece::ToolCallDelta(_) | Piece::Reasoning(_)) => {
                    (Vec::new(), Some(answer))
                }
                None => return None,
            };
            Some((futures::stream::iter(events.into_iter().map(Ok)), next))
        }
    })
    .flatten();
    Sse::new(stream).keep_alive(KeepAlive::default())
}
