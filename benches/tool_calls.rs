//! Tool calling on the test model (`AGENTBOX_TEST_MODEL`), the two ways side by side in one run:
//!
//! - `envelope`: how local models answered with tools before — the whole answer one JSON object,
//!   `{"type":"text","content":…}` or `{"type":"tool_call",…}`, under a grammar from the first
//!   token (rebuilt here as the baseline);
//! - `native`: free text, and calls in the model's own syntax under a lazy grammar
//!   (`Engine::chat`).
//!
//! Tool cases (a question a tool answers): how many answers are valid (an answer the parser
//! refuses is invalid) and how many call the expected tool with the expected argument. Text
//! cases (no tool needed): time to first token and tokens/s with the tools offered against
//! without them, and the answer's shape (characters, lines, whether it is JSON).
//!
//! ```sh
//! AGENTBOX_TEST_MODEL=$(scripts/fetch-test-model.sh) cargo bench --bench tool_calls
//! ```
//!
//! `AGENTBOX_BENCH_THREADS` (default 1) sets the engine's threads.

#![allow(clippy::cast_precision_loss)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agentbox::engine::chat::{ChatEvent, ChatRequest};
use agentbox::engine::grammar::{self, ToolSpec};
use agentbox::engine::llama::{Engine, EngineSettings, ModelSpec};
use agentbox::engine::{ChatMessage, GenerateRequest, GenerationEvent, Grammar, Prompt, SamplingParams};
use serde_json::{Value, json};

const SYSTEM: &str = "You are a helpful assistant.";
const MAX_TOKENS: u32 = 128;

/// A question, the tool that answers it and a word its arguments must hold.
const TOOL_CASES: &[(&str, &str, &str)] = &[
    ("What is the weather in Paris?", "get_weather", "paris"),
    ("Weather in Oslo?", "get_weather", "oslo"),
    ("Is it raining in Berlin right now?", "get_weather", "berlin"),
    ("How warm is it in Madrid today?", "get_weather", "madrid"),
    ("Check the current weather for Tokyo.", "get_weather", "tokyo"),
    ("List the KPIs we track.", "list_kpis", ""),
    ("Which KPIs are there?", "list_kpis", ""),
    ("Show the values of the revenue KPI.", "kpi_values", "revenue"),
    ("Look up the churn KPI.", "kpi_values", "churn"),
    ("Get the values of the headcount KPI.", "kpi_values", "headcount"),
];

const TEXT_CASES: &[&str] = &[
    "Write a short poem about the sea.",
    "Explain what a KPI is in two sentences.",
    "Give three tips for a job interview.",
    "Write a haiku about autumn.",
    "Describe a cat to a child.",
];

fn tools() -> Vec<ToolSpec> {
    let object = |properties: Value, required: Value| json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false });
    vec![
        ToolSpec {
            name: "get_weather".into(),
            description: "Current weather in a city".into(),
            parameters: object(
                json!({ "city": { "type": "string", "maxLength": 60 } }),
                json!(["city"]),
            ),
        },
        ToolSpec {
            name: "list_kpis".into(),
            description: "The KPIs the company tracks".into(),
            parameters: object(json!({}), json!([])),
        },
        ToolSpec {
            name: "kpi_values".into(),
            description: "Values of one KPI per quarter".into(),
            parameters: object(
                json!({ "kpi": { "type": "string", "maxLength": 40 } }),
                json!(["kpi"]),
            ),
        },
    ]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// One answer, as either way reports it.
#[derive(Debug, Default)]
struct Answer {
    text: String,
    call: Option<(String, Value)>,
    /// The parser refused the answer.
    invalid: bool,
    ttft: Duration,
    tokens: u32,
    total: Duration,
}

impl Answer {
    fn tokens_per_second(&self) -> f64 {
        let decoding = self.total.saturating_sub(self.ttft).as_secs_f64();
        if self.tokens <= 1 || decoding <= 0.0 {
            return 0.0;
        }
        f64::from(self.tokens - 1) / decoding
    }
}

