//! `agentbox bench`: the in-process engine's figures on one GGUF file, and with
//! `--llama-server` each beside llama.cpp's own server on the same file, threads and context,
//! one of the two running at a time.

mod llama_server;

use std::fmt::Write as _;

use serde::Serialize;

use super::{BenchArgs, CliError};
use crate::engine::EngineError;
use crate::engine::bench::{self, BenchConfig, BenchReport, ConversationConfig, TurnReport};
use crate::engine::llama::{Engine, EngineSettings, ModelSpec};

/// Context per slot of the conversation bench: its last turn holds about 2,000 tokens (short
/// questions, long answers: 10 turns of 30 words and 160 tokens).
const CONVERSATION_CONTEXT: u32 = 4096;

/// Every figure of one side (agentbox or llama-server).
#[derive(Debug, Default, Serialize)]
struct Side {
    /// One entry per `--streams` value, in order.
    streams: Vec<BenchReport>,
    /// The one-stream run with a tool offered (agentbox only).
    tools: Option<BenchReport>,
    turns: Vec<TurnReport>,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    threads: u32,
    tokens_per_stream: u32,
    agentbox: Side,
    llama_server: Option<Side>,
}

pub async fn run(args: BenchArgs) -> Result<(), CliError> {
    check(&args)?;
    let peer = match &args.llama_server {
        Some(binary) => Some(llama_server::run(binary, &args).await?),
        None => None,
    };
    let ours = ours(&args)
        .await
        .map_err(|err| CliError::Runtime(super::error_chain(&err)))?;
    let report = Report {
        model: args.model.display().to_string(),
        threads: args.threads,
        tokens_per_stream: args.tokens,
        agentbox: ours,
        llama_server: peer,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        print!("{}", table(&report, &args));
    }
    Ok(())
}

fn check(args: &BenchArgs) -> Result<(), CliError> {
    if !args.model.is_file() {
        return Err(CliError::Usage(format!(
            "no model file at {}",
            args.model.display()
        )));
    }
    if args.streams.is_empty() || args.streams.contains(&0) || args.tokens == 0 {
        return Err(CliError::Usage(
            "--streams and --tokens must be at least 1".into(),
        ));
    }
    if let Some(binary) = &args.llama_server
        && !binary.is_file()
    {
        return Err(CliError::Usage(format!(
            "no llama-server binary at {}",
            binary.display()
        )));
    }
    Ok(())
}

fn engine(args: &BenchArgs, slots: u32, context: u32, prompt_cache: bool) -> (Engine, ModelSpec) {
    let engine = Engine::new(EngineSettings {
        threads: args.threads,
        slots,
        context_per_slot: context,
        batch_tokens: 512,
        memory_budget_bytes: u64::MAX,
        prompt_cache,
    });
    let spec = ModelSpec {
        name: args
            .model
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned()),
        path: args.model.clone(),
        context_size: Some(context),
        gpu_layers: args.gpu_layers,
        chat_template: None,
    };
    (engine, spec)
}

fn conversation_config(args: &BenchArgs) -> ConversationConfig {
    ConversationConfig {
        turns: args.turns,
        words_per_turn: 30,
        answer_tokens: 160,
    }
}

/// The engine's runs, each on an engine of its own (unloaded after): the throughput runs
/// evaluate every prompt whole, as llama-server is asked to (`cache_prompt: false`).
async fn ours(args: &BenchArgs) -> Result<Side, EngineError> {
    let mut side = Side::default();
    for &streams in &args.streams {
        let (engine, spec) = engine(args, streams, args.context, false);
        bench::warm_up(&engine, &spec).await?;
        side.streams
            .push(bench::run(&engine, &spec, &throughput(args, streams, false)).await?);
        if streams == 1 {
            side.tools = Some(bench::run(&engine, &spec, &throughput(args, 1, true)).await?);
        }
    }
    if args.turns > 0 {
        let (engine, spec) = engine(args, 1, CONVERSATION_CONTEXT, true);
        bench::warm_up(&engine, &spec).await?;
        side.turns = bench::conversation(&engine, &spec, &conversation_config(args)).await?;
    }
    Ok(side)
}

fn throughput(args: &BenchArgs, streams: u32, tools: bool) -> BenchConfig {
    BenchConfig {
        concurrency: streams,
        tokens: args.tokens,
        prompt_words: args.prompt_words,
        tools,
    }
}

/// One table: a row per figure, agentbox beside llama-server, and their ratio oriented so that
/// ≥ 1.00 means agentbox is as good or better.
fn table(report: &Report, args: &BenchArgs) -> String {
    let mut rows = Rows::default();
    let (ours, peer) = (&report.agentbox, report.llama_server.as_ref());
    single_stream_rows(&mut rows, ours, peer);
    streams_rows(&mut rows, ours, peer);
    turn_rows(&mut rows, ours, peer);
    format!(
        "{}, threads {}, {} tokens per stream, {}-word prompt\n{}",
        report.model,
        report.threads,
        report.tokens_per_stream,
        args.prompt_words,
        rows.render(peer.is_some())
    )
}

fn single(side: &Side) -> Option<&BenchReport> {
    side.streams.iter().find(|r| r.concurrency == 1)
}

