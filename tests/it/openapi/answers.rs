//! The real answers fit the schemas the document gives them: every read, and the writes that
//! make the records those reads need.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::conform::Conform;
use super::{fetch_document, operations};
use crate::support::{ADMIN_EMAIL, Options, PASSWORD, Session, TestApp};

/// Reads that must succeed for an admin of a sample company with the records the schema test
/// makes (the rest may answer an error, which is checked against its schema all the same).
const READS: &[&str] = &[
    "/health",
    "/ready",
    "/metrics",
    "/api/v1/openapi.json",
    "/api/v1/auth/setup",
    "/api/v1/me",
    "/api/v1/agents",
    "/api/v1/agents/{name}",
    "/api/v1/sessions",
    "/api/v1/sessions/{id}",
    "/api/v1/sessions/{id}/messages",
    "/api/v1/kpis",
    "/api/v1/kpis/{id}/values",
    "/api/v1/kpis/performance",
    "/api/v1/kpis/overview",
    "/api/v1/tasks",
    "/api/v1/analytics/usage",
    "/api/v1/analytics/summary",
    "/api/v1/evals",
    "/api/v1/evals/{id}",
    "/api/v1/keys",
    "/api/v1/users",
    "/api/v1/users/{id}",
    "/api/v1/companies",
    "/api/v1/companies/{id}",
    "/api/v1/companies/{id}/departments",
    "/api/v1/models",
    "/api/v1/providers",
    "/api/v1/providers/{name}/models",
];

/// Sends a request and checks the answer against the schema documented for its status.
async fn conforms(
    conform: &Conform<'_>,
    session: &Session,
    method: Method,
    (template, path): (&str, &str),
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = session.request(method.clone(), path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let method = method.as_str().to_lowercase();
    let media_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned())
        .unwrap_or_default();
    // Streams and text (metrics) are checked for their documented media type; JSON below.
    if !media_type.is_empty() && media_type != "application/json" {
        let documented = &conform.document()["paths"][template][&method]["responses"][status.as_str()];
        assert!(
            documented["content"].get(&media_type).is_some(),
            "{method} {path} answers {media_type} without saying so"
        );
        return (status, Value::Null);
    }
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    let schema = conform
        .response_schema(&method, template, status.as_u16())
        .unwrap_or_else(|err| panic!("{err}: {answer}"));
    let problems = conform.problems(schema, &answer);
    assert!(problems.is_empty(), "{method} {path} → {status}: {problems:#?}");
    (status, answer)
}

/// Records the schema test makes, each with the status it must answer: (method, documented
/// path, path, body or `null`, status).
fn writes(departments: String) -> Vec<(Method, &'static str, String, Value, u16)> {
    vec![
        (
            Method::POST,
            "/api/v1/keys",
            "/api/v1/keys".to_owned(),
            json!({"name": "ci", "scopes": ["read"]}),
            201,
        ),
        (
            Method::POST,
            "/api/v1/companies/{id}/departments",
            departments,
            json!({"name": "Research"}),
            201,
        ),
        (
            Method::POST,
            "/api/v1/users",
            "/api/v1/users".to_owned(),
            json!({"email": "member@example.com", "password": PASSWORD, "role": "member"}),
            201,
        ),
        (
            Method::POST,
            "/api/v1/providers",
            "/api/v1/providers".to_owned(),
            json!({"name": "remote", "kind": "openai_compatible", "base_url": "http://127.0.0.1:9/v1"}),
            201,
        ),
        (
            Method::PUT,
            "/api/v1/providers/{name}/models/{model}",
            "/api/v1/providers/remote/models/gpt-x".to_owned(),
            json!({"role": "fast"}),
            200,
        ),
        (
            Method::PUT,
            "/api/v1/agents/{name}",
            "/api/v1/agents/assistant".to_owned(),
            json!({"model_role": "fast", "description": "stored copy"}),
            200,
        ),
        (
            Method::POST,
            "/api/v1/models/{name}/unload",
            "/api/v1/models/no-such-model/unload".to_owned(),
            Value::Null,
            404,
        ),
    ]
}

