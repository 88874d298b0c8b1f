//! Stocktake sessions: snapshot, scan bursts (dedupe, replay, unknown codes, concurrency),
//! the report's classification, completion and resolutions — each scenario on SQLite and
//! PostgreSQL (`sqlite::…` and `postgres::…`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::Entity;
use mobile_shared::ErrorCode;
use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use domain::stocktake::{self, StocktakeFilter};
use domain::testing::{assert_conflict, assert_not_found, TestDb};
use domain::{assets, audit, identifiers, Actor, DomainError, PageRequest};
use mobile_shared::stocktake::{
    NewStocktake, Resolution, ResolveFinding, ScanBurstResult, StocktakeStatus, MAX_SCAN_CODES,
};
use mobile_shared::wire::{Asset, AssetPatch, AuditSource, NewAsset, NewIdentifier};
use mobile_shared::{AssetStatus, IdentifierKind, Role};
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    expected_set_is_a_snapshot_of_the_site,
    unknown_site_names_site_id,
    report_classifies_found_missing_unexpected_wrong_location,
    rfid_burst_with_repeats_is_deduplicated,
    replaying_a_burst_changes_only_reads,
    unknown_and_ambiguous_codes_are_kept,
    set_based_resolution_agrees_with_resolve,
    concurrent_scanners_see_each_asset_once,
    completed_stocktake_refuses_scans,
    move_here_records_the_asset_at_the_site,
    mark_lost_goes_through_the_transition_table,
    resolutions_apply_only_to_matching_findings,
    list_filters_and_pages,
    bursts_are_validated,
);

fn actor() -> Actor {
    Actor::user(Uuid::now_v7(), "tech", Role::Technician, AuditSource::Api)
}

async fn site(db: &TestDb, name: &str) -> Uuid {
    db.add_site(name).await
}

async fn asset_at(db: &TestDb, code: &str, site_id: Option<Uuid>) -> Asset {
    assets::create(
        &db.store,
        &actor(),
        NewAsset {
            code: code.into(),
            name: format!("Machine {code}"),
            site_id,
            ..NewAsset::default()
        },
    )
    .await
    .unwrap()
}

async fn tag(db: &TestDb, asset: &Asset, kind: IdentifierKind, value: &str) {
    identifiers::add(
        &db.store,
        &actor(),
        asset.id,
        NewIdentifier {
            kind,
            value: value.into(),
        },
    )
    .await
    .unwrap();
}

/// Assets `code(0)`, `code(1)`, … at `site_id`, asset `i` tagged with the RFID EPC `epc(i)`.
async fn rfid_assets(db: &TestDb, site_id: Uuid, n: usize, code: impl Fn(usize) -> String) {
    for i in 0..n {
        let a = asset_at(db, &code(i), Some(site_id)).await;
        tag(db, &a, IdentifierKind::RfidEpc, &epc(i)).await;
    }
}

/// A scan burst that must be accepted.
async fn scan(db: &TestDb, id: Uuid, burst: &[String]) -> ScanBurstResult {
    stocktake::scan(&db.store, &actor(), id, burst)
        .await
        .unwrap()
}

async fn start(db: &TestDb, site_id: Uuid) -> Uuid {
    stocktake::start(&db.store, &actor(), NewStocktake { site_id })
        .await
        .unwrap()
        .id
}

fn codes(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn epc(i: usize) -> String {
    format!("E280{i:020X}")
}

fn ids(list: &[Asset]) -> BTreeSet<String> {
    list.iter().map(|a| a.code.clone()).collect()
}

fn set(codes: &[&str]) -> BTreeSet<String> {
    codes.iter().map(|c| (*c).to_owned()).collect()
}

async fn audit_count(db: &TestDb, action: &str) -> i64 {
    db.count(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}'"
    ))
    .await
}

