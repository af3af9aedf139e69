use reqwest::{StatusCode, Version};
use serde_json::Value;

use crate::support::{Options, TestApp, external_db_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_ready_answer_over_https_with_http2() {
    let app = TestApp::start().await;
    let client = app.client();

    let response = client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_2, "ALPN negotiates HTTP/2");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    let response = client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["migrations"]["ok"], true);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_security_headers_and_a_request_id() {
    let app = TestApp::start().await;
    let response = app.client().get(app.url("/api/v1/me")).send().await.unwrap();
    let headers = response.headers();
    assert!(
        headers["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(!headers["x-request-id"].is_empty());
    assert!(
        headers.get("access-control-allow-origin").is_none(),
        "CORS is off by default"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_listener_redirects_to_https_and_serves_health() {
    let app = TestApp::start_with(Options {
        http_listen: true,
        ..Options::default()
    })
    .await;
    let http = app.http_addr.expect("redirect listener");
    let client = app.client();

    let response = client
        .get(format!("http://127.0.0.1:{}/api/v1/me?x=1", http.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        response.headers()["location"],
        format!("https://127.0.0.1:{}/api/v1/me?x=1", app.addr.port()).as_str()
    );

    let response = client
        .get(format!("http://127.0.0.1:{}/health", http.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_off_serves_plain_http_without_hsts() {
    let app = TestApp::start_with(Options {
        tls: false,
        ..Options::default()
    })
    .await;
    let response = app.client().get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("strict-transport-security").is_none());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_turns_503_when_the_database_goes_away() {
    let Some(admin_url) = external_db_url() else {
        return; // Needs a database it can take away: the external one.
    };
    let app = TestApp::start().await;
    let client = app.client();
    assert_eq!(
        client.get(app.url("/ready")).send().await.unwrap().status(),
        StatusCode::OK
    );

    let database = app
        .running()
        .settings
        .database
        .url
        .as_ref()
        .unwrap()
        .expose()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .unwrap();
    sqlx::query(&format!("drop database {database} with (force)"))
        .execute(&mut conn)
        .await
        .unwrap();

    let response = client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"]["ok"], false);
    // Liveness is not readiness: the process is still alive.
    assert_eq!(
        client.get(app.url("/health")).send().await.unwrap().status(),
        StatusCode::OK
    );
    app.stop().await;
}
