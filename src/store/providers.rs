//! Providers (where models run) and the models they serve: what the router reads to decide
//! where a request goes, and what admins change. API keys are stored as ciphertext only.

use futures::FutureExt;
use serde_json::Value;
use uuid::Uuid;

use super::{Actor, Store, StoreError, touched};
use crate::domain::Patch;

/// A provider row. `has_stored_key` says whether a key is stored; the ciphertext itself only
/// leaves the store through [`Store::provider_key_ciphertext`].
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Provider {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub enabled: bool,
    pub priority: i32,
    pub settings: Value,
    pub has_stored_key: bool,
}

/// A remote provider's model, as the compatible APIs list it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RemoteModel {
    pub model: String,
    pub role: Option<String>,
    pub provider: String,
    pub context_size: i32,
}

/// A model a provider serves, with its provider: one candidate for the router.
#[derive(Debug, Clone)]
pub struct ModelRoute {
    pub model: String,
    pub role: Option<String>,
    pub context_size: i32,
    pub settings: Value,
    pub provider: Provider,
    pub key_ciphertext: Option<Vec<u8>>,
}

/// A new provider, or the fields an update changes (`None`/`Keep`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct ProviderChanges {
    pub base_url: Patch<String>,
    pub enabled: Option<bool>,
    pub priority: Option<i32>,
    /// `Clear` removes the stored key.
    pub key_ciphertext: Patch<Vec<u8>>,
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ProviderModel {
    pub name: String,
    pub role: Option<String>,
    pub context_size: i32,
    pub enabled: bool,
    pub settings: Value,
}

const PROVIDER_COLUMNS: &str = "p.id, p.name, p.kind, p.base_url, p.enabled, p.priority, p.settings,
     p.api_key_ciphertext is not null as has_stored_key";

#[derive(sqlx::FromRow)]
struct RouteRow {
    model: String,
    role: Option<String>,
    context_size: i32,
    model_settings: Value,
    key_ciphertext: Option<Vec<u8>>,
    #[sqlx(flatten)]
    provider: Provider,
}

impl From<RouteRow> for ModelRoute {
    fn from(row: RouteRow) -> Self {
        Self {
            model: row.model,
            role: row.role,
            context_size: row.context_size,
            settings: row.model_settings,
            provider: row.provider,
            key_ciphertext: row.key_ciphertext,
        }
    }
}

impl Store {
    /// Enabled models named `target` or playing the role `target`, on enabled providers, in
    /// the order the router tries them (provider priority, then name).
    pub async fn model_routes(&self, target: String) -> Result<Vec<ModelRoute>, StoreError> {
        self.run_system(move |conn| {
            async move {
                let sql = format!(
                    "select m.name as model, m.role, m.context_size, m.settings as model_settings,
                            p.api_key_ciphertext as key_ciphertext, {PROVIDER_COLUMNS}
                       from public.models m join public.providers p on p.id = m.provider_id
                      where m.enabled and p.enabled and (m.name = $1 or m.role = $1)
                      order by p.priority, p.name, m.name
                      limit 32"
                );
                let rows: Vec<RouteRow> = sqlx::query_as(&sql).bind(target).fetch_all(conn).await?;
                Ok(rows.into_iter().map(ModelRoute::from).collect())
            }
            .boxed()
        })
        .await
    }

    /// Every enabled model of every enabled remote provider, in provider priority order: the
    /// router's `remote` fallback candidates.
    pub async fn remote_routes(&self) -> Result<Vec<ModelRoute>, StoreError> {
        self.run_system(move |conn| {
            async move {
                let sql = format!(
                    "select m.name as model, m.role, m.context_size, m.settings as model_settings,
                            p.api_key_ciphertext as key_ciphertext, {PROVIDER_COLUMNS}
                       from public.models m join public.providers p on p.id = m.provider_id
                      where m.enabled and p.enabled and p.kind <> 'local'
                      order by p.priority, p.name, m.name
                      limit 32"
                );
                let rows: Vec<RouteRow> = sqlx::query_as(&sql).fetch_all(conn).await?;
                Ok(rows.into_iter().map(ModelRoute::from).collect())
            }
            .boxed()
        })
        .await
    }

    /// Enabled models of enabled remote providers, by name: what the compatible APIs list
    /// beside the local models. Names and roles only, never keys.
    pub async fn remote_models(&self) -> Result<Vec<RemoteModel>, StoreError> {
        self.run_system(move |conn| {
            async move {
                let rows: Vec<RemoteModel> = sqlx::query_as(
                    "select m.name as model, m.role, p.name as provider, m.context_size
                       from public.models m join public.providers p on p.id = m.provider_id
                      where m.enabled and p.enabled and p.kind <> 'local'
                      order by p.priority, p.name, m.name
                      limit 500",
                )
                .fetch_all(conn)
                .await?;
                Ok(rows)
            }
            .boxed()
        })
        .await
    }

