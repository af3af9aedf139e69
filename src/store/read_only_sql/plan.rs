//! The database's own reading of a statement, as a second opinion on the parser's: `EXPLAIN
//! (VERBOSE, FORMAT JSON)` plans the statement without running it and names every relation
//! and set-returning function it would scan, resolved the way Postgres resolves them (views
//! expanded, CTEs and subqueries included). Any outside the allow-lists is refused.
//!
//! Row-level security's own reads show in the plan too: the KPI tables' policies read only
//! `public.kpis` and call `auth.company_id()`, a SECURITY DEFINER function the planner does not
//! inline (a policy that scanned another table would make every query here refused, and
//! `tests/it/mcp/sql_catalogs.rs` fail).

use serde_json::Value;

use super::allowed::{
    ALLOWED_FUNCTIONS, KPI_TABLES, TIMEOUT_BOUND_FUNCTIONS, function_refusal, relation_refusal,
};

/// The refusal for the first node of an `EXPLAIN (VERBOSE, FORMAT JSON)` plan that reads
/// something outside the allow-lists, if any.
pub fn refusal(plan: &Value) -> Option<String> {
    match plan {
        Value::Array(items) => items.iter().find_map(refusal),
        Value::Object(node) => {
            let text = |key: &str| node.get(key).and_then(Value::as_str);
            if let Some(relation) = text("Relation Name") {
                let schema = text("Schema").unwrap_or_default();
                if schema != "public" || !KPI_TABLES.contains(&relation) {
                    return Some(relation_refusal(&format!("{schema}.{relation}")));
                }
            }
            if let Some(function) = text("Function Name")
                && !ALLOWED_FUNCTIONS.contains(&function)
                && !TIMEOUT_BOUND_FUNCTIONS.contains(&function)
            {
                return Some(function_refusal(function));
            }
            if text("Node Type") == Some("Table Function Scan") {
                return Some(function_refusal("xmltable"));
            }
            node.values().find_map(refusal)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::refusal;

    #[test]
    fn kpi_tables_and_allowed_functions_pass_anything_else_is_named() {
        let plan = |node: serde_json::Value| {
            json!([{ "Plan": { "Node Type": "Hash Join", "Plans": [
            { "Node Type": "Seq Scan", "Relation Name": "kpis", "Schema": "public", "Alias": "k" },
            node,
        ] } }])
        };
        let fine = json!({ "Node Type": "Function Scan", "Function Name": "generate_series", "Schema": "pg_catalog" });
        assert_eq!(refusal(&plan(fine)), None);
        let catalog =
            json!({ "Node Type": "Seq Scan", "Relation Name": "pg_authid", "Schema": "pg_catalog" });
        let err = refusal(&plan(catalog)).unwrap();
        assert!(
            err.contains("pg_catalog.pg_authid") && err.contains("kpi_targets"),
            "{err}"
        );
        let other = json!({ "Node Type": "Index Scan", "Relation Name": "users", "Schema": "public" });
        assert!(refusal(&plan(other)).unwrap().contains("public.users"));
        let same_name = json!({ "Node Type": "Seq Scan", "Relation Name": "kpis", "Schema": "auth" });
        assert!(refusal(&plan(same_name)).unwrap().contains("auth.kpis"));
        let function =
            json!({ "Node Type": "Function Scan", "Function Name": "pg_ls_dir", "Schema": "pg_catalog" });
        assert!(refusal(&plan(function)).unwrap().contains("pg_ls_dir()"));
    }
}
