//! `/api/v1/keys`: the caller's API keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{ApiKey, KeyScope, NewApiKey};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, Caller};
use crate::service::auth::KeyRequest;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    name: String,
    /// Defaults to read and write.
    scopes: Option<Vec<KeyScope>>,
    /// Defaults to never.
    expires_in_days: Option<u32>,
}

/// The caller's API keys (never their secrets).
#[utoipa::path(
    get,
    path = "/keys",
    operation_id = "listApiKeys",
    tag = "keys",
    responses((status = 200, description = "The caller's keys", body = Vec<ApiKey>))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    Ok(Json(state.services.auth.list_api_keys(&identity).await?))
}

/// Creates an API key for the caller.
///
/// The response is the only time the key's secret is shown.
#[utoipa::path(
    post,
    path = "/keys",
    operation_id = "createApiKey",
    tag = "keys",
    request_body = CreateKeyBody,
    responses(
        (status = 201, description = "The key, with its secret", body = NewApiKey),
        (status = 422, description = "Invalid name or expiry (`invalid_input`)", body = ErrorBody),
    )
)]
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

/// Revokes one of the caller's keys.
#[utoipa::path(
    delete,
    path = "/keys/{id}",
    operation_id = "revokeApiKey",
    tag = "keys",
    params(("id" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key, now revoked", body = ApiKey),
        (status = 404, description = "No such key of the caller's (`not_found`)", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ApiKey>, ApiError> {
    Ok(Json(state.services.auth.revoke_api_key(&identity, id).await?))
}
