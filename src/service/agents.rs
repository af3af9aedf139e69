//! Agents: the ones defined by files (built in, or in the agents folder, reloaded on change)
//! and the ones stored in the database, which override files of the same name. Everyone signed
//! in may list and use them; admins create, change and delete the database copies (deleting
//! one brings the file's definition back).

pub mod catalog;
pub mod definition;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::inference::InferenceService;
use super::{ServiceError, require_admin};
use crate::domain::{Agent, AgentSource, Identity, RoutePreview};
use crate::store::{Actor, Store};
use catalog::{AgentCatalog, FileProblem};
use definition::AgentSpec;

/// The agents a caller can use, and the agent files that could not be read.
#[derive(Debug, Clone)]
pub struct Agents {
    pub agents: Vec<Agent>,
    /// Agent files that could not be read (shown to admins only; empty for others).
    pub file_problems: Vec<FileProblem>,
}

/// The agents a caller can use with the model that would answer each now, and the agent files
/// that could not be read.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentList {
    pub agents: Vec<ListedAgent>,
    /// Agent files that could not be read (shown to admins only; empty for others).
    pub file_problems: Vec<FileProblem>,
}

/// An agent, and which model would answer it now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ListedAgent {
    #[serde(flatten)]
    pub agent: Agent,
    /// The model that would answer this agent now (and whether in place of its own); `null`
    /// when that could not be worked out (the reason is in the server log).
    pub answered_by: Option<RoutePreview>,
}

#[derive(Debug, Clone)]
pub struct AgentService {
    store: Store,
    catalog: AgentCatalog,
    /// Behind an `Arc`: the router is a large handle, and this service is copied into others.
    inference: Arc<InferenceService>,
}

impl AgentService {
    pub fn new(store: Store, catalog: AgentCatalog, inference: InferenceService) -> Self {
        Self {
            store,
            catalog,
            inference: Arc::new(inference),
        }
    }

    pub fn catalog(&self) -> &AgentCatalog {
        &self.catalog
    }

    pub async fn list(&self, caller: &Identity) -> Result<Agents, ServiceError> {
        let mut agents: BTreeMap<String, Agent> = self
            .catalog
            .agents()
            .into_iter()
            .map(|a| (a.name.clone(), a))
            .collect();
        for stored in self.store.list_agents(Actor::User(caller.user_id())).await? {
            agents.insert(stored.name.clone(), stored);
        }
        let file_problems = if caller.user.is_admin() {
            self.catalog.problems()
        } else {
            Vec::new()
        };
        Ok(Agents {
            agents: agents.into_values().collect(),
            file_problems,
        })
    }

    /// [`Self::list`], with the model that would answer each agent now (for the agent picker).
    pub async fn listing(&self, caller: &Identity) -> Result<AgentList, ServiceError> {
        let Agents {
            agents,
            file_problems,
        } = self.list(caller).await?;
        let mut targets: Vec<String> = agents.iter().map(|a| a.model_target().to_owned()).collect();
        targets.sort();
        targets.dedup();
        // Which model answers each: a few file checks and small queries, once per distinct
        // target. The list does not fail for it.
        let previews: BTreeMap<String, RoutePreview> = match self.inference.preview(&targets).await {
            Ok(previews) => targets.into_iter().zip(previews).collect(),
            Err(err) => {
                tracing::warn!(error = %err, "cannot tell which models answer the agents");
                BTreeMap::new()
            }
        };
        Ok(AgentList {
            agents: agents
                .into_iter()
                .map(|agent| ListedAgent {
                    answered_by: previews.get(agent.model_target()).cloned(),
                    agent,
                })
                .collect(),
            file_problems,
        })
    }

    /// The agent called `name` as the caller sees it (the database copy first).
    pub async fn get(&self, caller: &Identity, name: &str) -> Result<Agent, ServiceError> {
        let stored = self
            .store
            .find_agent(Actor::User(caller.user_id()), name.to_owned())
            .await?;
        stored
            .or_else(|| self.catalog.get(name))
            .ok_or(ServiceError::NotFound("agent"))
    }

    /// Creates or replaces the database copy of `name` (admins).
    pub async fn put(
        &self,
        caller: &Identity,
        name: &str,
        mut spec: AgentSpec,
    ) -> Result<Agent, ServiceError> {
        require_admin(caller, "only admins can change agents")?;
        if spec.name.as_deref().is_some_and(|n| n != name) {
            return Err(ServiceError::invalid(
                "name",
                "the name in the body differs from the one in the path",
            ));
        }
        spec.name = Some(name.to_owned());
        let agent = definition::validate(spec, AgentSource::Database)
            .map_err(|message| ServiceError::invalid("body", message))?;
        Ok(self.store.put_agent(Actor::User(caller.user_id()), agent).await?)
    }

    /// Deletes the database copy (admins); the file's definition, if any, applies again.
    pub async fn delete(&self, caller: &Identity, name: &str) -> Result<Option<Agent>, ServiceError> {
        require_admin(caller, "only admins can change agents")?;
        if !self
            .store
            .delete_agent(Actor::User(caller.user_id()), name.to_owned())
            .await?
        {
            return Err(ServiceError::NotFound("agent"));
        }
        Ok(self.catalog.get(name))
    }
}
