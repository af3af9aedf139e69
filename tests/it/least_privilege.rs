//! Postgres itself is the barrier. SQL run straight on a user's transaction — as if it had got
//! past every check of the `sql_query` tool — that tries to change its role or its identity
//! still reads none of another company's rows and writes nothing anywhere.

use agentbox::store::{Actor, Privilege, StoreError};
use serde_json::Value;
use uuid::Uuid;

use crate::support::{ExternalDb, Options, TestApp, external_db_url, settings_for};

const SECRET: &str = "globex-secret-plans";

fn id(user: &Value) -> Uuid {
    user["id"].as_str().unwrap().parse().unwrap()
}

/// Ways out of `authenticated` (or into another user) that a hostile statement could try,
/// each run first in the transaction. `{b}` is the other user's id.
fn escapes(b: Uuid) -> Vec<String> {
    vec![
        String::new(),
        "reset role;".into(),
        "set local role none;".into(),
        "select set_config('role', 'none', true);".into(),
        "select set_config('role', 'anon', true);".into(),
        format!(
            "select set_config('request.jwt.claims', '{{\"sub\":\"{b}\",\"role\":\"authenticated\"}}', true);"
        ),
        // The caller's own signature, with the other user's id.
        format!(
            "select set_config('request.jwt.claims', \
             jsonb_set(current_setting('request.jwt.claims')::jsonb, '{{sub}}', '\"{b}\"')::text, true);"
        ),
        "select set_config('request.jwt.claims', '', true);".into(),
    ]
}

/// Reads of what belongs to the other company or to the platform; each returns one text.
fn reads(b: Uuid, globex: &str) -> Vec<String> {
    vec![
        format!("select string_agg(title, ',') from sessions where user_id = '{b}'"),
        format!("select string_agg(content, ',') from messages where user_id = '{b}'"),
        format!("select count(*)::text from kpis where company_id = '{globex}'"),
        format!(
            "select count(*)::text from kpi_values v join kpis k on k.id = v.kpi_id where k.company_id = '{globex}'"
        ),
        format!("select string_agg(email, ',') from users where id = '{b}'"),
        "select string_agg(email, ',') from auth.users".into(),
        "select string_agg(encode(key, 'hex'), ',') from auth.claims_key".into(),
        "select string_agg(key_hash, ',') from api_keys".into(),
        "select string_agg(name, ',') from companies".into(),
    ]
}

