//! A real llama.cpp `llama-server` (`AGENTBOX_TEST_LLAMA_SERVER`, built by
//! `scripts/build-llama-server.sh`) serving the test model on a free local port, killed when
//! the test drops it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

pub struct LlamaServer {
    /// `kill_on_drop`: the server dies with the test, pass or fail.
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
    pub base_url: String,
    pub origin: String,
}

fn binary() -> PathBuf {
    let path = std::env::var("AGENTBOX_TEST_LLAMA_SERVER").unwrap_or_else(|_| {
        panic!(
            "AGENTBOX_TEST_LLAMA_SERVER is unset: run `export AGENTBOX_TEST_LLAMA_SERVER=$(scripts/build-llama-server.sh)`"
        )
    });
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "AGENTBOX_TEST_LLAMA_SERVER={} does not exist",
        path.display()
    );
    path
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A chat template that renders tools the way llama-server parses tool calls (`<tool_call>`
/// JSON in `ChatML`); `SmolLM2`'s own template has no tools, so llama-server would drop them.
pub const TOOLS_TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/providers/chatml-tools.jinja"
);

impl LlamaServer {
    /// Serves the test model with its own chat template, or `template` (a file) instead.
    pub async fn start(template: Option<&str>) -> Self {
        // Another process can take the free port before the server binds it: try again.
        for _ in 0..3 {
            if let Some(server) = Self::try_start(free_port(), template).await {
                return server;
            }
        }
        panic!("llama-server did not start (see the logs above)");
    }

    async fn try_start(port: u16, template: Option<&str>) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("llama-server.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let model = crate::engine::test_model();
        let mut command = Command::new(binary());
        if let Some(template) = template {
            command.arg("--chat-template-file").arg(template);
        }
        let child = command
            .arg("--model")
            .arg(&model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            // Jinja templates: llama-server's tool calling needs them.
            .arg("--jinja")
            // A reused prompt prefix is evaluated in other batch shapes, which can change greedy
            // output: every request starts fresh, so two equal requests give equal answers.
            .arg("--no-cache-prompt")
            // One thread (OpenMP threads busy-wait under contention), one slot, a small context.
            .args([
                "--threads",
                "1",
                "--threads-batch",
                "1",
                "--parallel",
                "1",
                "--ctx-size",
                "2048",
            ])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .expect("start llama-server");
        let origin = format!("http://127.0.0.1:{port}");
        let mut server = Self {
            child,
            log,
            _dir: dir,
            base_url: format!("{origin}/v1"),
            origin,
        };
        server.wait_ready().await.then_some(server)
    }

    /// Polls `/health` (503 while the model loads) until it answers 200; false when the
    /// process exited (a port clash).
    async fn wait_ready(&mut self) -> bool {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                eprintln!("llama-server exited with {status}:\n{}", self.log_text());
                return false;
            }
            let health = client.get(format!("{}/health", self.origin)).send().await;
            if health.is_ok_and(|response| response.status().is_success()) {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "llama-server not ready after 60 s:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