async fn run() {
    let path = PathBuf::from(std::env::var("AGENTBOX_TEST_MODEL").expect("AGENTBOX_TEST_MODEL"));
    let threads = std::env::var("AGENTBOX_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let engine = Engine::new(EngineSettings {
        threads,
        slots: 1,
        context_per_slot: 2048,
        batch_tokens: 512,
        memory_budget_bytes: 1 << 30,
        prompt_cache: true,
    });
    let spec = ModelSpec {
        name: "bench".into(),
        path,
        context_size: Some(2048),
        gpu_layers: 0,
        chat_template: None,
    };
    // Warm up: load the model and fill the caches.
    native(&engine, &spec, "Hi", &[]).await;

    println!("tool cases ({}), tools offered, greedy:", TOOL_CASES.len());
    for way in ["envelope", "native"] {
        let (mut valid, mut called, mut right) = (0, 0, 0);
        for (question, tool, word) in TOOL_CASES {
            let answer = if way == "envelope" {
                envelope(&engine, &spec, question).await
            } else {
                native(&engine, &spec, question, &tools()).await
            };
            valid += usize::from(!answer.invalid);
            if let Some((name, arguments)) = &answer.call {
                called += 1;
                let fits = name == tool && arguments.to_string().to_lowercase().contains(word);
                right += usize::from(fits);
            }
        }
        println!(
            "  {way:>8}: valid {valid}/{n}, answered with a call {called}/{n}, right tool and argument {right}/{n}",
            n = TOOL_CASES.len()
        );
    }

    println!(
        "\ntext cases ({}), greedy, {MAX_TOKENS} tokens at most:",
        TEXT_CASES.len()
    );
    let mut rows: Vec<(&str, Vec<Answer>)> = Vec::new();
    for (label, offered) in [("no tools", false), ("envelope", true), ("native", true)] {
        let mut answers = Vec::new();
        for question in TEXT_CASES {
            answers.push(match (label, offered) {
                ("envelope", _) => envelope(&engine, &spec, question).await,
                (_, true) => native(&engine, &spec, question, &tools()).await,
                (_, false) => native(&engine, &spec, question, &[]).await,
            });
        }
        rows.push((label, answers));
    }
    let baseline = summary(&rows[0].1);
    for (label, answers) in &rows {
        let s = summary(answers);
        println!(
            "  {label:>8}: ttft p50 {:.1} ms ({:.2}x), {:.1} tok/s ({:.2}x), {:.0} chars and {:.1} lines a answer, {} of {} JSON, {} invalid",
            s.ttft_ms,
            baseline.ttft_ms / s.ttft_ms,
            s.tokens_per_second,
            s.tokens_per_second / baseline.tokens_per_second,
            s.chars,
            s.lines,
            s.json,
            answers.len(),
            s.invalid,
        );
    }
    println!("\nfirst text answer, as each way wrote it:");
    for (label, answers) in &rows {
        println!("  {label}: {:?}", answers[0].text);
    }
}

struct Summary {
    ttft_ms: f64,
    tokens_per_second: f64,
    chars: f64,
    lines: f64,
    json: usize,
    invalid: usize,
}

fn summary(answers: &[Answer]) -> Summary {
    let mut ttft: Vec<f64> = answers.iter().map(|a| a.ttft.as_secs_f64() * 1000.0).collect();
    ttft.sort_by(f64::total_cmp);
    let mut speed: Vec<f64> = answers.iter().map(Answer::tokens_per_second).collect();
    speed.sort_by(f64::total_cmp);
    let n = answers.len() as f64;
    Summary {
        ttft_ms: ttft[ttft.len() / 2],
        tokens_per_second: speed[speed.len() / 2],
        chars: answers.iter().map(|a| a.text.chars().count() as f64).sum::<f64>() / n,
        lines: answers.iter().map(|a| a.text.lines().count() as f64).sum::<f64>() / n,
        json: answers
            .iter()
            .filter(|a| {
                a.text.trim_start().starts_with('{') && serde_json::from_str::<Value>(&a.text).is_ok()
            })
            .count(),
        invalid: answers.iter().filter(|a| a.invalid).count(),
    }
}

fn greedy() -> SamplingParams {
    SamplingParams {
        temperature: 0.0,
        seed: 42,
        ..SamplingParams::default()
    }
}

