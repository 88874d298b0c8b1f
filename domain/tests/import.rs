//! Spreadsheet import and export on SQLite and PostgreSQL: a dry run reports row errors and
//! writes nothing, all-or-nothing rolls back on one bad row, per-row keeps the good ones,
//! re-importing changes nothing, CSV and XLSX alike, an export imports back as no change, and
//! bad files (not UTF-8, a zip bomb, a million empty rows, formulas, too many rows, a workbook
//! named .csv) are refused before anything is written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use domain::import::{self, ImportRequest};
use domain::testing::TestDb;
use domain::{audit, export, Actor, DomainError};
use mobile_shared::spreadsheets::{ImportMode, ImportReport, SheetFormat, SheetKind};
use mobile_shared::wire::AuditSource;
use mobile_shared::{ErrorCode, Role};

domain::backend_matrix!(
    TestDb:
    a_dry_run_reports_row_errors_and_writes_nothing,
    all_or_nothing_rolls_back_on_one_bad_row,
    per_row_imports_the_good_rows,
    re_importing_the_same_file_changes_nothing,
    xlsx_imports_like_csv_and_a_mapping_renames_columns,
    contracts_group_lines_by_number_and_resolve_codes,
    an_export_imports_back_as_no_change,
    bad_files_are_refused_and_write_nothing,
);

fn office() -> Actor {
    Actor {
        user_id: None,
        name: "office-test".into(),
        role: Some(Role::Admin),
        source: AuditSource::Api,
        client: domain::ClientContext::default(),
    }
}

async fn import(
    db: &TestDb,
    kind: SheetKind,
    mode: ImportMode,
    filename: &str,
    bytes: &[u8],
) -> Result<ImportReport, DomainError> {
    import_mapped(db, kind, mode, filename, bytes, "").await
}

async fn import_mapped(
    db: &TestDb,
    kind: SheetKind,
    mode: ImportMode,
    filename: &str,
    bytes: &[u8],
    mapping: &str,
) -> Result<ImportReport, DomainError> {
    let request = ImportRequest {
        kind,
        mode,
        mapping: import::mapping::parse_spec(mapping)?,
    };
    let prepared = import::prepare(filename, bytes, request)?;
    import::run(&db.store, &office(), prepared, &|_| {}).await
}

async fn counts(db: &TestDb) -> [i64; 5] {
    [
        db.count("SELECT COUNT(*) FROM assets").await,
        db.count("SELECT COUNT(*) FROM sites").await,
        db.count("SELECT COUNT(*) FROM customers").await,
        db.count("SELECT COUNT(*) FROM contracts").await,
        db.count("SELECT COUNT(*) FROM audit_log").await,
    ]
}

fn code_of(e: &DomainError) -> ErrorCode {
    e.code()
}

const CUSTOMERS: &str = "external_code,legal_name,kind,status,currency,industry,credit_limit_cents,payment_terms_days,tags\n\
    C-1,Acme Bau GmbH,company,active,EUR,construction,500000,30,key; north\n\
    C-2,,company,active,EUR,,,,\n\
    C-3,Beta Events,company,lead,euro,,12.5,,\n\
    C-4,Gamma Rentals,company,active,EUR,,,,\n";

async fn a_dry_run_reports_row_errors_and_writes_nothing(db: TestDb) {
    let before = counts(&db).await;
    let report = import(
        &db,
        SheetKind::Customers,
        ImportMode::DryRun,
        "customers.csv",
        CUSTOMERS.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.rows, report.created, report.failed, report.committed),
        (4, 2, 2, false),
        "{report:?}"
    );
    let errors: Vec<(u64, Option<&str>)> = report
        .errors
        .iter()
        .map(|e| (e.row, e.column.as_deref()))
        .collect();
    assert_eq!(
        errors,
        [(3, Some("legal_name")), (4, Some("credit_limit_cents")),],
        "{:?}",
        report.errors
    );
    assert!(
        report.errors[0].reason.contains("empty"),
        "{:?}",
        report.errors
    );
    assert!(
        report.errors[1].reason.contains("12.5"),
        "{:?}",
        report.errors
    );
    // Nothing written, not even an audit entry.
    assert_eq!(counts(&db).await, before);

    // Once the cells parse, the service's own checks speak, naming the file's column.
    let fixed = CUSTOMERS.replace(",12.5,", ",1250,");
    let report = import(
        &db,
        SheetKind::Customers,
        ImportMode::DryRun,
        "customers.csv",
        fixed.as_bytes(),
    )
    .await
    .unwrap();
    let bad: Vec<(u64, Option<&str>, ErrorCode)> = report
        .errors
        .iter()
        .map(|e| (e.row, e.column.as_deref(), e.code))
        .collect();
    assert!(
        bad.contains(&(4, Some("currency"), ErrorCode::ValidationFailed)),
        "{:?}",
        report.errors
    );
    assert_eq!(counts(&db).await, before);
}

