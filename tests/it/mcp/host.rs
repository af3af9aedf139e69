//! The platform's own MCP server: `/mcp` with API keys, and `agentbox mcp-stdio`, driven by the
//! official MCP Inspector CLI and by an rmcp client.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use super::{call, connect, inspector, inspector_json, median_list_agents_ms, plain_app};
use crate::support::{PASSWORD, TestApp, agentbox_binary, error_code};

const ACME: &str = "Acme Manufacturing";

/// Tools every MCP client gets.
const HOST_TOOLS: [&str; 19] = [
    "get_task",
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
    "kpi_values",
    "kpi_vs_target",
    "list_agents",
    "list_kpis",
    "list_tasks",
    "run_agent",
    "search_conversations",
    "sql_query",
];

async fn member_key(app: &TestApp, email: &str, scopes: &[&str]) -> String {
    app.create_user(email, ACME, false).await;
    app.login(email, PASSWORD).await.api_key("mcp", scopes).await
}

/// The Inspector's answer for `/mcp` at `url` with the `Authorization` header `auth`.
async fn inspector_over_http(url: &str, auth: &str, args: &[&str]) -> Value {
    let mut all = vec![url, "--transport", "http", "--header", auth];
    all.extend_from_slice(args);
    inspector_json(&inspector(&all).await)
}

fn tool_names(list: &Value) -> Vec<String> {
    list["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_inspector_lists_and_calls_the_platform_tools_at_mcp() {
    let app = plain_app(true, Vec::new()).await;
    let key = member_key(&app, "ana@acme.test", &["read"]).await;
    let url = app.url("/mcp");
    let auth = format!("Authorization: Bearer {key}");

    let list = inspector_over_http(&url, &auth, &["--method", "tools/list"]).await;
    let names = tool_names(&list);
    for tool in HOST_TOOLS {
        assert!(
            names.iter().any(|name| name == tool),
            "{tool} is offered: {names:?}"
        );
    }
    let sql = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "sql_query")
        .unwrap();
    assert_eq!(sql["annotations"]["readOnlyHint"], true, "{sql}");
    assert_eq!(sql["inputSchema"]["required"], json!(["query"]));
    let write = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "workspace_write")
        .unwrap();
    assert_eq!(write["annotations"]["readOnlyHint"], false, "{write}");

    let kpis = inspector_over_http(
        &url,
        &auth,
        &["--method", "tools/call", "--tool-name", "list_kpis"],
    )
    .await;
    assert_ne!(kpis["isError"], true, "{kpis}");
    assert!(kpis.to_string().contains("Revenue"), "{kpis}");

    let counted = inspector_over_http(
        &url,
        &auth,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "sql_query",
            "--tool-arg",
            "query=select count(*) as kpis from kpis",
        ],
    )
    .await;
    assert_ne!(counted["isError"], true, "{counted}");
    assert!(counted.to_string().contains("kpis"), "{counted}");

    // Median tool-call latency over HTTP (printed for the closing note; not asserted).
    let session = connect(&app, &key).await;
    eprintln!(
        "mcp over HTTP: median list_agents call {:.2} ms",
        median_list_agents_ms(&session).await
    );
    let _ = session.cancel().await;
    app.stop().await;
}

