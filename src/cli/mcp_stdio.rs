//! `agentbox mcp-stdio`: the platform's MCP server on stdin/stdout, as the user of an API key.
//! It opens the database itself (no HTTP): beside a running `serve` this needs an external
//! database — the embedded one serves one process; MCP clients can use `/mcp` instead.

use rmcp::ServiceExt;

use super::{CliError, McpStdioArgs};
use crate::app::AppError;
use crate::config::Settings;
use crate::data_dir::DataDirError;
use crate::mcp_server::PlatformMcp;
use crate::service::Services;
use crate::service::keyring::KeyRing;

pub async fn run(settings: Settings, args: McpStdioArgs) -> Result<(), CliError> {
    let key = args.api_key.filter(|key| !key.trim().is_empty()).ok_or_else(|| {
        CliError::Usage("set AGENTBOX_API_KEY (or --api-key) to an API key: the tools act as its user".into())
    })?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (_lock, store) = crate::app::open_store_beside_serve(&settings).await.map_err(|err| match err {
        AppError::DataDir(DataDirError::InUse { .. }) => CliError::Usage(format!(
            "{err}; the embedded database serves one process: use the running server's /mcp endpoint, or an external database (database_url)"
        )),
        other => other.into(),
    })?;
    let result = serve(&settings, &store, &key).await;
    store.close().await;
    result
}

async fn serve(settings: &Settings, store: &crate::store::Store, key: &str) -> Result<(), CliError> {
    let keyring = KeyRing::load_or_create(settings).map_err(AppError::from)?;
    let services = Services::new(store, settings, crate::app::engine(settings), keyring);
    let caller = services.auth.authenticate_api_key(key).await?.ok_or_else(|| {
        CliError::Usage("AGENTBOX_API_KEY is not a valid API key (revoked, expired or mistyped)".into())
    })?;
    tracing::info!(user = %caller.user.email, "serving MCP on stdio");
    let server = PlatformMcp::for_caller(services.host_tools(), settings.mcp.call_timeout, caller)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|err| CliError::Runtime(format!("MCP initialization failed: {err}")))?;
    server
        .waiting()
        .await
        .map_err(|err| CliError::Runtime(format!("the MCP session failed: {err}")))?;
    Ok(())
}
