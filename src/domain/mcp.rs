//! External MCP servers: how to reach one (a child process on stdio, or a Streamable HTTP
//! URL), and what the platform knows of its connection.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Separates a server's name from its tool's name in the registry (`github__create_issue`).
pub const TOOL_SEPARATOR: &str = "__";

/// How an MCP server is reached. Environment values, header values and the bearer token may be
/// secrets: `Debug` never shows them, and the API shows their names only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "snake_case")]
pub enum McpTransport {
    /// A child process speaking MCP on stdin/stdout.
    Stdio {
        command: String,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        #[serde(default)]
        cwd: Option<PathBuf>,
    },
    /// A Streamable HTTP endpoint.
    Http {
        url: String,
        #[serde(default)]
        bearer_token: Option<String>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
}

impl McpTransport {
    pub fn kind(&self) -> &'static str {
        match self {
            McpTransport::Stdio { .. } => "stdio",
            McpTransport::Http { .. } => "http",
        }
    }
}

impl fmt::Debug for McpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            McpTransport::Stdio {
                command,
                args,
                env,
                cwd,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env", &env.keys().collect::<Vec<_>>())
                .field("cwd", cwd)
                .finish(),
            McpTransport::Http {
                url,
                bearer_token,
                headers,
            } => f
                .debug_struct("Http")
                .field("url", url)
                .field("bearer_token", &bearer_token.as_ref().map(|_| "***"))
                .field("headers", &headers.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

/// Where a server's definition lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum McpSource {
    /// `[[mcp.servers]]` in agentbox.toml: read-only through the API.
    Config,
    /// Added by an admin through `/api/v1/mcp/servers`.
    Api,
}

/// One external MCP server the platform connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServerSpec {
    pub name: String,
    pub transport: McpTransport,
    pub enabled: bool,
    pub source: McpSource,
}

/// A server as an admin defines it: `name`, and `command` (+ `args`, `env`, `cwd`) for a stdio
/// server or `url` (+ `bearer_token`, `headers`) for a Streamable HTTP one. When replacing a
/// server, a body with only `enabled` switches it on or off and keeps the rest.
// The same fields are written in agentbox.toml (`[[mcp.servers]]`); they are checked by
// `McpServerSpec::from_fields`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = McpServerInput)]
#[serde(deny_unknown_fields)]
pub struct McpServerFields {
    /// Needed to create one; when replacing, must equal the name in the path.
    pub name: Option<String>,
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[schema(value_type = Option<String>)]
    pub cwd: Option<PathBuf>,
    pub url: Option<String>,
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Default true.
    pub enabled: Option<bool>,
}

impl McpServerFields {
    /// Whether only `enabled` is given (a switch, not a new definition).
    pub fn only_enabled(&self) -> bool {
        self.command.is_none()
            && self.url.is_none()
            && self.args.is_empty()
            && self.env.is_empty()
            && self.cwd.is_none()
            && self.bearer_token.is_none()
            && self.headers.is_empty()
    }
}

impl McpServerSpec {
    /// Checks `fields`: a valid name, and exactly one of `command` (stdio) or `url` (HTTP) with
    /// only the settings that transport takes. The error says what to fix.
    pub fn from_fields(fields: McpServerFields, source: McpSource) -> Result<Self, String> {
        let name = fields.name.ok_or("`name` is required")?;
        check_name(&name)?;
        let transport = match (fields.command, fields.url) {
            (Some(command), None) => {
                if command.trim().is_empty() {
                    return Err("`command` must not be empty".into());
                }
                if fields.bearer_token.is_some() || !fields.headers.is_empty() {
                    return Err("`bearer_token` and `headers` belong to HTTP servers (`url`)".into());
                }
                if let Some(bad) = fields.env.keys().find(|key| !is_env_name(key)) {
                    return Err(format!("`env` name {bad:?} is not a valid variable name"));
                }
                McpTransport::Stdio {
                    command,
                    args: fields.args,
                    env: fields.env,
                    cwd: fields.cwd,
                }
            }
            (None, Some(url)) => {
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url.chars().any(char::is_whitespace)
                {
                    return Err(format!("`url` {url:?} must be an http:// or https:// URL"));
                }
                if !fields.args.is_empty() || !fields.env.is_empty() || fields.cwd.is_some() {
                    return Err("`args`, `env` and `cwd` belong to stdio servers (`command`)".into());
                }
                if let Some(bad) = fields.headers.keys().find(|key| !is_header_name(key)) {
                    return Err(format!("header name {bad:?} is not a valid HTTP header name"));
                }
                McpTransport::Http {
                    url,
                    bearer_token: fields.bearer_token.filter(|token| !token.is_empty()),
                    headers: fields.headers,
                }
            }
            (Some(_), Some(_)) => {
                return Err("give either `command` (stdio) or `url` (HTTP), not both".into());
            }
            (None, None) => return Err("give `command` (a stdio server) or `url` (an HTTP server)".into()),
        };
        Ok(Self {
            name,
            transport,
            enabled: fields.enabled.unwrap_or(true),
            source,
        })
    }