/// Creates a chat session and records an eval run; answers their ids.
async fn chat_and_eval_run(conform: &Conform<'_>, admin: &Session) -> (String, String) {
    let (status, chat) = conforms(
        conform,
        admin,
        Method::POST,
        ("/api/v1/sessions", "/api/v1/sessions"),
        Some(json!({"title": "Quarterly review"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let chat = chat["id"].as_str().unwrap().to_owned();
    let run = json!({
        "suite": "smoke",
        "started_at": "2026-11-24T10:00:00Z",
        "finished_at": "2026-11-24T10:01:00Z",
        "results": [
            {"name": "greets", "passed": true, "latency_ms": 120},
            {"name": "sums", "passed": false, "failed_check": "contains: \"4\""}
        ]
    });
    let (status, run) = conforms(
        conform,
        admin,
        Method::POST,
        ("/api/v1/evals", "/api/v1/evals"),
        Some(run),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let run = run["id"].as_str().unwrap().to_owned();
    (chat, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answers_fit_their_documented_schemas() {
    let app = TestApp::start_with(Options {
        sample_data: true,
        ..Options::default()
    })
    .await;
    let document = fetch_document(&app).await;
    let conform = Conform::new(&document);
    app.create_user(ADMIN_EMAIL, "Acme Manufacturing", true).await;
    let admin = app.login(ADMIN_EMAIL, PASSWORD).await;
    let company = admin.user["company_id"].as_str().unwrap().to_owned();
    let departments = format!("/api/v1/companies/{company}/departments");
    let (chat, run) = chat_and_eval_run(&conform, &admin).await;
    let kpis: Value = admin.get("/api/v1/kpis").await.json().await.unwrap();
    let kpi = kpis[0]["id"]
        .as_str()
        .expect("the sample company has KPIs")
        .to_owned();
    for (method, template, path, body, expected) in writes(departments) {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) = conforms(&conform, &admin, method.clone(), (template, &path), body).await;
        assert_eq!(status.as_u16(), expected, "{method} {path}: {answer}");
    }
    // A second sign-in, in its own client (a new session cookie would replace the admin's).
    let response = app
        .client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let schema = conform
        .response_schema("post", "/api/v1/auth/login", 200)
        .unwrap();
    let problems = conform.problems(schema, &response.json().await.unwrap());
    assert!(problems.is_empty(), "sign-in: {problems:#?}");

    // Every documented read, with the ids made above where it takes one.
    let user = admin.user_id();
    let known = [
        ("/api/v1/agents/", "name", "assistant"),
        ("/api/v1/providers/", "name", "remote"),
        ("/api/v1/users/", "id", user.as_str()),
        ("/api/v1/companies/", "id", company.as_str()),
        ("/api/v1/sessions/", "id", chat.as_str()),
        ("/api/v1/kpis/", "id", kpi.as_str()),
        ("/api/v1/evals/", "id", run.as_str()),
    ];
    let mut answered = HashSet::new();
    for operation in operations(&document).iter().filter(|op| op.method == "get") {
        let path = operation.concrete_path(&known);
        let (status, _) = conforms(&conform, &admin, Method::GET, (&operation.path, &path), None).await;
        if status.is_success() {
            answered.insert(operation.path.clone());
        }
    }
    let missing: Vec<&&str> = READS.iter().filter(|read| !answered.contains(**read)).collect();
    assert!(missing.is_empty(), "these reads did not answer 2xx: {missing:?}");

    let (status, answer) = conforms(
        &conform,
        &admin,
        Method::DELETE,
        ("/api/v1/agents/{name}", "/api/v1/agents/assistant"),
        None,
    )
    .await;
    assert_eq!(
        (status, &answer["now"]["source"]),
        (StatusCode::OK, &json!("builtin"))
    );
    app.stop().await;
}
