//! Tool calls in the model's own syntax. A model writes free text, and calls tools the way its
//! chat template shows (and it was trained): Hermes/Qwen `<tool_call>{…}</tool_call>`, Llama 3.x
//! `{"name": …, "parameters": …}`, Mistral `[TOOL_CALLS][…]`, `DeepSeek` R1's
//! `<｜tool▁calls▁begin｜>…`, `SmolLM2`'s `<tool_call>[…]</tool_call>`, or — for templates that
//! know no tools — a bare JSON object. The syntax is read off the template once, when the model
//! loads. Generation is free until the syntax's trigger appears; from there a lazy grammar
//! holds the call to the offered tools' schemas (`grammar_rules`), and `parse` reads it back.

mod grammar_rules;
mod parse;
#[cfg(test)]
mod tests;

use serde_json::json;

pub use grammar_rules::call_grammar;
pub use parse::parse_calls;

use super::grammar::ToolSpec;

/// How a model writes tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolSyntax {
    /// `<tool_call>\n{"name": …, "arguments": …}\n</tool_call>`, one block per call: Hermes 2/3,
    /// Qwen 2.5 and 3, `QwQ`.
    Hermes,
    /// `{"name": …, "parameters": …}` as the whole answer, optionally after `<|python_tag|>`:
    /// Llama 3.1, 3.2 and 3.3.
    Llama3,
    /// `[TOOL_CALLS][{"name": …, "arguments": …}, …]`: Mistral 7B v0.3, Nemo, Small.
    Mistral,
    /// `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{…}\n```
    /// <｜tool▁call▁end｜><｜tool▁calls▁end｜>`: `DeepSeek` R1 and its distills.
    DeepSeekR1,
    /// `<tool_call>[{"name": …, "arguments": …}, …]</tool_call>`: `SmolLM2`, whose template shows
    /// no tools but which was trained on this format.
    SmolLm2,
    /// A bare `{"name": …, "arguments": …}` answer: templates that know no tools.
    Json,
}

/// When the grammar takes over: regular expressions over the output, in llama.cpp's lazy
/// grammar form (a full-output pattern is `^…$`; the first capture group marks where the
/// grammar starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triggers {
    pub patterns: Vec<String>,
    /// Texts that are single special tokens in some vocabularies and must be rendered in the
    /// output (llama.cpp leaves special tokens out of text by default).
    pub preserved: Vec<String>,
}

pub(crate) const PYTHON_TAG: &str = "<|python_tag|>";
pub(crate) const DEEPSEEK_CALLS_BEGIN: &str = "<｜tool▁calls▁begin｜>";
pub(crate) const DEEPSEEK_CALLS_END: &str = "<｜tool▁calls▁end｜>";
pub(crate) const DEEPSEEK_CALL_BEGIN: &str = "<｜tool▁call▁begin｜>";
pub(crate) const DEEPSEEK_CALL_END: &str = "<｜tool▁call▁end｜>";
pub(crate) const DEEPSEEK_SEP: &str = "<｜tool▁sep｜>";
pub(crate) const MISTRAL_CALLS: &str = "[TOOL_CALLS]";

/// A bare JSON call at the start of the answer: `{"name"`, after blanks.
const LEADING_JSON_CALL: &str = r#"^\s*(\{\s*"name"\s*:)[\s\S]*$"#;
/// The same, optionally after Llama's `<|python_tag|>`.
const LEADING_LLAMA_CALL: &str = r#"^\s*(?:<\|python_tag\|>)?\s*(\{\s*"name"\s*:)[\s\S]*$"#;

impl ToolSyntax {
    /// The syntax a chat template shows. Checked from the most specific marker to the least.
    /// Every syntax, in declaration order.
    pub const ALL: [ToolSyntax; 6] = [
        Self::Hermes,
        Self::Llama3,
        Self::Mistral,
        Self::DeepSeekR1,
        Self::SmolLm2,
        Self::Json,
    ];

    pub fn detect(template: &str) -> Self {
        if template.contains(DEEPSEEK_CALLS_BEGIN) || template.contains(DEEPSEEK_CALL_BEGIN) {
            Self::DeepSeekR1
        } else if template.contains(MISTRAL_CALLS) {
            Self::Mistral
        } else if template.contains("<tool_call>") {
            Self::Hermes
        } else if template.contains("<|start_header_id|>") && template.contains("tools") {
            Self::Llama3
        } else if template.contains("SmolLM") {
            Self::SmolLm2
        } else {
            Self::Json
        }
    }

