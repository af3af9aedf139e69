//! External MCP servers as agent tools. The service keeps one [`McpConnection`] per enabled
//! server — those of `[[mcp.servers]]` and those admins stored through the API — and mirrors
//! each connection's tools into the tool registry as `<server>__<tool>` while it is connected.
//! Agents reach them through their allow-lists (`github__*`). Stored servers are re-read every
//! few seconds, so every replica follows an admin's change.

mod admin;
mod tool;

pub use admin::McpServerView;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::ServiceError;
use super::keyring::KeyRing;
use super::tools::ToolRegistry;
use crate::config::McpSettings;
use crate::domain::{McpConnectionState, McpServerSpec, McpSource, McpTransport};
use crate::store::Store;
use crate::store::mcp_servers::StoredMcpServer;
use crate::tools::mcp::{McpConnection, McpTimeouts};

/// How often stored servers are re-read (changes made on another replica).
const RESYNC_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct McpService {
    store: Store,
    keyring: KeyRing,
    registry: ToolRegistry,
    configured: Arc<Vec<McpServerSpec>>,
    timeouts: McpTimeouts,
    running: Arc<Mutex<BTreeMap<String, Running>>>,
}

impl std::fmt::Debug for McpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpService")
            .field("configured", &self.configured.len())
            .finish_non_exhaustive()
    }
}

/// A connection and the task that mirrors its tools into the registry.
struct Running {
    connection: McpConnection,
    mirror: JoinHandle<()>,
}

impl Running {
    fn stop(self, registry: &ToolRegistry) {
        self.connection.stop();
        self.mirror.abort();
        registry.remove_prefixed(&self.connection.spec().tool_prefix());
    }
}

impl McpService {
    pub fn new(store: Store, keyring: KeyRing, registry: ToolRegistry, settings: &McpSettings) -> Self {
        Self {
            store,
            keyring,
            registry,
            configured: Arc::new(settings.servers.clone()),
            timeouts: McpTimeouts {
                connect: settings.connect_timeout,
                call: settings.call_timeout,
            },
            running: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Connects every server, then follows stored changes until `shutdown`, when every
    /// connection is closed (stdio children are killed).
    pub fn start(&self, shutdown: CancellationToken) -> JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(err) = service.sync().await {
                    tracing::warn!(error = %err, "cannot read the stored MCP servers");
                }
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(RESYNC_EVERY) => {}
                }
            }
            let mut running = service.running.lock().await;
            for (_, server) in std::mem::take(&mut *running) {
                server.stop(&service.registry);
            }
        })
    }

    /// Brings the connections in line with the configured and stored servers: new ones are
    /// started, changed ones restarted, removed ones stopped.
    pub async fn sync(&self) -> Result<(), ServiceError> {
        let wanted = self.wanted().await?;
        let mut running = self.running.lock().await;
        let stale: Vec<String> = running
            .iter()
            .filter(|(name, server)| wanted.get(*name) != Some(server.connection.spec()))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(server) = running.remove(&name) {
                server.stop(&self.registry);
            }
        }
        for (name, spec) in wanted {
            running.entry(name).or_insert_with(|| self.launch(spec));
        }
        Ok(())
    }

    /// The servers that should run: configured ones, then stored ones (a stored server whose
    /// name a configured one already uses is skipped).
    async fn wanted(&self) -> Result<BTreeMap<String, McpServerSpec>, ServiceError> {
        let mut wanted: BTreeMap<String, McpServerSpec> = self
            .configured
            .iter()
            .map(|spec| (spec.name.clone(), spec.clone()))
            .collect();
        for stored in self.store.mcp_servers().await? {
            if wanted.contains_key(&stored.name) {
                tracing::warn!(
                    server = stored.name,
                    "a stored MCP server has the name of a configured one; the configured one wins"
                );
                continue;
            }
            match self.decrypt(&stored) {
                Ok(spec) => {
                    wanted.insert(spec.name.clone(), spec);
                }
                Err(err) => {
                    tracing::warn!(server = stored.name, error = %err, "cannot read a stored MCP server");
                }
            }
        }
        Ok(wanted)
    }

    fn launch(&self, spec: McpServerSpec) -> Running {
        let connection = McpConnection::start(spec, self.timeouts);
        let mirror = tokio::spawn(mirror_tools(connection.clone(), self.registry.clone()));
        Running { connection, mirror }
    }

    fn decrypt(&self, stored: &StoredMcpServer) -> Result<McpServerSpec, ServiceError> {
        let plain = self
            .keyring
            .decrypt(&stored.config_ciphertext, &cipher_context(&stored.name))?;
        let transport: McpTransport = serde_json::from_str(&plain).map_err(|err| {
            ServiceError::Unavailable(format!("stored MCP server settings are unreadable: {err}"))
        })?;
        Ok(McpServerSpec {
            name: stored.name.clone(),
            transport,
            enabled: stored.enabled,
            source: McpSource::Api,
        })
    }

    async fn connection(&self, name: &str) -> Option<McpConnection> {
        self.running
            .lock()
            .await
            .get(name)
            .map(|server| server.connection.clone())
    }
}

/// What the stored ciphertext is bound to: one server's settings cannot be swapped for another's.
fn cipher_context(name: &str) -> String {
    format!("mcp_server:{name}")
}

/// Keeps the registry's `<server>__*` tools equal to what the connection offers now.
async fn mirror_tools(connection: McpConnection, registry: ToolRegistry) {
    let server = connection.spec().name.clone();
    let prefix = connection.spec().tool_prefix();
    let mut changes = connection.subscribe();
    loop {
        let connected = changes.borrow_and_update().state == McpConnectionState::Connected;
        registry.remove_prefixed(&prefix);
        if connected {
            for remote in connection.tools() {
                registry.register(Arc::new(tool::McpTool {
                    server: server.clone(),
                    tool: remote,
                    connection: connection.clone(),
                }));
            }
        }
        if changes.changed().await.is_err() {
            registry.remove_prefixed(&prefix);
            return;
        }
    }
}
