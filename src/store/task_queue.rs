//! Background tasks, the worker's side: claiming queued tasks (and the tasks of workers that
//! stopped answering), keeping the lease, and recording how a run ended. This runs as the
//! platform (owner role, no RLS): a worker serves every user. A worker is named by its lease
//! owner string; every write after the claim checks that the worker still holds the lease, so a
//! worker that lost its task (its lease expired and another took over) can change nothing.

use std::time::Duration;

use futures::FutureExt;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::tasks::{TASK_COLUMNS, TaskRow};
use super::{Actor, Store, StoreError};
use crate::domain::{Task, TaskEvent, TaskOutcome};

/// A running task whose lease has expired: its worker died or lost the database.
#[derive(sqlx::FromRow)]
struct Expired {
    id: Uuid,
    exhausted: bool,
    cancel_requested: bool,
}

/// Ends the expired tasks that must not run again: cancelled by their owner, or out of
/// attempts. Records their `finished` events.
async fn end_expired(conn: &mut PgConnection, ids: Vec<Uuid>) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "with ended as (
            update public.tasks t set
                status = case when t.cancel_requested then 'cancelled' else 'failed' end,
                error = case when t.cancel_requested
                    then 'cancelled; its worker stopped answering before it could stop the run'
                    else format('its worker stopped answering (the lease expired) on attempt %s of %s; '
                                || 'it is not retried', t.attempts, t.max_attempts) end
             where t.id = any($1)
             returning t.id, t.user_id, t.status, t.error)
         insert into public.task_events (task_id, user_id, kind, data)
         select id, user_id, $2, jsonb_build_object('status', status, 'error', error) from ended",
    )
    .bind(ids)
    .bind(TaskEvent::FINISHED)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims the expired tasks in `resumed` and up to `queued_limit` queued ones, oldest first,
/// and records a `started` event for each.
async fn claim(
    conn: &mut PgConnection,
    owner: &str,
    lease: Duration,
    resumed: Vec<Uuid>,
    queued_limit: i64,
) -> Result<Vec<Task>, StoreError> {
    let rows: Vec<TaskRow> = sqlx::query_as(&format!(
        "with queued as (
            select id from public.tasks where status = 'queued'
             order by created_at limit $3 for update skip locked),
         picked as (select id from queued union all select unnest($4::uuid[])),
         claimed as (
            update public.tasks t set status = 'running', lease_owner = $1,
                   lease_expires_at = now() + make_interval(secs => $2), heartbeat_at = now(),
                   attempts = t.attempts + 1
              from picked p where t.id = p.id
            returning t.*),
         started as (
            insert into public.task_events (task_id, user_id, kind, data)
            select c.id, c.user_id, $5, jsonb_build_object('attempt', c.attempts, 'worker', $1::text)
              from claimed c)
         select {TASK_COLUMNS} from claimed t order by t.created_at"
    ))
    .bind(owner)
    .bind(lease.as_secs_f64())
    .bind(queued_limit)
    .bind(resumed)
    .bind(TaskEvent::STARTED)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Task::from).collect())
}

