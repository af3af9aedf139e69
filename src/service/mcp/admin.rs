//! What admins do with MCP servers through the API: list them with their connection status,
//! add, replace, remove and restart stored ones. Configured servers (agentbox.toml) are shown
//! but changed only in the file. Secrets (environment values, header values, the bearer token)
//! go in and never come out: the view names them only.

use serde::Serialize;

use super::{McpService, cipher_context};
use crate::domain::{
    Identity, McpConnectionState, McpConnectionStatus, McpServerFields, McpServerSpec, McpSource,
    McpTransport,
};
use crate::service::{ServiceError, require_admin};
use crate::store::Actor;
use crate::store::mcp_servers::StoredMcpServer;

const ADMINS_ONLY: &str = "only admins manage MCP servers";

/// An MCP server as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct McpServerView {
    pub name: String,
    /// `stdio` or `http`.
    pub transport: &'static str,
    pub source: McpSource,
    pub enabled: bool,
    /// stdio: the command, its arguments and working folder.
    pub command: Option<String>,
    pub args: Vec<String>,
    pub cwd: Option<String>,
    /// stdio: the names of the environment variables set (values are secret).
    pub env: Vec<String>,
    /// http: the endpoint, the names of the extra headers (values are secret), and whether a
    /// bearer token is set.
    pub url: Option<String>,
    pub headers: Vec<String>,
    pub has_bearer_token: bool,
    pub status: McpConnectionStatus,
}

impl McpService {
    /// Every server with its connection status (admins).
    pub async fn list(&self, caller: &Identity) -> Result<Vec<McpServerView>, ServiceError> {
        require_admin(caller, ADMINS_ONLY)?;
        let running = self.running.lock().await;
        let mut views: Vec<McpServerView> = running
            .values()
            .map(|server| view(server.connection.spec(), server.connection.status()))
            .collect();
        drop(running);
        // Stored servers not running (yet, or unreadable) still show.
        for stored in self.store.mcp_servers().await? {
            if views.iter().any(|view| view.name == stored.name) {
                continue;
            }
            views.push(match self.decrypt(&stored) {
                Ok(spec) => view(&spec, McpConnectionStatus::new(McpConnectionState::Connecting)),
                Err(err) => unreadable_view(&stored, &err),
            });
        }
        views.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(views)
    }

    pub async fn get(&self, caller: &Identity, name: &str) -> Result<McpServerView, ServiceError> {
        self.list(caller)
            .await?
            .into_iter()
            .find(|view| view.name == name)
            .ok_or(ServiceError::NotFound("MCP server"))
    }

    /// Stores a new server and connects it.
    pub async fn create(
        &self,
        caller: &Identity,
        input: McpServerFields,
    ) -> Result<McpServerView, ServiceError> {
        require_admin(caller, ADMINS_ONLY)?;
        let name = input
            .name
            .clone()
            .ok_or_else(|| ServiceError::invalid("name", "`name` is required"))?;
        let spec = into_spec(input, name)?;
        self.refuse_configured(&spec.name)?;
        let stored = self.seal(&spec)?;
        self.store
            .create_mcp_server(Actor::User(caller.user_id()), stored)
            .await
            .map_err(|err| match ServiceError::from(err) {
                ServiceError::Conflict { .. } => ServiceError::Conflict {
                    code: "mcp_server_exists",
                    message: format!("an MCP server named `{}` exists", spec.name),
                },
                other => other,
            })?;
        self.after_change(caller, &spec.name).await
    }

    /// Replaces a stored server's definition (or, with only `enabled`, switches it).
    pub async fn replace(
        &self,
        caller: &Identity,
        name: &str,
        input: McpServerFields,
    ) -> Result<McpServerView, ServiceError> {
        require_admin(caller, ADMINS_ONLY)?;
        self.refuse_configured(name)?;
        if input.name.as_deref().is_some_and(|given| given != name) {
            return Err(ServiceError::invalid(
                "name",
                "`name` must equal the name in the path (servers cannot be renamed)",
            ));
        }
        let spec = if input.only_enabled() {
            let mut current = self.stored_spec(name).await?;
            current.enabled = input.enabled.unwrap_or(current.enabled);
            current
        } else {
            into_spec(input, name.to_owned())?
        };
        let stored = self.seal(&spec)?;
        self.store
            .update_mcp_server(Actor::User(caller.user_id()), stored)
            .await
            .map_err(|err| not_found(err.into()))?;
        self.after_change(caller, name).await
    }

