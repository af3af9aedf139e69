//! The platform as an MCP server: its own tools (KPIs, read-only SQL, conversations, workspace
//! and git, agents and tasks) for Claude Desktop, the MCP Inspector or other agents — served at
//! `/mcp` (Streamable HTTP; `http` authenticates the bearer API key first) and over stdio by
//! `agentbox mcp-stdio` (which relays to a running server's `/mcp` when one holds the data
//! folder). Every call runs as the key's user, under that user's row-level
//! security, with the registry's checks (schema, timeout, bounded result).

mod handler;
mod relay;

pub use handler::PlatformMcp;
pub use relay::{McpRelay, RelayError, RelayTarget};

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

/// The Streamable HTTP service for `/mcp`. Callers must be authenticated before it: the HTTP
/// layer puts the caller's `Identity` into the request's extensions.
///
/// Stateless (no `Mcp-Session-Id`): every request is served on its own, by whichever replica a
/// load balancer sends it to, with no session to keep in memory or share. The platform's tools
/// keep no per-session state (the caller comes with each request), and it sends no
/// server-initiated messages that would need a session's stream.
pub fn http_service(
    mcp: PlatformMcp,
    allowed_hosts: &[String],
    shutdown: CancellationToken,
) -> StreamableHttpService<PlatformMcp, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_cancellation_token(shutdown);
    // An empty list (`mcp.allowed_hosts = "*"`) turns the DNS-rebinding guard off.
    let config = if allowed_hosts.is_empty() {
        config.disable_allowed_hosts()
    } else {
        config.with_allowed_hosts(allowed_hosts.iter().cloned())
    };
    StreamableHttpService::new(
        move || Ok(mcp.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
