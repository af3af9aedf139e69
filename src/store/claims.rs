//! Signed claims. Row-level security asks `auth.uid()` who the caller is, and `auth.uid()`
//! reads `request.jwt.claims` — a setting any statement may change. So the platform signs the
//! user id with a key that only the owner can read (`auth.claims_key`, made by the migration
//! `signed_claims`), and `auth.uid()` believes a `sub` only with its signature: SQL that sets
//! the claims itself, as another user or as no one, is nobody and sees nothing.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;

/// The key behind every signature, read once from the database by the owner.
#[derive(Clone)]
pub(super) struct ClaimsKey(Arc<[u8; 32]>);

impl std::fmt::Debug for ClaimsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClaimsKey(***)")
    }
}

impl ClaimsKey {
    pub(super) async fn load(owner: &PgPool) -> Result<Self, StoreError> {
        let key: Vec<u8> = sqlx::query_scalar("select key from auth.claims_key")
            .fetch_one(owner)
            .await?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| StoreError::Unavailable("auth.claims_key does not hold a 32-byte key".into()))?;
        Ok(Self(Arc::new(key)))
    }

    /// The claims of a transaction as `user`, as the JSON text `request.jwt.claims` takes.
    pub(super) fn claims_for(&self, user: Uuid) -> String {
        let sub = user.hyphenated().to_string();
        let sig = signature(&self.0, &sub);
        serde_json::json!({ "sub": sub, "role": "authenticated", "sig": sig }).to_string()
    }
}

/// `hex(sha256(key || sha256(key || sub)))`: what `auth.uid()` computes in SQL (Postgres has
/// `sha256` built in, and no `hmac` without pgcrypto, which the embedded database lacks). The
/// outer hash over the inner one leaves no room for a length extension.
fn signature(key: &[u8; 32], sub: &str) -> String {
    let inner = Sha256::new()
        .chain_update(key)
        .chain_update(sub.as_bytes())
        .finalize();
    let outer = Sha256::new().chain_update(key).chain_update(inner).finalize();
    hex::encode(outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_depends_on_key_and_user() {
        let user = "00000000-0000-0000-0000-000000000001";
        let a = signature(&[1; 32], user);
        assert_eq!(a.len(), 64);
        assert_ne!(a, signature(&[2; 32], user));
        assert_ne!(a, signature(&[1; 32], "00000000-0000-0000-0000-000000000002"));
    }

    #[test]
    fn claims_carry_sub_role_and_signature() {
        let key = ClaimsKey(Arc::new([7; 32]));
        let user = Uuid::from_u128(42);
        let claims: serde_json::Value = serde_json::from_str(&key.claims_for(user)).unwrap();
        assert_eq!(claims["sub"], user.to_string());
        assert_eq!(claims["role"], "authenticated");
        assert_eq!(claims["sig"], signature(&[7; 32], &user.to_string()));
        assert_eq!(format!("{key:?}"), "ClaimsKey(***)");
    }
}
