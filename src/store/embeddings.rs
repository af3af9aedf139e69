//! Embeddings for semantic search. Every operation runs as the caller, so row-level security
//! decides what is visible. Vectors are stored in pgvector's `vector` when the server has it
//! (HNSW cosine index), else in `real[]` searched exactly with `public.embedding_cosine()`; the
//! column's type, read once, picks the SQL.

use futures::FutureExt;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Actor, Store, StoreError};
use crate::domain::{SearchHit, SearchSource, SourceRef};

/// How the `embedding` column stores vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorStorage {
    /// pgvector `vector`, searched through HNSW cosine indexes; `iterative_scan` when the
    /// extension is 0.8 or newer.
    PgVector { iterative_scan: bool },
    /// `real[]`, searched exactly (no extension needed).
    RealArray,
}

/// Chunks of one file read back at most (the service keeps 64 per file).
const MAX_CHUNKS_READ: i64 = 1000;

/// pgvector's HNSW indexes take at most this many dimensions.
const HNSW_MAX_DIMS: usize = 2000;

/// One vector to store for the caller.
#[derive(Debug, Clone)]
pub struct NewEmbedding {
    pub source: SourceRef,
    pub content: String,
    pub model: String,
    pub embedding: Vec<f32>,
}

/// A message of the caller that has no vector from a model yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnindexedMessage {
    pub id: Uuid,
    pub content: String,
}

#[derive(sqlx::FromRow)]
struct HitRow {
    source: String,
    message_id: Option<Uuid>,
    path: Option<String>,
    chunk: i32,
    content: String,
    score: Option<f64>,
}

impl HitRow {
    fn into_hit(self) -> Option<SearchHit> {
        let source = match (SearchSource::parse(&self.source)?, self.message_id, self.path) {
            (SearchSource::Message, Some(message_id), _) => SourceRef::Message { message_id },
            (SearchSource::Workspace, _, Some(path)) => SourceRef::Workspace {
                path,
                chunk: self.chunk,
            },
            _ => return None,
        };
        Some(SearchHit {
            source,
            snippet: self.content,
            score: self.score.unwrap_or(0.0),
        })
    }
}

/// Iterative index scans came with pgvector 0.8.
fn has_iterative_scan(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (0, 8)
}

/// pgvector's text form of a vector: `[0.1,0.2,...]`.
fn vector_literal(v: &[f32]) -> String {
    let parts: Vec<String> = v.iter().map(f32::to_string).collect();
    format!("[{}]", parts.join(","))
}

impl Store {
    /// How vectors are stored, read from the catalog on first use.
    pub async fn vector_storage(&self) -> Result<VectorStorage, StoreError> {
        if let Some(storage) = self.vector_storage.get() {
            return Ok(*storage);
        }
        let storage = self
            .run_system(|conn| {
                async move {
                    let found: Option<(String, Option<String>)> = sqlx::query_as(
                        "select t.typname::text,
                                (select extversion from pg_catalog.pg_extension where extname = 'vector')
                           from pg_catalog.pg_attribute a
                           join pg_catalog.pg_type t on t.oid = a.atttypid
                          where a.attrelid = 'public.embeddings'::regclass and a.attname = 'embedding'",
                    )
                    .fetch_optional(&mut *conn)
                    .await?;
                    Ok(match found {
                        Some((type_name, version)) if type_name == "vector" => VectorStorage::PgVector {
                            iterative_scan: version.as_deref().is_some_and(has_iterative_scan),
                        },
                        _ => VectorStorage::RealArray,
                    })
                }
                .boxed()
            })
            .await?;
        Ok(*self.vector_storage.get_or_init(|| storage))
    }

