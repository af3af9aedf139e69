//! Automatic backups of the embedded database: it runs with fsync off, so a power loss can
//! corrupt it; `serve` therefore writes a backup into `<data_dir>/backups` every
//! `backup.interval_hours` and keeps the newest `backup.keep`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Silent, create};
use crate::config::Settings;
use crate::store::{DatabaseKind, Store};

const PREFIX: &str = "agentbox-";
const SUFFIX: &str = ".tar.zst";
/// The first backup of a data folder that has none waits this long after start, so it does
/// not compete with start-up.
const FIRST_DELAY: Duration = Duration::from_mins(1);

/// Starts the automatic backups when the database is the embedded one and they are on.
pub fn spawn_periodic(
    store: &Store,
    settings: &Arc<Settings>,
    shutdown: CancellationToken,
) -> Option<JoinHandle<()>> {
    if store.kind() != DatabaseKind::Embedded {
        return None;
    }
    let interval = settings.backup.interval?;
    let first = due_in(newest(&settings.backups_dir()), interval, SystemTime::now());
    Some(tokio::spawn(run_periodic(
        store.clone(),
        settings.clone(),
        first,
        interval,
        shutdown,
    )))
}

/// Writes a backup after `first`, then every `interval`, until `shutdown`; each one prunes the
/// folder to `backup.keep` archives. A failed backup is logged and tried again at the next turn.
pub async fn run_periodic(
    store: Store,
    settings: Arc<Settings>,
    first: Duration,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let dir = settings.backups_dir();
    let mut wait = first;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        wait = interval;
        let name = format!(
            "{PREFIX}{}{SUFFIX}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
        );
        let path = dir.join(name);
        let backup = create(&store, &settings, &path, Arc::new(Silent));
        let result = tokio::select! {
            result = backup => result,
            () = shutdown.cancelled() => {
                tracing::warn!("automatic backup interrupted by the shutdown");
                return;
            }
        };
        match result {
            Ok(report) => {
                tracing::info!(
                    path = %report.path.display(),
                    bytes = report.archive_bytes,
                    rows = report.manifest.total_rows(),
                    seconds = report.seconds,
                    "automatic backup written"
                );
                match prune(&dir, settings.backup.keep) {
                    Ok(removed) if !removed.is_empty() => {
                        tracing::info!(removed = removed.len(), "old automatic backups removed");
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "cannot remove old automatic backups"),
                }
            }
            Err(err) => {
                tracing::error!(error = %crate::error_chain::error_chain(&err), "automatic backup failed");
            }
        }
    }
}

/// How long until the next backup: `interval` after the newest one (at least `FIRST_DELAY`),
/// or `FIRST_DELAY` when there is none.
fn due_in(newest: Option<SystemTime>, interval: Duration, now: SystemTime) -> Duration {
    newest
        .and_then(|at| (at + interval).duration_since(now).ok())
        .unwrap_or_default()
        .max(FIRST_DELAY)
}

/// The automatic backups in `dir`, oldest first (their names sort by time).
fn archives(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    found.sort();
    found
}

fn newest(dir: &Path) -> Option<SystemTime> {
    archives(dir)
        .last()
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
}

/// Deletes all but the newest `keep` automatic backups in `dir`; returns what it deleted.
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    let all = archives(dir);
    let excess = all.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for path in all.into_iter().take(excess) {
        std::fs::remove_file(&path)?;
        removed.push(path);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_backup_is_due_an_interval_after_the_newest() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = Duration::from_hours(1);
        assert_eq!(due_in(None, hour, now), FIRST_DELAY);
        assert_eq!(
            due_in(Some(now - Duration::from_mins(10)), hour, now),
            Duration::from_mins(50)
        );
        assert_eq!(
            due_in(Some(now - 2 * hour), hour, now),
            FIRST_DELAY,
            "overdue: soon"
        );
    }

    #[test]
    fn pruning_keeps_the_newest_archives_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "agentbox-20261101T000000.000Z.tar.zst",
            "agentbox-20261103T000000.000Z.tar.zst",
            "agentbox-20261102T000000.000Z.tar.zst",
            "my-own-copy.tar.zst",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let removed = prune(dir.path(), 2).unwrap();
        assert_eq!(
            removed,
            vec![dir.path().join("agentbox-20261101T000000.000Z.tar.zst")]
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "agentbox-20261102T000000.000Z.tar.zst",
                "agentbox-20261103T000000.000Z.tar.zst",
                "my-own-copy.tar.zst"
            ]
        );
        assert!(prune(&dir.path().join("missing"), 2).unwrap().is_empty());
    }
}
