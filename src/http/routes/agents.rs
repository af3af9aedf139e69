//! `/api/v1/agents`: the agents everyone signed in may use — built in, from the agents folder,
//! or stored — and, for admins, the stored copies that override the files (`PUT` creates or
//! replaces one, `DELETE` removes it and brings the file's definition back).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::domain::Agent;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiPath, Caller};
use crate::service::agents::AgentList;
use crate::service::agents::definition::AgentSpec;

pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<AgentList>, ApiError> {
    Ok(Json(state.services.agents.list(&caller).await?))
}

pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(state.services.agents.get(&caller, &name).await?))
}

pub async fn put(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(spec): ApiJson<AgentSpec>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(state.services.agents.put(&caller, &name, spec).await?))
}

/// Answers with the definition that applies now (the file's), or `null` when none is left.
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let restored = state.services.agents.delete(&caller, &name).await?;
    Ok(Json(json!({ "deleted": name, "now": restored })))
}
