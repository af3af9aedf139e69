//! Git in the workspace, through libgit2 (no `git` process, no network: the crate is built
//! without its ssh and https transports). A repository is the workspace folder itself or a
//! folder in it (the `repo` argument, resolved like any workspace path); it is opened exactly
//! there — never by searching the folders above — and refused when its git folder, its common
//! folder or its work tree lies outside the workspace (a `.git` file saying `gitdir:
//! /elsewhere`, `core.worktree` pointing out) or when it borrows objects from elsewhere
//! (alternates).
//!
//! Paths the git tools take and show are relative to the repository folder, as in git.
//! Every operation blocks: run it off the async workers.

mod change;
mod inspect;

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use git2::{Repository, RepositoryInitOptions, RepositoryOpenFlags};
use serde::Serialize;

use super::ToolsError;
use super::workspace::{EntryKind, Workspace, relative_path};
use crate::domain::User;
pub use change::{Added, MAX_ADD_PATHS};
pub use inspect::{Diff, FileStatus, MAX_LOG_COMMITS, MAX_STATUS_FILES, Status};

/// Who commits: the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    pub name: String,
    pub email: String,
}

impl Author {
    /// The user's display name (or the part of the email before `@`) and email.
    pub fn of(user: &User) -> Self {
        let name = match user.display_name.trim() {
            "" => user.email.split('@').next().unwrap_or("agentbox user"),
            name => name,
        };
        // `<`, `>` and line breaks would break the commit header: libgit2 refuses them.
        let clean = |text: &str| -> String {
            text.chars()
                .filter(|c| !matches!(c, '<' | '>' | '\n' | '\r' | '\0'))
                .collect::<String>()
                .trim()
                .to_owned()
        };
        Self {
            name: clean(name),
            email: clean(&user.email),
        }
    }
}

/// A commit, as `git_log` and `git_commit` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    /// Abbreviated (12 hex digits).
    pub id: String,
    /// `Name <email>`.
    pub author: String,
    pub time: DateTime<Utc>,
    /// The first line of the message.
    pub summary: String,
}

impl CommitInfo {
    fn of(commit: &git2::Commit<'_>) -> Self {
        let author = commit.author();
        let id = commit.id().to_string();
        Self {
            id: id[..12.min(id.len())].to_owned(),
            author: format!(
                "{} <{}>",
                String::from_utf8_lossy(author.name_bytes()),
                String::from_utf8_lossy(author.email_bytes())
            ),
            time: DateTime::from_timestamp(commit.time().seconds(), 0).unwrap_or_default(),
            summary: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).into_owned(),
        }
    }
}

/// What `git_init` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Initialized {
    /// The repository folder, relative to the workspace.
    pub repo: String,
    /// False when the folder already was a repository (nothing changed).
    pub created: bool,
    pub branch: String,
}

/// An open repository, checked to lie inside its workspace.
pub struct Repo<'w> {
    workspace: &'w Workspace,
    git: Repository,
    /// The work tree, canonical.
    workdir: PathBuf,
    /// The repository folder as the model named it (relative to the workspace).
    shown: String,
}

impl std::fmt::Debug for Repo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("repo", &self.shown)
            .finish_non_exhaustive()
    }
}

/// Makes the folder `repo` (the workspace itself when `None`; created when missing) a git
/// repository with a `main` branch. An existing repository is left as it is.
pub fn init(workspace: &Workspace, repo: Option<&str>) -> Result<Initialized, ToolsError> {
    let resolved = workspace.resolve(repo.unwrap_or("."))?;
    let folder = match resolved.target_kind() {
        Some(EntryKind::Dir) => resolved.target()?.to_path_buf(),
        None if resolved.kind.is_none() => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&resolved.path)
                .map_err(ToolsError::io("create", &resolved.shown))?;
            workspace.resolve(&resolved.shown)?.target()?.to_path_buf()
        }
        _ => return Err(ToolsError::NotFolder { path: resolved.shown }),
    };
    if folder.join(".git").symlink_metadata().is_ok() {
        let opened = Repo::open(workspace, Some(&resolved.shown))?;
        return Ok(Initialized {
            repo: opened.shown.clone(),
            created: false,
            branch: opened.branch().unwrap_or_default(),
        });
    }
    let mut options = RepositoryInitOptions::new();
    // No template folder: nothing from the server's git installation (sample hooks) is copied.
    options
        .no_reinit(true)
        .mkdir(false)
        .external_template(false)
        .initial_head("main");
    Repository::init_opts(&folder, &options).map_err(|err| git_error(&err, workspace.root()))?;
    let opened = Repo::open(workspace, Some(&resolved.shown))?;
    Ok(Initialized {
        repo: opened.shown.clone(),
        created: true,
        branch: opened.branch().unwrap_or_else(|| "main".into()),
    })
}

