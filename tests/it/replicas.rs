//! Several `agentbox serve` replicas on one external Postgres, with the test spreading requests
//! over them as a load balancer would (round robin, nothing sticky): one answer at a time per
//! session across replicas, an answer followed from another replica, every task run exactly
//! once, an MCP client whose requests alternate between replicas, and a replica killed in the
//! middle of a task. Runs in the external-database pass (the embedded database serves one
//! process). The figures it prints feed `docs/scaling.md`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::chat::scripted::{MODEL, Reply, ScriptedModel, text};
use crate::support::serve_process::ServeProcess;
use crate::support::{ExternalDb, external_db_url};

/// Replicas on one fresh database, and an admin's API key that works on every one of them.
struct Replicas {
    servers: Vec<ServeProcess>,
    db: ExternalDb,
    key: String,
    client: Client,
    _dirs: Vec<tempfile::TempDir>,
}

impl Replicas {
    /// `count` replicas, or `None` in a run without an external database.
    async fn start(count: usize, extra_env: &[(&str, &str)]) -> Option<Self> {
        let admin = external_db_url()?;
        let db = ExternalDb::create(&admin).await;
        let mut env: Vec<(String, String)> = db.env().to_vec();
        env.push(("AGENTBOX_MODELS_AUTO_PULL".into(), "false".into()));
        env.push(("AGENTBOX_BACKUP_INTERVAL_HOURS".into(), "0".into()));
        // The suite runs beside other tests on one Postgres (100 connections by default): each
        // replica opens two pools, runtime and owner.
        env.push(("AGENTBOX_DATABASE_MAX_CONNECTIONS".into(), "4".into()));
        // Provider keys are sealed with it (64 hex digits): every replica needs the same.
        env.push((
            "AGENTBOX_SECRET_KEY".into(),
            "5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed".into(),
        ));
        env.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let dirs: Vec<_> = (0..count).map(|_| tempfile::tempdir().unwrap()).collect();
        // The first migrates; the others find the schema in place.
        let mut servers = vec![ServeProcess::start(dirs[0].path(), &env)];
        servers.extend(dirs[1..].iter().map(|dir| ServeProcess::start(dir.path(), &env)));
        let client = Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_mins(5))
            .build()
            .unwrap();
        let key = admin_key(&servers[0].url).await;
        Some(Self {
            servers,
            db,
            key,
            client,
            _dirs: dirs,
        })
    }

    fn url(&self, replica: usize, path: &str) -> String {
        format!("{}{path}", self.servers[replica % self.servers.len()].url)
    }

    async fn post(&self, replica: usize, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(replica, path))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, replica: usize, path: &str) -> Response {
        self.client
            .get(self.url(replica, path))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
    }

    /// Makes `model` the `fast` model (the assistant's), through replica 0.
    async fn register(&self, model: &ScriptedModel) {
        let created = self
            .post(
                0,
                "/api/v1/providers",
                json!({"name": "scripted", "kind": "openai_compatible", "base_url": model.base_url, "priority": -1}),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let put = self
            .client
            .put(self.url(0, &format!("/api/v1/providers/scripted/models/{MODEL}")))
            .bearer_auth(&self.key)
            .json(&json!({"context_size": 8192, "role": "fast"}))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::OK, "{}", put.text().await.unwrap());
    }

    async fn new_session(&self, replica: usize) -> String {
        // Titled: an untitled session's first answer asks the model for a title, which would
        // take a scripted reply.
        let response = self
            .post(
                replica,
                "/api/v1/sessions",
                json!({"agent": "assistant", "title": "Replicas"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn sql(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.db.url).await.unwrap()
    }

    async fn stop(self) {
        for server in self.servers {
            server.stop();
        }
        self.db.drop_db().await;
    }
}

async fn admin_key(base: &str) -> String {
    let cookies = Client::builder().cookie_store(true).build().unwrap();
    let signed_in = cookies
        .post(format!("{base}/api/v1/auth/setup"))
        .json(&json!({"email": "ops@example.com", "password": "a long operator passphrase", "company": "Replica Co"}))
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
        .json(&json!({"name": "replicas", "scopes": ["read", "write"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    key["secret"].as_str().unwrap().to_owned()
}

/// Server-sent events read as they arrive.
struct EventReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buffer: String,
}

/// One event: `id` (0 when it has none), name and data.
type Sse = (i64, String, Value);

impl EventReader {
    fn new(response: Response) -> Self {
        assert_eq!(response.status(), StatusCode::OK);
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut name, mut data) = (0, String::new(), String::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        id = value.trim().parse().unwrap_or(0);
                    } else if let Some(value) = line.strip_prefix("event:") {
                        value.trim().clone_into(&mut name);
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if name.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((id, name, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
            let chunk = self.body.next().await?.ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Events up to and including `done`.
    async fn until_done(&mut self) -> Vec<Sse> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            let done = event.1 == "done";
            events.push(event);
            if done {
                return events;
            }
        }
        panic!("the stream ended before `done`: {events:?}");
    }
}

fn answer_text(events: &[Sse]) -> String {
    events
        .iter()
        .filter(|(_, name, _)| name == "token")
        .filter_map(|(_, _, data)| data["text"].as_str())
        .collect()
}

/// The database's commits and the rows written to each of the platform's tables
/// (`pg_stat_database`, `pg_stat_all_tables`), every replica's together.
#[derive(Debug, Clone, Default)]
struct Writes {
    commits: i64,
    /// Rows inserted, updated, deleted, by table.
    tables: std::collections::BTreeMap<String, (i64, i64, i64)>,
}

impl Writes {
    async fn read(sql: &mut sqlx::PgConnection) -> Self {
        // An idle backend reports its counters within 10 s (Postgres 15's PGSTAT_IDLE_INTERVAL).
        tokio::time::sleep(Duration::from_secs(11)).await;
        let commits: i64 =
            sqlx::query_scalar("select xact_commit from pg_stat_database where datname = current_database()")
                .fetch_one(&mut *sql)
                .await
                .unwrap();
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "select schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del from pg_stat_all_tables
              where schemaname in ('public', 'auth')",
        )
        .fetch_all(&mut *sql)
        .await
        .unwrap();
        Self {
            commits,
            tables: rows
                .into_iter()
                .map(|(name, i, u, d)| (name, (i, u, d)))
                .collect(),
        }
    }

    /// What was written since `before`, per `units`: commits, and (table, rows) largest first.
    fn per(&self, before: &Writes, units: f64) -> (f64, Vec<(String, f64)>) {
        #[allow(clippy::cast_precision_loss)]
        let per = |count: i64| count as f64 / units;
        let mut tables: Vec<(String, f64)> = self
            .tables
            .iter()
            .map(|(name, (i, u, d))| {
                let (bi, bu, bd) = before.tables.get(name).copied().unwrap_or_default();
                (name.clone(), per(i - bi + u - bu + d - bd))
            })
            .filter(|(_, rows)| *rows > 0.0)
            .collect();
        tables.sort_by(|a, b| b.1.total_cmp(&a.1));
        (per(self.commits - before.commits), tables)
    }
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_answer_a_session_once_and_follow_it_from_another_replica() {
    let model = ScriptedModel::start(vec![Reply::Stall("The first half ".into())]).await;
    let Some(replicas) = Replicas::start(2, &[]).await else {
        return;
    };
    replicas.register(&model).await;
    let session = replicas.new_session(0).await;
    let follow = |after: i64| {
        let path = format!("/api/v1/sessions/{session}/events?after={after}");
        let replicas = &replicas;
        async move { replicas.get(1, &path).await }
    };

    // With no answer running, following replays what is recorded (nothing yet) and ends.
    let mut idle = EventReader::new(follow(0).await);
    assert_eq!(idle.next().await, None, "nothing runs: the stream ends");
    let mut answer = EventReader::new(
        replicas
            .post(
                0,
                &format!("/api/v1/sessions/{session}/messages"),
                json!({"content": "Tell me a long story"}),
            )
            .await,
    );
    while answer.next().await.unwrap().1 != "token" {}
    // A follower on replica 1 joins mid-answer.
    let mut follower = EventReader::new(follow(0).await);
    // Replica 1 sees the session busy: one answer at a time, whichever replica is asked.
    let raced = replicas
        .post(
            1,
            &format!("/api/v1/sessions/{session}/messages"),
            json!({"content": "And another?"}),
        )
        .await;
    assert_eq!(raced.status(), StatusCode::CONFLICT);
    assert_eq!(raced.json::<Value>().await.unwrap()["code"], "session_busy");
    // The follower has the prompt and the text so far.
    let (_, name, prompt) = follower.next().await.unwrap();
    assert_eq!(
        (name.as_str(), prompt["content"].as_str()),
        ("message", Some("Tell me a long story"))
    );
    let (_, name, token) = follower.next().await.unwrap();
    assert_eq!(
        (name.as_str(), token["text"].as_str()),
        ("token", Some("The first half "))
    );
    // Closing the asker's stream stops the answer, on replica 0; the follower sees it end.
    drop(answer);
    let rest = follower.until_done().await;
    assert_eq!(rest.last().unwrap().2["status"], "interrupted", "{rest:?}");
    let mut last_id = rest.last().unwrap().0;

    // Turns asked on replica 0 and followed on replica 1: each answer arrives whole on both,
    // and replica 1 may take the session's next message the moment `done` arrives.
    let mut asked = Vec::new();
    let mut seen_elsewhere = Vec::new();
    let mut sql = replicas.sql().await;
    let before = Writes::read(&mut sql).await;
    let turns = 20;
    for turn in 0..turns {
        let turn_index = usize::try_from(turn).unwrap();
        let reply = format!("Answer number {turn} in a few words.");
        model.push(text(&reply));
        let started = Instant::now();
        let mut answer = EventReader::new(
            replicas
                .post(
                    turn_index % 2,
                    &format!("/api/v1/sessions/{session}/messages"),
                    json!({"content": format!("Question {turn}")}),
                )
                .await,
        );
        // Followed from the other replica as soon as the asker sees its prompt stored.
        let mut direct = vec![answer.next().await.unwrap()];
        let mut follower = EventReader::new(follow(last_id).await);
        direct.extend(answer.until_done().await);
        asked.push(started.elapsed());
        let seen = follower.until_done().await;
        seen_elsewhere.push(started.elapsed());
        assert_eq!(answer_text(&direct), reply);
        assert_eq!(answer_text(&seen), reply, "the follower missed or repeated text");
        last_id = seen.last().unwrap().0;
    }
    let (commits, tables) = Writes::read(&mut sql).await.per(&before, f64::from(turns));
    let rows: f64 = tables.iter().map(|(_, rows)| rows).sum();
    println!(
        "Postgres per chat turn (asked on one replica, followed on another): {commits:.1} commits (reads too), {rows:.1} rows written: {tables:?}"
    );
    asked.sort();
    seen_elsewhere.sort();
    println!(
        "chat turn, 2 replicas: asked p50 {:?} p95 {:?}; followed from the other replica p50 {:?} p95 {:?}",
        percentile(&asked, 0.5),
        percentile(&asked, 0.95),
        percentile(&seen_elsewhere, 0.5),
        percentile(&seen_elsewhere, 0.95)
    );
    replicas.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_tasks_on_three_replicas_each_run_exactly_once() {
    let replica_count: usize = std::env::var("AGENTBOX_TEST_REPLICAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let tasks = 1_000;
    let model = ScriptedModel::start(Vec::new()).await;
    let Some(replicas) = Replicas::start(replica_count, &[("AGENTBOX_TASKS_CONCURRENCY", "8")]).await else {
        return;
    };
    replicas.register(&model).await;
    let started = Instant::now();
    let created: Vec<String> = futures::stream::iter(0..tasks)
        .map(|i| {
            let replicas = &replicas;
            async move {
                let response = replicas
                    .post(
                        i,
                        "/api/v1/tasks",
                        json!({"agent": "assistant", "input": format!("task {i}")}),
                    )
                    .await;
                assert_eq!(response.status(), StatusCode::CREATED);
                response.json::<Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert_eq!(created.len(), tasks);
    let mut sql = replicas.sql().await;
    let deadline = Instant::now() + Duration::from_mins(8);
    loop {
        let open: i64 =
            sqlx::query_scalar("select count(*) from tasks where status in ('queued', 'running')")
                .fetch_one(&mut sql)
                .await
                .unwrap();
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} tasks still open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    let (succeeded, most_attempts): (i64, i32) =
        sqlx::query_as("select count(*) filter (where status = 'succeeded'), max(attempts) from tasks")
            .fetch_one(&mut sql)
            .await
            .unwrap();
    assert_eq!(succeeded, i64::try_from(tasks).unwrap(), "every task succeeded");
    assert_eq!(most_attempts, 1, "no task was claimed twice");
    let (runs, workers): (i64, i64) = sqlx::query_as(
        "select count(*), count(distinct data->>'worker') from task_events where kind = 'started'",
    )
    .fetch_one(&mut sql)
    .await
    .unwrap();
    assert_eq!(runs, i64::try_from(tasks).unwrap(), "one start per task");
    assert_eq!(
        usize::try_from(workers).unwrap(),
        replica_count,
        "every replica ran some"
    );
    #[allow(clippy::cast_precision_loss)]
    let rate = tasks as f64 / elapsed.as_secs_f64();
    println!("{tasks} tasks on {replica_count} replicas: {elapsed:?}, {rate:.0} tasks/s");
    replicas.stop().await;
}

/// A JSON-RPC request to `/mcp` on one replica; its answer, whether sent as JSON or as SSE.
async fn mcp(replicas: &Replicas, replica: usize, body: Value) -> Option<Value> {
    let response = replicas
        .client
        .post(replicas.url(replica, "/mcp"))
        .bearer_auth(&replicas.key)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}: {}",
        response.status(),
        response.text().await.unwrap()
    );
    let text = response.text().await.unwrap();
    let json = text
        .lines()
        .find_map(|line| line.strip_prefix("data:"))
        .map_or(text.as_str(), str::trim);
    serde_json::from_str(json).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_mcp_client_alternating_between_replicas_is_served_by_both() {
    let Some(replicas) = Replicas::start(2, &[]).await else {
        return;
    };
    let initialized = mcp(
        &replicas,
        0,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "replicas-test", "version": "1"}}}),
    )
    .await
    .unwrap();
    assert!(initialized["result"]["serverInfo"].is_object(), "{initialized}");
    mcp(
        &replicas,
        1,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    for (id, replica) in [(2, 1), (3, 0), (4, 1)] {
        let listed = mcp(
            &replicas,
            replica,
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}),
        )
        .await
        .unwrap();
        let tools = listed["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{listed}"));
        assert!(tools.iter().any(|tool| tool["name"] == "list_kpis"), "{listed}");
    }
    for (id, replica) in [(5, 0), (6, 1)] {
        let called = mcp(
            &replicas,
            replica,
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "list_kpis", "arguments": {}}}),
        )
        .await
        .unwrap();
        assert_eq!(called["result"]["isError"], false, "{called}");
    }
    replicas.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_task_loses_no_acknowledged_data_and_another_takes_the_task_over() {
    // The first model call stalls forever (on the replica that is then killed); the retry is
    // answered.
    let model = ScriptedModel::start(vec![Reply::Stall("Half an ans".into()), text("A whole answer.")]).await;
    let Some(mut replicas) = Replicas::start(2, &[("AGENTBOX_TASKS_LEASE_SECS", "3")]).await else {
        return;
    };
    replicas.register(&model).await;
    let session = replicas.new_session(0).await;
    let task = replicas
        .post(
            0,
            "/api/v1/tasks",
            json!({"agent": "assistant", "input": "A task to survive a crash", "session_id": session}),
        )
        .await;
    assert_eq!(task.status(), StatusCode::CREATED);
    let task: Value = task.json().await.unwrap();
    let id = task["id"].as_str().unwrap().to_owned();
    let mut sql = replicas.sql().await;
    // Wait for a replica to be in the stalled model call, then kill that one.
    let mut events = EventReader::new(replicas.get(1, &format!("/api/v1/tasks/{id}/events")).await);
    let started = loop {
        let (_, name, data) = events.next().await.unwrap();
        if name == "started" {
            break data;
        }
    };
    // The run is in its model call once the model has the request (its reply then stalls).
    while model.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let worker = started["worker"].as_str().unwrap().to_owned();
    let pid: i64 = worker.split('-').nth(1).unwrap().parse().unwrap();
    let victim = replicas
        .servers
        .iter()
        .position(|server| i64::from(server.pid()) == pid)
        .expect("the worker is one of the replicas");
    let killed_at = Instant::now();
    replicas.servers.remove(victim).kill();
    // The survivor takes the task over once the lease lapses, and it ends once.
    let deadline = Instant::now() + Duration::from_mins(1);
    let (status, attempts): (String, i32) = loop {
        let row: (String, i32) = sqlx::query_as("select status, attempts from tasks where id = $1::uuid")
            .bind(&id)
            .fetch_one(&mut sql)
            .await
            .unwrap();
        if row.0 == "succeeded" || row.0 == "failed" || Instant::now() > deadline {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "a task whose replica was killed ended {status} after {:?}",
        killed_at.elapsed()
    );
    assert_eq!((status.as_str(), attempts), ("succeeded", 2));
    // What was acknowledged before the kill is there: the task's prompt in its session.
    let messages: Value = replicas
        .get(0, &format!("/api/v1/sessions/{session}/messages"))
        .await
        .json()
        .await
        .unwrap();
    let prompts = messages["items"]
        .as_array()
        .or_else(|| messages.as_array())
        .unwrap()
        .iter()
        .filter(|message| message["content"] == "A task to survive a crash")
        .count();
    assert!(prompts >= 1, "{messages}");
    // An open stream would hold the survivor's graceful shutdown for its grace period.
    drop(events);
    replicas.stop().await;
}
