//! Ingest semantics through the whole path: MQTT publish → gateway → database → asset state and
//! events. Each scenario runs on SQLite and PostgreSQL with the embedded MQTT endpoint
//! (`embedded::sqlite::…`, `embedded::postgres::…`); the smoke test also runs through the shared
//! Mosquitto (`mosquitto::…`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Duration;
use common::*;
use domain::events::FleetEvent;
use iot_gateway::IngestSettings;
use mobile_shared::telemetry::Reading;
use mobile_shared::wire::{Geofence, LatLon, NewSite, PositionSource, SiteKind};

mod embedded {
    use super::*;
    domain::backend_matrix!(
        Env<Embedded>:
        native_reading_moves_the_asset,
        duplicate_message_is_applied_once,
        out_of_order_reading_keeps_the_newest_position,
        ignition_accumulates_engine_hours_without_gaps,
        meter_rollback_is_flagged_once_and_never_applied,
        geofence_crossings_record_enter_and_exit,
        mark_silent_marks_online_devices_offline,
        silence_watch_marks_a_quiet_device_offline,
    );
}

mod mosquitto {
    use super::*;
    domain::backend_matrix!(Env<Mosquitto>: native_reading_moves_the_asset);
}

/// Scenario 1: one native reading → the asset's position, hours and odometer; position history.
async fn native_reading_moves_the_asset(env: Env<impl BrokerKind>) {
    let (asset, device, gw, publisher) = env.one_tracker("ex1").await;
    let mut events = env.subscribe();

    let ts = base_time();
    let mut r = fix(ts, 48.1371, 11.5754);
    r.speed_kmh = Some(12.5);
    r.heading_deg = Some(270.0);
    r.hdop = Some(0.9);
    r.engine_hours = Some(1532.4);
    r.odometer_km = Some(8412.2);
    r.ignition = Some(true);
    r.battery_v = Some(12.6);
    publisher
        .publish(&telemetry_topic(&device), native(&[r]))
        .await;

    let a = env
        .wait_asset(&asset, "asset has a position", |a| a.position.is_some())
        .await;
    let p = a.position.unwrap();
    assert_eq!(
        (p.lat, p.lon, p.at, p.source),
        (48.1371, 11.5754, ts, PositionSource::Gps)
    );
    assert_eq!(a.engine_hours, Some(1532.4));
    assert_eq!(a.odometer_km, Some(8412.2));
    assert_eq!(
        a.version, asset.version,
        "telemetry does not bump the version"
    );

    let points = domain::telemetry::positions(
        &env.db.store,
        asset.id,
        ts - Duration::minutes(1),
        ts + Duration::minutes(1),
        100,
    )
    .await
    .unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!(
        (
            points[0].ts,
            points[0].lat,
            points[0].lon,
            points[0].speed_kmh,
            points[0].heading_deg
        ),
        (ts, 48.1371, 11.5754, Some(12.5), Some(270.0))
    );
    let e = next_event(
        &mut events,
        "position event",
        |e| matches!(e, FleetEvent::Position { asset_id, .. } if *asset_id == asset.id),
    )
    .await;
    assert!(
        matches!(e, FleetEvent::Position { lat, lon, at, speed_kmh: Some(s), .. }
        if lat == 48.1371 && lon == 11.5754 && at == ts && s == 12.5)
    );
    assert_eq!(
        env.online(&device).await,
        1,
        "telemetry marks the device online"
    );
    assert_eq!(gw.applied(), 1);
    gw.stop().await;
}

