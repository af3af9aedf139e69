//! The embedded database serves one connection, and a connection dropped mid-response wedges
//! it: cancelled requests must never cancel their SQL, concurrency must queue, not fail, and
//! the watchdog must bring a wedged server back.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::support::{TestApp, external_db_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_requests_cancelled_mid_flight_leave_the_database_answering() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    for i in 0..20u64 {
        // Writes (key creation) and reads, abandoned after 0-19 ms: somewhere inside the SQL.
        let request = if i % 2 == 0 {
            admin
                .request(reqwest::Method::POST, "/api/v1/keys")
                .json(&json!({ "name": format!("k{i}") }))
        } else {
            admin.request(reqwest::Method::GET, "/api/v1/users")
        };
        let _ = tokio::time::timeout(Duration::from_millis(i), request.send()).await;
    }
    for _ in 0..20 {
        let response = admin.get("/api/v1/me").await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let created = admin.post("/api/v1/keys", json!({ "name": "after" })).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_clients_are_served_without_errors() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let key = admin.api_key("load", &["read", "write"]).await;
    let client = app.client();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (client, url, key) = (client.clone(), app.url("/api/v1/me"), key.clone());
            let keys_url = app.url("/api/v1/keys");
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for j in 0..5 {
                    let response = if j == 0 {
                        client
                            .post(&keys_url)
                            .bearer_auth(&key)
                            .json(&json!({ "name": format!("c{i}") }))
                            .send()
                            .await
                    } else {
                        client.get(&url).bearer_auth(&key).send().await
                    };
                    statuses.push(response.map(|r| r.status()).map_err(|e| e.to_string()));
                }
                statuses
            })
        })
        .collect();
    for task in tasks {
        for status in task.await.unwrap() {
            let status = status.expect("request completes");
            assert!(status.is_success(), "{status}");
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_restarts_an_embedded_database_wedged_by_a_vanished_client() {
    if external_db_url().is_some() {
        return; // Only the embedded server wedges; external Postgres handles vanished clients.
    }
    let app = TestApp::start().await;
    let store = app.store().clone();

    // A client that vanishes in the middle of a large response, without a Terminate message.
    let mut conn = store.pool().acquire().await.unwrap().detach();
    {
        let mut rows =
            sqlx::query("select repeat('x', 10000) from generate_series(1, 20000)").fetch(&mut conn);
        let _first = rows.next().await;
    }
    drop(conn);

    let deadline = tokio::time::Instant::now() + Duration::from_mins(1);
    loop {
        if tokio::time::timeout(Duration::from_secs(5), store.ping())
            .await
            .is_ok_and(|r| r.is_ok())
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the embedded database did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let response = app.client().get(app.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The pooled connection works again too.
    let mut conn = store.pool().acquire().await.unwrap();
    conn.ping().await.unwrap();
    drop(conn);
    app.stop().await;
}
