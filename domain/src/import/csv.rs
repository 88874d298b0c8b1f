//! Reading a CSV file: UTF-8 only (checked over the whole file first, so a Latin-1 or UTF-16
//! export is refused naming its first bad line instead of importing mojibake), comma- or
//! semicolon-separated (spreadsheet programs in many European locales write `;`), and the
//! export's formula neutralisation undone (a cell `'=…` written by [`crate::export`] reads back
//! as `=…`).

use mobile_shared::ErrorCode;
use serde_json::json;

use super::table::{Next, Table, TableBuilder};
use crate::error::DomainError;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads `bytes` as a CSV table.
pub(crate) fn read(bytes: &[u8]) -> Result<Table, DomainError> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    check_utf8(bytes)?;
    let delimiter = guess_delimiter(bytes);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut builder = TableBuilder::default();
    let mut record = ::csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(DomainError::conflict_with(
                    ErrorCode::UnsupportedSpreadsheet,
                    format!("the CSV cannot be read at line {line}: {e}"),
                    json!({ "line": line }),
                ));
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if builder.is_past_end(line) {
            break;
        }
        let cells = record.iter().map(unneutralise).collect();
        if builder.push(line, cells)? == Next::Stop {
            break;
        }
    }
    builder.finish()
}

/// Refuses a file that is not UTF-8, naming the line of the first bad byte.
fn check_utf8(bytes: &[u8]) -> Result<(), DomainError> {
    let utf16 = bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF");
    let bad_at = if utf16 {
        Some(0)
    } else {
        std::str::from_utf8(bytes).err().map(|e| e.valid_up_to())
    };
    let Some(at) = bad_at else { return Ok(()) };
    let line = 1 + bytes[..at].iter().filter(|b| **b == b'\n').count();
    Err(DomainError::conflict_with(
        ErrorCode::SpreadsheetEncoding,
        format!(
            "the CSV is not UTF-8 text (first bad byte on line {line}); save it as \"CSV UTF-8\""
        ),
        json!({ "line": line }),
    ))
}

/// `;` when the first line has more semicolons than commas, else `,`.
fn guess_delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let count = |c: u8| first.iter().filter(|b| **b == c).count();
    if count(b';') > count(b',') {
        b';'
    } else {
        b','
    }
}

/// Undoes the export's guard against formula injection: `'` before a leading `= + - @`, tab
/// or carriage return is dropped.
fn unneutralise(cell: &str) -> String {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(crate::export::FORMULA_TRIGGERS) => rest.to_owned(),
        _ => cell.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_with_their_line_numbers() {
        let t = read(b"\xEF\xBB\xBFcode,name\nA-1,\"Digger, big\"\n\n,\nA-2,'=1+1\n").expect("csv");
        assert_eq!(t.headers, ["code", "name"]);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].cells, ["A-1", "Digger, big"]);
        assert_eq!(t.rows[1].number, 5);
        assert_eq!(t.rows[1].cells, ["A-2", "=1+1"]);
    }

    #[test]
    fn semicolons_are_understood() {
        let t = read("code;name\nA-1;Bagger, groß\n".as_bytes()).expect("csv");
        assert_eq!(t.rows[0].cells, ["A-1", "Bagger, groß"]);
    }

    #[test]
    fn latin1_and_utf16_are_refused_with_the_line() {
        let e = read(b"code,name\nA-1,Gr\xF6\xDFe\n").expect_err("latin-1");
        match e {
            DomainError::Conflict { code, detail, .. } => {
                assert_eq!(code, ErrorCode::SpreadsheetEncoding);
                assert_eq!(detail, Some(json!({ "line": 2 })));
            }
            other => panic!("{other:?}"),
        }
        assert!(read(b"\xFF\xFEc\x00o\x00").is_err());
    }
}
