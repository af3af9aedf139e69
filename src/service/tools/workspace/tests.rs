//! The workspace and git tools through the registry, as a caller would reach them: schemas,
//! confinement to the caller's company folder, and what the model reads on a refusal.

use std::time::Duration;

use serde_json::{Value, json};

use crate::domain::{Credential, Identity, Role, User};
use crate::engine::ToolCall;
use crate::service::tools::{ToolContext, ToolError, ToolRegistry};

const NAMES: [&str; 10] = [
    "git_add",
    "git_commit",
    "git_diff",
    "git_init",
    "git_log",
    "git_status",
    "workspace_list",
    "workspace_read",
    "workspace_search",
    "workspace_write",
];

fn registry(base: &std::path::Path) -> ToolRegistry {
    let registry = ToolRegistry::default();
    super::register(&registry, base);
    crate::service::tools::git::register(&registry, base);
    registry
}

fn caller(company: Option<uuid::Uuid>) -> ToolContext {
    ToolContext {
        caller: Identity {
            user: User {
                id: uuid::Uuid::new_v4(),
                email: "dev@example.com".into(),
                display_name: "Dev".into(),
                role: Role::Member,
                company_id: company,
                department_id: None,
                disabled: false,
                created_at: chrono::Utc::now(),
            },
            credential: Credential::ApiKey {
                key_id: uuid::Uuid::nil(),
                scopes: Vec::new(),
            },
        },
        agent: "coder".into(),
    }
}

async fn run(
    registry: &ToolRegistry,
    context: &ToolContext,
    name: &str,
    arguments: Value,
) -> Result<Value, ToolError> {
    let call = ToolCall {
        id: format!("call_{name}"),
        name: name.into(),
        arguments,
    };
    registry
        .call(context, &["*".to_owned()], &call, Duration::from_secs(30))
        .await
}

#[test]
fn schemas_are_closed_bounded_and_become_grammars() {
    let base = tempfile::tempdir().unwrap();
    let registry = registry(base.path());
    assert_eq!(registry.names(), NAMES);
    for spec in registry.specs(&["*".to_owned()]) {
        let parameters = &spec.parameters;
        assert_eq!(parameters["type"], "object", "{}", spec.name);
        assert_eq!(parameters["additionalProperties"], false, "{}", spec.name);
        for (name, property) in parameters["properties"].as_object().unwrap() {
            let bounded = match property["type"].as_str() {
                Some("string") => property.get("maxLength").is_some(),
                Some("integer") => property.get("minimum").is_some(),
                Some("array") => {
                    property.get("maxItems").is_some() && property["items"].get("maxLength").is_some()
                }
                _ => true,
            };
            assert!(bounded, "{}.{name} is unbounded", spec.name);
        }
        assert!(spec.description.len() < 300, "{} description is long", spec.name);
        crate::engine::grammar::json_schema(parameters).unwrap_or_else(|err| panic!("{}: {err}", spec.name));
    }
}

#[tokio::test]
async fn calls_run_in_the_callers_company_folder() {
    let base = tempfile::tempdir().unwrap();
    let registry = registry(base.path());
    let company = uuid::Uuid::new_v4();
    let dev = caller(Some(company));

    let written = run(
        &registry,
        &dev,
        "workspace_write",
        json!({"path": "a/b.txt", "content": "hi\n"}),
    )
    .await
    .unwrap();
    assert_eq!(written, json!({"path": "a/b.txt", "bytes": 3, "created": true}));
    let on_disk = base.path().join(format!("companies/{company}/a/b.txt"));
    assert_eq!(std::fs::read_to_string(on_disk).unwrap(), "hi\n");
    let read = run(&registry, &dev, "workspace_read", json!({"path": "a/b.txt"}))
        .await
        .unwrap();
    assert_eq!(read["text"], "hi\n");
    let found = run(&registry, &dev, "workspace_search", json!({"query": "HI"}))
        .await
        .unwrap();
    assert_eq!(found["matches"], json!(["a/b.txt:1: hi"]));

    // Refusals reach the model as messages, typed by what went wrong.
    let outside = run(
        &registry,
        &dev,
        "workspace_read",
        json!({"path": "../../users/x"}),
    )
    .await;
    assert!(
        matches!(&outside, Err(ToolError::Forbidden(m)) if m.contains("outside your workspace")),
        "{outside:?}"
    );
    let missing = run(&registry, &dev, "workspace_read", json!({"path": "nope.txt"})).await;
    assert!(
        matches!(&missing, Err(ToolError::Failed(m)) if m.contains("does not exist")),
        "{missing:?}"
    );
    let bad = run(
        &registry,
        &dev,
        "workspace_search",
        json!({"query": "(", "regex": true}),
    )
    .await;
    assert!(matches!(&bad, Err(ToolError::InvalidArguments(_))), "{bad:?}");
    let not_repo = run(&registry, &dev, "git_status", json!({})).await;
    assert!(
        matches!(&not_repo, Err(ToolError::Failed(m)) if m.contains("git_init")),
        "{not_repo:?}"
    );

    // A user without a company works alone.
    let loner = caller(None);
    let listing = run(&registry, &loner, "workspace_list", json!({})).await.unwrap();
    assert_eq!(listing["entries"], json!([]));
    assert!(
        base.path()
            .join(format!("users/{}", loner.caller.user.id))
            .is_dir()
    );
}

#[tokio::test]
async fn git_tools_commit_as_the_caller() {
    let base = tempfile::tempdir().unwrap();
    let registry = registry(base.path());
    let dev = caller(Some(uuid::Uuid::new_v4()));
    let init = run(&registry, &dev, "git_init", json!({"repo": "proj"}))
        .await
        .unwrap();
    assert_eq!(init, json!({"repo": "proj", "created": true, "branch": "main"}));
    run(
        &registry,
        &dev,
        "workspace_write",
        json!({"path": "proj/x.md", "content": "x\n"}),
    )
    .await
    .unwrap();
    let status = run(&registry, &dev, "git_status", json!({"repo": "proj"}))
        .await
        .unwrap();
    assert_eq!(
        status["files"],
        json!([{"path": "x.md", "unstaged": "untracked"}])
    );
    let added = run(
        &registry,
        &dev,
        "git_add",
        json!({"repo": "proj", "paths": ["x.md"]}),
    )
    .await
    .unwrap();
    assert_eq!(added["staged"], json!(["x.md"]));
    let commit = run(
        &registry,
        &dev,
        "git_commit",
        json!({"repo": "proj", "message": "Add x"}),
    )
    .await
    .unwrap();
    assert_eq!(commit["committed"]["author"], "Dev <dev@example.com>");
    assert_eq!(commit["branch"], "main");
    let log = run(&registry, &dev, "git_log", json!({"repo": "proj"}))
        .await
        .unwrap();
    assert_eq!(log["commits"][0]["summary"], "Add x");
    let nothing = run(
        &registry,
        &dev,
        "git_commit",
        json!({"repo": "proj", "message": "again"}),
    )
    .await;
    assert!(
        matches!(&nothing, Err(ToolError::Failed(m)) if m.contains("nothing to commit")),
        "{nothing:?}"
    );
    let escape = run(&registry, &dev, "git_status", json!({"repo": ".."})).await;
    assert!(matches!(&escape, Err(ToolError::Forbidden(_))), "{escape:?}");
    let wrong = run(&registry, &dev, "git_log", json!({"message": "x"})).await;
    assert!(
        matches!(&wrong, Err(ToolError::InvalidArguments(m)) if m.contains("unknown field")),
        "{wrong:?}"
    );
}
