//! The composition root: lock the data folder, open the store, migrate, build the services and
//! the router, bind the listeners, and own the shutdown. Nothing else wires things together.

use std::net::SocketAddr;
use std::sync::Arc;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::data_dir::{DataDirError, DataDirLock};
use crate::engine::llama::{Engine, EngineSettings};
use crate::http::{self, AppState, LateRouter, tls};
use crate::service::Services;
use crate::service::agent_tasks::AgentTaskExecutor;
use crate::service::health::HealthService;
use crate::service::keyring::KeyRing;
use crate::service::models::ModelService;
use crate::service::tasks::{TaskExecutor, TaskWorker, WorkerSettings};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create {}: {source}", path.display())]
    Folder {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Models(crate::engine::EngineError),
    #[error("secret key: {0}")]
    Secret(#[from] crate::service::keyring::KeyRingError),
}

impl AppError {
    /// 2 for what the operator must fix in the configuration, 1 for runtime failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Tls(_)
            | AppError::Secret(crate::service::keyring::KeyRingError::Malformed)
            | AppError::Store(StoreError::RuntimeRole(_)) => 2,
            AppError::Models(err) if err.is_usage() => 2,
            _ => 1,
        }
    }
}

/// A started platform: its addresses, and the handle to stop it.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    pub store: Store,
    pub settings: Arc<Settings>,
    /// The services the router uses (tests drive them directly; one engine per process).
    pub services: Services,
    /// Cancelled to stop: the drain time (`server.drain_secs`) runs, then the shutdown.
    stop: CancellationToken,
    task: JoinHandle<Result<(), AppError>>,
}

impl Running {
    /// The token that stops the platform when cancelled (signals, tests).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Waits until the platform has stopped: listeners drained, database closed.
    pub async fn wait(self) -> Result<(), AppError> {
        self.task
            .await
            .map_err(|err| AppError::Serve(std::io::Error::other(err)))?
    }

    /// Stops the platform and waits for it.
    pub async fn stop(self) -> Result<(), AppError> {
        self.stop.cancel();
        self.wait().await
    }
}

/// Parts a caller may put in place of the built-in ones when starting the platform.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Runs background tasks; `None`: the agent runner.
    pub task_executor: Option<Arc<dyn TaskExecutor>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("task_executor", &self.task_executor.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// Opens the store on the data folder (locked for this process) and applies migrations.
pub async fn open_store(settings: &Settings) -> Result<(DataDirLock, Store), AppError> {
    let lock = DataDirLock::acquire(&settings.data_dir)?;
    let store = open_and_migrate(settings).await?;
    Ok((lock, store))
}

/// Opens the store for a process that runs beside `serve` (`mcp-stdio`): an external database
/// takes any number of processes, so the data folder is locked only for the embedded one.
pub async fn open_store_beside_serve(settings: &Settings) -> Result<(Option<DataDirLock>, Store), AppError> {
    let lock = match settings.database.url {
        Some(_) => None,
        None => Some(DataDirLock::acquire(&settings.data_dir)?),
    };
    let store = open_and_migrate(settings).await?;
    Ok((lock, store))
}

async fn open_and_migrate(settings: &Settings) -> Result<Store, AppError> {
    let store = Store::open(settings).await?;
    let prepared = async {
        store.migrate().await?;
        if settings.sample_data {
            store.load_sample_data().await?;
        }
        Ok::<_, StoreError>(())
    };
    if let Err(err) = prepared.await {
        store.close().await;
        return Err(err.into());
    }
    Ok(store)
}

/// How a process on this machine reaches the listener at `addr` (`mcp-stdio` relays there).
fn loopback_url(settings: &Settings, addr: std::net::SocketAddr) -> String {
    let host = match addr.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    format!(
        "{}://{}",
        settings.url_scheme(),
        std::net::SocketAddr::new(host, addr.port())
    )
}

/// The in-process engine as configured (nothing is loaded until a model is used).
pub fn engine(settings: &Settings) -> Engine {
    let config = &settings.engine;
    let defaults = EngineSettings::default();
    let memory_budget_bytes = config.memory_budget_mb.map_or_else(
        || {
            let mut system = sysinfo::System::new();
            system.refresh_memory();
            system.total_memory() / 4 * 3
        },
        |mb| mb << 20,
    );
    Engine::new(EngineSettings {
        threads: config.threads.unwrap_or(defaults.threads),
        slots: config.slots,
        context_per_slot: config.context_per_slot,
        batch_tokens: config.batch_tokens,
        memory_budget_bytes,
        prompt_cache: config.prompt_cache,
    })
}

fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, AppError> {
    std::net::TcpListener::bind(addr)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|source| AppError::Bind { addr, source })
}

