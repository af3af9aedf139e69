//! Agent-written SQL (the `sql_query` tool): checked ([`check`]), then run as the caller in a
//! READ ONLY transaction with a statement timeout and a row cap, and always rolled back.
//! Row-level security and grants decide what it sees of the KPI tables; the checks exist for
//! what those cannot stop (see `check.rs`: identity changes, the system catalogs every role
//! may read, the platform's other tables) and for messages a model can act on.

mod allowed;
pub(crate) mod check;
mod names;
mod plan;

use std::time::Duration;

use futures::FutureExt;
use sqlx::PgConnection;
use uuid::Uuid;

use self::check::Timeouts;
use super::{DatabaseKind, Store, StoreError};
use crate::domain::QueryRows;
use crate::store::Actor;

/// Bounds of one read-only query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    pub max_rows: usize,
    /// Enforced by external Postgres; the embedded server ignores `statement_timeout`.
    pub timeout: Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_rows: 200,
            timeout: Duration::from_secs(5),
        }
    }
}

impl Store {
    /// Runs one SELECT written by (or for) `caller` and returns its rows as JSON objects.
    /// Refusals and database errors come back as [`StoreError::QueryRefused`],
    /// [`StoreError::QueryRejected`], [`StoreError::QueryTimeout`] or
    /// [`StoreError::Forbidden`], each with a message meant for the one who wrote the SQL.
    pub async fn read_only_query(
        &self,
        caller: Uuid,
        sql: String,
        limits: QueryLimits,
    ) -> Result<QueryRows, StoreError> {
        let timeouts = match self.kind() {
            DatabaseKind::External => Timeouts::Enforced,
            DatabaseKind::Embedded => Timeouts::Ignored,
        };
        let statement = check::check(&sql, timeouts)
            .map_err(StoreError::QueryRefused)?
            .to_owned();
        let (pool, become_user) = self.login(Actor::User(caller)).await?;
        self.detached(async move {
            let mut tx = Self::begin(&pool, become_user).await?;
            let rows = run_limited(&mut tx, &statement, limits).await;
            // Always roll back: nothing a query does (it cannot write) outlives it.
            tx.rollback().await?;
            let mut rows = rows?;
            let truncated = rows.len() > limits.max_rows;
            rows.truncate(limits.max_rows);
            let rows = rows
                .iter()
                .map(|row| serde_json::from_str(row))
                .collect::<Result<_, _>>()
                .map_err(|err| {
                    StoreError::QueryRejected(format!("a row could not be read as JSON: {err}"))
                })?;
            Ok(QueryRows { rows, truncated })
        })
        .await
    }
}

/// Sets the transaction read-only with a statement timeout, checks the plan of `statement`
/// wrapped so each row comes back as one JSON text, and runs it: at most `max_rows + 1` rows
/// (one more tells whether the cap cut the result).
async fn run_limited(
    conn: &mut PgConnection,
    statement: &str,
    limits: QueryLimits,
) -> Result<Vec<String>, StoreError> {
    sqlx::query("set transaction read only")
        .execute(&mut *conn)
        .await?;
    let timeout_ms = u64::try_from(limits.timeout.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    sqlx::query(&format!("set local statement_timeout = {timeout_ms}"))
        .execute(&mut *conn)
        .await?;
    // The newlines keep a trailing `--` comment from swallowing the wrapper's end. A prepared
    // statement (sqlx's extended protocol) cannot carry a second statement either.
    let wrapped = format!(
        "select to_json(q)::text from (\n{statement}\n) q limit {}",
        limits.max_rows + 1
    );
    // What Postgres itself would read, before anything runs (see `plan.rs`).
    let explained: serde_json::Value =
        sqlx::query_scalar(&format!("explain (verbose, format json) {wrapped}"))
            .fetch_one(&mut *conn)
            .await
            .map_err(|err| query_error(err, limits.timeout))?;
    if let Some(refusal) = plan::refusal(&explained) {
        return Err(StoreError::QueryRefused(refusal));
    }
    sqlx::query_scalar(&wrapped)
        .fetch_all(&mut *conn)
        .map(|result| result.map_err(|err| query_error(err, limits.timeout)))
        .await
}

/// Turns the database's refusal of the caller's statement into a message for its author.
fn query_error(err: sqlx::Error, timeout: Duration) -> StoreError {
    let sqlx::Error::Database(db) = &err else {
        return err.into();
    };
    let message = db.message().to_owned();
    let code = db.code().map(std::borrow::Cow::into_owned);
    let hint = db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .and_then(|pg| pg.hint())
        .map(|hint| format!(" (hint: {hint})"))
        .unwrap_or_default();
    match code.as_deref() {
        // query_canceled: the statement timeout fired
        Some("57014") => StoreError::QueryTimeout(timeout),
        // insufficient_privilege: a table or function the role may not use
        Some("42501") => StoreError::Forbidden(message),
        // read_only_sql_transaction, and a data-modifying WITH inside the wrapper
        Some("25006") => StoreError::QueryRefused(format!("sql_query is read-only: {message}")),
        Some("0A000") if message.contains("data-modifying") => {
            StoreError::QueryRefused("sql_query is read-only: WITH … INSERT/UPDATE/DELETE is refused".into())
        }
        // Connection trouble is the platform's, not the query's.
        Some(code) if code.starts_with("08") || code.starts_with("57P") => err.into(),
        _ => StoreError::QueryRejected(format!("{message}{hint}")),
    }
}
