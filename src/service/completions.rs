//! The behaviour behind the OpenAI- and Ollama-compatible APIs: what a caller may name as a
//! model (local models, roles, remote providers' models, and agents as `agent:<name>`), model
//! calls through the router recorded like the chat's (an `llm_evaluations` row each), raw text
//! completions, agent runs over a conversation the client sends whole, and Ollama's keep-alive.

pub mod catalog;
mod keep_alive;
mod record;

use std::time::Instant;

use super::agents::AgentService;
use super::chat::{ChatRun, ChatService};
use super::inference::{InferenceService, RoutedChat};
use super::models::ModelService;
use super::{ServiceError, require_admin};
use crate::domain::Identity;
use crate::engine::chat::ChatRequest;
use crate::engine::library::Removed;
use crate::engine::llama::LoadedModel;
use crate::engine::{ChatMessage, EngineError};
use crate::store::Store;
pub use catalog::{CardKind, GgufFacts, ModelCard, ModelDetails};
use keep_alive::KeepAlive;
pub use keep_alive::Residency;

/// The model name that runs an agent: `agent:analyst`.
pub const AGENT_PREFIX: &str = "agent:";

/// What a request's `model` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A model or role, answered by the router.
    Model(&'a str),
    /// An agent, whose loop runs on the server.
    Agent(&'a str),
}

impl<'a> Target<'a> {
    pub fn parse(model: &'a str) -> Self {
        let model = model.trim();
        match model.strip_prefix(AGENT_PREFIX) {
            Some(agent) => Target::Agent(agent.trim()),
            None => Target::Model(model),
        }
    }
}

/// A model in memory, as Ollama's `/api/ps` shows it.
#[derive(Debug, Clone)]
pub struct RunningModel {
    pub model: LoadedModel,
    /// When its keep-alive ends; `None`: it stays until the memory budget needs the room.
    pub expires_at: Option<std::time::SystemTime>,
}

/// A cheap handle: the services it builds on live behind one `Arc` (it is cloned into every
/// streamed answer that applies a keep-alive).
#[derive(Debug, Clone)]
pub struct CompletionService {
    inner: std::sync::Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    inference: InferenceService,
    models: ModelService,
    agents: AgentService,
    chat: ChatService,
    store: Store,
    keep_alive: KeepAlive,
}

impl CompletionService {
    pub fn new(
        inference: InferenceService,
        models: ModelService,
        agents: AgentService,
        chat: ChatService,
        store: Store,
    ) -> Self {
        Self {
            inner: std::sync::Arc::new(Inner {
                keep_alive: KeepAlive::new(inference.clone()),
                inference,
                models,
                agents,
                chat,
                store,
            }),
        }
    }

    /// Starts a model call on `target` (a model or role), recorded when it ends.
    pub async fn chat(
        &self,
        caller: &Identity,
        target: &str,
        request: ChatRequest,
    ) -> Result<RoutedChat, ServiceError> {
        let started = Instant::now();
        // Clients that name a model get that model (or its role's other candidates), or an
        // error they can act on (Ollama clients offer a pull): no fallback to another model.
        let routed = self.inner.inference.chat_named(target, request).await;
        self.recorded(caller, target, started, routed)
    }

    /// Continues a raw prompt on a local model (legacy text completions), recorded when it ends.
    pub async fn complete(
        &self,
        caller: &Identity,
        target: &str,
        prompt: String,
        request: &ChatRequest,
    ) -> Result<RoutedChat, ServiceError> {
        let started = Instant::now();
        let routed = self.inner.inference.complete(target, prompt, request).await;
        self.recorded(caller, target, started, routed)
    }

    /// Runs the agent `name` over a conversation the client sent whole (see
    /// [`ChatService::converse`]): every model call is recorded by the agent loop itself.
    pub async fn run_agent(
        &self,
        caller: &Identity,
        name: &str,
        messages: Vec<ChatMessage>,
        max_tokens: Option<u32>,
    ) -> Result<ChatRun, ServiceError> {
        self.inner.chat.converse(caller, name, messages, max_tokens).await
    }

    /// Loads a local model now (Ollama's empty request), for any caller: a request would load
    /// it just the same.
    pub async fn load(&self, name: &str) -> Result<LoadedModel, ServiceError> {
        let (engine, spec) = self.inner.inference.local_model(name).await?;
        Ok(engine.load(&spec).await?)
    }

    /// Deletes a local model's files (admins): Ollama's `/api/delete`.
    pub async fn delete(&self, caller: &Identity, name: &str) -> Result<Removed, ServiceError> {
        require_admin(caller, "only admins can delete models")?;
        self.inner.models.remove(name).await
    }

    /// Sets how long the local model `name` stays loaded from now.
    pub fn keep_alive(&self, name: &str, residency: Residency) {
        self.inner.keep_alive.keep(name, residency);
    }

    /// The local models in memory, with their keep-alive.
    pub async fn running(&self) -> Vec<RunningModel> {
        let mut running: Vec<RunningModel> = self
            .inner
            .inference
            .loaded()
            .await
            .into_iter()
            .map(|model| RunningModel {
                expires_at: self.inner.keep_alive.expires_at(&model.name),
                model,
            })
            .collect();
        running.sort_by(|a, b| a.model.name.cmp(&b.model.name));
        running
    }

    fn recorded(
        &self,
        caller: &Identity,
        target: &str,
        started: Instant,
        routed: Result<RoutedChat, ServiceError>,
    ) -> Result<RoutedChat, ServiceError> {
        match routed {
            Ok(routed) => Ok(record::recorded(
                routed,
                self.inner.store.clone(),
                caller.user_id(),
                target,
                started,
            )),
            Err(err) => {
                // Refusals of the request itself (bad input) are not model calls.
                let refused = matches!(
                    err,
                    ServiceError::InvalidInput { .. } | ServiceError::Engine(EngineError::InvalidRequest(_))
                );
                if !refused {
                    record::record_refusal(
                        &self.inner.store,
                        caller.user_id(),
                        target,
                        started,
                        err.to_string(),
                    );
                }
                Err(err)
            }
        }
    }
}
