//! The peer of `agentbox bench --llama-server BIN`: llama.cpp's own server on the same GGUF,
//! threads and context, asked through its native `/completion` for exactly what the engine
//! bench asks the engine (same prompt, greedy, end-of-turn ignored); figures from the
//! `timings` it reports. One server per configuration, stopped before the next starts.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use tokio::process::{Child, Command};

use super::{BenchArgs, CONVERSATION_CONTEXT, CliError, Side, conversation_config};
use crate::engine::bench::{self, BenchReport, TurnReport};

/// What `/completion` answers (the parts used).
#[derive(Debug, Deserialize)]
struct Completion {
    content: String,
    timings: Timings,
}

#[derive(Debug, Deserialize)]
struct Timings {
    #[serde(default)]
    cache_n: u32,
    prompt_n: u32,
    prompt_ms: f64,
    prompt_per_second: f64,
    predicted_n: u32,
    predicted_per_second: f64,
}

/// A running llama-server, killed when dropped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
    http: reqwest::Client,
}

pub(super) async fn run(binary: &Path, args: &BenchArgs) -> Result<Side, CliError> {
    let mut side = Side::default();
    for &streams in &args.streams {
        let server = Server::start(binary, args, streams, args.context).await?;
        server.complete(&bench::prompt(16), 4, false).await?;
        side.streams.push(server.throughput(args, streams).await?);
        server.stop().await;
    }
    if args.turns > 0 {
        let server = Server::start(binary, args, 1, CONVERSATION_CONTEXT).await?;
        side.turns = server.conversation(args).await?;
        server.stop().await;
    }
    Ok(side)
}

impl Server {
    async fn start(binary: &Path, args: &BenchArgs, slots: u32, context: u32) -> Result<Self, CliError> {
        let port = free_port()?;
        let log = std::env::temp_dir().join("agentbox-bench-llama-server.log");
        let output = std::fs::File::create(&log)
            .map_err(|err| CliError::Runtime(format!("{}: {err}", log.display())))?;
        let threads = args.threads.to_string();
        let child = Command::new(binary)
            .args(["-m".as_ref(), args.model.as_os_str()])
            .args(["-t", &threads, "-tb", &threads, "-np", &slots.to_string()])
            .args([
                "-c",
                &(slots * context).to_string(),
                "-ngl",
                &args.gpu_layers.to_string(),
            ])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(
                output
                    .try_clone()
                    .map_err(|err| CliError::Runtime(err.to_string()))?,
            )
            .stderr(output)
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| CliError::Runtime(format!("cannot start {}: {err}", binary.display())))?;
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            http: reqwest::Client::new(),
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Until `/health` answers 200 (the model loaded), for at most five minutes.
    async fn wait_ready(&mut self) -> Result<(), CliError> {
        let deadline = Instant::now() + Duration::from_mins(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.failed(&format!("llama-server exited ({status})")));
            }
            let health = self.http.get(format!("{}/health", self.base)).send().await;
            if health.is_ok_and(|response| response.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(self.failed("llama-server was not ready within 5 minutes"))
    }

    fn failed(&self, what: &str) -> CliError {
        CliError::Runtime(format!("{what}; its output is in {}", self.log.display()))
    }

    async fn complete(&self, prompt: &str, tokens: u32, cache_prompt: bool) -> Result<Completion, CliError> {
        let body = json!({
            "prompt": prompt,
            "n_predict": tokens,
            "ignore_eos": true,
            "temperature": 0,
            "cache_prompt": cache_prompt,
        });
        let response = self
            .http
            .post(format!("{}/completion", self.base))
            .json(&body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| self.failed(&format!("llama-server's /completion failed: {err}")))?;
        response.json().await.map_err(|err| {
            self.failed(&format!(
                "llama-server's /completion answered unexpectedly: {err}"
            ))
        })
    }

    /// `streams` requests at once; the same figures as `bench::run` reports for the engine.
    #[allow(clippy::cast_precision_loss)]
    async fn throughput(&self, args: &BenchArgs, streams: u32) -> Result<BenchReport, CliError> {
        let prompt = bench::prompt(args.prompt_words);
        let started = Instant::now();
        let runs =
            futures::future::join_all((0..streams).map(|_| self.complete(&prompt, args.tokens, false))).await;
        let wall = started.elapsed();
        let timings: Vec<Timings> = runs
            .into_iter()
            .map(|run| run.map(|c| c.timings))
            .collect::<Result<_, _>>()?;
        let n = timings.len().max(1) as f64;
        let mut ttft: Vec<f64> = timings.iter().map(|t| t.prompt_ms).collect();
        ttft.sort_by(f64::total_cmp);
        Ok(BenchReport {
            concurrency: streams,
            tokens_per_stream: args.tokens,
            prompt_tokens: timings.first().map_or(0, |t| t.prompt_n),
            aggregate_tokens_per_second: f64::from(timings.iter().map(|t| t.predicted_n).sum::<u32>())
                / wall.as_secs_f64().max(1e-9),
            stream_tokens_per_second: timings.iter().map(|t| t.predicted_per_second).sum::<f64>() / n,
            prompt_tokens_per_second: timings.iter().map(|t| t.prompt_per_second).sum::<f64>() / n,
            time_to_first_token_ms_p50: ttft.get(ttft.len() / 2).copied().unwrap_or(0.0),
            wall,
            rss_mib: self
                .child
                .id()
                .map_or(0.0, |pid| bench::resident_mib(sysinfo::Pid::from_u32(pid))),
        })
    }

    /// The engine's conversation, rendered with the model's template by the engine and sent
    /// as text with llama-server's prompt cache on.
    async fn conversation(&self, args: &BenchArgs) -> Result<Vec<TurnReport>, CliError> {
        let (engine, spec) = super::engine(args, 1, CONVERSATION_CONTEXT, false);
        let config = conversation_config(args);
        let failed = |err: crate::engine::EngineError| CliError::Runtime(crate::cli::error_chain(&err));
        let mut answers = Vec::new();
        let mut turns = Vec::new();
        for _ in 0..config.turns {
            let messages = bench::conversation_turn(&answers, config.words_per_turn);
            let prompt = engine.render_chat(&spec, &messages).await.map_err(failed)?;
            let completion = self.complete(&prompt, config.answer_tokens, true).await?;
            let timings = completion.timings;
            turns.push(TurnReport {
                prompt_tokens: timings.prompt_n + timings.cache_n,
                cached_tokens: timings.cache_n,
                time_to_first_token_ms: timings.prompt_ms,
            });
            answers.push(completion.content);
        }
        Ok(turns)
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn free_port() -> Result<u16, CliError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|err| CliError::Runtime(format!("no free port for llama-server: {err}")))
}
