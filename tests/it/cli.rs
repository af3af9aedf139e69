//! The binary itself: exit codes 0 / 1 / 2 and one-line errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::support::{TestApp, external_db_url};

fn agentbox(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agentbox"));
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("AGENTBOX_CONFIG")
        .env("AGENTBOX_LOG_LEVEL", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("agentbox runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn config_example_prints_a_documented_file() {
    let output = agentbox(&["config", "example"], &[], None);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "AGENTBOX_DATA_DIR",
        "# listen = \"0.0.0.0:8443\"",
        "[auth]",
        "DATABASE_URL",
    ] {
        assert!(text.contains(needle), "{needle} missing");
    }
}

#[test]
fn usage_and_configuration_errors_exit_2_with_one_line() {
    let output = agentbox(&["frobnicate"], &[], None);
    assert_eq!(output.status.code(), Some(2));

    let output = agentbox(
        &["migrate"],
        &[("AGENTBOX_SERVER_SHUTDOWN_GRACE_SECS", "forever")],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(
        message.contains("server.shutdown_grace_secs")
            && message.contains("AGENTBOX_SERVER_SHUTDOWN_GRACE_SECS"),
        "{message}"
    );

    let output = agentbox(&["serve", "--listen", "nowhere"], &[], None);
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_create_and_passwd_then_login_through_the_api() {
    if external_db_url().is_some() {
        return; // The CLI here runs on the embedded database of its data folder.
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let create = |email: &str, extra: &[&str], password: &str| {
        let mut args = vec![
            "user",
            "create",
            "--email",
            email,
            "--password-stdin",
            "--data-dir",
            data_arg,
        ];
        args.extend_from_slice(extra);
        agentbox(&args, &[], Some(password))
    };
    let output = create(
        "root@example.com",
        &["--admin", "--company", "CLI Co"],
        "cli password 123\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = create("root@example.com", &[], "cli password 123\n");
    assert_eq!(output.status.code(), Some(2), "duplicate email is a usage error");
    assert!(stderr(&output).contains("already exists"));
    let output = create("weak@example.com", &[], "short\n");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("at least 10 characters"));

    let output = agentbox(
        &[
            "user",
            "passwd",
            "--email",
            "root@example.com",
            "--password-stdin",
            "--data-dir",
            data_arg,
        ],
        &[],
        Some("changed password 456\n"),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let output = agentbox(&["migrate", "--data-dir", data_arg], &[], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_and_doctor() {
    let app = TestApp::start().await;
    let url = app.url("/health");
    let output = agentbox(&["healthcheck", "--url", &url], &[], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let output = agentbox(
        &[
            "healthcheck",
            "--url",
            "https://127.0.0.1:1/health",
            "--timeout",
            "2",
        ],
        &[],
        None,
    );
    assert_eq!(output.status.code(), Some(1));

    // While serve runs, doctor reports the data folder in use instead of opening it.
    let data_arg = app.data_dir.to_str().unwrap().to_owned();
    let output = agentbox(&["doctor", "--data-dir", &data_arg], &[], None);
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    for line in [
        "cpu cores",
        "memory",
        "gpu backend",
        "free disk",
        "model files",
        "database",
    ] {
        assert!(report.contains(line), "{line} missing in {report}");
    }
    app.stop().await;
}
