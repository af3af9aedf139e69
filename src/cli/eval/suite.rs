//! Eval suite files (YAML):
//!
//! ```yaml
//! name: smoke                  # optional; the file name without extension
//! cases:
//!   - name: greets
//!     agent: assistant         # optional (default `assistant`)
//!     model: fast              # optional: ask for this model instead of the agent's
//!     prompt: Say hello.
//!     checks:
//!       - contains: hello
//!       - not_contains: error
//!       - regex: "(?i)^hello"
//!       - json_valid: true
//!       - tool_called: list_kpis
//! ```
//!
//! Mistakes are reported with the line they are on: serde_yaml_ng marks an error with the start
//! of the innermost value being read, so the checks on a case or a check run inside that value's
//! own visitor (a duplicate case name points at its case, a bad regex at its check).

use std::collections::HashSet;
use std::fmt;

use regex::Regex;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The agent a case talks to when it names none.
pub const DEFAULT_AGENT: &str = "assistant";
const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub agent: String,
    pub model: Option<String>,
    pub prompt: String,
    pub checks: Vec<Check>,
}

/// One expectation on an answer.
#[derive(Debug, Clone)]
pub enum Check {
    /// The answer contains this text (case-sensitive).
    Contains(String),
    /// The answer does not contain this text (case-sensitive).
    NotContains(String),
    /// The answer matches this regular expression (`(?i)` for case-insensitive).
    Regex(Regex),
    /// The answer is (`true`) or is not (`false`) one JSON value; a fenced code block around it
    /// is allowed.
    JsonValid(bool),
    /// The agent called this tool at least once.
    ToolCalled(String),
}

impl fmt::Display for Check {
    /// As written in the suite, so a failure names the line a reader will look for.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Contains(text) => write!(f, "contains: {text:?}"),
            Check::NotContains(text) => write!(f, "not_contains: {text:?}"),
            Check::Regex(regex) => write!(f, "regex: {:?}", regex.as_str()),
            Check::JsonValid(valid) => write!(f, "json_valid: {valid}"),
            Check::ToolCalled(name) => write!(f, "tool_called: {name}"),
        }
    }
}

/// A suite file that cannot be used: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct SuiteError {
    pub file: String,
    /// 1-based.
    pub line: Option<usize>,
    pub message: String,
}

/// Parses a suite; `file` names it in errors and gives the default suite name.
pub fn parse(text: &str, file: &str) -> Result<Suite, SuiteError> {
    if text.trim().is_empty() {
        return Err(SuiteError {
            file: file.to_owned(),
            line: Some(1),
            message: "the suite file is empty; it needs `cases:` with at least one case".to_owned(),
        });
    }
    let raw: RawSuite = serde_yaml_ng::from_str(text).map_err(|err| {
        let line = err.location().map(|at| at.line());
        let mut message = err.to_string();
        if let Some(at) = err.location() {
            let suffix = format!(" at line {} column {}", at.line(), at.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
        }
        SuiteError {
            file: file.to_owned(),
            line,
            message,
        }
    })?;
    let name = match raw.name {
        Some(name) => name,
        None => std::path::Path::new(file)
            .file_stem()
            .map_or_else(|| "suite".to_owned(), |stem| stem.to_string_lossy().into_owned()),
    };
    Ok(Suite {
        name,
        cases: raw.cases,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    #[serde(default, deserialize_with = "optional_name")]
    name: Option<String>,
    #[serde(deserialize_with = "cases")]
    cases: Vec<Case>,
}

fn optional_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let name = String::deserialize(deserializer)?;
    checked_name(&name).map(Some).map_err(de::Error::custom)
}

fn checked_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        Err("a name must not be empty".to_owned())
    } else if name.chars().count() > MAX_NAME_CHARS {
        Err(format!("a name must be at most {MAX_NAME_CHARS} characters"))
    } else if name.chars().any(char::is_control) {
        Err("a name must not contain control characters".to_owned())
    } else {
        Ok(name.to_owned())
    }
}

