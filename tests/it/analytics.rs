//! Evaluations (one row per model call), ratings and the analytics built on them, under RLS.

use agentbox::domain::{EvalOutcome, NewEvaluation};
use agentbox::store::Actor;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::support::{PASSWORD, Session, TestApp, error_code};

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
        requested: None,
        fallback: None,
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

/// A chat turn stored the way the chat loop stores it: a session, the user's prompt and the
/// assistant's answer. Returns the answer's id.
pub async fn stored_answer(app: &TestApp, user: Uuid, agent: &str, model: &str) -> Uuid {
    let (session, answer) = (Uuid::new_v4(), Uuid::new_v4());
    app.store()
        .execute_as(
            Actor::System,
            format!(
                "insert into sessions (id, user_id, agent) values ('{session}', '{user}', '{agent}');
                 insert into messages (session_id, user_id, role, content)
                      values ('{session}', '{user}', 'user', 'a question');
                 insert into messages (id, session_id, user_id, role, content, agent, model)
                      values ('{answer}', '{session}', '{user}', 'assistant', 'an answer', '{agent}', '{model}');"
            ),
        )
        .await
        .unwrap();
    answer
}

async fn rate(app: &TestApp, message: Uuid, rating: i16) {
    app.store()
        .execute_as(
            Actor::System,
            format!("update messages set rating = {rating}, rated_at = now() where id = '{message}'"),
        )
        .await
        .unwrap();
}

/// One call of `user` that produced `message`, with the given timings.
async fn call(
    app: &TestApp,
    user: Uuid,
    model: &str,
    agent: &str,
    timing: (Option<u32>, u32),
    message: Option<Uuid>,
) {
    let mut evaluation = evaluation(model, timing.0, timing.1, 10);
    evaluation.agent = Some(agent.to_owned());
    evaluation.prompt_tokens = 5;
    evaluation.message_id = message;
    app.store().record_evaluation(user, evaluation).await.unwrap();
}

/// GET `path` as `session` and read the JSON body.
async fn json_of(session: &Session, path: &str) -> Value {
    let response = session.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

fn rows_by_key(report: &Value) -> std::collections::HashMap<String, Value> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["key"].as_str().unwrap_or("-").to_owned(), row.clone()))
        .collect()
}

fn close(actual: &Value, expected: f64) -> bool {
    actual
        .as_f64()
        .is_some_and(|value| (value - expected).abs() < 1e-6)
}

/// The people of the usage tests: a member and the admin of company A, a member and the admin
/// of company B.
struct People {
    member_a: Uuid,
    admin_a: Uuid,
    member_b: Uuid,
}

