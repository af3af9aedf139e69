//! `serve` killed with SIGKILL in the middle of 1,000 concurrent message writes: after a restart,
//! every write the API acknowledged (a 2xx) is there. The figure is printed for both databases.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::support::serve_process::ServeProcess;
use crate::support::{ExternalDb, external_db_url};

const WRITES: usize = 1_000;
/// The kill comes once this many writes are acknowledged (the rest are in flight or queued).
const KILL_AFTER: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_thousand_message_writes_loses_no_acknowledged_one() {
    let dir = tempfile::tempdir().unwrap();
    let external = match external_db_url() {
        Some(admin) => Some(ExternalDb::create(&admin).await),
        None => None,
    };
    let mut env: Vec<(String, String)> = external.iter().flat_map(ExternalDb::env).collect();
    // No model anywhere: each message is stored, then its answer fails at once, which keeps the
    // test about the writes.
    env.push(("AGENTBOX_MODELS_AUTO_PULL".into(), "false".into()));
    env.push(("AGENTBOX_BACKUP_INTERVAL_HOURS".into(), "0".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let server = ServeProcess::start(dir.path(), &env);
    let client = Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_mins(2))
        .build()
        .unwrap();
    let key = admin_key(&server.url).await;
    let sessions = create_sessions(&client, &server.url, &key).await;

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let base = server.url.clone();
    let writes = futures::stream::iter(sessions.iter().enumerate().map(|(i, session)| {
        let (client, base, key) = (client.clone(), base.clone(), key.clone());
        let acknowledged = Arc::clone(&acknowledged);
        async move {
            let sent = client
                .post(format!("{base}/api/v1/sessions/{session}/messages"))
                .bearer_auth(&key)
                .json(&json!({ "content": format!("write-{i}") }))
                .send()
                .await;
            // The status line comes once the message is committed; the answer is not awaited.
            let ok = sent.is_ok_and(|response| response.status().is_success());
            if ok {
                acknowledged.fetch_add(1, Ordering::SeqCst);
            }
            ok.then_some(i)
        }
    }))
    .buffer_unordered(WRITES)
    .collect::<Vec<_>>();
    let killer = {
        let acknowledged = Arc::clone(&acknowledged);
        async move {
            let deadline = Instant::now() + Duration::from_mins(2);
            while acknowledged.load(Ordering::SeqCst) < KILL_AFTER && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            server.kill();
        }
    };
    let (outcomes, ()) = tokio::join!(writes, killer);
    let acked: Vec<usize> = outcomes.into_iter().flatten().collect();
    assert!(
        acked.len() >= KILL_AFTER,
        "only {} writes were acknowledged",
        acked.len()
    );
    assert!(acked.len() < WRITES, "the kill came after every write was done");

    let server = ServeProcess::start(dir.path(), &env);
    let mut lost = Vec::new();
    for &i in &acked {
        let messages: Value = client
            .get(format!("{}/api/v1/sessions/{}/messages", server.url, sessions[i]))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let stored = messages
            .as_array()
            .is_some_and(|all| all.iter().any(|m| m["content"] == format!("write-{i}")));
        if !stored {
            lost.push(i);
        }
    }
    let database = if external.is_some() {
        "external Postgres"
    } else {
        "embedded"
    };
    println!(
        "crash safety ({database}): SIGKILL with {} of {WRITES} writes acknowledged; after restart {} stored, {} lost",
        acked.len(),
        acked.len() - lost.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    server.stop();
    if let Some(db) = external {
        db.drop_db().await;
    }
}

/// The first admin (through the setup form) and an API key of theirs that may write.
async fn admin_key(base: &str) -> String {
    let cookies = Client::builder().cookie_store(true).build().unwrap();
    let signed_in = cookies
        .post(format!("{base}/api/v1/auth/setup"))
        .json(&json!({
            "email": "ops@example.com",
            "password": "a long operator passphrase",
            "company": "Crash Test Company",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::CREATED);
    let csrf = signed_in.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let key: Value = cookies
        .post(format!("{base}/api/v1/keys"))
        .header("x-csrf-token", csrf)
        .json(&json!({ "name": "writer", "scopes": ["read", "write"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    key["secret"].as_str().expect("a key secret").to_owned()
}

async fn create_sessions(client: &Client, base: &str, key: &str) -> Vec<String> {
    futures::stream::iter(0..WRITES)
        .map(|_| async {
            let session: Value = client
                .post(format!("{base}/api/v1/sessions"))
                .bearer_auth(key)
                .json(&json!({ "agent": "assistant" }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            session["id"].as_str().expect("a session id").to_owned()
        })
        .buffered(16)
        .collect()
        .await
}
