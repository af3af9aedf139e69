//! Every documented operation is served, with the security the document gives it, and no route
//! is served without its documentation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{fetch_document, operations};
use crate::support::TestApp;

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
            assert!(
                status == StatusCode::UNAUTHORIZED
                    && shows(&body, "unauthenticated", "authentication required"),
                "{name} is documented as needing credentials: {status} {body}"
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
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            assert!(
                status == StatusCode::FORBIDDEN
                    && shows(
                        &body,
                        "csrf_failed",
                        "a cookie-authenticated write needs the X-CSRF-Token header from sign-in or /api/v1/me"
                    ),
                "{name}: the session cookie without X-CSRF-Token: {status} {body}"
            );
        } else {
            assert!(!cookie_needs_csrf, "{name}: only writes need the CSRF header");
        }
    }
    app.stop().await;
}

/// Whether an error body is the error `code`: in the platform's shape, `OpenAI`'s (`/v1`), or
/// Ollama's, which carries only the `message`.
fn shows(body: &Value, code: &str, message: &str) -> bool {
    body["code"] == code || body["error"]["code"] == code || body["error"] == message
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
