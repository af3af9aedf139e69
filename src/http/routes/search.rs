//! `/api/v1/search`: semantic search over the caller's messages and workspace files, and the
//! indexing that feeds it.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::SearchSource;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, Caller};
use crate::service::search::{IndexReport, SearchResults};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    query: String,
    /// How many results (1-50, default 10).
    k: Option<u32>,
    /// `message` and/or `workspace` (default both).
    sources: Option<Vec<SearchSource>>,
}

/// Searches the caller's messages and workspace files by meaning.
#[utoipa::path(
    post,
    path = "/search/semantic",
    operation_id = "searchSemantic",
    tag = "search",
    request_body = SearchBody,
    responses(
        (status = 200, description = "The closest hits, best first", body = SearchResults),
        (status = 422, description = "An empty query or `k` out of range (`invalid_input`)", body = ErrorBody),
        (status = 503, description = "The embedding model is not ready (`embeddings_unavailable`)", body = ErrorBody),
    )
)]
pub async fn semantic(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<Json<SearchResults>, ApiError> {
    let results = state
        .services
        .search
        .search(&identity, &body.query, body.k, body.sources)
        .await?;
    Ok(Json(results))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexBody {
    /// What to index (default both): the caller's messages not indexed yet, the workspace files.
    sources: Option<Vec<SearchSource>>,
    /// Index just these messages of the caller instead.
    message_ids: Option<Vec<Uuid>>,
}

/// At most this many message ids in one index request.
const MAX_MESSAGE_IDS: usize = 100;

/// Indexes messages and workspace files for semantic search.
///
/// By default the caller's messages not indexed yet and the workspace files (only new or changed
/// files are embedded again); with `message_ids`, just those messages of the caller.
#[utoipa::path(
    post,
    path = "/search/index",
    operation_id = "indexForSearch",
    tag = "search",
    request_body = IndexBody,
    responses(
        (status = 200, description = "What was indexed", body = IndexReport),
        (status = 422, description = "Too many message ids (`invalid_input`)", body = ErrorBody),
        (status = 503, description = "The embedding model is not ready (`embeddings_unavailable`)", body = ErrorBody),
    )
)]
pub async fn index(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiJson(body): ApiJson<IndexBody>,
) -> Result<Json<IndexReport>, ApiError> {
    let search = &state.services.search;
    if let Some(ids) = body.message_ids {
        if ids.len() > MAX_MESSAGE_IDS {
            return Err(crate::service::ServiceError::invalid(
                "message_ids",
                format!("at most {MAX_MESSAGE_IDS} message ids per request"),
            )
            .into());
        }
        return Ok(Json(search.index_messages(&identity, &ids).await?));
    }
    let sources = body.sources.unwrap_or_else(|| SearchSource::ALL.to_vec());
    Ok(Json(search.reindex(&identity, &sources).await?))
}
