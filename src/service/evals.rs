//! Recorded `agentbox eval` runs: the CLI reports each run, the UI lists them.

use uuid::Uuid;

use super::error::NotFoundAs;
use super::{ServiceError, validate};
use crate::domain::{EvalCaseResult, EvalRun, Identity, NewEvalRun, Page};
use crate::store::{Actor, Store};

/// Cases in one run: a suite is written by hand, so this is generous.
pub const MAX_CASES: usize = 1000;
const MAX_NAME_CHARS: usize = 200;
const MAX_TEXT_CHARS: usize = 2000;

#[derive(Debug, Clone)]
pub struct EvalService {
    store: Store,
}

impl EvalService {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn record(&self, caller: &Identity, run: NewEvalRun) -> Result<EvalRun, ServiceError> {
        let run = checked(run)?;
        Ok(self.store.insert_eval_run(caller.user_id(), run).await?)
    }

    pub async fn list(&self, caller: &Identity, page: Page) -> Result<Vec<EvalRun>, ServiceError> {
        Ok(self
            .store
            .list_eval_runs(Actor::User(caller.user_id()), page)
            .await?)
    }

    pub async fn get(&self, caller: &Identity, id: Uuid) -> Result<EvalRun, ServiceError> {
        self.store
            .get_eval_run(Actor::User(caller.user_id()), id)
            .await
            .not_found_as("eval run")
    }
}

/// Checks a reported run: a named suite, 1 to 1,000 cases, bounded texts, times in order.
fn checked(mut run: NewEvalRun) -> Result<NewEvalRun, ServiceError> {
    run.suite = validate::name("suite", &run.suite, MAX_NAME_CHARS)?;
    if run.finished_at < run.started_at {
        return Err(ServiceError::invalid(
            "finished_at",
            "finished_at must not be before started_at",
        ));
    }
    if run.results.is_empty() || run.results.len() > MAX_CASES {
        return Err(ServiceError::invalid(
            "results",
            format!(
                "results must hold 1 to {MAX_CASES} cases, not {}",
                run.results.len()
            ),
        ));
    }
    for (index, result) in run.results.iter_mut().enumerate() {
        check_case(index, result)?;
    }
    Ok(run)
}

fn check_case(index: usize, result: &mut EvalCaseResult) -> Result<(), ServiceError> {
    let bad = |what: &str, max: usize| {
        ServiceError::invalid(
            "results",
            format!("results[{index}].{what} must be 1 to {max} characters"),
        )
    };
    result.name = result.name.trim().to_owned();
    if result.name.is_empty() || result.name.chars().count() > MAX_NAME_CHARS {
        return Err(bad("name", MAX_NAME_CHARS));
    }
    for (what, value) in [("agent", &result.agent), ("model", &result.model)] {
        if value
            .as_ref()
            .is_some_and(|text| text.is_empty() || text.chars().count() > MAX_NAME_CHARS)
        {
            return Err(bad(what, MAX_NAME_CHARS));
        }
    }
    for (what, value) in [("failed_check", &result.failed_check), ("error", &result.error)] {
        if value
            .as_ref()
            .is_some_and(|text| text.is_empty() || text.chars().count() > MAX_TEXT_CHARS)
        {
            return Err(bad(what, MAX_TEXT_CHARS));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};

    use super::*;

    fn case(name: &str, passed: bool) -> EvalCaseResult {
        EvalCaseResult {
            name: name.to_owned(),
            agent: Some("assistant".to_owned()),
            model: None,
            passed,
            failed_check: None,
            error: None,
            latency_ms: Some(120),
            prompt_tokens: Some(10),
            completion_tokens: Some(5),
        }
    }

    fn run(results: Vec<EvalCaseResult>) -> NewEvalRun {
        let now = Utc::now();
        NewEvalRun {
            suite: " default ".to_owned(),
            started_at: now - Duration::seconds(5),
            finished_at: now,
            results,
        }
    }

    #[test]
    fn a_good_run_is_trimmed_and_kept() {
        let run = checked(run(vec![case(" greets ", true), case("kpis", false)])).unwrap();
        assert_eq!(run.suite, "default");
        assert_eq!(run.results[0].name, "greets");
    }

    #[test]
    fn bad_runs_say_what_is_wrong() {
        let field = |run: NewEvalRun| match checked(run).unwrap_err() {
            ServiceError::InvalidInput { field, message } => (field, message),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(run(Vec::new())).0, "results");
        let mut backwards = run(vec![case("a", true)]);
        backwards.finished_at = backwards.started_at - Duration::seconds(1);
        assert_eq!(field(backwards).0, "finished_at");
        let mut unnamed = run(vec![case("a", true)]);
        unnamed.suite = "  ".to_owned();
        assert_eq!(field(unnamed).0, "suite");
        let mut long_error = case("b", false);
        long_error.error = Some("e".repeat(MAX_TEXT_CHARS + 1));
        let (field_name, message) = field(run(vec![case("a", true), long_error]));
        assert_eq!(field_name, "results");
        assert!(message.contains("results[1].error"), "{message}");
    }
}
