use std::path::PathBuf;

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    ws: Workspace,
    root: PathBuf,
    outside: PathBuf,
}

/// A workspace `ws` and, beside it, a folder `other`.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ws")).unwrap();
    std::fs::create_dir_all(dir.path().join("other")).unwrap();
    let ws = Workspace::open(&dir.path().join("ws")).unwrap();
    let root = ws.root().to_path_buf();
    let outside = std::fs::canonicalize(dir.path().join("other")).unwrap();
    Fixture {
        _dir: dir,
        ws,
        root,
        outside,
    }
}

fn author() -> Author {
    Author {
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
    }
}

#[test]
fn init_write_add_commit_log_and_diff() {
    let f = fixture();
    let made = init(&f.ws, Some("proj")).unwrap();
    assert_eq!(
        (made.repo.as_str(), made.created, made.branch.as_str()),
        ("proj", true, "main")
    );
    assert!(
        !init(&f.ws, Some("proj")).unwrap().created,
        "a second init changes nothing"
    );
    assert!(!f.root.join("proj/.git/hooks").join("pre-commit.sample").exists());

    f.ws.write("proj/hello.txt", "hello\n", true).unwrap();
    let repo = Repo::open(&f.ws, Some("proj")).unwrap();
    let status = repo.status().unwrap();
    assert!(status.unborn);
    assert_eq!(status.branch.as_deref(), Some("main"));
    assert_eq!(
        status.files,
        [FileStatus {
            path: "hello.txt".into(),
            staged: None,
            unstaged: Some("untracked"),
        }]
    );
    assert!(repo.log(10, None).unwrap().is_empty());
    assert!(matches!(
        repo.commit("empty", &author()),
        Err(ToolsError::NothingToCommit)
    ));

    let added = repo.add(&["hello.txt".into()]).unwrap();
    assert_eq!(added.staged, ["hello.txt"]);
    assert_eq!(repo.status().unwrap().files[0].staged, Some("added"));
    let first = repo
        .commit("Add a greeting\n\nThe first file.", &author())
        .unwrap();
    assert_eq!(first.author, "Ada Lovelace <ada@example.com>");
    assert_eq!(first.summary, "Add a greeting");
    let raw = repo.git.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(raw.committer().email().unwrap(), "ada@example.com");
    assert_eq!(raw.message().unwrap(), "Add a greeting\n\nThe first file.");
    assert!(repo.status().unwrap().files.is_empty());
    assert!(matches!(
        repo.commit("again", &author()),
        Err(ToolsError::NothingToCommit)
    ));

    f.ws.write("proj/hello.txt", "hello, world\n", true).unwrap();
    f.ws.write("proj/docs/other.md", "other\n", true).unwrap();
    let diff = repo.diff(false, None, 10_000).unwrap();
    assert_eq!((diff.files_changed, diff.insertions, diff.deletions), (1, 1, 1));
    assert!(diff.patch.contains("-hello\n+hello, world\n"), "{}", diff.patch);
    assert!(repo.diff(true, None, 10_000).unwrap().patch.is_empty());
    let cut = repo.diff(false, None, 40).unwrap();
    assert!(cut.truncated && cut.patch.len() <= 40);

    repo.add(&[".".into()]).unwrap();
    let staged = repo.diff(true, Some("hello.txt"), 10_000).unwrap();
    assert_eq!(staged.files_changed, 1);
    assert!(staged.patch.contains("+hello, world"));
    assert!(!staged.patch.contains("other.md"));
    let second = repo.commit("Widen the greeting", &author()).unwrap();

    let log = repo.log(10, None).unwrap();
    let ids: Vec<&str> = log.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [second.id.as_str(), first.id.as_str()]);
    assert_eq!(repo.log(1, None).unwrap().len(), 1);
    let docs = repo.log(10, Some("docs")).unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].summary, "Widen the greeting");

    // A deleted file is staged as a deletion.
    std::fs::remove_file(f.root.join("proj/docs/other.md")).unwrap();
    repo.add(&["docs/other.md".into()]).unwrap();
    let status = repo.status().unwrap();
    assert_eq!(status.files[0].staged, Some("deleted"));
    assert!(matches!(
        repo.add(&["never.txt".into()]),
        Err(ToolsError::NotFound { .. })
    ));
}

#[test]
fn the_workspace_root_can_be_the_repository() {
    let f = fixture();
    init(&f.ws, None).unwrap();
    f.ws.write("a.txt", "a\n", true).unwrap();
    let repo = Repo::open(&f.ws, None).unwrap();
    repo.add(&["a.txt".into()]).unwrap();
    let commit = repo.commit("a", &author()).unwrap();
    assert_eq!(repo.log(5, Some("a.txt")).unwrap()[0].id, commit.id);
}