const ASSETS: &str =
    "code,name,category,status,serial,engine_hours,purchase_date,purchase_price_cents\n\
    EX-1,Excavator 1,,available,S1,1532.5,2024-03-01,4500000\n\
    EX-2,Excavator 2,,available,S2,12,2024-03-02,4500000\n\
    EX-3,Excavator 3,,flying,S3,-4,not-a-day,\n\
    EX-4,Excavator 4,,,S4,,,\n";

async fn all_or_nothing_rolls_back_on_one_bad_row(db: TestDb) {
    let before = counts(&db).await;
    let report = import(
        &db,
        SheetKind::Assets,
        ImportMode::AllOrNothing,
        "assets.csv",
        ASSETS.as_bytes(),
    )
    .await
    .unwrap();
    assert!(!report.committed);
    assert_eq!((report.created, report.failed), (3, 1), "{report:?}");
    // Row 4 (EX-3) has three bad cells; each is named.
    let columns: Vec<&str> = report
        .errors
        .iter()
        .filter(|e| e.row == 4)
        .filter_map(|e| e.column.as_deref())
        .collect();
    assert_eq!(columns, ["status", "purchase_date"], "{:?}", report.errors);
    assert_eq!(counts(&db).await, before, "rolled back");

    // Without the bad row, all of it lands, with one audit entry per asset and the import's.
    let good: String = ASSETS
        .lines()
        .filter(|l| !l.starts_with("EX-3"))
        .map(|l| format!("{l}\n"))
        .collect();
    let report = import(
        &db,
        SheetKind::Assets,
        ImportMode::AllOrNothing,
        "assets.csv",
        good.as_bytes(),
    )
    .await
    .unwrap();
    assert!(report.committed && report.failed == 0, "{report:?}");
    assert_eq!(counts(&db).await[0], before[0] + 3);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'asset.create'")
            .await,
        3
    );
    let runs = db
        .audit(audit::AuditFilter {
            action: Some("import.run".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].entity_id, report.id);
    assert_eq!(runs[0].after.as_ref().unwrap()["created"], 3);
    let hours: f64 = db
        .scalar("SELECT engine_hours FROM assets WHERE code = 'EX-1'")
        .await;
    assert_eq!(hours, 1532.5);
}

