//! What the models folder records beside the model files: `<file>.sha256` (the hash checked
//! when the file was written) and imported.toml (the imported models), each replaced atomically.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::IMPORTED_FILE;
use crate::engine::EngineError;
use crate::engine::catalog::{self, FileKind, ModelEntry, ModelRole, ParsedFile};

const CHECKSUM_SUFFIX: &str = ".sha256";

pub(super) fn checksum_path(model: &Path) -> PathBuf {
    let mut name = model.as_os_str().to_owned();
    name.push(CHECKSUM_SUFFIX);
    PathBuf::from(name)
}

/// Writes `<file>.sha256` in `sha256sum` format (`sha256sum -c` checks it).
pub(super) fn write_checksum(model: &Path, sha256: &str) -> std::io::Result<()> {
    let file_name = model.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    write_atomically(
        &checksum_path(model),
        format!("{sha256}  {file_name}\n").as_bytes(),
    )
}

/// The recorded sha256 of `model`, if its record exists and is not older than the file.
pub(super) fn read_checksum(model: &Path, meta: &fs::Metadata) -> Option<String> {
    let record = checksum_path(model);
    let record_meta = fs::metadata(&record).ok()?;
    if let (Ok(file_time), Ok(record_time)) = (meta.modified(), record_meta.modified())
        && record_time < file_time
    {
        return None;
    }
    let mut text = String::new();
    File::open(&record)
        .ok()?
        .take(256)
        .read_to_string(&mut text)
        .ok()?;
    catalog::normalize_sha256(text.split_whitespace().next()?).ok()
}

/// Replaces `path` with `bytes` through a temporary file and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new().prefix(".write-").tempfile_in(dir)?;
    readable_by_all(temp.as_file())?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// Temporary files are created private (0600); model files and records are ordinary files
/// (0644) that the server may read under another user than the CLI that wrote them.
pub(super) fn readable_by_all(file: &File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

pub(super) fn sync_dir_blocking(dir: &Path) {
    if let Err(err) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(error = %err, "cannot sync the models folder");
    }
}

/// imported.toml: the imported models and the roles given to models (imported or catalog).
#[derive(Debug, Clone, Default)]
pub(super) struct Imports {
    pub models: Vec<ModelEntry>,
    /// Role → the model given it. A role not listed is played by the catalog's model.
    pub roles: BTreeMap<ModelRole, String>,
}

/// Reads imported.toml. Files written before roles became a mapping carry `role = "…"` on
/// each model: those move into the mapping (the latest import of a role whose file is present
/// wins, as it did then; an explicit `[roles]` entry wins over them) and are written back as
/// `[roles]` by the next change.
pub(super) fn read_imported(dir: &Path) -> Result<Imports, EngineError> {
    let path = dir.join(IMPORTED_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Imports::default()),
        Err(err) => return Err(EngineError::io("read", path)(err)),
    };
    let ParsedFile {
        mut entries,
        mut roles,
    } = catalog::parse_file(&text, &path.display().to_string(), FileKind::Imported)?;
    let mut legacy: BTreeMap<ModelRole, String> = BTreeMap::new();
    for present in [true, false] {
        for entry in entries.iter().rev() {
            if let Some(role) = entry.role
                && dir.join(&entry.file).is_file() == present
            {
                legacy.entry(role).or_insert_with(|| entry.name.clone());
            }
        }
    }
    for (role, name) in legacy {
        roles.entry(role).or_insert(name);
    }
    for entry in &mut entries {
        entry.role = None;
    }
    Ok(Imports {
        models: entries,
        roles,
    })
}

/// Read-modify-write of imported.toml under a lock, so that a CLI import and a running server
/// do not lose each other's changes.
pub(super) fn update_imported(dir: &Path, change: impl FnOnce(&mut Imports)) -> Result<(), EngineError> {
    let lock_path = dir.join(format!(".{IMPORTED_FILE}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(EngineError::io("open", &lock_path))?;
    lock.lock().map_err(EngineError::io("lock", &lock_path))?;
    let mut imports = read_imported(dir)?;
    change(&mut imports);
    let path = dir.join(IMPORTED_FILE);
    let text = render_imported(&imports)
        .map_err(|err| EngineError::io("write", &path)(std::io::Error::other(err)))?;
    write_atomically(&path, text.as_bytes()).map_err(EngineError::io("write", &path))?;
    drop(lock);
    Ok(())
}

#[derive(Serialize)]
struct ImportedFile<'a> {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    roles: BTreeMap<&'static str, &'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    model: Vec<ImportedRecord<'a>>,
}

#[derive(Serialize)]
struct ImportedRecord<'a> {
    name: &'a str,
    file: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_bytes: Option<u64>,
    context_size: u32,
    gpu_layers: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_template: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    imported_from: Option<&'a str>,
}

fn render_imported(imports: &Imports) -> Result<String, toml::ser::Error> {
    let file = ImportedFile {
        roles: imports
            .roles
            .iter()
            .map(|(role, name)| (role.as_str(), name.as_str()))
            .collect(),
        model: imports
            .models
            .iter()
            .map(|e| ImportedRecord {
                name: &e.name,
                file: &e.file,
                sha256: e.sha256.as_deref(),
                size_bytes: e.size_bytes,
                context_size: e.context_size,
                gpu_layers: e.gpu_layers,
                chat_template: e.chat_template.as_deref(),
                imported_from: e.imported_from.as_deref(),
            })
            .collect(),
    };
    let body = toml::to_string(&file)?;
    Ok(format!(
        "# Models brought in with `agentbox models import`, in the models.toml format, and the\n\
         # roles given to models: `[roles]` maps a role to the model that plays it (an imported\n\
         # model or a catalog model); a role not listed is played by the catalog's model.\n\
         # agentbox rewrites this file on import, `models role` and rm; edit [roles],\n\
         # context_size, gpu_layers or chat_template here if you need to.\n\n{body}"
    ))
}
