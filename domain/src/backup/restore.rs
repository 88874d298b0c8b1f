//! Restoring a backup into a SQLite database and a data directory.
//!
//! Two passes over the archive: the first reads all of it and checks it against its manifest
//! (sizes, SHA-256, nothing missing, nothing extra, the stream whole) and writes nothing, so a
//! damaged or truncated archive is refused with the target untouched; the second writes the
//! members to temporary files beside their targets (checking them again) and only then renames
//! them into place. Then the migrations run, so a backup of an older release is upgraded.
//! The server must not be running on the target while it is restored.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use mobile_shared::ErrorCode;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::Connection;

use super::archive::{self, Manifest, MemberKind};
use super::TEMP_PREFIX;
use crate::error::DomainError;
use crate::store::sqlite::schema_version;
use crate::store::{self, Backend, Store, StoreOptions};

/// What to restore, and where.
#[derive(Debug, Clone)]
pub struct Restore {
    /// The archive written by [`super::create`].
    pub from: PathBuf,
    /// The target database: `sqlite://PATH`.
    pub database_url: String,
    /// The target data directory (its `photos` and `documents` trees are restored).
    pub data_dir: PathBuf,
    /// Replace a database or data directory that is not empty. Without it, such a target is
    /// refused.
    pub force: bool,
}

/// What [`restore`] did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The archive's manifest.
    pub manifest: Manifest,
    /// The migration level after the restore's migrations ran.
    pub schema_version: i64,
}

/// The file a `sqlite:` URL names; refused for another scheme or an in-memory database.
pub fn sqlite_file(url: &str) -> Result<PathBuf, DomainError> {
    if store::scheme_of(url) != Some(Backend::Sqlite) {
        return Err(DomainError::Config(format!(
            "a backup restores into a SQLite database (sqlite://PATH), not `{}`; PostgreSQL \
             deployments restore with pg_restore (README, \"Backups\")",
            store::redact_url(url)
        )));
    }
    let path = SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_owned();
    if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
        return Err(DomainError::Config(format!(
            "`{url}` is an in-memory database: restore into a file"
        )));
    }
    Ok(path)
}

/// The database file and the files SQLite keeps beside it.
fn database_files(db: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .collect()
}

/// The top-level directories under the data directory that a restore replaces.
fn restored_trees() -> Vec<PathBuf> {
    let mut tops: Vec<PathBuf> = archive::blob_roots()
        .iter()
        .filter_map(|r| r.components().next().map(|c| PathBuf::from(c.as_os_str())))
        .collect();
    tops.dedup();
    tops
}

/// What in the target is not empty (for the refusal without `force`), without writing.
fn occupied(db: &Path, data_dir: &Path) -> io::Result<Vec<String>> {
    let mut found = Vec::new();
    let files = database_files(db);
    let db_used =
        std::fs::metadata(db).is_ok_and(|m| m.len() > 0) || files[1..].iter().any(|f| f.exists());
    if db_used {
        found.push(format!("the database {}", db.display()));
    }
    match std::fs::read_dir(data_dir) {
        Ok(mut entries) => {
            if entries.next().transpose()?.is_some() {
                found.push(format!("the data directory {}", data_dir.display()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(found)
}

/// Restores the backup `what.from` into `what.database_url` and `what.data_dir`, then runs the
/// migrations. Refuses, writing nothing: a damaged, truncated or foreign archive (a validation
/// error on `archive`), a backup of a newer schema than this build knows, a target that is not
/// empty without `force` (409 `already_exists`), a target that is not a SQLite file.
pub async fn restore(what: &Restore) -> Result<Restored, DomainError> {
    let db = sqlite_file(&what.database_url)?;
    let data_dir = what.data_dir.clone();
    if !what.force {
        let found = occupied(&db, &data_dir).map_err(|e| {
            DomainError::Internal(format!("looking at {}: {e}", data_dir.display()))
        })?;
        if !found.is_empty() {
            return Err(DomainError::conflict(
                ErrorCode::AlreadyExists,
                format!(
                    "{} not empty: a restore would replace it; stop the server and pass \
                     --force to replace it",
                    found.join(" and ") + if found.len() > 1 { " are" } else { " is" }
                ),
            ));
        }
    }
    let from = what.from.clone();
    let verified = tokio::task::spawn_blocking(move || {
        archive::read(&from, |_, r| io::copy(r, &mut io::sink()).map(drop))
    })
    .await
    .map_err(|e| DomainError::Internal(format!("restore task: {e}")))??;
    let known = store::migration_versions(Backend::Sqlite)
        .into_iter()
        .max()
        .unwrap_or_default();
    if verified.schema_version > known {
        return Err(archive::refused(format!(
            "the backup's schema is at migration {}, newer than this fieldops ({}, knows up to \
             {known}): restore it with fieldops {} or later",
            verified.schema_version,
            env!("CARGO_PKG_VERSION"),
            verified.fieldops_version
        )));
    }
    let from = what.from.clone();
    let target = db.clone();
    let manifest = tokio::task::spawn_blocking(move || {
        let manifest = extract(&from, &target, &data_dir)?;
        if manifest != verified {
            return Err(archive::refused("the archive changed between two reads"));
        }
        Ok(manifest)
    })
    .await
    .map_err(|e| DomainError::Internal(format!("restore task: {e}")))??;

    let restored = Store::connect(&what.database_url, &StoreOptions::default()).await?;
    let migrated = restored.migrate().await;
    restored.close().await;
    migrated?;
    let mut conn = super::open_read_only(&db).await?;
    let schema_version = schema_version(&mut conn).await?;
    conn.close().await?;
    Ok(Restored {
        manifest,
        schema_version,
    })
}

/// The second pass: members to temporary files beside their targets, checked, then renamed
/// into place over what was there.
fn extract(from: &Path, db: &Path, data_dir: &Path) -> Result<Manifest, DomainError> {
    let failed = |what: String| move |e: io::Error| DomainError::Internal(format!("{what}: {e}"));
    let db_dir = db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(db_dir).map_err(failed(format!("creating {}", db_dir.display())))?;
    std::fs::create_dir_all(data_dir)
        .map_err(failed(format!("creating {}", data_dir.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempdir_in(data_dir)
        .map_err(failed(format!("staging in {}", data_dir.display())))?;
    let db_tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(db_dir)
        .map_err(failed(format!("staging in {}", db_dir.display())))?;
    let manifest = archive::read(from, |kind, reader: &mut dyn Read| match kind {
        MemberKind::Database => archive::write_file(db_tmp.path(), reader),
        MemberKind::Blob(relative) => archive::write_file(&staging.path().join(relative), reader),
    })?;
    // Everything is on disk (synced) and checked: now replace the target.
    for f in database_files(db) {
        match std::fs::remove_file(&f) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(format!("removing {}", f.display()))(e)),
        }
    }
    db_tmp
        .persist(db)
        .map_err(|e| failed(format!("writing {}", db.display()))(e.error))?;
    for tree in restored_trees() {
        let target = data_dir.join(&tree);
        match std::fs::remove_dir_all(&target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(format!("removing {}", target.display()))(e)),
        }
        let staged = staging.path().join(&tree);
        if staged.exists() {
            std::fs::rename(&staged, &target)
                .map_err(failed(format!("moving into {}", target.display())))?;
        }
    }
    Ok(manifest)
}
