//! Every way out of the workspace is refused: `..`, absolute paths, links at any depth, special
//! files, another company's folder, and a folder swapped for a link after resolving.

use std::os::unix::fs::{PermissionsExt, symlink};

use super::super::*;
use super::{assert_outside, fixture, read, search};

#[test]
fn paths_that_leave_the_workspace_are_refused_for_every_operation() {
    let f = fixture();
    f.ws.write("a/b.txt", "hello\n", true).unwrap();
    let sibling = f.outside.join("secret.txt").display().to_string();
    for path in [
        "../x",
        "a/../../x",
        "/etc/passwd",
        "../other/secret.txt",
        sibling.as_str(),
    ] {
        assert_outside(read(&f.ws, path));
        assert_outside(f.ws.list(path, false, 10));
        assert_outside(f.ws.write(path, "x", true));
        assert_outside(search(&f.ws, "secret", Some(path)));
    }
    // The message names the path as given, never the server's folders.
    let message = read(&f.ws, "../x").unwrap_err().to_string();
    assert!(!message.contains(&*f.root.to_string_lossy()), "{message}");
    assert_eq!(
        std::fs::read_to_string(f.outside.join("secret.txt")).unwrap(),
        "top secret\n"
    );
    assert!(!f.outside.parent().unwrap().join("x").exists());

    // `..` that stays inside, `.` and absolute paths inside the root are fine.
    assert_eq!(read(&f.ws, "a/../a/./b.txt").unwrap().text, "hello\n");
    let absolute = f.root.join("a/b.txt").display().to_string();
    let inside = read(&f.ws, &absolute).unwrap();
    assert_eq!(
        (inside.path.as_str(), inside.text.as_str()),
        ("a/b.txt", "hello\n")
    );
}

#[test]
fn links_that_point_outside_are_refused_at_any_depth() {
    let f = fixture();
    std::fs::create_dir_all(f.root.join("a/deep")).unwrap();
    symlink(f.outside.join("secret.txt"), f.root.join("leak.txt")).unwrap();
    symlink(&f.outside, f.root.join("out")).unwrap();
    symlink(&f.outside, f.root.join("a/deep/out")).unwrap();
    // A link inside that leads to a link out.
    symlink(f.root.join("a"), f.root.join("alias")).unwrap();

    for path in [
        "leak.txt",
        "out/secret.txt",
        "a/deep/out/secret.txt",
        "alias/deep/out/secret.txt",
    ] {
        assert_outside(read(&f.ws, path));
    }
    for path in ["out", "a/deep/out", "alias/deep/out"] {
        assert_outside(f.ws.list(path, false, 10));
        assert_outside(f.ws.list(path, true, 10));
        assert_outside(search(&f.ws, "secret", Some(path)));
        assert_outside(f.ws.write(&format!("{path}/new.txt"), "x", true));
    }
    assert_outside(f.ws.write("leak.txt", "overwritten", true));
    assert_eq!(
        std::fs::read_to_string(f.outside.join("secret.txt")).unwrap(),
        "top secret\n"
    );
    assert!(!f.outside.join("new.txt").exists());

    // Walks list links as links and never enter them.
    let listing = f.ws.list(".", true, 100).unwrap();
    let out = listing.entries.iter().find(|e| e.path == "out").unwrap();
    assert_eq!(out.kind, EntryKind::Symlink);
    assert!(
        !listing.entries.iter().any(|e| e.path.contains("secret")),
        "{listing:?}"
    );
    let found = search(&f.ws, "secret", None).unwrap();
    assert!(found.matches.is_empty(), "{found:?}");
}

