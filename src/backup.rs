//! `agentbox backup` / `restore` and the automatic backups of `serve`: one archive
//! (`tar` compressed with zstd) holding the database's rows (`COPY` text, one consistent
//! snapshot, embedded or external), the workspace, the agent files, the TLS certificate, the
//! secret key and the config file, with a manifest that records the sha256 of every entry.
//!
//! Layout of an archive, in this order:
//! - `database/NNN-schema.table.copy` — each table's rows, parents before children;
//! - `files/secret.key`, `files/tls/…`, `files/workspace/…`, `files/agents/…`;
//! - `config/agentbox.toml`;
//! - `manifest.json` — last, once every entry's sha256 is known.
//!
//! A restore reads the archive three times: first to check every entry against the manifest
//! (a damaged archive is refused before anything is written), then to copy the rows in (one
//! transaction), then to write the files.

mod archive;
mod files;
mod schedule;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::data_dir::{DataDirError, DataDirLock};
use crate::store::{DatabaseDump, DatabaseKind, Store, StoreError};

pub use schedule::{prune, run_periodic, spawn_periodic};

/// What an archive says it is.
pub const FORMAT: &str = "agentbox-backup";
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's name inside the archive.
pub const MANIFEST: &str = "manifest.json";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The archive cannot be trusted: nothing was written.
    #[error("{} is damaged or is not an agentbox backup ({reason}); nothing was restored", path.display())]
    Damaged { path: PathBuf, reason: String },
    /// The archive needs a newer agentbox.
    #[error(
        "{} was made by a newer agentbox (format {format}, migrations up to {newest}); restore it with that version or later",
        path.display()
    )]
    Newer { path: PathBuf, format: u32, newest: i64 },
    /// The target already holds data and `--force` was not given.
    #[error(
        "the target is not empty: {what}; restore into an empty data folder and database, or pass --force to replace it"
    )]
    NotEmpty { what: String },
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
}

impl BackupError {
    /// 2 for what the operator decides (the target is not empty), 1 for everything else.
    pub fn is_usage(&self) -> bool {
        matches!(self, BackupError::NotEmpty { .. })
    }

    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self + use<> {
        let path = path.to_owned();
        move |source| BackupError::Io { action, path, source }
    }
}

/// The archive's table of contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub agentbox_version: String,
    /// RFC 3339.
    pub created_at: String,
    /// `embedded` or `external`: where the rows came from (they restore into either).
    pub database_kind: String,
    pub database: DatabaseDump,
    /// Every entry but the manifest, in archive order.
    pub entries: Vec<Entry>,
}

/// One file in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    /// Unix permission bits to restore the file with.
    pub mode: u32,
}

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.bytes).sum()
    }

    pub fn total_rows(&self) -> u64 {
        self.database.tables.iter().map(|t| t.rows).sum()
    }

    /// The files (not database entries) the archive holds.
    pub fn file_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| !e.path.starts_with(archive::DATABASE_PREFIX))
            .count()
    }
}

/// Where a backup or restore is; the CLI draws a progress bar from it, `serve` ignores it.
pub trait Progress: Send + Sync {
    /// A new stage begins; `total` bytes are expected when known.
    fn stage(&self, _name: &str, _total: Option<u64>) {}
    /// `bytes` more were processed.
    fn advance(&self, _bytes: u64) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}

/// What a finished backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// The archive's size on disk (compressed).
    pub archive_bytes: u64,
    pub seconds: f64,
}

/// What a finished restore put back.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub manifest: Manifest,
    /// Where the archive's config file went, if it had one.
    pub config: Option<PathBuf>,
    pub seconds: f64,
}

/// Writes a backup of the database `store` is connected to and of the files `settings` name
/// into `out` (through a temporary file beside it, renamed when complete).
pub async fn create(
    store: &Store,
    settings: &Settings,
    out: &Path,
    progress: Arc<dyn Progress>,
) -> Result<BackupReport, BackupError> {
    let started = Instant::now();
    let sources = files::sources(settings);
    let kind = match store.kind() {
        DatabaseKind::Embedded => "embedded",
        DatabaseKind::External => "external",
    };
    let (manifest, archive_bytes) = archive::write(store, out, sources, kind, progress).await?;
    Ok(BackupReport {
        path: out.to_owned(),
        manifest,
        archive_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `agentbox backup`: opens the database (without migrating it) and writes the archive. The
/// embedded database belongs to the process that holds the data folder: with `serve` running,
/// this fails with the folder's lock error, and `serve`'s automatic backups are the way.
pub async fn backup_offline(
    settings: &Settings,
    out: &Path,
    progress: Arc<dyn Progress>,
) -> Result<BackupReport, BackupError> {
    let _lock = match &settings.database.url {
        None => Some(DataDirLock::acquire(&settings.data_dir)?),
        // External Postgres: the snapshot is the database's; the files are read as they are.
        Some(_) => None,
    };
    let store = Store::open(settings).await?;
    let result = create(&store, settings, out, progress).await;
    store.close().await;
    result
}

/// Reads and checks an archive held in memory as `restore` does before it changes anything:
/// every entry against the manifest. What the fuzz target feeds.
pub(crate) fn verify_bytes(archive: &[u8]) -> Result<Manifest, BackupError> {
    archive::verify_source(archive, Path::new("archive"))
}

/// `agentbox restore`: checks the archive, then restores it into the database and the data
/// folder of `settings`, which must be empty (or `force`).
pub async fn restore(
    settings: &Settings,
    archive_path: &Path,
    force: bool,
    progress: Arc<dyn Progress>,
) -> Result<RestoreReport, BackupError> {
    let started = Instant::now();
    let manifest = archive::verify(archive_path, progress.clone()).await?;
    let known = Store::known_migrations();
    let newest = manifest
        .database
        .migrations
        .iter()
        .copied()
        .max()
        .unwrap_or_default();
    if manifest.format_version > FORMAT_VERSION
        || manifest.database.migrations.iter().any(|v| !known.contains(v))
    {
        return Err(BackupError::Newer {
            path: archive_path.to_owned(),
            format: manifest.format_version,
            newest,
        });
    }
    let plan = files::plan(settings, &manifest)?;
    let lock = DataDirLock::acquire(&settings.data_dir)?;
    let store = Store::open(settings).await?;
    let restored = restore_database(&store, archive_path, &manifest, &plan, force, progress.clone()).await;
    store.close().await;
    restored?;
    let config = files::restore(archive_path, &manifest, &plan, force, progress).await?;
    drop(lock);
    Ok(RestoreReport {
        manifest,
        config,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn restore_database(
    store: &Store,
    archive_path: &Path,
    manifest: &Manifest,
    plan: &files::Plan,
    force: bool,
    progress: Arc<dyn Progress>,
) -> Result<(), BackupError> {
    let newest = manifest.database.migrations.iter().copied().max();
    let applied = store.applied_migrations().await?;
    // Build the schema the rows were dumped from; the rest of the migrations run after.
    if let Some(newest) = newest
        && applied.iter().copied().max().is_none_or(|v| v < newest)
    {
        store.migrate_to(newest).await?;
    }
    let mut busy = store.tables_in_use().await?;
    busy.extend(plan.conflicts.iter().cloned());
    if !busy.is_empty() && !force {
        return Err(BackupError::NotEmpty {
            what: busy.join(", "),
        });
    }
    archive::restore_rows(store, archive_path, manifest, progress).await?;
    store.migrate().await?;
    Ok(())
}
