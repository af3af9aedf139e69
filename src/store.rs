//! The store owns SQL. Every operation runs to completion on its own task, so a cancelled
//! HTTP request never cancels the SQL under it (a connection dropped mid-response wedges the
//! embedded server). Every operation on user data runs in a transaction as the `authenticated`
//! role with the caller's claims set, so Postgres row-level security decides what is visible.

mod agents;
mod analytics;
mod api_keys;
mod auth_sessions;
mod chat;
mod claims;
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
mod notices;
mod privilege;
pub mod providers;
mod ratings;
pub(crate) mod read_only_sql;
mod session_claims;
mod session_events;
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
use claims::ClaimsKey;
pub use companies::SAMPLE_COMPANIES;
pub use dump::{ColumnInfo, DatabaseDump, DumpChunk, RestoreFeed, TableInfo};
use embedded::EmbeddedDb;
pub use embeddings::{NewEmbedding, UnindexedMessage, VectorStorage};
pub use error::StoreError;
pub use kpis::KpiFilter;
pub use login_attempts::LoginTurn;
use notices::Notices;
pub use notices::{Notice, wait_for as wait_for_notice};
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
    /// A signed-in user: `authenticated` role with `request.jwt.claims.sub` = the user id,
    /// signed (see `store/claims.rs`).
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

/// How a user's transaction reaches the `authenticated` role, weakest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// External Postgres with `database.owner_url`: users' transactions run on connections
    /// logged in as the runtime role, which owns nothing, cannot bypass RLS and is a member of
    /// `authenticated` only. Nothing a statement does can reach a privileged role.
    RuntimeLogin,
    /// The embedded database: pglite serves one session, logged in as its bootstrap superuser
    /// whatever the client asks for. A user's transaction first becomes `agentbox_runtime`
    /// (`SET LOCAL SESSION AUTHORIZATION`), so `RESET ROLE`, `set_config('role', …)` and
    /// role-granted functions reach only that powerless role; the session-authorization
    /// statements themselves can still return to the superuser, and the `sql_query` check is
    /// what refuses them.
    SessionAuthorization,
    /// External Postgres with one URL: the owner serves requests too (a warning at start-up).
    Owner,
}

/// The role a user's transaction becomes on the embedded database (see [`Privilege`]).
const EMBEDDED_RUNTIME_ROLE: &str = "agentbox_runtime";

/// A cheap, clonable handle to the database.
#[derive(Debug, Clone)]
pub struct Store {
    /// Logged in as the owner of the tables: migrations, maintenance (backup, restore, sample
    /// data) and the platform's own bookkeeping ([`Actor::System`]), with fixed statements only.
    owner: PgPool,
    /// Every transaction for a user ([`Actor::User`]); the same pool as `owner` unless
    /// `privilege` is [`Privilege::RuntimeLogin`].
    runtime: PgPool,
    privilege: Privilege,
    embedded: Option<Arc<EmbeddedDb>>,
    /// Read from the catalog on first use (see `store/embeddings.rs`).
    vector_storage: Arc<OnceLock<VectorStorage>>,
    /// Read by the owner before the first user's transaction (see `store/claims.rs`).
    claims_key: Arc<tokio::sync::OnceCell<ClaimsKey>>,
    /// Change notices from every replica (see `store/notices.rs`).
    notices: Notices,
}

/// What a transaction does first to run as a user.
struct BecomeUser {
    claims: String,
    privilege: Privilege,
}

impl Store {
    /// Opens the external database when `DATABASE_URL` is set, the embedded one otherwise.
    pub async fn open(settings: &Settings) -> Result<Self, StoreError> {
        let database = &settings.database;
        match (&database.url, &database.owner_url) {
            (Some(url), None) => {
                let owner = external_pool(url.expose(), "DATABASE_URL", database.max_connections).await?;
                Ok(Self::external(owner.clone(), owner, Privilege::Owner))
            }
            (Some(url), Some(owner_url)) => {
                // The owner serves every request too (its sign-in lookup), so both pools may grow
                // to the limit; idle connections close after sqlx's idle timeout.
                let owner = external_pool(
                    owner_url.expose(),
                    "AGENTBOX_DATABASE_OWNER_URL",
                    database.max_connections,
                )
                .await?;
                let runtime = external_pool(url.expose(), "DATABASE_URL", database.max_connections).await?;
                Ok(Self::external(owner, runtime, Privilege::RuntimeLogin))
            }
            (None, Some(_)) => Err(StoreError::Unavailable(
                "AGENTBOX_DATABASE_OWNER_URL is set without DATABASE_URL: name the runtime role's URL too"
                    .into(),
            )),
            (None, None) => Self::open_embedded(settings).await,
        }
    }

