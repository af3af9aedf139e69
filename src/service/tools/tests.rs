use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolError, ToolRegistry, is_allowed, schema};
use crate::domain::{Credential, Identity, Role, User};
use crate::engine::ToolCall;
use crate::engine::grammar::ToolSpec;

struct Echo;

impl Tool for Echo {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "echo".into(),
            description: "Repeats its text.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "text": { "type": "string", "maxLength": 50_000 },
                    "times": { "type": "integer", "minimum": 1, "maximum": 3 },
                },
                "required": ["text"],
                "additionalProperties": false,
            }),
        }
    }

    fn call<'a>(&'a self, _: &'a ToolContext, arguments: Value) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            let times = arguments["times"].as_u64().unwrap_or(1);
            let text = arguments["text"].as_str().unwrap_or_default();
            Ok(json!(text.repeat(usize::try_from(times).unwrap_or(1))))
        }
        .boxed()
    }
}

struct Sleeper;

impl Tool for Sleeper {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "slow.sleep".into(),
            description: "Never answers in time.".into(),
            parameters: json!({ "type": "object" }),
        }
    }

    fn call<'a>(&'a self, _: &'a ToolContext, _: Value) -> BoxFuture<'a, Result<Value, ToolError>> {
        async move {
            tokio::time::sleep(Duration::from_hours(1)).await;
            Ok(Value::Null)
        }
        .boxed()
    }
}

fn context() -> ToolContext {
    ToolContext {
        caller: Identity {
            user: User {
                id: uuid::Uuid::nil(),
                email: "a@example.com".into(),
                display_name: String::new(),
                role: Role::Member,
                company_id: None,
                department_id: None,
                disabled: false,
                created_at: chrono::Utc::now(),
            },
            credential: Credential::ApiKey {
                key_id: uuid::Uuid::nil(),
                scopes: Vec::new(),
            },
        },
        agent: "test".into(),
    }
}

fn registry() -> ToolRegistry {
    let registry = ToolRegistry::default();
    registry.register(Arc::new(Echo));
    registry.register(Arc::new(Sleeper));
    registry
}

fn call(name: &str, arguments: Value) -> ToolCall {
    ToolCall {
        id: "call_1".into(),
        name: name.into(),
        arguments,
    }
}

fn all() -> Vec<String> {
    vec!["*".into()]
}

#[tokio::test]
async fn runs_a_valid_call() {
    let result = registry()
        .call(
            &context(),
            &all(),
            &call("echo", json!({"text": "ab", "times": 2})),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(result, Ok(json!("abab")));
}

#[tokio::test]
async fn refuses_arguments_that_break_the_schema() {
    let registry = registry();
    let cases = [
        (json!({}), "missing the required field `text`"),
        (json!({"text": 5}), "arguments.text must be string, not a number"),
        (
            json!({"text": "a", "times": 9}),
            "arguments.times must be at most 3",
        ),
        (
            json!({"text": "a", "times": 1.5}),
            "arguments.times must be integer",
        ),
        (json!({"text": "a", "rm": true}), "unknown field `rm`"),
        (json!("text"), "arguments must be object"),
    ];
    for (arguments, expected) in cases {
        let err = registry
            .call(
                &context(),
                &all(),
                &call("echo", arguments.clone()),
                Duration::from_secs(5),
            )
            .await
            .unwrap_err();
        let ToolError::InvalidArguments(message) = &err else {
            panic!("{arguments}: {err:?}");
        };
        assert!(message.contains(expected), "{arguments}: {message}");
    }
}

#[tokio::test]
async fn enforces_the_allow_list_and_names_unknown_tools() {
    let registry = registry();
    let only_echo = vec!["echo".to_owned()];
    let err = registry
        .call(
            &context(),
            &only_echo,
            &call("slow.sleep", json!({})),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(err, Err(ToolError::NotAllowed("slow.sleep".into())));
    let err = registry
        .call(
            &context(),
            &all(),
            &call("rm_rf", json!({})),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(err, Err(ToolError::Unknown("rm_rf".into())));
    assert_eq!(registry.specs(&only_echo).len(), 1);
    assert_eq!(registry.specs(&["slow.*".to_owned()])[0].name, "slow.sleep");
    assert!(registry.specs(&[]).is_empty());
}

#[tokio::test]
async fn times_out_a_hanging_tool() {
    let err = registry()
        .call(
            &context(),
            &all(),
            &call("slow.sleep", json!({})),
            Duration::from_millis(50),
        )
        .await;
    assert_eq!(err, Err(ToolError::Timeout(Duration::from_millis(50))));
}

#[tokio::test]
async fn cuts_huge_results() {
    let result = registry()
        .call(
            &context(),
            &all(),
            &call("echo", json!({"text": "x".repeat(10_000), "times": 3})),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let text = result.as_str().unwrap();
    assert!(text.len() < super::MAX_RESULT_CHARS + 200, "{}", text.len());
    assert!(text.ends_with("ask for less]"));
}

#[test]
fn allow_lists_match_names_and_prefixes() {
    let allowed = vec!["list_kpis".to_owned(), "git.*".to_owned()];
    assert!(is_allowed(&allowed, "list_kpis"));
    assert!(is_allowed(&allowed, "git.status"));
    assert!(!is_allowed(&allowed, "list_kpis_all"));
    assert!(!is_allowed(&allowed, "gitx"));
}

#[test]
fn dates_and_enums_are_checked() {
    let schema = json!({
        "type": "object",
        "properties": {
            "from": { "type": "string", "format": "date" },
            "by": { "enum": ["month", "quarter"] },
        },
    });
    assert!(schema::validate(&schema, &json!({"from": "2026-01-01", "by": "month"})).is_ok());
    assert!(
        schema::validate(&schema, &json!({"from": "January"}))
            .unwrap_err()
            .contains("date")
    );
    assert!(
        schema::validate(&schema, &json!({"by": "year"}))
            .unwrap_err()
            .contains("one of")
    );
}
