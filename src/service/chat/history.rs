//! Turns stored messages back into the conversation a model sees, cut to fit its context: the
//! system prompt always, then as many of the newest turns as fit. Token counts are estimated
//! (the model may live behind an API whose tokenizer we do not have), conservatively.

use crate::domain::{Message, MessageStatus};
use crate::engine::{ChatMessage, ToolCall};

/// Characters per token assumed when estimating: English averages ~4 with common tokenizers;
/// 3 leaves room for code, numbers and other languages.
const CHARS_PER_TOKEN: usize = 3;
/// Per-message overhead of chat templates (role markers, separators).
const TOKENS_PER_MESSAGE: usize = 8;

/// Estimated tokens of `text`.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(CHARS_PER_TOKEN)
}

fn message_tokens(message: &ChatMessage) -> usize {
    let calls: usize = message
        .tool_calls
        .iter()
        .map(|c| estimate_tokens(&c.name) + estimate_tokens(&c.arguments.to_string()))
        .sum();
    TOKENS_PER_MESSAGE + estimate_tokens(&message.content) + calls
}

/// A stored message as a chat turn; `None` for what a model should not see again (failed
/// turns without text).
pub fn to_chat_message(message: &Message) -> Option<ChatMessage> {
    if message.status == MessageStatus::Error && message.content.is_empty() {
        return None;
    }
    let tool_calls: Vec<ToolCall> = message
        .tool_calls
        .clone()
        .and_then(|calls| serde_json::from_value(calls).ok())
        .unwrap_or_default();
    if message.role == "assistant" && message.content.is_empty() && tool_calls.is_empty() {
        return None;
    }
    Some(ChatMessage {
        role: message.role.clone(),
        content: message.content.clone(),
        tool_calls,
        tool_call_id: message.tool_call_id.clone(),
    })
}

/// The system prompt followed by the newest of `turns` that fit in `budget` tokens. A tool
/// result never starts the window: without the call it answers it would confuse the model.
pub fn window(system_prompt: &str, turns: Vec<ChatMessage>, budget: usize) -> Vec<ChatMessage> {
    let system = ChatMessage::new("system", system_prompt);
    let mut left = budget.saturating_sub(message_tokens(&system));
    let mut kept: Vec<ChatMessage> = Vec::new();
    for turn in turns.into_iter().rev() {
        let cost = message_tokens(&turn);
        if cost > left {
            break;
        }
        left -= cost;
        kept.push(turn);
    }
    kept.reverse();
    let first_kept = kept.iter().position(|m| m.role != "tool").unwrap_or(kept.len());
    let mut conversation = vec![system];
    conversation.extend(kept.into_iter().skip(first_kept));
    conversation
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn turn(role: &str, chars: usize) -> ChatMessage {
        ChatMessage::new(role, "x".repeat(chars))
    }

    #[test]
    fn keeps_the_newest_turns_that_fit() {
        let turns = vec![turn("user", 300), turn("assistant", 300), turn("user", 30)];
        let all = window("be brief", turns.clone(), 10_000);
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].role, "system");
        // 100 + 8 tokens per long turn, 10 + 8 for the last, 3 + 8 for the system prompt
        let cut = window("be brief", turns, 150);
        assert_eq!(cut.len(), 3);
        assert_eq!(cut[1].content.len(), 300);
        assert_eq!(cut[2].content.len(), 30);
    }

    #[test]
    fn never_starts_with_an_orphaned_tool_result() {
        let call = ToolCall {
            id: "c1".into(),
            name: "list_kpis".into(),
            arguments: json!({}),
        };
        let turns = vec![
            ChatMessage::new("user", "x".repeat(600)),
            ChatMessage::tool_calls(vec![call]),
            ChatMessage::tool_result("c1", "y".repeat(60)),
            ChatMessage::new("assistant", "done"),
        ];
        // Room for the result and the answer but not for the call before them.
        let cut = window("", turns, 40);
        assert_eq!(cut.len(), 2, "{cut:?}");
        assert_eq!(cut[1].content, "done");
    }

    #[test]
    fn a_turn_bigger_than_the_budget_leaves_only_the_system_prompt() {
        let cut = window("system", vec![turn("user", 3_000)], 100);
        assert_eq!(cut.len(), 1);
    }
}
