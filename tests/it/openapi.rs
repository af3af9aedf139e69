//! The OpenAPI document at `/api/v1/openapi.json`: it is valid OpenAPI 3.1, every reference in it
//! resolves, every operation is named and answers something, and it matches the router — every
//! documented operation is served (none answers "no route"), its security requirement is the one
//! the server enforces, and the interface contract's routes are in it.

mod conform;

use std::collections::{BTreeSet, HashSet};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, Options, PASSWORD, Session, TestApp, error_code};
use conform::Conform;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// The interface contract's routes (shared/PRODUCT.md, "Interface contract") that are built.
const CONTRACT: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/auth/setup"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/keys"),
    ("post", "/api/v1/keys"),
    ("delete", "/api/v1/keys/{id}"),
    ("get", "/api/v1/agents"),
    ("get", "/api/v1/sessions"),
    ("post", "/api/v1/sessions"),
    ("get", "/api/v1/sessions/{id}/messages"),
    ("post", "/api/v1/sessions/{id}/messages"),
    ("get", "/api/v1/kpis"),
    ("get", "/api/v1/tasks"),
    ("post", "/api/v1/tasks"),
    ("get", "/api/v1/tasks/{id}/events"),
    ("put", "/api/v1/messages/{id}/rating"),
    ("get", "/api/v1/analytics/usage"),
    ("get", "/api/v1/models"),
    ("post", "/api/v1/models/{name}/pull"),
    ("get", "/api/v1/users"),
    ("get", "/api/v1/companies"),
    ("post", "/v1/embeddings"),
];

/// Reads that must succeed for an admin of a sample company with the records the schema test
/// makes (the rest may answer an error, which is checked against its schema all the same).
const READS: &[&str] = &[
    "/health",
    "/ready",
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

struct Operation {
    method: &'static str,
    path: String,
    body: Value,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }

    /// No credentials needed (`security: []`).
    fn is_public(&self) -> bool {
        self.body["security"].as_array().is_some_and(Vec::is_empty)
    }

    /// The path with every `{parameter}` filled in: from `known` (path prefix, parameter,
    /// value) where it names one, else a UUID that matches nothing (it also does for a name).
    fn concrete_path(&self, known: &[(&str, &str, &str)]) -> String {
        let mut path = String::new();
        let mut rest = self.path.as_str();
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').expect("closed parameter") + open;
            let parameter = &rest[open + 1..close];
            let value = known
                .iter()
                .find(|(prefix, name, _)| self.path.starts_with(prefix) && *name == parameter)
                .map_or("00000000-0000-4000-8000-000000000000", |(_, _, value)| value);
            path.push_str(&rest[..open]);
            path.push_str(value);
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        path
    }
}

fn operations(document: &Value) -> Vec<Operation> {
    let paths = document["paths"].as_object().expect("paths");
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(body) = item.get(method) {
                operations.push(Operation {
                    method,
                    path: path.clone(),
                    body: body.clone(),
                });
            }
        }
    }
    operations
}

/// Every `$ref` value in the document.
fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => found.push(target.clone()),
                    _ => refs(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
        _ => {}
    }
}

