//! A backup (`domain::backup`) taken while the API takes field scans with photos and new assets
//! over HTTP and ingest commits telemetry, restored into a new database and data directory, and
//! a second server on the restored copy: it serves every asset, scan, position, photo and
//! (sealed) contract document committed before the backup started. On PostgreSQL the backup is
//! refused with the pg_dump way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use domain::backup::{self, Restore};
use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
use domain::testing::Fixture;
use domain::{Backend, DomainError, Store, StoreOptions};
use mobile_shared::telemetry::Reading;
use reqwest::multipart::{Form, Part};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use uuid::Uuid;

/// 32 bytes of 42, in base64: documents are sealed at rest, and stay sealed in the backup.
const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

fn config(data_dir: &std::path::Path) -> api::ApiConfig {
    api::ApiConfig {
        data_dir: data_dir.to_owned(),
        documents_key: Some(domain::sealed_blobs::SealingKey::from_base64(KEY).unwrap()),
        ..Default::default()
    }
}

/// A server whose photos and documents live in a temporary data directory.
struct App {
    app: TestApp,
    data_dir: tempfile::TempDir,
}

impl Fixture for App {
    async fn open(backend: Backend) -> Option<App> {
        let data_dir = tempfile::tempdir().expect("data dir");
        let app = TestApp::start(backend, config(data_dir.path())).await?;
        Some(App { app, data_dir })
    }
}

domain::backend_matrix!(App: a_server_on_the_restored_backup_serves_everything_committed_before_it);

