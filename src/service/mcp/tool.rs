//! An external server's tool in the registry: `<server>__<tool>`, forwarded to the connection.

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::engine::grammar::ToolSpec;
use crate::service::tools::{Tool, ToolContext, ToolError};
use crate::tools::ToolsError;
use crate::tools::mcp::{McpConnection, RemoteTool};

pub struct McpTool {
    pub server: String,
    pub tool: RemoteTool,
    pub connection: McpConnection,
}

impl Tool for McpTool {
    fn spec(&self) -> ToolSpec {
        let description = self.tool.description.as_deref().unwrap_or("(no description)");
        ToolSpec {
            name: format!(
                "{}{}{}",
                self.server,
                crate::domain::TOOL_SEPARATOR,
                self.tool.name
            ),
            description: format!("[{}] {description}", self.server),
            parameters: Value::Object(self.tool.input_schema.clone()),
        }
    }

    fn call<'a>(
        &'a self,
        context: &'a ToolContext,
        arguments: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let arguments = match arguments {
                Value::Object(fields) => fields,
                Value::Null => Map::new(),
                _ => return Err(ToolError::InvalidArguments("arguments must be an object".into())),
            };
            tracing::debug!(
                server = self.server,
                tool = self.tool.name,
                agent = context.agent,
                "mcp tool call"
            );
            self.connection
                .call(&self.tool.name, arguments)
                .await
                .map_err(|err| match err {
                    ToolsError::McpTimeout { timeout, .. } => ToolError::Timeout(timeout),
                    other => ToolError::Failed(other.to_string()),
                })
        }
        .boxed()
    }
}