async fn fetch_document(app: &TestApp) -> Value {
    let response = app
        .client()
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "served without credentials");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    response.json().await.expect("the document is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_valid_openapi_with_named_operations_and_resolving_refs() {
    let app = TestApp::start().await;
    let document = fetch_document(&app).await;

    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "OpenAPI 3.1: {}",
        document["openapi"]
    );
    assert_eq!(document["info"]["title"], "agentbox");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(document["paths"].is_object() && document["components"]["schemas"].is_object());

    let operations = operations(&document);
    assert!(
        operations.len() >= CONTRACT.len(),
        "{} operations",
        operations.len()
    );
    let declared_tags: HashSet<&str> = document["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|tag| tag["name"].as_str())
        .collect();
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let mut ids = HashSet::new();
    for operation in &operations {
        let name = operation.name();
        let id = operation.body["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no operationId"));
        assert!(
            id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{name}: operationId {id:?} is not a camelCase method name"
        );
        assert!(
            ids.insert(id.to_owned()),
            "{name}: operationId {id} is used twice"
        );
        let responses = operation.body["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{name} documents no success response"
        );
        assert!(
            responses.contains_key("default"),
            "{name} documents no error body"
        );
        let tags = operation.body["tags"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert!(!tags.is_empty(), "{name} has no tag");
        for tag in tags {
            let tag = tag.as_str().unwrap();
            assert!(declared_tags.contains(tag), "{name}: tag {tag} is not declared");
        }
        let security = operation.body["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} says nothing about security"));
        for requirement in security {
            for scheme in requirement.as_object().unwrap().keys() {
                assert!(schemes.contains_key(scheme), "{name}: unknown scheme {scheme}");
            }
        }
    }

    let mut found = Vec::new();
    refs(&document, &mut found);
    assert!(!found.is_empty());
    for target in &found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{target} points outside the document"));
        assert!(document.pointer(pointer).is_some(), "{target} does not resolve");
    }

    let error = &document["components"]["schemas"]["ErrorBody"];
    let properties: BTreeSet<&str> = error["properties"]
        .as_object()
        .expect("ErrorBody properties")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(properties, BTreeSet::from(["code", "message", "field"]));
    assert_eq!(error["required"], json!(["code", "message"]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_served_with_the_documented_security() {
    let app = TestApp::start().await;
    let document = fetch_document(&app).await;
    let session = app.setup_admin().await;
    let anonymous = app.client();

    for operation in operations(&document) {
        let name = operation.name();
        let method = Method::from_bytes(operation.method.to_uppercase().as_bytes()).unwrap();
        let url = app.url(&operation.concrete_path(&[]));
        let writes = !matches!(operation.method, "get" | "head" | "options");
        let mut request = anonymous.request(method.clone(), &url);
        if writes {
            request = request.json(&json!({}));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{name} is not served: {body}"
        );
        assert!(
            !body["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("no route for"),
            "{name} is not served: {body}"
        );
        if operation.is_public() {
            assert_ne!(
                status,
                StatusCode::UNAUTHORIZED,
                "{name} is documented as public: {body}"
            );
        } else {
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
                "{name} is documented as needing credentials"
            );
        }

        let requirements = operation.body["security"].as_array().unwrap();
        let cookie_needs_csrf = requirements
            .iter()
            .any(|r| r.get("session").is_some() && r.get("csrf").is_some());
        if writes && !operation.is_public() {
            assert!(
                cookie_needs_csrf,
                "{name}: a cookie write must document the CSRF header"
            );
            let response = session
                .client
                .request(method, &url)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                error_code(response).await,
                (StatusCode::FORBIDDEN, "csrf_failed".to_owned()),
                "{name}: the session cookie without X-CSRF-Token"
            );
        } else {
            assert!(!cookie_needs_csrf, "{name}: only writes need the CSRF header");
        }
    }
    app.stop().await;
}

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
    let streams = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or_default().starts_with("text/event-stream"));
    if streams {
        let documented = &conform.document()["paths"][template][&method]["responses"][status.as_str()];
        assert!(
            documented["content"].get("text/event-stream").is_some(),
            "{method} {path} streams events without saying so"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_routes_and_streams_are_documented() {
    let app = TestApp::start().await;
    let document = fetch_document(&app).await;
    let documented: HashSet<(String, String)> = operations(&document)
        .into_iter()
        .map(|op| (op.method.to_owned(), op.path))
        .collect();
    for (method, path) in CONTRACT {
        assert!(
            documented.contains(&((*method).to_owned(), (*path).to_owned())),
            "{method} {path} is missing from the document"
        );
    }

    let streams = [
        (
            "post",
            "/api/v1/models/{name}/pull",
            &[
                ("progress", "PullProgress"),
                ("done", "PullDone"),
                ("error", "ErrorBody"),
            ][..],
        ),
        (
            "post",
            "/api/v1/sessions/{id}/messages",
            &[
                ("message", "Message"),
                ("token", "TokenData"),
                ("tool_call", "ToolCallData"),
                ("tool_result", "ToolResultData"),
                ("error", "ErrorBody"),
                ("done", "RunSummary"),
            ][..],
        ),
        (
            "get",
            "/api/v1/tasks/{id}/events",
            &[
                ("token", "TokenData"),
                ("tool_call", "ToolCallData"),
                ("tool_result", "ToolResultData"),
                ("answer", "RunSummary"),
                ("error", "ErrorBody"),
            ][..],
        ),
    ];
    for (method, path, events) in streams {
        let operation = &document["paths"][path][method];
        assert!(
            operation["responses"]["200"]["content"]
                .get("text/event-stream")
                .is_some(),
            "{path} streams server-sent events"
        );
        let description = operation["description"].as_str().unwrap_or_default();
        for (event, schema) in events {
            assert!(
                description.contains(&format!("`{event}` (data: `{schema}`")),
                "{path} names its `{event}` event and its data: {description}"
            );
        }
    }
    // Every stream says so, and every event data schema its description names is described.
    for operation in operations(&document) {
        let streams = operation.body["responses"]
            .as_object()
            .unwrap()
            .values()
            .any(|response| response["content"].get("text/event-stream").is_some());
        if !streams {
            continue;
        }
        let description = operation.body["description"].as_str().unwrap_or_default();
        let named: Vec<&str> = description
            .split("(data: `")
            .skip(1)
            .filter_map(|rest| rest.split('`').next())
            .collect();
        assert!(
            !named.is_empty(),
            "{}: name the events and their data",
            operation.name()
        );
        for schema in named {
            assert!(
                document["components"]["schemas"].get(schema).is_some(),
                "{}: the event data {schema} is not described",
                operation.name()
            );
        }
    }
    app.stop().await;
}

/// The document is built from the `routes!` registrations; a route added with axum's plain
/// `.route(...)` would be served without being documented.
#[test]
fn routes_are_registered_only_with_their_documentation() {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http.rs"))
        .expect("read src/http.rs");
    let plain: Vec<&str> = source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .filter(|line| line.contains(".route(") || line.contains(".route_service("))
        .collect();
    assert!(
        plain.is_empty(),
        "register routes with `.routes(routes!(handler))` and a `#[utoipa::path]` on the \
         handler, so that the OpenAPI document shows them: {plain:#?}"
    );
}
