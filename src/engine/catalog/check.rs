//! Parsing and checking catalog files: every problem is collected with its line number.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::{
    CatalogError, DEFAULT_CONTEXT_SIZE, DEFAULT_GPU_LAYERS, FileKind, ModelEntry, ModelRole, Problem,
    Sampling,
};

/// Turns a byte offset into a 1-based line number.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    model: Vec<Spanned<RawEntry>>,
    /// imported.toml only: which model plays each role (`fast = "name"`).
    roles: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
}

/// A parsed models file: its entries and, for imported.toml, the roles given to models.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParsedFile {
    pub entries: Vec<ModelEntry>,
    pub roles: BTreeMap<ModelRole, String>,
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
    parse_file(text, file, kind).map(|parsed| parsed.entries)
}

/// Parses a catalog or imported.toml: the `[[model]]` entries and (imported.toml only) the
/// `[roles]` table.
pub(crate) fn parse_file(text: &str, file: &str, kind: FileKind) -> Result<ParsedFile, CatalogError> {
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
    let roles = raw
        .roles
        .map(|roles| check_roles(&mut checker, roles, kind))
        .unwrap_or_default();
    if checker.problems.is_empty() {
        Ok(ParsedFile { entries, roles })
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

/// The `[roles]` table of imported.toml: role → model name. The names are checked for shape
/// only: a name the catalog no longer has leaves its role to the catalog's model.
fn check_roles(
    checker: &mut Checker<'_>,
    roles: Spanned<BTreeMap<String, Spanned<String>>>,
    kind: FileKind,
) -> BTreeMap<ModelRole, String> {
    if kind == FileKind::Catalog {
        checker.at(
            &roles.span(),
            "`[roles]` belongs in imported.toml; in the catalog each model names its `role`",
        );
        return BTreeMap::new();
    }
    let mut parsed = BTreeMap::new();
    for (role, name) in roles.into_inner() {
        let role = match role.parse::<ModelRole>() {
            Ok(role) => role,
            Err(message) => {
                checker.at(&name.span(), format!("[roles]: {message}"));
                continue;
            }
        };
        if let Err(message) = check_name(name.get_ref()) {
            checker.at(&name.span(), format!("[roles] {role}: {message}"));
            continue;
        }
        parsed.insert(role, name.into_inner());
    }
    parsed
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
