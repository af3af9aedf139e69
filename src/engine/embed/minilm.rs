//! BERT sentence embeddings on candle (CPU), computed the way sentence-transformers computes
//! `all-MiniLM-L6-v2`: `WordPiece` from `tokenizer.json` truncated to `max_seq_length` word pieces,
//! the BERT encoder (exact erf GELU), mean pooling over the attention mask, L2 normalisation.
//! Written against the safetensors layout of Hugging Face `BertModel` checkpoints.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use tokenizers::{Tokenizer, TruncationParams};

use super::{Backend, EmbedderOptions, Embeddings, normalize};
use crate::engine::EngineError;

/// Added to attention scores of padding positions: their softmax weight becomes exactly 0.
const MASKED: f32 = -1.0e9;

#[derive(Debug, serde::Deserialize)]
struct Config {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    vocab_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    hidden_act: Option<String>,
    #[serde(default)]
    model_type: Option<String>,
}

fn default_type_vocab() -> usize {
    2
}

fn default_eps() -> f64 {
    1e-12
}

/// sentence-transformers' own settings beside the model (`sentence_bert_config.json`).
#[derive(Debug, serde::Deserialize)]
struct SentenceConfig {
    max_seq_length: Option<usize>,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

pub struct MiniLm {
    tokenizer: Tokenizer,
    words: Embedding,
    positions: Tensor,
    token_type: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
    max_tokens: usize,
    device: Device,
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(candle)`
fn candle(err: candle_core::Error) -> EngineError {
    EngineError::Embedding(err.to_string())
}

impl MiniLm {
    pub fn load(dir: &Path, options: &EmbedderOptions) -> Result<Self, EngineError> {
        let unusable = |reason: String| EngineError::EmbeddingModel {
            path: dir.to_owned(),
            reason,
        };
        let config_text = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|err| unusable(format!("config.json: {err}")))?;
        let config: Config =
            serde_json::from_str(&config_text).map_err(|err| unusable(format!("config.json: {err}")))?;
        if config.model_type.as_deref().is_some_and(|t| t != "bert") {
            return Err(unusable(format!(
                "model_type {:?} is not bert",
                config.model_type.unwrap_or_default()
            )));
        }
        if config.hidden_act.as_deref().is_some_and(|a| a != "gelu") {
            return Err(unusable("only the exact GELU activation is supported".into()));
        }
        if config.num_attention_heads == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
            return Err(unusable(
                "hidden_size is not a multiple of num_attention_heads".into(),
            ));
        }
        let model_limit = std::fs::read_to_string(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<SentenceConfig>(&text).ok())
            .and_then(|c| c.max_seq_length)
            .unwrap_or(512);
        let max_tokens = options
            .max_tokens
            .unwrap_or(model_limit)
            .clamp(2, config.max_position_embeddings);

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|err| unusable(format!("tokenizer.json: {err}")))?;
        // tokenizer.json of this model pads every text to 128 and cuts there; sentence-
        // transformers overrides both: no padding (the batch pads below), cut at max_seq_length.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(|err| unusable(format!("tokenizer truncation: {err}")))?;
        tokenizer.with_padding(None);

        // Read into memory rather than mapped: mapping the file needs unsafe code, and the
        // weights are copied into tensors anyway.
        let weights = std::fs::read(dir.join("model.safetensors"))
            .map_err(|err| unusable(format!("model.safetensors: {err}")))?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|err| unusable(format!("model.safetensors: {err}")))?;
        Self::build(&config, tokenizer, vb, max_tokens, device)
            .map_err(|err| unusable(format!("model.safetensors: {err}")))
    }

    fn build(
        config: &Config,
        tokenizer: Tokenizer,
        root: VarBuilder<'_>,
        max_tokens: usize,
        device: Device,
    ) -> candle_core::Result<Self> {
        // Some checkpoints carry the `bert.` prefix of BertForMaskedLM and friends.
        let vb = if root.contains_tensor("bert.embeddings.word_embeddings.weight") {
            root.pp("bert")
        } else {
            root
        };
        let hidden = config.hidden_size;
        let eps = config.layer_norm_eps;
        let emb = vb.pp("embeddings");
        let words = candle_nn::embedding(config.vocab_size, hidden, emb.pp("word_embeddings"))?;
        let positions = emb
            .pp("position_embeddings")
            .get((config.max_position_embeddings, hidden), "weight")?;
        let token_type = emb
            .pp("token_type_embeddings")
            .get((config.type_vocab_size, hidden), "weight")?
            .get(0)?;
        let embedding_norm = candle_nn::layer_norm(hidden, eps, emb.pp("LayerNorm"))?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let attention = l.pp("attention");
            layers.push(Layer {
                query: candle_nn::linear(hidden, hidden, attention.pp("self.query"))?,
                key: candle_nn::linear(hidden, hidden, attention.pp("self.key"))?,
                value: candle_nn::linear(hidden, hidden, attention.pp("self.value"))?,
                attention_out: candle_nn::linear(hidden, hidden, attention.pp("output.dense"))?,
                attention_norm: candle_nn::layer_norm(hidden, eps, attention.pp("output.LayerNorm"))?,
                intermediate: candle_nn::linear(
                    hidden,
                    config.intermediate_size,
                    l.pp("intermediate.dense"),
                )?,
                output: candle_nn::linear(config.intermediate_size, hidden, l.pp("output.dense"))?,
                output_norm: candle_nn::layer_norm(hidden, eps, l.pp("output.LayerNorm"))?,
            });
        }
        Ok(Self {
            tokenizer,
            words,
            positions,
            token_type,
            embedding_norm,
            layers,
            heads: config.num_attention_heads,
            hidden,
            max_tokens,
            device,
        })
    }

    pub fn dims(&self) -> usize {
        self.hidden
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Token ids and the attention mask of a batch, right-padded with 0 to its longest text.
    fn tokenize(&self, texts: &[String]) -> Result<(Tensor, Tensor, usize), EngineError> {
        let mut ids: Vec<Vec<u32>> = Vec::with_capacity(texts.len());
        for text in texts {
            let encoding = self
                .tokenizer
                .encode(text.as_str(), true)
                .map_err(|err| EngineError::Embedding(format!("tokenizer: {err}")))?;
            ids.push(encoding.get_ids().to_vec());
        }
        let longest = ids.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let tokens = ids.iter().map(Vec::len).sum();
        let mut flat_ids = Vec::with_capacity(texts.len() * longest);
        let mut flat_mask = Vec::with_capacity(texts.len() * longest);
        for row in &ids {
            flat_ids.extend(
                row.iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, longest - row.len())),
            );
            flat_mask.extend(
                std::iter::repeat_n(1f32, row.len()).chain(std::iter::repeat_n(0f32, longest - row.len())),
            );
        }
        let shape = (texts.len(), longest);
        let ids = Tensor::from_vec(flat_ids, shape, &self.device).map_err(candle)?;
        let mask = Tensor::from_vec(flat_mask, shape, &self.device).map_err(candle)?;
        Ok((ids, mask, tokens))
    }

    fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len) = ids.dims2()?;
        let head_dim = self.hidden / self.heads;
        let mut x = self
            .words
            .forward(ids)?
            .broadcast_add(&self.positions.narrow(0, 0, len)?)?
            .broadcast_add(&self.token_type)?;
        x = self.embedding_norm.forward(&x)?;
        // (batch, 1, 1, len): 0 where a token is real, MASKED where it is padding.
        let bias = ((mask.ones_like()? - mask)? * f64::from(MASKED))?.reshape((batch, 1, 1, len))?;
        // Head sizes are small (64 here): the conversion is exact.
        let scale = 1.0 / f64::from(u32::try_from(head_dim).unwrap_or(u32::MAX)).sqrt();
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((batch, len, self.heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        for layer in &self.layers {
            let q = split(layer.query.forward(&x)?)?;
            let k = split(layer.key.forward(&x)?)?;
            let v = split(layer.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&bias)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let context =
                probs
                    .matmul(&v)?
                    .transpose(1, 2)?
                    .contiguous()?
                    .reshape((batch, len, self.hidden))?;
            let attended = layer
                .attention_norm
                .forward(&(layer.attention_out.forward(&context)? + &x)?)?;
            let inner = layer.intermediate.forward(&attended)?.gelu_erf()?;
            x = layer
                .output_norm
                .forward(&(layer.output.forward(&inner)? + &attended)?)?;
        }
        // Mean over the real tokens of each text.
        let weights = mask.unsqueeze(2)?;
        let summed = x.broadcast_mul(&weights)?.sum(1)?;
        let counts = mask.sum_keepdim(1)?.clamp(1e-9, f64::MAX)?;
        summed.broadcast_div(&counts)
    }
}

impl Backend for MiniLm {
    fn embed(&mut self, texts: &[String]) -> Result<Embeddings, EngineError> {
        let (ids, mask, tokens) = self.tokenize(texts)?;
        let pooled = self.forward(&ids, &mask).map_err(candle)?;
        let mut vectors: Vec<Vec<f32>> = pooled.to_vec2().map_err(candle)?;
        for vector in &mut vectors {
            normalize(vector);
        }
        Ok(Embeddings { vectors, tokens })
    }
}
