use std::path::PathBuf;

use super::catalog::CatalogError;
use super::gguf::GgufError;

/// Errors of the engine layer: the model catalog, model files on disk, downloads and (later)
/// inference. `http/error.rs` maps them to status codes; the CLI prints them as one line.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// `models.toml` (or `imported.toml`) is malformed; the message names the line.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("unknown model `{name}` (known: {known})")]
    UnknownModel { name: String, known: String },
    #[error("{} is not a usable GGUF model: {reason}", path.display())]
    InvalidGguf { path: PathBuf, reason: GgufError },
    #[error(
        "`{name}` has no sha256 in the catalog, so its download cannot be verified; add its sha256 \
         to the catalog, or pull it with --allow-unverified (API: ?allow_unverified=true)"
    )]
    Unverified { name: String },
    #[error(
        "the download of `{name}` has sha256 {actual}, but the catalog expects {expected}; the partial file was deleted"
    )]
    ChecksumMismatch {
        name: String,
        expected: String,
        actual: String,
    },
    #[error(
        "the download of `{name}` is {actual} bytes, but the catalog expects {expected}; the partial file was deleted"
    )]
    SizeMismatch {
        name: String,
        expected: u64,
        actual: u64,
    },
    #[error("cannot download `{name}` from {url}: {message}")]
    Download {
        name: String,
        url: String,
        message: String,
    },
    #[error("cannot set up HTTP downloads: {0}")]
    HttpClient(String),
    #[error("`{name}` is being downloaded by another agentbox process (its {} is locked)", part.display())]
    PullLocked { name: String, part: PathBuf },
    #[error("the download of `{name}` was cancelled; run the pull again to resume it")]
    Cancelled { name: String },
    /// An import or removal that the caller must change (a name clash, a role that contradicts the catalog).
    #[error("{0}")]
    Refused(String),
    /// A change of roles that cannot be made as asked (taking back a role the model plays as
    /// the catalog's model, giving roles to a model whose file is gone).
    #[error("{0}")]
    RoleRefused(String),
    // Inference (added provisionally from the uses in engine/llama*.rs; the inference work owns
    // their final shape and messages).
    #[error("model file missing: {0}")]
    ModelMissing(String),
    #[error("cannot load the model: {0}")]
    Load(String),
    #[error("model `{model}` needs {needed} bytes, over the memory budget of {budget} bytes")]
    OverBudget { model: String, needed: u64, budget: u64 },
    #[error("the prompt has {prompt_tokens} tokens, but the context holds {context}")]
    ContextOverflow { prompt_tokens: usize, context: usize },
    #[error("{0}")]
    InvalidRequest(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("generation failed: {0}")]
    Decode(String),
    #[error("{0}")]
    InvalidOutput(String),
    /// An external provider answered with an error (bad key, unknown model, refused request).
    #[error("provider `{provider}` refused the request: {message}")]
    Provider { provider: String, message: String },
    /// An external provider could not be reached or broke off (the router falls back).
    #[error("provider `{provider}` is unavailable: {message}")]
    ProviderUnavailable { provider: String, message: String },
    /// No embedding model is configured, or its file is not there (yet).
    #[error("semantic search and embeddings are unavailable: {0}")]
    EmbeddingsUnavailable(String),
    /// The configured embedding model cannot be used as one.
    #[error("{} is not a usable embedding model: {reason}", path.display())]
    EmbeddingModel { path: PathBuf, reason: String },
    #[error("embedding failed: {0}")]
    Embedding(String),
    // The cause is part of the message (API bodies show only the message), so it is not also
    // a `source`: one-line error chains would repeat it.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
}

impl EngineError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |cause| EngineError::Io { action, path, cause }
    }

    /// True when the caller must change what they asked for (exit code 2, HTTP 4xx); false for
    /// failures of the machine or the network (exit code 1, HTTP 5xx).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            EngineError::Catalog(_)
                | EngineError::UnknownModel { .. }
                | EngineError::InvalidGguf { .. }
                | EngineError::Unverified { .. }
                | EngineError::Refused(_)
                | EngineError::RoleRefused(_)
        )
    }
}
