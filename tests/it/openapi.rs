//! The OpenAPI document at `/api/v1/openapi.json`: it is valid OpenAPI 3.1, every reference in it
//! resolves, every operation is named and answers something, the interface contract's routes
//! and streams are in it — and it matches the server: every documented operation is served with
//! the security it documents and nothing is served undocumented (`served`), and the real
//! answers fit their documented schemas (`answers`).

mod answers;
mod conform;
mod served;
mod ui_snapshot;

use std::collections::{BTreeSet, HashSet};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestApp;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// The interface contract's routes (shared/PRODUCT.md, "Interface contract") that are built.
const CONTRACT: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
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
                ("tool_call_delta", "ToolCallDeltaData"),
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
