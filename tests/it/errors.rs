//! Bad input gets a 4xx with a stable `code` and a helpful `message`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, error_code};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_mistyped_bodies_are_4xx_with_codes() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let post_raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = admin.request(Method::POST, "/api/v1/keys").body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let json = Some("application/json");

    let cases = [
        (
            post_raw("{not json", json).await.unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            post_raw("{}", json).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            post_raw(r#"{"name": 42}"#, json).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            post_raw(r#"{"name": "k", "bogus": 1}"#, json).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            post_raw(r#"{"name": "k", "scopes": ["root"]}"#, json)
                .await
                .unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            post_raw(r#"{"name": "k"}"#, None).await.unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            post_raw(r#"{"name": "   "}"#, json).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            post_raw(r#"{"name": "k", "scopes": []}"#, json).await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
    ];
    for (response, status, code) in cases {
        assert_eq!(error_code(response).await, (status, code.to_owned()));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_and_the_server_keeps_serving() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let huge = "x".repeat(3 * 1024 * 1024);
    let response = admin.post("/api/v1/keys", json!({ "name": huge })).await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".to_owned())
    );
    assert_eq!(admin.get("/api/v1/me").await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_methods_and_bad_paths_are_json_errors() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let client = app.client();

    let response = client.get(app.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::NOT_FOUND, "not_found".to_owned())
    );

    let response = client.put(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".to_owned())
    );

    let response = admin.get("/api/v1/users/not-a-uuid").await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::BAD_REQUEST, "invalid_path".to_owned())
    );

    let response = admin.get("/api/v1/users?limit=abc").await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::BAD_REQUEST, "invalid_query".to_owned())
    );

    let response = admin
        .get(&format!("/api/v1/users/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(
        error_code(response).await,
        (StatusCode::NOT_FOUND, "not_found".to_owned())
    );
    app.stop().await;
}
