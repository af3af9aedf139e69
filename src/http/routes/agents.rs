//! `/api/v1/agents`: the agents everyone signed in may use — built in, from the agents folder,
//! or stored — and, for admins, the stored copies that override the files (`PUT` creates or
//! replaces one, `DELETE` removes it and brings the file's definition back).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Agent;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, Caller};
use crate::service::agents::AgentList;
use crate::service::agents::definition::AgentSpec;

/// The answer to `DELETE /api/v1/agents/{name}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentDeleted {
    /// The name of the stored copy removed.
    deleted: String,
    /// The definition that applies now (the file's), or `null` when none is left.
    now: Option<Agent>,
}

/// The agents the caller may use, each with the model that would answer it now (and, for
/// admins, the agent files that could not be read).
///
/// `answered_by` says which model answers the agent's role (or named model) now: files
/// present, providers enabled and keyed; when its own model cannot, the fallback model that
/// would answer in its place (`fallback`, unless `routing.strict`), or why none can (`problem`).
#[utoipa::path(
    get,
    path = "/agents",
    operation_id = "listAgents",
    tag = "agents",
    responses((status = 200, description = "The agents", body = AgentList))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<AgentList>, ApiError> {
    Ok(Json(state.services.agents.listing(&caller).await?))
}

/// One agent by name.
#[utoipa::path(
    get,
    path = "/agents/{name}",
    operation_id = "getAgent",
    tag = "agents",
    params(("name" = String, Path, description = "The agent's name")),
    responses(
        (status = 200, description = "The agent", body = Agent),
        (status = 404, description = "No such agent (`not_found`)", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(state.services.agents.get(&caller, &name).await?))
}

/// Creates or replaces the stored copy of an agent (admins); it overrides a file of that name.
#[utoipa::path(
    put,
    path = "/agents/{name}",
    operation_id = "putAgent",
    tag = "agents",
    params(("name" = String, Path, description = "The agent's name")),
    request_body = AgentSpec,
    responses(
        (status = 200, description = "The agent as stored", body = Agent),
        (status = 422, description = "An invalid definition (`invalid_input`, with `field`)", body = ErrorBody),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(spec): ApiJson<AgentSpec>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(state.services.agents.put(&caller, &name, spec).await?))
}

/// Removes the stored copy of an agent (admins); the file's definition, if any, applies again.
#[utoipa::path(
    delete,
    path = "/agents/{name}",
    operation_id = "deleteAgent",
    tag = "agents",
    params(("name" = String, Path, description = "The agent's name")),
    responses(
        (status = 200, description = "Removed; `now` is the definition that applies now", body = AgentDeleted),
        (status = 404, description = "No stored copy of that name (`not_found`)", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<AgentDeleted>, ApiError> {
    let now = state.services.agents.delete(&caller, &name).await?;
    Ok(Json(AgentDeleted { deleted: name, now }))
}
