//! `agentbox mcp-stdio`: the platform's MCP server on stdin/stdout, as the user of an API key.
//! Where it can, it opens the database itself (an external database, or an embedded one no
//! `serve` holds). When a running `serve` holds the embedded database — the usual case on one
//! machine — or `--url` names a server, it relays to that server's `/mcp` instead.

use rmcp::ServiceExt;

use super::{CliError, McpStdioArgs, server_url};
use crate::app::AppError;
use crate::config::Settings;
use crate::data_dir::DataDirError;
use crate::mcp_server::{McpRelay, PlatformMcp, RelayError, RelayTarget};
use crate::service::Services;
use crate::service::keyring::KeyRing;
use crate::store::Store;

pub async fn run(settings: Settings, args: McpStdioArgs) -> Result<(), CliError> {
    let key = args.api_key.filter(|key| !key.trim().is_empty()).ok_or_else(|| {
        CliError::Usage("set AGENTBOX_API_KEY (or --api-key) to an API key: the tools act as its user".into())
    })?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Some(url) = args.url {
        return relay(&url, &key).await;
    }
    match crate::app::open_store_beside_serve(&settings).await {
        Ok((_lock, store)) => {
            let result = serve_directly(&settings, &store, &key).await;
            store.close().await;
            result
        }
        Err(AppError::DataDir(DataDirError::InUse { url: Some(url), .. })) => relay(&url, &key).await,
        Err(AppError::DataDir(err @ DataDirError::InUse { url: None, .. })) => Err(CliError::Usage(format!(
            "{err}; it has not said where it listens (still starting, or an older version): \
             pass its address with --url (AGENTBOX_URL)"
        ))),
        Err(other) => Err(other.into()),
    }
}

async fn serve_directly(settings: &Settings, store: &Store, key: &str) -> Result<(), CliError> {
    let keyring = KeyRing::load_or_create(settings).map_err(AppError::from)?;
    let services = Services::new(store, settings, crate::app::engine(settings), keyring);
    let caller = services.auth.authenticate_api_key(key).await?.ok_or_else(|| {
        CliError::Usage("AGENTBOX_API_KEY is not a valid API key (revoked, expired or mistyped)".into())
    })?;
    tracing::info!(user = %caller.user.email, "serving MCP on stdio");
    let server = PlatformMcp::for_caller(services.host_tools(), settings.mcp.call_timeout, caller)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(initialization_failed)?;
    server.waiting().await.map_err(session_failed)?;
    Ok(())
}

/// Relays to the agentbox at `url`: the one named by `--url`, or the `serve` that holds the
/// data folder (which records its loopback address in the lock file).
async fn relay(url: &str, key: &str) -> Result<(), CliError> {
    let parsed = server_url::parse(url).map_err(CliError::Usage)?;
    let target = RelayTarget {
        accept_self_signed: server_url::is_loopback(&parsed),
        url: url.to_owned(),
    };
    let upstream = target.connect(key).await.map_err(|err| match err {
        RelayError::Unauthorized { .. } => CliError::Usage(format!("AGENTBOX_API_KEY: {err}")),
        RelayError::Unreachable { .. } => CliError::Runtime(err.to_string()),
    })?;
    tracing::info!(url = %target.url, "relaying MCP on stdio to a running agentbox");
    let server = McpRelay::new(upstream)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(initialization_failed)?;
    server.waiting().await.map_err(session_failed)?;
    Ok(())
}

fn initialization_failed(err: impl std::fmt::Display) -> CliError {
    CliError::Runtime(format!("MCP initialization failed: {err}"))
}

fn session_failed(err: impl std::fmt::Display) -> CliError {
    CliError::Runtime(format!("the MCP session failed: {err}"))
}
