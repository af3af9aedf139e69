//! The worker pool: claims tasks while a slot is free (woken by the notice of a task queued in
//! any replica, and polling for lapsed leases), runs each through the [`TaskExecutor`] as the task's
//! owner, keeps its lease alive with heartbeats, stops a run whose task was cancelled, and
//! records how each run ended. On shutdown it claims nothing more, lets the runs finish within
//! the drain time, and gives the unfinished ones back to the queue.
//!
//! A worker that dies (the process is killed) simply stops heartbeating: once the lease of its
//! tasks expires, another worker claims them again (see `Store::claim_tasks`).

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{MissedTickBehavior, Sleep};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{TaskExecutor, TaskFailure, TaskProgress, TaskService};
use crate::config::Settings;
use crate::domain::{Credential, Identity, Task, TaskOutcome};
use crate::store::{Actor, Notice, StoreError};

/// How long a cancelled run may take to stop before it is dropped.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// How one worker pool runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Runs at the same time (at least 1).
    pub concurrency: usize,
    /// How long a claim lasts without a heartbeat; heartbeats come every third of it.
    pub lease: Duration,
    /// How often an idle worker looks for tasks queued elsewhere.
    pub poll: Duration,
    /// On shutdown, how long running tasks may go on before they are given back to the queue.
    pub drain: Duration,
    /// The lease owner name: unique to this worker.
    pub name: String,
}

impl WorkerSettings {
    /// The configured pool: `tasks.concurrency`, `tasks.lease_secs`, and the shutdown grace
    /// period as the drain time.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            concurrency: usize::try_from(settings.tasks.concurrency).unwrap_or(1).max(1),
            lease: settings.tasks.lease,
            poll: Duration::from_secs(1),
            drain: settings.server.shutdown_grace,
            name: unique_name(),
        }
    }
}

/// `worker-<pid>-<random>`: unique across replicas and restarts.
fn unique_name() -> String {
    let random = Uuid::new_v4().simple().to_string();
    format!("worker-{}-{}", std::process::id(), &random[..12])
}

/// A running worker pool.
#[derive(Debug)]
pub struct TaskWorker {
    name: String,
    task: JoinHandle<()>,
}

/// What every run of one pool shares.
struct Pool {
    tasks: TaskService,
    executor: Arc<dyn TaskExecutor>,
    settings: WorkerSettings,
    name: Arc<str>,
}

impl TaskWorker {
    /// Starts the pool; it stops when `shutdown` is cancelled (see [`TaskWorker::wait`]).
    pub fn spawn(
        tasks: TaskService,
        executor: Arc<dyn TaskExecutor>,
        settings: WorkerSettings,
        shutdown: CancellationToken,
    ) -> Self {
        let name = settings.name.clone();
        let pool = Arc::new(Pool {
            tasks,
            executor,
            name: Arc::from(name.as_str()),
            settings,
        });
        Self {
            name,
            task: tokio::spawn(dispatch(pool, shutdown)),
        }
    }

    /// The lease owner name its claims carry.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits until the pool has stopped: after shutdown, its runs ended or given back.
    pub async fn wait(self) {
        if let Err(err) = self.task.await
            && err.is_panic()
        {
            tracing::error!(worker = %self.name, "the task worker panicked");
        }
    }

    /// Stops everything at once, as if the process had been killed: no run finishes, no
    /// task is given back, heartbeats stop. For tests of crash recovery.
    #[doc(hidden)]
    pub fn kill(&self) {
        self.task.abort();
    }
}