async fn expected_set_is_a_snapshot_of_the_site(db: TestDb) {
    let here = site(&db, "Yard").await;
    let there = site(&db, "Other").await;
    let a = asset_at(&db, "EX-1", Some(here)).await;
    asset_at(&db, "EX-2", Some(here)).await;
    let gone = asset_at(&db, "EX-3", Some(here)).await;
    asset_at(&db, "EX-4", Some(there)).await;
    asset_at(&db, "EX-5", None).await;
    assets::delete(&db.store, &actor(), gone.id).await.unwrap();

    let st = stocktake::start(&db.store, &actor(), NewStocktake { site_id: here })
        .await
        .unwrap();
    assert_eq!(st.status, StocktakeStatus::Open);
    assert_eq!(st.site_id, here);
    assert_eq!(st.started_by, "tech");
    assert_eq!(
        st.expected_count, 2,
        "deleted and elsewhere are not expected"
    );
    assert_eq!((st.seen_count, st.unknown_count), (0, 0));
    assert_eq!(st.completed_at, None);
    assert_eq!(stocktake::get(&db.store, st.id).await.unwrap(), st);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'stocktake.start' AND entity = 'stocktake' AND actor = 'tech' AND after IS NOT NULL").await,
        1
    );

    // Later changes at the site do not change what this stocktake expects.
    asset_at(&db, "EX-6", Some(here)).await;
    assets::update(
        &db.store,
        &actor(),
        a.id,
        AssetPatch {
            version: a.version,
            site_id: Some(Some(there)),
            ..AssetPatch::default()
        },
    )
    .await
    .unwrap();
    let again = stocktake::get(&db.store, st.id).await.unwrap();
    assert_eq!(again.expected_count, 2);
    let report = stocktake::report(&db.store, st.id).await.unwrap();
    assert_eq!(ids(&report.missing), set(&["EX-1", "EX-2"]));
    // A second stocktake of the site sees the new state.
    let st2 = stocktake::start(&db.store, &actor(), NewStocktake { site_id: here })
        .await
        .unwrap();
    assert_eq!(st2.expected_count, 2, "EX-2 and EX-6");
}

async fn unknown_site_names_site_id(db: TestDb) {
    let err = stocktake::start(
        &db.store,
        &actor(),
        NewStocktake {
            site_id: Uuid::now_v7(),
        },
    )
    .await
    .unwrap_err();
    match err {
        DomainError::Validation(fields) => assert!(fields.contains_key("site_id"), "{fields:?}"),
        other => panic!("expected a validation error, got {other:?}"),
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM stocktakes").await, 0);
    let err = stocktake::get(&db.store, Uuid::now_v7()).await.unwrap_err();
    assert_not_found(&err, Entity::Stocktake);
}

async fn report_classifies_found_missing_unexpected_wrong_location(db: TestDb) {
    let here = site(&db, "Yard").await;
    let there = site(&db, "Other").await;
    let e1 = asset_at(&db, "EX-1", Some(here)).await;
    let e2 = asset_at(&db, "EX-2", Some(here)).await;
    asset_at(&db, "EX-3", Some(here)).await;
    let w = asset_at(&db, "WL-1", Some(there)).await;
    asset_at(&db, "UN-1", None).await;
    asset_at(&db, "NOT-SCANNED", Some(there)).await;
    tag(&db, &e2, IdentifierKind::Qr, "QR-LABEL-E2").await;
    let id = start(&db, here).await;
    // Arrived after the start and recorded here: seen and recorded here counts as found.
    asset_at(&db, "LATE-1", Some(here)).await;

    let r = stocktake::scan(
        &db.store,
        &actor(),
        id,
        &codes(&[
            "ex-1",
            "QR-LABEL-E2",
            "https://fleet.example.com/a/WL-1",
            "UN-1",
            "LATE-1",
            "NO-SUCH-THING",
        ]),
    )
    .await
    .unwrap();
    assert_eq!(r.accepted, 6);
    assert_eq!(r.new_assets, 5);
    assert_eq!(r.repeats, 0);
    assert_eq!(r.unknown, vec!["NO-SUCH-THING".to_owned()]);

    let rep = stocktake::report(&db.store, id).await.unwrap();
    assert_eq!(ids(&rep.found), set(&["EX-1", "EX-2", "LATE-1"]));
    assert_eq!(ids(&rep.missing), set(&["EX-3"]));
    assert_eq!(ids(&rep.unexpected), set(&["UN-1"]));
    assert_eq!(rep.wrong_location.len(), 1);
    assert_eq!(rep.wrong_location[0].asset.id, w.id);
    assert_eq!(rep.wrong_location[0].recorded_site_id, there);
    assert_eq!(rep.unknown_codes.len(), 1);
    assert_eq!(rep.unknown_codes[0].value, "NO-SUCH-THING");
    assert_eq!(rep.unknown_codes[0].reads, 1);
    assert_eq!(rep.stocktake.expected_count, 3);
    assert_eq!(rep.stocktake.seen_count, 5);
    assert_eq!(rep.stocktake.unknown_count, 1);
    // Assets read back exactly as the registry has them.
    let found_e1 = rep.found.iter().find(|a| a.id == e1.id).unwrap();
    assert_eq!(found_e1, &assets::get(&db.store, e1.id).await.unwrap());
}

async fn rfid_burst_with_repeats_is_deduplicated(db: TestDb) {
    let here = site(&db, "Yard").await;
    rfid_assets(&db, here, 100, |i| format!("RF-{i:03}")).await;
    let id = start(&db, here).await;
    // 500 reads of 90 tags: each read several times, some in lower case or with separators as
    // readers print them, interleaved like a real inventory round.
    let mut burst = Vec::new();
    for round in 0..6 {
        for i in 0..90 {
            if burst.len() == 500 {
                break;
            }
            let e = epc((i * 7 + round) % 90);
            burst.push(match round {
                1 => e.to_lowercase(),
                2 => format!("0x{e}"),
                _ => e,
            });
        }
    }
    assert_eq!(burst.len(), 500);
    let r = scan(&db, id, &burst).await;
    assert_eq!(r.accepted, 500);
    assert_eq!(r.new_assets, 90);
    assert_eq!(r.repeats, 410);
    assert!(r.unknown.is_empty(), "{:?}", r.unknown);
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM stocktake_seen", 90),
        ("SELECT CAST(SUM(reads) AS BIGINT) FROM stocktake_seen", 500),
    ])
    .await;
    assert_eq!(
        audit_count(&db, "stocktake.scan").await,
        1,
        "one entry per burst"
    );
    let rep = stocktake::report(&db.store, id).await.unwrap();
    assert_eq!(rep.found.len(), 90);
    assert_eq!(
        ids(&rep.missing),
        (90..100).map(|i| format!("RF-{i:03}")).collect()
    );
}

