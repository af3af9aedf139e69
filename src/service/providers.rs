//! Providers and their models, as admins manage them: where models run, in which order the
//! router tries them, and the API keys (encrypted before they reach the database, never
//! returned).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::keyring::KeyRing;
use super::{ServiceError, require_admin, validate};
use crate::config::ProviderKeys;
use crate::domain::{Identity, Patch};
use crate::store::providers::{Provider, ProviderChanges, ProviderModel};
use crate::store::{Actor, Store};

const KINDS: [&str; 3] = ["anthropic", "openai", "openai_compatible"];

/// A provider as the API shows it: whether a key is set, never the key.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub enabled: bool,
    pub priority: i32,
    /// `stored` (set by an admin, encrypted), `environment` (`ANTHROPIC_API_KEY` /
    /// `OPENAI_API_KEY`) or `none`.
    pub key: &'static str,
}

/// What an admin sends to create or change a provider.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    /// Needed to create one; when updating, must equal the name in the path.
    pub name: Option<String>,
    /// `anthropic`, `openai` or `openai_compatible`; needed to create one.
    pub kind: Option<String>,
    /// `null` clears it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub base_url: Patch<String>,
    pub enabled: Option<bool>,
    pub priority: Option<i32>,
    /// `null` removes the stored key.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub api_key: Patch<String>,
}

/// A model on a provider, as admins set it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ProviderModelInput)]
#[serde(deny_unknown_fields)]
pub struct ModelInput {
    pub role: Option<String>,
    #[serde(default = "default_context")]
    pub context_size: i32,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The provider's own name for the model, when it differs.
    pub remote_model: Option<String>,
}

fn default_context() -> i32 {
    8192
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone)]
pub struct ProviderService {
    store: Store,
    keyring: KeyRing,
    env_keys: ProviderKeys,
}

impl ProviderService {
    pub fn new(store: Store, keyring: KeyRing, env_keys: ProviderKeys) -> Self {
        Self {
            store,
            keyring,
            env_keys,
        }
    }

    pub async fn list(&self, caller: &Identity) -> Result<Vec<ProviderView>, ServiceError> {
        let rows = self.store.list_providers(Actor::User(caller.user_id())).await?;
        Ok(rows.into_iter().map(|row| self.view(row)).collect())
    }

    pub async fn create(
        &self,
        caller: &Identity,
        input: ProviderInput,
    ) -> Result<ProviderView, ServiceError> {
        require_admin(caller, "only admins can change providers and models")?;
        let name = provider_name(input.name.as_deref().unwrap_or_default())?;
        let kind = input.kind.clone().unwrap_or_default();
        if !KINDS.contains(&kind.as_str()) {
            return Err(ServiceError::invalid(
                "kind",
                "kind must be one of anthropic, openai, openai_compatible",
            ));
        }
        if kind == "openai_compatible" && !matches!(input.base_url, Patch::Set(_)) {
            return Err(ServiceError::invalid(
                "base_url",
                "an openai_compatible provider needs a base_url",
            ));
        }
        let changes = self.changes(&name, input)?;
        let row = self
            .store
            .create_provider(Actor::User(caller.user_id()), name, kind, changes)
            .await
            .map_err(|err| name_taken(err.into()))?;
        Ok(self.view(row))
    }

    pub async fn update(
        &self,
        caller: &Identity,
        name: &str,
        input: ProviderInput,
    ) -> Result<ProviderView, ServiceError> {
        require_admin(caller, "only admins can change providers and models")?;
        if input.name.is_some() || input.kind.is_some() {
            return Err(ServiceError::invalid(
                "body",
                "name and kind cannot change; create another provider",
            ));
        }
        let changes = self.changes(name, input)?;
        let row = self
            .store
            .update_provider(Actor::User(caller.user_id()), name.to_owned(), changes)
            .await
            .map_err(|err| not_found(err.into(), "provider"))?;
        Ok(self.view(row))
    }

    pub async fn delete(&self, caller: &Identity, name: &str) -> Result<(), ServiceError> {
        require_admin(caller, "only admins can change providers and models")?;
        if name == "local" {
            return Err(ServiceError::invalid(
                "name",
                "the local provider cannot be deleted; disable it instead",
            ));
        }
        self.store
            .delete_provider(Actor::User(caller.user_id()), name.to_owned())
            .await
            .map_err(|err| not_found(err.into(), "provider"))
    }

    pub async fn models(
        &self,
        caller: &Identity,
        provider: &str,
    ) -> Result<Vec<ProviderModel>, ServiceError> {
        Ok(self
            .store
            .provider_models(Actor::User(caller.user_id()), provider.to_owned())
            .await?)
    }

