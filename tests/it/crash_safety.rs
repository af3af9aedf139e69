//! `serve` killed with SIGKILL in the middle of 1,000 concurrent message writes: after a restart,
//! every write the API acknowledged (a 2xx) is there. The figure is printed for both databases.
//! Then SIGKILL during a running task (it runs again after its lease and ends once) and during a
//! model download (the next pull resumes it; no listing ever shows the partial file).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::models::{sha256, test_model};
use crate::support::ExternalDb;
use crate::support::file_server::{FileServer, Manners};
use crate::support::serve_process::ServeProcess;

const WRITES: usize = 1_000;
/// The kill comes once this many writes are acknowledged (the rest are in flight or queued).
const KILL_AFTER: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_thousand_message_writes_loses_no_acknowledged_one() {
    let dir = tempfile::tempdir().unwrap();
    let external = ExternalDb::for_this_run().await;
    let mut env: Vec<(String, String)> = external.iter().flat_map(ExternalDb::env).collect();
    // No model anywhere: each message is stored, then its answer fails at once, which keeps the
    // test about the writes.
    env.push(("AGENTBOX_MODELS_AUTO_PULL".into(), "false".into()));
    env.push(("AGENTBOX_BACKUP_INTERVAL_HOURS".into(), "0".into()));

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

/// A task whose process is killed while it runs is run again by the restarted platform once its
/// lease has run out, and ends once: succeeded, after two attempts, and not run a third time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_running_task_runs_it_again_after_its_lease_and_it_ends_once() {
    let dir = tempfile::tempdir().unwrap();
    let model = std::env::var("AGENTBOX_TEST_MODEL").expect("AGENTBOX_TEST_MODEL names the test model");
    let imported = std::process::Command::new(crate::support::agentbox_binary())
        .args(["models", "import", &model, "--role", "fast"])
        .env_remove("AGENTBOX_CONFIG")
        .env("AGENTBOX_DATA_DIR", dir.path().join("data"))
        .env("AGENTBOX_LOG_LEVEL", "error")
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
    let external = ExternalDb::for_this_run().await;
    let mut env: Vec<(String, String)> = external.iter().flat_map(ExternalDb::env).collect();
    for (name, value) in [
        ("AGENTBOX_TASKS_LEASE_SECS", "3"),
        ("AGENTBOX_ENGINE_THREADS", "1"),
        ("AGENTBOX_ENGINE_SLOTS", "1"),
        ("AGENTBOX_AGENTS_MAX_TOKENS", "300"),
        ("AGENTBOX_MODELS_AUTO_PULL", "false"),
        ("AGENTBOX_BACKUP_INTERVAL_HOURS", "0"),
    ] {
        env.push((name.into(), value.into()));
    }

    let server = ServeProcess::start(dir.path(), &env);
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let key = admin_key(&server.url).await;
    let task: Value = client
        .post(format!("{}/api/v1/tasks", server.url))
        .bearer_auth(&key)
        .json(&json!({ "agent": "assistant", "input": "Tell me a long story about a lighthouse keeper." }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = task["id"].as_str().expect("a task id").to_owned();
    let running = wait_for_task(&client, &server.url, &key, &id, |t| t["status"] != "queued").await;
    assert_eq!(running["status"], "running", "{running}");
    server.kill();

    let server = ServeProcess::start(dir.path(), &env);
    let done = wait_for_task(&client, &server.url, &key, &id, |t| {
        !matches!(t["status"].as_str(), Some("queued" | "running"))
    })
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 2, "one run killed, one run to the end: {done}");
    // Longer than a lease: nothing takes it up a third time.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = task_state(&client, &server.url, &key, &id).await;
    assert_eq!(
        (&later["attempts"], &later["finished_at"]),
        (&done["attempts"], &done["finished_at"])
    );
    println!(
        "crash safety: a task killed while running ran again after its 3 s lease and succeeded (attempts {})",
        done["attempts"]
    );
    server.stop();
    if let Some(db) = external {
        db.drop_db().await;
    }
}

async fn task_state(client: &Client, base: &str, key: &str, id: &str) -> Value {
    client
        .get(format!("{base}/api/v1/tasks/{id}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls the task until `done` says so (2 minutes at most).
async fn wait_for_task(
    client: &Client,
    base: &str,
    key: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_mins(2);
    loop {
        let task = task_state(client, base, key, id).await;
        if done(&task) {
            return task;
        }
        assert!(Instant::now() < deadline, "the task did not get there: {task}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first start of `serve` pulls the missing model of the `fast` role by itself; the process
/// is killed half-way. After a restart the `.part` is listed as partial, never as a model (not
/// in `/v1/models`, not in Ollama's `/api/tags`), and the next pull asks only for the rest,
/// checks the sha256 of the whole file, and the model answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_model_pull_lists_no_partial_model_and_the_next_pull_resumes() {
    let model = std::fs::read(test_model()).unwrap();
    // About 4 s for the whole file at one 64 KiB chunk per 3 ms.
    let hub = FileServer::start(
        model.clone(),
        Manners {
            ranges: true,
            chunk_delay: Some(Duration::from_millis(3)),
            ..Manners::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let external = ExternalDb::for_this_run().await;
    let mut env: Vec<(String, String)> = external.iter().flat_map(ExternalDb::env).collect();
    env.push((
        "AGENTBOX_MODELS_FILE".into(),
        catalog_of(dir.path(), &hub, &model),
    ));
    env.push(("AGENTBOX_BACKUP_INTERVAL_HOURS".into(), "0".into()));
    env.push(("AGENTBOX_ENGINE_THREADS".into(), "1".into()));
    let models = dir.path().join("data/models");
    let part = models.join("tiny.gguf.part");

    let server = ServeProcess::start(dir.path(), &env);
    wait_for_file(&part, model.len() as u64 / 4).await;
    server.kill();
    let partial = std::fs::metadata(&part).unwrap().len();
    assert!(
        partial < model.len() as u64,
        "the kill came after the whole file was there"
    );
    assert!(
        !models.join("tiny.gguf").exists(),
        "a half file under the model's name"
    );

    env.push(("AGENTBOX_MODELS_AUTO_PULL".into(), "false".into()));
    let server = ServeProcess::start(dir.path(), &env);
    let client = Client::builder().timeout(Duration::from_mins(2)).build().unwrap();
    let key = admin_key(&server.url).await;
    let get = |path: &str| {
        let request = client.get(format!("{}{path}", server.url)).bearer_auth(&key);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let listed = get("/api/v1/models").await;
    let row = &listed["models"][0];
    assert_eq!(
        (&row["name"], &row["state"]),
        (&json!("tiny"), &json!("partial")),
        "{listed}"
    );
    assert_eq!(row["partial_bytes"], partial, "{row}");
    assert!(!ids(&get("/v1/models").await["data"], "id").contains(&"tiny".to_owned()));
    assert!(
        !ids(&get("/api/tags").await["models"], "name")
            .iter()
            .any(|n| n.starts_with("tiny"))
    );

    let before = hub.ranges_asked().len();
    let pulled = client
        .post(format!("{}/api/v1/models/tiny/pull", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), StatusCode::OK);
    let events = pulled.text().await.unwrap();
    assert!(events.contains("event: done"), "{events}");
    assert_eq!(
        hub.ranges_asked()[before..],
        [Some(format!("bytes={partial}-"))],
        "the pull asks only for the rest"
    );
    assert!(!part.exists());
    assert_eq!(std::fs::read(models.join("tiny.gguf")).unwrap(), model);
    assert!(ids(&get("/v1/models").await["data"], "id").contains(&"tiny".to_owned()));
    let answer: Value = client
        .post(format!("{}/v1/chat/completions", server.url))
        .bearer_auth(&key)
        .json(&json!({ "model": "tiny", "messages": [{ "role": "user", "content": "Hi" }], "max_tokens": 8 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["object"], "chat.completion", "{answer}");
    println!(
        "crash safety: a pull killed at {partial} of {} bytes was listed as partial, resumed with \
         bytes={partial}- and verified",
        model.len()
    );
    server.stop();
    if let Some(db) = external {
        db.drop_db().await;
    }
}

/// A catalog in `dir` whose model `tiny` (role `fast`) is `model`, served by `hub`.
fn catalog_of(dir: &std::path::Path, hub: &FileServer, model: &[u8]) -> String {
    let catalog = dir.join("models.toml");
    std::fs::write(
        &catalog,
        format!(
            "[[model]]\nname = \"tiny\"\nrole = \"fast\"\nsource = \"{}\"\nfile = \"tiny.gguf\"\n\
             sha256 = \"{}\"\nsize_bytes = {}\n",
            hub.url(),
            sha256(model),
            model.len()
        ),
    )
    .unwrap();
    catalog.display().to_string()
}

/// Waits (a minute at most) until `path` holds at least `bytes`.
async fn wait_for_file(path: &std::path::Path, bytes: u64) {
    let deadline = Instant::now() + Duration::from_mins(1);
    while std::fs::metadata(path).map_or(0, |m| m.len()) < bytes {
        assert!(
            Instant::now() < deadline,
            "{} did not reach {bytes} bytes",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The `field` of each entry of a listing.
fn ids(entries: &Value, field: &str) -> Vec<String> {
    entries
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry[field].as_str().map(str::to_owned))
        .collect()
}