async fn replaying_a_burst_changes_only_reads(db: TestDb) {
    let here = site(&db, "Yard").await;
    rfid_assets(&db, here, 10, |i| format!("RP-{i}")).await;
    let id = start(&db, here).await;
    let mut burst: Vec<String> = (0..10).map(epc).collect();
    burst.extend((0..5).map(epc));
    burst.push("FFFF0000FFFF0000".into());
    burst.push("FFFF0000FFFF0000".into());
    let first = scan(&db, id, &burst).await;
    assert_eq!(
        (first.accepted, first.new_assets, first.repeats),
        (17, 10, 5)
    );
    assert_eq!(first.unknown, vec!["FFFF0000FFFF0000".to_owned()]);
    let seen_before = seen_rows(&db).await;

    let replay = scan(&db, id, &burst).await;
    assert_eq!(
        (replay.accepted, replay.new_assets, replay.repeats),
        (17, 0, 15)
    );
    assert_eq!(replay.unknown, first.unknown);
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM stocktake_seen", 10),
        ("SELECT COUNT(*) FROM stocktake_unknown", 1),
        ("SELECT CAST(SUM(reads) AS BIGINT) FROM stocktake_seen", 30),
        (
            "SELECT CAST(SUM(reads) AS BIGINT) FROM stocktake_unknown",
            4,
        ),
    ])
    .await;
    assert_eq!(
        seen_rows(&db).await,
        seen_before,
        "who saw what first, and when, is kept"
    );
    let st = stocktake::get(&db.store, id).await.unwrap();
    assert_eq!((st.seen_count, st.unknown_count), (10, 1));
}

/// Who first saw each asset and when, by asset.
async fn seen_rows(db: &TestDb) -> Vec<(Uuid, String, DateTime<Utc>)> {
    db.rows("SELECT asset_id, seen_by, first_seen_at FROM stocktake_seen ORDER BY asset_id")
        .await
}

