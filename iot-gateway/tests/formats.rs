//! Payload formats (native object and array, OwnTracks, SenML, status) and rejects, end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Duration;
use common::*;
use iot_gateway::IngestSettings;
use mobile_shared::wire::PositionSource;

mod embedded {
    use super::*;
    domain::backend_matrix!(
        Env<Embedded>:
        every_reject_reason_is_stored_counted_and_acknowledged,
        native_object,
        native_array_offline_flush,
        owntracks_location_and_ignored_transition,
        senml_pack,
        status_online_offline,
    );
}

mod mosquitto {
    use super::*;
    domain::backend_matrix!(
        Env<Mosquitto>: every_reject_reason_is_stored_counted_and_acknowledged
    );
}

/// Scenario 2a: one native JSON object.
async fn native_object(env: Env<Embedded>) {
    let (asset, device, gw, publisher) = env.one_tracker("obj").await;
    let ts = base_time();
    let payload = format!(
        r#"{{"ts":"{}","lat":48.1371,"lon":11.5754,"speed_kmh":12.5,"heading_deg":270,"hdop":0.9,"engine_hours":1532.4,"odometer_km":8412.2,"ignition":true,"battery_v":12.6}}"#,
        ts.to_rfc3339()
    );
    publisher.publish(&telemetry_topic(&device), payload).await;
    let a = env
        .wait_asset(&asset, "position from a native object", |a| {
            a.position.is_some()
        })
        .await;
    let p = a.position.unwrap();
    assert_eq!(
        (p.lat, p.lon, p.at, p.source),
        (48.1371, 11.5754, ts, PositionSource::Gps)
    );
    assert_eq!(
        (a.engine_hours, a.odometer_km),
        (Some(1532.4), Some(8412.2))
    );
    assert_eq!(
        env.db
            .count(
                "SELECT COUNT(*) FROM telemetry WHERE ignition AND battery_v = 12.6 AND hdop = 0.9"
            )
            .await,
        1
    );
    gw.stop().await;
}

/// Scenario 2b: an offline flush of 5 readings (array, Unix-seconds and -milliseconds times) →
/// 5 rows, the asset at the newest.
async fn native_array_offline_flush(env: Env<Embedded>) {
    let (asset, device, gw, publisher) = env.one_tracker("arr").await;
    let t = base_time();
    // Oldest first except one: the newest is in the middle, so "last in the array" is not
    // mistaken for "newest".
    let order = [0, 1, 4, 2, 3];
    let items: Vec<String> = order
        .iter()
        .map(|i| {
            let ts = at(t, i * 60);
            let lat = 48.0 + *i as f64 / 100.0;
            let when = if i % 2 == 0 {
                ts.timestamp().to_string()
            } else {
                ts.timestamp_millis().to_string()
            };
            format!(
                r#"{{"ts":{when},"lat":{lat},"lon":11.5,"odometer_km":{}}}"#,
                100 + i
            )
        })
        .collect();
    let payload = format!("[{}]", items.join(","));
    publisher.publish(&telemetry_topic(&device), payload).await;
    env.wait_count("SELECT COUNT(*) FROM telemetry", 5).await;
    let a = env.get_asset(&asset).await;
    let p = a.position.unwrap();
    assert_eq!((p.lat, p.at), (48.04, at(t, 240)));
    assert_eq!(a.odometer_km, Some(104.0));
    assert_eq!(gw.applied(), 5);
    gw.stop().await;
}

/// Scenario 2c: OwnTracks `location` is a reading; `transition` is ignored, not rejected.
async fn owntracks_location_and_ignored_transition(env: Env<Embedded>) {
    let asset = env.asset("phone").await;
    let device = format!("{}/phone", env.prefix);
    env.register(&device, Some(&asset)).await;
    let gw = env.gateway().await;
    let publisher = env.publisher().await;
    let topic = format!("owntracks/{device}");
    let t = base_time();
    let location = format!(
        r#"{{"_type":"location","tst":{},"lat":48.8568,"lon":2.2927,"acc":12,"vel":54,"cog":90,"batt":88,"tid":"YY"}}"#,
        t.timestamp()
    );
    publisher.publish(&topic, location).await;
    let a = env
        .wait_asset(&asset, "position from OwnTracks", |a| a.position.is_some())
        .await;
    let p = a.position.unwrap();
    assert_eq!((p.lat, p.lon, p.at), (48.8568, 2.2927, t));
    assert_eq!(
        env.db
            .count("SELECT COUNT(*) FROM telemetry WHERE accuracy_m = 12 AND speed_kmh = 54 AND heading_deg = 90 AND battery_pct = 88")
            .await,
        1
    );

    let transition = format!(
        r#"{{"_type":"transition","tst":{},"event":"leave","desc":"Depot","lat":48.0,"lon":2.0,"wtst":1}}"#,
        at(t, 30).timestamp()
    );
    publisher.publish(&topic, transition).await;
    // A marker after it, on the same connection and topic: once it is stored, the transition
    // has been processed too.
    let marker = format!(
        r#"{{"_type":"location","tst":{},"lat":48.857,"lon":2.293}}"#,
        at(t, 60).timestamp()
    );
    publisher.publish(&topic, marker).await;
    env.wait_count("SELECT COUNT(*) FROM telemetry", 2).await;
    assert_eq!(
        env.db.count(&env.own_rejects_sql()).await,
        0,
        "ignored, not rejected"
    );
    assert_eq!(gw.applied(), 2);
    assert_eq!(gw.readings("rejected"), 0);
    gw.stop().await;
}

