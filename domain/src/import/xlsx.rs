//! Reading an XLSX workbook's first sheet, streamed cell by cell (calamine's cell reader: a
//! sheet of a million formatted rows is never held as one range).
//!
//! Before calamine opens anything, the zip itself is checked ([`check_zip`]): entry count, each
//! entry's declared size and compression ratio, and then the real inflated size of every entry
//! under one byte budget, since declared sizes are written by whoever made the file. A zip bomb
//! renamed `.xlsx` is refused at a cost bounded by that budget.
//!
//! Formulas are refused rather than read as their cached values: calamine does not compute,
//! so the value imported would be whatever the last program that saved the file stored — none
//! at all for files written by many generators, a stale one after an edit in a program that
//! defers recalculation. The office is asked to paste the column as values, which makes what it
//! sees what is imported.

use std::io::{Cursor, Read};

use calamine::{DataRef, Reader, Xlsx};
use mobile_shared::ErrorCode;
use serde_json::json;

use super::table::{too_large, Next, Table, TableBuilder};
use crate::error::DomainError;

/// Most entries an XLSX zip may hold (a workbook has a dozen or so).
const MAX_ENTRIES: usize = 1_000;
/// Most bytes all entries may inflate to together.
pub const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;
/// Highest compression ratio accepted for an entry above [`RATIO_FLOOR`] bytes. Sheet XML
/// compresses well (20-50×) but not like a bomb (1000× and more).
const MAX_RATIO: u64 = 200;
const RATIO_FLOOR: u64 = 1024 * 1024;

fn unsupported(message: impl Into<String>) -> DomainError {
    DomainError::conflict(ErrorCode::UnsupportedSpreadsheet, message)
}

/// Reads the first sheet of an XLSX file.
pub(crate) fn read(bytes: &[u8]) -> Result<Table, DomainError> {
    check_zip(bytes)?;
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes))
        .map_err(|e| unsupported(format!("not a readable XLSX workbook: {e}")))?;
    let Some(sheet) = workbook.sheet_names().into_iter().next() else {
        return Err(unsupported("the workbook has no sheet"));
    };
    let mut cells = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(|e| unsupported(format!("the sheet `{sheet}` cannot be read: {e}")))?;
    let mut builder = TableBuilder::default();
    // The row being collected: its number (1-based) and its cells by column.
    let mut current: Option<(u64, Vec<String>)> = None;
    loop {
        let cell = cells
            .next_cell_with_formula()
            .map_err(|e| unsupported(format!("the sheet `{sheet}` cannot be read: {e}")))?;
        let Some(cell) = cell else { break };
        let (row, col) = cell.pos;
        let number = u64::from(row) + 1;
        let reference = cell_ref(row, col);
        if cell
            .formula
            .as_deref()
            .is_some_and(|f| !f.trim().is_empty())
        {
            return Err(DomainError::conflict_with(
                ErrorCode::SpreadsheetFormula,
                format!(
                    "cell {reference} holds a formula; imports take values only (copy the \
                     column and paste it as values)"
                ),
                json!({ "cell": reference }),
            ));
        }
        let text = text_of(&cell.value, &reference)?;
        if current.as_ref().is_some_and(|(n, _)| *n != number) {
            if let Some((n, row_cells)) = current.take() {
                if builder.push(n, row_cells)? == Next::Stop {
                    return builder.finish();
                }
            }
        }
        if builder.is_past_end(number) {
            return builder.finish();
        }
        let col = usize::try_from(col).unwrap_or(usize::MAX);
        if col >= super::table::MAX_COLUMNS {
            if text.is_empty() {
                continue;
            }
            return Err(too_large(format!(
                "cell {reference} is past column {}",
                super::table::MAX_COLUMNS
            )));
        }
        let (_, row_cells) = current.get_or_insert_with(|| (number, Vec::new()));
        if row_cells.len() <= col {
            row_cells.resize(col + 1, String::new());
        }
        row_cells[col] = text;
    }
    if let Some((n, row_cells)) = current {
        builder.push(n, row_cells)?;
    }
    builder.finish()
}