    /// Removes a stored server; its connection closes and its tools leave the registry.
    pub async fn delete(&self, caller: &Identity, name: &str) -> Result<(), ServiceError> {
        require_admin(caller, ADMINS_ONLY)?;
        self.refuse_configured(name)?;
        self.store
            .delete_mcp_server(Actor::User(caller.user_id()), name.to_owned())
            .await
            .map_err(|err| not_found(err.into()))?;
        self.sync().await
    }

    /// Drops the server's session and connects again now (a stdio child is restarted).
    pub async fn restart(&self, caller: &Identity, name: &str) -> Result<McpServerView, ServiceError> {
        require_admin(caller, ADMINS_ONLY)?;
        let connection = self
            .connection(name)
            .await
            .ok_or(ServiceError::NotFound("MCP server"))?;
        if !connection.spec().enabled {
            return Err(ServiceError::Conflict {
                code: "mcp_server_disabled",
                message: format!("`{name}` is disabled; enable it instead of restarting it"),
            });
        }
        connection.reconnect();
        Ok(view(connection.spec(), connection.status()))
    }

    async fn after_change(&self, caller: &Identity, name: &str) -> Result<McpServerView, ServiceError> {
        self.sync().await?;
        self.get(caller, name).await
    }

    fn refuse_configured(&self, name: &str) -> Result<(), ServiceError> {
        if self.configured.iter().any(|spec| spec.name == name) {
            return Err(ServiceError::Conflict {
                code: "mcp_server_configured",
                message: format!("`{name}` is defined in agentbox.toml ([[mcp.servers]]); change it there"),
            });
        }
        Ok(())
    }

    async fn stored_spec(&self, name: &str) -> Result<McpServerSpec, ServiceError> {
        let stored = self
            .store
            .mcp_servers()
            .await?
            .into_iter()
            .find(|stored| stored.name == name)
            .ok_or(ServiceError::NotFound("MCP server"))?;
        self.decrypt(&stored)
    }

    fn seal(&self, spec: &McpServerSpec) -> Result<StoredMcpServer, ServiceError> {
        let plain = serde_json::to_string(&spec.transport)
            .map_err(|err| ServiceError::Unavailable(err.to_string()))?;
        Ok(StoredMcpServer {
            name: spec.name.clone(),
            transport: spec.transport.kind().to_owned(),
            config_ciphertext: self.keyring.encrypt(&plain, &cipher_context(&spec.name))?,
            enabled: spec.enabled,
        })
    }
}

/// The definition is named, checked and turned into a spec under `name` (from the path or the
/// body).
fn into_spec(mut fields: McpServerFields, name: String) -> Result<McpServerSpec, ServiceError> {
    fields.name = Some(name);
    McpServerSpec::from_fields(fields, McpSource::Api)
        .map_err(|message| ServiceError::invalid("body", message))
}

/// A stored server whose settings cannot be decrypted (the secret key changed): listed as
/// failed with the reason, so an admin can replace or delete it.
fn unreadable_view(stored: &StoredMcpServer, err: &ServiceError) -> McpServerView {
    let mut status = McpConnectionStatus::new(McpConnectionState::Failed);
    status.last_error = Some(err.to_string());
    let transport = if stored.transport == "http" {
        "http"
    } else {
        "stdio"
    };
    bare_view(&stored.name, transport, McpSource::Api, stored.enabled, status)
}

/// A view without connection settings; [`view`] fills them in from the spec.
fn bare_view(
    name: &str,
    transport: &'static str,
    source: McpSource,
    enabled: bool,
    status: McpConnectionStatus,
) -> McpServerView {
    McpServerView {
        name: name.to_owned(),
        transport,
        source,
        enabled,
        command: None,
        args: Vec::new(),
        cwd: None,
        env: Vec::new(),
        url: None,
        headers: Vec::new(),
        has_bearer_token: false,
        status,
    }
}

fn not_found(err: ServiceError) -> ServiceError {
    match err {
        ServiceError::NotFound(_) => ServiceError::NotFound("MCP server"),
        other => other,
    }
}

fn view(spec: &McpServerSpec, status: McpConnectionStatus) -> McpServerView {
    let mut view = bare_view(
        &spec.name,
        spec.transport.kind(),
        spec.source,
        spec.enabled,
        status,
    );
    match &spec.transport {
        McpTransport::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            view.command = Some(command.clone());
            view.args.clone_from(args);
            view.cwd = cwd.as_ref().map(|cwd| cwd.display().to_string());
            view.env = env.keys().cloned().collect();
        }
        McpTransport::Http {
            url,
            bearer_token,
            headers,
        } => {
            view.url = Some(url.clone());
            view.headers = headers.keys().cloned().collect();
            view.has_bearer_token = bearer_token.is_some();
        }
    }
    view
}
