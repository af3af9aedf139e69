//! What the operations do inside the workspace, and their bounds.

use std::os::unix::fs::PermissionsExt;

use super::super::*;
use super::{fixture, read, search};

#[test]
fn oversize_binary_and_nul_inputs_are_refused() {
    let f = fixture();
    let limit = usize::try_from(MAX_READ_BYTES).unwrap();
    std::fs::write(f.root.join("big.txt"), "a".repeat(limit + 1)).unwrap();
    std::fs::write(f.root.join("fits.txt"), "a".repeat(limit)).unwrap();
    assert!(matches!(read(&f.ws, "big.txt"), Err(ToolsError::TooLarge { .. })));
    assert!(read(&f.ws, "fits.txt").is_ok());

    let err =
        f.ws.write("huge.txt", &"b".repeat(MAX_WRITE_BYTES + 1), true)
            .unwrap_err();
    assert!(matches!(err, ToolsError::TooLarge { .. }), "{err:?}");
    assert!(!f.root.join("huge.txt").exists());
    f.ws.write("max.txt", &"b".repeat(MAX_WRITE_BYTES), true).unwrap();

    std::fs::write(f.root.join("image.png"), [0x89, b'P', b'N', b'G', 0, 1]).unwrap();
    std::fs::write(f.root.join("latin1.txt"), [b'c', 0xe9]).unwrap();
    for path in ["image.png", "latin1.txt"] {
        let err = read(&f.ws, path).unwrap_err();
        assert!(matches!(err, ToolsError::NotText { .. }), "{path}: {err:?}");
    }

    for result in [
        read(&f.ws, "a\0b").map(|_| ()),
        f.ws.write("a\0b", "x", true).map(|_| ()),
        f.ws.list("a\0b", false, 1).map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(ToolsError::InvalidInput(ref m)) if m.contains("NUL")),
            "{result:?}"
        );
    }
}

