//! Models: the catalog and the files on disk, downloads with progress, imports and removal.
//!
//! A pull runs on its own task, not on the request that started it: a closed browser tab does
//! not stop a 20 GB download, a second request for the same model joins the running pull instead
//! of starting another, and `/ready` reads the state of every pull. Pulls stop (keeping their
//! `.part` files for a resume) when the platform shuts down.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{ServiceError, require_admin};
use crate::config::Settings;
use crate::domain::Identity;
use crate::engine::EngineError;
use crate::engine::catalog::ModelRole;
use crate::engine::download::{self, Progress};
use crate::engine::library::{
    BundleManifest, FileState, Imported, Library, ModelInfo, Origin, Pulled, Removed, RoleChange,
};
use crate::engine::llama::Engine;

/// Where a pull stands.
#[derive(Debug, Clone)]
pub enum PullState {
    Starting,
    Downloading(Progress),
    Done(Pulled),
    Failed(Arc<EngineError>),
}

impl PullState {
    pub fn is_finished(&self) -> bool {
        matches!(self, PullState::Done(_) | PullState::Failed(_))
    }
}

/// A pull to follow: every change of its state arrives on `updates`.
#[derive(Debug)]
pub struct PullHandle {
    pub name: String,
    /// The pull was already running; this request joined it.
    pub joined: bool,
    pub updates: watch::Receiver<PullState>,
}

