//! `GET /api/v1/me`: who the caller is.

use axum::Json;
use serde::Serialize;

use crate::domain::{Credential, KeyScope, User};
use crate::http::extract::Caller;

#[derive(Debug, Serialize)]
pub struct MeBody {
    #[serde(flatten)]
    user: User,
    /// `session` (browser cookie) or `api_key`.
    auth: &'static str,
    /// For cookie sessions: the token to send as `X-CSRF-Token` on writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
    /// For API keys: what the key may do.
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<Vec<KeyScope>>,
}

pub async fn me(Caller(identity): Caller) -> Json<MeBody> {
    let (auth, csrf_token, scopes) = match identity.credential {
        Credential::Session { csrf_token, .. } => ("session", Some(csrf_token), None),
        Credential::ApiKey { scopes, .. } => ("api_key", None, Some(scopes)),
        // Tasks run in the worker and never call the API.
        Credential::Task { .. } => ("task", None, None),
    };
    Json(MeBody {
        user: identity.user,
        auth,
        csrf_token,
        scopes,
    })
}
