//! External MCP servers as agent tools: the official filesystem (npm) and git (`PyPI`) servers
//! over stdio from `[[mcp.servers]]`, a Python SDK server that sleeps and crashes, and an HTTP
//! server added through the admin API (the platform's own `/mcp`, with a bearer token).

use std::path::Path;
use std::time::{Duration, Instant};

use agentbox::engine::ToolCall;
use agentbox::service::tools::{ToolContext, ToolError};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{median_ms, plain_app, tools_dir, wait_for};
use crate::support::{PASSWORD, Session, TestApp, error_code};

fn servers_env(servers: &Value) -> Vec<(String, String)> {
    vec![("AGENTBOX_MCP_SERVERS".into(), servers.to_string())]
}

/// The server's view once it is connected (at most 60 s: npx-free, but node and Python start).
async fn connected(admin: &Session, name: &str) -> Value {
    wait_for(Duration::from_mins(1), &format!("{name} to connect"), || async {
        let view: Value = admin
            .get(&format!("/api/v1/mcp/servers/{name}"))
            .await
            .json()
            .await
            .ok()?;
        (view["status"]["state"] == "connected").then_some(view)
    })
    .await
}

async fn admin_context(app: &TestApp, admin: &Session) -> ToolContext {
    let key = admin.api_key("tools", &["read", "write"]).await;
    let caller = app
        .services()
        .auth
        .authenticate_api_key(&key)
        .await
        .unwrap()
        .unwrap();
    ToolContext {
        caller,
        agent: "test".into(),
    }
}

async fn call(
    app: &TestApp,
    context: &ToolContext,
    allowed: &[&str],
    name: &str,
    arguments: Value,
) -> Result<Value, ToolError> {
    let allowed: Vec<String> = allowed.iter().map(|entry| (*entry).to_owned()).collect();
    let call = ToolCall {
        id: "t".into(),
        name: name.into(),
        arguments,
    };
    app.services()
        .tools
        .call(context, &allowed, &call, Duration::from_mins(1))
        .await
}

fn git(repo: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[tokio::test]
async fn the_official_filesystem_and_git_servers_become_agent_tools() {
    let tools = tools_dir();
    let scratch = tempfile::tempdir().unwrap();
    let files = scratch.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("notes.txt"), "the quarterly plan").unwrap();
    let repo = scratch.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("README.md"), "hello").unwrap();

    let servers = json!([
        { "name": "files", "command": tools.join("node_modules/.bin/mcp-server-filesystem"), "args": [files] },
        { "name": "git", "command": tools.join("venv/bin/mcp-server-git"), "args": ["--repository", repo] },
    ]);
    let app = plain_app(false, servers_env(&servers)).await;
    let admin = app.setup_admin().await;
    for name in ["files", "git"] {
        let view = connected(&admin, name).await;
        eprintln!(
            "external server `{name}`: spawn + initialize + tools/list {} ms",
            view["status"]["connect_ms"]
        );
        assert_eq!(view["source"], "config");
        assert_eq!(view["transport"], "stdio");
    }
    let listed: Value = admin.get("/api/v1/mcp/servers").await.json().await.unwrap();
    let tool_names = listed.to_string();
    assert!(
        tool_names.contains("files__read_text_file") && tool_names.contains("git__git_status"),
        "{listed}"
    );

    let context = admin_context(&app, &admin).await;
    let path = files.join("notes.txt").display().to_string();
    let mut samples = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let text = call(
            &app,
            &context,
            &["files__*"],
            "files__read_text_file",
            json!({ "path": path }),
        )
        .await
        .unwrap();
        samples.push(started.elapsed());
        assert!(text.to_string().contains("the quarterly plan"), "{text}");
    }
    eprintln!(
        "external stdio server: median tool call {:.2} ms",
        median_ms(samples)
    );
    let status = call(
        &app,
        &context,
        &["git__*"],
        "git__git_status",
        json!({ "repo_path": repo }),
    )
    .await
    .unwrap();
    assert!(status.to_string().contains("README.md"), "{status}");

    // The allow-list decides: an agent with only the files tools cannot reach git.
    let refused = call(
        &app,
        &context,
        &["files__*"],
        "git__git_status",
        json!({ "repo_path": repo }),
    )
    .await;
    assert_eq!(refused, Err(ToolError::NotAllowed("git__git_status".into())));
    // The server's own errors come back as the tool's error.
    let outside = call(
        &app,
        &context,
        &["files__*"],
        "files__read_text_file",
        json!({ "path": "/etc/passwd" }),
    )
    .await;
    assert!(
        matches!(&outside, Err(ToolError::Failed(message)) if message.contains("denied") || message.contains("outside")),
        "{outside:?}"
    );

    // Configured servers change in the file only.
    let response = admin
        .request(reqwest::Method::DELETE, "/api/v1/mcp/servers/files")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::CONFLICT, "mcp_server_configured".into())
    );
    app.stop().await;
}

