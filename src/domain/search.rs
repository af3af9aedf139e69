use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What an embedding was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchSource {
    Message,
    Workspace,
}

impl SearchSource {
    pub const ALL: [SearchSource; 2] = [SearchSource::Message, SearchSource::Workspace];

    pub fn as_str(self) -> &'static str {
        match self {
            SearchSource::Message => "message",
            SearchSource::Workspace => "workspace",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// Where a hit came from: a chat message, or a chunk of a workspace file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum SourceRef {
    Message { message_id: Uuid },
    Workspace { path: String, chunk: i32 },
}

/// One result of a semantic search.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchHit {
    #[serde(flatten)]
    pub source: SourceRef,
    /// The embedded text (a message's start, or the file chunk), at most a few thousand characters.
    pub snippet: String,
    /// Cosine similarity to the query, -1 to 1.
    pub score: f64,
}
