//! `/api/v1/analytics/...`: usage aggregates for the dashboard, under the caller's RLS.

use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::{UsageGroup, UsageReport, UsageSummary};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiQuery, Caller};

/// `?group_by=model|agent|user|day&from=YYYY-MM-DD&to=YYYY-MM-DD` (UTC days, both included).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// What the rows are grouped by (default `model`).
    #[serde(default = "default_group")]
    group_by: UsageGroup,
    /// The first UTC day (default: 30 days up to `to`).
    from: Option<NaiveDate>,
    /// The last UTC day, included (default today).
    to: Option<NaiveDate>,
}

fn default_group() -> UsageGroup {
    UsageGroup::Model
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    /// The first UTC day (default: 30 days up to `to`).
    from: Option<NaiveDate>,
    /// The last UTC day, included (default today).
    to: Option<NaiveDate>,
}

/// Model calls grouped by model, agent, user or day: requests, tokens, speed, latency and
/// time-to-first-token percentiles, ratings.
///
/// An admin sees the company's calls, a member their own.
#[utoipa::path(
    get,
    path = "/analytics/usage",
    operation_id = "getUsage",
    tag = "analytics",
    params(UsageQuery),
    responses(
        (status = 200, description = "One row per group", body = UsageReport),
        (status = 400, description = "An unknown `group_by` or a malformed date (`invalid_query`)", body = ErrorBody),
        (status = 422, description = "`from` after `to`, or more than 366 days (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn usage(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    let report = state
        .services
        .analytics
        .usage(&identity, query.group_by, query.from, query.to)
        .await?;
    Ok(Json(report))
}

/// The totals of a window, for the dashboard's cards.
///
/// An admin sees the company's calls, a member their own.
#[utoipa::path(
    get,
    path = "/analytics/summary",
    operation_id = "getUsageSummary",
    tag = "analytics",
    params(WindowQuery),
    responses(
        (status = 200, description = "The totals", body = UsageSummary),
        (status = 400, description = "A malformed date (`invalid_query`)", body = ErrorBody),
        (status = 422, description = "`from` after `to`, or more than 366 days (`invalid_input`)", body = ErrorBody),
    )
)]
pub async fn summary(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<WindowQuery>,
) -> Result<Json<UsageSummary>, ApiError> {
    let summary = state
        .services
        .analytics
        .summary(&identity, query.from, query.to)
        .await?;
    Ok(Json(summary))
}
