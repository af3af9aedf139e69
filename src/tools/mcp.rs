//! Connections to external MCP servers. Each [`McpConnection`] owns a supervisor task that
//! connects (spawns the stdio child, or opens the Streamable HTTP session), lists the tools,
//! watches the connection, and reconnects with backoff when the server crashes or drops —
//! rmcp itself neither respawns a child nor bounds HTTP retries. Every call has a deadline:
//! rmcp has none by default.

mod call;
mod connect;
pub mod schema;
mod supervisor;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rmcp::Peer;
use rmcp::RoleClient;
use serde_json::{Map, Value};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::ToolsError;
use crate::domain::{McpConnectionState, McpConnectionStatus, McpServerSpec};

/// Deadlines for every server.
#[derive(Debug, Clone, Copy)]
pub struct McpTimeouts {
    /// Starting or reaching the server, initializing and listing its tools.
    pub connect: Duration,
    /// One tool call.
    pub call: Duration,
}

/// A tool as the server describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteTool {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Map<String, Value>,
}

/// A live connection to one server, shared by every caller. Dropping the last clone does not
/// stop the supervisor: call [`McpConnection::stop`].
#[derive(Clone)]
pub struct McpConnection {
    inner: Arc<Inner>,
}

struct Inner {
    spec: McpServerSpec,
    timeouts: McpTimeouts,
    status: watch::Sender<McpConnectionStatus>,
    live: RwLock<Option<Live>>,
    stop: CancellationToken,
    reconnect: Notify,
}

/// What a connected session offers.
#[derive(Clone)]
struct Live {
    peer: Peer<RoleClient>,
    tools: Vec<RemoteTool>,
}

impl std::fmt::Debug for McpConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpConnection")
            .field("server", &self.inner.spec.name)
            .field("state", &self.inner.status.borrow().state)
            .finish()
    }
}

impl McpConnection {
    /// Starts connecting to `spec` in the background (a disabled server stays `disabled`).
    pub fn start(spec: McpServerSpec, timeouts: McpTimeouts) -> Self {
        let initial = if spec.enabled {
            McpConnectionState::Connecting
        } else {
            McpConnectionState::Disabled
        };
        let connection = Self {
            inner: Arc::new(Inner {
                spec,
                timeouts,
                status: watch::Sender::new(McpConnectionStatus::new(initial)),
                live: RwLock::new(None),
                stop: CancellationToken::new(),
                reconnect: Notify::new(),
            }),
        };
        if connection.inner.spec.enabled {
            tokio::spawn(supervisor::run(connection.clone()));
        }
        connection
    }

    pub fn spec(&self) -> &McpServerSpec {
        &self.inner.spec
    }

    pub fn status(&self) -> McpConnectionStatus {
        self.inner.status.borrow().clone()
    }

    /// Changes of [`McpConnection::status`] (state, tools, errors).
    pub fn subscribe(&self) -> watch::Receiver<McpConnectionStatus> {
        self.inner.status.subscribe()
    }

    /// The tools of the current session (none while not connected).
    pub fn tools(&self) -> Vec<RemoteTool> {
        self.live().map(|live| live.tools).unwrap_or_default()
    }

    /// Drops the current session (a stdio child is killed) and connects again at once.
    pub fn reconnect(&self) {
        self.inner.reconnect.notify_one();
    }

    /// Ends the connection for good (a stdio child is killed).
    pub fn stop(&self) {
        self.inner.stop.cancel();
    }

    /// Calls `tool` (the server's own name for it) within the call deadline.
    pub async fn call(&self, tool: &str, arguments: Map<String, Value>) -> Result<Value, ToolsError> {
        let live = self
            .live()
            .ok_or_else(|| ToolsError::McpNotConnected(self.inner.spec.name.clone()))?;
        call::call_tool(
            &self.inner.spec.name,
            &live.peer,
            tool,
            arguments,
            self.inner.timeouts.call,
        )
        .await
    }

    fn live(&self) -> Option<Live> {
        self.inner
            .live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_live(&self, live: Option<Live>) {
        *self.inner.live.write().unwrap_or_else(PoisonError::into_inner) = live;
    }
}
