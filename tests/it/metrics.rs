//! Observability: `GET /metrics` (Prometheus text keyed on matched routes, never raw paths;
//! model calls with their tokens, time to first token and speed; tasks, the database pool,
//! loaded models) and JSON logs that carry each request's id.

use agentbox::engine::catalog::ModelRole;
use agentbox::engine::chat::ChatRequest;
use agentbox::engine::{ChatMessage, SamplingParams};
use reqwest::StatusCode;

use crate::engine::test_model;
use crate::support::serve_process::ServeProcess;
use crate::support::{Options, TestApp, external_db_url};

/// The value of the first sample whose line starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let response = app.client().get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_counted_by_matched_route_and_status_never_by_raw_path() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let missing = "0b7a7d3e-5d6f-4a57-9b4e-2f0c1d9e8a61";
    for _ in 0..3 {
        let response = admin.get(&format!("/api/v1/sessions/{missing}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(admin.get("/api/v1/sessions").await.status(), StatusCode::OK);
    let response = app
        .client()
        .get(app.url("/api/no/such/path/4711"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"agentbox_http_requests_total{method="GET",route="/api/v1/sessions/{id}",status="404"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"agentbox_http_requests_total{method="GET",route="/api/v1/sessions",status="200"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"agentbox_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        Some(1.0)
    );
    assert!(
        text.contains(r#"agentbox_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/sessions/{id}",status="404"}"#),
        "latency histogram by route: {text}"
    );
    for raw in [missing, "/no/such/path", "4711"] {
        assert!(!text.contains(raw), "the raw path leaked into a label: {raw}");
    }

    // State read at scrape time.
    for status in ["queued", "running", "succeeded", "failed", "cancelled"] {
        assert_eq!(
            sample(&text, &format!(r#"agentbox_tasks{{status="{status}"}}"#)),
            Some(0.0)
        );
    }
    assert_eq!(sample(&text, "agentbox_task_queue_depth"), Some(0.0));
    let max = if external_db_url().is_some() { 16.0 } else { 1.0 };
    assert_eq!(sample(&text, "agentbox_db_pool_max_connections"), Some(max));
    assert!(sample(&text, "agentbox_model_memory_budget_bytes").unwrap() > 0.0);
    assert!(text.ends_with("# EOF\n"));

    // A new task is counted under whatever status the worker has moved it to by now.
    let created = admin
        .post(
            "/api/v1/tasks",
            serde_json::json!({"agent": "assistant", "input": "count to three"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let text = scrape(&app).await;
    let total: f64 = ["queued", "running", "succeeded", "failed", "cancelled"]
        .iter()
        .map(|s| sample(&text, &format!(r#"agentbox_tasks{{status="{s}"}}"#)).unwrap())
        .sum();
    assert!((total - 1.0).abs() < f64::EPSILON, "{text}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_calls_count_tokens_time_to_first_token_and_speed() {
    let app = TestApp::start_with(Options {
        extra_env: vec![
            ("AGENTBOX_ENGINE_THREADS".into(), "1".into()),
            ("AGENTBOX_ENGINE_SLOTS".into(), "1".into()),
            ("AGENTBOX_ENGINE_CONTEXT_PER_SLOT".into(), "512".into()),
        ],
        ..Options::default()
    })
    .await;
    app.setup_admin().await;
    let imported = app
        .services()
        .models
        .import(test_model(), vec![ModelRole::Fast])
        .await
        .expect("the test model imports");
    let request = ChatRequest {
        max_tokens: 8,
        sampling: SamplingParams {
            temperature: 0.0,
            seed: 7,
            ..SamplingParams::default()
        },
        ..ChatRequest::new(vec![ChatMessage::new("user", "Say hello.")])
    };
    let routed = app.services().inference.chat("fast", request).await.unwrap();
    let answer = routed.stream.collect().await.unwrap();
    let stats = answer.stats.unwrap();

    let text = scrape(&app).await;
    let labels = format!(r#"{{model="{}",provider="local"}}"#, imported.name);
    assert_eq!(
        sample(&text, &format!("agentbox_tokens_generated_total{labels}")),
        Some(f64::from(stats.completion_tokens)),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("agentbox_prompt_tokens_total{labels}")),
        Some(f64::from(stats.prompt_tokens))
    );
    assert_eq!(
        sample(
            &text,
            &format!("agentbox_time_to_first_token_seconds_count{labels}")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"agentbox_generations_total{{model="{}",provider="local",outcome="ok"}}"#,
                imported.name
            )
        ),
        Some(1.0)
    );
    let memory = sample(
        &text,
        &format!(r#"agentbox_model_memory_bytes{{model="{}"}}"#, imported.name),
    );
    assert!(
        memory.is_some_and(|bytes| bytes > 1e6),
        "the loaded model's memory: {text}"
    );
    assert_eq!(sample(&text, "agentbox_models_loaded"), Some(1.0));
    app.stop().await;
}

/// JSON log lines carry the request's span: its route and the request id the client sent (or
/// the one made for it), which the answer echoes.
#[test]
fn json_logs_carry_the_request_id_of_each_request() {
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(dir.path(), &[("AGENTBOX_MODELS_AUTO_PULL", "false")]);
    let url = server.url.clone();
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /api/v1/sessions HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: support-ticket-4711\r\n\
          Connection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-request-id: support-ticket-4711"),
        "the answer echoes the id: {answer}"
    );
    let mut found = None;
    while let Some(event) = server.next_event(Instant::now() + Duration::from_secs(10)) {
        if event["span"]["request_id"] == "support-ticket-4711" {
            found = Some(event);
            break;
        }
    }
    server.stop();
    let event = found.expect("a log line with the request id");
    assert_eq!(event["span"]["route"], "/api/v1/sessions", "{event}");
    assert!(
        event["level"].is_string() && event["timestamp"].is_string(),
        "{event}"
    );
}
