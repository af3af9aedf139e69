//! Readiness: what `/ready` and `agentbox doctor` report.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::models::{ModelReadiness, ModelService};
use crate::metrics::{PoolStats, Snapshot};
use crate::store::{DatabaseKind, Store};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Database up, migrations applied, and not draining. Models do not count: each is served
    /// once it is ready.
    pub ready: bool,
    /// The process is stopping: it finishes what it has, and takes nothing new once its drain
    /// time is over.
    pub draining: bool,
    pub database: CheckState,
    /// `embedded` or `external`.
    pub database_kind: &'static str,
    pub migrations: CheckState,
    /// Every model the catalog and the imports name: present, missing, downloading, failed.
    pub models: Vec<ModelReadiness>,
    /// Why `models` is empty: the catalog cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckState {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CheckState {
    fn ok() -> Self {
        Self {
            ok: true,
            error: None,
        }
    }

    fn failed(error: String) -> Self {
        Self {
            ok: false,
            error: Some(error),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HealthService {
    store: Store,
    models: ModelService,
    /// Set once the process is asked to stop: `/ready` says 503 while requests still run.
    draining: Arc<AtomicBool>,
}

impl HealthService {
    pub fn new(store: Store, models: ModelService) -> Self {
        Self {
            store,
            models,
            draining: Arc::default(),
        }
    }

    /// From now on `/ready` answers 503 (`draining`), so a load balancer stops sending requests.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// The state `/metrics` reports besides its counters: tasks by status, the database pool,
    /// the loaded models. A database that does not answer leaves the task gauges at zero (the
    /// scrape itself must not fail with it: `/ready` reports the database).
    pub async fn metrics_snapshot(&self) -> Snapshot {
        let tasks_by_status = match self.store.task_counts().await {
            Ok(counts) => counts,
            Err(err) => {
                tracing::warn!(error = %err, "metrics: cannot count tasks");
                Vec::new()
            }
        };
        let pool = self.store.pool_stats();
        let (loaded_models, memory_budget_bytes) = self.models.memory().await;
        Snapshot {
            tasks_by_status,
            pool: PoolStats {
                size: pool.size,
                idle: pool.idle,
                max: pool.max,
            },
            loaded_models,
            memory_budget_bytes,
        }
    }

    pub async fn readiness(&self) -> Readiness {
        let database = match self.store.ping().await {
            Ok(()) => CheckState::ok(),
            Err(err) => CheckState::failed(err.to_string()),
        };
        let migrations = if database.ok {
            match self.store.migrations_applied().await {
                Ok(true) => CheckState::ok(),
                Ok(false) => CheckState::failed("migrations are not applied yet".into()),
                Err(err) => CheckState::failed(err.to_string()),
            }
        } else {
            CheckState::failed("database unreachable".into())
        };
        let (models, models_error) = match self.models.readiness().await {
            Ok(models) => (models, None),
            Err(error) => (Vec::new(), Some(error)),
        };
        let draining = self.draining.load(Ordering::SeqCst);
        Readiness {
            ready: database.ok && migrations.ok && !draining,
            draining,
            models,
            models_error,
            database,
            database_kind: match self.store.kind() {
                DatabaseKind::Embedded => "embedded",
                DatabaseKind::External => "external",
            },
            migrations,
        }
    }
}
