//! Ratings on messages. RLS shows a user only their own messages, so another user's message is
//! simply not found.

use chrono::{DateTime, Utc};
use futures::FutureExt;
use uuid::Uuid;

use super::{Actor, Store, StoreError};
use crate::domain::{MessageRating, Rating};

/// What became of a rating change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingChange {
    Changed(MessageRating),
    /// The message exists (and is the caller's) but is not an assistant's answer.
    NotAnAnswer {
        role: String,
    },
}

#[derive(sqlx::FromRow)]
struct RatingRow {
    id: Uuid,
    rating: Option<i16>,
    rating_comment: Option<String>,
    rated_at: Option<DateTime<Utc>>,
}

impl From<RatingRow> for MessageRating {
    fn from(row: RatingRow) -> Self {
        MessageRating {
            message_id: row.id,
            rating: row.rating.and_then(Rating::from_i16),
            comment: row.rating_comment,
            rated_at: row.rated_at,
        }
    }
}

impl Store {
    /// Sets (`Some`) or clears (`None`) the rating of an assistant message of `actor`; the
    /// comment goes with the rating and is cleared with it.
    pub async fn set_message_rating(
        &self,
        actor: Actor,
        message_id: Uuid,
        rating: Option<(Rating, Option<String>)>,
    ) -> Result<RatingChange, StoreError> {
        let (value, comment) = match rating {
            Some((rating, comment)) => (Some(rating.as_i16()), comment),
            None => (None, None),
        };
        self.run_as(actor, move |conn| {
            async move {
                let updated: Option<RatingRow> = sqlx::query_as(
                    "update public.messages
                        set rating = $2, rating_comment = $3,
                            rated_at = case when $2::smallint is null then null else now() end
                      where id = $1 and role = 'assistant'
                      returning id, rating, rating_comment, rated_at",
                )
                .bind(message_id)
                .bind(value)
                .bind(comment)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(row) = updated {
                    return Ok(RatingChange::Changed(row.into()));
                }
                // Nothing updated: tell a message that is not an answer from one that is not
                // there (or not the caller's).
                let role: String = sqlx::query_scalar("select role from public.messages where id = $1")
                    .bind(message_id)
                    .fetch_one(conn)
                    .await?;
                Ok(RatingChange::NotAnAnswer { role })
            }
            .boxed()
        })
        .await
    }
}
