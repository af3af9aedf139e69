//! The model catalog, `models.toml`: which GGUF file serves each role (`fast`, `reasoning`,
//! `code`, `embedding`), where it comes from, its sha256, and how to run it. Users add entries;
//! a bad entry is reported with its line and what is wrong with it.
//!
//! When the configured file does not exist, the catalog built into the binary (the repository's
//! `models.toml`) is used, so a bare binary or a container image knows the default models.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The catalog shipped inside the binary.
const BUILT_IN: &str = include_str!("../../models.toml");

/// What a model is used for. Agents name a role; the catalog says which model plays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

/// Turns a byte offset into a 1-based line number.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    model: Vec<Spanned<RawEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: Option<Spanned<String>>,
    role: Option<Spanned<String>>,
    source: Option<Spanned<String>>,
    sha256: Option<Spanned<String>>,
    file: Option<Spanned<String>>,
    size_bytes: Option<Spanned<u64>>,
    context_size: Option<Spanned<u32>>,
    gpu_layers: Option<Spanned<u32>>,
    chat_template: Option<Spanned<String>>,
    default: Option<Spanned<bool>>,
    sampling: Option<Spanned<RawSampling>>,
    imported_from: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSampling {
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u32>,
    min_p: Option<f64>,
    repeat_penalty: Option<f64>,
}

/// Collects the problems of one file.
struct Checker<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn at(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let line = line_of(self.text, span.start);
        self.problems.push(Problem {
            line: Some(line),
            message: message.into(),
        });
    }
}

pub(crate) fn parse_entries(text: &str, file: &str, kind: FileKind) -> Result<Vec<ModelEntry>, CatalogError> {
    let raw: RawFile = toml::from_str(text).map_err(|err| CatalogError {
        file: file.to_owned(),
        problems: vec![Problem {
            line: err.span().map(|span| line_of(text, span.start)),
            message: err.message().trim().replace('\n', " "),
        }],
    })?;
    let mut checker = Checker {
        text,
        problems: Vec::new(),
    };
    let mut entries = Vec::with_capacity(raw.model.len());
    for spanned in raw.model {
        let span = spanned.span();
        if let Some(entry) = check_entry(&mut checker, spanned.into_inner(), span, kind) {
            entries.push(entry);
        }
    }
    check_unique(&mut checker, &entries);
    if checker.problems.is_empty() {
        Ok(entries)
    } else {
        Err(CatalogError {
            file: file.to_owned(),
            problems: checker.problems,
        })
    }
}

fn check_unique(checker: &mut Checker<'_>, entries: &[ModelEntry]) {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut files: HashMap<&str, &ModelEntry> = HashMap::new();
    let mut defaults: HashMap<ModelRole, usize> = HashMap::new();
    for entry in entries {
        let problem = |message: String| Problem {
            line: Some(entry.line),
            message,
        };
        if let Some(first) = names.insert(entry.name.to_ascii_lowercase(), entry.line) {
            checker.problems.push(problem(format!(
                "duplicate model name `{}` (first defined on line {first})",
                entry.name
            )));
        }
        if let Some(other) = files.insert(entry.file.as_str(), entry) {
            checker.problems.push(problem(format!(
                "file {:?} is already used by model `{}` (line {})",
                entry.file, other.name, other.line
            )));
        }
        if let (true, Some(role)) = (entry.default, entry.role)
            && let Some(first) = defaults.insert(role, entry.line)
        {
            checker.problems.push(problem(format!(
                "a second `default = true` for role {role} (the first is on line {first})"
            )));
        }
    }
}

