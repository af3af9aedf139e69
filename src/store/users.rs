//! Users: `auth.users` (credentials) and their `users` profile, made by a trigger.

use chrono::{DateTime, Utc};
use futures::FutureExt;
use uuid::Uuid;

use super::{Actor, Store, StoreError, touched};
use crate::domain::{Page, Role, User, UserUpdate};

/// A user to create. The password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub display_name: String,
    pub role: Role,
    pub company_id: Option<Uuid>,
    pub department_id: Option<Uuid>,
}

/// What login needs: the profile and the stored password hash.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

pub(super) const USER_COLUMNS: &str =
    "u.id, u.email, u.display_name, u.role, u.company_id, u.department_id, u.disabled, u.created_at";

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: Uuid,
    email: String,
    display_name: String,
    role: String,
    company_id: Option<Uuid>,
    department_id: Option<Uuid>,
    disabled: bool,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct CredentialsRow {
    #[sqlx(flatten)]
    user: UserRow,
    encrypted_password: String,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            // The check constraint allows only these two values.
            role: Role::parse(&row.role).unwrap_or(Role::Member),
            company_id: row.company_id,
            department_id: row.department_id,
            disabled: row.disabled,
            created_at: row.created_at,
        }
    }
}

async fn insert_user(conn: &mut sqlx::PgConnection, new: NewUser) -> Result<User, StoreError> {
    let meta = serde_json::json!({
        "display_name": new.display_name,
        "role": new.role.as_str(),
        "company_id": new.company_id,
        "department_id": new.department_id,
    });
    let id: Uuid = sqlx::query_scalar(
        "insert into auth.users (email, encrypted_password, raw_user_meta_data) values ($1, $2, $3) returning id",
    )
    .bind(&new.email)
    .bind(&new.password_hash)
    .bind(meta)
    .fetch_one(&mut *conn)
    .await?;
    let row: UserRow = sqlx::query_as(&format!(
        "select {USER_COLUMNS} from public.users u where u.id = $1"
    ))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.into())
}

impl Store {
    /// Creates a user (the trigger on `auth.users` makes the profile).
    pub async fn create_user(&self, new: NewUser) -> Result<User, StoreError> {
        self.run_as(Actor::System, move |conn| insert_user(conn, new).boxed())
            .await
    }

    /// Creates the first admin and their company, only while no user exists. Returns `None`
    /// when someone was first; concurrent calls are serialised by an advisory lock.
    pub async fn create_first_admin(
        &self,
        new: NewUser,
        company_name: String,
    ) -> Result<Option<User>, StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move {
                sqlx::query("select pg_advisory_xact_lock(hashtext('agentbox.first_admin'))")
                    .execute(&mut *conn)
                    .await?;
                let exists: bool = sqlx::query_scalar("select exists (select 1 from auth.users)")
                    .fetch_one(&mut *conn)
                    .await?;
                if exists {
                    return Ok(None);
                }
                let company = super::companies::upsert_company(conn, &company_name).await?;
                let new = NewUser {
                    role: Role::Admin,
                    company_id: Some(company.id),
                    ..new
                };
                insert_user(conn, new).await.map(Some)
            }
            .boxed()
        })
        .await
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        self.run_system(|conn| {
            sqlx::query_scalar("select count(*) from auth.users")
                .fetch_one(conn)
                .map(|r| r.map_err(StoreError::from))
                .boxed()
        })
        .await
    }

    pub async fn credentials_by_email(&self, email: String) -> Result<Option<Credentials>, StoreError> {
        self.run_system(move |conn| {
            async move {
                let row: Option<CredentialsRow> = sqlx::query_as(&format!(
                    "select {USER_COLUMNS}, a.encrypted_password from public.users u
                     join auth.users a on a.id = u.id where u.email = $1"
                ))
                .bind(&email)
                .fetch_optional(conn)
                .await?;
                Ok(row.map(|row| Credentials {
                    user: row.user.into(),
                    password_hash: row.encrypted_password,
                }))
            }
            .boxed()
        })
        .await
    }

    pub async fn record_sign_in(&self, user_id: Uuid) -> Result<(), StoreError> {
        self.run_system(move |conn| {
            async move {
                sqlx::query("update auth.users set last_sign_in_at = now() where id = $1")
                    .bind(user_id)
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    pub async fn set_password(&self, user_id: Uuid, password_hash: String) -> Result<(), StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move {
                let done = sqlx::query("update auth.users set encrypted_password = $2 where id = $1")
                    .bind(user_id)
                    .bind(password_hash)
                    .execute(conn)
                    .await?;
                touched(&done)
            }
            .boxed()
        })
        .await
    }

    /// Reads one user as `actor`: RLS shows a member only themself, an admin their company.
    pub async fn get_user(&self, actor: Actor, id: Uuid) -> Result<User, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let row: UserRow = sqlx::query_as(&format!(
                    "select {USER_COLUMNS} from public.users u where u.id = $1"
                ))
                .bind(id)
                .fetch_one(conn)
                .await?;
                Ok(row.into())
            }
            .boxed()
        })
        .await
    }

    pub async fn list_users(&self, actor: Actor, page: Page) -> Result<Vec<User>, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let rows: Vec<UserRow> = sqlx::query_as(&format!(
                    "select {USER_COLUMNS} from public.users u order by u.created_at, u.id limit $1 offset $2"
                ))
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(conn)
                .await?;
                Ok(rows.into_iter().map(User::from).collect())
            }
            .boxed()
        })
        .await
    }

    /// Updates a user as `actor`; a row RLS hides is reported as not found.
    pub async fn update_user(&self, actor: Actor, id: Uuid, update: UserUpdate) -> Result<User, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let row: UserRow = sqlx::query_as(&format!(
                    "update public.users u set
                        display_name = coalesce($2, u.display_name),
                        role = coalesce($3, u.role),
                        department_id = case when $4 then $5 else u.department_id end,
                        disabled = coalesce($6, u.disabled)
                     where u.id = $1
                     returning {USER_COLUMNS}"
                ))
                .bind(id)
                .bind(update.display_name)
                .bind(update.role.map(Role::as_str))
                .bind(update.department_id.is_some())
                .bind(update.department_id.flatten())
                .bind(update.disabled)
                .fetch_one(conn)
                .await?;
                Ok(row.into())
            }
            .boxed()
        })
        .await
    }

    /// Deletes a user and everything that cascades from them.
    pub async fn delete_user(&self, id: Uuid) -> Result<(), StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move {
                let done = sqlx::query("delete from auth.users where id = $1")
                    .bind(id)
                    .execute(conn)
                    .await?;
                touched(&done)
            }
            .boxed()
        })
        .await
    }
}
