//! The chat interface on the local engine. The model writes free text, streamed as it comes,
//! and calls tools in its own template's syntax (see `tool_syntax`): a lazy grammar holds a call
//! to the offered tools' schemas from the syntax's trigger on. A required call is held by the
//! grammar from the first token; a JSON response format likewise. Reasoning models' `<think>`
//! part streams apart as reasoning.

use super::call_deltas::{CallDelta, CallDeltas};
use super::chat::{ChatEvent, ChatRequest, ChatSender, ChatStream, ToolCallDelta, ToolUse};
use super::grammar::{self, ToolSpec};
use super::llama::{Engine, Generation, ModelSpec};
use super::reasoning::{Part, ThinkSplit};
use super::request::{FinishReason, GenerateRequest, GenerationEvent, GenerationStats, Grammar, Prompt};
use super::template::{ChatTemplate, RenderedChat, ResultTurns};
use super::tool_stream::CallStream;
use super::tool_syntax::{self, ToolSyntax};
use super::{EngineError, ToolCall};

impl Engine {
    /// Runs a chat on a local model. Errors before the first token (missing model, over budget,
    /// a prompt larger than the context) are returned here; later ones arrive on the stream.
    pub async fn chat(&self, spec: &ModelSpec, request: ChatRequest) -> Result<ChatStream, EngineError> {
        self.check_max_tokens(spec, request.max_tokens)?;
        let tools = callable_tools(&request)?;
        let template = self.template(spec).await?;
        let syntax = template.syntax();
        let grammar = answer_grammar(&request, &tools, syntax)?;
        let rendered = render(&template, &request, &tools)?;
        let generation = self
            .generate(
                spec,
                GenerateRequest {
                    prompt: Prompt::Text(rendered.prompt),
                    max_tokens: request.max_tokens,
                    stop: request.stop.clone(),
                    sampling: request.sampling,
                    grammar,
                    ignore_eos: false,
                },
            )
            .await?;
        // A required call is held by the grammar from the first token: no room for reasoning.
        let free = tools.is_empty() || request.tool_use == ToolUse::Auto;
        let reader = AnswerReader::new(
            (template.reasons() && free).then(|| ThinkSplit::new(rendered.thinking)),
            syntax,
            tools,
        );
        let (sender, stream) = ChatStream::channel();
        tokio::spawn(forward(generation, reader, sender));
        Ok(stream)
    }

    /// Continues a raw `prompt` (no chat template): legacy text completions. The request's
    /// messages and tools are not used; a response format constrains the continuation.
    pub async fn complete(
        &self,
        spec: &ModelSpec,
        prompt: String,
        request: &ChatRequest,
    ) -> Result<ChatStream, EngineError> {
        self.check_max_tokens(spec, request.max_tokens)?;
        let grammar = answer_grammar(request, &[], ToolSyntax::Json)?;
        let generation = self
            .generate(
                spec,
                GenerateRequest {
                    prompt: Prompt::Text(prompt),
                    max_tokens: request.max_tokens,
                    stop: request.stop.clone(),
                    sampling: request.sampling,
                    grammar,
                    ignore_eos: false,
                },
            )
            .await?;
        let reader = AnswerReader::new(None, ToolSyntax::Json, Vec::new());
        let (sender, stream) = ChatStream::channel();
        tokio::spawn(forward(generation, reader, sender));
        Ok(stream)
    }
}

/// The conversation as the model's template renders it. Templates without a `tool` role raise
/// an error: then results are told as user turns.
fn render(
    template: &ChatTemplate,
    request: &ChatRequest,
    tools: &[ToolSpec],
) -> Result<RenderedChat, EngineError> {
    match template.render_chat(&request.messages, tools, ResultTurns::Tool) {
        Err(EngineError::Template(_)) => template.render_chat(&request.messages, tools, ResultTurns::User),
        other => other,
    }
}

