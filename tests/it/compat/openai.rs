//! `/v1`: models, chat completions whole and streamed on the real test model, legacy
//! completions, bad input in `OpenAI`'s error shape, and a disconnect that stops the model.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{CompatApp, MODEL, eventually};
use crate::chat::analyst_app;
use crate::chat::scripted::{ScriptedModel, text};
use crate::support::openai_error_code;

fn greedy(content: &str, max_tokens: u32) -> Value {
    json!({
        "model": "fast",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
    })
}

/// The `data:` payloads of an SSE body, in order.
fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// Local models, the roles and the agents are listed; one is fetched; an unknown one is a
/// 404 `model_not_found` in `OpenAI`'s shape, and no key a 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_list_local_models_roles_and_agents() {
    let compat = CompatApp::start(1).await;
    let list = compat.get_json("/v1/models").await;
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for id in [
        MODEL,
        "fast",
        "reasoning",
        "code",
        "agent:assistant",
        "agent:analyst",
        "agent:coder",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let analyst = compat.get_json("/v1/models/agent:analyst").await;
    assert_eq!(
        (analyst["object"].as_str(), analyst["kind"].as_str()),
        (Some("model"), Some("agent"))
    );
    let local = compat.get_json(&format!("/v1/models/{MODEL}")).await;
    assert!(local["created"].as_i64().unwrap() > 1_600_000_000, "{local}");

    let missing = compat.get("/v1/models/nope").send().await.unwrap();
    assert_eq!(
        openai_error_code(missing).await,
        (StatusCode::NOT_FOUND, "model_not_found".into())
    );
    let anonymous = compat
        .app
        .client()
        .get(compat.app.url("/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        openai_error_code(anonymous).await,
        (StatusCode::UNAUTHORIZED, "unauthenticated".into())
    );
    compat.stop().await;
}

/// A whole and a streamed answer from the real test model, shaped as `OpenAI`'s, each
/// recorded as an `llm_evaluations` row; legacy completions continue a raw prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_completions_answer_whole_and_streamed_and_are_recorded() {
    let compat = CompatApp::start(1).await;
    let whole = compat
        .post_json(
            "/v1/chat/completions",
            &greedy("What is the capital of France?", 24),
        )
        .await;
    assert!(whole["id"].as_str().unwrap().starts_with("chatcmpl-"), "{whole}");
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["model"], MODEL);
    let choice = &whole["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(!choice["message"]["content"].as_str().unwrap().is_empty());
    assert!(matches!(
        choice["finish_reason"].as_str(),
        Some("stop" | "length")
    ));
    let usage = &whole["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap())
    );

    let mut body = greedy("What is the capital of France?", 24);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let response = compat.post("/v1/chat/completions", &body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let data = sse_data(&response.text().await.unwrap());
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"])
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    // Greedy decoding: the streamed text is the whole answer's.
    assert_eq!(text, choice["message"]["content"].as_str().unwrap());
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    for count in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        assert_eq!(usage_chunk["usage"][count], whole["usage"][count], "{count}");
    }
    // The same prompt again: its slot holds all of it but the last token, which is evaluated
    // for the first answer token (the engine's prompt cache).
    let prompt_tokens = whole["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(
        usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"],
        prompt_tokens - 1
    );
    assert!(
        whole["usage"]["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap()
            < prompt_tokens - 1
    );
    assert!(chunks[chunks.len() - 2]["choices"][0]["finish_reason"].is_string());

    let legacy = compat
        .post_json(
            "/v1/completions",
            &json!({"model": MODEL, "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0}),
        )
        .await;
    assert_eq!(legacy["object"], "text_completion");
    assert!(
        !legacy["choices"][0]["text"].as_str().unwrap().is_empty(),
        "{legacy}"
    );
    assert!(legacy["usage"]["completion_tokens"].as_u64().unwrap() <= 8);

    let rows = eventually(|| compat.direct_evaluations(), |rows| rows.len() >= 3).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.iter().all(|r| r["model"] == MODEL
            && r["provider"] == "local"
            && r["outcome"] == "success"
            && r["completion_tokens"].as_u64() > Some(0)),
        "{rows:?}"
    );
    compat.stop().await;
}

/// A JSON schema through the grammar gives JSON of that shape, and a required tool a call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_formats_and_tool_choice_go_through_the_grammar() {
    let compat = CompatApp::start(1).await;
    let mut body = greedy("Give a person's name and age.", 64);
    body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
        "required": ["name", "age"], "additionalProperties": false}}});
    let answer = compat.post_json("/v1/chat/completions", &body).await;
    let person: Value =
        serde_json::from_str(answer["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(person["name"].is_string() && person["age"].is_i64(), "{person}");

    let mut body = greedy("What is the weather in Paris?", 64);
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}}, "required": ["city"]}}}]);
    body["tool_choice"] = json!("required");
    let answer = compat.post_json("/v1/chat/completions", &body).await;
    let choice = &answer["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{answer}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(arguments["city"].is_string());
    compat.stop().await;
}

