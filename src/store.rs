//! The store owns SQL. Every operation runs to completion on its own task, so a cancelled
//! HTTP request never cancels the SQL under it (a connection dropped mid-response wedges the
//! embedded server). Every operation on user data runs in a transaction as the `authenticated`
//! role with the caller's claims set, so Postgres row-level security decides what is visible.

mod agents;
mod analytics;
mod api_keys;
mod auth_sessions;
mod chat;
mod companies;
mod dump;
mod embedded;
mod embeddings;
mod error;
mod eval_runs;
mod evaluations;
mod kpis;
mod login_attempts;
pub mod mcp_servers;
pub mod providers;
mod ratings;
mod read_only_sql;
mod task_queue;
mod tasks;
mod users;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use api_keys::{ApiKeyOwner, NewKeyRecord};
pub use auth_sessions::{NewSession, SessionRecord};
pub use chat::{MessageMatch, SessionUpdate};
pub use companies::SAMPLE_COMPANIES;
pub use dump::{ColumnInfo, DatabaseDump, DumpChunk, RestoreFeed, TableInfo};
use embedded::EmbeddedDb;
pub use embeddings::{NewEmbedding, UnindexedMessage, VectorStorage};
pub use error::StoreError;
pub use kpis::KpiFilter;
pub use ratings::RatingChange;
pub use read_only_sql::QueryLimits;
pub use tasks::CancelOutcome;
pub use users::{Credentials, NewUser};

use crate::config::Settings;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The demo data behind `--sample-data`: companies, departments, KPIs with two years of history.
const SAMPLE_DATA: &str = include_str!("store/sample_data.sql");

/// How often the watchdog asks the embedded database whether it still answers.
const WATCHDOG_INTERVAL: Duration = Duration::from_secs(5);
const WATCHDOG_PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Who a transaction runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The platform itself (owner role, no RLS): authentication, setup, admin tools.
    System,
    /// A signed-in user: `authenticated` role with `request.jwt.claims.sub` = the user id.
    User(Uuid),
}

/// The connection pool: open connections, idle ones, and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Embedded,
    External,
}

/// A cheap, clonable handle to the database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    embedded: Option<Arc<EmbeddedDb>>,
    /// Read from the catalog on first use (see `store/embeddings.rs`).
    vector_storage: Arc<OnceLock<VectorStorage>>,
}

impl Store {
    /// Opens the external database when `DATABASE_URL` is set, the embedded one otherwise.
    pub async fn open(settings: &Settings) -> Result<Self, StoreError> {
        match &settings.database.url {
            Some(url) => Self::open_external(url.expose(), settings.database.max_connections).await,
            None => Self::open_embedded(settings).await,
        }
    }

    async fn open_external(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(|err| {
            StoreError::Unavailable(format!("DATABASE_URL is not a valid Postgres URL: {err}"))
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            embedded: None,
            vector_storage: Arc::default(),
        })
    }

    async fn open_embedded(settings: &Settings) -> Result<Self, StoreError> {
        let data_dir = crate::config::absolute(&settings.data_dir);
        let db = EmbeddedDb::start(&settings.embedded_db_dir(), &data_dir.join("run")).await?;
        // One backend serves one connection: the pool holds exactly one, forever
        // (a reconnect costs ~200 ms, and a second connection only queues behind it).
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(db.connect_options())
            .await?;
        Ok(Self {
            pool,
            embedded: Some(Arc::new(db)),
            vector_storage: Arc::default(),
        })
    }

    pub fn kind(&self) -> DatabaseKind {
        if self.embedded.is_some() {
            DatabaseKind::Embedded
        } else {
            DatabaseKind::External
        }
    }