/// The tools the model may call under the request's `tool_use`.
fn callable_tools(request: &ChatRequest) -> Result<Vec<ToolSpec>, EngineError> {
    match &request.tool_use {
        ToolUse::None => Ok(Vec::new()),
        ToolUse::Auto | ToolUse::Required => Ok(request.tools.clone()),
        ToolUse::Named(name) => request
            .tools
            .iter()
            .find(|tool| &tool.name == name)
            .map(|tool| vec![tool.clone()])
            .ok_or_else(|| {
                EngineError::InvalidRequest(format!(
                    "the tool `{name}` that must be called is not among the tools offered"
                ))
            }),
    }
}

/// The grammar the answer follows: a JSON response format from the start; with tools, a
/// call in the model's syntax — lazily, after free text, unless a call is required.
fn answer_grammar(
    request: &ChatRequest,
    tools: &[ToolSpec],
    syntax: ToolSyntax,
) -> Result<Option<Grammar>, EngineError> {
    match (&request.response_format, tools.is_empty()) {
        (None, true) => Ok(None),
        (Some(format), true) => Ok(Some(Grammar::strict(grammar::json_schema(&format.schema())?))),
        (Some(_), false) => Err(EngineError::InvalidRequest(
            "a local model cannot combine a JSON response format with callable tools; \
             send tool_choice \"none\" or leave out the response format"
                .into(),
        )),
        (None, false) => {
            let gbnf = tool_syntax::call_grammar(syntax, tools)?;
            let triggers = syntax.triggers();
            Ok(Some(if request.tool_use == ToolUse::Auto {
                Grammar {
                    gbnf,
                    triggers: triggers.patterns,
                    preserved: triggers.preserved,
                }
            } else {
                Grammar {
                    preserved: triggers.preserved,
                    ..Grammar::strict(gbnf)
                }
            }))
        }
    }
}

/// Reads the output into chat events: reasoning apart, then text, then calls — streamed as
/// they are generated, and complete once parsed.
struct AnswerReader {
    think: Option<ThinkSplit>,
    calls: Option<CallStream>,
    deltas: CallDeltas,
    /// How much of the call text went to `deltas`.
    call_read: usize,
    /// The tools named so far, with the ids their complete calls will carry.
    named: Vec<(String, String)>,
    syntax: ToolSyntax,
    tools: Vec<ToolSpec>,
}

impl AnswerReader {
    fn new(think: Option<ThinkSplit>, syntax: ToolSyntax, tools: Vec<ToolSpec>) -> Self {
        Self {
            think,
            calls: (!tools.is_empty()).then(|| CallStream::new(syntax)),
            deltas: CallDeltas::new(syntax),
            call_read: 0,
            named: Vec::new(),
            syntax,
            tools,
        }
    }

    fn push(&mut self, piece: &str) -> Vec<ChatEvent> {
        let parts = match self.think.as_mut() {
            Some(think) => think.push(piece),
            None => vec![Part::Text(piece.to_owned())],
        };
        self.read(parts)
    }

    fn read(&mut self, parts: Vec<Part>) -> Vec<ChatEvent> {
        let mut events = Vec::new();
        for part in parts {
            match part {
                Part::Reasoning(text) => events.push(ChatEvent::Reasoning(text)),
                Part::Text(text) => {
                    let text = match self.calls.as_mut() {
                        Some(calls) => calls.push(&text),
                        None => text,
                    };
                    if !text.is_empty() {
                        events.push(ChatEvent::Text(text));
                    }
                    self.read_call(&mut events);
                }
            }
        }
        events
    }

    /// Streams the call text that arrived since the last piece.
    fn read_call(&mut self, events: &mut Vec<ChatEvent>) {
        let Some(call) = self.calls.as_ref().and_then(CallStream::call) else {
            return;
        };
        let fresh = call[self.call_read..].to_owned();
        self.call_read = call.len();
        for delta in self.deltas.push(&fresh) {
            let (index, arguments) = match delta {
                CallDelta::Named { index, name } => {
                    self.named.push((new_call_id(), name));
                    (index, String::new())
                }
                CallDelta::Arguments { index, text } => (index, text),
            };
            if let Some((id, name)) = self.named.get(index) {
                events.push(ChatEvent::ToolCallDelta(ToolCallDelta {
                    index,
                    id: id.clone(),
                    name: name.clone(),
                    arguments,
                }));
            }
        }
    }

