//! Grammar-constrained output: JSON schemas become GBNF grammars (llama.cpp's converter), and
//! tool calling is a schema of its own: the model answers with either text or one call of an
//! offered tool whose arguments follow that tool's schema — so even a tiny model emits calls
//! that parse.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::EngineError;

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON schema of the arguments (an object schema).
    pub parameters: Value,
}

/// What a tool-enabled generation produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    Text { content: String },
    ToolCall { name: String, arguments: Value },
}

/// GBNF for any JSON schema.
pub fn json_schema(schema: &Value) -> Result<String, EngineError> {
    llama_cpp_2::json_schema_to_grammar(&schema.to_string())
        .map_err(|err| EngineError::InvalidRequest(format!("the schema cannot become a grammar: {err}")))
}

/// The schema of an answer that is text (at most `max_text_chars`, so that a looping model
/// still ends inside `max_tokens`) or a call of one of `tools`; without `allow_text`, a call.
pub fn tool_schema(tools: &[ToolSpec], max_text_chars: u32, allow_text: bool) -> Value {
    let text = allow_text.then(|| {
        json!({
            "type": "object",
            "properties": {
                "type": { "const": "text" },
                "content": { "type": "string", "maxLength": max_text_chars },
            },
            "required": ["type", "content"],
            "additionalProperties": false,
        })
    });
    let calls = tools.iter().map(|tool| {
        json!({
            "type": "object",
            "properties": {
                "type": { "const": "tool_call" },
                "name": { "const": tool.name },
                "arguments": tool.parameters,
            },
            "required": ["type", "name", "arguments"],
            "additionalProperties": false,
        })
    });
    let choices: Vec<Value> = text.into_iter().chain(calls).collect();
    json!({ "oneOf": choices })
}

/// GBNF for [`tool_schema`].
pub fn tool_grammar(
    tools: &[ToolSpec],
    max_text_chars: u32,
    allow_text: bool,
) -> Result<String, EngineError> {
    json_schema(&tool_schema(tools, max_text_chars, allow_text))
}

/// Reads a tool-constrained answer. The grammar makes this parse; the checks here guard the
/// boundary all the same (a truncated answer, a tool that is not offered).
pub fn parse_tool_choice(output: &str, tools: &[ToolSpec]) -> Result<ToolChoice, EngineError> {
    let choice: ToolChoice = serde_json::from_str(output.trim())
        .map_err(|err| EngineError::InvalidOutput(format!("the answer is not a valid choice: {err}")))?;
    if let ToolChoice::ToolCall { name, arguments } = &choice {
        let tool = tools
            .iter()
            .find(|t| &t.name == name)
            .ok_or_else(|| EngineError::InvalidOutput(format!("the model called unknown tool {name}")))?;
        let required = tool.parameters.get("required").and_then(Value::as_array);
        for key in required.into_iter().flatten().filter_map(Value::as_str) {
            if arguments.get(key).is_none() {
                return Err(EngineError::InvalidOutput(format!(
                    "tool {name} needs argument {key}"
                )));
            }
        }
    }
    Ok(choice)
}
