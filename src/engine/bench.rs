//! End-to-end figures of the in-process engine, shared by `agentbox bench` and the criterion
//! benches: N concurrent generations of exactly T tokens on one model, as llama-server's
//! benchmark clients measure it (same prompt, end-of-turn ignored); the same with tools offered
//! (the lazy tool-call grammar over the same answer); and a chat growing turn by turn, each
//! turn's time to first token (the prompt cache at work).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::grammar::ToolSpec;
use super::llama::{Engine, ModelSpec};
use super::request::Grammar;
use super::{
    ChatMessage, EngineError, GenerateRequest, GenerationStats, Prompt, SamplingParams, tool_syntax,
};

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub concurrency: u32,
    pub tokens: u32,
    /// Words in the prompt (about one token each), for prompt-processing speed.
    pub prompt_words: u32,
    /// Offer a tool: the model's tool-call grammar watches the answer (lazily, as in a chat
    /// with tools) without the answer calling it.
    pub tools: bool,
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

fn greedy() -> SamplingParams {
    SamplingParams {
        temperature: 0.0,
        ..SamplingParams::default()
    }
}

fn request(config: &BenchConfig, grammar: Option<Grammar>) -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::Text(prompt(config.prompt_words)),
        max_tokens: config.tokens,
        stop: Vec::new(),
        sampling: greedy(),
        grammar,
        ignore_eos: true,
    }
}

/// The tool a chat offers in the tools bench.
pub fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: "The current weather in a city".into(),
        parameters: serde_json::json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        }),
    }
}

/// The lazy grammar a chat offering [`weather_tool`] runs under, in the model's own syntax.
async fn tool_grammar(engine: &Engine, spec: &ModelSpec) -> Result<Grammar, EngineError> {
    let syntax = engine.template(spec).await?.syntax();
    let triggers = syntax.triggers();
    Ok(Grammar {
        gbnf: tool_syntax::call_grammar(syntax, &[weather_tool()])?,
        triggers: triggers.patterns,
        preserved: triggers.preserved,
    })
}

/// Loads the model and touches every weight page once, so that runs measure decoding only.
pub async fn warm_up(engine: &Engine, spec: &ModelSpec) -> Result<(), EngineError> {
    let config = BenchConfig {
        concurrency: 1,
        tokens: 4,
        prompt_words: 16,
        tools: false,
    };
    engine
        .generate(spec, request(&config, None))
        .await?
        .text()
        .await?;
    Ok(())
}

/// Runs the streams together (call [`warm_up`] first).
pub async fn run(
    engine: &Engine,
    spec: &ModelSpec,
    config: &BenchConfig,
) -> Result<BenchReport, EngineError> {
    let grammar = if config.tools {
        Some(tool_grammar(engine, spec).await?)
    } else {
        None
    };
    let started = Instant::now();
    let streams: Vec<_> = (0..config.concurrency)
        .map(|_| {
            let (engine, spec) = (engine.clone(), spec.clone());
            let request = request(config, grammar.clone());
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

/// A chat session that grows by one question and one answer a turn.
#[derive(Debug, Clone)]
pub struct ConversationConfig {
    pub turns: u32,
    /// Words in each question (about one token each).
    pub words_per_turn: u32,
    /// Tokens of each answer (end-of-turn ignored, so every turn adds as much).
    pub answer_tokens: u32,
}

/// One turn of the conversation bench.
#[derive(Debug, Clone, Serialize)]
pub struct TurnReport {
    pub prompt_tokens: u32,
    /// Prompt tokens whose KV cache was reused.
    pub cached_tokens: u32,
    pub time_to_first_token_ms: f64,
}

/// The conversation so far, with the next question asked: the system prompt, then `turn`
/// questions with the answers in `answers`.
pub fn conversation_turn(answers: &[String], words_per_turn: u32) -> Vec<ChatMessage> {
    const TOPICS: [&str; 5] = ["harbor", "orchard", "lantern", "cedar", "violet"];
    let question = |turn: usize| {
        let topic = TOPICS[turn % TOPICS.len()];
        format!(
            "Question {}: tell me more about the {topic}. {}",
            turn + 1,
            prompt(words_per_turn.saturating_sub(10))
        )
    };
    let mut messages = vec![ChatMessage::new(
        "system",
        "You are a patient storyteller who answers every question at length.",
    )];
    for (turn, answer) in answers.iter().enumerate() {
        messages.push(ChatMessage::new("user", question(turn)));
        messages.push(ChatMessage::new("assistant", answer.clone()));
    }
    messages.push(ChatMessage::new("user", question(answers.len())));
    messages
}

/// Runs the conversation on one stream (call [`warm_up`] first); the engine's prompt cache
/// decides how much of each turn's history is evaluated again.
pub async fn conversation(
    engine: &Engine,
    spec: &ModelSpec,
    config: &ConversationConfig,
) -> Result<Vec<TurnReport>, EngineError> {
    let mut answers = Vec::new();
    let mut turns = Vec::new();
    for _ in 0..config.turns {
        let request = GenerateRequest {
            prompt: Prompt::Chat(conversation_turn(&answers, config.words_per_turn)),
            max_tokens: config.answer_tokens,
            stop: Vec::new(),
            sampling: greedy(),
            grammar: None,
            ignore_eos: true,
        };
        let (answer, stats) = engine.generate(spec, request).await?.text().await?;
        turns.push(TurnReport {
            prompt_tokens: stats.prompt_tokens,
            cached_tokens: stats.cached_tokens,
            time_to_first_token_ms: stats.time_to_first_token.as_secs_f64() * 1000.0,
        });
        answers.push(answer);
    }
    Ok(turns)
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
        rss_mib: sysinfo::get_current_pid().map_or(0.0, resident_mib),
    }
}

/// A process's resident memory in MiB (0 where the platform does not say): this process's for
/// the engine, the peer server's for the comparison.
#[allow(clippy::cast_precision_loss)]
pub fn resident_mib(pid: sysinfo::Pid) -> f64 {
    let mut system = sysinfo::System::new();
    system.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), true);
    system
        .process(pid)
        .map_or(0.0, |process| process.memory() as f64 / f64::from(1 << 20))
}
