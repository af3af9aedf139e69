//! `mcp-stdio` as a relay: an MCP server on stdio that forwards every request to a running
//! agentbox's `/mcp` with the caller's API key. The embedded database serves one process, so
//! beside a running `serve` this is how stdio clients (Claude Desktop) reach the platform: the
//! tools still run in `serve`, as the key's user.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ClientConfig, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerConfig,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ErrorData, RoleClient, RoleServer, ServerHandler, ServiceError, ServiceExt};

/// The upstream session the relay forwards to.
pub type Upstream = RunningService<RoleClient, ClientConfig>;

/// Where the relay connects, and how far its certificate is trusted.
#[derive(Debug, Clone)]
pub struct RelayTarget {
    /// The agentbox base URL (`https://host:8443`) or its `/mcp` endpoint.
    pub url: String,
    /// Skip the certificate check: for this machine's own loopback listener only, whose
    /// certificate is self-signed (or issued for a public name, not 127.0.0.1).
    pub accept_self_signed: bool,
}

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("{url} refused the API key (revoked, expired or mistyped)")]
    Unauthorized { url: String },
    #[error("cannot reach agentbox's MCP endpoint at {url}: {message}")]
    Unreachable { url: String, message: String },
}

impl RelayTarget {
    fn endpoint(&self) -> String {
        let base = self.url.trim_end_matches('/');
        if base.ends_with("/mcp") {
            base.to_owned()
        } else {
            format!("{base}/mcp")
        }
    }

    /// Opens the MCP session on the endpoint as the key's user.
    pub async fn connect(&self, key: &str) -> Result<Upstream, RelayError> {
        let url = self.endpoint();
        let unreachable = |message: String| RelayError::Unreachable {
            url: url.clone(),
            message,
        };
        // As rmcp's own default client: no idle pool (a reused connection whose last body was
        // not read to the end waits ~40 ms on delayed ACK), and no redirects (they would replay
        // the key to wherever they point).
        let http = reqwest_mcp::Client::builder()
            .pool_max_idle_per_host(0)
            .redirect(reqwest_mcp::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(self.accept_self_signed)
            .build()
            .map_err(|err| unreachable(err.to_string()))?;
        let config = StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header(key.to_owned());
        let transport = StreamableHttpClientTransport::with_client(http, config);
        let client = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("agentbox-mcp-stdio", env!("CARGO_PKG_VERSION")),
        );
        client.serve(transport).await.map_err(|err| {
            if err.auth_challenge().is_some() {
                RelayError::Unauthorized { url: url.clone() }
            } else {
                unreachable(err.to_string())
            }
        })
    }
}

/// Serves on stdio what the upstream serves: its tools and their answers.
pub struct McpRelay {
    upstream: Upstream,
}

impl McpRelay {
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }
}

impl ServerHandler for McpRelay {
    /// The platform's own description: the upstream is an agentbox serving the same tools.
    fn get_info(&self) -> ServerConfig {
        super::handler::server_info()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.upstream
            .peer()
            .list_tools(request)
            .await
            .map_err(upstream_error)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // The client's `notifications/cancelled` drops the upstream request, which makes rmcp
        // cancel it upstream too.
        tokio::select! {
            response = self.upstream.peer().call_tool_once(request) => response.map_err(upstream_error),
            () = context.ct.cancelled() => Err(ErrorData::internal_error("cancelled by the client", None)),
        }
    }
}

/// The upstream's own JSON-RPC errors pass through unchanged; a broken connection says so.
fn upstream_error(err: ServiceError) -> ErrorData {
    match err {
        ServiceError::McpError(error) => error,
        other => ErrorData::internal_error(format!("the agentbox server did not answer: {other}"), None),
    }
}

impl std::fmt::Debug for McpRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpRelay").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_mcp_path_of_the_base_url() {
        let target = |url: &str| RelayTarget {
            url: url.to_owned(),
            accept_self_signed: false,
        };
        assert_eq!(
            target("https://ai.example.com").endpoint(),
            "https://ai.example.com/mcp"
        );
        assert_eq!(
            target("http://127.0.0.1:8443/").endpoint(),
            "http://127.0.0.1:8443/mcp"
        );
        assert_eq!(
            target("https://ai.example.com/mcp").endpoint(),
            "https://ai.example.com/mcp"
        );
    }
}
