//! `/api/v1/providers`: where models run and in which order the router tries them. Everyone
//! signed in may read them; admins change them. API keys go in (`api_key`, encrypted at rest)
//! and never come out: the listing says only whether one is `stored`, from the `environment`,
//! or `none`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, Caller};
use crate::service::providers::{ModelInput, ProviderInput, ProviderView};
use crate::store::providers::ProviderModel;

pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<ProviderView>>, ApiError> {
    Ok(Json(state.services.providers.list(&caller).await?))
}

pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(input): ApiJson<ProviderInput>,
) -> Result<(StatusCode, Json<ProviderView>), ApiError> {
    let created = state.services.providers.create(&caller, input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<ProviderInput>,
) -> Result<Json<ProviderView>, ApiError> {
    Ok(Json(
        state.services.providers.update(&caller, &name, input).await?,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.services.providers.delete(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn models(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Vec<ProviderModel>>, ApiError> {
    Ok(Json(state.services.providers.models(&caller, &name).await?))
}

pub async fn put_model(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath((provider, model)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<ModelInput>,
) -> Result<Json<ProviderModel>, ApiError> {
    Ok(Json(
        state
            .services
            .providers
            .put_model(&caller, &provider, &model, input)
            .await?,
    ))
}

pub async fn delete_model(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath((provider, model)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .providers
        .delete_model(&caller, &provider, &model)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
