//! Photos (inspection evidence, scanned labels), content-addressed by SHA-256: the same photo
//! uploaded twice is stored once, and a field command references photos by hash, so an offline
//! phone can upload first and sync commands later.
//!
//! Bytes go to a [`BlobStore`]; [`FsBlobStore`] keeps them under the data directory. An
//! S3-compatible store implements the same two methods.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use mobile_shared::scan::PhotoStored;
use sha2::{Digest, Sha256};

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::clock;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::store::{on_read, on_tx, Store, Tx};

/// The photos' directory under the data directory (`<data_dir>/photos`), named once for the API
/// that stores there and the backups that copy it.
pub const DATA_SUBDIR: &str = "photos";

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where photo bytes live. Keys are lower-case hex SHA-256.
pub trait BlobStore: Send + Sync + 'static {
    /// Stores the bytes under `key`; storing an existing key again is a no-op.
    fn put<'a>(&'a self, key: &'a str, bytes: Vec<u8>) -> BoxFuture<'a, Result<(), DomainError>>;
    /// The bytes under `key`, if any.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, DomainError>>;
}

/// Files under a directory, fanned out by the first two hex digits (`ab/abcdef…`).
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> FsBlobStore {
        FsBlobStore { root: root.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(blob_path(key))
    }
}

/// Where [`FsBlobStore`] keeps `key`, relative to its root: fanned out by the key's first two
/// hex digits (`ab/abcdef…`), so no directory grows past 256 × its share of the blobs.
pub fn blob_path(key: &str) -> PathBuf {
    Path::new(&key[..2.min(key.len())]).join(key)
}

fn io(e: std::io::Error) -> DomainError {
    DomainError::Internal(format!("photo storage: {e}"))
}

impl BlobStore for FsBlobStore {
    fn put<'a>(&'a self, key: &'a str, bytes: Vec<u8>) -> BoxFuture<'a, Result<(), DomainError>> {
        let path = self.path(key);
        Box::pin(async move {
            if tokio::fs::try_exists(&path).await.map_err(io)? {
                return Ok(());
            }
            let dir = path.parent().unwrap_or(Path::new("."));
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
            // Write aside, then rename: a crash never leaves a half-written photo under its hash.
            let tmp = dir.join(format!(".{key}.{}.tmp", clock::new_id().simple()));
            tokio::fs::write(&tmp, &bytes).await.map_err(io)?;
            tokio::fs::rename(&tmp, &path).await.map_err(io)
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, DomainError>> {
        let path = self.path(key);
        Box::pin(async move {
            match tokio::fs::read(&path).await {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io(e)),
            }
        })
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `s` looks like a photo key (64 lower-case hex digits).
pub fn is_photo_key(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Stores a photo the caller has already checked is an image. Idempotent.
pub async fn store(
    store: &Store,
    blobs: &dyn BlobStore,
    actor: &Actor,
    bytes: Vec<u8>,
    content_type: &str,
) -> Result<PhotoStored, DomainError> {
    let sha = sha256_hex(&bytes);
    let size = bytes.len() as u64;
    blobs.put(&sha, bytes).await?;
    let mut tx = store.begin().await?;
    let inserted = on_tx!(
        &mut tx,
        execute(
            sqlx::query(
                "INSERT INTO photos (sha256, size_bytes, content_type, uploaded_by, \
                 uploaded_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING"
            )
            .bind(&sha)
            .bind(size as i64)
            .bind(content_type)
            .bind(&actor.name)
            .bind(clock::now())
        )
    )?;
    let stored = PhotoStored {
        sha256: sha,
        size_bytes: size,
        content_type: content_type.to_owned(),
    };
    if inserted > 0 {
        // Photos have no UUID of their own; the audit entry carries the hash in `after`.
        audit::record(
            &mut tx,
            actor,
            Change::action("photo.upload", Entity::Photo, uuid::Uuid::nil()).after(&stored),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(stored)
}

/// A stored photo: its content type (as recorded at upload) and bytes.
#[derive(Debug, Clone)]
pub struct Photo {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The photo stored under `key` (a [`is_photo_key`] hash); not found when no photo has it.
/// The content type comes from the photos table, which only records probed images, so a
/// served photo is never an arbitrary upload with a guessed type.
pub async fn get(store: &Store, blobs: &dyn BlobStore, key: &str) -> Result<Photo, DomainError> {
    if !is_photo_key(key) {
        return Err(DomainError::field(
            "sha256",
            "must be 64 lower-case hex digits",
        ));
    }
    let content_type: Option<String> = on_read!(store, |p| sqlx::query_scalar(
        "SELECT content_type FROM photos WHERE sha256 = $1"
    )
    .bind(key)
    .fetch_optional(p)
    .await)?;
    let content_type = content_type.ok_or(DomainError::not_found(Entity::Photo))?;
    // A row without bytes means the blob store lost them: an operator problem, not a 404.
    let bytes = blobs.get(key).await?.ok_or_else(|| {
        DomainError::Internal(format!("photo {key} is recorded but not in the blob store"))
    })?;
    Ok(Photo {
        content_type,
        bytes,
    })
}

/// The hashes among `keys` that are not stored photos.
pub(crate) async fn missing(tx: &mut Tx, keys: &[String]) -> Result<Vec<String>, DomainError> {
    let mut out = Vec::new();
    for k in keys {
        let n: i64 = on_tx!(tx, |c| sqlx::query_scalar(
            "SELECT COUNT(*) FROM photos WHERE sha256 = $1"
        )
        .bind(k)
        .fetch_one(&mut *c)
        .await)?;
        if n == 0 {
            out.push(k.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fs_store_is_content_addressed_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobStore::new(dir.path());
        let key = sha256_hex(b"photo");
        assert!(is_photo_key(&key));
        blobs.put(&key, b"photo".to_vec()).await.unwrap();
        blobs.put(&key, b"photo".to_vec()).await.unwrap();
        assert_eq!(
            blobs.get(&key).await.unwrap().as_deref(),
            Some(&b"photo"[..])
        );
        assert_eq!(blobs.get(&sha256_hex(b"other")).await.unwrap(), None);
        assert!(dir.path().join(&key[..2]).join(&key).exists());
    }
}
