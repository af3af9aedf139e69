//! The confined path resolver and the confined open. A path is first normalized without the
//! file system (`..` may not climb above the root; an absolute path must lie inside it), then
//! walked one component at a time with `symlink_metadata`: a link met on the way is resolved
//! with `canonicalize` and refused unless its target lies inside the root. The last component
//! is reported as it is (a link is not followed), so a write can refuse it.
//!
//! Resolving and opening are two steps, and a folder could be swapped for a link between them
//! (another process writing into the workspace). So files are opened with `O_NOFOLLOW` (a
//! final link fails instead of being followed) and `O_NONBLOCK` (a FIFO swapped in does not
//! hang the open), and the open descriptor is checked: a regular file, whose real path
//! (`/proc/self/fd`) still lies inside the root.

use std::ffi::OsString;
use std::fs::{DirEntry, File, Metadata, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use super::{EntryKind, MAX_PATH_BYTES};
use crate::tools::ToolsError;

/// A checked path inside the workspace.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The path as the model should see it: relative to the workspace, `/`-separated, `.` for
    /// the root. Error messages use it (never the server's own folders).
    pub shown: String,
    /// The real location: every folder on the way resolved (links inside the workspace
    /// followed and checked); the last component itself is not followed.
    pub path: PathBuf,
    /// What the last component is (a link is `Symlink`); `None` when it does not exist.
    pub kind: Option<EntryKind>,
    /// For a last component that is a link: its real target, checked to lie inside the
    /// workspace (`None` for a link to nothing).
    pub link_target: Option<PathBuf>,
}

impl Resolved {
    /// The real path to read: the link's target for a link, the path itself otherwise.
    pub fn target(&self) -> Result<&Path, ToolsError> {
        match (self.kind, &self.link_target) {
            (None, _) | (Some(EntryKind::Symlink), None) => Err(ToolsError::NotFound {
                path: self.shown.clone(),
            }),
            (Some(EntryKind::Symlink), Some(target)) => Ok(target),
            (Some(_), _) => Ok(&self.path),
        }
    }

    /// The kind of what [`Resolved::target`] names.
    pub fn target_kind(&self) -> Option<EntryKind> {
        match (self.kind, &self.link_target) {
            (Some(EntryKind::Symlink), Some(target)) => std::fs::metadata(target)
                .ok()
                .map(|meta| EntryKind::of(meta.file_type())),
            (Some(EntryKind::Symlink), None) => None,
            (kind, _) => kind,
        }
    }
}

/// `path` checked against `root` (canonical) and resolved.
pub(super) fn resolve(root: &Path, path: &str) -> Result<Resolved, ToolsError> {
    let parts = components(root, path)?;
    let shown_upto = |end: usize| -> String {
        if end == 0 {
            return ".".into();
        }
        parts[..end]
            .iter()
            .map(|p| p.to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    };
    let shown = shown_upto(parts.len());
    let mut current = root.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let next = current.join(part);
        let meta = match std::fs::symlink_metadata(&next) {
            Ok(meta) => meta,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                let mut path = next;
                path.extend(&parts[i + 1..]);
                return Ok(Resolved {
                    shown,
                    path,
                    kind: None,
                    link_target: None,
                });
            }
            Err(cause) => return Err(ToolsError::io("look up", &shown_upto(i + 1))(cause)),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = match std::fs::canonicalize(&next) {
                Ok(target) => Some(target),
                // A link to nothing (or a loop of links) leads nowhere, inside or out.
                Err(err) if err.kind() == ErrorKind::NotFound || is_loop(&err) => None,
                Err(cause) => return Err(ToolsError::io("follow", &shown_upto(i + 1))(cause)),
            };
            if let Some(target) = &target
                && !target.starts_with(root)
            {
                return Err(ToolsError::OutsideWorkspace {
                    path: shown_upto(i + 1),
                });
            }
            if last {
                return Ok(Resolved {
                    shown,
                    path: next,
                    kind: Some(EntryKind::Symlink),
                    link_target: target,
                });
            }
            match target {
                Some(target) if target.is_dir() => current = target,
                Some(_) => {
                    return Err(ToolsError::NotFolder {
                        path: shown_upto(i + 1),
                    });
                }
                None => {
                    return Err(ToolsError::NotFound {
                        path: shown_upto(i + 1),
                    });
                }
            }
        } else if last {
            return Ok(Resolved {
                shown,
                path: next,
                kind: Some(EntryKind::of(kind)),
                link_target: None,
            });
        } else if kind.is_dir() {
            current = next;
        } else {
            return Err(ToolsError::NotFolder {
                path: shown_upto(i + 1),
            });
        }
    }
    Ok(Resolved {
        shown,
        path: current,
        kind: Some(EntryKind::Dir),
        link_target: None,
    })
}

