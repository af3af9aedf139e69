//! Chat end to end: sessions, `POST /api/v1/sessions/{id}/messages` as SSE, the agent loop with
//! real tools and the real database, driven by a scripted model behind a real
//! OpenAI-compatible endpoint — and once by the real test model.

mod fallback;
pub mod scripted;

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Options, PASSWORD, Session, TestApp, error_code};
use scripted::{MODEL, Reply, ScriptedModel, call, text};

/// Server-sent events as (name, data), read to the end of the response.
pub async fn read_events(response: reqwest::Response) -> Vec<(String, Value)> {
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    parse_events(&body)
}

fn parse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            Some((name?, serde_json::from_str(&data).unwrap_or(Value::Null)))
        })
        .collect()
}

/// Reads until `done` holds (10 s at most) and returns the last reading either way: the
/// caller's assertions then say what was wrong.
pub async fn eventually<T, F, Fut>(mut read: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut value = read().await;
    for _ in 0..200 {
        if done(&value) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        value = read().await;
    }
    value
}

fn named<'a>(events: &'a [(String, Value)], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|(n, _)| n == name).map(|(_, d)| d).collect()
}

async fn new_session(user: &Session, agent: &str) -> String {
    let response = user.post("/api/v1/sessions", json!({ "agent": agent })).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn say(user: &Session, session: &str, body: Value) -> Vec<(String, Value)> {
    read_events(
        user.post(&format!("/api/v1/sessions/{session}/messages"), body)
            .await,
    )
    .await
}

async fn messages(user: &Session, session: &str) -> Vec<Value> {
    let response = user.get(&format!("/api/v1/sessions/{session}/messages")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Rows of a table about one session, read as the platform (no RLS).
async fn rows_of(app: &TestApp, table: &str, session: &str) -> Vec<Value> {
    app.store()
        .query_json_as(
            agentbox::store::Actor::System,
            format!("select * from public.{table} where session_id = '{session}'"),
            100,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn an_answer_streams_as_events_and_every_turn_is_stored() {
    let model = ScriptedModel::start(vec![text("Hello there, friend.")]).await;
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    model.register(&admin).await;
    let session = new_session(&admin, "assistant").await;

    let events = say(&admin, &session, json!({"content": "Say hello", "model": MODEL})).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    let tokens: String = named(&events, "token")
        .iter()
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    assert_eq!(tokens, "Hello there, friend.");
    let done = named(&events, "done")[0];
    assert_eq!(done["status"], "complete");
    assert_eq!(done["agent"], "assistant");
    assert_eq!(done["model"], MODEL);
    assert_eq!(done["completion_tokens"], 3);

    let stored = messages(&admin, &session).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(
        (stored[0]["role"].as_str(), stored[0]["content"].as_str()),
        (Some("user"), Some("Say hello"))
    );
    assert_eq!(stored[1]["role"], "assistant");
    assert_eq!(stored[1]["content"], "Hello there, friend.");
    assert_eq!(stored[1]["model"], MODEL);
    assert_eq!(stored[1]["status"], "complete");
    assert_eq!(done["message_id"], stored[1]["id"]);

    // The model saw the assistant's system prompt, then the prompt.
    let sent = &model.requests()[0]["messages"];
    assert_eq!(sent[0]["role"], "system");
    assert!(sent[0]["content"].as_str().unwrap().contains("assistant"));
    assert_eq!(sent[1]["content"], "Say hello");

    let evaluations = rows_of(&app, "llm_evaluations", &session).await;
    let chat_call = evaluations
        .iter()
        .find(|e| e["agent"] == "assistant")
        .expect("evaluated");
    assert_eq!(chat_call["model"], MODEL);
    assert_eq!(chat_call["provider"], "scripted");
    assert_eq!(chat_call["outcome"], "success");
    assert_eq!(chat_call["completion_tokens"], 3);
    assert!(chat_call["ttft_ms"].is_number());
    let used = rows_of(&app, "agent_conversations", &session).await;
    assert_eq!(
        (used.len(), &used[0]["agent"], &used[0]["step_count"]),
        (1, &json!("assistant"), &json!(1))
    );

    // No fast model here: the title falls back to the prompt's words.
    let detail = eventually(
        || async {
            admin
                .get(&format!("/api/v1/sessions/{session}"))
                .await
                .json::<Value>()
                .await
                .unwrap()
        },
        |detail| detail["title"] != "",
    )
    .await;
    assert_eq!(detail["agents"][0]["agent"], "assistant");
    let title = detail["title"].clone();
    assert_eq!(title, "Say hello");
    app.stop().await;
}

#[tokio::test]
async fn history_goes_back_to_the_model_on_the_next_message() {
    let model = ScriptedModel::start(vec![text("Blue."), text("You asked about colours.")]).await;
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    model.register(&admin).await;
    let session = new_session(&admin, "assistant").await;
    say(
        &admin,
        &session,
        json!({"content": "Favourite colour?", "model": MODEL}),
    )
    .await;
    say(
        &admin,
        &session,
        json!({"content": "What did I ask?", "model": MODEL}),
    )
    .await;
    let sent: Vec<String> = model.requests()[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}: {}",
                m["role"].as_str().unwrap(),
                m["content"].as_str().unwrap_or("")
            )
        })
        .skip(1)
        .collect();
    assert_eq!(
        sent,
        [
            "user: Favourite colour?",
            "assistant: Blue.",
            "user: What did I ask?"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn tool_errors_go_back_to_the_model_and_the_run_goes_on() {
    let model = ScriptedModel::start(vec![
        call("search_conversations", json!({"limit": 3})),
        call("delete_everything", json!({})),
        text("I could not search."),
    ])
    .await;
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    model.register(&admin).await;
    let session = new_session(&admin, "assistant").await;
    let events = say(
        &admin,
        &session,
        json!({"content": "Find my notes", "model": MODEL}),
    )
    .await;

    let results = named(&events, "tool_result");
    assert_eq!(results.len(), 2, "{events:?}");
    assert_eq!(results[0]["error"], true);
    let first = results[0]["result"]["error"].as_str().unwrap();
    assert!(first.contains("missing the required field `query`"), "{first}");
    let second = results[1]["result"]["error"].as_str().unwrap();
    assert!(second.contains("unknown tool `delete_everything`"), "{second}");
    assert_eq!(named(&events, "done")[0]["status"], "complete");
    assert_eq!(named(&events, "done")[0]["steps"], 3);

    // The model was told what went wrong, as tool results.
    let third = &model.requests()[2]["messages"];
    let tool_turns: Vec<&Value> = third
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .collect();
    assert_eq!(tool_turns.len(), 2);
    assert!(
        tool_turns[0]["content"]
            .as_str()
            .unwrap()
            .contains("invalid arguments")
    );
    let stored = messages(&admin, &session).await;
    let roles: Vec<&str> = stored.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    );
    assert_eq!(stored[1]["tool_calls"][0]["name"], "search_conversations");
    app.stop().await;
}

#[tokio::test]
async fn a_model_that_loops_on_tools_is_stopped_at_the_step_limit() {
    let replies: Vec<Reply> = (0..20)
        .map(|i| call("search_conversations", json!({"query": format!("attempt {i}")})))
        .collect();
    let model = ScriptedModel::start(replies).await;
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    model.register(&admin).await;
    let session = new_session(&admin, "assistant").await;
    let events = say(
        &admin,
        &session,
        json!({"content": "Loop forever", "model": MODEL}),
    )
    .await;

    // The assistant allows 6 steps (agents/assistant.md).
    assert_eq!(model.requests().len(), 6);
    let error = named(&events, "error")[0];
    assert_eq!(error["code"], "too_many_steps");
    let done = named(&events, "done")[0];
    assert_eq!(
        (done["status"].as_str(), done["steps"].as_u64()),
        (Some("error"), Some(6))
    );
    let stored = messages(&admin, &session).await;
    let last = stored.last().unwrap();
    assert_eq!(
        (last["role"].as_str(), last["status"].as_str()),
        (Some("assistant"), Some("error"))
    );
    assert!(last["error"].as_str().unwrap().contains("limit"));
    app.stop().await;
}

#[tokio::test]
async fn a_session_claim_is_exclusive_renewed_by_its_holder_and_lapses_with_its_lease() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let session: uuid::Uuid = new_session(&admin, "assistant").await.parse().unwrap();
    let store = app.store();
    let (first, second) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let lease = Duration::from_millis(1500);
    assert!(store.claim_session(session, first, lease).await.unwrap());
    assert!(
        !store.claim_session(session, second, lease).await.unwrap(),
        "a live claim is exclusive"
    );
    assert!(store.renew_session_claim(session, first, lease).await.unwrap());
    assert!(
        !store.renew_session_claim(session, second, lease).await.unwrap(),
        "only the holder renews"
    );
    store.release_session_claim(session, second).await.unwrap();
    assert!(
        !store.claim_session(session, second, lease).await.unwrap(),
        "only the holder releases"
    );
    // The holder stops renewing (its replica died): the claim lapses and is taken over.
    tokio::time::sleep(lease + Duration::from_millis(300)).await;
    assert!(store.claim_session(session, second, lease).await.unwrap());
    assert!(
        !store.renew_session_claim(session, first, lease).await.unwrap(),
        "the old holder learns it lost the session"
    );
    store.release_session_claim(session, second).await.unwrap();
    assert!(store.claim_session(session, first, lease).await.unwrap());
    app.stop().await;
}

#[tokio::test]
async fn closing_the_connection_stops_the_model_and_keeps_the_partial_answer() {
    let model = ScriptedModel::start(vec![Reply::Stall("The first half ".into())]).await;
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    model.register(&admin).await;
    let session = new_session(&admin, "assistant").await;
    let response = admin
        .post(
            &format!("/api/v1/sessions/{session}/messages"),
            json!({"content": "Tell me a long story", "model": MODEL}),
        )
        .await;
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: token") {
        seen.push_str(&String::from_utf8_lossy(&body.next().await.unwrap().unwrap()));
    }
    // One answer at a time per session: the second message waits for the first.
    let second = admin
        .post(
            &format!("/api/v1/sessions/{session}/messages"),
            json!({"content": "And another?", "model": MODEL}),
        )
        .await;
    assert_eq!(
        error_code(second).await,
        (StatusCode::CONFLICT, "session_busy".into())
    );
    drop(body);

    let last = eventually(
        || async { messages(&admin, &session).await.pop().unwrap() },
        |last| last["role"] == "assistant",
    )
    .await;
    assert_eq!(last["status"], "interrupted", "{last}");
    assert_eq!(last["content"], "The first half ");
    // The evaluation is written just after the message it links to.
    let evaluations = eventually(
        || rows_of(&app, "llm_evaluations", &session),
        |rows| !rows.is_empty(),
    )
    .await;
    assert!(
        evaluations
            .iter()
            .any(|e| e["outcome"] == "cancelled" && e["message_id"] == last["id"]),
        "{evaluations:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn auto_sessions_route_each_message_to_the_agent_that_fits() {
    let model = ScriptedModel::start(vec![text("Noted."), text("Checked.")]).await;
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    model.register(&admin).await;
    let session = new_session(&admin, "auto").await;
    let general = say(
        &admin,
        &session,
        json!({"content": "Write a haiku about tea", "model": MODEL}),
    )
    .await;
    assert_eq!(named(&general, "done")[0]["agent"], "assistant");
    let kpis = say(
        &admin,
        &session,
        json!({"content": "Which departments missed their revenue target last quarter?", "model": MODEL}),
    )
    .await;
    assert_eq!(named(&kpis, "done")[0]["agent"], "analyst");
    let used: Vec<String> = rows_of(&app, "agent_conversations", &session)
        .await
        .iter()
        .map(|r| r["agent"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(used.len(), 2, "{used:?}");
    app.stop().await;
}

#[tokio::test]
async fn sessions_can_be_listed_searched_renamed_archived_and_deleted() {
    let model = ScriptedModel::start(vec![text("Paris is the capital.")]).await;
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    model.register(&admin).await;
    let first = new_session(&admin, "assistant").await;
    let second = new_session(&admin, "analyst").await;
    say(
        &admin,
        &first,
        json!({"content": "What is the capital of France?", "model": MODEL}),
    )
    .await;

    let list: Vec<Value> = admin.get("/api/v1/sessions").await.json().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list[0]["id"], first,
        "the session with the newest message comes first"
    );
    let found: Vec<Value> = admin
        .get("/api/v1/sessions?q=capital")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], first);

    let renamed = admin
        .request(Method::PATCH, &format!("/api/v1/sessions/{second}"))
        .json(&json!({"title": "Quarterly numbers"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    let by_title: Vec<Value> = admin
        .get("/api/v1/sessions?q=quarterly")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_title[0]["id"], second);
    let archived = admin
        .request(Method::PATCH, &format!("/api/v1/sessions/{second}"))
        .json(&json!({"archived": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(archived.status(), StatusCode::OK);
    let active: Vec<Value> = admin.get("/api/v1/sessions").await.json().await.unwrap();
    assert_eq!(active.len(), 1);
    let old: Vec<Value> = admin
        .get("/api/v1/sessions?archived=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(old[0]["id"], second);

    let deleted = admin
        .request(Method::DELETE, &format!("/api/v1/sessions/{first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = admin.get(&format!("/api/v1/sessions/{first}")).await;
    assert_eq!(
        error_code(gone).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_input_and_other_users_sessions_are_refused_before_anything_runs() {
    let model = ScriptedModel::start(vec![]).await;
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    model.register(&admin).await;
    let session = new_session(&admin, "assistant").await;
    app.create_user("eve@example.com", "Other Co", false).await;
    let eve = app.login("eve@example.com", PASSWORD).await;
    let path = format!("/api/v1/sessions/{session}/messages");

    let cases = [
        (
            eve.get(&format!("/api/v1/sessions/{session}")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (eve.get(&path).await, StatusCode::NOT_FOUND, "not_found"),
        (
            eve.post(&path, json!({"content": "hi"})).await,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            eve.request(Method::DELETE, &format!("/api/v1/sessions/{session}"))
                .send()
                .await
                .unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            admin.post("/api/v1/sessions", json!({"agent": "nobody"})).await,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            admin.post(&path, json!({"content": "   "})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            admin.post(&path, json!({"content": "x".repeat(40_000)})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            admin
                .post(&path, json!({"content": "hi", "agent": "nobody"}))
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            admin.post(&path, json!({"text": "hi"})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            admin
                .post("/api/v1/sessions/not-a-uuid/messages", json!({"content": "hi"}))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            admin
                .request(Method::PATCH, &format!("/api/v1/sessions/{session}"))
                .json(&json!({"title": "t".repeat(201)}))
                .send()
                .await
                .unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
    ];
    for (i, (response, status, code)) in cases.into_iter().enumerate() {
        assert_eq!(error_code(response).await, (status, code.to_owned()), "case {i}");
    }
    assert!(model.requests().is_empty(), "nothing reached the model");
    assert!(messages(&admin, &session).await.is_empty(), "nothing was stored");
    app.stop().await;
}

#[tokio::test]
async fn a_missing_model_is_a_recorded_failure_not_a_hang() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let session = new_session(&admin, "assistant").await;
    // The `fast` role's model is not downloaded in tests.
    let events = say(&admin, &session, json!({"content": "Hello?"})).await;
    let error = named(&events, "error")[0];
    assert_eq!(error["code"], "model_unavailable", "{error}");
    assert_eq!(named(&events, "done")[0]["status"], "error");
    let stored = messages(&admin, &session).await;
    assert_eq!(stored.len(), 2, "the prompt and the failed answer are kept");
    assert_eq!(stored[1]["status"], "error");
    let evaluations = rows_of(&app, "llm_evaluations", &session).await;
    assert!(
        evaluations
            .iter()
            .any(|e| e["outcome"] == "error" && e["provider"] == "none")
    );
    app.stop().await;
}

/// Sample data with the analyst's member in Acme Manufacturing.
pub async fn analyst_app() -> (TestApp, Session, Session) {
    let app = TestApp::start_with(Options {
        sample_data: true,
        ..Options::default()
    })
    .await;
    let admin = app.setup_admin().await;
    app.create_user("ana@acme.example", "Acme Manufacturing", false)
        .await;
    let analyst = app.login("ana@acme.example", PASSWORD).await;
    (app, admin, analyst)
}

/// The real test model (SmolLM2-135M, local llama.cpp) as the analyst's model: the whole loop
/// with tool grammar, KPI tools on the sample data, storage and evaluations. A 135M model's
/// choices are not the point — that every step is real, bounded and recorded is.
#[tokio::test]
async fn the_analyst_runs_end_to_end_on_the_real_test_model() {
    let app = TestApp::start_with(Options {
        sample_data: true,
        extra_env: vec![
            ("AGENTBOX_ENGINE_THREADS".into(), "1".into()),
            ("AGENTBOX_ENGINE_SLOTS".into(), "1".into()),
            ("AGENTBOX_ENGINE_CONTEXT_PER_SLOT".into(), "4096".into()),
            ("AGENTBOX_AGENTS_MAX_TOKENS".into(), "256".into()),
        ],
        ..Options::default()
    })
    .await;
    app.setup_admin().await;
    app.services()
        .models
        .import(
            crate::engine::test_model(),
            vec![agentbox::engine::catalog::ModelRole::Reasoning],
        )
        .await
        .expect("the test model imports");
    app.create_user("ana@acme.example", "Acme Manufacturing", false)
        .await;
    let analyst = app.login("ana@acme.example", PASSWORD).await;
    let session = new_session(&analyst, "analyst").await;
    let events = say(
        &analyst,
        &session,
        json!({"content": "Which departments missed their revenue target last quarter?"}),
    )
    .await;

    let done = named(&events, "done")[0];
    assert_eq!(done["model"], "SmolLM2-135M-Instruct.Q4_1", "{done}");
    assert!(done["completion_tokens"].as_u64().unwrap() > 0);
    // The analyst's `tool_choice: required`: its answer rests on at least one call of its
    // tools, which the grammar holds to their schemas even on a 135M model.
    assert!(done["steps"].as_u64().unwrap() >= 2, "{done}");
    let calls = named(&events, "tool_call");
    assert!(!calls.is_empty(), "{events:?}");
    let analyst_tools = ["list_kpis", "kpi_values", "kpi_vs_target", "sql_query"];
    assert!(
        calls
            .iter()
            .all(|c| analyst_tools.contains(&c["name"].as_str().unwrap_or(""))),
        "{calls:?}"
    );
    // Every tool call the model made was answered, and every answer was stored.
    assert_eq!(
        named(&events, "tool_call").len(),
        named(&events, "tool_result").len()
    );
    let stored = messages(&analyst, &session).await;
    assert_eq!(stored.last().unwrap()["id"], done["message_id"]);
    let evaluations = rows_of(&app, "llm_evaluations", &session).await;
    // The agent's calls (a session's title, made by the fast role's model, is recorded
    // without an agent).
    let local: Vec<&Value> = evaluations
        .iter()
        .filter(|e| e["provider"] == "local" && e["agent"] == "analyst")
        .collect();
    assert_eq!(
        local.len() as u64,
        done["steps"].as_u64().unwrap(),
        "{evaluations:?}"
    );
    assert!(
        local
            .iter()
            .all(|e| e["outcome"] == "success" && e["prompt_tokens"].as_u64() > Some(100))
    );
    app.stop().await;
}

/// The department names under every `missed` key of a tool result.
fn missed_departments(result: &Value) -> Vec<String> {
    let mut found = Vec::new();
    match result {
        Value::Object(fields) => {
            for (key, value) in fields {
                if key == "missed" {
                    for entry in value.as_array().into_iter().flatten() {
                        let name = entry.as_str().or_else(|| entry["department"].as_str());
                        found.extend(name.map(str::to_owned));
                    }
                } else {
                    found.extend(missed_departments(value));
                }
            }
        }
        Value::Array(items) => found.extend(items.iter().flat_map(missed_departments)),
        _ => {}
    }
    found.sort();
    found.dedup();
    found
}

/// The acceptance question as a good model answers it: list the KPIs, compare revenue with its
/// target last quarter, then answer only from the tool result it is sent back.
pub fn revenue_question_script() -> Vec<Reply> {
    vec![
        call("list_kpis", json!({})),
        call(
            "kpi_vs_target",
            json!({"kpi": "Revenue", "period": "last_quarter"}),
        ),
        Reply::From(Box::new(|request: &Value| {
            let last_tool = request["messages"]
                .as_array()
                .unwrap()
                .iter()
                .rev()
                .find(|m| m["role"] == "tool")
                .expect("the tool result was sent back");
            let result: Value = serde_json::from_str(last_tool["content"].as_str().unwrap()).unwrap();
            text(&format!(
                "Missed last quarter: {}.",
                missed_departments(&result).join(", ")
            ))
        })),
    ]
}

/// The acceptance question, deterministically: the scripted model calls the KPI tools like a
/// good model would, and answers only from the tool result it is sent back.
#[tokio::test]
async fn the_analyst_answers_which_departments_missed_their_revenue_target_from_the_data() {
    let model = ScriptedModel::start(revenue_question_script()).await;
    let (app, admin, analyst) = analyst_app().await;
    model.register(&admin).await;
    let session = new_session(&analyst, "analyst").await;
    let events = say(
        &analyst,
        &session,
        json!({"content": "Which departments missed their revenue target last quarter?", "model": MODEL}),
    )
    .await;

    let calls: Vec<&str> = named(&events, "tool_call")
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(calls, ["list_kpis", "kpi_vs_target"]);
    let results = named(&events, "tool_result");
    assert!(results.iter().all(|r| r["error"] == false), "{results:?}");
    // The sample data's stated answer for Acme Manufacturing (src/store/sample_data.sql).
    assert_eq!(
        missed_departments(&results[1]["result"]),
        ["Marketing", "Operations"]
    );
    let done = named(&events, "done")[0];
    assert_eq!(done["status"], "complete");
    let answer = messages(&analyst, &session).await.pop().unwrap();
    assert_eq!(answer["content"], "Missed last quarter: Marketing, Operations.");
    // The KPI tools ran as the analyst: only Acme's KPIs were listed.
    let kpis = results[0]["result"].to_string();
    assert!(
        kpis.contains("Revenue") && !kpis.contains("Globex") && !kpis.contains("Initech"),
        "{kpis}"
    );
    // The analyst's `tool_choice: required` asks the first call for a tool; later calls are free.
    let requests = model.requests();
    assert_eq!(requests[0]["tool_choice"], "required");
    assert!(requests[1..].iter().all(|r| r.get("tool_choice").is_none()));
    app.stop().await;
}

/// An agent whose first step names a tool: the model is asked for that call first, then is free.
#[tokio::test]
async fn an_agent_can_name_the_tool_its_first_step_calls() {
    let model = ScriptedModel::start(vec![call("list_kpis", json!({})), text("We track Revenue.")]).await;
    let (app, admin, _) = analyst_app().await;
    model.register(&admin).await;
    let saved = admin
        .request(Method::PUT, "/api/v1/agents/kpi-lister")
        .json(&json!({
            "model_role": "fast",
            "tools": ["list_kpis", "kpi_values"],
            "tool_choice": "list_kpis",
            "system_prompt": "You list KPIs.",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["tool_choice"], "list_kpis");
    let refused = admin
        .request(Method::PUT, "/api/v1/agents/kpi-lister")
        .json(&json!({ "model_role": "fast", "tools": ["list_kpis"], "tool_choice": "sql_query" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(refused).await.1, "invalid_input");

    let session = new_session(&admin, "kpi-lister").await;
    let events = say(
        &admin,
        &session,
        json!({"content": "What do we track?", "model": MODEL}),
    )
    .await;
    assert_eq!(named(&events, "done")[0]["status"], "complete", "{events:?}");
    let requests = model.requests();
    assert_eq!(
        requests[0]["tool_choice"],
        json!({"type": "function", "function": {"name": "list_kpis"}})
    );
    assert!(requests[1].get("tool_choice").is_none(), "{}", requests[1]);
    app.stop().await;
}

/// A background task runs the real agent loop as its owner: the analyst's tool calls, results
/// and answer become the task's replayable events, and its answer the task's result.
#[tokio::test]
async fn a_background_task_runs_the_analyst_as_its_owner() {
    let model = ScriptedModel::start(vec![
        call(
            "kpi_vs_target",
            json!({"kpi": "Revenue", "period": "last_quarter"}),
        ),
        Reply::From(Box::new(|request: &Value| {
            let result = request["messages"].as_array().unwrap().last().unwrap()["content"]
                .as_str()
                .unwrap();
            let result: Value = serde_json::from_str(result).unwrap();
            text(&format!("Missed: {}.", missed_departments(&result).join(", ")))
        })),
    ])
    .await;
    let (app, admin, analyst) = analyst_app().await;
    model.register_for_role(&admin, "reasoning").await;
    let created = analyst
        .post(
            "/api/v1/tasks",
            json!({"agent": "analyst", "input": "Which departments missed their revenue target last quarter?"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let task: Value = created.json().await.unwrap();
    let id = task["id"].as_str().unwrap();

    // The events stream replays from the start and ends with the task.
    let events = read_events(analyst.get(&format!("/api/v1/tasks/{id}/events")).await).await;
    let kinds: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    for kind in [
        "started",
        "message",
        "tool_call",
        "tool_result",
        "answer",
        "finished",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let result = &named(&events, "tool_result")[0]["result"];
    assert_eq!(missed_departments(result), ["Marketing", "Operations"]);
    let done: Value = analyst
        .get(&format!("/api/v1/tasks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"], "Missed: Marketing, Operations.");
    assert_eq!(done["progress"], 1.0);
    // The run's turns were stored in a session of the owner's, with the task's evaluations.
    let session = named(&events, "message")[0]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = messages(&analyst, &session).await;
    assert_eq!(stored.len(), 4, "prompt, tool call, tool result, answer");
    let evaluations = rows_of(&app, "llm_evaluations", &session).await;
    assert!(evaluations.iter().all(|e| e["task_id"] == id), "{evaluations:?}");
    app.stop().await;
}
