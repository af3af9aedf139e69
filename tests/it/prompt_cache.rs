//! The engine's prompt cache on the real test model: a chat's next turn evaluates only what is
//! new, a new session reuses the system prompt an idle slot holds or copies it from a busy one,
//! and none of these changes a single token of the answer (greedy, compared with an engine
//! without the cache).

use agentbox::engine::bench::conversation_turn;
use agentbox::engine::llama::{Engine, EngineSettings, ModelSpec};
use agentbox::engine::{
    ChatMessage, GenerateRequest, GenerationEvent, GenerationStats, Prompt, SamplingParams,
};

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

fn support_chat(question: &str) -> Vec<ChatMessage> {
    let system = "You are the support assistant of a bicycle shop. ".repeat(12);
    vec![
        ChatMessage::new("system", system),
        ChatMessage::new("user", question),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_reuses_the_system_prompt_an_idle_slot_holds() {
    let conversation = support_chat;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_copies_the_system_prompt_a_busy_slot_holds() {
    let (cached, uncached) = (engine(2, true), engine(2, false));
    let long = || support_chat("Tell me about bicycles.");
    let mut running = cached.generate(&spec(), greedy(long(), 200)).await.unwrap();
    let mut first_text = String::new();
    while first_text.is_empty() {
        match running.next().await.expect("the answer goes on").unwrap() {
            GenerationEvent::Text(piece) => first_text = piece,
            GenerationEvent::Done(stats) => panic!("ended before a second session came: {stats:?}"),
        }
    }
    // The first session's slot holds the system prompt and is busy for 199 tokens more; the
    // other slot is empty, so a reused prefix can only be a copy.
    let second = support_chat("What is the capital of France?");
    let (text, stats) = answer(&cached, second.clone(), 16).await;
    assert!(
        stats.cached_tokens >= 100 && stats.cached_tokens < stats.prompt_tokens,
        "the system prompt was evaluated again: {stats:?}"
    );
    let (expected, _) = answer(&uncached, second, 16).await;
    assert_eq!(text, expected, "the copied prefix changed the answer");
    // And the copy did not disturb the slot it was taken from.
    let (rest, stats) = running.text().await.unwrap();
    assert_eq!(stats.completion_tokens, 200);
    let (whole, _) = answer(&uncached, long(), 200).await;
    assert_eq!(first_text + &rest, whole, "the source slot's answer changed");
}
