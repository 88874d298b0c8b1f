//! Hostile spreadsheets, as property tests of `import::prepare` (the readers, their limits and
//! the mapping; no database): CSV text of any bytes, quoting and delimiters, and XLSX files
//! that are real workbooks with bytes flipped or cut short, or zip headers with noise behind.
//! Each must answer a table or a typed error without a panic, and a plain CSV must read every
//! one of its rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::import::{prepare, ImportRequest};
use mobile_shared::spreadsheets::{ImportMode, SheetKind};
use proptest::prelude::*;

fn request() -> ImportRequest {
    ImportRequest {
        kind: SheetKind::Assets,
        mode: ImportMode::DryRun,
        mapping: Vec::new(),
    }
}

/// CSV-shaped text: the asset list's header, then rows of cells with quotes, separators,
/// line breaks, formula triggers and non-ASCII text mixed in.
fn csv_text() -> impl Strategy<Value = Vec<u8>> {
    let cell = prop_oneof![
        "[A-Za-z0-9 -]{0,12}",
        "\"[^\"]{0,10}\"",
        "\"([^\"]|\"\"){0,10}\"",
        "[=+@-][A-Z0-9()]{0,8}",
        "[;,\t\r\n]{1,3}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ];
    let row = prop::collection::vec(cell, 0..6).prop_map(|cells| cells.join(","));
    (prop::collection::vec(row, 0..20), any::<bool>()).prop_map(|(rows, bom)| {
        let mut text = if bom {
            "\u{feff}".to_owned()
        } else {
            String::new()
        };
        text.push_str("code,name,category\n");
        text.push_str(&rows.join("\n"));
        text.into_bytes()
    })
}

/// A small real workbook of the asset list, as the export writes one.
fn workbook() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (col, header) in ["code", "name", "category"].iter().enumerate() {
        sheet.write_string(0, col as u16, *header).unwrap();
    }
    for row in 1..20u32 {
        sheet.write_string(row, 0, format!("EX-{row:03}")).unwrap();
        sheet.write_string(row, 1, "Excavator").unwrap();
        sheet.write_number(row, 2, f64::from(row)).unwrap();
    }
    book.save_to_buffer().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn any_csv_reads_or_is_refused(bytes in prop_oneof![
        csv_text(),
        prop::collection::vec(any::<u8>(), 0..600),
    ]) {
        let _ = prepare("list.csv", &bytes, request());
    }

    #[test]
    fn plain_csv_cells_come_back_exactly(
        rows in prop::collection::vec(
            prop::collection::vec("[A-Za-z0-9 ._/]{1,16}", 3), 1..30),
    ) {
        let mut text = String::from("code,name,category\n");
        for row in &rows {
            text.push_str(&row.join(","));
            text.push('\n');
        }
        // A cell of spaces only is an empty cell; a row of empty cells is skipped.
        let readable = rows.iter().all(|r| r.iter().all(|c| !c.trim().is_empty()));
        let prepared = prepare("list.csv", text.as_bytes(), request());
        if readable {
            let prepared = prepared.expect("a plain CSV reads");
            prop_assert_eq!(prepared.rows(), rows.len() as u64);
        }
    }

    #[test]
    fn zip_headers_with_noise_are_refused(rest in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = b"PK\x03\x04".to_vec();
        bytes.extend(rest);
        prop_assert!(prepare("list.xlsx", &bytes, request()).is_err());
    }
}

#[test]
fn real_workbooks_cut_short_or_corrupted_never_panic() {
    let book = workbook();
    assert!(
        prepare("list.xlsx", &book, request()).is_ok(),
        "the intact workbook reads"
    );
    let step = (book.len() / 64).max(1);
    for cut in (0..book.len()).step_by(step) {
        let _ = prepare("list.xlsx", &book[..cut], request());
    }
    for at in (0..book.len()).step_by(step) {
        let mut bad = book.clone();
        bad[at] ^= 0x5a;
        let _ = prepare("list.xlsx", &bad, request());
    }
}
