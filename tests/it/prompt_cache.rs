//! The engine's prompt cache on the real test model: a chat's next turn evaluates only what is
//! new, a new session reuses the system prompt an idle slot holds, and neither changes a single
//! token of the answer (greedy, compared with an engine without the cache).

use agentbox::engine::bench::conversation_turn;
use agentbox::engine::llama::{Engine, EngineSettings, ModelSpec};
use agentbox::engine::{ChatMessage, GenerateRequest, GenerationStats, Prompt, SamplingParams};

use super::engine::test_model;

fn spec() -> ModelSpec {
    ModelSpec {
        name: "smollm2-135m".into(),
        path: test_model(),
        context_size: Some(2048),
        gpu_layers: 0,
        chat_template: None,
    }
}

fn engine(slots: u32, prompt_cache: bool) -> Engine {
    Engine::new(EngineSettings {
        threads: 1,
        slots,
        context_per_slot: 2048,
        batch_tokens: 256,
        memory_budget_bytes: 1 << 30,
        prompt_cache,
    })
}

fn greedy(messages: Vec<ChatMessage>, max_tokens: u32) -> GenerateRequest {
    GenerateRequest {
        prompt: Prompt::Chat(messages),
        max_tokens,
        stop: Vec::new(),
        sampling: SamplingParams {
            temperature: 0.0,
            ..SamplingParams::default()
        },
        grammar: None,
        ignore_eos: true,
    }
}

async fn answer(engine: &Engine, messages: Vec<ChatMessage>, max_tokens: u32) -> (String, GenerationStats) {
    engine
        .generate(&spec(), greedy(messages, max_tokens))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_turn_evaluates_only_its_new_tokens_and_answers_as_without_the_cache() {
    let (cached, uncached) = (engine(2, true), engine(2, false));
    let mut answers = Vec::new();
    let mut previous_prompt = 0;
    for turn in 0..3 {
        let messages = conversation_turn(&answers, 40);
        let (text, stats) = answer(&cached, messages.clone(), 12).await;
        let (expected, plain) = answer(&uncached, messages, 12).await;
        assert_eq!(text, expected, "turn {turn}: the cache changed the answer");
        assert_eq!(plain.cached_tokens, 0, "no cache, nothing reused");
        if turn == 0 {
            assert_eq!(stats.cached_tokens, 0, "{stats:?}");
        } else {
            // The previous prompt and most of its answer are in the slot already.
            assert!(
                stats.cached_tokens >= previous_prompt && stats.cached_tokens < stats.prompt_tokens,
                "turn {turn}: {stats:?}, previous prompt {previous_prompt} tokens"
            );
        }
        previous_prompt = stats.prompt_tokens;
        answers.push(text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_reuses_the_system_prompt_an_idle_slot_holds() {
    let system = "You are the support assistant of a bicycle shop. ".repeat(12);
    let conversation = |question: &str| {
        vec![
            ChatMessage::new("system", system.clone()),
            ChatMessage::new("user", question),
        ]
    };
    let (cached, uncached) = (engine(2, true), engine(2, false));
    let (_, first) = answer(&cached, conversation("Tell me about bicycles."), 8).await;
    // A question whose first answer token no other comes close to: evaluated in two batches
    // (the system prompt earlier, the question now) rather than one, the logits differ in their
    // last bits (llama-server's `cache_prompt` documents the same), which flips a near tie on
    // this 135M model ("How do I fix a flat tire?" starts "A flat tire…" or "1.").
    let second = conversation("What is the capital of France?");
    let (text, stats) = answer(&cached, second.clone(), 16).await;
    let (expected, _) = answer(&uncached, second, 16).await;
    assert_eq!(text, expected, "the reused prefix changed the answer");
    assert!(
        stats.cached_tokens >= 100
            && stats.cached_tokens < stats.prompt_tokens
            && stats.cached_tokens < first.prompt_tokens,
        "the shared system prompt was not evaluated again: {stats:?}"
    );
}
