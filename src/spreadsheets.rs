//! `fieldops import` and `fieldops export`: the office's spreadsheets from the command line,
//! straight against the database (as `user add`), through the same domain code as the API.

use std::path::{Path, PathBuf};

use anyhow::Context;
use domain::import::{self, ImportRequest};
use domain::{Actor, Store};
use indicatif::{ProgressBar, ProgressStyle};
use mobile_shared::spreadsheets::{ImportMode, ImportReport, SheetFormat, SheetKind};

/// Row errors printed; the rest are counted.
const PRINTED_ERRORS: usize = 50;

/// The flags of `fieldops import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// assets, sites, customers or contracts.
    #[arg(value_parser = parse_kind)]
    pub kind: SheetKind,
    /// A .csv (UTF-8) or .xlsx file; the first row is the header.
    pub file: PathBuf,
    /// Column mapping over the defaults by header name: `column=field,…` (`column=` skips one).
    #[arg(long, default_value = "")]
    pub mapping: String,
    /// Check every row and report; write nothing.
    #[arg(long, conflicts_with = "per_row")]
    pub dry_run: bool,
    /// Import the good rows and report the bad ones (default: all rows or none).
    #[arg(long)]
    pub per_row: bool,
}

/// The flags of `fieldops export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// assets, sites, customers or contracts.
    #[arg(value_parser = parse_kind)]
    pub kind: SheetKind,
    /// Where to write: `.csv` or `.xlsx` (the extension picks the format).
    pub file: PathBuf,
}

fn parse_kind(s: &str) -> Result<SheetKind, String> {
    SheetKind::parse(s).ok_or_else(|| "expected assets, sites, customers or contracts".into())
}

/// Reads, checks and imports `args.file`; fails (exit status 1) when a row was refused.
pub async fn import(store: &Store, args: ImportArgs) -> anyhow::Result<()> {
    let mode = if args.dry_run {
        ImportMode::DryRun
    } else if args.per_row {
        ImportMode::PerRow
    } else {
        ImportMode::AllOrNothing
    };
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let filename = file_name(&args.file);
    let request = ImportRequest {
        kind: args.kind,
        mode,
        mapping: import::mapping::parse_spec(&args.mapping).map_err(crate::describe)?,
    };
    let prepared = tokio::task::spawn_blocking(move || import::prepare(&filename, &bytes, request))
        .await
        .context("reading the file")?
        .map_err(crate::describe)?;
    let bar = ProgressBar::new(prepared.rows());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = {
        let bar = bar.clone();
        move |n: u64| bar.set_position(n)
    };
    let report = import::run(store, &Actor::cli(), prepared, &progress)
        .await
        .map_err(crate::describe)?;
    bar.finish_and_clear();
    print_report(&report);
    if report.failed > 0 {
        anyhow::bail!(
            "{} row(s) refused{}",
            report.failed,
            match report.mode {
                ImportMode::PerRow => "; the others were imported",
                _ => "; nothing was imported",
            }
        );
    }
    Ok(())
}

fn print_report(report: &ImportReport) {
    println!(
        "{} {} ({}): {} rows, {} created, {} unchanged, {} refused{}",
        report.kind.as_str(),
        report.format.as_str(),
        report.mode.as_str(),
        report.rows,
        report.created,
        report.unchanged,
        report.failed,
        if report.committed {
            ""
        } else {
            " — nothing written"
        }
    );
    for m in &report.mapping {
        println!("  column `{}` → {}", m.column, m.field);
    }
    for c in &report.ignored_columns {
        println!("  column `{c}` ignored");
    }
    for e in report.errors.iter().take(PRINTED_ERRORS) {
        println!(
            "  row {}{}: {} ({})",
            e.row,
            e.column
                .as_deref()
                .map(|c| format!(", column `{c}`"))
                .unwrap_or_default(),
            e.reason,
            e.code
        );
    }
    if report.errors.len() > PRINTED_ERRORS {
        println!("  … and {} more", report.errors.len() - PRINTED_ERRORS);
    }
}

/// Writes the whole list of `args.kind` to `args.file` (audited as an export by `cli`).
pub async fn export(store: &Store, args: ExportArgs) -> anyhow::Result<()> {
    let ext = args
        .file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let format = SheetFormat::parse(ext)
        .with_context(|| format!("{}: name a .csv or .xlsx file", args.file.display()))?;
    let file = domain::export::export(store, &Actor::cli(), args.kind, format)
        .await
        .map_err(crate::describe)?;
    std::fs::write(&args.file, &file.bytes)
        .with_context(|| format!("writing {}", args.file.display()))?;
    println!(
        "wrote {} {} to {}",
        file.rows,
        args.kind.as_str(),
        args.file.display()
    );
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
