//! Semantic search over the caller's own messages and workspace files, and plain embeddings for
//! the OpenAI-compatible `/v1/embeddings`. Vectors are stored per user; row-level security keeps
//! every user to their own.

mod model;
mod workspace;

use std::path::PathBuf;

use serde::Serialize;
use uuid::Uuid;

use super::ServiceError;
use crate::config::Settings;
use crate::domain::{Identity, SearchHit, SearchSource, SourceRef};
use crate::engine::embed::{Embedder, Embeddings};
use crate::store::{NewEmbedding, Store};
use crate::tools::workspace::Workspace;
pub use model::EmbeddingModel;

/// Texts in one embeddings request.
pub const MAX_INPUTS: usize = 256;
/// Characters of one text (the model reads its first 256 word pieces; this bounds tokenizing).
pub const MAX_INPUT_CHARS: usize = 50_000;
/// Characters of a search query.
pub const MAX_QUERY_CHARS: usize = 2_000;
/// Results of one search.
pub const MAX_K: u32 = 50;
pub const DEFAULT_K: u32 = 10;
/// Messages embedded per indexing run.
const MAX_MESSAGES_PER_RUN: i64 = 500;
/// Characters of a message kept as its snippet.
const SNIPPET_CHARS: usize = 1_000;
/// Texts sent to the model at once while indexing.
const INDEX_BATCH: usize = 32;

/// Vectors for `/v1/embeddings`, with the model that made them.
#[derive(Debug, Clone)]
pub struct EmbeddingResult {
    pub model: String,
    pub embeddings: Embeddings,
}

/// The answer to a semantic search.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    pub model: String,
    pub results: Vec<SearchHit>,
}

/// What an indexing run did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct IndexReport {
    pub model: String,
    pub messages: usize,
    pub files: usize,
    pub chunks: usize,
    /// Files whose chunks were already stored as they are now (not embedded again).
    pub unchanged_files: usize,
    /// Files passed over: binary, too large, not UTF-8, or beyond the per-run limit.
    pub skipped_files: usize,
    /// Stored chunks removed because their file is gone (or no longer text).
    pub removed_chunks: u64,
}

#[derive(Debug, Clone)]
pub struct SearchService {
    store: Store,
    workspace: PathBuf,
    model: EmbeddingModel,
}