/// Scenario 4: the same message twice → one row; metrics say applied 1, duplicate 1; a later
/// replay is a duplicate too.
async fn duplicate_message_is_applied_once(env: Env<Embedded>) {
    let (asset, device, gw, publisher) = env.one_tracker("dup").await;
    let ts = base_time();
    let payload = native(&[fix(ts, 48.2, 11.6)]);
    publisher
        .publish(&telemetry_topic(&device), payload.clone())
        .await;
    publisher
        .publish(&telemetry_topic(&device), payload.clone())
        .await;

    let counted = poll_until(async || gw.applied() + gw.readings("duplicate") == 2).await;
    assert!(
        counted,
        "both messages counted: applied {} duplicate {}",
        gw.applied(),
        gw.readings("duplicate")
    );
    assert_eq!(gw.applied(), 1);
    assert_eq!(gw.readings("duplicate"), 1);
    assert_eq!(env.telemetry_rows().await, 1);
    // Once more, certainly in a later batch (the first is committed): the database dedupes.
    publisher.publish(&telemetry_topic(&device), payload).await;
    let counted = poll_until(async || gw.readings("duplicate") == 2).await;
    assert!(counted, "the replay is counted as a duplicate");
    assert_eq!(gw.applied(), 1);
    assert_eq!(env.telemetry_rows().await, 1);
    let a = env.get_asset(&asset).await;
    assert_eq!(a.position.unwrap().at, ts);
    gw.stop().await;
}

/// Scenario 5: t2 then t1 < t2 → both stored, the asset stays at t2.
async fn out_of_order_reading_keeps_the_newest_position(env: Env<Embedded>) {
    let (asset, device, gw, publisher) = env.one_tracker("ooo").await;
    let t2 = at(base_time(), 600);
    let t1 = at(base_time(), 0);
    publisher
        .publish(&telemetry_topic(&device), native(&[fix(t2, 48.3, 11.7)]))
        .await;
    env.wait_asset(&asset, "position at t2", |a| {
        a.position.as_ref().is_some_and(|p| p.at == t2)
    })
    .await;
    publisher
        .publish(&telemetry_topic(&device), native(&[fix(t1, 48.0, 11.0)]))
        .await;
    env.wait_count("SELECT COUNT(*) FROM telemetry", 2).await;
    let p = env.get_asset(&asset).await.position.unwrap();
    assert_eq!(
        (p.lat, p.lon, p.at),
        (48.3, 11.7, t2),
        "an older fix never moves the asset back"
    );
    gw.stop().await;
}

fn ignition(ts: chrono::DateTime<chrono::Utc>, on: bool) -> Reading {
    Reading {
        ignition: Some(on),
        ..Reading::at(ts)
    }
}

/// Scenario 6: engine hours from ignition for a device without an hour meter; an offline gap
/// longer than 5 minutes is not counted.
async fn ignition_accumulates_engine_hours_without_gaps(env: Env<Embedded>) {
    let (asset, device, gw, publisher) = env.one_tracker("ign").await;
    let topic = telemetry_topic(&device);
    let t = base_time();
    let minute = 1.0 / 60.0;

    // Three ignition-on readings a minute apart, as separate messages: +2 minutes.
    for m in 0..3 {
        publisher
            .send(&topic, native(&[ignition(at(t, m * 60), true)]))
            .await;
    }
    publisher.flush().await;
    env.wait_count("SELECT COUNT(*) FROM telemetry", 3).await;
    assert_close(env.get_asset(&asset).await.engine_hours, 2.0 * minute, 1e-6);

    // (second, ignition, the hours after it, why)
    let steps = [
        (
            32 * 60,
            true,
            2.0 * minute,
            "30 minutes later, still on: the device was offline; the gap adds nothing",
        ),
        (
            33 * 60,
            false,
            3.0 * minute,
            "ignition off a minute later: that minute ran",
        ),
        (40 * 60, false, 3.0 * minute, "off, later: nothing"),
    ];
    for (rows, (second, on, want, why)) in (4..).zip(steps) {
        publisher
            .publish(&topic, native(&[ignition(at(t, second), on)]))
            .await;
        env.wait_count("SELECT COUNT(*) FROM telemetry", rows).await;
        let got = env.get_asset(&asset).await.engine_hours;
        assert!(
            got.is_some_and(|h| (h - want).abs() <= 1e-6),
            "{why}: engine hours {got:?}, expected {want}"
        );
    }
    assert_eq!(
        env.db
            .count("SELECT COUNT(*) FROM devices WHERE has_hour_meter")
            .await,
        0
    );
    gw.stop().await;
}