    /// Where the lazy grammar starts.
    pub fn triggers(self) -> Triggers {
        let word = |text: &str| Triggers {
            patterns: vec![regex_escape(text)],
            preserved: vec![text.to_owned()],
        };
        match self {
            Self::Hermes | Self::SmolLm2 => word("<tool_call>"),
            Self::Mistral => word(MISTRAL_CALLS),
            Self::DeepSeekR1 => word(DEEPSEEK_CALLS_BEGIN),
            Self::Llama3 => Triggers {
                patterns: vec![LEADING_LLAMA_CALL.to_owned()],
                preserved: vec![PYTHON_TAG.to_owned()],
            },
            Self::Json => Triggers {
                patterns: vec![LEADING_JSON_CALL.to_owned()],
                preserved: Vec::new(),
            },
        }
    }

    /// Whether a call may only open the answer (a bare JSON object), rather than follow text.
    pub fn calls_lead(self) -> bool {
        matches!(self, Self::Llama3 | Self::Json)
    }

    /// The key of a call's arguments.
    pub fn arguments_key(self) -> &'static str {
        match self {
            Self::Llama3 => "parameters",
            _ => "arguments",
        }
    }

    /// How calls look in this syntax: what a template that cannot render `tool_calls` gets
    /// as the assistant's text, and the example the instructions give.
    pub fn write_calls(self, calls: &[(String, serde_json::Value)]) -> String {
        // Written by hand: the name comes first, as models are trained to write it.
        let object = |name: &str, arguments: &serde_json::Value| {
            format!(
                r#"{{"name":{},"{}":{arguments}}}"#,
                json!(name),
                self.arguments_key()
            )
        };
        match self {
            Self::Hermes => calls
                .iter()
                .map(|(name, arguments)| format!("<tool_call>\n{}\n</tool_call>", object(name, arguments)))
                .collect::<Vec<_>>()
                .join("\n"),
            Self::Llama3 | Self::Json => calls
                .iter()
                .map(|(name, arguments)| object(name, arguments))
                .collect::<Vec<_>>()
                .join("\n"),
            Self::SmolLm2 | Self::Mistral => {
                let list: Vec<String> = calls.iter().map(|(n, a)| object(n, a)).collect();
                let list = format!("[{}]", list.join(", "));
                if self == Self::Mistral {
                    format!("{MISTRAL_CALLS}{list}")
                } else {
                    format!("<tool_call>{list}</tool_call>")
                }
            }
            Self::DeepSeekR1 => {
                let each: Vec<String> = calls
                    .iter()
                    .map(|(name, arguments)| {
                        format!(
                            "{DEEPSEEK_CALL_BEGIN}function{DEEPSEEK_SEP}{name}\n```json\n{arguments}\n```{DEEPSEEK_CALL_END}"
                        )
                    })
                    .collect();
                format!("{DEEPSEEK_CALLS_BEGIN}{}{DEEPSEEK_CALLS_END}", each.join("\n"))
            }
        }
    }

    /// The system-turn text that describes the tools, for templates that do not render `tools`
    /// themselves: the tools as JSON, and how to call one in this syntax.
    pub fn instructions(self, tools: &[ToolSpec]) -> String {
        let listed: Vec<String> = template_tools(tools).iter().map(ToString::to_string).collect();
        let example = self.write_calls(&[("<tool name>".to_owned(), json!({ "<argument>": "<value>" }))]);
        let how = if self.calls_lead() {
            "To call a tool, answer with only this JSON object, nothing before it"
        } else {
            "To call a tool, write"
        };
        format!(
            "You can call these tools:\n<tools>\n{}\n</tools>\n\n{how}:\n{example}\n\
             Its result comes back in the next turn. When no tool is needed, answer in plain text.",
            listed.join("\n")
        )
    }
}

/// Tools as chat templates expect them (`OpenAI`'s function-tool shape).
pub fn template_tools(tools: &[ToolSpec]) -> Vec<serde_json::Value> {
    tools
        .iter()
        .map(|tool| {
            json!({
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            })
        })
        .collect()
}

/// `text` as a regular expression that matches it literally (`ECMAScript` syntax, as
/// llama.cpp's `std::regex`).
fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if "\\^$.|?*+()[]{}/".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
