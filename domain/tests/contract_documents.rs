//! The contract archive (`domain::contract_documents`) on SQLite and PostgreSQL: uploads checked
//! and stored content-addressed, the same file refused twice on one contract, search by
//! customer / asset code / signing day, downloads audited, documents sealed at rest with the
//! operator's key and unreadable without it, and bad input refused with nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use chrono::{NaiveDate, Utc};
use domain::audit::AuditFilter;
use domain::contract_documents::{self, Archive, Upload};
use domain::sealed_blobs::SealingKey;
use domain::testing::{Fixture, TestDb};
use domain::{assets, Actor, Backend, DomainError, PageRequest};
use mobile_shared::documents::DocumentSearch;
use mobile_shared::wire::NewAsset;
use mobile_shared::ErrorCode;
use uuid::Uuid;

/// A database with one customer, two contracts of it (one with a line for asset `EX-7`) and a
/// second customer with a contract: written past the services, which this test is not about.
struct Office {
    db: TestDb,
    customer: Uuid,
    other_customer: Uuid,
    contract: Uuid,
    second: Uuid,
    other: Uuid,
}

fn lit(db: &TestDb, id: Uuid) -> String {
    match db.store.backend() {
        Backend::Sqlite => format!("X'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'"),
    }
}

async fn add_customer(db: &TestDb, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    let now = Utc::now().to_rfc3339();
    db.execute(&format!(
        "INSERT INTO customers (id, legal_name, kind, status, currency, created_at, updated_at) \
         VALUES ({}, '{name}', 'company', 'active', 'EUR', '{now}', '{now}')",
        lit(db, id)
    ))
    .await;
    id
}

async fn add_contract(db: &TestDb, customer: Uuid, seq: i32) -> Uuid {
    let id = Uuid::now_v7();
    let now = Utc::now().to_rfc3339();
    db.execute(&format!(
        "INSERT INTO contracts (id, number, series, year, seq, customer_id, status, starts_on, \
         ends_on, currency, billing_cycle, created_at, updated_at) VALUES ({}, 'C-2026-{seq:06}', \
         'C', 2026, {seq}, {}, 'active', '2026-01-01', '2026-12-31', 'EUR', 'monthly', '{now}', \
         '{now}')",
        lit(db, id),
        lit(db, customer)
    ))
    .await;
    id
}

impl Fixture for Office {
    async fn open(backend: Backend) -> Option<Self> {
        let db = TestDb::open(backend).await?;
        let customer = add_customer(&db, "Acme Bau GmbH").await;
        let other_customer = add_customer(&db, "Other Ltd").await;
        let contract = add_contract(&db, customer, 1).await;
        let second = add_contract(&db, customer, 2).await;
        let other = add_contract(&db, other_customer, 3).await;
        let asset = assets::create(
            &db.store,
            &Actor::system(),
            NewAsset {
                code: "EX-7".into(),
                name: "Excavator".into(),
                ..NewAsset::default()
            },
        )
        .await
        .unwrap();
        let now = Utc::now().to_rfc3339();
        db.execute(&format!(
            "INSERT INTO contract_lines (id, contract_id, line_no, asset_id, rate_cents, \
             rate_period, created_at) VALUES ({}, {}, 1, {}, 12000, 'day', '{now}')",
            lit(&db, Uuid::now_v7()),
            lit(&db, contract),
            lit(&db, asset.id)
        ))
        .await;
        Some(Office {
            db,
            customer,
            other_customer,
            contract,
            second,
            other,
        })
    }
}

domain::backend_matrix!(Office:
    uploads_are_content_addressed_searchable_and_downloads_audited,
    bad_uploads_are_refused_and_write_nothing,
    sealed_documents_need_their_key,
);

fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.7\n1 0 obj << /Title ({text}) >> endobj\ntrailer\n%%EOF\n").into_bytes()
}

