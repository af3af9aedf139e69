//! Every model call of the compatible APIs becomes an `llm_evaluations` row, like a chat's: the
//! stream is watched as the client reads it, and the row is written when the answer ends, when
//! it fails, or when the client goes away (the stream is dropped: `cancelled`).

use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::domain::{EvalOutcome, Fallback, NewEvaluation};
use crate::engine::EngineError;
use crate::engine::chat::ChatEvent;
use crate::service::inference::{Answerer, RoutedChat};
use crate::store::Store;

/// Watches a routed chat and records it once it ends.
pub(super) fn recorded(
    mut routed: RoutedChat,
    store: Store,
    user_id: Uuid,
    requested: &str,
    started: Instant,
) -> RoutedChat {
    let mut call = Call {
        store,
        user_id,
        answerer: routed.answerer.clone(),
        requested: requested.to_owned(),
        fallback: routed.fallback.clone(),
        started,
        first_token: None,
        recorded: false,
    };
    routed.stream = routed.stream.observed(move |event| call.see(event));
    routed
}

/// Records a call that no model took (the router found none, or the request was refused).
pub(super) fn record_refusal(store: &Store, user_id: Uuid, target: &str, started: Instant, error: String) {
    let call = NewEvaluation {
        model: target.to_owned(),
        provider: "none".to_owned(),
        error: Some(error),
        requested: Some(target.to_owned()),
        ..evaluation(started, None, EvalOutcome::Error)
    };
    spawn_record(store.clone(), user_id, call);
}

struct Call {
    store: Store,
    user_id: Uuid,
    answerer: Answerer,
    requested: String,
    fallback: Option<Fallback>,
    started: Instant,
    first_token: Option<Duration>,
    recorded: bool,
}

impl Call {
    fn see(&mut self, event: &Result<ChatEvent, EngineError>) {
        match event {
            Ok(
                ChatEvent::Text(_)
                | ChatEvent::Reasoning(_)
                | ChatEvent::ToolCallDelta(_)
                | ChatEvent::ToolCall(_),
            ) => {
                self.first_token.get_or_insert_with(|| self.started.elapsed());
            }
            Ok(ChatEvent::Done(stats)) => {
                let mut row = self.row(EvalOutcome::Success, None);
                row.prompt_tokens = stats.prompt_tokens;
                row.completion_tokens = stats.completion_tokens;
                self.record(row);
            }
            Err(err) => {
                let row = self.row(EvalOutcome::Error, Some(err.to_string()));
                self.record(row);
            }
        }
    }

    fn row(&self, outcome: EvalOutcome, error: Option<String>) -> NewEvaluation {
        NewEvaluation {
            model: self.answerer.model.clone(),
            provider: self.answerer.provider.clone(),
            error,
            requested: Some(self.requested.clone()),
            fallback: self.fallback.clone(),
            ..evaluation(self.started, self.first_token, outcome)
        }
    }

    fn record(&mut self, row: NewEvaluation) {
        if !std::mem::replace(&mut self.recorded, true) {
            spawn_record(self.store.clone(), self.user_id, row);
        }
    }
}

impl Drop for Call {
    /// The stream was dropped before it ended: the client went away.
    fn drop(&mut self) {
        if !self.recorded {
            let row = self.row(EvalOutcome::Cancelled, None);
            self.record(row);
        }
    }
}

/// A row with the timings of a call and no tokens yet.
fn evaluation(started: Instant, first_token: Option<Duration>, outcome: EvalOutcome) -> NewEvaluation {
    let millis = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
    NewEvaluation {
        model: String::new(),
        provider: String::new(),
        agent: None,
        session_id: None,
        message_id: None,
        task_id: None,
        ttft_ms: first_token.map(millis),
        latency_ms: millis(started.elapsed()),
        prompt_tokens: 0,
        completion_tokens: 0,
        outcome,
        error: None,
        requested: None,
        fallback: None,
    }
}

/// Writes the row on a task of its own: the stream's reader never waits for the database, and
/// a stream dropped by a closed connection still gets its row.
fn spawn_record(store: Store, user_id: Uuid, row: NewEvaluation) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        if let Err(err) = store.record_evaluation(user_id, row).await {
            tracing::warn!(%err, "could not record the model call's evaluation");
        }
    });
}
