//! The Messages format on recorded streams (the event shapes of Anthropic's streaming
//! documentation, kept in `tests/fixtures/providers/`, which the replay test serves too).

use std::time::Instant;

use serde_json::json;

use super::*;
use crate::engine::SamplingParams;
use crate::engine::grammar::ToolSpec;
use crate::engine::providers::stream::decode_body;

const TEXT_STREAM: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/providers/anthropic-text.sse"
));
const TOOL_STREAM: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/providers/anthropic-tool-use.sse"
));

fn call(id: &str, location: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: "get_weather".into(),
        arguments: json!({ "location": location }),
    }
}

#[test]
fn the_request_separates_the_system_prompt_and_merges_tool_results() {
    let request = ChatRequest {
        messages: vec![
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("system", "Use tools."),
            ChatMessage::new("user", "Weather in Paris and Oslo?"),
            ChatMessage {
                tool_calls: vec![call("toolu_1", "Paris"), call("toolu_2", "Oslo")],
                ..ChatMessage::new("assistant", "Checking.")
            },
            ChatMessage::tool_result("toolu_1", "18 °C"),
            ChatMessage::tool_result("toolu_2", "9 °C"),
            ChatMessage::new("user", "Thanks"),
        ],
        tools: vec![ToolSpec {
            name: "get_weather".into(),
            description: "The weather".into(),
            parameters: json!({ "type": "object", "properties": { "location": { "type": "string" } } }),
        }],
        max_tokens: 100,
        stop: vec!["END".into()],
        sampling: SamplingParams {
            temperature: 1.5,
            top_k: 20,
            ..SamplingParams::default()
        },
        ..ChatRequest::new(Vec::new())
    };
    let body = request_body("claude-x", &request).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "claude-x",
            "max_tokens": 100,
            "stream": true,
            "system": "Be brief.\n\nUse tools.",
            "temperature": 1.0,
            "top_k": 20,
            "stop_sequences": ["END"],
            "tools": [{
                "name": "get_weather",
                "description": "The weather",
                "input_schema": { "type": "object", "properties": { "location": { "type": "string" } } },
            }],
            "messages": [
                { "role": "user", "content": [{ "type": "text", "text": "Weather in Paris and Oslo?" }] },
                { "role": "assistant", "content": [
                    { "type": "text", "text": "Checking." },
                    { "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": { "location": "Paris" } },
                    { "type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": { "location": "Oslo" } },
                ] },
                { "role": "user", "content": [
                    { "type": "tool_result", "tool_use_id": "toolu_1", "content": "18 °C" },
                    { "type": "tool_result", "tool_use_id": "toolu_2", "content": "9 °C" },
                    { "type": "text", "text": "Thanks" },
                ] },
            ],
        })
    );
}

#[test]
fn empty_turns_are_left_out_and_bad_turns_refused() {
    let request = ChatRequest::new(vec![
        ChatMessage::new("user", "Hi"),
        ChatMessage::new("assistant", ""),
    ]);
    let body = request_body("m", &request).unwrap();
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1));
    assert!(body.get("system").is_none());

    let orphan = ChatMessage {
        tool_call_id: None,
        ..ChatMessage::tool_result("x", "result")
    };
    let unknown = ChatMessage::new("narrator", "…");
    for message in [orphan, unknown] {
        let request = ChatRequest::new(vec![message]);
        assert!(matches!(
            request_body("m", &request),
            Err(EngineError::InvalidRequest(_))
        ));
    }
}

fn decode(stream: &str, size: usize) -> Result<Vec<ChatEvent>, DecodeError> {
    decode_body(Decoder::new(Instant::now()), stream.as_bytes().chunks(size))
}

fn stats(events: &[ChatEvent]) -> (u32, u32, FinishReason) {
    match events.last() {
        Some(ChatEvent::Done(stats)) => (stats.prompt_tokens, stats.completion_tokens, stats.finish),
        other => panic!("the last event is not Done: {other:?}"),
    }
}

#[test]
fn streamed_text_and_usage_in_any_chunking() {
    for size in [1, 5, 100, TEXT_STREAM.len()] {
        let events = decode(TEXT_STREAM, size).unwrap();
        assert_eq!(
            events[..2],
            [ChatEvent::Text("Hello".into()), ChatEvent::Text("!".into())],
            "chunk size {size}"
        );
        assert_eq!(events.len(), 3);
        assert_eq!(stats(&events), (25, 15, FinishReason::Stop));
    }
}

#[test]
fn a_streamed_tool_use_block_becomes_one_call_in_any_chunking() {
    // Also with CRLF line ends, which some proxies produce.
    let crlf = TOOL_STREAM.replace('\n', "\r\n");
    for (stream, size) in [
        (TOOL_STREAM, 1),
        (TOOL_STREAM, 13),
        (crlf.as_str(), 2),
        (crlf.as_str(), 4096),
    ] {
        let events = decode(stream, size).unwrap();
        assert_eq!(
            events[..3],
            [
                ChatEvent::Text("Okay, let's check".into()),
                ChatEvent::Text(" the weather.".into()),
                ChatEvent::ToolCall(ToolCall {
                    id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                    name: "get_weather".into(),
                    arguments: json!({ "location": "San Francisco, CA", "unit": "fahrenheit" }),
                }),
            ],
            "chunk size {size}"
        );
        assert_eq!(stats(&events), (472, 89, FinishReason::ToolCalls));
    }
}

#[test]
fn stop_reasons_map_to_finish_reasons() {
    for (reason, finish) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
    ] {
        let stream = TEXT_STREAM.replace("\"end_turn\"", &format!("\"{reason}\""));
        assert_eq!(stats(&decode(&stream, 64).unwrap()).2, finish, "{reason}");
    }
}

#[test]
fn a_tool_input_that_is_not_json_is_invalid_output() {
    let stream = TOOL_STREAM.replace("renheit\\\"}", "renheit");
    let Err(DecodeError::InvalidOutput(message)) = decode(&stream, 64) else {
        panic!("expected invalid output");
    };
    assert!(message.contains("get_weather"), "{message}");
}

#[test]
fn error_events_and_cut_streams_are_errors() {
    let overloaded = "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n";
    let Err(DecodeError::Unavailable(message)) = decode(overloaded, 9) else {
        panic!("expected unavailable");
    };
    assert!(message.contains("Overloaded"), "{message}");

    let invalid = overloaded.replace("overloaded_error", "invalid_request_error");
    assert!(matches!(decode(&invalid, 9), Err(DecodeError::Refused(_))));

    let cut = &TEXT_STREAM[..TEXT_STREAM.find("event: message_delta").unwrap()];
    assert!(matches!(decode(cut, 32), Err(DecodeError::Unavailable(_))));
}
