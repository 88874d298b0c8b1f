//! The contract archive over HTTP, on SQLite and PostgreSQL: a multipart PDF upload by the
//! office, its listing, search and download by finance (the PDF back, byte for byte, sealed on
//! disk), each download in the audit log, sales and technicians kept out, and every bad upload
//! a 4xx with its code and nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use domain::testing::Fixture;
use domain::Backend;
use mobile_shared::Role;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Upload limit of [`DocApp`]: small, so the 413 test sends little.
const LIMIT: usize = 4096;

/// A server whose archive lives in a temporary directory, sealed with a key.
struct DocApp {
    app: TestApp,
    data_dir: tempfile::TempDir,
}

impl Fixture for DocApp {
    async fn open(backend: Backend) -> Option<DocApp> {
        let data_dir = tempfile::tempdir().expect("data dir");
        // 32 bytes of 42, in base64.
        let key = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";
        let config = api::ApiConfig {
            data_dir: data_dir.path().to_owned(),
            document_limit: LIMIT,
            documents_key: Some(domain::sealed_blobs::SealingKey::from_base64(key).unwrap()),
            ..Default::default()
        };
        let app = TestApp::start(backend, config).await?;
        Some(DocApp { app, data_dir })
    }
}

domain::backend_matrix!(DocApp: the_archive_over_http);

fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.7\n1 0 obj << /Title ({text}) >> endobj\ntrailer\n%%EOF\n").into_bytes()
}

fn form(bytes: Vec<u8>, name: &str, signed_on: Option<&str>) -> Form {
    let mut form = Form::new()
        .part("file", Part::bytes(bytes).file_name(name.to_owned()))
        .text("title", "Signed rental contract");
    if let Some(day) = signed_on {
        form = form.text("signed_on", day.to_owned());
    }
    form
}

async fn upload(app: &TestApp, token: &str, contract: &str, form: Form) -> reqwest::Response {
    app.request(
        Method::POST,
        &format!("/api/v1/contracts/{contract}/documents"),
        token,
    )
    .multipart(form)
    .send()
    .await
    .expect("send upload")
}

async fn the_archive_over_http(d: DocApp) {
    let app = &d.app;
    let customer = app
        .create(
            "/api/v1/customers",
            &json!({"legal_name": "Acme Bau GmbH", "kind": "company", "currency": "EUR",
                    "status": "active"}),
        )
        .await;
    let asset = app.asset("DOC-1").await;
    let contract = app
        .create(
            "/api/v1/contracts",
            &json!({"customer_id": customer["id"], "starts_on": "2030-01-01",
                    "ends_on": "2030-06-30",
                    "lines": [{"asset_id": asset["id"], "rate_cents": 9000, "rate_period": "day"}]}),
        )
        .await;
    let id = s(&contract, "id").to_owned();
    let office = app.user_with_role(Role::RentalOffice).await;
    let finance = app.user_with_role(Role::Finance).await;
    let sales = app.user_with_role(Role::Sales).await;
    let technician = app.user_with_role(Role::Technician).await;

    // The office uploads; the answer names the hash of the bytes sent.
    let bytes = pdf("signed");
    let resp = upload(
        app,
        &office,
        &id,
        form(bytes.clone(), "signed.pdf", Some("2029-12-20")),
    )
    .await;
    let doc = expect_json(resp, StatusCode::CREATED).await;
    assert_eq!(doc["sha256"], domain::photos::sha256_hex(&bytes));
    assert_eq!(doc["filename"], "signed.pdf");
    assert_eq!(doc["sealed"], true);
    assert_eq!(doc["contract_number"], contract["number"]);
    assert_eq!(doc["signed_on"], "2029-12-20");
    // Sealed on disk: the plaintext is nowhere under the data directory.
    let sha = s(&doc, "sha256");
    let on_disk = std::fs::read(
        d.data_dir
            .path()
            .join("documents/sealed")
            .join(&sha[..2])
            .join(sha),
    )
    .unwrap();
    assert!(!on_disk.windows(6).any(|w| w == b"signed"));

    // Finance lists, searches and downloads it.
    let listed = app
        .get_ok(
            &format!("/api/v1/contracts/{id}/documents"),
            finance.as_str(),
        )
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let found = app
        .get_ok(
            "/api/v1/contract-documents?asset_code=doc-1&signed_from=2029-12-01&signed_to=2029-12-31",
            finance.as_str(),
        )
        .await;
    assert_eq!(items(&found).len(), 1);
    let none = app
        .get_ok(
            "/api/v1/contract-documents?signed_from=2030-01-01",
            finance.as_str(),
        )
        .await;
    assert!(items(&none).is_empty());
    let path = format!("/api/v1/contracts/{id}/documents/{}", s(&doc, "id"));
    let resp = app.get(&path, finance.as_str()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "content-type"), "application/pdf");
    assert_eq!(header(&resp, "etag"), format!("\"{sha}\""));
    assert!(header(&resp, "content-disposition").starts_with("attachment; filename=\"signed.pdf\""));
    assert_eq!(resp.bytes().await.unwrap().to_vec(), bytes);
    let reads = app.audit(&[("action", "contract_document.download")]).await;
    assert_eq!(reads.len(), 1);
    assert!(
        s(&reads[0], "actor").starts_with("finance-"),
        "{:?}",
        reads[0]
    );
    // With where it went (issue 15): the client's address and the way it signed in.
    assert_eq!(
        (&reads[0]["ip"], &reads[0]["source"]),
        (&serde_json::json!("127.0.0.1"), &serde_json::json!("api"))
    );

    // Least privilege: sales and technicians neither read nor upload; finance does not upload.
    for token in [&sales, &technician] {
        expect_forbidden(app.get(&path, token.as_str()).await).await;
        expect_forbidden(
            app.get(&format!("/api/v1/contracts/{id}/documents"), token.as_str())
                .await,
        )
        .await;
    }
    for token in [&sales, &technician, &finance] {
        expect_forbidden(upload(app, token, &id, form(pdf("x"), "x.pdf", None)).await).await;
    }

    // Bad uploads: each a 4xx with its code, nothing written.
    expect_problem(
        upload(
            app,
            &office,
            &id,
            form(b"\x89PNG\r\n\x1a\nnot a pdf".to_vec(), "x.pdf", None),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_a_pdf",
    )
    .await;
    let mut big = pdf("big");
    big.splice(10..10, std::iter::repeat_n(b' ', LIMIT));
    let resp = upload(app, &office, &id, form(big, "big.pdf", None)).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    expect_problem(
        upload(app, &office, &id, form(bytes.clone(), "again.pdf", None)).await,
        StatusCode::CONFLICT,
        "already_exists",
    )
    .await;
    expect_only_field(
        upload(
            app,
            &office,
            &id,
            form(pdf("y"), "y.pdf", Some("20.12.2029")),
        )
        .await,
        "signed_on",
    )
    .await;
    expect_only_field(
        app.post(
            &format!("/api/v1/contracts/{id}/documents"),
            office.as_str(),
            &json!({}),
        )
        .await,
        "file",
    )
    .await;
    let missing = format!("/api/v1/contracts/{}/documents", uuid::Uuid::now_v7());
    let resp = app
        .request(Method::POST, &missing, office.as_str())
        .multipart(form(pdf("z"), "z.pdf", None))
        .send()
        .await
        .unwrap();
    expect_not_found(resp).await;
    let after: Value = app
        .get_ok(&format!("/api/v1/contracts/{id}/documents"), app.admin())
        .await;
    assert_eq!(after.as_array().unwrap().len(), 1, "{after}");
}