/// A cell's value as text: integers without a decimal point, days as `YYYY-MM-DD`.
fn text_of(value: &DataRef<'_>, reference: &str) -> Result<String, DomainError> {
    Ok(match value {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => float_text(*f),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(dt) => match dt.as_datetime() {
            Some(at) if dt.is_datetime() => {
                if at.time() == chrono::NaiveTime::MIN {
                    at.date().format("%Y-%m-%d").to_string()
                } else {
                    at.format("%Y-%m-%dT%H:%M:%S").to_string()
                }
            }
            _ => float_text(dt.as_f64()),
        },
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => {
            return Err(DomainError::conflict_with(
                ErrorCode::UnsupportedSpreadsheet,
                format!("cell {reference} holds the error value {e}"),
                json!({ "cell": reference }),
            ))
        }
    })
}

/// `12` for 12.0 (an integer typed into a spreadsheet is stored as a float), else the
/// shortest text that reads back as the same number.
fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.0}")
    } else {
        f.to_string()
    }
}

/// `C5` for zero-based row 4, column 2.
fn cell_ref(row: u32, col: u32) -> String {
    let mut letters = Vec::new();
    let mut n = col + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + u8::try_from(rem).unwrap_or(0)));
        n = (n - 1) / 26;
    }
    letters.reverse();
    format!("{}{}", letters.into_iter().collect::<String>(), row + 1)
}

/// Refuses a zip that is not one, or that would inflate past the limits (module doc).
pub(crate) fn check_zip(bytes: &[u8]) -> Result<(), DomainError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| unsupported(format!("not an XLSX workbook (not a readable zip): {e}")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(too_large(format!(
            "the workbook has {} parts; at most {MAX_ENTRIES}",
            zip.len()
        )));
    }
    let mut declared: u64 = 0;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| unsupported(format!("unreadable zip entry: {e}")))?;
        let size = entry.size();
        declared = declared.saturating_add(size);
        if size > RATIO_FLOOR && size / entry.compressed_size().max(1) > MAX_RATIO {
            return Err(too_large(format!(
                "`{}` would inflate {}× ({} bytes): refused as a zip bomb",
                entry.name().unwrap_or_default(),
                size / entry.compressed_size().max(1),
                size
            )));
        }
    }
    if declared > MAX_INFLATED_BYTES {
        return Err(too_large(format!(
            "the workbook would inflate to {declared} bytes; at most {MAX_INFLATED_BYTES}"
        )));
    }
    // Declared sizes are the file's word: inflate for real, within the same budget.
    let mut budget = MAX_INFLATED_BYTES;
    for i in 0..zip.len() {
        let entry = zip
            .by_index(i)
            .map_err(|e| unsupported(format!("unreadable zip entry: {e}")))?;
        let inflated = std::io::copy(&mut entry.take(budget + 1), &mut std::io::sink())
            .map_err(|e| unsupported(format!("unreadable zip entry: {e}")))?;
        if inflated > budget {
            return Err(too_large(format!(
                "the workbook inflates past {MAX_INFLATED_BYTES} bytes: refused as a zip bomb"
            )));
        }
        budget -= inflated;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_references_are_spreadsheet_style() {
        assert_eq!(cell_ref(0, 0), "A1");
        assert_eq!(cell_ref(4, 2), "C5");
        assert_eq!(cell_ref(9, 26), "AA10");
        assert_eq!(cell_ref(0, 701), "ZZ1");
    }

    #[test]
    fn floats_read_as_people_typed_them() {
        assert_eq!(float_text(12.0), "12");
        assert_eq!(float_text(12.5), "12.5");
        assert_eq!(float_text(-3.0), "-3");
    }

    #[test]
    fn garbage_is_not_a_workbook() {
        assert!(matches!(
            read(b"code,name\nA-1,x\n"),
            Err(DomainError::Conflict {
                code: ErrorCode::UnsupportedSpreadsheet,
                ..
            })
        ));
    }
}
