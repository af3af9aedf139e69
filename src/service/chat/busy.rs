//! One answer at a time per session (in this process): a second message while the first is
//! still being answered would interleave two runs' turns in one history. The UI waits; an API
//! client gets 409 `session_busy` and can retry.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use uuid::Uuid;

use crate::service::ServiceError;

#[derive(Debug, Clone, Default)]
pub struct BusySessions {
    running: Arc<Mutex<HashSet<Uuid>>>,
}

/// Held while a session's answer runs; dropping it frees the session.
#[derive(Debug)]
pub struct SessionClaim {
    sessions: BusySessions,
    session: Uuid,
}

impl BusySessions {
    pub fn claim(&self, session: Uuid) -> Result<SessionClaim, ServiceError> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if !running.insert(session) {
            return Err(ServiceError::Conflict {
                code: "session_busy",
                message: "this session is still answering the previous message; wait for its `done` event or close that stream".into(),
            });
        }
        Ok(SessionClaim {
            sessions: self.clone(),
            session,
        })
    }
}

impl Drop for SessionClaim {
    fn drop(&mut self) {
        self.sessions
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_answers_one_message_at_a_time() {
        let busy = BusySessions::default();
        let session = Uuid::new_v4();
        let claim = busy.claim(session).unwrap();
        assert!(matches!(
            busy.claim(session),
            Err(ServiceError::Conflict {
                code: "session_busy",
                ..
            })
        ));
        assert!(busy.claim(Uuid::new_v4()).is_ok(), "other sessions are free");
        drop(claim);
        assert!(busy.claim(session).is_ok());
    }
}
