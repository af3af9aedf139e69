//! The model catalog, `models.toml`: which GGUF file serves each role (`fast`, `reasoning`,
//! `code`, `embedding`), where it comes from, its sha256, and how to run it. Users add entries;
//! a bad entry is reported with its line and what is wrong with it.
//!
//! When the configured file does not exist, the catalog built into the binary (the repository's
//! `models.toml`) is used, so a bare binary or a container image knows the default models.

mod check;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub(crate) use check::{ParsedFile, parse_entries, parse_file};
pub use check::{check_file_name, check_name, normalize_sha256};

/// The catalog shipped inside the binary.
const BUILT_IN: &str = include_str!("../../models.toml");

/// What a model is used for. Agents name a role; the catalog says which model plays it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ModelRole {
    Fast,
    Reasoning,
    Code,
    Embedding,
}

impl ModelRole {
    pub const ALL: [ModelRole; 4] = [Self::Fast, Self::Reasoning, Self::Code, Self::Embedding];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fast => "fast",
            Self::Reasoning => "reasoning",
            Self::Code => "code",
            Self::Embedding => "embedding",
        }
    }
}

impl fmt::Display for ModelRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelRole {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| format!("unknown role {text:?} (expected fast, reasoning, code or embedding)"))
    }
}

/// Default sampling settings of a model; requests may override them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sampling {
    pub temperature: f32,
    pub top_p: f32,
    /// 0 turns top-k off.
    pub top_k: u32,
    pub min_p: f32,
    /// 1.0 turns the penalty off.
    pub repeat_penalty: f32,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_p: 0.95,
            top_k: 40,
            min_p: 0.05,
            repeat_penalty: 1.0,
        }
    }
}

pub const DEFAULT_CONTEXT_SIZE: u32 = 4096;
/// More layers than any model has: everything the GPU can take is offloaded.
pub const DEFAULT_GPU_LAYERS: u32 = 999;

/// One model: a catalog entry, or a file imported with `agentbox models import`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelEntry {
    pub name: String,
    pub role: Option<ModelRole>,
    /// Where `models pull` downloads it from (an https URL); `None` for imported files.
    pub source: Option<String>,
    /// Lower-case hex; `None` when the catalog does not know it.
    pub sha256: Option<String>,
    /// File name inside the models folder.
    pub file: String,
    pub size_bytes: Option<u64>,
    pub context_size: u32,
    pub gpu_layers: u32,
    /// Jinja chat template that replaces the GGUF's `tokenizer.chat_template`.
    pub chat_template: Option<String>,
    pub sampling: Sampling,
    /// Preferred for its role over other entries with the same role.
    pub default: bool,
    /// For imported files: the path they were imported from.
    pub imported_from: Option<String>,
    /// Line of the entry in its file (for messages).
    #[serde(skip)]
    pub line: usize,
}

/// Where a catalog came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogOrigin {
    File(PathBuf),
    /// The configured file does not exist: the copy built into the binary.
    BuiltIn {
        missing: PathBuf,
    },
}

impl fmt::Display for CatalogOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogOrigin::File(path) => write!(f, "{}", path.display()),
            CatalogOrigin::BuiltIn { missing } => {
                write!(f, "the built-in catalog ({} does not exist)", missing.display())
            }
        }
    }
}

/// A catalog file that cannot be used, with every problem found and its line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct CatalogError {
    pub file: String,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Which kind of file is parsed: the catalog, or the record of imported files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Catalog,
    Imported,
}

/// The parsed catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub origin: CatalogOrigin,
    entries: Vec<ModelEntry>,
}

impl Catalog {
    /// Reads `path`, or the built-in catalog when that file does not exist.
    pub fn load(path: &Path) -> Result<Self, CatalogError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self {
                entries: parse_entries(&text, &path.display().to_string(), FileKind::Catalog)?,
                origin: CatalogOrigin::File(path.to_owned()),
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self {
                entries: parse_entries(BUILT_IN, "built-in models.toml", FileKind::Catalog)?,
                origin: CatalogOrigin::BuiltIn {
                    missing: path.to_owned(),
                },
            }),
            Err(err) => Err(CatalogError {
                file: path.display().to_string(),
                problems: vec![Problem {
                    line: None,
                    message: format!("cannot read it: {err}"),
                }],
            }),
        }
    }

    /// Parses catalog text; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<Self, CatalogError> {
        Ok(Self {
            entries: parse_entries(text, file, FileKind::Catalog)?,
            origin: CatalogOrigin::File(PathBuf::from(file)),
        })
    }

    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    /// The entry named `name` (ASCII case-insensitive).
    pub fn by_name(&self, name: &str) -> Option<&ModelEntry> {
        self.entries
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name.trim()))
    }

    /// The model that plays `role`: the entry marked `default = true`, else the first one.
    pub fn for_role(&self, role: ModelRole) -> Option<&ModelEntry> {
        let mut candidates = self.entries.iter().filter(|e| e.role == Some(role));
        let first = candidates.clone().next();
        candidates.find(|e| e.default).or(first)
    }
}

#[cfg(test)]
mod tests;
