//! External model providers: chat APIs reached over HTTP — `OpenAI` and any OpenAI-compatible
//! server (vLLM, llama-server, Ollama's `/v1`), and Anthropic's Messages API. Their streams
//! become the same [`ChatEvent`](super::chat::ChatEvent)s the local engine sends, tool calls
//! included, so the agent loop does not care which backend answered.
//!
//! Failures are sorted for the router: [`EngineError::ProviderUnavailable`] (cannot connect,
//! timeout, 5xx, 429, the stream broke off) means "try the next provider";
//! [`EngineError::Provider`] (bad key, unknown model, refused request) means "this request is
//! wrong here".

mod anthropic;
mod http;
mod openai;
pub mod sse;
mod stream;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::EngineError;
use super::chat::{ChatEvent, ChatRequest, ChatStream};

/// The wire format a provider speaks (the `providers.kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// api.openai.com: only the parameters `OpenAI` documents (it rejects unknown fields).
    OpenAi,
    /// A server speaking `OpenAI`'s chat API that also takes llama.cpp's sampling parameters.
    OpenAiCompatible,
    Anthropic,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCompatible => "openai_compatible",
            ProviderKind::Anthropic => "anthropic",
        }
    }

    /// Where the provider lives when no base URL is configured.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            ProviderKind::OpenAiCompatible => None,
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
        }
    }
}

impl FromStr for ProviderKind {
    type Err = EngineError;

    fn from_str(kind: &str) -> Result<Self, Self::Err> {
        match kind {
            "openai" => Ok(ProviderKind::OpenAi),
            "openai_compatible" => Ok(ProviderKind::OpenAiCompatible),
            "anthropic" => Ok(ProviderKind::Anthropic),
            other => Err(EngineError::InvalidRequest(format!(
                "unknown provider kind `{other}` (known: openai, openai_compatible, anthropic)"
            ))),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to reach one provider. `Debug` never shows the key.
#[derive(Clone)]
pub struct ProviderConfig {
    /// The name errors and logs use (the `providers.name` column).
    pub name: String,
    pub kind: ProviderKind,
    /// E.g. `https://api.openai.com/v1`, `http://127.0.0.1:8080/v1`, `https://api.anthropic.com`;
    /// empty for the kind's default.
    pub base_url: String,
    pub api_key: Option<String>,
    /// The longest wait for the response to start, and then between two pieces of the stream
    /// (not for the whole answer: a long answer that keeps streaming is fine).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl ProviderConfig {
    pub fn new(name: impl Into<String>, kind: ProviderKind, base_url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            base_url: base_url.into(),
            api_key: None,
            request_timeout: Duration::from_mins(2),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// A client for one provider: cheap to clone (the HTTP connection pool is shared).
#[derive(Debug, Clone)]
pub struct ProviderClient {
    inner: Arc<http::Connection>,
}

impl ProviderClient {
    pub fn new(config: ProviderConfig) -> Result<Self, EngineError> {
        Ok(Self {
            inner: Arc::new(http::Connection::new(config)?),
        })
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.inner.config
    }

    /// Starts a chat with `model`. Returns once the provider has accepted the request (so a
    /// provider that is down or refuses fails here, and the caller can fall back); the answer
    /// then streams. Dropping the stream drops the HTTP request, which stops the provider.
    pub async fn chat(&self, model: &str, request: ChatRequest) -> Result<ChatStream, EngineError> {
        let connection = &self.inner;
        let started = Instant::now();
        let (sender, stream) = ChatStream::channel();
        match connection.config.kind {
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                let body = openai::request_body(connection.config.kind, model, &request);
                let response = connection.post_json("chat/completions", &body).await?;
                let decoder = openai::Decoder::new(started);
                tokio::spawn(stream::pump(
                    response,
                    decoder,
                    sender,
                    connection.stream_settings(),
                ));
            }
            ProviderKind::Anthropic => {
                let body = anthropic::request_body(model, &request)?;
                let response = connection.post_json("v1/messages", &body).await?;
                let decoder = anthropic::Decoder::new(started);
                tokio::spawn(stream::pump(
                    response,
                    decoder,
                    sender,
                    connection.stream_settings(),
                ));
            }
        }
        Ok(stream)
    }

    /// The model ids the provider offers.
    pub async fn list_models(&self) -> Result<Vec<String>, EngineError> {
        let path = match self.inner.config.kind {
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => "models",
            ProviderKind::Anthropic => "v1/models",
        };
        let listing = self.inner.get_json(path).await?;
        let models = listing
            .get("data")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| {
                self.inner
                    .refused("the model listing has no `data` array".to_owned())
            })?;
        Ok(models
            .iter()
            .filter_map(|model| model.get("id").and_then(serde_json::Value::as_str))
            .map(str::to_owned)
            .collect())
    }
}

/// Decodes a recorded response body of a provider of `kind`, cut into `pieces` as a network
/// might deliver it: the chat events up to the first `Done`, or the error the stream would end
/// with. What the fuzz target drives.
pub(crate) fn decode_recorded<'a>(
    kind: ProviderKind,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<ChatEvent>, String> {
    let started = Instant::now();
    let decoded = match kind {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
            stream::decode_body(openai::Decoder::new(started), pieces)
        }
        ProviderKind::Anthropic => stream::decode_body(anthropic::Decoder::new(started), pieces),
    };
    decoded.map_err(|err| format!("{err:?}"))
}