async fn unknown_and_ambiguous_codes_are_kept(db: TestDb) {
    let here = site(&db, "Yard").await;
    let x = asset_at(&db, "X-1", Some(here)).await;
    let y = asset_at(&db, "Y-1", Some(here)).await;
    // The same text is a QR label on one machine and a barcode on another: ambiguous.
    tag(&db, &x, IdentifierKind::Qr, "SHARED-LABEL").await;
    tag(&db, &y, IdentifierKind::Barcode, "SHARED-LABEL").await;
    // A code wins over a tag, as in `resolve`.
    tag(&db, &y, IdentifierKind::Qr, "X-1").await;
    let id = start(&db, here).await;
    let r = stocktake::scan(
        &db.store,
        &actor(),
        id,
        &codes(&["SHARED-LABEL", " zz-404 ", "ZZ-404", "X-1", "zz-404"]),
    )
    .await
    .unwrap();
    assert_eq!(r.new_assets, 1);
    assert_eq!(r.repeats, 0);
    assert_eq!(
        r.unknown,
        vec![
            "SHARED-LABEL".to_owned(),
            "zz-404".to_owned(),
            "ZZ-404".to_owned()
        ],
        "distinct trimmed values, in the order first sent"
    );
    let rep = stocktake::report(&db.store, id).await.unwrap();
    assert_eq!(ids(&rep.found), set(&["X-1"]));
    assert_eq!(ids(&rep.missing), set(&["Y-1"]));
    let unknown: Vec<(String, i64)> = rep
        .unknown_codes
        .iter()
        .map(|u| (u.value.clone(), u.reads))
        .collect();
    assert_eq!(
        unknown,
        vec![
            ("SHARED-LABEL".to_owned(), 1),
            ("ZZ-404".to_owned(), 1),
            ("zz-404".to_owned(), 2)
        ]
    );
}

async fn set_based_resolution_agrees_with_resolve(db: TestDb) {
    let here = site(&db, "Yard").await;
    let a = asset_at(&db, "EX-0042", Some(here)).await;
    let b = asset_at(&db, "EX-0043", Some(here)).await;
    let c = asset_at(&db, "EX-0044", None).await;
    let d = asset_at(&db, "EX-0045", None).await;
    tag(&db, &a, IdentifierKind::RfidEpc, "3034257BF7194E4000001A85").await;
    tag(&db, &b, IdentifierKind::NfcUid, "04:A2:24:5A:7B:3C:80").await;
    tag(&db, &c, IdentifierKind::Barcode, "4006381333931").await;
    tag(&db, &d, IdentifierKind::Qr, "LBL 77").await;
    tag(&db, &a, IdentifierKind::Qr, "TWIN").await;
    tag(&db, &d, IdentifierKind::Barcode, "TWIN").await;
    let removed = asset_at(&db, "EX-0046", None).await;
    tag(&db, &removed, IdentifierKind::Qr, "OLD-LABEL").await;
    assets::delete(&db.store, &actor(), removed.id)
        .await
        .unwrap();
    let values = [
        "ex-0042",
        "https://fleet.example.com/a/EX-0043",
        "https://x.example/resolve?code=ex-0044",
        "3034257bf7194e4000001a85",
        "urn:epc:tag:sgtin-96:3.0614141.812345.6789",
        "04a2245a7b3c80",
        "04:A2:24:5A:7B:3C:80",
        "4006381333931",
        "LBL 77",
        "TWIN",
        "OLD-LABEL",
        "EX-0046",
        "nothing",
        "]C14006381333931",
    ];
    let id = start(&db, here).await;
    let burst = codes(&values);
    scan(&db, id, &burst).await;
    let mut want_seen = BTreeSet::new();
    let mut want_unknown = BTreeSet::new();
    for v in values {
        match identifiers::resolve(&db.store, v).await {
            Ok(r) => {
                want_seen.insert(r.asset.code);
            }
            Err(DomainError::NotFound { .. } | DomainError::Conflict { .. }) => {
                want_unknown.insert(v.trim().to_owned());
            }
            Err(e) => panic!("{v}: {e:?}"),
        }
    }
    let rep = stocktake::report(&db.store, id).await.unwrap();
    let mut got_seen = ids(&rep.found);
    got_seen.extend(ids(&rep.unexpected));
    got_seen.extend(rep.wrong_location.iter().map(|w| w.asset.code.clone()));
    assert_eq!(got_seen, want_seen);
    let got_unknown: BTreeSet<String> = rep.unknown_codes.into_iter().map(|u| u.value).collect();
    assert_eq!(got_unknown, want_unknown);
    assert!(want_unknown.contains("TWIN") && want_unknown.contains("OLD-LABEL"));
}

