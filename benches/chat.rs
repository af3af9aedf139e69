//! The platform against the bare engine, on the test model (`AGENTBOX_TEST_MODEL`):
//!
//! 1. time to first token of the same prompt through `POST /api/v1/sessions/{id}/messages`
//!    (auth, session and history reads, prompt stored, agent loop, SSE over HTTP) and through
//!    `Engine::chat` directly — interleaved, p50/p95, and the overhead between them;
//! 2. 50 concurrent streaming chats through the API: errors and aggregate tokens/s.
//!
//!   AGENTBOX_TEST_MODEL=$(scripts/fetch-test-model.sh) cargo bench --bench chat
//!
//! `AGENTBOX_BENCH_DATABASE_URL` (a server where a fresh database may be created) measures on
//! external Postgres; otherwise on the embedded one. `AGENTBOX_BENCH_ROUNDS` (default 30) and
//! `AGENTBOX_BENCH_CONCURRENT` (default 50) size the runs.

// Statistics over at most a few thousand samples: float conversions lose nothing that matters.
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agentbox::app;
use agentbox::config::{FlagOverrides, Settings};
use agentbox::engine::catalog::ModelRole;
use agentbox::engine::chat::{ChatEvent, ChatRequest};
use agentbox::engine::{ChatMessage, SamplingParams};
use futures::StreamExt;
use serde_json::{Value, json};

const SYSTEM: &str = "You are a helpful assistant. Answer in one short sentence.";
const PROMPT: &str = "What is the capital of France?";
const ANSWER_TOKENS: u32 = 16;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: only measure when asked.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let model = PathBuf::from(std::env::var("AGENTBOX_TEST_MODEL").expect(
        "set AGENTBOX_TEST_MODEL to a GGUF file: export AGENTBOX_TEST_MODEL=$(scripts/fetch-test-model.sh)",
    ));
    let rounds = env_number("AGENTBOX_BENCH_ROUNDS", 30);
    let concurrent = env_number("AGENTBOX_BENCH_CONCURRENT", 50);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let database = match std::env::var("AGENTBOX_BENCH_DATABASE_URL") {
        Ok(admin_url) => Some(fresh_database(&admin_url).await),
        Err(_) => None,
    };
    let threads = env_number("AGENTBOX_BENCH_THREADS", 2).to_string();
    let slots = env_number("AGENTBOX_BENCH_SLOTS", 8).to_string();
    let mut env: Vec<(&str, String)> = vec![
        ("AGENTBOX_DATA_DIR", data_dir.display().to_string()),
        ("AGENTBOX_LISTEN", "127.0.0.1:0".into()),
        ("AGENTBOX_HTTP_LISTEN", "off".into()),
        ("AGENTBOX_TLS", "off".into()),
        ("AGENTBOX_MODELS_AUTO_PULL", "false".into()),
        ("AGENTBOX_EMBEDDINGS_MODEL", "off".into()),
        (
            "AGENTBOX_AGENTS_DIR",
            data_dir.join("agents").display().to_string(),
        ),
        ("AGENTBOX_ENGINE_THREADS", threads),
        ("AGENTBOX_ENGINE_SLOTS", slots),
        ("AGENTBOX_ENGINE_CONTEXT_PER_SLOT", "1024".into()),
        ("AGENTBOX_AGENTS_MAX_TOKENS", ANSWER_TOKENS.to_string()),
        ("AGENTBOX_LOG_LEVEL", "warn".into()),
    ];
    if let Some(url) = &database {
        env.push(("DATABASE_URL", url.clone()));
    }
    let settings = Settings::load_with(&FlagOverrides::default(), |name| {
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })
    .expect("bench settings");
    let running = app::start(settings).await.expect("the platform starts");
    let base = format!("http://{}", running.addr);
    let services = running.services.clone();
    let imported = services
        .models
        .import(model, vec![ModelRole::Fast])
        .await
        .expect("the test model imports");
    let model_name = imported.name.clone();
    let client = reqwest::Client::new();
    let key = admin_key(&base).await;
    let agent = json!({"description": "bench", "model_name": model_name, "tools": [], "max_steps": 1,
                       "temperature": 0.0, "system_prompt": SYSTEM});
    let put = client
        .put(format!("{base}/api/v1/agents/bench"))
        .bearer_auth(&key)
        .json(&agent)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());

    let db = if database.is_some() {
        "external Postgres"
    } else {
        "embedded Postgres"
    };
    measure_ttft(&services, &client, &base, &key, &model_name, rounds, db).await;
    measure_concurrent(&client, &base, &key, concurrent).await;
    running.stop().await.unwrap();
}

