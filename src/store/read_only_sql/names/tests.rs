use crate::store::read_only_sql::check::{Timeouts, check};

/// Through both checks, the lexical one first, as `sql_query` runs them.
fn ok(sql: &str) {
    if let Err(err) = check(sql, Timeouts::Enforced) {
        panic!("{sql:?} refused: {err}");
    }
}

fn refused(sql: &str) -> String {
    match check(sql, Timeouts::Enforced) {
        Ok(statement) => panic!("{sql:?} passed as {statement:?}"),
        Err(err) => err,
    }
}

/// Queries an analyst writes over the KPI tables.
#[test]
fn kpi_queries_pass() {
    for sql in [
        "select name, unit from kpis order by name",
        "select * from public.kpis k join public.kpi_values v on v.kpi_id = k.id",
        "select \"name\" from \"kpis\"",
        "SELECT Name FROM KPIS",
        "select d.name, sum(v.value)::numeric(14, 2), round(avg(v.value), 1) \
         from kpi_values v join kpis k on k.id = v.kpi_id left join departments d on d.id = k.department_id \
         where v.period >= date_trunc('quarter', now()) - interval '3 months' \
         group by d.name order by 2 desc",
        "with q as (select kpi_id, sum(value) as actual from kpi_values group by kpi_id), \
         t as (select kpi_id, sum(target) as target from kpi_targets group by kpi_id) \
         select k.name, q.actual, t.target, q.actual >= t.target as met \
         from kpis k join q on q.kpi_id = k.id join t on t.kpi_id = k.id",
        "with kpis as (select * from public.kpis where unit = 'USD') select count(*) from kpis",
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < 3) select * from n",
        "with a as (select 1 as x), b as (select x from a) select * from b",
        "select * from (values (1, 'a'), (2, 'b')) as v(n, s)",
        "select * from generate_series(1, 3) g(n)",
        "select g.d::date from generate_series(date '2024-01-01', date '2024-12-01', interval '1 month') as g(d)",
        "select * from kpis k cross join lateral (select max(period) as last from kpi_values v where v.kpi_id = k.id) l",
        "select k.name, x.n from kpis k, lateral generate_series(1, 2) x(n)",
        "select name from companies where id in (select company_id from departments) \
         and exists (select 1 from kpi_targets) union all select name from departments",
        "select extract(month from now()), cast(1 as varchar(3)), count(*) filter (where true) over (partition by 1)",
        "select percentile_cont(0.5) within group (order by value) from kpi_values",
        "select distinct on (kpi_id) kpi_id, period, value from kpi_values order by kpi_id, period desc",
        "select current_date, current_timestamp, localtimestamp, now()::timestamptz, 1::float8, '1'::int[]",
        "select to_char(period, 'YYYY-MM'), value::double precision, value::bigint, value::text from kpi_values",
        "select jsonb_build_object('a', 1)->>'a', array[1, 2], (array[1, 2])[1]",
        "select substring(name from 1 for 3), trim(both ' ' from name), position('a' in name) from kpis",
        "select name collate \"C\" from kpis order by 1",
        "select 'it''s', e'\\'', $$ pg_roles $$, 'pg_catalog.pg_class'",
        "select pg_sleep(1)",
        "select 1.5e3, .5, x.y from (select 1 as y) x",
        "WITH totals (dept, total) AS MATERIALIZED (select 'a', 1) select * from totals",
        "with a(x) as not materialized (select 1), b(y) as (select 2) select * from a, b",
        "  -- leading comment\n /* block /* nested */ */ SELECT 1",
        "select k.*, a.b from kpis as k(a, b), kpis a",
        "select kpi_id, sum(value) from kpi_values group by rollup (kpi_id) having count(*) > 1",
        "select name from kpis where name ~ '^R' and name !~* 'x' order by name desc nulls last limit 5 offset 1",
        "select name from kpis fetch first 3 rows only",
        "select kpi_id, value, avg(value) over w from kpi_values window w as (partition by kpi_id order by period rows 2 preceding)",
        "select case when v.value >= t.target then 'met' else 'missed' end, v.value / nullif(t.target, 0) \
         from kpi_values v join kpi_targets t using (kpi_id, period) where t.target is not null",
        "select period::date, value::numeric from kpi_values where period between '2024-01-01' and '2024-12-01'",
        "select date_part('year', period) as y, count(*) from kpi_values group by 1",
        "select * from unnest(array[1, 2]) as u(n)",
        "select row_number() over (order by name), name from kpis",
        "select count(distinct kpi_id) from kpi_values",
        "select array(select value from kpi_values limit 3), row(1, 'a')",
        "with recursive pg_roles(n) as (select 1 union all select n + 1 from pg_roles where n < 3) select * from pg_roles",
        // docs/schema.md's demo question
        "with q as (select (date_trunc('quarter', now()) - interval '3 months')::date as start) \
         select d.name, sum(v.value) as actual, sum(t.target) as target from kpis k \
         join departments d on d.id = k.department_id join kpi_values v on v.kpi_id = k.id \
         join kpi_targets t on t.kpi_id = k.id and t.period = v.period cross join q \
         where k.name = 'Revenue' and v.period >= q.start and v.period < q.start + interval '3 months' \
         group by d.name having sum(v.value) < sum(t.target) order by d.name",
    ] {
        ok(sql);
    }
}

