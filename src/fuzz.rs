//! One entry point per parser of outside input, for fuzzing: each takes arbitrary bytes and
//! must not panic, hang or allocate without bound, whatever they hold. Where a parser promises
//! more (the same events however the network cuts a stream, a checked statement taken from the
//! text it was given), the entry point asserts it, so a broken promise is a crash too.
//!
//! The libFuzzer targets in `fuzz/` call these (`scripts/fuzz` builds and runs them); the
//! integration tests replay the committed corpora through them (`tests/it/fuzz_corpora.rs`).

use std::io::Cursor;

use serde_json::json;

use crate::engine::catalog::Catalog;
use crate::engine::chat::ChatEvent;
use crate::engine::grammar::{self, ToolSpec};
use crate::engine::providers::sse::SseParser;
use crate::engine::providers::{self, ProviderKind};
use crate::engine::template::{ChatTemplate, ResultTurns};
use crate::engine::tool_stream::CallStream;
use crate::engine::tool_syntax::{ToolSyntax, parse_calls};
use crate::engine::{ChatMessage, ToolCall, gguf};
use crate::store::read_only_sql::check::{Timeouts, check};

/// A fuzz target: its name (the folder of its corpus, `fuzz/corpus/<name>`) and its entry.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order `scripts/fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "gguf",
        run: gguf_header,
    },
    Target {
        name: "catalog",
        run: model_catalog,
    },
    Target {
        name: "sse",
        run: sse_events,
    },
    Target {
        name: "provider_stream",
        run: provider_stream,
    },
    Target {
        name: "tool_calls",
        run: local_tool_calls,
    },
    Target {
        name: "json_schema",
        run: json_schema_grammar,
    },
    Target {
        name: "sql_check",
        run: sql_check,
    },
    Target {
        name: "chat_template",
        run: chat_template,
    },
    Target {
        name: "agent",
        run: agent_definition,
    },
    Target {
        name: "eval_suite",
        run: eval_suite,
    },
    Target {
        name: "backup_archive",
        run: backup_archive,
    },
];

/// The target named `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().copied().find(|target| target.name == name)
}

/// A GGUF file's header (metadata and tensor table), as `models import` and the library read
/// it from any file they are given.
pub fn gguf_header(data: &[u8]) {
    let len = data.len() as u64;
    if let Ok(header) = gguf::parse(Cursor::new(data), len) {
        let _ = gguf::check_complete(&header, len);
        let _ = (header.architecture(), header.name(), header.context_length());
        let _ = (header.chat_template(), header.quantization());
    }
}

/// A model catalog file (`models.toml`).
pub fn model_catalog(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(catalog) = Catalog::parse(text, "models.toml") {
        for entry in catalog.entries() {
            assert!(
                catalog.by_name(&entry.name).is_some(),
                "{:?} is not found by name",
                entry.name
            );
        }
    }
}

/// Server-sent events as a provider sends them: the first byte says where the network cuts
/// the rest, and the events must not depend on it.
pub fn sse_events(data: &[u8]) {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let mut whole = SseParser::new();
    let mut expected = whole.feed(body);
    expected.extend(whole.finish());
    let mut pieces = SseParser::new();
    let mut events = Vec::new();
    for piece in body.chunks(usize::from(cut % 16) + 1) {
        events.extend(pieces.feed(piece));
    }
    events.extend(pieces.finish());
    assert_eq!(events, expected, "the events depend on where the body was cut");
}

/// A provider's streamed answer: the first byte picks the wire format (`OpenAI`'s chat
/// completions or Anthropic's messages) and where the network cuts the rest; the incremental
/// tool-call decoder must give the same events however it is cut.
pub fn provider_stream(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let kind = if selector & 1 == 0 {
        ProviderKind::OpenAiCompatible
    } else {
        ProviderKind::Anthropic
    };
    let whole = providers::decode_recorded(kind, [body]);
    let cut = providers::decode_recorded(kind, body.chunks(usize::from(selector >> 4) + 1));
    assert_eq!(
        whole.is_ok(),
        cut.is_ok(),
        "{whole:?} or {cut:?}, depending on the cuts"
    );
    if let (Ok(whole), Ok(cut)) = (&whole, &cut) {
        assert_eq!(
            text_of(whole),
            text_of(cut),
            "the text depends on where the body was cut"
        );
        assert_eq!(
            calls_of(whole),
            calls_of(cut),
            "the calls depend on where the body was cut"
        );
    }
}