async fn per_row_imports_the_good_rows(db: TestDb) {
    let report = import(
        &db,
        SheetKind::Assets,
        ImportMode::PerRow,
        "assets.csv",
        ASSETS.as_bytes(),
    )
    .await
    .unwrap();
    assert!(report.committed);
    assert_eq!((report.created, report.failed), (3, 1), "{report:?}");
    assert!(report.errors.iter().all(|e| e.row == 4));
    let codes: Vec<(String,)> = db.rows("SELECT code FROM assets ORDER BY code").await;
    let codes: Vec<&str> = codes.iter().map(|(c,)| c.as_str()).collect();
    assert_eq!(codes, ["EX-1", "EX-2", "EX-4"]);
    // A duplicate code within a file is the same asset: the second row is unchanged.
    let twice = "code,name\nEX-9,Nine\nex-9,Nine again\n";
    let report = import(
        &db,
        SheetKind::Assets,
        ImportMode::PerRow,
        "twice.csv",
        twice.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!((report.created, report.unchanged), (1, 1), "{report:?}");
}

const SITES: &str = "code,name,kind,address,lat,lon,customer\n\
    dep-1,North depot,depot,Hafenstr. 1,53.55,9.99,\n\
    cs-1,Acme yard,customer_site,,,,C-1\n";

const CONTRACTS: &str = "number,customer,site,starts_on,ends_on,billing_cycle,deposit_cents,auto_renew,line_asset,line_category,line_quantity,line_rate_cents,line_rate_period\n\
    OLD-100,C-1,CS-1,2030-01-01,2030-03-31,monthly,100000,no,EX-1,,,12000,day\n\
    OLD-100,,,,,,,,,Lifts,2,5000,week\n\
    OLD-101,Acme Bau GmbH,,2030-02-01,2030-02-28,,,,,,,,\n";

const OFFICE_CUSTOMERS: &str = "external_code,legal_name,currency\nC-1,Acme Bau GmbH,EUR\n";

async fn load_office(db: &TestDb) {
    let customers = import(
        db,
        SheetKind::Customers,
        ImportMode::AllOrNothing,
        "c.csv",
        OFFICE_CUSTOMERS.as_bytes(),
    )
    .await
    .unwrap();
    assert!(customers.committed, "{customers:?}");
    let sites = import(
        db,
        SheetKind::Sites,
        ImportMode::AllOrNothing,
        "s.csv",
        SITES.as_bytes(),
    )
    .await
    .unwrap();
    assert!(sites.committed && sites.created == 2, "{sites:?}");
    let assets = import(
        db,
        SheetKind::Assets,
        ImportMode::AllOrNothing,
        "a.csv",
        "code,name,home_site\nEX-1,Excavator,DEP-1\n".as_bytes(),
    )
    .await
    .unwrap();
    assert!(assets.committed, "{assets:?}");
    domain::categories::create(
        &db.store,
        &office(),
        mobile_shared::wire::NewCategory {
            name: "Lifts".into(),
            description: None,
        },
    )
    .await
    .unwrap();
}

async fn re_importing_the_same_file_changes_nothing(db: TestDb) {
    load_office(&db).await;
    let first = import(
        &db,
        SheetKind::Contracts,
        ImportMode::AllOrNothing,
        "contracts.csv",
        CONTRACTS.as_bytes(),
    )
    .await
    .unwrap();
    assert!(first.committed && first.created == 3, "{first:?}");
    let before = counts(&db).await;
    for (kind, name, file) in [
        (SheetKind::Sites, "s.csv", SITES),
        (SheetKind::Contracts, "contracts.csv", CONTRACTS),
        (SheetKind::Customers, "c.csv", OFFICE_CUSTOMERS),
    ] {
        let again = import(&db, kind, ImportMode::PerRow, name, file.as_bytes())
            .await
            .unwrap();
        assert_eq!(
            (
                again.created,
                again.failed,
                again.unchanged,
                again.committed
            ),
            (0, 0, again.rows, true),
            "{kind:?}: {again:?}"
        );
    }
    // Not even an audit entry: a no-change import records no run.
    assert_eq!(counts(&db).await, before);
}

async fn xlsx_imports_like_csv_and_a_mapping_renames_columns(db: TestDb) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["Nr", "Bezeichnung", "Betriebsstunden", "Kaufdatum"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    sheet.write_string(1, 0, "BG-1").unwrap();
    sheet.write_string(1, 1, "Bagger").unwrap();
    sheet.write_number(1, 2, 1200.0).unwrap();
    let day = rust_xlsxwriter::ExcelDateTime::from_ymd(2023, 5, 17).unwrap();
    let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    sheet
        .write_datetime_with_format(1, 3, &day, &format)
        .unwrap();
    sheet.write_string(2, 0, "BG-2").unwrap();
    sheet.write_string(2, 1, "=Bagger 2").unwrap();
    let bytes = book.save_to_buffer().unwrap();

    let err = import(&db, SheetKind::Assets, ImportMode::DryRun, "a.xlsx", &bytes)
        .await
        .unwrap_err();
    assert_eq!(code_of(&err), ErrorCode::SpreadsheetColumns, "{err:?}");

    let mapping = "Nr=code,Bezeichnung=name,Betriebsstunden=engine_hours,Kaufdatum=purchase_date";
    let report = import_mapped(
        &db,
        SheetKind::Assets,
        ImportMode::AllOrNothing,
        "a.xlsx",
        &bytes,
        mapping,
    )
    .await
    .unwrap();
    assert!(report.committed && report.created == 2, "{report:?}");
    assert_eq!(report.format, SheetFormat::Xlsx);
    let row: (String, f64, String) = db
        .rows("SELECT name, engine_hours, CAST(purchase_date AS TEXT) FROM assets WHERE code = 'BG-1'")
        .await
        .pop()
        .unwrap();
    assert_eq!(row, ("Bagger".into(), 1200.0, "2023-05-17".into()));
    // A string that looks like a formula is text in XLSX, imported as written.
    let name: String = db
        .scalar("SELECT name FROM assets WHERE code = 'BG-2'")
        .await;
    assert_eq!(name, "=Bagger 2");
}

async fn contracts_group_lines_by_number_and_resolve_codes(db: TestDb) {
    load_office(&db).await;
    let report = import(
        &db,
        SheetKind::Contracts,
        ImportMode::AllOrNothing,
        "contracts.csv",
        CONTRACTS.as_bytes(),
    )
    .await
    .unwrap();
    assert!(report.committed, "{report:?}");
    assert_eq!(db.count("SELECT COUNT(*) FROM contracts").await, 2);
    assert_eq!(db.count("SELECT COUNT(*) FROM contract_lines").await, 2);
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM contracts c JOIN sites s ON s.id = c.site_id \
             WHERE c.external_ref = 'OLD-100' AND s.code = 'CS-1' AND c.status = 'draft'"
        )
        .await,
        1
    );
    // A bad line is reported on its own row; the contract is refused whole.
    let bad = "number,customer,starts_on,ends_on,line_asset,line_rate_cents,line_rate_period\n\
        NEW-1,C-1,2031-01-01,2031-01-31,EX-1,100,day\n\
        NEW-1,,,,NOPE-1,100,day\n\
        NEW-2,Nobody Ltd,2031-01-01,2030-01-31,,,\n";
    let report = import(
        &db,
        SheetKind::Contracts,
        ImportMode::DryRun,
        "c.csv",
        bad.as_bytes(),
    )
    .await
    .unwrap();
    let errors: Vec<(u64, Option<&str>)> = report
        .errors
        .iter()
        .map(|e| (e.row, e.column.as_deref()))
        .collect();
    assert_eq!(
        errors,
        [(3, Some("line_asset")), (4, Some("customer"))],
        "{:?}",
        report.errors
    );
    assert_eq!(report.failed, 3);
}