fn is_loop(err: &std::io::Error) -> bool {
    err.raw_os_error() == Some(libc::ELOOP)
}

fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink())
}

/// The normal components of `path`, relative to the root, with `.` dropped and `..` applied;
/// refuses NUL bytes, over-long paths, `..` above the root and absolute paths outside it.
fn components(root: &Path, path: &str) -> Result<Vec<OsString>, ToolsError> {
    if path.contains('\0') {
        return Err(ToolsError::invalid(
            "the path contains a NUL byte; paths are plain text like src/main.rs",
        ));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(ToolsError::invalid(format!(
            "the path is longer than {MAX_PATH_BYTES} bytes"
        )));
    }
    let outside = || ToolsError::OutsideWorkspace {
        path: path.to_owned(),
    };
    let given = Path::new(path);
    // A model may echo back an absolute path it was shown: accept it when it is inside.
    let relative = if given.has_root() {
        given.strip_prefix(root).map_err(|_| outside())?
    } else {
        given
    };
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(name) => parts.push(name.to_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop().ok_or_else(outside)?;
            }
            Component::RootDir | Component::Prefix(_) => return Err(outside()),
        }
    }
    Ok(parts)
}

/// Opens `real` (a resolved path) for reading: no link followed, no FIFO waited on, and the
/// descriptor checked to be a regular file inside `root`. `shown` names it in errors.
pub(super) fn open_file(root: &Path, real: &Path, shown: &str) -> Result<(File, Metadata), ToolsError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(real)
        .map_err(|cause| match cause.kind() {
            ErrorKind::NotFound => ToolsError::NotFound { path: shown.into() },
            _ if is_loop(&cause) => ToolsError::SymbolicLink { path: shown.into() },
            _ => ToolsError::io("open", shown)(cause),
        })?;
    let meta = file.metadata().map_err(ToolsError::io("inspect", shown))?;
    check_regular(&meta, shown)?;
    check_inside(root, &file, shown)?;
    Ok((file, meta))
}

/// Refuses anything but a regular file (with what it is instead).
pub(super) fn check_regular(meta: &Metadata, shown: &str) -> Result<(), ToolsError> {
    let kind = meta.file_type();
    if kind.is_file() {
        Ok(())
    } else if kind.is_dir() {
        Err(ToolsError::IsFolder {
            path: shown.into(),
            hint: "list it with workspace_list",
        })
    } else {
        Err(special(kind, shown))
    }
}

/// The error for a FIFO, socket or device.
pub(super) fn special(kind: std::fs::FileType, shown: &str) -> ToolsError {
    let what = if kind.is_fifo() {
        "FIFO (named pipe)"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "device"
    } else if kind.is_symlink() {
        return ToolsError::SymbolicLink { path: shown.into() };
    } else {
        "special file"
    };
    ToolsError::SpecialFile {
        path: shown.into(),
        kind: what,
    }
}

/// The entries of the folder `real` (a resolved path), read through a descriptor opened
/// without following a final link and checked to lie inside `root`: a folder swapped for a link
/// after resolving is refused rather than listed. `shown` names it in errors.
pub(super) fn read_folder(root: &Path, real: &Path, shown: &str) -> Result<Vec<DirEntry>, ToolsError> {
    let folder = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY)
        .open(real)
        .map_err(|cause| match cause.kind() {
            ErrorKind::NotFound => ToolsError::NotFound { path: shown.into() },
            // A link in the folder's place (O_DIRECTORY reports it as "not a folder").
            _ if is_loop(&cause) || is_link(real) => ToolsError::SymbolicLink { path: shown.into() },
            ErrorKind::NotADirectory => ToolsError::NotFolder { path: shown.into() },
            _ => ToolsError::io("open", shown)(cause),
        })?;
    check_inside(root, &folder, shown)?;
    // Read the folder the descriptor holds, not whatever the path names by now.
    let through = descriptor_path(&folder).filter(|path| path.exists());
    let entries =
        std::fs::read_dir(through.as_deref().unwrap_or(real)).map_err(ToolsError::io("list", shown))?;
    Ok(entries.filter_map(Result::ok).collect())
}

/// `/proc/self/fd/N` for an open file, a path that names exactly that file — where `/proc`
/// is mounted (Linux); callers check that it exists.
fn descriptor_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    cfg!(target_os = "linux").then_some(path)
}

/// Checks, through the descriptor itself, that an open file lies inside `root`: a folder on the
/// way swapped for a link after resolving would show here. Where `/proc` is not mounted the
/// checks made while resolving stand alone.
pub(super) fn check_inside(root: &Path, file: &File, shown: &str) -> Result<(), ToolsError> {
    if let Some(real) = descriptor_path(file).and_then(|path| std::fs::read_link(path).ok())
        && !real.starts_with(root)
    {
        return Err(ToolsError::OutsideWorkspace { path: shown.into() });
    }
    Ok(())
}
