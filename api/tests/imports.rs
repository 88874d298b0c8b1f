//! Spreadsheet import and export over HTTP, on SQLite and PostgreSQL: multipart uploads in the
//! three modes and their reports (422 `import_rows_rejected` for an all-or-nothing import with a
//! bad row), a background job followed to its report (and hidden from other users), exports
//! with their headers and audit entries that import back as no change, and bad files refused
//! with their typed codes before anything is written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;

use common::*;
use mobile_shared::Role;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

domain::backend_matrix!(
    TestApp:
    the_office_imports_and_exports_its_customers,
    a_background_import_reports_progress_to_its_starter,
    bad_files_are_refused_with_their_codes,
);

async fn upload(app: &TestApp, token: &str, path: &str, name: &str, bytes: Vec<u8>) -> Response {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
    app.request(Method::POST, path, token)
        .multipart(form)
        .send()
        .await
        .expect("send upload")
}

async fn customer_count(app: &TestApp) -> i64 {
    app.db
        .count("SELECT COUNT(*) FROM customers WHERE deleted_at IS NULL")
        .await
}

const CUSTOMERS: &str = "Customer No,Name,Currency,Notes\n\
    C-1,Acme Bau GmbH,EUR,=cmd|' /C calc'!A0\n\
    C-2,,EUR,\n\
    C-3,Beta Events,EUR,\n";