/// Scenario 2d: a SenML pack with base name and time; engine hours in seconds.
async fn senml_pack(env: Env<Embedded>) {
    let (asset, device, gw, publisher) = env.one_tracker("senml").await;
    let t = base_time();
    let pack = format!(
        r#"[{{"bn":"urn:dev:{device}:","bt":{},"n":"lat","u":"lat","v":48.2}},
            {{"n":"lon","u":"lon","v":11.6}},
            {{"n":"engine_hours","u":"s","v":5515200}},
            {{"n":"speed","u":"m/s","v":5}},
            {{"n":"lat","u":"lat","t":60,"v":48.21}},
            {{"n":"lon","u":"lon","t":60,"v":11.61}},
            {{"n":"ignition","t":60,"vb":true}}]"#,
        t.timestamp()
    );
    publisher.publish(&senml_topic(&device), pack).await;
    env.wait_count("SELECT COUNT(*) FROM telemetry", 2).await;
    let a = env.get_asset(&asset).await;
    let p = a.position.unwrap();
    assert_eq!((p.lat, p.lon, p.at), (48.21, 11.61, at(t, 60)));
    assert_close(a.engine_hours, 1532.0, 1e-9);
    assert_eq!(
        env.db
            .count("SELECT COUNT(*) FROM telemetry WHERE speed_kmh = 18 AND engine_hours = 1532")
            .await,
        1
    );
    assert_eq!(gw.applied(), 2);
    gw.stop().await;
}

/// Scenario 2e: status `online` / `offline` flips the device's `online` column.
async fn status_online_offline(env: Env<Embedded>) {
    let (_, device, gw, publisher) = env.one_tracker("lwt").await;
    let mut events = env.subscribe();
    let online = format!("SELECT COUNT(*) FROM devices WHERE device_id = '{device}' AND online");
    assert_eq!(env.db.count(&online).await, 0);
    publisher.publish(&status_topic(&device), "online").await;
    env.wait_count(&online, 1).await;
    publisher.publish(&status_topic(&device), "offline").await;
    env.wait_count(&online, 0).await;
    for want in [true, false] {
        let e = next_event(&mut events, "device status event", |e| {
            matches!(e, domain::events::FleetEvent::DeviceStatus { .. })
        })
        .await;
        assert!(
            matches!(&e, domain::events::FleetEvent::DeviceStatus { device_id, online, .. } if *device_id == device && *online == want),
            "{e:?}"
        );
    }
    assert_eq!(gw.readings("status"), 2);
    assert_eq!(env.telemetry_rows().await, 0);
    gw.stop().await;
}

