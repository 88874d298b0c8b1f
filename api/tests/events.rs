//! `GET /api/v1/events`: live changes over Server-Sent Events, read over HTTP as a browser
//! would. Telemetry is ingested through the real `Ingestor` (what the MQTT pipeline calls), so
//! the events travel the real way: the in-process bus on SQLite, NOTIFY/LISTEN on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::*;
use domain::telemetry::{IngestOptions, Ingestor, Message, MessageKind};
use domain::Backend;
use mobile_shared::telemetry::Reading;
use mobile_shared::Role;
use reqwest::StatusCode;
use serde_json::Value;

domain::backend_matrix!(
    TestApp:
    ingested_position_arrives_as_an_event,
    readings_in_one_window_are_one_event_with_the_newest,
    resume_after_last_event_id,
    refused_without_a_valid_token,
);

/// One parsed SSE event (`comment` for a keep-alive line).
#[derive(Debug, Clone)]
struct Sse {
    id: Option<u64>,
    event: String,
    data: Value,
    comment: bool,
}

struct Stream {
    resp: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(app: &TestApp, token: &str, last_event_id: Option<&str>) -> Stream {
        Stream::open_at(&app.base, token, last_event_id).await
    }

    async fn open_at(base: &str, token: &str, last_event_id: Option<&str>) -> Stream {
        let mut req = reqwest::Client::new()
            .get(format!("{base}/api/v1/events"))
            .bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.expect("open the stream");
        assert_eq!(resp.status(), StatusCode::OK);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Stream {
            resp,
            buf: String::new(),
        }
    }

    /// The next event or comment, or `None` when nothing comes within `within`.
    async fn next(&mut self, within: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = Sse {
                    id: None,
                    event: "message".into(),
                    data: Value::Null,
                    comment: false,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if line.starts_with(':') {
                        ev.comment = true;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().parse().expect("numeric id"));
                    } else if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !data.is_empty() {
                    ev.data = serde_json::from_str(&data).expect("JSON data");
                }
                return Some(ev);
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .ok()?
                .expect("read the stream")?;
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Events (not comments) until `done` holds for one, within `within`; all of them.
    async fn until(&mut self, within: Duration, done: impl Fn(&Sse) -> bool) -> Vec<Sse> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Some(ev) = self.next(left).await else {
                break;
            };
            if ev.comment {
                continue;
            }
            let stop = done(&ev);
            seen.push(ev);
            if stop {
                return seen;
            }
        }
        panic!("not within {within:?}; saw {seen:?}");
    }
}

fn is_position_of(ev: &Sse, asset: &str, lat: f64) -> bool {
    ev.event == "position" && ev.data["asset_id"] == asset && ev.data["lat"].as_f64() == Some(lat)
}

/// An asset with a bound tracker; returns (asset id, device id).
async fn tracked_asset(app: &TestApp, code: &str) -> (String, String) {
    let asset = app.asset(code).await;
    let id = asset["id"].as_str().unwrap().to_owned();
    let device = format!("trk-{}", code.to_ascii_lowercase());
    app.db.add_device(&device, Some(id.parse().unwrap())).await;
    (id, device)
}

fn ingestor(app: &TestApp) -> Ingestor {
    Ingestor::new(
        app.db.store.clone(),
        app.events.clone(),
        IngestOptions::default(),
    )
}

fn fix(device: &str, ts: DateTime<Utc>, lat: f64) -> Message {
    let mut r = Reading::at(ts);
    r.lat = Some(lat);
    r.lon = Some(11.5);
    Message {
        topic: format!("fieldops/v1/{device}/telemetry"),
        received_at: Utc::now(),
        kind: MessageKind::Readings {
            device_id: device.into(),
            readings: vec![r],
        },
    }
}

const WITHIN: Duration = Duration::from_secs(5);

async fn ingested_position_arrives_as_an_event(app: TestApp) {
    let (asset, device) = tracked_asset(&app, "EV-1").await;
    // Any role that reads positions may watch them move.
    let viewer = app.user_with_role(Role::Viewer).await;
    let mut stream = Stream::open(&app, &viewer, None).await;
    let ready = stream.next(WITHIN).await.expect("ready");
    assert_eq!(ready.event, "ready", "{ready:?}");
    let ready_id = ready.id.expect("ready has an id");

    let t = Utc::now() - chrono::Duration::seconds(5);
    let report = ingestor(&app)
        .ingest(&[fix(&device, t, 48.25)])
        .await
        .unwrap();
    assert_eq!(report.applied, 1);
    let seen = stream
        .until(WITHIN, |e| is_position_of(e, &asset, 48.25))
        .await;
    let ev = seen.last().unwrap();
    assert!(ev.id.unwrap() > ready_id, "{ev:?} after {ready_id}");
    assert_eq!(ev.data["type"], "position");
    assert_eq!(ev.data["lon"].as_f64(), Some(11.5));
    let at: DateTime<Utc> = ev.data["at"].as_str().unwrap().parse().unwrap();
    assert_eq!(at.timestamp_micros(), t.timestamp_micros());
}

