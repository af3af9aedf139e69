//! MCP both ways, with real clients and servers: the official MCP Inspector CLI drives `/mcp`
//! and `agentbox mcp-stdio`; the official filesystem (npm) and git (`PyPI`) servers, a Python SDK
//! server that sleeps or crashes on demand, and the platform's own `/mcp` over HTTP are
//! consumed as external servers; and every attack on the tools is refused with a tool error.

mod client;
mod host;
mod relay;
mod security;
mod sql_catalogs;

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value};

use crate::support::{Options, TestApp};

/// Where `scripts/fetch-mcp-test-tools.sh` installed the Inspector and the servers.
pub fn tools_dir() -> PathBuf {
    let dir = std::env::var("AGENTBOX_TEST_MCP_TOOLS").unwrap_or_else(|_| {
        panic!(
            "AGENTBOX_TEST_MCP_TOOLS is unset: run `export AGENTBOX_TEST_MCP_TOOLS=$(scripts/fetch-mcp-test-tools.sh)` \
             (scripts/test does this for you)"
        )
    });
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("node_modules/.bin/mcp-inspector").is_file(),
        "{} lacks the MCP Inspector: run scripts/fetch-mcp-test-tools.sh",
        dir.display()
    );
    dir
}

/// Runs the official MCP Inspector CLI (`mcp-inspector --cli ARGS…`), at most a minute.
pub async fn inspector(args: &[&str]) -> Output {
    let binary = tools_dir().join("node_modules/.bin/mcp-inspector");
    let run = tokio::process::Command::new(binary)
        .arg("--cli")
        .args(args)
        .env("HOME", std::env::temp_dir())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_mins(1), run)
        .await
        .expect("the inspector finishes within a minute")
        .expect("the inspector runs")
}

/// The inspector's JSON answer (it prints one document on stdout).
pub fn inspector_json(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "inspector failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let start = stdout.find('{').expect("inspector printed JSON");
    serde_json::from_str(&stdout[start..]).unwrap_or_else(|err| panic!("inspector JSON: {err}: {stdout}"))
}

/// The platform without TLS (MCP clients check certificates; the tests use loopback HTTP).
pub async fn plain_app(sample_data: bool, extra_env: Vec<(String, String)>) -> TestApp {
    TestApp::start_with(Options {
        tls: false,
        sample_data,
        extra_env,
        ..Options::default()
    })
    .await
}

/// An rmcp client session on the app's `/mcp` with `key`.
pub async fn connect(app: &TestApp, key: &str) -> RunningService<RoleClient, ()> {
    let config = StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).auth_header(key.to_owned());
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("MCP session on /mcp")
}

/// Calls a tool; returns whether it was an error and its text.
pub async fn call(session: &RunningService<RoleClient, ()>, tool: &str, arguments: Value) -> (bool, String) {
    let arguments: Map<String, Value> = match arguments {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let result: CallToolResult = session
        .peer()
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .unwrap_or_else(|err| panic!("{tool}: {err}"));
    let text = result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    (result.is_error == Some(true), text)
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The median of 30 `list_agents` calls on `session`, in milliseconds (each must succeed).
pub async fn median_list_agents_ms(session: &RunningService<RoleClient, ()>) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let (failed, text) = call(session, "list_agents", serde_json::json!({})).await;
        assert!(!failed, "{text}");
        samples.push(started.elapsed());
    }
    median_ms(samples)
}

/// The median of some durations, in milliseconds.
pub fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}
