//! Which embedding model the platform uses (`embeddings.model`), loaded on first need and kept.
//! A missing file is not an error of the platform: search answers 503 until the model is there
//! (e.g. until the background pull of the catalog's `embedding` role finishes).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::Mutex;

use crate::config::Settings;
use crate::engine::EngineError;
use crate::engine::embed::{Embedder, EmbedderOptions};
use crate::engine::library::Library;

/// `embeddings.model` value that turns embeddings off.
const OFF: &str = "off";

#[derive(Debug, Default)]
struct Slot {
    embedder: Option<Embedder>,
    /// The last load that failed, and the file's modification time then: not retried until the
    /// file changes, so a broken model is not re-read on every request.
    failed: Option<(PathBuf, Option<SystemTime>)>,
}

/// A clonable handle to the platform's embedding model.
#[derive(Debug, Clone)]
pub struct EmbeddingModel {
    setting: Option<String>,
    models_dir: PathBuf,
    models_file: PathBuf,
    slot: Arc<Mutex<Slot>>,
}

fn unavailable(message: impl Into<String>) -> EngineError {
    EngineError::EmbeddingsUnavailable(message.into())
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl EmbeddingModel {
    pub fn new(settings: &Settings) -> Self {
        Self {
            setting: settings.embeddings_model.clone(),
            models_dir: settings.models_dir.clone(),
            models_file: settings.models_file.clone(),
            slot: Arc::default(),
        }
    }

    /// The loaded model, loading it first when needed.
    pub async fn get(&self) -> Result<Embedder, EngineError> {
        let mut slot = self.slot.lock().await;
        if let Some(embedder) = &slot.embedder {
            return Ok(embedder.clone());
        }
        let (path, name) = self.resolve().await?;
        if let Some((failed_path, when)) = &slot.failed
            && *failed_path == path
            && *when == modified(&path)
        {
            return Err(unavailable(
                "the embedding model could not be loaded; the server log says why",
            ));
        }
        let options = EmbedderOptions {
            name: Some(name),
            ..EmbedderOptions::default()
        };
        match Embedder::load(&path, options).await {
            Ok(embedder) => {
                tracing::info!(model = embedder.model_name(), dims = embedder.dims(),
                    backend = ?embedder.info().backend, "embedding model loaded");
                slot.embedder = Some(embedder.clone());
                slot.failed = None;
                Ok(embedder)
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot load the embedding model");
                slot.failed = Some((path.clone(), modified(&path)));
                Err(unavailable(
                    "the embedding model could not be loaded; the server log says why",
                ))
            }
        }
    }

    /// Loads the model in the background so the first search does not wait for it.
    pub fn preload(&self) {
        let model = self.clone();
        tokio::spawn(async move {
            if let Err(err) = model.get().await {
                tracing::debug!(error = %err, "no embedding model yet");
            }
        });
    }

    /// The model's path and name: a path as given, or a catalog name or role.
    async fn resolve(&self) -> Result<(PathBuf, String), EngineError> {
        let value = match self.setting.as_deref().map(str::trim) {
            None | Some("") => {
                return Err(unavailable("no embedding model is configured (embeddings.model)"));
            }
            Some(v) if v.eq_ignore_ascii_case(OFF) => {
                return Err(unavailable(
                    "embeddings are turned off (embeddings.model = \"off\")",
                ));
            }
            Some(v) => v.to_owned(),
        };
        let as_path = PathBuf::from(&value);
        if value.contains(std::path::MAIN_SEPARATOR)
            || Path::new(&value)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
            || as_path.exists()
        {
            if !as_path.exists() {
                return Err(unavailable(format!(
                    "embeddings.model names {value}, which does not exist"
                )));
            }
            let name = as_path
                .file_stem()
                .map_or_else(|| value.clone(), |s| s.to_string_lossy().into_owned());
            return Ok((as_path, name));
        }
        let (dir, file) = (self.models_dir.clone(), self.models_file.clone());
        let found = tokio::task::spawn_blocking(move || {
            let library = Library::open(&dir, &file)?;
            let entry = library.find(&value)?;
            Ok::<_, EngineError>((
                library.path_of(entry),
                entry.name.clone(),
                library.is_present(entry),
            ))
        })
        .await
        .map_err(|err| EngineError::Embedding(format!("catalog lookup failed: {err}")))?;
        let (path, name, present) = found.map_err(|err| match err {
            EngineError::UnknownModel { name, .. } => unavailable(format!(
                "embeddings.model names `{name}`, which is neither a file nor a model of the catalog"
            )),
            other => other,
        })?;
        if !present {
            return Err(unavailable(format!(
                "the embedding model `{name}` is not downloaded yet (agentbox models pull {name})"
            )));
        }
        Ok((path, name))
    }
}