impl<'w> Repo<'w> {
    /// The repository in the folder `repo` (the workspace itself when `None`).
    pub fn open(workspace: &'w Workspace, repo: Option<&str>) -> Result<Self, ToolsError> {
        let resolved = workspace.resolve(repo.unwrap_or("."))?;
        let shown = resolved.shown.clone();
        match resolved.target_kind() {
            Some(EntryKind::Dir) => {}
            None => return Err(ToolsError::NotFound { path: shown }),
            Some(_) => return Err(ToolsError::NotFolder { path: shown }),
        }
        let folder = resolved.target()?;
        let root = workspace.root();
        // NO_SEARCH: this folder or its `.git`, never a repository in the folders above (the
        // ceiling is a second guard should the flag be dropped).
        let repo =
            Repository::open_ext(folder, RepositoryOpenFlags::NO_SEARCH, [root]).map_err(|err| match err
                .code()
            {
                git2::ErrorCode::NotFound => ToolsError::NotRepository { path: shown.clone() },
                _ => git_error(&err, root),
            })?;
        let inside = |path: &Path| std::fs::canonicalize(path).is_ok_and(|real| real.starts_with(root));
        let outside = || ToolsError::OutsideWorkspace {
            path: format!("{shown} (its git folder or work tree)"),
        };
        if !inside(repo.path()) || !inside(repo.commondir()) {
            return Err(outside());
        }
        for part in ["objects", "refs"] {
            let path = repo.commondir().join(part);
            if path.symlink_metadata().is_ok() && !inside(&path) {
                return Err(outside());
            }
        }
        if repo.commondir().join("objects/info/alternates").exists() {
            return Err(ToolsError::invalid(format!(
                "`{shown}` borrows objects from another repository (alternates); the git tools do not use such repositories"
            )));
        }
        let Some(workdir) = repo.workdir() else {
            return Err(ToolsError::invalid(format!(
                "`{shown}` is a bare repository; the git tools need one with files (git_init makes one)"
            )));
        };
        let workdir = std::fs::canonicalize(workdir).map_err(|_| outside())?;
        if !workdir.starts_with(root) {
            return Err(outside());
        }
        Ok(Self {
            workspace,
            git: repo,
            workdir,
            shown,
        })
    }

    /// The current branch (also before the first commit), `None` on a detached HEAD.
    pub fn branch(&self) -> Option<String> {
        let head = self.git.find_reference("HEAD").ok()?;
        let target = head.symbolic_target().ok()??;
        Some(target.strip_prefix("refs/heads/").unwrap_or(target).to_owned())
    }

    /// `path` (relative to the repository folder) checked like any workspace path and made
    /// relative to the work tree, with `/`; `None` for the work tree itself. The last
    /// component need not exist (a deleted file) and is not followed when it is a link (git
    /// tracks links as links).
    fn repo_path(&self, path: &str) -> Result<Option<String>, ToolsError> {
        let in_workspace = if self.shown == "." || Path::new(path).has_root() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.shown)
        };
        let resolved = self.workspace.resolve(&in_workspace)?;
        // The link's own location for a link (its target was checked while resolving).
        let real = resolved.path;
        if !real.starts_with(&self.workdir) {
            return Err(ToolsError::invalid(format!(
                "`{path}` is not inside the repository `{}`",
                self.shown
            )));
        }
        let relative = relative_path(&self.workdir, &real);
        if relative.split('/').any(|part| part.eq_ignore_ascii_case(".git")) {
            return Err(ToolsError::invalid(format!("`{path}` is inside git's own files")));
        }
        Ok((relative != ".").then_some(relative))
    }

    fn error(&self, err: &git2::Error) -> ToolsError {
        git_error(err, self.workspace.root())
    }

    /// HEAD's commit, `None` before the first commit.
    fn head_commit(&self) -> Result<Option<git2::Commit<'_>>, ToolsError> {
        match self.git.head() {
            Ok(head) => head.peel_to_commit().map(Some).map_err(|err| self.error(&err)),
            Err(err)
                if matches!(
                    err.code(),
                    git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound
                ) =>
            {
                Ok(None)
            }
            Err(err) => Err(self.error(&err)),
        }
    }
}

/// A libgit2 error for the model: its message, with the server's folders taken out.
fn git_error(err: &git2::Error, root: &Path) -> ToolsError {
    let message = err.message().replace(&root.display().to_string(), "<workspace>");
    ToolsError::Git(message)
}

#[cfg(test)]
mod tests;
