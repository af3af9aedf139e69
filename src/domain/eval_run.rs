//! Recorded `agentbox eval` runs: the CLI sends them, the UI lists them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The outcome of one case of a suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvalCaseResult {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The model that answered (or the one the case asked for, when no answer came).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub passed: bool,
    /// The first check that failed, as written in the suite (e.g. `contains: "revenue"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_check: Option<String>,
    /// Why the case could not run to an answer (an HTTP or stream error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u32>,
}

/// A finished run as the CLI reports it; the platform counts passed and failed itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvalRun {
    pub suite: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub results: Vec<EvalCaseResult>,
}

/// A stored run. Lists leave `results` out (`None`); one run read by id carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EvalRun {
    pub id: Uuid,
    pub user_id: Uuid,
    pub suite: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub passed: u32,
    pub failed: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<EvalCaseResult>>,
    pub created_at: DateTime<Utc>,
}
