//! API keys: stored as SHA-256 hashes (the keys are 256-bit random, so a slow hash adds nothing).

use chrono::{DateTime, Utc};
use futures::FutureExt;
use uuid::Uuid;

use super::users::{USER_COLUMNS, UserRow};
use super::{Actor, Store, StoreError};
use crate::domain::{ApiKey, KeyScope, User};

/// A key found by its hash, with its owner, for authentication.
#[derive(Debug, Clone)]
pub struct ApiKeyOwner {
    pub key_id: Uuid,
    pub scopes: Vec<KeyScope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub user: User,
}

const KEY_COLUMNS: &str =
    "k.id, k.name, k.prefix, k.scopes, k.created_at, k.last_used_at, k.expires_at, k.revoked_at";

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    name: String,
    prefix: String,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

fn parse_scopes(scopes: &[String]) -> Vec<KeyScope> {
    scopes.iter().filter_map(|s| KeyScope::parse(s)).collect()
}

impl From<KeyRow> for ApiKey {
    fn from(row: KeyRow) -> Self {
        ApiKey {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            scopes: parse_scopes(&row.scopes),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct OwnerRow {
    key_id: Uuid,
    key_scopes: Vec<String>,
    key_expires_at: Option<DateTime<Utc>>,
    key_revoked_at: Option<DateTime<Utc>>,
    key_last_used_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    user: UserRow,
}

/// A key to store for the calling user.
#[derive(Debug, Clone)]
pub struct NewKeyRecord {
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub scopes: Vec<KeyScope>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Stores a key for the user `actor` runs as (RLS: own rows only).
    pub async fn create_api_key(
        &self,
        actor: Actor,
        owner: Uuid,
        key: NewKeyRecord,
    ) -> Result<ApiKey, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
                let row: KeyRow = sqlx::query_as(&format!(
                    "insert into public.api_keys as k (user_id, name, prefix, key_hash, scopes, expires_at)
                     values ($1, $2, $3, $4, $5, $6) returning {KEY_COLUMNS}"
                ))
                .bind(owner)
                .bind(key.name)
                .bind(key.prefix)
                .bind(key.key_hash)
                .bind(scopes)
                .bind(key.expires_at)
                .fetch_one(conn)
                .await?;
                Ok(row.into())
            }
            .boxed()
        })
        .await
    }

    pub async fn list_api_keys(&self, actor: Actor) -> Result<Vec<ApiKey>, StoreError> {
        self.run_as(actor, |conn| {
            async move {
                // A user has few keys; the cap keeps the result bounded all the same.
                let rows: Vec<KeyRow> = sqlx::query_as(&format!(
                    "select {KEY_COLUMNS} from public.api_keys k order by k.created_at desc limit 500"
                ))
                .fetch_all(conn)
                .await?;
                Ok(rows.into_iter().map(ApiKey::from).collect())
            }
            .boxed()
        })
        .await
    }

    /// Revokes a key `actor` can see. Revoking twice keeps the first time.
    pub async fn revoke_api_key(&self, actor: Actor, id: Uuid) -> Result<ApiKey, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let row: KeyRow = sqlx::query_as(&format!(
                    "update public.api_keys k set revoked_at = coalesce(k.revoked_at, now())
                     where k.id = $1 returning {KEY_COLUMNS}"
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

    pub async fn find_api_key(&self, key_hash: String) -> Result<Option<ApiKeyOwner>, StoreError> {
        self.run_system(move |conn| {
            async move {
                let row: Option<OwnerRow> = sqlx::query_as(&format!(
                    "select k.id as key_id, k.scopes as key_scopes, k.expires_at as key_expires_at,
                            k.revoked_at as key_revoked_at, k.last_used_at as key_last_used_at, {USER_COLUMNS}
                     from public.api_keys k join public.users u on u.id = k.user_id
                     where k.key_hash = $1"
                ))
                .bind(key_hash)
                .fetch_optional(conn)
                .await?;
                Ok(row.map(|row| ApiKeyOwner {
                    key_id: row.key_id,
                    scopes: parse_scopes(&row.key_scopes),
                    expires_at: row.key_expires_at,
                    revoked_at: row.key_revoked_at,
                    last_used_at: row.key_last_used_at,
                    user: row.user.into(),
                }))
            }
            .boxed()
        })
        .await
    }

    pub async fn touch_api_key(&self, id: Uuid) -> Result<(), StoreError> {
        self.run_system(move |conn| {
            async move {
                sqlx::query("update public.api_keys set last_used_at = now() where id = $1")
                    .bind(id)
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }
}
