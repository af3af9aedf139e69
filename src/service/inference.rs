//! The model router: a request names a model or a role; the router tries, in provider priority
//! order, every enabled model that matches — local GGUF files through the in-process engine,
//! remote ones through their provider's API — and falls back to the next when one cannot
//! answer (file missing, over the memory budget, provider unreachable). Only failures before
//! the first token fall back: a half-streamed answer is never silently restarted elsewhere.
//!
//! When none of them can answer, an agent's call goes on to the fallback candidates
//! (`routing.fallback`, see [`fallback`]) unless `routing.strict` is set; the answer then
//! carries a [`Fallback`] saying which model answered in place of which, and why. Clients of
//! the compatible APIs that name a model ([`InferenceService::chat_named`]) get that model or
//! an error, never another.

mod fallback;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::keyring::KeyRing;
use super::models::ModelService;
use super::{ServiceError, require_admin};
use crate::config::{ProviderKeys, RoutingSettings};
use crate::domain::{Fallback, Identity};
use crate::engine::EngineError;
use crate::engine::chat::{ChatEvent, ChatRequest, ChatStream};
use crate::engine::library::Library;
use crate::engine::llama::{Engine, LoadedModel, ModelSpec};
use crate::engine::providers::{ProviderClient, ProviderConfig, ProviderKind};
use crate::metrics::{Generation, Metrics};
use crate::store::Store;
use crate::store::providers::ModelRoute;

/// Which model and provider answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answerer {
    pub model: String,
    pub provider: String,
}

/// A chat that started, and who is answering it.
#[derive(Debug)]
pub struct RoutedChat {
    pub answerer: Answerer,
    pub stream: ChatStream,
    /// Candidates that were tried first and could not answer, with why.
    pub skipped: Vec<(Answerer, String)>,
    /// Set when the answer does not come from the first choice for what was asked.
    pub fallback: Option<Fallback>,
}

/// Providers are a short table; this only guards against unbounded growth.
const MAX_CACHED_CLIENTS: usize = 64;

#[derive(Debug, Clone)]
pub struct InferenceService {
    /// Provider name → (settings fingerprint, client).
    clients: Arc<Mutex<HashMap<String, (String, ProviderClient)>>>,
    store: Store,
    engine: Engine,
    models: ModelService,
    keyring: KeyRing,
    env_keys: ProviderKeys,
    metrics: Metrics,
    routing: Arc<RoutingSettings>,
}

impl InferenceService {
    pub fn new(
        store: Store,
        engine: Engine,
        models: ModelService,
        keyring: KeyRing,
        env_keys: ProviderKeys,
        metrics: Metrics,
        routing: RoutingSettings,
    ) -> Self {
        Self {
            clients: Arc::new(Mutex::new(HashMap::new())),
            store,
            engine,
            models,
            keyring,
            env_keys,
            metrics,
            routing: Arc::new(routing),
        }
    }

    /// Starts an agent's chat with the model (or role) `target`, falling back as described
    /// above — to the fallback candidates too, unless `routing.strict`.
    pub async fn chat(&self, target: &str, request: ChatRequest) -> Result<RoutedChat, ServiceError> {
        self.route(target, request, !self.routing.strict).await
    }

    /// Starts a chat with exactly the model (or role) a client named: its own candidates only.
    pub async fn chat_named(&self, target: &str, request: ChatRequest) -> Result<RoutedChat, ServiceError> {
        self.route(target, request, false).await
    }

