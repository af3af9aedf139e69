use super::*;

fn event(name: &str, data: &Value) -> SseEvent {
    SseEvent {
        event: Some(name.to_owned()),
        data: data.to_string(),
    }
}

fn transcript(events: &[SseEvent]) -> Transcript {
    let mut transcript = Transcript::default();
    for event in events {
        transcript.apply(event);
    }
    transcript
}

#[test]
fn a_turn_with_a_tool_call_folds_into_the_final_answer() {
    let reply = transcript(&[
        event("token", &json!({ "text": "Let me look." })),
        event(
            "tool_call",
            &json!({ "id": "c1", "name": "list_kpis", "arguments": {} }),
        ),
        event(
            "message",
            &json!({ "id": "m1", "role": "assistant", "content": "Let me look.", "status": "complete" }),
        ),
        event(
            "tool_result",
            &json!({ "id": "c1", "name": "list_kpis", "result": "[]", "error": false }),
        ),
        event("message", &json!({ "id": "m2", "role": "tool", "content": "[]" })),
        event("token", &json!({ "text": "There are " })),
        event("token", &json!({ "text": "no KPIs." })),
        event(
            "message",
            &json!({ "id": "m3", "role": "assistant", "content": "There are no KPIs.", "status": "complete" }),
        ),
        event(
            "done",
            &json!({
                "message_id": "m3", "status": "complete", "model": "fast", "agent": "analyst",
                "prompt_tokens": 120, "completion_tokens": 9, "ttft_ms": 80, "latency_ms": 950
            }),
        ),
    ])
    .finish(2000);
    assert_eq!(reply.answer.text, "There are no KPIs.");
    assert_eq!(reply.answer.tools_called, vec!["list_kpis".to_owned()]);
    assert_eq!(reply.model.as_deref(), Some("fast"));
    assert_eq!(
        (reply.prompt_tokens, reply.completion_tokens, reply.latency_ms),
        (Some(120), Some(9), Some(950))
    );
    assert_eq!(reply.error, None);
}

#[test]
fn without_stored_messages_the_streamed_text_is_the_answer() {
    let reply = transcript(&[
        event("token", &json!({ "text": "po" })),
        event("token", &json!({ "text": "ng" })),
        event("done", &json!({ "status": "complete" })),
    ])
    .finish(42);
    assert_eq!(reply.answer.text, "pong");
    assert_eq!(reply.latency_ms, Some(42), "the client's own time stands in");
}

#[test]
fn errors_and_unfinished_answers_are_reported() {
    let reply = transcript(&[
        event("token", &json!({ "text": "partial" })),
        event(
            "error",
            &json!({ "code": "model_unavailable", "message": "no model" }),
        ),
        event("done", &json!({ "status": "error" })),
    ])
    .finish(5);
    assert_eq!(reply.error.as_deref(), Some("model_unavailable: no model"));

    let reply = transcript(&[event("done", &json!({ "status": "interrupted" }))]).finish(5);
    assert_eq!(
        reply.error.as_deref(),
        Some("the answer ended with status `interrupted`")
    );

    let reply = transcript(&[event("token", &json!({ "text": "cut" }))]).finish(5);
    assert!(reply.error.unwrap().contains("without a `done` event"));
}

#[test]
fn unknown_and_malformed_events_are_skipped() {
    let mut events = vec![
        event("progress", &json!({ "step": 1 })),
        SseEvent {
            event: Some("token".to_owned()),
            data: "not json".to_owned(),
        },
        event("token", &json!({ "text": "ok" })),
    ];
    events.push(event("done", &json!({ "status": "complete" })));
    let reply = transcript(&events).finish(1);
    assert_eq!(reply.answer.text, "ok");
    assert_eq!(reply.error, None);
}

#[test]
fn bad_urls_are_refused_and_paths_join_the_base() {
    assert!(EvalClient::new("not a url", "k".into(), Duration::from_secs(1)).is_err());
    assert!(EvalClient::new("ftp://127.0.0.1", "k".into(), Duration::from_secs(1)).is_err());
    let client = EvalClient::new("https://127.0.0.1:8443/base/", "k".into(), Duration::from_secs(1)).unwrap();
    assert_eq!(
        client.url("/api/v1/evals").as_str(),
        "https://127.0.0.1:8443/base/api/v1/evals"
    );
}