async fn concurrent_scanners_see_each_asset_once(db: TestDb) {
    let here = site(&db, "Yard").await;
    rfid_assets(&db, here, 60, |i| format!("CC-{i:02}")).await;
    let id = start(&db, here).await;
    let mut total_new = 0;
    let mut total_reads = 0;
    for round in 0..3 {
        let mut tasks = Vec::new();
        for k in 0..4usize {
            let store = db.store.clone();
            // Overlapping windows, each read twice, in a different order per task.
            let mut burst: Vec<String> = (0..30).map(|j| epc((k * 10 + j + round) % 60)).collect();
            burst.extend(burst.clone());
            if k % 2 == 1 {
                burst.reverse();
            }
            total_reads += burst.len();
            tasks.push(tokio::spawn(async move {
                stocktake::scan(&store, &actor(), id, &burst).await
            }));
        }
        for t in tasks {
            let r = t.await.unwrap().unwrap();
            assert!(r.unknown.is_empty());
            assert_eq!(r.new_assets + r.repeats, 60);
            total_new += r.new_assets;
        }
    }
    let distinct = db.count("SELECT COUNT(*) FROM stocktake_seen").await;
    assert_eq!(distinct, 60, "the windows cover every asset");
    assert_eq!(total_new, 60, "each asset is new to exactly one burst");
    assert_eq!(
        db.count("SELECT CAST(SUM(reads) AS BIGINT) FROM stocktake_seen")
            .await,
        total_reads as i64
    );
}

async fn completed_stocktake_refuses_scans(db: TestDb) {
    let here = site(&db, "Yard").await;
    asset_at(&db, "EX-1", Some(here)).await;
    asset_at(&db, "EX-2", Some(here)).await;
    let id = start(&db, here).await;
    scan(&db, id, &codes(&["EX-1"])).await;
    let rep = stocktake::complete(&db.store, &actor(), id).await.unwrap();
    assert_eq!(rep.stocktake.status, StocktakeStatus::Completed);
    let completed_at = rep.stocktake.completed_at.expect("completed_at");
    assert!(completed_at >= rep.stocktake.started_at);
    assert_eq!(ids(&rep.found), set(&["EX-1"]));
    assert_eq!(ids(&rep.missing), set(&["EX-2"]));

    let err = stocktake::scan(&db.store, &actor(), id, &codes(&["EX-2"]))
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::StocktakeClosed, "a scan after completion");
    assert_eq!(db.count("SELECT COUNT(*) FROM stocktake_seen").await, 1);
    // Completing again answers the same report and writes nothing.
    let again = stocktake::complete(&db.store, &actor(), id).await.unwrap();
    assert_eq!(again, rep);
    assert_eq!(audit_count(&db, "stocktake.complete").await, 1);
    let err = stocktake::complete(&db.store, &actor(), Uuid::now_v7())
        .await
        .unwrap_err();
    assert_not_found(&err, Entity::Stocktake);
}

