//! Background tasks: an agent run queued in the database, its status, and the events that tell
//! its watchers how it goes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// Whether the task has ended: nothing will change it any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

/// A background task (the `tasks` table, without the worker's lease bookkeeping).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Task {
    pub id: Uuid,
    pub user_id: Uuid,
    pub session_id: Option<Uuid>,
    /// The agent that runs it, by name.
    pub agent: String,
    pub input: String,
    pub status: TaskStatus,
    /// 0 to 1, as the run last reported it.
    pub progress: f64,
    pub progress_message: Option<String>,
    /// The run's answer, once it succeeded.
    pub result: Option<String>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// Runs started so far: more than one when a worker died and another took the task over.
    pub attempts: u32,
    pub max_attempts: u32,
    /// The owner asked to cancel it while it ran; the run is being stopped.
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One step of a task's story, in order: `id` is the sequence a watcher resumes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskEvent {
    pub id: i64,
    pub task_id: Uuid,
    pub kind: String,
    /// Always a JSON object.
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

impl TaskEvent {
    /// A worker started a run: `{attempt, worker}`.
    pub const STARTED: &'static str = "started";
    /// The run reported how far it got: `{progress, message}`.
    pub const PROGRESS: &'static str = "progress";
    /// The owner asked to cancel the running task: `{}`.
    pub const CANCEL_REQUESTED: &'static str = "cancel_requested";
    /// A shutting-down worker gave the task back to the queue: `{reason}`.
    pub const REQUEUED: &'static str = "requeued";
    /// The task ended; always its last event: `{status, result?, error?}`.
    pub const FINISHED: &'static str = "finished";
    /// Kinds the platform writes itself; an agent run may not write them.
    pub const RESERVED: [&'static str; 6] = [
        Self::STARTED,
        Self::PROGRESS,
        Self::CANCEL_REQUESTED,
        Self::REQUEUED,
        Self::FINISHED,
        // the SSE stream's own error event
        "error",
    ];
}

/// A task to queue for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub agent: String,
    pub input: String,
    pub session_id: Option<Uuid>,
}

/// How a run ended, as the worker records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    Succeeded { result: String },
    Failed { error: String },
    Cancelled { reason: String },
}

impl TaskOutcome {
    pub fn status(&self) -> TaskStatus {
        match self {
            TaskOutcome::Succeeded { .. } => TaskStatus::Succeeded,
            TaskOutcome::Failed { .. } => TaskStatus::Failed,
            TaskOutcome::Cancelled { .. } => TaskStatus::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                Value::from(status.as_str())
            );
        }
        assert_eq!(TaskStatus::parse("paused"), None);
        assert!(TaskStatus::Cancelled.is_terminal() && !TaskStatus::Running.is_terminal());
    }
}
