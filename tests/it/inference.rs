//! The model router and the providers API: local models through the platform's engine (the
//! real test model), fallback past providers that cannot answer, load/unload, and API keys that
//! are stored encrypted and never shown.

use agentbox::engine::catalog::ModelRole;
use agentbox::engine::chat::{ChatEvent, ChatRequest};
use agentbox::engine::grammar::ToolSpec;
use agentbox::engine::{ChatMessage, FinishReason, SamplingParams};
use agentbox::store::Actor;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::engine::test_model;
use crate::support::{Options, Session, TestApp, error_code};

const MODEL: &str = "SmolLM2-135M-Instruct.Q4_1";

/// A platform whose engine runs one thread (tests run side by side) with the test model
/// imported as the `fast` role.
async fn app_with_model() -> (TestApp, Session) {
    let options = Options {
        extra_env: vec![
            ("AGENTBOX_ENGINE_THREADS".into(), "1".into()),
            ("AGENTBOX_ENGINE_SLOTS".into(), "2".into()),
            ("AGENTBOX_ENGINE_CONTEXT_PER_SLOT".into(), "1024".into()),
        ],
        ..Options::default()
    };
    let app = TestApp::start_with(options).await;
    let admin = app.setup_admin().await;
    app.services()
        .models
        .import(test_model(), vec![ModelRole::Fast])
        .await
        .expect("the test model imports");
    (app, admin)
}

fn greedy(question: &str) -> ChatRequest {
    ChatRequest {
        max_tokens: 24,
        sampling: SamplingParams {
            temperature: 0.0,
            seed: 7,
            ..SamplingParams::default()
        },
        ..ChatRequest::new(vec![ChatMessage::new("user", question)])
    }
}

async fn send(session: &Session, method: Method, path: &str, body: Value) -> reqwest::Response {
    session.request(method, path).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn local_models_answer_through_the_router_stream_and_load_on_demand() {
    let (app, admin) = app_with_model().await;
    let inference = app.services().inference;

    let mut routed = inference
        .chat(MODEL, greedy("What is the capital of France?"))
        .await
        .unwrap();
    assert_eq!(routed.answerer.provider, "local");
    assert_eq!(routed.answerer.model, MODEL);
    let mut pieces = Vec::new();
    let stats = loop {
        match routed.stream.next().await.expect("events until done").unwrap() {
            ChatEvent::Text(piece) => pieces.push(piece),
            ChatEvent::ToolCall(call) => panic!("no tools were offered, got {call:?}"),
            ChatEvent::ToolCallDelta(delta) => panic!("no tools were offered, got {delta:?}"),
            ChatEvent::Reasoning(text) => panic!("the test model does not reason, got {text:?}"),
            ChatEvent::Done(stats) => break stats,
        }
    };
    assert!(pieces.len() > 1, "the answer streams in pieces: {pieces:?}");
    assert!(stats.completion_tokens > 0 && stats.prompt_tokens > 0);

    // Same request, same answer: greedy decoding through the router is deterministic.
    let again = inference
        .chat(MODEL, greedy("What is the capital of France?"))
        .await
        .unwrap();
    assert_eq!(again.stream.collect().await.unwrap().text, pieces.concat());

    // The role reaches the imported model: the library's choice for `fast` takes the place of
    // the seeded (and never downloaded) catalog model.
    let by_role = inference.chat("fast", greedy("Hi")).await.unwrap();
    assert_eq!(by_role.answerer.model, MODEL);
    assert!(by_role.skipped.is_empty(), "{:?}", by_role.skipped);
    drop(by_role);

    let models: Value = admin.get("/api/v1/models").await.json().await.unwrap();
    let entry = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == MODEL)
        .expect("listed");
    assert_eq!(entry["loaded"], true, "{entry}");

    let unloaded = send(
        &admin,
        Method::POST,
        &format!("/api/v1/models/{MODEL}/unload"),
        json!({}),
    )
    .await;
    assert_eq!(unloaded.status(), StatusCode::OK);
    assert_eq!(unloaded.json::<Value>().await.unwrap()["unloaded"], true);
    let loaded = send(
        &admin,
        Method::POST,
        &format!("/api/v1/models/{MODEL}/load"),
        json!({}),
    )
    .await;
    assert_eq!(loaded.status(), StatusCode::OK);
    let loaded: Value = loaded.json().await.unwrap();
    assert_eq!(loaded["name"], MODEL);
    assert!(loaded["parameters"].as_u64().unwrap() > 100_000_000);

    let missing = send(
        &admin,
        Method::POST,
        "/api/v1/models/no-such-model/load",
        json!({}),
    )
    .await;
    assert_eq!(
        error_code(missing).await,
        (StatusCode::NOT_FOUND, "model_not_found".into())
    );
    let not_pulled = send(&admin, Method::POST, "/api/v1/models/qwq-32b/load", json!({})).await;
    assert_eq!(
        error_code(not_pulled).await,
        (StatusCode::SERVICE_UNAVAILABLE, "model_unavailable".into())
    );
    app.stop().await;
}

