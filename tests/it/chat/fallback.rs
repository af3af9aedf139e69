//! Every agent answers on what is installed: an agent whose role's model is not downloaded
//! answers with the model that is, and the answer, its evaluation row and the agents list say
//! so; `routing.strict` keeps the refusal; giving the model the role makes it the agent's own.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{messages, named, new_session, rows_of, say};
use crate::support::{Options, Session, TestApp, error_code};

const MODEL: &str = "SmolLM2-135M-Instruct.Q4_1";

/// A newcomer's platform: one small model imported without a role, and an agent on the
/// `reasoning` role, whose catalog model (`qwq-32b`) is not downloaded.
async fn newcomer(strict: bool) -> (TestApp, Session) {
    let app = TestApp::start_with(Options {
        extra_env: vec![
            ("AGENTBOX_ENGINE_THREADS".into(), "1".into()),
            ("AGENTBOX_ENGINE_SLOTS".into(), "1".into()),
            ("AGENTBOX_ENGINE_CONTEXT_PER_SLOT".into(), "1024".into()),
            ("AGENTBOX_AGENTS_MAX_TOKENS".into(), "16".into()),
            ("AGENTBOX_ROUTING_STRICT".into(), strict.to_string()),
        ],
        ..Options::default()
    })
    .await;
    let admin = app.setup_admin().await;
    app.services()
        .models
        .import(crate::engine::test_model(), Vec::new())
        .await
        .expect("the test model imports");
    let put = admin
        .request(Method::PUT, "/api/v1/agents/thinker")
        .json(&json!({
            "description": "Thinks things through",
            "model_role": "reasoning",
            "tools": [],
            "max_steps": 1,
            "temperature": 0.0,
            "system_prompt": "Answer in one short sentence."
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK, "{}", put.text().await.unwrap());
    (app, admin)
}

async fn answered_by(user: &Session, agent: &str) -> Value {
    let response = user.get("/api/v1/agents").await;
    assert_eq!(response.status(), StatusCode::OK);
    let list: Value = response.json().await.unwrap();
    list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == agent)
        .unwrap_or_else(|| panic!("{list}"))["answered_by"]
        .clone()
}

#[tokio::test]
async fn an_agent_whose_role_model_is_missing_answers_with_the_present_model_and_says_so() {
    let (app, admin) = newcomer(false).await;

    // The agent picker's data: which model would answer, in place of which.
    let preview = answered_by(&admin, "thinker").await;
    assert_eq!(preview["model"], MODEL, "{preview}");
    assert_eq!(preview["provider"], "local");
    assert_eq!(preview["fallback"]["requested"], "reasoning", "{preview}");
    assert_eq!(preview["fallback"]["in_place_of"], "qwq-32b", "{preview}");
    assert_eq!(preview["fallback"]["reason"], "qwq-32b is not downloaded");

    let session = new_session(&admin, "thinker").await;
    let events = say(&admin, &session, json!({"content": "What is two plus two?"})).await;
    assert!(named(&events, "error").is_empty(), "{events:?}");
    let done = named(&events, "done")[0];
    assert_eq!(done["status"], "complete", "{done}");
    assert_eq!(done["model"], MODEL);
    assert_eq!(done["fallback"]["in_place_of"], "qwq-32b", "{done}");

    // The stored answer carries it (the chat's badge reads it from there).
    let stored = messages(&admin, &session).await;
    let answer = stored.last().unwrap();
    assert_eq!(answer["role"], "assistant");
    assert_eq!(answer["model"], MODEL);
    assert_eq!(
        answer["fallback"],
        json!({"requested": "reasoning", "in_place_of": "qwq-32b", "reason": "qwq-32b is not downloaded"}),
        "{answer}"
    );

    // And the evaluation row of the agent's call.
    let rows = rows_of(&app, "llm_evaluations", &session).await;
    let call = rows
        .iter()
        .find(|row| row["agent"] == "thinker")
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(
        (
            &call["model"],
            &call["provider"],
            &call["outcome"],
            &call["requested"],
            &call["in_place_of"],
            &call["fallback_reason"]
        ),
        (
            &json!(MODEL),
            &json!("local"),
            &json!("success"),
            &json!("reasoning"),
            &json!("qwq-32b"),
            &json!("qwq-32b is not downloaded")
        ),
        "{call}"
    );

    // Giving the model the role makes it the agent's own model: no fallback any more.
    let response = admin
        .request(Method::PUT, &format!("/api/v1/models/{MODEL}/roles"))
        .json(&json!({"roles": ["reasoning"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let change: Value = response.json().await.unwrap();
    assert_eq!(change["roles"], json!(["reasoning"]), "{change}");
    assert_eq!(
        change["moved"],
        json!([{"role": "reasoning", "from": "qwq-32b", "to": MODEL}])
    );
    let preview = answered_by(&admin, "thinker").await;
    assert_eq!(
        (&preview["model"], &preview["fallback"]),
        (&json!(MODEL), &Value::Null),
        "{preview}"
    );
    let events = say(&admin, &session, json!({"content": "And three plus three?"})).await;
    assert_eq!(named(&events, "done")[0]["status"], "complete", "{events:?}");
    let stored = messages(&admin, &session).await;
    assert_eq!(stored.last().unwrap()["fallback"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn strict_routing_refuses_and_the_agents_list_says_why() {
    let (app, admin) = newcomer(true).await;
    let preview = answered_by(&admin, "thinker").await;
    assert_eq!(preview["model"], Value::Null, "{preview}");
    let problem = preview["problem"].as_str().unwrap();
    assert!(
        problem.contains("qwq-32b is not downloaded") && problem.contains("routing.strict"),
        "{problem}"
    );

    let session = new_session(&admin, "thinker").await;
    let events = say(&admin, &session, json!({"content": "Hello?"})).await;
    let error = named(&events, "error")[0];
    assert_eq!(error["code"], "model_unavailable", "{error}");
    assert_eq!(named(&events, "done")[0]["status"], "error");
    let rows = rows_of(&app, "llm_evaluations", &session).await;
    assert!(
        rows.iter().any(|row| row["outcome"] == "error"
            && row["provider"] == "none"
            && row["requested"] == "reasoning"
            && row["fallback_reason"].is_null()),
        "{rows:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn roles_set_on_the_models_page_are_checked() {
    let (app, admin) = newcomer(false).await;
    let put = |name: &str, body: Value| {
        admin
            .request(Method::PUT, &format!("/api/v1/models/{name}/roles"))
            .json(&body)
            .send()
    };
    // One model, several roles.
    let response = put(MODEL, json!({"roles": ["fast", "code"]})).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let change: Value = response.json().await.unwrap();
    assert_eq!(change["roles"], json!(["fast", "code"]), "{change}");
    let models: Value = admin.get("/api/v1/models").await.json().await.unwrap();
    let listed = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == MODEL)
        .unwrap();
    assert_eq!(listed["roles"], json!(["fast", "code"]), "{listed}");
    assert_eq!(listed["given_roles"], json!(["fast", "code"]));
    let llama = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "llama-3.2-3b-instruct")
        .unwrap();
    assert_eq!(
        (&llama["roles"], &llama["catalog_role"]),
        (&json!([]), &json!("fast")),
        "the catalog model keeps its catalog role, played by the other now: {llama}"
    );

    // Leaving a role out takes it back: it returns to the catalog's model.
    let response = put(MODEL, json!({"roles": ["code"]})).await.unwrap();
    let change: Value = response.json().await.unwrap();
    assert_eq!(
        change["moved"],
        json!([{"role": "fast", "from": MODEL, "to": "llama-3.2-3b-instruct"}])
    );

    let cases = [
        (
            put("llama-3.2-3b-instruct", json!({"roles": []})).await.unwrap(),
            StatusCode::CONFLICT,
            "role_conflict",
        ),
        (
            put(MODEL, json!({"roles": ["wizard"]})).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            put("no-such-model", json!({"roles": ["fast"]})).await.unwrap(),
            StatusCode::NOT_FOUND,
            "model_not_found",
        ),
    ];
    for (i, (response, status, code)) in cases.into_iter().enumerate() {
        assert_eq!(error_code(response).await, (status, code.to_owned()), "case {i}");
    }
    app.create_user("member@example.com", "Acme Test", false).await;
    let member = app.login("member@example.com", crate::support::PASSWORD).await;
    let response = member
        .request(Method::PUT, &format!("/api/v1/models/{MODEL}/roles"))
        .json(&json!({"roles": ["fast"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await.0, StatusCode::FORBIDDEN);
    app.stop().await;
}
