//! KPIs, their monthly values and targets, read as the caller: row-level security shows a user
//! their own company's KPIs only. Sums and averages are taken in `numeric` (exact) and rounded
//! to 4 decimals before they become `f64`.

use chrono::NaiveDate;
use futures::FutureExt;
use uuid::Uuid;

use super::{Actor, Store, StoreError};
use crate::domain::{Aggregation, DateRange, Granularity, Kpi, KpiPerformance, KpiPoint};

/// The most KPIs one call returns (a company has a few dozen).
const MAX_KPIS: i64 = 200;

/// Which KPIs a read is about. Every field that is set narrows; names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KpiFilter {
    pub ids: Option<Vec<Uuid>>,
    /// The exact name ("Revenue").
    pub name: Option<String>,
    /// Part of the name ("rev").
    pub name_contains: Option<String>,
    /// The exact department name; company-wide KPIs never match one.
    pub department: Option<String>,
}

/// The filter as SQL over `kpis k left join departments d`, binding `$1`..`$4`.
const FILTER_SQL: &str = "($1::uuid[] is null or k.id = any($1))
     and ($2::text is null or lower(k.name) = lower($2))
     and ($3::text is null or strpos(lower(k.name), lower($3)) > 0)
     and ($4::text is null or lower(d.name) = lower($4))";

/// `expr` rolled up by the KPI's aggregation (`aggregation` and `period` columns in scope).
fn rolled_up(expr: &str, only: &str) -> String {
    format!(
        "case aggregation
             when 'sum' then sum({expr}) filter (where {only})
             when 'avg' then avg({expr}) filter (where {only})
             else (array_agg({expr} order by period desc) filter (where {only}))[1]
         end"
    )
}

#[derive(sqlx::FromRow)]
struct KpiRow {
    id: Uuid,
    name: String,
    unit: String,
    description: String,
    department_id: Option<Uuid>,
    department: Option<String>,
    higher_is_better: bool,
    aggregation: String,
    first_period: Option<NaiveDate>,
    last_period: Option<NaiveDate>,
}

impl From<KpiRow> for Kpi {
    fn from(row: KpiRow) -> Self {
        Kpi {
            id: row.id,
            name: row.name,
            unit: row.unit,
            description: row.description,
            department_id: row.department_id,
            department: row.department,
            higher_is_better: row.higher_is_better,
            // The table's check constraint allows exactly these three.
            aggregation: Aggregation::parse(&row.aggregation).unwrap_or(Aggregation::Sum),
            first_period: row.first_period,
            last_period: row.last_period,
        }
    }
}

#[derive(sqlx::FromRow)]
struct PointRow {
    kpi_id: Uuid,
    period: NaiveDate,
    value: Option<f64>,
    target: Option<f64>,
    months: i64,
}

#[derive(sqlx::FromRow)]
struct PerformanceRow {
    kpi_id: Uuid,
    kpi: String,
    department: Option<String>,
    unit: String,
    higher_is_better: bool,
    aggregation: String,
    months: i64,
    actual: f64,
    target: f64,
}

impl Store {
    /// The KPIs `caller` may see that match `filter`, by name then department (company-wide
    /// first), each with the first and last month that has a value.
    pub async fn list_kpis(&self, caller: Uuid, filter: KpiFilter) -> Result<Vec<Kpi>, StoreError> {
        self.run_as(Actor::User(caller), move |conn| {
            async move {
                let sql = format!(
                    "select k.id, k.name, k.unit, k.description, k.department_id, d.name as department,
                            k.higher_is_better, k.aggregation,
                            (select min(v.period) from public.kpi_values v where v.kpi_id = k.id) as first_period,
                            (select max(v.period) from public.kpi_values v where v.kpi_id = k.id) as last_period
                       from public.kpis k
                       left join public.departments d on d.id = k.department_id
                      where {FILTER_SQL}
                      order by k.name, d.name nulls first
                      limit {MAX_KPIS}"
                );
                let rows: Vec<KpiRow> = sqlx::query_as(&sql)
                    .bind(filter.ids)
                    .bind(filter.name)
                    .bind(filter.name_contains)
                    .bind(filter.department)
                    .fetch_all(conn)
                    .await?;
                Ok(rows.into_iter().map(Kpi::from).collect())
            }
            .boxed()
        })
        .await
    }

    /// How many KPIs `caller` may see.
    pub async fn count_kpis(&self, caller: Uuid) -> Result<i64, StoreError> {
        self.run_as(Actor::User(caller), |conn| {
            async move {
                Ok(sqlx::query_scalar("select count(*) from public.kpis")
                    .fetch_one(conn)
                    .await?)
            }
            .boxed()
        })
        .await
    }