#[test]
fn repositories_reaching_outside_the_workspace_are_refused() {
    let f = fixture();
    // A `.git` file sending git to a repository elsewhere.
    git2::Repository::init(f.outside.join("elsewhere")).unwrap();
    std::fs::create_dir_all(f.root.join("pointer")).unwrap();
    std::fs::write(
        f.root.join("pointer/.git"),
        format!("gitdir: {}\n", f.outside.join("elsewhere/.git").display()),
    )
    .unwrap();
    let err = Repo::open(&f.ws, Some("pointer")).unwrap_err();
    assert!(matches!(err, ToolsError::OutsideWorkspace { .. }), "{err:?}");
    assert!(matches!(
        init(&f.ws, Some("pointer")),
        Err(ToolsError::OutsideWorkspace { .. })
    ));

    // A work tree configured elsewhere.
    init(&f.ws, Some("moved")).unwrap();
    let repo = git2::Repository::open(f.root.join("moved")).unwrap();
    repo.config()
        .unwrap()
        .set_str("core.worktree", &f.outside.display().to_string())
        .unwrap();
    let err = Repo::open(&f.ws, Some("moved")).unwrap_err();
    assert!(matches!(err, ToolsError::OutsideWorkspace { .. }), "{err:?}");

    // A `.git` folder that is a link out.
    std::fs::create_dir_all(f.root.join("linked")).unwrap();
    std::os::unix::fs::symlink(f.outside.join("elsewhere/.git"), f.root.join("linked/.git")).unwrap();
    assert!(matches!(
        Repo::open(&f.ws, Some("linked")),
        Err(ToolsError::OutsideWorkspace { .. })
    ));

    // The `repo` argument is a workspace path like any other.
    for repo in ["..", "../other/elsewhere", "/tmp"] {
        assert!(
            matches!(
                Repo::open(&f.ws, Some(repo)),
                Err(ToolsError::OutsideWorkspace { .. })
            ),
            "{repo}"
        );
        assert!(
            matches!(init(&f.ws, Some(repo)), Err(ToolsError::OutsideWorkspace { .. })),
            "{repo}"
        );
    }
}

#[test]
fn repositories_are_not_searched_for_in_the_folders_above() {
    let dir = tempfile::tempdir().unwrap();
    // The workspace lies inside a repository: the tools must not use it.
    git2::Repository::init(dir.path()).unwrap();
    std::fs::create_dir_all(dir.path().join("ws/plain")).unwrap();
    let ws = Workspace::open(&dir.path().join("ws")).unwrap();
    for repo in [None, Some("plain")] {
        let err = Repo::open(&ws, repo).unwrap_err();
        assert!(matches!(err, ToolsError::NotRepository { .. }), "{err:?}");
        assert!(err.to_string().contains("git_init"));
    }
    assert!(matches!(
        Repo::open(&ws, Some("missing")),
        Err(ToolsError::NotFound { .. })
    ));
}

#[test]
fn staged_paths_stay_inside_the_repository() {
    let f = fixture();
    init(&f.ws, Some("proj")).unwrap();
    f.ws.write("loose.txt", "not in the repository\n", true).unwrap();
    let repo = Repo::open(&f.ws, Some("proj")).unwrap();
    let err = repo.add(&["../loose.txt".into()]).unwrap_err();
    assert!(err.to_string().contains("not inside the repository"), "{err}");
    assert!(matches!(
        repo.add(&["../../other".into()]),
        Err(ToolsError::OutsideWorkspace { .. })
    ));
    assert!(matches!(
        repo.add(&[".git/config".into()]),
        Err(ToolsError::InvalidInput(_))
    ));
    assert!(matches!(
        repo.diff(false, Some("../../x"), 100),
        Err(ToolsError::OutsideWorkspace { .. })
    ));
    assert!(matches!(
        repo.log(5, Some("../loose.txt")),
        Err(ToolsError::InvalidInput(_))
    ));
}

#[test]
fn the_author_comes_from_the_user() {
    let mut user = crate::domain::User {
        id: uuid::Uuid::new_v4(),
        email: "grace@example.com".into(),
        display_name: "Grace <Hopper>\n".into(),
        role: crate::domain::Role::Member,
        company_id: None,
        department_id: None,
        disabled: false,
        created_at: chrono::Utc::now(),
    };
    assert_eq!(
        Author::of(&user),
        Author {
            name: "Grace Hopper".into(),
            email: "grace@example.com".into()
        }
    );
    user.display_name = " ".into();
    assert_eq!(Author::of(&user).name, "grace");
}
