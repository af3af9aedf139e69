//! The platform's public HTTP API as `agentbox eval` uses it: open a session with an agent,
//! send the prompt, read the answer's server-sent events, report the run.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

use super::checks::Answer;
use crate::cli::server_url;
use crate::domain::NewEvalRun;
use crate::engine::providers::sse::{SseEvent, SseParser};

/// How a request failed: `Fatal` stops the whole run (the key is refused, nothing answers),
/// `Case` fails one case and the run goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    Fatal(String),
    Case(String),
}

/// Everything the stream told about one answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub answer: Answer,
    /// The model that answered (`done.model`).
    pub model: Option<String>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    /// The server's latency (`done.latency_ms`), else the time this client waited.
    pub latency_ms: Option<u64>,
    /// An `error` event, a status other than `complete`, or a stream that ended without `done`.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EvalClient {
    http: reqwest::Client,
    base: Url,
    api_key: String,
}

impl EvalClient {
    /// A client for the agentbox at `url`. A self-signed certificate is accepted only on this
    /// machine's own loopback address, where `serve` makes one on first start.
    pub fn new(url: &str, api_key: String, timeout: Duration) -> Result<Self, String> {
        let base = server_url::parse(url)?;
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(server_url::is_loopback(&base))
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .build()
            .map_err(|err| format!("cannot build an HTTP client: {err}"))?;
        Ok(Self { http, base, api_key })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/');
        url.set_path(&format!("{prefix}{path}"));
        url
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<reqwest::Response, RequestError> {
        let url = self.url(path);
        let response = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await
            .map_err(|err| {
                let why = crate::error_chain::error_chain(&err);
                if err.is_connect() {
                    RequestError::Fatal(format!("cannot reach {url}: {why}"))
                } else {
                    RequestError::Case(format!("{url}: {why}"))
                }
            })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(refusal(response).await)
    }

    /// Asks who the key belongs to before any case runs: a refused key, a key without the
    /// write scope (sessions and messages are writes) or a platform that does not answer stop
    /// the run at once instead of failing every case the same way.
    pub async fn check_key(&self) -> Result<(), RequestError> {
        let url = self.url("/api/v1/me");
        let response = self
            .http
            .get(url.clone())
            .bearer_auth(&self.api_key)
            .send()
            .await
            .map_err(|err| {
                RequestError::Fatal(format!(
                    "cannot reach {url}: {}",
                    crate::error_chain::error_chain(&err)
                ))
            })?;
        if !response.status().is_success() {
            return Err(match refusal(response).await {
                RequestError::Case(why) | RequestError::Fatal(why) => RequestError::Fatal(why),
            });
        }
        let me: Value = response
            .json()
            .await
            .map_err(|err| RequestError::Fatal(format!("{url} did not answer JSON: {err}")))?;
        let scopes = me["scopes"].as_array().cloned().unwrap_or_default();
        if me["auth"] == "api_key" && !scopes.iter().any(|scope| scope == "write") {
            return Err(RequestError::Fatal(
                "the API key lacks the `write` scope that opening sessions needs; create one with \
                 the read and write scopes"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// Opens a chat session with `agent`; returns its id.
    pub async fn create_session(&self, agent: &str) -> Result<String, RequestError> {
        let response = self
            .send(Method::POST, "/api/v1/sessions", &json!({ "agent": agent }))
            .await?;
        let body: Value = response
            .json()
            .await
            .map_err(|err| RequestError::Case(format!("the new session's answer is not JSON: {err}")))?;
        body["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| RequestError::Case(format!("the new session has no id: {body}")))
    }

    /// Sends the prompt and reads the streamed answer to its end.
    pub async fn ask(
        &self,
        session_id: &str,
        prompt: &str,
        model: Option<&str>,
    ) -> Result<Reply, RequestError> {
        let mut body = json!({ "content": prompt });
        if let Some(model) = model {
            body["model"] = json!(model);
        }
        let started = Instant::now();
        let response = self
            .send(
                Method::POST,
                &format!("/api/v1/sessions/{session_id}/messages"),
                &body,
            )
            .await?;
        let mut transcript = Transcript::default();
        let mut parser = SseParser::new();
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(bytes) => parser
                    .feed(&bytes)
                    .iter()
                    .for_each(|event| transcript.apply(event)),
                Err(err) => {
                    transcript.broken(format!(
                        "the answer stream broke: {}",
                        crate::error_chain::error_chain(&err)
                    ));
                    break;
                }
            }
        }
        if let Some(event) = parser.finish() {
            transcript.apply(&event);
        }
        let waited = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(transcript.finish(waited))
    }

    /// Records a finished run; returns the id it was stored under.
    pub async fn record(&self, run: &NewEvalRun) -> Result<String, RequestError> {
        let body = serde_json::to_value(run).map_err(|err| RequestError::Case(err.to_string()))?;
        let response = self.send(Method::POST, "/api/v1/evals", &body).await?;
        let stored: Value = response
            .json()
            .await
            .map_err(|err| RequestError::Case(format!("the recorded run's answer is not JSON: {err}")))?;
        Ok(stored["id"].as_str().unwrap_or_default().to_owned())
    }
}

/// An error answer as one line: `/api/v1/sessions 404 not_found: ...`. A refused or
/// under-scoped key ends the run: every other case would fail the same way.
async fn refusal(response: reqwest::Response) -> RequestError {
    let status = response.status();
    let path = response.url().path().to_owned();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::Null);
    let code = body["code"].as_str().unwrap_or_default().to_owned();
    let detail = match body["message"].as_str() {
        Some(message) => format!("{code}: {message}"),
        None => text.chars().take(200).collect(),
    };
    let line = format!("{path} {} {detail}", status.as_u16());
    if status == StatusCode::UNAUTHORIZED || code == "insufficient_scope" {
        RequestError::Fatal(format!(
            "{line} (the API key from --api-key / AGENTBOX_API_KEY needs the read and write scopes)"
        ))
    } else {
        RequestError::Case(line)
    }
}

/// Folds the events of one answer: `token` text, `tool_call` names, stored `message`s, the
/// final `done` and any `error`. Unknown events are skipped (newer servers may send more).
#[derive(Debug, Default)]
pub struct Transcript {
    /// Text streamed since the last tool event: the answer when no stored message names it.
    streamed: String,
    tools_called: Vec<String>,
    /// Stored assistant messages by id, in order.
    messages: Vec<(Option<String>, String)>,
    done: Option<Value>,
    error: Option<String>,
}

impl Transcript {
    pub fn apply(&mut self, event: &SseEvent) {
        let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
            return;
        };
        match event.event.as_deref() {
            Some("token") => {
                if let Some(text) = data["text"].as_str() {
                    self.streamed.push_str(text);
                }
            }
            Some("tool_call") => {
                if let Some(name) = data["name"].as_str() {
                    self.tools_called.push(name.to_owned());
                }
                self.streamed.clear();
            }
            Some("tool_result") => self.streamed.clear(),
            Some("message") if data["role"] == "assistant" => {
                let id = data["id"].as_str().map(str::to_owned);
                let content = data["content"].as_str().unwrap_or_default().to_owned();
                self.messages.push((id, content));
            }
            Some("error") => {
                let code = data["code"].as_str().unwrap_or("error");
                let message = data["message"].as_str().unwrap_or_default();
                self.error.get_or_insert_with(|| format!("{code}: {message}"));
            }
            Some("done") => self.done = Some(data),
            _ => {}
        }
    }

    fn broken(&mut self, why: String) {
        self.error.get_or_insert(why);
    }

    /// The reply; `waited_ms` stands in for the latency when `done` does not say.
    pub fn finish(self, waited_ms: u64) -> Reply {
        let done = self.done.unwrap_or(Value::Null);
        let final_id = done["message_id"].as_str();
        // The answer is the stored message `done` names, else the last stored assistant
        // message, else what was streamed after the last tool call.
        let text = self
            .messages
            .iter()
            .find(|(id, _)| final_id.is_some() && id.as_deref() == final_id)
            .or_else(|| self.messages.last())
            .map_or(self.streamed, |(_, content)| content.clone());
        let number = |field: &str| done[field].as_u64();
        let mut error = self.error;
        if error.is_none() {
            match done["status"].as_str() {
                Some("complete") => {}
                Some(status) => error = Some(format!("the answer ended with status `{status}`")),
                None if done.is_null() => {
                    error = Some("the answer stream ended without a `done` event".to_owned());
                }
                None => {}
            }
        }
        Reply {
            answer: Answer {
                text,
                tools_called: self.tools_called,
            },
            model: done["model"].as_str().map(str::to_owned),
            prompt_tokens: number("prompt_tokens").and_then(|n| u32::try_from(n).ok()),
            completion_tokens: number("completion_tokens").and_then(|n| u32::try_from(n).ok()),
            latency_ms: number("latency_ms").or(Some(waited_ms)),
            error,
        }
    }
}

#[cfg(test)]
mod tests;
