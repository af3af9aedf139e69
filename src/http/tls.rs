//! TLS with rustls: a self-signed certificate made on first start and kept, or the operator's
//! certificate and key, reloaded when the files change.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;

use crate::config::{Settings, TlsMode};

const SELF_SIGNED_CERT: &str = "self-signed.crt";
const SELF_SIGNED_KEY: &str = "self-signed.key";
/// How often the operator's certificate files are checked for changes.
const RELOAD_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} holds no PEM {what}", path.display())]
    Pem { path: PathBuf, what: &'static str },
    #[error("certificate and key do not make a TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The certificate and key files in use.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Resolves the TLS mode to certificate files, making the self-signed pair when missing.
/// `None` for `tls = "off"`.
pub fn cert_files(settings: &Settings) -> Result<Option<CertFiles>, TlsError> {
    match &settings.tls {
        TlsMode::Off => Ok(None),
        TlsMode::Files { cert, key } => Ok(Some(CertFiles {
            cert: cert.clone(),
            key: key.clone(),
        })),
        TlsMode::SelfSigned => ensure_self_signed(&settings.tls_dir()).map(Some),
    }
}

fn ensure_self_signed(dir: &Path) -> Result<CertFiles, TlsError> {
    let files = CertFiles {
        cert: dir.join(SELF_SIGNED_CERT),
        key: dir.join(SELF_SIGNED_KEY),
    };
    if files.cert.is_file() && files.key.is_file() {
        return Ok(files);
    }
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(write_err(dir))?;
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if let Some(host) = sysinfo::System::host_name().filter(|h| !h.is_empty() && h != "localhost") {
        names.push(host);
    }
    let certified = rcgen::generate_simple_self_signed(names)?;
    write_private(&files.key, certified.key_pair.serialize_pem().as_bytes())
        .map_err(write_err(&files.key))?;
    std::fs::write(&files.cert, certified.cert.pem()).map_err(write_err(&files.cert))?;
    tracing::info!(cert = %files.cert.display(), "made a self-signed certificate");
    Ok(files)
}

/// Writes a file only its owner can read, replacing it atomically.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(tmp, path)
}

/// Builds a rustls configuration (HTTP/2 and HTTP/1.1 by ALPN) from PEM files.
pub fn server_config(files: &CertFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let read_err = |path: &Path| {
        let path = path.to_owned();
        move |err: rustls_pki_types::pem::Error| match err {
            rustls_pki_types::pem::Error::Io(source) => TlsError::Read { path, source },
            _ => TlsError::Pem {
                path,
                what: "certificate or key",
            },
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(read_err(&files.cert))?
        .collect::<Result<_, _>>()
        .map_err(read_err(&files.cert))?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: files.cert.clone(),
            what: "certificate",
        });
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(read_err(&files.key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn modified(files: &CertFiles) -> Option<(SystemTime, SystemTime)> {
    let cert = std::fs::metadata(&files.cert).and_then(|m| m.modified()).ok()?;
    let key = std::fs::metadata(&files.key).and_then(|m| m.modified()).ok()?;
    Some((cert, key))
}

/// Reloads the certificate when its files change. A broken new pair is logged and the old
/// one kept, so a half-finished renewal never takes the listener down.
pub fn spawn_reloader(
    files: CertFiles,
    config: RustlsConfig,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = modified(&files);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RELOAD_INTERVAL) => {}
            }
            let now = modified(&files);
            if now.is_none() || now == seen {
                continue;
            }
            seen = now;
            match server_config(&files) {
                Ok(new) => {
                    config.reload_from_config(new);
                    tracing::info!(cert = %files.cert.display(), "reloaded TLS certificate");
                }
                Err(err) => tracing::error!(%err, "new TLS certificate rejected; keeping the old one"),
            }
        }
    })
}
