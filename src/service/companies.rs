//! Companies and departments as the caller may see them.

use uuid::Uuid;

use super::error::NotFoundAs;
use super::{ServiceError, require_admin, validate};
use crate::domain::{Company, Department, Identity, Page};
use crate::store::{Actor, Store};

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
