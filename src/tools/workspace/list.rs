//! Listing a folder, alone or with everything below it. A recursive listing is breadth first
//! (the top of a big tree before its depths), never follows links, skips `.git` folders, and
//! stops at the limit it was given.

use std::collections::VecDeque;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::resolve::read_folder;
use super::{EntryKind, MAX_DEPTH, MAX_LIST_ENTRIES, Workspace, child_path, modified};
use crate::tools::ToolsError;

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Relative to the workspace, as the other tools take it.
    pub path: String,
    pub kind: EntryKind,
    /// Bytes, for files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<Utc>>,
}

/// The entries of a folder, sorted by name within each folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub path: String,
    pub entries: Vec<Entry>,
    /// More entries exist than were returned.
    pub truncated: bool,
}

impl Workspace {
    /// The entries of the folder at `path` (with everything below it when `recursive`), at
    /// most `limit` (and [`MAX_LIST_ENTRIES`]) of them.
    pub fn list(&self, path: &str, recursive: bool, limit: usize) -> Result<Listing, ToolsError> {
        let resolved = self.resolve(path)?;
        let limit = limit.clamp(1, MAX_LIST_ENTRIES);
        match resolved.target_kind() {
            Some(EntryKind::Dir) => {}
            None => {
                return Err(ToolsError::NotFound { path: resolved.shown });
            }
            Some(_) => return Err(ToolsError::NotFolder { path: resolved.shown }),
        }
        let start = resolved.target()?.to_path_buf();
        let mut listing = Listing {
            path: resolved.shown.clone(),
            entries: Vec::new(),
            truncated: false,
        };
        let mut pending: VecDeque<(PathBuf, String, usize)> = VecDeque::from([(start, resolved.shown, 0)]);
        while let Some((dir, shown, depth)) = pending.pop_front() {
            let mut entries = match read_folder(self.root(), &dir, &shown) {
                Ok(entries) => entries,
                Err(err) if depth == 0 => return Err(err),
                // A folder below that cannot be read (or was swapped for a link) is left out.
                Err(_) => continue,
            };
            entries.sort_by_key(std::fs::DirEntry::file_name);
            for entry in entries {
                let name = entry.file_name().to_string_lossy().into_owned();
                if recursive && name == ".git" {
                    continue;
                }
                if listing.entries.len() >= limit {
                    listing.truncated = true;
                    return Ok(listing);
                }
                // DirEntry::metadata does not follow links.
                let Ok(meta) = entry.metadata() else { continue };
                let kind = EntryKind::of(meta.file_type());
                let path = child_path(&shown, &name);
                if recursive && kind == EntryKind::Dir && depth < MAX_DEPTH {
                    pending.push_back((dir.join(entry.file_name()), path.clone(), depth + 1));
                }
                listing.entries.push(Entry {
                    path,
                    kind,
                    size: (kind == EntryKind::File).then_some(meta.len()),
                    modified: modified(&meta),
                });
            }
        }
        Ok(listing)
    }
}
