//! The archive itself: written as a tar stream through zstd (with its frame checksum) into a
//! temporary file that is renamed when complete; read back entry by entry.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use super::files::{self, Source};
use super::{BackupError, Entry, FORMAT, FORMAT_VERSION, MANIFEST, Manifest, Progress};
use crate::store::{DatabaseDump, DumpChunk, Store};

pub(super) const DATABASE_PREFIX: &str = "database/";
const FILES_PREFIX: &str = "files/";
const CONFIG_PREFIX: &str = "config/";
/// A manifest larger than this is not one of ours.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;
const CHUNK: usize = 256 << 10;
const ZSTD_LEVEL: i32 = 3;

type TarWriter = tar::Builder<zstd::stream::write::Encoder<'static, BufWriter<File>>>;

/// Writes the archive: the rows `store` dumps, then the `sources`, then the manifest.
pub(super) async fn write(
    store: &Store,
    out: &Path,
    sources: Vec<Source>,
    database_kind: &str,
    progress: Arc<dyn Progress>,
) -> Result<(Manifest, u64), BackupError> {
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(BackupError::io("create", &dir))?;
    let temp = tempfile::Builder::new()
        .prefix(".agentbox-backup-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(BackupError::io("create a temporary file in", &dir))?;
    let (chunks, chunk_feed) = mpsc::channel(16);
    let (dump_done, dump_result) = oneshot::channel::<DatabaseDump>();
    let out = out.to_owned();
    let kind = database_kind.to_owned();
    let writer = tokio::task::spawn_blocking(move || {
        let mut writer = Writer::new(temp.as_file().try_clone(), &dir, progress)?;
        writer.tables(chunk_feed)?;
        writer.sources(&sources)?;
        // The dump's own result: without it (the dump failed) the archive is abandoned.
        let Ok(database) = dump_result.blocking_recv() else {
            return Err(BackupError::Failed("the database dump did not finish".into()));
        };
        let manifest = writer.finish(database, &kind)?;
        temp.persist(&out)
            .map_err(|err| BackupError::io("rename the finished archive to", &out)(err.error))?;
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            // The rename is durable once its folder is.
            if let Ok(folder) = File::open(parent) {
                let _ = folder.sync_all();
            }
        }
        let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or_default();
        Ok((manifest, bytes))
    });
    let dumped = store.dump_tables(chunks).await;
    let dump_error = match dumped {
        Ok(database) => {
            let _ = dump_done.send(database);
            None
        }
        Err(err) => Some(err),
    };
    let written = writer
        .await
        .map_err(|err| BackupError::Failed(format!("the archive writer failed: {err}")))?;
    match (dump_error, written) {
        (Some(err), _) => Err(err.into()),
        (None, written) => written,
    }
}

/// Builds the tar stream and the manifest's entries.
struct Writer {
    tar: TarWriter,
    entries: Vec<Entry>,
    spool_dir: PathBuf,
    progress: Arc<dyn Progress>,
    tables: usize,
}

impl Writer {
    fn new(
        file: std::io::Result<File>,
        spool_dir: &Path,
        progress: Arc<dyn Progress>,
    ) -> Result<Self, BackupError> {
        let file = file.map_err(BackupError::io("open", spool_dir))?;
        let mut encoder = zstd::stream::write::Encoder::new(BufWriter::new(file), ZSTD_LEVEL)
            .map_err(BackupError::io("compress into", spool_dir))?;
        // A flipped byte anywhere in a frame fails the frame's checksum on reading.
        encoder
            .include_checksum(true)
            .map_err(BackupError::io("compress into", spool_dir))?;
        let mut tar = tar::Builder::new(encoder);
        tar.mode(tar::HeaderMode::Deterministic);
        Ok(Self {
            tar,
            entries: Vec::new(),
            spool_dir: spool_dir.to_owned(),
            progress,
            tables: 0,
        })
    }

