//! One loaded model on its own OS thread: llama.cpp calls block, so they never run on a tokio
//! worker. The thread owns the model and one context with a KV-cache sequence per slot, and
//! runs continuous batching: every step decodes one token for each generating sequence plus
//! prompt chunks of newly admitted ones, all in a single batch. Requests wait in a queue until
//! a slot frees; a request whose receiver is dropped is cancelled at the next step. A slot keeps
//! its KV cache after a generation, so a prompt that shares a prefix with it evaluates only the
//! rest (see `slots`).

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use tokio::sync::{mpsc, oneshot};

use super::slots::{Busy, Lease, Slots};
use super::stops::{StopMatcher, StopOutcome};
use super::utf8::Utf8Stream;
use crate::engine::EngineError;
use crate::engine::request::{FinishReason, GenerationEvent, GenerationStats, Grammar, SamplingParams};

/// Events of one generation, in order; the channel is bounded by `max_tokens`.
pub type EventSender = mpsc::UnboundedSender<Result<GenerationEvent, EngineError>>;

/// How to load and run one model.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub path: PathBuf,
    /// Concurrent sequences decoded together.
    pub slots: u32,
    /// Context window of each sequence, in tokens.
    pub context_per_slot: u32,
    pub threads: i32,
    pub gpu_layers: u32,
    /// Largest number of tokens in one decode call.
    pub batch_tokens: u32,
    /// Whether a prompt reuses the KV cache of a prefix a slot already holds.
    pub prompt_cache: bool,
}

/// What the worker learned while loading, for the caller's chat template.
#[derive(Debug, Clone)]
pub struct LoadedInfo {
    pub chat_template: Option<String>,
    pub bos_token: String,
    pub eos_token: String,
    pub size_bytes: u64,
    pub parameters: u64,
    pub context_per_slot: u32,
}

/// A prompt (already rendered) to continue.
#[derive(Debug)]
pub struct Job {
    pub prompt: String,
    pub max_tokens: u32,
    pub stop: Vec<String>,
    pub sampling: SamplingParams,
    pub grammar: Option<Grammar>,
    pub ignore_eos: bool,
    pub events: EventSender,
}

/// Starts the worker thread and waits (without blocking the runtime) until the model loaded.
pub async fn spawn(
    backend: Arc<LlamaBackend>,
    config: WorkerConfig,
) -> Result<(mpsc::Sender<Job>, LoadedInfo), EngineError> {
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>(256);
    let (loaded_tx, loaded_rx) = oneshot::channel();
    let name = format!(
        "llama-{}",
        config
            .path
            .file_stem()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default()
    );
    std::thread::Builder::new()
        .name(name)
        .spawn(move || run(&backend, &config, jobs_rx, loaded_tx))
        .map_err(|err| EngineError::Load(format!("cannot start the model thread: {err}")))?;
    let info = loaded_rx
        .await
        .map_err(|_| EngineError::Load("the model thread ended while loading".into()))??;
    Ok((jobs_tx, info))
}

fn run(
    backend: &LlamaBackend,
    config: &WorkerConfig,
    jobs: mpsc::Receiver<Job>,
    loaded: oneshot::Sender<Result<LoadedInfo, EngineError>>,
) {
    let model_params = LlamaModelParams::default().with_n_gpu_layers(config.gpu_layers);
    let model = match LlamaModel::load_from_file(backend, &config.path, &model_params) {
        Ok(model) => model,
        Err(err) => {
            let _ = loaded.send(Err(EngineError::Load(format!(
                "{}: {err}",
                config.path.display()
            ))));
            return;
        }
    };
    let context_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(config.slots * config.context_per_slot))
        .with_n_batch(config.batch_tokens)
        .with_n_ubatch(config.batch_tokens)
        .with_n_seq_max(config.slots)
        .with_n_threads(config.threads)
        .with_n_threads_batch(config.threads)
        .with_no_perf(false);
    // Contexts are created here, on the model's own thread: llama.cpp mutates the model while
    // creating one, so doing it in parallel is unsound.
    let context = match model.new_context(backend, context_params) {
        Ok(context) => context,
        Err(err) => {
            let _ = loaded.send(Err(EngineError::Load(format!("cannot create a context: {err}"))));
            return;
        }
    };
    let vocab = model.vocab();
    let piece =
        |token: LlamaToken| String::from_utf8_lossy(&vocab.token_to_piece(token, true, None)).into_owned();
    let info = LoadedInfo {
        chat_template: model.meta_val_str("tokenizer.chat_template").ok(),
        bos_token: piece(vocab.bos()),
        eos_token: piece(vocab.eos()),
        size_bytes: model.size(),
        parameters: model.n_params(),
        context_per_slot: config.context_per_slot,
    };
    let bos_token = info.bos_token.clone();
    if loaded.send(Ok(info)).is_err() {
        return;
    }
    Scheduler::new(&model, context, config, bos_token).run(jobs);
}