    /// Values and targets of the KPIs `kpi_ids` for the months in `range`, one point per KPI
    /// and month or quarter that has data, rolled up by each KPI's aggregation.
    pub async fn kpi_series(
        &self,
        caller: Uuid,
        kpi_ids: Vec<Uuid>,
        range: DateRange,
        granularity: Granularity,
    ) -> Result<Vec<KpiPoint>, StoreError> {
        self.run_as(Actor::User(caller), move |conn| {
            async move {
                let value = rolled_up("amount", "kind = 'value'");
                let target = rolled_up("amount", "kind = 'target'");
                let sql = format!(
                    "with months as (
                         select k.id as kpi_id, k.aggregation, m.period, m.kind, m.amount,
                                date_trunc($4, m.period::timestamp)::date as bucket
                           from public.kpis k
                           join lateral (
                               select v.period, 'value' as kind, v.value as amount
                                 from public.kpi_values v
                                where v.kpi_id = k.id and v.period between $2 and $3
                               union all
                               select t.period, 'target', t.target
                                 from public.kpi_targets t
                                where t.kpi_id = k.id and t.period between $2 and $3
                           ) m on true
                          where k.id = any($1))
                     select kpi_id, bucket as period,
                            round({value}, 4)::float8 as value,
                            round({target}, 4)::float8 as target,
                            count(*) filter (where kind = 'value') as months
                       from months
                      group by kpi_id, aggregation, bucket
                      order by kpi_id, bucket"
                );
                let rows: Vec<PointRow> = sqlx::query_as(&sql)
                    .bind(kpi_ids)
                    .bind(range.from)
                    .bind(range.to)
                    .bind(granularity.as_str())
                    .fetch_all(conn)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|row| KpiPoint {
                        kpi_id: row.kpi_id,
                        period: row.period,
                        value: row.value,
                        target: row.target,
                        months: row.months,
                    })
                    .collect())
            }
            .boxed()
        })
        .await
    }

    /// Actual against target over `range` for each KPI matching `filter`: only months with
    /// both a value and a target count, rolled up by the KPI's aggregation. KPIs without such a
    /// month in the range are left out.
    pub async fn kpi_performance(
        &self,
        caller: Uuid,
        filter: KpiFilter,
        range: DateRange,
    ) -> Result<Vec<KpiPerformance>, StoreError> {
        self.run_as(Actor::User(caller), move |conn| {
            async move {
                let actual = rolled_up("actual", "true");
                let target = rolled_up("target", "true");
                let sql = format!(
                    "with picked as (
                         select k.id, k.name, d.name as department, k.unit, k.higher_is_better, k.aggregation
                           from public.kpis k
                           left join public.departments d on d.id = k.department_id
                          where {FILTER_SQL}
                          limit {MAX_KPIS}),
                     pairs as (
                         select p.id as kpi_id, p.aggregation, v.period, v.value as actual, t.target
                           from picked p
                           join public.kpi_values v on v.kpi_id = p.id
                           join public.kpi_targets t on t.kpi_id = v.kpi_id and t.period = v.period
                          where v.period between $5 and $6),
                     rolled as (
                         select kpi_id, count(*) as months,
                                round({actual}, 4)::float8 as actual,
                                round({target}, 4)::float8 as target
                           from pairs
                          group by kpi_id, aggregation)
                     select p.id as kpi_id, p.name as kpi, p.department, p.unit, p.higher_is_better,
                            p.aggregation, r.months, r.actual, r.target
                       from rolled r
                       join picked p on p.id = r.kpi_id
                      order by p.name, p.department nulls first"
                );
                let rows: Vec<PerformanceRow> = sqlx::query_as(&sql)
                    .bind(filter.ids)
                    .bind(filter.name)
                    .bind(filter.name_contains)
                    .bind(filter.department)
                    .bind(range.from)
                    .bind(range.to)
                    .fetch_all(conn)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|row| {
                        KpiPerformance {
                            kpi_id: row.kpi_id,
                            kpi: row.kpi,
                            department: row.department,
                            unit: row.unit,
                            higher_is_better: row.higher_is_better,
                            aggregation: Aggregation::parse(&row.aggregation).unwrap_or(Aggregation::Sum),
                            months: row.months,
                            actual: row.actual,
                            target: row.target,
                            difference: 0.0,
                            percent_of_target: None,
                            met: false,
                        }
                        .compared()
                    })
                    .collect())
            }
            .boxed()
        })
        .await
    }
}
