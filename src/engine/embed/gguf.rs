//! GGUF embedding models through llama.cpp, so operators can use the embedding models they
//! already have (BERT, nomic-bert, …). The model's own pooling (from its GGUF) is used;
//! vectors are L2-normalised here, like the candle path.
//!
//! Several texts go through one decode as separate sequences. Each text must fit in one
//! micro-batch (non-causal attention sees the whole sequence at once), so texts are cut to
//! `max_tokens` word pieces, keeping the closing separator as sentence-transformers does.

use std::num::NonZeroU32;
use std::path::Path;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::{mpsc, oneshot};

use super::{Backend, EmbedderOptions, Embeddings, Job, normalize, serve};
use crate::engine::EngineError;
use crate::engine::llama::backend;

/// Tokens decoded together at most; texts are packed into batches up to this many tokens.
/// Attention over a micro-batch costs tokens² memory, so it stays modest.
const BATCH_TOKENS: usize = 512;
/// Word pieces per text when neither the options nor a smaller trained context say otherwise.
const DEFAULT_MAX_TOKENS: usize = 512;

/// Loads the GGUF on this thread (llama.cpp contexts must be made where they are used) and
/// serves jobs until every handle is dropped.
pub fn run(
    path: &Path,
    options: &EmbedderOptions,
    ready: oneshot::Sender<Result<(usize, usize), EngineError>>,
    jobs: mpsc::Receiver<Job>,
) {
    let unusable = |reason: String| EngineError::EmbeddingModel {
        path: path.to_owned(),
        reason,
    };
    let backend = match backend::shared() {
        Ok(backend) => backend,
        Err(err) => {
            let _ = ready.send(Err(err));
            return;
        }
    };
    let model = match LlamaModel::load_from_file(&backend, path, &LlamaModelParams::default()) {
        Ok(model) => model,
        Err(err) => {
            let _ = ready.send(Err(unusable(err.to_string())));
            return;
        }
    };
    let trained = usize::try_from(model.n_ctx_train())
        .unwrap_or(DEFAULT_MAX_TOKENS)
        .max(2);
    let max_tokens = options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).clamp(2, trained);
    let batch_tokens = BATCH_TOKENS.max(max_tokens);
    let sequences = options.batch_size.clamp(1, 64);
    let threads = i32::try_from(options.threads.max(1)).unwrap_or(1);
    let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let params = LlamaContextParams::default()
        .with_embeddings(true)
        .with_n_ctx(NonZeroU32::new(to_u32(batch_tokens * sequences)))
        .with_n_batch(to_u32(batch_tokens))
        .with_n_ubatch(to_u32(batch_tokens))
        .with_n_seq_max(to_u32(sequences))
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let context = match model.new_context(&backend, params) {
        Ok(context) => context,
        Err(err) => {
            let _ = ready.send(Err(unusable(format!("cannot create a context: {err}"))));
            return;
        }
    };
    let dims = usize::try_from(model.n_embd_out()).unwrap_or(0);
    let mut runner = GgufEmbedder {
        model: &model,
        context,
        max_tokens,
        batch_tokens,
        sequences,
        dims,
    };
    // A chat model loads fine but pools nothing: find out now, not on the first request.
    if let Err(err) = runner.embed(&["probe".to_owned()]) {
        let _ = ready.send(Err(unusable(err.to_string())));
        return;
    }
    serve(runner, (dims, max_tokens), sequences, ready, jobs);
}

struct GgufEmbedder<'m> {
    model: &'m LlamaModel,
    context: LlamaContext<'m>,
    max_tokens: usize,
    batch_tokens: usize,
    sequences: usize,
    dims: usize,
}

impl GgufEmbedder<'_> {
    /// The text's tokens with the model's special tokens, cut to `max_tokens`.
    fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        let vocab = self.model.vocab();
        let mut tokens = vocab.tokenize(text.as_bytes(), true, false);
        if tokens.len() > self.max_tokens {
            let closing =
                (vocab.should_add_sep() || vocab.should_add_eos()).then(|| tokens[tokens.len() - 1]);
            tokens.truncate(self.max_tokens - usize::from(closing.is_some()));
            tokens.extend(closing);
        }
        tokens
    }

    /// Decodes texts as sequences 0.. of one batch and reads their pooled vectors.
    fn decode(&mut self, group: &[Vec<LlamaToken>], out: &mut Vec<Vec<f32>>) -> Result<(), EngineError> {
        let failed =
            |what: &str, err: &dyn std::fmt::Display| EngineError::Embedding(format!("{what}: {err}"));
        let total: usize = group.iter().map(Vec::len).sum();
        let seqs = i32::try_from(group.len()).unwrap_or(i32::MAX);
        let mut batch = LlamaBatch::new(total.max(1), seqs);
        for (seq, tokens) in (0..).zip(group) {
            batch
                .add_sequence(tokens, seq, true)
                .map_err(|err| failed("batch", &err))?;
        }
        // Models with a KV cache (causal embedders) must not see the previous batch.
        self.context.clear_kv_cache();
        self.context
            .decode(&mut batch)
            .map_err(|err| failed("decode", &err))?;
        for seq in 0..seqs {
            let pooled = self.context.embeddings_seq_ith(seq).map_err(|_| {
                EngineError::Embedding(
                    "the model returned no pooled vector: its GGUF names no pooling, so it is not an \
                     embedding model"
                        .into(),
                )
            })?;
            let mut vector = pooled.to_vec();
            normalize(&mut vector);
            out.push(vector);
        }
        Ok(())
    }
}

impl Backend for GgufEmbedder<'_> {
    fn embed(&mut self, texts: &[String]) -> Result<Embeddings, EngineError> {
        let tokenized: Vec<Vec<LlamaToken>> = texts.iter().map(|t| self.tokenize(t)).collect();
        let tokens = tokenized.iter().map(Vec::len).sum();
        let mut vectors = Vec::with_capacity(texts.len());
        // Pack texts in order until the token budget or the sequence slots run out.
        let mut start = 0;
        while start < tokenized.len() {
            let mut end = start;
            let mut used = 0;
            while end < tokenized.len()
                && end - start < self.sequences
                && (end == start || used + tokenized[end].len() <= self.batch_tokens)
            {
                used += tokenized[end].len();
                end += 1;
            }
            self.decode(&tokenized[start..end], &mut vectors)?;
            start = end;
        }
        if vectors.iter().any(|v| v.len() != self.dims) {
            return Err(EngineError::Embedding(
                "the model returned vectors of another size".into(),
            ));
        }
        Ok(Embeddings { vectors, tokens })
    }
}
