//! The tools agents call, below the service layer: the built-in workspace file and git tools,
//! and the connections to external MCP servers. Knows nothing of HTTP or SQL; the workspace and
//! git operations block (the service runs them in `spawn_blocking`) and fail with
//! [`ToolsError`], which the service turns into what the model reads.

pub mod error;
pub mod git;
pub mod mcp;
pub mod workspace;

pub use error::ToolsError;