/// The models the platform knows, for `GET /api/v1/models` and `agentbox models list`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelList {
    /// The catalog file in use (or that the built-in one is).
    pub catalog: String,
    pub models: Vec<ModelStatus>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelStatus {
    #[serde(flatten)]
    pub info: ModelInfo,
    /// A download running or failed in this process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<DownloadStatus>,
    /// In memory in this process's engine.
    pub loaded: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DownloadStatus {
    Downloading {
        done: u64,
        total: Option<u64>,
        percent: Option<u8>,
        rate: f64,
        eta_secs: Option<u64>,
    },
    Failed {
        error: String,
    },
}

/// One model's line in `/ready`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelReadiness {
    pub name: String,
    /// The roles it plays.
    pub roles: Vec<ModelRole>,
    pub state: ReadyState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyState {
    Present,
    Missing,
    Downloading,
    Failed,
}

#[derive(Debug)]
struct Slot {
    id: u64,
    updates: watch::Receiver<PullState>,
}

#[derive(Debug, Clone)]
pub struct ModelService {
    models_dir: PathBuf,
    models_file: PathBuf,
    options: Arc<download::Options>,
    client: Arc<OnceLock<reqwest::Client>>,
    pulls: Arc<Mutex<HashMap<String, Slot>>>,
    next_id: Arc<AtomicU64>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    engine: Engine,
}

impl ModelService {
    pub fn new(settings: &Settings, engine: Engine) -> Self {
        Self {
            engine,
            models_dir: settings.models_dir.clone(),
            models_file: settings.models_file.clone(),
            options: Arc::new(download::Options::default()),
            client: Arc::new(OnceLock::new()),
            pulls: Arc::new(Mutex::new(HashMap::new())),
            next_id: Arc::new(AtomicU64::new(0)),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        }
    }

    /// The models in memory, with the bytes each takes, and the budget they share.
    pub async fn memory(&self) -> (Vec<(String, u64)>, u64) {
        let loaded = self.engine.loaded().await;
        (
            loaded.into_iter().map(|m| (m.name, m.size_bytes)).collect(),
            self.engine.settings().memory_budget_bytes,
        )
    }

    /// Replaces the retry and pacing policy of downloads (tests make it fast).
    #[must_use]
    pub fn with_download_options(mut self, options: download::Options) -> Self {
        self.options = Arc::new(options);
        self
    }

    fn registry(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.pulls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn client(&self) -> Result<reqwest::Client, EngineError> {
        if let Some(client) = self.client.get() {
            return Ok(client.clone());
        }
        let client = download::http_client()?;
        Ok(self.client.get_or_init(|| client).clone())
    }

    /// Reads the catalog and the imported models (off the async workers).
    pub async fn library(&self) -> Result<Library, ServiceError> {
        let (dir, file) = (self.models_dir.clone(), self.models_file.clone());
        blocking(move || Library::open(&dir, &file)).await
    }

    /// Every model with the state of its file and of any download of it.
    pub async fn list(&self) -> Result<ModelList, ServiceError> {
        let library = self.library().await?;
        let catalog = library.catalog().origin.to_string();
        let infos = blocking(move || Ok(library.list())).await?;
        let loaded: HashSet<String> = self.engine.loaded().await.into_iter().map(|m| m.name).collect();
        let registry = self.registry();
        let models = infos
            .into_iter()
            .map(|info| {
                let download = registry
                    .get(&info.name)
                    .and_then(|slot| match &*slot.updates.borrow() {
                        PullState::Starting => Some(downloading(&Progress {
                            done: info.partial_bytes.unwrap_or(0),
                            total: info.size_bytes,
                            rate: 0.0,
                            eta_secs: None,
                        })),
                        PullState::Downloading(progress) => Some(downloading(progress)),
                        PullState::Failed(err) if info.state != FileState::Present => {
                            Some(DownloadStatus::Failed {
                                error: err.to_string(),
                            })
                        }
                        _ => None,
                    });
                ModelStatus {
                    loaded: loaded.contains(&info.name),
                    info,
                    download,
                }
            })
            .collect();
        Ok(ModelList { catalog, models })
    }

    /// Starts (or joins) the download of a model, for an admin of the platform.
    pub async fn pull(
        &self,
        caller: &Identity,
        name_or_role: &str,
        allow_unverified: bool,
    ) -> Result<PullHandle, ServiceError> {
        require_admin(caller, "only admins can download models")?;
        self.start_pull(name_or_role, allow_unverified).await
    }

    /// Starts (or joins) the download of a model, for the operator (CLI, background pulls).
    /// Unknown models and refusals that need no network are errors here; everything after the
    /// start arrives on the handle.
    pub async fn start_pull(
        &self,
        name_or_role: &str,
        allow_unverified: bool,
    ) -> Result<PullHandle, ServiceError> {
        let library = self.library().await?;
        let entry = library.find(name_or_role)?.clone();
        let present = library.is_present(&entry);
        if !present {
            if entry.source.is_none() {
                return Err(EngineError::Refused(format!(
                    "`{}` was imported from a file and has no source to download it from; import it again",
                    entry.name
                ))
                .into());
            }
            if entry.sha256.is_none() && !allow_unverified {
                return Err(EngineError::Unverified { name: entry.name }.into());
            }
        }
        let client = self.client()?;

        let mut registry = self.registry();
        if let Some(slot) = registry.get(&entry.name)
            && !slot.updates.borrow().is_finished()
        {
            return Ok(PullHandle {
                name: entry.name,
                joined: true,
                updates: slot.updates.clone(),
            });
        }
        let (sender, updates) = watch::channel(PullState::Starting);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        registry.insert(
            entry.name.clone(),
            Slot {
                id,
                updates: updates.clone(),
            },
        );
        drop(registry);

        let service = self.clone();
        let name = entry.name.clone();
        self.tasks.spawn(async move {
            let mut report = |progress: Progress| {
                sender.send_replace(PullState::Downloading(progress));
            };
            let result = library
                .pull(
                    &client,
                    &entry,
                    allow_unverified,
                    &service.options,
                    &service.shutdown,
                    &mut report,
                )
                .await;
            match result {
                Ok(pulled) => {
                    if !pulled.already_present {
                        tracing::info!(
                            model = %pulled.name,
                            bytes = pulled.bytes,
                            verified = pulled.verified,
                            path = %pulled.path.display(),
                            "model downloaded"
                        );
                    }
                    sender.send_replace(PullState::Done(pulled));
                    let mut registry = service.registry();
                    if registry.get(&entry.name).is_some_and(|slot| slot.id == id) {
                        registry.remove(&entry.name);
                    }
                }
                Err(err @ EngineError::Cancelled { .. }) => {
                    tracing::info!(model = %entry.name, "model download stopped; the next pull resumes it");
                    sender.send_replace(PullState::Failed(Arc::new(err)));
                }
                Err(err) => {
                    tracing::warn!(model = %entry.name, error = %err, "model download failed");
                    sender.send_replace(PullState::Failed(Arc::new(err)));
                }
            }
        });
        Ok(PullHandle {
            name,
            joined: false,
            updates,
        })
    }

    /// Copies a local GGUF file into the models folder after checking it, and gives it `roles`
    /// (on top of those it plays already).
    pub async fn import(&self, file: PathBuf, roles: Vec<ModelRole>) -> Result<Imported, ServiceError> {
        let library = self.library().await?;
        blocking(move || library.import(&file, &roles)).await
    }

    /// Gives the model `name` the roles `give` and takes back `take_back` (the operator:
    /// `agentbox models role`). See [`Library::change_roles`].
    pub async fn change_roles(
        &self,
        name: &str,
        give: Vec<ModelRole>,
        take_back: Vec<ModelRole>,
    ) -> Result<RoleChange, ServiceError> {
        let library = self.library().await?;
        let name = name.to_owned();
        blocking(move || library.change_roles(&name, &give, &take_back)).await
    }

    /// Makes `roles` the roles the model `name` plays (admins: the Models page): roles not in
    /// the list that were given to it are taken back, the others are given to it. A role it
    /// plays as the catalog's model cannot be left out (it moves by giving it to another).
    pub async fn set_roles(
        &self,
        caller: &Identity,
        name: &str,
        roles: Vec<ModelRole>,
    ) -> Result<RoleChange, ServiceError> {
        require_admin(caller, "only admins can change the roles of models")?;
        let library = self.library().await?;
        let name = name.to_owned();
        blocking(move || {
            let take_back: Vec<ModelRole> = library
                .roles_of(&name)
                .into_iter()
                .chain(library.given_roles_of(&name))
                .filter(|role| !roles.contains(role))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            library.change_roles(&name, &roles, &take_back)
        })
        .await
    }

    /// Writes the models of `roles` into a bundle (see `engine::library::bundle`).
    pub async fn export_bundle(
        &self,
        out: PathBuf,
        roles: Vec<ModelRole>,
        advance: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<BundleManifest, ServiceError> {
        let library = self.library().await?;
        blocking(move || library.export_bundle(&out, &roles, advance.as_ref())).await
    }

    /// Checks a bundle and imports its models.
    pub async fn import_bundle(
        &self,
        bundle: PathBuf,
        advance: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> Result<Vec<Imported>, ServiceError> {
        let library = self.library().await?;
        blocking(move || library.import_bundle(&bundle, advance.as_ref())).await
    }

    /// Deletes a model's files. A model being downloaded by this process is not removed.
    pub async fn remove(&self, name: &str) -> Result<Removed, ServiceError> {
        let library = self.library().await?;
        let running = self.registry().iter().any(|(model, slot)| {
            model.eq_ignore_ascii_case(name.trim()) && !slot.updates.borrow().is_finished()
        });
        if running {
            return Err(ServiceError::Conflict {
                code: "pull_in_progress",
                message: format!("`{name}` is being downloaded; wait for the download to end"),
            });
        }
        let name = name.to_owned();
        blocking(move || library.remove(&name)).await
    }

    /// The state of every named model, for `/ready`; an error when the catalog cannot be read.
    pub async fn readiness(&self) -> Result<Vec<ModelReadiness>, String> {
        let library = self.library().await.map_err(|err| err.to_string())?;
        let infos = blocking(move || Ok(library.list()))
            .await
            .map_err(|err| err.to_string())?;
        let registry = self.registry();
        Ok(infos
            .into_iter()
            .filter(|info| info.origin != Origin::Unlisted)
            .map(|info| {
                let pull = registry.get(&info.name).map(|slot| slot.updates.borrow().clone());
                let (state, percent, error) = match (pull, info.state) {
                    (Some(PullState::Starting), _) => (ReadyState::Downloading, Some(0), None),
                    (Some(PullState::Downloading(progress)), _) => {
                        (ReadyState::Downloading, progress.percent(), None)
                    }
                    (Some(PullState::Failed(err)), state) if state != FileState::Present => {
                        (ReadyState::Failed, None, Some(err.to_string()))
                    }
                    (_, FileState::Present) => (ReadyState::Present, None, None),
                    (_, _) => (ReadyState::Missing, None, None),
                };
                ModelReadiness {
                    name: info.name,
                    roles: info.roles,
                    state,
                    percent,
                    error,
                }
            })
            .collect())
    }

    /// Downloads, one after the other (smallest first), the model of each role that is missing.
    /// Progress and failures go to the log and to `/ready`; nothing here stops the platform.
    pub async fn pull_missing_roles(&self) {
        let library = match self.library().await {
            Ok(library) => library,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the model catalog; no models are downloaded");
                return;
            }
        };
        let mut missing: Vec<(String, Option<u64>)> = Vec::new();
        for role in ModelRole::ALL {
            if let Some(entry) = library.for_role(role)
                && !library.is_present(entry)
                && missing.iter().all(|(name, _)| *name != entry.name)
            {
                missing.push((entry.name.clone(), entry.size_bytes));
            }
        }
        missing.sort_by_key(|(_, size)| size.unwrap_or(u64::MAX));
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|(name, _)| name.as_str()).collect();
            tracing::info!(models = %names.join(", "), "downloading the missing models in the background");
        }
        for (name, _) in missing {
            if self.shutdown.is_cancelled() {
                return;
            }
            match self.start_pull(&name, false).await {
                Ok(handle) => self.follow(handle).await,
                Err(ServiceError::Engine(err)) => {
                    tracing::warn!(model = %name, error = %err, "model not downloaded");
                    self.record_failure(&name, err);
                }
                Err(err) => tracing::warn!(model = %name, error = %err, "model not downloaded"),
            }
        }
    }

    /// Waits for a pull to end, logging its progress every 10 % or 30 seconds.
    async fn follow(&self, mut handle: PullHandle) {
        let mut logged_percent = 0u8;
        let mut logged_at = Instant::now();
        loop {
            if handle.updates.borrow_and_update().is_finished() {
                return;
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                changed = handle.updates.changed() => if changed.is_err() { return },
            }
            if let PullState::Downloading(progress) = &*handle.updates.borrow() {
                let percent = progress.percent().unwrap_or(0);
                if percent >= logged_percent.saturating_add(10)
                    || logged_at.elapsed() >= Duration::from_secs(30)
                {
                    logged_percent = percent - percent % 10;
                    logged_at = Instant::now();
                    tracing::info!(
                        model = %handle.name,
                        percent,
                        done = progress.done,
                        total = progress.total,
                        rate_mib_s = progress.rate / (1024.0 * 1024.0),
                        eta_secs = progress.eta_secs,
                        "downloading"
                    );
                }
            }
        }
    }

    /// Keeps a failure that happened before a pull could start, so `/ready` shows it.
    fn record_failure(&self, name: &str, err: EngineError) {
        let (_, updates) = watch::channel(PullState::Failed(Arc::new(err)));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.registry().insert(name.to_owned(), Slot { id, updates });
    }

    /// Stops every download (their `.part` files stay for a resume) and waits for them.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

fn downloading(progress: &Progress) -> DownloadStatus {
    DownloadStatus::Downloading {
        done: progress.done,
        total: progress.total,
        percent: progress.percent(),
        rate: progress.rate,
        eta_secs: progress.eta_secs,
    }
}

/// Runs blocking file work (catalog parsing, hashing, copying) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, ServiceError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(ServiceError::from),
        Err(err) => Err(ServiceError::Engine(EngineError::Io {
            action: "finish a file operation in",
            path: PathBuf::from("the models folder"),
            cause: std::io::Error::other(err),
        })),
    }
}
