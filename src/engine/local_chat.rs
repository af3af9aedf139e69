//! The chat interface on the local engine: conversations with tool calls become a prompt the
//! model's template can render, offered tools become a grammar, and the constrained output
//! becomes `ChatEvent`s — text streamed as it is generated, tool calls once complete.

use serde_json::json;

use super::chat::{ChatEvent, ChatRequest, ChatSender, ChatStream, ToolUse};
use super::grammar::{self, ToolChoice, ToolSpec};
use super::llama::{Engine, Generation, ModelSpec};
use super::request::{ChatMessage, FinishReason, GenerateRequest, GenerationEvent, Prompt};
use super::tool_stream::ToolAnswerStream;
use super::{EngineError, ToolCall};

/// Characters per token, generously: bounds text answers so a looping model still closes its
/// JSON inside `max_tokens`.
const CHARS_PER_TOKEN: u32 = 4;

impl Engine {
    /// Runs a chat on a local model. Errors before the first token (missing model, over budget,
    /// a prompt larger than the context) are returned here; later ones arrive on the stream.
    pub async fn chat(&self, spec: &ModelSpec, request: ChatRequest) -> Result<ChatStream, EngineError> {
        self.check_max_tokens(spec, request.max_tokens)?;
        let tools = callable_tools(&request)?;
        let grammar = answer_grammar(&request, &tools)?;
        let generate = |tool_role: &str| GenerateRequest {
            prompt: Prompt::Chat(prompt_messages(&request.messages, &tools, tool_role)),
            max_tokens: request.max_tokens,
            stop: request.stop.clone(),
            sampling: request.sampling,
            grammar: grammar.clone(),
            ignore_eos: false,
        };
        // Templates without a `tool` role raise an error: tell them results as user turns.
        let generation = match self.generate(spec, generate("tool")).await {
            Err(EngineError::Template(_)) => self.generate(spec, generate("user")).await?,
            other => other?,
        };
        let (sender, stream) = ChatStream::channel();
        tokio::spawn(forward(generation, tools, sender));
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
        let grammar = answer_grammar(request, &[])?;
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
        let (sender, stream) = ChatStream::channel();
        tokio::spawn(forward(generation, Vec::new(), sender));
        Ok(stream)
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

/// The grammar the answer follows: a JSON response format, or text-or-call with tools (a call
/// only when one is required), or none.
fn answer_grammar(request: &ChatRequest, tools: &[ToolSpec]) -> Result<Option<String>, EngineError> {
    match (&request.response_format, tools.is_empty()) {
        (None, true) => Ok(None),
        (Some(format), true) => grammar::json_schema(&format.schema()).map(Some),
        (Some(_), false) => Err(EngineError::InvalidRequest(
            "a local model cannot combine a JSON response format with callable tools; \
             send tool_choice \"none\" or leave out the response format"
                .into(),
        )),
        (None, false) => {
            let max_text = request.max_tokens.saturating_mul(CHARS_PER_TOKEN);
            let allow_text = request.tool_use == ToolUse::Auto;
            grammar::tool_grammar(tools, max_text, allow_text).map(Some)
        }
    }
}

/// Copies engine events into the chat stream until the reader goes away (which drops the
/// generation and so frees its slot).
async fn forward(mut generation: Generation, tools: Vec<ToolSpec>, sender: ChatSender) {
    let mut answer = ToolAnswerStream::new();
    while let Some(event) = generation.next().await {
        let events = match event {
            Ok(GenerationEvent::Text(piece)) if tools.is_empty() => vec![Ok(ChatEvent::Text(piece))],
            Ok(GenerationEvent::Text(piece)) => {
                let text = answer.push(&piece);
                if text.is_empty() {
                    continue;
                }
                vec![Ok(ChatEvent::Text(text))]
            }
            Ok(GenerationEvent::Done(stats)) if tools.is_empty() => vec![Ok(ChatEvent::Done(stats))],
            Ok(GenerationEvent::Done(mut stats)) => match finish_tool_answer(&answer, &tools, stats.finish) {
                Ok((events, finish)) => {
                    stats.finish = finish;
                    events
                        .into_iter()
                        .map(Ok)
                        .chain([Ok(ChatEvent::Done(stats))])
                        .collect()
                }
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

/// The events that complete a tool-constrained answer once generation has ended.
fn finish_tool_answer(
    answer: &ToolAnswerStream,
    tools: &[ToolSpec],
    finish: FinishReason,
) -> Result<(Vec<ChatEvent>, FinishReason), EngineError> {
    match grammar::parse_tool_choice(answer.output(), tools) {
        Ok(ToolChoice::Text { content }) => {
            // Whatever the incremental reader held back (it never should) goes out now.
            let rest = content.strip_prefix(answer.released()).unwrap_or_default();
            let events = (!rest.is_empty()).then(|| ChatEvent::Text(rest.to_owned()));
            Ok((events.into_iter().collect(), finish))
        }
        Ok(ToolChoice::ToolCall { name, arguments }) => {
            let call = ToolCall {
                id: format!("call_{}", uuid::Uuid::new_v4().simple()),
                name,
                arguments,
            };
            Ok((vec![ChatEvent::ToolCall(call)], FinishReason::ToolCalls))
        }
        // An answer cut by max_tokens never closed its JSON: what streamed of a text stands, a
        // call that was cut is no call, and the finish says `length` (as `OpenAI` answers).
        Err(_) if finish == FinishReason::Length => Ok((Vec::new(), finish)),
        Err(err) => Err(err),
    }
}

/// The conversation as the model sees it: the tools and the answer format in the system turn,
/// earlier tool calls written the way the model answers, results as `tool_role` turns.
fn prompt_messages(messages: &[ChatMessage], tools: &[ToolSpec], tool_role: &str) -> Vec<ChatMessage> {
    let mut prompt: Vec<ChatMessage> = Vec::with_capacity(messages.len() + 1);
    if !tools.is_empty() {
        let instructions = tool_instructions(tools);
        match messages.first() {
            Some(first) if first.role == "system" => {
                prompt.push(ChatMessage::new(
                    "system",
                    format!("{}\n\n{instructions}", first.content),
                ));
            }
            _ => prompt.push(ChatMessage::new("system", instructions)),
        }
    }
    let skip = usize::from(!tools.is_empty() && messages.first().is_some_and(|m| m.role == "system"));
    for message in &messages[skip..] {
        prompt.push(match message.role.as_str() {
            "assistant" if !message.tool_calls.is_empty() => {
                let calls: Vec<String> = message
                    .tool_calls
                    .iter()
                    .map(|call| answer_json("tool_call", "name", &json!(call.name), Some(&call.arguments)))
                    .collect();
                ChatMessage::new("assistant", calls.join("\n"))
            }
            "assistant" if !tools.is_empty() => ChatMessage::new(
                "assistant",
                answer_json("text", "content", &json!(message.content), None),
            ),
            "tool" => {
                let content = if tool_role == "tool" {
                    message.content.clone()
                } else {
                    format!("Tool result: {}", message.content)
                };
                ChatMessage::new(tool_role, content)
            }
            _ => ChatMessage::new(message.role.clone(), message.content.clone()),
        });
    }
    prompt
}

/// An answer in the order the grammar makes the model write it (`type` first), so earlier turns
/// look like the model's own.
fn answer_json(
    kind: &str,
    key: &str,
    value: &serde_json::Value,
    arguments: Option<&serde_json::Value>,
) -> String {
    match arguments {
        Some(arguments) => format!(r#"{{"type":"{kind}","{key}":{value},"arguments":{arguments}}}"#),
        None => format!(r#"{{"type":"{kind}","{key}":{value}}}"#),
    }
}

fn tool_instructions(tools: &[ToolSpec]) -> String {
    let listed: Vec<String> = tools
        .iter()
        .map(|tool| {
            format!(
                "- {}: {}\n  arguments (JSON schema): {}",
                tool.name, tool.description, tool.parameters
            )
        })
        .collect();
    format!(
        "You can call these tools:\n{}\n\nAnswer with one JSON object: either \
         {{\"type\": \"tool_call\", \"name\": <tool name>, \"arguments\": {{...}}}} to call a tool \
         (its result comes back in the next turn), or {{\"type\": \"text\", \"content\": <your answer>}}.",
        listed.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool() -> ToolSpec {
        ToolSpec {
            name: "kpi_values".into(),
            description: "Values of a KPI".into(),
            parameters: json!({"type": "object", "properties": {"kpi": {"type": "string"}}, "required": ["kpi"]}),
        }
    }

    #[test]
    fn tools_join_the_system_turn_and_earlier_calls_read_as_answers() {
        let call = ToolCall {
            id: "call_1".into(),
            name: "kpi_values".into(),
            arguments: json!({"kpi": "revenue"}),
        };
        let messages = vec![
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "Revenue?"),
            ChatMessage::tool_calls(vec![call]),
            ChatMessage::tool_result("call_1", "[1, 2]"),
        ];
        let prompt = prompt_messages(&messages, &[tool()], "user");
        assert_eq!(prompt.len(), 4);
        assert!(
            prompt[0]
                .content
                .starts_with("Be brief.\n\nYou can call these tools:")
        );
        assert!(prompt[0].content.contains("kpi_values"));
        assert_eq!(
            prompt[2].content,
            r#"{"type":"tool_call","name":"kpi_values","arguments":{"kpi":"revenue"}}"#
        );
        assert_eq!(prompt[3].role, "user");
        assert_eq!(prompt[3].content, "Tool result: [1, 2]");
    }

    #[test]
    fn tool_use_decides_what_may_be_called() {
        let other = ToolSpec {
            name: "list_kpis".into(),
            ..tool()
        };
        let mut request = ChatRequest::new(vec![ChatMessage::new("user", "Hi")]);
        request.tools = vec![tool(), other];
        assert_eq!(callable_tools(&request).unwrap().len(), 2);
        request.tool_use = ToolUse::None;
        assert!(callable_tools(&request).unwrap().is_empty());
        assert!(answer_grammar(&request, &[]).unwrap().is_none());
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
            answer_grammar(&request, &request.tools),
            Err(EngineError::InvalidRequest(_))
        ));
    }

    #[test]
    fn without_tools_the_conversation_is_unchanged() {
        let messages = vec![ChatMessage::new("user", "Hi")];
        assert_eq!(prompt_messages(&messages, &[], "tool"), messages);
    }
}
