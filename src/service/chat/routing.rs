//! The agent router for sessions with the `auto` agent: picks, per message, the agent whose
//! tools fit the request — KPI questions to an agent with the KPI tools (the analyst, on the
//! reasoning model), code and repository work to one with workspace or git tools (the coder,
//! on the code model), everything else to the general assistant (fast model). Deterministic
//! and instant: it runs before every message, where a model call would add a second of latency.

use crate::domain::Agent;

/// Words that point at business metrics.
const KPI_WORDS: &[&str] = &[
    "kpi",
    "kpis",
    "revenue",
    "target",
    "targets",
    "department",
    "departments",
    "quarter",
    "quarterly",
    "margin",
    "churn",
    "nps",
    "headcount",
    "expenses",
    "opex",
    "sales",
    "leads",
    "metric",
    "metrics",
    "budget",
    "forecast",
    "growth",
    "performance",
    "missed",
    "q1",
    "q2",
    "q3",
    "q4",
    "ytd",
];
/// Words that point at code and repositories.
const CODE_WORDS: &[&str] = &[
    "code",
    "function",
    "bug",
    "compile",
    "compiler",
    "git",
    "commit",
    "diff",
    "branch",
    "repository",
    "repo",
    "refactor",
    "file",
    "files",
    "rust",
    "python",
    "javascript",
    "typescript",
    "test",
    "tests",
    "stack",
    "trace",
    "error:",
    "implement",
    "class",
    "method",
    "workspace",
    "script",
];

/// Which tool family a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Kpis,
    Code,
    General,
}

/// The agent for `text` among the enabled `agents`; `None` only when none is enabled.
pub fn pick<'a>(agents: &'a [Agent], text: &str) -> Option<&'a Agent> {
    let enabled: Vec<&Agent> = agents.iter().filter(|a| a.enabled).collect();
    let need = classify(text);
    let fits = |agent: &&&Agent| match need {
        Need::Kpis => agent.tools.iter().any(|t| t.contains("kpi")),
        Need::Code => agent
            .tools
            .iter()
            .any(|t| t.starts_with("workspace") || t.starts_with("git")),
        Need::General => agent.name == "assistant",
    };
    enabled
        .iter()
        .find(fits)
        .or_else(|| enabled.iter().find(|a| a.name == "assistant"))
        .or_else(|| enabled.first())
        .copied()
}

fn classify(text: &str) -> Need {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == ':'))
        .filter(|w| !w.is_empty())
        .collect();
    let score = |lexicon: &[&str]| words.iter().filter(|w| lexicon.contains(w)).count();
    let (kpis, code) = (score(KPI_WORDS), score(CODE_WORDS));
    let looks_like_code = text.contains("```") || text.contains("fn ") || text.contains("def ");
    if looks_like_code || code > kpis {
        Need::Code
    } else if kpis > 0 {
        Need::Kpis
    } else {
        Need::General
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AgentSource;

    fn agent(name: &str, tools: &[&str]) -> Agent {
        Agent {
            name: name.into(),
            description: String::new(),
            model_role: Some("fast".into()),
            model_name: None,
            tools: tools.iter().map(|t| (*t).to_owned()).collect(),
            max_steps: 5,
            tool_choice: "auto".into(),
            temperature: None,
            system_prompt: String::new(),
            enabled: true,
            source: AgentSource::Builtin,
        }
    }

    fn agents() -> Vec<Agent> {
        vec![
            agent("analyst", &["list_kpis", "kpi_vs_target"]),
            agent("assistant", &["search_conversations"]),
            agent("coder", &["workspace_read", "git_status"]),
        ]
    }

    #[test]
    fn routes_by_what_the_request_needs() {
        let agents = agents();
        let name = |text| pick(&agents, text).unwrap().name.clone();
        assert_eq!(
            name("Which departments missed their revenue target last quarter?"),
            "analyst"
        );
        assert_eq!(
            name("Why does this function not compile? ```fn main() {}```"),
            "coder"
        );
        assert_eq!(name("Show me the git diff of the last commit"), "coder");
        assert_eq!(name("Write a friendly out-of-office note"), "assistant");
    }

    #[test]
    fn falls_back_when_the_fitting_agent_is_disabled_or_missing() {
        let mut agents = agents();
        agents[0].enabled = false;
        assert_eq!(pick(&agents, "revenue by quarter").unwrap().name, "assistant");
        let only = vec![agent("helper", &[])];
        assert_eq!(pick(&only, "hello").unwrap().name, "helper");
        assert!(pick(&[], "hello").is_none());
    }
}
