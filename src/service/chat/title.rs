//! A short title for a new session, written by the fast model after the first answer. The
//! first words of the prompt stand in when no model can do it; a title the user set meanwhile
//! is never replaced.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::runner::AgentRunner;
use crate::domain::{EvalOutcome, Identity, NewEvaluation};
use crate::engine::ChatMessage;
use crate::engine::chat::ChatRequest;
use crate::store::Store;

const MAX_TITLE_CHARS: usize = 80;
const TITLE_TIMEOUT: Duration = Duration::from_mins(1);

pub async fn generate(runner: &AgentRunner, store: &Store, caller: &Identity, session: Uuid, prompt: &str) {
    let title = match ask_model(runner, store, caller, session, prompt).await {
        Some(title) => title,
        None => fallback(prompt),
    };
    if let Err(err) = store.set_generated_title(caller.user_id(), session, title).await {
        tracing::warn!(%err, %session, "could not store the session title");
    }
}

async fn ask_model(
    runner: &AgentRunner,
    store: &Store,
    caller: &Identity,
    session: Uuid,
    prompt: &str,
) -> Option<String> {
    let excerpt: String = prompt.chars().take(1_000).collect();
    let mut request = ChatRequest::new(vec![
        ChatMessage::new(
            "system",
            "You write titles for conversations. Answer with the title only: at most six words, no quotes, no trailing period.",
        ),
        ChatMessage::new(
            "user",
            format!("Write a title for a conversation that starts with:\n\n{excerpt}"),
        ),
    ]);
    request.max_tokens = 24;
    request.sampling.temperature = 0.0;
    let started = Instant::now();
    let chat = runner.backend().chat_named("fast", request).await.ok()?;
    let answered = tokio::time::timeout(TITLE_TIMEOUT, chat.stream.collect()).await;
    let (outcome, answer) = match answered {
        Ok(Ok(answer)) => (EvalOutcome::Success, Some(answer)),
        Ok(Err(_)) => (EvalOutcome::Error, None),
        Err(_) => (EvalOutcome::Timeout, None),
    };
    let stats = answer.as_ref().and_then(|a| a.stats);
    let millis = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
    let evaluation = NewEvaluation {
        model: chat.answerer.model.clone(),
        provider: chat.answerer.provider.clone(),
        agent: None,
        session_id: Some(session),
        message_id: None,
        task_id: None,
        ttft_ms: stats.map(|s| millis(s.time_to_first_token)),
        latency_ms: millis(started.elapsed()),
        prompt_tokens: stats.map_or(0, |s| s.prompt_tokens),
        completion_tokens: stats.map_or(0, |s| s.completion_tokens),
        outcome,
        error: None,
        requested: Some("fast".to_owned()),
        fallback: chat.fallback.clone(),
    };
    if let Err(err) = store.record_evaluation(caller.user_id(), evaluation).await {
        tracing::warn!(%err, "could not record the title call's evaluation");
    }
    clean(&answer?.text)
}

/// The model's answer as a title: first line, no quotes or markup, bounded; `None` if empty.
fn clean(answer: &str) -> Option<String> {
    let line = answer.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line
        .trim_start_matches(|c: char| c == '#' || c == '*' || c.is_whitespace())
        .trim_start_matches("Title:")
        .trim()
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '*' | '`' | '“' | '”'))
        .trim_end_matches('.')
        .trim();
    (!line.is_empty()).then(|| shorten(line))
}

fn fallback(prompt: &str) -> String {
    shorten(prompt.split_whitespace().collect::<Vec<_>>().join(" ").as_str())
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_TITLE_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_TITLE_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::{clean, fallback};

    #[test]
    fn cleans_model_answers() {
        assert_eq!(
            clean("\"Quarterly revenue review.\"\n").as_deref(),
            Some("Quarterly revenue review")
        );
        assert_eq!(
            clean("\n  Title: Missed targets  ").as_deref(),
            Some("Missed targets")
        );
        assert_eq!(clean("** Sales KPIs **").as_deref(), Some("Sales KPIs"));
        assert_eq!(clean(" \n "), None);
    }

    #[test]
    fn falls_back_to_the_prompt_shortened() {
        assert_eq!(
            fallback("  which   departments\nmissed "),
            "which departments missed"
        );
        let long = fallback(&"word ".repeat(100));
        assert!(long.chars().count() <= 80 && long.ends_with('…'));
    }
}
