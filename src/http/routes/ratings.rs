//! `/api/v1/messages/{id}/rating`: thumbs up or down on an answer, with an optional comment.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{MessageRating, Rating};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, Caller};
use crate::service::ServiceError;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingBody {
    /// `up` or `down`: read as text, so any other value gets the same clear answer.
    #[schema(value_type = Rating)]
    rating: String,
    comment: Option<String>,
}

/// Rates an assistant's answer (thumbs up or down, with an optional comment).
#[utoipa::path(
    put,
    path = "/messages/{id}/rating",
    operation_id = "rateMessage",
    tag = "ratings",
    params(("id" = Uuid, Path, description = "The message's id")),
    request_body = RatingBody,
    responses(
        (status = 200, description = "The rating as it stands", body = MessageRating),
        (status = 404, description = "No such message of the caller's (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not `up`/`down`, too long a comment, or not an assistant's answer (`invalid_input`)", body = ErrorBody),
    )
)]
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

/// Clears the rating of an answer; answers with the cleared state.
#[utoipa::path(
    delete,
    path = "/messages/{id}/rating",
    operation_id = "clearMessageRating",
    tag = "ratings",
    params(("id" = Uuid, Path, description = "The message's id")),
    responses(
        (status = 200, description = "The rating, cleared", body = MessageRating),
        (status = 404, description = "No such message of the caller's (`not_found`)", body = ErrorBody),
        (status = 422, description = "Not an assistant's answer (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<MessageRating>, ApiError> {
    Ok(Json(state.services.ratings.clear(&identity, id).await?))
}