async fn move_here_records_the_asset_at_the_site(db: TestDb) {
    let here = site(&db, "Yard").await;
    let there = site(&db, "Other").await;
    let w = asset_at(&db, "WL-1", Some(there)).await;
    let u = asset_at(&db, "UN-1", None).await;
    let id = start(&db, here).await;
    scan(&db, id, &codes(&["WL-1", "UN-1"])).await;
    stocktake::complete(&db.store, &actor(), id).await.unwrap();

    for before in [&w, &u] {
        let after = stocktake::resolve(
            &db.store,
            &actor(),
            id,
            ResolveFinding {
                asset_id: before.id,
                resolution: Resolution::MoveHere,
            },
        )
        .await
        .unwrap();
        assert_eq!(after.site_id, Some(here));
        assert_eq!(after.version, before.version + 1);
        assert_eq!(after.status, before.status);
        assert_eq!(assets::get(&db.store, before.id).await.unwrap(), after);
        let log = db
            .audit(audit::AuditFilter {
                entity: Some("asset".into()),
                entity_id: Some(before.id),
                action: Some("asset.update".into()),
                ..Default::default()
            })
            .await;
        assert_eq!(log.len(), 1);
        assert_eq!(
            log[0].before.as_ref().unwrap()["site_id"],
            serde_json::json!(before.site_id)
        );
        assert_eq!(
            log[0].after.as_ref().unwrap()["site_id"],
            serde_json::json!(here)
        );
    }
    assert_eq!(audit_count(&db, "stocktake.resolve").await, 2);
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'stocktake.resolve' \
             AND entity = 'stocktake' AND actor = 'tech'"
        )
        .await,
        2
    );
    let rep = stocktake::report(&db.store, id).await.unwrap();
    assert_eq!(
        ids(&rep.found),
        set(&["WL-1", "UN-1"]),
        "resolved findings are found"
    );
    assert!(rep.wrong_location.is_empty() && rep.unexpected.is_empty());

    // A retry answers the asset unchanged and writes nothing.
    let again = stocktake::resolve(
        &db.store,
        &actor(),
        id,
        ResolveFinding {
            asset_id: w.id,
            resolution: Resolution::MoveHere,
        },
    )
    .await
    .unwrap();
    assert_eq!(again.version, w.version + 1);
    assert_eq!(audit_count(&db, "stocktake.resolve").await, 2);
}

async fn mark_lost_goes_through_the_transition_table(db: TestDb) {
    let here = site(&db, "Yard").await;
    let missing = asset_at(&db, "MS-1", Some(here)).await;
    let in_shop = asset_at(&db, "MS-2", Some(here)).await;
    let in_shop = assets::update(
        &db.store,
        &actor(),
        in_shop.id,
        AssetPatch {
            version: in_shop.version,
            status: Some(AssetStatus::InMaintenance),
            ..AssetPatch::default()
        },
    )
    .await
    .unwrap();
    let id = start(&db, here).await;
    let lost = stocktake::resolve(
        &db.store,
        &actor(),
        id,
        ResolveFinding {
            asset_id: missing.id,
            resolution: Resolution::MarkLost,
        },
    )
    .await
    .unwrap();
    assert_eq!(lost.status, AssetStatus::Lost);
    assert_eq!(lost.site_id, Some(here), "the recorded site is kept");
    assert_eq!(lost.version, missing.version + 1);
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'asset.update' AND entity = 'asset'"
        )
        .await,
        2,
        "the in_maintenance patch and the resolution"
    );
    assert_eq!(audit_count(&db, "stocktake.resolve").await, 1);

    // in_maintenance -> lost is not in the table: 409 with the current state, nothing written.
    let err = stocktake::resolve(
        &db.store,
        &actor(),
        id,
        ResolveFinding {
            asset_id: in_shop.id,
            resolution: Resolution::MarkLost,
        },
    )
    .await
    .unwrap_err();
    match err {
        DomainError::Conflict {
            code: ErrorCode::IllegalTransition,
            detail: Some(detail),
            ..
        } => assert_eq!(detail["current_status"], "in_maintenance"),
        other => panic!("expected illegal_transition, got {other:?}"),
    }
    assert_eq!(
        assets::get(&db.store, in_shop.id).await.unwrap(),
        in_shop,
        "unchanged"
    );
    assert_eq!(audit_count(&db, "stocktake.resolve").await, 1);
}

