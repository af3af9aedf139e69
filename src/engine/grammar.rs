//! Grammar-constrained output: JSON schemas become GBNF grammars (llama.cpp's converter). Tool
//! calls use them per tool, inside the model's own call syntax (see `tool_syntax`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::EngineError;

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON schema of the arguments (an object schema).
    pub parameters: Value,
}

/// GBNF for any JSON schema.
pub fn json_schema(schema: &Value) -> Result<String, EngineError> {
    llama_cpp_2::json_schema_to_grammar(&schema.to_string())
        .map_err(|err| EngineError::InvalidRequest(format!("the schema cannot become a grammar: {err}")))
}
