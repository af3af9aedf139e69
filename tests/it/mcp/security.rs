//! Attacks through the MCP tools, as a real client at `/mcp` sends them: every way to write
//! through `sql_query`, and user A's key reaching user B's data through any tool. Each is
//! refused with a tool error (`isError` and a reason), and nothing changes.

use serde_json::{Value, json};

use super::{call, connect, plain_app};
use crate::support::{PASSWORD, TestApp};

/// SQL that writes, changes roles or settings, or has side effects: all refused.
const SQL_ATTACKS: [&str; 26] = [
    "insert into kpis (company_id, name) select company_id, 'x' from kpis limit 1",
    "update kpis set name = 'pwned'",
    "delete from kpi_values",
    "truncate kpi_values",
    "drop table kpis",
    "create table loot (x int)",
    "alter table kpis add column x int",
    "select 1; delete from kpis",
    "select 1; update users set role = 'admin'",
    "with gone as (delete from kpis returning *) select count(*) from gone",
    "with changed as (update kpis set name = 'x' returning id) select * from changed",
    "set role postgres",
    "reset role",
    "select set_config('role', 'none', false)",
    "select set_config('request.jwt.claims', '{\"sub\":\"00000000-0000-0000-0000-000000000000\"}', true)",
    "select pg_terminate_backend(pg_backend_pid())",
    "select pg_read_file('/etc/passwd')",
    "select lo_import('/etc/passwd')",
    "select nextval('messages_seq_seq')",
    "select pg_sleep(30)",
    "copy kpis to stdout",
    "copy kpis from program 'id'",
    "select * from kpis for update",
    "lock table kpis",
    "do $$ begin delete from kpis; end $$",
    "begin; delete from kpis; commit",
];