#[tokio::test]
async fn tool_answers_from_the_local_model_always_parse() {
    let (app, _admin) = app_with_model().await;
    let tools = vec![ToolSpec {
        name: "kpi_values".into(),
        description: "Monthly values of one KPI of one department".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "kpi": {"type": "string", "maxLength": 40},
                "months": {"type": "integer", "minimum": 1, "maximum": 24}
            },
            "required": ["kpi", "months"],
            "additionalProperties": false
        }),
    }];
    for seed in [1, 2, 3] {
        let mut request = greedy("Use the kpi_values tool: revenue for the last 3 months.");
        request.tools = tools.clone();
        request.max_tokens = 64;
        request.sampling.temperature = 0.7;
        request.sampling.seed = seed;
        let routed = app.services().inference.chat(MODEL, request).await.unwrap();
        let answer = routed.stream.collect().await.unwrap();
        let stats = answer.stats.expect("stats");
        match answer.tool_calls.as_slice() {
            [] => assert!(!answer.text.is_empty(), "seed {seed}: text or a call"),
            [call] => {
                assert_eq!(call.name, "kpi_values");
                assert!(call.arguments["kpi"].is_string(), "seed {seed}: {call:?}");
                assert!(call.arguments["months"].is_u64(), "seed {seed}: {call:?}");
                assert!(call.id.starts_with("call_"));
                assert_eq!(stats.finish, FinishReason::ToolCalls);
            }
            calls => panic!("one call per answer, got {calls:?}"),
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_router_falls_back_past_unreachable_providers_and_missing_files() {
    let (app, admin) = app_with_model().await;
    // Preferred (priority -1) but nothing listens on port 1.
    let created = send(
        &admin,
        Method::POST,
        "/api/v1/providers",
        json!({"name": "down", "kind": "openai_compatible", "base_url": "http://127.0.0.1:1/v1", "priority": -1}),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    for (provider, model) in [("down", "remote-coder"), ("local", MODEL)] {
        let put = send(
            &admin,
            Method::PUT,
            &format!("/api/v1/providers/{provider}/models/{model}"),
            json!({"role": "code", "context_size": 1024}),
        )
        .await;
        assert_eq!(put.status(), StatusCode::OK, "{provider}/{model}");
    }

    let routed = app
        .services()
        .inference
        .chat("code", greedy("Say hi."))
        .await
        .unwrap();
    assert_eq!(routed.answerer.model, MODEL);
    let skipped: Vec<&str> = routed
        .skipped
        .iter()
        .map(|(who, _)| who.provider.as_str())
        .collect();
    assert_eq!(skipped, ["down"], "{:?}", routed.skipped);
    assert!(
        routed.skipped[0].1.contains("unavailable"),
        "{:?}",
        routed.skipped
    );
    assert!(!routed.stream.collect().await.unwrap().text.is_empty());

    // With every candidate gone, the caller hears why the last one failed.
    let disabled = send(
        &admin,
        Method::PATCH,
        "/api/v1/providers/local",
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    let err = app
        .services()
        .inference
        .chat("code", greedy("Say hi."))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`down` is unavailable"), "{err}");
    app.stop().await;
}

#[tokio::test]
async fn provider_keys_are_stored_encrypted_and_never_shown() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let secret = "sk-test-do-not-leak-123456";
    let created = send(
        &admin,
        Method::POST,
        "/api/v1/providers",
        json!({"name": "vllm.lab", "kind": "openai_compatible", "base_url": "http://10.0.0.5:8000/v1/", "api_key": secret}),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let body = created.text().await.unwrap();
    assert!(!body.contains(secret), "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(created["key"], "stored");
    assert_eq!(
        created["base_url"], "http://10.0.0.5:8000/v1",
        "trailing slash trimmed"
    );

    let listed = admin.get("/api/v1/providers").await.text().await.unwrap();
    assert!(!listed.contains(secret) && listed.contains("vllm.lab"));
    let rows = app
        .store()
        .query_json_as(
            Actor::System,
            "select encode(api_key_ciphertext, 'escape') as raw, length(api_key_ciphertext) as len
               from public.providers where name = 'vllm.lab'"
                .into(),
            1,
        )
        .await
        .unwrap();
    assert!(!rows[0]["raw"].as_str().unwrap().contains(secret));
    assert!(rows[0]["len"].as_i64().unwrap() > 40, "nonce + ciphertext + tag");

    let cleared = send(
        &admin,
        Method::PATCH,
        "/api/v1/providers/vllm.lab",
        json!({"api_key": null}),
    )
    .await;
    assert_eq!(cleared.json::<Value>().await.unwrap()["key"], "none");

    app.stop().await;
}

#[tokio::test]
async fn provider_changes_refuse_bad_input_and_members() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let created = send(
        &admin,
        Method::POST,
        "/api/v1/providers",
        json!({"name": "vllm.lab", "kind": "openai_compatible", "base_url": "http://10.0.0.5:8000/v1"}),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    // Bad input: clear codes, nothing changed.
    let cases = [
        (
            json!({"name": "Bad Name", "kind": "openai"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"name": "x", "kind": "gemini"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"name": "x", "kind": "openai_compatible"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"name": "y", "kind": "openai", "base_url": "ftp://x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({"name": "vllm.lab", "kind": "openai_compatible", "base_url": "http://a"}),
            StatusCode::CONFLICT,
            "provider_exists",
        ),
        (
            json!({"name": "z", "kind": "openai", "surprise": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        let response = send(&admin, Method::POST, "/api/v1/providers", body.clone()).await;
        assert_eq!(error_code(response).await, (status, code.to_owned()), "{body}");
    }
    let local = admin
        .request(Method::DELETE, "/api/v1/providers/local")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(local).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = send(
        &admin,
        Method::PATCH,
        "/api/v1/providers/nope",
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(
        error_code(unknown).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );

    // Members read providers but cannot change them.
    app.create_user("member@example.com", "Acme Test", false).await;
    let member = app.login("member@example.com", crate::support::PASSWORD).await;
    assert_eq!(member.get("/api/v1/providers").await.status(), StatusCode::OK);
    let refused = send(
        &member,
        Method::PATCH,
        "/api/v1/providers/openai",
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(error_code(refused).await.0, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn the_router_reaches_a_remote_openai_compatible_provider_with_its_stored_key() {
    let server = crate::providers::llama_server::LlamaServer::start(None).await;
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let created = send(
        &admin,
        Method::POST,
        "/api/v1/providers",
        json!({"name": "lab", "kind": "openai_compatible", "base_url": server.base_url, "api_key": "sk-lab", "priority": 5}),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let put = send(
        &admin,
        Method::PUT,
        "/api/v1/providers/lab/models/smol-remote",
        json!({"context_size": 2048, "remote_model": "smollm2"}),
    )
    .await;
    assert_eq!(put.status(), StatusCode::OK);

    let inference = app.services().inference;
    let mut answers = Vec::new();
    for _ in 0..2 {
        let routed = inference
            .chat("smol-remote", greedy("Name a colour."))
            .await
            .unwrap();
        assert_eq!(routed.answerer.provider, "lab");
        assert!(routed.skipped.is_empty());
        let answer = routed.stream.collect().await.unwrap();
        assert!(answer.stats.unwrap().completion_tokens > 0);
        answers.push(answer.text);
    }
    assert!(!answers[0].is_empty());
    assert_eq!(
        answers[0], answers[1],
        "greedy answers repeat through the reused client"
    );
    app.stop().await;
}
