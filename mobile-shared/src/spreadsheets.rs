//! Wire types of the office's spreadsheets: importing and exporting assets, sites, customers
//! and contracts as CSV or XLSX (`/api/v1/imports/{kind}`, `/api/v1/exports/{kind}.{format}`,
//! `fieldops import`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ErrorCode;

/// The lists a spreadsheet can hold: one kind per file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SheetKind {
    Assets,
    Sites,
    Customers,
    Contracts,
}

impl SheetKind {
    /// Every kind, in the order an office loads them (a contract names a customer, a site and
    /// assets; a customer site names its customer).
    pub const ALL: [SheetKind; 4] = [
        SheetKind::Customers,
        SheetKind::Sites,
        SheetKind::Assets,
        SheetKind::Contracts,
    ];

    /// The wire and path name (`assets`…).
    pub fn as_str(self) -> &'static str {
        match self {
            SheetKind::Assets => "assets",
            SheetKind::Sites => "sites",
            SheetKind::Customers => "customers",
            SheetKind::Contracts => "contracts",
        }
    }

    /// Reads a wire name; `None` for anything else.
    pub fn parse(s: &str) -> Option<SheetKind> {
        SheetKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The file formats read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SheetFormat {
    /// UTF-8 CSV (a byte-order mark is allowed), comma-separated, first row the header.
    Csv,
    /// Office Open XML workbook; the first sheet is read, its first row the header.
    Xlsx,
}

impl SheetFormat {
    /// The file extension and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SheetFormat::Csv => "csv",
            SheetFormat::Xlsx => "xlsx",
        }
    }

    /// Reads an extension (case-insensitive); `None` for anything else.
    pub fn parse(s: &str) -> Option<SheetFormat> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(SheetFormat::Csv),
            "xlsx" => Some(SheetFormat::Xlsx),
            _ => None,
        }
    }

    /// The media type of a file in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            SheetFormat::Csv => "text/csv; charset=utf-8",
            SheetFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }
}

/// How an import treats the file's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Checks every row as a real import would, reports, and writes nothing.
    #[default]
    DryRun,
    /// One transaction: every row is imported, or (one bad row) none is.
    AllOrNothing,
    /// Each good row is imported; bad rows are reported and skipped.
    PerRow,
}

impl ImportMode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportMode::DryRun => "dry_run",
            ImportMode::AllOrNothing => "all_or_nothing",
            ImportMode::PerRow => "per_row",
        }
    }

    /// Reads a wire name; `None` for anything else.
    pub fn parse(s: &str) -> Option<ImportMode> {
        [
            ImportMode::DryRun,
            ImportMode::AllOrNothing,
            ImportMode::PerRow,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// Why one row (or one cell of it) was not imported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowError {
    /// The row's number in the file as a spreadsheet shows it (the header is row 1).
    pub row: u64,
    /// The file's column header at fault, when one is.
    pub column: Option<String>,
    /// What is wrong, for a person.
    pub reason: String,
    /// The typed code of the refusal (`validation_failed`, `booking_conflict`…).
    pub code: ErrorCode,
}

/// The answer to an import (or a dry run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    /// The import's id (its audit entry's, when it wrote anything; the job's for progress).
    pub id: Uuid,
    pub kind: SheetKind,
    pub format: SheetFormat,
    pub mode: ImportMode,
    /// Data rows read (empty rows are not counted).
    pub rows: u64,
    /// Records created (in a dry run: that would have been).
    pub created: u64,
    /// Rows whose record exists already (same key): left as they are, so re-importing a file
    /// changes nothing.
    pub unchanged: u64,
    /// Rows refused; each has at least one entry in `errors`.
    pub failed: u64,
    /// Whether the import's good rows were committed: false for a dry run and for an
    /// all-or-nothing import with a bad row (then nothing was written).
    pub committed: bool,
    /// Header → field, as applied (defaults by header name, then the caller's mapping).
    pub mapping: Vec<ColumnMapping>,
    /// Headers that map to no field (their cells are not read).
    pub ignored_columns: Vec<String>,
    /// Row-level errors, in file order (at most 1,000; `failed` counts them all).
    pub errors: Vec<RowError>,
}

/// One column of the file and the field it fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ColumnMapping {
    pub column: String,
    pub field: String,
}

/// Where a running import is (`GET /api/v1/imports/jobs/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportJob {
    pub id: Uuid,
    pub kind: SheetKind,
    pub mode: ImportMode,
    /// `running`, `done` (see `report`) or `failed` (see `error`).
    pub state: ImportJobState,
    /// Data rows processed so far.
    pub rows_done: u64,
    /// Data rows in the file.
    pub rows_total: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The report, once done.
    pub report: Option<ImportReport>,
    /// The refusal, when the import failed as a whole (the problem body it would have had).
    pub error: Option<serde_json::Value>,
}

/// The states of an import job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportJobState {
    Running,
    Done,
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in SheetKind::ALL {
            assert_eq!(SheetKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).ok(), Some(k.as_str().into()));
        }
        for m in [
            ImportMode::DryRun,
            ImportMode::AllOrNothing,
            ImportMode::PerRow,
        ] {
            assert_eq!(ImportMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(SheetFormat::parse("XLSX"), Some(SheetFormat::Xlsx));
        assert_eq!(SheetFormat::parse("xls"), None);
        assert_eq!(SheetKind::parse("users"), None);
    }
}
