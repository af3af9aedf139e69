//! End-to-end throughput of the in-process engine, shared by `agentbox bench` and the criterion
//! benches: N concurrent generations of exactly T tokens on one model, as llama-server's
//! benchmark clients measure it (same prompt, end-of-turn ignored).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::llama::{Engine, ModelSpec};
use super::{EngineError, GenerateRequest, GenerationStats, Prompt, SamplingParams};

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub concurrency: u32,
    pub tokens: u32,
    /// Words in the prompt (about one token each), for prompt-processing speed.
    pub prompt_words: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub concurrency: u32,
    pub tokens_per_stream: u32,
    pub prompt_tokens: u32,
    /// Generated tokens of all streams over the wall time of the run.
    pub aggregate_tokens_per_second: f64,
    /// Mean decode speed of one stream.
    pub stream_tokens_per_second: f64,
    /// Prompt tokens over time to first token, mean of the streams.
    pub prompt_tokens_per_second: f64,
    pub time_to_first_token_ms_p50: f64,
    pub wall: Duration,
    /// Resident memory of this process at the end of the run (the model loaded), in MiB.
    pub rss_mib: f64,
}

/// A prompt of about `words` tokens that every run shares.
pub fn prompt(words: u32) -> String {
    const WORDS: [&str; 8] = [
        "river", "mountain", "quiet", "lantern", "orchard", "violet", "harbor", "cedar",
    ];
    (0..words)
        .map(|i| WORDS[i as usize % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn request(config: &BenchConfig) -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::Text(prompt(config.prompt_words)),
        max_tokens: config.tokens,
        stop: Vec::new(),
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        grammar: None,
        ignore_eos: true,
    }
}

/// Loads the model and touches every weight page once, so that runs measure decoding only.
pub async fn warm_up(engine: &Engine, spec: &ModelSpec) -> Result<(), EngineError> {
    let config = BenchConfig {
        concurrency: 1,
        tokens: 4,
        prompt_words: 16,
    };
    engine.generate(spec, request(&config)).await?.text().await?;
    Ok(())
}

/// Runs the streams together (call [`warm_up`] first).
pub async fn run(
    engine: &Engine,
    spec: &ModelSpec,
    config: &BenchConfig,
) -> Result<BenchReport, EngineError> {
    let started = Instant::now();
    let streams: Vec<_> = (0..config.concurrency)
        .map(|_| {
            let (engine, spec, request) = (engine.clone(), spec.clone(), request(config));
            tokio::spawn(async move { engine.generate(&spec, request).await?.text().await })
        })
        .collect();
    let mut stats: Vec<GenerationStats> = Vec::new();
    for stream in streams {
        let (_, stream_stats) = stream
            .await
            .map_err(|err| EngineError::Decode(format!("bench task failed: {err}")))??;
        stats.push(stream_stats);
    }
    let wall = started.elapsed();
    Ok(report(config, &stats, wall))
}

#[allow(clippy::cast_precision_loss)]
fn report(config: &BenchConfig, stats: &[GenerationStats], wall: Duration) -> BenchReport {
    let n = stats.len().max(1) as f64;
    let generated: u32 = stats.iter().map(|s| s.completion_tokens).sum();
    let mut ttft: Vec<f64> = stats
        .iter()
        .map(|s| s.time_to_first_token.as_secs_f64() * 1000.0)
        .collect();
    ttft.sort_by(f64::total_cmp);
    BenchReport {
        concurrency: config.concurrency,
        tokens_per_stream: config.tokens,
        prompt_tokens: stats.first().map_or(0, |s| s.prompt_tokens),
        aggregate_tokens_per_second: f64::from(generated) / wall.as_secs_f64().max(1e-9),
        stream_tokens_per_second: stats.iter().map(GenerationStats::tokens_per_second).sum::<f64>() / n,
        prompt_tokens_per_second: stats
            .iter()
            .map(|s| f64::from(s.prompt_tokens) / s.time_to_first_token.as_secs_f64().max(1e-9))
            .sum::<f64>()
            / n,
        time_to_first_token_ms_p50: ttft.get(ttft.len() / 2).copied().unwrap_or(0.0),
        wall,
        rss_mib: resident_bytes() as f64 / f64::from(1 << 20),
    }
}

/// This process's resident memory, in bytes (0 where the platform does not say).
fn resident_bytes() -> u64 {
    let Ok(pid) = sysinfo::get_current_pid() else {
        return 0;
    };
    let mut system = sysinfo::System::new();
    system.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), true);
    system.process(pid).map_or(0, sysinfo::Process::memory)
}
