//! Backups of a SQLite deployment, and their restore: one archive file with a consistent
//! snapshot of the database and the blob store (photos, contract documents) under the data
//! directory. [`create`] takes one while the server runs; [`restore()`] puts one back and
//! migrates it; [`schedule`] takes one a day on the clock and keeps the newest N.
//!
//! # Why an online backup is consistent
//!
//! The database is copied by SQLite's `VACUUM INTO` on one of the store's reader connections.
//! It runs in one read transaction, so the copy is the database as of one commit; in WAL mode
//! a reader never blocks the writer, so ingest and field scans go on meanwhile (their later
//! commits are simply not in the copy). The price: while the copy runs, checkpoints cannot pass
//! its snapshot, so the WAL grows by what is written meanwhile, and is checkpointed afterwards.
//! The copy is staged beside the archive, which needs room for it while the backup runs.
//!
//! The blobs are copied *after* the snapshot, and that is enough: blobs are content-addressed
//! and immutable, every writer stores the bytes (written aside, then renamed) *before* it
//! commits the row that names them (`photos::store`, `contract_documents::upload`), and
//! nothing deletes a blob. So every blob a row of the snapshot names was complete on disk
//! before the snapshot's commit and is still there when the copy reaches it. Blobs stored after
//! the snapshot are copied too, which does no harm: no row of the snapshot names them.
//!
//! PostgreSQL deployments use PostgreSQL's own tools ([`POSTGRES_GUIDANCE`]): `pg_dump` and
//! point-in-time recovery do this job better than anything rebuilt here.

pub mod archive;
pub mod restore;
pub mod schedule;

use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

pub use archive::{Manifest, Member, MemberKind};
pub use restore::{restore, sqlite_file, Restore, Restored};

use crate::clock;
use crate::error::DomainError;
use crate::photos::blob_path;
use crate::store::sqlite::schema_version;
use crate::store::{Pools, Store};

/// What `fieldops backup` says on PostgreSQL, with the commands to use instead (README,
/// "Backups" says the same).
pub const POSTGRES_GUIDANCE: &str = "\
fieldops backup copies SQLite databases only. With PostgreSQL, back up with PostgreSQL's own tools:

  1. A logical dump (consistent while fieldops runs):
       pg_dump --format=custom --file=fieldops-$(date +%Y%m%d).dump \"$FIELDOPS_DATABASE_URL\"
     restored into a new, empty database with:
       pg_restore --no-owner --dbname=\"$FIELDOPS_DATABASE_URL\" fieldops-YYYYMMDD.dump
       fieldops migrate

  2. Point-in-time recovery: archive the WAL (postgresql.conf: wal_level = replica,
     archive_mode = on, archive_command = 'test ! -f /backup/wal/%f && cp %p /backup/wal/%f')
     and take a base backup now and then:
       pg_basebackup --pgdata=/backup/base-$(date +%Y%m%d) --format=tar --gzip --wal-method=stream --checkpoint=fast
     To recover, unpack a base backup, set restore_command = 'cp /backup/wal/%f %p' and
     recovery_target_time, create recovery.signal, and start PostgreSQL.

  3. The blobs (photos, contract documents), copied AFTER the dump or base backup (they never
     change once written, so a later copy holds every file the database names):
       tar -C DATA_DIR -czf fieldops-blobs-$(date +%Y%m%d).tar.gz photos documents

See README, \"Backups\".";

/// Prefix of the temporary files and directories a backup or restore stages its work in.
pub(crate) const TEMP_PREFIX: &str = ".fieldops-backup-";

/// What [`create`] wrote.
#[derive(Debug, Clone)]
pub struct Created {
    /// The archive's manifest.
    pub manifest: Manifest,
    /// Blobs the snapshot names that are not under the data directory (a wrong `--data-dir`,
    /// or files lost before the backup): the archive is written, but says they are missing.
    pub missing_blobs: Vec<String>,
    /// The archive's size in bytes.
    pub archive_bytes: u64,
}

/// The reader pool of a SQLite store, or the guidance for PostgreSQL.
fn sqlite_reader(store: &Store) -> Result<&SqlitePool, DomainError> {
    match &store.0 {
        Pools::Sqlite { read, .. } => Ok(read),
        Pools::Postgres(_) => Err(DomainError::Config(POSTGRES_GUIDANCE.to_owned())),
    }
}

