//! Collects raw values from the layers (defaults < file < environment < flags), remembering
//! where each one came from so that an invalid value can be reported with its source.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::ConfigError;
use super::keys::{self, KEYS};

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("the built-in default"),
            Source::File(path) => write!(f, "config file {}", path.display()),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// A raw value and its source.
#[derive(Debug, Clone)]
pub struct Raw {
    pub value: String,
    pub source: Source,
}

/// The merged raw values, keyed by dotted key name. Later layers replace earlier ones.
#[derive(Debug, Default)]
pub struct Layers {
    values: BTreeMap<&'static str, Raw>,
}

impl Layers {
    pub fn with_defaults() -> Self {
        let mut layers = Self::default();
        for def in KEYS {
            if let Some(default) = def.default {
                layers.set(def.key, default.to_owned(), Source::Default);
            }
        }
        layers
    }

    pub fn set(&mut self, key: &'static str, value: String, source: Source) {
        self.values.insert(key, Raw { value, source });
    }

    pub fn get(&self, key: &str) -> Option<&Raw> {
        self.values.get(key)
    }

    /// Applies `agentbox.toml`. Unknown keys are errors: a typo must not be silently ignored.
    pub fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::File {
            path: path.to_owned(),
            message: err.to_string(),
        })?;
        let table: toml::Table = text.parse().map_err(|err: toml::de::Error| ConfigError::File {
            path: path.to_owned(),
            message: err.to_string().trim().replace('\n', " "),
        })?;
        let mut flat = Vec::new();
        flatten("", &table, &mut flat);
        for (key, value) in flat {
            let Some(def) = keys::find(&key) else {
                return Err(ConfigError::UnknownKey {
                    key,
                    origin: Source::File(path.to_owned()),
                });
            };
            self.set(def.key, value, Source::File(path.to_owned()));
        }
        Ok(())
    }

    /// Applies every known environment variable that is set to a non-empty value.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        for def in KEYS {
            if let Some(value) = lookup(def.env).filter(|v| !v.is_empty()) {
                self.set(def.key, value, Source::Env(def.env));
            }
        }
    }
}

/// Turns nested tables into dotted keys; scalars become their plain text.
fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, String)>) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            toml::Value::String(text) => out.push((key, text.clone())),
            other => out.push((key, other.to_string())),
        }
    }
}
