//! `agentbox doctor`: what this machine offers agentbox, and what is missing.

use std::path::Path;
use std::time::Duration;

use sysinfo::{Disks, System};

use super::CliError;
use crate::config::Settings;
use crate::data_dir::DataDirLock;
use crate::store::Store;

/// One line of the report.
struct Check {
    ok: bool,
    name: &'static str,
    detail: String,
}

impl Check {
    fn info(name: &'static str, detail: String) -> Self {
        Self {
            ok: true,
            name,
            detail,
        }
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

#[allow(clippy::cast_precision_loss)]
fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB)
}

pub async fn run(settings: Settings) -> Result<(), CliError> {
    let mut checks = Vec::new();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    checks.push(Check::info("cpu cores", cores.to_string()));
    let mut system = System::new();
    system.refresh_memory();
    checks.push(Check::info(
        "memory",
        format!(
            "{} total, {} available",
            gib(system.total_memory()),
            gib(system.available_memory())
        ),
    ));
    checks.push(gpu_check());
    checks.push(disk_check(&settings.data_dir));
    checks.push(models_check(&settings.models_dir));
    checks.push(database_check(&settings).await);

    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for check in &checks {
        let mark = if check.ok { "ok  " } else { "FAIL" };
        println!("{mark}  {:width$}  {}", check.name, check.detail);
    }
    if checks.iter().all(|c| c.ok) {
        Ok(())
    } else {
        Err(CliError::Runtime("some checks failed (see above)".into()))
    }
}

fn gpu_check() -> Check {
    let compiled = crate::engine::llama::compiled_gpu_backends();
    let backends = if compiled.is_empty() {
        "cpu only (build with --features cuda|metal|vulkan for GPUs)".to_owned()
    } else {
        format!("cpu + {}", compiled.join(", "))
    };
    let devices = match crate::engine::llama::devices() {
        Ok(devices) => devices.join("; "),
        Err(err) => format!("cannot list devices: {err}"),
    };
    Check::info("gpu backend", format!("{backends}; devices: {devices}"))
}

fn disk_check(data_dir: &Path) -> Check {
    let absolute = crate::config::absolute(data_dir);
    let disks = Disks::new_with_refreshed_list();
    let disk = disks
        .iter()
        .filter(|d| absolute.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len());
    match disk {
        Some(disk) => Check {
            // Model files are gigabytes: warn below 10 GiB.
            ok: disk.available_space() > 10 * 1024 * 1024 * 1024,
            name: "free disk",
            detail: format!(
                "{} free at {}",
                gib(disk.available_space()),
                disk.mount_point().display()
            ),
        },
        None => Check::info("free disk", format!("unknown for {}", absolute.display())),
    }
}

fn models_check(models_dir: &Path) -> Check {
    let files: Vec<String> = std::fs::read_dir(models_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "gguf"))
                .map(|e| {
                    let size = e.metadata().map_or(0, |m| m.len());
                    format!("{} ({})", e.file_name().to_string_lossy(), gib(size))
                })
                .collect()
        })
        .unwrap_or_default();
    let detail = if files.is_empty() {
        format!("no GGUF files in {}", models_dir.display())
    } else {
        files.join(", ")
    };
    Check::info("model files", detail)
}

async fn database_check(settings: &Settings) -> Check {
    let name = "database";
    let kind = if settings.database.url.is_some() {
        "external"
    } else {
        "embedded"
    };
    if settings.database.url.is_none() && !settings.embedded_db_dir().exists() {
        return Check::info(
            name,
            format!(
                "embedded, not created yet (serve creates it in {})",
                settings.embedded_db_dir().display()
            ),
        );
    }
    if settings.database.url.is_none() {
        // The embedded database serves one process: if agentbox runs, say so instead.
        match DataDirLock::acquire(&settings.data_dir) {
            Ok(lock) => drop(lock),
            Err(err) => return Check::info(name, format!("embedded, {err}")),
        }
    }
    let probe = async {
        let store = Store::open(settings).await?;
        let applied = store.migrations_applied().await;
        store.close().await;
        applied
    };
    match tokio::time::timeout(Duration::from_secs(30), probe).await {
        Ok(Ok(true)) => Check::info(name, format!("{kind}, reachable, migrations applied")),
        Ok(Ok(false)) => Check::info(
            name,
            format!("{kind}, reachable, migrations pending (serve applies them)"),
        ),
        Ok(Err(err)) => Check {
            ok: false,
            name,
            detail: format!("{kind}: {}", super::error_chain(&err)),
        },
        Err(_) => Check {
            ok: false,
            name,
            detail: format!("{kind}: no answer within 30 s"),
        },
    }
}