/// Reads of the catalogs and of other tables, however they are spelled.
#[test]
fn catalogs_and_other_tables_are_refused() {
    for sql in [
        "select * from pg_roles",
        "select rolname from pg_catalog.pg_roles",
        "select datname from pg_database",
        "select * from pg_class",
        "select proname, prosrc from pg_proc",
        "select name, setting from pg_settings",
        "select query from pg_stat_activity",
        "select * from pg_namespace",
        "select * from pg_authid",
        "select * from pg_shadow",
        "select * from pg_user",
        "select * from pg_tables",
        "select * from pg_policies",
        "select * from pg_stats",
        "select * from information_schema.tables",
        "select * from information_schema.columns where table_name = 'users'",
        "select * from INFORMATION_SCHEMA.ROUTINES",
        "select * from \"pg_roles\"",
        "select * from \"PG_CATALOG\".\"pg_class\"",
        "select * from \"pg_catalog\".\"pg_class\"",
        "select * from PG_CATALOG.PG_CLASS",
        "select * from users",
        "select * from public.users",
        "select * from auth.users",
        "select key_hash from api_keys",
        "select * from messages",
        "select * from sessions",
        "select * from tasks",
        "select * from providers",
        "select * from public.message_ratings",
        "select * from mcp_servers",
        "select * from other_db.public.kpis",
        "select * from \"Kpis\"",
        "select * from kpis, pg_roles",
        "select * from kpis k join pg_roles r on true",
        "select * from kpis where exists (select 1 from pg_roles)",
        "select (select count(*) from pg_class) from kpis",
        "select * from kpis where name in (select rolname from pg_roles)",
        "select * from (select * from pg_roles) r",
        "select * from kpis k cross join lateral (select * from pg_proc) p",
        "select name from kpis union select rolname from pg_roles",
        "select 1 union (select datname from pg_database)",
        // a CTE is no way around it
        "with r as (select * from pg_roles) select * from r",
        "with pg_roles as (select * from pg_roles) select * from pg_roles",
        "with kpis as (select * from kpis), x as (select * from pg_class) select * from x",
        "with a as (select * from b), b as (select 1) select * from a",
        "select * from (with pg_roles as (select 1) select * from pg_roles) x, pg_roles",
        "select * from kpis where id in (with c as (select 1) select oid from pg_class)",
        "select * from kpis where id = any(select oid from pg_class)",
        "select * from kpis k join (pg_roles r cross join kpis) on true",
        "select * from (kpis k join pg_roles r on true)",
        "select * from kpis k, lateral (select * from pg_roles where rolname = k.name) x",
        "select * from json_each((select row_to_json(r) from pg_roles r))",
        "select array(select rolname from pg_roles)",
        "select * from kpis order by (select 1 from pg_roles limit 1)",
        "select * from kpis group by (select 1 from pg_roles limit 1)",
        "select count(*) filter (where exists (select from pg_roles)) from kpis",
        "select * from kpis window w as (order by (select 1 from pg_roles))",
        "select * from kpis limit (select count(*) from pg_roles)",
        "select * from kpis offset (select count(*) from pg_roles)",
        "select from pg_roles where rolname like 'a%'",
        "select * from only pg_roles",
    ] {
        let err = refused(sql);
        assert!(
            err.contains("reads only the KPI tables") && err.contains("kpi_targets"),
            "{sql}: {err}"
        );
    }
}

