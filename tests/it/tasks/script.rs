//! A scripted task executor (what a run does is written in the task's input), and a reader of
//! the task event stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentbox::app::Hooks;
use agentbox::domain::Task;
use agentbox::service::tasks::{TaskExecutor, TaskFailure, TaskProgress};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::support::Session;

pub const FAIL_MESSAGE: &str = "the scripted run failed on purpose";

/// Runs a task by its input:
/// - `echo: X`: events `step` {n: 1} and {n: 2}, progress 0.5 "halfway", result `done: X`;
/// - `block`: progress 0.1 "waiting", then waits to be cancelled;
/// - `hold`: waits for a permit from [`Script::release`] (or a cancel), result `held`;
/// - `fail`: one `step`, then fails with [`FAIL_MESSAGE`];
/// - `panic`: panics.
///
/// A hanging script ignores all that and never returns, not even when cancelled: a run in a
/// process about to be killed.
#[derive(Clone)]
pub struct Script {
    state: Arc<State>,
    hang: bool,
}

struct State {
    running: AtomicUsize,
    max_running: AtomicUsize,
    runs: AtomicUsize,
    permits: Semaphore,
}

/// Counts a run as running while it lasts (also when the worker drops it).
struct Running<'a>(&'a State);

impl<'a> Running<'a> {
    fn new(state: &'a State) -> Self {
        state.runs.fetch_add(1, Ordering::SeqCst);
        let now = state.running.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_running.fetch_max(now, Ordering::SeqCst);
        Self(state)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Script {
    pub fn new() -> Self {
        Self {
            state: Arc::new(State {
                running: AtomicUsize::new(0),
                max_running: AtomicUsize::new(0),
                runs: AtomicUsize::new(0),
                permits: Semaphore::new(0),
            }),
            hang: false,
        }
    }

    pub fn hanging() -> Self {
        Self {
            hang: true,
            ..Self::new()
        }
    }

    pub fn hooks(&self) -> Hooks {
        Hooks {
            task_executor: Some(Arc::new(self.clone())),
        }
    }

    /// Runs going on now.
    pub fn running(&self) -> usize {
        self.state.running.load(Ordering::SeqCst)
    }

    /// The most runs that went on at the same time.
    pub fn max_running(&self) -> usize {
        self.state.max_running.load(Ordering::SeqCst)
    }

    /// Runs started so far.
    pub fn runs(&self) -> usize {
        self.state.runs.load(Ordering::SeqCst)
    }

    /// Lets `n` held runs finish.
    pub fn release(&self, n: usize) {
        self.state.permits.add_permits(n);
    }

    async fn play(
        &self,
        task: Task,
        progress: TaskProgress,
        cancel: CancellationToken,
    ) -> Result<String, TaskFailure> {
        let _running = Running::new(&self.state);
        if self.hang {
            std::future::pending::<()>().await;
        }
        assert_eq!(
            progress.owner().user_id(),
            task.user_id,
            "the run acts as the task's owner"
        );
        let step = |n: u32| {
            let progress = progress.clone();
            async move { progress.event("step", json!({ "n": n })).await.unwrap() }
        };
        match task.input.as_str() {
            input if input.starts_with("echo: ") => {
                step(1).await;
                step(2).await;
                progress.set_progress(0.5, Some("halfway".into())).await.unwrap();
                Ok(format!("done: {}", &input["echo: ".len()..]))
            }
            "block" => {
                progress.set_progress(0.1, Some("waiting".into())).await.unwrap();
                cancel.cancelled().await;
                Err(TaskFailure::Cancelled("stopped on request".into()))
            }
            "hold" => tokio::select! {
                permit = self.state.permits.acquire() => {
                    permit.unwrap().forget();
                    Ok("held".into())
                }
                () = cancel.cancelled() => Err(TaskFailure::Cancelled("stopped while held".into())),
            },
            "fail" => {
                step(1).await;
                Err(TaskFailure::Failed(FAIL_MESSAGE.into()))
            }
            "panic" => panic!("the scripted run panics"),
            other => Err(TaskFailure::Failed(format!("no script for {other:?}"))),
        }
    }
}

impl TaskExecutor for Script {
    fn run(
        &self,
        task: Task,
        progress: TaskProgress,
        cancel: CancellationToken,
    ) -> BoxFuture<'_, Result<String, TaskFailure>> {
        Box::pin(self.play(task, progress, cancel))
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: Option<i64>,
    pub event: String,
    pub data: Value,
}

/// Reads `GET /api/v1/tasks/{id}/events` one event at a time.
pub struct EventReader {
    body: BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buffer: String,
}

impl EventReader {
    pub async fn open(session: &Session, task_id: &str, last_event_id: Option<&str>) -> Self {
        let mut request = session.request(Method::GET, &format!("/api/v1/tasks/{task_id}/events"));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event; `None` when the server ended the stream.
    pub async fn next(&mut self) -> Option<Sse> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.body.next())
                .await
                .expect("an event within 30 s");
            match chunk {
                Some(bytes) => self
                    .buffer
                    .push_str(std::str::from_utf8(&bytes.unwrap()).unwrap()),
                None => return None,
            }
        }
    }

    /// Every event up to the end of the stream.
    pub async fn all(mut self) -> Vec<Sse> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

/// An SSE block; `None` for a keep-alive comment.
fn parse(block: &str) -> Option<Sse> {
    let (mut id, mut event, mut data) = (None, None, String::new());
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.parse().expect("numeric event id")),
            "event" => event = Some(value.to_owned()),
            "data" => data.push_str(value),
            _ => {}
        }
    }
    Some(Sse {
        id,
        event: event?,
        data: serde_json::from_str(&data).expect("JSON event data"),
    })
}

pub fn kinds(events: &[Sse]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}
