//! What a worker runs for a task: the [`TaskExecutor`] (the agent runner plugs in here), and
//! the [`TaskProgress`] handle through which a run reports how it goes.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::TaskService;
use crate::domain::{Identity, Task, TaskEvent};
use crate::service::ServiceError;
use crate::store::Actor;

/// The largest event payload accepted, as serialized JSON.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// Runs one task. The worker calls it with the claimed task, a [`TaskProgress`] for events,
/// and a token that is cancelled when the owner cancels the task.
///
/// Contract: return `Ok(result)` with the answer; `Err(TaskFailure::Failed)` with a message
/// the owner can act on; `Err(TaskFailure::Cancelled)` once the token is cancelled (a run that
/// ignores the token for 10 s is dropped and recorded as cancelled). The run may be dropped at
/// any await point (shutdown past the drain time, a lost lease), and a task may run again from
/// the start when a worker died (`task.attempts > 1`): keep side effects safe to repeat.
pub trait TaskExecutor: Send + Sync + 'static {
    fn run(
        &self,
        task: Task,
        progress: TaskProgress,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<String, TaskFailure>>;
}

/// Why a run did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskFailure {
    /// It went wrong; the message is shown to the owner as the task's error.
    #[error("{0}")]
    Failed(String),
    /// It stopped because it was cancelled; the message says where it stopped.
    #[error("cancelled: {0}")]
    Cancelled(String),
}

/// Why an event could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    /// This worker no longer holds the task (the task ended, or its lease expired and another
    /// worker took it over): stop the run, nothing more will be recorded.
    #[error("the task is no longer this worker's to run")]
    Lost,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// The handle a run reports through. Events are written as the task's owner and only while
/// this worker holds the task. Cheap to clone.
#[derive(Clone)]
pub struct TaskProgress {
    tasks: TaskService,
    task_id: Uuid,
    /// The worker's lease owner name.
    worker: Arc<str>,
    owner: Arc<Identity>,
}

impl std::fmt::Debug for TaskProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskProgress")
            .field("task_id", &self.task_id)
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl TaskProgress {
    pub(super) fn new(tasks: TaskService, task_id: Uuid, worker: Arc<str>, owner: Identity) -> Self {
        Self {
            tasks,
            task_id,
            worker,
            owner: Arc::new(owner),
        }
    }

    /// Whom the task runs as: its owner. Tools must be called with this identity, so they act
    /// under the owner's row-level security and nothing more.
    pub fn owner(&self) -> &Identity {
        &self.owner
    }

    pub fn task_id(&self) -> Uuid {
        self.task_id
    }

    /// Records an event of the run's own, e.g. `token` `{text}`, `tool_call` `{name, arguments}`,
    /// `tool_result` `{name, result}`. `kind`: lower-case letters, digits and `_`, starting
    /// with a letter, at most 64, not one the platform writes itself (`started`, `progress`,
    /// `finished`...); `data`: a JSON object of at most 256 KiB. Every event is a database
    /// write that watchers replay: batch tokens (a line, or every ~100 ms) rather than sending
    /// each one.
    pub async fn event(&self, kind: &str, data: Value) -> Result<TaskEvent, ProgressError> {
        check_kind(kind)?;
        check_event_data(&data)?;
        let event = self
            .tasks
            .store
            .append_task_event(
                Actor::User(self.owner.user_id()),
                self.task_id,
                self.worker.to_string(),
                kind.to_owned(),
                data,
            )
            .await
            .map_err(ServiceError::from)?
            .ok_or(ProgressError::Lost)?;
        self.tasks.announce(self.task_id);
        Ok(event)
    }

    /// Sets how far the run is (0 to 1; values outside are clamped) with an optional message,
    /// shown on the task and sent to watchers as a `progress` event.
    pub async fn set_progress(
        &self,
        fraction: f64,
        message: Option<String>,
    ) -> Result<TaskEvent, ProgressError> {
        if !fraction.is_finite() {
            return Err(ProgressError::Invalid(format!(
                "progress must be a number from 0 to 1, not {fraction}"
            )));
        }
        if let Some(message) = &message {
            check_payload(&Value::from(message.as_str()))?;
        }
        let event = self
            .tasks
            .store
            .set_task_progress(
                Actor::User(self.owner.user_id()),
                self.task_id,
                self.worker.to_string(),
                fraction.clamp(0.0, 1.0),
                message,
            )
            .await
            .map_err(ServiceError::from)?
            .ok_or(ProgressError::Lost)?;
        self.tasks.announce(self.task_id);
        Ok(event)
    }
}

fn check_kind(kind: &str) -> Result<(), ProgressError> {
    let mut chars = kind.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && kind.len() <= 64;
    if !well_formed {
        return Err(ProgressError::Invalid(format!(
            "event kind {kind:?} must be lower-case letters, digits and _, starting with a letter, at most 64"
        )));
    }
    if TaskEvent::RESERVED.contains(&kind) {
        return Err(ProgressError::Invalid(format!(
            "the event kind `{kind}` is written by the platform itself"
        )));
    }
    Ok(())
}

fn check_event_data(data: &Value) -> Result<(), ProgressError> {
    if !data.is_object() {
        return Err(ProgressError::Invalid("event data must be a JSON object".into()));
    }
    check_payload(data)
}

/// Bounded, and storable (no NUL).
fn check_payload(data: &Value) -> Result<(), ProgressError> {
    let text = data.to_string();
    if text.len() > MAX_EVENT_BYTES {
        return Err(ProgressError::Invalid(format!(
            "event data is {} bytes; at most {MAX_EVENT_BYTES} are allowed",
            text.len()
        )));
    }
    // Postgres jsonb cannot hold NUL (serialized as \u0000).
    if text.contains("\\u0000") {
        return Err(ProgressError::Invalid(
            "event data must not contain NUL characters".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_checked_and_reserved_ones_refused() {
        assert!(check_kind("tool_call").is_ok());
        assert!(check_kind("token2").is_ok());
        for bad in ["", "Token", "2x", "tool-call", "finished", "started", "error"] {
            assert!(check_kind(bad).is_err(), "{bad}");
        }
        assert!(check_kind(&"a".repeat(65)).is_err());
    }

    #[test]
    fn data_must_be_a_bounded_object() {
        assert!(check_event_data(&serde_json::json!({"text": "hi"})).is_ok());
        assert!(check_event_data(&serde_json::json!([1, 2])).is_err());
        assert!(check_event_data(&serde_json::json!({"text": "a\u{0}b"})).is_err());
        assert!(check_event_data(&serde_json::json!({"text": "x".repeat(MAX_EVENT_BYTES)})).is_err());
    }
}
