//! Agent definitions as people write them: a Markdown file whose YAML front matter holds the
//! settings and whose body is the system prompt — or the same fields as JSON through the API.
//! One set of rules checks both.

use serde::Deserialize;

use crate::domain::{Agent, AgentSource};

const ROLES: [&str; 3] = ["fast", "reasoning", "code"];
const MAX_PROMPT_CHARS: usize = 32_000;
const MAX_TOOLS: usize = 64;
/// `tool_choice` values besides a tool's name.
pub const TOOL_CHOICE_AUTO: &str = "auto";
pub const TOOL_CHOICE_REQUIRED: &str = "required";

/// The settings of an agent, from front matter or an API body.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// When sent, must equal the name in the path.
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    pub model_role: Option<String>,
    pub model_name: Option<String>,
    #[serde(default)]
    pub tools: Vec<String>,
    pub max_steps: Option<u32>,
    /// `auto` (the default), `required` or one of `tools`: what the first model call of each
    /// answer must do.
    pub tool_choice: Option<String>,
    pub temperature: Option<f32>,
    /// API bodies carry the prompt here; files carry it as the body after the front matter.
    pub system_prompt: Option<String>,
    pub enabled: Option<bool>,
}

/// Reads `---\n<yaml>\n---\n<prompt>`. The error says what is wrong, for a log line or a 4xx.
pub fn parse_markdown(text: &str, source: AgentSource) -> Result<Agent, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or("the file must start with a `---` line opening the front matter")?;
    let (front, body) = split_front_matter(rest).ok_or("the front matter has no closing `---` line")?;
    let mut spec: AgentSpec = serde_yaml_ng::from_str(front).map_err(|err| format!("front matter: {err}"))?;
    if spec.system_prompt.is_some() {
        return Err("front matter: the system prompt is the body of the file, not a key".into());
    }
    spec.system_prompt = Some(body.trim().to_owned());
    validate(spec, source)
}

fn split_front_matter(rest: &str) -> Option<(&str, &str)> {
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

/// Checks every field and fills the defaults: the one gate for files and API bodies.
pub fn validate(spec: AgentSpec, source: AgentSource) -> Result<Agent, String> {
    let name = spec.name.unwrap_or_default().trim().to_owned();
    if !valid_name(&name) {
        return Err(format!(
            "name `{name}`: 1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit"
        ));
    }
    if let Some(role) = &spec.model_role
        && !ROLES.contains(&role.as_str())
    {
        return Err(format!("model_role `{role}`: one of fast, reasoning, code"));
    }
    let model_name = spec
        .model_name
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty());
    if spec.model_role.is_none() && model_name.is_none() {
        return Err("an agent needs a model_role or a model_name".into());
    }
    let max_steps = spec.max_steps.unwrap_or(10);
    if !(1..=100).contains(&max_steps) {
        return Err(format!("max_steps {max_steps}: 1 to 100"));
    }
    if let Some(t) = spec.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(format!("temperature {t}: 0 to 2"));
    }
    if spec.tools.len() > MAX_TOOLS || spec.tools.iter().any(|t| t.trim().is_empty() || t.len() > 128) {
        return Err(format!("tools: at most {MAX_TOOLS} names of 1-128 characters"));
    }
    let tools: Vec<String> = spec.tools.into_iter().map(|t| t.trim().to_owned()).collect();
    let tool_choice = spec
        .tool_choice
        .map_or_else(|| TOOL_CHOICE_AUTO.to_owned(), |c| c.trim().to_owned());
    if tool_choice != TOOL_CHOICE_AUTO && tools.is_empty() {
        return Err(format!(
            "tool_choice `{tool_choice}`: the agent has no tools to call"
        ));
    }
    if ![TOOL_CHOICE_AUTO, TOOL_CHOICE_REQUIRED].contains(&tool_choice.as_str())
        && !tools.contains(&tool_choice)
    {
        return Err(format!(
            "tool_choice `{tool_choice}`: auto, required, or one of the agent's tools ({})",
            tools.join(", ")
        ));
    }
    let system_prompt = spec.system_prompt.unwrap_or_default();
    if system_prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(format!("the system prompt is over {MAX_PROMPT_CHARS} characters"));
    }
    if spec.description.chars().count() > 1000 {
        return Err("description: at most 1000 characters".into());
    }
    Ok(Agent {
        name,
        description: spec.description.trim().to_owned(),
        model_role: spec.model_role,
        model_name,
        tools,
        max_steps,
        tool_choice,
        temperature: spec.temperature,
        system_prompt,
        enabled: spec.enabled.unwrap_or(true),
        source,
    })
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_agents_parse() {
        for (file, text) in super::super::catalog::BUILTIN {
            let agent =
                parse_markdown(text, AgentSource::Builtin).unwrap_or_else(|err| panic!("{file}: {err}"));
            assert!(!agent.system_prompt.is_empty(), "{file}");
            assert!(agent.model_role.is_some(), "{file}");
        }
    }

    #[test]
    fn front_matter_mistakes_are_named() {
        let cases = [
            ("no front matter", "missing"),
            ("---\nname: x\n", "closing"),
            (
                "---\nname: x\nmodel_role: fast\nsurprise: 1\n---\nhi",
                "unknown field",
            ),
            ("---\nname: Bad Name\nmodel_role: fast\n---\nhi", "name"),
            ("---\nname: x\nmodel_role: huge\n---\nhi", "model_role"),
            ("---\nname: x\n---\nhi", "model_role or a model_name"),
            (
                "---\nname: x\nmodel_role: fast\nmax_steps: 0\n---\nhi",
                "max_steps",
            ),
            (
                "---\nname: x\nmodel_role: fast\ntemperature: 3\n---\nhi",
                "temperature",
            ),
            ("---\nname: [x\n---\nhi", "front matter"),
            (
                "---\nname: x\nmodel_role: fast\ntool_choice: required\n---\nhi",
                "no tools to call",
            ),
            (
                "---\nname: x\nmodel_role: fast\ntools: [list_kpis]\ntool_choice: sql_query\n---\nhi",
                "one of the agent's tools (list_kpis)",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_markdown(text, AgentSource::File).expect_err(text);
            assert!(
                err.contains(expected) || (expected == "missing" && err.contains("must start")),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn the_body_is_the_prompt_and_defaults_fill_in() {
        let agent = parse_markdown(
            "---\r\nname: helper\r\nmodel_name: my-model\r\n---\r\n\r\nBe kind.\r\n",
            AgentSource::File,
        )
        .expect("parses");
        assert_eq!(agent.system_prompt, "Be kind.");
        assert_eq!(agent.max_steps, 10);
        assert_eq!(agent.tool_choice, "auto");
        assert!(agent.enabled && agent.tools.is_empty() && agent.model_role.is_none());
    }

    #[test]
    fn tool_choice_names_required_or_one_of_the_tools() {
        for choice in ["required", "kpi_values", " auto "] {
            let text = format!(
                "---\nname: x\nmodel_role: fast\ntools: [list_kpis, kpi_values]\ntool_choice: \"{choice}\"\n---\nhi"
            );
            let agent = parse_markdown(&text, AgentSource::File).expect("parses");
            assert_eq!(agent.tool_choice, choice.trim());
        }
    }
}