async fn readings_in_one_window_are_one_event_with_the_newest(app: TestApp) {
    let (asset, device) = tracked_asset(&app, "EV-2").await;
    let mut stream = Stream::open(&app, app.admin(), None).await;
    stream.next(WITHIN).await.expect("ready");
    let ingestor = ingestor(&app);
    let t0 = Utc::now() - chrono::Duration::minutes(10);
    let n = 40;
    let started = Instant::now();
    for k in 0..n {
        // One batch each, as separate MQTT messages committed one after another would be.
        let lat = 48.0 + f64::from(k) / 1000.0;
        let msg = fix(&device, t0 + chrono::Duration::seconds(k.into()), lat);
        ingestor.ingest(&[msg]).await.unwrap();
    }
    let spent = started.elapsed();
    let newest = 48.0 + f64::from(n - 1) / 1000.0;
    let seen = stream
        .until(WITHIN, |e| is_position_of(e, &asset, newest))
        .await;
    let positions: Vec<&Sse> = seen.iter().filter(|e| e.event == "position").collect();
    // 40 commits; at most one event per 250 ms window for this asset, plus a window cut.
    let windows = usize::try_from(spent.as_millis() / 250).unwrap() + 2;
    assert!(
        positions.len() <= windows && positions.len() < n as usize,
        "{} position events for {n} commits in {spent:?}: {positions:?}",
        positions.len()
    );
    // Ids increase, and the last is the newest reading.
    let ids: Vec<u64> = seen.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(positions.last().unwrap().data["lat"].as_f64(), Some(newest));
}

