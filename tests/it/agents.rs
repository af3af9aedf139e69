//! Agent definitions: the built-ins, files in the agents folder (reloaded when they change, a
//! broken one reported and skipped), and database copies that admins manage and that override
//! the files.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{PASSWORD, Session, TestApp, error_code};

async fn agents(session: &Session) -> Value {
    let response = session.get("/api/v1/agents").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn find<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
}

/// Waits for the folder poll to pick a change up (it runs every 2 s).
async fn until(session: &Session, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..50 {
        let list = agents(session).await;
        if check(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "the agents folder was not reloaded within 10 s: {}",
        agents(session).await
    );
}

#[tokio::test]
async fn built_in_agents_are_there_and_files_override_them_live() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let list = agents(&admin).await;
    for (name, role) in [("assistant", "fast"), ("analyst", "reasoning"), ("coder", "code")] {
        let agent = find(&list, name).unwrap_or_else(|| panic!("{name} in {list}"));
        assert_eq!(agent["source"], "builtin");
        assert_eq!(agent["model_role"], role);
        assert!(!agent["system_prompt"].as_str().unwrap().is_empty());
    }
    assert!(
        find(&list, "analyst").unwrap()["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("kpi_vs_target"))
    );

    let dir = app.data_dir.join("agents");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("assistant.md"),
        "---\nname: assistant\ndescription: Ours\nmodel_name: SmolLM2-135M-Instruct.Q4_1\nmax_steps: 3\n---\nYou are terse.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("broken.md"),
        "---\nname: broken\nmodel_role: enormous\n---\nx\n",
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not an agent").unwrap();
    let list = until(&admin, |list| {
        find(list, "assistant").is_some_and(|a| a["source"] == "file")
    })
    .await;
    let assistant = find(&list, "assistant").unwrap();
    assert_eq!(assistant["system_prompt"], "You are terse.");
    assert_eq!(assistant["max_steps"], 3);
    assert!(find(&list, "broken").is_none());
    let problems = list["file_problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0]["file"].as_str().unwrap().ends_with("broken.md"));
    assert!(problems[0]["error"].as_str().unwrap().contains("model_role"));

    // Removing the file brings the built-in back.
    std::fs::remove_file(dir.join("assistant.md")).unwrap();
    until(&admin, |list| {
        find(list, "assistant").is_some_and(|a| a["source"] == "builtin")
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn admins_override_agents_in_the_database_and_members_use_them() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    app.create_user("member@example.com", "Acme Test", false).await;
    let member = app.login("member@example.com", PASSWORD).await;

    let body = json!({
        "description": "KPI answers for finance",
        "model_role": "reasoning",
        "tools": ["list_kpis", "kpi_vs_target"],
        "max_steps": 5,
        "temperature": 0.1,
        "system_prompt": "Answer from the data only."
    });
    let put = admin
        .request(Method::PUT, "/api/v1/agents/analyst")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let stored: Value = put.json().await.unwrap();
    assert_eq!(stored["source"], "database");

    let seen: Value = member.get("/api/v1/agents/analyst").await.json().await.unwrap();
    assert_eq!(seen["system_prompt"], "Answer from the data only.");
    assert_eq!(seen["max_steps"], 5);
    assert!(
        agents(&member).await["file_problems"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let refused = member
        .request(Method::PUT, "/api/v1/agents/analyst")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(refused).await.0, StatusCode::FORBIDDEN);
    let refused = member
        .request(Method::DELETE, "/api/v1/agents/analyst")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(refused).await.0, StatusCode::FORBIDDEN);

    // Deleting the stored copy brings the built-in back.
    let deleted: Value = admin
        .request(Method::DELETE, "/api/v1/agents/analyst")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["now"]["source"], "builtin");
    let again = admin
        .request(Method::DELETE, "/api/v1/agents/analyst")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(again).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let missing = member.get("/api/v1/agents/nobody").await;
    assert_eq!(
        error_code(missing).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    app.stop().await;
}

#[tokio::test]
async fn agent_bodies_with_mistakes_get_clear_errors() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let bad = [
        json!({"model_role": "huge"}),
        json!({"model_role": "fast", "max_steps": 0}),
        json!({"model_role": "fast", "temperature": 5}),
        json!({"description": "no model"}),
        json!({"name": "other", "model_role": "fast"}),
    ];
    for body in bad {
        let response = admin
            .request(Method::PUT, "/api/v1/agents/custom")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(response).await,
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input".into()),
            "{body}"
        );
    }
    let unknown_field = admin
        .request(Method::PUT, "/api/v1/agents/custom")
        .json(&json!({"model_role": "fast", "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(unknown_field).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let bad_name = admin
        .request(Method::PUT, "/api/v1/agents/Not%20Valid")
        .json(&json!({"model_role": "fast"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(bad_name).await.0, StatusCode::UNPROCESSABLE_ENTITY);

    app.stop().await;
}
