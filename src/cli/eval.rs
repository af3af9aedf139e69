//! `agentbox eval [SUITE]`: runs a suite of prompts against a running agentbox over its public
//! API, checks the answers, prints a table and records the run (`POST /api/v1/evals`).
//! Exit status: 0 when every case passes, 1 when one fails (or the platform cannot be used),
//! 2 for a bad suite file or bad usage.

mod checks;
mod client;
pub(crate) mod suite;
mod table;

use std::time::Duration;

use chrono::Utc;

use self::checks::first_failure;
use self::client::{EvalClient, RequestError};
use self::suite::{Case, Check, Suite};
use super::{CliError, EvalArgs};
use crate::domain::{EvalCaseResult, NewEvalRun};

/// The suite run when none is named: the built-in agents answer, follow a format, use a tool.
const DEFAULT_SUITE: &str = include_str!("../../evals/default.yaml");
const DEFAULT_SUITE_FILE: &str = "evals/default.yaml";

/// Longest error text sent with a case (the server keeps 2,000 characters).
const MAX_ERROR_CHARS: usize = 1000;

pub async fn run(args: EvalArgs) -> Result<(), CliError> {
    let suite = load_suite(args.suite.as_deref())?;
    let api_key = args.api_key.filter(|key| !key.trim().is_empty()).ok_or_else(|| {
        CliError::Usage(
            "an API key is needed: --api-key or AGENTBOX_API_KEY (create one with read and write \
                 scopes in the web UI or with POST /api/v1/keys)"
                .to_owned(),
        )
    })?;
    if args.timeout == 0 {
        return Err(CliError::Usage("--timeout must be at least 1 second".to_owned()));
    }
    let client = EvalClient::new(
        &args.url,
        api_key.trim().to_owned(),
        Duration::from_secs(args.timeout),
    )
    .map_err(CliError::Usage)?;

    eprintln!(
        "suite {}: {} case(s) against {}",
        suite.name,
        suite.cases.len(),
        client.base()
    );
    client.check_key().await.map_err(|err| match err {
        RequestError::Fatal(why) | RequestError::Case(why) => CliError::Runtime(why),
    })?;
    let started_at = Utc::now();
    let mut results = Vec::with_capacity(suite.cases.len());
    for case in &suite.cases {
        eprintln!("  {} ...", case.name);
        let result = run_case(&client, case).await.map_err(CliError::Runtime)?;
        results.push(result);
    }
    let finished_at = Utc::now();

    print!("{}", table::render(&results));
    let failed = results.iter().filter(|result| !result.passed).count();
    let total = results.len();
    if !args.no_record {
        let run = NewEvalRun {
            suite: suite.name.clone(),
            started_at,
            finished_at,
            results,
        };
        match client.record(&run).await {
            Ok(id) => eprintln!("recorded as eval run {id}"),
            Err(RequestError::Fatal(why) | RequestError::Case(why)) => {
                eprintln!("agentbox: warning: the run was not recorded: {why}");
            }
        }
    }
    if failed == 0 {
        println!("all {total} case(s) passed");
        Ok(())
    } else {
        Err(CliError::Runtime(format!("{failed} of {total} case(s) failed")))
    }
}

/// The named suite file, or the built-in one. A file that cannot be read or used is a usage
/// error: its message names the file and, where it can, the line.
fn load_suite(path: Option<&std::path::Path>) -> Result<Suite, CliError> {
    let (text, file) = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|err| CliError::Usage(format!("cannot read the suite {}: {err}", path.display())))?;
            (text, path.display().to_string())
        }
        None => (DEFAULT_SUITE.to_owned(), DEFAULT_SUITE_FILE.to_owned()),
    };
    suite::parse(&text, &file).map_err(|err| CliError::Usage(err.to_string()))
}

/// Runs one case. `Err` only when the whole run must stop (the key is refused, nothing answers).
async fn run_case(client: &EvalClient, case: &Case) -> Result<EvalCaseResult, String> {
    let mut result = EvalCaseResult {
        name: case.name.clone(),
        agent: Some(case.agent.clone()),
        model: case.model.clone(),
        passed: false,
        failed_check: None,
        error: None,
        latency_ms: None,
        prompt_tokens: None,
        completion_tokens: None,
    };
    let reply = match client.create_session(&case.agent).await {
        Ok(session) => client.ask(&session, &case.prompt, case.model.as_deref()).await,
        Err(err) => Err(err),
    };
    let reply = match reply {
        Ok(reply) => reply,
        Err(RequestError::Fatal(why)) => return Err(why),
        Err(RequestError::Case(why)) => {
            result.error = Some(clip(&why));
            return Ok(result);
        }
    };
    result.model = reply.model.or(result.model);
    result.latency_ms = reply.latency_ms;
    result.prompt_tokens = reply.prompt_tokens;
    result.completion_tokens = reply.completion_tokens;
    if let Some(error) = reply.error {
        result.error = Some(clip(&error));
        return Ok(result);
    }
    result.failed_check = first_failure(&case.checks, &reply.answer).map(|check| match check {
        // Say what was called instead: the usual fix is the agent's tool list or its prompt.
        Check::ToolCalled(_) if reply.answer.tools_called.is_empty() => format!("{check} (no tool called)"),
        Check::ToolCalled(_) => format!("{check} (called {})", reply.answer.tools_called.join(", ")),
        _ => check.to_string(),
    });
    result.passed = result.failed_check.is_none();
    Ok(result)
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_suite_parses_and_covers_the_built_in_agents() {
        let suite = load_suite(None).unwrap();
        assert_eq!(suite.name, "default");
        for agent in ["assistant", "analyst"] {
            assert!(
                suite.cases.iter().any(|case| case.agent == agent),
                "no case for {agent}"
            );
        }
    }

    #[test]
    fn a_missing_suite_file_is_a_usage_error() {
        let err = load_suite(Some(std::path::Path::new("/nonexistent/suite.yaml"))).unwrap_err();
        assert!(
            matches!(err, CliError::Usage(ref message) if message.contains("/nonexistent/suite.yaml")),
            "{err:?}"
        );
    }
}
