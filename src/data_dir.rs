//! The data folder and the lock that keeps a second agentbox process off it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error(
        "data folder {} is in use by another agentbox process{}; stop it first or choose another --data-dir",
        path.display(),
        pid.as_deref().map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    InUse {
        path: PathBuf,
        pid: Option<String>,
        /// Where the holder serves (written by `serve` once it listens): `mcp-stdio` relays there.
        url: Option<String>,
    },
    #[error("cannot use data folder {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held for the life of the process; the OS releases it when the process ends, even on a crash.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    path: PathBuf,
}

impl DataDirLock {
    pub fn acquire(data_dir: &Path) -> Result<Self, DataDirError> {
        let io = |source| DataDirError::Io {
            path: data_dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let path = data_dir.join("agentbox.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let mut lines = holder.lines().map(str::trim).filter(|line| !line.is_empty());
                return Err(DataDirError::InUse {
                    path: data_dir.to_owned(),
                    pid: lines.next().map(str::to_owned),
                    url: lines.next().map(str::to_owned),
                });
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(io(err)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records where this process serves, after its pid, for processes that find the folder in
    /// use (`mcp-stdio` relays to it). A failure only costs that convenience, so it is logged.
    pub fn announce(&self, url: &str) {
        let written = (&self.file)
            .seek(SeekFrom::Start(0))
            .and_then(|_| (&self.file).write_all(format!("{}\n{url}\n", std::process::id()).as_bytes()));
        if let Err(err) = written {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot record the address in the lock file");
        }
    }
}
