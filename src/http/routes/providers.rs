//! `/api/v1/providers`: where models run and in which order the router tries them. Everyone
//! signed in may read them; admins change them. API keys go in (`api_key`, encrypted at rest)
//! and never come out: the listing says only whether one is `stored`, from the `environment`,
//! or `none`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, Caller};
use crate::service::providers::{ModelInput, ProviderInput, ProviderView};
use crate::store::providers::ProviderModel;

/// The providers, in the order the router tries them.
#[utoipa::path(
    get,
    path = "/providers",
    operation_id = "listProviders",
    tag = "providers",
    responses((status = 200, description = "The providers", body = Vec<ProviderView>))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Vec<ProviderView>>, ApiError> {
    Ok(Json(state.services.providers.list(&caller).await?))
}

/// Adds a provider (admins); `name` and `kind` are required.
#[utoipa::path(
    post,
    path = "/providers",
    operation_id = "createProvider",
    tag = "providers",
    request_body = ProviderInput,
    responses(
        (status = 201, description = "The provider", body = ProviderView),
        (status = 409, description = "A provider of that name exists (`provider_exists`)", body = ErrorBody),
        (status = 422, description = "A missing or invalid field (`invalid_input`, with `field`)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(input): ApiJson<ProviderInput>,
) -> Result<(StatusCode, Json<ProviderView>), ApiError> {
    let created = state.services.providers.create(&caller, input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Changes a provider (admins): fields left out stay as they are, `null` clears one.
#[utoipa::path(
    patch,
    path = "/providers/{name}",
    operation_id = "updateProvider",
    tag = "providers",
    params(("name" = String, Path, description = "The provider's name")),
    request_body = ProviderInput,
    responses(
        (status = 200, description = "The provider as changed", body = ProviderView),
        (status = 404, description = "No such provider (`not_found`)", body = ErrorBody),
        (status = 422, description = "An invalid field (`invalid_input`, with `field`)", body = ErrorBody),
    )
)]
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

/// Removes a provider and its models (admins).
#[utoipa::path(
    delete,
    path = "/providers/{name}",
    operation_id = "deleteProvider",
    tag = "providers",
    params(("name" = String, Path, description = "The provider's name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such provider (`not_found`)", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.services.providers.delete(&caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The models set up on a provider.
#[utoipa::path(
    get,
    path = "/providers/{name}/models",
    operation_id = "listProviderModels",
    tag = "providers",
    params(("name" = String, Path, description = "The provider's name")),
    responses(
        (status = 200, description = "The provider's models", body = Vec<ProviderModel>),
        (status = 404, description = "No such provider (`not_found`)", body = ErrorBody),
    )
)]
pub async fn models(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Vec<ProviderModel>>, ApiError> {
    Ok(Json(state.services.providers.models(&caller, &name).await?))
}

/// Adds or replaces a model on a provider (admins).
#[utoipa::path(
    put,
    path = "/providers/{name}/models/{model}",
    operation_id = "putProviderModel",
    tag = "providers",
    params(("name" = String, Path, description = "The provider's name"), ("model" = String, Path, description = "The model's name on this provider")),
    request_body = ModelInput,
    responses(
        (status = 200, description = "The model as stored", body = ProviderModel),
        (status = 404, description = "No such provider (`not_found`)", body = ErrorBody),
        (status = 422, description = "An invalid field (`invalid_input`, with `field`)", body = ErrorBody),
    )
)]
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

/// Removes a model from a provider (admins).
#[utoipa::path(
    delete,
    path = "/providers/{name}/models/{model}",
    operation_id = "deleteProviderModel",
    tag = "providers",
    params(("name" = String, Path, description = "The provider's name"), ("model" = String, Path, description = "The model's name on this provider")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such provider or model (`not_found`)", body = ErrorBody),
    )
)]
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
