//! Ollama's `/api/...` beside the platform's `/api/v1/...`: models, chat and generate as
//! NDJSON and whole, keep-alive onto load and unload, admins-only pull and delete, and bad
//! input as `{"error": "..."}`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{CompatApp, MODEL, eventually};
use crate::support::{PASSWORD, ollama_error};

fn lines(body: &str) -> Vec<Value> {
    body.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The model endpoints answer in Ollama's shapes, and neither path family shadows the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_show_and_paths_beside_the_platform_api() {
    let compat = CompatApp::start(1).await;
    let version = compat.get_json("/api/version").await;
    assert!(version["version"].is_string());
    let tags = compat.get_json("/api/tags").await;
    let local = tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == MODEL)
        .expect("the model is listed");
    assert_eq!(local["details"]["format"], "gguf");
    assert_eq!(local["details"]["family"], "llama");
    assert!(local["size"].as_u64().unwrap() > 50_000_000);
    assert!(
        tags["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "agent:analyst")
    );

    let show = compat.post_json("/api/show", &json!({"model": "fast"})).await;
    assert!(show["template"].as_str().unwrap().contains("im_start"), "{show}");
    assert_eq!(show["model_info"]["general.architecture"], "llama");
    assert_eq!(show["model_info"]["agentbox.answered_by"], MODEL);
    let agent = compat
        .post_json("/api/show", &json!({"name": "agent:analyst"}))
        .await;
    assert!(agent["system"].as_str().is_some_and(|s| !s.is_empty()), "{agent}");

    // The platform API is still there, and unknown Ollama-looking paths are JSON, not the app.
    assert_eq!(
        compat.get("/api/v1/agents").send().await.unwrap().status(),
        StatusCode::OK
    );
    let unknown = compat.get("/api/nothing").send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(
        unknown.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    compat.stop().await;
}

/// Chat streams NDJSON lines ending with the stats; generate answers whole; a tool is called
/// in Ollama's shape; `keep_alive` loads and unloads the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_and_generate_stream_ndjson_and_keep_alive_loads_and_unloads() {
    let compat = CompatApp::start(1).await;
    let response = compat
        .post(
            "/api/chat",
            &json!({"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}],
            "options": {"temperature": 0, "num_predict": 16, "seed": 7}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let lines = lines(&response.text().await.unwrap());
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert!(matches!(last["done_reason"].as_str(), Some("stop" | "length")));
    assert!(last["eval_count"].as_u64().unwrap() <= 16);
    assert!(last["prompt_eval_count"].as_u64().unwrap() > 0);
    assert!(last["total_duration"].as_u64().unwrap() >= last["eval_duration"].as_u64().unwrap());
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l["done"] == false && l["message"]["role"] == "assistant")
    );
    let streamed: String = lines
        .iter()
        .filter_map(|l| l["message"]["content"].as_str())
        .collect();
    assert!(!streamed.is_empty());

    let whole = compat
        .post_json(
            "/api/generate",
            &json!({"model": "fast", "prompt": "Say hello.", "stream": false,
            "options": {"temperature": 0, "num_predict": 16, "seed": 7}}),
        )
        .await;
    assert_eq!(whole["done"], true);
    assert_eq!(
        whole["response"].as_str(),
        Some(streamed.as_str()),
        "the same greedy answer"
    );

    let called = compat.post_json("/api/chat", &json!({"model": "fast", "stream": false,
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]}}}],
            "options": {"temperature": 0, "num_predict": 64}})).await;
    let calls = called["message"]["tool_calls"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for call in &calls {
        assert_eq!(call["function"]["name"], "get_weather");
        assert!(call["function"]["arguments"]["city"].is_string(), "{called}");
    }
    assert!(!calls.is_empty() || !called["message"]["content"].as_str().unwrap().is_empty());

    // keep_alive 0 unloads; an empty request with a duration loads until then.
    let unload = compat
        .post_json("/api/generate", &json!({"model": MODEL, "keep_alive": 0}))
        .await;
    assert_eq!(unload["done_reason"], "unload");
    let ps = eventually(
        || compat.get_json("/api/ps"),
        |ps| ps["models"].as_array().is_some_and(Vec::is_empty),
    )
    .await;
    assert_eq!(ps["models"], json!([]), "unloaded");
    let load = compat
        .post_json(
            "/api/chat",
            &json!({"model": MODEL, "messages": [], "keep_alive": "5m"}),
        )
        .await;
    assert_eq!(load["done_reason"], "load");
    let ps = compat.get_json("/api/ps").await;
    assert_eq!(ps["models"][0]["name"], MODEL, "{ps}");
    assert!(ps["models"][0]["expires_at"].is_string(), "{ps}");
    compat.stop().await;
}