impl Store {
    /// Claims up to `limit` tasks for the worker `owner`, with a lease of `lease`: first the
    /// running tasks whose lease expired (their worker died; `attempts` counts the new run),
    /// then queued ones, oldest first. `FOR UPDATE SKIP LOCKED`: concurrent workers never
    /// claim the same task. An expired task that its owner asked to cancel is cancelled, and
    /// one whose attempts reached `max_attempts` fails, instead of running again.
    pub async fn claim_tasks(
        &self,
        owner: String,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Task>, StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move {
                let limit = i64::from(limit);
                let expired: Vec<Expired> = sqlx::query_as(
                    "select id, attempts >= max_attempts as exhausted, cancel_requested
                       from public.tasks where status = 'running' and lease_expires_at < now()
                      order by lease_expires_at limit $1 for update skip locked",
                )
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?;
                let (ended, resumed): (Vec<Expired>, Vec<Expired>) = expired
                    .into_iter()
                    .partition(|task| task.exhausted || task.cancel_requested);
                end_expired(conn, ended.iter().map(|task| task.id).collect()).await?;
                let queued_limit = limit - i64::try_from(resumed.len()).unwrap_or(limit);
                claim(
                    conn,
                    &owner,
                    lease,
                    resumed.iter().map(|task| task.id).collect(),
                    queued_limit,
                )
                .await
            }
            .boxed()
        })
        .await
    }

    /// Extends the lease of a task the worker `owner` runs. `Some(cancel_requested)` while it
    /// holds the task; `None` when it does not any more (another worker took it over, or the
    /// task ended): the worker must stop the run.
    pub async fn heartbeat_task(
        &self,
        id: Uuid,
        owner: String,
        lease: Duration,
    ) -> Result<Option<bool>, StoreError> {
        self.run_system(move |conn| {
            async move {
                Ok(sqlx::query_scalar(
                    "update public.tasks set lease_expires_at = now() + make_interval(secs => $3),
                            heartbeat_at = now()
                      where id = $1 and status = 'running' and lease_owner = $2
                      returning cancel_requested",
                )
                .bind(id)
                .bind(owner)
                .bind(lease.as_secs_f64())
                .fetch_optional(conn)
                .await?)
            }
            .boxed()
        })
        .await
    }

    /// Records how a run ended, with its `finished` event, if the worker `owner` still holds
    /// the task (false: it does not, and nothing changed).
    pub async fn finish_task(
        &self,
        id: Uuid,
        owner: String,
        outcome: TaskOutcome,
    ) -> Result<bool, StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move {
                let status = outcome.status();
                let (result, error) = match outcome {
                    TaskOutcome::Succeeded { result } => (Some(result), None),
                    TaskOutcome::Failed { error } => (None, Some(error)),
                    TaskOutcome::Cancelled { reason } => (None, Some(reason)),
                };
                let mut data = json!({ "status": status });
                if let Some(result) = &result {
                    data["result"] = json!(result);
                }
                if let Some(error) = &error {
                    data["error"] = json!(error);
                }
                let finished = sqlx::query(
                    "with done as (
                        update public.tasks set status = $3, result = $4, error = $5
                         where id = $1 and status = 'running' and lease_owner = $2
                         returning id, user_id)
                     insert into public.task_events (task_id, user_id, kind, data)
                     select id, user_id, $6, $7 from done",
                )
                .bind(id)
                .bind(owner)
                .bind(status.as_str())
                .bind(result)
                .bind(error)
                .bind(TaskEvent::FINISHED)
                .bind(data)
                .execute(conn)
                .await?;
                Ok(finished.rows_affected() > 0)
            }
            .boxed()
        })
        .await
    }

    /// Gives a running task back to the queue (a worker shutting down before the run ended):
    /// another worker, or this one after a restart, starts it again right away instead of
    /// waiting for the lease to expire. The interrupted run does not count as an attempt.
    pub async fn release_task(&self, id: Uuid, owner: String, reason: String) -> Result<bool, StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move {
                let released = sqlx::query(
                    "with back as (
                        update public.tasks set status = 'queued', lease_owner = null,
                               lease_expires_at = null, heartbeat_at = null,
                               attempts = greatest(attempts - 1, 0)
                         where id = $1 and status = 'running' and lease_owner = $2
                         returning id, user_id)
                     insert into public.task_events (task_id, user_id, kind, data)
                     select id, user_id, $3, jsonb_build_object('reason', $4::text) from back",
                )
                .bind(id)
                .bind(owner)
                .bind(TaskEvent::REQUEUED)
                .bind(reason)
                .execute(conn)
                .await?;
                Ok(released.rows_affected() > 0)
            }
            .boxed()
        })
        .await
    }
}
