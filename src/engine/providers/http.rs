//! The HTTP side of a provider: its base URL and authentication, sending with timeouts, and
//! turning failures into the two provider errors (fall back, or refused) without ever
//! putting the API key into a message.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use super::{ProviderConfig, ProviderKind};
use crate::engine::EngineError;
use crate::error_chain::error_chain;

/// Anthropic's API version header: the event and content-block shapes read here.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The most of an error body quoted in a message when it carries no `error.message`.
const MAX_QUOTED_BODY: usize = 300;

#[derive(Debug)]
pub(super) struct Connection {
    pub config: ProviderConfig,
    base_url: String,
    client: reqwest::Client,
    blame: Blame,
}

/// What a streaming task needs to keep going on its own.
#[derive(Debug, Clone)]
pub(super) struct StreamSettings {
    pub idle_timeout: Duration,
    pub blame: Blame,
}

impl Connection {
    pub fn new(config: ProviderConfig) -> Result<Self, EngineError> {
        let blame = Blame {
            provider: config.name.clone(),
            api_key: config.api_key.clone().filter(|key| !key.is_empty()),
        };
        let base_url = match (config.base_url.trim(), config.kind.default_base_url()) {
            ("", Some(default)) => default.to_owned(),
            ("", None) => {
                return Err(EngineError::InvalidRequest(format!(
                    "provider `{}` ({}) needs a base URL",
                    config.name, config.kind
                )));
            }
            (url, _) => url.trim_end_matches('/').to_owned(),
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("agentbox/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .default_headers(auth_headers(&config)?)
            .build()
            .map_err(|err| EngineError::HttpClient(error_chain(&err)))?;
        Ok(Self {
            config,
            base_url,
            client,
            blame,
        })
    }

    pub fn stream_settings(&self) -> StreamSettings {
        StreamSettings {
            idle_timeout: self.config.request_timeout,
            blame: self.blame.clone(),
        }
    }

    pub fn refused(&self, message: String) -> EngineError {
        self.blame.refused(message)
    }

    /// POSTs `body` to `path` under the base URL; returns the response once its status is a
    /// success (its body not yet read).
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<Response, EngineError> {
        let request = self.client.post(self.url(path)).json(body);
        self.send(request).await
    }

    pub async fn get_json(&self, path: &str) -> Result<Value, EngineError> {
        let response = self.send(self.client.get(self.url(path))).await?;
        let read = tokio::time::timeout(self.config.request_timeout, response.json::<Value>());
        match read.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) if err.is_decode() => Err(self.blame.refused(format!(
                "the answer is not JSON: {}",
                error_chain(&err.without_url())
            ))),
            Ok(Err(err)) => Err(self.blame.unavailable(error_chain(&err))),
            Err(_) => Err(self.blame.unavailable(timed_out(self.config.request_timeout))),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Response, EngineError> {
        let timeout = self.config.request_timeout;
        let response = match tokio::time::timeout(timeout, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => return Err(self.blame.unavailable(error_chain(&err))),
            Err(_) => return Err(self.blame.unavailable(timed_out(timeout))),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let url = response.url().clone();
        let body = tokio::time::timeout(timeout, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let message = format!("{url} answered {status}: {}", error_message(&body));
        Err(if falls_back(status) {
            self.blame.unavailable(message)
        } else {
            self.blame.refused(message)
        })
    }
}

/// Makes the provider's errors; scrubs the API key from every message (some providers quote
/// it back, and connection errors may echo what was sent).
#[derive(Clone)]
pub(super) struct Blame {
    provider: String,
    api_key: Option<String>,
}

impl std::fmt::Debug for Blame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blame")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl Blame {
    pub fn refused(&self, message: String) -> EngineError {
        EngineError::Provider {
            provider: self.provider.clone(),
            message: self.scrub(message),
        }
    }

    pub fn unavailable(&self, message: String) -> EngineError {
        EngineError::ProviderUnavailable {
            provider: self.provider.clone(),
            message: self.scrub(message),
        }
    }

    fn scrub(&self, message: String) -> String {
        match &self.api_key {
            Some(key) if message.contains(key.as_str()) => message.replace(key.as_str(), "<api key>"),
            _ => message,
        }
    }
}

pub(super) fn timed_out(timeout: Duration) -> String {
    format!("no answer within {} s", timeout.as_secs_f32())
}

/// Statuses another provider may well not share: overload, rate limits, outages, timeouts.
fn falls_back(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// The human part of an error body: `{"error":{"message":…}}` (`OpenAI`, Anthropic,
/// llama-server), `{"error":"…"}` (Ollama), else the start of the body itself.
pub(super) fn error_message(body: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<Value>(body) {
        let error = json.get("error").unwrap_or(&json);
        let message = error.get("message").unwrap_or(error);
        if let Some(text) = message.as_str() {
            return text.to_owned();
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    match text.char_indices().nth(MAX_QUOTED_BODY) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn auth_headers(config: &ProviderConfig) -> Result<HeaderMap, EngineError> {
    let mut headers = HeaderMap::new();
    if config.kind == ProviderKind::Anthropic {
        headers.insert("anthropic-version", HeaderValue::from_static(ANTHROPIC_VERSION));
    }
    let Some(key) = config.api_key.as_deref().filter(|key| !key.is_empty()) else {
        return Ok(headers);
    };
    let (name, value) = match config.kind {
        ProviderKind::Anthropic => ("x-api-key", key.to_owned()),
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => ("authorization", format!("Bearer {key}")),
    };
    // The key itself is never quoted: the message only says where it is wrong.
    let mut value = HeaderValue::from_str(&value).map_err(|_| {
        EngineError::InvalidRequest(format!(
            "the API key of provider `{}` has characters an HTTP header cannot carry",
            config.name
        ))
    })?;
    value.set_sensitive(true);
    headers.insert(name, value);
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_give_their_message() {
        let openai = br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert_eq!(error_message(openai), "Incorrect API key provided");
        let anthropic =
            br#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}"#;
        assert_eq!(error_message(anthropic), "model: claude-nope");
        assert_eq!(
            error_message(br#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(error_message(b"  Not Found\n"), "Not Found");
        assert_eq!(error_message(b""), "(empty body)");
        let long = "x".repeat(1000);
        assert_eq!(
            error_message(long.as_bytes()).chars().count(),
            MAX_QUOTED_BODY + 1
        );
    }

    #[test]
    fn overload_and_outages_fall_back_refusals_do_not() {
        for status in [429, 408, 500, 502, 503, 529] {
            assert!(falls_back(StatusCode::from_u16(status).unwrap()), "{status}");
        }
        for status in [400, 401, 403, 404, 422] {
            assert!(!falls_back(StatusCode::from_u16(status).unwrap()), "{status}");
        }
    }

    #[test]
    fn the_api_key_never_reaches_a_message_or_debug_output() {
        let mut config = ProviderConfig::new("p", ProviderKind::OpenAi, "");
        config.api_key = Some("sk-secret-123".into());
        let connection = Connection::new(config).unwrap();
        let err = connection.refused("Incorrect API key provided: sk-secret-123".into());
        assert!(!err.to_string().contains("sk-secret-123"), "{err}");
        assert!(err.to_string().contains("<api key>"));
        assert!(!format!("{connection:?}").contains("sk-secret-123"));
    }

    #[test]
    fn base_urls_default_per_kind_and_lose_a_trailing_slash() {
        let anthropic = Connection::new(ProviderConfig::new("a", ProviderKind::Anthropic, "")).unwrap();
        assert_eq!(
            anthropic.url("v1/messages"),
            "https://api.anthropic.com/v1/messages"
        );
        let local = ProviderConfig::new("l", ProviderKind::OpenAiCompatible, "http://127.0.0.1:8080/v1/");
        let local = Connection::new(local).unwrap();
        assert_eq!(local.url("models"), "http://127.0.0.1:8080/v1/models");
        let missing = Connection::new(ProviderConfig::new("m", ProviderKind::OpenAiCompatible, " "));
        assert!(matches!(missing, Err(EngineError::InvalidRequest(_))));
    }
}
