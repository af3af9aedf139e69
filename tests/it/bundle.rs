//! `agentbox bundle export|import`: models carried to an air-gapped machine with a manifest of
//! their sha256; a damaged bundle imports nothing.

use std::path::Path;
use std::process::{Command, Output};

use crate::engine::test_model;

fn agentbox(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentbox"))
        .args(args)
        .env_remove("AGENTBOX_CONFIG")
        .env_remove("DATABASE_URL")
        .env_remove("AGENTBOX_MODELS_DIR")
        .env("AGENTBOX_DATA_DIR", data_dir)
        .env("AGENTBOX_LOG_LEVEL", "error")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The GGUF files in a models folder (not records, not temporary files).
fn models(data_dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(data_dir.join("models"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|name| Path::new(name).extension().is_some_and(|e| e == "gguf"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[test]
fn a_bundle_carries_models_with_their_role_and_a_damaged_one_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("online");
    let model = test_model();
    let output = agentbox(
        &["models", "import", model.to_str().unwrap(), "--role", "fast"],
        &source,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));

    let bundle = dir.path().join("models.tar");
    let output = agentbox(
        &["bundle", "export", bundle.to_str().unwrap(), "--role", "fast"],
        &source,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("1 models"), "{}", text(&output));

    // A role whose model is not there is the caller's mistake.
    let output = agentbox(
        &[
            "bundle",
            "export",
            dir.path().join("x.tar").to_str().unwrap(),
            "--role",
            "reasoning",
        ],
        &source,
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("models pull reasoning"),
        "{}",
        text(&output)
    );
    assert!(!dir.path().join("x.tar").exists());

    // Damaged: one byte of the model flipped. Nothing is imported, no staging is left behind.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let damaged = dir.path().join("damaged.tar");
    std::fs::write(&damaged, &bytes).unwrap();
    let offline = dir.path().join("offline");
    let output = agentbox(&["bundle", "import", damaged.to_str().unwrap()], &offline);
    assert_ne!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("sha256"), "{}", text(&output));
    assert!(models(&offline).is_empty());
    let leftovers: Vec<_> = std::fs::read_dir(offline.join("models"))
        .map(|entries| entries.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The good bundle: the model arrives byte for byte and plays its role.
    let output = agentbox(&["bundle", "import", bundle.to_str().unwrap()], &offline);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(models(&offline), models(&source));
    let name = &models(&source)[0];
    assert_eq!(
        std::fs::read(offline.join("models").join(name)).unwrap(),
        std::fs::read(&model).unwrap()
    );
    let list = agentbox(&["models", "list"], &offline);
    let listing = text(&list);
    let line = listing
        .lines()
        .find(|line| line.contains(name.trim_end_matches(".gguf")))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(line.contains("fast") && line.contains("present"), "{listing}");
}
