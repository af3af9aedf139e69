//! Eval runs: `POST /api/v1/evals` records what `agentbox eval` reports, `GET` lists them under
//! RLS (own runs; a company admin the company's); and the `agentbox eval` binary itself.

use std::process::Output;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::chat::scripted::{MODEL, ScriptedModel, call, text as reply};
use crate::support::{PASSWORD, Session, TestApp, error_code};

fn run_body(suite: &str) -> Value {
    json!({
        "suite": suite,
        "started_at": "2026-03-01T10:00:00Z",
        "finished_at": "2026-03-01T10:00:07Z",
        "results": [
            { "name": "greets", "agent": "assistant", "passed": true, "latency_ms": 850,
              "prompt_tokens": 12, "completion_tokens": 30 },
            { "name": "kpis", "agent": "analyst", "model": "fast", "passed": false,
              "failed_check": "tool_called: list_kpis", "latency_ms": 12345 }
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_recorded_and_listed_under_rls() {
    let app = TestApp::start().await;
    app.create_user("member@example.com", "Company A", false).await;
    app.create_user("admin@example.com", "Company A", true).await;
    app.create_user("colleague@example.com", "Company A", false).await;
    app.create_user("stranger@example.com", "Company B", true).await;
    let member = app.login("member@example.com", PASSWORD).await;
    let admin = app.login("admin@example.com", PASSWORD).await;
    let colleague = app.login("colleague@example.com", PASSWORD).await;
    let stranger = app.login("stranger@example.com", PASSWORD).await;

    let response = member.post("/api/v1/evals", run_body("smoke")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let run: Value = response.json().await.unwrap();
    assert_eq!(
        (run["passed"].as_u64(), run["failed"].as_u64()),
        (Some(1), Some(1)),
        "{run}"
    );
    assert_eq!(run["suite"], "smoke");
    assert_eq!(run["user_id"], member.user_id());
    assert_eq!(run["results"][1]["failed_check"], "tool_called: list_kpis");
    let id = run["id"].as_str().unwrap();
    member.post("/api/v1/evals", run_body("nightly")).await;

    let listed: Value = member.get("/api/v1/evals").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(
        listed[0].get("results").is_none(),
        "lists leave the results out: {listed}"
    );
    let one: Value = member
        .get(&format!("/api/v1/evals/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["results"].as_array().unwrap().len(), 2);
    let paged: Value = member.get("/api/v1/evals?limit=1").await.json().await.unwrap();
    assert_eq!(paged.as_array().unwrap().len(), 1);

    // The company's admin sees the member's runs; a colleague and another company see none.
    let listed: Value = admin.get("/api/v1/evals").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(
        admin.get(&format!("/api/v1/evals/{id}")).await.status(),
        StatusCode::OK
    );
    for outsider in [&colleague, &stranger] {
        let listed: Value = outsider.get("/api/v1/evals").await.json().await.unwrap();
        assert_eq!(listed, json!([]));
        let (status, code) = error_code(outsider.get(&format!("/api/v1/evals/{id}")).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "not_found"));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_runs_are_refused() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let mut empty = run_body("s");
    empty["results"] = json!([]);
    let mut backwards = run_body("s");
    backwards["finished_at"] = json!("2026-03-01T09:00:00Z");
    let mut unnamed_case = run_body("s");
    unnamed_case["results"][0]["name"] = json!(" ");
    let mut extra = run_body("s");
    extra["results"][0]["score"] = json!(3);
    let mut no_suite = run_body("s");
    no_suite.as_object_mut().unwrap().remove("suite");
    let mut bad_time = run_body("s");
    bad_time["started_at"] = json!("yesterday");
    for (body, status, code) in [
        (empty, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        (backwards, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        (unnamed_case, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        (
            run_body(&"s".repeat(201)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (extra, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (no_suite, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (bad_time, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
    ] {
        let (actual_status, actual_code) = error_code(admin.post("/api/v1/evals", body.clone()).await).await;
        assert_eq!((actual_status, actual_code.as_str()), (status, code), "{body}");
    }
    let (status, code) = error_code(admin.get("/api/v1/evals/not-a-uuid").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "invalid_path"));
    let response = admin
        .request(Method::DELETE, "/api/v1/evals")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let listed: Value = admin.get("/api/v1/evals").await.json().await.unwrap();
    assert_eq!(listed, json!([]), "nothing was stored");
    app.stop().await;
}

async fn eval_cli(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(crate::support::agentbox_binary());
    command
        .arg("eval")
        .args(args)
        .env_remove("AGENTBOX_URL")
        .env_remove("AGENTBOX_API_KEY")
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().await.expect("agentbox runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eval_command_refuses_bad_suites_and_usage_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("bad.yaml");
    std::fs::write(
        &suite,
        "name: bad\ncases:\n  - name: a\n    prompt: hi\n    checks:\n      - sounds_like: hello\n",
    )
    .unwrap();
    let suite = suite.display().to_string();
    let output = eval_cli(&[&suite, "--api-key", "k"], &[]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let message = text(&output.stderr);
    assert!(
        message.contains(&format!("{suite}:6: ")),
        "file and line: {message}"
    );
    assert!(message.contains("unknown field `sounds_like`"), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "{message}");

    let output = eval_cli(&["/nonexistent/suite.yaml", "--api-key", "k"], &[]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("cannot read the suite /nonexistent/suite.yaml"));

    let output = eval_cli(&[], &[]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("AGENTBOX_API_KEY"),
        "{}",
        text(&output.stderr)
    );

    let output = eval_cli(&["--url", "not a url"], &[("AGENTBOX_API_KEY", "k")]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let output = eval_cli(&["--timeout", "soon"], &[("AGENTBOX_API_KEY", "k")]).await;
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eval_command_reports_refusals_and_records_its_run() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let url = app.base.clone();

    // A wrong key stops the run at the first request: exit 1, one line.
    let output = eval_cli(&["--url", &url, "--api-key", "ab_wrong"], &[]).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let message = text(&output.stderr);
    assert!(message.contains("/api/v1/me 401 unauthenticated"), "{message}");
    assert!(output.stdout.is_empty(), "no case ran");
    assert!(
        message.trim().lines().last().unwrap().starts_with("agentbox: "),
        "{message}"
    );

    // A read-only key cannot open sessions: also the whole run.
    let reader = admin.api_key("reader", &["read"]).await;
    let output = eval_cli(&["--url", &url], &[("AGENTBOX_API_KEY", &reader)]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("lacks the `write` scope"),
        "{}",
        text(&output.stderr)
    );

    // Nothing listening: exit 1 with the address.
    let output = eval_cli(&["--url", "https://127.0.0.1:9", "--api-key", "k"], &[]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("cannot reach https://127.0.0.1:9/api/v1/me"),
        "{}",
        text(&output.stderr)
    );

    // With a good key, every case of the built-in suite runs; whatever each answer is, the
    // table lists them all and the run is recorded on the server.
    let key = admin.api_key("eval", &["read", "write"]).await;
    let output = eval_cli(&["--url", &url, "--timeout", "60"], &[("AGENTBOX_API_KEY", &key)]).await;
    let table = text(&output.stdout);
    let log = text(&output.stderr);
    assert!(table.starts_with("CASE "), "{table}\n{log}");
    for case in [
        "assistant answers",
        "assistant writes JSON",
        "analyst looks up KPIs",
        "analyst compares with the target",
        "analyst fetches values",
        "assistant searches earlier conversations",
    ] {
        assert!(table.contains(case), "{case} missing:\n{table}\n{log}");
    }
    let failed = table.lines().filter(|line| line.contains(" FAIL ")).count();
    if failed == 0 {
        assert_eq!(output.status.code(), Some(0), "{table}\n{log}");
    } else {
        assert_eq!(output.status.code(), Some(1), "{table}\n{log}");
        assert!(log.contains(&format!("{failed} of 6 case(s) failed")), "{log}");
    }
    assert!(log.contains("recorded as eval run"), "{log}");
    let runs: Value = admin.get("/api/v1/evals").await.json().await.unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["suite"], "default");
    assert_eq!(runs[0]["failed"], failed);
    let run: Value = admin
        .get(&format!("/api/v1/evals/{}", runs[0]["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["results"][2]["agent"], "analyst");

    // --no-record leaves the server's list alone.
    eval_cli(&["--url", &url, "--no-record"], &[("AGENTBOX_API_KEY", &key)]).await;
    let runs: Value = admin.get("/api/v1/evals").await.json().await.unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    app.stop().await;
}

/// Four cases for the scripted model: three pass, `fruit` fails its check.
fn scripted_suite() -> String {
    format!(
        r#"name: scripted
cases:
  - name: pong
    model: {MODEL}
    prompt: Reply with pong.
    checks:
      - regex: "(?i)^pong$"
      - not_contains: error
  - name: json
    model: {MODEL}
    prompt: Reply with a JSON object.
    checks:
      - json_valid: true
  - name: kpis
    agent: analyst
    model: {MODEL}
    prompt: Which KPIs are there?
    checks:
      - tool_called: list_kpis
      - contains: KPIs
  - name: fruit
    model: {MODEL}
    prompt: Name a fruit.
    checks:
      - contains: banana
"#
    )
}

/// Rates the last answer of every session of `user`: down for the apple, up for the rest.
async fn rate_every_answer(user: &Session) -> usize {
    let sessions: Value = user.get("/api/v1/sessions").await.json().await.unwrap();
    let mut rated = 0;
    for session in sessions.as_array().unwrap() {
        let id = session["id"].as_str().unwrap();
        let messages: Value = user
            .get(&format!("/api/v1/sessions/{id}/messages"))
            .await
            .json()
            .await
            .unwrap();
        let answer = messages
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m["role"] == "assistant")
            .unwrap();
        let rating = if answer["content"] == "An apple a day." {
            "down"
        } else {
            "up"
        };
        let response = user
            .request(
                Method::PUT,
                &format!("/api/v1/messages/{}/rating", answer["id"].as_str().unwrap()),
            )
            .json(&json!({ "rating": rating }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        rated += 1;
    }
    rated
}

/// The whole path against the real platform: sessions, the agent loop, tools and the database
/// are real; the model is the scripted one behind a real OpenAI-compatible endpoint (see
/// `chat/scripted.rs`), so the answers — and so the verdicts — are known. Then the answers are
/// rated and show up in the analytics next to the evaluations the loop recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eval_command_runs_a_suite_against_the_real_chat_api() {
    let model = ScriptedModel::start(vec![
        reply("pong"),
        reply("{\"status\": \"ok\"}"),
        call("list_kpis", json!({})),
        reply("This company tracks no KPIs yet."),
        reply("An apple a day."),
    ])
    .await;
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    model.register(&admin).await;
    let key = admin.api_key("eval", &["read", "write"]).await;
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("scripted.yaml");
    std::fs::write(&suite, scripted_suite()).unwrap();
    let suite = suite.display().to_string();
    let output = eval_cli(&[&suite, "--url", &app.base], &[("AGENTBOX_API_KEY", &key)]).await;
    let table = text(&output.stdout);
    let log = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{table}\n{log}");
    assert!(log.contains("1 of 4 case(s) failed"), "{log}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    for (line, name, verdict) in [
        (lines[1], "pong", "pass"),
        (lines[2], "json", "pass"),
        (lines[3], "kpis", "pass"),
        (lines[4], "fruit", "FAIL"),
    ] {
        assert!(line.starts_with(name), "{table}");
        assert!(line.contains(&format!(" {verdict} ")), "{name}: {table}");
    }
    assert!(lines[3].contains(&format!("analyst/{MODEL}")), "{table}");
    assert!(lines[4].contains(r#"contains: "banana""#), "{table}");
    assert!(lines[1].trim_end().ends_with("/1"), "tokens from `done`: {table}");

    // The run is recorded with the verdicts and the numbers the stream reported.
    let runs: Value = admin.get("/api/v1/evals").await.json().await.unwrap();
    assert_eq!(
        (runs[0]["passed"].as_u64(), runs[0]["failed"].as_u64()),
        (Some(3), Some(1))
    );
    let run: Value = admin
        .get(&format!("/api/v1/evals/{}", runs[0]["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    let kpis = &run["results"][2];
    assert_eq!(
        (kpis["agent"].as_str(), kpis["model"].as_str()),
        (Some("analyst"), Some(MODEL))
    );
    assert_eq!(
        kpis["completion_tokens"],
        12 + 6,
        "both model calls of the turn: {kpis}"
    );
    assert!(kpis["latency_ms"].is_u64());

    // Rate the answers: the analytics count them next to the loop's evaluations.
    assert_eq!(rate_every_answer(&admin).await, 4);
    let usage: Value = admin
        .get("/api/v1/analytics/usage?group_by=agent")
        .await
        .json()
        .await
        .unwrap();
    let row = |agent: &str| {
        usage["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["key"] == agent)
            .cloned()
            .unwrap_or_else(|| panic!("no {agent} row: {usage}"))
    };
    let (assistant, analyst) = (row("assistant"), row("analyst"));
    assert_eq!(assistant["requests"], 3, "{usage}");
    assert_eq!(analyst["requests"], 2, "the tool call and the answer: {usage}");
    assert_eq!(
        (
            assistant["ratings_up"].as_i64(),
            assistant["ratings_down"].as_i64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(analyst["ratings_up"], 1);
    assert!(assistant["latency_ms_p95"].as_f64().is_some());
    app.stop().await;
}
