//! The analyst's KPI tools: `list_kpis`, `kpi_values`, `kpi_vs_target` and `sql_query`. Each
//! runs as the caller, so row-level security limits it to the caller's company. Schemas are
//! tight and descriptions short (small models read them); results are compact JSON that
//! already states the answer where it can (`kpi_vs_target`'s `missed` list).

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::{MAX_RESULT_CHARS, Tool, ToolContext, ToolError, ToolRegistry, service_failure};
use crate::domain::{Granularity, Kpi, KpiPerformance, KpiPoint};
use crate::engine::grammar::ToolSpec;
use crate::service::kpis::period::{self, PeriodQuery};
use crate::service::kpis::{KpiListQuery, KpiSeries, KpiService};
use crate::store::{QueryLimits, Store, StoreError};

/// The longest SQL text `sql_query` accepts.
const MAX_SQL_CHARS: u64 = 8_000;

/// Registers the four KPI tools.
pub fn register(registry: &ToolRegistry, store: Store) {
    let kpis = KpiService::new(store.clone());
    registry.register(Arc::new(ListKpis { kpis: kpis.clone() }));
    registry.register(Arc::new(KpiValues { kpis: kpis.clone() }));
    registry.register(Arc::new(KpiVsTarget { kpis }));
    registry.register(Arc::new(SqlQuery { store }));
}

fn text(description: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 200, "description": description })
}

fn period_properties() -> Value {
    json!({
        "period": {
            "type": "string",
            "enum": period::KEYWORDS,
            "description": "Relative period; last_* means the last complete one (last_quarter = the last full calendar quarter). Leave out when giving from/to.",
        },
        "from": { "type": "string", "format": "date", "maxLength": 10, "description": "First day, YYYY-MM-DD (instead of period)." },
        "to": { "type": "string", "format": "date", "maxLength": 10, "description": "Last day, YYYY-MM-DD (instead of period)." },
    })
}

fn object_schema(mut properties: Value, extra: Value, required: &[&str]) -> Value {
    if let (Some(all), Value::Object(extra)) = (properties.as_object_mut(), extra) {
        all.extend(extra);
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn period_query(arguments: &Value) -> PeriodQuery {
    let field = |name: &str| arguments.get(name).and_then(Value::as_str).map(str::to_owned);
    PeriodQuery {
        period: field("period"),
        from: field("from"),
        to: field("to"),
    }
}

fn string_argument(arguments: &Value, name: &str) -> Option<String> {
    arguments.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn department_name(department: Option<&str>) -> &str {
    department.unwrap_or("company-wide")
}

/// The KPIs a name matched, or an error that lists the names there are.
async fn find_kpis(
    kpis: &KpiService,
    context: &ToolContext,
    reference: &str,
    department: Option<String>,
) -> Result<Vec<Kpi>, ToolError> {
    let found = kpis
        .find(&context.caller, reference, department.clone())
        .await
        .map_err(service_failure)?;
    if !found.is_empty() {
        return Ok(found);
    }
    let names = kpis.names(&context.caller).await.map_err(service_failure)?;
    let within = department
        .map(|d| format!(" in department {d:?}"))
        .unwrap_or_default();
    Err(ToolError::Failed(if names.is_empty() {
        "no KPIs are visible to you: your company has none".into()
    } else {
        format!(
            "no KPI named {reference:?}{within}; known KPIs: {}",
            names.join(", ")
        )
    }))
}

struct ListKpis {
    kpis: KpiService,
}

fn list_kpis_spec() -> ToolSpec {
    ToolSpec {
        name: "list_kpis".into(),
        description: "List the company's KPIs: name, unit, department (null = company-wide), whether higher is better, and the months that have data.".into(),
        parameters: object_schema(
            json!({
                "name": text("Only KPIs whose name contains this text, e.g. Revenue."),
                "department": text("Only KPIs of this department, e.g. Sales."),
            }),
            json!({}),
            &[],
        ),
    }
}

impl Tool for ListKpis {
    fn spec(&self) -> ToolSpec {
        list_kpis_spec()
    }

    fn call<'a>(
        &'a self,
        context: &'a ToolContext,
        arguments: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let query = KpiListQuery {
                name: string_argument(&arguments, "name"),
                department: string_argument(&arguments, "department"),
            };
            let kpis = self
                .kpis
                .list(&context.caller, query)
                .await
                .map_err(service_failure)?;
            let listed: Vec<Value> = kpis
                .iter()
                .map(|kpi| {
                    json!({
                        "id": kpi.id,
                        "name": kpi.name,
                        "department": kpi.department,
                        "unit": kpi.unit,
                        "higher_is_better": kpi.higher_is_better,
                        "aggregation": kpi.aggregation,
                        "description": kpi.description,
                        "first_month": kpi.first_period,
                        "last_month": kpi.last_period,
                    })
                })
                .collect();
            Ok(json!({ "count": listed.len(), "kpis": listed }))
        }
        .boxed()
    }
}

struct KpiValues {
    kpis: KpiService,
}

fn kpi_values_spec() -> ToolSpec {
    ToolSpec {
        name: "kpi_values".into(),
        description: "Values and targets of a KPI per month or quarter, one series per department. Default period: last_12_months.".into(),
        parameters: object_schema(
            json!({
                "kpi": text("KPI name (e.g. Revenue) or id."),
                "department": text("Only this department, e.g. Sales."),
                "granularity": {
                    "type": "string",
                    "enum": ["month", "quarter"],
                    "description": "One point per month (default) or per quarter.",
                },
            }),
            period_properties(),
            &["kpi"],
        ),
    }
}

impl Tool for KpiValues {
    fn spec(&self) -> ToolSpec {
        kpi_values_spec()
    }

    fn call<'a>(
        &'a self,
        context: &'a ToolContext,
        arguments: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let reference = string_argument(&arguments, "kpi").unwrap_or_default();
            let found = find_kpis(
                &self.kpis,
                context,
                &reference,
                string_argument(&arguments, "department"),
            )
            .await?;
            let granularity = string_argument(&arguments, "granularity");
            let series = self
                .kpis
                .series(
                    &context.caller,
                    found,
                    &period_query(&arguments),
                    granularity.as_deref(),
                )
                .await
                .map_err(service_failure)?;
            Ok(series_json(&series))
        }
        .boxed()
    }
}

