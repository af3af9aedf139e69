//! `/api/v1/evals`: runs of `agentbox eval`, reported by the CLI and listed for the UI.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

use super::users::PageQuery;
use crate::domain::{EvalRun, NewEvalRun};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Caller};

/// Records a finished `agentbox eval` run (the CLI sends it); passed and failed are counted
/// here.
#[utoipa::path(
    post,
    path = "/evals",
    operation_id = "createEvalRun",
    tag = "evals",
    request_body = NewEvalRun,
    responses(
        (status = 201, description = "The stored run", body = EvalRun),
        (status = 422, description = "An invalid run (`invalid_input`, with `field`)", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiJson(body): ApiJson<NewEvalRun>,
) -> Result<(StatusCode, Json<EvalRun>), ApiError> {
    let run = state.services.evals.record(&identity, body).await?;
    Ok((StatusCode::CREATED, Json(run)))
}

/// The recorded eval runs the caller can see, newest first, without their cases.
#[utoipa::path(
    get,
    path = "/evals",
    operation_id = "listEvalRuns",
    tag = "evals",
    params(PageQuery),
    responses((status = 200, description = "One page of runs", body = Vec<EvalRun>))
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Vec<EvalRun>>, ApiError> {
    Ok(Json(state.services.evals.list(&identity, query.page()).await?))
}

/// One recorded eval run, with its cases.
#[utoipa::path(
    get,
    path = "/evals/{id}",
    operation_id = "getEvalRun",
    tag = "evals",
    params(("id" = Uuid, Path, description = "The run's id")),
    responses(
        (status = 200, description = "The run", body = EvalRun),
        (status = 404, description = "No such run the caller can see (`not_found`)", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EvalRun>, ApiError> {
    Ok(Json(state.services.evals.get(&identity, id).await?))
}
