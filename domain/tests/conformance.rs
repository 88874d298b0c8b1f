//! Store conformance suite: small named scenarios, each asserting what changed in the database,
//! run against SQLite and PostgreSQL alike (`sqlite::…` and `postgres::…`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use domain::assets::AssetFilter;
use domain::testing::{assert_conflict, TestDb};
use domain::{
    assets, audit, categories, devices, identifiers, sites, users, Actor, DomainError, PageRequest,
};
use mobile_shared::wire::{
    Asset, AssetPatch, AuditSource, Geofence, Identifier, LatLon, NewAsset, NewCategory, NewDevice,
    NewIdentifier, NewSite, NewUser, SiteKind,
};
use mobile_shared::ErrorCode;
use mobile_shared::{AssetStatus, IdentifierKind, Role};
use uuid::Uuid;

fn actor() -> Actor {
    Actor::user(Uuid::now_v7(), "tester", Role::Admin, AuditSource::Api)
}

fn asset(code: &str) -> NewAsset {
    NewAsset {
        code: code.into(),
        name: format!("Machine {code}"),
        ..NewAsset::default()
    }
}

/// Creates the asset `code` (named after it) and returns it.
async fn create(db: &TestDb, code: &str) -> Asset {
    assets::create(&db.store, &actor(), asset(code))
        .await
        .unwrap()
}

/// Tags an asset.
async fn tag(db: &TestDb, asset_id: Uuid, kind: IdentifierKind, value: &str) -> Identifier {
    let new = NewIdentifier {
        kind,
        value: value.into(),
    };
    identifiers::add(&db.store, &actor(), asset_id, new)
        .await
        .unwrap()
}

fn page(limit: u32) -> PageRequest {
    PageRequest::new(Some(limit), None).unwrap()
}

async fn site(db: &TestDb, name: &str) -> Uuid {
    db.add_site(name).await
}

async fn create_asset_writes_row_and_audit(db: TestDb) {
    let a = create(&db, " ex-0042 ").await;
    assert_eq!(a.code, "EX-0042");
    assert_eq!(a.status, AssetStatus::Available);
    assert_eq!(a.version, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM assets").await, 1);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'asset.create' AND actor = 'tester' AND source = 'api' AND before IS NULL AND after IS NOT NULL").await,
        1
    );
    let read = assets::get(&db.store, a.id).await.unwrap();
    assert_eq!(
        read, a,
        "what was written reads back identically (times included)"
    );
}

async fn duplicate_code_is_a_conflict_and_writes_nothing(db: TestDb) {
    create(&db, "EX-1").await;
    let err = assets::create(&db.store, &actor(), asset("ex-1"))
        .await
        .unwrap_err();
    assert_conflict(
        &err,
        ErrorCode::DuplicateCode,
        "the same code in lower case",
    );
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM assets", 1),
        ("SELECT COUNT(*) FROM audit_log", 1),
    ])
    .await;
}

