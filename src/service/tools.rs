//! The tool registry: every tool an agent may call — the built-in KPI, conversation,
//! workspace and git tools,
//! and (from the MCP issue) tools of external MCP servers — behind one interface. The registry
//! enforces what no tool should have to: the agent's allow-list, the arguments' schema, a
//! per-call timeout, and a bounded result. A tool runs with the caller's identity, so a tool
//! that reads the database does it under the caller's row-level security.

pub mod conversations;
pub mod git;
pub mod kpi;
pub mod platform;
pub mod schema;
pub mod workspace;

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::domain::Identity;
use crate::engine::ToolCall;
use crate::engine::grammar::ToolSpec;
use crate::service::ServiceError;

/// Results longer than this (serialized JSON) are cut, so one tool cannot flood the context.
pub const MAX_RESULT_CHARS: usize = 16_000;

/// Who is calling, and on whose behalf: tools act with this identity and nothing more.
#[derive(Debug, Clone)]
pub struct ToolContext {
    pub caller: Identity,
    /// The agent making the call (for logs and per-agent rules).
    pub agent: String,
}

/// Why a tool call failed. The message goes back to the model as the call's result, so it
/// says what to do differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("unknown tool `{0}`")]
    Unknown(String),
    #[error("this agent may not use the tool `{0}`")]
    NotAllowed(String),
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    #[error("the tool did not answer within {} seconds", .0.as_secs())]
    Timeout(Duration),
    #[error("not permitted: {0}")]
    Forbidden(String),
    #[error("{0}")]
    Failed(String),
}

/// One callable tool.
pub trait Tool: Send + Sync + 'static {
    /// Name, description and the JSON schema of the arguments (an object schema).
    fn spec(&self) -> ToolSpec;

    /// Whether the tool changes anything (files, tasks): an API key without the `write` scope
    /// may not call it over MCP.
    fn writes(&self) -> bool {
        false
    }

    /// Runs the call. `arguments` already passed the schema of [`Tool::spec`].
    fn call<'a>(
        &'a self,
        context: &'a ToolContext,
        arguments: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>>;
}

/// The tools known to the platform, by name. Cheap to clone; tools can be added and removed
/// while the platform runs (MCP servers come and go).
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: Arc<RwLock<BTreeMap<String, Arc<dyn Tool>>>>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolRegistry")
            .field("tools", &self.names())
            .finish()
    }
}

impl ToolRegistry {
    /// Adds `tool`, replacing one of the same name.
    pub fn register(&self, tool: Arc<dyn Tool>) {
        let name = tool.spec().name;
        self.write().insert(name, tool);
    }

    /// Removes every tool whose name starts with `prefix` (e.g. an MCP server's `server.`).
    pub fn remove_prefixed(&self, prefix: &str) {
        self.write().retain(|name, _| !name.starts_with(prefix));
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.read().get(name).cloned()
    }

    /// A new registry holding the tools of this one whose names `keep` admits (the same tool
    /// objects; later changes to either registry do not reach the other).
    #[must_use]
    pub fn filtered(&self, keep: impl Fn(&str) -> bool) -> ToolRegistry {
        let tools = self
            .read()
            .iter()
            .filter(|(name, _)| keep(name))
            .map(|(name, tool)| (name.clone(), tool.clone()))
            .collect();
        ToolRegistry {
            tools: Arc::new(RwLock::new(tools)),
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// The specs of the registered tools that `allowed` lets through, in name order.
    pub fn specs(&self, allowed: &[String]) -> Vec<ToolSpec> {
        self.read()
            .iter()
            .filter(|(name, _)| is_allowed(allowed, name))
            .map(|(_, tool)| tool.spec())
            .collect()
    }

    /// Runs `call` if `allowed` permits it and its arguments fit the schema, within `timeout`.
    /// The result is cut to [`MAX_RESULT_CHARS`].
    pub async fn call(
        &self,
        context: &ToolContext,
        allowed: &[String],
        call: &ToolCall,
        timeout: Duration,
    ) -> Result<Value, ToolError> {
        if !is_allowed(allowed, &call.name) {
            return Err(if self.read().contains_key(&call.name) {
                ToolError::NotAllowed(call.name.clone())
            } else {
                ToolError::Unknown(call.name.clone())
            });
        }
        let tool = self
            .read()
            .get(&call.name)
            .cloned()
            .ok_or_else(|| ToolError::Unknown(call.name.clone()))?;
        schema::validate(&tool.spec().parameters, &call.arguments).map_err(ToolError::InvalidArguments)?;
        let result = tokio::time::timeout(timeout, tool.call(context, call.arguments.clone()))
            .await
            .map_err(|_| ToolError::Timeout(timeout))??;
        Ok(bounded(result))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<dyn Tool>>> {
        self.tools.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<dyn Tool>>> {
        self.tools.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the model (or MCP client) reads when a service call inside a tool fails: the caller's
/// mistakes in the service's own words, anything else as an internal error whose cause goes to
/// the log, never to the model.
pub fn service_failure(err: ServiceError) -> ToolError {
    match err {
        ServiceError::InvalidInput { message, .. } => ToolError::InvalidArguments(message),
        ServiceError::NotFound(what) => ToolError::Failed(format!("{what} not found")),
        ServiceError::Forbidden(message) => ToolError::Forbidden(message.to_owned()),
        ServiceError::Unavailable(_) => {
            ToolError::Failed("the database is unavailable; try again shortly".into())
        }
        other => {
            tracing::error!(error = %crate::error_chain::error_chain(&other), "a tool's service call failed");
            ToolError::Failed("internal error; the server log has the details".into())
        }
    }
}

/// Whether an allow-list admits `name`: an entry is an exact name, `*` (everything), or a
/// prefix ending in `*` (`github.*` admits every tool of the `github` MCP server).
pub fn is_allowed(allowed: &[String], name: &str) -> bool {
    allowed.iter().any(|entry| match entry.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => entry == name,
    })
}

/// Cuts a result whose JSON is longer than [`MAX_RESULT_CHARS`] to a string that says so.
fn bounded(result: Value) -> Value {
    let text = result.to_string();
    if text.len() <= MAX_RESULT_CHARS {
        return result;
    }
    let mut cut = MAX_RESULT_CHARS;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Value::String(format!(
        "{}… [result cut: {} of {} characters shown; ask for less]",
        &text[..cut],
        cut,
        text.len()
    ))
}

#[cfg(test)]
mod tests;
