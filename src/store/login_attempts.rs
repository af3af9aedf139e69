//! Login throttling state, kept in the database so that every replica sees the same count.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;

use super::{Actor, Store, StoreError};

/// Whether a login attempt may check its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginTurn {
    /// Recorded as a failure until [`Store::login_succeeded`] says otherwise.
    Admitted { attempt: i64 },
    /// Too many failures in the window; it reopens when the oldest of them ages out.
    Throttled { oldest_failure: DateTime<Utc> },
}

impl Store {
    /// Counts the failures for `email` inside `window` since its last success and, below
    /// `max_failures`, records this attempt as one more — in one transaction under a lock on
    /// the email, so a burst of concurrent attempts is counted one by one and no more than
    /// `max_failures` of them ever reach the password check.
    pub async fn admit_login_attempt(
        &self,
        email: String,
        ip: Option<String>,
        window: Duration,
        max_failures: u32,
    ) -> Result<LoginTurn, StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move {
                sqlx::query("select pg_advisory_xact_lock(hashtextextended('agentbox login ' || $1, 0))")
                    .bind(&email)
                    .execute(&mut *conn)
                    .await?;
                let (failures, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                    "select count(*), min(attempted_at) from auth.login_attempts
                     where email = $1 and not succeeded
                       and attempted_at > now() - make_interval(secs => $2)
                       and attempted_at > coalesce(
                           (select max(attempted_at) from auth.login_attempts where email = $1 and succeeded),
                           '-infinity')",
                )
                .bind(&email)
                .bind(window.as_secs_f64())
                .fetch_one(&mut *conn)
                .await?;
                if failures >= i64::from(max_failures) {
                    return Ok(LoginTurn::Throttled {
                        oldest_failure: oldest.unwrap_or_else(Utc::now),
                    });
                }
                let attempt: i64 = sqlx::query_scalar(
                    "insert into auth.login_attempts (email, ip, succeeded) values ($1, $2, false) returning id",
                )
                .bind(email)
                .bind(ip)
                .fetch_one(&mut *conn)
                .await?;
                // Keep a day of history at most.
                sqlx::query("delete from auth.login_attempts where attempted_at < now() - interval '1 day'")
                    .execute(conn)
                    .await?;
                Ok(LoginTurn::Admitted { attempt })
            }
            .boxed()
        })
        .await
    }

    /// Marks an admitted attempt as the success it turned out to be.
    pub async fn login_succeeded(&self, attempt: i64) -> Result<(), StoreError> {
        self.run_system(move |conn| {
            async move {
                sqlx::query("update auth.login_attempts set succeeded = true where id = $1")
                    .bind(attempt)
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }
}
