//! `agentbox backup` / `restore` and the automatic backups: a round trip over the sample data
//! brings back every row of every table and every file; a damaged archive is refused before
//! anything is written; a target that holds data is refused without `--force`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use agentbox::app;
use agentbox::backup::{self, Silent};
use agentbox::store::{Actor, Store};
use reqwest::StatusCode;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::{ADMIN_EMAIL, ExternalDb, Options, PASSWORD, TestApp, external_db_url, settings_for};

/// Every row of every data table, as JSON text, sorted: two databases hold the same data when
/// their snapshots are equal.
async fn snapshot(store: &Store) -> BTreeMap<String, Vec<String>> {
    let tables = store
        .query_json_as(
            Actor::System,
            "select n.nspname || '.' || c.relname as name
               from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
              where c.relkind = 'r' and n.nspname in ('public', 'auth')
                and c.relname <> '_sqlx_migrations'"
                .into(),
            1000,
        )
        .await
        .unwrap();
    let mut snapshot = BTreeMap::new();
    for table in tables {
        let name = table["name"].as_str().unwrap().to_owned();
        let rows = store
            .query_json_as(
                Actor::System,
                format!("select to_jsonb(t)::text as row from {name} t"),
                1_000_000,
            )
            .await
            .unwrap();
        let mut rows: Vec<String> = rows
            .iter()
            .map(|r| r["row"].as_str().unwrap().to_owned())
            .collect();
        rows.sort();
        snapshot.insert(name, rows);
    }
    snapshot
}

/// Every file under `dir`, by relative path, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap().display().to_string();
                found.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// Data in every kind of table: sample companies and KPIs, users, sessions and messages, a
