//! The in-process engine: loads GGUF models lazily on their own threads, keeps them within a
//! memory budget (least recently used first out), and streams generations back.

pub(super) mod backend;
mod slots;
mod stops;
mod utf8;
mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Mutex, mpsc};

use super::EngineError;
use super::request::{GenerateRequest, GenerationEvent, GenerationStats, Prompt};
use super::template::{CHATML, ChatTemplate};

/// How the engine runs models.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// CPU threads per decode (OpenMP threads busy-wait: fewer is better on a busy machine).
    pub threads: u32,
    /// Sequences decoded together per model (continuous batching slots).
    pub slots: u32,
    /// Context window per sequence when the model entry names none.
    pub context_per_slot: u32,
    /// Largest decode batch, in tokens.
    pub batch_tokens: u32,
    /// Loaded model files may take this many bytes together; least recently used go first.
    pub memory_budget_bytes: u64,
    /// A prompt reuses the KV cache of the prefix its slot (or another) holds: a chat's next
    /// turn evaluates only what is new. Off for benchmarks against servers without one.
    pub prompt_cache: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            threads: u32::try_from(std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
                .unwrap_or(1),
            slots: 4,
            context_per_slot: 4096,
            batch_tokens: 512,
            memory_budget_bytes: 16 << 30,
            prompt_cache: true,
        }
    }
}

/// Which model to run, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub path: PathBuf,
    pub context_size: Option<u32>,
    pub gpu_layers: u32,
    /// Replaces the template the GGUF carries.
    pub chat_template: Option<String>,
}

/// A model in memory.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct LoadedModel {
    pub name: String,
    #[schema(value_type = String)]
    pub path: PathBuf,
    pub size_bytes: u64,
    pub parameters: u64,
    pub context_per_slot: u32,
    pub slots: u32,
}

struct Resident {
    jobs: mpsc::Sender<worker::Job>,
    template: Arc<ChatTemplate>,
    model: LoadedModel,
    last_used: Instant,
}

/// A clonable handle to the engine.
#[derive(Clone)]
pub struct Engine {
    settings: Arc<EngineSettings>,
    resident: Arc<Mutex<HashMap<PathBuf, Resident>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A running generation. Dropping it cancels the generation within one decode step.
#[derive(Debug)]
pub struct Generation {
    events: mpsc::UnboundedReceiver<Result<GenerationEvent, EngineError>>,
}

impl Generation {
    /// The next event; `None` after `Done` or an error.
    pub async fn next(&mut self) -> Option<Result<GenerationEvent, EngineError>> {
        self.events.recv().await
    }

