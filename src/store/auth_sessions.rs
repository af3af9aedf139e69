//! Browser sessions (`auth.sessions`): the cookie carries a random token, the table its hash.

use chrono::{DateTime, Utc};
use futures::FutureExt;
use uuid::Uuid;

use super::users::{USER_COLUMNS, UserRow};
use super::{Actor, Store, StoreError};
use crate::domain::User;

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub session_id: Uuid,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub user: User,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: Uuid,
    csrf_token: String,
    expires_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    #[sqlx(flatten)]
    user: UserRow,
}

/// Parameters of a new session.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: Uuid,
    pub token_hash: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl Store {
    pub async fn create_session(&self, new: NewSession) -> Result<Uuid, StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move {
                // Expired sessions are purged as new ones are made, so the table stays small.
                sqlx::query("delete from auth.sessions where expires_at < now()")
                    .execute(&mut *conn)
                    .await?;
                let id: Uuid = sqlx::query_scalar(
                    "insert into auth.sessions (user_id, token_hash, csrf_token, expires_at, user_agent, ip)
                     values ($1, $2, $3, $4, $5, $6) returning id",
                )
                .bind(new.user_id)
                .bind(new.token_hash)
                .bind(new.csrf_token)
                .bind(new.expires_at)
                .bind(new.user_agent)
                .bind(new.ip)
                .fetch_one(conn)
                .await?;
                Ok(id)
            }
            .boxed()
        })
        .await
    }

    /// The unexpired session with this token hash, with its user.
    pub async fn find_session(&self, token_hash: String) -> Result<Option<SessionRecord>, StoreError> {
        self.run_system(move |conn| {
            async move {
                let row: Option<SessionRow> = sqlx::query_as(&format!(
                    "select s.id as session_id, s.csrf_token, s.expires_at, s.last_seen_at, {USER_COLUMNS}
                     from auth.sessions s join public.users u on u.id = s.user_id
                     where s.token_hash = $1 and s.expires_at > now()"
                ))
                .bind(token_hash)
                .fetch_optional(conn)
                .await?;
                Ok(row.map(|row| SessionRecord {
                    session_id: row.session_id,
                    csrf_token: row.csrf_token,
                    expires_at: row.expires_at,
                    last_seen_at: row.last_seen_at,
                    user: row.user.into(),
                }))
            }
            .boxed()
        })
        .await
    }

    pub async fn touch_session(&self, session_id: Uuid) -> Result<(), StoreError> {
        self.run_system(move |conn| {
            async move {
                sqlx::query("update auth.sessions set last_seen_at = now() where id = $1")
                    .bind(session_id)
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    pub async fn delete_session(&self, session_id: Uuid) -> Result<(), StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move {
                sqlx::query("delete from auth.sessions where id = $1")
                    .bind(session_id)
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }

    /// Ends every session of a user (password changed, account disabled).
    pub async fn delete_user_sessions(&self, user_id: Uuid) -> Result<(), StoreError> {
        self.run_as(Actor::System, move |conn| {
            async move {
                sqlx::query("delete from auth.sessions where user_id = $1")
                    .bind(user_id)
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }
}