fn upload(bytes: Vec<u8>, name: &str, signed_on: Option<NaiveDate>) -> Upload {
    Upload {
        bytes,
        filename: name.into(),
        title: Some("Rental contract".into()),
        signed_on,
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn archive(dir: &std::path::Path, key: Option<&SealingKey>) -> Archive {
    Archive::new(dir, key, 1024 * 1024)
}

fn code(e: &DomainError) -> ErrorCode {
    e.code()
}

async fn search(o: &Office, filter: DocumentSearch) -> Vec<Uuid> {
    contract_documents::search(
        &o.db.store,
        &filter,
        PageRequest::new(Some(2), None).unwrap(),
    )
    .await
    .unwrap()
    .items
    .into_iter()
    .map(|d| d.id)
    .collect()
}

async fn uploads_are_content_addressed_searchable_and_downloads_audited(o: Office) {
    let dir = tempfile::tempdir().unwrap();
    let archive = archive(dir.path(), None);
    let actor = Actor::system();
    let bytes = pdf("one");
    let first = contract_documents::upload(
        &o.db.store,
        &archive,
        &actor,
        o.contract,
        upload(
            bytes.clone(),
            "C:\\scans\\signed.pdf",
            Some(day(2026, 3, 1)),
        ),
    )
    .await
    .unwrap();
    assert_eq!(first.filename, "signed.pdf");
    assert_eq!(first.customer_id, o.customer);
    assert_eq!(first.customer_name, "Acme Bau GmbH");
    assert_eq!(first.contract_number, "C-2026-000001");
    assert_eq!(first.size_bytes, bytes.len() as u64);
    assert!(!first.sealed);
    assert_eq!(first.sha256, domain::photos::sha256_hex(&bytes));
    // Stored once under its hash, as uploaded.
    let on_disk = dir
        .path()
        .join("plain")
        .join(&first.sha256[..2])
        .join(&first.sha256);
    assert_eq!(std::fs::read(on_disk).unwrap(), bytes);

    // The same file again on the same contract: 409, nothing more written.
    let again = contract_documents::upload(
        &o.db.store,
        &archive,
        &actor,
        o.contract,
        upload(bytes.clone(), "copy.pdf", None),
    )
    .await
    .unwrap_err();
    assert_eq!(code(&again), ErrorCode::AlreadyExists, "{again}");
    // On another contract the same bytes are a document of that contract.
    let on_second = contract_documents::upload(
        &o.db.store,
        &archive,
        &actor,
        o.second,
        upload(bytes.clone(), "copy.pdf", Some(day(2026, 6, 30))),
    )
    .await
    .unwrap();
    let of_other = contract_documents::upload(
        &o.db.store,
        &archive,
        &actor,
        o.other,
        upload(pdf("other"), "other.pdf", Some(day(2025, 12, 31))),
    )
    .await
    .unwrap();
    o.db.assert_counts(&[("SELECT COUNT(*) FROM contract_documents", 3)])
        .await;

    let listed = contract_documents::for_contract(&o.db.store, o.contract)
        .await
        .unwrap();
    assert_eq!(listed, vec![first.clone()]);
    let missing = contract_documents::for_contract(&o.db.store, Uuid::now_v7())
        .await
        .unwrap_err();
    assert_eq!(code(&missing), ErrorCode::NotFound);

    // Search: by customer, by an asset code on a line (any case), by signing day; paged.
    let by_customer = search(
        &o,
        DocumentSearch {
            customer_id: Some(o.customer),
            ..DocumentSearch::default()
        },
    )
    .await;
    assert_eq!(by_customer, vec![first.id, on_second.id]);
    let by_asset = search(
        &o,
        DocumentSearch {
            asset_code: Some(" ex-7 ".into()),
            ..DocumentSearch::default()
        },
    )
    .await;
    assert_eq!(by_asset, vec![first.id]);
    let by_day = search(
        &o,
        DocumentSearch {
            signed_from: Some(day(2026, 1, 1)),
            signed_to: Some(day(2026, 3, 1)),
            ..DocumentSearch::default()
        },
    )
    .await;
    assert_eq!(by_day, vec![first.id]);
    let of_other_customer = search(
        &o,
        DocumentSearch {
            customer_id: Some(o.other_customer),
            signed_to: Some(day(2025, 12, 31)),
            ..DocumentSearch::default()
        },
    )
    .await;
    assert_eq!(of_other_customer, vec![of_other.id]);
    let page = contract_documents::search(
        &o.db.store,
        &DocumentSearch::default(),
        PageRequest::new(Some(2), None).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), 2);
    let rest = contract_documents::search(
        &o.db.store,
        &DocumentSearch::default(),
        PageRequest::new(Some(2), page.next_cursor.as_deref()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        rest.items.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![of_other.id]
    );
    assert_eq!(rest.next_cursor, None);
    let backwards = contract_documents::search(
        &o.db.store,
        &DocumentSearch {
            signed_from: Some(day(2026, 2, 1)),
            signed_to: Some(day(2026, 1, 1)),
            ..DocumentSearch::default()
        },
        PageRequest::new(None, None).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(backwards, DomainError::Validation(_)),
        "{backwards}"
    );

    // Download: the bytes as uploaded, and an audit entry naming who read it.
    let (doc, got) =
        contract_documents::download(&o.db.store, &archive, &actor, o.contract, first.id)
            .await
            .unwrap();
    assert_eq!(got, bytes);
    assert_eq!(doc, first);
    let reads =
        o.db.audit(AuditFilter {
            action: Some("contract_document.download".into()),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].entity_id, first.id);
    let uploads =
        o.db.audit(AuditFilter {
            entity: Some("contract_document".into()),
            action: Some("contract_document.create".into()),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(uploads.len(), 3);
    // Through the wrong contract the document does not exist.
    let wrong = contract_documents::download(&o.db.store, &archive, &actor, o.second, first.id)
        .await
        .unwrap_err();
    assert_eq!(code(&wrong), ErrorCode::NotFound);
}

async fn bad_uploads_are_refused_and_write_nothing(o: Office) {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::new(dir.path(), None, 200);
    let actor = Actor::system();
    let try_upload = |contract: Uuid, u: Upload| {
        let store = o.db.store.clone();
        let archive = &archive;
        let actor = &actor;
        async move { contract_documents::upload(&store, archive, actor, contract, u).await }
    };
    let png = b"\x89PNG\r\n\x1a\n....%%EOF".to_vec();
    let e = try_upload(o.contract, upload(png, "photo.pdf", None))
        .await
        .unwrap_err();
    assert_eq!(code(&e), ErrorCode::NotAPdf);
    let mut big = pdf("big");
    big.splice(10..10, std::iter::repeat_n(b' ', 300));
    let e = try_upload(o.contract, upload(big, "big.pdf", None))
        .await
        .unwrap_err();
    assert_eq!(code(&e), ErrorCode::PayloadTooLarge);
    let e = try_upload(o.contract, upload(pdf("x"), "  /  ", None))
        .await
        .unwrap_err();
    assert!(matches!(e, DomainError::Validation(_)), "{e}");
    let e = try_upload(
        o.contract,
        Upload {
            title: Some("t".repeat(201)),
            ..upload(pdf("x"), "x.pdf", None)
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, DomainError::Validation(_)), "{e}");
    let e = try_upload(Uuid::now_v7(), upload(pdf("x"), "x.pdf", None))
        .await
        .unwrap_err();
    assert_eq!(code(&e), ErrorCode::NotFound);
    o.db.assert_counts(&[
        ("SELECT COUNT(*) FROM contract_documents", 0),
        (
            "SELECT COUNT(*) FROM audit_log WHERE entity = 'contract_document'",
            0,
        ),
    ])
    .await;
    // Nothing refused before storing reached the blob store.
    assert!(!dir.path().join("plain").exists());
}

fn key(byte: u8) -> SealingKey {
    SealingKey::from_base64(&base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
}

async fn sealed_documents_need_their_key(o: Office) {
    let dir = tempfile::tempdir().unwrap();
    let actor = Actor::system();
    let sealing = archive(dir.path(), Some(&key(9)));
    let bytes = pdf("confidential terms");
    let doc = contract_documents::upload(
        &o.db.store,
        &sealing,
        &actor,
        o.contract,
        upload(bytes.clone(), "sealed.pdf", None),
    )
    .await
    .unwrap();
    assert!(doc.sealed);
    let on_disk = std::fs::read(
        dir.path()
            .join("sealed")
            .join(&doc.sha256[..2])
            .join(&doc.sha256),
    )
    .unwrap();
    assert!(!on_disk.windows(12).any(|w| w == b"confidential"));
    let (_, got) = contract_documents::download(&o.db.store, &sealing, &actor, o.contract, doc.id)
        .await
        .unwrap();
    assert_eq!(got, bytes);

    // Without the key the document cannot be served (an operator error, not a 404)…
    let plain = archive(dir.path(), None);
    let e = contract_documents::download(&o.db.store, &plain, &actor, o.contract, doc.id)
        .await
        .unwrap_err();
    assert_eq!(code(&e), ErrorCode::InternalError, "{e}");
    // …nor with another key.
    let other = archive(dir.path(), Some(&key(10)));
    let e = contract_documents::download(&o.db.store, &other, &actor, o.contract, doc.id)
        .await
        .unwrap_err();
    assert_eq!(code(&e), ErrorCode::InternalError, "{e}");
    // A failed read is not recorded as a download.
    o.db.assert_counts(&[(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'contract_document.download'",
        1,
    )])
    .await;

    // Documents uploaded before a key was configured stay readable after it is.
    let before = contract_documents::upload(
        &o.db.store,
        &plain,
        &actor,
        o.second,
        upload(pdf("older"), "older.pdf", None),
    )
    .await
    .unwrap();
    assert!(!before.sealed);
    let (_, got) = contract_documents::download(&o.db.store, &sealing, &actor, o.second, before.id)
        .await
        .unwrap();
    assert_eq!(got, pdf("older"));
}