    /// Waits for the whole answer.
    pub async fn text(mut self) -> Result<(String, GenerationStats), EngineError> {
        let mut text = String::new();
        while let Some(event) = self.next().await {
            match event? {
                GenerationEvent::Text(piece) => text.push_str(&piece),
                GenerationEvent::Done(stats) => return Ok((text, stats)),
            }
        }
        Err(EngineError::Decode(
            "the model thread ended mid-generation".into(),
        ))
    }
}

impl Engine {
    pub fn new(settings: EngineSettings) -> Self {
        Self {
            settings: Arc::new(settings),
            resident: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Starts a generation, loading the model first if needed.
    pub async fn generate(
        &self,
        spec: &ModelSpec,
        request: GenerateRequest,
    ) -> Result<Generation, EngineError> {
        let (jobs, template) = self.ensure_loaded(spec).await?;
        let prompt = match &request.prompt {
            Prompt::Text(text) => text.clone(),
            Prompt::Chat(messages) => template.render(messages)?,
        };
        let (events, receiver) = mpsc::unbounded_channel();
        let job = worker::Job {
            prompt,
            max_tokens: request.max_tokens,
            stop: request.stop,
            sampling: request.sampling,
            grammar: request.grammar,
            ignore_eos: request.ignore_eos,
            events,
        };
        jobs.send(job)
            .await
            .map_err(|_| EngineError::Load(format!("model {} was unloaded", spec.name)))?;
        Ok(Generation { events: receiver })
    }

    /// Refuses an answer budget the model's context cannot hold: a chat asks for at most
    /// `max_tokens`, and a budget at or above the window is a mistake to say, not to discover
    /// when the context runs out (a raw `generate` simply stops there).
    pub(super) fn check_max_tokens(&self, spec: &ModelSpec, max_tokens: u32) -> Result<(), EngineError> {
        let window = spec
            .context_size
            .unwrap_or(self.settings.context_per_slot)
            .max(64);
        if max_tokens >= window {
            return Err(EngineError::InvalidRequest(format!(
                "max_tokens ({max_tokens}) must be below the model's context of {window} tokens"
            )));
        }
        Ok(())
    }

    /// Renders a conversation with the model's chat template (loading the model if needed).
    pub async fn render_chat(
        &self,
        spec: &ModelSpec,
        messages: &[super::ChatMessage],
    ) -> Result<String, EngineError> {
        let (_, template) = self.ensure_loaded(spec).await?;
        template.render(messages)
    }

    /// The chat template of `spec` (loading the model if needed): it decides how the model
    /// writes tool calls and whether it reasons.
    pub(super) async fn template(&self, spec: &ModelSpec) -> Result<Arc<ChatTemplate>, EngineError> {
        let (_, template) = self.ensure_loaded(spec).await?;
        Ok(template)
    }

    /// The models in memory.
    pub async fn loaded(&self) -> Vec<LoadedModel> {
        self.resident
            .lock()
            .await
            .values()
            .map(|r| r.model.clone())
            .collect()
    }

    /// Loads a model now rather than on its first request.
    pub async fn load(&self, spec: &ModelSpec) -> Result<LoadedModel, EngineError> {
        self.ensure_loaded(spec).await?;
        self.resident
            .lock()
            .await
            .get(&spec.path)
            .map(|r| r.model.clone())
            .ok_or_else(|| EngineError::Load(format!("{} was unloaded while loading", spec.name)))
    }

    /// Unloads a model; generations already running finish first.
    pub async fn unload(&self, path: &std::path::Path) -> bool {
        self.resident.lock().await.remove(path).is_some()
    }

    async fn ensure_loaded(
        &self,
        spec: &ModelSpec,
    ) -> Result<(mpsc::Sender<worker::Job>, Arc<ChatTemplate>), EngineError> {
        let mut resident = self.resident.lock().await;
        if let Some(model) = resident.get_mut(&spec.path) {
            model.last_used = Instant::now();
            return Ok((model.jobs.clone(), model.template.clone()));
        }
        let size = std::fs::metadata(&spec.path)
            .map_err(|err| EngineError::ModelMissing(format!("{}: {err}", spec.path.display())))?
            .len();
        let budget = self.settings.memory_budget_bytes;
        if size > budget {
            return Err(EngineError::OverBudget {
                model: spec.name.clone(),
                needed: size,
                budget,
            });
        }
        // Least recently used models leave until the new one fits.
        while resident.values().map(|r| r.model.size_bytes).sum::<u64>() + size > budget {
            let Some(oldest) = resident
                .iter()
                .min_by_key(|(_, r)| r.last_used)
                .map(|(path, _)| path.clone())
            else {
                break;
            };
            tracing::info!(model = %oldest.display(), "unloading to stay within the memory budget");
            resident.remove(&oldest);
        }
        let config = worker::WorkerConfig {
            path: spec.path.clone(),
            slots: self.settings.slots.max(1),
            context_per_slot: spec
                .context_size
                .unwrap_or(self.settings.context_per_slot)
                .max(64),
            threads: i32::try_from(self.settings.threads.max(1)).unwrap_or(1),
            gpu_layers: spec.gpu_layers,
            batch_tokens: self.settings.batch_tokens.max(32),
            prompt_cache: self.settings.prompt_cache,
        };
        let started = Instant::now();
        let (jobs, info) = worker::spawn(backend::shared()?, config.clone()).await?;
        let source = spec
            .chat_template
            .clone()
            .or(info.chat_template.clone())
            .unwrap_or_else(|| CHATML.to_owned());
        let template = Arc::new(ChatTemplate::new(&source, &info.bos_token, &info.eos_token)?);
        tracing::info!(model = %spec.name, ms = started.elapsed().as_millis(), "model loaded");
        let model = LoadedModel {
            name: spec.name.clone(),
            path: spec.path.clone(),
            size_bytes: info.size_bytes.max(size),
            parameters: info.parameters,
            context_per_slot: info.context_per_slot,
            slots: config.slots,
        };
        resident.insert(
            spec.path.clone(),
            Resident {
                jobs: jobs.clone(),
                template: template.clone(),
                model,
                last_used: Instant::now(),
            },
        );
        Ok((jobs, template))
    }
}

/// The GPU backends compiled into this binary (cargo features `cuda`, `metal`, `vulkan`).
pub fn compiled_gpu_backends() -> Vec<&'static str> {
    [
        ("cuda", cfg!(feature = "cuda")),
        ("metal", cfg!(feature = "metal")),
        ("vulkan", cfg!(feature = "vulkan")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect()
}

/// The devices llama.cpp finds (CPU, and GPUs of the compiled backends), described for people.
pub fn devices() -> Result<Vec<String>, EngineError> {
    let _backend = backend::shared()?;
    Ok(llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .map(|device| {
            // Display only: GiB with one decimal.
            #[allow(clippy::cast_precision_loss)]
            let gib = |bytes: usize| bytes as f64 / f64::from(1u32 << 30);
            format!(
                "{} {} ({}, {:.1} GiB free of {:.1})",
                device.backend,
                device.name,
                device.description,
                gib(device.memory_free),
                gib(device.memory_total)
            )
        })
        .collect())
}
