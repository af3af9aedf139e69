//! Agents: the ones defined by files (built in, or in the agents folder, reloaded on change)
//! and the ones stored in the database, which override files of the same name. Everyone signed
//! in may list and use them; admins create, change and delete the database copies (deleting
//! one brings the file's definition back).

pub mod catalog;
pub mod definition;

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ServiceError, require_admin};
use crate::domain::{Agent, AgentSource, Identity};
use crate::store::{Actor, Store};
use catalog::{AgentCatalog, FileProblem};
use definition::AgentSpec;

/// The agents a caller can use, and the agent files that could not be read.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentList {
    pub agents: Vec<Agent>,
    /// Agent files that could not be read (shown to admins only; empty for others).
    pub file_problems: Vec<FileProblem>,
}

#[derive(Debug, Clone)]
pub struct AgentService {
    store: Store,
    catalog: AgentCatalog,
}

impl AgentService {
    pub fn new(store: Store, catalog: AgentCatalog) -> Self {
        Self { store, catalog }
    }

    pub fn catalog(&self) -> &AgentCatalog {
        &self.catalog
    }

    pub async fn list(&self, caller: &Identity) -> Result<AgentList, ServiceError> {
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
        Ok(AgentList {
            agents: agents.into_values().collect(),
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