    /// The registry prefix of this server's tools.
    pub fn tool_prefix(&self) -> String {
        format!("{}{TOOL_SEPARATOR}", self.name)
    }
}

/// A server name: lowercase, 1-32 characters, no `__` (the tool-name separator).
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.len() <= 32
        && !name.contains(TOOL_SEPARATOR);
    if valid {
        Ok(())
    } else {
        Err(format!(
            "server name {name:?} must be 1-32 characters of a-z, 0-9, `_` or `-`, start with a letter and not contain `__`"
        ))
    }
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum McpConnectionState {
    /// Starting, or waiting to try again after a failure.
    Connecting,
    Connected,
    /// The last attempt failed; another follows after a backoff.
    Failed,
    /// Disabled by an admin: not connected.
    Disabled,
}

/// A tool an MCP server offers, under its registry name.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct McpToolInfo {
    /// The name agents call it by: `<server>__<tool>`.
    pub name: String,
    pub description: Option<String>,
}

/// What the platform knows of one connection.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct McpConnectionStatus {
    pub state: McpConnectionState,
    pub last_error: Option<String>,
    pub tools: Vec<McpToolInfo>,
    pub connected_at: Option<DateTime<Utc>>,
    /// Connections made after the first (restarts of a crashed or dropped server).
    pub restarts: u32,
    /// How long the last successful connect took (spawn or HTTP handshake + initialize).
    pub connect_ms: Option<u64>,
}

impl McpConnectionStatus {
    pub fn new(state: McpConnectionState) -> Self {
        Self {
            state,
            last_error: None,
            tools: Vec::new(),
            connected_at: None,
            restarts: 0,
            connect_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: serde_json::Value) -> McpServerFields {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_command_makes_a_stdio_server_and_a_url_an_http_server() {
        let stdio = McpServerSpec::from_fields(
            fields(serde_json::json!({"name": "files", "command": "npx", "args": ["-y", "x"]})),
            McpSource::Config,
        )
        .unwrap();
        assert_eq!(stdio.transport.kind(), "stdio");
        assert!(stdio.enabled);
        let http = McpServerSpec::from_fields(
            fields(serde_json::json!({"name": "zapier", "url": "https://mcp.example.com/mcp", "bearer_token": "t"})),
            McpSource::Api,
        )
        .unwrap();
        assert_eq!(http.transport.kind(), "http");
        assert!(!format!("{http:?}").contains("\"t\""), "the token is redacted");
    }

    #[test]
    fn bad_definitions_say_what_to_fix() {
        let cases = [
            (serde_json::json!({"command": "x"}), "`name` is required"),
            (
                serde_json::json!({"name": "a__b", "command": "x"}),
                "must be 1-32",
            ),
            (
                serde_json::json!({"name": "Files", "command": "x"}),
                "must be 1-32",
            ),
            (serde_json::json!({"name": "a"}), "give `command`"),
            (
                serde_json::json!({"name": "a", "command": "x", "url": "http://h"}),
                "not both",
            ),
            (
                serde_json::json!({"name": "a", "url": "ftp://h"}),
                "http:// or https://",
            ),
            (
                serde_json::json!({"name": "a", "url": "http://h", "args": ["x"]}),
                "belong to stdio",
            ),
            (
                serde_json::json!({"name": "a", "command": "x", "headers": {"A": "b"}}),
                "belong to HTTP",
            ),
            (
                serde_json::json!({"name": "a", "command": "x", "env": {"1A": "b"}}),
                "valid variable",
            ),
            (
                serde_json::json!({"name": "a", "url": "http://h", "headers": {"A B": "b"}}),
                "header name",
            ),
        ];
        for (input, expected) in cases {
            let err = McpServerSpec::from_fields(fields(input.clone()), McpSource::Api).unwrap_err();
            assert!(err.contains(expected), "{input}: {err}");
        }
    }
}
