//! Thumbs up or down on an assistant's answer, with an optional comment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    Up,
    Down,
}

impl Rating {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "up" => Some(Rating::Up),
            "down" => Some(Rating::Down),
            _ => None,
        }
    }

    /// The stored value: `messages.rating` is 1 or -1.
    pub fn as_i16(self) -> i16 {
        match self {
            Rating::Up => 1,
            Rating::Down => -1,
        }
    }

    pub fn from_i16(value: i16) -> Option<Self> {
        match value {
            1 => Some(Rating::Up),
            -1 => Some(Rating::Down),
            _ => None,
        }
    }
}

/// A message's rating as it stands; all `None` once cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MessageRating {
    pub message_id: Uuid,
    pub rating: Option<Rating>,
    pub comment: Option<String>,
    pub rated_at: Option<DateTime<Utc>>,
}
