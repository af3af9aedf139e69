//! The newcomer's path, as a new user walks it after `agentbox serve`: the binary started on an
//! empty data folder with default settings — the catalog's models pulled in the background from
//! a stand-in for the model hub — then over HTTP: `/ready`, the setup page, the first admin, the
//! first chat answer. Prints the time from start to each.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::chat::read_events;
use crate::engine::test_model;
use crate::support::ExternalDb;
use crate::support::file_server::{FileServer, Manners};
use crate::support::serve_process::ServeProcess;

const MODEL: &str = "SmolLM2-135M-Instruct";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_gets_a_first_answer_from_an_empty_data_folder() {
    let model = std::fs::read(test_model()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("models.toml");
    let hub = FileServer::start(
        model.clone(),
        Manners {
            ranges: true,
            ..Manners::default()
        },
    )
    .await;
    write_catalog(&catalog, &hub.url(), &model);
    let external = ExternalDb::for_this_run().await;
    let env = [
        ("AGENTBOX_MODELS_FILE", catalog.to_str().unwrap().to_owned()),
        // Two cores shared with other tests: one sequence at a time, short answers.
        ("AGENTBOX_ENGINE_THREADS", "1".to_owned()),
        ("AGENTBOX_ENGINE_SLOTS", "1".to_owned()),
        ("AGENTBOX_AGENTS_MAX_TOKENS", "48".to_owned()),
    ];
    let env: Vec<(String, String)> = env
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(external.iter().flat_map(ExternalDb::env))
        .collect();

    let started = Instant::now();
    let server = ServeProcess::start(dir.path(), &env);
    let client = Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_mins(5))
        .build()
        .unwrap();
    let url = |path: &str| format!("{}{path}", server.url);

    let ready = client.get(url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let ready_at = started.elapsed();

    let csrf = first_admin(&client, &server.url).await;
    let admin_at = started.elapsed();

    wait_for_model(&client, &server.url).await;
    let model_at = started.elapsed();

    first_answer(&client, &server.url, &csrf).await;
    let answered_at = started.elapsed();

    println!(
        "newcomer path from start: /ready {:.1} s, first admin {:.1} s, model pulled {:.1} s, \
         first answer {:.1} s",
        ready_at.as_secs_f64(),
        admin_at.as_secs_f64(),
        model_at.as_secs_f64(),
        answered_at.as_secs_f64()
    );
    server.stop();
    if let Some(db) = external {
        db.drop_db().await;
    }
}

/// The built-in catalog's shape, its one chat model served by the stand-in hub.
fn write_catalog(path: &Path, source: &str, model: &[u8]) {
    let sha256 = hex::encode(Sha256::digest(model));
    let size = model.len();
    std::fs::write(
        path,
        format!(
            "[[model]]\nname = \"{MODEL}\"\nrole = \"fast\"\nsource = \"{source}\"\n\
             file = \"{MODEL}.Q4_1.gguf\"\nsha256 = \"{sha256}\"\nsize_bytes = {size}\n"
        ),
    )
    .unwrap();
}

/// The browser's first visit: the app, which asks whether setup is due, then the setup form.
/// Returns the admin's CSRF token (the session is in the client's cookies).
async fn first_admin(client: &Client, base: &str) -> String {
    let page = client.get(format!("{base}/setup")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text().await.unwrap().contains("<div id=\"app\""),
        "the web UI is served"
    );
    let state: Value = client
        .get(format!("{base}/api/v1/auth/setup"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["setup_needed"], true, "{state}");
    let signed_in = client
        .post(format!("{base}/api/v1/auth/setup"))
        .json(&json!({
            "email": "first@example.com",
            "password": "a long first passphrase",
            "display_name": "First Admin",
            "company": "First Company",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::CREATED);
    let signed_in: Value = signed_in.json().await.unwrap();
    signed_in["csrf_token"].as_str().unwrap().to_owned()
}

/// The model arrives in the background (the Models page shows its progress meanwhile).
async fn wait_for_model(client: &Client, base: &str) {
    let deadline = Instant::now() + Duration::from_mins(2);
    loop {
        let readiness: Value = client
            .get(format!("{base}/ready"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let state = &readiness["models"][0]["state"];
        if state == "present" {
            return;
        }
        assert!(Instant::now() < deadline, "the model is not pulled: {readiness}");
        assert_ne!(state, "failed", "{readiness}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A new conversation with the default agent, answered by the pulled model.
async fn first_answer(client: &Client, base: &str, csrf: &str) {
    let session: Value = client
        .post(format!("{base}/api/v1/sessions"))
        .header("x-csrf-token", csrf)
        .json(&json!({ "agent": "assistant" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = session["id"].as_str().expect("a session id");
    let answer = client
        .post(format!("{base}/api/v1/sessions/{session}/messages"))
        .header("x-csrf-token", csrf)
        .json(&json!({ "content": "Hello! What can you do?" }))
        .send()
        .await
        .unwrap();
    let events = read_events(answer).await;
    let text: String = events
        .iter()
        .filter(|(name, _)| name == "token")
        .filter_map(|(_, data)| data["text"].as_str())
        .collect();
    let done = &events
        .iter()
        .find(|(name, _)| name == "done")
        .unwrap_or_else(|| panic!("the answer ends with `done`: {events:?}"))
        .1;
    assert_eq!(done["status"], "complete", "{events:?}");
    assert_eq!(done["model"], MODEL, "{events:?}");
    assert!(!text.trim().is_empty(), "the first answer has text: {events:?}");
}