/// Scenario 3: every reject reason is stored (topic, reason, payload), counted, and
/// acknowledged: a new gateway with the same client id gets nothing redelivered (on the
/// embedded endpoint: the tracker, reconnecting to the restarted endpoint, has nothing left to
/// re-send).
async fn every_reject_reason_is_stored_counted_and_acknowledged(env: Env<impl BrokerKind>) {
    let (_, device) = env.tracker("rej").await;
    let client_id = env.client_id();
    // Every broker here takes a 300 KiB publish and hands it to the decoder (the endpoint's
    // packet limit is 1 MiB), which rejects it as over its 256 KiB limit.
    let settings = IngestSettings::default();
    let oversize = 300 * 1024;
    let gw = env.gateway_with(&client_id, settings.clone()).await;
    let publisher = env.publisher().await;
    let topic = telemetry_topic(&device);
    let now = chrono::Utc::now();
    let t = base_time();

    let ghost = env.device_id("ghost");
    let ghost_payload = native(&[fix(t, 48.1, 11.5)]);
    let mut oversized = native(&[fix(t, 48.1, 11.5)]);
    oversized.resize(oversize, b' ');
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        ("malformed_json", topic.clone(), b"{\"ts\": oops".to_vec()),
        ("unknown_device", telemetry_topic(&ghost), ghost_payload),
        (
            "lat_lon_out_of_range",
            topic.clone(),
            native(&[fix(t, 95.0, 11.5)]),
        ),
        ("null_island", topic.clone(), native(&[fix(t, 0.0, 0.0)])),
        (
            "future_timestamp",
            topic.clone(),
            native(&[fix(now + Duration::hours(1), 48.1, 11.5)]),
        ),
        (
            "too_old",
            topic.clone(),
            native(&[fix(now - Duration::days(60), 48.1, 11.5)]),
        ),
        ("payload_too_large", topic.clone(), oversized),
        (
            "bad_topic",
            format!("fieldops/v1/{} bad/telemetry", env.prefix),
            native(&[fix(t, 48.1, 11.5)]),
        ),
    ];
    // The endpoint admits only registered devices, each under its own topics: a publish for an
    // unknown device cannot happen there (it cannot log in), and a topic outside the device's
    // space is refused by the ACL (`endpoint.rs`: `publishing_as_another_device_is_refused`)
    // instead of being stored as `bad_topic`. Both rejects are tested through Mosquitto.
    let cases: Vec<_> = match env.broker() {
        Broker::Embedded => cases
            .into_iter()
            .filter(|(reason, _, _)| !matches!(*reason, "unknown_device" | "bad_topic"))
            .collect(),
        Broker::Mosquitto | Broker::PrivateMosquitto => cases,
    };
    for (_, topic, payload) in &cases {
        publisher.publish(topic, payload.clone()).await;
    }
    let total = cases.len() as i64;
    env.wait_count(&env.own_rejects_sql(), total).await;

    for (reason, topic, payload) in &cases {
        let stored = env.own_rejects(reason).await;
        assert_eq!(stored.len(), 1, "{reason}: one stored reject");
        let r = &stored[0];
        assert_eq!(&r.topic, topic, "{reason}");
        assert_eq!(r.reason, *reason);
        assert!(!r.detail.is_empty(), "{reason}");
        let want_payload = if *reason == "payload_too_large" {
            &payload[..64 * 1024] // stored payloads are capped at 64 KiB
        } else {
            &payload[..]
        };
        assert_eq!(
            r.payload.len(),
            want_payload.len(),
            "{reason}: payload length"
        );
        assert!(
            r.payload == want_payload,
            "{reason}: the raw payload is stored"
        );
        let want_device = match *reason {
            "bad_topic" => None,
            "unknown_device" => Some(ghost.clone()),
            _ => Some(device.clone()),
        };
        assert_eq!(r.device_id, want_device, "{reason}");
        if env.private_broker() {
            assert_eq!(gw.rejects(reason), 1, "{reason}: counted in metrics");
        } else {
            // Other tests' traffic on the shared broker reaches this gateway too.
            assert!(gw.rejects(reason) >= 1, "{reason}: counted in metrics");
        }
    }
    assert_eq!(env.telemetry_rows().await, 0);
    if env.private_broker() {
        assert_eq!(gw.readings("rejected"), total as u64);
    }
    gw.stop().await;

    // Same client id, same database: anything not acknowledged would be redelivered now.
    let again = env.gateway_with(&client_id, settings).await;
    // The marker goes out on a new connection. On the endpoint the old one ended with the
    // gateway; a request rumqttc holds when it notices that goes into its session state, which
    // it clears when the next CONNACK has no session present, so the marker could be lost in
    // the publisher instead of testing the gateway.
    drop(publisher);
    let publisher = env.publisher().await;
    let marker = at(t, 60);
    publisher
        .publish(&topic, native(&[fix(marker, 48.2, 11.6)]))
        .await;
    env.wait_count("SELECT COUNT(*) FROM telemetry", 1).await;
    let mut stored = Vec::new();
    for (reason, _, _) in &cases {
        for r in env.own_rejects(reason).await {
            stored.push(format!("{} {} {}", r.received_at, r.reason, r.topic));
        }
    }
    assert_eq!(
        stored.len() as i64,
        total,
        "nothing redelivered; stored rejects:\n{}",
        stored.join("\n")
    );
    if env.private_broker() {
        assert_eq!(again.readings("rejected"), 0);
    }
    assert_eq!(again.applied(), 1);
    again.stop().await;
}

/// Regression: the former embedded broker's (rumqttd's) `max_payload_size` once equalled the decoder's
/// 256 KiB limit, so a payload over the limit never reached the gateway to be stored as a
/// `payload_too_large` reject: the broker closed the publisher's connection and a tracker with a
/// persistent session resent it forever. The endpoint that replaced it must not do the same
/// (`EndpointSettings::max_packet_size` is above the decoder's limit).
mod oversized {
    use super::*;
    use domain::testing::Fixture;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_broker_hands_oversized_payloads_to_the_decoder() {
        let env = Env::<Embedded>::open(domain::Backend::Sqlite)
            .await
            .unwrap();
        let (_, device, gw, publisher) = env.one_tracker("big").await;
        let mut payload = native(&[fix(base_time(), 48.1, 11.5)]);
        payload.resize(300 * 1024, b' ');
        publisher.publish(&telemetry_topic(&device), payload).await;
        env.wait_count(&env.own_rejects_sql(), 1).await;
        assert_eq!(gw.rejects("payload_too_large"), 1);
        gw.stop().await;
    }
}
