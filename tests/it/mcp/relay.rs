//! `agentbox mcp-stdio` beside a running server: the embedded database serves one process, so
//! it relays to the server's `/mcp` (found in the data folder's lock file, over loopback TLS
//! with the server's self-signed certificate); `--url` relays to any server.

use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use serde_json::json;
use tokio::process::Command;

use super::{call, median_list_agents_ms, plain_app};
use crate::support::{Options, PASSWORD, TestApp, agentbox_binary};

/// `agentbox mcp-stdio` on the app's data folder with `key`; with an external database (where
/// it would open the database itself) it is pointed at the app with `--url`.
fn mcp_stdio(app: &TestApp, key: &str) -> Command {
    let mut command = Command::new(agentbox_binary());
    command
        .arg("mcp-stdio")
        .env("AGENTBOX_DATA_DIR", &app.data_dir)
        .env("AGENTBOX_API_KEY", key)
        .env("AGENTBOX_LOG_LEVEL", "warn")
        .env_remove("AGENTBOX_URL")
        .kill_on_drop(true);
    if app.database_url().is_some() {
        command.arg("--url").arg(app.url(""));
    }
    command
}

#[tokio::test]
async fn mcp_stdio_beside_a_running_server_relays_to_its_mcp_as_the_keys_user() {
    // Embedded: the server's own self-signed TLS, found through the lock file. External: plain
    // HTTP named with --url (an explicit URL's certificate is checked like any other).
    let app = if crate::support::external_db_url().is_some() {
        plain_app(true, Vec::new()).await
    } else {
        TestApp::start_with(Options {
            sample_data: true,
            ..Options::default()
        })
        .await
    };
    app.create_user("sam@acme.test", "Acme Manufacturing", false)
        .await;
    let key = app
        .login("sam@acme.test", PASSWORD)
        .await
        .api_key("relay", &["read"])
        .await;

    let started = Instant::now();
    let session =
        ().serve(TokioChildProcess::new(mcp_stdio(&app, &key)).unwrap())
            .await
            .expect("mcp-stdio initializes beside the running server");
    eprintln!(
        "mcp-stdio relay: spawn + initialize {} ms",
        started.elapsed().as_millis()
    );
    let info = session.peer().peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|server| server.name.as_str()),
        Some("agentbox")
    );

    let tools = session.peer().list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|tool| tool.name == "kpi_vs_target"), "{tools:?}");

    // The call runs in the server, as sam: his company's KPIs, and his key's scope.
    let (failed, text) = call(
        &session,
        "kpi_vs_target",
        json!({"kpi": "Revenue", "period": "last_quarter"}),
    )
    .await;
    assert!(!failed, "{text}");
    assert!(text.contains("missed"), "{text}");
    let (failed, text) = call(&session, "run_agent", json!({"agent": "analyst", "prompt": "hi"})).await;
    assert!(failed, "a read key cannot run an agent: {text}");
    assert!(text.contains("write"), "{text}");
    // The server's protocol errors pass through unchanged.
    let unknown = session
        .peer()
        .call_tool(rmcp::model::CallToolRequestParams::new("no_such_tool"))
        .await
        .expect_err("an unknown tool is a JSON-RPC error");
    assert!(unknown.to_string().contains("unknown tool"), "{unknown}");

    eprintln!(
        "mcp-stdio relay: median list_agents call {:.2} ms",
        median_list_agents_ms(&session).await
    );
    let _ = session.cancel().await;

    // A key the server refuses: one clear line, exit 2.
    let output = mcp_stdio(&app, "abx_not_a_key").output();
    let output = tokio::time::timeout(Duration::from_mins(1), output)
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("AGENTBOX_API_KEY"), "{stderr}");
    app.stop().await;
}

#[tokio::test]
async fn mcp_stdio_says_when_the_url_it_was_given_does_not_answer() {
    let output = Command::new(agentbox_binary())
        .args(["mcp-stdio", "--url", "http://127.0.0.1:9/"])
        .env("AGENTBOX_API_KEY", "abx_anything")
        .env("AGENTBOX_DATA_DIR", tempfile::tempdir().unwrap().path())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_mins(1), output)
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("http://127.0.0.1:9/mcp"), "{stderr}");

    let output = Command::new(agentbox_binary())
        .args(["mcp-stdio", "--url", "ftp://example.com"])
        .env("AGENTBOX_API_KEY", "abx_anything")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("http:// or https://"), "{stderr}");
}
