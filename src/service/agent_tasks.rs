//! Background tasks run agents: the task executor that turns a claimed task into an agent run
//! as the task's owner (in the task's session, or a new one), and the run's events into the
//! task's replayable events — `message`, `token` (batched), `tool_call`, `tool_result`,
//! `agent_error`, and `answer` (the run's summary) before the worker's own `finished`.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::chat::events::AgentEvent;
use super::chat::{ChatService, TaskInput};
use super::tasks::{ProgressError, TaskExecutor, TaskFailure, TaskProgress};
use crate::domain::{MessageStatus, Task};

/// Tokens are written as one event per line or per this interval, not one row per token.
const TOKEN_FLUSH: Duration = Duration::from_millis(100);
const EVENT_BUFFER: usize = 256;

#[derive(Debug, Clone)]
pub struct AgentTaskExecutor {
    chat: ChatService,
}

impl AgentTaskExecutor {
    pub fn new(chat: ChatService) -> Self {
        Self { chat }
    }
}

impl TaskExecutor for AgentTaskExecutor {
    fn run(
        &self,
        task: Task,
        progress: TaskProgress,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<String, TaskFailure>> {
        Box::pin(async move {
            let (sender, events) = mpsc::channel(EVENT_BUFFER);
            let owner = progress.owner().clone();
            let input = TaskInput {
                task_id: task.id,
                agent: task.agent,
                input: task.input,
                session_id: task.session_id,
            };
            // The run stops when the task is cancelled or when this worker loses the task.
            let stop = cancel.child_token();
            let run = self.chat.run_task(&owner, input, sender, stop.clone());
            let (outcome, ()) = tokio::join!(run, forward(events, &progress, &stop));
            let (_, summary) = outcome.map_err(|err| TaskFailure::Failed(err.to_string()))?;
            match summary.status {
                MessageStatus::Complete => Ok(summary.answer),
                MessageStatus::Interrupted => Err(TaskFailure::Cancelled(format!(
                    "stopped after {} model calls",
                    summary.steps
                ))),
                MessageStatus::Error | MessageStatus::Streaming => Err(TaskFailure::Failed(
                    "the agent run failed; see its agent_error event".into(),
                )),
            }
        })
    }
}

/// Copies a run's events into the task until the run ends. Tokens are joined into lines (or
/// 100 ms worth) so a watcher's replay stays short.
async fn forward(mut events: mpsc::Receiver<AgentEvent>, progress: &TaskProgress, stop: &CancellationToken) {
    let mut pending = String::new();
    let mut since = Instant::now();
    let mut steps = 0u32;
    while let Some(event) = events.recv().await {
        let written = match event {
            // The complete call is recorded when it comes; its pieces are for live viewers.
            AgentEvent::ToolCallDelta { .. } => Ok(()),
            AgentEvent::Token(text) => {
                pending.push_str(&text);
                if pending.contains('\n') || since.elapsed() >= TOKEN_FLUSH {
                    since = Instant::now();
                    flush(progress, &mut pending).await
                } else {
                    Ok(())
                }
            }
            other => {
                let flushed = flush(progress, &mut pending).await;
                flushed.and(record(progress, &other, &mut steps).await)
            }
        };
        if let Err(ProgressError::Lost) = written {
            stop.cancel();
        } else if let Err(err) = written {
            tracing::warn!(%err, task = %progress.task_id(), "a task event was not recorded");
        }
    }
}

async fn flush(progress: &TaskProgress, pending: &mut String) -> Result<(), ProgressError> {
    if pending.is_empty() {
        return Ok(());
    }
    let text = std::mem::take(pending);
    progress.event("token", json!({ "text": text })).await.map(drop)
}

async fn record(progress: &TaskProgress, event: &AgentEvent, steps: &mut u32) -> Result<(), ProgressError> {
    match event {
        // Reasoning is the model's scratch work: a task's record keeps the answer.
        AgentEvent::Token(_) | AgentEvent::Reasoning(_) | AgentEvent::ToolCallDelta { .. } => Ok(()),
        AgentEvent::Message(message) => {
            progress
                .event(
                    "message",
                    json!({ "id": message.id, "session_id": message.session_id, "role": message.role,
                            "status": message.status, "model": message.model }),
                )
                .await?;
            if message.role == "assistant" {
                *steps += 1;
                // The step limit is an upper bound, rarely reached: move toward 1 by halves.
                let fraction = 1.0 - 0.5f64.powi(i32::try_from(*steps).unwrap_or(i32::MAX));
                let note = format!("{steps} model call{}", if *steps == 1 { "" } else { "s" });
                progress.set_progress(fraction.min(0.95), Some(note)).await?;
            }
            Ok(())
        }
        AgentEvent::Error { .. } => progress.event("agent_error", event.data()).await.map(drop),
        AgentEvent::Done(_) => progress.event("answer", event.data()).await.map(drop),
        AgentEvent::ToolCall { .. } | AgentEvent::ToolResult { .. } => {
            progress.event(event.name(), event.data()).await.map(drop)
        }
    }
}
