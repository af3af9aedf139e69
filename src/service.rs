//! Behaviour: the rules of the platform, in domain terms. Never sees axum or sqlx types.

pub mod agent_tasks;
pub mod agents;
pub mod analytics;
pub mod auth;
pub mod chat;
pub mod companies;
pub mod completions;
mod error;
pub mod evals;
pub mod health;
pub mod inference;
pub mod keyring;
pub mod kpis;
pub mod mcp;
pub mod models;
pub mod providers;
pub mod ratings;
pub mod search;
mod secrets;
pub mod tasks;
pub mod tools;
pub mod users;
pub mod validate;

pub use error::ServiceError;

use std::sync::Arc;

use crate::config::Settings;
use crate::domain::Identity;
use crate::engine::llama::Engine;
use crate::metrics::Metrics;
use crate::store::Store;

/// Every service, built once by the composition root.
#[derive(Debug, Clone)]
pub struct Services {
    pub auth: auth::AuthService,
    pub users: users::UserService,
    pub companies: companies::CompanyService,
    pub health: health::HealthService,
    pub models: models::ModelService,
    pub agents: agents::AgentService,
    pub providers: providers::ProviderService,
    pub inference: inference::InferenceService,
    pub search: search::SearchService,
    pub tools: tools::ToolRegistry,
    pub mcp: mcp::McpService,
    pub chat: chat::ChatService,
    /// The OpenAI- and Ollama-compatible APIs' model calls and agent runs.
    pub completions: completions::CompletionService,
    pub kpis: kpis::KpiService,
    pub tasks: tasks::TaskService,
    pub ratings: ratings::RatingService,
    pub analytics: analytics::AnalyticsService,
    pub evals: evals::EvalService,
    /// Counters and histograms for `/metrics`, fed by the router and the HTTP layer.
    pub metrics: Metrics,
}

impl Services {
    pub fn new(store: &Store, settings: &Settings, engine: Engine, keyring: keyring::KeyRing) -> Self {
        let metrics = Metrics::new();
        let models = models::ModelService::new(settings, engine.clone());
        let inference = inference::InferenceService::new(
            store.clone(),
            engine,
            models.clone(),
            keyring.clone(),
            settings.providers.clone(),
            metrics.clone(),
            settings.routing.clone(),
        );
        let agents = agents::AgentService::new(
            store.clone(),
            agents::catalog::AgentCatalog::load(&settings.agents_dir),
            inference.clone(),
        );
        let search = search::SearchService::new(store.clone(), settings);
        let tools = builtin_tools(store, settings);
        let runner = chat::runner::AgentRunner::new(
            Arc::new(inference.clone()),
            tools.clone(),
            store.clone(),
            chat::runner::RunLimits {
                max_tokens: settings.agents.max_tokens,
                tool_timeout: settings.agents.tool_timeout,
                ..chat::runner::RunLimits::default()
            },
        );
        let mcp = mcp::McpService::new(store.clone(), keyring.clone(), tools.clone(), &settings.mcp);
        let chat = chat::ChatService::new(
            store.clone(),
            agents.clone(),
            search.clone(),
            runner,
            settings.engine.context_per_slot,
        );
        Self {
            providers: providers::ProviderService::new(store.clone(), keyring, settings.providers.clone()),
            mcp,
            completions: completions::CompletionService::new(
                inference.clone(),
                models.clone(),
                agents.clone(),
                chat.clone(),
                store.clone(),
            ),
            chat,
            inference,
            tasks: tasks::TaskService::new(store.clone(), agents.clone()),
            agents,
            auth: auth::AuthService::new(store.clone(), settings.auth.clone()),
            users: users::UserService::new(store.clone()),
            companies: companies::CompanyService::new(store.clone()),
            health: health::HealthService::new(store.clone(), models.clone()),
            models,
            search,
            tools,
            kpis: kpis::KpiService::new(store.clone()),
            ratings: ratings::RatingService::new(store.clone()),
            analytics: analytics::AnalyticsService::new(store.clone()),
            evals: evals::EvalService::new(store.clone()),
            metrics,
        }
    }
}

impl Services {
    /// The tools MCP clients get (at `/mcp` and over stdio): the built-in tools and the
    /// platform tools (agents, tasks) — not those of external MCP servers, which act with the
    /// platform's credentials rather than the caller's.
    pub fn host_tools(&self) -> tools::ToolRegistry {
        let host = self
            .tools
            .filtered(|name| !name.contains(crate::domain::TOOL_SEPARATOR));
        tools::platform::register(&host, self.agents.clone(), self.tasks.clone());
        host
    }
}

/// The tools built into the platform (MCP servers add theirs to the same registry). The
/// workspace and git tools are confined below the `workspace` setting.
fn builtin_tools(store: &Store, settings: &Settings) -> tools::ToolRegistry {
    let registry = tools::ToolRegistry::default();
    registry.register(Arc::new(tools::conversations::SearchConversations::new(
        store.clone(),
    )));
    tools::kpi::register(&registry, store.clone());
    tools::workspace::register(&registry, &settings.workspace);
    tools::git::register(&registry, &settings.workspace);
    registry
}

/// Refuses callers who are not admins; `refusal` says what only admins may do.
fn require_admin(caller: &Identity, refusal: &'static str) -> Result<(), ServiceError> {
    if caller.user.is_admin() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(refusal))
    }
}
