//! The model files on disk: what the catalog and the imports name, what is present, partial or
//! missing, and the operations on them (pull, import, remove).
//!
//! Layout of the models folder:
//! - `<file>` — a model, only ever created by an atomic rename of a complete, checked file;
//! - `<file>.part` — a download in progress (resumed by the next pull);
//! - `<file>.sha256` — `sha256sum` format, written when the file was downloaded or imported and
//!   its hash computed; a file newer than its record is not counted as verified;
//! - `imported.toml` — the models brought in with `agentbox models import` that the catalog does
//!   not know, with their role: the same `[[model]]` format as `models.toml`, without `source`.
//!   An imported model with a role plays that role in preference to the catalog's model.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio_util::sync::CancellationToken;

use super::catalog::{self, Catalog, FileKind, ModelEntry, ModelRole};
use super::download::{self, Downloaded, Progress};
use super::{EngineError, gguf};

/// The record of imported models inside the models folder.
pub const IMPORTED_FILE: &str = "imported.toml";
const CHECKSUM_SUFFIX: &str = ".sha256";
/// Imported models get at most this much context unless their entry is edited.
const IMPORT_MAX_CONTEXT: u64 = 8192;

/// Where a listed model comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Catalog,
    Imported,
    /// A GGUF file in the models folder that nothing names.
    Unlisted,
}

/// Whether a model's file is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    Present,
    /// A download was started and is not finished (`<file>.part`).
    Partial,
    Missing,
}

/// One model as `models list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub role: Option<ModelRole>,
    /// This model is the one that plays its role.
    pub plays_role: bool,
    pub origin: Origin,
    pub file: String,
    pub state: FileState,
    /// Size on disk when present, else the size the catalog expects.
    pub size_bytes: Option<u64>,
    /// Bytes already downloaded, when partial.
    pub partial_bytes: Option<u64>,
    /// The expected sha256 (catalog), or the one recorded when the file was written.
    pub sha256: Option<String>,
    /// The file's sha256 was checked against the catalog's when it was written, and the file
    /// has not changed since.
    pub verified: bool,
    pub source: Option<String>,
}

/// The result of a pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pulled {
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: Option<String>,
    pub verified: bool,
    /// Nothing was downloaded: the file was already there.
    pub already_present: bool,
    /// Bytes reused from an earlier, interrupted download.
    pub resumed_from: u64,
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Imported {
    pub name: String,
    pub role: Option<ModelRole>,
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    /// The file is a model of the catalog (matched by sha256, or by file name when the catalog
    /// has no sha256 for it).
    pub catalog_model: bool,
    /// Its sha256 equals the catalog's.
    pub verified: bool,
    pub architecture: Option<String>,
    pub quantization: Option<&'static str>,
}

/// The result of a removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub name: String,
    /// Files that were deleted (model, partial download, checksum record).
    pub deleted: Vec<PathBuf>,
}

/// The catalog, the imported models, and the folder that holds their files.
#[derive(Debug, Clone)]
pub struct Library {
    dir: PathBuf,
    catalog: Catalog,
    imported: Vec<ModelEntry>,
}