#[test]
fn links_inside_are_read_through_but_never_written_through() {
    let f = fixture();
    f.ws.write("real.txt", "real\n", true).unwrap();
    symlink(f.root.join("real.txt"), f.root.join("alias.txt")).unwrap();
    assert_eq!(read(&f.ws, "alias.txt").unwrap().text, "real\n");

    let err = f.ws.write("alias.txt", "changed", true).unwrap_err();
    assert!(matches!(err, ToolsError::SymbolicLink { .. }), "{err:?}");
    assert!(err.to_string().contains("symbolic link"));
    assert_eq!(
        std::fs::read_to_string(f.root.join("real.txt")).unwrap(),
        "real\n"
    );

    // A link planted where a write will go, pointing at a file that does not exist yet
    // outside: the write is refused and creates nothing there.
    symlink(f.outside.join("planted.txt"), f.root.join("target.txt")).unwrap();
    let err = f.ws.write("target.txt", "payload", true).unwrap_err();
    assert!(matches!(err, ToolsError::SymbolicLink { .. }), "{err:?}");
    assert!(!f.outside.join("planted.txt").exists());
    assert!(
        std::fs::symlink_metadata(f.root.join("target.txt"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn special_files_are_refused_and_never_hang() {
    let f = fixture();
    let status = std::process::Command::new("mkfifo")
        .arg(f.root.join("pipe"))
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    for result in [
        read(&f.ws, "pipe").map(|_| ()),
        f.ws.write("pipe", "x", true).map(|_| ()),
    ] {
        match result {
            Err(err @ ToolsError::SpecialFile { .. }) => assert!(err.to_string().contains("FIFO"), "{err}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert!(matches!(
        search(&f.ws, "x", Some("pipe")),
        Err(ToolsError::SpecialFile { .. })
    ));
    f.ws.write("note.txt", "x marks the spot\n", true).unwrap();
    let found = search(&f.ws, "x", None).unwrap();
    assert_eq!(found.matches.len(), 1, "{found:?}");
    let listing = f.ws.list(".", false, 10).unwrap();
    let pipe = listing.entries.iter().find(|e| e.path == "pipe").unwrap();
    assert_eq!(pipe.kind, EntryKind::Other);
}

#[test]
fn each_company_and_each_user_without_one_has_its_own_root() {
    let base = tempfile::tempdir().unwrap();
    let user = |company: Option<uuid::Uuid>| crate::domain::User {
        id: uuid::Uuid::new_v4(),
        email: "a@example.com".into(),
        display_name: "A".into(),
        role: crate::domain::Role::Member,
        company_id: company,
        department_id: None,
        disabled: false,
        created_at: chrono::Utc::now(),
    };
    let company = uuid::Uuid::new_v4();
    let (one, two, other, alone) = (
        user(Some(company)),
        user(Some(company)),
        user(Some(uuid::Uuid::new_v4())),
        user(None),
    );
    assert_eq!(
        owner_root(base.path(), &one),
        base.path().join(format!("companies/{company}"))
    );
    assert_eq!(owner_root(base.path(), &one), owner_root(base.path(), &two));
    assert_eq!(
        owner_root(base.path(), &alone),
        base.path().join(format!("users/{}", alone.id))
    );

    let ws = Workspace::for_user(base.path(), &one).unwrap();
    ws.write("shared.txt", "for the company", true).unwrap();
    let mode = std::fs::metadata(ws.root()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert_eq!(
        read(&Workspace::for_user(base.path(), &two).unwrap(), "shared.txt")
            .unwrap()
            .text,
        "for the company"
    );
    let theirs = Workspace::for_user(base.path(), &other).unwrap();
    assert!(matches!(
        read(&theirs, "shared.txt"),
        Err(ToolsError::NotFound { .. })
    ));
    assert_outside(read(&theirs, &format!("../{company}/shared.txt")));
    let own = Workspace::for_user(base.path(), &alone).unwrap();
    assert_outside(read(&own, &format!("../../companies/{company}/shared.txt")));
    assert!(own.root().ends_with(alone.id.to_string()));
}

/// What resolving cannot see: a folder swapped for a link between the check and the open. The
/// open itself must then refuse (the path below is what a resolved path looks like after the
/// swap: a real folder name that has become a link out).
#[test]
fn opens_refuse_what_a_swap_after_resolving_would_reach() {
    let f = fixture();
    symlink(&f.outside, f.root.join("swapped")).unwrap();
    let through = f.root.join("swapped/secret.txt");
    assert_outside(resolve::open_file(&f.root, &through, "swapped/secret.txt"));
    let listed = resolve::read_folder(&f.root, &f.root.join("swapped"), "swapped");
    assert!(
        matches!(listed, Err(ToolsError::SymbolicLink { .. })),
        "{listed:?}"
    );
    let outside_file = std::fs::File::open(f.outside.join("secret.txt")).unwrap();
    assert_outside(resolve::check_inside(&f.root, &outside_file, "secret.txt"));

    // A final link is never followed by the open, even one pointing inside.
    f.ws.write("real.txt", "real\n", true).unwrap();
    symlink(f.root.join("real.txt"), f.root.join("alias.txt")).unwrap();
    let opened = resolve::open_file(&f.root, &f.root.join("alias.txt"), "alias.txt");
    assert!(
        matches!(opened, Err(ToolsError::SymbolicLink { .. })),
        "{opened:?}"
    );
    let (_, meta) = resolve::open_file(&f.root, &f.root.join("real.txt"), "real.txt").unwrap();
    assert_eq!(meta.len(), 5);
}