    /// With pgvector, makes sure vectors of `dims` dimensions have their HNSW index (the
    /// migration makes the one for 384). Runs as the owner: indexes are schema changes.
    pub async fn ensure_vector_index(&self, dims: usize) -> Result<(), StoreError> {
        let pgvector = matches!(self.vector_storage().await?, VectorStorage::PgVector { .. });
        if !pgvector || dims > HNSW_MAX_DIMS || dims == 0 {
            return Ok(());
        }
        // `dims` is a number, not caller text: safe to put in the statement.
        let sql = format!(
            "create index if not exists embeddings_hnsw_{dims}_idx on public.embeddings
                 using hnsw ((embedding::vector({dims})) vector_cosine_ops) where dims = {dims}"
        );
        self.run_system(move |conn| {
            async move {
                sqlx::query(&sql).execute(&mut *conn).await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// Stores vectors for the caller, replacing earlier ones of the same source, chunk and model.
    /// For a workspace file, `drop_chunks_from` removes its chunks from that index on (the file
    /// got shorter).
    pub async fn upsert_embeddings(
        &self,
        user: Uuid,
        rows: Vec<NewEmbedding>,
        drop_chunks_from: Option<(String, String, i32)>,
    ) -> Result<u64, StoreError> {
        let storage = self.vector_storage().await?;
        self.run_as(Actor::User(user), move |conn| {
            async move {
                if let Some((path, model, from)) = drop_chunks_from {
                    sqlx::query(
                        "delete from public.embeddings
                          where owner = $1 and source = 'workspace' and path = $2 and model = $3 and chunk >= $4",
                    )
                    .bind(user)
                    .bind(path)
                    .bind(model)
                    .bind(from)
                    .execute(&mut *conn)
                    .await?;
                }
                let mut written = 0;
                for row in rows {
                    written += insert_one(conn, storage, user, row).await?;
                }
                Ok(written)
            }
            .boxed()
        })
        .await
    }

    /// The caller's messages with text and no vector from `model`, oldest first, at most `limit`.
    pub async fn unindexed_messages(
        &self,
        user: Uuid,
        model: String,
        limit: i64,
    ) -> Result<Vec<UnindexedMessage>, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                Ok(sqlx::query_as::<_, UnindexedMessage>(
                    "select m.id, m.content from public.messages m
                      where m.user_id = $1 and m.role in ('user', 'assistant') and m.content <> ''
                        and not exists (select 1 from public.embeddings e
                                         where e.message_id = m.id and e.owner = $1 and e.model = $2)
                      order by m.seq
                      limit $3",
                )
                .bind(user)
                .bind(model)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?)
            }
            .boxed()
        })
        .await
    }

