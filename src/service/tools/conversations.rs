//! `search_conversations`: full-text search over the caller's own past conversations, so an
//! agent can recall what was said before. RLS keeps it to the caller's messages.

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolError};
use crate::engine::grammar::ToolSpec;
use crate::store::Store;

const DEFAULT_LIMIT: i64 = 5;

pub struct SearchConversations {
    store: Store,
}

impl SearchConversations {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl Tool for SearchConversations {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "search_conversations".into(),
            description: "Search the user's earlier conversations for words or phrases.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": { "type": "string", "minLength": 1, "maxLength": 200,
                               "description": "Words to look for" },
                    "limit": { "type": "integer", "minimum": 1, "maximum": 20 },
                },
                "required": ["query"],
                "additionalProperties": false,
            }),
        }
    }

    fn call<'a>(
        &'a self,
        context: &'a ToolContext,
        arguments: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let query = arguments["query"].as_str().unwrap_or_default().to_owned();
            let limit = arguments["limit"].as_i64().unwrap_or(DEFAULT_LIMIT);
            let matches = self
                .store
                .search_messages(context.caller.user_id(), query, limit)
                .await
                .map_err(|err| ToolError::Failed(format!("the search failed: {err}")))?;
            Ok(json!({ "matches": matches }))
        }
        .boxed()
    }
}
