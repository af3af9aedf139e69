//! Roles as a mapping: which roles a model plays, and giving roles to a model or taking them
//! back (`agentbox models role`, the Models page, `models import --role`). Every change is
//! written to imported.toml's `[roles]` under its lock and reported role by role, so a role
//! never changes hands without saying from which model to which.

use serde::Serialize;

use super::Library;
use super::records::update_imported;
use crate::engine::EngineError;
use crate::engine::catalog::ModelRole;

/// One role changing hands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RoleMove {
    pub role: ModelRole,
    /// The model that played it before (`None`: no model did).
    pub from: Option<String>,
    /// The model that plays it now (`None`: no model does).
    pub to: Option<String>,
}

/// The outcome of a change of a model's roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RoleChange {
    pub name: String,
    /// The roles it plays now.
    pub roles: Vec<ModelRole>,
    /// The roles given to it explicitly now.
    pub given_roles: Vec<ModelRole>,
    /// The roles that changed hands.
    pub moved: Vec<RoleMove>,
}

impl Library {
    /// The roles the model `name` plays now.
    pub fn roles_of(&self, name: &str) -> Vec<ModelRole> {
        ModelRole::ALL
            .into_iter()
            .filter(|role| {
                self.for_role(*role)
                    .is_some_and(|player| player.name.eq_ignore_ascii_case(name))
            })
            .collect()
    }

    /// The roles given to the model `name` explicitly.
    pub fn given_roles_of(&self, name: &str) -> Vec<ModelRole> {
        self.given
            .iter()
            .filter(|(_, player)| player.eq_ignore_ascii_case(name))
            .map(|(role, _)| *role)
            .collect()
    }

    /// The roles of `roles` whose player differs between `self` and `after`.
    pub(super) fn moves(&self, after: &Library, roles: &[ModelRole]) -> Vec<RoleMove> {
        let player = |library: &Library, role| library.for_role(role).map(|e| e.name.clone());
        roles
            .iter()
            .map(|&role| RoleMove {
                role,
                from: player(self, role),
                to: player(after, role),
            })
            .filter(|change| change.from != change.to)
            .collect()
    }

    /// Gives `give` to the model `name` (whoever played them before) and takes `take_back`
    /// from it (those go back to the catalog's models). Only roles given explicitly can be
    /// taken back: a role the model plays as the catalog's model moves by giving it to
    /// another. Roles it plays and are not named stay as they are.
    pub fn change_roles(
        &self,
        name: &str,
        give: &[ModelRole],
        take_back: &[ModelRole],
    ) -> Result<RoleChange, EngineError> {
        let Some(entry) = self.by_name(name) else {
            let mut err = self.unknown(name);
            if let (Ok(role), EngineError::UnknownModel { known, .. }) = (name.parse::<ModelRole>(), &mut err)
            {
                let player = self.for_role(role).map_or("none", |e| e.name.as_str());
                *known = format!(
                    "give roles to a model by its name, not a role; role {role} is played by {player}"
                );
            }
            return Err(err);
        };
        let name = entry.name.clone();
        if let Some(role) = give.iter().find(|role| take_back.contains(role)) {
            return Err(EngineError::RoleRefused(format!(
                "role {role} is both given to and taken back from `{name}`"
            )));
        }
        if !self.is_catalog(entry) && !self.is_present(entry) && !give.is_empty() {
            return Err(EngineError::RoleRefused(format!(
                "the file of `{name}` is missing; import it again before giving it roles"
            )));
        }
        let given = self.given_roles_of(&name);
        for role in take_back {
            if given.contains(role) {
                continue;
            }
            // Not given to it: it plays the role (if at all) as the catalog's model for it.
            let plays = self.for_role(*role).is_some_and(|e| e.name == name);
            return Err(EngineError::RoleRefused(if plays {
                format!(
                    "`{name}` plays {role} as the catalog's model for it; give {role} to another model instead \
                     (agentbox models role OTHER {role})"
                )
            } else {
                format!("`{name}` was not given role {role}")
            }));
        }
        let plays = self.roles_of(&name);
        let mut give: Vec<ModelRole> = give
            .iter()
            .copied()
            .filter(|role| !plays.contains(role))
            .collect();
        give.sort_unstable();
        give.dedup();
        let mut after = self.clone();
        for role in &give {
            after.given.insert(*role, name.clone());
        }
        for role in take_back {
            after.given.remove(role);
        }
        if !give.is_empty() || !take_back.is_empty() {
            update_imported(&self.dir, |imports| {
                for role in &give {
                    imports.roles.insert(*role, name.clone());
                }
                for role in take_back {
                    imports.roles.remove(role);
                }
            })?;
        }
        let changed: Vec<ModelRole> = give.iter().chain(take_back).copied().collect();
        Ok(RoleChange {
            roles: after.roles_of(&name),
            given_roles: after.given_roles_of(&name),
            moved: self.moves(&after, &changed),
            name,
        })
    }
}
