//! Background tasks, the owner's side: queue, list, read, cancel, and the events a run writes
//! and its watchers read. Everything here runs as the task's owner, so RLS keeps users apart.
//! The worker's side (claim, heartbeat, finish) is in `task_queue.rs`.
//!
//! Every statement that adds an event first locks the task's row (an UPDATE of it, or
//! `FOR UPDATE`): the events of one task then commit in the order of their ids, and a watcher
//! that resumes after an id cannot miss an event committed late with a smaller one.

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Actor, Store, StoreError};
use crate::domain::{NewTask, Page, Task, TaskEvent, TaskStatus};

pub(super) const TASK_COLUMNS: &str = "t.id, t.user_id, t.session_id, t.agent, t.input, t.status, \
     t.progress, t.progress_message, t.result, t.error, t.attempts, t.max_attempts, \
     t.cancel_requested, t.created_at, t.updated_at, t.started_at, t.finished_at";

pub(super) const EVENT_COLUMNS: &str = "id, task_id, kind, data, created_at";

#[derive(sqlx::FromRow)]
pub(super) struct TaskRow {
    id: Uuid,
    user_id: Uuid,
    session_id: Option<Uuid>,
    agent: String,
    input: String,
    status: String,
    progress: f64,
    progress_message: Option<String>,
    result: Option<String>,
    error: Option<String>,
    attempts: i32,
    max_attempts: i32,
    cancel_requested: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

impl From<TaskRow> for Task {
    fn from(row: TaskRow) -> Self {
        Task {
            id: row.id,
            user_id: row.user_id,
            session_id: row.session_id,
            agent: row.agent,
            input: row.input,
            // The check constraint allows only the five statuses.
            status: TaskStatus::parse(&row.status).unwrap_or(TaskStatus::Failed),
            progress: row.progress,
            progress_message: row.progress_message,
            result: row.result,
            error: row.error,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            max_attempts: u32::try_from(row.max_attempts).unwrap_or(1),
            cancel_requested: row.cancel_requested,
            created_at: row.created_at,
            updated_at: row.updated_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    id: i64,
    task_id: Uuid,
    kind: String,
    data: Value,
    created_at: DateTime<Utc>,
}

impl From<EventRow> for TaskEvent {
    fn from(row: EventRow) -> Self {
        TaskEvent {
            id: row.id,
            task_id: row.task_id,
            kind: row.kind,
            data: row.data,
            created_at: row.created_at,
        }
    }
}

/// What the owner's cancel did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// It had not started: it is cancelled now.
    Cancelled(Task),
    /// It is running: the worker was asked to stop it (`cancel_requested`).
    Requested(Task),
    /// It had already ended (cancelled, succeeded or failed): nothing changed.
    AlreadyEnded(Task),
}

async fn select_task(conn: &mut PgConnection, id: Uuid) -> Result<Task, StoreError> {
    let row: TaskRow = sqlx::query_as(&format!(
        "select {TASK_COLUMNS} from public.tasks t where t.id = $1"
    ))
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// Adds an event to a task whose row the caller's transaction has locked.
async fn insert_event(
    conn: &mut PgConnection,
    task_id: Uuid,
    user_id: Uuid,
    kind: &str,
    data: Value,
) -> Result<(), StoreError> {
    sqlx::query("insert into public.task_events (task_id, user_id, kind, data) values ($1, $2, $3, $4)")
        .bind(task_id)
        .bind(user_id)
        .bind(kind)
        .bind(data)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// Queues a task for `owner` (RLS: `actor` must be that user). A `session_id` must name a
    /// session the caller sees (the foreign key alone would accept anyone's): `NotFound`
    /// otherwise.
    pub async fn create_task(&self, actor: Actor, owner: Uuid, new: NewTask) -> Result<Task, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                if let Some(session_id) = new.session_id {
                    let visible: bool = sqlx::query_scalar(
                        "select exists (select 1 from public.sessions where id = $1 and deleted_at is null)",
                    )
                    .bind(session_id)
                    .fetch_one(&mut *conn)
                    .await?;
                    if !visible {
                        return Err(StoreError::NotFound);
                    }
                }
                let row: TaskRow = sqlx::query_as(&format!(
                    "insert into public.tasks as t (user_id, agent, input, session_id)
                     values ($1, $2, $3, $4) returning {TASK_COLUMNS}"
                ))
                .bind(owner)
                .bind(new.agent)
                .bind(new.input)
                .bind(new.session_id)
                .fetch_one(conn)
                .await?;
                Ok(row.into())
            }
            .boxed()
        })
        .await
    }

    /// The caller's tasks, newest first, optionally of one status.
    pub async fn list_tasks(
        &self,
        actor: Actor,
        status: Option<TaskStatus>,
        page: Page,
    ) -> Result<Vec<Task>, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let rows: Vec<TaskRow> = sqlx::query_as(&format!(
                    "select {TASK_COLUMNS} from public.tasks t
                      where ($1::text is null or t.status = $1)
                      order by t.created_at desc, t.id desc limit $2 offset $3"
                ))
                .bind(status.map(TaskStatus::as_str))
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(conn)
                .await?;
                Ok(rows.into_iter().map(Task::from).collect())
            }
            .boxed()
        })
        .await
    }

    pub async fn get_task(&self, actor: Actor, id: Uuid) -> Result<Task, StoreError> {
        self.run_as(actor, move |conn| select_task(conn, id).boxed())
            .await
    }

    /// Cancels a queued task at once, or asks the worker to stop a running one. Each records
    /// an event (`finished` or `cancel_requested`), so watchers hear of it.
    pub async fn request_task_cancel(&self, actor: Actor, id: Uuid) -> Result<CancelOutcome, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let (status, user_id, requested): (String, Uuid, bool) = sqlx::query_as(
                    "select status, user_id, cancel_requested from public.tasks where id = $1 for update",
                )
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
                match TaskStatus::parse(&status) {
                    Some(TaskStatus::Queued) => {
                        let reason = "cancelled before it started";
                        sqlx::query("update public.tasks set status = 'cancelled', error = $2 where id = $1")
                            .bind(id)
                            .bind(reason)
                            .execute(&mut *conn)
                            .await?;
                        let data = json!({ "status": TaskStatus::Cancelled, "error": reason });
                        insert_event(conn, id, user_id, TaskEvent::FINISHED, data).await?;
                        Ok(CancelOutcome::Cancelled(select_task(conn, id).await?))
                    }
                    Some(TaskStatus::Running) => {
                        if !requested {
                            sqlx::query("update public.tasks set cancel_requested = true where id = $1")
                                .bind(id)
                                .execute(&mut *conn)
                                .await?;
                            insert_event(conn, id, user_id, TaskEvent::CANCEL_REQUESTED, json!({})).await?;
                        }
                        Ok(CancelOutcome::Requested(select_task(conn, id).await?))
                    }
                    _ => Ok(CancelOutcome::AlreadyEnded(select_task(conn, id).await?)),
                }
            }
            .boxed()
        })
        .await
    }

    /// Appends an event to a running task, as its owner, while the worker named `lease_owner`
    /// still holds it. `None`: it does not any more (the task ended, or another worker took it
    /// over), and nothing was written.
    pub async fn append_task_event(
        &self,
        actor: Actor,
        task_id: Uuid,
        lease_owner: String,
        kind: String,
        data: Value,
    ) -> Result<Option<TaskEvent>, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let row: Option<EventRow> = sqlx::query_as(&format!(
                    "with t as (select id, user_id from public.tasks
                                 where id = $1 and status = 'running' and lease_owner = $2 for update)
                     insert into public.task_events (task_id, user_id, kind, data)
                     select t.id, t.user_id, $3, $4 from t
                     returning {EVENT_COLUMNS}"
                ))
                .bind(task_id)
                .bind(lease_owner)
                .bind(kind)
                .bind(data)
                .fetch_optional(conn)
                .await?;
                Ok(row.map(TaskEvent::from))
            }
            .boxed()
        })
        .await
    }

    /// Sets a running task's progress (0 to 1) and message and records a `progress` event, as
    /// its owner, while the worker named `lease_owner` holds it (`None` otherwise).
    pub async fn set_task_progress(
        &self,
        actor: Actor,
        task_id: Uuid,
        lease_owner: String,
        progress: f64,
        message: Option<String>,
    ) -> Result<Option<TaskEvent>, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let row: Option<EventRow> = sqlx::query_as(&format!(
                    "with t as (update public.tasks set progress = $3, progress_message = $4
                                 where id = $1 and status = 'running' and lease_owner = $2
                                 returning id, user_id)
                     insert into public.task_events (task_id, user_id, kind, data)
                     select t.id, t.user_id, $5, jsonb_build_object('progress', $3::float8, 'message', $4::text)
                       from t
                     returning {EVENT_COLUMNS}"
                ))
                .bind(task_id)
                .bind(lease_owner)
                .bind(progress)
                .bind(message)
                .bind(TaskEvent::PROGRESS)
                .fetch_optional(conn)
                .await?;
                Ok(row.map(TaskEvent::from))
            }
            .boxed()
        })
        .await
    }

    /// A task's events with an id above `after`, in order (at most `limit`).
    pub async fn task_events_after(
        &self,
        actor: Actor,
        task_id: Uuid,
        after: i64,
        limit: i64,
    ) -> Result<Vec<TaskEvent>, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let rows: Vec<EventRow> = sqlx::query_as(&format!(
                    "select {EVENT_COLUMNS} from public.task_events
                      where task_id = $1 and id > $2 order by id limit $3"
                ))
                .bind(task_id)
                .bind(after)
                .bind(limit)
                .fetch_all(conn)
                .await?;
                Ok(rows.into_iter().map(TaskEvent::from).collect())
            }
            .boxed()
        })
        .await
    }
}