async fn member_key(app: &TestApp, email: &str, company: &str) -> String {
    app.create_user(email, company, false).await;
    app.login(email, PASSWORD)
        .await
        .api_key("mcp", &["read", "write"])
        .await
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = format!("select count(*) from {table}");
    sqlx::query_scalar(&sql)
        .fetch_one(app.store().pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn sql_query_refuses_every_way_to_write_and_changes_nothing() {
    let app = plain_app(true, Vec::new()).await;
    let session = connect(
        &app,
        &member_key(&app, "eve@acme.test", "Acme Manufacturing").await,
    )
    .await;
    let before = (
        count(&app, "kpis").await,
        count(&app, "kpi_values").await,
        count(&app, "users").await,
    );
    for attack in SQL_ATTACKS {
        let (failed, reason) = call(&session, "sql_query", json!({ "query": attack })).await;
        assert!(failed, "`{attack}` was not refused: {reason}");
        assert!(!reason.trim().is_empty(), "`{attack}` is refused with a reason");
        eprintln!("refused: {attack} -> {reason}");
    }
    let after = (
        count(&app, "kpis").await,
        count(&app, "kpi_values").await,
        count(&app, "users").await,
    );
    assert_eq!(before, after, "nothing changed");
    // Reading still works.
    let (failed, rows) = call(
        &session,
        "sql_query",
        json!({ "query": "select name from kpis order by name limit 3" }),
    )
    .await;
    assert!(!failed, "{rows}");
    let _ = session.cancel().await;
    app.stop().await;
}

#[tokio::test]
async fn one_users_key_never_reaches_another_users_data() {
    let app = plain_app(true, Vec::new()).await;
    let alice_key = member_key(&app, "alice@acme.test", "Acme Manufacturing").await;
    let bob_key = member_key(&app, "bob@globex.test", "Globex Retail").await;
    let alice = connect(&app, &alice_key).await;
    let bob = connect(&app, &bob_key).await;

    // Bob's private things: a task with a secret word, and his conversation.
    let (failed, task) = call(
        &bob,
        "run_agent",
        json!({ "agent": "assistant", "input": "bobsecret pineapple" }),
    )
    .await;
    assert!(!failed, "{task}");
    let task: Value = serde_json::from_str(&task).unwrap();
    let bob_task = task["id"].as_str().unwrap().to_owned();

    let (failed, got) = call(&alice, "get_task", json!({ "id": bob_task })).await;
    assert!(failed && got.contains("not found"), "{got}");
    let (failed, listed) = call(&alice, "list_tasks", json!({})).await;
    assert!(!failed && !listed.contains(&bob_task), "{listed}");
    let (failed, found) = call(&alice, "search_conversations", json!({ "query": "bobsecret" })).await;
    assert!(!failed && !found.contains("pineapple"), "{found}");

    // KPIs: Alice sees Acme's only, through every KPI tool and through SQL.
    let (_, kpis) = call(&alice, "list_kpis", json!({})).await;
    assert!(!kpis.contains("Globex"), "{kpis}");
    let (failed, rows) = call(
        &alice,
        "sql_query",
        json!({ "query": "select distinct c.name from kpis k join companies c on c.id = k.company_id" }),
    )
    .await;
    assert!(
        !failed && rows.contains("Acme") && !rows.contains("Globex"),
        "{rows}"
    );
    for query in [
        "select input from tasks",
        "select email from users where email like 'bob%'",
        "select key_hash from api_keys",
    ] {
        let (failed, rows) = call(&alice, "sql_query", json!({ "query": query })).await;
        assert!(
            failed || !(rows.contains("pineapple") || rows.contains("bob@")),
            "{query}: {rows}"
        );
    }

    let _ = alice.cancel().await;
    let _ = bob.cancel().await;
    app.stop().await;
}

#[tokio::test]
async fn workspace_and_git_tools_refuse_every_escape_and_other_companies_files() {
    let app = plain_app(false, Vec::new()).await;
    let alice = connect(
        &app,
        &member_key(&app, "alice@acme.test", "Acme Manufacturing").await,
    )
    .await;
    let bob_user = app.create_user("bob@globex.test", "Globex Retail", false).await;
    let bob_key = app
        .login("bob@globex.test", PASSWORD)
        .await
        .api_key("mcp", &["read", "write"])
        .await;
    let bob = connect(&app, &bob_key).await;

    // Bob's company folder gets a secret, in a repository.
    for (tool, arguments) in [
        ("git_init", json!({})),
        (
            "workspace_write",
            json!({ "path": "plan.txt", "content": "globex secret plan" }),
        ),
        ("git_add", json!({ "paths": ["plan.txt"] })),
        ("git_commit", json!({ "message": "the plan" })),
    ] {
        let (failed, text) = call(&bob, tool, arguments).await;
        assert!(!failed, "{tool}: {text}");
    }
    let bob_company = bob_user["company_id"].as_str().unwrap();

    // Alice's folder holds links that point out of it (planted by someone with shell access).
    let (failed, text) = call(
        &alice,
        "workspace_write",
        json!({ "path": "mine.txt", "content": "acme" }),
    )
    .await;
    assert!(!failed, "{text}");
    let alice_root = std::fs::read_dir(app.data_dir.join("workspace/companies"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| !path.ends_with(bob_company))
        .expect("Alice's company folder");
    std::os::unix::fs::symlink("/etc", alice_root.join("etc-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", alice_root.join("passwd-link")).unwrap();
    let bob_root = app.data_dir.join("workspace/companies").join(bob_company);
    std::os::unix::fs::symlink(&bob_root, alice_root.join("globex-link")).unwrap();

    let bob_plan = bob_root.join("plan.txt").display().to_string();
    let attacks = workspace_attacks(bob_company, &bob_plan);
    for (tool, arguments) in attacks {
        let (failed, reason) = call(&alice, tool, arguments.clone()).await;
        assert!(failed, "{tool} {arguments} was not refused: {reason}");
        assert!(
            !reason.contains("globex secret plan") && !reason.contains("root:x:0"),
            "{tool}: {reason}"
        );
        eprintln!("refused: {tool} {arguments} -> {reason}");
    }
    // Searching her own folder finds nothing of Bob's; his plan is untouched.
    let (_, found) = call(&alice, "workspace_search", json!({ "query": "secret plan" })).await;
    assert!(!found.contains("globex"), "{found}");
    assert_eq!(
        std::fs::read_to_string(bob_root.join("plan.txt")).unwrap(),
        "globex secret plan"
    );
    assert!(!std::path::Path::new("/tmp/agentbox-escape.txt").exists());

    let _ = alice.cancel().await;
    let _ = bob.cancel().await;
    app.stop().await;
}

/// Paths out of Alice's folder: `..`, absolute paths, Bob's folder, links planted in hers that
/// point to /etc or to Bob's folder, a NUL byte, and git repositories outside.
fn workspace_attacks(bob_company: &str, bob_plan: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "workspace_read",
            json!({ "path": "../".repeat(8) + "etc/passwd" }),
        ),
        ("workspace_read", json!({ "path": "/etc/passwd" })),
        ("workspace_read", json!({ "path": bob_plan })),
        (
            "workspace_read",
            json!({ "path": format!("../{bob_company}/plan.txt") }),
        ),
        ("workspace_read", json!({ "path": "passwd-link" })),
        ("workspace_read", json!({ "path": "etc-link/passwd" })),
        ("workspace_read", json!({ "path": "globex-link/plan.txt" })),
        ("workspace_read", json!({ "path": "mine.txt\u{0}.png" })),
        ("workspace_list", json!({ "path": "etc-link" })),
        ("workspace_list", json!({ "path": ".." })),
        ("workspace_search", json!({ "query": "root", "path": "etc-link" })),
        (
            "workspace_search",
            json!({ "query": "secret", "path": "globex-link" }),
        ),
        (
            "workspace_write",
            json!({ "path": "../escape.txt", "content": "x" }),
        ),
        (
            "workspace_write",
            json!({ "path": "/tmp/agentbox-escape.txt", "content": "x" }),
        ),
        (
            "workspace_write",
            json!({ "path": "etc-link/agentbox", "content": "x" }),
        ),
        (
            "workspace_write",
            json!({ "path": "passwd-link", "content": "x" }),
        ),
        (
            "workspace_write",
            json!({ "path": "globex-link/plan.txt", "content": "overwritten" }),
        ),
        ("git_log", json!({ "repo": format!("../{bob_company}") })),
        ("git_status", json!({ "repo": "globex-link" })),
        ("git_add", json!({ "paths": ["../../../etc/passwd"] })),
    ]
}
