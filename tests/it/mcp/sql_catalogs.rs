//! `sql_query` names only the KPI tables: catalog reads, the platform's other tables, and the
//! functions and casts that read catalogs or the session are refused with a tool error that
//! names what is allowed — through `/mcp`, as a member — while KPI queries still answer.

use serde_json::{Value, json};

use super::{call, connect, plain_app};
use crate::support::PASSWORD;

/// Reads of the system catalogs, `information_schema`, the session and other tables.
const CATALOG_READS: &[&str] = &[
    "select rolname from pg_roles",
    "select datname from pg_database",
    "select datname from pg_catalog.pg_database",
    "select relname from pg_class",
    "select proname, prosrc from pg_proc",
    "select name, setting from pg_settings",
    "select query from pg_stat_activity",
    "select * from pg_namespace",
    "select * from pg_policies",
    "select table_name from information_schema.tables",
    "select column_name from information_schema.columns",
    "select * from \"pg_roles\"",
    "select * from \"PG_CATALOG\".\"pg_class\"",
    "select * from \"pg_catalog\".\"pg_class\"",
    "select email from users",
    "select email from public.users",
    "select email from auth.users",
    "select key_hash from api_keys",
    "select content from messages",
    "select * from tasks",
    "select * from providers",
    "with kpis as (select * from pg_roles) select * from kpis",
    "with pg_roles as (select * from pg_roles) select * from pg_roles",
    "select * from kpis where exists (select 1 from pg_roles)",
    "select (select count(*) from pg_class) as n",
    "select * from kpis k cross join lateral (select rolname from pg_roles) r",
    "select name from kpis union all select rolname from pg_roles",
    "select to_regclass('pg_roles')",
    "select to_regproc('now')",
    "select pg_get_userbyid(10)",
    "select has_table_privilege('users', 'select')",
    "select current_setting('request.jwt.claims', true)",
    "select version()",
    "select current_database()",
    "select pg_catalog.lower(name) from kpis",
    "select 'pg_roles'::regclass::oid",
    "select 'now'::regproc",
    "select 'int4'::regtype",
    "select regclass 'pg_roles'",
    "select tableoid::regclass from kpis",
    "select current_user",
    "select session_user",
    "select current_catalog",
    "select 1 operator(pg_catalog.+) 1",
    "table pg_roles",
];

/// What an analyst asks, all still answered.
const KPI_QUERIES: &[&str] = &[
    "select name, unit from kpis order by name",
    "select count(*) as n from public.kpi_values",
    "select k.name, sum(v.value)::float8 as actual, sum(t.target)::float8 as target \
     from kpis k join kpi_values v on v.kpi_id = k.id \
     join kpi_targets t on t.kpi_id = k.id and t.period = v.period \
     where v.period >= date_trunc('quarter', current_date) - interval '3 months' group by k.name",
    "select d.name, count(k.id) as kpis from departments d left join kpis k on k.department_id = d.id group by d.name",
    "select name from companies",
    "with kpis as (select * from public.kpis where unit = 'USD') select count(*) as n from kpis",
    "select to_char(max(period), 'YYYY-MM') as last from kpi_values",
];

#[tokio::test]
async fn sql_query_reads_only_the_kpi_tables() {
    let app = plain_app(true, Vec::new()).await;
    app.create_user("mia@acme.test", "Acme Manufacturing", false)
        .await;
    let key = app
        .login("mia@acme.test", PASSWORD)
        .await
        .api_key("mcp", &["read"])
        .await;
    let session = connect(&app, &key).await;

    for sql in CATALOG_READS {
        let (failed, reason) = call(&session, "sql_query", json!({ "query": sql })).await;
        assert!(failed, "`{sql}` was answered: {reason}");
        let names_the_rule = reason.contains("reads only the KPI tables")
            || reason.contains("not allowed in sql_query")
            || reason.contains("not available in sql_query")
            || reason.contains("must start with SELECT or WITH");
        assert!(names_the_rule, "`{sql}`: {reason}");
        for leak in [
            "postgres",
            "agentbox_test",
            "rolname",
            "authenticated",
            "PostgreSQL 1",
        ] {
            assert!(!reason.contains(leak), "`{sql}` leaks {leak}: {reason}");
        }
    }
    let (_, reason) = call(
        &session,
        "sql_query",
        json!({ "query": "select * from pg_roles" }),
    )
    .await;
    for table in ["kpis", "kpi_values", "kpi_targets", "departments", "companies"] {
        assert!(reason.contains(table), "the refusal names {table}: {reason}");
    }

    for sql in KPI_QUERIES {
        let (failed, answer) = call(&session, "sql_query", json!({ "query": sql })).await;
        assert!(!failed, "`{sql}` was refused: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert!(answer["row_count"].as_u64().unwrap() > 0, "`{sql}`: {answer}");
    }
    let _ = session.cancel().await;
    app.stop().await;
}