    async fn route(
        &self,
        target: &str,
        request: ChatRequest,
        may_fall_back: bool,
    ) -> Result<RoutedChat, ServiceError> {
        let target = target.trim();
        // Read once per chat: the catalog and imports are files, parsed off the async workers.
        let library = self.models.library().await?;
        let routes = self.routes(target, &library).await?;
        let first_choice = routes.first().map(|route| route.model.clone());
        let mut skipped: Vec<(Answerer, String)> = Vec::new();
        let mut reason: Option<String> = None;
        let mut last_error = None;
        if routes.is_empty() {
            let err = local_spec(&library, target)
                .err()
                .unwrap_or(ServiceError::NotFound("model"));
            // An unknown model name is the caller's mistake, not something to answer around.
            if !may_fall_back || !fallback::is_known(&library, target) {
                return Err(err);
            }
            reason = Some(fallback::reason(target, &err));
            last_error = Some(err);
        }
        for route in routes {
            let answerer = Answerer {
                model: route.model.clone(),
                provider: route.provider.name.clone(),
            };
            match self.start(&route, request.clone(), &library).await {
                Ok(stream) => {
                    let stream = observe(stream, self.metrics.clone(), &answerer);
                    let fallback = reason.map(|reason| Fallback {
                        requested: target.to_owned(),
                        in_place_of: first_choice,
                        reason,
                    });
                    return Ok(RoutedChat {
                        answerer,
                        stream,
                        skipped,
                        fallback,
                    });
                }
                Err(err) if falls_back(&err) => {
                    tracing::warn!(model = %answerer.model, provider = %answerer.provider, error = %err, "model unavailable; trying the next");
                    reason.get_or_insert_with(|| fallback::reason(&answerer.model, &err));
                    skipped.push((answerer, err.to_string()));
                    last_error = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        let err = last_error.unwrap_or(ServiceError::NotFound("model"));
        if !may_fall_back {
            return Err(err);
        }
        let reason = reason.unwrap_or_else(|| fallback::reason(target, &err));
        self.fall_back(target, first_choice, reason, request, &library, skipped)
            .await
            .ok_or(err)
    }

    /// The candidates for `target` in the order they are tried. The database lists models by
    /// provider priority; for the local provider the model library has the last word — it
    /// knows which file is present and which import plays a role — so its choice takes the
    /// place of the first local row (or joins the list when the database names none).
    async fn routes(&self, target: &str, library: &Library) -> Result<Vec<ModelRoute>, ServiceError> {
        let mut routes = self.store.model_routes(target.to_owned()).await?;
        let Ok(spec) = local_spec(library, target) else {
            return Ok(routes);
        };
        let local = local_route(spec);
        if !self.store.provider_enabled("local".to_owned()).await? {
            return Ok(routes);
        }
        let first_local = routes.iter().position(|r| r.provider.kind == "local");
        routes.retain(|r| !(r.provider.kind == "local" && r.model == local.model));
        match first_local {
            Some(at) => routes.insert(at.min(routes.len()), local),
            None => routes.push(local),
        }
        Ok(routes)
    }

    /// Continues a raw prompt on the local model (or role) `target`: legacy text completions,
    /// which only the in-process engine serves.
    pub async fn complete(
        &self,
        target: &str,
        prompt: String,
        request: &ChatRequest,
    ) -> Result<RoutedChat, ServiceError> {
        let target = target.trim();
        let library = self.models.library().await?;
        let spec = match local_spec(&library, target) {
            Err(ServiceError::Engine(EngineError::UnknownModel { .. }))
                if !self.store.model_routes(target.to_owned()).await?.is_empty() =>
            {
                return Err(ServiceError::invalid(
                    "model",
                    format!(
                        "`{target}` is a remote provider's model; text completions run on local models only (use chat completions)"
                    ),
                ));
            }
            other => other?,
        };
        if !self.store.provider_enabled("local".to_owned()).await? {
            return Err(EngineError::ModelMissing("the local provider is disabled".into()).into());
        }
        let answerer = Answerer {
            model: spec.name.clone(),
            provider: "local".to_owned(),
        };
        let stream = self.engine.complete(&spec, prompt, request).await?;
        Ok(RoutedChat {
            stream: observe(stream, self.metrics.clone(), &answerer),
            answerer,
            skipped: Vec::new(),
            fallback: None,
        })
    }

    /// Frees a local model's memory on behalf of an Ollama `keep_alive`; false when it was not
    /// loaded. Running generations finish first.
    pub async fn release(&self, name: &str) -> Result<bool, ServiceError> {
        let spec = local_spec(&self.models.library().await?, name)?;
        Ok(self.engine.unload(&spec.path).await)
    }

    /// Loads a local model now (admins), rather than on its first request.
    pub async fn load(&self, caller: &Identity, name: &str) -> Result<LoadedModel, ServiceError> {
        require_admin(caller, "only admins can load and unload models")?;
        let spec = local_spec(&self.models.library().await?, name)?;
        Ok(self.engine.load(&spec).await?)
    }

    /// Frees a local model's memory (admins); false when it was not loaded.
    pub async fn unload(&self, caller: &Identity, name: &str) -> Result<bool, ServiceError> {
        require_admin(caller, "only admins can load and unload models")?;
        let spec = local_spec(&self.models.library().await?, name)?;
        Ok(self.engine.unload(&spec.path).await)
    }

    /// The in-process engine and the spec it runs the local model `name` with — what the
    /// router uses, for measuring the platform against the bare engine.
    pub async fn local_model(&self, name: &str) -> Result<(Engine, ModelSpec), ServiceError> {
        let spec = local_spec(&self.models.library().await?, name)?;
        Ok((self.engine.clone(), spec))
    }

    pub async fn loaded(&self) -> Vec<LoadedModel> {
        self.engine.loaded().await
    }

    async fn start(
        &self,
        route: &ModelRoute,
        request: ChatRequest,
        library: &Library,
    ) -> Result<ChatStream, ServiceError> {
        if route.provider.kind == "local" {
            let spec = local_spec(library, &route.model)?;
            return Ok(self.engine.chat(&spec, request).await?);
        }
        let client = self.client(route)?;
        let remote = route
            .settings
            .get("remote_model")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(&route.model);
        Ok(client.chat(remote, request).await?)
    }

    /// The provider's client, reused while its settings and key stay the same: a client holds
    /// the connection pool (and TLS sessions) to that provider.
    fn client(&self, route: &ModelRoute) -> Result<ProviderClient, ServiceError> {
        let provider = &route.provider;
        let kind: ProviderKind = provider.kind.parse()?;
        let env_key = match kind {
            ProviderKind::Anthropic => self.env_keys.anthropic.as_ref(),
            ProviderKind::OpenAi => self.env_keys.openai.as_ref(),
            ProviderKind::OpenAiCompatible => None,
        };
        let base_url = provider.base_url.clone().unwrap_or_default();
        let key_material = route
            .key_ciphertext
            .as_deref()
            .or(env_key.map(|key| key.expose().as_bytes()))
            .unwrap_or_default();
        let fingerprint = format!("{kind}|{base_url}|{}", hex::encode(Sha256::digest(key_material)));
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, client)) = clients.get(&provider.name)
            && *seen == fingerprint
        {
            return Ok(client.clone());
        }
        let mut config = ProviderConfig::new(&provider.name, kind, base_url);
        config.api_key = match &route.key_ciphertext {
            Some(sealed) => Some(self.keyring.decrypt(sealed, &provider.name)?),
            None => env_key.map(|key| key.expose().to_owned()),
        };
        let client = ProviderClient::new(config)?;
        if clients.len() >= MAX_CACHED_CLIENTS {
            clients.clear();
        }
        clients.insert(provider.name.clone(), (fingerprint, client.clone()));
        Ok(client)
    }
}

/// The catalog entry `name_or_role` as the engine runs it.
fn local_spec(library: &Library, name_or_role: &str) -> Result<ModelSpec, ServiceError> {
    let entry = library.find(name_or_role)?;
    let path = library.path_of(entry);
    if !library.is_present(entry) {
        return Err(EngineError::ModelMissing(format!(
            "`{}` is not downloaded yet (agentbox models pull {})",
            entry.name, entry.name
        ))
        .into());
    }
    Ok(ModelSpec {
        name: entry.name.clone(),
        path,
        context_size: Some(entry.context_size),
        gpu_layers: entry.gpu_layers,
        chat_template: entry.chat_template.clone(),
    })
}

/// The library's choice as a candidate of the local provider.
fn local_route(spec: ModelSpec) -> ModelRoute {
    ModelRoute {
        model: spec.name,
        role: None,
        context_size: i32::try_from(spec.context_size.unwrap_or(4096)).unwrap_or(i32::MAX),
        settings: serde_json::Value::Object(serde_json::Map::new()),
        provider: crate::store::providers::Provider {
            id: uuid::Uuid::nil(),
            name: "local".into(),
            kind: "local".into(),
            base_url: None,
            enabled: true,
            priority: 0,
            settings: serde_json::Value::Object(serde_json::Map::new()),
            has_stored_key: false,
        },
        key_ciphertext: None,
    }
}

/// Failures that mean "this candidate cannot answer now": the next one is tried.
fn falls_back(err: &ServiceError) -> bool {
    matches!(
        err,
        ServiceError::Engine(
            EngineError::ModelMissing(_)
                | EngineError::UnknownModel { .. }
                | EngineError::OverBudget { .. }
                | EngineError::Load(_)
                | EngineError::ProviderUnavailable { .. }
        ) | ServiceError::Unavailable(_)
    )
}

/// Counts the chat's tokens, time to first token and speed for `/metrics` when it finishes (or
/// its failure when it fails); a chat dropped half-way counts as neither.
fn observe(stream: ChatStream, metrics: Metrics, answerer: &Answerer) -> ChatStream {
    let (model, provider) = (answerer.model.clone(), answerer.provider.clone());
    stream.observed(move |event| match event {
        Ok(ChatEvent::Done(stats)) => metrics.record_generation(
            &model,
            &provider,
            &Generation {
                prompt_tokens: stats.prompt_tokens,
                cached_prompt_tokens: stats.cached_tokens,
                completion_tokens: stats.completion_tokens,
                time_to_first_token: stats.time_to_first_token,
                tokens_per_second: stats.tokens_per_second(),
            },
        ),
        Err(_) => metrics.record_generation_error(&model, &provider),
        Ok(_) => {}
    })
}
