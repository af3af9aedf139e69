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
}

impl ChatRequest {
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self {
            messages,
            tools: Vec::new(),
            max_tokens: 512,
            stop: Vec::new(),
            sampling: SamplingParams::default(),
        }
    }
}

/// What a chat streams back, in order: text pieces and tool calls, then `Done` once.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// Newly generated answer text (complete UTF-8).
    Text(String),
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
    /// runs on the reader's task for every token).
    #[must_use]
    pub fn observed(
        mut self,
        observer: impl FnMut(&Result<ChatEvent, EngineError>) + Send + 'static,
    ) -> Self {
        self.observer = Some(Box::new(observer));
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
                ChatEvent::ToolCall(call) => answer.tool_calls.push(call),
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
    pub tool_calls: Vec<ToolCall>,
    pub stats: Option<GenerationStats>,
}
