//! Workspace text files for indexing: a bounded walk that stays inside the workspace (symbolic
//! links are not followed), skips hidden folders and binaries, and cuts text into chunks the
//! embedding model can read whole (all-MiniLM-L6-v2 reads 256 word pieces, ~1,000 characters).

use std::path::{Path, PathBuf};

/// Files larger than this are not indexed.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Files looked at per indexing run.
pub const MAX_FILES: usize = 500;
/// Chunks kept per file (the rest of a very long file is not indexed).
pub const MAX_CHUNKS: usize = 64;
/// Characters per chunk.
pub const CHUNK_CHARS: usize = 1000;
/// Folder depth of the walk.
const MAX_DEPTH: usize = 16;

/// A text file of the workspace, by its path relative to the workspace (with `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFile {
    pub path: String,
    pub chunks: Vec<String>,
}

/// What the walk found: text files, and how many files it passed over.
#[derive(Debug, Default)]
pub struct Walk {
    pub files: Vec<TextFile>,
    pub skipped: usize,
    /// The walk stopped at `MAX_FILES`: files beyond it were not looked at.
    pub truncated: bool,
}

/// Reads the workspace's text files (blocking: run it off the async workers).
pub fn text_files(root: &Path) -> Walk {
    let mut walk = Walk::default();
    let mut pending: Vec<(PathBuf, usize)> = vec![(root.to_owned(), 0)];
    while let Some((dir, depth)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            // file_type() does not follow symbolic links: a link out of the workspace is skipped.
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() && depth < MAX_DEPTH {
                pending.push((entry.path(), depth + 1));
            } else if kind.is_file() {
                if walk.files.len() >= MAX_FILES {
                    walk.skipped += 1;
                    walk.truncated = true;
                    continue;
                }
                match read_text(&entry.path()) {
                    Some(text) if !text.trim().is_empty() => walk.files.push(TextFile {
                        path: relative(root, &entry.path()),
                        chunks: chunks(&text),
                    }),
                    _ => walk.skipped += 1,
                }
            }
        }
    }
    walk
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The file's text, or `None` for a large, binary or non-UTF-8 file.
fn read_text(path: &Path) -> Option<String> {
    let size = std::fs::metadata(path).ok()?.len();
    if size > MAX_FILE_BYTES {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    // A NUL byte is what text files do not have and nearly every binary format does.
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// Cuts text into chunks of at most `CHUNK_CHARS` characters, at a line break or a space when
/// one is near the limit, at most `MAX_CHUNKS` of them.
pub fn chunks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() && out.len() < MAX_CHUNKS {
        let limit = rest
            .char_indices()
            .nth(CHUNK_CHARS)
            .map_or(rest.len(), |(at, _)| at);
        let cut = if limit == rest.len() {
            limit
        } else {
            let window = &rest[..limit];
            let soft = window.rfind('\n').or_else(|| window.rfind(' '));
            soft.filter(|&at| at > limit / 2).unwrap_or(limit)
        };
        let piece = rest[..cut].trim();
        if !piece.is_empty() {
            out.push(piece.to_owned());
        }
        rest = rest[cut..].trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_the_size_and_prefer_line_breaks() {
        let line = "word ".repeat(30);
        let text = format!("{line}\n").repeat(20);
        let parts = chunks(&text);
        assert!(parts.len() > 1);
        for part in &parts {
            assert!(part.chars().count() <= CHUNK_CHARS);
            assert!(part.ends_with("word"), "{part:?}");
        }
        assert_eq!(chunks("  short  "), vec!["short".to_owned()]);
        assert!(chunks("").is_empty());
        let long = "é".repeat(CHUNK_CHARS * (MAX_CHUNKS + 2));
        let parts = chunks(&long);
        assert_eq!(parts.len(), MAX_CHUNKS);
        assert_eq!(parts[0].chars().count(), CHUNK_CHARS);
    }

    #[test]
    fn the_walk_keeps_text_and_skips_binaries_hidden_folders_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("docs/deep")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("docs/deep/notes.md"), "Quarterly revenue notes").unwrap();
        std::fs::write(root.join("readme.txt"), "hello").unwrap();
        std::fs::write(root.join(".git/config"), "secret").unwrap();
        std::fs::write(root.join("image.png"), [0x89, b'P', b'N', b'G', 0, 0, 1]).unwrap();
        std::fs::write(root.join("latin1.txt"), [0xe9, b'a']).unwrap();
        std::fs::write(root.join("empty.txt"), "   ").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("private.txt"), "outside").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();

        let walk = text_files(root);
        let paths: Vec<&str> = walk.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, vec!["readme.txt", "docs/deep/notes.md"]);
        assert_eq!(walk.skipped, 3);
    }
}
