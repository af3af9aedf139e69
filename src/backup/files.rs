//! The files a backup carries besides the database, and where a restore puts them back.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::archive::{DATABASE_PREFIX, each_entry};
use super::{BackupError, MANIFEST, Manifest, Progress};
use crate::config::Settings;

/// A file or folder to back up, and the name it has in the archive.
#[derive(Debug, Clone)]
pub(super) struct Source {
    /// What the progress display calls it.
    pub label: String,
    /// `files/workspace`, `files/secret.key`, `config/agentbox.toml`.
    pub archive_path: String,
    pub path: PathBuf,
}

/// One file found under a source.
#[derive(Debug)]
pub(super) struct Found {
    pub archive_path: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub mode: u32,
}

/// The archive's file entries (the database's aside), each with where it goes on restore.
fn mapping(settings: &Settings) -> Vec<(&'static str, String, PathBuf)> {
    let config_target = settings
        .config_file
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("agentbox.toml.restored"));
    vec![
        (
            "secret key",
            "files/secret.key".into(),
            settings.data_dir.join("secret.key"),
        ),
        ("certificate", "files/tls".into(), settings.tls_dir()),
        ("workspace", "files/workspace".into(), settings.workspace.clone()),
        ("agents", "files/agents".into(), settings.agents_dir.clone()),
        ("config", "config/agentbox.toml".into(), config_target),
    ]
}

/// What `settings` names that exists: the secret key, the self-signed certificate, the
/// workspace, the agent files and the config file. Models are left out (large, and brought
/// back with `agentbox models pull` or `bundle import`).
pub(super) fn sources(settings: &Settings) -> Vec<Source> {
    let mut sources = Vec::new();
    for (label, archive_path, path) in mapping(settings) {
        // The config goes in from where it was read; its restore target may differ.
        let path = if archive_path.starts_with("config/") {
            match &settings.config_file {
                Some(file) => file.clone(),
                None => continue,
            }
        } else {
            path
        };
        if path.exists() {
            sources.push(Source {
                label: label.to_owned(),
                archive_path,
                path,
            });
        }
    }
    sources
}

/// Every regular file under `source` (the file itself when it is one), in name order.
/// Symbolic links are skipped: they could point anywhere, and a restore would follow them.
pub(super) fn walk(source: &Source) -> Result<Vec<Found>, BackupError> {
    let mut found = Vec::new();
    let meta = fs::symlink_metadata(&source.path).map_err(BackupError::io("read", &source.path))?;
    if meta.is_file() {
        found.push(Found {
            archive_path: source.archive_path.clone(),
            path: source.path.clone(),
            bytes: meta.len(),
            mode: meta.permissions().mode(),
        });
        return Ok(found);
    }
    let mut folders = vec![(source.path.clone(), source.archive_path.clone())];
    while let Some((folder, prefix)) = folders.pop() {
        let mut children: Vec<fs::DirEntry> = fs::read_dir(&folder)
            .map_err(BackupError::io("read", &folder))?
            .collect::<Result<_, _>>()
            .map_err(BackupError::io("read", &folder))?;
        children.sort_by_key(fs::DirEntry::file_name);
        for child in children.into_iter().rev() {
            let path = child.path();
            let Some(name) = child.file_name().to_str().map(str::to_owned) else {
                tracing::warn!(path = %path.display(), "backup: skipped a file whose name is not UTF-8");
                continue;
            };
            let meta = fs::symlink_metadata(&path).map_err(BackupError::io("read", &path))?;
            let archive_path = format!("{prefix}/{name}");
            if meta.is_dir() {
                folders.push((path, archive_path));
            } else if meta.is_file() {
                found.push(Found {
                    archive_path,
                    path,
                    bytes: meta.len(),
                    mode: meta.permissions().mode(),
                });
            } else {
                tracing::warn!(path = %path.display(), "backup: skipped a link or special file");
            }
        }
    }
    found.sort_by(|a, b| a.archive_path.cmp(&b.archive_path));
    Ok(found)
}

/// Where a restore writes each file entry, and which existing files it would replace.
#[derive(Debug)]
pub(super) struct Plan {
    /// (archive prefix, target root).
    roots: Vec<(String, PathBuf)>,
    /// Existing files whose content differs from the archive's.
    pub conflicts: Vec<String>,
}