fn io_error(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> DomainError {
    move |e| DomainError::Internal(format!("{what}: {e}"))
}

/// Takes a backup of the running SQLite database behind `store` and the blobs under `data_dir`
/// into the archive `to` (replaced atomically if it exists; its directory is created). The
/// work is staged beside `to` and renamed into place, so `to` is never a partial archive.
/// PostgreSQL: a [`DomainError::Config`] carrying [`POSTGRES_GUIDANCE`].
pub async fn create(store: &Store, data_dir: &Path, to: &Path) -> Result<Created, DomainError> {
    let reader = sqlite_reader(store)?;
    let dir = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    std::fs::create_dir_all(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempdir_in(&dir)
        .map_err(io_error(format!("staging in {}", dir.display())))?;
    let snapshot = staging.path().join(archive::DATABASE);
    let target = snapshot.to_str().ok_or_else(|| {
        DomainError::Config(format!("{} is not a UTF-8 path", snapshot.display()))
    })?;
    let created_at = clock::now();
    // One read transaction: the copy is the database as of one commit (module docs).
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(reader)
        .await?;
    let (schema_version, named) = read_snapshot(&snapshot).await?;
    let data_dir = data_dir.to_owned();
    let to = to.to_owned();
    tokio::task::spawn_blocking(move || {
        let built = build(
            &snapshot,
            &data_dir,
            &to,
            &dir,
            schema_version,
            created_at,
            named,
        );
        drop(staging);
        built
    })
    .await
    .map_err(|e| DomainError::Internal(format!("backup task: {e}")))?
}

/// The blob paths (relative to the data directory) the rows of a snapshot name.
struct Named(Vec<PathBuf>);

/// The snapshot's migration level and the blobs its rows name.
async fn read_snapshot(path: &Path) -> Result<(i64, Named), DomainError> {
    let mut conn = open_read_only(path).await?;
    let schema_version = schema_version(&mut conn).await?;
    let photos: Vec<String> = sqlx::query_scalar("SELECT sha256 FROM photos")
        .fetch_all(&mut conn)
        .await?;
    let documents: Vec<(String, bool)> =
        sqlx::query_as("SELECT DISTINCT sha256, sealed FROM contract_documents")
            .fetch_all(&mut conn)
            .await?;
    conn.close().await?;
    let photos_root = Path::new(crate::photos::DATA_SUBDIR);
    let documents_root = Path::new(crate::contract_documents::DATA_SUBDIR);
    let mut named: Vec<PathBuf> = photos
        .iter()
        .map(|k| photos_root.join(blob_path(k)))
        .collect();
    // `contract_documents::TREES` is [plain, sealed], and the row says which holds the bytes.
    named.extend(documents.iter().map(|(k, sealed)| {
        let tree = crate::contract_documents::TREES[usize::from(*sealed)];
        documents_root.join(tree).join(blob_path(k))
    }));
    Ok((schema_version, Named(named)))
}

/// A read-only connection to the SQLite file at `path`.
pub(crate) async fn open_read_only(path: &Path) -> Result<SqliteConnection, DomainError> {
    Ok(SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await?)
}

/// The blob files under `data_dir`, relative to it: every file of the blob trees laid out as a
/// blob store keeps them (a writer's temporary files are left out).
fn list_blobs(data_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for root in archive::blob_roots() {
        let fans = match std::fs::read_dir(data_dir.join(&root)) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for fan in fans {
            let fan = fan?;
            if !fan.file_type()?.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(fan.path())? {
                let file = file?;
                let relative = root.join(fan.file_name()).join(file.file_name());
                let member = archive::blob_member(&relative);
                if file.file_type()?.is_file() && archive::member_kind(&member).is_some() {
                    out.push(relative);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The blocking part of [`create`]: hash the members, write the manifest and the members to a
/// temporary file beside `to`, make it durable, rename it into place.
fn build(
    snapshot: &Path,
    data_dir: &Path,
    to: &Path,
    dir: &Path,
    schema_version: i64,
    created_at: chrono::DateTime<chrono::Utc>,
    named: Named,
) -> Result<Created, DomainError> {
    let blobs = list_blobs(data_dir).map_err(io_error(format!(
        "listing the blobs under {}",
        data_dir.display()
    )))?;
    let present: std::collections::HashSet<&PathBuf> = blobs.iter().collect();
    let missing_blobs: Vec<String> = named
        .0
        .iter()
        .filter(|p| !present.contains(p))
        .map(|p| p.display().to_string())
        .collect();
    let mut sources = vec![snapshot.to_owned()];
    sources.extend(blobs.iter().map(|b| data_dir.join(b)));
    let mut members = Vec::with_capacity(sources.len());
    for (i, source) in sources.iter().enumerate() {
        let (size, sha256) = archive::describe_file(source)
            .map_err(io_error(format!("reading {}", source.display())))?;
        let path = match i {
            0 => archive::DATABASE.to_owned(),
            _ => archive::blob_member(&blobs[i - 1]),
        };
        members.push(Member { path, size, sha256 });
    }
    let manifest = Manifest {
        format: archive::FORMAT,
        fieldops_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version,
        created_at,
        members,
    };
    let out = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)
        .map_err(io_error(format!("staging in {}", dir.display())))?;
    let (file, path) = out.into_parts();
    let writing = format!("writing {}", to.display());
    let file = archive::write(file, &manifest, &sources).map_err(io_error(&writing))?;
    file.sync_all().map_err(io_error(&writing))?;
    let archive_bytes = file.metadata().map_err(io_error(&writing))?.len();
    path.persist(to).map_err(|e| io_error(&writing)(e.error))?;
    // The rename itself made durable; best effort, as not every platform opens directories.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Created {
        manifest,
        missing_blobs,
        archive_bytes,
    })
}