async fn an_export_imports_back_as_no_change(db: TestDb) {
    load_office(&db).await;
    import(
        &db,
        SheetKind::Contracts,
        ImportMode::AllOrNothing,
        "contracts.csv",
        CONTRACTS.as_bytes(),
    )
    .await
    .unwrap();
    // A name a spreadsheet would run as a formula, and a site without a code.
    import(
        &db,
        SheetKind::Customers,
        ImportMode::AllOrNothing,
        "c.csv",
        "legal_name,currency,notes\n\"=HYPERLINK(\"\"http://x\"\")\",EUR,+49 30 1\n".as_bytes(),
    )
    .await
    .unwrap();
    db.add_site("Codeless depot").await;

    let before = counts(&db).await;
    for format in [SheetFormat::Csv, SheetFormat::Xlsx] {
        for kind in SheetKind::ALL {
            let file = export::export(&db.store, &office(), kind, format)
                .await
                .unwrap();
            assert!(
                file.filename.ends_with(format.as_str()),
                "{}",
                file.filename
            );
            if format == SheetFormat::Csv && kind == SheetKind::Customers {
                let text = String::from_utf8(file.bytes.clone()).unwrap();
                assert!(text.contains("\"'=HYPERLINK("), "{text}");
                assert!(text.contains("'+49 30 1"), "{text}");
            }
            let report = import(
                &db,
                kind,
                ImportMode::AllOrNothing,
                &file.filename,
                &file.bytes,
            )
            .await
            .unwrap();
            assert_eq!(
                (report.created, report.failed, report.unchanged),
                (0, 0, report.rows),
                "{kind:?} {format:?}: {report:?}"
            );
            assert!(report.rows > 0, "{kind:?}");
        }
    }
    let after = counts(&db).await;
    assert_eq!(after[..4], before[..4], "no business data changed");
    // Each export is audited (4 kinds × 2 formats); the no-change imports record nothing.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'export.run'")
            .await,
        8
    );
    assert_eq!(after[4], before[4] + 8);
}