async fn resolutions_apply_only_to_matching_findings(db: TestDb) {
    let here = site(&db, "Yard").await;
    let there = site(&db, "Other").await;
    let seen = asset_at(&db, "SN-1", Some(here)).await;
    let unseen_elsewhere = asset_at(&db, "EL-1", Some(there)).await;
    let id = start(&db, here).await;
    scan(&db, id, &codes(&["SN-1"])).await;
    for (asset, resolution) in [
        (&seen, Resolution::MarkLost),
        (&unseen_elsewhere, Resolution::MarkLost),
        (&unseen_elsewhere, Resolution::MoveHere),
    ] {
        let err = stocktake::resolve(
            &db.store,
            &actor(),
            id,
            ResolveFinding {
                asset_id: asset.id,
                resolution,
            },
        )
        .await
        .unwrap_err();
        let case = format!("{resolution:?} {}", asset.code);
        assert_conflict(&err, ErrorCode::ResolutionNotApplicable, &case);
    }
    let err = stocktake::resolve(
        &db.store,
        &actor(),
        id,
        ResolveFinding {
            asset_id: Uuid::now_v7(),
            resolution: Resolution::MoveHere,
        },
    )
    .await
    .unwrap_err();
    assert_not_found(&err, Entity::Asset);
    let err = stocktake::resolve(
        &db.store,
        &actor(),
        Uuid::now_v7(),
        ResolveFinding {
            asset_id: seen.id,
            resolution: Resolution::MoveHere,
        },
    )
    .await
    .unwrap_err();
    assert_not_found(&err, Entity::Stocktake);
    assert_eq!(audit_count(&db, "stocktake.resolve").await, 0);
    assert_eq!(audit_count(&db, "asset.update").await, 0);
}

fn page(limit: u32) -> PageRequest {
    PageRequest::new(Some(limit), None).unwrap()
}

async fn list_filters_and_pages(db: TestDb) {
    let a = site(&db, "A").await;
    let b = site(&db, "B").await;
    let s1 = start(&db, a).await;
    let s2 = start(&db, b).await;
    let s3 = start(&db, a).await;
    stocktake::complete(&db.store, &actor(), s1).await.unwrap();

    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let p = PageRequest::new(Some(2), cursor.as_deref()).unwrap();
        let got = stocktake::list(&db.store, &StocktakeFilter::default(), p)
            .await
            .unwrap();
        all.extend(got.items.iter().map(|s| s.id));
        match got.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(all, vec![s1, s2, s3]);
    let at_a = stocktake::list(
        &db.store,
        &StocktakeFilter {
            site_id: Some(a),
            status: None,
        },
        page(10),
    )
    .await
    .unwrap();
    assert_eq!(
        at_a.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![s1, s3]
    );
    let open_at_a = stocktake::list(
        &db.store,
        &StocktakeFilter {
            site_id: Some(a),
            status: Some(StocktakeStatus::Open),
        },
        page(10),
    )
    .await
    .unwrap();
    assert_eq!(
        open_at_a.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![s3]
    );
    let completed = stocktake::list(
        &db.store,
        &StocktakeFilter {
            site_id: None,
            status: Some(StocktakeStatus::Completed),
        },
        page(10),
    )
    .await
    .unwrap();
    assert_eq!(completed.items.len(), 1);
    assert!(completed.items[0].completed_at.is_some());
}

async fn bursts_are_validated(db: TestDb) {
    let here = site(&db, "Yard").await;
    let id = start(&db, here).await;
    for (burst, field) in [
        (Vec::new(), "codes"),
        (vec!["EX-1".to_owned(); MAX_SCAN_CODES + 1], "codes"),
        (codes(&["EX-1", "   "]), "codes[1]"),
        (codes(&["EX-1", "bad\u{7}text"]), "codes[1]"),
    ] {
        let err = stocktake::scan(&db.store, &actor(), id, &burst)
            .await
            .unwrap_err();
        match err {
            DomainError::Validation(fields) => {
                assert!(fields.contains_key(field), "{field}: {fields:?}")
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }
    let max: Vec<String> = (0..MAX_SCAN_CODES).map(epc).collect();
    let r = scan(&db, id, &max).await;
    assert_eq!(r.accepted, MAX_SCAN_CODES);
    assert_eq!(r.unknown.len(), MAX_SCAN_CODES);
    let err = stocktake::scan(&db.store, &actor(), Uuid::now_v7(), &codes(&["EX-1"]))
        .await
        .unwrap_err();
    assert_not_found(&err, Entity::Stocktake);
    let distinct: HashSet<String> = max.into_iter().collect();
    assert_eq!(
        db.count("SELECT COUNT(*) FROM stocktake_unknown").await,
        distinct.len() as i64
    );
}
