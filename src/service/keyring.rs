//! Encryption of provider API keys at rest (XChaCha20-Poly1305). The master key comes from
//! `secret_key` (replicas share it) or is made once in `<data_dir>/secret.key` (0600); the
//! database only ever sees ciphertext, bound to the provider's name so that a ciphertext
//! copied onto another provider does not decrypt.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::ServiceError;
use crate::config::Settings;

const KEY_FILE: &str = "secret.key";
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("secret_key must be 64 hex digits (32 bytes)")]
    Malformed,
    #[error("{} is not a valid key file (64 hex digits expected)", .0.display())]
    BadFile(PathBuf),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The platform's master key. Clones share it.
#[derive(Clone)]
pub struct KeyRing {
    cipher: Arc<XChaCha20Poly1305>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing(***)")
    }
}

impl KeyRing {
    /// The configured key, else the one in the data folder (made on first use). Blocking I/O:
    /// called once at start-up.
    pub fn load_or_create(settings: &Settings) -> Result<Self, KeyRingError> {
        let key = match &settings.secret_key {
            Some(secret) => parse_key(secret.expose()).ok_or(KeyRingError::Malformed)?,
            None => key_from_file(&settings.data_dir.join(KEY_FILE))?,
        };
        Ok(Self::from_key(&key))
    }

    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            cipher: Arc::new(XChaCha20Poly1305::new(key.into())),
        }
    }

    /// `nonce || ciphertext` of `plaintext`, bound to `context` (the provider name).
    pub fn encrypt(&self, plaintext: &str, context: &str) -> Result<Vec<u8>, ServiceError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| ServiceError::Unavailable("cannot encrypt the key".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plaintext of [`KeyRing::encrypt`]'s output; an error when the data was made with
    /// another master key, for another context, or altered.
    pub fn decrypt(&self, data: &[u8], context: &str) -> Result<String, ServiceError> {
        let unreadable = || {
            ServiceError::Unavailable(format!(
                "the stored API key of `{context}` cannot be decrypted (was secret_key changed?); set it again"
            ))
        };
        if data.len() <= NONCE_LEN {
            return Err(unreadable());
        }
        let (nonce, sealed) = data.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| unreadable())?;
        String::from_utf8(plain).map_err(|_| unreadable())
    }
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

fn key_from_file(path: &Path) -> Result<[u8; 32], KeyRingError> {
    let io = |action| {
        move |source| KeyRingError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    match std::fs::read_to_string(path) {
        Ok(text) => parse_key(&text).ok_or_else(|| KeyRingError::BadFile(path.to_owned())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io("create"))?;
            }
            // create_new: two processes starting at once cannot both write a key.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io("create"))?;
            file.write_all(hex::encode(key).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io("write"))?;
            Ok(key)
        }
        Err(err) => Err(io("read")(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_only_for_their_own_provider_and_master_key() {
        let ring = KeyRing::from_key(&[7; 32]);
        let sealed = ring.encrypt("sk-test-123", "openai").expect("encrypts");
        assert!(!sealed.windows(11).any(|w| w == b"sk-test-123"));
        assert_eq!(ring.decrypt(&sealed, "openai").expect("decrypts"), "sk-test-123");
        assert!(ring.decrypt(&sealed, "anthropic").is_err());
        assert!(KeyRing::from_key(&[8; 32]).decrypt(&sealed, "openai").is_err());
        assert!(ring.decrypt(&sealed[..10], "openai").is_err());
    }

    #[test]
    fn the_key_file_is_made_once_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret.key");
        let first = key_from_file(&path).expect("made");
        assert_eq!(key_from_file(&path).expect("read"), first);
        let mode = std::fs::metadata(&path).expect("meta").permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
        std::fs::write(&path, "nonsense").expect("write");
        assert!(matches!(key_from_file(&path), Err(KeyRingError::BadFile(_))));
    }
}