/// Time to first token: the bare engine and the platform, interleaved on one prompt.
async fn measure_ttft(
    services: &agentbox::service::Services,
    client: &reqwest::Client,
    base: &str,
    key: &str,
    model_name: &str,
    rounds: usize,
    database: &str,
) {
    let (engine, spec) = services.inference.local_model(model_name).await.unwrap();
    let request = ChatRequest {
        max_tokens: ANSWER_TOKENS,
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        ..ChatRequest::new(vec![
            ChatMessage::new("system", SYSTEM),
            ChatMessage::new("user", PROMPT),
        ])
    };
    // Warm both paths (model load, first allocations).
    engine_ttft(&engine, &spec, &request).await;
    platform_chat(client, base, key).await;

    let (mut raw, mut platform) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        raw.push(engine_ttft(&engine, &spec, &request).await.as_secs_f64() * 1000.0);
        let chat = platform_chat(client, base, key).await;
        platform.push(chat.ttft.expect("a token arrived").as_secs_f64() * 1000.0);
    }
    raw.sort_by(f64::total_cmp);
    platform.sort_by(f64::total_cmp);
    println!("time to first token, {rounds} rounds, {database}:");
    println!("  {:<28} {:>9} {:>9}", "", "p50 ms", "p95 ms");
    for (name, samples) in [
        ("engine (Engine::chat)", &raw),
        ("platform (HTTP + agent loop)", &platform),
    ] {
        println!(
            "  {:<28} {:>9.1} {:>9.1}",
            name,
            percentile(samples, 0.5),
            percentile(samples, 0.95)
        );
    }
    println!(
        "  {:<28} {:>9.1} {:>9.1}",
        "overhead",
        percentile(&platform, 0.5) - percentile(&raw, 0.5),
        percentile(&platform, 0.95) - percentile(&raw, 0.95)
    );
}

/// Many streaming chats at once through the API.
async fn measure_concurrent(client: &reqwest::Client, base: &str, key: &str, concurrent: usize) {
    let started = Instant::now();
    let chats = futures::future::join_all((0..concurrent).map(|_| platform_chat(client, base, key))).await;
    let wall = started.elapsed();
    let errors = chats.iter().filter(|c| c.status != "complete").count();
    let tokens: u64 = chats.iter().map(|c| c.completion_tokens).sum();
    let mut ttfts: Vec<f64> = chats
        .iter()
        .filter_map(|c| c.ttft.map(|t| t.as_secs_f64() * 1000.0))
        .collect();
    ttfts.sort_by(f64::total_cmp);
    println!(
        "{concurrent} concurrent streaming chats: {errors} errors, {tokens} tokens in {:.1} s = {:.1} tokens/s aggregate; ttft p50 {:.0} ms, p95 {:.0} ms",
        wall.as_secs_f64(),
        tokens as f64 / wall.as_secs_f64(),
        percentile(&ttfts, 0.5),
        percentile(&ttfts, 0.95),
    );
}

async fn fresh_database(admin_url: &str) -> String {
    let name = format!("agentbox_bench_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(admin_url)
        .await
        .expect("the bench database server");
    sqlx::query(&format!("create database {name}"))
        .execute(&pool)
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').expect("a URL with a database name");
    format!("{base}/{name}")
}

async fn admin_key(base: &str) -> String {
    let cookies = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let setup: Value = cookies
        .post(format!("{base}/api/v1/auth/setup"))
        .json(&json!({"email": "bench@example.com", "password": "correct horse battery", "company": "Bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csrf = setup["csrf_token"].as_str().unwrap().to_owned();
    let key: Value = cookies
        .post(format!("{base}/api/v1/keys"))
        .header("x-csrf-token", csrf)
        .json(&json!({"name": "bench", "scopes": ["read", "write"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    key["secret"].as_str().unwrap().to_owned()
}

async fn engine_ttft(
    engine: &agentbox::engine::llama::Engine,
    spec: &agentbox::engine::llama::ModelSpec,
    request: &ChatRequest,
) -> Duration {
    let started = Instant::now();
    let mut stream = engine.chat(spec, request.clone()).await.unwrap();
    let mut first = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            ChatEvent::Text(_) => {
                first.get_or_insert_with(|| started.elapsed());
            }
            ChatEvent::Done(_) => break,
            ChatEvent::ToolCall(_) | ChatEvent::ToolCallDelta(_) | ChatEvent::Reasoning(_) => {}
        }
    }
    first.expect("the engine answered")
}

struct ChatResult {
    ttft: Option<Duration>,
    status: String,
    completion_tokens: u64,
}

/// One message in a new session, read to the end.
async fn platform_chat(client: &reqwest::Client, base: &str, key: &str) -> ChatResult {
    let mut result = ChatResult {
        ttft: None,
        status: "failed".into(),
        completion_tokens: 0,
    };
    let Ok(created) = client
        .post(format!("{base}/api/v1/sessions"))
        .bearer_auth(key)
        .json(&json!({"agent": "bench", "title": "bench"}))
        .send()
        .await
    else {
        return result;
    };
    let Ok(session) = created.json::<Value>().await else {
        return result;
    };
    let id = session["id"].as_str().unwrap_or_default();
    let started = Instant::now();
    let Ok(response) = client
        .post(format!("{base}/api/v1/sessions/{id}/messages"))
        .bearer_auth(key)
        .json(&json!({"content": PROMPT}))
        .send()
        .await
    else {
        return result;
    };
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while let Some(Ok(bytes)) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&bytes));
        if result.ttft.is_none() && text.contains("event: token") {
            result.ttft = Some(started.elapsed());
        }
    }
    let done = text
        .split("\n\n")
        .find(|block| block.starts_with("event: done"))
        .and_then(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
        .and_then(|data| serde_json::from_str::<Value>(data).ok());
    if let Some(done) = done {
        done["status"]
            .as_str()
            .unwrap_or("failed")
            .clone_into(&mut result.status);
        result.completion_tokens = done["completion_tokens"].as_u64().unwrap_or(0);
    }
    result
}