async fn the_office_imports_and_exports_its_customers(app: TestApp) {
    let office = app.user_with_role(Role::RentalOffice).await;
    let path = "/api/v1/imports/customers";
    let bytes = CUSTOMERS.as_bytes().to_vec();

    // The default is a dry run: the report, nothing written.
    let report = expect_json(
        upload(&app, &office, path, "list.csv", bytes.clone()).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(report["mode"], "dry_run");
    assert_eq!(
        (&report["rows"], &report["created"], &report["failed"]),
        (&3.into(), &2.into(), &1.into()),
        "{report}"
    );
    assert_eq!(report["committed"], false);
    assert_eq!(report["errors"][0]["row"], 3);
    assert_eq!(report["errors"][0]["column"], "Name");
    assert_eq!(report["errors"][0]["code"], "validation_failed");
    assert_eq!(report["mapping"][0]["field"], "external_code");
    assert_eq!(customer_count(&app).await, 0);

    // All or nothing: the bad row refuses the file.
    let resp = upload(
        &app,
        &office,
        &format!("{path}?mode=all_or_nothing"),
        "list.csv",
        bytes.clone(),
    )
    .await;
    let problem = expect_problem(
        resp,
        StatusCode::UNPROCESSABLE_ENTITY,
        "import_rows_rejected",
    )
    .await;
    assert_eq!(problem["detail"]["errors"][0]["row"], 3, "{problem}");
    assert_eq!(customer_count(&app).await, 0);

    // Per row: the good ones land; again, nothing changes.
    let report = expect_json(
        upload(
            &app,
            &office,
            &format!("{path}?mode=per_row"),
            "list.csv",
            bytes.clone(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (&report["created"], &report["failed"]),
        (&2.into(), &1.into())
    );
    assert_eq!(customer_count(&app).await, 2);
    let again = expect_json(
        upload(
            &app,
            &office,
            &format!("{path}?mode=per_row"),
            "list.csv",
            bytes,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (&again["created"], &again["unchanged"]),
        (&0.into(), &2.into())
    );
    let runs = app.audit(&[("action", "import.run")]).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        runs[0]["actor"].as_str().unwrap().split('-').next(),
        Some("rental_office")
    );

    // The export: a file with its name, the formula neutralised, audited; it imports back
    // as no change.
    for format in ["csv", "xlsx"] {
        let resp = app
            .get(
                &format!("/api/v1/exports/customers.{format}"),
                office.as_str(),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let disposition = header(&resp, "content-disposition");
        assert!(
            disposition.starts_with("attachment; filename=\"customers-")
                && disposition.ends_with(&format!(".{format}\"")),
            "{disposition}"
        );
        let content_type = header(&resp, "content-type");
        let bytes = resp.bytes().await.unwrap().to_vec();
        if format == "csv" {
            assert!(content_type.starts_with("text/csv"), "{content_type}");
            let text = String::from_utf8(bytes.clone()).unwrap();
            assert!(text.contains("'=cmd|"), "{text}");
        }
        let report = expect_json(
            upload(
                &app,
                &office,
                &format!("{path}?mode=all_or_nothing"),
                &format!("customers.{format}"),
                bytes,
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            (&report["created"], &report["unchanged"], &report["failed"]),
            (&0.into(), &2.into(), &0.into()),
            "{format}: {report}"
        );
    }
    let exports = app.audit(&[("action", "export.run")]).await;
    assert_eq!(exports.len(), 2);
    assert_eq!(exports[0]["after"]["rows"], 2);
    assert_eq!(customer_count(&app).await, 2);
}

async fn a_background_import_reports_progress_to_its_starter(app: TestApp) {
    let dispatcher = app.user_with_role(Role::Dispatcher).await;
    let mut csv = String::from("code,name\n");
    for i in 0..300 {
        csv.push_str(&format!("BG-{i},Machine {i}\n"));
    }
    let resp = upload(
        &app,
        &dispatcher,
        "/api/v1/imports/assets?mode=per_row&background=true",
        "fleet.csv",
        csv.into_bytes(),
    )
    .await;
    let job = expect_json(resp, StatusCode::ACCEPTED).await;
    assert_eq!(job["rows_total"], 300);
    let url = format!("/api/v1/imports/assets/jobs/{}", s(&job, "id"));
    let mut last = Value::Null;
    for _ in 0..600 {
        last = app.get_ok(&url, dispatcher.as_str()).await;
        if last["state"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(last["state"], "done", "{last}");
    assert_eq!(last["rows_done"], 300);
    assert_eq!(last["report"]["created"], 300);
    assert_eq!(last["report"]["id"], job["id"]);
    // Another dispatcher does not see it; the admin does; under another list it is no job.
    let other = app.user_with_role(Role::Dispatcher).await;
    expect_not_found(app.get(&url, other.as_str()).await).await;
    app.get_ok(&url, app.admin()).await;
    expect_not_found(
        app.get(&url.replace("/assets/", "/sites/"), dispatcher.as_str())
            .await,
    )
    .await;
}

fn zip_bomb() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..80 {
        zip.write_all(&chunk).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

async fn bad_files_are_refused_with_their_codes(app: TestApp) {
    let admin = app.admin().to_owned();
    let path = "/api/v1/imports/assets?mode=all_or_nothing";
    let mut formula = rust_xlsxwriter::Workbook::new();
    let sheet = formula.add_worksheet();
    sheet.write_string(0, 0, "code").unwrap();
    sheet.write_string(0, 1, "name").unwrap();
    sheet.write_string(1, 0, "F-1").unwrap();
    sheet.write_formula(1, 1, "=A2&\"!\"").unwrap();
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "latin1.csv",
            b"code,name\nW-1,Walze gro\xDF\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "spreadsheet_encoding",
        ),
        (
            "bomb.xlsx",
            zip_bomb(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "spreadsheet_too_large",
        ),
        (
            "formula.xlsx",
            formula.save_to_buffer().unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "spreadsheet_formula",
        ),
        (
            "list.xlsx",
            b"code,name\nW-1,x\n".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_spreadsheet",
        ),
        (
            "list.ods",
            b"PK\x03\x04".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_spreadsheet",
        ),
        (
            "nocode.csv",
            b"name\nx\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "spreadsheet_columns",
        ),
        (
            "big.csv",
            vec![b'a'; domain::import::MAX_FILE_BYTES + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "spreadsheet_too_large",
        ),
    ];
    for (name, bytes, status, code) in cases {
        let resp = upload(&app, &admin, path, name, bytes).await;
        let problem = expect_problem(resp, status, code).await;
        assert!(!problem["message"].as_str().unwrap().is_empty(), "{name}");
    }
    // The request itself: a bad mode, no file part, a list that does not exist.
    let resp = upload(
        &app,
        &admin,
        "/api/v1/imports/assets?mode=all",
        "a.csv",
        b"code,name\n".to_vec(),
    )
    .await;
    expect_only_field(resp, "mode").await;
    let resp = app
        .request(Method::POST, "/api/v1/imports/assets", admin.as_str())
        .multipart(Form::new().text("mapping", "a=b"))
        .send()
        .await
        .unwrap();
    expect_only_field(resp, "file").await;
    expect_not_found(
        upload(
            &app,
            &admin,
            "/api/v1/imports/users",
            "u.csv",
            b"x\n".to_vec(),
        )
        .await,
    )
    .await;
    expect_not_found(app.get("/api/v1/exports/assets.pdf", admin.as_str()).await).await;
    assert_eq!(app.db.count("SELECT COUNT(*) FROM assets").await, 0);
}
