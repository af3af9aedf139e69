//! Following a task: its stored events from the start (or after the last one a watcher saw),
//! then new ones as they come, until the task ends. A change notice (from any replica) wakes the
//! watchers at once; a slow poll covers a lost notice.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::{TaskService, not_found};
use crate::domain::{Identity, TaskEvent};
use crate::service::ServiceError;
use crate::store::{Actor, Notice, wait_for_notice};

/// How often a watcher looks for events whose notice was lost.
const POLL: Duration = Duration::from_secs(5);
/// Events read per query while catching up.
const BATCH: i64 = 200;

/// A task's events, in order; it ends after the task's last event (`finished`). An error
/// ends it too.
pub type TaskEventStream = BoxStream<'static, Result<TaskEvent, ServiceError>>;

struct Watch {
    tasks: TaskService,
    actor: Actor,
    task_id: Uuid,
    /// The id of the last event handed out.
    after: i64,
    pending: VecDeque<TaskEvent>,
    changed: broadcast::Receiver<Notice>,
    /// The `finished` event was handed out: stop.
    ending: bool,
    /// The task has ended: stop once nothing is left to read.
    task_ended: bool,
}

impl TaskService {
    /// The events of one of the caller's tasks after the event `after` (from the start when
    /// `None`), then the new ones until the task ends.
    pub async fn events(
        &self,
        caller: &Identity,
        id: Uuid,
        after: Option<i64>,
    ) -> Result<TaskEventStream, ServiceError> {
        // Subscribe before the first read, so no announcement falls between the two.
        let changed = self.store.notices();
        let actor = Actor::User(caller.user_id());
        self.store.get_task(actor, id).await.map_err(not_found)?;
        let watch = Watch {
            tasks: self.clone(),
            actor,
            task_id: id,
            after: after.unwrap_or(0).max(0),
            pending: VecDeque::new(),
            changed,
            ending: false,
            task_ended: false,
        };
        Ok(futures::stream::unfold(Some(watch), |watch| async move {
            let mut watch = watch?;
            match watch.next_event().await {
                Ok(Some(event)) => Some((Ok(event), Some(watch))),
                Ok(None) => None,
                Err(err) => Some((Err(err), None)),
            }
        })
        .boxed())
    }
}

impl Watch {
    async fn next_event(&mut self) -> Result<Option<TaskEvent>, ServiceError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.after = event.id;
                if event.kind == TaskEvent::FINISHED {
                    // The last event: whatever might follow it is not this task's story.
                    self.ending = true;
                    self.pending.clear();
                }
                return Ok(Some(event));
            }
            if self.ending {
                return Ok(None);
            }
            let store = &self.tasks.store;
            let batch = store
                .task_events_after(self.actor, self.task_id, self.after, BATCH)
                .await?;
            if !batch.is_empty() {
                self.pending.extend(batch);
                continue;
            }
            if self.task_ended {
                return Ok(None);
            }
            // Caught up. A task ends with its `finished` event in the same transaction, so
            // once it has ended one more read finds every event it has; the check also ends
            // the watch of a task that was deleted.
            match store.get_task(self.actor, self.task_id).await.map_err(not_found) {
                Ok(task) if task.status.is_terminal() => {
                    self.task_ended = true;
                    continue;
                }
                Ok(_) => {}
                Err(ServiceError::NotFound(_)) => return Ok(None),
                Err(err) => return Err(err),
            }
            self.wait().await;
        }
    }

    /// Until this task is announced, or the poll interval has passed.
    async fn wait(&mut self) {
        let task = self.task_id;
        wait_for_notice(
            &mut self.changed,
            POLL,
            |notice| matches!(notice, Notice::Task { id } if *id == task),
        )
        .await;
    }
}