/// A zip whose one entry inflates to `size` zero bytes, named like a workbook part.
fn zip_bomb(size: usize) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(size > u32::MAX as usize);
    zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..size / chunk.len() {
        zip.write_all(&chunk).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

async fn bad_files_are_refused_and_write_nothing(db: TestDb) {
    let before = counts(&db).await;
    let refuse = |bytes: Vec<u8>, name: &'static str, code: ErrorCode| {
        let db = &db;
        async move {
            let err = import(
                db,
                SheetKind::Assets,
                ImportMode::AllOrNothing,
                name,
                &bytes,
            )
            .await
            .expect_err(name);
            assert_eq!(code_of(&err), code, "{name}: {err:?}");
            err
        }
    };
    // Latin-1 (what Excel's plain "CSV" writes in western locales).
    let err = refuse(
        b"code,name\nEX-1,Gr\xF6\xDFe Walze\n".to_vec(),
        "latin1.csv",
        ErrorCode::SpreadsheetEncoding,
    )
    .await;
    assert!(err.to_string().contains("line 2"), "{err}");
    // A zip bomb renamed .xlsx: 100 MiB of zeros in ~100 KiB.
    let bomb = zip_bomb(100 << 20);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    refuse(bomb, "bomb.xlsx", ErrorCode::SpreadsheetTooLarge).await;
    // A formula.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "code").unwrap();
    sheet.write_string(0, 1, "name").unwrap();
    sheet.write_string(1, 0, "EX-1").unwrap();
    sheet.write_formula(1, 1, "=UPPER(\"x\")").unwrap();
    let err = refuse(
        book.save_to_buffer().unwrap(),
        "formula.xlsx",
        ErrorCode::SpreadsheetFormula,
    )
    .await;
    assert!(err.to_string().contains("B2"), "{err}");
    // Content and name disagree.
    refuse(
        b"code,name\nEX-1,x\n".to_vec(),
        "text.xlsx",
        ErrorCode::UnsupportedSpreadsheet,
    )
    .await;
    refuse(
        rust_xlsxwriter::Workbook::new().save_to_buffer().unwrap(),
        "book.csv",
        ErrorCode::UnsupportedSpreadsheet,
    )
    .await;
    refuse(
        b"code,name\n".to_vec(),
        "list.xls",
        ErrorCode::UnsupportedSpreadsheet,
    )
    .await;
    // Too many rows.
    let mut many = String::from("code,name\n");
    for i in 0..=import::MAX_ROWS {
        many.push_str(&format!("M-{i},m\n"));
    }
    refuse(
        many.into_bytes(),
        "many.csv",
        ErrorCode::SpreadsheetTooLarge,
    )
    .await;
    // Too large a file.
    refuse(
        vec![b'a'; import::MAX_FILE_BYTES + 1],
        "big.csv",
        ErrorCode::SpreadsheetTooLarge,
    )
    .await;
    assert_eq!(counts(&db).await, before, "nothing written");

    // A million empty rows after the list: read up to the run's end, then the list is over.
    let mut empties = String::from("code,name\nEX-1,One\n");
    empties.push_str(&",\n".repeat(1_000_000));
    empties.push_str("EX-2,After the void\n");
    let started = std::time::Instant::now();
    let report = import(
        &db,
        SheetKind::Assets,
        ImportMode::AllOrNothing,
        "empties.csv",
        empties.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!((report.rows, report.created), (1, 1), "{report:?}");
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}