    pub async fn put_model(
        &self,
        caller: &Identity,
        provider: &str,
        model: &str,
        input: ModelInput,
    ) -> Result<ProviderModel, ServiceError> {
        require_admin(caller, "only admins can change providers and models")?;
        let name = model.trim();
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_whitespace) {
            return Err(ServiceError::invalid(
                "model",
                "a model name has 1-200 characters and no spaces",
            ));
        }
        if let Some(role) = &input.role
            && !["fast", "reasoning", "code", "embedding"].contains(&role.as_str())
        {
            return Err(ServiceError::invalid(
                "role",
                "role must be fast, reasoning, code or embedding",
            ));
        }
        if !(1..=10_000_000).contains(&input.context_size) {
            return Err(ServiceError::invalid(
                "context_size",
                "context_size must be 1-10000000",
            ));
        }
        let mut settings = serde_json::Map::new();
        if let Some(remote) = input.remote_model.filter(|r| !r.trim().is_empty()) {
            settings.insert("remote_model".into(), Value::String(remote));
        }
        let row = ProviderModel {
            name: name.to_owned(),
            role: input.role,
            context_size: input.context_size,
            enabled: input.enabled,
            settings: Value::Object(settings),
        };
        self.store
            .put_provider_model(Actor::User(caller.user_id()), provider.to_owned(), row)
            .await
            .map_err(|err| match ServiceError::from(err) {
                ServiceError::Conflict { .. } => ServiceError::Conflict {
                    code: "model_exists",
                    message: format!("a model named `{name}` belongs to another provider"),
                },
                other => not_found(other, "provider"),
            })
    }

    pub async fn delete_model(
        &self,
        caller: &Identity,
        provider: &str,
        model: &str,
    ) -> Result<(), ServiceError> {
        require_admin(caller, "only admins can change providers and models")?;
        self.store
            .delete_provider_model(
                Actor::User(caller.user_id()),
                provider.to_owned(),
                model.to_owned(),
            )
            .await
            .map_err(|err| not_found(err.into(), "model"))
    }

    fn changes(&self, provider: &str, input: ProviderInput) -> Result<ProviderChanges, ServiceError> {
        if let Patch::Set(url) = &input.base_url {
            let valid = (url.starts_with("http://") || url.starts_with("https://"))
                && url.len() <= 2000
                && !url.chars().any(char::is_whitespace);
            if !valid {
                return Err(ServiceError::invalid(
                    "base_url",
                    "base_url must be an http(s) URL",
                ));
            }
        }
        let key_ciphertext = match input.api_key {
            Patch::Set(key) if key.trim().is_empty() || key.len() > 4096 => {
                return Err(ServiceError::invalid(
                    "api_key",
                    "api_key must be 1-4096 characters",
                ));
            }
            Patch::Set(key) => Patch::Set(self.keyring.encrypt(key.trim(), provider)?),
            Patch::Keep => Patch::Keep,
            Patch::Clear => Patch::Clear,
        };
        Ok(ProviderChanges {
            base_url: input.base_url.map(|url| url.trim_end_matches('/').to_owned()),
            enabled: input.enabled,
            priority: input.priority,
            key_ciphertext,
        })
    }

    fn view(&self, row: Provider) -> ProviderView {
        let env_key = match row.kind.as_str() {
            "anthropic" => self.env_keys.anthropic.is_some(),
            "openai" => self.env_keys.openai.is_some(),
            _ => false,
        };
        let key = match (row.has_stored_key, env_key) {
            (true, _) => "stored",
            (false, true) => "environment",
            (false, false) => "none",
        };
        ProviderView {
            name: row.name,
            kind: row.kind,
            base_url: row.base_url,
            enabled: row.enabled,
            priority: row.priority,
            key,
        }
    }
}

fn provider_name(raw: &str) -> Result<String, ServiceError> {
    let name = validate::name("name", raw, 64)?;
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if valid {
        Ok(name)
    } else {
        Err(ServiceError::invalid(
            "name",
            "a provider name has lower-case letters, digits, '_', '.' or '-' and starts with a letter or digit",
        ))
    }
}

fn name_taken(err: ServiceError) -> ServiceError {
    match err {
        ServiceError::Conflict { .. } => ServiceError::Conflict {
            code: "provider_exists",
            message: "a provider with this name already exists".into(),
        },
        other => other,
    }
}

fn not_found(err: ServiceError, what: &'static str) -> ServiceError {
    match err {
        ServiceError::NotFound(_) => ServiceError::NotFound(what),
        other => other,
    }
}