fn series_json(series: &[KpiSeries]) -> Value {
    let Some(first) = series.first() else {
        return json!({ "series": [] });
    };
    let point = |granularity: Granularity, p: &KpiPoint| {
        let (label, full) = match granularity {
            Granularity::Month => (p.period.format("%Y-%m").to_string(), 1),
            Granularity::Quarter => (period::label(quarter_of(p.period)), 3),
        };
        let mut point = json!({ "period": label, "value": p.value, "target": p.target });
        if p.months < full {
            point["months_with_data"] = json!(p.months);
        }
        point
    };
    json!({
        "kpi": first.kpi.name,
        "period": { "from": first.range.from, "to": first.range.to, "label": first.label },
        "granularity": first.granularity,
        "series": series.iter().map(|s| json!({
            "department": department_name(s.kpi.department.as_deref()),
            "unit": s.kpi.unit,
            "aggregation": s.kpi.aggregation,
            "points": s.points.iter().map(|p| point(s.granularity, p)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// The calendar quarter starting at `start`.
fn quarter_of(start: chrono::NaiveDate) -> crate::domain::DateRange {
    let end = (start + chrono::Months::new(3)).pred_opt().unwrap_or(start);
    crate::domain::DateRange { from: start, to: end }
}

struct KpiVsTarget {
    kpis: KpiService,
}

fn kpi_vs_target_spec() -> ToolSpec {
    ToolSpec {
        name: "kpi_vs_target".into(),
        description: "Compare a KPI's actual with its target per department over a period (default: last_quarter). Returns each department's actual, target and met, and the list of departments that missed.".into(),
        parameters: object_schema(
            json!({
                "kpi": text("KPI name, e.g. Revenue."),
                "department": text("Only this department, e.g. Sales."),
            }),
            period_properties(),
            &["kpi"],
        ),
    }
}

impl Tool for KpiVsTarget {
    fn spec(&self) -> ToolSpec {
        kpi_vs_target_spec()
    }

    fn call<'a>(
        &'a self,
        context: &'a ToolContext,
        arguments: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let reference = string_argument(&arguments, "kpi").unwrap_or_default();
            let department = string_argument(&arguments, "department");
            let found = find_kpis(&self.kpis, context, &reference, department.clone()).await?;
            let report = self
                .kpis
                .performance(
                    &context.caller,
                    &period_query(&arguments),
                    Some(&reference),
                    department,
                )
                .await
                .map_err(service_failure)?;
            let name = found.first().map_or(reference.as_str(), |kpi| kpi.name.as_str());
            Ok(comparison_json(name, &report.rows, report.range, &report.label))
        }
        .boxed()
    }
}

fn comparison_json(
    kpi: &str,
    rows: &[KpiPerformance],
    range: crate::domain::DateRange,
    label: &str,
) -> Value {
    let department = |row: &KpiPerformance| department_name(row.department.as_deref()).to_owned();
    let missed: Vec<String> = rows.iter().filter(|r| !r.met).map(department).collect();
    let met: Vec<String> = rows.iter().filter(|r| r.met).map(department).collect();
    let answer = if rows.is_empty() {
        format!("No {kpi} values with targets in {label}.")
    } else if missed.is_empty() {
        format!(
            "None missed the {kpi} target in {label} ({} compared).",
            rows.len()
        )
    } else {
        format!(
            "{} of {} missed the {kpi} target in {label}: {}.",
            missed.len(),
            rows.len(),
            missed.join(", ")
        )
    };
    json!({
        "kpi": kpi,
        "period": { "from": range.from, "to": range.to, "label": label },
        "rows": rows.iter().map(|r| json!({
            "department": department(r),
            "actual": r.actual,
            "target": r.target,
            "difference": r.difference,
            "percent_of_target": r.percent_of_target,
            "met": r.met,
            "unit": r.unit,
            "months": r.months,
        })).collect::<Vec<_>>(),
        "missed": missed,
        "met": met,
        "answer": answer,
    })
}

struct SqlQuery {
    store: Store,
}

fn sql_query_spec() -> ToolSpec {
    let limits = QueryLimits::default();
    ToolSpec {
        name: "sql_query".into(),
        description: format!(
            "Run one read-only SELECT on your company's KPI data (Postgres; at most {} rows, {} s). \
             Prefer kpi_vs_target or kpi_values when they answer the question. Tables: \
             kpis(id, name, unit, description, department_id, higher_is_better, aggregation: sum|avg|last); \
             kpi_values(kpi_id, period: date, first day of the month, value); \
             kpi_targets(kpi_id, period, target); departments(id, name); companies(id, name).",
            limits.max_rows,
            limits.timeout.as_secs()
        ),
        parameters: json!({
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_SQL_CHARS,
                    "description": "One SELECT statement.",
                },
            },
            "required": ["query"],
            "additionalProperties": false,
        }),
    }
}

impl Tool for SqlQuery {
    fn spec(&self) -> ToolSpec {
        sql_query_spec()
    }

    fn call<'a>(
        &'a self,
        context: &'a ToolContext,
        arguments: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let sql = string_argument(&arguments, "query").unwrap_or_default();
            let limits = QueryLimits::default();
            let result = self
                .store
                .read_only_query(context.caller.user_id(), sql, limits)
                .await
                .map_err(sql_error)?;
            let total = result.rows.len();
            let rows = fitting_rows(result.rows);
            let mut answer = json!({ "row_count": rows.len(), "rows": rows });
            if rows.len() < total {
                let of = if result.truncated {
                    format!("more than {}", limits.max_rows)
                } else {
                    total.to_string()
                };
                answer["note"] = json!(format!(
                    "only the first {} of {of} rows fit in the answer; select fewer columns, aggregate or add a LIMIT",
                    rows.len()
                ));
            } else if result.truncated {
                answer["note"] = json!(format!(
                    "only the first {} rows are shown; aggregate or add a LIMIT",
                    limits.max_rows
                ));
            }
            Ok(answer)
        }
        .boxed()
    }
}

/// The leading rows whose JSON fits in a tool result (the registry cuts longer results to a
/// string the model cannot parse).
fn fitting_rows(mut rows: Vec<Value>) -> Vec<Value> {
    let budget = MAX_RESULT_CHARS - 1_000;
    let mut used = 0;
    let fitting = rows
        .iter()
        .take_while(|row| {
            used += row.to_string().len() + 1;
            used <= budget
        })
        .count();
    rows.truncate(fitting);
    rows
}

fn sql_error(err: StoreError) -> ToolError {
    match err {
        StoreError::QueryRefused(message) => ToolError::InvalidArguments(message),
        StoreError::Forbidden(message) => ToolError::Forbidden(format!(
            "{message}; sql_query reads the KPI tables (kpis, kpi_values, kpi_targets, departments, companies)"
        )),
        StoreError::QueryRejected(message) => {
            ToolError::Failed(format!("the database rejected the query: {message}"))
        }
        err @ StoreError::QueryTimeout(_) => ToolError::Failed(err.to_string()),
        other => service_failure(other.into()),
    }
}

#[cfg(test)]
mod tests;
