//! `/api/v1/companies`: the caller's company and its departments.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use super::users::PageQuery;
use crate::domain::{Company, Department};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::http::{AppState, error::ApiError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentBody {
    name: String,
}

pub async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Vec<Company>>, ApiError> {
    Ok(Json(
        state.services.companies.list(&identity, query.page()).await?,
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Company>, ApiError> {
    Ok(Json(state.services.companies.get(&identity, id).await?))
}

pub async fn departments(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Vec<Department>>, ApiError> {
    Ok(Json(
        state
            .services
            .companies
            .departments(&identity, id, query.page())
            .await?,
    ))
}

pub async fn create_department(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<DepartmentBody>,
) -> Result<(StatusCode, Json<Department>), ApiError> {
    let department = state
        .services
        .companies
        .create_department(&identity, id, &body.name)
        .await?;
    Ok((StatusCode::CREATED, Json(department)))
}
