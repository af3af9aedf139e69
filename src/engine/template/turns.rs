//! A conversation as chat templates read it: Hugging Face's message shape (`tool_calls` with
//! `function.name` and `function.arguments`, `tool_call_id` on results), adapted to what the
//! template can render — tools described in the system turn and calls written as text where it
//! cannot.

use serde::Serialize;
use serde_json::{Value, json};

use super::ResultTurns;
use crate::engine::grammar::ToolSpec;
use crate::engine::request::ChatMessage;
use crate::engine::tool_syntax::ToolSyntax;

/// What a chat template does with tools, read off its source once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conventions {
    pub syntax: ToolSyntax,
    /// Who renders the `tools` offered.
    pub tools: Rendered,
    /// Who renders assistant turns' `tool_calls`.
    pub calls: Rendered,
    pub arguments: Arguments,
    pub empty_content: EmptyContent,
}

/// Who puts something into the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendered {
    /// The template, from the values it is given.
    ByTemplate,
    /// We do, in the syntax's words (the template ignores it): tools in the system turn, calls
    /// in the assistant's text.
    ByUs,
}

/// How a call's arguments reach the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arguments {
    Object,
    /// JSON text: the template joins them to text with `+` (`DeepSeek` R1's).
    Text,
}

/// What a calling turn without text holds as content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmptyContent {
    /// `""`: most templates run string methods on it.
    Empty,
    /// `null`: the template tests it against none (`DeepSeek` R1's).
    Null,
}

impl Conventions {
    pub fn of(source: &str) -> Self {
        let by = |renders: bool| {
            if renders {
                Rendered::ByTemplate
            } else {
                Rendered::ByUs
            }
        };
        let joins_arguments = source.contains("['arguments'] +") || source.contains(".arguments +");
        Self {
            syntax: ToolSyntax::detect(source),
            tools: by(source.contains("tools")),
            calls: by(source.contains("tool_calls")),
            arguments: if joins_arguments {
                Arguments::Text
            } else {
                Arguments::Object
            },
            empty_content: if source.contains("['content'] is not none") {
                EmptyContent::Null
            } else {
                EmptyContent::Empty
            },
        }
    }
}

/// How the conversation must be shaped for one template and request.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub conventions: Conventions,
    /// The system turn describes the tools.
    pub describe_tools: bool,
    pub results: ResultTurns,
}

/// One message as the template sees it. Keys that do not apply are absent, not empty: some
/// templates test `'tool_calls' in message`.
#[derive(Debug, Serialize)]
pub struct Turn {
    role: String,
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl Turn {
    fn text(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_owned(),
            content: Some(content.into()),
            tool_calls: None,
            tool_call_id: None,
            name: None,
        }
    }
}

pub fn turns(messages: &[ChatMessage], tools: &[ToolSpec], shape: Shape) -> Vec<Turn> {
    let mut turns = Vec::with_capacity(messages.len() + 1);
    let mut rest = messages;
    if shape.describe_tools {
        let instructions = shape.conventions.syntax.instructions(tools);
        match messages.first() {
            Some(first) if first.role == "system" => {
                turns.push(Turn::text(
                    "system",
                    format!("{}\n\n{instructions}", first.content),
                ));
                rest = &messages[1..];
            }
            _ => turns.push(Turn::text("system", instructions)),
        }
    }
    for message in rest {
        match message.role.as_str() {
            "assistant" if !message.tool_calls.is_empty() => {
                turns.extend(call_turns(message, shape));
            }
            "tool" => turns.push(result_turn(message, messages, shape.results)),
            role => turns.push(Turn::text(role, message.content.clone())),
        }
    }
    turns
}

/// An assistant turn that called tools. Llama 3 templates take one call per turn, so its
/// calls become consecutive turns.
fn call_turns(message: &ChatMessage, shape: Shape) -> Vec<Turn> {
    let conventions = shape.conventions;
    if conventions.calls == Rendered::ByUs {
        let calls: Vec<(String, Value)> = message
            .tool_calls
            .iter()
            .map(|call| (call.name.clone(), call.arguments.clone()))
            .collect();
        let written = conventions.syntax.write_calls(&calls);
        let content = if message.content.is_empty() {
            written
        } else {
            format!("{}\n{written}", message.content)
        };
        return vec![Turn::text("assistant", content)];
    }
    let call = |call: &crate::engine::ToolCall| {
        let arguments = if conventions.arguments == Arguments::Text {
            Value::String(call.arguments.to_string())
        } else {
            call.arguments.clone()
        };
        json!({
            "id": short_id(&call.id),
            "type": "function",
            "function": { "name": call.name, "arguments": arguments },
        })
    };
    let null = conventions.empty_content == EmptyContent::Null && message.content.is_empty();
    let content = (!null).then(|| message.content.clone());
    let groups: Vec<Vec<Value>> = if conventions.syntax == ToolSyntax::Llama3 {
        message.tool_calls.iter().map(|c| vec![call(c)]).collect()
    } else {
        vec![message.tool_calls.iter().map(call).collect()]
    };
    groups
        .into_iter()
        .enumerate()
        .map(|(index, calls)| Turn {
            role: "assistant".into(),
            content: if index == 0 {
                content.clone()
            } else {
                content.as_ref().map(|_| String::new())
            },
            tool_calls: Some(calls),
            tool_call_id: None,
            name: None,
        })
        .collect()
}

fn result_turn(message: &ChatMessage, conversation: &[ChatMessage], results: ResultTurns) -> Turn {
    match results {
        ResultTurns::User => Turn::text("user", format!("Tool result: {}", message.content)),
        ResultTurns::Tool => {
            let id = message.tool_call_id.as_deref().unwrap_or_default();
            let name = conversation
                .iter()
                .flat_map(|m| &m.tool_calls)
                .find(|call| call.id == id)
                .map(|call| call.name.clone());
            Turn {
                tool_call_id: Some(short_id(id)),
                name,
                ..Turn::text("tool", message.content.clone())
            }
        }
    }
}

/// A call id as nine letters and digits, the same for the same id: Mistral's templates refuse
/// any other length, and the others only pair calls with results.
fn short_id(id: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // FNV-1a: stable across runs and platforms, unlike the standard hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (0..9)
        .map(|_| {
            let index = usize::try_from(hash % 62).unwrap_or(0);
            hash /= 62;
            char::from(ALPHABET[index])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_nine_alphanumerics_and_stable() {
        let id = short_id("call_0123456789abcdef");
        assert_eq!(id.len(), 9);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(id, short_id("call_0123456789abcdef"));
        assert_ne!(id, short_id("call_0123456789abcdeg"));
    }
}
