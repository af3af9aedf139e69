//! Plain types shared by every layer: no I/O; serde, and `ToSchema` for the OpenAPI document.

mod agent;
mod analytics;
mod api_key;
mod chat;
mod company;
mod eval_run;
mod evaluation;
mod identity;
mod kpi;
mod mcp;
mod patch;
mod rating;
mod routing;
mod search;
mod task;
mod user;

pub use agent::{Agent, AgentSource};
pub use analytics::{DayRange, UsageGroup, UsageReport, UsageRow, UsageStats, UsageSummary};
pub use api_key::{ApiKey, KeyScope, NewApiKey};
pub use chat::{ChatSession, Message, MessageStatus, NewMessage, SessionEvent};
pub use company::{Company, Department, SetupCompany, SetupState};
pub use eval_run::{EvalCaseResult, EvalRun, NewEvalRun};
pub use evaluation::{EvalOutcome, NewEvaluation};
pub use identity::{Credential, Identity};
pub use kpi::{Aggregation, DateRange, Granularity, Kpi, KpiOverview, KpiPerformance, KpiPoint, QueryRows};
pub use mcp::{
    McpConnectionState, McpConnectionStatus, McpServerFields, McpServerSpec, McpSource, McpToolInfo,
    McpTransport, TOOL_SEPARATOR,
};
pub use patch::Patch;
pub use rating::{MessageRating, Rating};
pub use routing::{Fallback, RoutePreview};
pub use search::{SearchHit, SearchSource, SourceRef};
pub use task::{NewTask, Task, TaskEvent, TaskOutcome, TaskStatus};
pub use user::{Role, User, UserUpdate};

/// Paging for list endpoints: every result set is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Page {
    pub const MAX_LIMIT: i64 = 200;

    /// Clamps a requested page to the allowed range.
    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Self {
        Self {
            limit: limit.unwrap_or(50).clamp(1, Self::MAX_LIMIT),
            offset: offset.unwrap_or(0).max(0),
        }
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::new(None, None)
    }
}
