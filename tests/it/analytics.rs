//! Evaluations (one row per model call), ratings and the analytics built on them, under RLS.

use agentbox::domain::{EvalOutcome, NewEvaluation};
use agentbox::store::Actor;
use serde_json::Value;
use uuid::Uuid;

use crate::support::TestApp;

fn id(user: &Value) -> Uuid {
    user["id"].as_str().unwrap().parse().unwrap()
}

fn evaluation(model: &str, ttft_ms: Option<u32>, latency_ms: u32, completion_tokens: u32) -> NewEvaluation {
    NewEvaluation {
        model: model.to_owned(),
        provider: "local".to_owned(),
        agent: Some("assistant".to_owned()),
        session_id: None,
        message_id: None,
        task_id: None,
        ttft_ms,
        latency_ms,
        prompt_tokens: 12,
        completion_tokens,
        outcome: EvalOutcome::Success,
        error: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_evaluation_stores_the_call_as_its_user() {
    let app = TestApp::start().await;
    let a = id(&app.create_user("a@example.com", "Company A", false).await);
    let b = id(&app.create_user("b@example.com", "Company A", false).await);
    let store = app.store();

    store
        .record_evaluation(a, evaluation("fast", Some(500), 2500, 100))
        .await
        .unwrap();
    let mut failed = evaluation("fast", None, 30_000, 0);
    failed.outcome = EvalOutcome::Timeout;
    failed.error = Some("x".repeat(10_000));
    store.record_evaluation(a, failed).await.unwrap();

    let rows = store
        .query_json_as(
            Actor::User(a),
            "select model, provider, agent, user_id, ttft_ms, latency_ms, prompt_tokens,
                    completion_tokens, tokens_per_second, outcome, length(error) as error_chars
               from llm_evaluations order by latency_ms"
                .to_owned(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["user_id"], a.to_string());
    assert_eq!(rows[0]["agent"], "assistant");
    assert_eq!(rows[0]["ttft_ms"], 500);
    assert_eq!(rows[0]["completion_tokens"], 100);
    // 100 tokens in the 2 s after the first one.
    assert_eq!(rows[0]["tokens_per_second"], 50.0);
    assert_eq!(rows[0]["outcome"], "success");
    assert_eq!(rows[1]["outcome"], "timeout");
    assert_eq!(rows[1]["tokens_per_second"], Value::Null);
    assert_eq!(rows[1]["ttft_ms"], Value::Null);
    assert_eq!(rows[1]["error_chars"], 2000, "long errors are cut");

    // Another member of the same company sees none of them.
    let seen_by_b = store
        .query_json_as(Actor::User(b), "select id from llm_evaluations".to_owned(), 10)
        .await
        .unwrap();
    assert!(seen_by_b.is_empty(), "{seen_by_b:?}");
    app.stop().await;
}
