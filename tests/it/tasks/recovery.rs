//! Tasks outlive their workers: a task whose worker died runs again once the lease expires (or
//! fails when out of attempts), and a shutdown gives unfinished tasks back to the queue.

use std::sync::Arc;
use std::time::Duration;

use agentbox::service::tasks::{TaskWorker, WorkerSettings};
use agentbox::store::Actor;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::script::{EventReader, Script, kinds};
use super::{create, id, options, wait_status};
use crate::support::{ADMIN_EMAIL, PASSWORD, Session, TestApp};

fn worker_settings(name: &str) -> WorkerSettings {
    WorkerSettings {
        concurrency: 1,
        lease: Duration::from_secs(2),
        poll: Duration::from_millis(100),
        drain: Duration::from_secs(1),
        name: name.to_owned(),
    }
}

/// The app runs no worker of its own here: the test starts (and kills) them.
async fn app_without_worker() -> (TestApp, Session) {
    let script = Script::new();
    let app = TestApp::start_with(options(&script, &[("AGENTBOX_TASKS_CONCURRENCY", "0")])).await;
    let admin = app.setup_admin().await;
    (app, admin)
}

#[tokio::test]
async fn a_task_whose_worker_died_runs_again_once_its_lease_expires() {
    let (app, admin) = app_without_worker().await;
    let task_id = id(&create(&admin, "echo: resumed").await);

    let stuck = Script::hanging();
    let first = TaskWorker::spawn(
        app.services().tasks,
        Arc::new(stuck.clone()),
        worker_settings("worker-a"),
        CancellationToken::new(),
    );
    let task = wait_status(&admin, &task_id, "running").await;
    assert_eq!(task["attempts"], 1);
    // The process running it dies: no heartbeat, no result.
    first.kill();

    let script = Script::new();
    let stop = CancellationToken::new();
    let second = TaskWorker::spawn(
        app.services().tasks,
        Arc::new(script.clone()),
        worker_settings("worker-b"),
        stop.clone(),
    );
    let done = wait_status(&admin, &task_id, "succeeded").await;
    assert_eq!(done["result"], "done: resumed");
    assert_eq!(done["attempts"], 2);
    let events = EventReader::open(&admin, &task_id, None).await.all().await;
    assert_eq!(
        kinds(&events),
        ["started", "started", "step", "step", "progress", "finished"]
    );
    assert_eq!(events[0].data, json!({ "attempt": 1, "worker": "worker-a" }));
    assert_eq!(events[1].data, json!({ "attempt": 2, "worker": "worker-b" }));
    assert_eq!(script.runs(), 1);
    stop.cancel();
    second.wait().await;
    app.stop().await;
}

#[tokio::test]
async fn a_task_out_of_attempts_fails_instead_of_running_again() {
    let (app, admin) = app_without_worker().await;
    let task_id = id(&create(&admin, "echo: too late").await);
    app.store()
        .execute_as(
            Actor::System,
            format!("update public.tasks set max_attempts = 1 where id = '{task_id}'"),
        )
        .await
        .unwrap();

    let first = TaskWorker::spawn(
        app.services().tasks,
        Arc::new(Script::hanging()),
        worker_settings("worker-a"),
        CancellationToken::new(),
    );
    wait_status(&admin, &task_id, "running").await;
    first.kill();

    let script = Script::new();
    let stop = CancellationToken::new();
    let second = TaskWorker::spawn(
        app.services().tasks,
        Arc::new(script.clone()),
        worker_settings("worker-b"),
        stop.clone(),
    );
    let task = wait_status(&admin, &task_id, "failed").await;
    let error = task["error"].as_str().unwrap();
    assert!(
        error.contains("attempt 1 of 1") && error.contains("not retried"),
        "{error}"
    );
    assert_eq!(task["attempts"], 1);
    assert_eq!(script.runs(), 0, "it did not run again");
    let events = EventReader::open(&admin, &task_id, None).await.all().await;
    assert_eq!(kinds(&events), ["started", "finished"]);
    assert_eq!(events[1].data["status"], "failed");
    stop.cancel();
    second.wait().await;
    app.stop().await;
}

#[tokio::test]
async fn a_shutdown_gives_unfinished_tasks_back_and_a_restart_runs_them() {
    let script = Script::new();
    let mut app =
        TestApp::start_with(options(&script, &[("AGENTBOX_SERVER_SHUTDOWN_GRACE_SECS", "1")])).await;
    let admin = app.setup_admin().await;
    let task_id = id(&create(&admin, "hold").await);
    wait_status(&admin, &task_id, "running").await;

    // Held past the drain time: given back to the queue, then claimed again after the restart.
    app.restart().await;
    let admin = app.login(ADMIN_EMAIL, PASSWORD).await;
    let task = wait_status(&admin, &task_id, "running").await;
    assert_eq!(task["attempts"], 1, "an interrupted run is not counted");
    script.release(1);
    let done = wait_status(&admin, &task_id, "succeeded").await;
    assert_eq!(done["result"], "held");
    assert_eq!(script.runs(), 2);
    let events = EventReader::open(&admin, &task_id, None).await.all().await;
    assert_eq!(kinds(&events), ["started", "requeued", "started", "finished"]);
    app.stop().await;
}
