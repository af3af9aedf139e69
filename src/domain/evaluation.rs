//! One model call as the analytics see it: an `llm_evaluations` row.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Fallback;

/// How a model call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalOutcome {
    Success,
    Error,
    Cancelled,
    Timeout,
}

impl EvalOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            EvalOutcome::Success => "success",
            EvalOutcome::Error => "error",
            EvalOutcome::Cancelled => "cancelled",
            EvalOutcome::Timeout => "timeout",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "success" => Some(EvalOutcome::Success),
            "error" => Some(EvalOutcome::Error),
            "cancelled" => Some(EvalOutcome::Cancelled),
            "timeout" => Some(EvalOutcome::Timeout),
            _ => None,
        }
    }
}

/// What the chat loop, a task or the OpenAI-compatible API knows about a model call when it
/// ends. The store adds the caller, the time and the derived tokens per second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvaluation {
    pub model: String,
    pub provider: String,
    pub agent: Option<String>,
    pub session_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    /// Time to the first generated token; `None` when none came.
    pub ttft_ms: Option<u32>,
    /// From the request to the last token (or the failure).
    pub latency_ms: u32,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub outcome: EvalOutcome,
    pub error: Option<String>,
    /// The role or model name that was asked for, when it is known.
    pub requested: Option<String>,
    /// Set when `model` answered in place of the model asked for.
    pub fallback: Option<Fallback>,
}

impl NewEvaluation {
    /// Generation speed: completion tokens over the time spent generating after the first
    /// token (the prompt is processed before it), or over the whole latency when that span is
    /// unknown or empty. `None` when no token was generated or no time passed.
    pub fn tokens_per_second(&self) -> Option<f64> {
        if self.completion_tokens == 0 {
            return None;
        }
        let generating_ms = self
            .ttft_ms
            .map(|ttft| self.latency_ms.saturating_sub(ttft))
            .filter(|&ms| ms > 0)
            .unwrap_or(self.latency_ms);
        if generating_ms == 0 {
            return None;
        }
        Some(f64::from(self.completion_tokens) * 1000.0 / f64::from(generating_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(ttft_ms: Option<u32>, latency_ms: u32, completion_tokens: u32) -> NewEvaluation {
        NewEvaluation {
            model: "m".into(),
            provider: "local".into(),
            agent: None,
            session_id: None,
            message_id: None,
            task_id: None,
            ttft_ms,
            latency_ms,
            prompt_tokens: 10,
            completion_tokens,
            outcome: EvalOutcome::Success,
            error: None,
            requested: None,
            fallback: None,
        }
    }

    #[test]
    fn speed_counts_the_time_after_the_first_token() {
        // 100 tokens in the 2 s after a 500 ms first token: 50 tok/s, not 40.
        assert_eq!(call(Some(500), 2500, 100).tokens_per_second(), Some(50.0));
    }

    #[test]
    fn speed_falls_back_to_the_latency() {
        assert_eq!(call(None, 2000, 100).tokens_per_second(), Some(50.0));
        // The only token arrived at the end: no span after it, so the whole latency counts.
        assert_eq!(call(Some(250), 250, 1).tokens_per_second(), Some(4.0));
    }

    #[test]
    fn no_speed_without_tokens_or_time() {
        assert_eq!(call(Some(100), 900, 0).tokens_per_second(), None);
        assert_eq!(call(None, 0, 5).tokens_per_second(), None);
    }

    #[test]
    fn outcomes_round_trip_their_names() {
        for outcome in [
            EvalOutcome::Success,
            EvalOutcome::Error,
            EvalOutcome::Cancelled,
            EvalOutcome::Timeout,
        ] {
            assert_eq!(EvalOutcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(EvalOutcome::parse("ok"), None);
    }
}
