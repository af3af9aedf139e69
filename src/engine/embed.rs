//! Text embeddings, in-process: all-MiniLM-L6-v2 style BERT models straight from their
//! safetensors with candle, or any GGUF embedding model through llama.cpp. The backend is chosen
//! by the path: a folder holding `config.json` + `model.safetensors` + `tokenizer.json` runs on
//! candle, a `.gguf` file on llama.cpp.
//!
//! Compute blocks, so the model lives on its own OS thread fed by a bounded channel; each
//! request carries its own reply channel. Vectors come back L2-normalised, so a dot product is
//! their cosine similarity.

mod gguf;
mod minilm;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::EngineError;

/// Requests waiting for the model thread before senders wait (back-pressure, not a limit).
const QUEUE: usize = 64;

/// How to run an embedding model.
#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    /// Name reported with the vectors (and stored beside them); default: the file or folder name.
    pub name: Option<String>,
    /// CPU threads for llama.cpp (candle sizes its own pool from the machine).
    pub threads: u32,
    /// Word pieces per text; longer texts are truncated. Default: the model's own limit
    /// (`sentence_bert_config.json` for candle, capped by its position table; the trained
    /// context, at most 512, for GGUF).
    pub max_tokens: Option<usize>,
    /// Texts computed together in one forward pass.
    pub batch_size: usize,
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        Self {
            name: None,
            threads: 1,
            max_tokens: None,
            batch_size: 16,
        }
    }
}

/// Which implementation runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddingBackend {
    Candle,
    LlamaCpp,
}

/// What a loaded model is.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EmbedderInfo {
    pub model_name: String,
    pub path: PathBuf,
    pub backend: EmbeddingBackend,
    pub dims: usize,
    pub max_tokens: usize,
}

/// Vectors of one request, in input order, and the word pieces they took.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    pub tokens: usize,
}

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Embeddings, EngineError>>,
}

/// A clonable handle to one embedding model running on its own thread. The thread ends when
/// the last handle is dropped.
#[derive(Clone)]
pub struct Embedder {
    jobs: mpsc::Sender<Job>,
    info: Arc<EmbedderInfo>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// One loaded model, on its thread: embeds a batch of texts (already bounded by `batch_size`).
trait Backend {
    fn embed(&mut self, texts: &[String]) -> Result<Embeddings, EngineError>;
}

impl Embedder {
    /// Loads the model at `path` on a new thread and returns once it is ready.
    pub async fn load(path: &Path, options: EmbedderOptions) -> Result<Self, EngineError> {
        let backend = detect(path)?;
        let path = path.to_owned();
        let name = options.name.clone().unwrap_or_else(|| default_name(&path));
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(QUEUE);
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name(format!("embed-{name}"))
            .spawn(move || match backend {
                EmbeddingBackend::Candle => match minilm::MiniLm::load(&thread_path, &options) {
                    Ok(model) => {
                        let facts = (model.dims(), model.max_tokens());
                        serve(model, facts, options.batch_size, ready_tx, jobs_rx);
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                    }
                },
                EmbeddingBackend::LlamaCpp => gguf::run(&thread_path, &options, ready_tx, jobs_rx),
            })
            .map_err(|err| EngineError::Load(format!("cannot start the embedding thread: {err}")))?;
        let (dims, max_tokens) = ready_rx
            .await
            .map_err(|_| EngineError::Load("the embedding thread ended while loading".into()))??;
        Ok(Self {
            jobs: jobs_tx,
            info: Arc::new(EmbedderInfo {
                model_name: name,
                path,
                backend,
                dims,
                max_tokens,
            }),
        })
    }

    /// Embeds `texts` (in order), L2-normalised.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EngineError> {
        Ok(self.embed_counted(texts).await?.vectors)
    }

    /// Like [`Embedder::embed`], with the number of word pieces the model read.
    pub async fn embed_counted(&self, texts: Vec<String>) -> Result<Embeddings, EngineError> {
        if texts.is_empty() {
            return Ok(Embeddings {
                vectors: Vec::new(),
                tokens: 0,
            });
        }
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { texts, reply })
            .await
            .map_err(|_| EngineError::Embedding("the embedding thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| EngineError::Embedding("the embedding thread ended mid-request".into()))?
    }

    pub fn dims(&self) -> usize {
        self.info.dims
    }

    pub fn model_name(&self) -> &str {
        &self.info.model_name
    }

    pub fn info(&self) -> &EmbedderInfo {
        &self.info
    }
}

/// The backend a path calls for, or why it is not an embedding model.
pub fn detect(path: &Path) -> Result<EmbeddingBackend, EngineError> {
    let unusable = |reason: &str| EngineError::EmbeddingModel {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.is_dir() {
        let missing: Vec<&str> = ["config.json", "model.safetensors", "tokenizer.json"]
            .into_iter()
            .filter(|file| !path.join(file).is_file())
            .collect();
        if missing.is_empty() {
            return Ok(EmbeddingBackend::Candle);
        }
        return Err(unusable(&format!("the folder lacks {}", missing.join(", "))));
    }
    if path.is_file() {
        if path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("gguf"))
        {
            return Ok(EmbeddingBackend::LlamaCpp);
        }
        return Err(unusable(
            "expected a .gguf file or a folder with config.json, model.safetensors and tokenizer.json",
        ));
    }
    Err(EngineError::ModelMissing(path.display().to_string()))
}

fn default_name(path: &Path) -> String {
    let stem = if path.is_dir() {
        path.file_name()
    } else {
        path.file_stem()
    };
    stem.map_or_else(|| "embedding".to_owned(), |s| s.to_string_lossy().into_owned())
}

/// The model thread's loop: reports ready, then answers jobs until every handle is gone.
fn serve(
    mut backend: impl Backend,
    facts: (usize, usize),
    batch_size: usize,
    ready: oneshot::Sender<Result<(usize, usize), EngineError>>,
    mut jobs: mpsc::Receiver<Job>,
) {
    if ready.send(Ok(facts)).is_err() {
        return;
    }
    while let Some(job) = jobs.blocking_recv() {
        // The caller went away while the job waited: skip the work.
        if job.reply.is_closed() {
            continue;
        }
        let result = embed_batched(&mut backend, &job.texts, batch_size.max(1));
        let _ = job.reply.send(result);
    }
}

/// Runs the texts through the model `batch_size` at a time. Texts are grouped by length so a
/// batch pads little; the answer keeps the caller's order.
fn embed_batched(
    backend: &mut impl Backend,
    texts: &[String],
    batch_size: usize,
) -> Result<Embeddings, EngineError> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
    let mut tokens = 0;
    for group in order.chunks(batch_size) {
        let batch: Vec<String> = group.iter().map(|&i| texts[i].clone()).collect();
        let done = backend.embed(&batch)?;
        tokens += done.tokens;
        for (&i, vector) in group.iter().zip(done.vectors) {
            vectors[i] = vector;
        }
    }
    Ok(Embeddings { vectors, tokens })
}

/// Scales `v` to length 1 (a zero vector stays zero), as sentence-transformers' `Normalize`.
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in v {
        *x /= norm;
    }
}

/// Cosine similarity of two vectors of the same length.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}

#[cfg(test)]
mod tests;