impl Plan {
    /// The target of an archive entry, or `None` for entries that are not files.
    fn target(&self, name: &str) -> Option<PathBuf> {
        self.roots.iter().find_map(|(prefix, root)| {
            if name == prefix {
                Some(root.clone())
            } else {
                name.strip_prefix(prefix.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                    .map(|rest| root.join(rest))
            }
        })
    }
}

/// Maps the archive's files onto `settings` and finds the ones that would replace a different
/// existing file.
pub(super) fn plan(settings: &Settings, manifest: &Manifest) -> Result<Plan, BackupError> {
    let roots: Vec<(String, PathBuf)> = mapping(settings)
        .into_iter()
        .map(|(_, prefix, root)| (prefix, root))
        .collect();
    let mut plan = Plan {
        roots,
        conflicts: Vec::new(),
    };
    let mut conflicts = 0usize;
    for entry in &manifest.entries {
        if entry.path.starts_with(DATABASE_PREFIX) {
            continue;
        }
        let Some(target) = plan.target(&entry.path) else {
            return Err(BackupError::Damaged {
                path: PathBuf::from(MANIFEST),
                reason: format!("no place to restore {}", entry.path),
            });
        };
        if target.exists() && sha256_file(&target).ok().as_deref() != Some(entry.sha256.as_str()) {
            conflicts += 1;
            if plan.conflicts.len() < 5 {
                plan.conflicts.push(target.display().to_string());
            }
        }
    }
    if conflicts > plan.conflicts.len() {
        let more = conflicts - plan.conflicts.len();
        plan.conflicts.push(format!("and {more} more files"));
    }
    Ok(plan)
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

/// Pass 3: writes the archive's files into place (each through a temporary file renamed over
/// the target). Files the archive does not have are left alone. Returns where the config went.
pub(super) async fn restore(
    archive: &Path,
    manifest: &Manifest,
    plan: &Plan,
    force: bool,
    progress: Arc<dyn Progress>,
) -> Result<Option<PathBuf>, BackupError> {
    let files_total: u64 = manifest
        .entries
        .iter()
        .filter(|e| !e.path.starts_with(DATABASE_PREFIX))
        .map(|e| e.bytes)
        .sum();
    progress.stage("files", Some(files_total));
    let roots = plan.roots.clone();
    let plan = Plan {
        roots,
        conflicts: plan.conflicts.clone(),
    };
    let manifest = manifest.clone();
    let archive = archive.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut config = None;
        each_entry(&archive, |name, reader| {
            if name == MANIFEST || name.starts_with(DATABASE_PREFIX) {
                return Ok(());
            }
            let entry = manifest
                .entries
                .iter()
                .find(|e| e.path == name)
                .ok_or_else(|| BackupError::Failed(format!("{name} is not in the manifest")))?;
            let target = plan
                .target(name)
                .ok_or_else(|| BackupError::Failed(format!("no place to restore {name}")))?;
            if target.exists()
                && !force
                && sha256_file(&target).ok().as_deref() != Some(entry.sha256.as_str())
            {
                return Err(BackupError::NotEmpty {
                    what: target.display().to_string(),
                });
            }
            write_file(&target, reader, entry.mode, &entry.sha256, progress.as_ref())?;
            if name.starts_with("config/") {
                config = Some(target);
            }
            Ok(())
        })?;
        Ok(config)
    })
    .await
    .map_err(|err| BackupError::Failed(format!("restoring the files failed: {err}")))?
}

fn write_file(
    target: &Path,
    reader: &mut dyn Read,
    mode: u32,
    sha256: &str,
    progress: &dyn Progress,
) -> Result<(), BackupError> {
    let parent = target.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(parent).map_err(BackupError::io("create", parent))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".agentbox-restore-")
        .tempfile_in(parent)
        .map_err(BackupError::io("create a temporary file in", parent))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        let read = reader.read(&mut buffer).map_err(|err| BackupError::Damaged {
            path: target.to_owned(),
            reason: err.to_string(),
        })?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        std::io::Write::write_all(&mut temp, &buffer[..read])
            .map_err(BackupError::io("write", temp.path()))?;
        progress.advance(read as u64);
    }
    if hex::encode(hasher.finalize()) != sha256 {
        return Err(BackupError::Failed(format!(
            "{} changed in the archive since it was checked",
            target.display()
        )));
    }
    let file = temp.as_file();
    file.set_permissions(fs::Permissions::from_mode(mode & 0o777))
        .map_err(BackupError::io("set the permissions of", target))?;
    file.sync_all().map_err(BackupError::io("write", target))?;
    temp.persist(target)
        .map_err(|err| BackupError::io("write", target)(err.error))?;
    Ok(())
}
