//! `/api/v1/evals`: runs of `agentbox eval`, reported by the CLI and listed for the UI.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

use super::users::PageQuery;
use crate::domain::{EvalRun, NewEvalRun};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::http::{AppState, error::ApiError};

pub async fn create(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiJson(body): ApiJson<NewEvalRun>,
) -> Result<(StatusCode, Json<EvalRun>), ApiError> {
    let run = state.services.evals.record(&identity, body).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

pub async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Vec<EvalRun>>, ApiError> {
    Ok(Json(state.services.evals.list(&identity, query.page()).await?))
}

pub async fn get(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EvalRun>, ApiError> {
    Ok(Json(state.services.evals.get(&identity, id).await?))
}
