//! The MCP request handler: lists the host tools and runs calls as the authenticated caller.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool as McpTool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::domain::{Credential, Identity, KeyScope};
use crate::engine::ToolCall;
use crate::service::tools::{ToolContext, ToolError, ToolRegistry};

const INSTRUCTIONS: &str = "agentbox's own tools: KPIs and read-only SQL over your company's data, \
search over your conversations, files and git in your workspace, and agents you can run as background tasks. \
Every call acts as the user of the API key.";

/// How the platform introduces itself to MCP clients.
pub fn server_info() -> ServerConfig {
    ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
        .with_server_info(Implementation::new("agentbox", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
}

/// The platform's MCP server. Over HTTP the caller comes with each request; over stdio it is
/// fixed when the server starts.
#[derive(Clone)]
pub struct PlatformMcp {
    tools: ToolRegistry,
    call_timeout: Duration,
    fixed_caller: Option<Arc<Identity>>,
}

impl PlatformMcp {
    /// For `/mcp`: each request carries its caller.
    pub fn per_request(tools: ToolRegistry, call_timeout: Duration) -> Self {
        Self {
            tools,
            call_timeout,
            fixed_caller: None,
        }
    }

    /// For stdio: one caller for the whole session.
    pub fn for_caller(tools: ToolRegistry, call_timeout: Duration, caller: Identity) -> Self {
        Self {
            tools,
            call_timeout,
            fixed_caller: Some(Arc::new(caller)),
        }
    }

    fn caller(&self, context: &RequestContext<RoleServer>) -> Result<Identity, ErrorData> {
        if let Some(caller) = &self.fixed_caller {
            return Ok((**caller).clone());
        }
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Identity>())
            .cloned()
            .ok_or_else(|| {
                ErrorData::invalid_request("authentication required: send an API key as a bearer token", None)
            })
    }
}

impl ServerHandler for PlatformMcp {
    fn get_info(&self) -> ServerConfig {
        server_info()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.caller(&context)?;
        let tools = self
            .tools
            .specs(&["*".to_owned()])
            .into_iter()
            .map(|spec| {
                let writes = self.tools.get(&spec.name).is_some_and(|tool| tool.writes());
                let schema = match spec.parameters {
                    Value::Object(schema) => schema,
                    _ => serde_json::Map::new(),
                };
                McpTool::new(spec.name, spec.description, Arc::new(schema))
                    .with_annotations(ToolAnnotations::new().read_only(!writes).open_world(false))
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = self.caller(&context)?;
        let name = request.name.to_string();
        let Some(tool) = self.tools.get(&name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{name}`; list the tools first"),
                None,
            ));
        };
        if tool.writes() && !may_write(&caller) {
            return Ok(refused(&format!(
                "`{name}` changes data, and this API key lacks the `write` scope; use a key with it"
            ))
            .into());
        }
        let call = ToolCall {
            id: format!("mcp-{}", context.id),
            name,
            arguments: Value::Object(request.arguments.unwrap_or_default()),
        };
        let tool_context = ToolContext {
            caller,
            agent: "mcp".into(),
        };
        // A client's `notifications/cancelled` ends the call.
        let everything = ["*".to_owned()];
        let result = tokio::select! {
            result = self.tools.call(&tool_context, &everything, &call, self.call_timeout) => result,
            () = context.ct.cancelled() => Err(ToolError::Failed("cancelled by the client".into())),
        };
        Ok(match result {
            Ok(value) => CallToolResult::success(vec![ContentBlock::text(as_text(value))]),
            Err(err) => refused(&err.to_string()),
        }
        .into())
    }
}

/// A key without `write` may call only the tools that change nothing; sessions and tasks may
/// do what their user may.
fn may_write(caller: &Identity) -> bool {
    match &caller.credential {
        Credential::ApiKey { scopes, .. } => scopes.contains(&KeyScope::Write),
        Credential::Session { .. } | Credential::Task { .. } => true,
    }
}

/// A failed call: `isError` with the reason, which MCP clients show to the user or model.
fn refused(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.to_owned())])
}

fn as_text(value: Value) -> String {
    match value {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// So the trait object's name reads well in logs.
impl std::fmt::Debug for PlatformMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformMcp")
            .field("tools", &self.tools.names().len())
            .field("call_timeout", &self.call_timeout)
            .field(
                "fixed_caller",
                &self.fixed_caller.as_ref().map(|caller| caller.user.id),
            )
            .finish()
    }
}
