//! Companies and departments as the caller may see them, and which company a user created
//! outside the admin UI (first-run setup, `agentbox user create`) joins.

use uuid::Uuid;

use super::error::NotFoundAs;
use super::{ServiceError, require_admin, validate};
use crate::domain::{Company, Department, Identity, Page};
use crate::store::{Actor, Store};

/// The company made when a user must belong to one and none exists.
pub const DEFAULT_COMPANY: &str = "My Company";

/// Which company a user created by setup or the CLI joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompanyChoice {
    /// The first admin's company; before any admin, the first sample company (else the oldest);
    /// a new [`DEFAULT_COMPANY`] when no company exists.
    Default,
    /// An existing company, by name (case aside). A name that matches none is refused while
    /// any company exists, so a typo cannot strand a user in a new, empty company; on a
    /// database without companies it is created.
    Existing(String),
    /// An existing company by name (case aside), or a new one of that name.
    ExistingOrNew(String),
}

/// The name of the company `choice` means: one that exists, or one to create.
pub(super) async fn chosen_company(store: &Store, choice: CompanyChoice) -> Result<String, ServiceError> {
    let (name, may_create) = match choice {
        CompanyChoice::Default => {
            return Ok(store
                .default_company()
                .await?
                .map_or_else(|| DEFAULT_COMPANY.to_owned(), |company| company.name));
        }
        CompanyChoice::Existing(name) => (name, false),
        CompanyChoice::ExistingOrNew(name) => (name, true),
    };
    let name = validate::name("company", &name, 200)?;
    if let Some(company) = store.find_company(name.clone()).await? {
        return Ok(company.name);
    }
    let existing = store.all_companies().await?;
    if may_create || existing.is_empty() {
        return Ok(name);
    }
    let names: Vec<String> = existing.into_iter().map(|c| format!("\"{}\"", c.name)).collect();
    Err(ServiceError::invalid(
        "company",
        format!(
            "no company is named \"{name}\"; the companies are {}: name one of them, or ask for a \
             new company (agentbox user create --create-company)",
            names.join(", ")
        ),
    ))
}

#[derive(Debug, Clone)]
pub struct CompanyService {
    store: Store,
}

impl CompanyService {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn list(&self, caller: &Identity, page: Page) -> Result<Vec<Company>, ServiceError> {
        Ok(self
            .store
            .list_companies(Actor::User(caller.user_id()), page)
            .await?)
    }

    pub async fn get(&self, caller: &Identity, id: Uuid) -> Result<Company, ServiceError> {
        self.store
            .get_company(Actor::User(caller.user_id()), id)
            .await
            .not_found_as("company")
    }

    pub async fn departments(
        &self,
        caller: &Identity,
        company_id: Uuid,
        page: Page,
    ) -> Result<Vec<Department>, ServiceError> {
        self.get(caller, company_id).await?;
        Ok(self
            .store
            .list_departments(Actor::User(caller.user_id()), company_id, page)
            .await?)
    }

    pub async fn create_department(
        &self,
        admin: &Identity,
        company_id: Uuid,
        name: &str,
    ) -> Result<Department, ServiceError> {
        require_admin(admin, "only admins can add departments")?;
        let name = validate::name("name", name, 200)?;
        self.get(admin, company_id).await?;
        Ok(self
            .store
            .create_department(Actor::User(admin.user_id()), company_id, name)
            .await?)
    }
}