fn single_stream_rows(rows: &mut Rows, ours: &Side, peer: Option<&Side>) {
    if let Some(one) = single(ours) {
        let theirs = peer.and_then(single);
        rows.higher(
            "1 stream: generation tok/s",
            one.stream_tokens_per_second,
            theirs.map(|r| r.stream_tokens_per_second),
        );
        rows.higher(
            "1 stream: aggregate tok/s (prompt included)",
            one.aggregate_tokens_per_second,
            theirs.map(|r| r.aggregate_tokens_per_second),
        );
        rows.higher(
            "1 stream: prompt tok/s",
            one.prompt_tokens_per_second,
            theirs.map(|r| r.prompt_tokens_per_second),
        );
        rows.lower(
            "1 stream: time to first token ms",
            one.time_to_first_token_ms_p50,
            theirs.map(|r| r.time_to_first_token_ms_p50),
        );
        rows.lower(
            "1 stream: resident memory MiB",
            one.rss_mib,
            theirs.map(|r| r.rss_mib),
        );
        if let Some(tools) = &ours.tools {
            rows.higher(
                "1 stream, a tool offered: generation tok/s",
                tools.stream_tokens_per_second,
                None,
            );
            rows.plain(
                "  tool offered / none",
                tools.stream_tokens_per_second / one.stream_tokens_per_second.max(1e-9),
            );
        }
    }
}

fn streams_rows(rows: &mut Rows, ours: &Side, peer: Option<&Side>) {
    for (index, run) in ours.streams.iter().enumerate().filter(|(_, r)| r.concurrency > 1) {
        let theirs = peer.and_then(|p| p.streams.get(index));
        let label = format!("{} streams: aggregate tok/s", run.concurrency);
        rows.higher(
            &label,
            run.aggregate_tokens_per_second,
            theirs.map(|r| r.aggregate_tokens_per_second),
        );
        let scaling = |side: &Side, run: &BenchReport| {
            single(side)
                .map(|one| run.aggregate_tokens_per_second / one.aggregate_tokens_per_second.max(1e-9))
        };
        if let Some(ours_scaling) = scaling(ours, run) {
            let label = format!("  {} streams / 1 stream (aggregates)", run.concurrency);
            rows.higher(
                &label,
                ours_scaling,
                peer.zip(theirs).and_then(|(p, r)| scaling(p, r)),
            );
        }
    }
}

fn turn_rows(rows: &mut Rows, ours: &Side, peer: Option<&Side>) {
    if let (Some(first), Some(last)) = (ours.turns.first(), ours.turns.last()) {
        let peer_turns = peer.map(|p| p.turns.as_slice()).filter(|t| !t.is_empty());
        let n = ours.turns.len();
        rows.lower(
            "chat turn 1: time to first token ms",
            first.time_to_first_token_ms,
            peer_turns
                .and_then(<[_]>::first)
                .map(|t| t.time_to_first_token_ms),
        );
        let label = format!(
            "chat turn {n} ({} tokens): time to first token ms",
            last.prompt_tokens
        );
        rows.lower(
            &label,
            last.time_to_first_token_ms,
            peer_turns.and_then(<[_]>::last).map(|t| t.time_to_first_token_ms),
        );
        let growth = |turns: &[TurnReport]| {
            turns
                .last()
                .zip(turns.first())
                .map(|(l, f)| l.time_to_first_token_ms / f.time_to_first_token_ms.max(1e-9))
        };
        let label = format!("  turn {n} / turn 1");
        rows.lower(
            &label,
            growth(&ours.turns).unwrap_or(0.0),
            peer_turns.and_then(growth),
        );
        rows.plain(
            &format!("  turn {n}: prompt tokens reused"),
            f64::from(last.cached_tokens),
        );
    }
}

/// One figure: agentbox's, llama-server's, and the ratio oriented so that >= 1 is agentbox ahead.
struct Row {
    label: String,
    ours: f64,
    peer: Option<f64>,
    ratio: Option<f64>,
}

#[derive(Default)]
struct Rows(Vec<Row>);

impl Rows {
    fn higher(&mut self, label: &str, ours: f64, peer: Option<f64>) {
        let ratio = peer.filter(|p| *p > 0.0).map(|p| ours / p);
        self.push(label, ours, peer, ratio);
    }

    fn lower(&mut self, label: &str, ours: f64, peer: Option<f64>) {
        let ratio = peer.filter(|_| ours > 0.0).map(|p| p / ours);
        self.push(label, ours, peer, ratio);
    }

    fn plain(&mut self, label: &str, ours: f64) {
        self.push(label, ours, None, None);
    }

    fn push(&mut self, label: &str, ours: f64, peer: Option<f64>, ratio: Option<f64>) {
        self.0.push(Row {
            label: label.to_owned(),
            ours,
            peer,
            ratio,
        });
    }

    fn render(&self, with_peer: bool) -> String {
        let width = self.0.iter().map(|row| row.label.len()).max().unwrap_or(0) + 2;
        let mut out = format!("{:width$}{:>12}", "", "agentbox");
        if with_peer {
            let _ = write!(out, "{:>14}{:>8}", "llama-server", "ratio");
        }
        out.push('\n');
        let cell = |value: Option<f64>, w: usize| {
            value.map_or_else(|| format!("{:>w$}", "-"), |v| format!("{v:w$.2}"))
        };
        for row in &self.0 {
            let _ = write!(out, "{:width$}{:12.2}", row.label, row.ours);
            if with_peer {
                out += &cell(row.peer, 14);
                out += &cell(row.ratio, 8);
            }
            out.push('\n');
        }
        if with_peer {
            out += "ratio: agentbox over llama-server for rates, llama-server over agentbox for times and \
                    memory (>= 1.00: agentbox as good or better)\n";
        }
        out
    }
}
