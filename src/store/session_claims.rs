//! Chat session claims with a lease (see the `session_claims` migration): one answer at a time
//! per session across replicas.

use std::time::Duration;

use futures::FutureExt;
use uuid::Uuid;

use super::{Store, StoreError};

impl Store {
    /// Claims `session` for `holder` for `lease`, unless another claim on it is still live.
    /// Returns whether the claim was taken.
    pub async fn claim_session(
        &self,
        session: Uuid,
        holder: Uuid,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.run_system(move |conn| {
            async move {
                let taken = sqlx::query(
                    "insert into auth.session_claims (session_id, holder, expires_at)
                     values ($1, $2, now() + make_interval(secs => $3))
                     on conflict (session_id) do update
                         set holder = excluded.holder, expires_at = excluded.expires_at
                         where auth.session_claims.expires_at < now()",
                )
                .bind(session)
                .bind(holder)
                .bind(lease.as_secs_f64())
                .execute(conn)
                .await?
                .rows_affected();
                Ok(taken == 1)
            }
            .boxed()
        })
        .await
    }

    /// Extends `holder`'s claim on `session` by `lease` from now. Returns false when the claim
    /// is gone (it lapsed and another replica took the session over).
    pub async fn renew_session_claim(
        &self,
        session: Uuid,
        holder: Uuid,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.run_system(move |conn| {
            async move {
                let renewed = sqlx::query(
                    "update auth.session_claims set expires_at = now() + make_interval(secs => $3)
                     where session_id = $1 and holder = $2",
                )
                .bind(session)
                .bind(holder)
                .bind(lease.as_secs_f64())
                .execute(conn)
                .await?
                .rows_affected();
                Ok(renewed == 1)
            }
            .boxed()
        })
        .await
    }

    /// Whether an answer holds `session` now (a claim whose lease has not lapsed).
    pub async fn session_claimed(&self, session: Uuid) -> Result<bool, StoreError> {
        self.run_system(move |conn| {
            async move {
                let claimed: bool = sqlx::query_scalar(
                    "select exists (select 1 from auth.session_claims
                                     where session_id = $1 and expires_at > now())",
                )
                .bind(session)
                .fetch_one(conn)
                .await?;
                Ok(claimed)
            }
            .boxed()
        })
        .await
    }

    /// Ends `holder`'s claim on `session` (nothing when it is no longer theirs).
    pub async fn release_session_claim(&self, session: Uuid, holder: Uuid) -> Result<(), StoreError> {
        self.run_system(move |conn| {
            async move {
                sqlx::query("delete from auth.session_claims where session_id = $1 and holder = $2")
                    .bind(session)
                    .bind(holder)
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }
}
