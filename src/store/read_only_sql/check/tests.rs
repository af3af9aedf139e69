use super::{Timeouts, check};

fn ok(sql: &str) -> &str {
    check(sql, Timeouts::Enforced).unwrap_or_else(|err| panic!("{sql:?} refused: {err}"))
}

fn refused(sql: &str) -> String {
    match check(sql, Timeouts::Enforced) {
        Ok(statement) => panic!("{sql:?} passed as {statement:?}"),
        Err(err) => err,
    }
}

#[test]
fn plain_selects_pass_and_lose_their_trailing_semicolon() {
    assert_eq!(ok("select 1;"), "select 1");
    assert_eq!(
        ok("  -- leading comment\n /* block /* nested */ */ SELECT 1 ; ;"),
        "  -- leading comment\n /* block /* nested */ */ SELECT 1"
    );
    ok("with t as (select 1 as x) select x from t");
    ok("WITH totals (dept, total) AS MATERIALIZED (select 'a', 1) select * from totals");
    ok("with a(x) as not materialized (select 1), b(y) as (select 2) select * from a, b");
    ok("with recursive n(i) as (select 1 union all select i + 1 from n where i < 3) select * from n");
    ok(
        "select d.name, sum(v.value)::numeric(14, 2), round(avg(v.value), 1) \
        from kpi_values v join kpis k on k.id = v.kpi_id left join departments d on d.id = k.department_id \
        where v.period >= date_trunc('quarter', now()) - interval '3 months' \
        group by d.name order by 2 desc",
    );
    ok("select * from (values (1, 'a'), (2, 'b')) as v(n, s)");
    ok("select * from generate_series(1, 3) g(n)");
    ok(
        "select extract(month from now()), cast(1 as varchar(3)), count(*) filter (where true) over (partition by 1)",
    );
    ok("select 'it''s; fine -- not a comment', e'\\'; still a string', $$ ; $$, $tag$ set_config( $tag$");
    ok("select \"name\" from kpis where name in ('Revenue') and exists (select 1)");
    assert!(refused("select pg_catalog.count(*) from kpis").contains("plain name"));
    ok("select 1.5e3, .5, x.y from (select 1 as y) x");
}

#[test]
fn only_one_statement() {
    assert!(refused("select 1; select 2").contains("one statement"));
    assert!(refused("select 1; drop table kpis").contains("one statement"));
    assert!(refused("select (1; select 2)").contains("one statement"));
}

#[test]
fn writes_and_ddl_are_refused_with_a_clear_reason() {
    assert!(refused("insert into kpis (name) values ('x')").contains("read-only: INSERT"));
    assert!(refused("UPDATE kpis set name = 'x'").contains("read-only: UPDATE"));
    assert!(refused("delete from kpis").contains("read-only: DELETE"));
    assert!(refused("drop table kpis").contains("DROP statements are refused"));
    assert!(refused("create table x (a int)").contains("CREATE statements are refused"));
    assert!(refused("set role postgres").contains("SET statements are refused"));
    assert!(
        refused("with gone as (delete from kpis returning *) select * from gone")
            .contains("read-only: DELETE")
    );
    assert!(refused("explain select 1").contains("must start with SELECT or WITH"));
    assert!(refused("  ").contains("empty"));
    assert!(refused("-- only a comment").contains("empty"));
}

#[test]
fn functions_outside_the_allow_list_are_refused_however_they_are_spelled() {
    for sql in [
        "select set_config('role', 'none', true)",
        "select pg_catalog.set_config('request.jwt.claims', '{}', true)",
        "select \"set_config\"('role', 'none', true)",
        "select SET_CONFIG /* hidden */ ('role', 'none', true)",
        "select query_to_xml('select 1', true, false, '')",
        "select ts_stat('select 1')",
        "select pg_advisory_lock(1)",
        "select count(*) from kpis where set_config('role', 'none', true) is not null",
        "select distinct set_config('role', 'none', true)",
        "select pg_catalog.in(1)",
        "select lo_import('/etc/passwd')",
        // a call with a keyword as its column label is not a CTE
        "select set_config('role', 'none', true) as not",
        "select set_config('role', 'none', true) as materialized",
        "select set_config('role', 'none', true) as not materialized",
    ] {
        assert!(refused(sql).contains("is not allowed"), "{sql}");
    }
    assert!(refused("select U&\"\\0073et_config\"('role', 'none', true)").contains("Unicode"));
}

#[test]
fn sleeping_needs_a_database_that_enforces_the_timeout() {
    ok("select pg_sleep(1)");
    let err = check("select pg_sleep(30)", Timeouts::Ignored).unwrap_err();
    assert!(err.contains("cannot stop a statement"), "{err}");
}

#[test]
fn broken_text_is_refused_before_it_reaches_the_database() {
    assert!(refused("select (1").contains("never closed"));
    assert!(refused("select 1) q, (select 2").contains("no matching"));
    assert!(refused("select 'open").contains("never closed"));
    assert!(refused("select \"open").contains("never closed"));
    assert!(refused("select /* open").contains("never closed"));
    assert!(refused("select $x$ open").contains("never closed"));
}