/// One generation in a slot.
struct Sequence {
    slot: i32,
    prompt: Vec<LlamaToken>,
    /// How many prompt tokens are in the KV cache already.
    prefilled: usize,
    /// Prompt tokens whose KV entries were there before this generation (a prefix reused).
    reused: usize,
    /// The tokens in this slot's KV cache, position by position: the next token goes at
    /// position `cached.len()`.
    cached: Vec<LlamaToken>,
    /// The token sampled last, to be fed in the next step.
    next_input: Option<LlamaToken>,
    sampler: LlamaSampler,
    /// Constrains the output when the request carries a grammar.
    grammar: Option<LlamaSampler>,
    /// Special tokens whose text the output shows (see `Grammar::preserved`).
    preserved: Vec<LlamaToken>,
    generated: u32,
    max_tokens: u32,
    utf8: Utf8Stream,
    stops: StopMatcher,
    events: EventSender,
    admitted: Instant,
    first_token: Option<Instant>,
    /// Where this sequence's logits are in the current batch.
    logits_at: Option<i32>,
}

impl Sequence {
    fn prefilling(&self) -> bool {
        self.prefilled < self.prompt.len()
    }

    /// Picks the next token. With a grammar, the usual pick is checked against it first and
    /// only when it is refused does the grammar filter the whole vocabulary: filtering every
    /// step costs milliseconds per token on a large vocabulary.
    fn sample(&mut self, context: &LlamaContext<'_>, at: i32, end: LlamaToken) -> LlamaToken {
        let Some(grammar) = self.grammar.as_mut() else {
            return self.sampler.sample(context, at);
        };
        let mut candidates = context.token_data_array_ith(at);
        candidates.apply_sampler(&mut self.sampler);
        let allowed = candidates.selected_token().filter(|&token| {
            let mut single = LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 1.0, 1.0)], false);
            single.apply_sampler(grammar);
            single.data[0].logit().is_finite()
        });
        let token = allowed.unwrap_or_else(|| {
            let mut candidates = context.token_data_array_ith(at);
            candidates.apply_sampler(grammar);
            candidates.apply_sampler(&mut self.sampler);
            candidates.selected_token().unwrap_or(end)
        });
        grammar.accept(token);
        self.sampler.accept(token);
        token
    }

    fn send_text(&self, text: String) {
        if !text.is_empty() {
            let _ = self.events.send(Ok(GenerationEvent::Text(text)));
        }
    }

    fn finish(mut self, finish: FinishReason) {
        let rest = self.utf8.finish();
        let tail = match self.stops.push(&rest) {
            StopOutcome::Continue(text) => text + &self.stops.finish(),
            StopOutcome::Stopped(text) => text,
        };
        self.send_text(tail);
        let now = Instant::now();
        let stats = GenerationStats {
            prompt_tokens: u32::try_from(self.prompt.len()).unwrap_or(u32::MAX),
            cached_tokens: u32::try_from(self.reused).unwrap_or(u32::MAX),
            completion_tokens: self.generated,
            time_to_first_token: self.first_token.unwrap_or(now) - self.admitted,
            total: now - self.admitted,
            finish,
        };
        let _ = self.events.send(Ok(GenerationEvent::Done(stats)));
    }

    /// The position of the next token.
    fn position(&self) -> i32 {
        i32::try_from(self.cached.len()).unwrap_or(i32::MAX)
    }
}

struct Scheduler<'m> {
    model: &'m LlamaModel,
    context: LlamaContext<'m>,
    config: WorkerConfig,
    bos_token: String,
    slots: Slots,
    active: Vec<Sequence>,
    waiting: VecDeque<Job>,
    batch: LlamaBatch<'static>,
}

impl<'m> Scheduler<'m> {
    fn new(
        model: &'m LlamaModel,
        context: LlamaContext<'m>,
        config: &WorkerConfig,
        bos_token: String,
    ) -> Self {
        let slots = i32::try_from(config.slots).unwrap_or(1);
        Self {
            model,
            context,
            config: config.clone(),
            bos_token,
            slots: Slots::new(slots, config.prompt_cache),
            active: Vec::new(),
            waiting: VecDeque::new(),
            batch: LlamaBatch::new(config.batch_tokens as usize, slots),
        }
    }

    fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        loop {
            if self.active.is_empty() && self.waiting.is_empty() {
                // Idle: sleep until work arrives; the channel closes when the model is unloaded.
                match jobs.blocking_recv() {
                    Some(job) => self.waiting.push_back(job),
                    None => return,
                }
            }
            while let Ok(job) = jobs.try_recv() {
                self.waiting.push_back(job);
            }
            self.drop_cancelled();
            self.admit();
            if self.active.is_empty() {
                continue;
            }
            self.step();
        }
    }

    /// Frees the slots of generations whose receiver went away.
    fn drop_cancelled(&mut self) {
        self.waiting.retain(|job| !job.events.is_closed());
        let (cancelled, active): (Vec<_>, Vec<_>) = std::mem::take(&mut self.active)
            .into_iter()
            .partition(|s| s.events.is_closed());
        self.active = active;
        for sequence in cancelled {
            self.slots.release(sequence.slot, sequence.cached);
        }
    }

    /// Frees a slot whose KV cache is unknown (its decode failed): emptied.
    fn clear(&mut self, slot: i32) {
        let _ = self.context.kv_cache_seq_rm(slot, None, None);
        self.slots.release(slot, Vec::new());
    }

    fn admit(&mut self) {
        while self.slots.has_free() {
            let Some(job) = self.waiting.pop_front() else {
                return;
            };
            match self.start(job) {
                Ok(sequence) => self.active.push(sequence),
                Err((events, err)) => {
                    let _ = events.send(Err(err));
                }
            }
        }
    }

    fn start(&mut self, job: Job) -> Result<Sequence, (EventSender, EngineError)> {
        // A template that writes the BOS token itself must not get a second one.
        let add_bos = self.bos_token.is_empty() || !job.prompt.starts_with(&self.bos_token);
        let prompt = self.model.vocab().tokenize(job.prompt.as_bytes(), add_bos, true);
        if prompt.is_empty() {
            return Err((
                job.events,
                EngineError::InvalidRequest("the prompt is empty".into()),
            ));
        }
        let window = self.config.context_per_slot as usize;
        if prompt.len() >= window {
            return Err((
                job.events,
                EngineError::ContextOverflow {
                    prompt_tokens: prompt.len(),
                    context: window,
                },
            ));
        }
        let (grammar, preserved) = match job.grammar.as_ref().map(|g| self.grammar(g)) {
            None => (None, Vec::new()),
            Some(Ok((grammar, preserved))) => (Some(grammar), preserved),
            Some(Err(err)) => return Err((job.events, err)),
        };
        let busy: Vec<Busy<'_>> = self
            .active
            .iter()
            .map(|sequence| Busy {
                slot: sequence.slot,
                cached: &sequence.cached,
            })
            .collect();
        let lease = self.slots.lease(&prompt, &busy);
        let (slot, cached) = self.reuse(lease);
        Ok(Sequence {
            slot,
            prompt,
            prefilled: cached.len(),
            reused: cached.len(),
            cached,
            next_input: None,
            sampler: sampler(self.model, &job.sampling, job.ignore_eos),
            grammar,
            preserved,
            generated: 0,
            max_tokens: job.max_tokens.max(1),
            utf8: Utf8Stream::default(),
            stops: StopMatcher::new(job.stop),
            events: job.events,
            admitted: Instant::now(),
            first_token: None,
            logits_at: None,
        })
    }

    /// Readies a leased slot's KV cache: copied from the busy slot that holds the prefix, if
    /// any, and cut after the shared prefix. A model whose memory cannot be cut (a recurrent
    /// one) starts empty.
    fn reuse(&mut self, lease: Lease) -> (i32, Vec<LlamaToken>) {
        let Lease {
            slot,
            mut cached,
            copy_from,
        } = lease;
        if let Some(source) = copy_from {
            // Whole: llama.cpp copies only whole buffers between slots (a full copy, done at the
            // next decode before anything is written); the cut below keeps the prefix.
            let _ = self.context.kv_cache_seq_rm(slot, None, None);
            if self.context.copy_kv_cache_seq(source, slot, None, None).is_err() {
                cached.clear();
            }
        }
        let kept = u32::try_from(cached.len()).unwrap_or(u32::MAX);
        if self.context.kv_cache_seq_rm(slot, Some(kept), None).is_err() {
            let _ = self.context.kv_cache_seq_rm(slot, None, None);
            cached.clear();
        }
        (slot, cached)
    }

    /// The grammar sampler (lazy when the grammar has triggers) and the special tokens whose
    /// text the output keeps.
    fn grammar(&self, grammar: &Grammar) -> Result<(LlamaSampler, Vec<LlamaToken>), EngineError> {
        let sampler = if grammar.triggers.is_empty() {
            LlamaSampler::grammar(self.model, &grammar.gbnf, "root")
        } else {
            LlamaSampler::grammar_lazy_patterns(self.model, &grammar.gbnf, "root", &grammar.triggers, &[])
        }
        .map_err(|err| EngineError::InvalidRequest(format!("invalid grammar: {err}")))?;
        let vocab = self.model.vocab();
        let preserved = grammar
            .preserved
            .iter()
            .filter_map(
                |text| match vocab.tokenize(text.as_bytes(), false, true).as_slice() {
                    [token] => Some(*token),
                    _ => None,
                },
            )
            .collect();
        Ok((sampler, preserved))
    }

    /// One decode call: a token for every generating sequence, then prompt chunks.
    fn step(&mut self) {
        self.batch.clear();
        let capacity = self.config.batch_tokens as usize;
        let mut used = 0usize;
        for sequence in &mut self.active {
            sequence.logits_at = None;
            if let Some(token) = sequence.next_input
                && used < capacity
            {
                // Batch capacity was allocated for `batch_tokens`, so adding cannot fail.
                let _ = self.batch.add(token, sequence.position(), &[sequence.slot], true);
                sequence.cached.push(token);
                sequence.logits_at = Some(i32::try_from(used).unwrap_or(i32::MAX));
                used += 1;
            }
        }
        for sequence in &mut self.active {
            if !sequence.prefilling() || used >= capacity {
                continue;
            }
            let take = (sequence.prompt.len() - sequence.prefilled).min(capacity - used);
            for offset in 0..take {
                let index = sequence.prefilled + offset;
                let last = index + 1 == sequence.prompt.len();
                let token = sequence.prompt[index];
                let _ = self.batch.add(token, sequence.position(), &[sequence.slot], last);
                sequence.cached.push(token);
                if last {
                    sequence.logits_at = Some(i32::try_from(used + offset).unwrap_or(i32::MAX));
                }
            }
            sequence.prefilled += take;
            used += take;
        }
        if let Err(err) = self.context.decode(&mut self.batch) {
            // The whole batch failed (e.g. no KV-cache room): fail its sequences, keep serving.
            for sequence in std::mem::take(&mut self.active) {
                let _ = sequence.events.send(Err(EngineError::Decode(err.to_string())));
                self.clear(sequence.slot);
            }
            return;
        }
        self.sample_all();
    }

    fn sample_all(&mut self) {
        let vocab = self.model.vocab();
        let mut finished = Vec::new();
        for (index, sequence) in self.active.iter_mut().enumerate() {
            let Some(at) = sequence.logits_at else { continue };
            let token = sequence.sample(&self.context, at, vocab.eos());
            sequence.first_token.get_or_insert_with(Instant::now);
            if vocab.is_eog(token) {
                finished.push((index, FinishReason::Stop));
                continue;
            }
            sequence.generated += 1;
            let special = sequence.preserved.contains(&token);
            let text = sequence.utf8.push(&vocab.token_to_piece(token, special, None));
            match sequence.stops.push(&text) {
                StopOutcome::Stopped(text) => {
                    sequence.send_text(text);
                    finished.push((index, FinishReason::Stop));
                    continue;
                }
                StopOutcome::Continue(text) => sequence.send_text(text),
            }
            let window_full = sequence.cached.len() + 1 >= self.config.context_per_slot as usize;
            if sequence.generated >= sequence.max_tokens || window_full {
                finished.push((index, FinishReason::Length));
                continue;
            }
            sequence.next_input = Some(token);
        }
        for (index, reason) in finished.into_iter().rev() {
            let mut sequence = self.active.swap_remove(index);
            let (slot, cached) = (sequence.slot, std::mem::take(&mut sequence.cached));
            sequence.finish(reason);
            self.slots.release(slot, cached);
        }
    }
}

