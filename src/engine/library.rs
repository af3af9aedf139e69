//! The model files on disk: what the catalog and the imports name, what is present, partial or
//! missing, and the operations on them (pull, import, remove).
//!
//! Layout of the models folder:
//! - `<file>` — a model, only ever created by an atomic rename of a complete, checked file;
//! - `<file>.part` — a download in progress (resumed by the next pull);
//! - `<file>.sha256` — `sha256sum` format, written when the file was downloaded or imported and
//!   its hash computed; a file newer than its record is not counted as verified;
//! - `imported.toml` — the models brought in with `agentbox models import` that the catalog does
//!   not know (the same `[[model]]` format as `models.toml`, without `source`), and `[roles]`:
//!   the roles given to models explicitly (`--role` on import, `agentbox models role`, the
//!   Models page).
//!
//! Roles are a mapping, not a property of a file: one model may play several roles. A role
//! plays through the model it was given to (while that model exists, and for an imported one,
//! while its file is present); a role given to no model is played by the catalog's model for
//! it. Giving a role to a model never takes another role away from it.

mod bundle;
mod import;
mod records;
mod roles;

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::EngineError;
use super::catalog::{Catalog, ModelEntry, ModelRole};
use super::download::{self, Downloaded, Progress};
pub use bundle::{BUNDLE_FORMAT, BundleManifest, BundleModel};
use records::{
    Imports, checksum_path, read_checksum, read_imported, sync_dir_blocking, update_imported, write_checksum,
};
pub use roles::{RoleChange, RoleMove};

/// The record of imported models inside the models folder.
pub const IMPORTED_FILE: &str = "imported.toml";
/// Imported models get at most this much context unless their entry is edited.
const IMPORT_MAX_CONTEXT: u64 = 8192;

/// Where a listed model comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = ModelOrigin)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Catalog,
    Imported,
    /// A GGUF file in the models folder that nothing names.
    Unlisted,
}

/// Whether a model's file is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = ModelFileState)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    Present,
    /// A download was started and is not finished (`<file>.part`).
    Partial,
    Missing,
}

/// One model as `models list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ModelInfo {
    pub name: String,
    /// The roles this model plays now: those given to it, and its catalog role unless that
    /// was given to another model.
    pub roles: Vec<ModelRole>,
    /// The roles given to it explicitly (import `--role`, `models role`, the Models page):
    /// the ones that can be taken back. The others it plays as the catalog's model.
    pub given_roles: Vec<ModelRole>,
    /// The role the catalog names it for (catalog models), played or not.
    pub catalog_role: Option<ModelRole>,
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

impl ModelInfo {
    /// The role it is best known for: the first it plays, else its catalog role.
    pub fn main_role(&self) -> Option<ModelRole> {
        self.roles.first().copied().or(self.catalog_role)
    }
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
    /// The roles it plays after the import.
    pub roles: Vec<ModelRole>,
    /// Roles the import gave it that another model played before.
    pub moved: Vec<RoleMove>,
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
    /// Roles that had been given to it: they go back to the catalog's models.
    pub released: Vec<RoleMove>,
}

/// The catalog, the imported models, and the folder that holds their files.
#[derive(Debug, Clone)]
pub struct Library {
    dir: PathBuf,
    catalog: Catalog,
    imported: Vec<ModelEntry>,
    /// Roles given to models explicitly: role → model name.
    given: BTreeMap<ModelRole, String>,
}

impl Library {
    /// Reads the catalog and the record of imported models (blocking file I/O).
    pub fn open(models_dir: &Path, models_file: &Path) -> Result<Self, EngineError> {
        Self::open_with(models_dir, Catalog::load(models_file)?)
    }

    /// `catalog` with imported.toml read again (after a change on disk).
    fn open_with(models_dir: &Path, catalog: Catalog) -> Result<Self, EngineError> {
        let Imports { models, roles } = read_imported(models_dir)?;
        Ok(Self {
            dir: models_dir.to_owned(),
            catalog,
            imported: models,
            given: roles,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Every named model: imported ones first (the latest first), then the catalog's.
    pub fn entries(&self) -> impl Iterator<Item = &ModelEntry> {
        self.imported.iter().rev().chain(self.catalog.entries())
    }

    pub fn path_of(&self, entry: &ModelEntry) -> PathBuf {
        self.dir.join(&entry.file)
    }

    pub fn is_present(&self, entry: &ModelEntry) -> bool {
        self.path_of(entry).is_file()
    }

    /// The model that plays `role`: the one it was given to — while that model exists, and
    /// for an imported one while its file is present — else the catalog's.
    pub fn for_role(&self, role: ModelRole) -> Option<&ModelEntry> {
        self.given
            .get(&role)
            .and_then(|name| self.by_name(name))
            .filter(|entry| self.is_catalog(entry) || self.is_present(entry))
            .or_else(|| self.catalog.for_role(role))
    }

    /// The entry is the catalog's (not an import).
    pub fn is_catalog(&self, entry: &ModelEntry) -> bool {
        self.catalog.by_name(&entry.name).is_some()
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
            roles: self.roles_of(&entry.name),
            given_roles: self.given_roles_of(&entry.name),
            catalog_role: entry.role,
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
                roles: Vec::new(),
                given_roles: Vec::new(),
                catalog_role: None,
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

    /// Deletes a model's file, partial download and checksum record; an imported model also
    /// leaves imported.toml, and the roles given to the model go back to the catalog's models.
    /// Roles are not accepted: removal names the model.
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
        // Who plays the given roles once it is gone (worked out while its file is still there).
        let given = self.given_roles_of(&entry_name);
        let mut after = self.clone();
        after.imported.retain(|e| e.name != entry_name);
        after
            .given
            .retain(|_, player| !player.eq_ignore_ascii_case(&entry_name));
        let released = self.moves(&after, &given);
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
        if imported || !given.is_empty() {
            update_imported(&self.dir, |imports| {
                imports.models.retain(|e| e.name != entry_name);
                imports
                    .roles
                    .retain(|_, player| !player.eq_ignore_ascii_case(&entry_name));
            })?;
        }
        sync_dir_blocking(&self.dir);
        Ok(Removed {
            name: entry_name,
            deleted,
            released,
        })
    }
}

#[cfg(test)]
mod tests;
