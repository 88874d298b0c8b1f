//! Importing the office's spreadsheets: assets, sites, customers and contracts from CSV or
//! XLSX (README, "Import and export").
//!
//! Two steps, so a caller can refuse a bad file before it starts a job and run the CPU-bound
//! reading off the async threads: [`prepare`] checks and reads the file (format by extension
//! *and* content, [`csv`] / [`xlsx`] readers with their limits, the column [`mapping`]) into a
//! [`Prepared`] import; [`run`] applies its rows through the services' `create_in` (in
//! [`rows`]) in the chosen [`ImportMode`]:
//! - `dry_run`: everything in one transaction, rolled back: every check the real import makes,
//!   including references to records created by earlier rows of the same file;
//! - `all_or_nothing`: the same transaction, committed only when no row failed;
//! - `per_row`: bad rows skipped; committed in chunks of [`CHUNK`] units so a long import does
//!   not hold SQLite's one writer for its whole length.
//!
//! Each unit runs under a savepoint, so a refused row leaves nothing behind (PostgreSQL would
//! otherwise abort the whole transaction at the first failed statement) and the import goes on
//! to report every bad row. A row whose key exists is left alone and counted `unchanged`:
//! re-importing a file changes nothing (not even the audit log). An import that created
//! records also records one `import.run` audit entry with its counts, next to the entry each
//! created record gets from its service.

mod csv;
pub mod mapping;
mod rows;
mod table;
mod xlsx;

use mobile_shared::spreadsheets::{ImportMode, ImportReport, SheetFormat, SheetKind};
use mobile_shared::ErrorCode;
use serde_json::json;
use tracing::Instrument;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::clock;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::store::{on_tx, Backend, Store, Tx};

pub use table::{MAX_COLUMNS, MAX_EMPTY_RUN, MAX_ROWS};
pub use xlsx::MAX_INFLATED_BYTES;

/// Largest file accepted (either format).
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Units per transaction in `per_row` mode.
pub const CHUNK: usize = 500;
/// Row errors listed in a report (all are counted in `failed`).
pub const MAX_REPORTED_ERRORS: usize = 1_000;

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub kind: SheetKind,
    pub mode: ImportMode,
    /// `column=field` overrides of the default mapping (`column=` skips a column).
    pub mapping: Vec<(String, String)>,
}

/// A read and mapped file, ready to [`run`].
#[derive(Debug)]
pub struct Prepared {
    id: Uuid,
    kind: SheetKind,
    format: SheetFormat,
    mode: ImportMode,
    table: table::Table,
    mapping: mapping::Mapping,
}

impl Prepared {
    /// The import's id (its report's and audit entry's).
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Data rows read.
    pub fn rows(&self) -> u64 {
        self.table.rows.len() as u64
    }

    pub fn kind(&self) -> SheetKind {
        self.kind
    }

    pub fn mode(&self) -> ImportMode {
        self.mode
    }
}

fn unsupported(message: impl Into<String>) -> DomainError {
    DomainError::conflict(ErrorCode::UnsupportedSpreadsheet, message)
}

/// The format of a file, from its name's extension, checked against its first bytes (an XLSX
/// is a zip): a workbook named `.csv`, a text named `.xlsx`, an `.xls` or anything else is
/// refused.
pub fn format_of(filename: &str, bytes: &[u8]) -> Result<SheetFormat, DomainError> {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e)
        .unwrap_or_default();
    let Some(format) = SheetFormat::parse(ext) else {
        return Err(unsupported(format!(
            "`{filename}`: imports read .csv (UTF-8) and .xlsx files"
        )));
    };
    let zip = bytes.starts_with(b"PK\x03\x04");
    match format {
        SheetFormat::Xlsx if !zip => Err(unsupported(format!(
            "`{filename}` is named .xlsx but is not an XLSX workbook"
        ))),
        SheetFormat::Csv if zip || bytes.starts_with(b"\xD0\xCF\x11\xE0") => {
            Err(unsupported(format!(
                "`{filename}` is named .csv but is a workbook: save it as CSV or name it .xlsx"
            )))
        }
        _ => Ok(format),
    }
}

