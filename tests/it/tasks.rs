//! Background tasks through the real API and the real queue, with a scripted executor in place
//! of the agent runner: events replay and follow, cancel, the concurrency limit, failures,
//! crash recovery and shutdown (`recovery.rs`), isolation between users and bad input (`input.rs`).

mod input;
mod recovery;
mod script;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Options, Session, TestApp, error_code};
use script::{EventReader, FAIL_MESSAGE, Script, kinds};

fn options(script: &Script, env: &[(&str, &str)]) -> Options {
    Options {
        hooks: script.hooks(),
        extra_env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Options::default()
    }
}

async fn create(session: &Session, input: &str) -> Value {
    let response = session
        .post("/api/v1/tasks", json!({ "agent": "assistant", "input": input }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

fn id(task: &Value) -> String {
    task["id"].as_str().unwrap().to_owned()
}

async fn get(session: &Session, id: &str) -> Value {
    let response = session.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn cancel(session: &Session, id: &str) -> reqwest::Response {
    session
        .post(&format!("/api/v1/tasks/{id}/cancel"), json!({}))
        .await
}

/// Polls the task until `check` holds (30 s at most).
async fn wait_for(session: &Session, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let task = get(session, id).await;
        if check(&task) {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("task {id} is not {what} after 30 s: {}", get(session, id).await);
}

async fn wait_status(session: &Session, id: &str, status: &str) -> Value {
    wait_for(session, id, status, |task| task["status"] == status).await
}

async fn list(session: &Session, query: &str) -> Vec<Value> {
    let response = session.get(&format!("/api/v1/tasks{query}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_task_runs_and_its_events_replay_from_the_start_in_order() {
    let script = Script::new();
    let app = TestApp::start_with(options(&script, &[])).await;
    let admin = app.setup_admin().await;

    let task = create(&admin, "echo: hello").await;
    assert_eq!(task["agent"], "assistant");
    assert_eq!(task["input"], "echo: hello");
    let task_id = id(&task);
    // Following it from the moment it was queued: every event, in order, then the end.
    let live = EventReader::open(&admin, &task_id, None).await.all().await;
    assert_eq!(kinds(&live), ["started", "step", "step", "progress", "finished"]);
    let ids: Vec<i64> = live.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    assert_eq!(live[0].data["attempt"], 1);
    assert_eq!(live[1].data, json!({ "n": 1 }));
    assert_eq!(live[3].data, json!({ "progress": 0.5, "message": "halfway" }));
    assert_eq!(
        live[4].data,
        json!({ "status": "succeeded", "result": "done: hello" })
    );

    let done = get(&admin, &task_id).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["result"], "done: hello");
    assert_eq!(done["progress"], 1.0);
    assert_eq!(done["progress_message"], "halfway");
    assert_eq!(done["attempts"], 1);
    assert!(done["error"].is_null());
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());

    // After the end: the same story from the start, and the rest after a Last-Event-ID.
    let replay = EventReader::open(&admin, &task_id, None).await.all().await;
    assert_eq!(
        replay.iter().map(|e| e.id).collect::<Vec<_>>(),
        live.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    let second = ids[1].to_string();
    let rest = EventReader::open(&admin, &task_id, Some(&second))
        .await
        .all()
        .await;
    assert_eq!(kinds(&rest), ["step", "progress", "finished"]);
    let response = admin
        .get(&format!("/api/v1/tasks/{task_id}/events?after={}", ids[3]))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("event: finished"));
    let last = ids[4].to_string();
    assert!(
        EventReader::open(&admin, &task_id, Some(&last))
            .await
            .all()
            .await
            .is_empty()
    );

    // Lists: newest first, narrowed by status.
    let second_task = create(&admin, "echo: again").await;
    wait_status(&admin, &id(&second_task), "succeeded").await;
    let all = list(&admin, "").await;
    assert_eq!(
        all.iter().map(|t| t["id"].clone()).collect::<Vec<_>>(),
        [second_task["id"].clone(), task["id"].clone()]
    );
    assert_eq!(list(&admin, "?status=succeeded&limit=1").await.len(), 1);
    assert_eq!(
        list(&admin, "?status=succeeded&limit=1&offset=1").await[0]["id"],
        task["id"]
    );
    assert!(list(&admin, "?status=queued").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn cancelling_a_queued_task_and_following_a_running_one_as_it_is_cancelled() {
    let script = Script::new();
    let app = TestApp::start_with(options(&script, &[("AGENTBOX_TASKS_CONCURRENCY", "1")])).await;
    let admin = app.setup_admin().await;

    let running = id(&create(&admin, "block").await);
    let mut follow = EventReader::open(&admin, &running, None).await;
    assert_eq!(follow.next().await.unwrap().event, "started");
    let progress = follow.next().await.unwrap();
    assert_eq!(progress.event, "progress");
    assert_eq!(progress.data["message"], "waiting");

    // The only slot is taken: the next task waits, and is cancelled before it starts.
    let queued = id(&create(&admin, "echo: never").await);
    assert_eq!(get(&admin, &queued).await["status"], "queued");
    let response = cancel(&admin, &queued).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["finished_at"].is_string());
    assert_eq!(cancelled["attempts"], 0);
    let events = EventReader::open(&admin, &queued, None).await.all().await;
    assert_eq!(kinds(&events), ["finished"]);
    assert_eq!(events[0].data["status"], "cancelled");

    // The running one: its run is told to stop, and the stream tells the story live.
    let response = cancel(&admin, &running).await;
    assert_eq!(response.status(), StatusCode::OK);
    let requested: Value = response.json().await.unwrap();
    assert_eq!(requested["cancel_requested"], true);
    assert_eq!(follow.next().await.unwrap().event, "cancel_requested");
    let finished = follow.next().await.unwrap();
    assert_eq!(finished.event, "finished");
    assert_eq!(
        finished.data,
        json!({ "status": "cancelled", "error": "stopped on request" })
    );
    assert!(follow.next().await.is_none(), "the stream ends after `finished`");
    let task = get(&admin, &running).await;
    assert_eq!(task["status"], "cancelled");
    assert_eq!(task["error"], "stopped on request");

    // Cancelling again changes nothing; a task that succeeded cannot be cancelled.
    let again = cancel(&admin, &running).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "cancelled");
    let done = id(&create(&admin, "echo: fine").await);
    wait_status(&admin, &done, "succeeded").await;
    assert_eq!(
        error_code(cancel(&admin, &done).await).await,
        (StatusCode::CONFLICT, "task_finished".to_owned())
    );
    app.stop().await;
}

#[tokio::test]
async fn no_more_tasks_run_at_once_than_the_concurrency_limit() {
    let script = Script::new();
    let app = TestApp::start_with(options(&script, &[("AGENTBOX_TASKS_CONCURRENCY", "2")])).await;
    let admin = app.setup_admin().await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(id(&create(&admin, "hold").await));
    }
    for _ in 0..300 {
        if script.running() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give the worker every chance to start a third (it polls every second).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(script.running(), 2);
    assert_eq!(list(&admin, "?status=running").await.len(), 2);
    assert_eq!(list(&admin, "?status=queued").await.len(), 2);

    script.release(4);
    for task in &ids {
        let done = wait_status(&admin, task, "succeeded").await;
        assert_eq!(done["result"], "held");
    }
    assert_eq!(script.max_running(), 2, "never more than 2 at once");
    assert_eq!(script.runs(), 4);
    app.stop().await;
}

#[tokio::test]
async fn a_failing_run_fails_the_task_with_its_message() {
    let script = Script::new();
    let app = TestApp::start_with(options(&script, &[])).await;
    let admin = app.setup_admin().await;

    let failing = id(&create(&admin, "fail").await);
    let task = wait_status(&admin, &failing, "failed").await;
    assert_eq!(task["error"], FAIL_MESSAGE);
    assert!(task["result"].is_null());
    assert_eq!(task["attempts"], 1, "a failed run is not retried");
    let events = EventReader::open(&admin, &failing, None).await.all().await;
    assert_eq!(kinds(&events), ["started", "step", "finished"]);
    assert_eq!(
        events[2].data,
        json!({ "status": "failed", "error": FAIL_MESSAGE })
    );

    let panicking = id(&create(&admin, "panic").await);
    let task = wait_status(&admin, &panicking, "failed").await;
    assert!(task["error"].as_str().unwrap().contains("panicked"), "{task}");

    // The worker goes on after both.
    let fine = id(&create(&admin, "echo: still here").await);
    assert_eq!(
        wait_status(&admin, &fine, "succeeded").await["result"],
        "done: still here"
    );
    app.stop().await;
}
