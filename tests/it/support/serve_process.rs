//! `agentbox serve` as its own process, the way an operator starts it: plain HTTP on a free
//! port, JSON logs read line by line, stopped with SIGTERM.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::{agentbox_binary, external_db_url};

pub struct ServeProcess {
    child: Child,
    lines: Receiver<String>,
    pub url: String,
}

impl ServeProcess {
    /// Starts `serve` with its data (and agents) under `dir`, the external database when the run
    /// has one, and `env` on top (which may name another `DATABASE_URL`). Waits
    /// (2 minutes at most) for the "agentbox is ready" line, which carries the URL.
    pub fn start<K: AsRef<OsStr>, V: AsRef<OsStr>>(dir: &Path, env: &[(K, V)]) -> Self {
        let mut command = Command::new(agentbox_binary());
        command
            .args([
                "serve",
                "--tls",
                "off",
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "off",
            ])
            .current_dir(dir)
            .env_remove("AGENTBOX_CONFIG")
            .env("AGENTBOX_DATA_DIR", dir.join("data"))
            .env("AGENTBOX_AGENTS_DIR", dir.join("agents"))
            .env("AGENTBOX_LOG_FORMAT", "json")
            .env("AGENTBOX_LOG_LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match external_db_url() {
            Some(url) => command.env("DATABASE_URL", url),
            None => command.env_remove("DATABASE_URL"),
        };
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("agentbox serve starts");
        let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().expect("stderr is piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut process = Self {
            child,
            lines,
            url: String::new(),
        };
        let deadline = Instant::now() + Duration::from_mins(2);
        while process.url.is_empty() {
            let event = process.next_event(deadline).expect("serve logs that it is ready");
            if event["message"] == "agentbox is ready" {
                event["url"]
                    .as_str()
                    .unwrap_or_default()
                    .clone_into(&mut process.url);
            }
        }
        process
    }

    /// The next JSON log line before `until` (the embedded database's own lines are skipped).
    pub fn next_event(&self, until: Instant) -> Option<serde_json::Value> {
        loop {
            let line = self
                .lines
                .recv_timeout(until.saturating_duration_since(Instant::now()))
                .ok()?;
            if let Ok(event) = serde_json::from_str(&line) {
                return Some(event);
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no flush — what a crash or an OOM kill leaves.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // A failed assertion must not leave the server running.
        let _ = self.child.kill();
    }
}