/// Writes that a member of one company may never make.
fn writes(a: Uuid, globex: &str) -> Vec<String> {
    vec![
        "update companies set name = 'pwned'".into(),
        "delete from kpi_values".into(),
        format!("insert into kpis (company_id, name) values ('{globex}', 'planted')"),
        format!("update users set role = 'admin' where id = '{a}'"),
        "update auth.users set email = 'pwned@example.com'".into(),
        "delete from auth.claims_key".into(),
        "create table public.planted (x int)".into(),
        "create function public.planted() returns int language sql as 'select 1'".into(),
        "alter table kpis disable row level security".into(),
        "grant select on auth.users to authenticated".into(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_past_every_check_still_reads_and_writes_only_what_rls_allows() {
    let app = TestApp::start_with(Options {
        sample_data: true,
        ..Options::default()
    })
    .await;
    let store = app.store();
    let expected = if external_db_url().is_some() {
        Privilege::RuntimeLogin
    } else {
        Privilege::SessionAuthorization
    };
    assert_eq!(store.privilege(), expected);
    let a = app
        .create_user("a@acme.example", "Acme Manufacturing", false)
        .await;
    let b = app.create_user("b@globex.example", "Globex Retail", true).await;
    let (a_id, b_id) = (id(&a), id(&b));
    let globex = b["company_id"].as_str().unwrap().to_owned();
    store
        .execute_as(
            Actor::System,
            format!(
                "insert into sessions (id, user_id, agent, title) values ('{s}', '{b_id}', 'assistant', '{SECRET}');
                 insert into messages (session_id, user_id, role, content) values ('{s}', '{b_id}', 'user', '{SECRET}');",
                s = Uuid::new_v4()
            ),
        )
        .await
        .unwrap();
    let before = snapshot(&app).await;

    let mut tried = 0;
    for escape in escapes(b_id) {
        for read in reads(b_id, &globex) {
            let sql = format!("{escape} {read}");
            tried += 1;
            match store.statements_as(Actor::User(a_id), sql.clone()).await {
                Err(StoreError::Forbidden(_)) => {}
                Err(other) => panic!("{sql}: expected a refusal or nothing, got {other}"),
                Ok(values) => {
                    let last = values.last().cloned().flatten().unwrap_or_default();
                    let leaked = last.contains(SECRET)
                        || last.contains("globex.example")
                        || last.contains("Globex")
                        || last.parse::<i64>().is_ok_and(|n| n > 0)
                        || (read.contains("claims_key") && !last.is_empty())
                        || (read.contains("api_keys") && !last.is_empty());
                    assert!(!leaked, "{sql} read {last:?}");
                }
            }
        }
        for write in writes(a_id, &globex) {
            tried += 1;
            let sql = format!("{escape} {write}");
            // Refused, or allowed and touching nothing: the snapshot below tells.
            let _ = store.execute_as(Actor::User(a_id), sql).await;
        }
    }
    assert_eq!(snapshot(&app).await, before, "nothing changed anywhere");

    // The roles above `authenticated` are out of reach, by name and by session.
    let owner: String = store
        .statements_as(Actor::System, "select current_user::text".into())
        .await
        .unwrap()[0]
        .clone()
        .unwrap();
    let mut climbs = vec![
        format!("set local role {owner}; select current_user::text"),
        format!("select set_config('role', '{owner}', true)"),
        "set local role postgres; select current_user::text".into(),
    ];
    if expected == Privilege::RuntimeLogin {
        // The embedded database's one session is its superuser's: there the session statements
        // would return to it, and the sql_query check is what refuses them (see Privilege).
        climbs.push(format!(
            "set local session authorization {owner}; select current_user::text"
        ));
        climbs.push("reset session authorization; select current_user::text".into());
    }
    for climb in climbs {
        // Refused, or back at the login role itself, which owns nothing.
        let reached = store
            .statements_as(Actor::User(a_id), climb.clone())
            .await
            .ok()
            .and_then(|v| v.last().cloned().flatten());
        assert!(
            reached
                .as_deref()
                .is_none_or(|role| role != owner && role != "postgres"),
            "{climb}: reached {reached:?}"
        );
    }
    println!(
        "least privilege: {tried} hostile statements as a member of another company, 0 rows read or written"
    );

    // The same user, signed by the platform, still sees their own company.
    let own = store
        .statements_as(Actor::User(a_id), "select count(*)::text from kpis".into())
        .await
        .unwrap();
    assert_ne!(own[0].as_deref(), Some("0"), "A sees Acme's KPIs");
    app.stop().await;
}

/// Row counts of every table, and the values an attacker would most like to change.
async fn snapshot(app: &TestApp) -> Vec<Option<String>> {
    app.store()
        .statements_as(
            Actor::System,
            "select string_agg(format('%s.%s', schemaname, relname), ',' order by relname) from pg_stat_user_tables;
             select string_agg(name, ',' order by name) from companies;
             select string_agg(email || ':' || role, ',' order by email) from users;
             select string_agg(email, ',' order by email) from auth.users;
             select count(*)::text from kpis;
             select count(*)::text from kpi_values;
             select encode(key, 'hex') from auth.claims_key;
             select string_agg(c.relname || ':' || c.relrowsecurity, ',' order by c.relname)
               from pg_class c where c.relkind = 'r' and c.relnamespace = 'public'::regnamespace;
             select count(*)::text from pg_proc where pronamespace = 'public'::regnamespace;
             select count(*)::text from information_schema.role_table_grants where table_schema = 'auth'
               and grantee = 'authenticated'"
                .into(),
        )
        .await
        .unwrap()
}

/// A `DATABASE_URL` whose role could reach more than `authenticated` is refused before anyone is
/// served, with exit code 2 and a line that says what to change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_role_that_could_reach_more_is_refused_at_start() {
    let Some(admin) = external_db_url() else {
        return; // The embedded database makes its own runtime role.
    };
    let db = ExternalDb::create(&admin).await;
    let dir = tempfile::tempdir().unwrap();

    // The owner named twice.
    let mut settings = settings_for(&dir.path().join("one"), &Options::default(), Some(&db));
    settings.database.url = settings.database.owner_url.clone();
    let err = agentbox::app::start(settings).await.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("both log in as"), "{err}");

    // A runtime role that may read every table whatever the policies say.
    let role = format!("agentbox_test_reader_{}", Uuid::new_v4().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "create role {role} login; grant pg_read_all_data to {role}"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let mut settings = settings_for(&dir.path().join("two"), &Options::default(), Some(&db));
    settings.database.url = Some(agentbox::config::Secret::new(
        db.runtime_url.replace(crate::support::RUNTIME_ROLE, &role),
    ));
    let err = agentbox::app::start(settings).await.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("pg_read_all_data"), "{err}");
    let _ = sqlx::query(&format!("drop role {role}")).execute(&mut conn).await;
    db.drop_db().await;
}
