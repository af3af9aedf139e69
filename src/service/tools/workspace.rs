//! The workspace file tools: `workspace_read`, `workspace_write`, `workspace_list` and
//! `workspace_search`. Each runs in the caller's own workspace folder (their company's, see
//! [`crate::tools::workspace::owner_root`]) on a blocking thread; the tools layer refuses every
//! path that leads out of it, and its errors reach the model as messages that say what to do.

use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{MAX_RESULT_CHARS, Tool, ToolContext, ToolError, ToolRegistry};
use crate::domain::User;
use crate::engine::grammar::ToolSpec;
use crate::tools::ToolsError;
use crate::tools::workspace::{
    MAX_LIST_ENTRIES, MAX_SEARCH_RESULTS, MAX_WRITE_BYTES, ReadWindow, SearchQuery, Workspace,
};

/// Characters of file text or patch one result carries (the rest of the result's JSON and its
/// escaping fit in the remainder of [`MAX_RESULT_CHARS`]).
pub(super) const TEXT_BUDGET: usize = MAX_RESULT_CHARS * 5 / 8;
/// Longest path argument, in characters.
const MAX_PATH_CHARS: u64 = 1_024;

/// Registers the four workspace tools, confined below `base` (the `workspace` setting).
pub fn register(registry: &ToolRegistry, base: &std::path::Path) {
    let base = Arc::new(base.to_path_buf());
    for op in [Op::Read, Op::Write, Op::List, Op::Search] {
        registry.register(Arc::new(WorkspaceTool {
            op,
            base: base.clone(),
        }));
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Read,
    Write,
    List,
    Search,
}

struct WorkspaceTool {
    op: Op,
    base: Arc<PathBuf>,
}

pub(super) fn path_schema(description: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": MAX_PATH_CHARS, "description": description })
}

fn object(properties: &Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

impl Op {
    fn spec(self) -> ToolSpec {
        let (name, description, parameters) = match self {
            Op::Read => (
                "workspace_read",
                "Read a text file of the workspace, a window of lines at a time.".to_owned(),
                object(
                    &json!({
                        "path": path_schema("File path relative to the workspace, e.g. src/main.rs."),
                        "offset_line": { "type": "integer", "minimum": 1, "description": "First line to read (default 1)." },
                        "max_lines": { "type": "integer", "minimum": 1, "maximum": 2000, "description": "Lines to read at most (default 400)." },
                        "line_numbers": { "type": "boolean", "description": "Prefix each line with its number." },
                    }),
                    &["path"],
                ),
            ),
            Op::Write => (
                "workspace_write",
                format!(
                    "Create or replace a text file of the workspace with the given content (at most {} KiB). Missing folders are created.",
                    MAX_WRITE_BYTES / 1024
                ),
                object(
                    &json!({
                        "path": path_schema("File path relative to the workspace, e.g. notes/plan.md."),
                        "content": { "type": "string", "maxLength": MAX_WRITE_BYTES, "description": "The whole new content of the file." },
                        "create_dirs": { "type": "boolean", "description": "Create missing folders (default true)." },
                    }),
                    &["path", "content"],
                ),
            ),
            Op::List => (
                "workspace_list",
                "List the files and folders of a workspace folder (name, kind, size, modified).".to_owned(),
                object(
                    &json!({
                        "path": path_schema("Folder relative to the workspace (default: the workspace itself)."),
                        "recursive": { "type": "boolean", "description": "Include everything below the folder (.git is skipped)." },
                        "limit": { "type": "integer", "minimum": 1, "maximum": MAX_LIST_ENTRIES, "description": "Entries at most (default 100)." },
                    }),
                    &[],
                ),
            ),
            Op::Search => (
                "workspace_search",
                "Find lines in the workspace's text files that contain a text (any case) or match a regular expression. Returns path:line: text.".to_owned(),
                object(
                    &json!({
                        "query": { "type": "string", "minLength": 1, "maxLength": 200, "description": "Text to find, or a regular expression when regex is true." },
                        "path": path_schema("Folder or file to search (default: the whole workspace)."),
                        "regex": { "type": "boolean", "description": "query is a regular expression (default false)." },
                        "max_results": { "type": "integer", "minimum": 1, "maximum": MAX_SEARCH_RESULTS, "description": "Matching lines at most (default 20)." },
                    }),
                    &["query"],
                ),
            ),
        };
        ToolSpec {
            name: name.into(),
            description,
            parameters,
        }
    }

    fn run(self, workspace: &Workspace, arguments: Value) -> Result<Value, ToolError> {
        match self {
            Op::Read => {
                let args: ReadArgs = parse(arguments)?;
                let window = ReadWindow {
                    offset_line: args.offset_line.unwrap_or(1),
                    max_lines: args.max_lines.unwrap_or(400),
                    max_chars: TEXT_BUDGET,
                    line_numbers: args.line_numbers.unwrap_or(false),
                };
                to_json(&workspace.read(&args.path, &window).map_err(tool_error)?)
            }
            Op::Write => {
                let args: WriteArgs = parse(arguments)?;
                let written = workspace
                    .write(&args.path, &args.content, args.create_dirs.unwrap_or(true))
                    .map_err(tool_error)?;
                to_json(&written)
            }
            Op::List => {
                let args: ListArgs = parse(arguments)?;
                let mut listing = workspace
                    .list(
                        args.path.as_deref().unwrap_or("."),
                        args.recursive.unwrap_or(false),
                        args.limit.unwrap_or(100),
                    )
                    .map_err(tool_error)?;
                if fit(&mut listing.entries) {
                    listing.truncated = true;
                }
                to_json(&listing)
            }
            Op::Search => {
                let args: SearchArgs = parse(arguments)?;
                let outcome = workspace
                    .search(&SearchQuery {
                        query: &args.query,
                        path: args.path.as_deref(),
                        regex: args.regex.unwrap_or(false),
                        max_results: args.max_results.unwrap_or(20),
                    })
                    .map_err(tool_error)?;
                let mut lines: Vec<String> = outcome
                    .matches
                    .iter()
                    .map(|m| format!("{}:{}: {}", m.path, m.line, m.text))
                    .collect();
                let cut = fit(&mut lines);
                Ok(json!({
                    "matches": lines,
                    "files_searched": outcome.files_searched,
                    "truncated": outcome.truncated || cut,
                }))
            }
        }
    }
}

#[derive(Deserialize)]
struct ReadArgs {
    path: String,
    offset_line: Option<usize>,
    max_lines: Option<usize>,
    line_numbers: Option<bool>,
}

#[derive(Deserialize)]
struct WriteArgs {
    path: String,
    content: String,
    create_dirs: Option<bool>,
}

#[derive(Deserialize)]
struct ListArgs {
    path: Option<String>,
    recursive: Option<bool>,
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct SearchArgs {
    query: String,
    path: Option<String>,
    regex: Option<bool>,
    max_results: Option<usize>,
}

impl Tool for WorkspaceTool {
    fn spec(&self) -> ToolSpec {
        self.op.spec()
    }

    fn writes(&self) -> bool {
        matches!(self.op, Op::Write)
    }

    fn call<'a>(
        &'a self,
        context: &'a ToolContext,
        arguments: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        let op = self.op;
        in_workspace(&self.base, &context.caller.user, move |workspace| {
            op.run(workspace, arguments)
        })
        .boxed()
    }
}

/// Runs `work` on a blocking thread in `user`'s workspace under `base` (created on first use).
pub(super) async fn in_workspace<F>(base: &Arc<PathBuf>, user: &User, work: F) -> Result<Value, ToolError>
where
    F: FnOnce(&Workspace) -> Result<Value, ToolError> + Send + 'static,
{
    let base = base.clone();
    let user = user.clone();
    tokio::task::spawn_blocking(move || {
        let workspace = Workspace::for_user(&base, &user).map_err(tool_error)?;
        work(&workspace)
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "a workspace tool panicked");
        ToolError::Failed("internal error; the server log has the details".into())
    })?
}

/// Arguments (already checked against the schema) as their struct.
pub(super) fn parse<T: DeserializeOwned>(arguments: Value) -> Result<T, ToolError> {
    serde_json::from_value(arguments).map_err(|err| ToolError::InvalidArguments(err.to_string()))
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, ToolError> {
    serde_json::to_value(value)
        .map_err(|err| ToolError::Failed(format!("could not encode the result: {err}")))
}

/// Drops trailing items until their JSON fits the text budget; true when some were dropped.
/// (The registry would cut a longer result to a string the model cannot parse.)
pub(super) fn fit<T: serde::Serialize>(items: &mut Vec<T>) -> bool {
    let mut used = 0;
    let fitting = items
        .iter()
        .take_while(|item| {
            used += serde_json::to_string(item).map_or(0, |text| text.len()) + 1;
            used <= TEXT_BUDGET
        })
        .count();
    let cut = fitting < items.len();
    items.truncate(fitting);
    cut
}

/// What the model reads when the tools layer refuses or fails.
pub(super) fn tool_error(err: ToolsError) -> ToolError {
    match err {
        ToolsError::InvalidInput(message) => ToolError::InvalidArguments(message),
        err if err.is_refusal() => ToolError::Forbidden(err.to_string()),
        err @ ToolsError::Io { .. } => {
            tracing::warn!(error = %err, "a workspace tool hit an I/O error");
            ToolError::Failed(err.to_string())
        }
        err => ToolError::Failed(err.to_string()),
    }
}

#[cfg(test)]
mod tests;
