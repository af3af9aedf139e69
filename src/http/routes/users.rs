//! `/api/v1/users`: admins manage the users of their company.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::{Page, Role, User, UserUpdate};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::http::{AppState, error::ApiError};
use crate::service::users::CreateUser;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

impl PageQuery {
    pub fn page(&self) -> Page {
        Page::new(self.limit, self.offset)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    email: String,
    password: String,
    display_name: Option<String>,
    role: Option<Role>,
    department_id: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    display_name: Option<String>,
    role: Option<Role>,
    /// `null` removes the user from their department.
    #[serde(default, with = "double_option")]
    #[allow(clippy::option_option)]
    department_id: Option<Option<Uuid>>,
    disabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    password: String,
}

pub async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(state.services.users.list(&identity, query.page()).await?))
}

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

pub async fn get(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.services.users.get(&identity, id).await?))
}

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
