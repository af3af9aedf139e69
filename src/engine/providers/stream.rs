//! The task that reads a provider's event stream into a [`ChatSender`]: bytes → SSE events →
//! the wire format's decoder → chat events. It stops when the answer is done, on the first
//! error (sent as the last event), or as soon as the reader drops its stream — returning drops
//! the HTTP response, which closes the connection and stops the provider generating.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Response;

use super::http::{StreamSettings, timed_out};
use super::sse::{SseEvent, SseParser};
use crate::engine::chat::{ChatEvent, ChatSender};
use crate::engine::{EngineError, FinishReason, GenerationStats};
use crate::error_chain::error_chain;

/// What went wrong in a stream, before it is attributed to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DecodeError {
    /// The provider broke off or reported a passing failure (overload, server error).
    Unavailable(String),
    /// The provider reported an error that another try would repeat.
    Refused(String),
    /// The model's output cannot be used (tool-call arguments that are not JSON).
    InvalidOutput(String),
}

/// A wire format's reading of SSE events.
pub(super) trait Decode: Send + 'static {
    /// The chat events for one SSE event; the answer ends with the first `Done`.
    fn event(&mut self, event: &SseEvent) -> Result<Vec<ChatEvent>, DecodeError>;

    /// The stream closed: the last events, or why the answer is incomplete.
    fn end(&mut self) -> Result<Vec<ChatEvent>, DecodeError>;
}

/// Measures a generation from the client's side: from sending the request to the first piece
/// of output, and to the end.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    started: Instant,
    first_output: Option<Duration>,
}

impl Clock {
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            first_output: None,
        }
    }

    /// Output arrived (text or a piece of a tool call).
    pub fn output(&mut self) {
        if self.first_output.is_none() {
            self.first_output = Some(self.started.elapsed());
        }
    }

    pub fn stats(&self, prompt_tokens: u32, completion_tokens: u32, finish: FinishReason) -> GenerationStats {
        let total = self.started.elapsed();
        GenerationStats {
            prompt_tokens,
            cached_tokens: 0,
            completion_tokens,
            time_to_first_token: self.first_output.unwrap_or(total),
            total,
            finish,
        }
    }
}

pub(super) async fn pump<D: Decode>(
    response: Response,
    decoder: D,
    sender: ChatSender,
    settings: StreamSettings,
) {
    let mut body = response.bytes_stream();
    let mut decoding = BodyDecoder::new(decoder);
    loop {
        let next = tokio::select! {
            // Nobody reads any more: stop now rather than at the next piece.
            () = sender.closed() => return,
            next = tokio::time::timeout(settings.idle_timeout, body.next()) => next,
        };
        let closed = matches!(next, Ok(None));
        let events = match next {
            Ok(Some(Ok(bytes))) => decoding.piece(&bytes),
            Ok(None) => decoding.end(),
            Ok(Some(Err(err))) => Err(DecodeError::Unavailable(format!(
                "the stream broke off: {}",
                error_chain(&err.without_url())
            ))),
            Err(_) => Err(DecodeError::Unavailable(timed_out(settings.idle_timeout))),
        };
        let events = match events {
            Ok(events) => events,
            Err(err) => {
                let err = match err {
                    DecodeError::Unavailable(message) => settings.blame.unavailable(message),
                    DecodeError::Refused(message) => settings.blame.refused(message),
                    DecodeError::InvalidOutput(message) => EngineError::InvalidOutput(message),
                };
                let _ = sender.send(Err(err)).await;
                return;
            }
        };
        let finished = closed || has_done(&events);
        for event in events {
            if sender.send(Ok(event)).await.is_err() {
                return;
            }
        }
        if finished {
            return;
        }
    }
}

/// Bytes → SSE events → chat events, fed the body as it arrives: what [`pump`] runs, without
/// the network.
pub(super) struct BodyDecoder<D> {
    parser: SseParser,
    decoder: D,
}

impl<D: Decode> BodyDecoder<D> {
    pub fn new(decoder: D) -> Self {
        Self {
            parser: SseParser::new(),
            decoder,
        }
    }

    /// The chat events for the next piece of the body.
    pub fn piece(&mut self, bytes: &[u8]) -> Result<Vec<ChatEvent>, DecodeError> {
        decode_all(&mut self.decoder, self.parser.feed(bytes))
    }

    /// The body ended: its last events, or why the answer is incomplete.
    pub fn end(&mut self) -> Result<Vec<ChatEvent>, DecodeError> {
        let mut events = decode_all(&mut self.decoder, self.parser.finish())?;
        if !has_done(&events) {
            events.extend(self.decoder.end()?);
        }
        Ok(events)
    }
}

/// Decodes a whole body that arrives in `pieces`: the events up to the first `Done`, or the
/// error the stream would end with.
pub(super) fn decode_body<'a, D: Decode>(
    decoder: D,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<ChatEvent>, DecodeError> {
    let mut decoding = BodyDecoder::new(decoder);
    let mut events = Vec::new();
    for piece in pieces {
        events.extend(decoding.piece(piece)?);
        if has_done(&events) {
            return Ok(events);
        }
    }
    events.extend(decoding.end()?);
    Ok(events)
}

fn has_done(events: &[ChatEvent]) -> bool {
    events.iter().any(|event| matches!(event, ChatEvent::Done(_)))
}

/// Decodes events up to and including the first `Done`; what a server sends after it is
/// ignored.
fn decode_all<D: Decode>(
    decoder: &mut D,
    events: impl IntoIterator<Item = SseEvent>,
) -> Result<Vec<ChatEvent>, DecodeError> {
    let mut out = Vec::new();
    for event in events {
        out.extend(decoder.event(&event)?);
        if has_done(&out) {
            break;
        }
    }
    Ok(out)
}
