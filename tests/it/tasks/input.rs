//! A task is its owner's alone, and bad input gets a 4xx with a stable code.

use agentbox::store::Actor;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::script::Script;
use super::{cancel, create, get, id, list, options};
use crate::support::{PASSWORD, TestApp, error_code};

#[tokio::test]
async fn another_user_can_neither_see_nor_cancel_nor_follow_a_task() {
    let script = Script::new();
    let app = TestApp::start_with(options(&script, &[("AGENTBOX_TASKS_CONCURRENCY", "0")])).await;
    let admin = app.setup_admin().await;
    let task_id = id(&create(&admin, "echo: mine").await);

    for (email, company, is_admin) in [
        ("colleague@example.com", "Acme Test", true),
        ("stranger@example.com", "Other Corp", false),
    ] {
        app.create_user(email, company, is_admin).await;
        let other = app.login(email, PASSWORD).await;
        for response in [
            other.get(&format!("/api/v1/tasks/{task_id}")).await,
            cancel(&other, &task_id).await,
            other.get(&format!("/api/v1/tasks/{task_id}/events")).await,
        ] {
            assert_eq!(
                error_code(response).await,
                (StatusCode::NOT_FOUND, "not_found".to_owned()),
                "{email}"
            );
        }
        assert!(list(&other, "").await.is_empty(), "{email}");
    }
    // Still queued (no worker here), and untouched.
    let task = get(&admin, &task_id).await;
    assert_eq!(task["status"], "queued");
    assert_eq!(task["cancel_requested"], false);
    app.stop().await;
}

#[tokio::test]
async fn bad_task_input_is_refused_with_a_code() {
    let script = Script::new();
    let app = TestApp::start_with(options(&script, &[("AGENTBOX_TASKS_CONCURRENCY", "0")])).await;
    let admin = app.setup_admin().await;
    let invalid = (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input".to_owned());
    let huge = "x".repeat(32 * 1024 + 1);
    for body in [
        json!({ "agent": "nobody", "input": "hi" }),
        json!({ "agent": "", "input": "hi" }),
        json!({ "agent": "a\u{0}b", "input": "hi" }),
        json!({ "agent": "assistant", "input": "" }),
        json!({ "agent": "assistant", "input": "  \n " }),
        json!({ "agent": "assistant", "input": huge }),
        json!({ "agent": "assistant", "input": "a\u{0}b" }),
        json!({ "agent": "assistant", "input": "hi", "session_id": uuid::Uuid::new_v4() }),
    ] {
        let response = admin.post("/api/v1/tasks", body.clone()).await;
        assert_eq!(error_code(response).await, invalid, "{body}");
    }
    // Someone else's session is no session of the caller's.
    app.create_user("other@example.com", "Other Corp", false).await;
    let other = app.login("other@example.com", PASSWORD).await;
    let session_id = uuid::Uuid::new_v4();
    app.store()
        .execute_as(
            Actor::System,
            format!(
                "insert into public.sessions (id, user_id, agent) values ('{session_id}', '{}', 'assistant')",
                other.user_id()
            ),
        )
        .await
        .unwrap();
    let response = admin
        .post(
            "/api/v1/tasks",
            json!({ "agent": "assistant", "input": "hi", "session_id": session_id }),
        )
        .await;
    assert_eq!(error_code(response).await, invalid);
    let own = other
        .post(
            "/api/v1/tasks",
            json!({ "agent": "assistant", "input": "hi", "session_id": session_id }),
        )
        .await;
    assert_eq!(own.status(), StatusCode::CREATED);
    assert_eq!(
        own.json::<Value>().await.unwrap()["session_id"],
        json!(session_id)
    );

    for (body, code) in [
        (json!({ "input": "hi" }), "invalid_body"),
        (
            json!({ "agent": "assistant", "input": "hi", "priority": 1 }),
            "invalid_body",
        ),
        (json!({ "agent": "assistant", "input": 5 }), "invalid_body"),
    ] {
        let response = admin.post("/api/v1/tasks", body.clone()).await;
        assert_eq!(error_code(response).await.1, code, "{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_task_queries_and_ids_are_refused_with_a_code() {
    let script = Script::new();
    let app = TestApp::start_with(options(&script, &[("AGENTBOX_TASKS_CONCURRENCY", "0")])).await;
    let admin = app.setup_admin().await;
    let invalid = (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input".to_owned());
    let response = admin.get("/api/v1/tasks?status=done").await;
    assert_eq!(error_code(response).await, invalid);
    let response = admin.get("/api/v1/tasks?limit=many").await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::BAD_REQUEST, "invalid_query".to_owned())
    );
    let response = admin.get("/api/v1/tasks/not-a-uuid").await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::BAD_REQUEST, "invalid_path".to_owned())
    );
    let response = admin
        .get(&format!("/api/v1/tasks/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::NOT_FOUND, "not_found".to_owned())
    );
    let task_id = id(&create(&admin, "echo: fine").await);
    let response = admin
        .request(Method::GET, &format!("/api/v1/tasks/{task_id}/events"))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await, invalid);
    let anonymous = app
        .client()
        .post(app.url("/api/v1/tasks"))
        .json(&json!({ "agent": "assistant", "input": "hi" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(anonymous).await,
        (StatusCode::UNAUTHORIZED, "unauthenticated".to_owned())
    );
    app.stop().await;
}