/// Validates one entry; problems go to `checker`, and `None` is returned when any were found.
#[allow(clippy::too_many_lines)]
fn check_entry(
    checker: &mut Checker<'_>,
    raw: RawEntry,
    span: Range<usize>,
    kind: FileKind,
) -> Option<ModelEntry> {
    let before = checker.problems.len();
    let line = line_of(checker.text, span.start);
    let label = raw
        .name
        .as_ref()
        .map_or_else(|| "this model".to_owned(), |n| format!("model `{}`", n.get_ref()));
    let missing = |checker: &mut Checker<'_>, field: &str| {
        checker.at(&span, format!("{label} has no `{field}`"));
    };

    let name = match raw.name {
        None => {
            missing(checker, "name");
            None
        }
        Some(name) => match check_name(name.get_ref()) {
            Ok(()) => Some(name.into_inner()),
            Err(message) => {
                checker.at(&name.span(), message);
                None
            }
        },
    };
    let role = match (raw.role, kind) {
        (None, FileKind::Catalog) => {
            missing(checker, "role");
            None
        }
        (None, FileKind::Imported) => None,
        (Some(role), _) => match role.get_ref().parse::<ModelRole>() {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                checker.at(&role.span(), message);
                None
            }
        },
    };
    let source = match (raw.source, kind) {
        (None, FileKind::Catalog) => {
            missing(checker, "source");
            None
        }
        (None, FileKind::Imported) => None,
        (Some(source), _) => match check_source(source.get_ref()) {
            Ok(()) => Some(source.into_inner()),
            Err(message) => {
                checker.at(&source.span(), message);
                None
            }
        },
    };
    let sha256 = raw.sha256.and_then(|sha| match normalize_sha256(sha.get_ref()) {
        Ok(hex) => Some(hex),
        Err(message) => {
            checker.at(&sha.span(), message);
            None
        }
    });
    let file = match raw.file {
        None => {
            missing(checker, "file");
            None
        }
        Some(file) => match check_file_name(file.get_ref()) {
            Ok(()) => Some(file.into_inner()),
            Err(message) => {
                checker.at(&file.span(), message);
                None
            }
        },
    };
    let size_bytes = raw.size_bytes.and_then(|size| {
        if *size.get_ref() == 0 {
            checker.at(&size.span(), "size_bytes must be more than 0");
            None
        } else {
            Some(size.into_inner())
        }
    });
    let context_size = match raw.context_size {
        None => DEFAULT_CONTEXT_SIZE,
        Some(size) if (128..=1 << 20).contains(size.get_ref()) => size.into_inner(),
        Some(size) => {
            checker.at(&size.span(), "context_size must be from 128 to 1048576 tokens");
            DEFAULT_CONTEXT_SIZE
        }
    };
    let gpu_layers = raw.gpu_layers.map_or(DEFAULT_GPU_LAYERS, Spanned::into_inner);
    let chat_template = raw.chat_template.and_then(|template| {
        if template.get_ref().trim().is_empty() {
            checker.at(
                &template.span(),
                "chat_template is empty (leave it out to use the model's own)",
            );
            None
        } else {
            Some(template.into_inner())
        }
    });
    let sampling = raw.sampling.map_or_else(Sampling::default, |sampling| {
        let span = sampling.span();
        match check_sampling(&sampling.into_inner()) {
            Ok(sampling) => sampling,
            Err(message) => {
                checker.at(&span, message);
                Sampling::default()
            }
        }
    });
    let imported_from = match (raw.imported_from, kind) {
        (Some(from), FileKind::Catalog) => {
            checker.at(
                &from.span(),
                "`imported_from` belongs in imported.toml, not the catalog",
            );
            None
        }
        (from, _) => from.map(Spanned::into_inner),
    };

    if checker.problems.len() > before {
        return None;
    }
    Some(ModelEntry {
        name: name?,
        role,
        source,
        sha256,
        file: file?,
        size_bytes,
        context_size,
        gpu_layers,
        chat_template,
        sampling,
        default: raw.default.is_some_and(|d| *d.get_ref()),
        imported_from,
        line,
    })
}

/// Model names are used in URLs and on command lines: letters, digits, `.`, `_`, `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(format!(
            "model name {name:?} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        ));
    }
    if name.parse::<ModelRole>().is_ok() {
        return Err(format!("model name {name:?} is a role name; choose another"));
    }
    Ok(())
}

/// Sources are https URLs; plain http only to this machine (a local mirror, tests).
fn check_source(source: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(source).map_err(|err| format!("source {source:?} is not a URL: {err}"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "source {source:?} must be an https:// URL (plain http is allowed only for localhost)"
        )),
    }
}

/// Lower-cases a sha256 written as 64 hexadecimal characters.
pub fn normalize_sha256(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!(
            "sha256 {text:?} must be 64 hexadecimal characters (it has {})",
            text.chars().count()
        ))
    }
}

/// A file name inside the models folder: no folders, nothing hidden, a `.gguf` file.
pub fn check_file_name(file: &str) -> Result<(), String> {
    if file.contains(['/', '\\']) || file.contains("..") {
        return Err(format!(
            "file {file:?} must be a plain file name, without folders or '..'"
        ));
    }
    if file.starts_with('.') || file.chars().any(char::is_control) || file.len() > 255 {
        return Err(format!(
            "file {file:?} must not start with '.', contain control characters or exceed 255 bytes"
        ));
    }
    if !file.to_ascii_lowercase().ends_with(".gguf") {
        return Err(format!("file {file:?} must end with .gguf"));
    }
    Ok(())
}

#[allow(clippy::cast_possible_truncation)]
fn check_sampling(raw: &RawSampling) -> Result<Sampling, String> {
    let defaults = Sampling::default();
    let ranged = |name: &str, value: Option<f64>, min: f64, max: f64, default: f32| match value {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v as f32),
        Some(v) => Err(format!("sampling.{name} = {v} is out of range ({min} to {max})")),
    };
    let top_k = match raw.top_k {
        None => defaults.top_k,
        Some(k) if k <= 1000 => k,
        Some(k) => return Err(format!("sampling.top_k = {k} is out of range (0 to 1000)")),
    };
    Ok(Sampling {
        temperature: ranged("temperature", raw.temperature, 0.0, 5.0, defaults.temperature)?,
        top_p: ranged("top_p", raw.top_p, 0.0, 1.0, defaults.top_p)?,
        top_k,
        min_p: ranged("min_p", raw.min_p, 0.0, 1.0, defaults.min_p)?,
        repeat_penalty: ranged(
            "repeat_penalty",
            raw.repeat_penalty,
            0.0,
            5.0,
            defaults.repeat_penalty,
        )?,
    })
}

#[cfg(test)]
mod tests;