/// The member of A made four `fast` calls (one failed) and rated three of the answers; A's admin
/// made one `reasoning` call two days ago and rated it down; B's member made one `fast` call.
async fn usage_fixture(app: &TestApp) -> People {
    let member_a = id(&app.create_user("member-a@example.com", "Company A", false).await);
    let admin_a = id(&app.create_user("admin-a@example.com", "Company A", true).await);
    let member_b = id(&app.create_user("member-b@example.com", "Company B", false).await);
    app.create_user("admin-b@example.com", "Company B", true).await;

    let timings = [(Some(10), 100), (Some(20), 200), (Some(30), 300), (None, 400)];
    for (index, timing) in timings.into_iter().enumerate() {
        let answer = stored_answer(app, member_a, "assistant", "fast").await;
        match index {
            0 | 2 => rate(app, answer, 1).await,
            1 => rate(app, answer, -1).await,
            _ => {}
        }
        call(app, member_a, "fast", "assistant", timing, Some(answer)).await;
    }
    // The last call failed (it still counts as a request).
    app.store()
        .execute_as(
            Actor::System,
            "update llm_evaluations set outcome = 'error', error = 'boom' where latency_ms = 400".to_owned(),
        )
        .await
        .unwrap();
    let answer = stored_answer(app, admin_a, "analyst", "reasoning").await;
    rate(app, answer, -1).await;
    call(
        app,
        admin_a,
        "reasoning",
        "analyst",
        (Some(100), 1000),
        Some(answer),
    )
    .await;
    app.store()
        .execute_as(
            Actor::System,
            format!("update llm_evaluations set created_at = now() - interval '2 days' where user_id = '{admin_a}'"),
        )
        .await
        .unwrap();
    call(app, member_b, "fast", "assistant", (Some(50), 5000), None).await;

    People {
        member_a,
        admin_a,
        member_b,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sees_the_company_usage_per_model() {
    let app = TestApp::start().await;
    usage_fixture(&app).await;
    let admin = app.login("admin-a@example.com", PASSWORD).await;

    // The admin of A: the company's calls, none of B's.
    let report = json_of(&admin, "/api/v1/analytics/usage?group_by=model").await;
    assert_eq!(report["group_by"], "model");
    let today = chrono::Utc::now().date_naive();
    assert_eq!(report["to"], today.to_string());
    assert_eq!(report["from"], (today - chrono::Days::new(29)).to_string());
    assert_eq!(report["rows"][0]["key"], "fast", "busiest first: {report}");
    let rows = rows_by_key(&report);
    assert_eq!(rows.len(), 2, "{report}");
    let fast = &rows["fast"];
    assert_eq!(fast["requests"], 4, "B's call is not counted: {fast}");
    assert_eq!(fast["errors"], 1);
    assert_eq!(fast["prompt_tokens"], 20);
    assert_eq!(fast["completion_tokens"], 40);
    // percentile_cont over 100, 200, 300, 400 ms; TTFT over 10, 20, 30 (no first token: skipped).
    assert!(close(&fast["latency_ms_p50"], 250.0), "{fast}");
    assert!(close(&fast["latency_ms_p95"], 385.0), "{fast}");
    assert!(close(&fast["ttft_ms_p50"], 20.0), "{fast}");
    assert!(close(&fast["ttft_ms_p95"], 29.0), "{fast}");
    // 10 tokens in the time after the first token: 90, 180, 270 ms, and 400 ms without one.
    let speeds = [
        10_000.0 / 90.0,
        10_000.0 / 180.0,
        10_000.0 / 270.0,
        10_000.0 / 400.0,
    ];
    assert!(
        close(&fast["avg_tokens_per_second"], speeds.iter().sum::<f64>() / 4.0),
        "{fast}"
    );
    assert_eq!(
        (fast["ratings_up"].as_i64(), fast["ratings_down"].as_i64()),
        (Some(2), Some(1))
    );
    assert!(close(&fast["rating_ratio"], 2.0 / 3.0), "{fast}");
    let reasoning = &rows["reasoning"];
    assert_eq!(reasoning["requests"], 1);
    assert!(close(&reasoning["latency_ms_p95"], 1000.0));
    assert_eq!(reasoning["ratings_down"], 1);
    assert!(close(&reasoning["rating_ratio"], 0.0));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sees_the_company_usage_per_user_agent_and_day() {
    let app = TestApp::start().await;
    let People {
        member_a, admin_a, ..
    } = usage_fixture(&app).await;
    let admin = app.login("admin-a@example.com", PASSWORD).await;
    let today = chrono::Utc::now().date_naive();

    let by_user = rows_by_key(&json_of(&admin, "/api/v1/analytics/usage?group_by=user").await);
    assert_eq!(by_user.len(), 2);
    assert_eq!(by_user[&member_a.to_string()]["label"], "member-a@example.com");
    assert_eq!(by_user[&member_a.to_string()]["requests"], 4);
    assert_eq!(by_user[&admin_a.to_string()]["requests"], 1);

    let by_agent = rows_by_key(&json_of(&admin, "/api/v1/analytics/usage?group_by=agent").await);
    assert_eq!(by_agent["assistant"]["requests"], 4);
    assert_eq!(by_agent["analyst"]["requests"], 1);
    assert_eq!(by_agent["analyst"]["ratings_down"], 1);

    let by_day: Value = json_of(&admin, "/api/v1/analytics/usage?group_by=day").await;
    let days: Vec<&str> = by_day["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["key"].as_str().unwrap())
        .collect();
    let two_days_ago = (today - chrono::Days::new(2)).to_string();
    assert_eq!(
        days,
        [two_days_ago.as_str(), today.to_string().as_str()],
        "in date order"
    );

    // A window of today only leaves the admin's older call out.
    let only_today = rows_by_key(
        &json_of(
            &admin,
            &format!("/api/v1/analytics/usage?group_by=model&from={today}&to={today}"),
        )
        .await,
    );
    assert_eq!(only_today.keys().collect::<Vec<_>>(), ["fast"]);

    let summary: Value = json_of(&admin, "/api/v1/analytics/summary").await;
    assert_eq!(summary["requests"], 5, "{summary}");
    assert_eq!(summary["users"], 2);
    assert_eq!(summary["errors"], 1);
    assert_eq!(summary["completion_tokens"], 50);
    assert_eq!(
        (summary["ratings_up"].as_i64(), summary["ratings_down"].as_i64()),
        (Some(2), Some(2))
    );
    assert!(close(&summary["rating_ratio"], 0.5), "{summary}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_see_their_own_usage_and_companies_stay_apart() {
    let app = TestApp::start().await;
    let People {
        member_a,
        admin_a,
        member_b,
    } = usage_fixture(&app).await;
    let member = app.login("member-a@example.com", PASSWORD).await;
    let other = app.login("member-b@example.com", PASSWORD).await;
    let other_admin = app.login("admin-b@example.com", PASSWORD).await;

    // The member of A: their own calls and ratings only.
    let rows = rows_by_key(&json_of(&member, "/api/v1/analytics/usage?group_by=model").await);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["fast"]);
    assert_eq!(rows["fast"]["requests"], 4);
    assert_eq!(rows["fast"]["ratings_up"], 2);
    let summary: Value = json_of(&member, "/api/v1/analytics/summary").await;
    assert_eq!(
        (summary["requests"].as_i64(), summary["users"].as_i64()),
        (Some(4), Some(1))
    );

    // Company B sees only B's call, its admin too; nothing of A's crosses over.
    for session in [&other, &other_admin] {
        let summary: Value = json_of(session, "/api/v1/analytics/summary").await;
        assert_eq!(summary["requests"], 1, "{summary}");
        assert_eq!(summary["ratings_up"], 0);
        assert_eq!(summary["rating_ratio"], Value::Null);
        let rows = rows_by_key(&json_of(session, "/api/v1/analytics/usage?group_by=user").await);
        assert_eq!(rows.keys().collect::<Vec<_>>(), [member_b.to_string().as_str()]);
    }

    // The ratings view shows ratings, never the text, and follows the same rule.
    let store = app.store();
    let count = |actor: Uuid| async move {
        store
            .query_json_as(
                Actor::User(actor),
                "select * from message_ratings".to_owned(),
                100,
            )
            .await
            .unwrap()
    };
    let seen_by_admin = count(admin_a).await;
    assert_eq!(seen_by_admin.len(), 4, "{seen_by_admin:?}");
    assert!(seen_by_admin[0].get("content").is_none());
    assert_eq!(count(member_a).await.len(), 3);
    assert!(count(member_b).await.is_empty());
    // ... while the messages themselves stay private to their author.
    let messages = store
        .query_json_as(
            Actor::User(admin_a),
            format!("select id from messages where user_id = '{member_a}'"),
            100,
        )
        .await
        .unwrap();
    assert!(messages.is_empty(), "{messages:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_window_has_zero_totals() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    let summary: Value = json_of(&admin, "/api/v1/analytics/summary").await;
    assert_eq!(summary["requests"], 0, "{summary}");
    assert_eq!(summary["users"], 0);
    assert_eq!(summary["latency_ms_p50"], Value::Null);
    assert_eq!(summary["rating_ratio"], Value::Null);
    let report: Value = json_of(&admin, "/api/v1/analytics/usage?group_by=day").await;
    assert_eq!(report["rows"], serde_json::json!([]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_analytics_queries_are_4xx() {
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    for (query, status, code) in [
        (
            "/api/v1/analytics/usage?group_by=week",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/api/v1/analytics/usage?from=2026-13-01",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/api/v1/analytics/usage?from=yesterday",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/api/v1/analytics/usage?colour=red",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/api/v1/analytics/usage?from=2026-03-02&to=2026-03-01",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            "/api/v1/analytics/summary?from=2024-01-01&to=2025-01-01",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
    ] {
        let (actual_status, actual_code) = error_code(admin.get(query).await).await;
        assert_eq!((actual_status, actual_code.as_str()), (status, code), "{query}");
    }
    // A full (leap) year is allowed.
    let response = admin
        .get("/api/v1/analytics/summary?from=2024-01-01&to=2024-12-31")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .client()
        .get(app.url("/api/v1/analytics/summary"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::UNAUTHORIZED, "unauthenticated".to_owned())
    );
    app.stop().await;
}
