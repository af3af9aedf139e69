//! The agents defined by files: the built-in ones compiled into the binary, overridden by
//! `*.md` files of the same name in the agents folder. Read at start and again whenever the
//! folder changes (polled: no platform-specific watcher, and a network or container mount that
//! drops inotify events still reloads). A broken file is reported and skipped; it never takes
//! the other agents down.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::definition::parse_markdown;
use crate::domain::{Agent, AgentSource};

pub const BUILTIN: [(&str, &str); 3] = [
    ("assistant.md", include_str!("../../../agents/assistant.md")),
    ("analyst.md", include_str!("../../../agents/analyst.md")),
    ("coder.md", include_str!("../../../agents/coder.md")),
];

/// How often the folder is looked at.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Files larger than this are not agent definitions.
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// A file that could not be used, for the API and the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FileProblem {
    pub file: String,
    pub error: String,
}

#[derive(Debug, Default)]
struct Snapshot {
    agents: BTreeMap<String, Agent>,
    problems: Vec<FileProblem>,
    /// What the folder looked like when read: (path, modified, length).
    fingerprint: Vec<(PathBuf, Option<SystemTime>, u64)>,
}

#[derive(Debug, Clone)]
pub struct AgentCatalog {
    dir: PathBuf,
    snapshot: Arc<RwLock<Snapshot>>,
}

impl AgentCatalog {
    /// Reads the built-ins and the folder (blocking file reads: call at start-up or from
    /// `spawn_blocking`).
    pub fn load(dir: &Path) -> Self {
        let catalog = Self {
            dir: dir.to_owned(),
            snapshot: Arc::new(RwLock::new(Snapshot::default())),
        };
        catalog.reload_if_changed();
        catalog
    }

    pub fn agents(&self) -> Vec<Agent> {
        self.read().agents.values().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<Agent> {
        self.read().agents.get(name).cloned()
    }

    pub fn problems(&self) -> Vec<FileProblem> {
        self.read().problems.clone()
    }

    /// Re-reads the folder when a file was added, removed or changed; true when it did.
    pub fn reload_if_changed(&self) -> bool {
        let fingerprint = fingerprint(&self.dir);
        if self.read().fingerprint == fingerprint {
            return false;
        }
        let mut next = read_all(&fingerprint);
        next.fingerprint = fingerprint;
        for problem in &next.problems {
            tracing::warn!(file = %problem.file, error = %problem.error, "agent file skipped");
        }
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        true
    }

    /// Polls the folder until `shutdown`.
    pub fn spawn_watcher(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let catalog = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                }
                let polled = catalog.clone();
                match tokio::task::spawn_blocking(move || polled.reload_if_changed()).await {
                    Ok(true) => tracing::info!(dir = %catalog.dir.display(), "agent files reloaded"),
                    Ok(false) => {}
                    Err(err) => tracing::warn!(%err, "agent folder poll failed"),
                }
            }
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The `*.md` files of the folder with their modification times, sorted; a missing folder has
/// none. A marker entry keeps an empty folder's fingerprint non-empty, so the first read
/// always happens.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut entries = vec![(PathBuf::new(), None, 0)];
    if let Ok(read) = std::fs::read_dir(dir) {
        for entry in read.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "md")
                && let Ok(meta) = entry.metadata()
                && meta.is_file()
            {
                entries.push((path, meta.modified().ok(), meta.len()));
            }
        }
    }
    entries.sort();
    entries
}

fn read_all(files: &[(PathBuf, Option<SystemTime>, u64)]) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for (file, text) in BUILTIN {
        match parse_markdown(text, AgentSource::Builtin) {
            Ok(agent) => {
                snapshot.agents.insert(agent.name.clone(), agent);
            }
            Err(error) => snapshot.problems.push(FileProblem {
                file: format!("(built in) {file}"),
                error,
            }),
        }
    }
    for (path, _, len) in files.iter().filter(|(path, _, _)| !path.as_os_str().is_empty()) {
        let file = path.display().to_string();
        let parsed = if *len > MAX_FILE_BYTES {
            Err(format!("larger than {MAX_FILE_BYTES} bytes"))
        } else {
            std::fs::read_to_string(path)
                .map_err(|err| format!("cannot read it: {err}"))
                .and_then(|text| parse_markdown(&text, AgentSource::File))
        };
        match parsed {
            Ok(agent)
                if snapshot
                    .agents
                    .get(&agent.name)
                    .is_some_and(|a| a.source == AgentSource::File) =>
            {
                snapshot.problems.push(FileProblem {
                    error: format!("another file already defines `{}`", agent.name),
                    file,
                });
            }
            Ok(agent) => {
                snapshot.agents.insert(agent.name.clone(), agent);
            }
            Err(error) => snapshot.problems.push(FileProblem { file, error }),
        }
    }
    snapshot
}