/// A local model's output in one of the tool-call syntaxes: split into free text and the call
/// as it streams (the same split however the tokens fall), then the call read back.
pub fn local_tool_calls(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(output) = std::str::from_utf8(rest) else {
        return;
    };
    let syntax = ToolSyntax::ALL[usize::from(selector) % ToolSyntax::ALL.len()];
    let whole = split_calls(syntax, [output]);
    let pieces = char_chunks(output, usize::from(selector >> 3) + 1);
    let streamed = split_calls(syntax, pieces.iter().map(String::as_str));
    assert_eq!(
        whole, streamed,
        "the split depends on how the output was tokenized"
    );
    let (text, call) = whole;
    assert!(
        output.starts_with(&text),
        "released text that the model did not write"
    );
    if let Some(call) = call {
        assert!(output.ends_with(&call), "a call that the model did not write");
        let _ = parse_calls(syntax, &call, &fuzz_tools());
    }
}

/// A tool's parameter schema or a `response_format` schema, turned into a grammar.
pub fn json_schema_grammar(data: &[u8]) {
    if let Ok(schema) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = grammar::json_schema(&schema);
    }
}

/// SQL written by an agent for `sql_query`: a statement that passes is taken from the text.
pub fn sql_check(data: &[u8]) {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    for timeouts in [Timeouts::Enforced, Timeouts::Ignored] {
        if let Ok(statement) = check(sql, timeouts) {
            let inside = sql.as_bytes().as_ptr_range();
            assert!(
                statement.is_empty() || inside.contains(&statement.as_ptr()),
                "the checked statement is not part of the query"
            );
        }
    }
}

/// A chat template (from a GGUF's metadata or a model override), rendered for a conversation
/// with tools, a call and its result: template text, a NUL byte, then the user's message.
pub fn chat_template(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (source, message) = text.split_once('\0').unwrap_or((text.as_ref(), "hello"));
    let Ok(template) = ChatTemplate::new(source, "<s>", "</s>") else {
        return;
    };
    let call = ToolCall {
        id: "call_1".into(),
        name: "lookup".into(),
        arguments: json!({"query": message}),
    };
    let messages = [
        ChatMessage::new("system", "You are terse."),
        ChatMessage::new("user", message),
        ChatMessage::tool_calls(vec![call]),
        ChatMessage::tool_result("call_1", message),
    ];
    let _ = template.render(&messages[..2]);
    for results in [ResultTurns::Tool, ResultTurns::User] {
        let _ = template.render_chat(&messages, &fuzz_tools(), results);
    }
}

/// An agent file: YAML front matter, then the system prompt.
pub fn agent_definition(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::service::agents::definition::parse_markdown(text, crate::domain::AgentSource::File);
}

/// An evaluation suite (`agentbox eval` YAML).
pub fn eval_suite(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::cli::eval::suite::parse(text, "suite.yaml");
}

/// A backup archive (zstd-compressed tar with a manifest), checked as `restore` checks it.
pub fn backup_archive(data: &[u8]) {
    let _ = crate::backup::verify_bytes(data);
}

fn fuzz_tools() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "lookup".into(),
        description: "Looks a word up.".into(),
        parameters: json!({
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        }),
    }]
}

/// The released text and the call, once the output was pushed in `pieces`.
fn split_calls<'a>(
    syntax: ToolSyntax,
    pieces: impl IntoIterator<Item = &'a str>,
) -> (String, Option<String>) {
    let mut stream = CallStream::new(syntax);
    let mut text = String::new();
    for piece in pieces {
        text.push_str(&stream.push(piece));
    }
    let finished = stream.finish();
    text.push_str(&finished.text);
    (text, finished.call)
}

/// `text` in pieces of about `size` bytes, cut only between characters (as tokens are).
fn char_chunks(text: &str, size: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for c in text.chars() {
        piece.push(c);
        if piece.len() >= size {
            pieces.push(std::mem::take(&mut piece));
        }
    }
    pieces.push(piece);
    pieces
}

fn text_of(events: &[ChatEvent]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            ChatEvent::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn calls_of(events: &[ChatEvent]) -> Vec<(&str, &serde_json::Value)> {
    events
        .iter()
        .filter_map(|event| match event {
            ChatEvent::ToolCall(call) => Some((call.name.as_str(), &call.arguments)),
            _ => None,
        })
        .collect()
}