    /// Each table's rows go to a spool file first (a tar entry needs its size up front), then
    /// into the archive.
    fn tables(&mut self, mut feed: mpsc::Receiver<DumpChunk>) -> Result<(), BackupError> {
        self.progress.stage("database", None);
        let mut current: Option<(String, BufWriter<File>)> = None;
        while let Some(chunk) = feed.blocking_recv() {
            match chunk {
                DumpChunk::Table(table) => {
                    self.tables += 1;
                    let spool = tempfile::tempfile_in(&self.spool_dir)
                        .map_err(BackupError::io("create a temporary file in", &self.spool_dir))?;
                    let name = format!("{DATABASE_PREFIX}{:03}-{}.copy", self.tables, table.name);
                    current = Some((name, BufWriter::new(spool)));
                }
                DumpChunk::Data(bytes) => {
                    if let Some((_, spool)) = current.as_mut() {
                        spool
                            .write_all(&bytes)
                            .map_err(BackupError::io("write into", &self.spool_dir))?;
                    }
                }
                DumpChunk::End { .. } => {
                    let Some((name, spool)) = current.take() else {
                        continue;
                    };
                    let mut spool = spool
                        .into_inner()
                        .map_err(|err| BackupError::io("write into", &self.spool_dir)(err.into_error()))?;
                    let bytes = spool
                        .stream_position()
                        .map_err(BackupError::io("read", &self.spool_dir))?;
                    spool
                        .seek(SeekFrom::Start(0))
                        .map_err(BackupError::io("read", &self.spool_dir))?;
                    self.append(
                        &name,
                        0o600,
                        BufReader::new(spool),
                        bytes,
                        &self.spool_dir.clone(),
                    )?;
                }
            }
        }
        Ok(())
    }

    fn sources(&mut self, sources: &[Source]) -> Result<(), BackupError> {
        for source in sources {
            self.progress.stage(&source.label, None);
            for file in files::walk(source)? {
                let handle = File::open(&file.path).map_err(BackupError::io("read", &file.path))?;
                self.append(&file.archive_path, file.mode, handle, file.bytes, &file.path)?;
            }
        }
        Ok(())
    }

    /// Adds one entry of exactly `bytes` bytes, hashing it on the way.
    fn append(
        &mut self,
        name: &str,
        mode: u32,
        reader: impl Read,
        bytes: u64,
        origin: &Path,
    ) -> Result<(), BackupError> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes);
        header.set_mode(mode & 0o777);
        let mut hashing = Hashing::new(reader.take(bytes), self.progress.clone());
        self.tar
            .append_data(&mut header, name, &mut hashing)
            .map_err(BackupError::io("write the archive entry for", origin))?;
        if hashing.bytes != bytes {
            return Err(BackupError::Failed(format!(
                "{} changed while it was being backed up; run the backup again",
                origin.display()
            )));
        }
        self.entries.push(Entry {
            path: name.to_owned(),
            bytes,
            sha256: hashing.finish(),
            mode: mode & 0o777,
        });
        Ok(())
    }

    /// Writes the manifest last and closes the compressed stream, synced to disk.
    fn finish(mut self, database: DatabaseDump, database_kind: &str) -> Result<Manifest, BackupError> {
        let manifest = Manifest {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            agentbox_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            database_kind: database_kind.to_owned(),
            database,
            entries: std::mem::take(&mut self.entries),
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|err| BackupError::Failed(format!("cannot write the manifest: {err}")))?;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(json.len() as u64);
        header.set_mode(0o600);
        let spool = self.spool_dir.clone();
        let io = |err| BackupError::io("write the archive in", &spool)(err);
        self.tar
            .append_data(&mut header, MANIFEST, json.as_slice())
            .map_err(io)?;
        let encoder = self.tar.into_inner().map_err(io)?;
        let buffered = encoder.finish().map_err(io)?;
        let file = buffered
            .into_inner()
            .map_err(|err| BackupError::io("write the archive in", &spool)(err.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(manifest)
    }
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    progress: Arc<dyn Progress>,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R, progress: Arc<dyn Progress>) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            progress,
        }
    }

    fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.bytes += read as u64;
        self.progress.advance(read as u64);
        Ok(read)
    }
}

