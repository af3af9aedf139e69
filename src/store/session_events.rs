//! The events of a session's latest answer (see the `session_events` migration), written by the
//! replica that runs it and read by any replica that follows it. As the session's owner.

use futures::FutureExt;
use serde_json::Value;
use uuid::Uuid;

use super::{Actor, Store, StoreError};
use crate::domain::SessionEvent;

impl Store {
    /// Forgets the events of the session's previous answer (a new one starts).
    pub async fn clear_session_events(&self, actor: Actor, session_id: Uuid) -> Result<(), StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                sqlx::query("delete from public.session_events where session_id = $1")
                    .bind(session_id)
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// Appends `events` (kind, data) in order, in one statement.
    pub async fn append_session_events(
        &self,
        actor: Actor,
        session_id: Uuid,
        events: Vec<(String, Value)>,
    ) -> Result<(), StoreError> {
        let (kinds, data): (Vec<String>, Vec<Value>) = events.into_iter().unzip();
        self.run_as(actor, move |conn| {
            async move {
                // `with ordinality` keeps the order of the arrays in the ids.
                sqlx::query(
                    "insert into public.session_events (session_id, user_id, kind, data)
                     select s.id, s.user_id, e.kind, e.data
                       from public.sessions s,
                            unnest($2::text[], $3::jsonb[]) with ordinality as e(kind, data, n)
                      where s.id = $1
                      order by e.n",
                )
                .bind(session_id)
                .bind(kinds)
                .bind(data)
                .execute(conn)
                .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// The session's events with an id above `after`, in order (at most `limit`).
    pub async fn session_events_after(
        &self,
        actor: Actor,
        session_id: Uuid,
        after: i64,
        limit: i64,
    ) -> Result<Vec<SessionEvent>, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let rows: Vec<(i64, String, Value)> = sqlx::query_as(
                    "select id, kind, data from public.session_events
                      where session_id = $1 and id > $2 order by id limit $3",
                )
                .bind(session_id)
                .bind(after)
                .bind(limit)
                .fetch_all(conn)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, kind, data)| SessionEvent { id, kind, data })
                    .collect())
            }
            .boxed()
        })
        .await
    }
}
