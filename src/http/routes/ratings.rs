//! `/api/v1/messages/{id}/rating`: thumbs up or down on an answer, with an optional comment.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::{MessageRating, Rating};
use crate::http::extract::{ApiJson, ApiPath, Caller};
use crate::http::{AppState, error::ApiError};
use crate::service::ServiceError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingBody {
    /// `up` or `down`: read as text, so any other value gets the same clear answer.
    rating: String,
    comment: Option<String>,
}

pub async fn put(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RatingBody>,
) -> Result<Json<MessageRating>, ApiError> {
    let rating = Rating::parse(&body.rating)
        .ok_or_else(|| ServiceError::invalid("rating", "rating must be \"up\" or \"down\""))?;
    let rating = state
        .services
        .ratings
        .rate(&identity, id, rating, body.comment.as_deref())
        .await?;
    Ok(Json(rating))
}

/// Clears the rating; answers with the cleared state.
pub async fn delete(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<MessageRating>, ApiError> {
    Ok(Json(state.services.ratings.clear(&identity, id).await?))
}