/// Calls `visit` with each entry's name and contents, in archive order. A stream that cannot be
/// read (bad compression, a broken tar header) is reported as a damaged archive.
pub(super) fn each_entry(
    path: &Path,
    visit: impl FnMut(&str, &mut dyn Read) -> Result<(), BackupError>,
) -> Result<(), BackupError> {
    let file = File::open(path).map_err(BackupError::io("read", path))?;
    each_entry_of(file, path, visit)
}

/// [`each_entry`] over the archive's bytes from `source`; `path` names it in errors.
fn each_entry_of(
    source: impl Read,
    path: &Path,
    mut visit: impl FnMut(&str, &mut dyn Read) -> Result<(), BackupError>,
) -> Result<(), BackupError> {
    let damaged = |reason: String| BackupError::Damaged {
        path: path.to_owned(),
        reason,
    };
    let decoder = zstd::stream::read::Decoder::new(source).map_err(|err| damaged(err.to_string()))?;
    let mut archive = tar::Archive::new(decoder);
    let entries = archive.entries().map_err(|err| damaged(err.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|err| damaged(err.to_string()))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(damaged("it holds something other than plain files".into()));
        }
        let name = entry
            .path()
            .map_err(|err| damaged(err.to_string()))?
            .to_str()
            .ok_or_else(|| damaged("an entry's name is not UTF-8".into()))?
            .to_owned();
        visit(&name, &mut entry)?;
    }
    Ok(())
}

/// Whether an entry's name is one an archive may hold: relative, without `..`, under a known
/// folder. The restore writes files under these names, so nothing may point elsewhere.
pub(super) fn check_entry_name(name: &str) -> Result<(), String> {
    let known = name == MANIFEST
        || [DATABASE_PREFIX, FILES_PREFIX, CONFIG_PREFIX]
            .iter()
            .any(|prefix| name.starts_with(prefix) && name.len() > prefix.len());
    let plain = Path::new(name)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if known && plain && !name.contains('\\') {
        Ok(())
    } else {
        Err(format!("unexpected entry {name:?}"))
    }
}

/// Pass 1: reads the whole archive, hashing every entry, and checks it against the manifest.
pub(super) async fn verify(path: &Path, progress: Arc<dyn Progress>) -> Result<Manifest, BackupError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || verify_blocking(&path, progress.as_ref()))
        .await
        .map_err(|err| BackupError::Failed(format!("checking the archive failed: {err}")))?
}

fn verify_blocking(path: &Path, progress: &dyn Progress) -> Result<Manifest, BackupError> {
    let file = File::open(path).map_err(BackupError::io("read", path))?;
    let size = file.metadata().map_err(BackupError::io("read", path))?.len();
    progress.stage("checking", Some(size));
    let manifest = verify_source(file, path)?;
    progress.advance(size);
    Ok(manifest)
}

/// Reads the archive from `source` to its end and checks every entry against the manifest;
/// `path` names it in errors.
pub(super) fn verify_source(source: impl Read, path: &Path) -> Result<Manifest, BackupError> {
    let damaged = |reason: String| BackupError::Damaged {
        path: path.to_owned(),
        reason,
    };
    let mut seen: Vec<(String, u64, String)> = Vec::new();
    let mut manifest_json = None;
    each_entry_of(source, path, |name, reader| {
        check_entry_name(name).map_err(damaged)?;
        if name == MANIFEST {
            let mut json = Vec::new();
            reader
                .take(MAX_MANIFEST_BYTES)
                .read_to_end(&mut json)
                .map_err(|err| damaged(err.to_string()))?;
            manifest_json = Some(json);
            return Ok(());
        }
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; CHUNK];
        let mut bytes = 0u64;
        loop {
            let read = reader.read(&mut buffer).map_err(|err| damaged(err.to_string()))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            bytes += read as u64;
        }
        seen.push((name.to_owned(), bytes, hex::encode(hasher.finalize())));
        Ok(())
    })?;
    let json = manifest_json.ok_or_else(|| damaged(format!("it has no {MANIFEST}")))?;
    let manifest: Manifest =
        serde_json::from_slice(&json).map_err(|err| damaged(format!("{MANIFEST}: {err}")))?;
    if manifest.format != FORMAT {
        return Err(damaged(format!("its format is {:?}", manifest.format)));
    }
    if manifest.entries.len() != seen.len() {
        return Err(damaged(format!(
            "the manifest lists {} entries, the archive holds {}",
            manifest.entries.len(),
            seen.len()
        )));
    }
    for (entry, (name, bytes, sha256)) in manifest.entries.iter().zip(&seen) {
        if entry.path != *name {
            return Err(damaged(format!("expected {} where {name} is", entry.path)));
        }
        if entry.bytes != *bytes || entry.sha256 != *sha256 {
            return Err(damaged(format!(
                "{name} does not match its sha256 in the manifest"
            )));
        }
    }
    let tables = seen
        .iter()
        .filter(|(name, ..)| name.starts_with(DATABASE_PREFIX))
        .count();
    if tables != manifest.database.tables.len() {
        return Err(damaged(format!(
            "the manifest lists {} tables, the archive holds {tables}",
            manifest.database.tables.len()
        )));
    }
    Ok(manifest)
}

