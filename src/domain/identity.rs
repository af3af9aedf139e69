use uuid::Uuid;

use super::{KeyScope, User};

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session cookie; writes must carry the session's CSRF token.
    Session { session_id: Uuid, csrf_token: String },
    /// An API key sent as a bearer token.
    ApiKey { key_id: Uuid, scopes: Vec<KeyScope> },
    /// A background task running on its owner's behalf (the worker, not a request).
    Task { task_id: Uuid },
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: User,
    pub credential: Credential,
}

impl Identity {
    pub fn user_id(&self) -> Uuid {
        self.user.id
    }
}
