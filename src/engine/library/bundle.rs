//! Model bundles for air-gapped machines (`agentbox bundle export|import`): one tar file with
//! `manifest.json` first (each model's name, role, file, size and sha256), then
//! `models/<file>` for each model. Models compress poorly, so the tar is not compressed.
//!
//! An import stages every model in a temporary folder inside the models folder while hashing
//! it, and brings none in unless every file matches the manifest; each is then imported like
//! `agentbox models import` (GGUF checked, catalog model recognised, or recorded with its role).

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::records::{read_checksum, sync_dir_blocking};
use super::{Imported, Library};
use crate::engine::EngineError;
use crate::engine::catalog::ModelRole;

pub const BUNDLE_FORMAT: &str = "agentbox-model-bundle";
const BUNDLE_VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
const MODELS_PREFIX: &str = "models/";
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// A bundle's table of contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleManifest {
    pub format: String,
    pub format_version: u32,
    pub agentbox_version: String,
    pub created_at: String,
    pub models: Vec<BundleModel>,
}

/// One model in a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleModel {
    pub name: String,
    /// The first of `roles` (bundles made before a model could play several roles have only this).
    pub role: Option<ModelRole>,
    /// Every role it plays in the bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<ModelRole>,
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

impl Library {
    /// Writes the models that play `roles` (every role whose model is present when empty)
    /// into a bundle at `out`, through a temporary file renamed when complete. `advance` is
    /// told how many bytes were written.
    pub fn export_bundle(
        &self,
        out: &Path,
        roles: &[ModelRole],
        advance: &dyn Fn(u64),
    ) -> Result<BundleManifest, EngineError> {
        let models = self.bundle_models(roles)?;
        let manifest = BundleManifest {
            format: BUNDLE_FORMAT.to_owned(),
            format_version: BUNDLE_VERSION,
            agentbox_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            models,
        };
        let dir = match out.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".agentbox-bundle-")
            .tempfile_in(&dir)
            .map_err(EngineError::io("create a temporary file in", &dir))?;
        let mut tar = tar::Builder::new(BufWriter::new(
            temp.as_file()
                .try_clone()
                .map_err(EngineError::io("write", temp.path()))?,
        ));
        let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(json.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, MANIFEST, json.as_slice())
            .map_err(EngineError::io("write", out))?;
        for model in &manifest.models {
            let path = self.dir.join(&model.file);
            let file = File::open(&path).map_err(EngineError::io("read", &path))?;
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(model.bytes);
            header.set_mode(0o644);
            let mut hashing = Hashing::new(BufReader::new(file).take(model.bytes), advance);
            tar.append_data(
                &mut header,
                format!("{MODELS_PREFIX}{}", model.file),
                &mut hashing,
            )
            .map_err(EngineError::io("write", out))?;
            let (bytes, sha256) = hashing.finish();
            if bytes != model.bytes || sha256 != model.sha256 {
                return Err(EngineError::Refused(format!(
                    "{} changed while it was being exported; export again",
                    path.display()
                )));
            }
        }
        let buffered = tar.into_inner().map_err(EngineError::io("write", out))?;
        let file = buffered
            .into_inner()
            .map_err(|err| EngineError::io("write", out)(err.into_error()))?;
        file.sync_all().map_err(EngineError::io("write", out))?;
        temp.persist(out)
            .map_err(|err| EngineError::io("rename into", out)(err.error))?;
        Ok(manifest)
    }

    /// The models a bundle of `roles` carries, each once, with its size and sha256 (the
    /// recorded one when it is current, else computed).
    fn bundle_models(&self, roles: &[ModelRole]) -> Result<Vec<BundleModel>, EngineError> {
        let explicit = !roles.is_empty();
        let roles: Vec<ModelRole> = if explicit {
            roles.to_vec()
        } else {
            ModelRole::ALL.to_vec()
        };
        let mut models: Vec<BundleModel> = Vec::new();
        for role in roles {
            let entry = match self.for_role(role) {
                Some(entry) if self.is_present(entry) => entry,
                Some(entry) if explicit => {
                    return Err(EngineError::Refused(format!(
                        "the {role} model `{}` is not present; pull it first (agentbox models pull {role})",
                        entry.name
                    )));
                }
                None if explicit => {
                    return Err(EngineError::Refused(format!("no model plays the {role} role")));
                }
                _ => continue,
            };
            if let Some(model) = models.iter_mut().find(|m| m.file == entry.file) {
                model.roles.push(role);
                continue;
            }
            let path = self.path_of(entry);
            let meta = fs::metadata(&path).map_err(EngineError::io("read", &path))?;
            let sha256 = read_checksum(&path, &meta).map_or_else(|| hash_file(&path), Ok)?;
            models.push(BundleModel {
                name: entry.name.clone(),
                role: Some(role),
                roles: vec![role],
                file: entry.file.clone(),
                bytes: meta.len(),
                sha256,
            });
        }
        if models.is_empty() {
            return Err(EngineError::Refused(
                "no model is present to export; pull the models first (agentbox models pull ROLE)".into(),
            ));
        }
        Ok(models)
    }

    /// Checks a bundle and imports its models: every file is staged and checked against the
    /// manifest first, and nothing is imported unless all of them match.
    pub fn import_bundle(&self, bundle: &Path, advance: &dyn Fn(u64)) -> Result<Vec<Imported>, EngineError> {
        let damaged = |reason: String| {
            EngineError::Refused(format!(
                "{} is damaged or is not an agentbox model bundle ({reason}); nothing was imported",
                bundle.display()
            ))
        };
        fs::create_dir_all(&self.dir).map_err(EngineError::io("create", &self.dir))?;
        let staging = tempfile::Builder::new()
            .prefix(".bundle-")
            .tempdir_in(&self.dir)
            .map_err(EngineError::io("create a temporary folder in", &self.dir))?;
        let file = File::open(bundle).map_err(EngineError::io("read", bundle))?;
        let mut archive = tar::Archive::new(BufReader::new(file));
        let mut manifest: Option<BundleManifest> = None;
        let mut staged = Vec::new();
        for entry in archive.entries().map_err(|err| damaged(err.to_string()))? {
            let mut entry = entry.map_err(|err| damaged(err.to_string()))?;
            let name = entry
                .path()
                .map_err(|err| damaged(err.to_string()))?
                .to_str()
                .ok_or_else(|| damaged("an entry's name is not UTF-8".into()))?
                .to_owned();
            if entry.header().entry_type() != tar::EntryType::Regular {
                return Err(damaged(format!("{name} is not a plain file")));
            }
            let Some(manifest) = manifest.as_ref() else {
                if name != MANIFEST {
                    return Err(damaged(format!("it does not start with {MANIFEST}")));
                }
                let mut json = Vec::new();
                (&mut entry)
                    .take(MAX_MANIFEST_BYTES)
                    .read_to_end(&mut json)
                    .map_err(|err| damaged(err.to_string()))?;
                let parsed: BundleManifest =
                    serde_json::from_slice(&json).map_err(|err| damaged(format!("{MANIFEST}: {err}")))?;
                if parsed.format != BUNDLE_FORMAT || parsed.format_version > BUNDLE_VERSION {
                    return Err(damaged(format!(
                        "format {:?} version {}",
                        parsed.format, parsed.format_version
                    )));
                }
                manifest = Some(parsed);
                continue;
            };
            let file_name = name
                .strip_prefix(MODELS_PREFIX)
                .filter(|f| plain_file_name(f))
                .ok_or_else(|| damaged(format!("unexpected entry {name:?}")))?;
            let model = manifest
                .models
                .iter()
                .find(|m| m.file == file_name)
                .ok_or_else(|| damaged(format!("{name} is not in the manifest")))?;
            let target = staging.path().join(file_name);
            let output = File::create(&target).map_err(EngineError::io("write", &target))?;
            let mut writer = BufWriter::new(output);
            let mut hashing = Hashing::new(&mut entry, advance);
            std::io::copy(&mut hashing, &mut writer).map_err(|err| damaged(err.to_string()))?;
            writer.flush().map_err(EngineError::io("write", &target))?;
            let (bytes, sha256) = hashing.finish();
            if bytes != model.bytes || sha256 != model.sha256 {
                return Err(damaged(format!(
                    "{file_name} does not match its sha256 in the manifest"
                )));
            }
            let roles = if model.roles.is_empty() {
                model.role.into_iter().collect()
            } else {
                model.roles.clone()
            };
            staged.push((target, roles));
        }
        let manifest = manifest.ok_or_else(|| damaged(format!("it has no {MANIFEST}")))?;
        if staged.len() != manifest.models.len() {
            return Err(damaged(format!(
                "the manifest lists {} models, the bundle holds {}",
                manifest.models.len(),
                staged.len()
            )));
        }
        let mut imported = Vec::new();
        // Each import updates imported.toml on disk itself; the models have distinct files, so
        // this library's view of the earlier imports needs no refresh in between.
        for (path, roles) in staged {
            imported.push(self.import(&path, &roles)?);
        }
        sync_dir_blocking(&self.dir);
        Ok(imported)
    }
}

