//! `/api/v1/kpis`: the KPI dashboard — the caller's company's KPIs, one KPI's values against
//! its targets over time, and actual against target for a period.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::Kpi;
use crate::http::extract::{ApiPath, ApiQuery, Caller};
use crate::http::{AppState, error::ApiError};
use crate::service::kpis::period::PeriodQuery;
use crate::service::kpis::{KpiListQuery, KpiSeries, PerformanceReport};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Part of the KPI name.
    name: Option<String>,
    /// The exact department name.
    department: Option<String>,
}

/// `GET /api/v1/kpis`
pub async fn list(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<Kpi>>, ApiError> {
    let query = KpiListQuery {
        name: query.name,
        department: query.department,
    };
    Ok(Json(state.services.kpis.list(&identity, query).await?))
}

/// Dates and keywords stay text here: the service checks them and names the bad field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValuesQuery {
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// `month` (default) or `quarter`.
    granularity: Option<String>,
}

/// `GET /api/v1/kpis/{id}/values?from=&to=&granularity=` (or `period=`)
pub async fn values(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ValuesQuery>,
) -> Result<Json<KpiSeries>, ApiError> {
    let period = PeriodQuery {
        period: query.period,
        from: query.from,
        to: query.to,
    };
    let series = state
        .services
        .kpis
        .values(&identity, id, &period, query.granularity.as_deref())
        .await?;
    Ok(Json(series))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceQuery {
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// A KPI name ("Revenue") or id; every KPI when absent.
    kpi: Option<String>,
    department: Option<String>,
}

/// `GET /api/v1/kpis/performance?period=last_quarter&kpi=Revenue` (or `from=&to=`)
pub async fn performance(
    State(state): State<AppState>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<PerformanceQuery>,
) -> Result<Json<PerformanceReport>, ApiError> {
    let period = PeriodQuery {
        period: query.period,
        from: query.from,
        to: query.to,
    };
    let report = state
        .services
        .kpis
        .performance(&identity, &period, query.kpi.as_deref(), query.department)
        .await?;
    Ok(Json(report))
}