    /// Applies the embedded migrations that are not applied yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        self.detached(async move { Ok(MIGRATOR.run(&pool).await?) }).await
    }

    /// Whether every migration this binary knows is applied.
    pub async fn migrations_applied(&self) -> Result<bool, StoreError> {
        let pool = self.pool.clone();
        self.detached(async move {
            let applied: Vec<i64> =
                sqlx::query_scalar("select version from _sqlx_migrations where success order by version")
                    .fetch_all(&pool)
                    .await
                    .or_else(|err| match err {
                        // No migrations table yet: nothing is applied.
                        sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => Ok(Vec::new()),
                        other => Err(other),
                    })?;
            Ok(MIGRATOR.iter().all(|m| applied.contains(&m.version)))
        })
        .await
    }

    /// Loads the sample companies and KPIs (idempotent: a second run changes nothing).
    pub async fn load_sample_data(&self) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        self.detached(async move {
            sqlx::raw_sql(SAMPLE_DATA).execute(&pool).await?;
            Ok(())
        })
        .await
    }

    /// A cheap round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        self.detached(async move {
            sqlx::query("select 1").execute(&pool).await?;
            Ok(())
        })
        .await
    }

    /// Runs `operation` to completion on its own task: if the caller goes away, the SQL still
    /// finishes and the connection returns to the pool clean.
    async fn detached<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let result = tokio::spawn(operation)
            .await
            .map_err(|err| StoreError::Embedded(format!("store task failed: {err}")))?;
        if let (Err(err), Some(db)) = (&result, &self.embedded)
            && err.is_connection_failure()
        {
            db.suspect.notify_one();
        }
        result
    }

    /// Runs `operation` in one transaction as `actor`, detached from the caller (see
    /// [`Store::detached`]). The transaction commits when `operation` succeeds.
    async fn run_as<T, F>(&self, actor: Actor, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        self.detached(async move {
            let mut tx = Self::begin(&pool, actor).await?;
            let value = operation(&mut tx).await?;
            tx.commit().await?;
            Ok(value)
        })
        .await
    }

    /// Runs `operation` as the platform itself without a transaction: each statement commits on
    /// its own. For single-statement lookups on the hot path (authentication runs on every
    /// request), where BEGIN and COMMIT would triple the round trips.
    async fn run_system<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        let pool = self.pool.clone();
        self.detached(async move {
            let mut conn = pool.acquire().await?;
            operation(&mut conn).await
        })
        .await
    }

    /// Starts a transaction as `actor`. For a user this sets the role and the claims
    /// transaction-locally, so they end with the transaction and never leak to the next user of
    /// the pooled connection.
    async fn begin(pool: &PgPool, actor: Actor) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = pool.begin().await?;
        if let Actor::User(user_id) = actor {
            let claims = serde_json::json!({ "sub": user_id, "role": "authenticated" }).to_string();
            sqlx::query(
                "select set_config('request.jwt.claims', $1, true), set_config('role', 'authenticated', true)",
            )
            .bind(claims)
            .execute(&mut *tx)
            .await?;
        }
        Ok(tx)
    }

    /// Runs a raw SELECT as `actor` and returns the rows as JSON objects (capped at `max_rows`),
    /// then rolls back. For tests and diagnostics: proves RLS holds for hand-written SQL. The
    /// SQL is trusted here; agent-facing SQL goes through the SQL tool's checks.
    #[doc(hidden)]
    pub async fn query_json_as(
        &self,
        actor: Actor,
        sql: String,
        max_rows: usize,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        let pool = self.pool.clone();
        self.detached(async move {
            let mut tx = Self::begin(&pool, actor).await?;
            let wrapped = format!("select to_jsonb(q) from ({sql}) q limit {max_rows}");
            let rows: Vec<serde_json::Value> = sqlx::query_scalar(&wrapped).fetch_all(&mut *tx).await?;
            tx.rollback().await?;
            Ok(rows)
        })
        .await
    }

    /// Runs raw SQL statements as `actor` in one committed transaction. For tests and
    /// diagnostics, like [`Store::query_json_as`].
    #[doc(hidden)]
    pub async fn execute_as(&self, actor: Actor, sql: String) -> Result<u64, StoreError> {
        self.run_as(actor, move |conn| {
            // A query without arguments runs as a simple query: several statements are allowed.
            async move { Ok(sqlx::Executor::execute(conn, sql.as_str()).await?.rows_affected()) }.boxed()
        })
        .await
    }

    /// Keeps the embedded database answering: pings it, and restarts it when a ping or a
    /// request finds it gone. Does nothing for external Postgres (its server restarts itself).
    pub fn spawn_watchdog(&self, shutdown: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        let db = self.embedded.clone()?;
        let store = self.clone();
        Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(WATCHDOG_INTERVAL) => {}
                    () = db.suspect.notified() => {}
                }
                let pool = store.pool.clone();
                let ping = tokio::spawn(async move { sqlx::query("select 1").execute(&pool).await });
                match tokio::time::timeout(WATCHDOG_PING_TIMEOUT, ping).await {
                    Ok(Ok(Ok(_))) => continue,
                    Ok(Ok(Err(err))) => tracing::warn!(%err, "embedded database does not answer"),
                    Ok(Err(err)) => tracing::warn!(%err, "embedded database ping failed"),
                    Err(_) => tracing::warn!("embedded database ping timed out"),
                }
                if shutdown.is_cancelled() {
                    return;
                }
                match db.restart().await {
                    Ok(()) => tracing::warn!("embedded database restarted"),
                    Err(err) => tracing::error!(%err, "embedded database restart failed"),
                }
            }
        }))
    }

    /// Closes the pool, then stops the embedded server (which waits for its client to leave).
    pub async fn close(&self) {
        // sqlx returns a connection to the pool on a task of its own, and `close()` can end
        // while one is still on its way back: it then stays open, and the embedded server
        // (which serves one client at a time) waits for it forever. A second `close()` finds
        // it idle and closes it.
        for _ in 0..3 {
            self.pool.close().await;
            if self.pool.size() == 0 {
                break;
            }
        }
        if let Some(db) = &self.embedded {
            db.stop().await;
        }
    }

    /// The connection pool's state (for `/metrics`).
    pub fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }

    /// Background tasks per status, across all users (for `/metrics`).
    pub async fn task_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let pool = self.pool.clone();
        self.detached(async move {
            let rows: Vec<(String, i64)> =
                sqlx::query_as("select status, count(*) from public.tasks group by status order by status")
                    .fetch_all(&pool)
                    .await?;
            Ok(rows
                .into_iter()
                .map(|(status, count)| (status, u64::try_from(count).unwrap_or(0)))
                .collect())
        })
        .await
    }

    /// Test hook: the raw pool, e.g. to simulate a client that vanishes mid-response.
    #[doc(hidden)]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// `NotFound` when a statement meant for one row (an update or delete by key) touched none.
fn touched(result: &sqlx::postgres::PgQueryResult) -> Result<(), StoreError> {
    if result.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}