fn question(text: &str) -> Vec<ChatMessage> {
    vec![ChatMessage::new("system", SYSTEM), ChatMessage::new("user", text)]
}

/// The platform's way now: `Engine::chat`.
async fn native(engine: &Engine, spec: &ModelSpec, text: &str, tools: &[ToolSpec]) -> Answer {
    let mut request = ChatRequest::new(question(text));
    request.tools = tools.to_vec();
    request.max_tokens = MAX_TOKENS;
    request.sampling = greedy();
    let started = Instant::now();
    let mut answer = Answer::default();
    let mut stream = engine.chat(spec, request).await.unwrap();
    let mut first = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(ChatEvent::Text(piece)) => {
                first.get_or_insert_with(|| started.elapsed());
                answer.text.push_str(&piece);
            }
            Ok(ChatEvent::Reasoning(_) | ChatEvent::ToolCallDelta(_)) => {}
            Ok(ChatEvent::ToolCall(call)) => answer.call = Some((call.name, call.arguments)),
            Ok(ChatEvent::Done(stats)) => {
                answer.ttft = stats.time_to_first_token;
                answer.tokens = stats.completion_tokens;
                answer.total = stats.total;
            }
            Err(_) => answer.invalid = true,
        }
    }
    answer
}

/// The old way, rebuilt as the baseline: one JSON object under a grammar from the start.
async fn envelope(engine: &Engine, spec: &ModelSpec, text: &str) -> Answer {
    let tools = tools();
    let listed: Vec<String> = tools
        .iter()
        .map(|t| {
            format!(
                "- {}: {}\n  arguments (JSON schema): {}",
                t.name, t.description, t.parameters
            )
        })
        .collect();
    let instructions = format!(
        "{SYSTEM}\n\nYou can call these tools:\n{}\n\nAnswer with one JSON object: either \
         {{\"type\": \"tool_call\", \"name\": <tool name>, \"arguments\": {{...}}}} to call a tool \
         (its result comes back in the next turn), or {{\"type\": \"text\", \"content\": <your answer>}}.",
        listed.join("\n")
    );
    let text_choice = json!({
        "type": "object",
        "properties": { "type": { "const": "text" }, "content": { "type": "string", "maxLength": MAX_TOKENS * 4 } },
        "required": ["type", "content"], "additionalProperties": false,
    });
    let calls = tools.iter().map(|tool| {
        json!({
            "type": "object",
            "properties": { "type": { "const": "tool_call" }, "name": { "const": tool.name }, "arguments": tool.parameters },
            "required": ["type", "name", "arguments"], "additionalProperties": false,
        })
    });
    let schema = json!({ "oneOf": std::iter::once(text_choice).chain(calls).collect::<Vec<_>>() });
    let request = GenerateRequest {
        prompt: Prompt::Chat(vec![
            ChatMessage::new("system", instructions),
            ChatMessage::new("user", text),
        ]),
        max_tokens: MAX_TOKENS,
        stop: Vec::new(),
        sampling: greedy(),
        grammar: Some(Grammar::strict(grammar::json_schema(&schema).unwrap())),
        ignore_eos: false,
    };
    let started = Instant::now();
    let mut generation = engine.generate(spec, request).await.unwrap();
    let mut output = String::new();
    let mut answer = Answer::default();
    let mut first = None;
    while let Some(event) = generation.next().await {
        match event.unwrap() {
            GenerationEvent::Text(piece) => {
                first.get_or_insert_with(|| started.elapsed());
                output.push_str(&piece);
            }
            GenerationEvent::Done(stats) => {
                answer.ttft = stats.time_to_first_token;
                answer.tokens = stats.completion_tokens;
                answer.total = stats.total;
            }
        }
    }
    match serde_json::from_str::<Value>(&output) {
        Ok(value) if value["type"] == "text" => {
            value["content"]
                .as_str()
                .unwrap_or_default()
                .clone_into(&mut answer.text);
        }
        Ok(value) if value["type"] == "tool_call" => {
            answer.call = Some((
                value["name"].as_str().unwrap_or_default().to_owned(),
                value["arguments"].clone(),
            ));
        }
        _ => {
            answer.invalid = true;
            answer.text = output;
        }
    }
    answer
}
