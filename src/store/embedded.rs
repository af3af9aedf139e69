//! The embedded Postgres (pglite-oxide): started on a unix socket in a private folder,
//! restarted by the watchdog when it stops answering, shut down after the pool is closed.
//!
//! pglite serves one connection with one backend. Its accept loop ends when a client vanishes
//! in the middle of a response, after which nothing answers until the server is restarted:
//! the store never drops an in-flight query, and the watchdog below covers what remains.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use pglite_oxide::PgliteServer;
use sqlx::postgres::PgConnectOptions;
use tokio::sync::Notify;

use super::StoreError;

/// pglite listens on this "port": it only names the socket file `.s.PGSQL.5432`.
const SOCKET_PORT: u16 = 5432;
/// Unix socket paths are limited to about 108 bytes.
const MAX_SOCKET_PATH: usize = 100;
/// How long the server may take to stop before we give up on it as stuck (seen under heavy
/// load: its shutdown sometimes never returns; the process then exits without it).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct EmbeddedDb {
    root: PathBuf,
    socket_dir: PathBuf,
    /// Holds a temporary socket folder alive when the data dir path is too long for a socket.
    _socket_tmp: Option<tempfile::TempDir>,
    server: Mutex<Option<PgliteServer>>,
    /// Woken by the store when a query fails with a broken connection.
    pub(super) suspect: Notify,
}

impl EmbeddedDb {
    /// Starts the server on `root` (created from the bundled template on first use).
    pub async fn start(root: &Path, run_dir: &Path) -> Result<Self, StoreError> {
        let (socket_dir, socket_tmp) = private_socket_dir(run_dir)?;
        let root = root.to_owned();
        let socket = socket_dir.join(format!(".s.PGSQL.{SOCKET_PORT}"));
        let server = {
            let (root, socket) = (root.clone(), socket.clone());
            tokio::task::spawn_blocking(move || launch(&root, &socket))
                .await
                .map_err(|err| StoreError::Embedded(err.to_string()))??
        };
        Ok(Self {
            root,
            socket_dir,
            _socket_tmp: socket_tmp,
            server: Mutex::new(Some(server)),
            suspect: Notify::new(),
        })
    }

    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(SOCKET_PORT)
            .username("postgres")
            .database("postgres")
    }

    /// Stops the current server (however it is doing) and starts a fresh one on the same data.
    pub async fn restart(&self) -> Result<(), StoreError> {
        self.stop().await;
        let root = self.root.clone();
        let socket = self.socket_dir.join(format!(".s.PGSQL.{SOCKET_PORT}"));
        let _ = std::fs::remove_file(&socket);
        let server = tokio::task::spawn_blocking(move || launch(&root, &socket))
            .await
            .map_err(|err| StoreError::Embedded(err.to_string()))??;
        *self.server.lock().expect("embedded server lock") = Some(server);
        Ok(())
    }

    /// Stops the server. Close the pool first: the server waits for its client to leave.
    pub async fn stop(&self) {
        let server = self.server.lock().expect("embedded server lock").take();
        let Some(server) = server else { return };
        let stopping = tokio::task::spawn_blocking(move || server.shutdown());
        match tokio::time::timeout(STOP_TIMEOUT, stopping).await {
            Ok(Ok(Ok(()))) => {}
            // An accept loop that ended on a vanished client reports that error here.
            Ok(Ok(Err(err))) => {
                tracing::warn!(error = %format!("{err:#}"), "embedded database stopped with an error");
            }
            Ok(Err(err)) => tracing::error!(%err, "embedded database shutdown panicked"),
            Err(_) => {
                tracing::error!("embedded database did not stop within 10 s; leaving it");
            }
        }
    }
}

impl Drop for EmbeddedDb {
    /// `stop()` is the orderly way. A store dropped without it (a panic, a runtime torn down)
    /// must not block: pglite's own drop waits for its client, which may be the pool that is
    /// being dropped on this very thread. The wait moves to a thread of its own, which the
    /// process exit ends if the client never leaves.
    fn drop(&mut self) {
        let server = self
            .server
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(server) = server {
            let _ = std::thread::Builder::new()
                .name("pglite-drop".into())
                .spawn(move || drop(server));
        }
    }
}

fn launch(root: &Path, socket: &Path) -> Result<PgliteServer, StoreError> {
    PgliteServer::builder()
        .path(root)
        .unix(socket)
        .database("postgres")
        // pgvector for semantic search (see migrations/20261125000000_embeddings.sql).
        .extension(pglite_oxide::extensions::VECTOR)
        .start()
        .map_err(|err| StoreError::Embedded(format!("{err:#}")))
}

/// The socket lives in a 0700 folder: the embedded server has no authentication, so only this
/// user may reach it.
fn private_socket_dir(run_dir: &Path) -> Result<(PathBuf, Option<tempfile::TempDir>), StoreError> {
    let io = |err: std::io::Error| StoreError::Embedded(format!("socket folder: {err}"));
    let fits = run_dir.join(".s.PGSQL.5432").as_os_str().len() <= MAX_SOCKET_PATH;
    if fits {
        std::fs::create_dir_all(run_dir).map_err(io)?;
        std::fs::set_permissions(run_dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        return Ok((run_dir.to_owned(), None));
    }
    let tmp = tempfile::Builder::new()
        .prefix("agentbox-pg-")
        .tempdir()
        .map_err(io)?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    Ok((tmp.path().to_owned(), Some(tmp)))
}