#[test]
fn writes_are_atomic_land_inside_and_keep_the_mode() {
    let f = fixture();
    let written = f.ws.write("new/dir/file.txt", "first\n", true).unwrap();
    assert_eq!(
        written,
        Written {
            path: "new/dir/file.txt".into(),
            bytes: 6,
            created: true
        }
    );
    let on_disk = f.root.join("new/dir/file.txt");
    assert_eq!(std::fs::read_to_string(&on_disk).unwrap(), "first\n");
    let mode = std::fs::metadata(f.root.join("new"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);

    std::fs::set_permissions(&on_disk, std::fs::Permissions::from_mode(0o750)).unwrap();
    let again = f.ws.write("new/dir/file.txt", "second\n", false).unwrap();
    assert!(!again.created);
    assert_eq!(std::fs::read_to_string(&on_disk).unwrap(), "second\n");
    assert_eq!(
        std::fs::metadata(&on_disk).unwrap().permissions().mode() & 0o777,
        0o750
    );
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(f.root.join("new/dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["file.txt"]);

    let err = f.ws.write("missing/file.txt", "x", false).unwrap_err();
    assert!(
        matches!(err, ToolsError::NotFound { ref path } if path == "missing"),
        "{err:?}"
    );
    assert!(matches!(
        f.ws.write("new", "x", true),
        Err(ToolsError::IsFolder { .. })
    ));
    assert!(matches!(
        f.ws.write(".", "x", true),
        Err(ToolsError::IsFolder { .. })
    ));
    std::fs::create_dir_all(f.root.join("repo/.git")).unwrap();
    let err = f.ws.write("repo/.git/config", "[core]\n", true).unwrap_err();
    assert!(err.to_string().contains("git's own files"), "{err}");
    assert!(!f.root.join("repo/.git/config").exists());
}

#[test]
fn reads_return_a_window_of_lines() {
    let f = fixture();
    let text = (1..=10).fold(String::new(), |text, n| text + &format!("line {n}\n"));
    f.ws.write("ten.txt", &text, true).unwrap();
    let all = read(&f.ws, "ten.txt").unwrap();
    assert_eq!(
        (all.first_line, all.last_line, all.total_lines, all.next_line),
        (1, 10, 10, None)
    );
    assert_eq!(all.text, text);

    let window = ReadWindow {
        offset_line: 3,
        max_lines: 2,
        line_numbers: true,
        ..ReadWindow::default()
    };
    let part = f.ws.read("ten.txt", &window).unwrap();
    assert_eq!(part.text, "3| line 3\n4| line 4\n");
    assert_eq!((part.first_line, part.last_line, part.next_line), (3, 4, Some(5)));

    let beyond = ReadWindow {
        offset_line: 11,
        ..ReadWindow::default()
    };
    let err = f.ws.read("ten.txt", &beyond).unwrap_err();
    assert!(err.to_string().contains("has 10 lines"), "{err}");

    // The character budget stops early; a single over-long line is cut, not skipped.
    let small = ReadWindow {
        max_chars: 20,
        ..ReadWindow::default()
    };
    let budget = f.ws.read("ten.txt", &small).unwrap();
    assert_eq!((budget.last_line, budget.next_line), (2, Some(3)));
    f.ws.write("long.txt", &"x".repeat(100), true).unwrap();
    let long = f.ws.read("long.txt", &small).unwrap();
    assert!(
        long.text.ends_with("[line cut]\n") && long.text.chars().count() <= 20,
        "{long:?}"
    );

    f.ws.write("empty.txt", "", true).unwrap();
    let empty = read(&f.ws, "empty.txt").unwrap();
    assert_eq!(
        (empty.text.as_str(), empty.total_lines, empty.last_line),
        ("", 0, 0)
    );
    assert!(matches!(
        read(&f.ws, "nope.txt"),
        Err(ToolsError::NotFound { .. })
    ));
    assert!(matches!(read(&f.ws, "."), Err(ToolsError::IsFolder { .. })));
}

#[test]
fn listings_are_sorted_bounded_and_skip_git_when_recursive() {
    let f = fixture();
    for path in ["b.txt", "a/one.txt", "a/two.txt", "a/sub/three.txt", ".git/HEAD"] {
        std::fs::create_dir_all(f.root.join(path).parent().unwrap()).unwrap();
        std::fs::write(f.root.join(path), "x").unwrap();
    }
    let top = f.ws.list(".", false, 100).unwrap();
    let names: Vec<&str> = top.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(names, [".git", "a", "b.txt"]);
    assert_eq!(top.entries[2].size, Some(1));
    assert!(top.entries[2].modified.is_some());

    let all = f.ws.list(".", true, 100).unwrap();
    let names: Vec<&str> = all.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        names,
        ["a", "b.txt", "a/one.txt", "a/sub", "a/two.txt", "a/sub/three.txt"]
    );
    assert!(!all.truncated);

    let some = f.ws.list(".", true, 3).unwrap();
    assert_eq!(some.entries.len(), 3);
    assert!(some.truncated);
    let sub = f.ws.list("a/sub", false, 10).unwrap();
    assert_eq!(sub.entries[0].path, "a/sub/three.txt");
    assert!(matches!(
        f.ws.list("b.txt", false, 10),
        Err(ToolsError::NotFolder { .. })
    ));
    assert!(matches!(
        f.ws.list("nope", false, 10),
        Err(ToolsError::NotFound { .. })
    ));
}

#[test]
fn search_finds_text_and_patterns_within_its_bounds() {
    let f = fixture();
    f.ws.write("src/main.rs", "fn main() {\n    println!(\"Hello\");\n}\n", true)
        .unwrap();
    f.ws.write("notes.md", "say hello to everyone\n", true).unwrap();
    f.ws.write(
        "wide.txt",
        &format!("{}hello{}\n", "x".repeat(500), "y".repeat(500)),
        true,
    )
    .unwrap();
    std::fs::write(f.root.join("blob.bin"), b"hello\0binary").unwrap();
    std::fs::create_dir_all(f.root.join(".git")).unwrap();
    std::fs::write(f.root.join(".git/COMMIT_EDITMSG"), "hello from git").unwrap();

    let found = search(&f.ws, "HELLO", None).unwrap();
    let places: Vec<(&str, usize)> = found.matches.iter().map(|m| (m.path.as_str(), m.line)).collect();
    assert_eq!(places, [("notes.md", 1), ("src/main.rs", 2), ("wide.txt", 1)]);
    let wide = &found.matches[2].text;
    assert!(
        wide.contains("hello") && wide.chars().count() <= search::MAX_LINE_CHARS + 2,
        "{wide}"
    );
    assert!(wide.starts_with('…') && wide.ends_with('…'));
    assert!(!found.truncated);

    let regex =
        f.ws.search(&SearchQuery {
            query: r"fn \w+\(",
            path: Some("src"),
            regex: true,
            max_results: 10,
        })
        .unwrap();
    assert_eq!(regex.matches.len(), 1);
    assert_eq!(regex.matches[0].text, "fn main() {");

    let capped =
        f.ws.search(&SearchQuery {
            query: "hello",
            path: None,
            regex: false,
            max_results: 1,
        })
        .unwrap();
    assert_eq!(capped.matches.len(), 1);
    assert!(capped.truncated);

    let bad = f.ws.search(&SearchQuery {
        query: "(",
        path: None,
        regex: true,
        max_results: 1,
    });
    assert!(matches!(bad, Err(ToolsError::InvalidInput(ref m)) if m.contains("regular expression")));
}
