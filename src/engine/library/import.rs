//! `agentbox models import`: a local GGUF file is validated, hashed, copied into the models
//! folder through a temporary file, and either recognised as a catalog model or recorded in
//! imported.toml.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::records::{read_checksum, readable_by_all, sync_dir_blocking, update_imported, write_checksum};
use super::{IMPORT_MAX_CONTEXT, Imported, Library};
use crate::engine::catalog::{self, ModelEntry, ModelRole};
use crate::engine::{EngineError, gguf};

impl Library {
    /// Brings a local GGUF file into the models folder (blocking: it validates, hashes and copies
    /// the whole file). A file the catalog knows (by sha256, or by file name when the catalog has
    /// no sha256 for it) becomes that catalog model; any other file is recorded in imported.toml
    /// under its file name. Either way the model is given `roles` on top of those it plays
    /// already (an import again with another role adds that role).
    pub fn import(&self, source: &Path, roles: &[ModelRole]) -> Result<Imported, EngineError> {
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
        let known = self.identify(source, &source_name, &sha256)?;

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
            record_import(&self.dir, &name, &file, &sha256, bytes, context, source)?;
        }
        // The library as it is now on disk: the model exists (and is present) for the roles.
        let now = Library::open_with(&self.dir, self.catalog.clone())?;
        let change = now.change_roles(&name, roles, &[])?;
        Ok(Imported {
            roles: change.roles,
            moved: change.moved,
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
        if known.is_none()
            && let Some(entry) = entries.iter().find(|e| e.file == source_name)
        {
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
}

/// Adds (or replaces) an imported model in imported.toml.
#[allow(clippy::too_many_arguments)]
fn record_import(
    dir: &Path,
    name: &str,
    file: &str,
    sha256: &str,
    bytes: u64,
    context: u64,
    source: &Path,
) -> Result<(), EngineError> {
    let record = ModelEntry {
        name: name.to_owned(),
        role: None,
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
    update_imported(dir, |imports| {
        imports
            .models
            .retain(|e| !e.name.eq_ignore_ascii_case(&record.name));
        imports.models.push(record);
    })
}

/// A model name and file name for an imported file: its file name, made safe.
pub(super) fn imported_name(source_name: &str) -> (String, String) {
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
