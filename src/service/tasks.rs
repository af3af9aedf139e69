//! Background tasks: an agent run queued in Postgres and run by a worker pool (`worker.rs`) in
//! whichever replica claims it first. The owner queues, lists, reads and cancels their tasks and
//! follows a task's events (`events.rs`); the agent run itself sits behind [`TaskExecutor`]
//! (`executor.rs`), so the queue knows nothing of models and tools.

mod events;
mod executor;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use events::TaskEventStream;
pub use executor::{ProgressError, TaskExecutor, TaskFailure, TaskProgress};
pub use worker::{TaskWorker, WorkerSettings};

use super::ServiceError;
use super::agents::AgentService;
use crate::domain::{Identity, NewTask, Page, Task, TaskStatus};
use crate::store::{Actor, CancelOutcome, Notice, Store, StoreError};

/// The longest task input accepted, in characters.
pub const MAX_INPUT_CHARS: usize = 32 * 1024;
/// Agent names are at most this long (the `tasks_agent_check` constraint).
const MAX_AGENT_CHARS: usize = 100;

/// A task the caller asks for.
#[derive(Debug, Clone)]
pub struct CreateTask {
    /// The agent's name, as `GET /api/v1/agents` lists it.
    pub agent: String,
    pub input: String,
    /// A chat session of the caller's that the task belongs to.
    pub session_id: Option<Uuid>,
}

/// The runs of this process. Workers and watchers of every replica learn of queued tasks, new
/// events and cancels from the store's change notices (`Store::notify`), so nothing waits for
/// a poll; the polls are a fallback for a lost notice and a lapsed lease.
#[derive(Debug, Default)]
struct TaskHub {
    /// The cancel tokens of the runs in this process, so a cancel stops them at once rather
    /// than at the next heartbeat.
    running: Mutex<HashMap<Uuid, CancellationToken>>,
}

impl TaskHub {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, CancellationToken>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the run of `task_id` if this process runs it.
    fn cancel(&self, task_id: Uuid) {
        if let Some(token) = self.running().get(&task_id) {
            token.cancel();
        }
    }
}

#[derive(Debug, Clone)]
pub struct TaskService {
    store: Store,
    agents: AgentService,
    hub: Arc<TaskHub>,
}

impl TaskService {
    pub fn new(store: Store, agents: AgentService) -> Self {
        Self {
            store,
            agents,
            hub: Arc::default(),
        }
    }

    /// Tells every replica's watchers that `task_id` has new events or a new state.
    fn announce(&self, task_id: Uuid) {
        self.store.notify(Notice::Task { id: task_id });
    }

