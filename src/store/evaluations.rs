//! `llm_evaluations`: one row per model call, written as the caller so RLS applies (the insert
//! policy only admits rows of the caller's own user id).

use futures::FutureExt;
use uuid::Uuid;

use super::{Actor, Store, StoreError};
use crate::domain::NewEvaluation;

/// Longest error text kept with an evaluation: enough to tell failures apart, bounded so a
/// provider that answers with a page of HTML cannot bloat the analytics table.
const MAX_ERROR_CHARS: usize = 2000;

impl Store {
    /// Records one model call of `user_id`. Tokens per second are derived here from the
    /// completion tokens and the time after the first token (see
    /// [`NewEvaluation::tokens_per_second`]).
    pub async fn record_evaluation(
        &self,
        user_id: Uuid,
        evaluation: NewEvaluation,
    ) -> Result<(), StoreError> {
        let tokens_per_second = evaluation.tokens_per_second();
        let error = evaluation
            .error
            .map(|text| text.chars().take(MAX_ERROR_CHARS).collect::<String>());
        self.run_as(Actor::User(user_id), move |conn| {
            async move {
                sqlx::query(
                    "insert into public.llm_evaluations
                        (model, provider, agent, user_id, session_id, message_id, task_id, ttft_ms,
                         latency_ms, prompt_tokens, completion_tokens, tokens_per_second, outcome, error,
                         requested, in_place_of, fallback_reason)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                )
                .bind(&evaluation.model)
                .bind(&evaluation.provider)
                .bind(&evaluation.agent)
                .bind(user_id)
                .bind(evaluation.session_id)
                .bind(evaluation.message_id)
                .bind(evaluation.task_id)
                .bind(evaluation.ttft_ms.map(clamp_i32))
                .bind(clamp_i32(evaluation.latency_ms))
                .bind(clamp_i32(evaluation.prompt_tokens))
                .bind(clamp_i32(evaluation.completion_tokens))
                .bind(tokens_per_second)
                .bind(evaluation.outcome.as_str())
                .bind(&error)
                .bind(&evaluation.requested)
                .bind(
                    evaluation
                        .fallback
                        .as_ref()
                        .and_then(|f| f.in_place_of.as_deref()),
                )
                .bind(evaluation.fallback.as_ref().map(|f| f.reason.as_str()))
                .execute(conn)
                .await?;
                Ok(())
            }
            .boxed()
        })
        .await
    }
}

/// The columns are `integer`: a count beyond it (never seen in practice) is stored as the
/// largest one rather than failing the insert.
fn clamp_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
