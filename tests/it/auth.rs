use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, PASSWORD, TestApp, error_code};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_setup_creates_the_admin_once_and_signs_in() {
    let app = TestApp::start().await;
    let client = app.client();
    let state: Value = client
        .get(app.url("/api/v1/auth/setup"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["setup_needed"], true);

    let response = client
        .post(app.url("/api/v1/auth/setup"))
        .json(&json!({ "email": "Admin@Example.com", "password": PASSWORD, "company": "Acme Test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in [
        "agentbox_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/",
    ] {
        assert!(cookie.contains(attribute), "{attribute} missing in {cookie}");
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], ADMIN_EMAIL);
    assert_eq!(body["user"]["role"], "admin");
    assert!(
        body.to_string().find("password").is_none(),
        "no password material in responses"
    );

    let me: Value = client
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["auth"], "session");
    assert_eq!(me["csrf_token"], body["csrf_token"]);

    let again = app
        .client()
        .post(app.url("/api/v1/auth/setup"))
        .json(&json!({ "email": "intruder@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(again).await,
        (StatusCode::CONFLICT, "already_set_up".to_owned())
    );
    let state: Value = client
        .get(app.url("/api/v1/auth/setup"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["setup_needed"], false);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_validates_email_and_password() {
    let app = TestApp::start().await;
    let client = app.client();
    for (body, field) in [
        (json!({ "email": "not-an-email", "password": PASSWORD }), "email"),
        (
            json!({ "email": "a@example.com", "password": "short" }),
            "password",
        ),
    ] {
        let response = client
            .post(app.url("/api/v1/auth/setup"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "invalid_input");
        assert_eq!(body["field"], field);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_logout_and_wrong_passwords() {
    let app = TestApp::start().await;
    app.setup_admin().await;
    let client = app.client();

    let wrong = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": ADMIN_EMAIL, "password": "wrong password!" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(wrong).await,
        (StatusCode::UNAUTHORIZED, "invalid_credentials".to_owned())
    );
    let unknown = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": "nobody@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(unknown).await,
        (StatusCode::UNAUTHORIZED, "invalid_credentials".to_owned())
    );

    let session = app.login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(session.get("/api/v1/me").await.status(), StatusCode::OK);

    let without_csrf = session
        .client
        .post(app.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(without_csrf).await,
        (StatusCode::FORBIDDEN, "csrf_failed".to_owned())
    );

    let response = session.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = session.get("/api/v1/me").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_throttled_with_429() {
    let app = TestApp::start().await;
    app.setup_admin().await;
    let client = app.client();
    let attempt = |password: &'static str| {
        client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({ "email": ADMIN_EMAIL, "password": password }))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(
            attempt("wrong password!").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password waits until the window reopens.
    let throttled = attempt(PASSWORD).await.unwrap();
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(
        error_code(throttled).await,
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts".to_owned())
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_writes_need_the_csrf_token() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let forged = admin
        .client
        .post(app.url("/api/v1/keys"))
        .header("x-csrf-token", "guess")
        .json(&json!({ "name": "k" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(forged).await,
        (StatusCode::FORBIDDEN, "csrf_failed".to_owned())
    );
    assert_eq!(
        admin.post("/api/v1/keys", json!({ "name": "k" })).await.status(),
        StatusCode::CREATED
    );
    app.stop().await;
}