    /// Queues a task for the caller; a worker picks it up as soon as a slot is free.
    pub async fn create(&self, caller: &Identity, request: CreateTask) -> Result<Task, ServiceError> {
        let agent = self.check_agent(caller, &request.agent).await?;
        check_input(&request.input)?;
        let new = NewTask {
            agent,
            input: request.input,
            session_id: request.session_id,
        };
        let task = self
            .store
            .create_task(Actor::User(caller.user_id()), caller.user_id(), new)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => ServiceError::invalid(
                    "session_id",
                    "no session of yours has this id (leave session_id out for a task of its own)",
                ),
                other => other.into(),
            })?;
        self.store.notify(Notice::TaskQueued);
        Ok(task)
    }

    /// The agent's name, once the caller may use it.
    async fn check_agent(&self, caller: &Identity, raw: &str) -> Result<String, ServiceError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ServiceError::invalid(
                "agent",
                "agent is required: the name of an agent from GET /api/v1/agents",
            ));
        }
        if name.chars().count() > MAX_AGENT_CHARS || name.chars().any(char::is_control) {
            return Err(unknown_agent(name));
        }
        match self.agents.get(caller, name).await {
            Ok(agent) if agent.enabled => Ok(agent.name),
            Ok(agent) => Err(ServiceError::invalid(
                "agent",
                format!("the agent `{}` is disabled", agent.name),
            )),
            Err(ServiceError::NotFound(_)) => Err(unknown_agent(name)),
            Err(other) => Err(other),
        }
    }

    /// The caller's tasks, newest first; `status` narrows them to one status.
    pub async fn list(
        &self,
        caller: &Identity,
        status: Option<&str>,
        page: Page,
    ) -> Result<Vec<Task>, ServiceError> {
        let status = status.map(parse_status).transpose()?;
        Ok(self
            .store
            .list_tasks(Actor::User(caller.user_id()), status, page)
            .await?)
    }

    /// One of the caller's tasks (another user's is "not found", like one that never was).
    pub async fn get(&self, caller: &Identity, id: Uuid) -> Result<Task, ServiceError> {
        self.store
            .get_task(Actor::User(caller.user_id()), id)
            .await
            .map_err(not_found)
    }

    /// Cancels a queued task at once; a running one is stopped by its worker (at once, in any
    /// replica; within a heartbeat should the notice be lost) and ends `cancelled`. Cancelling a
    /// cancelled task again changes nothing; a task that succeeded or failed cannot be.
    pub async fn cancel(&self, caller: &Identity, id: Uuid) -> Result<Task, ServiceError> {
        let outcome = self
            .store
            .request_task_cancel(Actor::User(caller.user_id()), id)
            .await
            .map_err(not_found)?;
        match outcome {
            CancelOutcome::Cancelled(task) => {
                self.announce(id);
                Ok(task)
            }
            CancelOutcome::Requested(task) => {
                // At once here; the replica that runs it cancels it on the notice.
                self.hub.cancel(id);
                self.store.notify(Notice::TaskCancelled { id });
                self.announce(id);
                Ok(task)
            }
            CancelOutcome::AlreadyEnded(task) if task.status == TaskStatus::Cancelled => Ok(task),
            CancelOutcome::AlreadyEnded(task) => Err(ServiceError::Conflict {
                code: "task_finished",
                message: format!(
                    "the task has already {}; there is nothing to cancel",
                    task.status.as_str()
                ),
            }),
        }
    }
}

fn not_found(err: StoreError) -> ServiceError {
    match err {
        StoreError::NotFound => ServiceError::NotFound("task"),
        other => other.into(),
    }
}

fn unknown_agent(name: &str) -> ServiceError {
    let shown: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_AGENT_CHARS)
        .collect();
    ServiceError::invalid(
        "agent",
        format!("there is no agent called `{shown}`; GET /api/v1/agents lists the agents you can use"),
    )
}

fn check_input(input: &str) -> Result<(), ServiceError> {
    if input.trim().is_empty() {
        return Err(ServiceError::invalid(
            "input",
            "input is required: tell the agent what to do",
        ));
    }
    let chars = input.chars().count();
    if chars > MAX_INPUT_CHARS {
        return Err(ServiceError::invalid(
            "input",
            format!("input has {chars} characters; at most {MAX_INPUT_CHARS} are allowed"),
        ));
    }
    // Postgres text cannot hold NUL.
    if input.contains('\0') {
        return Err(ServiceError::invalid(
            "input",
            "input must not contain NUL characters",
        ));
    }
    Ok(())
}

fn parse_status(raw: &str) -> Result<TaskStatus, ServiceError> {
    TaskStatus::parse(raw.trim()).ok_or_else(|| {
        let names: Vec<&str> = TaskStatus::ALL.into_iter().map(TaskStatus::as_str).collect();
        ServiceError::invalid("status", format!("status must be one of {}", names.join(", ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_rules() {
        assert!(check_input("summarise the sales").is_ok());
        assert!(check_input(" \n\t").is_err());
        assert!(check_input("a\0b").is_err());
        assert!(check_input(&"é".repeat(MAX_INPUT_CHARS)).is_ok());
        assert!(check_input(&"x".repeat(MAX_INPUT_CHARS + 1)).is_err());
    }

    #[test]
    fn status_filter_names_the_allowed_values() {
        assert_eq!(parse_status("running").unwrap(), TaskStatus::Running);
        let err = parse_status("done").unwrap_err().to_string();
        assert!(
            err.contains("queued, running, succeeded, failed, cancelled"),
            "{err}"
        );
    }
}
