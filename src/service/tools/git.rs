//! The git tools: `git_status`, `git_diff`, `git_log`, `git_add`, `git_commit` and `git_init`,
//! on a repository in the caller's workspace (the workspace folder itself, or the folder named
//! by `repo`). Commits are authored by the caller. Blocking libgit2 work runs on a blocking
//! thread, like the workspace tools.

use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::workspace::{TEXT_BUDGET, fit, in_workspace, parse, path_schema, to_json, tool_error};
use super::{Tool, ToolContext, ToolError, ToolRegistry};
use crate::engine::grammar::ToolSpec;
use crate::tools::git::{self, Author, Repo};

/// Longest commit message, in characters.
const MAX_MESSAGE_CHARS: u64 = 5_000;

/// Registers the six git tools, on repositories below `base` (the `workspace` setting).
pub fn register(registry: &ToolRegistry, base: &std::path::Path) {
    let base = Arc::new(base.to_path_buf());
    for op in [Op::Status, Op::Diff, Op::Log, Op::Add, Op::Commit, Op::Init] {
        registry.register(Arc::new(GitTool {
            op,
            base: base.clone(),
        }));
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Status,
    Diff,
    Log,
    Add,
    Commit,
    Init,
}

struct GitTool {
    op: Op,
    base: Arc<PathBuf>,
}

fn repo_schema() -> Value {
    path_schema("Repository folder relative to the workspace (default: the workspace itself).")
}

fn object(mut properties: Value, required: &[&str]) -> Value {
    properties["repo"] = repo_schema();
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
            Op::Status => (
                "git_status",
                "Show the branch and the changed, staged and untracked files of a git repository.",
                object(json!({}), &[]),
            ),
            Op::Diff => (
                "git_diff",
                "Show unstaged changes as a unified diff, or staged ones with staged: true.",
                object(
                    json!({
                        "staged": { "type": "boolean", "description": "Diff the staged changes against the last commit." },
                        "path": path_schema("Only this file or folder, relative to the repository."),
                    }),
                    &[],
                ),
            ),
            Op::Log => (
                "git_log",
                "List recent commits, newest first: id, author, time, summary.",
                object(
                    json!({
                        "max_count": { "type": "integer", "minimum": 1, "maximum": git::MAX_LOG_COMMITS, "description": "Commits at most (default 10)." },
                        "path": path_schema("Only commits that changed this file or folder, relative to the repository."),
                    }),
                    &[],
                ),
            ),
            Op::Add => (
                "git_add",
                "Stage files for the next commit (. stages everything). Returns all staged files.",
                object(
                    json!({
                        "paths": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": git::MAX_ADD_PATHS,
                            "items": path_schema("A file or folder relative to the repository."),
                        },
                    }),
                    &["paths"],
                ),
            ),
            Op::Commit => (
                "git_commit",
                "Commit the staged changes with a message; you are the author.",
                object(
                    json!({
                        "message": { "type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_CHARS, "description": "The commit message: a short summary line, then details if needed." },
                    }),
                    &["message"],
                ),
            ),
            Op::Init => (
                "git_init",
                "Create a git repository (branch main) in a workspace folder; an existing one is left as it is.",
                object(json!({}), &[]),
            ),
        };
        ToolSpec {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }

    fn run(
        self,
        workspace: &crate::tools::workspace::Workspace,
        author: &Author,
        arguments: Value,
    ) -> Result<Value, ToolError> {
        let args: Args = parse(arguments)?;
        let repo = args.repo.as_deref();
        let open = || Repo::open(workspace, repo).map_err(tool_error);
        match self {
            Op::Init => to_json(&git::init(workspace, repo).map_err(tool_error)?),
            Op::Status => {
                let mut status = open()?.status().map_err(tool_error)?;
                if fit(&mut status.files) {
                    status.truncated = true;
                }
                to_json(&status)
            }
            Op::Diff => to_json(
                &open()?
                    .diff(args.staged.unwrap_or(false), args.path.as_deref(), TEXT_BUDGET)
                    .map_err(tool_error)?,
            ),
            Op::Log => {
                let mut commits = open()?
                    .log(args.max_count.unwrap_or(10), args.path.as_deref())
                    .map_err(tool_error)?;
                let truncated = fit(&mut commits);
                Ok(json!({ "commits": commits, "truncated": truncated }))
            }
            Op::Add => {
                let mut added = open()?.add(&args.paths.unwrap_or_default()).map_err(tool_error)?;
                if fit(&mut added.staged) {
                    added.truncated = true;
                }
                to_json(&added)
            }
            Op::Commit => {
                let opened = open()?;
                let commit = opened
                    .commit(args.message.as_deref().unwrap_or_default(), author)
                    .map_err(tool_error)?;
                Ok(json!({ "committed": commit, "branch": opened.branch() }))
            }
        }
    }
}

/// Every git tool's arguments (each tool's schema admits only its own).
#[derive(Deserialize)]
struct Args {
    repo: Option<String>,
    staged: Option<bool>,
    path: Option<String>,
    max_count: Option<usize>,
    paths: Option<Vec<String>>,
    message: Option<String>,
}

impl Tool for GitTool {
    fn spec(&self) -> ToolSpec {
        self.op.spec()
    }

    fn writes(&self) -> bool {
        matches!(self.op, Op::Add | Op::Commit | Op::Init)
    }

    fn call<'a>(
        &'a self,
        context: &'a ToolContext,
        arguments: Value,
    ) -> BoxFuture<'a, Result<Value, ToolError>> {
        let op = self.op;
        let author = Author::of(&context.caller.user);
        in_workspace(&self.base, &context.caller.user, move |workspace| {
            op.run(workspace, &author, arguments)
        })
        .boxed()
    }
}
