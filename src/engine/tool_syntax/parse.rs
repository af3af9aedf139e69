//! Reads calls back out of a model's output in its syntax. The grammar makes a finished call
//! parse; these checks still guard the boundary (an answer cut by `max_tokens`, a tool that is
//! not offered, a missing required argument).

use serde_json::Value;

use super::{
    DEEPSEEK_CALL_BEGIN, DEEPSEEK_CALL_END, DEEPSEEK_CALLS_BEGIN, DEEPSEEK_SEP, MISTRAL_CALLS, PYTHON_TAG,
    ToolSyntax,
};
use crate::engine::EngineError;
use crate::engine::grammar::ToolSpec;

/// The calls in `output` — the text from the syntax's trigger on — as (name, arguments).
pub fn parse_calls(
    syntax: ToolSyntax,
    output: &str,
    tools: &[ToolSpec],
) -> Result<Vec<(String, Value)>, EngineError> {
    let values = match syntax {
        ToolSyntax::Hermes => blocks(output, "<tool_call>", "</tool_call>")?
            .into_iter()
            .map(first_json)
            .collect::<Result<Vec<_>, _>>()?,
        ToolSyntax::SmolLm2 => {
            let mut values = Vec::new();
            for block in blocks(output, "<tool_call>", "</tool_call>")? {
                values.extend(flatten(first_json(block)?));
            }
            values
        }
        ToolSyntax::Mistral => {
            let rest = output.trim_start().strip_prefix(MISTRAL_CALLS).unwrap_or(output);
            flatten(first_json(rest)?)
        }
        ToolSyntax::Llama3 | ToolSyntax::Json => {
            let rest = output.trim_start();
            let rest = rest.strip_prefix(PYTHON_TAG).unwrap_or(rest);
            vec![first_json(rest)?]
        }
        ToolSyntax::DeepSeekR1 => return deepseek_calls(output, tools),
    };
    values.into_iter().map(|value| named_call(value, tools)).collect()
}

/// The inside of every `open … close` block; an unclosed block is an error (a cut answer).
fn blocks<'a>(output: &'a str, open: &str, close: &str) -> Result<Vec<&'a str>, EngineError> {
    let mut found = Vec::new();
    let mut rest = output;
    while let Some(start) = rest.find(open) {
        let inner = &rest[start + open.len()..];
        let end = inner
            .find(close)
            .ok_or_else(|| invalid(format!("the call was not closed with {close}")))?;
        found.push(&inner[..end]);
        rest = &inner[end + close.len()..];
    }
    if found.is_empty() {
        return Err(invalid(format!("no {open} block")));
    }
    Ok(found)
}

/// The first JSON value in `text`; what follows it is ignored.
fn first_json(text: &str) -> Result<Value, EngineError> {
    serde_json::Deserializer::from_str(text.trim())
        .into_iter::<Value>()
        .next()
        .unwrap_or_else(|| Err(serde::de::Error::custom("no JSON")))
        .map_err(|err| invalid(format!("the call is not valid JSON: {err}")))
}

/// A list of calls, or one call.
fn flatten(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        one => vec![one],
    }
}

/// `{"name": …, "arguments" | "parameters": {…}}` (also under `OpenAI`'s `function` key).
fn named_call(value: Value, tools: &[ToolSpec]) -> Result<(String, Value), EngineError> {
    let call = value
        .get("function")
        .filter(|f| f.is_object())
        .cloned()
        .unwrap_or(value);
    let name = call
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("a call without a name".into()))?
        .to_owned();
    let arguments = call
        .get("arguments")
        .or_else(|| call.get("parameters"))
        .cloned()
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    // Some models write the arguments as a JSON string.
    let arguments = match arguments {
        Value::String(text) => serde_json::from_str(&text)
            .map_err(|err| invalid(format!("the arguments of {name} are not JSON: {err}")))?,
        other => other,
    };
    checked(name, arguments, tools)
}

fn deepseek_calls(output: &str, tools: &[ToolSpec]) -> Result<Vec<(String, Value)>, EngineError> {
    let body = output
        .split_once(DEEPSEEK_CALLS_BEGIN)
        .map_or(output, |(_, body)| body);
    let mut calls = Vec::new();
    for block in body.split(DEEPSEEK_CALL_BEGIN).skip(1) {
        let block = block
            .split_once(DEEPSEEK_CALL_END)
            .map(|(inside, _)| inside)
            .ok_or_else(|| invalid("the call was not closed".into()))?;
        let (_, named) = block
            .split_once(DEEPSEEK_SEP)
            .ok_or_else(|| invalid("a call without a name".into()))?;
        let (name, arguments) = named
            .split_once('\n')
            .ok_or_else(|| invalid("a call without arguments".into()))?;
        let arguments = arguments
            .trim()
            .trim_start_matches("```json")
            .trim_end_matches("```");
        calls.push(checked(name.trim().to_owned(), first_json(arguments)?, tools)?);
    }
    if calls.is_empty() {
        return Err(invalid("no call in the answer".into()));
    }
    Ok(calls)
}

/// The call, if it names an offered tool with an object of arguments holding every required one.
fn checked(name: String, arguments: Value, tools: &[ToolSpec]) -> Result<(String, Value), EngineError> {
    let tool = tools
        .iter()
        .find(|tool| tool.name == name)
        .ok_or_else(|| invalid(format!("the model called unknown tool {name}")))?;
    if !arguments.is_object() {
        return Err(invalid(format!("the arguments of {name} are not an object")));
    }
    let required = tool.parameters.get("required").and_then(Value::as_array);
    for key in required.into_iter().flatten().filter_map(Value::as_str) {
        if arguments.get(key).is_none() {
            return Err(invalid(format!("tool {name} needs argument {key}")));
        }
    }
    Ok((name, arguments))
}

fn invalid(message: String) -> EngineError {
    EngineError::InvalidOutput(message)
}
