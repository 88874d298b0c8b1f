//! [`DeviceAuth`], which decides who may connect to the embedded endpoint: a registered tracker
//! with its own password; successful checks are cached for a while, failures never. Runs on
//! SQLite and PostgreSQL (the check reads the devices table).
//!
//! What a refused CONNECT looks like on the wire (unknown device, wrong password, no
//! credentials) is tested in `endpoint.rs` (`wrong_credentials_and_unsupported_versions_are_refused`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use domain::testing::TestDb;
use iot_gateway::DeviceAuth;

/// Bound on waiting for a cache entry to expire.
const DEADLINE: Duration = Duration::from_secs(20);

/// Whether the check lets `username` in (an error, the database away, refuses).
async fn admits(auth: &DeviceAuth, username: &str, password: &str) -> bool {
    matches!(auth.verify("client", username, password).await, Ok(true))
}

async fn registered_trackers_with_their_password_get_in(db: TestDb) {
    let trk = db.add_device("trk-1", None).await;
    let other = db.add_device("trk-2", None).await;
    let auth = DeviceAuth::new(db.store.clone());
    assert!(matches!(
        auth.verify("c", "trk-1", &trk.mqtt_password).await,
        Ok(true)
    ));
    for (user, password, why) in [
        ("trk-1", "wrong", "wrong password"),
        ("nobody", trk.mqtt_password.as_str(), "unknown device"),
        (
            "trk-1",
            other.mqtt_password.as_str(),
            "another device's password",
        ),
        ("trk-1", "", "empty password"),
        ("", "", "no credentials"),
    ] {
        assert!(
            matches!(auth.verify("c", user, password).await, Ok(false)),
            "{why}: refused, not an error"
        );
    }
}

async fn successes_are_cached_failures_are_not(db: TestDb) {
    let trk = db.add_device("trk-c", None).await;
    let cached = DeviceAuth::new(db.store.clone());
    let uncached = cached.cache_ttl(Duration::ZERO);
    assert!(admits(&cached, "trk-c", &trk.mqtt_password).await);
    assert!(admits(&uncached, "trk-c", &trk.mqtt_password).await);
    assert!(!admits(&cached, "trk-c", "wrong").await);

    // With the database gone, only a remembered success still gets in: that is what keeps a
    // reconnect storm off the database. Failures were never remembered, and an error refuses.
    db.store.close().await;
    assert!(admits(&cached, "trk-c", &trk.mqtt_password).await);
    assert!(
        uncached
            .verify("c", "trk-c", &trk.mqtt_password)
            .await
            .is_err(),
        "without a cache the check needs the database"
    );
    assert!(cached.verify("c", "trk-c", "wrong").await.is_err());
    assert!(!admits(&cached, "trk-other", &trk.mqtt_password).await);
}

/// A remembered success counts for the cache's lifetime only: a deleted device, or one whose
/// password changed, is asked about again once it expires.
async fn cached_successes_expire(db: TestDb) {
    let trk = db.add_device("trk-t", None).await;
    let ttl = Duration::from_millis(300);
    let auth = DeviceAuth::with_ttl(db.store.clone(), ttl);
    let checked = Instant::now();
    assert!(admits(&auth, "trk-t", &trk.mqtt_password).await);
    db.store.close().await;
    // Within the lifetime (given the check above took less than it): still admitted.
    if checked.elapsed() < ttl {
        assert!(admits(&auth, "trk-t", &trk.mqtt_password).await);
    }
    // After it the database is asked again, and it is gone: refused.
    let deadline = Instant::now() + DEADLINE;
    while admits(&auth, "trk-t", &trk.mqtt_password).await {
        assert!(
            Instant::now() < deadline,
            "a cached success outlived its lifetime of {ttl:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        checked.elapsed() >= ttl,
        "expired after {:?}, before its lifetime of {ttl:?}",
        checked.elapsed()
    );
}

domain::backend_matrix!(
    TestDb:
    registered_trackers_with_their_password_get_in,
    successes_are_cached_failures_are_not,
    cached_successes_expire,
);