async fn dispatch(pool: Arc<Pool>, shutdown: CancellationToken) {
    let mut runs: JoinSet<()> = JoinSet::new();
    // Cancelled when the drain time is over: runs then stop and give their task back.
    let abandon = CancellationToken::new();
    let hub = pool.tasks.hub.clone();
    let mut notices = pool.tasks.store.notices();
    tracing::info!(worker = %pool.name, concurrency = pool.settings.concurrency, "task worker started");
    loop {
        while runs.try_join_next().is_some() {}
        let free = pool.settings.concurrency.saturating_sub(runs.len());
        if free > 0 {
            let claimed = pool
                .tasks
                .store
                .claim_tasks(
                    pool.name.to_string(),
                    u32::try_from(free).unwrap_or(u32::MAX),
                    pool.settings.lease,
                )
                .await;
            match claimed {
                Ok(tasks) => {
                    for task in tasks {
                        pool.tasks.announce(task.id);
                        runs.spawn(run(pool.clone(), task, abandon.clone()));
                    }
                }
                Err(err) => tracing::warn!(worker = %pool.name, %err, "claiming tasks failed; trying again"),
            }
        }
        let idle = runs.len() < pool.settings.concurrency;
        let fallback = tokio::time::sleep(pool.settings.poll);
        tokio::pin!(fallback);
        // Until there may be a task to claim: a queued one, a slot freed, or the poll (which
        // also finds the lapsed leases of a replica that died).
        let stop = loop {
            tokio::select! {
                () = shutdown.cancelled() => break true,
                Some(_) = runs.join_next(), if !runs.is_empty() => break false,
                () = &mut fallback => break false,
                notice = notices.recv() => match notice {
                    Ok(Notice::TaskCancelled { id }) => hub.cancel(id),
                    Ok(Notice::TaskQueued | Notice::Missed) | Err(RecvError::Lagged(_)) if idle => break false,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => {
                        (&mut fallback).await;
                        break false;
                    }
                },
            }
        };
        if stop {
            break;
        }
    }
    if !runs.is_empty() {
        tracing::info!(worker = %pool.name, running = runs.len(), "waiting for running tasks to finish");
        let drained = tokio::time::timeout(pool.settings.drain, async {
            while runs.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::info!(worker = %pool.name, running = runs.len(), "giving unfinished tasks back to the queue");
            abandon.cancel();
            while runs.join_next().await.is_some() {}
        }
    }
    tracing::info!(worker = %pool.name, "task worker stopped");
}

/// How a run's supervision ended.
enum End {
    /// The executor returned (or panicked: `None`).
    Returned(Option<Result<String, TaskFailure>>),
    /// Cancelled, and the run did not stop within the grace period.
    Unresponsive,
    /// Another worker holds the task now.
    Lost,
    /// Shutdown past the drain time.
    Abandoned,
}

/// Runs one claimed task to its end.
async fn run(pool: Arc<Pool>, task: Task, abandon: CancellationToken) {
    let id = task.id;
    let cancel = CancellationToken::new();
    let _registered = Registered::new(&pool.tasks, id, cancel.clone());
    if task.cancel_requested {
        cancel.cancel();
    }
    let owner = match pool.tasks.store.get_user(Actor::System, task.user_id).await {
        Ok(user) if !user.disabled => Identity {
            user,
            credential: Credential::Task { task_id: id },
        },
        Ok(_) => {
            let outcome = TaskOutcome::Failed {
                error: "the task's owner is disabled".into(),
            };
            finish(&pool, id, outcome).await;
            return;
        }
        // The owner was deleted, and the task with them.
        Err(StoreError::NotFound) => return,
        Err(err) => {
            // Heartbeats stop: the lease expires and the task is claimed again.
            tracing::warn!(task = %id, %err, "cannot load the task's owner; the task will be retried");
            return;
        }
    };
    let progress = TaskProgress::new(pool.tasks.clone(), id, pool.name.clone(), owner);
    let mut execution = AssertUnwindSafe(pool.executor.run(task, progress, cancel.clone())).catch_unwind();
    let mut heartbeat = tokio::time::interval(pool.settings.lease / 3);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    heartbeat.tick().await;
    let mut grace: Option<Pin<Box<Sleep>>> = None;
    let end = loop {
        tokio::select! {
            returned = &mut execution => {
                if returned.is_err() {
                    tracing::error!(task = %id, "the task executor panicked");
                }
                break End::Returned(returned.ok());
            }
            _ = heartbeat.tick() => {
                match pool.tasks.store.heartbeat_task(id, pool.name.to_string(), pool.settings.lease).await {
                    Ok(Some(true)) => cancel.cancel(),
                    Ok(Some(false)) => {}
                    Ok(None) => break End::Lost,
                    // The database may come back before the lease runs out.
                    Err(err) => tracing::warn!(task = %id, %err, "task heartbeat failed"),
                }
            }
            () = cancel.cancelled(), if grace.is_none() => {
                grace = Some(Box::pin(tokio::time::sleep(CANCEL_GRACE)));
            }
            () = expiry(&mut grace) => break End::Unresponsive,
            () = abandon.cancelled() => break End::Abandoned,
        }
    };
    // Whatever the run still holds goes before the outcome is recorded.
    drop(execution);
    let outcome = match end {
        End::Returned(Some(Ok(result))) => TaskOutcome::Succeeded { result },
        End::Returned(Some(Err(TaskFailure::Failed(error)))) => TaskOutcome::Failed { error },
        End::Returned(Some(Err(TaskFailure::Cancelled(reason)))) => TaskOutcome::Cancelled { reason },
        End::Returned(None) => TaskOutcome::Failed {
            error: "the agent run crashed (it panicked); the server log has the details".into(),
        },
        End::Unresponsive => TaskOutcome::Cancelled {
            reason: format!(
                "cancelled; the run did not stop within {} s and was abandoned",
                CANCEL_GRACE.as_secs()
            ),
        },
        End::Lost => {
            tracing::warn!(task = %id, worker = %pool.name, "lost the task's lease; another worker runs it now");
            return;
        }
        End::Abandoned => {
            let reason = "the worker running it shut down".to_owned();
            match pool
                .tasks
                .store
                .release_task(id, pool.name.to_string(), reason)
                .await
            {
                Ok(_) => pool.tasks.announce(id),
                Err(err) => {
                    tracing::warn!(task = %id, %err, "cannot give the task back; it is retried when its lease expires");
                }
            }
            return;
        }
    };
    finish(&pool, id, outcome).await;
}

/// Pends until the grace period, once started, is over.
async fn expiry(grace: &mut Option<Pin<Box<Sleep>>>) {
    match grace {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

/// Records the outcome, trying again while the lease lasts if the database is away (after
/// that, the task is claimed again and runs once more).
async fn finish(pool: &Pool, id: Uuid, outcome: TaskOutcome) {
    let deadline = tokio::time::Instant::now() + pool.settings.lease;
    loop {
        match pool
            .tasks
            .store
            .finish_task(id, pool.name.to_string(), outcome.clone())
            .await
        {
            Ok(true) => {
                pool.tasks.announce(id);
                return;
            }
            Ok(false) => {
                tracing::warn!(task = %id, worker = %pool.name, "the task was no longer this worker's when it ended");
                return;
            }
            Err(err) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(task = %id, %err, "cannot record how the task ended; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(err) => {
                tracing::error!(task = %id, %err, "cannot record how the task ended; it will run again");
                return;
            }
        }
    }
}

/// Makes a run's cancel token reachable from [`TaskService::cancel`] while the run lasts
/// (also when the run is dropped).
struct Registered {
    tasks: TaskService,
    id: Uuid,
}

impl Registered {
    fn new(tasks: &TaskService, id: Uuid, cancel: CancellationToken) -> Self {
        tasks.hub.running().insert(id, cancel);
        Self {
            tasks: tasks.clone(),
            id,
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.tasks.hub.running().remove(&self.id);
    }
}