/// Starts the platform and returns once it serves every route.
///
/// Order matters: the data folder is locked first, configuration errors (TLS) are found before
/// anything else, and the listeners bind before the database opens, so `/health` answers and
/// `/ready` reports 503 during a long migration.
pub async fn start(settings: Settings) -> Result<Running, AppError> {
    start_with(settings, Hooks::default()).await
}

/// [`start`], with some parts replaced (tests run tasks through a scripted executor).
pub async fn start_with(settings: Settings, hooks: Hooks) -> Result<Running, AppError> {
    let settings = Arc::new(settings);
    // rustls (https MCP servers, providers) uses ring; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let lock = DataDirLock::acquire(&settings.data_dir)?;
    for path in [&settings.workspace, &settings.models_dir] {
        std::fs::create_dir_all(path).map_err(|source| AppError::Folder {
            path: path.clone(),
            source,
        })?;
    }
    // A broken models.toml (or imported.toml) is a configuration error: say so before starting.
    crate::engine::library::Library::open(&settings.models_dir, &settings.models_file)
        .map_err(AppError::Models)?;
    let keyring = KeyRing::load_or_create(&settings)?;
    let cert_files = tls::cert_files(&settings)?;
    let tls_config = cert_files
        .as_ref()
        .map(tls::server_config)
        .transpose()?
        .map(RustlsConfig::from_config);

    let main_listener = bind(settings.listen)?;
    let redirect_listener = match (settings.http_listen, &tls_config) {
        (Some(addr), Some(_)) => Some(bind(addr)?),
        _ => None,
    };
    let addr = main_listener.local_addr().map_err(AppError::Serve)?;
    lock.announce(&loopback_url(&settings, addr));
    let http_addr = redirect_listener
        .as_ref()
        .map(std::net::TcpListener::local_addr)
        .transpose()
        .map_err(AppError::Serve)?;

    let late = LateRouter::default();
    let handle = Handle::new();
    let mut servers = vec![tokio::spawn(http::server::serve_main(
        main_listener,
        late.router(),
        tls_config.clone(),
        handle.clone(),
    ))];
    if let Some(listener) = redirect_listener {
        servers.push(tokio::spawn(http::server::serve_redirect(
            listener,
            addr.port(),
            handle.clone(),
        )));
    }

    let store = match open_and_migrate(&settings).await {
        Ok(store) => store,
        Err(err) => {
            handle.shutdown();
            for server in servers {
                let _ = server.await;
            }
            return Err(err);
        }
    };
    let services = Services::new(&store, &settings, engine(&settings), keyring);
    // Loads the embedding model off the start-up path; search answers 503 until it is ready.
    services.search.model().preload();
    let shutdown = CancellationToken::new();
    late.install(http::router(AppState {
        services: services.clone(),
        settings: settings.clone(),
        shutdown: shutdown.clone(),
    }));

    let mut background = spawn_background(&store, &services, &settings, hooks, &shutdown);
    background.extend(crate::backup::spawn_periodic(&store, &settings, shutdown.clone()));
    if let (Some(files), Some(config)) = (cert_files, tls_config)
        && !matches!(settings.tls, crate::config::TlsMode::SelfSigned)
    {
        background.push(tls::spawn_reloader(files, config, shutdown.clone()));
    }

    tracing::info!(
        url = %format!("{}://{addr}", settings.url_scheme()),
        redirect = ?http_addr,
        database = ?store.kind(),
        "agentbox is ready"
    );

    let stop = CancellationToken::new();
    let task = tokio::spawn(run_until_shutdown(Stopping {
        store: store.clone(),
        settings: settings.clone(),
        health: services.health.clone(),
        stop: stop.clone(),
        shutdown,
        handle,
        servers,
        background,
        lock,
    }));
    Ok(Running {
        addr,
        http_addr,
        store,
        settings,
        services,
        stop,
        task,
    })
}