/// Checks and reads a file: its size, format and content, the limits, and the mapping of its
/// header. CPU-bound (an XLSX is inflated once to check it): async callers run it on the
/// blocking pool.
pub fn prepare(
    filename: &str,
    bytes: &[u8],
    request: ImportRequest,
) -> Result<Prepared, DomainError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(table::too_large(format!(
            "the file is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    let format = format_of(filename, bytes)?;
    let table = match format {
        SheetFormat::Csv => csv::read(bytes)?,
        SheetFormat::Xlsx => xlsx::read(bytes)?,
    };
    let mapping = mapping::Mapping::new(request.kind, &table.headers, &request.mapping)?;
    Ok(Prepared {
        id: clock::new_id(),
        kind: request.kind,
        format,
        mode: request.mode,
        table,
        mapping,
    })
}

async fn sql(tx: &mut Tx, statement: &'static str) -> Result<(), DomainError> {
    on_tx!(tx, execute(sqlx::query(statement)))?;
    Ok(())
}

/// Applies a prepared import (module doc); `progress` is told the data rows done so far.
pub async fn run(
    store: &Store,
    actor: &Actor,
    prepared: Prepared,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<ImportReport, DomainError> {
    let span = tracing::info_span!("import", id = %prepared.id, kind = prepared.kind.as_str(),
        mode = prepared.mode.as_str(), rows = prepared.table.rows.len());
    run_inner(store, actor, prepared, progress)
        .instrument(span)
        .await
}

async fn run_inner(
    store: &Store,
    actor: &Actor,
    prepared: Prepared,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<ImportReport, DomainError> {
    let Prepared {
        id,
        kind,
        format,
        mode,
        table,
        mapping,
    } = prepared;
    let mut report = ImportReport {
        id,
        kind,
        format,
        mode,
        rows: table.rows.len() as u64,
        created: 0,
        unchanged: 0,
        failed: 0,
        committed: false,
        mapping: mapping.applied(),
        ignored_columns: mapping.ignored(),
        errors: Vec::new(),
    };
    let units = rows::units(kind, &mapping, &table.rows);
    let chunk = match mode {
        ImportMode::PerRow => CHUNK,
        ImportMode::DryRun | ImportMode::AllOrNothing => units.len().max(1),
    };
    let mut done: u64 = 0;
    for part in units.chunks(chunk) {
        let mut tx = store.begin().await?;
        if tx.backend() == Backend::Postgres {
            // The services' statements are prepared once per connection, and after a few runs
            // PostgreSQL may keep a generic plan made when the tables were small (a sequential
            // scan); rows this transaction inserts never reach the statistics, so such a plan
            // made each key lookup read every row imported so far — quadratic over a file
            // (20,000 assets: 201 s). Custom plans see the table's current size.
            sql(&mut tx, "SET LOCAL plan_cache_mode = force_custom_plan").await?;
        }
        for unit in part {
            sql(&mut tx, "SAVEPOINT import_unit").await?;
            match rows::apply(&mut tx, actor, kind, &mapping, unit).await {
                Ok(outcome) => {
                    sql(&mut tx, "RELEASE SAVEPOINT import_unit").await?;
                    match outcome {
                        rows::Outcome::Created => report.created += unit.len() as u64,
                        rows::Outcome::Unchanged => report.unchanged += unit.len() as u64,
                    }
                }
                Err(rows::Failure::Rows(errors)) => {
                    sql(&mut tx, "ROLLBACK TO SAVEPOINT import_unit").await?;
                    sql(&mut tx, "RELEASE SAVEPOINT import_unit").await?;
                    report.failed += unit.len() as u64;
                    let room = MAX_REPORTED_ERRORS.saturating_sub(report.errors.len());
                    report.errors.extend(errors.into_iter().take(room));
                }
                Err(rows::Failure::Fatal(e)) => return Err(e),
            }
            done += unit.len() as u64;
            progress(done);
        }
        let keep = match mode {
            ImportMode::DryRun => false,
            ImportMode::AllOrNothing => report.failed == 0,
            ImportMode::PerRow => true,
        };
        if keep {
            if mode == ImportMode::AllOrNothing {
                report.committed = true;
                if report.created > 0 {
                    record(&mut tx, actor, &report).await?;
                }
            }
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
    }
    if mode == ImportMode::PerRow {
        report.committed = true;
        if report.created > 0 {
            let mut tx = store.begin().await?;
            record(&mut tx, actor, &report).await?;
            tx.commit().await?;
        }
    }
    tracing::info!(
        created = report.created,
        unchanged = report.unchanged,
        failed = report.failed,
        committed = report.committed,
        "import finished"
    );
    Ok(report)
}

/// The import's own audit entry: what was imported, by whom, with which counts.
async fn record(tx: &mut Tx, actor: &Actor, report: &ImportReport) -> Result<(), DomainError> {
    let summary = json!({
        "kind": report.kind,
        "format": report.format,
        "mode": report.mode,
        "rows": report.rows,
        "created": report.created,
        "unchanged": report.unchanged,
        "failed": report.failed,
    });
    audit::record(
        tx,
        actor,
        Change::action("import.run", Entity::Import, report.id).after(&summary),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_checked_against_content() {
        assert_eq!(format_of("a.CSV", b"code\n").ok(), Some(SheetFormat::Csv));
        assert_eq!(
            format_of("a.xlsx", b"PK\x03\x04rest").ok(),
            Some(SheetFormat::Xlsx)
        );
        for (name, bytes) in [
            ("a.xlsx", &b"code,name\n"[..]),
            ("a.csv", &b"PK\x03\x04"[..]),
            ("a.xls", &b"\xD0\xCF\x11\xE0"[..]),
            ("a.csv", &b"\xD0\xCF\x11\xE0"[..]),
            ("noextension", &b"code\n"[..]),
        ] {
            assert!(
                matches!(
                    format_of(name, bytes),
                    Err(DomainError::Conflict {
                        code: ErrorCode::UnsupportedSpreadsheet,
                        ..
                    })
                ),
                "{name}"
            );
        }
    }
}
