//! Tasks claimed per second from a queue of 2,000 (`AGENTBOX_BENCH_TASKS`) on external
//! Postgres: one worker claiming one task at a time, one claiming ten, and four workers claiming
//! one at a time side by side (`FOR UPDATE SKIP LOCKED` keeps them off each other's rows). Each
//! claim also writes the task's `started` event. Criterion reports elements/s = tasks/s.
//!
//! ```text
//! AGENTBOX_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench task_queue
//! ```
//!
//! The benchmark works in a scratch database beside the one named, dropped at the end; without
//! the variable it does nothing.

use std::time::{Duration, Instant};

use agentbox::config::{FlagOverrides, Settings};
use agentbox::domain::Role;
use agentbox::store::{Actor, NewUser, Store};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::Connection;
use uuid::Uuid;

const LEASE: Duration = Duration::from_secs(30);

/// A scratch database on the server, with the schema and one user.
struct Scratch {
    admin_url: String,
    name: String,
    store: Store,
    user: Uuid,
}

/// `postgres://u@h:5432/db?x` → (`postgres://u@h:5432/`, `?x`).
fn split_url(url: &str) -> (String, String) {
    let (base, query) = url
        .split_once('?')
        .map_or((url, String::new()), |(b, q)| (b, format!("?{q}")));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => base[..=scheme_end + slash].to_owned(),
        None => format!("{base}/"),
    };
    (server, query)
}

impl Scratch {
    async fn create(admin_url: &str) -> Self {
        let name = format!("agentbox_bench_{}", Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to the bench server");
        sqlx::query(&format!("create database {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let (server, query) = split_url(admin_url);
        let url = format!("{server}{name}{query}");
        let data_dir = std::env::temp_dir().join(&name);
        let env = move |key: &str| match key {
            "DATABASE_URL" => Some(url.clone()),
            "AGENTBOX_DATA_DIR" => Some(data_dir.display().to_string()),
            _ => None,
        };
        let settings = Settings::load_with(&FlagOverrides::default(), env).expect("bench settings");
        let store = Store::open(&settings).await.expect("open the scratch database");
        store.migrate().await.expect("migrate");
        let user = store
            .create_user(NewUser {
                email: "bench@example.com".into(),
                password_hash: "not a login".into(),
                display_name: String::new(),
                role: Role::Member,
                company_id: None,
                department_id: None,
            })
            .await
            .expect("bench user")
            .id;
        Self {
            admin_url: admin_url.to_owned(),
            name,
            store,
            user,
        }
    }

    async fn fill(&self, tasks: u64) {
        self.store
            .execute_as(
                Actor::System,
                format!(
                    "insert into public.tasks (user_id, agent, input)
                     select '{}', 'assistant', 'task ' || g from generate_series(1, {tasks}) g;
                     analyze public.tasks",
                    self.user
                ),
            )
            .await
            .unwrap();
    }

    async fn empty(&self) {
        self.store
            .execute_as(Actor::System, "delete from public.tasks".into())
            .await
            .unwrap();
    }

    async fn drop_db(self) {
        self.store.close().await;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!("drop database if exists {} with (force)", self.name))
                .execute(&mut conn)
                .await;
        }
    }
}

/// Claims until the queue is empty; returns how many this claimer got.
async fn drain(store: Store, worker: String, batch: u32) -> u64 {
    let mut claimed = 0;
    loop {
        let tasks = store
            .claim_tasks(worker.clone(), batch, LEASE)
            .await
            .expect("claim");
        if tasks.is_empty() {
            return claimed;
        }
        claimed += u64::try_from(tasks.len()).unwrap();
    }
}

/// Time to claim a full queue of `tasks` with `workers` claimers of `batch` each.
async fn claim_all(scratch: &Scratch, tasks: u64, workers: usize, batch: u32) -> Duration {
    scratch.fill(tasks).await;
    let started = Instant::now();
    let claimers: Vec<_> = (0..workers)
        .map(|n| tokio::spawn(drain(scratch.store.clone(), format!("bench-{n}"), batch)))
        .collect();
    let mut claimed = 0;
    for claimer in claimers {
        claimed += claimer.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(claimed, tasks, "every task claimed exactly once");
    scratch.empty().await;
    elapsed
}

fn task_queue(c: &mut Criterion) {
    let Ok(url) = std::env::var("AGENTBOX_BENCH_DATABASE_URL") else {
        eprintln!("task_queue: AGENTBOX_BENCH_DATABASE_URL is not set; skipped");
        return;
    };
    let tasks: u64 = std::env::var("AGENTBOX_BENCH_TASKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let scratch = runtime.block_on(Scratch::create(&url));
    let mut group = c.benchmark_group("task_queue");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(tasks));
    for (name, workers, batch) in [
        ("claim_1", 1, 1),
        ("claim_10", 1, 10),
        ("claim_1_x4_workers", 4, 1),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += claim_all(&scratch, tasks, workers, batch).await;
                    }
                    total
                })
            });
        });
    }
    group.finish();
    runtime.block_on(scratch.drop_db());
}

criterion_group!(benches, task_queue);
criterion_main!(benches);
