//! External MCP servers added through the API. Their connection settings are ciphertext here
//! (the service encrypts them); admins alone reach the rows (RLS).

use futures::FutureExt;

use super::{Actor, Store, StoreError, touched};

/// One stored server.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredMcpServer {
    pub name: String,
    pub transport: String,
    pub config_ciphertext: Vec<u8>,
    pub enabled: bool,
}

const COLUMNS: &str = "name, transport, config_ciphertext, enabled";

impl Store {
    /// Every stored server, for the connection manager (not a user's request).
    pub async fn mcp_servers(&self) -> Result<Vec<StoredMcpServer>, StoreError> {
        self.run_system(|conn| {
            async move {
                let sql = format!("select {COLUMNS} from public.mcp_servers order by name limit 200");
                Ok(sqlx::query_as(&sql).fetch_all(conn).await?)
            }
            .boxed()
        })
        .await
    }

    pub async fn create_mcp_server(&self, actor: Actor, server: StoredMcpServer) -> Result<(), StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                sqlx::query(
                    "insert into public.mcp_servers (name, transport, config_ciphertext, enabled)
                     values ($1, $2, $3, $4)",
                )
                .bind(server.name)
                .bind(server.transport)
                .bind(server.config_ciphertext)
                .bind(server.enabled)
                .execute(conn)
                .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// Replaces a stored server's settings (the name stays).
    pub async fn update_mcp_server(&self, actor: Actor, server: StoredMcpServer) -> Result<(), StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let updated = sqlx::query(
                    "update public.mcp_servers
                        set transport = $2, config_ciphertext = $3, enabled = $4
                      where name = $1",
                )
                .bind(server.name)
                .bind(server.transport)
                .bind(server.config_ciphertext)
                .bind(server.enabled)
                .execute(conn)
                .await?;
                touched(&updated)
            }
            .boxed()
        })
        .await
    }

    pub async fn delete_mcp_server(&self, actor: Actor, name: String) -> Result<(), StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let deleted = sqlx::query("delete from public.mcp_servers where name = $1")
                    .bind(name)
                    .execute(conn)
                    .await?;
                touched(&deleted)
            }
            .boxed()
        })
        .await
    }
}
