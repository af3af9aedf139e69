//! The workspace: a folder an agent's file tools are confined to. A [`Workspace`] holds the
//! folder's canonical root; every path a model names goes through one resolver
//! (`resolve.rs`) that refuses anything leading outside — `..` that leaves the root, absolute
//! paths elsewhere, links (at any depth) that point out, special files, NUL bytes — and files
//! are opened without following a final link, then checked again through the open descriptor.
//!
//! Each company has its own workspace, `<workspace>/companies/<company_id>/`; a user without a
//! company has `<workspace>/users/<user_id>/` ([`owner_root`]). A caller's tools only ever see
//! that folder, so one company's keys cannot reach another company's files.
//!
//! Every operation blocks (file system calls): run it off the async workers.

mod files;
mod list;
mod resolve;
mod search;

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ToolsError;
use crate::domain::User;
pub use files::{FileText, ReadWindow, Written};
pub use list::{Entry, Listing};
pub use resolve::Resolved;
pub use search::{SearchMatch, SearchOutcome, SearchQuery};

/// Largest file `read` opens (bytes).
pub const MAX_READ_BYTES: u64 = 256 * 1024;
/// Largest content `write` accepts (bytes).
pub const MAX_WRITE_BYTES: usize = 1024 * 1024;
/// Most entries one `list` returns.
pub const MAX_LIST_ENTRIES: usize = 500;
/// Most matches one `search` returns.
pub const MAX_SEARCH_RESULTS: usize = 100;
/// Longest path a tool accepts (bytes).
pub const MAX_PATH_BYTES: usize = 1024;
/// Deepest folder a recursive walk enters (below the folder it starts at).
const MAX_DEPTH: usize = 32;

/// What a directory entry is. Links are reported as links, never followed by a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device: listed, never read or written.
    Other,
}

impl EntryKind {
    fn of(kind: std::fs::FileType) -> Self {
        if kind.is_symlink() {
            EntryKind::Symlink
        } else if kind.is_dir() {
            EntryKind::Dir
        } else if kind.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        }
    }
}

/// The folder of the workspace that belongs to `user`: their company's, or their own when they
/// belong to none. Company members share it; nobody else reaches it.
pub fn owner_root(base: &Path, user: &User) -> PathBuf {
    match user.company_id {
        Some(company) => base.join("companies").join(company.to_string()),
        None => base.join("users").join(user.id.to_string()),
    }
}

/// A folder the tools are confined to.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Canonical (absolute, no links): every resolved path is checked to start with it.
    root: PathBuf,
}

impl Workspace {
    /// The workspace of `user` under the configured `base` folder, created (mode 0700, like
    /// the folders above it that are missing) on first use.
    pub fn for_user(base: &Path, user: &User) -> Result<Self, ToolsError> {
        let root = owner_root(base, user);
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(ToolsError::io("create", "your workspace folder"))?;
        Self::open(&root)
    }

    /// An existing folder as a workspace.
    pub fn open(root: &Path) -> Result<Self, ToolsError> {
        let root = std::fs::canonicalize(root).map_err(ToolsError::io("open", "the workspace folder"))?;
        if !root.is_dir() {
            return Err(ToolsError::NotFolder {
                path: "the workspace".into(),
            });
        }
        Ok(Self { root })
    }

    /// The canonical root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `path` (relative to the workspace, or absolute inside it) checked and resolved: see
    /// [`Resolved`].
    pub fn resolve(&self, path: &str) -> Result<Resolved, ToolsError> {
        resolve::resolve(&self.root, path)
    }

    /// The path of `real` (inside the root) relative to it, with `/`; `.` for the root.
    pub(crate) fn relative(&self, real: &Path) -> String {
        relative_path(&self.root, real)
    }
}

/// `path` below `base` as `a/b/c` (`.` when they are equal).
pub(crate) fn relative_path(base: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(base).unwrap_or(path);
    let parts: Vec<_> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// `name` appended to a path shown to the model (`.` is the root).
fn child_path(parent: &str, name: &str) -> String {
    if parent == "." {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

fn modified(meta: &std::fs::Metadata) -> Option<DateTime<Utc>> {
    meta.modified().ok().map(DateTime::<Utc>::from)
}

#[cfg(test)]
mod tests;