    /// The events that end the answer, with its finish reason.
    fn finish(&mut self, mut stats: GenerationStats) -> Result<Vec<ChatEvent>, EngineError> {
        let held = self.think.take().map(ThinkSplit::finish).unwrap_or_default();
        let mut events = self.read(held);
        if let Some(calls) = self.calls.take() {
            let finished = calls.finish();
            if !finished.text.is_empty() {
                events.push(ChatEvent::Text(finished.text));
            }
            if let Some(call) = finished.call {
                match tool_syntax::parse_calls(self.syntax, &call, &self.tools) {
                    Ok(calls) => {
                        // Each complete call keeps the id its deltas carried.
                        let mut ids = std::mem::take(&mut self.named).into_iter().map(|(id, _)| id);
                        events.extend(calls.into_iter().map(|(name, arguments)| {
                            ChatEvent::ToolCall(ToolCall {
                                id: ids.next().unwrap_or_else(new_call_id),
                                name,
                                arguments,
                            })
                        }));
                        stats.finish = FinishReason::ToolCalls;
                    }
                    // A call cut by max_tokens is no call, and the finish says `length` (as
                    // `OpenAI` answers); what streamed before it stands.
                    Err(_) if stats.finish == FinishReason::Length => {}
                    Err(err) => return Err(err),
                }
            }
        }
        events.push(ChatEvent::Done(stats));
        Ok(events)
    }
}

fn new_call_id() -> String {
    format!("call_{}", uuid::Uuid::new_v4().simple())
}

