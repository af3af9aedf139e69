//! `/api/v1/kpis`: the KPI dashboard — the caller's company's KPIs, one KPI's values against
//! its targets over time, and actual against target for a period.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::domain::{Kpi, KpiOverview};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiPath, ApiQuery, Caller};
use crate::service::kpis::period::PeriodQuery;
use crate::service::kpis::{KpiListQuery, KpiSeries, PerformanceReport};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Part of the KPI name.
    name: Option<String>,
    /// The exact department name.
    department: Option<String>,
}

/// The KPIs of the caller's company.
#[utoipa::path(
    get,
    path = "/kpis",
    operation_id = "listKpis",
    tag = "kpis",
    params(ListQuery),
    responses(
        (status = 200, description = "The KPIs", body = Vec<Kpi>),
        (status = 422, description = "An invalid filter (`invalid_input`)", body = ErrorBody),
    )
)]
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

/// The caller's company, how many KPIs they see, and where the sample data is (so an empty
/// dashboard can say what to do).
#[utoipa::path(
    get,
    path = "/kpis/overview",
    operation_id = "getKpiOverview",
    tag = "kpis",
    responses((status = 200, description = "What KPI data the caller sees", body = KpiOverview))
)]
pub async fn overview(
    State(state): State<AppState>,
    Caller(identity): Caller,
) -> Result<Json<KpiOverview>, ApiError> {
    Ok(Json(state.services.kpis.overview(&identity).await?))
}

/// Dates and keywords stay text here: the service checks them and names the bad field.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ValuesQuery {
    /// A period keyword: `last_month`, `last_quarter`, `last_year`, `last_3_months`,
    /// `last_6_months`, `last_12_months` (the default), `this_month`, `this_quarter` or
    /// `this_year`; not with `from`/`to`.
    period: Option<String>,
    /// The first month: `YYYY-MM-DD` or `YYYY-MM`.
    from: Option<String>,
    /// The last day: `YYYY-MM-DD` or `YYYY-MM` (default today).
    to: Option<String>,
    /// `month` (default) or `quarter`.
    granularity: Option<String>,
}

/// One KPI's values against its targets, month by month or quarter by quarter.
#[utoipa::path(
    get,
    path = "/kpis/{id}/values",
    operation_id = "getKpiValues",
    tag = "kpis",
    params(("id" = Uuid, Path, description = "The KPI's id"), ValuesQuery),
    responses(
        (status = 200, description = "The KPI's series", body = KpiSeries),
        (status = 404, description = "No such KPI the caller can see (`not_found`)", body = ErrorBody),
        (status = 422, description = "An invalid period, date or granularity (`invalid_input`, with `field`)", body = ErrorBody),
    )
)]
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PerformanceQuery {
    /// A period keyword (see `getKpiValues`; default `last_quarter`); not with `from`/`to`.
    period: Option<String>,
    /// The first month: `YYYY-MM-DD` or `YYYY-MM`.
    from: Option<String>,
    /// The last day: `YYYY-MM-DD` or `YYYY-MM` (default today).
    to: Option<String>,
    /// A KPI name ("Revenue") or id; every KPI when absent.
    kpi: Option<String>,
    /// The exact department name.
    department: Option<String>,
}

/// Actual against target for the KPIs asked about, over one period.
#[utoipa::path(
    get,
    path = "/kpis/performance",
    operation_id = "getKpiPerformance",
    tag = "kpis",
    params(PerformanceQuery),
    responses(
        (status = 200, description = "One row per KPI", body = PerformanceReport),
        (status = 404, description = "No KPI of that name or id (`not_found`)", body = ErrorBody),
        (status = 422, description = "An invalid period or date (`invalid_input`, with `field`)", body = ErrorBody),
    )
)]
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
