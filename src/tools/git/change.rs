//! Changing a repository: staging paths and committing the index as the caller.

use git2::{IndexAddOption, Signature, StatusOptions, StatusShow};
use serde::Serialize;

use super::inspect::MAX_STATUS_FILES;
use super::{CommitInfo, Repo};
use crate::tools::ToolsError;

/// Paths one `add` takes at most.
pub const MAX_ADD_PATHS: usize = 100;

/// What is staged after an `add`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Added {
    /// Every staged file of the repository (not only those just added), up to a bound.
    pub staged: Vec<String>,
    pub truncated: bool,
}

impl Repo<'_> {
    /// Stages `paths` (relative to the repository folder; `.` for everything) as `git add`
    /// does: new and changed files, and the removal of deleted ones. Ignored files stay out.
    pub fn add(&self, paths: &[String]) -> Result<Added, ToolsError> {
        if paths.is_empty() || paths.len() > MAX_ADD_PATHS {
            return Err(ToolsError::invalid(format!(
                "name 1 to {MAX_ADD_PATHS} paths to stage (`.` stages everything)"
            )));
        }
        let mut specs = Vec::new();
        for path in paths {
            let Some(spec) = self.repo_path(path)? else {
                // The whole work tree: an empty pathspec matches everything.
                specs.clear();
                break;
            };
            specs.push(spec);
        }
        let mut index = self.git.index().map_err(|err| self.error(&err))?;
        for spec in &specs {
            let known = index.get_path(std::path::Path::new(spec), 0).is_some()
                || index.find_prefix(format!("{spec}/")).is_ok();
            if self.workdir.join(spec).symlink_metadata().is_err() && !known {
                return Err(ToolsError::NotFound { path: spec.clone() });
            }
        }
        index
            .add_all(specs.iter().map(String::as_str), IndexAddOption::DEFAULT, None)
            .map_err(|err| self.error(&err))?;
        index
            .update_all(specs.iter().map(String::as_str), None)
            .map_err(|err| self.error(&err))?;
        index.write().map_err(|err| self.error(&err))?;
        self.staged()
    }

    fn staged(&self) -> Result<Added, ToolsError> {
        let mut options = StatusOptions::new();
        options.show(StatusShow::Index).exclude_submodules(true);
        let statuses = self
            .git
            .statuses(Some(&mut options))
            .map_err(|err| self.error(&err))?;
        Ok(Added {
            staged: statuses
                .iter()
                .take(MAX_STATUS_FILES)
                .map(|entry| String::from_utf8_lossy(entry.path_bytes()).into_owned())
                .collect(),
            truncated: statuses.len() > MAX_STATUS_FILES,
        })
    }

    /// Commits the index on the current branch with `message`, authored and committed by
    /// `author`. Refuses a commit that would change nothing.
    pub fn commit(&self, message: &str, author: &super::Author) -> Result<CommitInfo, ToolsError> {
        let message = message.trim();
        if message.is_empty() {
            return Err(ToolsError::invalid("the commit message is empty"));
        }
        if author.name.is_empty() || author.email.is_empty() {
            return Err(ToolsError::invalid(
                "your account has no usable name or email for a commit",
            ));
        }
        let signature = Signature::now(&author.name, &author.email).map_err(|err| self.error(&err))?;
        let mut index = self.git.index().map_err(|err| self.error(&err))?;
        if index.has_conflicts() {
            return Err(ToolsError::invalid(
                "the index has conflicts; resolve them and stage the files with git_add",
            ));
        }
        let tree_id = index.write_tree().map_err(|err| self.error(&err))?;
        let tree = self.git.find_tree(tree_id).map_err(|err| self.error(&err))?;
        let parent = self.head_commit()?;
        let unchanged = match &parent {
            Some(parent) => parent.tree_id() == tree_id,
            None => tree.is_empty(),
        };
        if unchanged {
            return Err(ToolsError::NothingToCommit);
        }
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let id = self
            .git
            .commit(Some("HEAD"), &signature, &signature, message, &tree, &parents)
            .map_err(|err| self.error(&err))?;
        let commit = self.git.find_commit(id).map_err(|err| self.error(&err))?;
        Ok(CommitInfo::of(&commit))
    }
}
