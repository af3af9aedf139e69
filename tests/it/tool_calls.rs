//! Tool calls in each model family's own syntax, with the real chat templates llama.cpp ships
//! (`AGENTBOX_TEST_CHAT_TEMPLATES`, from `scripts/build-llama-server.sh --templates`) and real
//! inference: the test model runs under each template, so the prompt, the grammar of that
//! syntax and the parser all meet real output.

use std::path::PathBuf;

use agentbox::engine::chat::{ChatEvent, ChatRequest, ToolUse};
use agentbox::engine::grammar::ToolSpec;
use agentbox::engine::llama::{Engine, EngineSettings, ModelSpec};
use agentbox::engine::template::{ChatTemplate, ResultTurns};
use agentbox::engine::tool_syntax::ToolSyntax;
use agentbox::engine::{ChatMessage, FinishReason, SamplingParams, ToolCall};
use serde_json::json;

use crate::engine::test_model;

/// The templates covered, and the syntax each must be read as.
const TEMPLATES: &[(&str, ToolSyntax)] = &[
    ("meta-llama-Llama-3.1-8B-Instruct.jinja", ToolSyntax::Llama3),
    ("meta-llama-Llama-3.2-3B-Instruct.jinja", ToolSyntax::Llama3),
    ("meta-llama-Llama-3.3-70B-Instruct.jinja", ToolSyntax::Llama3),
    ("Qwen-Qwen2.5-7B-Instruct.jinja", ToolSyntax::Hermes),
    ("Qwen-Qwen3-0.6B.jinja", ToolSyntax::Hermes),
    ("Qwen-QwQ-32B.jinja", ToolSyntax::Hermes),
    (
        "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja",
        ToolSyntax::Hermes,
    ),
    (
        "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
        ToolSyntax::Hermes,
    ),
    ("mistralai-Mistral-Nemo-Instruct-2407.jinja", ToolSyntax::Mistral),
    (
        "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
        ToolSyntax::DeepSeekR1,
    ),
    (
        "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
        ToolSyntax::DeepSeekR1,
    ),
];

fn template_source(file: &str) -> String {
    let folder = std::env::var("AGENTBOX_TEST_CHAT_TEMPLATES").unwrap_or_else(|_| {
        panic!(
            "AGENTBOX_TEST_CHAT_TEMPLATES is unset: run \
             `export AGENTBOX_TEST_CHAT_TEMPLATES=$(scripts/build-llama-server.sh --templates)`"
        )
    });
    let path = PathBuf::from(folder).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "kpi_values".into(),
            description: "Values of one KPI per quarter".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "kpi": { "type": "string", "maxLength": 40 },
                    "quarters": { "type": "integer", "minimum": 1, "maximum": 8 },
                },
                "required": ["kpi"],
                "additionalProperties": false,
            }),
        },
        ToolSpec {
            name: "list_kpis".into(),
            description: "The KPIs of the company".into(),
            parameters: json!({ "type": "object", "properties": {}, "additionalProperties": false }),
        },
    ]
}

