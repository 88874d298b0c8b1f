//! Tracker MQTT credentials: stored in Mosquitto's `$7$` format, legacy argon2 rows still
//! accepted (and rewritten on first use), lines written by the real `mosquitto_passwd` accepted,
//! and the Mosquitto export. Each scenario runs on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::testing::TestDb;
use domain::{devices, secrets, DomainError};
use mobile_shared::wire::DeviceCreated;

async fn add(db: &TestDb, id: &str) -> DeviceCreated {
    db.add_device(id, None).await
}

async fn stored_hash(db: &TestDb, id: &str) -> String {
    db.scalar(&format!(
        "SELECT mqtt_password_hash FROM devices WHERE device_id = '{id}'"
    ))
    .await
}

async fn set_hash(db: &TestDb, id: &str, hash: &str) {
    assert!(!hash.contains('\''), "{hash}");
    let n = db
        .execute(&format!(
            "UPDATE devices SET mqtt_password_hash = '{hash}' WHERE device_id = '{id}'"
        ))
        .await;
    assert_eq!(n, 1);
}

async fn verify(db: &TestDb, id: &str, password: &str) -> bool {
    devices::verify_credentials(&db.store, id, password)
        .await
        .unwrap()
}

async fn new_devices_store_mosquitto_hashes(db: TestDb) {
    let d = add(&db, "trk-1").await;
    let hash = stored_hash(&db, "trk-1").await;
    assert!(hash.starts_with("$7$101$"), "{hash}");
    assert_eq!(hash.split('$').count(), 5, "{hash}");
    assert!(!hash.contains(&d.mqtt_password));
    assert!(verify(&db, "trk-1", &d.mqtt_password).await);
    assert!(!verify(&db, "trk-1", "wrong").await);
    assert!(!verify(&db, "trk-1", "").await);
    assert!(!verify(&db, "trk-2", &d.mqtt_password).await);
    // The hash is left alone by a successful check.
    assert_eq!(stored_hash(&db, "trk-1").await, hash);
}

async fn legacy_argon2_hashes_verify_and_are_rewritten(db: TestDb) {
    add(&db, "old-1").await;
    let legacy = secrets::hash_password("legacy-token".into()).await.unwrap();
    assert!(legacy.starts_with("$argon2id$"));
    set_hash(&db, "old-1", &legacy).await;

    // A wrong password neither verifies nor touches the row.
    assert!(!verify(&db, "old-1", "legacy-tokem").await);
    assert_eq!(stored_hash(&db, "old-1").await, legacy);

    assert!(verify(&db, "old-1", "legacy-token").await);
    let upgraded = stored_hash(&db, "old-1").await;
    assert!(upgraded.starts_with("$7$"), "{upgraded}");
    assert!(verify(&db, "old-1", "legacy-token").await);
    assert!(!verify(&db, "old-1", "wrong").await);
}

async fn mosquitto_passwd_lines_verify(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    let status = std::process::Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(&file)
        .args(["trk-m", "from-mosquitto"])
        .status();
    let Ok(status) = status else {
        domain::testing::skip_or_fail(
            "mosquitto_passwd_lines_verify",
            "install mosquitto_passwd (Debian package mosquitto)",
        );
        return;
    };
    assert!(status.success());
    let text = std::fs::read_to_string(&file).unwrap();
    let (user, hash) = text.trim_end().split_once(':').unwrap();
    assert_eq!(user, "trk-m");
    assert!(hash.starts_with("$7$"), "{hash}");

    add(&db, "trk-m").await;
    set_hash(&db, "trk-m", hash).await;
    assert!(verify(&db, "trk-m", "from-mosquitto").await);
    assert!(!verify(&db, "trk-m", "from-mosquittO").await);
}

async fn export_writes_mosquitto_lines_and_skips_what_it_cannot(db: TestDb) {
    let a = add(&db, "trk-a").await;
    add(&db, "alice/phone").await;
    add(&db, "odd:id").await;
    add(&db, "trk-legacy").await;
    let legacy = secrets::hash_password("x".into()).await.unwrap();
    set_hash(&db, "trk-legacy", &legacy).await;

    let export = devices::mosquitto_password_file(&db.store, Some(("gw", "gw-secret")))
        .await
        .unwrap();
    assert_eq!(export.exported, 2);
    assert_eq!(export.legacy, ["trk-legacy"]);
    assert_eq!(export.unrepresentable, ["odd:id"]);
    let lines: Vec<&str> = export.text.lines().collect();
    assert_eq!(lines.len(), 3, "{}", export.text);
    let find = |user: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{user}:")))
            .unwrap_or_else(|| panic!("no line for {user}"))
            .to_owned()
    };
    assert!(secrets::verify_mosquitto_hash("gw-secret", &find("gw")));
    assert_eq!(find("trk-a"), stored_hash(&db, "trk-a").await);
    assert!(secrets::verify_mosquitto_hash(
        &a.mqtt_password,
        &find("trk-a")
    ));
    assert!(find("alice/phone").starts_with("$7$"));

    // Without a gateway: only trackers.
    let bare = devices::mosquitto_password_file(&db.store, None)
        .await
        .unwrap();
    assert_eq!(bare.text.lines().count(), 2);

    // The gateway's name may not shadow a tracker, nor be unrepresentable.
    for bad in ["trk-a", "a:b", "", "two words"] {
        let e = devices::mosquitto_password_file(&db.store, Some((bad, "p")))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, DomainError::Validation(f) if f.contains_key("gateway_user")),
            "{bad}: {e:?}"
        );
    }
    let e = devices::mosquitto_password_file(&db.store, Some(("gw", "")))
        .await
        .unwrap_err();
    assert!(matches!(e, DomainError::Validation(_)));
}

domain::backend_matrix!(
    TestDb:
    new_devices_store_mosquitto_hashes,
    legacy_argon2_hashes_verify_and_are_rewritten,
    mosquitto_passwd_lines_verify,
    export_writes_mosquitto_lines_and_skips_what_it_cannot,
);

#[test]
fn acl_confines_trackers_to_their_own_id() {
    let acl = devices::mosquitto_acl(Some("gw"));
    let lines: Vec<&str> = acl
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert_eq!(
        lines,
        [
            "user gw",
            "topic read fieldops/v1/#",
            "topic read owntracks/#",
            "topic read $share/fieldops/#",
            "pattern write fieldops/v1/%u/#",
            "pattern write owntracks/%u/#",
        ]
    );
    let bare = devices::mosquitto_acl(None);
    assert!(!bare.lines().any(|l| l.starts_with("user ")));
    assert!(bare.contains("pattern write fieldops/v1/%u/#"));
}
