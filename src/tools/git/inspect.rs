//! Reading a repository: status, diff and log, each bounded (files listed, bytes of patch,
//! commits returned and commits walked).

use git2::{DiffFormat, DiffOptions, Sort, StatusOptions};
use serde::Serialize;

use super::{CommitInfo, Repo};
use crate::tools::ToolsError;

/// Files one status lists at most.
pub const MAX_STATUS_FILES: usize = 200;
/// Commits one log returns at most.
pub const MAX_LOG_COMMITS: usize = 100;
/// Commits a log filtered by path looks at, at most.
const MAX_LOG_WALK: usize = 5_000;

/// A changed file: what is staged (index vs HEAD) and what is not (work tree vs index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileStatus {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unstaged: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub repo: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// No commit yet.
    pub unborn: bool,
    pub files: Vec<FileStatus>,
    /// More files changed than are listed.
    pub truncated: bool,
}

/// A patch and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub files_changed: usize,
    pub insertions: usize,
    pub deletions: usize,
    /// Unified diff, cut at the size asked for.
    pub patch: String,
    pub truncated: bool,
}

impl Repo<'_> {
    /// Changed, staged and untracked files (ignored ones are left out).
    pub fn status(&self) -> Result<Status, ToolsError> {
        let mut options = StatusOptions::new();
        options
            .include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .exclude_submodules(true)
            .renames_head_to_index(true);
        let statuses = self
            .git
            .statuses(Some(&mut options))
            .map_err(|err| self.error(&err))?;
        let files = statuses
            .iter()
            .take(MAX_STATUS_FILES)
            .map(|entry| {
                let flags = entry.status();
                FileStatus {
                    path: String::from_utf8_lossy(entry.path_bytes()).into_owned(),
                    staged: staged(flags),
                    unstaged: unstaged(flags),
                }
            })
            .collect();
        Ok(Status {
            repo: self.shown.clone(),
            branch: self.branch(),
            unborn: self.head_commit()?.is_none(),
            files,
            truncated: statuses.len() > MAX_STATUS_FILES,
        })
    }

    /// Unstaged changes (work tree vs index), or with `cached` the staged ones (index vs
    /// HEAD), of the whole repository or below `path`; the patch is cut after `max_bytes`.
    pub fn diff(&self, cached: bool, path: Option<&str>, max_bytes: usize) -> Result<Diff, ToolsError> {
        let mut options = DiffOptions::new();
        options.context_lines(3);
        if let Some(spec) = path.map(|p| self.repo_path(p)).transpose()?.flatten() {
            options.pathspec(spec);
        }
        let diff = if cached {
            let head = self.head_commit()?;
            let tree = head
                .map(|commit| commit.tree())
                .transpose()
                .map_err(|err| self.error(&err))?;
            self.git
                .diff_tree_to_index(tree.as_ref(), None, Some(&mut options))
        } else {
            self.git.diff_index_to_workdir(None, Some(&mut options))
        }
        .map_err(|err| self.error(&err))?;
        let stats = diff.stats().map_err(|err| self.error(&err))?;
        let mut unified = String::new();
        let mut truncated = false;
        let printed = diff.print(DiffFormat::Patch, |_, _, line| {
            let mut piece = String::new();
            if matches!(line.origin(), '+' | '-' | ' ') {
                piece.push(line.origin());
            }
            piece.push_str(&String::from_utf8_lossy(line.content()));
            if unified.len() + piece.len() > max_bytes {
                truncated = true;
                return false;
            }
            unified.push_str(&piece);
            true
        });
        // Stopping the printer early is reported as an error: only a real one counts.
        if let Err(err) = printed
            && !truncated
        {
            return Err(self.error(&err));
        }
        Ok(Diff {
            files_changed: stats.files_changed(),
            insertions: stats.insertions(),
            deletions: stats.deletions(),
            patch: unified,
            truncated,
        })
    }

    /// The newest commits from HEAD (at most `max_count`), only those that changed `path`
    /// when given. Empty before the first commit.
    pub fn log(&self, max_count: usize, path: Option<&str>) -> Result<Vec<CommitInfo>, ToolsError> {
        let max_count = max_count.clamp(1, MAX_LOG_COMMITS);
        let spec = path.map(|p| self.repo_path(p)).transpose()?.flatten();
        if self.head_commit()?.is_none() {
            return Ok(Vec::new());
        }
        let mut walk = self.git.revwalk().map_err(|err| self.error(&err))?;
        walk.set_sorting(Sort::TIME).map_err(|err| self.error(&err))?;
        walk.push_head().map_err(|err| self.error(&err))?;
        let mut commits = Vec::new();
        for id in walk.take(MAX_LOG_WALK) {
            let id = id.map_err(|err| self.error(&err))?;
            let commit = self.git.find_commit(id).map_err(|err| self.error(&err))?;
            if let Some(spec) = &spec
                && !self.touches(&commit, spec)?
            {
                continue;
            }
            commits.push(CommitInfo::of(&commit));
            if commits.len() >= max_count {
                break;
            }
        }
        Ok(commits)
    }

    /// Whether `commit` changed something at or below `spec` (against its first parent).
    fn touches(&self, commit: &git2::Commit<'_>, spec: &str) -> Result<bool, ToolsError> {
        let tree = commit.tree().map_err(|err| self.error(&err))?;
        let parent = match commit.parent(0) {
            Ok(parent) => Some(parent.tree().map_err(|err| self.error(&err))?),
            Err(_) => None,
        };
        let mut options = DiffOptions::new();
        options.pathspec(spec);
        let diff = self
            .git
            .diff_tree_to_tree(parent.as_ref(), Some(&tree), Some(&mut options))
            .map_err(|err| self.error(&err))?;
        Ok(diff.deltas().next().is_some())
    }
}

fn staged(flags: git2::Status) -> Option<&'static str> {
    use git2::Status as S;
    [
        (S::INDEX_NEW, "added"),
        (S::INDEX_MODIFIED, "modified"),
        (S::INDEX_DELETED, "deleted"),
        (S::INDEX_RENAMED, "renamed"),
        (S::INDEX_TYPECHANGE, "typechange"),
    ]
    .into_iter()
    .find(|(flag, _)| flags.contains(*flag))
    .map(|(_, name)| name)
}

fn unstaged(flags: git2::Status) -> Option<&'static str> {
    use git2::Status as S;
    [
        (S::CONFLICTED, "conflicted"),
        (S::WT_NEW, "untracked"),
        (S::WT_MODIFIED, "modified"),
        (S::WT_DELETED, "deleted"),
        (S::WT_RENAMED, "renamed"),
        (S::WT_TYPECHANGE, "typechange"),
    ]
    .into_iter()
    .find(|(flag, _)| flags.contains(*flag))
    .map(|(_, name)| name)
}
