//! Fixtures shared by the workspace tests: a workspace with a folder beside it to escape to.

mod confinement;
mod operations;

use std::path::PathBuf;

use super::*;

/// A workspace folder `ws` and, beside it, a folder `other` with a secret in it.
pub(super) struct Fixture {
    pub(super) _dir: tempfile::TempDir,
    pub(super) ws: Workspace,
    pub(super) root: PathBuf,
    pub(super) outside: PathBuf,
}

pub(super) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let outside = dir.path().join("other");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "top secret\n").unwrap();
    let ws = Workspace::open(&root).unwrap();
    let root = ws.root().to_path_buf();
    let outside = std::fs::canonicalize(outside).unwrap();
    Fixture {
        _dir: dir,
        ws,
        root,
        outside,
    }
}

pub(super) fn read(ws: &Workspace, path: &str) -> Result<FileText, ToolsError> {
    ws.read(path, &ReadWindow::default())
}

pub(super) fn search(ws: &Workspace, query: &str, path: Option<&str>) -> Result<SearchOutcome, ToolsError> {
    ws.search(&SearchQuery {
        query,
        path,
        regex: false,
        max_results: 50,
    })
}

#[track_caller]
pub(super) fn assert_outside<T: std::fmt::Debug>(result: Result<T, ToolsError>) {
    match result {
        Err(err @ ToolsError::OutsideWorkspace { .. }) => {
            let message = err.to_string();
            assert!(message.contains("outside your workspace"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
