//! Change notices between the replicas on one database, so that a watcher or worker learns of
//! a change at once instead of at its next poll: `NOTIFY` on external Postgres, where every
//! replica `LISTEN`s on one connection, and an in-process broadcast on the embedded database
//! (which serves one process). A notice says what changed, never the data: the receiver reads
//! that from the database, under its own caller's row-level security.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::Store;

/// The one `LISTEN`/`NOTIFY` channel the platform uses.
const CHANNEL: &str = "agentbox";

/// Notices a slow receiver may fall behind by before it is told it missed some.
const BACKLOG: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// A task has new events or a new state.
    Task { id: Uuid },
    /// A task was queued: a worker with room may claim it.
    TaskQueued,
    /// A running task is asked to stop: the replica running it cancels it at once.
    TaskCancelled { id: Uuid },
    /// A chat session's answer has new events (`session_events`).
    Session { id: Uuid },
    /// Notices may have been lost (the listening connection was re-established): re-read
    /// whatever is watched.
    Missed,
}

/// The notices that reach this process (every replica's, its own included).
#[derive(Debug, Clone)]
pub struct Notices {
    sender: broadcast::Sender<Notice>,
}

impl Default for Notices {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Notices {
    fn deliver(&self, notice: Notice) {
        // No receiver means nobody in this process watches: nothing to do.
        let _ = self.sender.send(notice);
    }

    /// Listens on external Postgres until the pool closes, delivering every notice here.
    pub(super) async fn listen(self, pool: PgPool) {
        let mut listener = loop {
            match connect(&pool).await {
                Ok(listener) => break listener,
                Err(sqlx::Error::PoolClosed) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot LISTEN for other replicas' changes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => match serde_json::from_str(notification.payload()) {
                    Ok(notice) => self.deliver(notice),
                    Err(err) => {
                        tracing::warn!(error = %err, payload = notification.payload(), "an unreadable change notice");
                    }
                },
                // The connection was lost; sqlx reconnects and listens again on the next call.
                Ok(None) => self.deliver(Notice::Missed),
                Err(sqlx::Error::PoolClosed) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "the LISTEN connection failed; reconnecting");
                    self.deliver(Notice::Missed);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// Waits until a notice `wanted` accepts arrives (or word that some were missed, which may have
/// been it), or `poll` has passed.
pub async fn wait_for(
    receiver: &mut broadcast::Receiver<Notice>,
    poll: Duration,
    wanted: impl Fn(&Notice) -> bool,
) {
    let timeout = tokio::time::sleep(poll);
    tokio::pin!(timeout);
    loop {
        tokio::select! {
            () = &mut timeout => return,
            notice = receiver.recv() => match notice {
                Ok(Notice::Missed) | Err(RecvError::Lagged(_)) => return,
                Ok(notice) if wanted(&notice) => return,
                Ok(_) => {}
                Err(RecvError::Closed) => {
                    timeout.as_mut().await;
                    return;
                }
            },
        }
    }
}

async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

impl Store {
    /// Tells every replica (this one included) of `notice`; call it once the change has
    /// committed. It is sent on a task of its own: a lost notice costs a receiver no more than
    /// its fallback poll, so the caller does not wait for it.
    pub fn notify(&self, notice: Notice) {
        if self.embedded.is_some() {
            self.notices.deliver(notice);
            return;
        }
        // A plain enum of ids: serializing it cannot fail.
        let payload = serde_json::to_string(&notice).unwrap_or_default();
        let store = self.clone();
        tokio::spawn(async move {
            let sent = store
                .run_system(move |conn| {
                    Box::pin(async move {
                        sqlx::query("select pg_notify($1, $2)")
                            .bind(CHANNEL)
                            .bind(payload)
                            .execute(conn)
                            .await?;
                        Ok(())
                    })
                })
                .await;
            if let Err(err) = sent {
                tracing::warn!(error = %err, "cannot tell the other replicas of a change");
            }
        });
    }

    /// The notices that reach this process from now on.
    pub fn notices(&self) -> broadcast::Receiver<Notice> {
        self.notices.sender.subscribe()
    }
}
