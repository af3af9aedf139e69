//! One answer at a time per session, across replicas: a second message while the first is still
//! being answered would interleave two runs' turns in one history. The UI waits; an API client
//! gets 409 `session_busy` and can retry. The claim is a row with a lease in Postgres (see
//! `Store::claim_session`), renewed while the answer runs: a replica that dies mid-answer holds
//! the session for one lease at most.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::service::ServiceError;
use crate::store::Store;

/// How long a claim outlives its holder's last renewal (how long a replica that died mid-answer
/// keeps its session); renewed every third of it.
const LEASE: Duration = Duration::from_secs(10);
/// How often a waiting claim tries again.
const RETRY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct BusySessions {
    store: Store,
    lease: Duration,
}

/// Held while a session's answer runs; [`SessionClaim::release`] frees the session, and so
/// does dropping it (a moment later).
#[derive(Debug)]
pub struct SessionClaim {
    /// Stops the renewals; the renewing task then releases the claim.
    released: CancellationToken,
    holding: Option<JoinHandle<()>>,
}

impl BusySessions {
    pub fn new(store: Store) -> Self {
        Self { store, lease: LEASE }
    }

    /// How long a claim outlives its holder.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Claims `session`, or fails with `session_busy` at once.
    pub async fn claim(&self, session: Uuid) -> Result<SessionClaim, ServiceError> {
        self.claim_within(session, Duration::ZERO).await
    }

    /// Claims `session`, waiting up to `patience` for the answer that holds it to end (or for
    /// the claim of a replica that died to lapse: one lease at most).
    pub async fn claim_within(
        &self,
        session: Uuid,
        patience: Duration,
    ) -> Result<SessionClaim, ServiceError> {
        let holder = Uuid::new_v4();
        let deadline = tokio::time::Instant::now() + patience;
        while !self.store.claim_session(session, holder, self.lease).await? {
            if tokio::time::Instant::now() + RETRY > deadline {
                return Err(ServiceError::Conflict {
                    code: "session_busy",
                    message: "this session is still answering the previous message; wait for its `done` event or close that stream".into(),
                });
            }
            tokio::time::sleep(RETRY).await;
        }
        let released = CancellationToken::new();
        let holding = tokio::spawn(hold(
            self.store.clone(),
            session,
            holder,
            self.lease,
            released.clone(),
        ));
        Ok(SessionClaim {
            released,
            holding: Some(holding),
        })
    }
}

/// Renews the claim until it is released, then deletes it.
async fn hold(store: Store, session: Uuid, holder: Uuid, lease: Duration, released: CancellationToken) {
    loop {
        tokio::select! {
            () = released.cancelled() => break,
            () = tokio::time::sleep(lease / 3) => {}
        }
        match store.renew_session_claim(session, holder, lease).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(%session, "a chat session's claim lapsed while its answer ran");
                return;
            }
            // The next renewal may get through before the lease ends.
            Err(err) => tracing::warn!(%session, error = %err, "cannot renew a chat session's claim"),
        }
    }
    if let Err(err) = store.release_session_claim(session, holder).await {
        tracing::warn!(%session, error = %err, "cannot release a chat session's claim; it lapses with its lease");
    }
}

impl SessionClaim {
    /// Frees the session and returns once the next message can take it.
    pub async fn release(mut self) {
        self.released.cancel();
        if let Some(holding) = self.holding.take() {
            let _ = holding.await;
        }
    }
}

impl Drop for SessionClaim {
    fn drop(&mut self) {
        self.released.cancel();
    }
}