    /// Whether the provider exists and is enabled.
    pub async fn provider_enabled(&self, name: String) -> Result<bool, StoreError> {
        self.run_system(move |conn| {
            async move {
                let enabled: Option<bool> =
                    sqlx::query_scalar("select enabled from public.providers where name = $1")
                        .bind(name)
                        .fetch_optional(conn)
                        .await?;
                Ok(enabled.unwrap_or(false))
            }
            .boxed()
        })
        .await
    }

    pub async fn list_providers(&self, actor: Actor) -> Result<Vec<Provider>, StoreError> {
        self.run_as(actor, |conn| {
            async move {
                let sql = format!(
                    "select {PROVIDER_COLUMNS} from public.providers p order by p.priority, p.name limit 200"
                );
                Ok(sqlx::query_as(&sql).fetch_all(conn).await?)
            }
            .boxed()
        })
        .await
    }

    pub async fn create_provider(
        &self,
        actor: Actor,
        name: String,
        kind: String,
        changes: ProviderChanges,
    ) -> Result<Provider, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let sql = format!(
                    "insert into public.providers as p (name, kind, base_url, enabled, priority, api_key_ciphertext)
                     values ($1, $2, $3, coalesce($4, true), coalesce($5, 100), $6)
                     returning {PROVIDER_COLUMNS}"
                );
                Ok(sqlx::query_as(&sql)
                    .bind(name)
                    .bind(kind)
                    .bind(changes.base_url.value())
                    .bind(changes.enabled)
                    .bind(changes.priority)
                    .bind(changes.key_ciphertext.value())
                    .fetch_one(conn)
                    .await?)
            }
            .boxed()
        })
        .await
    }

    pub async fn update_provider(
        &self,
        actor: Actor,
        name: String,
        changes: ProviderChanges,
    ) -> Result<Provider, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let sql = format!(
                    "update public.providers as p set
                        base_url = case when $2 then $3 else p.base_url end,
                        enabled = coalesce($4, p.enabled),
                        priority = coalesce($5, p.priority),
                        api_key_ciphertext = case when $6 then $7 else p.api_key_ciphertext end
                      where p.name = $1
                      returning {PROVIDER_COLUMNS}"
                );
                Ok(sqlx::query_as(&sql)
                    .bind(name)
                    .bind(!changes.base_url.is_keep())
                    .bind(changes.base_url.value())
                    .bind(changes.enabled)
                    .bind(changes.priority)
                    .bind(!changes.key_ciphertext.is_keep())
                    .bind(changes.key_ciphertext.value())
                    .fetch_one(conn)
                    .await?)
            }
            .boxed()
        })
        .await
    }

    pub async fn delete_provider(&self, actor: Actor, name: String) -> Result<(), StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let deleted = sqlx::query("delete from public.providers where name = $1")
                    .bind(name)
                    .execute(conn)
                    .await?;
                touched(&deleted)
            }
            .boxed()
        })
        .await
    }

    /// The models of one provider.
    pub async fn provider_models(
        &self,
        actor: Actor,
        provider: String,
    ) -> Result<Vec<ProviderModel>, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                Ok(sqlx::query_as(
                    "select m.name, m.role, m.context_size, m.enabled, m.settings
                       from public.models m join public.providers p on p.id = m.provider_id
                      where p.name = $1 order by m.name limit 500",
                )
                .bind(provider)
                .fetch_all(conn)
                .await?)
            }
            .boxed()
        })
        .await
    }

    /// Adds a model to a provider, or changes it when the name exists on that provider.
    pub async fn put_provider_model(
        &self,
        actor: Actor,
        provider: String,
        model: ProviderModel,
    ) -> Result<ProviderModel, StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let provider_id: Uuid = sqlx::query_scalar("select id from public.providers where name = $1")
                    .bind(&provider)
                    .fetch_one(&mut *conn)
                    .await?;
                let row: Option<ProviderModel> = sqlx::query_as(
                    "insert into public.models (provider_id, name, role, context_size, enabled, settings)
                     values ($1, $2, $3, $4, $5, $6)
                     on conflict (name) do update set
                        role = excluded.role, context_size = excluded.context_size,
                        enabled = excluded.enabled, settings = excluded.settings
                      where public.models.provider_id = excluded.provider_id
                     returning name, role, context_size, enabled, settings",
                )
                .bind(provider_id)
                .bind(model.name)
                .bind(model.role)
                .bind(model.context_size)
                .bind(model.enabled)
                .bind(model.settings)
                .fetch_optional(conn)
                .await?;
                // No row: the name belongs to a model of another provider.
                row.ok_or_else(|| StoreError::Conflict {
                    constraint: "models_name_key".into(),
                })
            }
            .boxed()
        })
        .await
    }

    pub async fn delete_provider_model(
        &self,
        actor: Actor,
        provider: String,
        model: String,
    ) -> Result<(), StoreError> {
        self.run_as(actor, move |conn| {
            async move {
                let deleted = sqlx::query(
                    "delete from public.models m using public.providers p
                      where p.id = m.provider_id and p.name = $1 and m.name = $2",
                )
                .bind(provider)
                .bind(model)
                .execute(conn)
                .await?;
                touched(&deleted)
            }
            .boxed()
        })
        .await
    }
}
