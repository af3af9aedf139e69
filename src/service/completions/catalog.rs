//! What a caller may name as `model` on the compatible APIs, and what Ollama's `/api/show`
//! tells about one: local models whose file is present, the roles, remote providers' models,
//! and the enabled agents as `agent:<name>`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::SystemTime;

use super::{AGENT_PREFIX, CompletionService, Target};
use crate::domain::Identity;
use crate::engine::EngineError;
use crate::engine::catalog::ModelRole;
use crate::engine::gguf;
use crate::engine::library::FileState;
use crate::service::ServiceError;

/// What a name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardKind {
    /// A model file run in-process.
    Local,
    /// A model of a remote provider.
    Remote,
    /// `fast`, `reasoning`, `code`: whichever model plays it.
    Role,
    /// `agent:<name>`: the agent's loop, run on the server.
    Agent,
}

/// One name a caller may send as `model`.
#[derive(Debug, Clone)]
pub struct ModelCard {
    pub id: String,
    pub kind: CardKind,
    /// `local`, the provider's name, or `agentbox` for roles and agents.
    pub owned_by: String,
    pub description: Option<String>,
    /// The role a local or remote model plays.
    pub role: Option<String>,
    /// A local model's file.
    pub file: Option<FileFacts>,
}

/// A local model file on disk.
#[derive(Debug, Clone)]
pub struct FileFacts {
    pub path: PathBuf,
    pub size_bytes: u64,
    pub sha256: Option<String>,
    pub modified: Option<SystemTime>,
}

/// What `/api/show` tells about a name.
#[derive(Debug, Clone)]
pub struct ModelDetails {
    pub card: ModelCard,
    /// The local model that answers for it now (a role's or an agent's model), when local.
    pub answered_by: Option<String>,
    /// What that model's file says about itself.
    pub facts: Option<GgufFacts>,
    /// An agent's instructions.
    pub system: Option<String>,
}

/// What a GGUF file says about its model.
#[derive(Debug, Clone, Default)]
pub struct GgufFacts {
    pub architecture: Option<String>,
    /// e.g. `135M`, from the file's `general.size_label`.
    pub parameter_size: Option<String>,
    pub quantization: Option<String>,
    pub context_length: Option<u64>,
    pub chat_template: Option<String>,
    /// The file's scalar metadata (`general.*`, `<arch>.*`; long strings left out).
    pub metadata: BTreeMap<String, serde_json::Value>,
}

/// Roles a chat can name (the embedding role answers `/v1/embeddings` only).
const CHAT_ROLES: [ModelRole; 3] = [ModelRole::Fast, ModelRole::Reasoning, ModelRole::Code];