/// The sha256 of a whole file.
fn hash_file(path: &Path) -> Result<String, EngineError> {
    let file = File::open(path).map_err(EngineError::io("read", path))?;
    let mut hashing = Hashing::new(BufReader::new(file), &|_| {});
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(EngineError::io("read", path))?;
    Ok(hashing.finish().1)
}

/// A file name with no folder in it (bundles put every model straight in `models/`).
fn plain_file_name(name: &str) -> bool {
    let mut components = Path::new(name).components();
    matches!(components.next(), Some(Component::Normal(_))) && components.next().is_none()
}

/// Hashes and counts what passes through, telling `advance`.
struct Hashing<'a, R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    advance: &'a dyn Fn(u64),
}

impl<'a, R: Read> Hashing<'a, R> {
    fn new(inner: R, advance: &'a dyn Fn(u64)) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            advance,
        }
    }

    fn finish(self) -> (u64, String) {
        (self.bytes, hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.bytes += read as u64;
        (self.advance)(read as u64);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_entries_name_plain_files() {
        assert!(plain_file_name("model.gguf"));
        assert!(!plain_file_name("../model.gguf"));
        assert!(!plain_file_name("sub/model.gguf"));
        assert!(!plain_file_name("/model.gguf"));
        assert!(!plain_file_name(""));
    }
}
