//! External providers end to end: the OpenAI-compatible client against a real llama.cpp
//! `llama-server` running the test model, and the Anthropic client against a local replay of
//! recorded Messages streams (no Anthropic endpoint is reachable from the test machines).

pub mod llama_server;
mod replay;

use std::time::{Duration, Instant};

use agentbox::engine::chat::{ChatEvent, ChatRequest};
use agentbox::engine::grammar::ToolSpec;
use agentbox::engine::providers::{ProviderClient, ProviderConfig, ProviderKind};
use agentbox::engine::{ChatMessage, EngineError, FinishReason, SamplingParams, ToolCall};
use llama_server::{LlamaServer, free_port};
use replay::Replay;
use serde_json::json;

fn client(kind: ProviderKind, base_url: &str) -> ProviderClient {
    ProviderClient::new(ProviderConfig::new("test", kind, base_url)).unwrap()
}

fn greedy(question: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest {
        max_tokens,
        sampling: SamplingParams {
            temperature: 0.0,
            seed: 42,
            ..SamplingParams::default()
        },
        ..ChatRequest::new(vec![
            ChatMessage::new("system", "You are a helpful assistant."),
            ChatMessage::new("user", question),
        ])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_server_streams_deterministic_text_with_usage_and_stops() {
    let server = LlamaServer::start(None).await;
    let provider = client(ProviderKind::OpenAiCompatible, &server.base_url);

    let mut stream = provider
        .chat("smollm2", greedy("What is the capital of France?", 24))
        .await
        .unwrap();
    let mut pieces = 0;
    let mut first = String::new();
    let stats = loop {
        match stream.next().await.expect("the stream ends with Done").unwrap() {
            ChatEvent::Text(piece) => {
                pieces += 1;
                first.push_str(&piece);
            }
            ChatEvent::ToolCall(call) => panic!("no tools were offered: {call:?}"),
            ChatEvent::ToolCallDelta(delta) => panic!("no tools were offered: {delta:?}"),
            ChatEvent::Reasoning(text) => panic!("the test model does not reason: {text:?}"),
            ChatEvent::Done(stats) => break stats,
        }
    };
    assert!(pieces > 1, "the answer streams in pieces");
    assert!(!first.trim().is_empty());
    assert!(
        stats.prompt_tokens > 10 && stats.completion_tokens >= 1 && stats.completion_tokens <= 24,
        "{stats:?}"
    );
    assert!(stats.time_to_first_token <= stats.total && stats.total > Duration::ZERO);
    assert!(matches!(stats.finish, FinishReason::Stop | FinishReason::Length));

    let second = provider
        .chat("smollm2", greedy("What is the capital of France?", 24))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(first, second.text, "temperature 0 with a seed is deterministic");

    // Stop at the answer's second word: the answer ends right before it.
    let second_word = first
        .char_indices()
        .skip_while(|(_, c)| c.is_whitespace())
        .skip_while(|(_, c)| !c.is_whitespace())
        .find(|(_, c)| !c.is_whitespace())
        .map_or_else(|| panic!("the answer has two words: {first:?}"), |(i, _)| i);
    let stop: String = first[second_word..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let mut request = greedy("What is the capital of France?", 24);
    request.stop = vec![stop.clone()];
    let stopped = provider
        .chat("smollm2", request)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(stopped.text, first[..second_word], "stopped at {stop:?}");
    assert_eq!(stopped.stats.unwrap().finish, FinishReason::Stop);
}

/// `SmolLM2` (135M) calls a tool only when the template shows it how and an earlier turn did
/// it once: that example also sends a tool call and a tool result through the mapping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_server_tool_call_parses() {
    let server = LlamaServer::start(Some(llama_server::TOOLS_TEMPLATE)).await;
    let provider = client(ProviderKind::OpenAiCompatible, &server.base_url);
    let example = ToolCall {
        id: "call_1".into(),
        name: "get_weather".into(),
        arguments: json!({ "city": "Berlin" }),
    };
    let mut request = greedy("What is the weather in Berlin?", 48);
    request.messages.extend([
        ChatMessage::tool_calls(vec![example]),
        ChatMessage::tool_result("call_1", "12 C, cloudy"),
        ChatMessage::new("user", "What is the weather in Paris?"),
    ]);
    request.tools = vec![ToolSpec {
        name: "get_weather".into(),
        description: "Get the current weather in a city".into(),
        parameters: json!({
            "type": "object",
            "properties": { "city": { "type": "string" } },
            "required": ["city"],
        }),
    }];
    let answer = provider
        .chat("smollm2", request)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let [call] = answer.tool_calls.as_slice() else {
        panic!("expected one tool call, got {answer:?}\n{}", server.log_text());
    };
    assert_eq!(call.name, "get_weather");
    assert_eq!(call.arguments, json!({ "city": "Paris" }));
    assert!(!call.id.is_empty() && call.id != "call_1");
    assert_eq!(answer.stats.unwrap().finish, FinishReason::ToolCalls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_server_errors_listing_and_dropped_streams() {
    let server = LlamaServer::start(None).await;
    let provider = client(ProviderKind::OpenAiCompatible, &server.base_url);
    assert!(!provider.list_models().await.unwrap().is_empty());

    // A wrong route: a refusal naming the status, not a fallback.
    let wrong = client(
        ProviderKind::OpenAiCompatible,
        &format!("{}/nowhere", server.origin),
    );
    match wrong.chat("smollm2", greedy("Hi", 4)).await {
        Err(EngineError::Provider { message, .. }) => assert!(message.contains("404"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Drop a long answer after its first piece: the server (one slot) stops generating it and
    // answers the next request promptly instead of finishing the first.
    let mut long = provider
        .chat(
            "smollm2",
            greedy("Count from 1 to 1000, separated by commas.", 1000),
        )
        .await
        .unwrap();
    assert!(matches!(long.next().await, Some(Ok(ChatEvent::Text(_)))));
    drop(long);
    let started = Instant::now();
    let next = tokio::time::timeout(
        Duration::from_secs(20),
        provider
            .chat("smollm2", greedy("Say hi.", 8))
            .await
            .unwrap()
            .collect(),
    )
    .await
    .expect("the server is not stuck on the dropped answer")
    .unwrap();
    assert!(next.stats.unwrap().completion_tokens <= 8);
    eprintln!("the request after a dropped stream took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_or_silent_servers_are_unavailable_quickly() {
    let started = Instant::now();
    let nobody = client(
        ProviderKind::OpenAiCompatible,
        &format!("http://127.0.0.1:{}/v1", free_port()),
    );
    let err = nobody.chat("m", greedy("Hi", 4)).await.unwrap_err();
    assert!(matches!(err, EngineError::ProviderUnavailable { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Accepts the connection, never answers: the request timeout ends the wait.
    let replay = Replay::start().await;
    let mut config = ProviderConfig::new(
        "slow",
        ProviderKind::OpenAiCompatible,
        format!("{}/slow", replay.base_url),
    );
    config.request_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = ProviderClient::new(config)
        .unwrap()
        .chat("m", greedy("Hi", 4))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::ProviderUnavailable { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A stream that breaks off mid-answer: the text so far, then one error.
    let cut = client(ProviderKind::OpenAiCompatible, &format!("{}/v1", replay.base_url));
    let mut stream = cut.chat("m", greedy("Hi", 4)).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        ChatEvent::Text("Hel".into())
    );
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        ChatEvent::Text("lo".into())
    );
    let err = stream.next().await.unwrap().unwrap_err();
    assert!(matches!(err, EngineError::ProviderUnavailable { .. }), "{err}");
    assert!(stream.next().await.is_none());
}

fn anthropic(base_url: &str, key: &str) -> ProviderClient {
    let mut config = ProviderConfig::new("anthropic", ProviderKind::Anthropic, base_url);
    config.api_key = Some(key.into());
    ProviderClient::new(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_replayed_stream_gives_text_and_a_tool_call() {
    let replay = Replay::start().await;
    let provider = anthropic(&replay.base_url, replay::ANTHROPIC_KEY);
    let mut request = greedy("What is the weather in San Francisco?", 256);
    request.tools = vec![ToolSpec {
        name: "get_weather".into(),
        description: "Get the current weather in a location".into(),
        parameters: json!({ "type": "object", "properties": { "location": { "type": "string" } } }),
    }];
    let answer = provider
        .chat("claude-opus-4-6", request)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(answer.text, "Okay, let's check the weather.");
    let [call] = answer.tool_calls.as_slice() else {
        panic!("{answer:?}")
    };
    assert_eq!(call.id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    assert_eq!(
        call.arguments,
        json!({ "location": "San Francisco, CA", "unit": "fahrenheit" })
    );
    let stats = answer.stats.unwrap();
    assert_eq!((stats.prompt_tokens, stats.completion_tokens), (472, 89));
    assert_eq!(stats.finish, FinishReason::ToolCalls);

    let sent = &replay.bodies()[0];
    assert_eq!(sent["system"], "You are a helpful assistant.");
    assert_eq!(sent["tools"][0]["input_schema"]["type"], "object");
    assert_eq!(sent["messages"][0]["role"], "user");

    let models = provider.list_models().await.unwrap();
    assert_eq!(models, ["claude-opus-4-6", "claude-haiku-4-5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_errors_say_why_and_never_show_the_key() {
    let replay = Replay::start().await;
    let wrong_key = anthropic(&replay.base_url, "sk-ant-wrong-key");
    match wrong_key.chat("claude-opus-4-6", greedy("Hi", 8)).await {
        Err(err @ EngineError::Provider { .. }) => {
            let message = err.to_string();
            assert!(
                message.contains("invalid x-api-key") && message.contains("401"),
                "{message}"
            );
            assert!(!message.contains("sk-ant-wrong-key"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let provider = anthropic(&replay.base_url, replay::ANTHROPIC_KEY);
    match provider.chat("claude-overloaded", greedy("Hi", 8)).await {
        Err(EngineError::ProviderUnavailable { message, .. }) => {
            assert!(message.contains("Overloaded"), "{message}");
        }
        other => panic!("expected unavailable, got {other:?}"),
    }
}
