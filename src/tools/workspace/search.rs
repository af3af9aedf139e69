//! A grep of the workspace: text or a regular expression, line by line, in the UTF-8 text
//! files below a folder. Bounded in every direction — matches, files opened, bytes read, the
//! size of one file, the length of a shown line — so a huge tree costs a bounded amount of
//! work and says it stopped early. Links are not followed and `.git` folders are skipped.

use std::path::PathBuf;

use regex::{Regex, RegexBuilder};
use serde::Serialize;

use super::files::read_text_for_search;
use super::resolve::read_folder;
use super::{EntryKind, MAX_DEPTH, MAX_SEARCH_RESULTS, Workspace, child_path};
use crate::tools::ToolsError;

/// Files opened by one search at most.
pub const MAX_SEARCH_FILES: usize = 2_000;
/// Bytes read by one search at most.
pub const MAX_SEARCH_BYTES: u64 = 32 * 1024 * 1024;
/// Files larger than this are skipped.
pub const MAX_SEARCH_FILE_BYTES: u64 = 1024 * 1024;
/// Characters of a matching line shown (around the match).
pub const MAX_LINE_CHARS: usize = 200;
/// Compiled size of a regular expression (bounds what a pattern can cost).
const MAX_REGEX_BYTES: usize = 1024 * 1024;

/// What to look for, and where.
#[derive(Debug, Clone)]
pub struct SearchQuery<'a> {
    pub query: &'a str,
    /// A folder or file; the whole workspace when `None`.
    pub path: Option<&'a str>,
    /// `query` is a regular expression (Rust syntax); otherwise plain text, any case.
    pub regex: bool,
    pub max_results: usize,
}

/// A matching line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchMatch {
    pub path: String,
    /// From 1.
    pub line: usize,
    /// The line, cut to [`MAX_LINE_CHARS`] around the match.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchOutcome {
    pub matches: Vec<SearchMatch>,
    pub files_searched: usize,
    /// The search stopped early: at `max_results`, or at a bound on files or bytes.
    pub truncated: bool,
}

impl Workspace {
    /// Lines of text files matching `query`, in path order.
    pub fn search(&self, query: &SearchQuery<'_>) -> Result<SearchOutcome, ToolsError> {
        let pattern = pattern(query)?;
        let max_results = query.max_results.clamp(1, MAX_SEARCH_RESULTS);
        let resolved = self.resolve(query.path.unwrap_or("."))?;
        let mut outcome = SearchOutcome {
            matches: Vec::new(),
            files_searched: 0,
            truncated: false,
        };
        let mut budget = MAX_SEARCH_BYTES;
        // A stack of (real path, shown path, depth): depth first, in name order.
        let start = resolved.target()?.to_path_buf();
        let mut pending: Vec<(PathBuf, String, usize)> = vec![(start, resolved.shown.clone(), 0)];
        match resolved.target_kind() {
            None => return Err(ToolsError::NotFound { path: resolved.shown }),
            Some(EntryKind::Other) => {
                let meta = std::fs::symlink_metadata(resolved.target()?)
                    .map_err(ToolsError::io("inspect", &resolved.shown))?;
                return Err(super::resolve::special(meta.file_type(), &resolved.shown));
            }
            Some(_) => {}
        }
        while let Some((real, shown, depth)) = pending.pop() {
            let Ok(meta) = std::fs::symlink_metadata(&real) else {
                continue;
            };
            if meta.is_dir() {
                let Ok(mut entries) = read_folder(self.root(), &real, &shown) else {
                    continue;
                };
                // Reversed, so that popping the stack visits names in order.
                entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
                for entry in entries {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let Ok(kind) = entry.file_type() else { continue };
                    let descend = kind.is_file() || (kind.is_dir() && name != ".git" && depth < MAX_DEPTH);
                    if descend {
                        pending.push((real.join(entry.file_name()), child_path(&shown, &name), depth + 1));
                    }
                }
                continue;
            }
            if !meta.is_file() || meta.len() > MAX_SEARCH_FILE_BYTES {
                continue;
            }
            if outcome.files_searched >= MAX_SEARCH_FILES || meta.len() > budget {
                outcome.truncated = true;
                break;
            }
            budget -= meta.len();
            outcome.files_searched += 1;
            let Some(text) = read_text_for_search(self.root(), &real, MAX_SEARCH_FILE_BYTES) else {
                continue;
            };
            for (number, line) in (1..).zip(text.lines()) {
                let Some(found) = pattern.find(line) else { continue };
                if outcome.matches.len() >= max_results {
                    outcome.truncated = true;
                    return Ok(outcome);
                }
                outcome.matches.push(SearchMatch {
                    path: shown.clone(),
                    line: number,
                    text: excerpt(line, found.start()),
                });
            }
        }
        Ok(outcome)
    }
}

fn pattern(query: &SearchQuery<'_>) -> Result<Regex, ToolsError> {
    if query.query.is_empty() {
        return Err(ToolsError::invalid("the query is empty"));
    }
    let source = if query.regex {
        query.query.to_owned()
    } else {
        regex::escape(query.query)
    };
    RegexBuilder::new(&source)
        .case_insensitive(!query.regex)
        .size_limit(MAX_REGEX_BYTES)
        .dfa_size_limit(MAX_REGEX_BYTES)
        .build()
        .map_err(|err| ToolsError::invalid(format!("invalid regular expression: {err}")))
}

/// At most [`MAX_LINE_CHARS`] of `line`, starting a little before byte `at` (the match) when
/// the line is longer; `…` marks a cut.
fn excerpt(line: &str, at: usize) -> String {
    let line = line.trim_end();
    if line.chars().count() <= MAX_LINE_CHARS {
        return line.to_owned();
    }
    let before = line[..at.min(line.len())].chars().count();
    let start = before.saturating_sub(MAX_LINE_CHARS / 4);
    let mut out: String = line.chars().skip(start).take(MAX_LINE_CHARS).collect();
    if start > 0 {
        out.insert(0, '…');
    }
    if start + MAX_LINE_CHARS < line.chars().count() {
        out.push('…');
    }
    out
}