/// The work that runs beside the listeners until `shutdown`: the embedded database's watchdog,
/// the agents folder watcher, model downloads, and the background task workers (none when
/// `tasks.concurrency` is 0: a replica that only serves the API).
fn spawn_background(
    store: &Store,
    services: &Services,
    settings: &Settings,
    hooks: Hooks,
    shutdown: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let mut background = Vec::new();
    background.extend(store.spawn_watchdog(shutdown.clone()));
    background.push(services.agents.catalog().spawn_watcher(shutdown.clone()));
    // External MCP servers connect in the background: a slow or broken one never holds up start.
    background.push(services.mcp.start(shutdown.clone()));
    background.push(spawn_models(
        services.models.clone(),
        settings.models.auto_pull,
        shutdown.clone(),
    ));
    if settings.tasks.concurrency > 0 {
        let executor = hooks
            .task_executor
            .unwrap_or_else(|| Arc::new(AgentTaskExecutor::new(services.chat.clone())));
        let worker = TaskWorker::spawn(
            services.tasks.clone(),
            executor,
            WorkerSettings::from_settings(settings),
            shutdown.clone(),
        );
        background.push(tokio::spawn(worker.wait()));
    }
    background
}

/// Downloads the missing model of each role in the background when `models.auto_pull` is on
/// (start-up never waits for it), and on shutdown stops every download, keeping its `.part`.
fn spawn_models(models: ModelService, auto_pull: bool, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        if auto_pull {
            tokio::select! {
                () = models.pull_missing_roles() => {}
                () = shutdown.cancelled() => {}
            }
        }
        shutdown.cancelled().await;
        models.shutdown().await;
    })
}

/// What stopping needs: the listeners, the background work, and who to tell.
struct Stopping {
    store: Store,
    settings: Arc<Settings>,
    health: HealthService,
    /// Cancelled to stop (a signal, `Running::stop`).
    stop: CancellationToken,
    /// Cancelled once the drain time is over: background work and streams end.
    shutdown: CancellationToken,
    handle: Handle,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    background: Vec<JoinHandle<()>>,
    lock: DataDirLock,
}

/// Waits for the stop token (or a listener failing), keeps serving for the drain time with
/// `/ready` saying 503, then stops accepting, lets in-flight requests finish within the grace
/// period, and closes the database.
async fn run_until_shutdown(
    Stopping {
        store,
        settings,
        health,
        stop,
        shutdown,
        handle,
        servers,
        background,
        lock,
    }: Stopping,
) -> Result<(), AppError> {
    let mut servers = futures::future::join_all(servers);
    let mut early = tokio::select! {
        () = stop.cancelled() => None,
        results = &mut servers => Some(results),
    };
    let drain = settings.server.drain;
    if early.is_none() && !drain.is_zero() {
        health.start_draining();
        tracing::info!(
            seconds = drain.as_secs(),
            "draining: /ready answers 503, requests are still served"
        );
        tokio::select! {
            () = tokio::time::sleep(drain) => {}
            results = &mut servers => early = Some(results),
        }
    }
    shutdown.cancel();
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    handle.graceful_shutdown(Some(settings.server.shutdown_grace));
    let results = match early {
        Some(results) => results,
        None => servers.await,
    };
    shutdown.cancel();
    for task in background {
        let _ = task.await;
    }
    store.close().await;
    drop(lock);
    tracing::info!("stopped");
    for result in results {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(AppError::Serve(err)),
            Err(err) => return Err(AppError::Serve(std::io::Error::other(err))),
        }
    }
    Ok(())
}