impl CompletionService {
    /// Every name the caller may send as `model`: local models, roles, remote models, agents.
    pub async fn models(&self, caller: &Identity) -> Result<Vec<ModelCard>, ServiceError> {
        let library = self.inner.models.library().await?;
        let present: Vec<_> = library
            .list()
            .into_iter()
            .filter(|info| info.state == FileState::Present && info.main_role() != Some(ModelRole::Embedding))
            .collect();
        let files: Vec<PathBuf> = present
            .iter()
            .map(|info| library.dir().join(&info.file))
            .collect();
        let modified = tokio::task::spawn_blocking(move || {
            files
                .iter()
                .map(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let mut cards: Vec<ModelCard> = present
            .into_iter()
            .zip(modified.into_iter().chain(std::iter::repeat(None)))
            .map(|(info, modified)| ModelCard {
                description: None,
                role: info.main_role().map(|role| role.as_str().to_owned()),
                file: Some(FileFacts {
                    path: library.dir().join(&info.file),
                    size_bytes: info.size_bytes.unwrap_or(0),
                    sha256: info.sha256,
                    modified,
                }),
                id: info.name,
                kind: CardKind::Local,
                owned_by: "local".to_owned(),
            })
            .collect();
        cards.extend(CHAT_ROLES.iter().map(|role| ModelCard {
            id: role.as_str().to_owned(),
            kind: CardKind::Role,
            owned_by: "agentbox".to_owned(),
            description: Some(format!("whichever model plays the `{}` role", role.as_str())),
            role: Some(role.as_str().to_owned()),
            file: None,
        }));
        let mut seen: HashSet<String> = cards.iter().map(|card| card.id.clone()).collect();
        for remote in self.inner.store.remote_models().await? {
            if seen.insert(remote.model.clone()) {
                cards.push(ModelCard {
                    id: remote.model,
                    kind: CardKind::Remote,
                    owned_by: remote.provider,
                    description: None,
                    role: remote.role,
                    file: None,
                });
            }
        }
        let agents = self.inner.agents.list(caller).await?.agents;
        cards.extend(
            agents
                .into_iter()
                .filter(|agent| agent.enabled)
                .map(|agent| ModelCard {
                    id: format!("{AGENT_PREFIX}{}", agent.name),
                    kind: CardKind::Agent,
                    owned_by: "agentbox".to_owned(),
                    description: Some(agent.description),
                    role: agent.model_role,
                    file: None,
                }),
        );
        Ok(cards)
    }

    /// The card of one name; `UnknownModel` when the caller may not name it.
    pub async fn model(&self, caller: &Identity, id: &str) -> Result<ModelCard, ServiceError> {
        let cards = self.models(caller).await?;
        let known: Vec<&str> = cards.iter().map(|card| card.id.as_str()).collect();
        let known = known.join(", ");
        cards
            .into_iter()
            .find(|card| card.id == id.trim())
            .ok_or_else(|| {
                EngineError::UnknownModel {
                    name: id.trim().to_owned(),
                    known,
                }
                .into()
            })
    }

    /// What the name stands for, read from the GGUF file of the local model that answers it.
    pub async fn details(&self, caller: &Identity, name: &str) -> Result<ModelDetails, ServiceError> {
        let card = self.model(caller, name).await?;
        let (system, answerer) = match Target::parse(&card.id) {
            Target::Agent(agent) => {
                let agent = self.inner.agents.get(caller, agent).await?;
                let answerer = agent.model_name.clone().or(agent.model_role.clone());
                (Some(agent.system_prompt), answerer)
            }
            Target::Model(model) => (None, Some(model.to_owned())),
        };
        let library = self.inner.models.library().await?;
        let local = answerer
            .as_deref()
            .and_then(|name| library.find(name).ok())
            .filter(|entry| library.is_present(entry))
            .map(|entry| {
                (
                    entry.name.clone(),
                    library.path_of(entry),
                    entry.chat_template.clone(),
                )
            });
        let mut details = ModelDetails {
            card,
            answered_by: None,
            facts: None,
            system,
        };
        if let Some((model, path, template_override)) = local {
            let mut facts = read_facts(vec![path]).await.pop().flatten();
            if let Some(facts) = facts.as_mut()
                && template_override.is_some()
            {
                facts.chat_template = template_override;
            }
            details.answered_by = Some(model);
            details.facts = facts;
        }
        Ok(details)
    }

    /// The names the caller may send, each local model with what its file says.
    pub async fn models_with_facts(
        &self,
        caller: &Identity,
    ) -> Result<Vec<(ModelCard, Option<GgufFacts>)>, ServiceError> {
        let cards = self.models(caller).await?;
        let paths: Vec<PathBuf> = cards
            .iter()
            .filter_map(|card| card.file.as_ref().map(|file| file.path.clone()))
            .collect();
        let mut facts = read_facts(paths).await.into_iter();
        Ok(cards
            .into_iter()
            .map(|card| {
                let read = if card.file.is_some() {
                    facts.next().flatten()
                } else {
                    None
                };
                (card, read)
            })
            .collect())
    }
}

/// The facts of each file, in order; `None` for a file that cannot be read.
async fn read_facts(paths: Vec<PathBuf>) -> Vec<Option<GgufFacts>> {
    let count = paths.len();
    let read = tokio::task::spawn_blocking(move || {
        paths
            .iter()
            .map(|path| gguf::read(path).ok().map(|header| facts_of(&header)))
            .collect::<Vec<_>>()
    })
    .await;
    read.unwrap_or_else(|_| vec![None; count])
}

fn facts_of(header: &gguf::GgufHeader) -> GgufFacts {
    GgufFacts {
        architecture: header.architecture().map(str::to_owned),
        parameter_size: header
            .get("general.size_label")
            .and_then(gguf::Value::as_str)
            .map(str::to_owned),
        quantization: header.quantization().map(str::to_owned),
        context_length: header.context_length(),
        chat_template: header.chat_template().map(str::to_owned),
        metadata: scalar_metadata(header),
    }
}

/// The file's scalar metadata as JSON; the tokenizer's tables and long texts are left out.
fn scalar_metadata(header: &gguf::GgufHeader) -> BTreeMap<String, serde_json::Value> {
    use gguf::Value as V;
    header
        .metadata
        .iter()
        .filter(|(key, _)| !key.starts_with("tokenizer."))
        .filter_map(|(key, value)| {
            let json = match value {
                V::String(text) if text.len() <= 256 => serde_json::json!(text),
                V::Bool(flag) => serde_json::json!(flag),
                V::F32(number) => serde_json::json!(number),
                V::F64(number) => serde_json::json!(number),
                // Integers; negative ones (rare in GGUF metadata) and arrays are left out.
                other => serde_json::json!(other.as_u64()?),
            };
            Some((key.clone(), json))
        })
        .collect()
}
