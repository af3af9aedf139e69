//! The binary itself: exit codes 0 / 1 / 2 and one-line errors.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::support::{TestApp, agentbox_binary, external_db_url};

fn agentbox(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(agentbox_binary());
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

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
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
    assert!(stdout(&output).contains("in CLI Co"), "{}", stdout(&output));

    // The company is chosen by name (any case); a name no company has is refused while
    // companies exist, unless --create-company asks for it; without --company, the first
    // admin's company.
    let output = create(
        "second@example.com",
        &["--company", "cli co"],
        "cli password 123\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("in CLI Co"), "{}", stdout(&output));
    let output = create(
        "third@example.com",
        &["--company", "CLI Coo"],
        "cli password 123\n",
    );
    assert_eq!(
        output.status.code(),
        Some(2),
        "an unknown company is a usage error"
    );
    let message = stderr(&output);
    assert_eq!(message.trim().lines().count(), 1, "{message}");
    assert!(
        message.contains("no company is named \"CLI Coo\"")
            && message.contains("\"CLI Co\"")
            && message.contains("--create-company"),
        "{message}"
    );
    let output = create(
        "third@example.com",
        &["--company", "CLI Coo", "--create-company"],
        "cli password 123\n",
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("in CLI Coo"), "{}", stdout(&output));
    let output = create("fourth@example.com", &[], "cli password 123\n");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).trim_end().ends_with("in CLI Co"),
        "{}",
        stdout(&output)
    );
    let output = create("fifth@example.com", &["--create-company"], "cli password 123\n");
    assert_eq!(output.status.code(), Some(2), "--create-company needs --company");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentbox"))
        .args([
            "serve",
            "--tls",
            "off",
            "--http-listen",
            "off",
            "--listen",
            &listen,
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env_remove("DATABASE_URL")
        .env("AGENTBOX_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = std::time::Instant::now();
    let url = format!("http://{listen}/ready");
    while !reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
        assert!(ready.elapsed().as_secs() < 60, "serve did not become ready");
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stopped.elapsed().as_secs() < 12, "drains within the 10 s grace");
    let logs = stderr(&output);
    assert!(
        logs.lines().all(|line| line.starts_with('{')),
        "JSON logs off a terminal: {logs}"
    );
    assert!(logs.contains("\"stopped\""), "{logs}");
}
