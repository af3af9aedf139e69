use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, error_code};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_shown_once_stored_hashed_scoped_and_revocable() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;

    let response = admin
        .post("/api/v1/keys", json!({ "name": "ci", "expires_in_days": 30 }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("abx_") && secret.len() > 40);
    assert_eq!(created["scopes"], json!(["read", "write"]));
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));

    let listed: Value = admin.get("/api/v1/keys").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is never shown again"
    );
    let stored = app
        .store()
        .query_json_as(
            agentbox::store::Actor::System,
            "select key_hash from api_keys".into(),
            10,
        )
        .await
        .unwrap();
    assert_ne!(stored[0]["key_hash"].as_str().unwrap(), secret, "stored hashed");

    let client = app.client();
    let me: Value = client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["auth"], "api_key");
    // Bearer writes need no CSRF token.
    let made = client
        .post(app.url("/api/v1/keys"))
        .bearer_auth(&secret)
        .json(&json!({ "name": "made-by-key" }))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);

    let read_only = admin.api_key("read-only", &["read"]).await;
    let response = client
        .get(app.url("/api/v1/keys"))
        .bearer_auth(&read_only)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = client
        .post(app.url("/api/v1/keys"))
        .bearer_auth(&read_only)
        .json(&json!({ "name": "escalate" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::FORBIDDEN, "insufficient_scope".to_owned())
    );

    let id = created["id"].as_str().unwrap();
    let revoked = admin
        .request(reqwest::Method::DELETE, &format!("/api/v1/keys/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let response = client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "unauthenticated".to_owned())
    );
    let response = client
        .get(app.url("/api/v1/me"))
        .bearer_auth("abx_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}
