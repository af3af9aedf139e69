//! KPIs as the caller may see them (their company's, by row-level security): the list, value
//! series, and actual against target. Validates names, dates and ranges; the store does the SQL.

pub mod period;

use std::collections::HashMap;

use chrono::Utc;
use serde::Serialize;
use uuid::Uuid;

use self::period::PeriodQuery;
use super::ServiceError;
use crate::domain::{DateRange, Granularity, Identity, Kpi, KpiOverview, KpiPerformance, KpiPoint};
use crate::store::{Actor, KpiFilter, Store};

/// The longest name or filter text accepted (KPI and department names are at most 200).
const MAX_NAME_CHARS: usize = 200;

/// What to list: parts of the KPI name, the exact department name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KpiListQuery {
    pub name: Option<String>,
    pub department: Option<String>,
}

/// One KPI's series over a period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KpiSeries {
    pub kpi: Kpi,
    pub granularity: Granularity,
    #[serde(flatten)]
    pub range: DateRange,
    pub label: String,
    pub points: Vec<KpiPoint>,
}

/// Actual against target for the KPIs asked about, over one period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PerformanceReport {
    #[serde(flatten)]
    pub range: DateRange,
    pub label: String,
    pub rows: Vec<KpiPerformance>,
}

#[derive(Debug, Clone)]
pub struct KpiService {
    store: Store,
}

impl KpiService {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The caller's company, how many KPIs they see, and which sample companies are loaded.
    pub async fn overview(&self, caller: &Identity) -> Result<KpiOverview, ServiceError> {
        let company = match caller.user.company_id {
            Some(id) => Some(
                self.store
                    .get_company(Actor::User(caller.user_id()), id)
                    .await?
                    .name,
            ),
            None => None,
        };
        Ok(KpiOverview {
            company,
            kpis: self.store.count_kpis(caller.user_id()).await?,
            sample_companies: self.store.sample_companies().await?,
        })
    }

    pub async fn list(&self, caller: &Identity, query: KpiListQuery) -> Result<Vec<Kpi>, ServiceError> {
        let filter = KpiFilter {
            name_contains: optional_name("name", query.name)?,
            department: optional_name("department", query.department)?,
            ..KpiFilter::default()
        };
        Ok(self.store.list_kpis(caller.user_id(), filter).await?)
    }

    /// The KPIs named by `reference` (a name such as "Revenue", or an id), optionally of one
    /// department. A name shared by several departments gives several KPIs.
    pub async fn find(
        &self,
        caller: &Identity,
        reference: &str,
        department: Option<String>,
    ) -> Result<Vec<Kpi>, ServiceError> {
        let filter = reference_filter(reference, department)?;
        Ok(self.store.list_kpis(caller.user_id(), filter).await?)
    }

    /// The distinct KPI names the caller can see (to suggest one when a name matched nothing).
    pub async fn names(&self, caller: &Identity) -> Result<Vec<String>, ServiceError> {
        let mut names: Vec<String> = self
            .store
            .list_kpis(caller.user_id(), KpiFilter::default())
            .await?
            .into_iter()
            .map(|kpi| kpi.name)
            .collect();
        names.dedup();
        Ok(names)
    }

    /// One KPI's series; `NotFound` when the caller cannot see it.
    pub async fn values(
        &self,
        caller: &Identity,
        kpi_id: Uuid,
        period: &PeriodQuery,
        granularity: Option<&str>,
    ) -> Result<KpiSeries, ServiceError> {
        let filter = KpiFilter {
            ids: Some(vec![kpi_id]),
            ..KpiFilter::default()
        };
        let kpis = self.store.list_kpis(caller.user_id(), filter).await?;
        if kpis.is_empty() {
            return Err(ServiceError::NotFound("KPI"));
        }
        let mut series = self.series(caller, kpis, period, granularity).await?;
        Ok(series.remove(0))
    }

    /// The series of several KPIs (as found by [`KpiService::find`]) over one period.
    pub async fn series(
        &self,
        caller: &Identity,
        kpis: Vec<Kpi>,
        period: &PeriodQuery,
        granularity: Option<&str>,
    ) -> Result<Vec<KpiSeries>, ServiceError> {
        let granularity = parse_granularity(granularity)?;
        let range = period::resolve(period, today(), "last_12_months")?;
        let ids = kpis.iter().map(|kpi| kpi.id).collect();
        let points = self
            .store
            .kpi_series(caller.user_id(), ids, range, granularity)
            .await?;
        let mut by_kpi: HashMap<Uuid, Vec<KpiPoint>> = HashMap::new();
        for point in points {
            by_kpi.entry(point.kpi_id).or_default().push(point);
        }
        Ok(kpis
            .into_iter()
            .map(|kpi| KpiSeries {
                points: by_kpi.remove(&kpi.id).unwrap_or_default(),
                kpi,
                granularity,
                range,
                label: period::label(range),
            })
            .collect())
    }

    /// Actual against target over a period (default: last quarter) for the KPIs named by
    /// `kpi` (a name or id; all KPIs when `None`), optionally of one department.
    pub async fn performance(
        &self,
        caller: &Identity,
        period: &PeriodQuery,
        kpi: Option<&str>,
        department: Option<String>,
    ) -> Result<PerformanceReport, ServiceError> {
        let range = period::resolve(period, today(), "last_quarter")?;
        let filter = match kpi.map(str::trim).filter(|k| !k.is_empty()) {
            Some(reference) => reference_filter(reference, department)?,
            None => KpiFilter {
                department: optional_name("department", department)?,
                ..KpiFilter::default()
            },
        };
        let rows = self
            .store
            .kpi_performance(caller.user_id(), filter, range)
            .await?;
        Ok(PerformanceReport {
            range,
            label: period::label(range),
            rows,
        })
    }
}

fn today() -> chrono::NaiveDate {
    Utc::now().date_naive()
}

fn parse_granularity(raw: Option<&str>) -> Result<Granularity, ServiceError> {
    match raw.map(str::trim).filter(|g| !g.is_empty()) {
        None => Ok(Granularity::Month),
        Some(raw) => Granularity::parse(&raw.to_ascii_lowercase()).ok_or_else(|| {
            ServiceError::invalid(
                "granularity",
                format!("granularity must be month or quarter, not {raw:?}"),
            )
        }),
    }
}

/// A KPI id, or its exact name (case-insensitive), plus an optional department.
fn reference_filter(reference: &str, department: Option<String>) -> Result<KpiFilter, ServiceError> {
    let department = optional_name("department", department)?;
    let reference = super::validate::name("kpi", reference, MAX_NAME_CHARS)?;
    Ok(match reference.parse::<Uuid>() {
        Ok(id) => KpiFilter {
            ids: Some(vec![id]),
            department,
            ..KpiFilter::default()
        },
        Err(_) => KpiFilter {
            name: Some(reference),
            department,
            ..KpiFilter::default()
        },
    })
}

/// A trimmed filter text; empty means "no filter".
fn optional_name(field: &'static str, raw: Option<String>) -> Result<Option<String>, ServiceError> {
    match raw {
        Some(raw) if !raw.trim().is_empty() => Ok(Some(super::validate::name(field, &raw, MAX_NAME_CHARS)?)),
        _ => Ok(None),
    }
}