/// Functions, casts, operators and keywords that read the catalogs or the session.
#[test]
fn catalog_functions_casts_and_session_words_are_refused() {
    for sql in [
        "select to_regclass('pg_roles')",
        "select to_regproc('now')",
        "select pg_get_functiondef('now'::regproc)",
        "select pg_get_userbyid(10)",
        "select has_table_privilege('users', 'select')",
        "select has_database_privilege('postgres', 'connect')",
        "select current_setting('request.jwt.claims')",
        "select version()",
        "select current_database()",
        "select pg_catalog.count(*) from kpis",
        "select pg_catalog.lower(name) from kpis",
        "select \"pg_catalog\".\"now\"()",
        "select pg_table_size('kpis')",
        "select pg_ls_dir('.')",
        "select * from pg_ls_dir('.')",
        "select * from pg_catalog.generate_series(1, 2)",
        "select obj_description(1)",
        "select format_type(23, null)",
        "select col_description(1, 1)",
        "select txid_current()",
        "select inet_server_addr()",
        "select json_populate_record(null::kpis, '{}')",
    ] {
        let err = refused(sql);
        assert!(err.contains("is not allowed in sql_query"), "{sql}: {err}");
    }
    for sql in [
        "select 'pg_roles'::regclass",
        "select 'pg_roles'::REGCLASS::oid",
        "select 'now'::regproc",
        "select 'int4'::regtype",
        "select 'postgres'::regrole",
        "select 'public'::regnamespace",
        "select cast('pg_class' as regclass)",
        "select 'x'::pg_catalog.regclass",
        "select 'x'::\"regclass\"",
        "select regclass 'pg_roles'",
        "select array['pg_roles']::regclass[]",
        "select tableoid::regclass from kpis",
        "select 1::oid",
        "select null::pg_roles",
        "select to_json(null::pg_class)",
        "select 'x'::aclitem",
    ] {
        let err = refused(sql);
        assert!(
            err.contains("the type") && err.contains("not allowed"),
            "{sql}: {err}"
        );
    }
    for sql in [
        "select current_user",
        "select session_user",
        "select user",
        "select current_role",
        "select current_catalog",
        "select current_schema",
        "select name from kpis where current_user is not null",
    ] {
        let err = refused(sql);
        assert!(err.contains("reads the session"), "{sql}: {err}");
    }
    let err = refused("select 1 operator(pg_catalog.+) 2");
    assert!(err.contains("OPERATOR"), "{err}");
    assert!(refused("select name collate pg_catalog.\"C\" from kpis").contains("collation"));
}

#[test]
fn text_the_parser_cannot_read_is_refused() {
    let err = refused("select * from rows from (generate_series(1, 2))");
    assert!(err.contains("could not read the query"), "{err}");
    assert!(refused("select (null::kpis).*").contains("could not read"));
    assert!(refused("select 1abc from kpis").contains("could not read"));
}

#[test]
fn locks_into_and_table_forms_are_refused() {
    assert!(refused("select * from kpis for share").contains("read-only"));
    assert!(refused("select * into t from kpis").contains("read-only"));
    for sql in [
        "select * from kpis where name in (table pg_roles)",
        "select (table pg_roles)",
        "select * from pg_roles*",
    ] {
        assert!(refused(sql).contains("could not read"), "{sql}");
    }
}

#[test]
fn sleeping_follows_the_timeouts() {
    assert!(check("select pg_sleep(1)", Timeouts::Ignored).is_err());
}
