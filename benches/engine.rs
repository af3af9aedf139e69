//! Token throughput of the in-process engine on the test model (`AGENTBOX_TEST_MODEL`, see
//! `scripts/fetch-test-model.sh`): prompt processing; generation with 1, 4 and 8 concurrent
//! sequences (continuous batching) and with a tool offered (the lazy tool-call grammar); and the
//! time to first token of a chat's 10th turn (about 2,000 tokens of history) with the prompt
//! cache and without. Criterion reports elements/s = tokens/s.
//!
//!   AGENTBOX_TEST_MODEL=$(scripts/fetch-test-model.sh) cargo bench --bench engine
//!
//! The same figures beside llama.cpp's own server: `agentbox bench --llama-server BIN`.

use std::path::PathBuf;

use agentbox::engine::bench::{self, BenchConfig, ConversationConfig};
use agentbox::engine::llama::{Engine, EngineSettings, ModelSpec};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn model() -> ModelSpec {
    let path = PathBuf::from(std::env::var("AGENTBOX_TEST_MODEL").expect(
        "set AGENTBOX_TEST_MODEL to a GGUF file: export AGENTBOX_TEST_MODEL=$(scripts/fetch-test-model.sh)",
    ));
    ModelSpec {
        name: "bench".into(),
        path,
        context_size: Some(1024),
        gpu_layers: 0,
        chat_template: None,
    }
}

fn engine(slots: u32, context_per_slot: u32, prompt_cache: bool) -> Engine {
    let threads = std::env::var("AGENTBOX_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    Engine::new(EngineSettings {
        threads,
        slots,
        context_per_slot,
        batch_tokens: 512,
        memory_budget_bytes: u64::MAX,
        prompt_cache,
    })
}

fn throughput(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let spec = model();
    let engines: std::collections::HashMap<u32, Engine> = [1, 4, 8]
        .into_iter()
        .map(|n| (n, engine(n, 1024, false)))
        .collect();
    for slots in [1, 4, 8] {
        runtime.block_on(bench::warm_up(&engines[&slots], &spec)).unwrap();
    }
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);

    // Prompt processing: 256 prompt tokens, one generated.
    let prefill = BenchConfig {
        concurrency: 1,
        tokens: 1,
        prompt_words: 256,
        tools: false,
    };
    group.throughput(Throughput::Elements(256));
    group.bench_function("prompt_256", |b| {
        b.to_async(&runtime)
            .iter(|| async { bench::run(&engines[&1], &spec, &prefill).await.unwrap() });
    });

    for (streams, tools) in [(1u32, false), (1, true), (4, false), (8, false)] {
        let config = BenchConfig {
            concurrency: streams,
            tokens: 64,
            prompt_words: 16,
            tools,
        };
        let engine = &engines[&streams];
        group.throughput(Throughput::Elements(u64::from(streams * 64)));
        let name = format!(
            "generate_64x{streams}{}",
            if tools { "_tool_offered" } else { "" }
        );
        group.bench_function(name, |b| {
            b.to_async(&runtime)
                .iter(|| async { bench::run(engine, &spec, &config).await.unwrap() });
        });
    }
    group.finish();
}

/// A 10-turn chat on one slot; the time to the first token of each run's last turn.
fn conversation(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let spec = ModelSpec {
        context_size: Some(4096),
        ..model()
    };
    let config = ConversationConfig {
        turns: 10,
        words_per_turn: 30,
        answer_tokens: 160,
    };
    let mut group = c.benchmark_group("conversation");
    group.sample_size(10);
    for prompt_cache in [true, false] {
        let engine = engine(1, 4096, prompt_cache);
        runtime.block_on(bench::warm_up(&engine, &spec)).unwrap();
        let name = if prompt_cache {
            "turn_10_ttft_prompt_cache"
        } else {
            "turn_10_ttft_no_cache"
        };
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_custom(|runs| {
                let (engine, spec, config) = (engine.clone(), spec.clone(), config.clone());
                async move {
                    let mut total = std::time::Duration::ZERO;
                    for _ in 0..runs {
                        let turns = bench::conversation(&engine, &spec, &config).await.unwrap();
                        let last = turns.last().unwrap().time_to_first_token_ms;
                        total += std::time::Duration::from_secs_f64(last / 1000.0);
                    }
                    total
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, throughput, conversation);
criterion_main!(benches);
