//! Reading and writing one file. Reads take UTF-8 text only, a window of lines at a time;
//! writes are atomic (a temporary file in the same folder, synced, then renamed over the
//! target), never go through a link, and never touch git's own files.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use serde::Serialize;

use super::resolve::{self, check_inside, special};
use super::{EntryKind, MAX_READ_BYTES, MAX_WRITE_BYTES, Workspace};
use crate::tools::ToolsError;

/// Which lines of a file to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadWindow {
    /// First line returned, from 1.
    pub offset_line: usize,
    pub max_lines: usize,
    /// Characters of text returned at most (a tool result must fit the model's context); at
    /// least one line is returned, cut if it alone is longer.
    pub max_chars: usize,
    /// Prefix each line with its number (`12| `).
    pub line_numbers: bool,
}

impl Default for ReadWindow {
    fn default() -> Self {
        Self {
            offset_line: 1,
            max_lines: 400,
            max_chars: 10_000,
            line_numbers: false,
        }
    }
}

/// Lines of a text file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileText {
    pub path: String,
    pub text: String,
    /// First and last line in `text`, from 1 (both 0 for an empty file).
    pub first_line: usize,
    pub last_line: usize,
    pub total_lines: usize,
    /// Where to go on (as `offset_line`) when `text` stops before the end of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_line: Option<usize>,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Written {
    pub path: String,
    pub bytes: usize,
    /// The file did not exist before.
    pub created: bool,
}

/// Cuts a line that alone exceeds the window's characters.
const CUT_MARK: &str = "… [line cut]\n";

impl Workspace {
    /// Lines of the UTF-8 text file at `path` (at most [`MAX_READ_BYTES`] large).
    pub fn read(&self, path: &str, window: &ReadWindow) -> Result<FileText, ToolsError> {
        let resolved = self.resolve(path)?;
        let shown = resolved.shown.clone();
        let real = resolved.target()?;
        // Refuse what is not a file before opening it (opening a device can have effects).
        let meta = std::fs::symlink_metadata(real).map_err(ToolsError::io("inspect", &shown))?;
        resolve::check_regular(&meta, &shown)?;
        if meta.len() > MAX_READ_BYTES {
            return Err(too_large_to_read(&shown, meta.len()));
        }
        let (file, meta) = resolve::open_file(self.root(), real, &shown)?;
        if meta.len() > MAX_READ_BYTES {
            return Err(too_large_to_read(&shown, meta.len()));
        }
        let mut bytes = Vec::new();
        // The file may grow after the check: read one byte past the limit at most.
        file.take(MAX_READ_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(ToolsError::io("read", &shown))?;
        if bytes.len() as u64 > MAX_READ_BYTES {
            return Err(too_large_to_read(&shown, bytes.len() as u64));
        }
        let text = text_of(bytes).ok_or_else(|| ToolsError::NotText { path: shown.clone() })?;
        window_of(&text, shown, window)
    }

    /// Writes `content` to the file at `path`, replacing it atomically. Missing folders are
    /// created when `create_dirs` is set. Refuses folders, links, special files and anything
    /// inside a `.git` folder.
    pub fn write(&self, path: &str, content: &str, create_dirs: bool) -> Result<Written, ToolsError> {
        if content.len() > MAX_WRITE_BYTES {
            return Err(ToolsError::TooLarge {
                path: path.to_owned(),
                size: content.len() as u64,
                limit: MAX_WRITE_BYTES as u64,
                hint: "write it in smaller files",
            });
        }
        let mut resolved = self.resolve(path)?;
        // The real path, links inside the workspace followed: a link to `.git` is no way in.
        let real = self.relative(&resolved.path);
        if real.split('/').any(|part| part.eq_ignore_ascii_case(".git")) {
            return Err(ToolsError::invalid(format!(
                "`{}` is inside git's own files; change the repository with the git tools",
                resolved.shown
            )));
        }
        let created = match resolved.kind {
            None => true,
            Some(EntryKind::File) => false,
            Some(EntryKind::Dir) => {
                return Err(ToolsError::IsFolder {
                    path: resolved.shown,
                    hint: "write to a file inside it",
                });
            }
            Some(EntryKind::Symlink) => return Err(ToolsError::SymbolicLink { path: resolved.shown }),
            Some(EntryKind::Other) => {
                let meta = std::fs::symlink_metadata(&resolved.path)
                    .map_err(ToolsError::io("inspect", &resolved.shown))?;
                return Err(special(meta.file_type(), &resolved.shown));
            }
        };
        let parent = resolved
            .path
            .parent()
            .ok_or_else(|| ToolsError::invalid("name a file to write"))?
            .to_path_buf();
        if created && !parent.is_dir() {
            if !create_dirs {
                return Err(ToolsError::NotFound {
                    path: self.relative(&parent),
                });
            }
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&parent)
                .map_err(ToolsError::io("create the folder of", &resolved.shown))?;
            // The new folders are checked like any path before anything is written in them.
            resolved = self.resolve(path)?;
        }
        self.replace(&resolved, content.as_bytes())?;
        Ok(Written {
            path: resolved.shown,
            bytes: content.len(),
            created,
        })
    }

