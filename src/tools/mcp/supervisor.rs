//! The supervisor of one connection: connect, list tools, wait for the session to end, and
//! start again after a backoff (1 s doubling to 60 s; reset by a connection that lasted).

use std::time::{Duration, Instant};

use chrono::Utc;

use super::connect::{self, Session, StderrTail};
use super::schema;
use super::{Live, McpConnection, RemoteTool};
use crate::domain::{McpConnectionState, McpConnectionStatus, McpToolInfo, TOOL_SEPARATOR};

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_mins(1);
/// A session that lasted this long was healthy: the next failure starts the backoff afresh.
const HEALTHY_AFTER: Duration = Duration::from_mins(1);

pub async fn run(connection: McpConnection) {
    let inner = &connection.inner;
    let name = inner.spec.name.clone();
    let mut backoff = FIRST_BACKOFF;
    let mut connections: u32 = 0;
    loop {
        let stderr = StderrTail::default();
        inner
            .status
            .send_modify(|status| status.state = McpConnectionState::Connecting);
        let started = Instant::now();
        let attempt = tokio::select! {
            () = inner.stop.cancelled() => return,
            attempt = tokio::time::timeout(inner.timeouts.connect, open_and_list(&connection, &stderr)) => attempt,
        };
        let failure = match attempt {
            Err(_) => connect::with_stderr(
                format!("no answer within {} seconds", inner.timeouts.connect.as_secs()),
                &stderr,
            ),
            Ok(Err(message)) => message,
            Ok(Ok((session, tools))) => {
                let connect_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::info!(
                    server = name,
                    tools = tools.len(),
                    connect_ms,
                    "mcp server connected"
                );
                connection.set_live(Some(Live {
                    peer: session.peer().clone(),
                    tools: tools.clone(),
                }));
                let restarts = connections;
                connections += 1;
                inner.status.send_modify(|status| {
                    *status = McpConnectionStatus {
                        state: McpConnectionState::Connected,
                        last_error: None,
                        tools: tool_infos(&name, &tools),
                        connected_at: Some(Utc::now()),
                        restarts,
                        connect_ms: Some(connect_ms),
                    };
                });
                let ended = watch_session(&connection, session).await;
                connection.set_live(None);
                let reason = match ended {
                    Ended::Stopped => return,
                    Ended::Restart => {
                        backoff = FIRST_BACKOFF;
                        continue;
                    }
                    Ended::Closed(reason) => reason,
                };
                if started.elapsed() > HEALTHY_AFTER {
                    backoff = FIRST_BACKOFF;
                }
                connect::with_stderr(reason, &stderr)
            }
        };
        tracing::warn!(
            server = name,
            error = failure,
            retry_in_secs = backoff.as_secs(),
            "mcp server unavailable"
        );
        inner.status.send_modify(|status| {
            status.state = McpConnectionState::Failed;
            status.last_error = Some(failure);
            status.tools.clear();
        });
        tokio::select! {
            () = inner.stop.cancelled() => return,
            () = inner.reconnect.notified() => backoff = FIRST_BACKOFF,
            () = tokio::time::sleep(backoff) => backoff = (backoff * 2).min(MAX_BACKOFF),
        }
    }
}

async fn open_and_list(
    connection: &McpConnection,
    stderr: &StderrTail,
) -> Result<(Session, Vec<RemoteTool>), String> {
    let spec = &connection.inner.spec;
    let session = connect::open(&spec.name, &spec.transport, stderr).await?;
    let tools = session
        .peer()
        .list_all_tools()
        .await
        .map_err(|err| format!("listing tools failed: {err}"))?;
    let tools = tools
        .into_iter()
        .map(|tool| RemoteTool {
            name: tool.name.into_owned(),
            description: tool.description.map(std::borrow::Cow::into_owned),
            input_schema: schema::for_engine(&tool.input_schema),
        })
        .collect();
    Ok((session, tools))
}

/// How a session ended.
enum Ended {
    /// The connection was stopped for good.
    Stopped,
    /// An admin asked for a fresh session.
    Restart,
    /// The server went away (crashed, closed, or the HTTP session failed).
    Closed(String),
}

/// Waits until the session ends, the connection is stopped, or a restart is asked for.
async fn watch_session(connection: &McpConnection, session: Session) -> Ended {
    let inner = &connection.inner;
    let cancel = session.cancellation_token();
    let waiting = session.waiting();
    tokio::pin!(waiting);
    tokio::select! {
        quit = &mut waiting => Ended::Closed(match quit {
            Ok(reason) => format!("the server closed the connection ({reason:?})"),
            Err(err) => format!("the connection task failed: {err}"),
        }),
        () = inner.stop.cancelled() => {
            cancel.cancel();
            let _ = waiting.await;
            Ended::Stopped
        }
        () = inner.reconnect.notified() => {
            cancel.cancel();
            let _ = waiting.await;
            Ended::Restart
        }
    }
}

fn tool_infos(server: &str, tools: &[RemoteTool]) -> Vec<McpToolInfo> {
    tools
        .iter()
        .map(|tool| McpToolInfo {
            name: format!("{server}{TOOL_SEPARATOR}{}", tool.name),
            description: tool.description.clone(),
        })
        .collect()
}