/// The case list: at least one case, names unique.
fn cases<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Case>, D::Error> {
    struct CasesVisitor;

    impl<'de> Visitor<'de> for CasesVisitor {
        type Value = Vec<Case>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of cases")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Case>, A::Error> {
            let mut seen = HashSet::new();
            let mut cases = Vec::new();
            while let Some(case) = seq.next_element_seed(CaseSeed { seen: &mut seen })? {
                cases.push(case);
            }
            if cases.is_empty() {
                return Err(de::Error::custom(
                    "`cases` is empty; a suite needs at least one case",
                ));
            }
            Ok(cases)
        }
    }

    deserializer.deserialize_seq(CasesVisitor)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    agent: Option<String>,
    model: Option<String>,
    prompt: String,
    #[serde(default)]
    checks: Vec<Check>,
}

/// One case, checked inside its own mapping so that errors carry its line.
struct CaseSeed<'a> {
    seen: &'a mut HashSet<String>,
}

impl<'de> DeserializeSeed<'de> for CaseSeed<'_> {
    type Value = Case;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Case, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CaseSeed<'_> {
    type Value = Case;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a case: a mapping with `name`, `prompt` and `checks`")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Case, A::Error> {
        let raw = RawCase::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let name = checked_name(&raw.name).map_err(|why| de::Error::custom(format!("case name: {why}")))?;
        if !self.seen.insert(name.clone()) {
            return Err(de::Error::custom(format!(
                "two cases are named {name:?}; case names must be unique"
            )));
        }
        let optional = |field: &str, value: Option<String>| match value {
            Some(text) => checked_name(&text)
                .map(Some)
                .map_err(|why| de::Error::custom(format!("case {name:?}: {field}: {why}"))),
            None => Ok(None),
        };
        let agent = optional("agent", raw.agent)?.unwrap_or_else(|| DEFAULT_AGENT.to_owned());
        let model = optional("model", raw.model)?;
        if raw.prompt.trim().is_empty() {
            return Err(de::Error::custom(format!("case {name:?}: the prompt is empty")));
        }
        Ok(Case {
            name,
            agent,
            model,
            prompt: raw.prompt,
            checks: raw.checks,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    contains: Option<String>,
    not_contains: Option<String>,
    regex: Option<String>,
    json_valid: Option<bool>,
    tool_called: Option<String>,
}

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CheckVisitor;

        impl<'de> Visitor<'de> for CheckVisitor {
            type Value = Check;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a check: one of `contains`, `not_contains`, `regex`, `json_valid`, `tool_called`",
                )
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Check, A::Error> {
                let raw = RawCheck::deserialize(de::value::MapAccessDeserializer::new(map))?;
                raw.into_check().map_err(de::Error::custom)
            }
        }

        deserializer.deserialize_map(CheckVisitor)
    }
}

impl RawCheck {
    fn into_check(self) -> Result<Check, String> {
        let mut checks = Vec::new();
        let text = |kind: &str, value: String| {
            if value.is_empty() {
                Err(format!("`{kind}` needs a non-empty text"))
            } else {
                Ok(value)
            }
        };
        if let Some(value) = self.contains {
            checks.push(Check::Contains(text("contains", value)?));
        }
        if let Some(value) = self.not_contains {
            checks.push(Check::NotContains(text("not_contains", value)?));
        }
        if let Some(pattern) = self.regex {
            let regex = Regex::new(&pattern)
                .map_err(|err| format!("`regex` does not compile: {}", regex_problem(&err)))?;
            checks.push(Check::Regex(regex));
        }
        if let Some(valid) = self.json_valid {
            checks.push(Check::JsonValid(valid));
        }
        if let Some(value) = self.tool_called {
            checks.push(Check::ToolCalled(text("tool_called", value.trim().to_owned())?));
        }
        match checks.len() {
            1 => Ok(checks.remove(0)),
            0 => Err(
                "a check needs one of `contains`, `not_contains`, `regex`, `json_valid`, \
                      `tool_called`"
                    .to_owned(),
            ),
            _ => Err("a check holds exactly one kind; write each as its own `- ` item".to_owned()),
        }
    }
}

/// The regex crate explains a syntax error over several lines (the pattern, a caret, the
/// problem): the last line says what is wrong, which is what fits on one line.
fn regex_problem(err: &regex::Error) -> String {
    let text = err.to_string();
    let last = text
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or(&text);
    last.trim().trim_start_matches("error: ").to_owned()
}

#[cfg(test)]
mod tests;
