//! Models: pull from a real HTTP server running inside the test (with and without Range
//! support, dropping connections half-way), sha256 checks, import of real and damaged GGUF
//! files, the SSE pull endpoint, `/ready`, and the `agentbox models` commands.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use agentbox::engine::EngineError;
use agentbox::engine::download::Options as DownloadOptions;
use agentbox::service::ServiceError;
use agentbox::service::models::{ModelService, PullHandle, PullState};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::file_server::{FileServer, Manners};
use crate::support::{Options, TestApp, error_code, settings_for};

/// The path of the real test model, or a failure that says how to get it.
pub(crate) fn test_model() -> PathBuf {
    let path = std::env::var("AGENTBOX_TEST_MODEL").unwrap_or_else(|_| {
        panic!(
            "AGENTBOX_TEST_MODEL is unset: run `export AGENTBOX_TEST_MODEL=$(scripts/fetch-test-model.sh)` \
             (scripts/test does this for you)"
        )
    });
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "AGENTBOX_TEST_MODEL={} does not exist: run scripts/fetch-test-model.sh",
        path.display()
    );
    path
}

/// Deterministic bytes standing in for a model file.
fn payload(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 31 + 7) % 251).unwrap())
        .collect()
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------------------------
// A models folder with a catalog naming the served file.

struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    /// A catalog with model `tiny` (role fast) at `url`.
    fn new(url: &str, sha256: Option<&str>, size: Option<usize>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut entry = format!(
            "[[model]]\nname = \"tiny\"\nrole = \"fast\"\nsource = \"{url}\"\nfile = \"tiny.gguf\"\n"
        );
        if let Some(sha) = sha256 {
            let _ = writeln!(entry, "sha256 = \"{sha}\"");
        }
        if let Some(size) = size {
            let _ = writeln!(entry, "size_bytes = {size}");
        }
        std::fs::write(dir.path().join("models.toml"), entry).unwrap();
        Self { dir }
    }

    fn catalog(&self) -> PathBuf {
        self.dir.path().join("models.toml")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn models(&self) -> PathBuf {
        self.data_dir().join("models")
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![(
            "AGENTBOX_MODELS_FILE".into(),
            self.catalog().display().to_string(),
        )]
    }

    fn service(&self) -> ModelService {
        let options = Options {
            extra_env: self.env(),
            ..Options::default()
        };
        let settings = settings_for(&self.data_dir(), &options, None);
        ModelService::new(&settings, agentbox::app::engine(&settings)).with_download_options(
            DownloadOptions {
                backoff: Duration::from_millis(10),
                max_attempts_without_progress: 3,
                ..DownloadOptions::default()
            },
        )
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.models())
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// Follows a pull to its end; the progress reports seen, and the final state.
async fn finish(handle: PullHandle) -> (Vec<PullState>, PullState) {
    let mut updates = handle.updates;
    let mut seen = Vec::new();
    loop {
        let state = updates.borrow_and_update().clone();
        if state.is_finished() {
            return (seen, state);
        }
        seen.push(state);
        tokio::time::timeout(Duration::from_mins(1), updates.changed())
            .await
            .expect("the pull makes progress")
            .expect("the pull reports its end");
    }
}

fn done(state: PullState) -> agentbox::engine::library::Pulled {
    match state {
        PullState::Done(pulled) => pulled,
        other => panic!("expected a finished pull, got {other:?}"),
    }
}

fn failed(state: PullState) -> Arc<EngineError> {
    match state {
        PullState::Failed(err) => err,
        other => panic!("expected a failed pull, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_pull_verifies_the_sha256_and_renames_only_when_complete() {
    let data = payload(3 << 20);
    let server = FileServer::start(
        data.clone(),
        Manners {
            ranges: true,
            ..Manners::default()
        },
    )
    .await;
    let folder = Folder::new(&server.url(), Some(&sha256(&data)), Some(data.len()));
    let service = folder.service();

    let handle = service.start_pull("fast", false).await.unwrap();
    assert_eq!(handle.name, "tiny", "a role names its model");
    let (seen, end) = finish(handle).await;
    let pulled = done(end);
    assert!(pulled.verified && !pulled.already_present);
    assert_eq!(pulled.sha256.as_deref(), Some(sha256(&data).as_str()));
    assert_eq!(std::fs::read(folder.models().join("tiny.gguf")).unwrap(), data);
    assert_eq!(
        folder.files(),
        ["tiny.gguf", "tiny.gguf.sha256"],
        "no .part is left"
    );
    assert!(
        seen.iter()
            .any(|s| matches!(s, PullState::Downloading(p) if p.total == Some(data.len() as u64))),
        "progress names the total: {seen:?}"
    );
    assert_eq!(server.ranges_asked(), [None]);

    let listed = service.list().await.unwrap();
    let tiny = &listed.models[0];
    assert_eq!(
        serde_json::to_value(tiny).unwrap()["state"],
        "present",
        "{listed:?}"
    );
    assert!(tiny.info.verified && tiny.info.roles == [agentbox::engine::catalog::ModelRole::Fast]);

    let again = done(finish(service.start_pull("tiny", false).await.unwrap()).await.1);
    assert!(again.already_present && again.verified);
    assert_eq!(server.ranges_asked().len(), 1, "nothing is downloaded twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_pull_resumes_with_a_range_request_after_a_dropped_connection() {
    let data = payload(3 << 20);
    let cut = 1_500_000u64;
    let server = FileServer::start(
        data.clone(),
        Manners {
            ranges: true,
            drop_once_at: Some(cut),
            ..Manners::default()
        },
    )
    .await;
    let folder = Folder::new(&server.url(), Some(&sha256(&data)), None);
    let pulled = done(
        finish(folder.service().start_pull("tiny", false).await.unwrap())
            .await
            .1,
    );
    assert!(pulled.verified);
    assert_eq!(std::fs::read(folder.models().join("tiny.gguf")).unwrap(), data);
    let asked = server.ranges_asked();
    assert_eq!(asked.len(), 2, "{asked:?}");
    let resumed_at: u64 = asked[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("the retry asks for a range: {asked:?}"));
    assert!(resumed_at > 0 && resumed_at <= cut, "resumed at {resumed_at}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_pull_cut_for_good_leaves_only_the_part_and_the_next_pull_resumes_it() {
    let data = payload(2 << 20);
    let cut = 700_000u64;
    let server = FileServer::start(
        data.clone(),
        Manners {
            ranges: true,
            drop_always_at: Some(cut),
            ..Manners::default()
        },
    )
    .await;
    let folder = Folder::new(&server.url(), Some(&sha256(&data)), Some(data.len()));
    let service = folder.service();
    let err = failed(finish(service.start_pull("tiny", false).await.unwrap()).await.1);
    assert!(matches!(*err, EngineError::Download { .. }), "{err}");
    assert!(err.to_string().contains("gave up"), "{err}");
    assert_eq!(
        folder.files(),
        ["tiny.gguf.part"],
        "never a half file under the final name"
    );
    let partial = std::fs::metadata(folder.models().join("tiny.gguf.part"))
        .unwrap()
        .len();
    assert!(partial > 0 && partial <= cut, "{partial}");

    let listed = service.list().await.unwrap();
    let row = serde_json::to_value(&listed.models[0]).unwrap();
    assert_eq!(row["state"], "partial", "{row}");
    assert_eq!(row["download"]["state"], "failed", "{row}");
    assert!(row["download"]["error"].as_str().unwrap().contains("gave up"));

    server.set(|m| m.drop_always_at = None);
    let before = server.ranges_asked().len();
    let pulled = done(
        finish(folder.service().start_pull("tiny", false).await.unwrap())
            .await
            .1,
    );
    assert_eq!(pulled.resumed_from, partial, "the next run starts from the .part");
    assert!(pulled.verified);
    assert_eq!(
        server.ranges_asked()[before],
        Some(format!("bytes={partial}-")),
        "it asks only for the rest"
    );
    assert_eq!(std::fs::read(folder.models().join("tiny.gguf")).unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_pull_from_a_server_without_ranges_restarts_from_zero() {
    let data = payload(2 << 20);
    let server = FileServer::start(
        data.clone(),
        Manners {
            ranges: false,
            drop_once_at: Some(1_000_000),
            ..Manners::default()
        },
    )
    .await;
    let folder = Folder::new(&server.url(), Some(&sha256(&data)), Some(data.len()));
    let pulled = done(
        finish(folder.service().start_pull("tiny", false).await.unwrap())
            .await
            .1,
    );
    assert!(pulled.verified);
    assert_eq!(std::fs::read(folder.models().join("tiny.gguf")).unwrap(), data);
    let asked = server.ranges_asked();
    assert_eq!(asked.len(), 2);
    assert!(
        asked[1].is_some(),
        "it tried to resume; the server answered 200 with the whole file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_pull_with_a_wrong_sha256_is_refused_and_leaves_no_file() {
    let data = payload(1 << 20);
    let server = FileServer::start(
        data.clone(),
        Manners {
            ranges: true,
            ..Manners::default()
        },
    )
    .await;
    let wrong = sha256(b"something else");
    let folder = Folder::new(&server.url(), Some(&wrong), None);
    let err = failed(
        finish(folder.service().start_pull("tiny", false).await.unwrap())
            .await
            .1,
    );
    assert!(matches!(*err, EngineError::ChecksumMismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&wrong) && message.contains(&sha256(&data)),
        "{message}"
    );
    assert_eq!(folder.files(), Vec::<String>::new(), "the .part is deleted too");

    // A size other than the catalog's is refused before the body is downloaded.
    let folder = Folder::new(&server.url(), Some(&sha256(&data)), Some(data.len() + 1));
    let err = failed(
        finish(folder.service().start_pull("tiny", false).await.unwrap())
            .await
            .1,
    );
    assert!(matches!(*err, EngineError::SizeMismatch { .. }), "{err}");
    assert_eq!(folder.files(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_without_a_sha256_need_allow_unverified_and_pulls_are_joined() {
    let data = payload(1 << 20);
    let server = FileServer::start(
        data.clone(),
        Manners {
            ranges: true,
            chunk_delay: Some(Duration::from_millis(30)),
            ..Manners::default()
        },
    )
    .await;
    let folder = Folder::new(&server.url(), None, None);
    let service = folder.service();
    match service.start_pull("tiny", false).await {
        Err(ServiceError::Engine(err @ EngineError::Unverified { .. })) => {
            assert!(err.to_string().contains("--allow-unverified"), "{err}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(server.ranges_asked().len(), 0, "refused before any download");

    let first = service.start_pull("tiny", true).await.unwrap();
    let second = service.start_pull("fast", true).await.unwrap();
    assert!(
        !first.joined && second.joined,
        "the second request joins the running pull"
    );
    match service.remove("tiny").await {
        Err(ServiceError::Conflict { code, .. }) => assert_eq!(code, "pull_in_progress"),
        other => panic!("rm during a pull must be refused, got {other:?}"),
    }
    let (a, b) = tokio::join!(finish(first), finish(second));
    let (a, b) = (done(a.1), done(b.1));
    assert_eq!(a, b);
    assert!(!a.verified, "nothing to verify against");
    assert_eq!(server.ranges_asked().len(), 1, "downloaded once");
    service.remove("tiny").await.unwrap();
    assert_eq!(folder.files(), Vec::<String>::new());
}

/// A catalog with `tiny` (role fast, with sha256) and `loose` (role code, without) on `server`.
fn two_model_folder(server: &FileServer, data: &[u8]) -> Folder {
    let folder = Folder::new(&server.url(), Some(&sha256(data)), Some(data.len()));
    let mut catalog = std::fs::read_to_string(folder.catalog()).unwrap();
    let _ = write!(
        catalog,
        "\n[[model]]\nname = \"loose\"\nrole = \"code\"\nsource = \"{}\"\nfile = \"loose.gguf\"\n",
        server.url()
    );
    std::fs::write(folder.catalog(), catalog).unwrap();
    folder
}

async fn ready(app: &TestApp) -> Value {
    let response = app.client().get(app.url("/ready")).send().await.unwrap();
    response.json().await.unwrap()
}

async fn pull_events(session: &crate::support::Session, path: &str) -> Vec<(String, Value)> {
    let response = session.request(Method::POST, path).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/event-stream"), "{content_type}");
    parse_sse(&response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_api_streams_pull_progress_to_admins_and_ready_reports_models() {
    let data = payload(2 << 20);
    let manners = Manners {
        ranges: true,
        ..Manners::default()
    };
    let server = FileServer::start(data.clone(), manners).await;
    let folder = two_model_folder(&server, &data);
    let app = TestApp::start_with(Options {
        extra_env: folder.env(),
        ..Options::default()
    })
    .await;
    let anonymous = app.client().get(app.url("/api/v1/models")).send().await.unwrap();
    assert_eq!(error_code(anonymous).await.1, "unauthenticated");
    let admin = app.setup_admin().await;
    app.create_user("member@example.com", "Acme Test", false).await;
    let member = app.login("member@example.com", crate::support::PASSWORD).await;

    let before = ready(&app).await;
    assert_eq!(
        before["ready"], true,
        "missing models do not make the platform unready"
    );
    assert_eq!(before["models"][0]["name"], "tiny");
    assert_eq!(before["models"][0]["state"], "missing");

    for (session, path, status, code) in [
        (
            &member,
            "/api/v1/models/tiny/pull",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &admin,
            "/api/v1/models/nope/pull",
            StatusCode::NOT_FOUND,
            "model_not_found",
        ),
        (
            &admin,
            "/api/v1/models/loose/pull",
            StatusCode::UNPROCESSABLE_ENTITY,
            "unverified_model",
        ),
        (
            &admin,
            "/api/v1/models/tiny/pull?bogus=1",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
    ] {
        let response = session.request(Method::POST, path).send().await.unwrap();
        assert_eq!(error_code(response).await, (status, code.to_owned()), "{path}");
    }

    let events = pull_events(&admin, "/api/v1/models/fast/pull").await;
    assert!(events.len() >= 2, "{events:?}");
    let (last, body) = events.last().unwrap();
    assert_eq!(last, "done", "{events:?}");
    assert_eq!((&body["name"], &body["verified"]), (&"tiny".into(), &true.into()));
    assert_eq!(body["bytes"], data.len());
    for (name, progress) in &events[..events.len() - 1] {
        assert_eq!(name, "progress", "{events:?}");
        for key in ["done", "total", "rate", "eta_secs"] {
            assert!(progress.get(key).is_some(), "progress has {key}: {progress}");
        }
    }

    let events = pull_events(&admin, "/api/v1/models/loose/pull?allow_unverified=true").await;
    assert_eq!(events.last().unwrap().0, "done");
    assert_eq!(events.last().unwrap().1["verified"], false);

    let listed: Value = member.get("/api/v1/models").await.json().await.unwrap();
    let states: Vec<(&str, &str)> = listed["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("tiny", "present"), ("loose", "present")]);
    let after = ready(&app).await;
    assert_eq!(after["models"][0]["state"], "present", "{after}");
    app.stop().await;
}

/// `(event name, JSON data)` of each server-sent event.
fn parse_sse(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim());
                }
            }
            Some((name?, serde_json::from_str(&data).unwrap()))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The `agentbox models` commands.

fn agentbox_models(args: &[&str], folder: &Folder) -> Output {
    let data_dir = folder.data_dir();
    Command::new(env!("CARGO_BIN_EXE_agentbox"))
        .arg("models")
        .args(args)
        .arg("--data-dir")
        .arg(&data_dir)
        .env_remove("AGENTBOX_CONFIG")
        .env_remove("AGENTBOX_MODELS_DIR")
        .env("AGENTBOX_MODELS_FILE", folder.catalog())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("agentbox runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes the first `keep` bytes of `source` (with `patch` applied) to `target`.
fn damaged_copy(source: &Path, target: &Path, keep: usize, patch: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(source).unwrap();
    bytes.truncate(keep);
    patch(&mut bytes);
    std::fs::write(target, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_import_takes_the_test_model_and_refuses_damaged_copies() {
    let model = test_model();
    let folder = Folder::new("https://example.com/tiny.gguf", None, None);
    let len = usize::try_from(std::fs::metadata(&model).unwrap().len()).unwrap();

    let truncated = folder.dir.path().join("truncated.gguf");
    damaged_copy(&model, &truncated, len / 2, |_| {});
    let output = agentbox_models(&["import", truncated.to_str().unwrap()], &folder);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let message = text(&output.stderr);
    assert!(
        message.contains("truncated") && message.contains("truncated.gguf"),
        "{message}"
    );
    assert_eq!(message.trim().lines().count(), 1, "{message}");

    let header_only = folder.dir.path().join("header.gguf");
    damaged_copy(&model, &header_only, 4096, |_| {});
    let output = agentbox_models(&["import", header_only.to_str().unwrap()], &folder);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("ends early"),
        "{}",
        text(&output.stderr)
    );

    let not_gguf = folder.dir.path().join("zip.gguf");
    damaged_copy(&model, &not_gguf, len, |bytes| {
        bytes[..4].copy_from_slice(b"PK\x03\x04");
    });
    let output = agentbox_models(&["import", not_gguf.to_str().unwrap()], &folder);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("not a GGUF file"),
        "{}",
        text(&output.stderr)
    );

    let absurd = folder.dir.path().join("absurd.gguf");
    damaged_copy(&model, &absurd, len, |bytes| {
        bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    });
    let output = agentbox_models(&["import", absurd.to_str().unwrap()], &folder);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("metadata count"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        folder.files(),
        Vec::<String>::new(),
        "refused imports leave nothing behind"
    );

    let output = agentbox_models(&["import", model.to_str().unwrap(), "--role", "fast"], &folder);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("imported SmolLM2-135M-Instruct.Q4_1 (role fast"),
        "{stdout}"
    );
    assert!(stdout.contains("llama Q4_1"), "{stdout}");
    assert_eq!(
        std::fs::read(folder.models().join("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap(),
        std::fs::read(&model).unwrap()
    );

    let output = agentbox_models(&["list"], &folder);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let listing = text(&output.stdout);
    let line = listing
        .lines()
        .find(|l| l.starts_with("SmolLM2-135M-Instruct.Q4_1 "))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(line.contains(" fast ") && line.contains("present"), "{line}");
    let catalog_line = listing.lines().find(|l| l.starts_with("tiny ")).unwrap();
    assert!(
        catalog_line.contains("(fast)") && catalog_line.contains("missing"),
        "{catalog_line}"
    );

    let output = agentbox_models(&["import", model.to_str().unwrap(), "--role", "quick"], &folder);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("unknown role \"quick\""));

    let output = agentbox_models(&["rm", "SmolLM2-135M-Instruct.Q4_1"], &folder);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(folder.files(), [".imported.toml.lock", "imported.toml"]);
    let output = agentbox_models(&["rm", "SmolLM2-135M-Instruct.Q4_1"], &folder);
    assert_eq!(output.status.code(), Some(2), "unknown names are refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_cli_pull_exit_codes_and_bad_catalogs() {
    let data = payload(1 << 20);
    let server = FileServer::start(
        data.clone(),
        Manners {
            ranges: true,
            ..Manners::default()
        },
    )
    .await;
    let folder = Folder::new(&server.url(), Some(&sha256(&data)), Some(data.len()));

    let output = agentbox_models(&["pull", "fast"], &folder);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("pulled tiny ("),
        "{}",
        text(&output.stdout)
    );
    assert!(text(&output.stdout).contains("sha256 verified"));
    let output = agentbox_models(&["pull", "tiny"], &folder);
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stdout).contains("already present"));

    let output = agentbox_models(&["pull", "nope"], &folder);
    assert_eq!(output.status.code(), Some(2), "an unknown model is a usage error");
    assert!(text(&output.stderr).contains("unknown model `nope`"));

    // A server that answers 404: a runtime failure, one line, exit 1.
    let missing = Folder::new(
        &server.url().replace("model.gguf", "gone.gguf"),
        Some(&sha256(&data)),
        None,
    );
    let output = agentbox_models(&["pull", "tiny"], &missing);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("404"), "{}", text(&output.stderr));

    std::fs::write(
        missing.catalog(),
        "[[model]]\nname = \"x\"\nrole = \"quick\"\nsource = \"https://example.com/x.gguf\"\nfile = \"x.gguf\"\n",
    )
    .unwrap();
    let output = agentbox_models(&["list"], &missing);
    assert_eq!(output.status.code(), Some(2));
    let message = text(&output.stderr);
    assert!(message.contains("line 3: unknown role \"quick\""), "{message}");
    assert_eq!(message.trim().lines().count(), 1, "{message}");
}

/// Ollama's `/api/pull` follows the same catalog download as status lines ending with
/// `success`, and `/api/delete` removes the file again (both admins only, see
/// `compat::ollama`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ollama_pull_streams_status_lines_and_delete_removes_the_file() {
    let data = payload(2 << 20);
    let server = FileServer::start(data.clone(), Manners::default()).await;
    let folder = two_model_folder(&server, &data);
    let app = TestApp::start_with(Options {
        extra_env: folder.env(),
        ..Options::default()
    })
    .await;
    let admin = app.setup_admin().await;
    let key = admin.api_key("ollama", &["read", "write"]).await;
    let client = app.client();
    let call = |method: Method, path: &str, body: Value| {
        client
            .request(method, app.url(path))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };

    let response = call(Method::POST, "/api/pull", serde_json::json!({"model": "tiny"}))
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = response
        .text()
        .await
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let statuses: Vec<&str> = lines.iter().map(|l| l["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.first(), Some(&"pulling manifest"), "{lines:?}");
    assert_eq!(statuses.last(), Some(&"success"), "{lines:?}");
    let whole = lines
        .iter()
        .find(|l| l["completed"] == l["total"] && l["digest"].is_string())
        .expect("a line with the whole file and its digest");
    assert_eq!(whole["total"], data.len());
    assert_eq!(whole["digest"], format!("sha256:{}", sha256(&data)));

    // Present now: a second pull reports success at once, as one object without streaming.
    let again: Value = call(
        Method::POST,
        "/api/pull",
        serde_json::json!({"name": "tiny", "stream": false}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(again["status"], "success");

    let deleted = call(
        Method::DELETE,
        "/api/delete",
        serde_json::json!({"model": "tiny"}),
    )
    .await
    .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert!(
        !folder.files().iter().any(|file| file.contains("tiny")),
        "{:?}",
        folder.files()
    );
    app.stop().await;
}

#[test]
fn models_play_several_roles_and_change_them_only_when_asked() {
    let model = test_model();
    let file = model.to_str().unwrap();
    let folder = Folder::new("https://example.com/tiny.gguf", None, None);
    let name = "SmolLM2-135M-Instruct.Q4_1";

    let output = agentbox_models(
        &["import", file, "--role", "fast", "--role", "reasoning"],
        &folder,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!("imported {name} (roles fast, reasoning;")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("fast: now {name} (was tiny)")),
        "{stdout}"
    );

    // The same file again with another role adds it: nothing is taken away.
    let output = agentbox_models(&["import", file, "--role", "code"], &folder);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("(roles fast, reasoning, code;"), "{stdout}");
    let listing = text(&agentbox_models(&["list"], &folder).stdout);
    let line = listing
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(line.contains(" fast,reasoning,code "), "{line}");
    let catalog_line = listing.lines().find(|l| l.starts_with("tiny ")).unwrap();
    assert!(catalog_line.contains("(fast)"), "{catalog_line}");

    // `models role`: take one back, give the catalog model its role back.
    let output = agentbox_models(&["role", name, "reasoning", "--remove"], &folder);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains(&format!("{name} plays fast, code")), "{stdout}");
    assert!(
        stdout.contains(&format!("reasoning: now no model (was {name})")),
        "{stdout}"
    );
    let output = agentbox_models(&["role", "tiny", "fast"], &folder);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains(&format!("fast: now tiny (was {name})")),
        "{}",
        text(&output.stdout)
    );
    let listing = text(&agentbox_models(&["list"], &folder).stdout);
    let line = listing
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap();
    assert!(line.contains(" code ") && !line.contains("fast"), "{line}");

    // Mistakes are one line and exit code 2.
    for (args, expected) in [
        (vec!["role", name, "wizard"], "unknown role \"wizard\""),
        (vec!["role", "nope", "fast"], "unknown model `nope`"),
        (vec!["role", "fast", "code"], "role fast is played by tiny"),
        (vec!["role", name, "fast", "--remove"], "was not given role fast"),
        (vec!["import", file, "--role", "quick"], "unknown role \"quick\""),
    ] {
        let output = agentbox_models(&args, &folder);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
        let message = text(&output.stderr);
        assert!(message.contains(expected), "{args:?}: {message}");
        assert_eq!(message.trim().lines().count(), 1, "{message}");
    }
    let output = agentbox_models(&["role", name], &folder);
    assert_eq!(output.status.code(), Some(2), "a role is required");

    // Removing the model gives its roles back.
    let output = agentbox_models(&["rm", name], &folder);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains(&format!("code: now no model (was {name})")),
        "{}",
        text(&output.stdout)
    );
    let imported = std::fs::read_to_string(folder.models().join("imported.toml")).unwrap();
    assert!(!imported.contains(name), "{imported}");
}

#[test]
fn an_old_imported_toml_with_one_role_per_model_still_loads() {
    let model = test_model();
    let folder = Folder::new("https://example.com/tiny.gguf", None, None);
    let name = "SmolLM2-135M-Instruct.Q4_1";
    std::fs::create_dir_all(folder.models()).unwrap();
    std::fs::copy(&model, folder.models().join(format!("{name}.gguf"))).unwrap();
    // As versions before roles became a mapping wrote it.
    std::fs::write(
        folder.models().join("imported.toml"),
        format!(
            "# Models brought in with `agentbox models import`\n\n[[model]]\nname = \"{name}\"\nrole = \"fast\"\n\
             file = \"{name}.gguf\"\ncontext_size = 2048\ngpu_layers = 999\n"
        ),
    )
    .unwrap();
    let output = agentbox_models(&["list"], &folder);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let listing = text(&output.stdout);
    let line = listing
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap();
    assert!(line.contains(" fast ") && line.contains("present"), "{line}");

    // A change writes the mapping; the model keeps the role it had.
    let output = agentbox_models(&["role", name, "reasoning"], &folder);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains(&format!("{name} plays fast, reasoning")),
        "{}",
        text(&output.stdout)
    );
    let imported = std::fs::read_to_string(folder.models().join("imported.toml")).unwrap();
    assert!(
        imported.contains("[roles]") && imported.contains(&format!("reasoning = \"{name}\"")),
        "{imported}"
    );
    assert!(!imported.contains("role = "), "{imported}");
}
