//! Behaviour: the rules of the platform, in domain terms. Never sees axum or sqlx types.

pub mod agents;
pub mod auth;
pub mod companies;
mod error;
pub mod health;
pub mod inference;
pub mod keyring;
pub mod models;
pub mod providers;
pub mod search;
mod secrets;
pub mod tools;
pub mod users;
pub mod validate;

pub use error::ServiceError;

use crate::config::Settings;
use crate::domain::Identity;
use crate::engine::llama::Engine;
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
}

impl Services {
    pub fn new(store: &Store, settings: &Settings, engine: Engine, keyring: keyring::KeyRing) -> Self {
        let models = models::ModelService::new(settings, engine.clone());
        Self {
            providers: providers::ProviderService::new(
                store.clone(),
                keyring.clone(),
                settings.providers.clone(),
            ),
            inference: inference::InferenceService::new(
                store.clone(),
                engine,
                models.clone(),
                keyring,
                settings.providers.clone(),
            ),
            agents: agents::AgentService::new(
                store.clone(),
                agents::catalog::AgentCatalog::load(&settings.agents_dir),
            ),
            auth: auth::AuthService::new(store.clone(), settings.auth.clone()),
            users: users::UserService::new(store.clone()),
            companies: companies::CompanyService::new(store.clone()),
            health: health::HealthService::new(store.clone(), models.clone()),
            models,
            search: search::SearchService::new(store.clone(), settings),
        }
    }
}

/// Refuses callers who are not admins; `refusal` says what only admins may do.
fn require_admin(caller: &Identity, refusal: &'static str) -> Result<(), ServiceError> {
    if caller.user.is_admin() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(refusal))
    }
}
