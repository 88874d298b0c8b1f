//! `fieldops backup` and `fieldops restore`: the operator's side of `domain::backup` (README,
//! "Backups"). The archive format and the consistency argument are in that module.

use std::path::{Path, PathBuf};

use anyhow::Context;
use domain::backup::{self, Restore};
use domain::store::{redact_url, scheme_of};
use domain::{Backend, Store, StoreOptions};

/// `fieldops backup --to FILE`: an online backup of the SQLite database at `url` and the blobs
/// under `data_dir`. On PostgreSQL, says what to use instead and fails (no archive is written).
pub async fn backup(url: &str, data_dir: &Path, to: &Path) -> anyhow::Result<()> {
    match scheme_of(url) {
        Some(Backend::Postgres) => anyhow::bail!("{}", backup::POSTGRES_GUIDANCE),
        Some(Backend::Sqlite) => {}
        None => anyhow::bail!(
            "unsupported database URL `{}`: use sqlite://PATH",
            redact_url(url)
        ),
    }
    // Connecting would create a missing file: a backup of nothing is a mistake to report.
    let file = backup::sqlite_file(url)?;
    if !file.is_file() {
        anyhow::bail!(
            "no database at {} (see --database-url / FIELDOPS_DATABASE_URL)",
            file.display()
        );
    }
    // No migrations: a backup copies the database as it is, whatever version serves it.
    let store = Store::connect(url, &StoreOptions::default())
        .await
        .with_context(|| format!("opening database {}", redact_url(url)))?;
    let created = backup::create(&store, data_dir, to).await;
    store.close().await;
    let created = created.context("backup failed")?;
    for missing in created.missing_blobs.iter().take(10) {
        eprintln!(
            "warning: {missing} is named by the database but not under {} (is --data-dir right?)",
            data_dir.display()
        );
    }
    if created.missing_blobs.len() > 10 {
        eprintln!(
            "warning: … and {} more missing blobs",
            created.missing_blobs.len() - 10
        );
    }
    println!(
        "backup written to {}: {} bytes, the database (schema {}) and {} blob(s) from {}",
        to.display(),
        created.archive_bytes,
        created.manifest.schema_version,
        created.manifest.members.len().saturating_sub(1),
        data_dir.display()
    );
    Ok(())
}

/// `fieldops restore --from FILE`: verifies the archive, restores it into `url` and
/// `data_dir` (refusing non-empty targets unless `force`), then migrates.
pub async fn restore(
    from: PathBuf,
    url: &str,
    data_dir: PathBuf,
    force: bool,
) -> anyhow::Result<()> {
    let what = Restore {
        from,
        database_url: url.to_owned(),
        data_dir,
        force,
    };
    let restored = backup::restore(&what)
        .await
        .map_err(crate::describe)
        .context("restore failed")?;
    let m = &restored.manifest;
    println!(
        "restored {} (taken {} by fieldops {}, schema {}) into {} and {}; migrated to schema {}",
        what.from.display(),
        m.created_at.to_rfc3339(),
        m.fieldops_version,
        m.schema_version,
        redact_url(url),
        what.data_dir.display(),
        restored.schema_version
    );
    Ok(())
}
