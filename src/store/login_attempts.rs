//! Login throttling state, kept in the database so that every replica sees the same count.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;

use super::{Actor, Store, StoreError};

impl Store {
    pub async fn record_login_attempt(
        &self,
        email: String,
        ip: Option<String>,
        succeeded: bool,
    ) -> Result<(), StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move {
                sqlx::query("insert into auth.login_attempts (email, ip, succeeded) values ($1, $2, $3)")
                    .bind(email)
                    .bind(ip)
                    .bind(succeeded)
                    .execute(&mut *conn)
                    .await?;
                // Keep a day of history at most.
                sqlx::query("delete from auth.login_attempts where attempted_at < now() - interval '1 day'")
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// Failed attempts for `email` inside the window since its last success, and the oldest
    /// of them (the window reopens when it ages out).
    pub async fn recent_login_failures(
        &self,
        email: String,
        window: Duration,
    ) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
        self.run_system(move |conn| {
            async move {
                let row: (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                    "select count(*), min(attempted_at) from auth.login_attempts
                     where email = $1 and not succeeded
                       and attempted_at > now() - make_interval(secs => $2)
                       and attempted_at > coalesce(
                           (select max(attempted_at) from auth.login_attempts where email = $1 and succeeded),
                           '-infinity')",
                )
                .bind(email)
                .bind(window.as_secs_f64())
                .fetch_one(conn)
                .await?;
                Ok(row)
            }
            .boxed()
        })
        .await
    }
}
