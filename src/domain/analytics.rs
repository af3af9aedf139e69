//! Usage analytics over `llm_evaluations`: what the admin dashboard charts.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What the usage rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UsageGroup {
    Model,
    Agent,
    User,
    /// The UTC calendar day of the call.
    Day,
}

/// A closed range of UTC calendar days: `from` 00:00 to the end of `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The aggregates of a set of model calls. Percentiles and averages are `None` when no call had
/// the value (no call at all, or no call that produced a first token).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct UsageStats {
    pub requests: i64,
    /// Calls that ended in an error or a timeout (a cancelled call is the user's choice).
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub avg_tokens_per_second: Option<f64>,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p95: Option<f64>,
    pub ttft_ms_p50: Option<f64>,
    pub ttft_ms_p95: Option<f64>,
    pub ratings_up: i64,
    pub ratings_down: i64,
    /// `ratings_up / (ratings_up + ratings_down)`; `None` without ratings.
    pub rating_ratio: Option<f64>,
}

/// One group of usage rows: `key` is the model name, the agent name (`None` for calls outside
/// an agent), the user id, or the day as `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UsageRow {
    pub key: Option<String>,
    /// A readable name for the key where one exists: the user's email for `group_by=user`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(flatten)]
    pub stats: UsageStats,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UsageReport {
    pub group_by: UsageGroup,
    #[serde(flatten)]
    pub range: DayRange,
    pub rows: Vec<UsageRow>,
}

/// The totals of a window, for the dashboard's cards.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UsageSummary {
    #[serde(flatten)]
    pub range: DayRange,
    /// Distinct users with at least one call.
    pub users: i64,
    #[serde(flatten)]
    pub stats: UsageStats,
}
