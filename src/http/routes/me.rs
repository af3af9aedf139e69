//! `GET /api/v1/me`: who the caller is.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Credential, KeyScope, User};
use crate::http::extract::Caller;

/// How the caller signed in.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// The browser session cookie.
    Session,
    /// An API key (`Authorization: Bearer`).
    ApiKey,
    /// A background task's own identity (tasks never call the API).
    Task,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeBody {
    #[serde(flatten)]
    user: User,
    auth: AuthKind,
    /// For cookie sessions: the token to send as `X-CSRF-Token` on writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
    /// For API keys: what the key may do.
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<Vec<KeyScope>>,
}

/// The caller: their profile, how they signed in, and their CSRF token or key scopes.
#[utoipa::path(
    get,
    path = "/me",
    operation_id = "getMe",
    tag = "auth",
    responses((status = 200, description = "The caller", body = MeBody))
)]
pub async fn me(Caller(identity): Caller) -> Json<MeBody> {
    let (auth, csrf_token, scopes) = match identity.credential {
        Credential::Session { csrf_token, .. } => (AuthKind::Session, Some(csrf_token), None),
        Credential::ApiKey { scopes, .. } => (AuthKind::ApiKey, None, Some(scopes)),
        // Tasks run in the worker and never call the API.
        Credential::Task { .. } => (AuthKind::Task, None, None),
    };
    Json(MeBody {
        user: identity.user,
        auth,
        csrf_token,
        scopes,
    })
}
