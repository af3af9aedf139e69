//! User A sees none of user B's rows, through the API and through raw SQL run under A's
//! claims — enforced by Postgres row-level security, not by the handlers.

use agentbox::store::Actor;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::support::{Options, PASSWORD, TestApp};

fn id(user: &Value) -> Uuid {
    user["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_sees_none_of_another_users_rows() {
    let app = TestApp::start().await;
    let a = app.create_user("a@example.com", "Company A", false).await;
    let b = app.create_user("b@example.com", "Company B", false).await;
    let session_a = app.login("a@example.com", PASSWORD).await;
    let session_b = app.login("b@example.com", PASSWORD).await;
    session_a.api_key("a-key", &["read"]).await;
    session_b.api_key("b-key", &["read"]).await;

    // Through the API.
    let keys: Value = session_a.get("/api/v1/keys").await.json().await.unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["name"], "a-key");
    let b_keys: Value = session_b.get("/api/v1/keys").await.json().await.unwrap();
    let b_key_id = b_keys[0]["id"].as_str().unwrap();
    let response = session_a
        .request(Method::DELETE, &format!("/api/v1/keys/{b_key_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = session_a.get(&format!("/api/v1/users/{}", id(&b))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let companies: Value = session_a.get("/api/v1/companies").await.json().await.unwrap();
    assert_eq!(companies.as_array().unwrap().len(), 1);
    assert_eq!(companies[0]["name"], "Company A");
    let response = session_a
        .get(&format!(
            "/api/v1/companies/{}",
            b["company_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Through raw SQL under A's claims: B's chat rows exist, A cannot see or touch them.
    let store = app.store();
    let (a_id, b_id) = (id(&a), id(&b));
    let b_session = Uuid::new_v4();
    store
        .execute_as(
            Actor::System,
            format!(
                "insert into sessions (id, user_id, agent, title) values ('{b_session}', '{b_id}', 'assistant', 'secret plans');
                 insert into messages (session_id, user_id, role, content) values ('{b_session}', '{b_id}', 'user', 'B only');
                 insert into tasks (user_id, agent, input) values ('{b_id}', 'assistant', 'b task');"
            ),
        )
        .await
        .unwrap();
    for table in ["sessions", "messages", "tasks", "api_keys"] {
        let rows = store
            .query_json_as(
                Actor::User(a_id),
                format!("select * from {table} where user_id = '{b_id}'"),
                100,
            )
            .await
            .unwrap();
        assert!(rows.is_empty(), "A sees B's {table}: {rows:?}");
        let rows = store
            .query_json_as(
                Actor::User(b_id),
                format!("select * from {table} where user_id = '{b_id}'"),
                100,
            )
            .await
            .unwrap();
        assert!(!rows.is_empty(), "B sees their own {table}");
    }
    let users = store
        .query_json_as(Actor::User(a_id), "select id from users".into(), 100)
        .await
        .unwrap();
    assert_eq!(users.len(), 1, "a member sees only their own profile");
    assert!(
        store
            .query_json_as(Actor::User(a_id), "select * from auth.users".into(), 10)
            .await
            .is_err(),
        "credentials are out of reach"
    );
    let write = store
        .execute_as(
            Actor::User(a_id),
            format!(
                "insert into messages (session_id, user_id, role, content) values ('{b_session}', '{a_id}', 'user', 'x')"
            ),
        )
        .await;
    assert!(write.is_err(), "A cannot write into B's session");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpi_data_is_visible_only_within_the_company() {
    let app = TestApp::start_with(Options {
        sample_data: true,
        ..Options::default()
    })
    .await;
    let acme = app
        .create_user("analyst@acme.example", "Acme Manufacturing", false)
        .await;
    let globex_admin = app
        .create_user("boss@globex.example", "Globex Retail", true)
        .await;
    let store = app.store();

    let all = store
        .query_json_as(Actor::System, "select distinct company_id from kpis".into(), 10)
        .await
        .unwrap();
    assert!(all.len() >= 3, "sample data has KPIs for three companies");

    for user in [&acme, &globex_admin] {
        let companies = store
            .query_json_as(
                Actor::User(id(user)),
                "select distinct k.company_id from kpis k join kpi_values v on v.kpi_id = k.id".into(),
                10,
            )
            .await
            .unwrap();
        assert_eq!(companies.len(), 1, "{companies:?}");
        assert_eq!(companies[0]["company_id"], user["company_id"]);
        let targets = store
            .query_json_as(
                Actor::User(id(user)),
                "select count(*) as n from kpi_targets".into(),
                1,
            )
            .await
            .unwrap();
        assert!(targets[0]["n"].as_i64().unwrap() > 0);
    }
    let months = store
        .query_json_as(
            Actor::User(id(&acme)),
            "select count(distinct period) as n from kpi_values".into(),
            1,
        )
        .await
        .unwrap();
    assert_eq!(months[0]["n"], 24);
    // Loading the sample data again changes nothing.
    let before = store
        .query_json_as(Actor::System, "select count(*) as n from kpi_values".into(), 1)
        .await
        .unwrap();
    store.load_sample_data().await.unwrap();
    let after = store
        .query_json_as(Actor::System, "select count(*) as n from kpi_values".into(), 1)
        .await
        .unwrap();
    assert_eq!(before, after);
    app.stop().await;
}
