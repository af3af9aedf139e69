//! User management: admins manage the users of their own company; the CLI creates users.

use uuid::Uuid;

use super::companies::{CompanyChoice, chosen_company};
use super::error::NotFoundAs;
use super::{ServiceError, require_admin, secrets, validate};
use crate::domain::{Company, Identity, Page, Role, User, UserUpdate};
use crate::store::{Actor, NewUser, Store};

/// A user an admin (or the CLI) asks for.
#[derive(Debug, Clone)]
pub struct CreateUser {
    pub email: String,
    pub password: String,
    pub display_name: Option<String>,
    pub role: Role,
    pub department_id: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct UserService {
    store: Store,
}

impl UserService {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    async fn new_user(&self, request: CreateUser, company_id: Uuid) -> Result<NewUser, ServiceError> {
        let email = validate::email(&request.email)?;
        validate::password(&request.password)?;
        let display_name = match request.display_name.as_deref() {
            Some(name) if !name.trim().is_empty() => validate::name("display_name", name, 100)?,
            _ => String::new(),
        };
        Ok(NewUser {
            email,
            password_hash: secrets::hash_password(request.password).await?,
            display_name,
            role: request.role,
            company_id: Some(company_id),
            department_id: request.department_id,
        })
    }

    /// Checks that a department belongs to the admin's company (the foreign key alone would
    /// accept another company's department).
    async fn check_department(&self, admin: &Identity, department_id: Uuid) -> Result<(), ServiceError> {
        let company_id = admin
            .user
            .company_id
            .ok_or(ServiceError::Forbidden("you belong to no company"))?;
        let departments = self
            .store
            .list_departments(
                Actor::User(admin.user_id()),
                company_id,
                Page::new(Some(Page::MAX_LIMIT), None),
            )
            .await?;
        if departments.iter().any(|d| d.id == department_id) {
            Ok(())
        } else {
            Err(ServiceError::invalid(
                "department_id",
                "no such department in your company",
            ))
        }
    }

    /// An admin adds a user to their own company.
    pub async fn create(&self, admin: &Identity, request: CreateUser) -> Result<User, ServiceError> {
        require_admin(admin, "only admins can manage users")?;
        let company_id = admin
            .user
            .company_id
            .ok_or(ServiceError::Forbidden("you belong to no company"))?;
        if let Some(department_id) = request.department_id {
            self.check_department(admin, department_id).await?;
        }
        let new = self.new_user(request, company_id).await?;
        Ok(self.store.create_user(new).await?)
    }

    /// `agentbox user create`: the operator is trusted; `company` says which company the user
    /// joins (see [`CompanyChoice`]).
    /// Returns the user and the company they joined.
    pub async fn create_from_cli(
        &self,
        request: CreateUser,
        company: CompanyChoice,
    ) -> Result<(User, Company), ServiceError> {
        // Checked first, so a bad email or password does not leave a new company behind.
        let email = validate::email(&request.email)?;
        validate::password(&request.password)?;
        let name = chosen_company(&self.store, company).await?;
        let company = self.store.find_or_create_company(name).await?;
        let new = self.new_user(CreateUser { email, ..request }, company.id).await?;
        Ok((self.store.create_user(new).await?, company))
    }

    /// `agentbox user passwd`: sets a password by email and ends the user's sessions.
    pub async fn reset_password_from_cli(&self, email: &str, password: String) -> Result<(), ServiceError> {
        let email = validate::email(email)?;
        validate::password(&password)?;
        let user = self
            .store
            .credentials_by_email(email)
            .await?
            .ok_or(ServiceError::NotFound("user"))?
            .user;
        let hash = secrets::hash_password(password).await?;
        self.store.set_password(user.id, hash).await?;
        self.store.delete_user_sessions(user.id).await?;
        Ok(())
    }

    pub async fn list(&self, admin: &Identity, page: Page) -> Result<Vec<User>, ServiceError> {
        require_admin(admin, "only admins can manage users")?;
        Ok(self.store.list_users(Actor::User(admin.user_id()), page).await?)
    }

    /// A user may read themself; an admin the users of their company (RLS decides).
    pub async fn get(&self, caller: &Identity, id: Uuid) -> Result<User, ServiceError> {
        self.store
            .get_user(Actor::User(caller.user_id()), id)
            .await
            .not_found_as("user")
    }

    pub async fn update(&self, admin: &Identity, id: Uuid, update: UserUpdate) -> Result<User, ServiceError> {
        require_admin(admin, "only admins can manage users")?;
        let update = UserUpdate {
            display_name: update
                .display_name
                .map(|name| validate::name("display_name", &name, 100))
                .transpose()?,
            ..update
        };
        if id == admin.user_id() && (update.role == Some(Role::Member) || update.disabled == Some(true)) {
            return Err(ServiceError::Forbidden(
                "you cannot remove your own admin role or disable yourself; ask another admin",
            ));
        }
        if let Some(Some(department_id)) = update.department_id {
            self.check_department(admin, department_id).await?;
        }
        let disabling = update.disabled == Some(true);
        let user = self
            .store
            .update_user(Actor::User(admin.user_id()), id, update)
            .await
            .not_found_as("user")?;
        if disabling {
            self.store.delete_user_sessions(id).await?;
        }
        Ok(user)
    }

    /// Sets a user's password (an admin for a user of their company) and ends their sessions.
    pub async fn set_password(
        &self,
        admin: &Identity,
        id: Uuid,
        password: String,
    ) -> Result<(), ServiceError> {
        require_admin(admin, "only admins can manage users")?;
        validate::password(&password)?;
        self.get(admin, id).await?;
        let hash = secrets::hash_password(password).await?;
        self.store.set_password(id, hash).await.not_found_as("user")?;
        self.store.delete_user_sessions(id).await?;
        Ok(())
    }

    pub async fn delete(&self, admin: &Identity, id: Uuid) -> Result<(), ServiceError> {
        require_admin(admin, "only admins can manage users")?;
        if id == admin.user_id() {
            return Err(ServiceError::Forbidden(
                "you cannot delete yourself; ask another admin",
            ));
        }
        // Visible through RLS means: in the admin's company.
        self.get(admin, id).await?;
        self.store.delete_user(id).await.not_found_as("user")
    }
}
