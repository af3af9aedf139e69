//! The `OpenAI` format on recorded streams: chunk shapes as `OpenAI`'s streaming and
//! function-calling documentation shows them, and as llama-server sends them.

use std::time::Instant;

use serde_json::json;

use super::*;
use crate::engine::SamplingParams;
use crate::engine::grammar::ToolSpec;
use crate::engine::providers::stream::decode_body;

fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: "The current weather in a city".into(),
        parameters: json!({
            "type": "object",
            "properties": { "location": { "type": "string" } },
            "required": ["location"],
        }),
    }
}

fn conversation() -> ChatRequest {
    let call = ToolCall {
        id: "call_1".into(),
        name: "get_weather".into(),
        arguments: json!({ "location": "Paris" }),
    };
    ChatRequest {
        messages: vec![
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "Weather in Paris?"),
            ChatMessage::tool_calls(vec![call]),
            ChatMessage::tool_result("call_1", "18 °C, sunny"),
        ],
        tools: vec![weather_tool()],
        max_tokens: 64,
        stop: vec!["\n\n".into()],
        sampling: SamplingParams {
            temperature: 0.0,
            seed: 7,
            ..SamplingParams::default()
        },
        ..ChatRequest::new(Vec::new())
    }
}

#[test]
fn the_request_maps_messages_tool_calls_and_tools() {
    let body = request_body(ProviderKind::OpenAiCompatible, "smollm2", &conversation());
    assert_eq!(body["model"], "smollm2");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({ "include_usage": true }));
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["seed"], 7);
    assert_eq!(body["stop"], json!(["\n\n"]));
    assert_eq!(
        body["messages"],
        json!([
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": "Weather in Paris?" },
            { "role": "assistant", "content": null, "tool_calls": [{
                "id": "call_1",
                "type": "function",
                "function": { "name": "get_weather", "arguments": "{\"location\":\"Paris\"}" },
            }] },
            { "role": "tool", "content": "18 °C, sunny", "tool_call_id": "call_1" },
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{ "type": "function", "function": {
            "name": "get_weather",
            "description": "The current weather in a city",
            "parameters": weather_tool().parameters,
        } }])
    );
    assert_eq!(body["top_k"], 40);
    assert!(body.get("min_p").is_some() && body.get("repeat_penalty").is_some());
}

#[test]
fn openai_itself_gets_only_its_documented_fields() {
    let mut request = conversation();
    request.tools.clear();
    request.stop.clear();
    let body = request_body(ProviderKind::OpenAi, "gpt-4o-mini", &request);
    assert_eq!(body["max_completion_tokens"], 64);
    for field in ["max_tokens", "top_k", "min_p", "repeat_penalty", "tools", "stop"] {
        assert!(body.get(field).is_none(), "{field} should not be sent");
    }
}

/// Feeds `stream` in chunks of `size` bytes, as the network might cut it.
fn decode(stream: &str, size: usize) -> Result<Vec<ChatEvent>, DecodeError> {
    decode_body(Decoder::new(Instant::now()), stream.as_bytes().chunks(size))
}

fn done(events: &[ChatEvent]) -> GenerationStatsView {
    match events.last() {
        Some(ChatEvent::Done(stats)) => GenerationStatsView {
            prompt: stats.prompt_tokens,
            completion: stats.completion_tokens,
            finish: stats.finish,
        },
        other => panic!("the last event is not Done: {other:?}"),
    }
}

#[derive(Debug, PartialEq)]
struct GenerationStatsView {
    prompt: u32,
    completion: u32,
    finish: FinishReason,
}

const TEXT_STREAM: &str = concat!(
    "data: {\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" wörld\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n",
    "data: [DONE]\n\n",
);

#[test]
fn streamed_text_and_usage_in_any_chunking() {
    for size in [1, 2, 7, 64, TEXT_STREAM.len()] {
        let events = decode(TEXT_STREAM, size).unwrap();
        assert_eq!(events[0], ChatEvent::Text("Hello".into()), "chunk size {size}");
        assert_eq!(events[1], ChatEvent::Text(" wörld".into()));
        assert_eq!(events.len(), 3);
        let expected = GenerationStatsView {
            prompt: 9,
            completion: 2,
            finish: FinishReason::Stop,
        };
        assert_eq!(done(&events), expected);
    }
}