fn hours(ts: chrono::DateTime<chrono::Utc>, h: f64) -> Reading {
    Reading {
        engine_hours: Some(h),
        ..Reading::at(ts)
    }
}

/// Scenario 7: hours 100 → 90 (kept at 100, one anomaly) → 91 (still one) → 101 (applied,
/// flag cleared).
async fn meter_rollback_is_flagged_once_and_never_applied(env: Env<Embedded>) {
    let (asset, device, gw, publisher) = env.one_tracker("meter").await;
    let mut events = env.subscribe();
    let topic = telemetry_topic(&device);
    let t = base_time();
    let anomalies = "SELECT COUNT(*) FROM meter_anomalies WHERE meter = 'engine_hours'";
    let flagged = "SELECT COUNT(*) FROM assets WHERE hours_flagged";

    // (second, reading, the asset's hours after it, anomalies, flagged assets, why)
    let steps = [
        (0, 100.0, 100.0, None, None, "the first reading"),
        (
            60,
            90.0,
            100.0,
            Some(1),
            Some(1),
            "a rollback is not applied",
        ),
        (120, 91.0, 100.0, Some(1), None, "flagged once"),
        (
            180,
            101.0,
            101.0,
            Some(1),
            Some(0),
            "a reading at or above the applied value clears the flag",
        ),
    ];
    for (rows, (second, reading, applied, anomalies_want, flagged_want, why)) in (1..).zip(steps) {
        publisher
            .publish(&topic, native(&[hours(at(t, second), reading)]))
            .await;
        env.wait_count("SELECT COUNT(*) FROM telemetry", rows).await;
        let got = env.get_asset(&asset).await.engine_hours;
        assert_eq!(got, Some(applied), "{why}");
        for (sql, want) in [(anomalies, anomalies_want), (flagged, flagged_want)] {
            if let Some(want) = want {
                assert_eq!(env.db.count(sql).await, want, "{why}: {sql}");
            }
        }
    }
    assert_eq!(
        env.db
            .count("SELECT COUNT(*) FROM meter_anomalies WHERE previous = 100 AND reading = 90")
            .await,
        1
    );
    let e = next_event(&mut events, "meter anomaly event", |e| {
        matches!(e, FleetEvent::MeterAnomaly { .. })
    })
    .await;
    assert!(
        matches!(e, FleetEvent::MeterAnomaly { asset_id, meter: "engine_hours", previous, reading, .. }
        if asset_id == asset.id && previous == 100.0 && reading == 90.0)
    );
    gw.stop().await;
}

