//! Following an answer from any replica: the replica that runs a session's answer records its
//! events in the database (`session_events`; streamed pieces joined, one write at a time, so a
//! slow database gets fewer, larger writes and the answer never waits for it), and a follower
//! on any replica reads them from the start of the answer, then as change notices say there are
//! more, until `done` — or, when no answer holds the session, until it has read what is there.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::events::AgentEvent;
use crate::domain::SessionEvent;
use crate::service::ServiceError;
use crate::store::{Actor, Notice, Store, wait_for_notice};

/// How often a follower looks for events whose notice was lost.
const POLL: Duration = Duration::from_secs(5);
/// Events read per query while catching up.
const BATCH: i64 = 200;

/// A session's answer events, in order, ending after `done` (or at an error).
pub type SessionEventStream = BoxStream<'static, Result<SessionEvent, ServiceError>>;

/// Writes one answer's events for followers, on a task of its own.
pub struct Recorder {
    events: mpsc::UnboundedSender<AgentEvent>,
    writing: JoinHandle<()>,
}

impl Recorder {
    /// Starts recording `session_id`'s new answer, once the previous answer's events are gone.
    pub async fn start(store: Store, actor: Actor, session_id: Uuid) -> Self {
        if let Err(err) = store.clear_session_events(actor, session_id).await {
            tracing::warn!(session = %session_id, error = %err, "cannot clear a session's previous events");
        }
        let (events, received) = mpsc::unbounded_channel();
        let writing = tokio::spawn(record(store, actor, session_id, received));
        Self { events, writing }
    }

    pub fn record(&self, event: &AgentEvent) {
        let _ = self.events.send(event.clone());
    }

    /// Returns once every event recorded so far is written.
    pub async fn finish(self) {
        drop(self.events);
        let _ = self.writing.await;
    }
}

async fn record(
    store: Store,
    actor: Actor,
    session_id: Uuid,
    mut received: mpsc::UnboundedReceiver<AgentEvent>,
) {
    let mut batch = Vec::new();
    while received.recv_many(&mut batch, usize::MAX).await > 0 {
        let rows = joined(std::mem::take(&mut batch));
        match store.append_session_events(actor, session_id, rows).await {
            Ok(()) => store.notify(Notice::Session { id: session_id }),
            // Followers miss these; the answer itself and its stored messages are unharmed.
            Err(err) => {
                tracing::warn!(session = %session_id, error = %err, "cannot record a session's events");
            }
        }
    }
}

/// The events as rows, with runs of text pieces (and of one call's argument pieces) joined.
fn joined(events: Vec<AgentEvent>) -> Vec<(String, Value)> {
    let mut rows: Vec<(String, Value)> = Vec::with_capacity(events.len());
    let mut previous: Option<AgentEvent> = None;
    for event in events {
        previous = match (previous, event) {
            (Some(AgentEvent::Token(text)), AgentEvent::Token(more)) => Some(AgentEvent::Token(text + &more)),
            (Some(AgentEvent::Reasoning(text)), AgentEvent::Reasoning(more)) => {
                Some(AgentEvent::Reasoning(text + &more))
            }
            (
                Some(AgentEvent::ToolCallDelta { id, name, arguments }),
                AgentEvent::ToolCallDelta {
                    id: next_id,
                    arguments: more,
                    ..
                },
            ) if id == next_id => Some(AgentEvent::ToolCallDelta {
                id,
                name,
                arguments: arguments + &more,
            }),
            (previous, event) => {
                if let Some(previous) = previous {
                    rows.push((previous.name().to_owned(), previous.data()));
                }
                Some(event)
            }
        };
    }
    if let Some(last) = previous {
        rows.push((last.name().to_owned(), last.data()));
    }
    rows
}

/// The events of the session's latest answer after `after` (from its start when `None`), then
/// the new ones until `done`. When no answer holds the session, it ends once it has read what is
/// recorded.
pub fn follow(store: Store, actor: Actor, session_id: Uuid, after: Option<i64>) -> SessionEventStream {
    // Subscribe before the first read, so no notice falls between the two.
    let follower = Follower {
        notices: store.notices(),
        store,
        actor,
        session_id,
        after: after.unwrap_or(0).max(0),
        pending: VecDeque::new(),
        done: false,
        idle: false,
    };
    futures::stream::unfold(Some(follower), |follower| async move {
        let mut follower = follower?;
        match follower.next_event().await {
            Ok(Some(event)) => Some((Ok(event), Some(follower))),
            Ok(None) => None,
            Err(err) => Some((Err(err), None)),
        }
    })
    .boxed()
}

struct Follower {
    store: Store,
    actor: Actor,
    session_id: Uuid,
    after: i64,
    pending: VecDeque<SessionEvent>,
    notices: broadcast::Receiver<Notice>,
    done: bool,
    /// No answer held the session at the last look: one more read, then the end.
    idle: bool,
}

impl Follower {
    async fn next_event(&mut self) -> Result<Option<SessionEvent>, ServiceError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(event) = self.pending.pop_front() {
                self.after = event.id;
                self.done = event.kind == "done";
                return Ok(Some(event));
            }
            let batch = self
                .store
                .session_events_after(self.actor, self.session_id, self.after, BATCH)
                .await?;
            if !batch.is_empty() {
                self.pending.extend(batch);
                continue;
            }
            if self.idle {
                return Ok(None);
            }
            // Caught up. An answer records its last events before it releases the session, so
            // with no claim one more read finds everything there is.
            if self.store.session_claimed(self.session_id).await? {
                self.wait().await;
            } else {
                self.idle = true;
            }
        }
    }

    /// Until this session's notice comes, or the poll interval has passed.
    async fn wait(&mut self) {
        let session = self.session_id;
        wait_for_notice(
            &mut self.notices,
            POLL,
            |notice| matches!(notice, Notice::Session { id } if *id == session),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_pieces_are_joined_and_everything_else_kept_in_order() {
        let delta = |id: &str, arguments: &str| AgentEvent::ToolCallDelta {
            id: id.into(),
            name: "search".into(),
            arguments: arguments.into(),
        };
        let rows = joined(vec![
            AgentEvent::Token("Hel".into()),
            AgentEvent::Token("lo".into()),
            delta("a", "{\"q\":"),
            delta("a", "1}"),
            delta("b", "{}"),
            AgentEvent::Token("!".into()),
        ]);
        let kinds: Vec<&str> = rows.iter().map(|(kind, _)| kind.as_str()).collect();
        assert_eq!(kinds, ["token", "tool_call_delta", "tool_call_delta", "token"]);
        assert_eq!(rows[0].1["text"], "Hello");
        assert_eq!(rows[1].1["arguments"], "{\"q\":1}");
        assert_eq!(rows[2].1["id"], "b");
        assert_eq!(rows[3].1["text"], "!");
    }
}