/// Copies engine events into the chat stream until the reader goes away (which drops the
/// generation and so frees its slot).
async fn forward(mut generation: Generation, mut reader: AnswerReader, sender: ChatSender) {
    while let Some(event) = generation.next().await {
        let events = match event {
            Ok(GenerationEvent::Text(piece)) => reader.push(&piece).into_iter().map(Ok).collect(),
            Ok(GenerationEvent::Done(stats)) => match reader.finish(stats) {
                Ok(events) => events.into_iter().map(Ok).collect(),
                Err(err) => vec![Err(err)],
            },
            Err(err) => vec![Err(err)],
        };
        for event in events {
            if sender.send(event).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::engine::request::ChatMessage;

    fn tool() -> ToolSpec {
        ToolSpec {
            name: "kpi_values".into(),
            description: "Values of a KPI".into(),
            parameters: json!({"type": "object", "properties": {"kpi": {"type": "string"}}, "required": ["kpi"]}),
        }
    }

    fn stats(finish: FinishReason) -> GenerationStats {
        GenerationStats {
            prompt_tokens: 1,
            cached_tokens: 0,
            completion_tokens: 1,
            time_to_first_token: Duration::ZERO,
            total: Duration::ZERO,
            finish,
        }
    }

    fn read(
        syntax: ToolSyntax,
        thinking: Option<bool>,
        pieces: &[&str],
        finish: FinishReason,
    ) -> Vec<ChatEvent> {
        let mut reader = AnswerReader::new(thinking.map(ThinkSplit::new), syntax, vec![tool()]);
        let mut events: Vec<ChatEvent> = pieces.iter().flat_map(|piece| reader.push(piece)).collect();
        events.extend(reader.finish(stats(finish)).unwrap());
        events
    }

    #[test]
    fn text_then_a_native_call_becomes_text_and_a_tool_call() {
        let events = read(
            ToolSyntax::Hermes,
            None,
            &[
                "Checking.",
                "\n<tool_call>\n{\"name\": \"kpi_values\", ",
                "\"arguments\": {\"kpi\": \"revenue\"}}\n</tool_call>",
            ],
            FinishReason::Stop,
        );
        assert_eq!(events[0], ChatEvent::Text("Checking.".into()));
        assert_eq!(events[1], ChatEvent::Text("\n".into()));
        // The call streams as it comes: its name, then its arguments.
        let (ChatEvent::ToolCallDelta(named), ChatEvent::ToolCallDelta(arguments)) = (&events[2], &events[3])
        else {
            panic!("{events:?}")
        };
        assert_eq!(
            (named.index, named.name.as_str(), named.arguments.as_str()),
            (0, "kpi_values", "")
        );
        assert_eq!(arguments.id, named.id);
        assert_eq!(arguments.arguments, "{\"kpi\": \"revenue\"}");
        let ChatEvent::ToolCall(call) = &events[4] else {
            panic!("{events:?}")
        };
        assert_eq!(
            call.id, named.id,
            "the complete call keeps the id its deltas carried"
        );
        assert_eq!(call.name, "kpi_values");
        assert_eq!(call.arguments, json!({"kpi": "revenue"}));
        let ChatEvent::Done(stats) = &events[5] else {
            panic!("{events:?}")
        };
        assert_eq!(stats.finish, FinishReason::ToolCalls);
    }

    #[test]
    fn reasoning_streams_apart_and_a_cut_call_ends_as_length() {
        let events = read(
            ToolSyntax::DeepSeekR1,
            Some(true),
            &[
                "The user wants",
                " revenue.</think>",
                "\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function",
            ],
            FinishReason::Length,
        );
        assert_eq!(
            events[..2],
            [
                ChatEvent::Reasoning("The user wants".into()),
                ChatEvent::Reasoning(" revenue.".into())
            ]
        );
        assert!(
            matches!(&events[2], ChatEvent::Done(stats) if stats.finish == FinishReason::Length),
            "{events:?}"
        );
    }

    #[test]
    fn a_finished_call_of_an_unknown_tool_is_an_error() {
        let mut reader = AnswerReader::new(None, ToolSyntax::Json, vec![tool()]);
        reader.push("{\"name\": \"drop_tables\", \"arguments\": {}}");
        assert!(matches!(
            reader.finish(stats(FinishReason::Stop)),
            Err(EngineError::InvalidOutput(_))
        ));
    }

    #[test]
    fn tool_use_decides_what_may_be_called_and_how() {
        let other = ToolSpec {
            name: "list_kpis".into(),
            ..tool()
        };
        let mut request = ChatRequest::new(vec![ChatMessage::new("user", "Hi")]);
        request.tools = vec![tool(), other];
        assert_eq!(callable_tools(&request).unwrap().len(), 2);
        let auto = answer_grammar(&request, &request.tools, ToolSyntax::Hermes)
            .unwrap()
            .unwrap();
        assert_eq!(auto.triggers, vec!["<tool_call>".to_owned()]);
        request.tool_use = ToolUse::Required;
        let required = answer_grammar(&request, &request.tools, ToolSyntax::Hermes)
            .unwrap()
            .unwrap();
        assert!(
            required.triggers.is_empty(),
            "a required call is held from the first token"
        );
        request.tool_use = ToolUse::None;
        assert!(callable_tools(&request).unwrap().is_empty());
        assert!(
            answer_grammar(&request, &[], ToolSyntax::Hermes)
                .unwrap()
                .is_none()
        );
        request.tool_use = ToolUse::Named("list_kpis".into());
        let named = callable_tools(&request).unwrap();
        assert_eq!(named.len(), 1);
        assert_eq!(named[0].name, "list_kpis");
        request.tool_use = ToolUse::Named("missing".into());
        assert!(matches!(
            callable_tools(&request),
            Err(EngineError::InvalidRequest(_))
        ));
        // A JSON format and callable tools do not mix on a local model.
        request.tool_use = ToolUse::Auto;
        request.response_format = Some(super::super::chat::ResponseFormat::JsonObject);
        assert!(matches!(
            answer_grammar(&request, &request.tools, ToolSyntax::Hermes),
            Err(EngineError::InvalidRequest(_))
        ));
    }
}
