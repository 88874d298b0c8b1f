//! Blobs sealed at rest: a [`BlobStore`] wrapper that encrypts what it stores with AES-256-GCM
//! under the operator's key (`--documents-key`), for contract documents — signed contracts
//! carry names, signatures and prices, and the blob directory is the part of a deployment most
//! likely to be copied (backups, a shared volume).
//!
//! Why AES-256-GCM (RustCrypto's `aes-gcm`): authenticated, so a flipped byte on disk is an
//! error instead of a corrupt PDF handed to a lawyer; hardware-accelerated on every server CPU;
//! a fresh random 96-bit nonce per blob is safe for far more blobs than an archive will hold
//! (the bound is ~2^32 encryptions per key). The key never reaches the database.
//!
//! Keys stay the SHA-256 of the *plaintext*, so documents remain content-addressed and the
//! hash shown to users is the hash of the file they hold. Stored form:
//! `MAGIC (4 bytes) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`; the magic and the key are the
//! associated data, so a sealed blob cannot be swapped in under another key unnoticed.

use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;

use crate::error::DomainError;
use crate::photos::{BlobStore, BoxFuture};

const MAGIC: &[u8; 4] = b"FOS1";
const NONCE_LEN: usize = 12;

/// A 256-bit sealing key, parsed from base64 (what `openssl rand -base64 32` prints).
#[derive(Clone)]
pub struct SealingKey(Key<Aes256Gcm>);

impl SealingKey {
    pub fn from_base64(text: &str) -> Result<SealingKey, DomainError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| DomainError::field("documents_key", "must be base64"))?;
        if bytes.len() != 32 {
            return Err(DomainError::field(
                "documents_key",
                "must be 32 bytes (base64 of `openssl rand -base64 32`)",
            ));
        }
        Ok(SealingKey(*Key::<Aes256Gcm>::from_slice(&bytes)))
    }
}

// Never print key material, not even in debug logs of the configuration.
impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

/// Seals on `put`, opens on `get`; everything else is the inner store's.
pub struct SealedBlobStore {
    inner: Arc<dyn BlobStore>,
    cipher: Aes256Gcm,
}

impl SealedBlobStore {
    pub fn new(inner: Arc<dyn BlobStore>, key: &SealingKey) -> SealedBlobStore {
        SealedBlobStore {
            inner,
            cipher: Aes256Gcm::new(&key.0),
        }
    }

    fn seal(&self, key: &str, plain: &[u8]) -> Result<Vec<u8>, DomainError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated(key);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| DomainError::Internal("sealing a blob failed".into()))?;
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open(&self, key: &str, stored: &[u8]) -> Result<Vec<u8>, DomainError> {
        let body = stored
            .strip_prefix(MAGIC.as_slice())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(|| DomainError::Internal(format!("blob {key} is not sealed")))?;
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let aad = associated(key);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            // Wrong key or tampered bytes: an operator problem, never a client's.
            .map_err(|_| DomainError::Internal(format!("blob {key} does not open with this key")))
    }
}

fn associated(key: &str) -> Vec<u8> {
    let mut aad = MAGIC.to_vec();
    aad.extend_from_slice(key.as_bytes());
    aad
}

impl BlobStore for SealedBlobStore {
    fn put<'a>(&'a self, key: &'a str, bytes: Vec<u8>) -> BoxFuture<'a, Result<(), DomainError>> {
        Box::pin(async move {
            let sealed = self.seal(key, &bytes)?;
            self.inner.put(key, sealed).await
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, DomainError>> {
        Box::pin(async move {
            match self.inner.get(key).await? {
                Some(stored) => self.open(key, &stored).map(Some),
                None => Ok(None),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::photos::{sha256_hex, FsBlobStore};

    fn key(byte: u8) -> SealingKey {
        let text = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
        SealingKey::from_base64(&text).unwrap()
    }

    #[tokio::test]
    async fn sealed_bytes_round_trip_and_are_not_plaintext_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let plain_store: Arc<dyn BlobStore> = Arc::new(FsBlobStore::new(dir.path()));
        let sealed = SealedBlobStore::new(plain_store.clone(), &key(7));
        let pdf = b"%PDF-1.7 the signed contract %%EOF".to_vec();
        let k = sha256_hex(&pdf);
        sealed.put(&k, pdf.clone()).await.unwrap();
        assert_eq!(sealed.get(&k).await.unwrap(), Some(pdf.clone()));
        let on_disk = plain_store.get(&k).await.unwrap().unwrap();
        assert!(on_disk.starts_with(MAGIC));
        assert!(!on_disk.windows(9).any(|w| w == b"signed co"));
        assert_eq!(sealed.get(&sha256_hex(b"none")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn wrong_key_tampering_and_swapped_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let plain_store: Arc<dyn BlobStore> = Arc::new(FsBlobStore::new(dir.path()));
        let sealed = SealedBlobStore::new(plain_store.clone(), &key(7));
        let k = sha256_hex(b"a");
        sealed.put(&k, b"a".to_vec()).await.unwrap();
        let other = SealedBlobStore::new(plain_store.clone(), &key(8));
        assert!(other.get(&k).await.is_err(), "another key opens nothing");

        // One flipped byte fails authentication.
        let mut stored = plain_store.get(&k).await.unwrap().unwrap();
        let last = stored.len() - 1;
        stored[last] ^= 1;
        let k2 = sha256_hex(b"b");
        plain_store.put(&k2, stored).await.unwrap();
        assert!(sealed.get(&k2).await.is_err(), "tampered bytes");

        // Intact bytes copied under another key fail too (the key is associated data).
        let intact = plain_store.get(&k).await.unwrap().unwrap();
        let k3 = sha256_hex(b"c");
        plain_store.put(&k3, intact).await.unwrap();
        assert!(sealed.get(&k3).await.is_err(), "swapped key");

        // Plain bytes are not mistaken for sealed ones.
        let k4 = sha256_hex(b"d");
        plain_store.put(&k4, b"plain".to_vec()).await.unwrap();
        assert!(sealed.get(&k4).await.is_err());
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SealingKey::from_base64("not base64!").is_err());
        assert!(SealingKey::from_base64("AAAA").is_err());
        let ok = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(SealingKey::from_base64(&format!(" {ok}\n")).is_ok());
        assert_eq!(format!("{:?}", key(1)), "SealingKey(<redacted>)");
    }
}
