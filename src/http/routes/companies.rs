//! `/api/v1/companies`: the caller's company and its departments.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::users::PageQuery;
use crate::domain::{Company, Department};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Caller};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentBody {
    name: String,
}

/// The companies the caller can see (their own), a page at a time.
#[utoipa::path(
    get,
    path = "/companies",
    operation_id = "listCompanies",
    tag = "companies",
    params(PageQuery),
    responses((status = 200, description = "One page of companies", body = Vec<Company>))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Vec<Company>>, ApiError> {
    Ok(Json(
        state.services.companies.list(&identity, query.page()).await?,
    ))
}

/// One company.
#[utoipa::path(
    get,
    path = "/companies/{id}",
    operation_id = "getCompany",
    tag = "companies",
    params(("id" = Uuid, Path, description = "The company's id")),
    responses(
        (status = 200, description = "The company", body = Company),
        (status = 404, description = "No such company the caller can see (`not_found`)", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Company>, ApiError> {
    Ok(Json(state.services.companies.get(&identity, id).await?))
}

/// The departments of a company, a page at a time.
#[utoipa::path(
    get,
    path = "/companies/{id}/departments",
    operation_id = "listDepartments",
    tag = "companies",
    params(("id" = Uuid, Path, description = "The company's id"), PageQuery),
    responses(
        (status = 200, description = "One page of departments", body = Vec<Department>),
        (status = 404, description = "No such company the caller can see (`not_found`)", body = ErrorBody),
    )
)]
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

/// Creates a department in a company (admins of that company).
#[utoipa::path(
    post,
    path = "/companies/{id}/departments",
    operation_id = "createDepartment",
    tag = "companies",
    params(("id" = Uuid, Path, description = "The company's id")),
    request_body = DepartmentBody,
    responses(
        (status = 201, description = "The department", body = Department),
        (status = 404, description = "No such company the caller can see (`not_found`)", body = ErrorBody),
        (status = 409, description = "The company has a department of that name (`department_exists`)", body = ErrorBody),
        (status = 422, description = "An invalid name (`invalid_input`)", body = ErrorBody),
    )
)]
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