fn snippet(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

impl SearchService {
    pub fn new(store: Store, settings: &Settings) -> Self {
        Self {
            store,
            workspace: settings.workspace.clone(),
            model: EmbeddingModel::new(settings),
        }
    }

    /// The platform's embedding model handle (the composition root preloads it).
    pub fn model(&self) -> &EmbeddingModel {
        &self.model
    }

    async fn embedder(&self) -> Result<Embedder, ServiceError> {
        let embedder = self.model.get().await?;
        self.store.ensure_vector_index(embedder.dims()).await?;
        Ok(embedder)
    }

    /// Embeds texts as they are (for `/v1/embeddings`), after checking their number and size.
    pub async fn embed(&self, texts: Vec<String>) -> Result<EmbeddingResult, ServiceError> {
        if texts.is_empty() {
            return Err(ServiceError::invalid(
                "input",
                "input must hold at least one text",
            ));
        }
        if texts.len() > MAX_INPUTS {
            return Err(ServiceError::invalid(
                "input",
                format!("at most {MAX_INPUTS} texts per request"),
            ));
        }
        if texts.iter().any(String::is_empty) {
            return Err(ServiceError::invalid("input", "input texts must not be empty"));
        }
        if texts.iter().any(|t| t.chars().count() > MAX_INPUT_CHARS) {
            return Err(ServiceError::invalid(
                "input",
                format!("each text may have at most {MAX_INPUT_CHARS} characters"),
            ));
        }
        let embedder = self.model.get().await?;
        let embeddings = embedder.embed_counted(texts).await?;
        Ok(EmbeddingResult {
            model: embedder.model_name().to_owned(),
            embeddings,
        })
    }

    /// Embeds one of the caller's messages (another user's message is "not found").
    pub async fn index_message(&self, caller: &Identity, message_id: Uuid) -> Result<(), ServiceError> {
        let user = caller.user_id();
        let text = self
            .store
            .message_text(user, message_id)
            .await
            .map_err(|err| match err {
                crate::store::StoreError::NotFound => ServiceError::NotFound("message"),
                other => other.into(),
            })?;
        if text.trim().is_empty() {
            return Ok(());
        }
        let embedder = self.embedder().await?;
        let vector = embedder.embed(vec![text.clone()]).await?;
        let rows = vector
            .into_iter()
            .map(|embedding| NewEmbedding {
                source: SourceRef::Message { message_id },
                content: snippet(&text, SNIPPET_CHARS),
                model: embedder.model_name().to_owned(),
                embedding,
            })
            .collect();
        self.store.upsert_embeddings(user, rows, None).await?;
        Ok(())
    }

    /// Embeds the given messages of the caller (each replaces its earlier vector).
    pub async fn index_messages(&self, caller: &Identity, ids: &[Uuid]) -> Result<IndexReport, ServiceError> {
        let embedder = self.embedder().await?;
        for id in ids {
            self.index_message(caller, *id).await?;
        }
        Ok(IndexReport {
            model: embedder.model_name().to_owned(),
            messages: ids.len(),
            ..IndexReport::default()
        })
    }

    /// Embeds what the caller has that is not embedded yet: their messages (up to 500 a run)
    /// and the text files of their workspace folder (their company's, or their own without a
    /// company) that are new or changed since their last indexing.
    pub async fn reindex(
        &self,
        caller: &Identity,
        sources: &[SearchSource],
    ) -> Result<IndexReport, ServiceError> {
        let user = caller.user_id();
        let embedder = self.embedder().await?;
        let model = embedder.model_name().to_owned();
        let mut report = IndexReport {
            model: model.clone(),
            ..IndexReport::default()
        };
        if sources.contains(&SearchSource::Message) {
            let messages = self
                .store
                .unindexed_messages(user, model.clone(), MAX_MESSAGES_PER_RUN)
                .await?;
            for group in messages.chunks(INDEX_BATCH) {
                let texts: Vec<String> = group.iter().map(|m| m.content.clone()).collect();
                let vectors = embedder.embed(texts).await?;
                let rows = group
                    .iter()
                    .zip(vectors)
                    .map(|(message, embedding)| NewEmbedding {
                        source: SourceRef::Message {
                            message_id: message.id,
                        },
                        content: snippet(&message.content, SNIPPET_CHARS),
                        model: model.clone(),
                        embedding,
                    })
                    .collect();
                self.store.upsert_embeddings(user, rows, None).await?;
                report.messages += group.len();
            }
        }
        if sources.contains(&SearchSource::Workspace) {
            // The caller's own workspace folder (their company's), as the workspace tools see it.
            let base = self.workspace.clone();
            let owner = caller.user.clone();
            let walk = tokio::task::spawn_blocking(move || {
                Workspace::for_user(&base, &owner).map(|root| workspace::text_files(root.root()))
            })
            .await
            .map_err(|err| ServiceError::Engine(crate::engine::EngineError::Embedding(err.to_string())))??;
            report.skipped_files = walk.skipped;
            let seen: Vec<String> = walk.files.iter().map(|f| f.path.clone()).collect();
            for file in walk.files {
                let stored = self
                    .store
                    .workspace_chunks(user, file.path.clone(), model.clone())
                    .await?;
                if stored == file.chunks {
                    report.unchanged_files += 1;
                    continue;
                }
                let vectors = embedder.embed(file.chunks.clone()).await?;
                let count = i32::try_from(file.chunks.len()).unwrap_or(i32::MAX);
                let rows = (0..)
                    .zip(file.chunks.into_iter().zip(vectors))
                    .map(|(chunk, (content, embedding))| NewEmbedding {
                        source: SourceRef::Workspace {
                            path: file.path.clone(),
                            chunk,
                        },
                        content,
                        model: model.clone(),
                        embedding,
                    })
                    .collect();
                let stale = Some((file.path.clone(), model.clone(), count));
                self.store.upsert_embeddings(user, rows, stale).await?;
                report.files += 1;
                report.chunks += usize::try_from(count).unwrap_or(0);
            }
            // Only a complete walk knows which files are gone.
            if !walk.truncated {
                report.removed_chunks = self
                    .store
                    .drop_workspace_files_except(user, model.clone(), seen)
                    .await?;
            }
        }
        Ok(report)
    }

    /// The caller's `k` most similar messages and file chunks to `query`, best first.
    pub async fn search(
        &self,
        caller: &Identity,
        query: &str,
        k: Option<u32>,
        sources: Option<Vec<SearchSource>>,
    ) -> Result<SearchResults, ServiceError> {
        let query = query.trim();
        if query.is_empty() {
            return Err(ServiceError::invalid("query", "query must not be empty"));
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(ServiceError::invalid(
                "query",
                format!("query may have at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        let k = k.unwrap_or(DEFAULT_K);
        if !(1..=MAX_K).contains(&k) {
            return Err(ServiceError::invalid("k", format!("k must be from 1 to {MAX_K}")));
        }
        let sources = sources.unwrap_or_else(|| SearchSource::ALL.to_vec());
        if sources.is_empty() {
            return Err(ServiceError::invalid(
                "sources",
                "sources must name message and/or workspace",
            ));
        }
        let embedder = self.embedder().await?;
        let vector = embedder
            .embed(vec![query.to_owned()])
            .await?
            .pop()
            .unwrap_or_default();
        let model = embedder.model_name().to_owned();
        let results = self
            .store
            .search_embeddings(caller.user_id(), model.clone(), vector, sources, i64::from(k))
            .await?;
        Ok(SearchResults { model, results })
    }
}
