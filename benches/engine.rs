//! Token throughput of the in-process engine on the test model (`AGENTBOX_TEST_MODEL`, see
//! `scripts/fetch-test-model.sh`): prompt processing, and generation with 1 and 4 concurrent
//! sequences (continuous batching). Criterion reports elements/s = tokens/s.
//!
//!   AGENTBOX_TEST_MODEL=$(scripts/fetch-test-model.sh) cargo bench --bench engine
//!
//! The comparison with llama.cpp's own server is `scripts/bench-vs-llama-server.sh`.

use std::path::PathBuf;

use agentbox::engine::bench::{self, BenchConfig};
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

fn engine(slots: u32) -> Engine {
    let threads = std::env::var("AGENTBOX_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    Engine::new(EngineSettings {
        threads,
        slots,
        context_per_slot: 1024,
        batch_tokens: 512,
        memory_budget_bytes: u64::MAX,
    })
}

fn throughput(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let spec = model();
    let engines: std::collections::HashMap<u32, Engine> =
        [1, 4].into_iter().map(|n| (n, engine(n))).collect();
    for slots in [1, 4] {
        runtime.block_on(bench::warm_up(&engines[&slots], &spec)).unwrap();
    }
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);

    // Prompt processing: 256 prompt tokens, one generated.
    let prefill = BenchConfig {
        concurrency: 1,
        tokens: 1,
        prompt_words: 256,
    };
    group.throughput(Throughput::Elements(256));
    group.bench_function("prompt_256", |b| {
        b.to_async(&runtime)
            .iter(|| async { bench::run(&engines[&1], &spec, &prefill).await.unwrap() });
    });

    for streams in [1u32, 4] {
        let config = BenchConfig {
            concurrency: streams,
            tokens: 64,
            prompt_words: 16,
        };
        let engine = &engines[&streams];
        group.throughput(Throughput::Elements(u64::from(streams * 64)));
        group.bench_function(format!("generate_64x{streams}"), |b| {
            b.to_async(&runtime)
                .iter(|| async { bench::run(engine, &spec, &config).await.unwrap() });
        });
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