async fn update_bumps_version_and_audits_before_after(db: TestDb) {
    let a = create(&db, "EX-2").await;
    let patch = AssetPatch {
        version: 1,
        name: Some("Big excavator".into()),
        make: Some(Some("CAT".into())),
        engine_hours: Some(12.5),
        ..AssetPatch::default()
    };
    let b = assets::update(&db.store, &actor(), a.id, patch)
        .await
        .unwrap();
    assert_eq!(b.version, 2);
    assert_eq!(b.make.as_deref(), Some("CAT"));
    assert_eq!(b.engine_hours, Some(12.5));
    let log = db
        .audit(audit::AuditFilter {
            action: Some("asset.update".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].before.as_ref().unwrap()["version"], 1);
    assert_eq!(log[0].after.as_ref().unwrap()["version"], 2);
    // Clearing a field with null.
    let c = assets::update(
        &db.store,
        &actor(),
        a.id,
        AssetPatch {
            version: 2,
            make: Some(None),
            ..AssetPatch::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(c.make, None);
}

async fn stale_version_is_a_conflict_and_changes_nothing(db: TestDb) {
    let a = create(&db, "EX-3").await;
    let ok = AssetPatch {
        version: 1,
        name: Some("first".into()),
        ..AssetPatch::default()
    };
    assets::update(&db.store, &actor(), a.id, ok).await.unwrap();
    let stale = AssetPatch {
        version: 1,
        name: Some("second".into()),
        ..AssetPatch::default()
    };
    let err = assets::update(&db.store, &actor(), a.id, stale)
        .await
        .unwrap_err();
    match err {
        DomainError::Conflict { code, detail, .. } => {
            assert_eq!(code, ErrorCode::VersionConflict);
            assert_eq!(detail.unwrap()["current_version"], 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(assets::get(&db.store, a.id).await.unwrap().name, "first");
}

async fn illegal_transition_is_refused(db: TestDb) {
    let a = create(&db, "EX-4").await;
    let retire = AssetPatch {
        version: 1,
        status: Some(AssetStatus::Retired),
        ..AssetPatch::default()
    };
    assets::update(&db.store, &actor(), a.id, retire)
        .await
        .unwrap();
    let back = AssetPatch {
        version: 2,
        status: Some(AssetStatus::Available),
        ..AssetPatch::default()
    };
    let err = assets::update(&db.store, &actor(), a.id, back)
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::IllegalTransition, "retired -> available");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM assets WHERE status = 'retired'")
            .await,
        1
    );
}

async fn invalid_fields_are_all_reported(db: TestDb) {
    let bad = NewAsset {
        code: "EX 5".into(),
        name: "  ".into(),
        engine_hours: Some(-1.0),
        home_site_id: Some(Uuid::now_v7()),
        category: Some("no such".into()),
        useful_life_months: Some(0),
        ..NewAsset::default()
    };
    match assets::create(&db.store, &actor(), bad).await.unwrap_err() {
        DomainError::Validation(f) => {
            for field in [
                "code",
                "name",
                "engine_hours",
                "home_site_id",
                "site_id",
                "category",
                "useful_life_months",
            ] {
                assert!(f.contains_key(field), "{field} missing from {f:?}");
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM assets").await, 0);
}

async fn list_filters_and_pages(db: TestDb) {
    let depot = site(&db, "North depot").await;
    categories::create(
        &db.store,
        &actor(),
        NewCategory {
            name: "Generator".into(),
            description: None,
        },
    )
    .await
    .unwrap();
    for i in 0..7 {
        let mut n = asset(&format!("GEN-{i}"));
        n.category = Some("Generator".into());
        n.home_site_id = (i % 2 == 0).then_some(depot);
        n.serial = Some(format!("SN-100%-{i}"));
        assets::create(&db.store, &actor(), n).await.unwrap();
    }
    create(&db, "EX-9").await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let p = PageRequest::new(Some(3), cursor.as_deref()).unwrap();
        let got = assets::list(&db.store, &AssetFilter::default(), p)
            .await
            .unwrap();
        sizes.push(got.items.len());
        seen.extend(got.items.iter().map(|a| a.id));
        match got.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(sizes, vec![3, 3, 2]);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 8);

    let count = |filter: AssetFilter| {
        let store = db.store.clone();
        async move {
            assets::list(&store, &filter, page(100))
                .await
                .unwrap()
                .items
                .len()
        }
    };
    let by_site = AssetFilter {
        site_id: Some(depot),
        ..Default::default()
    };
    assert_eq!(count(by_site).await, 4);
    let by_cat = |c: &str| AssetFilter {
        category: Some(c.into()),
        ..Default::default()
    };
    assert_eq!(count(by_cat("Generator")).await, 7);
    assert_eq!(count(by_cat("Nope")).await, 0);
    let by_q = |q: &str| AssetFilter {
        q: Some(q.into()),
        ..Default::default()
    };
    assert_eq!(count(by_q("gen-")).await, 7);
    assert_eq!(count(by_q("100%")).await, 7);
    assert_eq!(
        count(by_q("10_%")).await,
        0,
        "LIKE wildcards match literally"
    );
    assert_eq!(count(by_q("machine ex")).await, 1);
    let on_rent = AssetFilter {
        status: Some(AssetStatus::OnRent),
        ..Default::default()
    };
    assert_eq!(count(on_rent).await, 0);
}

async fn identifiers_unique_while_active_and_history_kept(db: TestDb) {
    let a = create(&db, "EX-10").await;
    let b = create(&db, "EX-11").await;
    let nfc = IdentifierKind::NfcUid;
    let uid = "04:a2:24:1b:c3:5e:80";
    let t = tag(&db, a.id, nfc, uid).await;
    assert_eq!(t.value, "04A2241BC35E80");
    let new = || NewIdentifier {
        kind: nfc,
        value: uid.into(),
    };
    let err = identifiers::add(&db.store, &actor(), b.id, new())
        .await
        .unwrap_err();
    match err {
        DomainError::Conflict { code, detail, .. } => {
            assert_eq!(code, ErrorCode::IdentifierInUse);
            assert_eq!(detail.unwrap()["asset_id"], a.id.to_string());
        }
        other => panic!("{other:?}"),
    }
    // Move the tag: remove from a, add to b.
    identifiers::remove(&db.store, &actor(), a.id, t.id)
        .await
        .unwrap();
    tag(&db, b.id, nfc, uid).await;
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM asset_identifiers", 2),
        (
            "SELECT COUNT(*) FROM asset_identifiers WHERE removed_at IS NULL",
            1,
        ),
    ])
    .await;
    let hist = identifiers::list_for_asset(&db.store, a.id, true)
        .await
        .unwrap();
    assert_eq!(hist.len(), 1);
    assert!(!hist[0].active);
    assert!(identifiers::list_for_asset(&db.store, a.id, false)
        .await
        .unwrap()
        .is_empty());
    // Removing twice is not found.
    let err = identifiers::remove(&db.store, &actor(), a.id, t.id)
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::NotFound { .. }));
    // Bad values are validation errors.
    let bad = NewIdentifier {
        kind: IdentifierKind::Imei,
        value: "490154203237517".into(),
    };
    assert!(matches!(
        identifiers::add(&db.store, &actor(), a.id, bad)
            .await
            .unwrap_err(),
        DomainError::Validation(_)
    ));
    assert_eq!(
        db.count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'identifier.%'")
            .await,
        3
    );
}

async fn resolve_by_code_identifier_and_url(db: TestDb) {
    let a = create(&db, "EX-0042").await;
    tag(
        &db,
        a.id,
        IdentifierKind::RfidEpc,
        "3034257BF400B7800004CB2F",
    )
    .await;
    for (text, matched) in [
        ("ex-0042", "code"),
        ("3034 257b f400 b780 0004 cb2f", "rfid_epc"),
        ("https://fleet.example.com/a/EX-0042", "code"),
    ] {
        let r = identifiers::resolve(&db.store, text).await.unwrap();
        assert_eq!(
            (r.asset.id, r.matched.kind.as_str()),
            (a.id, matched),
            "{text}"
        );
    }
    assert!(matches!(
        identifiers::resolve(&db.store, "EX-404").await.unwrap_err(),
        DomainError::NotFound { .. }
    ));
}

async fn delete_is_soft_frees_code_and_deactivates_tags(db: TestDb) {
    let a = create(&db, "EX-12").await;
    tag(&db, a.id, IdentifierKind::Qr, "LABEL-12").await;
    db.add_device("trk-12", Some(a.id)).await;
    assets::delete(&db.store, &actor(), a.id).await.unwrap();
    assert!(matches!(
        assets::get(&db.store, a.id).await.unwrap_err(),
        DomainError::NotFound { .. }
    ));
    db.assert_counts(&[
        // The row is kept.
        ("SELECT COUNT(*) FROM assets", 1),
        (
            "SELECT COUNT(*) FROM asset_identifiers WHERE removed_at IS NULL",
            0,
        ),
        ("SELECT COUNT(*) FROM devices WHERE asset_id IS NULL", 1),
        (
            "SELECT COUNT(*) FROM device_bindings WHERE unbound_at IS NOT NULL",
            1,
        ),
    ])
    .await;
    create(&db, "EX-12").await;
}

async fn users_login_sessions_and_logout(db: TestDb) {
    let u = users::create(
        &db.store,
        &actor(),
        NewUser {
            username: "Alice".into(),
            password: "correct horse battery".into(),
            role: Role::Technician,
            email: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(u.username, "alice");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM users WHERE password_hash LIKE '$argon2id$%'")
            .await,
        1
    );
    let dup = users::create(
        &db.store,
        &actor(),
        NewUser {
            username: "alice".into(),
            password: "another password".into(),
            role: Role::Viewer,
            email: None,
        },
    )
    .await
    .unwrap_err();
    assert_conflict(&dup, ErrorCode::UsernameTaken, "alice again");
    let short = users::create(
        &db.store,
        &actor(),
        NewUser {
            username: "bob".into(),
            password: "short".into(),
            role: Role::Viewer,
            email: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(short, DomainError::Validation(f) if f.contains_key("password")));

    let session = login(&db, "ALICE", "correct horse battery", Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(session.user.role, Role::Technician);
    // Only the token's hash is stored.
    let stored = format!(
        "SELECT COUNT(*) FROM sessions WHERE token_hash = '{}'",
        domain::secrets::token_hash(&session.token)
    );
    assert_eq!(db.count(&stored).await, 1);
    let me = users::authenticate(&db.store, &session.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(me.id, u.id);
    assert!(matches!(
        login(&db, "alice", "wrong password!", Duration::hours(1)).await,
        Err(DomainError::InvalidCredentials)
    ));
    assert!(matches!(
        login(&db, "nobody", "whatever123", Duration::hours(1)).await,
        Err(DomainError::InvalidCredentials)
    ));
    users::logout(&db.store, &session.token).await.unwrap();
    assert!(users::authenticate(&db.store, &session.token)
        .await
        .unwrap()
        .is_none());
    // An expired session does not authenticate.
    let expired = login(&db, "alice", "correct horse battery", Duration::seconds(-1))
        .await
        .unwrap();
    assert!(users::authenticate(&db.store, &expired.token)
        .await
        .unwrap()
        .is_none());
}

/// A password login under the default policy with sessions of `ttl`, from no known address.
async fn login(
    db: &TestDb,
    username: &str,
    password: &str,
    ttl: Duration,
) -> Result<mobile_shared::wire::LoginResponse, DomainError> {
    let req = mobile_shared::wire::LoginRequest::new(username, password);
    let policy = users::LoginPolicy::with_ttl(ttl);
    users::login(&db.store, &req, None, &policy, domain::clock::now()).await
}

async fn first_admin_is_created_once(db: TestDb) {
    let generated = users::ensure_first_admin(&db.store, None).await.unwrap();
    let pw = generated.expect("a generated password");
    assert!(pw.len() >= 20);
    assert!(users::ensure_first_admin(&db.store, None)
        .await
        .unwrap()
        .is_none());
    assert_eq!(db.count("SELECT COUNT(*) FROM users").await, 1);
    assert!(login(&db, "admin", &pw, Duration::hours(1)).await.is_ok());
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'user.create' AND source = 'system'"
        )
        .await,
        1
    );
}

async fn devices_store_only_a_password_hash(db: TestDb) {
    let a = create(&db, "EX-13").await;
    let d = devices::create(
        &db.store,
        &actor(),
        NewDevice {
            device_id: "trk-1".into(),
            asset_id: Some(a.id),
        },
    )
    .await
    .unwrap();
    assert!(d.mqtt_password.len() >= 20);
    let plain = format!(
        "SELECT COUNT(*) FROM devices WHERE mqtt_password_hash = '{}'",
        d.mqtt_password
    );
    assert_eq!(db.count(&plain).await, 0);
    assert!(
        devices::verify_credentials(&db.store, "trk-1", &d.mqtt_password)
            .await
            .unwrap()
    );
    assert!(!devices::verify_credentials(&db.store, "trk-1", "nope")
        .await
        .unwrap());
    assert!(
        !devices::verify_credentials(&db.store, "trk-2", &d.mqtt_password)
            .await
            .unwrap()
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM device_bindings").await, 1);
    let new = |id: &str, asset_id: Option<Uuid>| NewDevice {
        device_id: id.into(),
        asset_id,
    };
    let dup = devices::create(&db.store, &actor(), new("trk-1", None))
        .await
        .unwrap_err();
    assert_conflict(&dup, ErrorCode::DeviceExists, "trk-1 again");
    let bad = devices::create(&db.store, &actor(), new("trk 1", None))
        .await
        .unwrap_err();
    assert!(matches!(bad, DomainError::Validation(_)));
    let missing = devices::create(&db.store, &actor(), new("trk-3", Some(Uuid::now_v7())))
        .await
        .unwrap_err();
    assert!(matches!(missing, DomainError::Validation(f) if f.contains_key("asset_id")));
}

async fn sites_store_geofences_and_reject_bad_ones(db: TestDb) {
    let circle = Geofence::Circle {
        center: LatLon {
            lat: 48.1,
            lon: 11.5,
        },
        radius_m: 250.0,
    };
    let new = |name: &str, kind: SiteKind, geofence: Geofence| NewSite {
        name: name.into(),
        kind,
        customer_id: None,
        address: Some("Main St 1".into()),
        location: None,
        geofence: Some(geofence),
    };
    let s = sites::create(
        &db.store,
        &actor(),
        new("Customer A", SiteKind::CustomerSite, circle.clone()),
    )
    .await
    .unwrap();
    assert_eq!(
        sites::get(&db.store, s.id).await.unwrap().geofence,
        Some(circle)
    );
    let bad_fences = [
        Geofence::Circle {
            center: LatLon {
                lat: 91.0,
                lon: 0.0,
            },
            radius_m: 10.0,
        },
        Geofence::Circle {
            center: LatLon { lat: 1.0, lon: 1.0 },
            radius_m: 0.0,
        },
        Geofence::Polygon {
            points: vec![LatLon { lat: 1.0, lon: 1.0 }, LatLon { lat: 2.0, lon: 2.0 }],
        },
    ];
    for bad in bad_fences {
        let err = sites::create(&db.store, &actor(), new("Bad", SiteKind::Depot, bad))
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Validation(_)), "{err:?}");
    }
    let depots = sites::list(&db.store, Some(SiteKind::Depot), page(10))
        .await
        .unwrap();
    assert!(depots.items.is_empty());
    assert_eq!(db.count("SELECT COUNT(*) FROM sites").await, 1);
}

async fn foreign_key_errors_map_by_kind(db: TestDb) {
    // Bypass the service's own reference checks to prove the backstop: the database's
    // foreign-key error is classified by kind, on both backends.
    let sql = format!(
        "INSERT INTO asset_identifiers (id, asset_id, kind, value, created_at, created_by) \
         VALUES ('{}', '{}', 'qr', 'x', '{}', 't')",
        Uuid::now_v7(),
        Uuid::now_v7(),
        chrono::Utc::now().to_rfc3339(),
    );
    let err = DomainError::from(db.try_execute(&sql).await.unwrap_err());
    assert!(
        matches!(err, DomainError::InvalidReference { .. }),
        "{err:?}"
    );
}

domain::backend_matrix!(
    TestDb:
    create_asset_writes_row_and_audit,
    duplicate_code_is_a_conflict_and_writes_nothing,
    update_bumps_version_and_audits_before_after,
    stale_version_is_a_conflict_and_changes_nothing,
    illegal_transition_is_refused,
    invalid_fields_are_all_reported,
    list_filters_and_pages,
    identifiers_unique_while_active_and_history_kept,
    resolve_by_code_identifier_and_url,
    delete_is_soft_frees_code_and_deactivates_tags,
    users_login_sessions_and_logout,
    first_admin_is_created_once,
    devices_store_only_a_password_hash,
    sites_store_geofences_and_reject_bad_ones,
    foreign_key_errors_map_by_kind,
);