/// A PNG no other call makes (photos are content-addressed): a small image with the counter
/// in a text chunk before IEND.
fn photo(n: u32) -> Vec<u8> {
    let mut bytes = tiny_png();
    let iend = bytes.len() - 12;
    let mut body = b"tEXt".to_vec();
    body.extend_from_slice(format!("n\0{n}").as_bytes());
    let mut chunk = ((body.len() - 4) as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    bytes.splice(iend..iend, chunk);
    bytes
}

/// What a writer committed, pushed only after the server answered.
#[derive(Default, Clone)]
struct Committed {
    assets: Vec<String>,
    /// (scan id, asset id, photo key, photo bytes).
    scans: Vec<(String, String, String, Vec<u8>)>,
    readings: BTreeMap<String, Vec<DateTime<Utc>>>,
}

/// How the writers reach the server.
#[derive(Clone)]
struct Http {
    client: Client,
    base: String,
    token: String,
}

impl Http {
    async fn post(&self, path: &str, body: reqwest::Body, content_type: &str) -> Value {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let value: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }

    async fn json(&self, path: &str, body: Value) -> Value {
        self.post(path, body.to_string().into(), "application/json")
            .await
    }
}

async fn a_server_on_the_restored_backup_serves_everything_committed_before_it(a: App) {
    let (app, data_dir) = (&a.app, a.data_dir.path());
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("fieldops.tar.gz");
    if app.backend == Backend::Postgres {
        let err = backup::create(&app.db.store, data_dir, &archive)
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Config(_)), "{err:?}");
        assert!(err.to_string().contains("pg_dump"), "{err}");
        assert!(!archive.exists());
        return;
    }
    let http = Http {
        client: app.client.clone(),
        base: app.base.clone(),
        token: app.admin().to_owned(),
    };

    // A signed contract document, sealed on disk.
    let customer = app
        .create(
            "/api/v1/customers",
            &json!({"legal_name": "Backup Bau GmbH", "kind": "company", "currency": "EUR",
                    "status": "active"}),
        )
        .await;
    let leased = app.asset("BK-DOC").await;
    let contract = app
        .create(
            "/api/v1/contracts",
            &json!({"customer_id": customer["id"], "starts_on": "2030-01-01",
                    "ends_on": "2030-06-30",
                    "lines": [{"asset_id": leased["id"], "rate_cents": 9000, "rate_period": "day"}]}),
        )
        .await;
    let contract_id = s(&contract, "id").to_owned();
    let pdf = b"%PDF-1.7\n1 0 obj << /Title (backed up) >> endobj\ntrailer\n%%EOF\n".to_vec();
    let document = app
        .request(
            Method::POST,
            &format!("/api/v1/contracts/{contract_id}/documents"),
            app.admin(),
        )
        .multipart(Form::new().part("file", Part::bytes(pdf.clone()).file_name("signed.pdf")))
        .send()
        .await
        .unwrap();
    let document = expect_json(document, StatusCode::CREATED).await;
    assert_eq!(document["sealed"], true);

    // A fleet with trackers.
    let mut fleet = Vec::new();
    for i in 0..4 {
        let asset = app.asset(&format!("BK-{i}")).await;
        let id = s(&asset, "id").to_owned();
        let device = format!("trk-backup-{i}");
        app.db
            .add_device(&device, Some(Uuid::parse_str(&id).unwrap()))
            .await;
        fleet.push((id, device));
    }

    let committed = Arc::new(Mutex::new(Committed::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    {
        // Phones: a photo upload, then an inspection naming it.
        let (http, committed, stop, fleet) =
            (http.clone(), committed.clone(), stop.clone(), fleet.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let bytes = photo(n);
                let stored = http
                    .post("/api/v1/photos", bytes.clone().into(), "image/png")
                    .await;
                let key = s(&stored, "sha256").to_owned();
                let asset = fleet[n as usize % fleet.len()].0.clone();
                let id = Uuid::now_v7().to_string();
                let result = http
                    .json(
                        "/api/v1/scans",
                        json!({"id": id, "action": "inspect", "asset_id": asset,
                               "device_time": (Utc::now() - Duration::seconds(5)).to_rfc3339(),
                               "photos": [key], "notes": format!("round {n}")}),
                    )
                    .await;
                assert_eq!(result["status"], "applied", "{result}");
                committed
                    .lock()
                    .unwrap()
                    .scans
                    .push((id, asset, key, bytes));
                n += 1;
            }
        }));
    }
    {
        // The office registers machines.
        let (http, committed, stop) = (http.clone(), committed.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let asset = http
                    .json(
                        "/api/v1/assets",
                        json!({"code": format!("LIVE-{n}"), "name": "Arrived today"}),
                    )
                    .await;
                committed
                    .lock()
                    .unwrap()
                    .assets
                    .push(s(&asset, "id").to_owned());
                n += 1;
            }
        }));
    }
    {
        // Trackers: a reading per machine a second apart, committed by ingest.
        let (store, events, committed, stop, fleet) = (
            app.db.store.clone(),
            app.events.clone(),
            committed.clone(),
            stop.clone(),
            fleet.clone(),
        );
        writers.push(tokio::spawn(async move {
            let ingestor = Ingestor::new(store, events, IngestOptions::default());
            // Whole seconds (stored times have microseconds), within the default 24 h window.
            let t0 = Utc.timestamp_opt(Utc::now().timestamp() - 3600, 0).unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let ts = t0 + Duration::seconds(i);
                let batch: Vec<Message> = fleet
                    .iter()
                    .map(|(_, device)| {
                        let mut r = Reading::at(ts);
                        r.lat = Some(48.1 + i as f64 * 1e-5);
                        r.lon = Some(11.5);
                        Message {
                            topic: format!("fieldops/v1/{device}/telemetry"),
                            received_at: Utc::now(),
                            kind: MessageKind::Readings {
                                device_id: device.clone(),
                                readings: vec![r],
                            },
                        }
                    })
                    .collect();
                let report = ingestor.ingest(&batch).await.unwrap();
                assert_eq!(report.applied, fleet.len());
                let mut c = committed.lock().unwrap();
                for (asset, _) in &fleet {
                    c.readings.entry(asset.clone()).or_default().push(ts);
                }
                i += 1;
            }
        }));
    }
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let c = committed.lock().unwrap();
        if c.scans.len() >= 3 && !c.assets.is_empty() && !c.readings.is_empty() {
            break;
        }
    }
    let before = committed.lock().unwrap().clone();
    let created = backup::create(&app.db.store, data_dir, &archive)
        .await
        .unwrap();
    let during = committed.lock().unwrap().scans.len();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(
        during > before.scans.len(),
        "scans went on during the backup"
    );
    assert!(
        created.missing_blobs.is_empty(),
        "{:?}",
        created.missing_blobs
    );

    // Restore into a new database and data directory, and serve it.
    let target = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", target.path().join("restored.db").display());
    let restored_data = target.path().join("data");
    backup::restore(&Restore {
        from: archive,
        database_url: url.clone(),
        data_dir: restored_data.clone(),
        force: false,
    })
    .await
    .unwrap();
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    let state = api::AppState::new(store.clone(), config(&restored_data));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_server, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let client = Client::new();
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = s(&login, "token").to_owned();
    let get = |path: String| {
        let req = client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send();
        async move {
            let resp = req.await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            resp.bytes().await.unwrap()
        }
    };

    for id in &before.assets {
        get(format!("/api/v1/assets/{id}")).await;
    }
    let mut histories: BTreeMap<&str, String> = BTreeMap::new();
    for (id, asset, key, bytes) in &before.scans {
        if !histories.contains_key(asset.as_str()) {
            let body = get(format!("/api/v1/assets/{asset}/field-history?limit=1000")).await;
            histories.insert(asset, String::from_utf8_lossy(&body).into_owned());
        }
        assert!(histories[asset.as_str()].contains(id), "scan {id}");
        let served = get(format!("/api/v1/photos/{key}")).await;
        assert_eq!(served.as_ref(), bytes.as_slice(), "photo {key}");
    }
    for (asset, times) in &before.readings {
        let body = get(format!("/api/v1/assets/{asset}/positions")).await;
        let points: Value = serde_json::from_slice(&body).unwrap();
        let kept: HashSet<DateTime<Utc>> = points
            .as_array()
            .unwrap()
            .iter()
            .map(|p| s(p, "ts").parse().unwrap())
            .collect();
        for t in times {
            assert!(kept.contains(t), "{asset}: the reading at {t}");
        }
    }
    let document_id = s(&document, "id");
    let served = get(format!(
        "/api/v1/contracts/{contract_id}/documents/{document_id}"
    ))
    .await;
    assert_eq!(served.as_ref(), pdf.as_slice(), "the sealed document opens");

    let _ = stop_server.send(());
    server.await.unwrap().unwrap();
    store.close().await;
}