/// Pass 2: copies the rows in. The archive is read on a blocking thread that feeds the store
/// one table at a time; the store restores them in one transaction.
pub(super) async fn restore_rows(
    store: &Store,
    path: &Path,
    manifest: &Manifest,
    progress: Arc<dyn Progress>,
) -> Result<(), BackupError> {
    progress.stage("database", Some(database_bytes(manifest)));
    let (feeds, feed_rx) = mpsc::channel(1);
    let archive = path.to_owned();
    let reader = tokio::task::spawn_blocking(move || -> Result<(), Option<BackupError>> {
        each_entry(&archive, |name, reader| {
            if !name.starts_with(DATABASE_PREFIX) {
                return Ok(());
            }
            let (data, data_rx) = mpsc::channel(4);
            feeds.blocking_send(data_rx).map_err(|_| stopped())?;
            let mut buffer = vec![0u8; CHUNK];
            loop {
                let read = match reader.read(&mut buffer) {
                    Ok(0) => return Ok(()),
                    Ok(read) => read,
                    Err(err) => {
                        let _ = data.blocking_send(Err(err.to_string()));
                        return Err(BackupError::Damaged {
                            path: archive.clone(),
                            reason: err.to_string(),
                        });
                    }
                };
                progress.advance(read as u64);
                data.blocking_send(Ok(buffer[..read].to_vec()))
                    .map_err(|_| stopped())?;
            }
        })
        .map_err(|err| match err {
            BackupError::Failed(ref message) if message == STOPPED => None,
            other => Some(other),
        })
    });
    let restored = store
        .restore_tables(manifest.database.tables.clone(), feed_rx)
        .await;
    let read = reader
        .await
        .map_err(|err| BackupError::Failed(format!("reading the archive failed: {err}")))?;
    match (restored, read) {
        (_, Err(Some(err))) => Err(err),
        (Err(err), _) => Err(err.into()),
        (Ok(()), Err(None)) => Err(BackupError::Failed("the restore stopped early".into())),
        (Ok(()), Ok(())) => Ok(()),
    }
}

const STOPPED: &str = "the database stopped reading";

fn stopped() -> BackupError {
    BackupError::Failed(STOPPED.to_owned())
}

fn database_bytes(manifest: &Manifest) -> u64 {
    manifest
        .entries
        .iter()
        .filter(|e| e.path.starts_with(DATABASE_PREFIX))
        .map(|e| e.bytes)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_stay_inside_their_folders() {
        for good in [
            "manifest.json",
            "database/001-auth.users.copy",
            "files/workspace/notes/a b.md",
            "config/agentbox.toml",
        ] {
            assert!(check_entry_name(good).is_ok(), "{good}");
        }
        for bad in [
            "/etc/passwd",
            "files/../../etc/passwd",
            "files/workspace/../../x",
            "files/",
            "other/file",
            "./manifest.json",
            "files\\..\\x",
        ] {
            assert!(check_entry_name(bad).is_err(), "{bad}");
        }
    }
}
