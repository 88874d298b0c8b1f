//! Password hashing (argon2id) and random secrets. Hashing is deliberately slow, so it runs on
//! tokio's blocking pool, never on the async worker threads.

use std::sync::OnceLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::DomainError;

/// Hashes a password with argon2id and a random salt (PHC string format).
pub async fn hash_password(password: String) -> Result<String, DomainError> {
    tokio::task::spawn_blocking(move || hash_password_blocking(&password))
        .await
        .map_err(|e| DomainError::Internal(format!("hashing task: {e}")))?
}

pub fn hash_password_blocking(password: &str) -> Result<String, DomainError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DomainError::Internal(format!("password hashing: {e}")))
}

/// Verifies `password` against a stored hash. With `None` (no such user) it verifies against a
/// fixed dummy hash anyway, so the answer takes as long whether or not the user exists.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let dummy = dummy_hash();
        let (hash, real) = match &hash {
            Some(h) => (h.as_str(), true),
            None => (dummy, false),
        };
        let ok = PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && real
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password_blocking("fieldops-timing-equaliser").unwrap_or_default())
}

/// A random secret of `bytes` bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A password a person can copy: 20 characters from an unambiguous alphabet (~115 bits).
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| {
            let i = (rng.next_u32() as usize) % ALPHABET.len();
            char::from(ALPHABET[i])
        })
        .collect()
}

/// Bearer tokens are stored only as their SHA-256: they are long random values, so a fast hash
/// suffices and lets every request look its token up by hash.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ_by_salt() {
        let a = hash_password("correct horse".into()).await.unwrap();
        let b = hash_password("correct horse".into()).await.unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("correct horse".into(), Some(a.clone())).await);
        assert!(!verify_password("wrong".into(), Some(a)).await);
        assert!(!verify_password("fieldops-timing-equaliser".into(), None).await);
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        assert_ne!(random_token(32), random_token(32));
        assert_eq!(random_token(32).len(), 43);
        assert_eq!(token_hash("abc").len(), 64);
        assert_eq!(random_password().len(), 20);
    }
}