/// A conversation with one earlier call and its result, then a new question.
fn conversation() -> Vec<ChatMessage> {
    let call = ToolCall {
        id: "call_6f1c0a9e2b7d4c3a".into(),
        name: "list_kpis".into(),
        arguments: json!({}),
    };
    vec![
        ChatMessage::new("system", "You answer questions about company KPIs."),
        ChatMessage::new("user", "Which KPIs do we track?"),
        ChatMessage::tool_calls(vec![call]),
        ChatMessage::tool_result("call_6f1c0a9e2b7d4c3a", r#"["revenue", "churn"]"#),
        ChatMessage::new("assistant", "We track revenue and churn."),
        ChatMessage::new("user", "What was the revenue?"),
    ]
}

fn engine() -> Engine {
    Engine::new(EngineSettings {
        threads: 1,
        slots: 1,
        context_per_slot: 2048,
        batch_tokens: 256,
        memory_budget_bytes: 1 << 30,
        prompt_cache: true,
    })
}

fn spec(name: &str, template: Option<String>) -> ModelSpec {
    ModelSpec {
        name: name.into(),
        path: test_model(),
        context_size: Some(2048),
        gpu_layers: 0,
        chat_template: template,
    }
}

fn greedy(messages: Vec<ChatMessage>, max_tokens: u32) -> ChatRequest {
    let mut request = ChatRequest::new(messages);
    request.max_tokens = max_tokens;
    request.sampling = SamplingParams {
        temperature: 0.0,
        seed: 42,
        ..SamplingParams::default()
    };
    request
}

/// Every template is read as its family's syntax, and renders the offered tools and the
/// earlier call in that syntax.
#[test]
fn each_template_renders_tools_and_earlier_calls_in_its_own_syntax() {
    for (file, expected) in TEMPLATES {
        let source = template_source(file);
        assert_eq!(ToolSyntax::detect(&source), *expected, "{file}");
        let template = ChatTemplate::new(&source, "<s>", "</s>").unwrap();
        let rendered = template
            .render_chat(&conversation(), &tools(), ResultTurns::Tool)
            .unwrap_or_else(|err| panic!("{file}: {err}"));
        let prompt = rendered.prompt;
        assert!(
            prompt.contains("kpi_values") && prompt.contains("Values of one KPI"),
            "{file}: tools missing\n{prompt}"
        );
        assert!(
            prompt.contains("churn"),
            "{file}: the tool result is missing\n{prompt}"
        );
        let call_marker = match expected {
            ToolSyntax::Hermes => "<tool_call>",
            ToolSyntax::Llama3 => r#"{"name": "list_kpis""#,
            ToolSyntax::Mistral => "[TOOL_CALLS]",
            ToolSyntax::DeepSeekR1 => "<｜tool▁call▁begin｜>function<｜tool▁sep｜>list_kpis",
            ToolSyntax::SmolLm2 | ToolSyntax::Json => unreachable!(),
        };
        assert!(
            prompt.contains(call_marker),
            "{file}: the earlier call is not in its syntax\n{prompt}"
        );
    }
}

/// With a call required, the grammar of each syntax holds the test model to a valid call of an
/// offered tool from the first token, and the parser reads it back. The call streams while it is
/// generated: its name, then its arguments in pieces that join to the complete call's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_call_is_valid_in_every_syntax_on_the_real_model() {
    let engine = engine();
    let mut cases: Vec<(String, Option<String>)> = TEMPLATES
        .iter()
        .map(|(file, _)| ((*file).to_owned(), Some(template_source(file))))
        .collect();
    cases.push(("SmolLM2 (its own template)".into(), None));
    for (index, (name, template)) in cases.into_iter().enumerate() {
        let spec = spec(&format!("smollm2-as-{index}"), template);
        let mut request = greedy(conversation(), 96);
        request.tools = tools();
        request.tool_use = ToolUse::Required;
        let mut stream = engine
            .chat(&spec, request)
            .await
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let (mut deltas, mut calls, mut finish) = (Vec::new(), Vec::new(), None);
        while let Some(event) = stream.next().await {
            match event.unwrap_or_else(|err| panic!("{name}: {err}")) {
                ChatEvent::ToolCallDelta(delta) => {
                    assert!(calls.is_empty(), "{name}: a delta after the complete calls");
                    deltas.push(delta);
                }
                ChatEvent::ToolCall(call) => calls.push(call),
                ChatEvent::Done(stats) => finish = Some(stats.finish),
                ChatEvent::Text(_) | ChatEvent::Reasoning(_) => {}
            }
        }
        assert_eq!(finish, Some(FinishReason::ToolCalls), "{name}: {calls:?}");
        assert!(!calls.is_empty(), "{name}");
        for (index, call) in calls.iter().enumerate() {
            let pieces: Vec<_> = deltas.iter().filter(|d| d.index == index).collect();
            assert!(
                pieces.len() >= 2,
                "{name}: call {index} did not stream: {deltas:?}"
            );
            assert!(
                pieces.iter().all(|d| d.id == call.id && d.name == call.name),
                "{name}: {pieces:?} vs {call:?}"
            );
            assert!(
                pieces[0].arguments.is_empty(),
                "{name}: the first delta names the tool"
            );
            let joined: String = pieces.iter().map(|d| d.arguments.as_str()).collect();
            let streamed: serde_json::Value =
                serde_json::from_str(&joined).unwrap_or_else(|err| panic!("{name}: {joined:?}: {err}"));
            assert_eq!(streamed, call.arguments, "{name}");
        }
        for call in &calls {
            assert!(
                ["kpi_values", "list_kpis"].contains(&call.name.as_str()),
                "{name}: {call:?}"
            );
            assert!(call.arguments.is_object(), "{name}: {call:?}");
            if call.name == "kpi_values" {
                assert!(call.arguments["kpi"].is_string(), "{name}: {call:?}");
            }
        }
        engine.unload(&spec.path).await;
    }
}

