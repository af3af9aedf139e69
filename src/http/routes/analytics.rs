//! `/api/v1/analytics/...`: usage aggregates for the dashboard, under the caller's RLS.

use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use serde::Deserialize;

use crate::domain::{UsageGroup, UsageReport, UsageSummary};
use crate::http::extract::{ApiQuery, Caller};
use crate::http::{AppState, error::ApiError};

/// `?group_by=model|agent|user|day&from=YYYY-MM-DD&to=YYYY-MM-DD` (UTC days, both included).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    #[serde(default = "default_group")]
    group_by: UsageGroup,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

fn default_group() -> UsageGroup {
    UsageGroup::Model
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
}

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
