//! Ratings of answers: thumbs up or down, with an optional comment. Only an assistant's answer
//! can be rated, and only by the user it answered (RLS hides everyone else's messages).

use uuid::Uuid;

use super::ServiceError;
use super::error::NotFoundAs;
use crate::domain::{Identity, MessageRating, Rating};
use crate::store::{Actor, RatingChange, Store};

/// The database allows 2,000 characters (`messages_rating_comment_check`).
pub const MAX_COMMENT_CHARS: usize = 2000;

#[derive(Debug, Clone)]
pub struct RatingService {
    store: Store,
}

impl RatingService {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Rates an answer of the caller's; a blank comment is no comment.
    pub async fn rate(
        &self,
        caller: &Identity,
        message_id: Uuid,
        rating: Rating,
        comment: Option<&str>,
    ) -> Result<MessageRating, ServiceError> {
        let comment = comment.map(str::trim).filter(|text| !text.is_empty());
        if let Some(text) = comment
            && text.chars().count() > MAX_COMMENT_CHARS
        {
            return Err(ServiceError::invalid(
                "comment",
                format!("comment must be at most {MAX_COMMENT_CHARS} characters"),
            ));
        }
        self.change(caller, message_id, Some((rating, comment.map(str::to_owned))))
            .await
    }

    /// Clears the rating (and its comment) of an answer of the caller's.
    pub async fn clear(&self, caller: &Identity, message_id: Uuid) -> Result<MessageRating, ServiceError> {
        self.change(caller, message_id, None).await
    }

    async fn change(
        &self,
        caller: &Identity,
        message_id: Uuid,
        rating: Option<(Rating, Option<String>)>,
    ) -> Result<MessageRating, ServiceError> {
        match self
            .store
            .set_message_rating(Actor::User(caller.user_id()), message_id, rating)
            .await
            .not_found_as("message")?
        {
            RatingChange::Changed(rating) => Ok(rating),
            RatingChange::NotAnAnswer { role } => Err(ServiceError::invalid(
                "message",
                format!("only an assistant's answer can be rated; this is a {role} message"),
            )),
        }
    }
}