#[test]
fn without_usage_the_output_chunks_are_counted_and_crlf_works() {
    let stream = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\r\n\r\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\r\n\r\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\r\n\r\n",
    );
    // No `[DONE]`: the finish reason is enough.
    let events = decode(stream, 5).unwrap();
    let expected = GenerationStatsView {
        prompt: 0,
        completion: 2,
        finish: FinishReason::Length,
    };
    assert_eq!(done(&events), expected);
}

/// `OpenAI`'s streamed function call: the id and name first, the arguments in pieces.
const TOOL_STREAM: &str = concat!(
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_DdmO9pD3xa9XTPNJ32zg2hcA\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}],\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"location\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\":\\\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"Paris, France\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]}\n\n",
    "data: [DONE]\n\n",
);

#[test]
fn tool_call_fragments_are_put_together_in_any_chunking() {
    for size in [1, 3, 50, TOOL_STREAM.len()] {
        let events = decode(TOOL_STREAM, size).unwrap();
        assert_eq!(
            events[..2],
            [
                ChatEvent::ToolCall(ToolCall {
                    id: "call_DdmO9pD3xa9XTPNJ32zg2hcA".into(),
                    name: "get_weather".into(),
                    arguments: json!({ "location": "Paris, France" }),
                }),
                // No arguments at all: an empty object.
                ChatEvent::ToolCall(ToolCall {
                    id: "call_2".into(),
                    name: "get_time".into(),
                    arguments: json!({}),
                }),
            ],
            "chunk size {size}"
        );
        assert_eq!(done(&events).finish, FinishReason::ToolCalls);
    }
}

#[test]
fn a_call_without_an_id_gets_a_made_up_one() {
    let stream = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"location\\\":\\\"Oslo\\\"}\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let events = decode(stream, 16).unwrap();
    let ChatEvent::ToolCall(call) = &events[0] else {
        panic!("{events:?}")
    };
    assert!(call.id.starts_with("call_") && call.id.len() > 10, "{}", call.id);
    assert_eq!(call.arguments, json!({ "location": "Oslo" }));
    // A call was made, whatever the server's finish reason says.
    assert_eq!(done(&events).finish, FinishReason::ToolCalls);
}

#[test]
fn arguments_that_are_not_json_are_invalid_output() {
    let stream = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"location\\\":\"}}]}}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let Err(DecodeError::InvalidOutput(message)) = decode(stream, 64) else {
        panic!("expected invalid output")
    };
    assert!(
        message.contains("get_weather") && message.contains("max_tokens"),
        "{message}"
    );
}

#[test]
fn an_error_mid_stream_and_a_stream_that_stops_short_are_errors() {
    let error = "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
    let Err(DecodeError::Unavailable(message)) = decode(error, 10) else {
        panic!("expected an error")
    };
    assert!(message.contains("The server had an error"), "{message}");

    let short = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n";
    assert!(matches!(decode(short, 10), Err(DecodeError::Unavailable(_))));
}

#[test]
fn tool_choice_response_format_and_penalties_pass_through() {
    let mut request = conversation();
    request.tool_use = crate::engine::chat::ToolUse::Named("get_weather".into());
    request.response_format = Some(crate::engine::chat::ResponseFormat::JsonSchema {
        name: "weather".into(),
        schema: json!({ "type": "object" }),
        strict: true,
    });
    request.sampling.frequency_penalty = 0.5;
    request.sampling.presence_penalty = -0.25;
    let body = request_body(ProviderKind::OpenAi, "gpt-x", &request);
    assert_eq!(
        body["tool_choice"],
        json!({ "type": "function", "function": { "name": "get_weather" } })
    );
    assert_eq!(
        body["response_format"],
        json!({ "type": "json_schema", "json_schema": { "name": "weather", "schema": { "type": "object" }, "strict": true } })
    );
    assert_eq!(body["frequency_penalty"], json!(0.5));
    assert_eq!(body["presence_penalty"], json!(-0.25));
    // The default is left to the server.
    assert!(
        request_body(ProviderKind::OpenAi, "gpt-x", &conversation())
            .get("tool_choice")
            .is_none()
    );
}
