//! What both readers produce: a header and the data rows under it, with the limits every file
//! is held to whatever its format (rows, columns, runs of empty rows), so a CSV and an XLSX of
//! the same list are refused or accepted alike.

use mobile_shared::ErrorCode;
use serde_json::json;

use crate::error::DomainError;

/// Most data rows one file may hold: an office's list, not a data dump. A larger list is
/// imported in several files (each import is one transaction in `all_or_nothing`).
pub const MAX_ROWS: usize = 20_000;
/// Most columns a header may have.
pub const MAX_COLUMNS: usize = 200;
/// After this many empty rows in a row, the list is taken to have ended: spreadsheets often
/// carry formatted but empty rows down to row 1,048,576, and reading them all would be the
/// whole cost of an import.
pub const MAX_EMPTY_RUN: u64 = 1_000;

/// One data row: its number as the spreadsheet shows it (the header is row 1 when it is the
/// first line) and its cells, trimmed, in header order.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub number: u64,
    pub cells: Vec<String>,
}

/// A read file: the header's cells and the non-empty rows below it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
}

/// Collects rows as a reader finds them, applying the limits.
#[derive(Default)]
pub(crate) struct TableBuilder {
    table: Table,
    header_seen: bool,
    /// The number of the last row seen (empty or not), to measure runs of empty rows.
    last_row: u64,
    last_filled: u64,
}

/// Whether the reader should go on after a row.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    More,
    /// The rows ran empty for [`MAX_EMPTY_RUN`]: the list has ended.
    Stop,
}

pub(crate) fn too_large(message: impl Into<String>) -> DomainError {
    DomainError::conflict(ErrorCode::SpreadsheetTooLarge, message)
}

impl TableBuilder {
    /// Takes row `number` (1-based, increasing; rows not pushed are empty).
    pub fn push(&mut self, number: u64, cells: Vec<String>) -> Result<Next, DomainError> {
        let cells: Vec<String> = cells.into_iter().map(|c| c.trim().to_owned()).collect();
        self.last_row = number;
        if cells.iter().all(String::is_empty) {
            return Ok(self.after_empty());
        }
        if number.saturating_sub(self.last_filled) > MAX_EMPTY_RUN + 1 && self.header_seen {
            // Data after a long empty stretch: the list ended before it.
            return Ok(Next::Stop);
        }
        self.last_filled = number;
        if !self.header_seen {
            self.header_seen = true;
            if cells.len() > MAX_COLUMNS {
                return Err(too_large(format!(
                    "the header has {} columns; at most {MAX_COLUMNS}",
                    cells.len()
                )));
            }
            self.table.headers = cells;
            return Ok(Next::More);
        }
        if self.table.rows.len() >= MAX_ROWS {
            return Err(DomainError::conflict_with(
                ErrorCode::SpreadsheetTooLarge,
                format!("the file has more than {MAX_ROWS} data rows; split it"),
                json!({ "max_rows": MAX_ROWS, "row": number }),
            ));
        }
        let mut cells = cells;
        cells.truncate(self.table.headers.len().max(1));
        self.table.rows.push(Row { number, cells });
        Ok(Next::More)
    }

    /// Called for a row that holds nothing (a reader may also skip such rows entirely).
    fn after_empty(&self) -> Next {
        if self.last_row.saturating_sub(self.last_filled) > MAX_EMPTY_RUN {
            Next::Stop
        } else {
            Next::More
        }
    }

    /// Whether row `number` lies past the end of the list (a run of empty rows before it).
    pub fn is_past_end(&self, number: u64) -> bool {
        self.header_seen && number.saturating_sub(self.last_filled) > MAX_EMPTY_RUN + 1
    }

    pub fn finish(self) -> Result<Table, DomainError> {
        if !self.header_seen {
            return Err(DomainError::conflict(
                ErrorCode::SpreadsheetColumns,
                "the file is empty: the first row must be a header naming the columns",
            ));
        }
        Ok(self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn empty_rows_are_skipped_and_a_long_run_ends_the_list() {
        let mut b = TableBuilder::default();
        assert_eq!(b.push(1, cells(&["code", "name"])).ok(), Some(Next::More));
        assert_eq!(b.push(2, cells(&[" A-1 ", "x"])).ok(), Some(Next::More));
        assert_eq!(b.push(3, cells(&["", " "])).ok(), Some(Next::More));
        assert_eq!(b.push(4, cells(&["A-2", "y"])).ok(), Some(Next::More));
        let mut n = 5;
        let mut next = Next::More;
        while next == Next::More && n < 10_000 {
            next = b.push(n, cells(&["", ""])).expect("push");
            n += 1;
        }
        assert_eq!(next, Next::Stop);
        assert!(n < 4 + MAX_EMPTY_RUN + 10, "stopped after {n}");
        let t = b.finish().expect("table");
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].cells, cells(&["A-1", "x"]));
        assert_eq!(t.rows[1].number, 4);
    }

    #[test]
    fn a_file_without_a_header_is_refused() {
        let b = TableBuilder::default();
        assert!(matches!(
            b.finish(),
            Err(DomainError::Conflict {
                code: ErrorCode::SpreadsheetColumns,
                ..
            })
        ));
    }
}