/// task with its events, an eval run, a stored agent, an API key, an embedding; and files in
/// the workspace.
async fn fill(app: &TestApp) {
    let admin = app.setup_admin().await;
    app.create_user("other@example.com", "Globex", false).await;
    admin.api_key("ci", &["read"]).await;
    let session: serde_json::Value = admin
        .post("/api/v1/sessions", json!({"title": "Quarterly review"}))
        .await
        .json()
        .await
        .unwrap();
    let session = session["id"].as_str().unwrap();
    let user = admin.user_id();
    app.store()
        .execute_as(
            Actor::System,
            format!(
                "insert into public.messages (session_id, user_id, role, content) values
                   ('{session}', '{user}', 'user', 'Which department missed its target?'),
                   ('{session}', '{user}', 'assistant', e'Sales.\\nTabs\\tand \\\\ backslashes survive.');
                 insert into public.embeddings (owner, source, path, content, model, dims, embedding)
                   values ('{user}', 'workspace', 'notes.md', 'hello', 'test', 3, array[0.25, -1.5, 3]::real[])"
            ),
        )
        .await
        .unwrap();
    let task = admin
        .post(
            "/api/v1/tasks",
            json!({"agent": "assistant", "input": "summarise"}),
        )
        .await;
    assert_eq!(task.status(), StatusCode::CREATED);
    let run = json!({
        "suite": "smoke", "started_at": "2026-11-24T10:00:00Z", "finished_at": "2026-11-24T10:01:00Z",
        "results": [{"name": "greets", "passed": true, "latency_ms": 120}]
    });
    assert_eq!(
        admin.post("/api/v1/evals", run).await.status(),
        StatusCode::CREATED
    );
    let agent = admin
        .request(reqwest::Method::PUT, "/api/v1/agents/analyst")
        .json(&json!({"model_role": "fast", "description": "stored copy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(agent.status(), StatusCode::OK);
    let workspace = app.running().settings.workspace.clone();
    std::fs::create_dir_all(workspace.join("reports/2026")).unwrap();
    std::fs::write(workspace.join("notes.md"), "# Notes\n").unwrap();
    std::fs::write(
        workspace.join("reports/2026/q3 résumé.bin"),
        (0..=255u8).collect::<Vec<_>>(),
    )
    .unwrap();
    // Let the task worker finish with the task (it has no model: it fails, with events).
    for _ in 0..100 {
        let status: serde_json::Value = admin.get("/api/v1/tasks").await.json().await.unwrap();
        if status[0]["status"] != "queued" && status[0]["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn agentbox(args: &[&str], data_dir: &Path, database_url: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agentbox"));
    command
        .args(args)
        .env_remove("AGENTBOX_CONFIG")
        .env_remove("DATABASE_URL")
        .env("AGENTBOX_DATA_DIR", data_dir)
        .env("AGENTBOX_AGENTS_DIR", data_dir.join("agents"))
        .env("AGENTBOX_LOG_LEVEL", "error");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A fresh target: a data folder and, on the external server, a database of its own.
async fn target(root: &Path, name: &str) -> (PathBuf, Option<ExternalDb>) {
    let external = ExternalDb::for_this_run().await;
    (root.join(name), external)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_every_row_and_file_and_refuses_to_overwrite() {
    let app = TestApp::start_with(Options {
        sample_data: true,
        ..Options::default()
    })
    .await;
    fill(&app).await;
    let before = snapshot(app.store()).await;
    let filled: Vec<&String> = before
        .iter()
        .filter(|(_, rows)| !rows.is_empty())
        .map(|(t, _)| t)
        .collect();
    for table in [
        "auth.users",
        "public.messages",
        "public.kpi_values",
        "public.embeddings",
        "public.task_events",
    ] {
        assert!(filled.iter().any(|t| *t == table), "{table} has rows to restore");
    }
    let settings = app.running().settings.clone();
    let workspace_before = files(&settings.workspace);
    let secret_before = std::fs::read(settings.data_dir.join("secret.key")).unwrap();
    let tls_before = files(&settings.tls_dir());

    // Written while the platform runs, as the automatic backups are.
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("agentbox.tar.zst");
    let report = backup::create(app.store(), &settings, &archive, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(
        report.manifest.total_rows(),
        before.values().map(|r| r.len() as u64).sum::<u64>()
    );
    assert!(report.archive_bytes > 0 && report.archive_bytes < report.manifest.total_bytes());
    app.stop().await;

    // Restored by the CLI into an empty data folder and database.
    let (restored_dir, external) = target(dir.path(), "restored").await;
    let url = external.as_ref().map(|db| db.url.as_str());
    let output = agentbox(&["restore", archive.to_str().unwrap()], &restored_dir, url);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("restored"), "{}", text(&output));

    let restored = app::start(settings_for(
        &restored_dir,
        &Options::default(),
        external.as_ref(),
    ))
    .await
    .unwrap();
    assert_eq!(
        snapshot(&restored.store).await,
        before,
        "every row of every table comes back"
    );
    assert_eq!(files(&restored.settings.workspace), workspace_before);
    assert_eq!(
        std::fs::read(restored_dir.join("secret.key")).unwrap(),
        secret_before
    );
    assert_eq!(files(&restored.settings.tls_dir()), tls_before);
    // The restored platform works: the admin signs in, and new rows get new ids.
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{}", restored.addr.port());
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    restored
        .store
        .execute_as(
            Actor::System,
            "insert into public.task_events (task_id, user_id, kind, data)
             select task_id, user_id, 'progress', '{}' from public.task_events limit 1"
                .into(),
        )
        .await
        .expect("identity sequences continue after the restored ids");
    restored.stop().await.unwrap();

    // The same target again: it holds data now.
    let output = agentbox(&["restore", archive.to_str().unwrap()], &restored_dir, url);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("not empty") && text(&output).contains("--force"),
        "{}",
        text(&output)
    );
    let output = agentbox(
        &["restore", "--force", archive.to_str().unwrap()],
        &restored_dir,
        url,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    if let Some(db) = external {
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_archive_is_refused_before_anything_is_written() {
    let app = TestApp::start_with(Options {
        sample_data: true,
        ..Options::default()
    })
    .await;
    app.setup_admin().await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("good.tar.zst");
    backup::create(app.store(), &app.running().settings, &archive, Arc::new(Silent))
        .await
        .unwrap();
    app.stop().await;

    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let damaged = dir.path().join("damaged.tar.zst");
    std::fs::write(&damaged, &bytes).unwrap();
    let truncated = dir.path().join("truncated.tar.zst");
    std::fs::write(&truncated, &bytes[..middle]).unwrap();
    let not_ours = dir.path().join("notes.txt");
    std::fs::write(&not_ours, "just text").unwrap();

    for broken in [&damaged, &truncated, &not_ours] {
        let (target_dir, external) = target(dir.path(), "target").await;
        let url = external.as_ref().map(|db| db.url.as_str());
        let output = agentbox(&["restore", broken.to_str().unwrap()], &target_dir, url);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        let message = text(&output);
        assert!(
            message.contains("damaged") && message.contains("nothing was restored"),
            "{message}"
        );
        assert_eq!(message.trim().lines().count(), 1, "one line: {message}");
        assert!(
            !target_dir.exists(),
            "nothing was written for {}",
            broken.display()
        );
        if let Some(db) = external {
            let options: sqlx::postgres::PgConnectOptions = db.url.parse().unwrap();
            let mut conn = sqlx::ConnectOptions::connect(&options).await.unwrap();
            let tables: i64 = sqlx::query_scalar(
                "select count(*) from pg_catalog.pg_tables where schemaname in ('public', 'auth')",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            assert_eq!(tables, 0, "the database was not touched");
            drop(conn);
            db.drop_db().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_writes_automatic_backups_and_keeps_the_newest() {
    if external_db_url().is_some() {
        return; // Automatic backups are for the embedded database (fsync off).
    }
    let app = TestApp::start_with(Options {
        extra_env: vec![("AGENTBOX_BACKUP_KEEP".into(), "2".into())],
        ..Options::default()
    })
    .await;
    app.setup_admin().await;
    let settings = app.running().settings.clone();
    let shutdown = CancellationToken::new();
    let periodic = tokio::spawn(backup::run_periodic(
        app.store().clone(),
        settings.clone(),
        Duration::from_millis(10),
        Duration::from_millis(300),
        shutdown.clone(),
    ));
    let dir = settings.backups_dir();
    let archives = || -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| entries.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        found.retain(|p| p.extension().is_some_and(|e| e == "zst"));
        found.sort();
        found
    };
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        seen.extend(archives());
        if seen.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    periodic.await.unwrap();
    assert!(seen.len() >= 4, "one backup per interval: {seen:?}");
    let kept = archives();
    assert_eq!(kept.len(), 2, "backup.keep = 2: {kept:?}");
    assert_eq!(
        kept,
        seen.iter().rev().take(2).rev().cloned().collect::<Vec<_>>(),
        "the newest are kept"
    );
    // Each is a complete archive that a restore accepts.
    let restored_dir = tempfile::tempdir().unwrap();
    let output = agentbox(
        &["restore", kept[1].to_str().unwrap()],
        &restored_dir.path().join("data"),
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    app.stop().await;
}
