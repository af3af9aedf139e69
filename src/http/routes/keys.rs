//! `/api/v1/keys`: the caller's API keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::{ApiKey, KeyScope, NewApiKey};
use crate::http::extract::{ApiJson, ApiPath, Caller};
use crate::http::{AppState, error::ApiError};
use crate::service::auth::KeyRequest;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    name: String,
    /// Defaults to read and write.
    scopes: Option<Vec<KeyScope>>,
    /// Defaults to never.
    expires_in_days: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    Ok(Json(state.services.auth.list_api_keys(&identity).await?))
}

/// The response is the only time the key's secret is shown.
pub async fn create(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiJson(body): ApiJson<CreateKeyBody>,
) -> Result<(StatusCode, Json<NewApiKey>), ApiError> {
    let request = KeyRequest {
        name: body.name,
        scopes: body
            .scopes
            .unwrap_or_else(|| vec![KeyScope::Read, KeyScope::Write]),
        expires_in_days: body.expires_in_days,
    };
    let key = state.services.auth.create_api_key(&identity, request).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

pub async fn revoke(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ApiKey>, ApiError> {
    Ok(Json(state.services.auth.revoke_api_key(&identity, id).await?))
}
