//! The one error type of the tools layer. Every message goes back to a model as a tool result,
//! so it names the path as the model wrote it (never the server's own folders) and says what
//! to do instead.

/// Why a workspace, git or external MCP call was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    #[error(
        "`{path}` is outside your workspace: use a path relative to the workspace folder, without `..` that leaves it or links that point out of it"
    )]
    OutsideWorkspace { path: String },
    #[error("`{path}` does not exist; list its folder with workspace_list to see what is there")]
    NotFound { path: String },
    #[error("`{path}` is {size} bytes, more than the {limit} allowed; {hint}")]
    TooLarge {
        path: String,
        size: u64,
        limit: u64,
        hint: &'static str,
    },
    #[error("`{path}` is not a UTF-8 text file; only text files can be read")]
    NotText { path: String },
    #[error("`{path}` is a {kind}, not a regular file or folder; it cannot be used")]
    SpecialFile { path: String, kind: &'static str },
    #[error("`{path}` is a folder; {hint}")]
    IsFolder { path: String, hint: &'static str },
    #[error("`{path}` is not a folder")]
    NotFolder { path: String },
    #[error(
        "`{path}` is a symbolic link, which is not followed here (writes never go through links): name the file or folder it points to instead"
    )]
    SymbolicLink { path: String },
    #[error("{0}")]
    InvalidInput(String),
    #[error("`{path}` is not a git repository; create one with git_init")]
    NotRepository { path: String },
    #[error("nothing to commit: stage changes with git_add first (git_status lists them)")]
    NothingToCommit,
    #[error("git: {0}")]
    Git(String),
    #[error("the MCP server `{0}` is not connected (it is starting or being restarted); try again shortly")]
    McpNotConnected(String),
    #[error("the MCP server `{server}` did not answer within {} seconds", .timeout.as_secs())]
    McpTimeout {
        server: String,
        timeout: std::time::Duration,
    },
    #[error("the MCP server `{server}` failed: {message}")]
    McpProtocol { server: String, message: String },
    /// An external tool ran and reported an error: its own words.
    #[error("{0}")]
    McpToolFailed(String),
    // The cause is part of the message and deliberately not a `source`: one-line error chains
    // would repeat it.
    #[error("could not {action} `{path}`: {cause}")]
    Io {
        action: &'static str,
        path: String,
        cause: std::io::Error,
    },
}

impl ToolsError {
    /// An I/O failure on `path` (as the model wrote it) while trying to `action` it.
    pub(crate) fn io(action: &'static str, path: &str) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |cause| ToolsError::Io { action, path, cause }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ToolsError::InvalidInput(message.into())
    }

    /// True when the caller asked for something not allowed (as opposed to something missing
    /// or broken).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ToolsError::OutsideWorkspace { .. }
                | ToolsError::SpecialFile { .. }
                | ToolsError::SymbolicLink { .. }
        )
    }
}