/// The sampler chain for one sequence: greedy at temperature 0, else the usual filters.
/// `ignore_eos` bans the end-of-turn tokens, as llama-server does for benchmarks.
fn sampler(model: &LlamaModel, params: &SamplingParams, ignore_eos: bool) -> LlamaSampler {
    let vocab = model.vocab();
    let banned: Vec<LlamaLogitBias> = if ignore_eos {
        vocab
            .tokens()
            .filter(|&token| vocab.is_eog(token))
            .map(|token| LlamaLogitBias::new(token, f32::NEG_INFINITY))
            .collect()
    } else {
        Vec::new()
    };
    let bias = LlamaSampler::logit_bias(model.n_vocab(), &banned);
    let penalties = LlamaSampler::penalties(
        model.n_vocab(),
        params.repeat_last_n,
        params.repeat_penalty,
        params.frequency_penalty,
        params.presence_penalty,
    );
    if params.temperature <= 0.0 {
        return LlamaSampler::chain_simple([bias, penalties, LlamaSampler::greedy()]);
    }
    LlamaSampler::chain_simple([
        bias,
        penalties,
        LlamaSampler::top_k(params.top_k),
        LlamaSampler::top_p(params.top_p, 1),
        LlamaSampler::min_p(params.min_p, 1),
        LlamaSampler::temp(params.temperature),
        LlamaSampler::dist(params.seed),
    ])
}
