//! `/api/v1/users`: admins manage the users of their company.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::{Page, Role, User, UserUpdate};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::service::users::CreateUser;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// How many (1-200, default 50).
    limit: Option<i64>,
    /// How many to skip (default 0).
    offset: Option<i64>,
}

impl PageQuery {
    pub fn page(&self) -> Page {
        Page::new(self.limit, self.offset)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    email: String,
    password: String,
    display_name: Option<String>,
    /// Defaults to `member`.
    role: Option<Role>,
    department_id: Option<Uuid>,
}

/// The fields to change; those left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    display_name: Option<String>,
    role: Option<Role>,
    /// `null` removes the user from their department.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    #[allow(clippy::option_option)]
    department_id: Option<Option<Uuid>>,
    disabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    password: String,
}

/// The users of the caller's company (admins), a page at a time.
#[utoipa::path(
    get,
    path = "/users",
    operation_id = "listUsers",
    tag = "users",
    params(PageQuery),
    responses((status = 200, description = "One page of users", body = Vec<User>))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(state.services.users.list(&identity, query.page()).await?))
}

/// Creates a user in the caller's company (admins).
#[utoipa::path(
    post,
    path = "/users",
    operation_id = "createUser",
    tag = "users",
    request_body = CreateUserBody,
    responses(
        (status = 201, description = "The user", body = User),
        (status = 409, description = "The email is taken (`email_taken`)", body = ErrorBody),
        (status = 422, description = "Invalid email, password or department (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiJson(body): ApiJson<CreateUserBody>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let request = CreateUser {
        email: body.email,
        password: body.password,
        display_name: body.display_name,
        role: body.role.unwrap_or(Role::Member),
        department_id: body.department_id,
    };
    let user = state.services.users.create(&identity, request).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// One user of the caller's company.
#[utoipa::path(
    get,
    path = "/users/{id}",
    operation_id = "getUser",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.services.users.get(&identity, id).await?))
}

/// Changes a user's name, role, department or disabled state (admins).
#[utoipa::path(
    patch,
    path = "/users/{id}",
    operation_id = "updateUser",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = UpdateUserBody,
    responses(
        (status = 200, description = "The user as changed", body = User),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
        (status = 422, description = "An invalid change (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateUserBody>,
) -> Result<Json<User>, ApiError> {
    let update = UserUpdate {
        display_name: body.display_name,
        role: body.role,
        department_id: body.department_id,
        disabled: body.disabled,
    };
    Ok(Json(state.services.users.update(&identity, id, update).await?))
}

/// Sets a user's password and ends their sessions (admins).
#[utoipa::path(
    put,
    path = "/users/{id}/password",
    operation_id = "setUserPassword",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = PasswordBody,
    responses(
        (status = 204, description = "Password changed"),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
        (status = 422, description = "Too weak a password (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn set_password(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .users
        .set_password(&identity, id, body.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a user (admins).
#[utoipa::path(
    delete,
    path = "/users/{id}",
    operation_id = "deleteUser",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services.users.delete(&identity, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};

    #[allow(clippy::option_option)]
    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}
