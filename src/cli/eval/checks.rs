//! Judging an answer against a case's checks.

use super::suite::Check;

/// What an agent produced for one prompt: the final answer and the tools it called.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    pub tools_called: Vec<String>,
}

/// The first check the answer fails, if any.
pub fn first_failure<'a>(checks: &'a [Check], answer: &Answer) -> Option<&'a Check> {
    checks.iter().find(|check| !passes(check, answer))
}

pub fn passes(check: &Check, answer: &Answer) -> bool {
    match check {
        Check::Contains(text) => answer.text.contains(text.as_str()),
        Check::NotContains(text) => !answer.text.contains(text.as_str()),
        Check::Regex(regex) => regex.is_match(&answer.text),
        Check::JsonValid(expected) => is_json(&answer.text) == *expected,
        Check::ToolCalled(name) => answer.tools_called.iter().any(|called| called == name),
    }
}

/// Whether the text is one JSON value, alone or as the only thing in a fenced code block
/// (models like to fence JSON: `json` after the fence is allowed).
fn is_json(text: &str) -> bool {
    let text = text.trim();
    let inner = text
        .strip_prefix("```")
        .and_then(|rest| rest.strip_suffix("```"))
        // Drop the info string (`json`) on the fence's line.
        .map_or(text, |body| body.split_once('\n').map_or("", |(_, code)| code));
    serde_json::from_str::<serde_json::Value>(inner.trim()).is_ok()
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;

    fn answer(text: &str, tools: &[&str]) -> Answer {
        Answer {
            text: text.to_owned(),
            tools_called: tools.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn text_checks() {
        let said = answer("Revenue missed its target in Sales.", &[]);
        assert!(passes(&Check::Contains("Sales".into()), &said));
        assert!(!passes(&Check::Contains("sales".into()), &said), "case-sensitive");
        assert!(passes(&Check::NotContains("error".into()), &said));
        assert!(!passes(&Check::NotContains("target".into()), &said));
        assert!(passes(&Check::Regex(Regex::new("(?i)^revenue").unwrap()), &said));
        assert!(!passes(&Check::Regex(Regex::new(r"\d+").unwrap()), &said));
    }

    #[test]
    fn json_checks() {
        for json in [
            "{\"a\": 1}",
            "  [1, 2]\n",
            "```json\n{\"a\": [true]}\n```",
            "```\n42\n```",
        ] {
            assert!(passes(&Check::JsonValid(true), &answer(json, &[])), "{json}");
            assert!(!passes(&Check::JsonValid(false), &answer(json, &[])), "{json}");
        }
        for not_json in ["Here it is: {\"a\": 1}", "{\"a\": }", "", "```json\n{\"a\"\n```"] {
            assert!(
                !passes(&Check::JsonValid(true), &answer(not_json, &[])),
                "{not_json}"
            );
            assert!(
                passes(&Check::JsonValid(false), &answer(not_json, &[])),
                "{not_json}"
            );
        }
    }

    #[test]
    fn tool_checks_and_the_first_failure() {
        let said = answer("3 KPIs", &["list_kpis", "query_kpi"]);
        assert!(passes(&Check::ToolCalled("query_kpi".into()), &said));
        assert!(
            !passes(&Check::ToolCalled("list".into()), &said),
            "whole names only"
        );
        let checks = vec![
            Check::Contains("KPIs".into()),
            Check::ToolCalled("workspace_read".into()),
            Check::Contains("nothing".into()),
        ];
        let failed = first_failure(&checks, &said).unwrap();
        assert_eq!(failed.to_string(), "tool_called: workspace_read");
        assert!(first_failure(&checks[..1], &said).is_none());
    }
}