/// Bad chat completion bodies, with the status and code each gets.
fn bad_chat_bodies() -> Vec<(Value, StatusCode, &'static str)> {
    let user = |content: &str| json!([{"role": "user", "content": content}]);
    let tool = |parameters: Value| json!([{"type": "function", "function": {"name": "f", "parameters": parameters}}]);
    let bad = StatusCode::BAD_REQUEST;
    vec![
        (
            json!({"model": "nope", "messages": user("hi")}),
            StatusCode::NOT_FOUND,
            "model_not_found",
        ),
        (
            json!({"model": "agent:nope", "messages": user("hi")}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (json!({"model": "fast", "messages": []}), bad, "invalid_input"),
        (json!({"model": "fast"}), bad, "invalid_body"),
        (
            json!({"model": "fast", "messages": [{"role": "wizard", "content": "hi"}]}),
            bad,
            "invalid_input",
        ),
        (
            json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_9", "content": "42"}]}),
            bad,
            "invalid_input",
        ),
        (
            json!({"model": "fast", "messages": user("hi"), "n": 2}),
            bad,
            "unsupported_value",
        ),
        (
            json!({"model": "fast", "messages": user("hi"), "max_tokens": 100_000}),
            bad,
            "invalid_request",
        ),
        (
            json!({"model": "fast", "messages": user("hi"), "tools": tool(json!("not a schema"))}),
            bad,
            "invalid_input",
        ),
        (
            json!({"model": "fast", "messages": user("hi"), "tools": tool(json!({"type": "array"}))}),
            bad,
            "invalid_input",
        ),
        (
            json!({"model": "fast", "messages": user("hi"), "tool_choice": "required"}),
            bad,
            "invalid_input",
        ),
        (
            json!({"model": "fast", "messages": user("hi"), "tools": tool(json!({"type": "object"})), "tool_choice": {"type": "function", "function": {"name": "g"}}}),
            bad,
            "invalid_input",
        ),
        (
            json!({"model": "fast", "messages": user("hi"), "response_format": {"type": "xml"}}),
            bad,
            "invalid_input",
        ),
        (
            json!({"model": "fast", "messages": user("hi"), "temperature": 5}),
            bad,
            "invalid_input",
        ),
        (
            json!({"model": "fast", "messages": user("hi"), "logprobs": true}),
            bad,
            "unsupported_value",
        ),
        (
            json!({"model": "fast", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
            bad,
            "unsupported_value",
        ),
        (
            json!({"model": "agent:assistant", "messages": user("hi"), "tools": tool(json!({"type": "object"}))}),
            bad,
            "unsupported_value",
        ),
        (
            json!({"model": "agent:assistant", "messages": [{"role": "assistant", "content": "hi"}]}),
            bad,
            "invalid_input",
        ),
        (
            json!({"model": "fast", "messages": user(&"x".repeat(3 << 20))}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ]
}

/// Every kind of bad input gets a 4xx in `OpenAI`'s shape with a stable code: never a 500 or
/// a hang, and nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_openai_shaped_errors() {
    let compat = CompatApp::start(1).await;
    let cases = bad_chat_bodies();
    let bad = StatusCode::BAD_REQUEST;
    for (body, status, code) in cases {
        let shown: String = body.to_string().chars().take(120).collect();
        let started = Instant::now();
        let response = compat.post("/v1/chat/completions", &body).send().await.unwrap();
        assert_eq!(
            openai_error_code(response).await,
            (status, code.to_owned()),
            "{shown}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{shown} answered at once"
        );
    }
    let completions: Vec<(Value, &str)> = vec![
        (
            json!({"model": "fast", "prompt": ["a", "b"]}),
            "unsupported_value",
        ),
        (json!({"model": "fast", "prompt": ""}), "invalid_input"),
        (
            json!({"model": "fast", "prompt": "a", "echo": true}),
            "unsupported_value",
        ),
        (
            json!({"model": "agent:analyst", "prompt": "a"}),
            "unsupported_value",
        ),
    ];
    for (body, code) in completions {
        let response = compat.post("/v1/completions", &body).send().await.unwrap();
        assert_eq!(
            openai_error_code(response).await,
            (bad, code.to_owned()),
            "{body}"
        );
    }
    // A 10 MB body and a broken one.
    let huge = compat
        .app
        .client()
        .post(compat.app.url("/v1/chat/completions"))
        .bearer_auth(&compat.key)
        .header("content-type", "application/json")
        .body(vec![b' '; 10 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(
        openai_error_code(huge).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into())
    );
    let broken = compat
        .app
        .client()
        .post(compat.app.url("/v1/chat/completions"))
        .bearer_auth(&compat.key)
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(openai_error_code(broken).await, (bad, "invalid_json".into()));
    // Nothing was run: no model call was recorded but the unknown model's refusal.
    let rows = compat.direct_evaluations().await;
    assert!(rows.iter().all(|r| r["outcome"] == "error"), "{rows:?}");
    compat.stop().await;
}

/// A client that goes away mid-stream stops its generation: with one slot, the next request
/// is answered at once instead of after thousands of tokens, and the call is recorded as
/// cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_stops_the_generation() {
    let compat = CompatApp::start(1).await;
    let mut body = greedy("Count from 1 to 5000, separated by commas.", 3500);
    body["stream"] = json!(true);
    let response = compat.post("/v1/chat/completions", &body).send().await.unwrap();
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("\"content\":\"") || seen.matches("data: ").count() < 4 {
        seen.push_str(&String::from_utf8_lossy(&stream.next().await.unwrap().unwrap()));
    }
    drop(stream);

    let started = Instant::now();
    let next = compat
        .post_json("/v1/chat/completions", &greedy("Say hi.", 4))
        .await;
    assert!(next["choices"][0]["message"]["content"].is_string(), "{next}");
    // 3,500 tokens at this model's speed take well over a minute on one thread.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the slot was freed: {:?}",
        started.elapsed()
    );
    let rows = eventually(|| compat.direct_evaluations(), |rows| rows.len() >= 2).await;
    assert_eq!(rows[0]["outcome"], "cancelled", "{rows:?}");
    assert_eq!(rows[1]["outcome"], "success", "{rows:?}");
    compat.stop().await;
}

/// `agent:<name>` runs the agent's loop under the client's `max_tokens`, and keeps its turns
/// as a session of the caller's, named by the `x-agentbox-session` header.
#[tokio::test]
async fn an_agent_answers_under_the_clients_max_tokens_and_keeps_a_session() {
    let model = ScriptedModel::start(vec![text("Hello there.")]).await;
    let (app, admin, member) = analyst_app().await;
    model.register_for_role(&admin, "fast").await;
    let key = member.api_key("sdk", &["read", "write"]).await;
    let response = app
        .client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "agent:assistant", "max_tokens": 7,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Greet me."}]}))
        .send()
        .await
        .unwrap();
    let session = response.headers()["x-agentbox-session"]
        .to_str()
        .unwrap()
        .to_owned();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["model"], "agent:assistant");
    assert_eq!(answer["choices"][0]["message"]["content"], "Hello there.");
    let sent = &model.requests()[0];
    assert_eq!(sent["max_tokens"], 7, "{sent}");
    let system = sent["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.ends_with("\n\nBe brief."),
        "the client's system turn follows the agent's: {system}"
    );

    let stored: Value = member
        .get(&format!("/api/v1/sessions/{session}/messages"))
        .await
        .json()
        .await
        .unwrap();
    let turns: Vec<(&str, &str)> = stored
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(turns, [("user", "Greet me."), ("assistant", "Hello there.")]);
    app.stop().await;
}
