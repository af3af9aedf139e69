//! The workspace and git tools through the real platform: a scripted model drives the coder
//! agent, whose tool calls run in the caller's company folder; a user of another company,
//! driving the same tools, sees none of it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::chat::read_events;
use crate::chat::scripted::{MODEL, ScriptedModel, call, text};
use crate::support::{PASSWORD, Session, TestApp};
use agentbox::tools::git::Repo;
use agentbox::tools::workspace::Workspace;

/// Sends `content` to a new coder session and returns the `tool_result` events' data.
async fn coder_turn(user: &Session, content: &str) -> Vec<Value> {
    let response = user.post("/api/v1/sessions", json!({ "agent": "coder" })).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let session: Value = response.json().await.unwrap();
    let events = read_events(
        user.post(
            &format!("/api/v1/sessions/{}/messages", session["id"].as_str().unwrap()),
            json!({ "content": content, "model": MODEL }),
        )
        .await,
    )
    .await;
    let done: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "done")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(done[0]["status"], "complete", "{events:?}");
    events
        .into_iter()
        .filter(|(name, _)| name == "tool_result")
        .map(|(_, data)| data)
        .collect()
}

fn error_of(result: &Value) -> &str {
    assert_eq!(result["error"], true, "{result}");
    result["result"]["error"].as_str().unwrap()
}

#[tokio::test]
async fn the_coder_commits_in_its_company_folder_and_other_companies_see_nothing() {
    let model = ScriptedModel::start(vec![
        // Dev, of Acme: a repository, a file, staged and committed.
        call("git_init", json!({})),
        call(
            "workspace_write",
            json!({ "path": "src/hello.rs", "content": "fn main() {}\n" }),
        ),
        call("git_add", json!({ "paths": ["."] })),
        call("git_commit", json!({ "message": "Add hello" })),
        text("Committed."),
        // Eve, of another company, looks for it.
        call("workspace_read", json!({ "path": "src/hello.rs" })),
        call("workspace_list", json!({ "recursive": true })),
        call("workspace_search", json!({ "query": "fn main" })),
        call("git_log", json!({})),
        call("workspace_list", json!({ "path": "../.." })),
        text("Nothing there."),
    ])
    .await;
    let app = TestApp::start().await;
    let admin = app.setup_admin().await;
    model.register(&admin).await;
    let dev_user = app.create_user("dev@acme.example", "Acme", false).await;
    app.create_user("eve@other.example", "Other", false).await;
    let dev = app.login("dev@acme.example", PASSWORD).await;
    let eve = app.login("eve@other.example", PASSWORD).await;

    let results = coder_turn(&dev, "Add a hello program and commit it.").await;
    let names: Vec<&str> = results.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["git_init", "workspace_write", "git_add", "git_commit"]);
    for result in &results {
        assert_eq!(result["error"], false, "{result}");
    }
    assert_eq!(results[2]["result"]["staged"], json!(["src/hello.rs"]));
    assert_eq!(
        results[3]["result"]["committed"]["author"],
        "dev <dev@acme.example>"
    );

    // The file and the commit are in Acme's folder of the workspace.
    let acme = app
        .data_dir
        .join("workspace/companies")
        .join(dev_user["company_id"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(acme.join("src/hello.rs")).unwrap(),
        "fn main() {}\n"
    );
    let workspace = Workspace::open(&acme).unwrap();
    let log = Repo::open(&workspace, None).unwrap().log(5, None).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].summary.as_str(), log[0].author.as_str()),
        ("Add hello", "dev <dev@acme.example>")
    );

    let results = coder_turn(&eve, "Show me the hello program.").await;
    assert_eq!(results.len(), 5, "{results:?}");
    assert!(error_of(&results[0]).contains("does not exist"), "{}", results[0]);
    assert_eq!(results[1]["result"]["entries"], json!([]));
    assert_eq!(results[2]["result"]["matches"], json!([]));
    assert!(
        error_of(&results[3]).contains("not a git repository"),
        "{}",
        results[3]
    );
    let escape = error_of(&results[4]);
    assert!(escape.contains("outside your workspace"), "{escape}");
    // Nothing of the server's folders leaks into what the model reads.
    let data_dir = app.data_dir.display().to_string();
    for result in &results {
        assert!(!result.to_string().contains(&data_dir), "{result}");
    }
    app.stop().await;
}