    /// Writes `bytes` to a temporary file beside `resolved` and renames it over the target:
    /// readers see the old or the new content, never a part, and a link put in the target's
    /// place is replaced rather than followed.
    fn replace(&self, resolved: &super::Resolved, bytes: &[u8]) -> Result<(), ToolsError> {
        let shown = &resolved.shown;
        let parent = resolved.path.parent().unwrap_or(self.root());
        let mut temp = tempfile::Builder::new()
            .prefix(".agentbox-write-")
            .tempfile_in(parent)
            .map_err(ToolsError::io("write", shown))?;
        check_inside(self.root(), temp.as_file(), shown)?;
        // Keep the mode of a file that is replaced (an executable script stays executable).
        if let Ok(meta) = std::fs::symlink_metadata(&resolved.path)
            && meta.is_file()
        {
            let mode = meta.permissions().mode() & 0o7777;
            temp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(ToolsError::io("write", shown))?;
        }
        temp.write_all(bytes).map_err(ToolsError::io("write", shown))?;
        temp.as_file()
            .sync_all()
            .map_err(ToolsError::io("write", shown))?;
        temp.persist(&resolved.path)
            .map_err(|err| ToolsError::io("write", shown)(err.error))?;
        Ok(())
    }
}

fn too_large_to_read(shown: &str, size: u64) -> ToolsError {
    ToolsError::TooLarge {
        path: shown.to_owned(),
        size,
        limit: MAX_READ_BYTES,
        hint: "find the part you need with workspace_search",
    }
}

/// The bytes as text, or `None` for a binary (a NUL byte) or non-UTF-8 file.
pub(super) fn text_of(bytes: Vec<u8>) -> Option<String> {
    if bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// The lines of `text` that `window` asks for.
fn window_of(text: &str, path: String, window: &ReadWindow) -> Result<FileText, ToolsError> {
    let total_lines = text.split_inclusive('\n').count();
    let offset = window.offset_line.max(1);
    if offset > total_lines.max(1) {
        return Err(ToolsError::invalid(format!(
            "offset_line {offset} is past the end: `{path}` has {total_lines} lines"
        )));
    }
    let mut out = String::new();
    let mut used = 0;
    let mut last_line = offset - 1;
    for (number, line) in (offset..).zip(text.split_inclusive('\n').skip(offset - 1)) {
        if number - offset >= window.max_lines {
            break;
        }
        let numbered = if window.line_numbers {
            format!("{number}| {line}")
        } else {
            line.to_owned()
        };
        let chars = numbered.chars().count();
        if used + chars > window.max_chars {
            if out.is_empty() {
                // One line longer than the window: show its start rather than nothing.
                let keep = window.max_chars.saturating_sub(CUT_MARK.chars().count());
                out.extend(numbered.chars().take(keep));
                out.push_str(CUT_MARK);
                last_line = number;
            }
            break;
        }
        out.push_str(&numbered);
        used += chars;
        last_line = number;
    }
    Ok(FileText {
        path,
        text: out,
        first_line: if total_lines == 0 { 0 } else { offset },
        last_line,
        total_lines,
        next_line: (last_line < total_lines).then_some(last_line + 1),
    })
}

/// Whether `path` (real, inside the workspace) is a file worth searching: used by the search
/// walk, which skips rather than fails.
pub(super) fn read_text_for_search(root: &Path, real: &Path, limit: u64) -> Option<String> {
    let (file, meta) = resolve::open_file(root, real, "").ok()?;
    if meta.len() > limit {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).ok()?;
    if bytes.len() as u64 > limit {
        return None;
    }
    text_of(bytes)
}