/// Scenario 8: outside → inside → outside a 200 m circle: enter then exit, rows and events.
async fn geofence_crossings_record_enter_and_exit(env: Env<Embedded>) {
    let center = LatLon {
        lat: 48.137,
        lon: 11.575,
    };
    let site = domain::sites::create(
        &env.db.store,
        &domain::Actor::system(),
        NewSite {
            name: format!("Depot {}", env.prefix),
            kind: SiteKind::Depot,
            customer_id: None,
            address: None,
            location: Some(center),
            geofence: Some(Geofence::Circle {
                center,
                radius_m: 200.0,
            }),
        },
    )
    .await
    .unwrap();
    let (asset, device, gw, publisher) = env.one_tracker("fence").await;
    let mut events = env.subscribe();
    let topic = telemetry_topic(&device);
    let t = base_time();
    // ~1.5 km north, the centre, ~1.5 km north again; each applied before the next is sent
    // (only the newest fix of a batch moves the asset).
    let path = [(48.150, 11.575), (48.137, 11.575), (48.1505, 11.575)];
    for (i, (lat, lon)) in path.into_iter().enumerate() {
        let ts = at(t, 60 * i as i64);
        publisher
            .publish(&topic, native(&[fix(ts, lat, lon)]))
            .await;
        env.wait_asset(&asset, "position applied", |a| {
            a.position.as_ref().is_some_and(|p| p.at == ts)
        })
        .await;
    }
    let events_sql =
        |kind: &str| format!("SELECT COUNT(*) FROM geofence_events WHERE kind = '{kind}'");
    assert_eq!(env.db.count(&events_sql("enter")).await, 1);
    assert_eq!(env.db.count(&events_sql("exit")).await, 1);
    assert_eq!(
        env.db
            .count("SELECT COUNT(*) FROM geofence_events e JOIN geofence_events x ON x.asset_id = e.asset_id AND x.site_id = e.site_id WHERE e.kind = 'enter' AND x.kind = 'exit' AND e.ts < x.ts")
            .await,
        1,
        "enter, then exit, for the same asset and site"
    );
    let enter = next_event(&mut events, "geofence enter", |e| {
        matches!(e, FleetEvent::GeofenceEnter { .. })
    })
    .await;
    assert_eq!(
        enter,
        FleetEvent::GeofenceEnter {
            asset_id: asset.id,
            site_id: site.id,
            at: at(t, 60)
        }
    );
    let exit = next_event(&mut events, "geofence exit", |e| {
        matches!(e, FleetEvent::GeofenceExit { .. })
    })
    .await;
    assert_eq!(
        exit,
        FleetEvent::GeofenceExit {
            asset_id: asset.id,
            site_id: site.id,
            at: at(t, 120)
        }
    );
    gw.stop().await;
}

/// Scenario 9a: `mark_silent` marks an online device offline and says so on the bus.
async fn mark_silent_marks_online_devices_offline(env: Env<Embedded>) {
    let (asset, device) = env.tracker("quiet").await;
    let (_, other) = env.tracker("never").await;
    let gw = env.gateway().await;
    let publisher = env.publisher().await;
    publisher
        .publish(
            &telemetry_topic(&device),
            native(&[fix(base_time(), 48.1, 11.5)]),
        )
        .await;
    env.wait_count("SELECT COUNT(*) FROM telemetry", 1).await;
    assert_eq!(env.online(&device).await, 1);
    gw.stop().await;

    let mut events = env.subscribe();
    let n = env.ingestor.mark_silent(Duration::zero()).await.unwrap();
    assert_eq!(n, 1, "only the online device goes silent");
    assert_eq!(env.online(&device).await, 0);
    assert_eq!(env.online(&other).await, 0);
    let e = next_event(&mut events, "device silent", |e| {
        matches!(e, FleetEvent::DeviceSilent { .. })
    })
    .await;
    assert!(
        matches!(e, FleetEvent::DeviceSilent { device_id, asset_id: Some(a), last_seen_at: Some(_) }
        if device_id == device && a == asset.id)
    );
    // Already offline: a second pass finds nothing.
    assert_eq!(env.ingestor.mark_silent(Duration::zero()).await.unwrap(), 0);
}

/// Scenario 9b: the gateway's own silence watch, with a tiny `silent_after`.
async fn silence_watch_marks_a_quiet_device_offline(env: Env<Embedded>) {
    let (asset, device) = env.tracker("watch").await;
    let settings = IngestSettings {
        silent_after: Duration::milliseconds(1),
        silent_check: std::time::Duration::from_millis(50),
        ..IngestSettings::default()
    };
    let gw = env.gateway_with(&env.client_id(), settings).await;
    let publisher = env.publisher().await;
    let mut events = env.subscribe();
    publisher.publish(&status_topic(&device), "online").await;
    let e = next_event(
        &mut events,
        "device silent",
        |e| matches!(e, FleetEvent::DeviceSilent { device_id, .. } if *device_id == device),
    )
    .await;
    assert!(matches!(e, FleetEvent::DeviceSilent { asset_id: Some(a), .. } if a == asset.id));
    assert_eq!(env.online(&device).await, 0);
    gw.stop().await;
}