impl Library {
    /// Reads the catalog and the record of imported models (blocking file I/O).
    pub fn open(models_dir: &Path, models_file: &Path) -> Result<Self, EngineError> {
        let catalog = Catalog::load(models_file)?;
        let imported = read_imported(models_dir)?;
        Ok(Self {
            dir: models_dir.to_owned(),
            catalog,
            imported,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Every named model: imported ones first (they win a role), then the catalog's.
    pub fn entries(&self) -> impl Iterator<Item = &ModelEntry> {
        self.imported.iter().rev().chain(self.catalog.entries())
    }

    pub fn path_of(&self, entry: &ModelEntry) -> PathBuf {
        self.dir.join(&entry.file)
    }

    pub fn is_present(&self, entry: &ModelEntry) -> bool {
        self.path_of(entry).is_file()
    }

    /// The model that plays `role`: the latest import with that role whose file is present,
    /// else the catalog's.
    pub fn for_role(&self, role: ModelRole) -> Option<&ModelEntry> {
        self.imported
            .iter()
            .rev()
            .find(|e| e.role == Some(role) && self.is_present(e))
            .or_else(|| self.catalog.for_role(role))
    }

    /// A model by name, or the model that plays a role.
    pub fn find(&self, name_or_role: &str) -> Result<&ModelEntry, EngineError> {
        if let Some(entry) = self.by_name(name_or_role) {
            return Ok(entry);
        }
        if let Ok(role) = name_or_role.parse::<ModelRole>()
            && let Some(entry) = self.for_role(role)
        {
            return Ok(entry);
        }
        Err(self.unknown(name_or_role))
    }

    fn by_name(&self, name: &str) -> Option<&ModelEntry> {
        self.entries().find(|e| e.name.eq_ignore_ascii_case(name.trim()))
    }

    fn unknown(&self, name: &str) -> EngineError {
        let mut known: Vec<String> = ModelRole::ALL.iter().map(ToString::to_string).collect();
        known.extend(self.entries().map(|e| e.name.clone()));
        EngineError::UnknownModel {
            name: name.to_owned(),
            known: known.join(", "),
        }
    }

    /// The state of one named model's files (a few `stat` calls).
    pub fn info(&self, entry: &ModelEntry, origin: Origin) -> ModelInfo {
        let path = self.path_of(entry);
        let on_disk = fs::metadata(&path).ok().filter(fs::Metadata::is_file);
        let partial = fs::metadata(download::part_path(&self.dir, &entry.file))
            .ok()
            .map(|m| m.len());
        let recorded = on_disk.as_ref().and_then(|meta| read_checksum(&path, meta));
        let state = match (&on_disk, partial) {
            (Some(_), _) => FileState::Present,
            (None, Some(_)) => FileState::Partial,
            (None, None) => FileState::Missing,
        };
        let verified = match (&entry.sha256, &recorded) {
            (Some(expected), Some(actual)) => origin == Origin::Catalog && expected == actual,
            _ => false,
        };
        ModelInfo {
            name: entry.name.clone(),
            role: entry.role,
            plays_role: entry
                .role
                .and_then(|role| self.for_role(role))
                .is_some_and(|player| player.name == entry.name),
            origin,
            file: entry.file.clone(),
            state,
            size_bytes: on_disk.map(|m| m.len()).or(entry.size_bytes),
            partial_bytes: if state == FileState::Partial {
                partial
            } else {
                None
            },
            sha256: entry.sha256.clone().or(recorded),
            verified,
            source: entry.source.clone(),
        }
    }

    /// Every model: the catalog's, the imported ones, and GGUF files nothing names.
    pub fn list(&self) -> Vec<ModelInfo> {
        let mut models: Vec<ModelInfo> = self
            .catalog
            .entries()
            .iter()
            .map(|e| self.info(e, Origin::Catalog))
            .chain(self.imported.iter().map(|e| self.info(e, Origin::Imported)))
            .collect();
        for (file, meta) in self.unlisted_files() {
            let path = self.dir.join(&file);
            let recorded = read_checksum(&path, &meta);
            models.push(ModelInfo {
                name: file.clone(),
                role: None,
                plays_role: false,
                origin: Origin::Unlisted,
                file,
                state: FileState::Present,
                size_bytes: Some(meta.len()),
                partial_bytes: None,
                sha256: recorded,
                verified: false,
                source: None,
            });
        }
        models
    }

    /// GGUF files in the folder that no entry names, sorted.
    fn unlisted_files(&self) -> Vec<(String, fs::Metadata)> {
        let named: HashSet<&str> = self.entries().map(|e| e.file.as_str()).collect();
        let mut files: Vec<(String, fs::Metadata)> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let meta = entry.metadata().ok().filter(fs::Metadata::is_file)?;
                let gguf = name.to_ascii_lowercase().ends_with(".gguf");
                (gguf && !named.contains(name.as_str()) && !name.starts_with('.')).then_some((name, meta))
            })
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files
    }

    /// Downloads `entry` unless its file is already there. Entries without a sha256 are refused
    /// unless `allow_unverified`.
    pub async fn pull(
        &self,
        client: &reqwest::Client,
        entry: &ModelEntry,
        allow_unverified: bool,
        options: &download::Options,
        cancel: &CancellationToken,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Pulled, EngineError> {
        let path = self.path_of(entry);
        if let Ok(meta) = tokio::fs::metadata(&path).await
            && meta.is_file()
        {
            let recorded = read_checksum(&path, &meta);
            return Ok(Pulled {
                name: entry.name.clone(),
                bytes: meta.len(),
                verified: entry.sha256.is_some() && entry.sha256 == recorded,
                sha256: recorded.or_else(|| entry.sha256.clone()),
                path,
                already_present: true,
                resumed_from: 0,
            });
        }
        let Some(source) = &entry.source else {
            return Err(EngineError::Refused(format!(
                "`{}` was imported from a file and has no source to download it from; import it again",
                entry.name
            )));
        };
        if entry.sha256.is_none() && !allow_unverified {
            return Err(EngineError::Unverified {
                name: entry.name.clone(),
            });
        }
        let request = download::Request {
            name: &entry.name,
            url: source,
            dir: &self.dir,
            file: &entry.file,
            sha256: entry.sha256.as_deref(),
            size: entry.size_bytes,
        };
        let Downloaded {
            path,
            sha256,
            bytes,
            verified,
            resumed_from,
        } = download::download(client, &request, options, cancel, progress).await?;
        let record = (path.clone(), sha256.clone());
        let written = tokio::task::spawn_blocking(move || write_checksum(&record.0, &record.1)).await;
        if let Ok(Err(err)) | Err(err) = written.map_err(std::io::Error::other) {
            tracing::warn!(error = %err, "cannot record the sha256 of {}", path.display());
        }
        Ok(Pulled {
            name: entry.name.clone(),
            path,
            bytes,
            sha256: Some(sha256),
            verified,
            already_present: false,
            resumed_from,
        })
    }

    /// Brings a local GGUF file into the models folder (blocking: it validates, hashes and copies
    /// the whole file). A file the catalog knows (by sha256, or by file name when the catalog has
    /// no sha256 for it) becomes that catalog model; any other file is recorded in imported.toml
    /// under its file name, with `role` if given.
    pub fn import(&self, source: &Path, role: Option<ModelRole>) -> Result<Imported, EngineError> {
        let meta = fs::metadata(source).map_err(EngineError::io("read", source))?;
        if !meta.is_file() {
            return Err(EngineError::Refused(format!(
                "{} is not a file",
                source.display()
            )));
        }
        let invalid = |reason| EngineError::InvalidGguf {
            path: source.to_owned(),
            reason,
        };
        let header = gguf::read(source).map_err(invalid)?;
        if header.tensor_count == 0 {
            return Err(invalid(gguf::GgufError::NoTensors));
        }
        let (temp, bytes, sha256) = self.copy_in(source, meta.len())?;
        gguf::check_complete(&header, bytes).map_err(invalid)?;
        let source_name = source
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("model.gguf")
            .to_owned();
        let known = self.identify(source, &source_name, &sha256, role)?;

        let (name, file) = match known {
            Some(entry) => (entry.name.clone(), entry.file.clone()),
            None => imported_name(&source_name),
        };
        if known.is_none() {
            self.check_import_target(&name, &file, &sha256)?;
        }
        let destination = self.dir.join(&file);
        temp.persist(&destination)
            .map_err(|err| EngineError::io("rename into", &destination)(err.error))?;
        sync_dir_blocking(&self.dir);
        if let Err(err) = write_checksum(&destination, &sha256) {
            tracing::warn!(error = %err, "cannot record the sha256 of {}", destination.display());
        }
        if known.is_none() {
            let context = header
                .context_length()
                .map_or(u64::from(catalog::DEFAULT_CONTEXT_SIZE), |c| {
                    c.clamp(128, IMPORT_MAX_CONTEXT)
                });
            record_import(&self.dir, &name, role, &file, &sha256, bytes, context, source)?;
        }
        Ok(Imported {
            role: known.map_or(role, |e| e.role),
            verified: known.is_some_and(|e| e.sha256.as_deref() == Some(sha256.as_str())),
            catalog_model: known.is_some(),
            name,
            path: destination,
            sha256,
            bytes,
            architecture: header.architecture().map(str::to_owned),
            quantization: header.quantization(),
        })
    }

    /// Copies `source` into a temporary file in the models folder while hashing it.
    fn copy_in(&self, source: &Path, expected_len: u64) -> Result<(NamedTempFile, u64, String), EngineError> {
        fs::create_dir_all(&self.dir).map_err(EngineError::io("create", &self.dir))?;
        let mut temp = tempfile::Builder::new()
            .prefix(".import-")
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(EngineError::io("create a temporary file in", &self.dir))?;
        let mut input = File::open(source).map_err(EngineError::io("read", source))?;
        let (bytes, sha256) =
            copy_hashing(&mut input, temp.as_file_mut()).map_err(EngineError::io("copy", source))?;
        if bytes != expected_len {
            return Err(EngineError::Refused(format!(
                "{} changed while it was being imported",
                source.display()
            )));
        }
        readable_by_all(temp.as_file()).map_err(EngineError::io("set permissions of", temp.path()))?;
        temp.as_file()
            .sync_all()
            .map_err(EngineError::io("sync", temp.path()))?;
        Ok((temp, bytes, sha256))
    }

    /// The catalog model a file is (by sha256, or by name when the catalog has no sha256 for
    /// it), refusing a file that contradicts the catalog.
    fn identify(
        &self,
        source: &Path,
        source_name: &str,
        sha256: &str,
        role: Option<ModelRole>,
    ) -> Result<Option<&ModelEntry>, EngineError> {
        let entries = self.catalog.entries();
        let known = entries
            .iter()
            .find(|e| e.sha256.as_deref() == Some(sha256))
            .or_else(|| {
                entries
                    .iter()
                    .find(|e| e.file == source_name && e.sha256.is_none())
            });
        if let Some(entry) = known {
            if role.is_some() && role != entry.role {
                return Err(EngineError::Refused(format!(
                    "{} is the catalog model `{}` (role {}); import it without --role, or change the \
                     role in the catalog",
                    source.display(),
                    entry.name,
                    entry.role.map_or("none", ModelRole::as_str)
                )));
            }
        } else if let Some(entry) = entries.iter().find(|e| e.file == source_name) {
            return Err(EngineError::Refused(format!(
                "{} has the file name of the catalog model `{}`, but its sha256 {sha256} is not the \
                 catalog's {}; rename the file to import it as a model of its own",
                source.display(),
                entry.name,
                entry.sha256.as_deref().unwrap_or("-")
            )));
        }
        Ok(known)
    }

    /// Refuses an import that would replace something else than an earlier import of itself.
    fn check_import_target(&self, name: &str, file: &str, sha256: &str) -> Result<(), EngineError> {
        if let Some(entry) = self.catalog.by_name(name) {
            return Err(EngineError::Refused(format!(
                "the catalog already has a model named `{}`; rename the file to import it",
                entry.name
            )));
        }
        let earlier = self.imported.iter().find(|e| e.name.eq_ignore_ascii_case(name));
        let path = self.dir.join(file);
        let existing = fs::metadata(&path)
            .ok()
            .and_then(|meta| read_checksum(&path, &meta));
        if path.exists() && earlier.is_none_or(|e| e.file != file) && existing.as_deref() != Some(sha256) {
            return Err(EngineError::Refused(format!(
                "the models folder already has another {file}; remove it first (agentbox models rm {file})"
            )));
        }
        Ok(())
    }

    /// Deletes a model's file, partial download and checksum record; an imported model also
    /// leaves imported.toml. Roles are not accepted: removal names the model.
    pub fn remove(&self, name: &str) -> Result<Removed, EngineError> {
        let (entry_name, file, imported) = if let Some(entry) = self.by_name(name) {
            let imported = self.imported.iter().any(|e| e.name == entry.name);
            (entry.name.clone(), entry.file.clone(), imported)
        } else if let Some((file, _)) = self.unlisted_files().into_iter().find(|(file, _)| file == name) {
            (file.clone(), file, false)
        } else {
            let mut err = self.unknown(name);
            if let (Ok(role), EngineError::UnknownModel { known, .. }) = (name.parse::<ModelRole>(), &mut err)
            {
                let player = self.for_role(role).map_or("none", |e| e.name.as_str());
                *known = format!("rm takes a model name, not a role; role {role} is played by {player}");
            }
            return Err(err);
        };
        let path = self.dir.join(&file);
        let mut deleted = Vec::new();
        for candidate in [
            path.clone(),
            download::part_path(&self.dir, &file),
            checksum_path(&path),
        ] {
            match fs::remove_file(&candidate) {
                Ok(()) => deleted.push(candidate),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(EngineError::io("delete", candidate)(err)),
            }
        }
        if imported {
            update_imported(&self.dir, |entries| entries.retain(|e| e.name != entry_name))?;
        }
        sync_dir_blocking(&self.dir);
        Ok(Removed {
            name: entry_name,
            deleted,
        })
    }
}

/// Adds (or replaces) an imported model in imported.toml.
#[allow(clippy::too_many_arguments)]
fn record_import(
    dir: &Path,
    name: &str,
    role: Option<ModelRole>,
    file: &str,
    sha256: &str,
    bytes: u64,
    context: u64,
    source: &Path,
) -> Result<(), EngineError> {
    let record = ModelEntry {
        name: name.to_owned(),
        role,
        source: None,
        sha256: Some(sha256.to_owned()),
        file: file.to_owned(),
        size_bytes: Some(bytes),
        context_size: u32::try_from(context).unwrap_or(catalog::DEFAULT_CONTEXT_SIZE),
        gpu_layers: catalog::DEFAULT_GPU_LAYERS,
        chat_template: None,
        sampling: catalog::Sampling::default(),
        default: false,
        imported_from: Some(source.display().to_string()),
        line: 0,
    };
    update_imported(dir, |entries| {
        entries.retain(|e| !e.name.eq_ignore_ascii_case(&record.name));
        entries.push(record);
    })
}

/// A model name and file name for an imported file: its file name, made safe.
fn imported_name(source_name: &str) -> (String, String) {
    let stem = source_name
        .strip_suffix(".gguf")
        .or_else(|| source_name.strip_suffix(".GGUF"))
        .unwrap_or(source_name);
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(120)
        .collect();
    if name.is_empty() {
        name = "model".into();
    }
    if catalog::check_name(&name).is_err() {
        name.push_str("-model");
    }
    let file = format!("{name}.gguf");
    (name, file)
}

fn copy_hashing(input: &mut impl Read, output: &mut File) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let read = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buffer[..read]);
        output.write_all(&buffer[..read])?;
        total += read as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

fn checksum_path(model: &Path) -> PathBuf {
    let mut name = model.as_os_str().to_owned();
    name.push(CHECKSUM_SUFFIX);
    PathBuf::from(name)
}

/// Writes `<file>.sha256` in `sha256sum` format (`sha256sum -c` checks it).
pub(crate) fn write_checksum(model: &Path, sha256: &str) -> std::io::Result<()> {
    let file_name = model.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    write_atomically(
        &checksum_path(model),
        format!("{sha256}  {file_name}\n").as_bytes(),
    )
}

/// The recorded sha256 of `model`, if its record exists and is not older than the file.
fn read_checksum(model: &Path, meta: &fs::Metadata) -> Option<String> {
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
fn readable_by_all(file: &File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

fn sync_dir_blocking(dir: &Path) {
    if let Err(err) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(error = %err, "cannot sync the models folder");
    }
}

fn read_imported(dir: &Path) -> Result<Vec<ModelEntry>, EngineError> {
    let path = dir.join(IMPORTED_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(catalog::parse_entries(
            &text,
            &path.display().to_string(),
            FileKind::Imported,
        )?),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(EngineError::io("read", path)(err)),
    }
}

/// Read-modify-write of imported.toml under a lock, so that a CLI import and a running server
/// do not lose each other's changes.
fn update_imported(dir: &Path, change: impl FnOnce(&mut Vec<ModelEntry>)) -> Result<(), EngineError> {
    let lock_path = dir.join(format!(".{IMPORTED_FILE}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(EngineError::io("open", &lock_path))?;
    lock.lock().map_err(EngineError::io("lock", &lock_path))?;
    let mut entries = read_imported(dir)?;
    change(&mut entries);
    let path = dir.join(IMPORTED_FILE);
    let text = render_imported(&entries)
        .map_err(|err| EngineError::io("write", &path)(std::io::Error::other(err)))?;
    write_atomically(&path, text.as_bytes()).map_err(EngineError::io("write", &path))?;
    drop(lock);
    Ok(())
}

#[derive(Serialize)]
struct ImportedFile<'a> {
    model: Vec<ImportedRecord<'a>>,
}

#[derive(Serialize)]
struct ImportedRecord<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<ModelRole>,
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

fn render_imported(entries: &[ModelEntry]) -> Result<String, toml::ser::Error> {
    let file = ImportedFile {
        model: entries
            .iter()
            .map(|e| ImportedRecord {
                name: &e.name,
                role: e.role,
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
        "# Models brought in with `agentbox models import`, in the models.toml format.\n\
         # agentbox rewrites this file on import and rm; edit role, context_size, gpu_layers or\n\
         # chat_template here if you need to.\n\n{body}"
    ))
}

#[cfg(test)]
mod tests;