    fn external(owner: PgPool, runtime: PgPool, privilege: Privilege) -> Self {
        let notices = Notices::default();
        // Ends when the pool closes (`Store::close`).
        tokio::spawn(notices.clone().listen(owner.clone()));
        Self {
            owner,
            runtime,
            privilege,
            embedded: None,
            vector_storage: Arc::default(),
            claims_key: Arc::default(),
            notices,
        }
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
            // pglite's session starts with no session_authorization set, and a transaction-local
            // one (see Privilege::SessionAuthorization) would then not revert at its end: the
            // session-level value it reverts to is set here, on every (re)connection.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(conn, "set session authorization postgres").await?;
                    Ok(())
                })
            })
            .connect_with(db.connect_options())
            .await?;
        Ok(Self {
            owner: pool.clone(),
            runtime: pool,
            privilege: Privilege::SessionAuthorization,
            embedded: Some(Arc::new(db)),
            vector_storage: Arc::default(),
            claims_key: Arc::default(),
            notices: Notices::default(),
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
        let (owner, runtime, privilege) = (self.owner.clone(), self.runtime.clone(), self.privilege);
        self.detached(async move {
            MIGRATOR.run(&owner).await?;
            match privilege {
                Privilege::RuntimeLogin => privilege::check_runtime_login(&owner, &runtime).await,
                Privilege::SessionAuthorization => privilege::ensure_embedded_runtime_role(&owner).await,
                Privilege::Owner => {
                    tracing::warn!(
                        "requests run as the owner of the tables: give agentbox a runtime role that owns \
                         nothing (DATABASE_URL) beside the owner (AGENTBOX_DATABASE_OWNER_URL), see \
                         docs/operations.md"
                    );
                    Ok(())
                }
            }
        })
        .await
    }

    /// How users' transactions reach the `authenticated` role.
    pub fn privilege(&self) -> Privilege {
        self.privilege
    }

    /// Whether every migration this binary knows is applied.
    pub async fn migrations_applied(&self) -> Result<bool, StoreError> {
        let pool = self.owner.clone();
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
        let pool = self.owner.clone();
        self.detached(async move {
            sqlx::raw_sql(SAMPLE_DATA).execute(&pool).await?;
            Ok(())
        })
        .await
    }

    /// A cheap round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let pool = self.runtime.clone();
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
        let (pool, become_user) = self.login(actor).await?;
        self.detached(async move {
            let mut tx = Self::begin(&pool, become_user).await?;
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
        let pool = self.owner.clone();
        self.detached(async move {
            let mut conn = pool.acquire().await?;
            operation(&mut conn).await
        })
        .await
    }

    /// The pool a transaction as `actor` runs on (the platform's own on the owner's, a user's on
    /// the runtime role's), and for a user the signed claims it takes.
    async fn login(&self, actor: Actor) -> Result<(PgPool, Option<BecomeUser>), StoreError> {
        match actor {
            Actor::System => Ok((self.owner.clone(), None)),
            Actor::User(user) => {
                let key = self
                    .claims_key
                    .get_or_try_init(|| {
                        let owner = self.owner.clone();
                        self.detached(async move { ClaimsKey::load(&owner).await })
                    })
                    .await?;
                let become_user = BecomeUser {
                    claims: key.claims_for(user),
                    privilege: self.privilege,
                };
                Ok((self.runtime.clone(), Some(become_user)))
            }
        }
    }

    /// Starts a transaction, as a user when `become_user` says so: the role and the signed
    /// claims are set transaction-locally, so they end with the transaction and never leak to
    /// the next user of the pooled connection.
    async fn begin(
        pool: &PgPool,
        become_user: Option<BecomeUser>,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = pool.begin().await?;
        if let Some(BecomeUser { claims, privilege }) = become_user {
            // Left to right: a new session user first (it resets the role), then the claims
            // and the role.
            let become_user = if privilege == Privilege::SessionAuthorization {
                sqlx::query(
                    "select set_config('session_authorization', $2, true), \
                     set_config('request.jwt.claims', $1, true), set_config('role', 'authenticated', true)",
                )
                .bind(claims)
                .bind(EMBEDDED_RUNTIME_ROLE)
            } else {
                sqlx::query(
                    "select set_config('request.jwt.claims', $1, true), set_config('role', 'authenticated', true)",
                )
                .bind(claims)
            };
            become_user.execute(&mut *tx).await?;
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
        let (pool, become_user) = self.login(actor).await?;
        self.detached(async move {
            let mut tx = Self::begin(&pool, become_user).await?;
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

    /// Runs raw SQL statements as `actor` in one committed transaction and returns the first
    /// column of every row they return, as text. For tests that play an attacker whose SQL got
    /// past every check: it runs exactly as a user's transaction does.
    #[doc(hidden)]
    pub async fn statements_as(&self, actor: Actor, sql: String) -> Result<Vec<Option<String>>, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                use sqlx::{Row, ValueRef};
                // No arguments: a simple query, so several statements are allowed.
                let rows = sqlx::Executor::fetch_all(conn, sql.as_str()).await?;
                let mut first_column = Vec::with_capacity(rows.len());
                for row in &rows {
                    let value = row.try_get_raw(0)?;
                    // The simple protocol sends every value as text.
                    first_column.push(if value.is_null() {
                        None
                    } else {
                        value.as_str().ok().map(str::to_owned)
                    });
                }
                Ok(first_column)
            }
            .boxed()
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
                let pool = store.owner.clone();
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
        for pool in [&self.runtime, &self.owner] {
            for _ in 0..3 {
                pool.close().await;
                if pool.size() == 0 {
                    break;
                }
            }
        }
        if let Some(db) = &self.embedded {
            db.stop().await;
        }
    }

    /// The connection pool's state (for `/metrics`).
    pub fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.runtime.size(),
            idle: u32::try_from(self.runtime.num_idle()).unwrap_or(u32::MAX),
            max: self.runtime.options().get_max_connections(),
        }
    }

    /// Background tasks per status, across all users (for `/metrics`).
    pub async fn task_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let pool = self.owner.clone();
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

    /// Test hook: the owner's pool, e.g. to simulate a client that vanishes mid-response.
    #[doc(hidden)]
    pub fn pool(&self) -> &PgPool {
        &self.owner
    }
}

/// A pool on external Postgres at `url`, which the error names by `setting` when it is wrong.
async fn external_pool(url: &str, setting: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|err| StoreError::Unavailable(format!("{setting} is not a valid Postgres URL: {err}")))?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?)
}

/// `NotFound` when a statement meant for one row (an update or delete by key) touched none.
fn touched(result: &sqlx::postgres::PgQueryResult) -> Result<(), StoreError> {
    if result.rows_affected() == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}