#[tokio::test]
async fn a_crashed_stdio_server_is_restarted_and_a_slow_call_times_out() {
    let tools = tools_dir();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/sleepy_server.py");
    let servers = json!([{ "name": "sleepy", "command": tools.join("venv/bin/python"), "args": [script] }]);
    let mut env = servers_env(&servers);
    env.push(("AGENTBOX_MCP_CALL_TIMEOUT_SECS".into(), "2".into()));
    let app = plain_app(false, env).await;
    let admin = app.setup_admin().await;
    connected(&admin, "sleepy").await;
    let context = admin_context(&app, &admin).await;

    let started = Instant::now();
    let slow = call(
        &app,
        &context,
        &["sleepy__*"],
        "sleepy__sleep",
        json!({ "seconds": 30 }),
    )
    .await;
    assert_eq!(slow, Err(ToolError::Timeout(Duration::from_secs(2))));
    assert!(started.elapsed() < Duration::from_secs(10), "the deadline held");

    let crashed = call(&app, &context, &["sleepy__*"], "sleepy__crash", json!({})).await;
    assert!(matches!(crashed, Err(ToolError::Failed(_))), "{crashed:?}");
    let view = wait_for(Duration::from_mins(1), "the restart", || async {
        let view: Value = admin.get("/api/v1/mcp/servers/sleepy").await.json().await.ok()?;
        (view["status"]["state"] == "connected" && view["status"]["restarts"].as_u64() >= Some(1))
            .then_some(view)
    })
    .await;
    assert!(view["status"]["last_error"].is_null(), "{view}");
    let echoed = call(
        &app,
        &context,
        &["sleepy__*"],
        "sleepy__echo",
        json!({ "text": "back" }),
    )
    .await
    .unwrap();
    assert!(echoed.to_string().contains("back"), "{echoed}");

    // An admin's restart gives a fresh process too.
    let response = admin.post("/api/v1/mcp/servers/sleepy/restart", json!({})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    wait_for(Duration::from_mins(1), "the admin's restart", || async {
        let view: Value = admin.get("/api/v1/mcp/servers/sleepy").await.json().await.ok()?;
        (view["status"]["state"] == "connected" && view["status"]["restarts"].as_u64() >= Some(2))
            .then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn http_servers_added_through_the_admin_api_connect_with_their_token() {
    let app = plain_app(true, Vec::new()).await;
    let admin = app.setup_admin().await;
    let key = admin.api_key("loopback", &["read"]).await;
    let created = admin
        .post(
            "/api/v1/mcp/servers",
            json!({ "name": "self", "url": app.url("/mcp"), "bearer_token": key, "headers": { "X-Trace": "tests" } }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let body = created.text().await.unwrap();
    assert!(
        !body.contains(&key) && !body.contains("\"tests\""),
        "secrets never come back: {body}"
    );

    let view = connected(&admin, "self").await;
    eprintln!(
        "external HTTP server: connect + initialize + tools/list {} ms",
        view["status"]["connect_ms"]
    );
    assert_eq!(view["has_bearer_token"], true);
    assert_eq!(view["headers"], json!(["X-Trace"]));
    assert!(view.to_string().contains("self__list_kpis"), "{view}");
    let context = admin_context(&app, &admin).await;
    let mut samples = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let agents = call(&app, &context, &["self__*"], "self__list_agents", json!({}))
            .await
            .unwrap();
        samples.push(started.elapsed());
        assert!(agents.to_string().contains("analyst"), "{agents}");
    }
    eprintln!(
        "external HTTP server: median tool call {:.2} ms",
        median_ms(samples)
    );

    // A server that cannot be reached fails with a reason, and keeps being retried.
    let gone = admin
        .post(
            "/api/v1/mcp/servers",
            json!({ "name": "gone", "url": "http://127.0.0.1:9/mcp" }),
        )
        .await;
    assert_eq!(gone.status(), StatusCode::CREATED);
    let failed = wait_for(
        Duration::from_mins(1),
        "the unreachable server to fail",
        || async {
            let view: Value = admin.get("/api/v1/mcp/servers/gone").await.json().await.ok()?;
            (view["status"]["state"] == "failed").then_some(view)
        },
    )
    .await;
    assert!(
        failed["status"]["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{failed}"
    );

    // Switched off: disconnected and its tools gone; deleted: not found.
    let off = admin
        .request(reqwest::Method::PUT, "/api/v1/mcp/servers/self")
        .json(&json!({ "enabled": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::OK);
    let off: Value = off.json().await.unwrap();
    assert_eq!(off["status"]["state"], "disabled");
    assert!(
        !app.services()
            .tools
            .names()
            .iter()
            .any(|name| name.starts_with("self__"))
    );
    for name in ["self", "gone"] {
        let deleted = admin
            .request(reqwest::Method::DELETE, &format!("/api/v1/mcp/servers/{name}"))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(
        error_code(admin.get("/api/v1/mcp/servers/self").await).await.0,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_server_definitions_and_members_are_refused() {
    let app = plain_app(false, Vec::new()).await;
    let admin = app.setup_admin().await;
    let created = admin
        .post(
            "/api/v1/mcp/servers",
            json!({ "name": "self", "url": app.url("/mcp") }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    // Bad definitions and callers are refused with a code that says why.
    for (body, status, code) in [
        (
            json!({ "name": "Bad Name", "url": "http://127.0.0.1:1/mcp" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({ "name": "neither" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({ "name": "both", "url": "http://h/mcp", "command": "x" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        ),
        (
            json!({ "name": "self", "url": "http://127.0.0.1:1/mcp" }),
            StatusCode::CONFLICT,
            "mcp_server_exists",
        ),
        (
            json!({ "name": "x", "url": "http://h/mcp", "colour": 1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ] {
        let response = admin.post("/api/v1/mcp/servers", body.clone()).await;
        assert_eq!(error_code(response).await, (status, code.into()), "{body}");
    }
    app.create_user("member@acme.test", "Acme Manufacturing", false)
        .await;
    let member = app.login("member@acme.test", PASSWORD).await;
    assert_eq!(
        error_code(member.get("/api/v1/mcp/servers").await).await.0,
        StatusCode::FORBIDDEN
    );

    app.stop().await;
}