    /// The stored chunks of one of the caller's workspace files for `model`, in order (so an
    /// unchanged file need not be embedded again).
    pub async fn workspace_chunks(
        &self,
        user: Uuid,
        path: String,
        model: String,
    ) -> Result<Vec<String>, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                Ok(sqlx::query_scalar(
                    "select content from public.embeddings
                      where owner = $1 and source = 'workspace' and path = $2 and model = $3
                      order by chunk
                      limit $4",
                )
                .bind(user)
                .bind(path)
                .bind(model)
                .bind(MAX_CHUNKS_READ)
                .fetch_all(&mut *conn)
                .await?)
            }
            .boxed()
        })
        .await
    }

    /// Removes the caller's workspace vectors of `model` for files not in `keep` (deleted or no
    /// longer text). Returns how many rows went.
    pub async fn drop_workspace_files_except(
        &self,
        user: Uuid,
        model: String,
        keep: Vec<String>,
    ) -> Result<u64, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                Ok(sqlx::query(
                    "delete from public.embeddings
                      where owner = $1 and source = 'workspace' and model = $2 and path <> all($3)",
                )
                .bind(user)
                .bind(model)
                .bind(keep)
                .execute(&mut *conn)
                .await?
                .rows_affected())
            }
            .boxed()
        })
        .await
    }

    /// The text of one of the caller's messages (RLS: another user's is "not found").
    pub async fn message_text(&self, user: Uuid, message_id: Uuid) -> Result<String, StoreError> {
        self.run_as(Actor::User(user), move |conn| {
            async move {
                Ok(
                    sqlx::query_scalar("select content from public.messages where id = $1")
                        .bind(message_id)
                        .fetch_one(&mut *conn)
                        .await?,
                )
            }
            .boxed()
        })
        .await
    }

    /// The caller's `k` nearest vectors of `model` by cosine similarity, best first.
    pub async fn search_embeddings(
        &self,
        user: Uuid,
        model: String,
        query: Vec<f32>,
        sources: Vec<SearchSource>,
        k: i64,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let storage = self.vector_storage().await?;
        let sources: Vec<String> = sources.iter().map(|s| s.as_str().to_owned()).collect();
        let dims = query.len();
        self.run_as(Actor::User(user), move |conn| {
            async move {
                let columns = "source, message_id, path, chunk, content";
                let filter = "owner = $1 and model = $2 and source = any($3) and dims = $4";
                let rows: Vec<HitRow> = match storage {
                    VectorStorage::PgVector { iterative_scan } => {
                        // The HNSW index is shared by every user: filtering its candidates to the
                        // caller's rows can leave fewer than k. pgvector 0.8's iterative scan keeps
                        // reading the index until k rows pass (in relaxed order, re-sorted below).
                        if iterative_scan {
                            sqlx::query("select set_config('hnsw.iterative_scan', 'relaxed_order', true)")
                                .execute(&mut *conn)
                                .await?;
                        }
                        // The cast to vector(dims) is what the partial HNSW index is built on.
                        let sql = format!(
                            "with hits as materialized (
                                 select {columns}, embedding::vector({dims}) <=> $5::vector({dims}) as distance
                                   from public.embeddings where {filter}
                                  order by distance
                                  limit $6)
                             select {columns}, 1 - distance as score from hits order by distance"
                        );
                        sqlx::query_as(&sql)
                            .bind(user)
                            .bind(model)
                            .bind(sources)
                            .bind(i32::try_from(dims).unwrap_or(i32::MAX))
                            .bind(vector_literal(&query))
                            .bind(k)
                            .fetch_all(&mut *conn)
                            .await?
                    }
                    VectorStorage::RealArray => {
                        let sql = format!(
                            "select {columns}, public.embedding_cosine(embedding, $5) as score
                               from public.embeddings where {filter}
                              order by score desc nulls last
                              limit $6"
                        );
                        sqlx::query_as(&sql)
                            .bind(user)
                            .bind(model)
                            .bind(sources)
                            .bind(i32::try_from(dims).unwrap_or(i32::MAX))
                            .bind(query)
                            .bind(k)
                            .fetch_all(&mut *conn)
                            .await?
                    }
                };
                Ok(rows.into_iter().filter_map(HitRow::into_hit).collect())
            }
            .boxed()
        })
        .await
    }
}

async fn insert_one(
    conn: &mut PgConnection,
    storage: VectorStorage,
    user: Uuid,
    row: NewEmbedding,
) -> Result<u64, StoreError> {
    let (source, message_id, path, chunk) = match row.source {
        SourceRef::Message { message_id } => ("message", Some(message_id), None, 0),
        SourceRef::Workspace { path, chunk } => ("workspace", None, Some(path), chunk),
    };
    let value = match storage {
        VectorStorage::PgVector { .. } => "$8::text::vector",
        VectorStorage::RealArray => "$8::real[]",
    };
    let sql = format!(
        "insert into public.embeddings (owner, source, message_id, path, chunk, content, model, dims, embedding)
         values ($1, $2, $3, $4, $5, $6, $7, $9, {value})
         on conflict on constraint embeddings_source_key do update
            set content = excluded.content, dims = excluded.dims, embedding = excluded.embedding,
                created_at = now()"
    );
    let dims = i32::try_from(row.embedding.len()).unwrap_or(i32::MAX);
    let query = sqlx::query(&sql)
        .bind(user)
        .bind(source)
        .bind(message_id)
        .bind(path)
        .bind(chunk)
        .bind(row.content)
        .bind(row.model);
    let query = match storage {
        VectorStorage::PgVector { .. } => query.bind(vector_literal(&row.embedding)),
        VectorStorage::RealArray => query.bind(row.embedding),
    };
    Ok(query.bind(dims).execute(&mut *conn).await?.rows_affected())
}