/// With tools offered and free to choose, the model writes its answer as plain text, streamed
/// piece by piece — not a JSON string — and ends it as it would without tools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tools_offered_text_streams_as_free_text() {
    let engine = engine();
    let spec = spec("smollm2", None);
    let question = vec![
        ChatMessage::new("system", "You are a helpful assistant."),
        ChatMessage::new("user", "Write a short poem about the sea."),
    ];
    let mut plain = greedy(question.clone(), 64);
    plain.tools = Vec::new();
    let without = engine.chat(&spec, plain).await.unwrap().collect().await.unwrap();

    let mut offered = greedy(question, 64);
    offered.tools = tools();
    let mut stream = engine.chat(&spec, offered).await.unwrap();
    let mut pieces = Vec::new();
    let mut calls = Vec::new();
    let mut finish = None;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            ChatEvent::Text(piece) => pieces.push(piece),
            ChatEvent::ToolCall(call) => calls.push(call),
            ChatEvent::ToolCallDelta(delta) => panic!("no call was made: {delta:?}"),
            ChatEvent::Reasoning(_) => panic!("SmolLM2 does not reason"),
            ChatEvent::Done(stats) => finish = Some(stats.finish),
        }
    }
    let text: String = pieces.concat();
    assert!(calls.is_empty(), "{calls:?}");
    assert!(
        pieces.len() > 10,
        "the text came in {} pieces: {text:?}",
        pieces.len()
    );
    assert!(
        !text.trim_start().starts_with('{'),
        "the answer is not JSON: {text}"
    );
    assert!(text.split_whitespace().count() >= 10, "{text}");
    assert_eq!(
        finish,
        without.stats.map(|s| s.finish),
        "{text}\n---\n{}",
        without.text
    );
}

/// The lazy grammar takes over when the model opens a call by itself: shown its own earlier
/// calls, the test model calls again, in `SmolLM2`'s syntax, and the call is valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_model_opens_by_itself_is_held_to_the_schema() {
    let engine = engine();
    let spec = spec("smollm2", None);
    let earlier = |id: &str, kpi: &str| ToolCall {
        id: id.into(),
        name: "kpi_values".into(),
        arguments: json!({ "kpi": kpi }),
    };
    let messages = vec![
        ChatMessage::new("system", "You look up KPI values with the kpi_values tool."),
        ChatMessage::new("user", "Look up churn."),
        ChatMessage::tool_calls(vec![earlier("call_a", "churn")]),
        ChatMessage::tool_result("call_a", "[3.1, 2.9]"),
        ChatMessage::new("user", "Look up headcount."),
        ChatMessage::tool_calls(vec![earlier("call_b", "headcount")]),
        ChatMessage::tool_result("call_b", "[120, 124]"),
        ChatMessage::new("user", "Look up revenue."),
    ];
    let mut request = greedy(messages, 96);
    request.tools = tools();
    let answer = engine
        .chat(&spec, request)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        answer.stats.unwrap().finish,
        FinishReason::ToolCalls,
        "{answer:?}"
    );
    assert_eq!(answer.tool_calls[0].name, "kpi_values", "{answer:?}");
    assert!(answer.tool_calls[0].arguments["kpi"].is_string(), "{answer:?}");
}
