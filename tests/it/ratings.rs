//! `/api/v1/messages/{id}/rating`: only the author of the question rates the answer; bad input
//! is a 4xx that says what is wrong.

use agentbox::store::Actor;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::analytics::stored_answer;
use crate::support::{PASSWORD, Session, TestApp, error_code};

async fn put(session: &Session, message: &str, body: Value) -> reqwest::Response {
    session
        .request(Method::PUT, &format!("/api/v1/messages/{message}/rating"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn stored_rating(app: &TestApp, message: Uuid) -> Value {
    app.store()
        .query_json_as(
            Actor::System,
            format!("select rating, rating_comment, rated_at from messages where id = '{message}'"),
            1,
        )
        .await
        .unwrap()
        .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_is_rated_changed_and_cleared() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let user: Uuid = admin.user_id().parse().unwrap();
    let answer = stored_answer(&app, user, "assistant", "fast").await;

    let response = put(
        &admin,
        &answer.to_string(),
        json!({ "rating": "up", "comment": " Spot on. " }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message_id"], answer.to_string());
    assert_eq!(body["rating"], "up");
    assert_eq!(body["comment"], "Spot on.");
    assert!(body["rated_at"].is_string(), "{body}");
    let stored = stored_rating(&app, answer).await;
    assert_eq!(
        (stored["rating"].as_i64(), stored["rating_comment"].as_str()),
        (Some(1), Some("Spot on."))
    );

    // A new rating replaces the old one, comment included; a blank comment is none.
    let body: Value = put(
        &admin,
        &answer.to_string(),
        json!({ "rating": "down", "comment": "  " }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (body["rating"].as_str(), &body["comment"]),
        (Some("down"), &Value::Null)
    );
    assert_eq!(stored_rating(&app, answer).await["rating"], -1);

    // The longest comment the database takes.
    let longest = "é".repeat(2000);
    let body: Value = put(
        &admin,
        &answer.to_string(),
        json!({ "rating": "up", "comment": longest }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["comment"].as_str().unwrap().chars().count(), 2000);

    let response = admin
        .request(Method::DELETE, &format!("/api/v1/messages/{answer}/rating"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (&body["rating"], &body["comment"], &body["rated_at"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    let stored = stored_rating(&app, answer).await;
    assert_eq!(
        stored,
        json!({ "rating": null, "rating_comment": null, "rated_at": null })
    );

    // Through an API key with the write scope too.
    let key = admin.api_key("rater", &["read", "write"]).await;
    let response = app
        .client()
        .put(app.url(&format!("/api/v1/messages/{answer}/rating")))
        .bearer_auth(&key)
        .json(&json!({ "rating": "up" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ratings_are_refused() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let user: Uuid = admin.user_id().parse().unwrap();
    let answer = stored_answer(&app, user, "assistant", "fast").await.to_string();
    let other = app.create_user("other@example.com", "Acme Test", false).await;
    let other_answer = stored_answer(
        &app,
        other["id"].as_str().unwrap().parse().unwrap(),
        "assistant",
        "fast",
    )
    .await;
    let prompt: Value = app
        .store()
        .query_json_as(
            Actor::System,
            format!("select id from messages where user_id = '{user}' and role = 'user'"),
            1,
        )
        .await
        .unwrap()
        .remove(0);
    let prompt = prompt["id"].as_str().unwrap();

    let other_id = other_answer.to_string();
    let unknown = Uuid::new_v4().to_string();
    let long_comment = json!({ "rating": "up", "comment": "x".repeat(2001) });
    for (message, body, status, code) in [
        // Only answers can be rated.
        (prompt, json!({ "rating": "up" }), 422, "invalid_input"),
        // Another user's answer is invisible (RLS), as is one that does not exist.
        (other_id.as_str(), json!({ "rating": "up" }), 404, "not_found"),
        (unknown.as_str(), json!({ "rating": "up" }), 404, "not_found"),
        ("not-a-uuid", json!({ "rating": "up" }), 400, "invalid_path"),
        (&answer, json!({ "rating": "sideways" }), 422, "invalid_input"),
        (&answer, json!({ "rating": "UP" }), 422, "invalid_input"),
        (&answer, json!({ "rating": 1 }), 422, "invalid_body"),
        (&answer, json!({}), 422, "invalid_body"),
        (
            &answer,
            json!({ "rating": "up", "stars": 5 }),
            422,
            "invalid_body",
        ),
        (&answer, long_comment, 422, "invalid_input"),
    ] {
        let (actual_status, actual_code) = error_code(put(&admin, message, body.clone()).await).await;
        assert_eq!(
            (actual_status.as_u16(), actual_code.as_str()),
            (status, code),
            "{message} {body}"
        );
    }
    let response = admin
        .request(Method::PUT, &format!("/api/v1/messages/{answer}/rating"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await.1, "invalid_json");
    let response = admin
        .request(Method::DELETE, &format!("/api/v1/messages/{other_answer}/rating"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await.0, StatusCode::NOT_FOUND);

    // The other user's answer is untouched, and its author may rate it.
    assert_eq!(stored_rating(&app, other_answer).await["rating"], Value::Null);
    let other_session = app.login("other@example.com", PASSWORD).await;
    let response = put(
        &other_session,
        &other_answer.to_string(),
        json!({ "rating": "down" }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    let stored = stored_rating(&app, answer.parse().unwrap()).await;
    assert_eq!(stored["rating"], Value::Null, "no refused request changed it");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rating_needs_a_write_key_or_a_session() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let user: Uuid = admin.user_id().parse().unwrap();
    let answer = stored_answer(&app, user, "assistant", "fast").await;
    let read_only = admin.api_key("reader", &["read"]).await;
    let response = app
        .client()
        .put(app.url(&format!("/api/v1/messages/{answer}/rating")))
        .bearer_auth(&read_only)
        .json(&json!({ "rating": "up" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::FORBIDDEN, "insufficient_scope".to_owned())
    );
    let response = app
        .client()
        .put(app.url(&format!("/api/v1/messages/{answer}/rating")))
        .json(&json!({ "rating": "up" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response).await.0, StatusCode::UNAUTHORIZED);
    let stored = stored_rating(&app, answer).await;
    assert_eq!(stored["rating"], Value::Null, "no refused request changed it");
    app.stop().await;
}