/// Bad Ollama requests, with the status each gets.
fn bad_requests() -> Vec<(&'static str, Value, StatusCode)> {
    let user = json!([{"role": "user", "content": "hi"}]);
    let bad = StatusCode::BAD_REQUEST;
    vec![
        (
            "/api/chat",
            json!({"model": "nope", "messages": user}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/chat",
            json!({"model": "fast", "messages": [{"role": "wizard", "content": "hi"}]}),
            bad,
        ),
        (
            "/api/chat",
            json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "42"}]}),
            bad,
        ),
        (
            "/api/chat",
            json!({"model": "fast", "messages": [{"role": "user", "content": "hi", "images": ["aGk="]}]}),
            bad,
        ),
        (
            "/api/chat",
            json!({"model": "fast", "messages": user, "format": "yaml"}),
            bad,
        ),
        (
            "/api/chat",
            json!({"model": "fast", "messages": user, "keep_alive": "soon"}),
            bad,
        ),
        (
            "/api/chat",
            json!({"model": "fast", "messages": user, "options": {"temperature": 9}}),
            bad,
        ),
        ("/api/chat", json!({"messages": user}), bad),
        (
            "/api/generate",
            json!({"model": "fast", "prompt": "hi", "context": [1, 2]}),
            bad,
        ),
        (
            "/api/generate",
            json!({"model": "fast", "prompt": "hi", "options": {"num_predict": 100_000}}),
            bad,
        ),
        ("/api/show", json!({"model": "nope"}), StatusCode::NOT_FOUND),
        ("/api/show", json!({}), bad),
        ("/api/embed", json!({"model": "x", "input": 42}), bad),
        ("/api/pull", json!({"model": "nope"}), StatusCode::NOT_FOUND),
    ]
}

/// Bad input and callers who may not get Ollama-shaped errors with the right statuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_members_get_ollama_shaped_errors() {
    let compat = CompatApp::start(1).await;
    let cases = bad_requests();
    for (path, body, status) in cases {
        let response = compat.post(path, &body).send().await.unwrap();
        let (got, message) = ollama_error(response).await;
        assert_eq!(got, status, "{path} {body}: {message}");
    }
    let anonymous = compat
        .app
        .client()
        .get(compat.app.url("/api/tags"))
        .send()
        .await
        .unwrap();
    assert_eq!(ollama_error(anonymous).await.0, StatusCode::UNAUTHORIZED);

    // Members may chat but not pull or delete models.
    compat
        .app
        .create_user("member@example.com", "Acme Test", false)
        .await;
    let member = compat.app.login("member@example.com", PASSWORD).await;
    let key = member.api_key("member", &["read", "write"]).await;
    let client = compat.app.client();
    for (method, path) in [
        (reqwest::Method::POST, "/api/pull"),
        (reqwest::Method::DELETE, "/api/delete"),
    ] {
        let response = client
            .request(method, compat.app.url(path))
            .bearer_auth(&key)
            .json(&json!({"model": MODEL}))
            .send()
            .await
            .unwrap();
        assert_eq!(ollama_error(response).await.0, StatusCode::FORBIDDEN, "{path}");
    }
    let tags: Value = client
        .get(compat.app.url("/api/tags"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        tags["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == MODEL),
        "the member still has the model"
    );
    compat.stop().await;
}
