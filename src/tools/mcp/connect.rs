//! Opening one session: spawn the stdio child (in its own process group, so a restart kills
//! `npx`'s grandchildren too) or open the Streamable HTTP session, then `initialize`.

use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use process_wrap::tokio::{CommandWrap, ProcessGroup};
use rmcp::RoleClient;
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RunningService;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::domain::McpTransport;

/// A connected session.
pub type Session = RunningService<RoleClient, ClientConfig>;

/// The last lines a stdio server wrote to stderr: the best explanation of a failed start.
#[derive(Clone, Default)]
pub struct StderrTail {
    lines: Arc<Mutex<VecDeque<String>>>,
}

const TAIL_LINES: usize = 8;
const TAIL_LINE_CHARS: usize = 300;

impl StderrTail {
    fn push(&self, line: &str) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line.chars().take(TAIL_LINE_CHARS).collect());
    }

    /// The tail joined into one line, or `None` when the server wrote nothing.
    pub fn summary(&self) -> Option<String> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        (!lines.is_empty()).then(|| lines.iter().map(String::as_str).collect::<Vec<_>>().join(" | "))
    }
}

fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("agentbox", env!("CARGO_PKG_VERSION")),
    )
}

/// Connects and initializes. `server` names the server in logs.
pub async fn open(server: &str, transport: &McpTransport, stderr: &StderrTail) -> Result<Session, String> {
    match transport {
        McpTransport::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).envs(env).kill_on_drop(true);
            if let Some(cwd) = cwd {
                cmd.current_dir(cwd);
            }
            let mut wrapped = CommandWrap::from(cmd);
            wrapped.wrap(ProcessGroup::leader());
            let (child, err) = TokioChildProcess::builder(wrapped)
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|err| format!("cannot start `{command}`: {err}"))?;
            if let Some(err) = err {
                let (tail, server) = (stderr.clone(), server.to_owned());
                tokio::spawn(async move {
                    let mut lines = BufReader::new(err).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        tracing::debug!(server, line, "mcp server stderr");
                        tail.push(&line);
                    }
                });
            }
            client_config()
                .serve(child)
                .await
                .map_err(|err| with_stderr(format!("initialize failed: {err}"), stderr))
        }
        McpTransport::Http {
            url,
            bearer_token,
            headers,
        } => {
            let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
                .custom_headers(header_map(headers)?);
            if let Some(token) = bearer_token {
                config = config.auth_header(token.clone());
            }
            // rmcp's default retries a dead server forever: a few tries, then the supervisor
            // reports the failure and reconnects on its own schedule.
            let mut retry = ExponentialBackoff::default();
            retry.max_times = Some(3);
            retry.base_duration = Duration::from_millis(500);
            retry.max_delay = Some(Duration::from_secs(5));
            config.retry_config = Arc::new(retry);
            client_config()
                .serve(StreamableHttpClientTransport::from_config(config))
                .await
                .map_err(|err| format!("cannot reach {url}: {err}"))
        }
    }
}

/// Adds what the server wrote to stderr to `message`.
pub fn with_stderr(message: String, stderr: &StderrTail) -> String {
    match stderr.summary() {
        Some(tail) => format!("{message}; the server wrote: {tail}"),
        None => message,
    }
}

fn header_map(
    headers: &std::collections::BTreeMap<String, String>,
) -> Result<HashMap<HeaderName, HeaderValue>, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let name =
                HeaderName::try_from(name.as_str()).map_err(|_| format!("invalid header name {name:?}"))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|_| format!("invalid value for header {name}"))?;
            Ok((name, value))
        })
        .collect()
}