#[tokio::test]
async fn mcp_refuses_callers_without_a_valid_key_and_unknown_hosts() {
    let app = plain_app(false, Vec::new()).await;
    let client = app.client();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let post = |auth: Option<&str>| {
        let mut request = client
            .post(app.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .json(&initialize);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for auth in [None, Some("Bearer not-a-key"), Some("Basic dXNlcjpwYXNz")] {
        let response = post(auth).await.unwrap();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(challenge.as_deref(), Some("Bearer"), "{auth:?}");
        assert_eq!(
            error_code(response).await,
            (StatusCode::UNAUTHORIZED, "unauthenticated".into()),
            "{auth:?}"
        );
    }

    let admin = app.setup_admin().await;
    let key = admin.api_key("mcp", &["read"]).await;
    let rebound = client
        .post(app.url("/mcp"))
        .header("host", "evil.example.com")
        .header("authorization", format!("Bearer {key}"))
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert!(
        rebound.status().is_client_error(),
        "a foreign Host header is refused: {}",
        rebound.status()
    );
    app.stop().await;
}

#[tokio::test]
async fn agents_and_tasks_through_mcp_respect_the_keys_scope() {
    let app = plain_app(false, Vec::new()).await;
    let admin = app.setup_admin().await;
    let reader = connect(&app, &admin.api_key("reader", &["read"]).await).await;
    let writer = connect(&app, &admin.api_key("writer", &["read", "write"]).await).await;

    let (failed, agents) = call(&reader, "list_agents", json!({})).await;
    assert!(!failed && agents.contains("analyst"), "{agents}");
    let request = json!({ "agent": "assistant", "input": "Say hello." });
    let (failed, refusal) = call(&reader, "run_agent", request.clone()).await;
    assert!(failed && refusal.contains("`write` scope"), "{refusal}");

    let (failed, started) = call(&writer, "run_agent", request).await;
    assert!(!failed, "{started}");
    let task: Value = serde_json::from_str(&started).unwrap();
    let id = task["id"].as_str().unwrap();
    let (failed, got) = call(&reader, "get_task", json!({ "id": id })).await;
    assert!(!failed && got.contains(id), "{got}");
    let (failed, listed) = call(&reader, "list_tasks", json!({ "limit": 5 })).await;
    assert!(!failed && listed.contains(id), "{listed}");
    let (failed, unknown) = call(&reader, "run_agent", json!({ "agent": "nobody", "input": "x" })).await;
    assert!(failed, "{unknown}");
    let (failed, bad) = call(&reader, "get_task", json!({ "id": 7 })).await;
    assert!(failed && bad.contains("invalid arguments"), "{bad}");

    let _ = reader.cancel().await;
    let _ = writer.cancel().await;
    app.stop().await;
}

/// `agentbox mcp-stdio` needs the database to itself when it is embedded: the platform stops
/// first (with an external database both run at once).
#[tokio::test]
async fn the_inspector_drives_mcp_stdio_as_the_keys_user() {
    let mut app = plain_app(true, Vec::new()).await;
    let key = member_key(&app, "sam@acme.test", &["read"]).await;
    let database_url = app.database_url();
    if database_url.is_none() {
        app.suspend().await;
    }
    let binary = agentbox_binary();
    let binary = binary.as_str();
    let mut env = vec![
        format!("AGENTBOX_DATA_DIR={}", app.data_dir.display()),
        format!("AGENTBOX_API_KEY={key}"),
        "AGENTBOX_LOG_LEVEL=warn".to_owned(),
        format!("AGENTBOX_AGENTS_DIR={}", app.data_dir.join("agents").display()),
    ];
    if let Some(url) = &database_url {
        env.push(format!("DATABASE_URL={url}"));
    }
    let mut args: Vec<&str> = Vec::new();
    for pair in &env {
        args.extend(["-e", pair]);
    }
    args.extend([
        binary,
        "mcp-stdio",
        "--method",
        "tools/call",
        "--tool-name",
        "kpi_vs_target",
    ]);
    args.extend(["--tool-arg", "kpi=Revenue", "--tool-arg", "period=last_quarter"]);
    let answer = inspector_json(&inspector(&args).await);
    assert_ne!(answer["isError"], true, "{answer}");
    assert!(answer.to_string().contains("missed"), "{answer}");

    // Median tool-call latency over stdio, from an rmcp client (printed, not asserted).
    let mut command = tokio::process::Command::new(binary);
    command.arg("mcp-stdio");
    for pair in &env {
        let (name, value) = pair.split_once('=').unwrap();
        command.env(name, value);
    }
    let started = Instant::now();
    let session = ().serve(TokioChildProcess::new(command).unwrap()).await.expect("mcp-stdio initializes");
    eprintln!(
        "mcp-stdio: spawn + initialize {} ms",
        started.elapsed().as_millis()
    );
    eprintln!(
        "mcp over stdio: median list_agents call {:.2} ms",
        median_list_agents_ms(&session).await
    );
    let _ = session.cancel().await;

    // Without a key it says what to do and exits 2.
    let output = tokio::process::Command::new(binary)
        .arg("mcp-stdio")
        .env("AGENTBOX_DATA_DIR", &app.data_dir)
        .env_remove("AGENTBOX_API_KEY")
        .output();
    let output = tokio::time::timeout(Duration::from_mins(1), output)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("AGENTBOX_API_KEY"));
    app.stop().await;
}
