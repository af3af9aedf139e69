//! The backend-neutral chat interface: what the agent loop asks any model for — the local
//! llama.cpp engine or an external API (OpenAI-compatible, Anthropic) — and the events every
//! backend streams back. Tool calls arrive as `ToolCall`s whatever the backend's wire format.

use tokio::sync::mpsc;

use super::EngineError;
use super::grammar::ToolSpec;
use super::request::{ChatMessage, GenerationStats, SamplingParams, ToolCall};

/// Capacity of a chat stream: a slow reader holds the backend back instead of buffering
/// without bound.
pub const CHAT_STREAM_CAPACITY: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call; empty for plain chat.
    pub tools: Vec<ToolSpec>,
    pub max_tokens: u32,
    /// Generation ends before any of these strings; they are not part of the output.
    pub stop: Vec<String>,
    pub sampling: SamplingParams,
    /// Whether the model may answer in text or must call a tool (with `tools` offered).
    pub tool_use: ToolUse,
    /// The answer must be JSON of this shape.
    pub response_format: Option<ResponseFormat>,
}

impl ChatRequest {
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self {
            messages,
            tools: Vec::new(),
            max_tokens: 512,
            stop: Vec::new(),
            sampling: SamplingParams::default(),
            tool_use: ToolUse::Auto,
            response_format: None,
        }
    }
}

/// What the model may do with the tools it is offered (`OpenAI`'s `tool_choice`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ToolUse {
    /// Text or a call, as the model sees fit.
    #[default]
    Auto,
    /// Text only: the tools are described but not callable.
    None,
    /// A call of one of the tools.
    Required,
    /// A call of this tool.
    Named(String),
}

/// A JSON answer (`OpenAI`'s `response_format`).
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    /// Any JSON object.
    JsonObject,
    /// JSON following `schema`.
    JsonSchema {
        name: String,
        schema: serde_json::Value,
        strict: bool,
    },
}

impl ResponseFormat {
    /// The JSON schema the answer follows.
    pub fn schema(&self) -> serde_json::Value {
        match self {
            ResponseFormat::JsonObject => serde_json::json!({ "type": "object" }),
            ResponseFormat::JsonSchema { schema, .. } => schema.clone(),
        }
    }
}

/// Part of a tool call, as it is generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCallDelta {
    /// The call's place among the answer's calls (0 for the first).
    pub index: usize,
    /// The id the complete call will carry.
    pub id: String,
    pub name: String,
    /// More of the arguments' JSON text (empty in the first delta, which names the tool).
    pub arguments: String,
}

/// What a chat streams back, in order: text pieces and tool calls, then `Done` once.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// Newly generated answer text (complete UTF-8).
    Text(String),
    /// Newly generated reasoning, apart from the answer (a reasoning model's `<think>` part).
    Reasoning(String),
    /// A tool call being generated: its name once known, then its arguments piece by piece
    /// (local models; the `ToolCall` with the same id follows once the call is complete).
    ToolCallDelta(ToolCallDelta),
    /// A complete tool call whose arguments parsed as JSON.
    ToolCall(ToolCall),
    /// The answer ended (`finish` is `ToolCalls` when tool calls were made).
    Done(GenerationStats),
}

/// Sees each event of a chat as its reader takes it.
type Observer = Box<dyn FnMut(&Result<ChatEvent, EngineError>) + Send>;

/// A running chat. Dropping it cancels the generation (locally within one decode step; for
/// external providers the HTTP request is dropped).
pub struct ChatStream {
    events: mpsc::Receiver<Result<ChatEvent, EngineError>>,
    /// Sees every event as the reader takes it (the router counts tokens for `/metrics`).
    observer: Option<Observer>,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("observed", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

/// The sending side a backend writes its events into.
pub type ChatSender = mpsc::Sender<Result<ChatEvent, EngineError>>;

impl ChatStream {
    /// A stream and the sender a backend task feeds. The task should stop when `send` fails:
    /// the reader has gone.
    pub fn channel() -> (ChatSender, Self) {
        let (sender, events) = mpsc::channel(CHAT_STREAM_CAPACITY);
        (
            sender,
            Self {
                events,
                observer: None,
            },
        )
    }

    /// The same stream, showing each event to `observer` as it is read (it must be quick: it
    /// runs on the reader's task for every token), after any observer it already had.
    #[must_use]
    pub fn observed(
        mut self,
        mut observer: impl FnMut(&Result<ChatEvent, EngineError>) + Send + 'static,
    ) -> Self {
        self.observer = Some(match self.observer.take() {
            Some(mut earlier) => Box::new(move |event| {
                earlier(event);
                observer(event);
            }),
            None => Box::new(observer),
        });
        self
    }

    /// The next event; `None` after `Done` or an error.
    pub async fn next(&mut self) -> Option<Result<ChatEvent, EngineError>> {
        let event = self.events.recv().await;
        if let (Some(observer), Some(event)) = (self.observer.as_mut(), event.as_ref()) {
            observer(event);
        }
        event
    }

    /// Waits for the whole answer: its text, its tool calls and the stats.
    pub async fn collect(mut self) -> Result<ChatAnswer, EngineError> {
        let mut answer = ChatAnswer::default();
        while let Some(event) = self.next().await {
            match event? {
                ChatEvent::Text(piece) => answer.text.push_str(&piece),
                ChatEvent::Reasoning(piece) => answer.reasoning.push_str(&piece),
                ChatEvent::ToolCall(call) => answer.tool_calls.push(call),
                ChatEvent::ToolCallDelta(_) => {}
                ChatEvent::Done(stats) => {
                    answer.stats = Some(stats);
                    return Ok(answer);
                }
            }
        }
        Err(EngineError::Decode("the chat ended without finishing".into()))
    }
}

/// A whole chat answer (see [`ChatStream::collect`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatAnswer {
    pub text: String,
    pub reasoning: String,
    pub tool_calls: Vec<ToolCall>,
    pub stats: Option<GenerationStats>,
}
