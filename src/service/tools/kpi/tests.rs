use std::time::Duration;

use chrono::NaiveDate;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    comparison_json, kpi_values_spec, kpi_vs_target_spec, list_kpis_spec, sql_error, sql_query_spec,
};
use crate::domain::{Aggregation, DateRange, KpiPerformance};
use crate::engine::grammar::ToolSpec;
use crate::service::tools::{ToolError, schema};
use crate::store::StoreError;

fn specs() -> Vec<ToolSpec> {
    vec![
        list_kpis_spec(),
        kpi_values_spec(),
        kpi_vs_target_spec(),
        sql_query_spec(),
    ]
}

#[test]
fn schemas_are_closed_typed_and_bounded() {
    for spec in specs() {
        let schema = &spec.parameters;
        assert_eq!(schema["type"], "object", "{}", spec.name);
        assert_eq!(schema["additionalProperties"], false, "{}", spec.name);
        let properties = schema["properties"].as_object().unwrap();
        for required in schema["required"].as_array().unwrap() {
            assert!(
                properties.contains_key(required.as_str().unwrap()),
                "{}: {required}",
                spec.name
            );
        }
        for (name, property) in properties {
            assert_eq!(property["type"], "string", "{}.{name}", spec.name);
            assert!(
                property["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{}.{name}",
                spec.name
            );
            assert!(
                property.get("enum").is_some() || property.get("maxLength").is_some(),
                "{}.{name} is unbounded",
                spec.name
            );
        }
        assert!(spec.description.len() < 600, "{} description is long", spec.name);
    }
}

#[test]
fn arguments_are_checked_against_the_schemas() {
    let vs = kpi_vs_target_spec().parameters;
    for good in [
        json!({ "kpi": "Revenue" }),
        json!({ "kpi": "Revenue", "period": "last_quarter" }),
        json!({ "kpi": "Revenue", "from": "2026-01-01", "to": "2026-03-31", "department": "Sales" }),
    ] {
        schema::validate(&vs, &good).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in [
        json!({}),
        json!({ "kpi": "" }),
        json!({ "kpi": "Revenue", "period": "last quarter" }),
        json!({ "kpi": "Revenue", "from": "2026-13-01" }),
        json!({ "kpi": "Revenue", "granularity": "month" }),
        json!({ "kpi": 7 }),
    ] {
        assert!(schema::validate(&vs, &bad).is_err(), "{bad} passed");
    }
    let values = kpi_values_spec().parameters;
    schema::validate(
        &values,
        &json!({ "kpi": "Revenue", "granularity": "quarter", "period": "this_year" }),
    )
    .unwrap();
    assert!(schema::validate(&values, &json!({ "kpi": "Revenue", "granularity": "week" })).is_err());
    schema::validate(&list_kpis_spec().parameters, &json!({})).unwrap();
    let sql = sql_query_spec().parameters;
    schema::validate(&sql, &json!({ "query": "select 1" })).unwrap();
    assert!(schema::validate(&sql, &json!({ "query": "x".repeat(8_001) })).is_err());
    assert!(schema::validate(&sql, &json!({ "sql": "select 1" })).is_err());
}

fn row(department: Option<&str>, actual: f64, target: f64) -> KpiPerformance {
    KpiPerformance {
        kpi_id: Uuid::nil(),
        kpi: "Revenue".into(),
        department: department.map(str::to_owned),
        unit: "USD".into(),
        higher_is_better: true,
        aggregation: Aggregation::Sum,
        months: 3,
        actual,
        target,
        difference: 0.0,
        percent_of_target: None,
        met: false,
    }
    .compared()
}

#[test]
fn the_comparison_states_who_missed() {
    let range = DateRange {
        from: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 9, 30).unwrap(),
    };
    let rows = [
        row(Some("Marketing"), 90.0, 100.0),
        row(Some("Sales"), 110.0, 100.0),
        row(None, 99.0, 100.0),
    ];
    let result = comparison_json("Revenue", &rows, range, "2026-Q3");
    assert_eq!(result["missed"], json!(["Marketing", "company-wide"]));
    assert_eq!(result["met"], json!(["Sales"]));
    assert_eq!(result["period"]["to"], "2026-09-30");
    assert_eq!(
        result["answer"],
        "2 of 3 missed the Revenue target in 2026-Q3: Marketing, company-wide."
    );
    assert_eq!(result["rows"][1]["percent_of_target"], json!(110.0));
    let none = comparison_json("Revenue", &[], range, "2026-Q3");
    assert_eq!(none["missed"], json!([]));
    assert!(none["answer"].as_str().unwrap().starts_with("No Revenue values"));
    let all = comparison_json("Revenue", &rows[1..2], range, "2026-Q3");
    assert_eq!(
        all["answer"],
        Value::from("None missed the Revenue target in 2026-Q3 (1 compared).")
    );
}

#[test]
fn sql_errors_tell_the_model_what_happened() {
    assert!(matches!(
        sql_error(StoreError::QueryRefused("sql_query is read-only".into())),
        ToolError::InvalidArguments(m) if m.contains("read-only")
    ));
    assert!(matches!(
        sql_error(StoreError::Forbidden("permission denied for table users".into())),
        ToolError::Forbidden(m) if m.contains("permission denied for table users")
    ));
    assert!(matches!(
        sql_error(StoreError::QueryRejected("syntax error at or near \"frm\"".into())),
        ToolError::Failed(m) if m.contains("syntax error")
    ));
    assert!(matches!(
        sql_error(StoreError::QueryTimeout(Duration::from_secs(5))),
        ToolError::Failed(m) if m.contains("longer than 5 seconds")
    ));
    assert!(matches!(
        sql_error(StoreError::Unavailable("gone".into())),
        ToolError::Failed(m) if m.contains("unavailable")
    ));
}
