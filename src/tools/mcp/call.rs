//! One tool call on an external server, and its result as JSON for the model.

use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::{Peer, RoleClient};
use serde_json::{Map, Value};

use crate::tools::ToolsError;

pub async fn call_tool(
    server: &str,
    peer: &Peer<RoleClient>,
    tool: &str,
    arguments: Map<String, Value>,
    timeout: Duration,
) -> Result<Value, ToolsError> {
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
    // Dropping the request future on timeout makes rmcp send `notifications/cancelled`.
    let result = tokio::time::timeout(timeout, peer.call_tool(params))
        .await
        .map_err(|_| ToolsError::McpTimeout {
            server: server.to_owned(),
            timeout,
        })?
        .map_err(|err| ToolsError::McpProtocol {
            server: server.to_owned(),
            message: err.to_string(),
        })?;
    into_value(result)
}

/// Structured content when the tool gave some, else its text blocks; a tool error becomes
/// [`ToolsError::ToolFailed`] with the tool's own words.
fn into_value(result: CallToolResult) -> Result<Value, ToolsError> {
    let text = result.content.iter().map(describe).collect::<Vec<_>>().join("\n");
    if result.is_error == Some(true) {
        return Err(ToolsError::McpToolFailed(if text.is_empty() {
            "the tool reported an error without a message".to_owned()
        } else {
            text
        }));
    }
    Ok(match result.structured_content {
        Some(value) if !value.is_null() => value,
        _ => Value::String(text),
    })
}

/// A content block as text; media is named, not inlined (the model cannot read base64 bytes).
fn describe(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => format!("[image: {}]", image.mime_type),
        ContentBlock::Audio(audio) => format!("[audio: {}]", audio.mime_type),
        ContentBlock::Resource(resource) => match serde_json::to_value(&resource.resource) {
            Ok(Value::Object(fields)) => fields
                .get("text")
                .and_then(Value::as_str)
                .map_or_else(|| "[embedded resource]".to_owned(), str::to_owned),
            _ => "[embedded resource]".to_owned(),
        },
        ContentBlock::ResourceLink(link) => format!("[resource: {}]", link.uri),
        _ => "[content of a kind agentbox does not read]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_blocks_become_the_result_and_errors_keep_their_words() {
        let ok = CallToolResult::success(vec![ContentBlock::text("one"), ContentBlock::text("two")]);
        assert_eq!(into_value(ok).unwrap(), Value::String("one\ntwo".into()));
        let structured = CallToolResult::structured(serde_json::json!({"n": 1}));
        assert_eq!(into_value(structured).unwrap(), serde_json::json!({"n": 1}));
        let failed = CallToolResult::error(vec![ContentBlock::text("no such file")]);
        assert!(matches!(into_value(failed), Err(ToolsError::McpToolFailed(text)) if text == "no such file"));
    }
}