async fn resume_after_last_event_id(app: TestApp) {
    let (a, dev_a) = tracked_asset(&app, "EV-3").await;
    let (b, dev_b) = tracked_asset(&app, "EV-4").await;
    let ingestor = ingestor(&app);
    let t = Utc::now() - chrono::Duration::minutes(1);

    let mut stream = Stream::open(&app, app.admin(), None).await;
    stream.next(WITHIN).await.expect("ready");
    ingestor.ingest(&[fix(&dev_a, t, 47.1)]).await.unwrap();
    let seen = stream.until(WITHIN, |e| is_position_of(e, &a, 47.1)).await;
    let last_id = seen.last().unwrap().id.unwrap();
    drop(stream);

    // Missed while disconnected: A moves twice, B once.
    ingestor
        .ingest(&[fix(&dev_a, t + chrono::Duration::seconds(1), 47.2)])
        .await
        .unwrap();
    ingestor
        .ingest(&[fix(&dev_b, t + chrono::Duration::seconds(1), 46.0)])
        .await
        .unwrap();
    ingestor
        .ingest(&[fix(&dev_a, t + chrono::Duration::seconds(2), 47.3)])
        .await
        .unwrap();
    // Let the hub flush them (and a probe stream tell us it did).
    let mut probe = Stream::open(&app, app.admin(), None).await;
    probe.next(WITHIN).await.expect("ready");
    tokio::time::sleep(Duration::from_millis(600)).await;
    drop(probe);

    let mut resumed = Stream::open(&app, app.admin(), Some(&last_id.to_string())).await;
    let mut got = Vec::new();
    while let Some(ev) = resumed.next(Duration::from_millis(800)).await {
        if !ev.comment {
            got.push(ev);
        }
    }
    let summary: Vec<(String, String, f64)> = got
        .iter()
        .map(|e| {
            (
                e.event.clone(),
                e.data["asset_id"].as_str().unwrap_or("").to_owned(),
                e.data["lat"].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    // What was missed, coalesced to the newest per asset, in commit order; no `ready`.
    assert_eq!(
        summary,
        [
            ("position".to_owned(), b.clone(), 46.0),
            ("position".to_owned(), a.clone(), 47.3),
        ],
        "{got:?}"
    );
    assert!(got.iter().all(|e| e.id.unwrap() > last_id));

    // An id this server does not hold: reload state.
    for unknown in ["1", "not-a-number", &(u64::MAX - 1).to_string()] {
        let mut s = Stream::open(&app, app.admin(), Some(unknown)).await;
        let first = s.next(WITHIN).await.unwrap();
        assert_eq!(first.event, "resync", "{unknown}: {first:?}");
        assert_eq!(first.data["reason"], "not_retained");
    }
}

async fn refused_without_a_valid_token(app: TestApp) {
    expect_unauthenticated(app.get("/api/v1/events", None).await).await;
    expect_unauthenticated(app.get("/api/v1/events", "garbage-token").await).await;
    let revoked = app.user_with_role(Role::Dispatcher).await;
    let resp = app
        .request(
            reqwest::Method::POST,
            "/api/v1/auth/logout",
            revoked.as_str(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_unauthenticated(app.get("/api/v1/events", revoked.as_str()).await).await;
}

/// Keep-alive comments flow while nothing happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_streams_get_keep_alive_comments() {
    let config = api::ApiConfig {
        live: domain::events::LiveSettings {
            keep_alive: Duration::from_millis(100),
            ..Default::default()
        },
        ..Default::default()
    };
    let app = TestApp::start(Backend::Sqlite, config).await.unwrap();
    let mut stream = Stream::open(&app, app.admin(), None).await;
    assert_eq!(stream.next(WITHIN).await.unwrap().event, "ready");
    let next = stream.next(Duration::from_secs(2)).await.unwrap();
    assert!(next.comment, "{next:?}");
}

/// Two API processes on one PostgreSQL database: telemetry ingested by one reaches a client
/// of the other (NOTIFY/LISTEN), and a client may resume on either with the ids it was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fans_out_across_processes() {
    let Some(a) = TestApp::start(Backend::Postgres, api::ApiConfig::default()).await else {
        return;
    };
    // Process B: its own store (pool), bus and hub on the same database.
    let store_b = domain::Store::connect(&a.db.url, &domain::StoreOptions::default())
        .await
        .unwrap();
    let state_b = api::AppState::new(store_b.clone(), api::ApiConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_b = format!("http://{}", listener.local_addr().unwrap());
    let (stop_b, stopped_b) = tokio::sync::oneshot::channel::<()>();
    let server_b = tokio::spawn(api::serve(listener, state_b, async move {
        let _ = stopped_b.await;
    }));

    let (asset, device) = tracked_asset(&a, "EV-PG").await;
    let mut on_b = Stream::open_at(&base_b, a.admin(), None).await;
    assert_eq!(on_b.next(WITHIN).await.unwrap().event, "ready");
    let mut on_a = Stream::open(&a, a.admin(), None).await;
    assert_eq!(on_a.next(WITHIN).await.unwrap().event, "ready");

    // Ingest in process A (A's store, A's bus).
    let t = Utc::now() - chrono::Duration::minutes(1);
    ingestor(&a).ingest(&[fix(&device, t, 45.5)]).await.unwrap();
    let seen_b = on_b
        .until(WITHIN, |e| is_position_of(e, &asset, 45.5))
        .await;
    let seen_a = on_a
        .until(WITHIN, |e| is_position_of(e, &asset, 45.5))
        .await;
    let id = seen_b.last().unwrap().id.unwrap();
    assert_eq!(
        id,
        seen_a.last().unwrap().id.unwrap(),
        "one id on every process"
    );
    drop(on_b);

    // A second change while the client is away; it resumes on the other process.
    ingestor(&a)
        .ingest(&[fix(&device, t + chrono::Duration::seconds(1), 45.6)])
        .await
        .unwrap();
    on_a.until(WITHIN, |e| is_position_of(e, &asset, 45.6))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut resumed = Stream::open(&a, a.admin(), Some(&id.to_string())).await;
    let first = resumed.next(WITHIN).await.unwrap();
    assert!(is_position_of(&first, &asset, 45.6), "{first:?}");

    // Shutdown ends open streams instead of waiting for them forever.
    let mut open_on_b = Stream::open_at(&base_b, a.admin(), None).await;
    assert_eq!(open_on_b.next(WITHIN).await.unwrap().event, "ready");
    let _ = stop_b.send(());
    tokio::time::timeout(WITHIN, server_b)
        .await
        .expect("B stops with a stream open")
        .unwrap()
        .unwrap();
    assert!(open_on_b.next(WITHIN).await.is_none(), "the stream ended");
    store_b.close().await;
}
