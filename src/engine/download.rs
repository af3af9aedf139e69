//! Downloads a model file: streamed to `<models_dir>/<file>.part`, resumed with an HTTP Range
//! request when a `.part` is already there, hashed (sha256 over the whole file, the resumed
//! prefix included), fsynced, and only then renamed to its final name. An interruption leaves
//! only the `.part`; a wrong sha256 deletes it. Servers that ignore ranges restart from zero.

mod transfer;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::EngineError;
use transfer::Transfer;

/// How a download is going.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Progress {
    /// Bytes of the file on disk so far (a resumed prefix included).
    pub done: u64,
    /// Size of the whole file, when the server or the catalog says.
    pub total: Option<u64>,
    /// Bytes per second received in this run.
    pub rate: f64,
    /// Seconds left at that rate, when known.
    pub eta_secs: Option<u64>,
}

impl Progress {
    /// Whole percent done, when the total is known.
    pub fn percent(&self) -> Option<u8> {
        let total = self.total.filter(|&t| t > 0)?;
        let percent = u128::from(self.done.min(total)) * 100 / u128::from(total);
        u8::try_from(percent).ok()
    }
}

/// One file to fetch.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The model's name, for messages.
    pub name: &'a str,
    pub url: &'a str,
    pub dir: &'a Path,
    pub file: &'a str,
    /// Expected sha256 (lower-case hex); `None` downloads unverified.
    pub sha256: Option<&'a str>,
    /// Expected size; a file of another size is refused.
    pub size: Option<u64>,
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Downloaded {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    /// The sha256 matched the catalog's (false: there was none to compare with).
    pub verified: bool,
    /// Bytes that were already in the `.part` file when this run started.
    pub resumed_from: u64,
}

/// Retry and pacing policy.
#[derive(Debug, Clone)]
pub struct Options {
    /// Consecutive failed attempts that moved no bytes before giving up.
    pub max_attempts_without_progress: u32,
    /// Attempts in all before giving up.
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one, at most 30 s.
    pub backoff: Duration,
    /// No byte for this long counts as a failed attempt.
    pub stall_timeout: Duration,
    /// How often progress is reported.
    pub progress_every: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_attempts_without_progress: 5,
            max_attempts: 50,
            backoff: Duration::from_secs(1),
            stall_timeout: Duration::from_mins(1),
            progress_every: Duration::from_millis(250),
        }
    }
}

/// The HTTP client for model downloads: no overall timeout (files are gigabytes), but bounded
/// connection set-up; stalls are caught per chunk.
pub fn http_client() -> Result<reqwest::Client, EngineError> {
    reqwest::Client::builder()
        .user_agent(concat!("agentbox/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .build()
        .map_err(|err| EngineError::HttpClient(chain(&err)))
}

pub(crate) use crate::error_chain::error_chain as chain;

/// Where an unfinished download of `file` is kept.
pub fn part_path(dir: &Path, file: &str) -> PathBuf {
    dir.join(format!("{file}.part"))
}

/// Downloads `request`, reporting progress, until it is complete, fails for good, or `cancel`
/// fires (the `.part` file then stays for a later resume).
pub async fn download(
    client: &reqwest::Client,
    request: &Request<'_>,
    options: &Options,
    cancel: &CancellationToken,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Downloaded, EngineError> {
    tokio::fs::create_dir_all(request.dir)
        .await
        .map_err(EngineError::io("create", request.dir))?;
    let part = part_path(request.dir, request.file);
    let (file, hasher, done) = open_part(request, part.clone()).await?;
    let resumed_from = done;
    if resumed_from > 0 {
        tracing::info!(
            model = request.name,
            bytes = resumed_from,
            "resuming a partial download"
        );
    }
    let mut transfer = Transfer::new(request, part, file, hasher, done);
    transfer.report(progress, options, true);
    if let Err(err) = transfer.run(client, options, cancel, progress).await {
        if transfer.done == 0 {
            // Nothing to resume: leave no empty `.part` behind.
            transfer.discard().await;
        }
        return Err(err);
    }
    transfer.report(progress, options, true);
    transfer.finish(resumed_from).await
}

/// Opens (creating) and locks the `.part` file, and hashes what it already holds.
async fn open_part(request: &Request<'_>, part: PathBuf) -> Result<(File, Sha256, u64), EngineError> {
    let name = request.name.to_owned();
    let size = request.size;
    tokio::task::spawn_blocking(move || {
        let io = |action| EngineError::io(action, &part);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part)
            .map_err(io("open"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(EngineError::PullLocked { name, part });
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(io("lock")(err)),
        }
        let mut len = file.metadata().map_err(io("read"))?.len();
        if size.is_some_and(|size| len > size) {
            tracing::warn!(model = %name, bytes = len, "partial download is larger than the model; starting over");
            file.set_len(0).map_err(io("truncate"))?;
            len = 0;
        }
        let mut hasher = Sha256::new();
        file.seek(SeekFrom::Start(0)).map_err(io("read"))?;
        let copied = std::io::copy(&mut (&mut file).take(len), &mut HashWriter(&mut hasher)).map_err(io("read"))?;
        if copied != len {
            file.set_len(copied).map_err(io("truncate"))?;
        }
        file.seek(SeekFrom::Start(copied)).map_err(io("read"))?;
        Ok((file, hasher, copied))
    })
    .await
    .map_err(|err| EngineError::io("read", request.dir)(std::io::Error::other(err)))?
}

/// Feeds bytes written to it into a hasher.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Makes a rename in `dir` durable (best effort: not every platform can sync a folder).
pub(crate) async fn sync_dir(dir: &Path) {
    let dir = dir.to_owned();
    let synced = tokio::task::spawn_blocking(move || File::open(&dir).and_then(|d| d.sync_all())).await;
    if let Ok(Err(err)) = synced {
        tracing::debug!(error = %err, "cannot sync the models folder");
    }
}
