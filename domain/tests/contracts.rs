//! Contracts on SQLite and PostgreSQL: drafts and their validation, gapless numbers, bookings
//! refused on overlap (at creation and at signing, with the conflicting booking), maintenance
//! blocks, exactly one winner among concurrent signings of one asset, ending and terminating,
//! the sales scope, the availability query, renewals (frozen customers, approvals, the chain).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod contracts_common;

use contracts_common::*;
use domain::contracts::{self, availability, lifecycle, renewals};
use domain::customers::Scope;
use domain::testing::{assert_conflict, assert_not_found, TestDb};
use domain::{Actor, DomainError, Entity, PageRequest};
use mobile_shared::contracts::{
    ApprovalKind, ContractFilter, ContractPatch, ContractStatus, EndContract, NewApproval,
    NewBlock, NewContractLine, RateChange, RatePeriod, RenewContract, TerminateContract,
};
use mobile_shared::{ErrorCode, Role};
use uuid::Uuid;

domain::backend_matrix!(
    TestDb:
    drafts_are_numbered_read_listed_and_audited,
    bad_drafts_name_their_fields_and_write_nothing,
    a_failed_creation_leaves_no_gap_in_the_numbers,
    concurrent_creations_take_consecutive_numbers,
    overlaps_are_refused_at_creation_and_at_signing,
    maintenance_blocks_keep_contracts_off,
    concurrent_signings_of_one_asset_have_one_winner,
    only_drafts_are_signed_or_changed,
    ending_and_terminating_release_the_bookings,
    sales_see_only_their_customers_contracts,
    availability_counts_the_free_assets,
    renewals_need_an_unfrozen_customer_and_both_approvals,
);

async fn office(db: &TestDb) -> Actor {
    add_user(db, "office", Role::RentalOffice).await
}

fn page() -> PageRequest {
    PageRequest::new(Some(500), None).unwrap()
}

fn fields(err: &DomainError) -> Vec<String> {
    match err {
        DomainError::Validation(f) => f.keys().cloned().collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

async fn drafts_are_numbered_read_listed_and_audited(db: TestDb) {
    let actor = office(&db).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let other = add_customer(&db, "Other", None, None).await;
    let category = add_category(&db, "Excavators").await;
    let asset = add_asset(&db, "EX-1", Some(category)).await;
    let mut new = draft(customer, 1, 30, vec![asset_line(asset, 12_000)]);
    new.lines.push(NewContractLine {
        asset_id: None,
        category_id: Some(category),
        quantity: Some(2),
        rate_cents: 90_000,
        rate_period: RatePeriod::Month,
    });
    let first = contracts::create(&db.store, &actor, new).await.unwrap();
    let year = chrono::Utc::now().format("%Y");
    assert_eq!(first.number, format!("C-{year}-000001"));
    assert_eq!(first.status, ContractStatus::Draft);
    assert_eq!(first.currency, "EUR", "the customer's currency");
    assert_eq!(first.customer_id, customer);
    assert_eq!(first.lines.len(), 2);
    assert_eq!(first.lines[0].asset_id, Some(asset));
    assert_eq!(
        (first.lines[1].category_id, first.lines[1].quantity),
        (Some(category), 2)
    );
    let second = contracts::create(&db.store, &actor, draft(other, 40, 50, vec![]))
        .await
        .unwrap();
    assert_eq!(second.number, format!("C-{year}-000002"));

    let got = contracts::get(&db.store, Scope::All, first.id)
        .await
        .unwrap();
    assert_eq!(got, first);
    let mine = ContractFilter {
        customer_id: Some(customer),
        ..Default::default()
    };
    let listed = contracts::list(&db.store, Scope::All, &mine, page())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![first.clone()]);
    let ending_late = ContractFilter {
        ends_after: Some(day(45)),
        status: Some(ContractStatus::Draft),
        ..Default::default()
    };
    let listed = contracts::list(&db.store, Scope::All, &ending_late, page())
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        [second.id]
    );
    let signed_only = ContractFilter {
        status: Some(ContractStatus::Signed),
        ..Default::default()
    };
    let none = contracts::list(&db.store, Scope::All, &signed_only, page())
        .await
        .unwrap();
    assert!(none.items.is_empty());
    db.assert_counts(&[(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'contract.create'",
        2,
    )])
    .await;
}

async fn bad_drafts_name_their_fields_and_write_nothing(db: TestDb) {
    let actor = office(&db).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let other = add_customer(&db, "Other", None, None).await;
    let category = add_category(&db, "Lifts").await;
    let asset = add_asset(&db, "L-1", Some(category)).await;
    let yard = db.add_site("Other's yard").await;
    db.execute(&format!(
        "UPDATE sites SET customer_id = {} WHERE id = {}",
        lit(&db, other),
        lit(&db, yard)
    ))
    .await;
    db.execute(&format!(
        "UPDATE customers SET deleted_at = '2026-01-02T00:00:00Z' WHERE id = {}",
        lit(&db, other)
    ))
    .await;

    let mut end_before_start = draft(customer, 10, 5, vec![asset_line(asset, 1)]);
    end_before_start.site_id = Some(yard);
    let both = NewContractLine {
        category_id: Some(category),
        ..asset_line(asset, 1)
    };
    let no_quantity = NewContractLine {
        asset_id: None,
        category_id: Some(category),
        quantity: None,
        rate_cents: 1,
        rate_period: RatePeriod::Week,
    };
    let negative = asset_line(Uuid::now_v7(), -1);
    let cases = [
        (end_before_start, vec!["ends_on", "site_id"]),
        (draft(other, 1, 2, vec![]), vec!["customer_id"]),
        (draft(Uuid::now_v7(), 1, 2, vec![]), vec!["customer_id"]),
        (
            draft(customer, 1, 2, vec![both, no_quantity, negative]),
            vec![
                "lines[0].asset_id",
                "lines[1].quantity",
                "lines[2].asset_id",
                "lines[2].rate_cents",
            ],
        ),
        (
            draft(
                customer,
                1,
                2,
                vec![asset_line(asset, 1), asset_line(asset, 2)],
            ),
            vec!["lines[1].asset_id"],
        ),
    ];
    for (new, want) in cases {
        let err = contracts::create(&db.store, &actor, new).await.unwrap_err();
        assert_eq!(fields(&err), want);
    }
    db.assert_counts(&[
        ("SELECT COUNT(*) FROM contracts", 0),
        ("SELECT COUNT(*) FROM contract_lines", 0),
        ("SELECT COUNT(*) FROM contract_numbers", 0),
        (
            "SELECT COUNT(*) FROM audit_log WHERE entity = 'contract'",
            0,
        ),
    ])
    .await;
}

async fn a_failed_creation_leaves_no_gap_in_the_numbers(db: TestDb) {
    let actor = office(&db).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let asset = add_asset(&db, "G-1", None).await;
    let first = signed(&db, &actor, customer, asset, 0, 10).await;
    let err = contracts::create(
        &db.store,
        &actor,
        draft(customer, 5, 20, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap_err();
    assert_eq!(conflicting(&err)["contract_id"], first.id.to_string());
    let next = contracts::create(
        &db.store,
        &actor,
        draft(customer, 11, 20, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap();
    assert_eq!(
        next.number.rsplit('-').next(),
        Some("000002"),
        "{} then {}",
        first.number,
        next.number
    );
    db.assert_counts(&[(
        "SELECT CAST(MAX(last_seq) AS BIGINT) FROM contract_numbers",
        2,
    )])
    .await;
}

async fn concurrent_creations_take_consecutive_numbers(db: TestDb) {
    const N: usize = 8;
    let actor = office(&db).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (store, actor) = (db.store.clone(), actor.clone());
            tokio::spawn(async move {
                contracts::create(&store, &actor, draft(customer, 1, 2, vec![])).await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        let c = t.await.unwrap().unwrap();
        seqs.push(
            c.number
                .rsplit('-')
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap(),
        );
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=N).collect::<Vec<_>>(), "no gap, no duplicate");
}

async fn overlaps_are_refused_at_creation_and_at_signing(db: TestDb) {
    let actor = office(&db).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let asset = add_asset(&db, "O-1", None).await;
    // Drafts book nothing: both exist, and the first signed takes the asset.
    let early = contracts::create(
        &db.store,
        &actor,
        draft(customer, 0, 9, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap();
    let late = contracts::create(
        &db.store,
        &actor,
        draft(customer, 9, 20, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap();
    let early = lifecycle::sign(&db.store, &actor, early.id).await.unwrap();
    assert_eq!(
        early.status,
        ContractStatus::Expiring,
        "started today, and inside the warning window"
    );
    let err = lifecycle::sign(&db.store, &actor, late.id)
        .await
        .unwrap_err();
    let booking = conflicting(&err);
    assert_eq!(booking["contract_id"], early.id.to_string());
    assert_eq!(booking["kind"], "contract");
    assert_eq!(booking["ends_on"], day(9).to_string());
    let still = contracts::get(&db.store, Scope::All, late.id)
        .await
        .unwrap();
    assert_eq!(still.status, ContractStatus::Draft, "nothing half-written");
    // The day after is free: inclusive days on both ends.
    contracts::create(
        &db.store,
        &actor,
        draft(customer, 10, 20, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap();
    let err = contracts::create(
        &db.store,
        &actor,
        draft(customer, 9, 9, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap_err();
    conflicting(&err);
    db.assert_counts(&[(
        "SELECT COUNT(*) FROM asset_bookings WHERE released_at IS NULL",
        1,
    )])
    .await;
}

async fn maintenance_blocks_keep_contracts_off(db: TestDb) {
    let planner = add_user(&db, "planner", Role::MaintenancePlanner).await;
    let actor = office(&db).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let asset = add_asset(&db, "M-1", None).await;
    let block = NewBlock {
        starts_on: day(5),
        ends_on: day(6),
        reason: "annual inspection".into(),
    };
    let block = availability::create_block(&db.store, &planner, asset, block)
        .await
        .unwrap();
    // Renting into the maintenance window: refused at creation, with the block.
    let err = contracts::create(
        &db.store,
        &actor,
        draft(customer, 0, 5, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap_err();
    let booking = conflicting(&err);
    assert_eq!(booking["id"], block.id.to_string());
    assert_eq!(booking["kind"], "maintenance");
    // A block over a signed contract is refused too.
    let c = signed(&db, &actor, customer, asset, 10, 12).await;
    let over = NewBlock {
        starts_on: day(12),
        ends_on: day(13),
        reason: "x".into(),
    };
    let err = availability::create_block(&db.store, &planner, asset, over)
        .await
        .unwrap_err();
    assert_eq!(conflicting(&err)["contract_id"], c.id.to_string());
    // Bad blocks name their fields; unknown assets are not found.
    let bad = NewBlock {
        starts_on: day(3),
        ends_on: day(2),
        reason: " ".into(),
    };
    let err = availability::create_block(&db.store, &planner, asset, bad.clone())
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["ends_on", "reason"]);
    let fine = NewBlock {
        ends_on: day(3),
        reason: "r".into(),
        ..bad
    };
    let err = availability::create_block(&db.store, &planner, Uuid::now_v7(), fine)
        .await
        .unwrap_err();
    assert_not_found(&err, Entity::Asset);
    // Released, the window is free again; releasing twice is a conflict.
    availability::release_block(&db.store, &planner, asset, block.id)
        .await
        .unwrap();
    let err = availability::release_block(&db.store, &planner, asset, block.id)
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::IllegalTransition, "release twice");
    contracts::create(
        &db.store,
        &actor,
        draft(customer, 0, 5, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap();
    let listed = availability::blocks(&db.store, asset).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].released_at.is_some());
}

async fn concurrent_signings_of_one_asset_have_one_winner(db: TestDb) {
    const N: usize = 8;
    let actor = office(&db).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let asset = add_asset(&db, "C-1", None).await;
    let mut ids = Vec::new();
    for i in 0..N as i64 {
        // Every period overlaps every other (they all hold day 10).
        let c = contracts::create(
            &db.store,
            &actor,
            draft(customer, i, 10 + i, vec![asset_line(asset, 1)]),
        )
        .await
        .unwrap();
        ids.push(c.id);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(N));
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (store, actor, id, barrier) =
                (db.store.clone(), actor.clone(), *id, barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                (id, lifecycle::sign(&store, &actor, id).await)
            })
        })
        .collect();
    let mut won = Vec::new();
    let mut lost = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (id, Ok(_)) => won.push(id),
            (id, Err(e)) => lost.push((id, e)),
        }
    }
    assert_eq!(won.len(), 1, "exactly one signing wins: {lost:?}");
    for (_, err) in &lost {
        assert_eq!(conflicting(err)["contract_id"], won[0].to_string());
    }
    db.assert_counts(&[
        (
            "SELECT COUNT(*) FROM asset_bookings WHERE released_at IS NULL",
            1,
        ),
        (
            "SELECT COUNT(*) FROM contracts WHERE status = 'draft'",
            N as i64 - 1,
        ),
    ])
    .await;
}

async fn only_drafts_are_signed_or_changed(db: TestDb) {
    let actor = office(&db).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let asset = add_asset(&db, "S-1", None).await;
    let empty = contracts::create(&db.store, &actor, draft(customer, 1, 2, vec![]))
        .await
        .unwrap();
    let err = lifecycle::sign(&db.store, &actor, empty.id)
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["lines"]);
    let c = contracts::create(&db.store, &actor, draft(customer, 1, 20, vec![]))
        .await
        .unwrap();
    // A stale version is refused; a current one changes the draft.
    let stale = ContractPatch {
        version: c.version + 1,
        ..Default::default()
    };
    let err = contracts::update(&db.store, &actor, c.id, stale)
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::VersionConflict, "stale patch");
    let patch = ContractPatch {
        version: c.version,
        ends_on: Some(day(30)),
        deposit_cents: Some(-5),
        ..Default::default()
    };
    let err = contracts::update(&db.store, &actor, c.id, patch.clone())
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["deposit_cents"]);
    let patch = ContractPatch {
        deposit_cents: Some(7),
        ..patch
    };
    let c = contracts::update(&db.store, &actor, c.id, patch)
        .await
        .unwrap();
    assert_eq!((c.ends_on, c.deposit_cents, c.version), (day(30), 7, 2));
    let c = contracts::add_line(&db.store, &actor, c.id, asset_line(asset, 5))
        .await
        .unwrap();
    assert_eq!(c.lines[0].line_no, 1);
    let signed = lifecycle::sign(&db.store, &actor, c.id).await.unwrap();
    assert_eq!(signed.status, ContractStatus::Signed, "starts tomorrow");
    assert_eq!(signed.signed_by, actor.user_id);
    let err = lifecycle::sign(&db.store, &actor, c.id).await.unwrap_err();
    assert_conflict(&err, ErrorCode::IllegalTransition, "sign twice");
    let patch = ContractPatch {
        version: signed.version,
        notes: Some(Some("late".into())),
        ..Default::default()
    };
    let err = contracts::update(&db.store, &actor, c.id, patch)
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::IllegalTransition, "patch signed");
    let err = contracts::add_line(&db.store, &actor, c.id, asset_line(asset, 5))
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::IllegalTransition, "line on signed");
    let err = lifecycle::sign(&db.store, &actor, Uuid::now_v7())
        .await
        .unwrap_err();
    assert_not_found(&err, Entity::Contract);
}

async fn ending_and_terminating_release_the_bookings(db: TestDb) {
    let actor = office(&db).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let asset = add_asset(&db, "E-1", None).await;
    let c = signed(&db, &actor, customer, asset, 0, 10).await;
    let err = lifecycle::end(
        &db.store,
        &actor,
        c.id,
        EndContract {
            ends_on: Some(day(11)),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(fields(&err), ["ends_on"]);
    let ended = lifecycle::end(
        &db.store,
        &actor,
        c.id,
        EndContract {
            ends_on: Some(day(3)),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (ended.status, ended.ends_on),
        (ContractStatus::Ended, day(3))
    );
    // Day 3 is still taken, day 4 is free.
    let err = contracts::create(
        &db.store,
        &actor,
        draft(customer, 3, 5, vec![asset_line(asset, 1)]),
    )
    .await
    .unwrap_err();
    conflicting(&err);
    let next = signed(&db, &actor, customer, asset, 4, 30).await;
    let err = lifecycle::end(&db.store, &actor, c.id, EndContract::default())
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::IllegalTransition, "end twice");

    let err = lifecycle::terminate(
        &db.store,
        &actor,
        next.id,
        TerminateContract {
            reason: "  ".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(fields(&err), ["reason"]);
    let gone = lifecycle::terminate(
        &db.store,
        &actor,
        next.id,
        TerminateContract {
            reason: "customer site closed".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(gone.status, ContractStatus::Terminated);
    assert_eq!(
        gone.termination_reason.as_deref(),
        Some("customer site closed")
    );
    // Its future bookings are released: the asset rents again from tomorrow.
    signed(&db, &actor, customer, asset, 5, 8).await;
    let err = lifecycle::terminate(
        &db.store,
        &actor,
        next.id,
        TerminateContract {
            reason: "again".into(),
        },
    )
    .await
    .unwrap_err();
    assert_conflict(&err, ErrorCode::IllegalTransition, "terminate twice");
    db.assert_counts(&[
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'contract.end'",
            1,
        ),
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'contract.terminate'",
            1,
        ),
    ])
    .await;
}

async fn sales_see_only_their_customers_contracts(db: TestDb) {
    let actor = office(&db).await;
    let sales = add_user(&db, "sam", Role::Sales).await;
    let theirs = add_customer(&db, "Sam's", sales.user_id, None).await;
    let others = add_customer(&db, "Not Sam's", None, None).await;
    let mine = contracts::create(&db.store, &actor, draft(theirs, 1, 2, vec![]))
        .await
        .unwrap();
    let not = contracts::create(&db.store, &actor, draft(others, 1, 2, vec![]))
        .await
        .unwrap();
    let scope = Scope::of_actor(&sales);
    assert_eq!(
        contracts::get(&db.store, scope, mine.id).await.unwrap().id,
        mine.id
    );
    let err = contracts::get(&db.store, scope, not.id).await.unwrap_err();
    assert_not_found(&err, Entity::Contract);
    let listed = contracts::list(&db.store, scope, &ContractFilter::default(), page())
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        [mine.id]
    );
    let err = renewals::approvals(&db.store, scope, not.id)
        .await
        .unwrap_err();
    assert_not_found(&err, Entity::Contract);
    assert_eq!(Scope::of_actor(&actor), Scope::All);
}

async fn availability_counts_the_free_assets(db: TestDb) {
    let actor = office(&db).await;
    let planner = add_user(&db, "planner", Role::MaintenancePlanner).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let category = add_category(&db, "Rollers").await;
    let other_category = add_category(&db, "Pumps").await;
    let rented = add_asset(&db, "R-1", Some(category)).await;
    let blocked = add_asset(&db, "R-2", Some(category)).await;
    let free = add_asset(&db, "R-3", Some(category)).await;
    let retired = add_asset(&db, "R-4", Some(category)).await;
    let later = add_asset(&db, "R-5", Some(category)).await;
    add_asset(&db, "P-1", Some(other_category)).await;
    db.execute(&format!(
        "UPDATE assets SET status = 'retired' WHERE id = {}",
        lit(&db, retired)
    ))
    .await;
    signed(&db, &actor, customer, rented, 0, 10).await;
    signed(&db, &actor, customer, later, 11, 20).await;
    let block = NewBlock {
        starts_on: day(10),
        ends_on: day(10),
        reason: "tyres".into(),
    };
    availability::create_block(&db.store, &planner, blocked, block)
        .await
        .unwrap();
    let got = availability::query(&db.store, category, day(5), day(10))
        .await
        .unwrap();
    let ids: Vec<Uuid> = got.assets.iter().map(|a| a.id).collect();
    assert_eq!((got.free, ids), (2, vec![free, later]));
    assert_eq!(got.assets[0].code, "R-3");
    let got = availability::query(&db.store, category, day(11), day(11))
        .await
        .unwrap();
    assert_eq!(
        got.assets.iter().map(|a| a.id).collect::<Vec<_>>(),
        [rented, blocked, free]
    );
    let err = availability::query(&db.store, category, day(2), day(1))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["to"]);
    let err = availability::query(&db.store, Uuid::now_v7(), day(1), day(2))
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["category"]);
}

async fn renewals_need_an_unfrozen_customer_and_both_approvals(db: TestDb) {
    let actor = office(&db).await;
    let finance = add_user(&db, "fin", Role::Finance).await;
    let legal = add_user(&db, "law", Role::Legal).await;
    let admin = add_user(&db, "root", Role::Admin).await;
    let frozen = add_customer(&db, "Late payer", None, Some("three invoices overdue")).await;
    let customer = add_customer(&db, "Acme", None, None).await;
    let asset = add_asset(&db, "N-1", None).await;
    let other_asset = add_asset(&db, "N-2", None).await;

    let cold = signed(&db, &actor, frozen, other_asset, 0, 30).await;
    let err = renewals::renew(
        &db.store,
        &actor,
        cold.id,
        RenewContract {
            ends_on: day(60),
            rate_changes: vec![],
        },
    )
    .await
    .unwrap_err();
    assert_conflict(&err, ErrorCode::RenewalsFrozen, "frozen");
    assert!(err.to_string().contains("three invoices overdue"), "{err}");

    let mut new = draft(customer, 0, 30, vec![asset_line(asset, 10_000)]);
    new.auto_renew = Some(true);
    let c = contracts::create(&db.store, &actor, new).await.unwrap();
    let c = lifecycle::sign(&db.store, &actor, c.id).await.unwrap();
    let renewal = RenewContract {
        ends_on: day(60),
        rate_changes: vec![RateChange {
            line_no: 1,
            rate_cents: 11_000,
        }],
    };
    let missing = |err: &DomainError| match err {
        DomainError::Conflict {
            code: ErrorCode::ApprovalsMissing,
            detail: Some(d),
            ..
        } => d["missing"].clone(),
        other => panic!("expected approvals_missing, got {other:?}"),
    };
    let err = renewals::renew(&db.store, &actor, c.id, renewal.clone())
        .await
        .unwrap_err();
    assert_eq!(missing(&err), serde_json::json!(["finance", "legal"]));

    let a = renewals::approve(&db.store, &finance, c.id, NewApproval::default())
        .await
        .unwrap();
    assert_eq!(
        (a.kind, a.approved_by),
        (ApprovalKind::Finance, finance.user_id.unwrap())
    );
    let err = renewals::approve(&db.store, &finance, c.id, NewApproval::default())
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::AlreadyApproved, "approve twice");
    let other_half = NewApproval {
        kind: Some(ApprovalKind::Legal),
        note: None,
    };
    let err = renewals::approve(&db.store, &finance, c.id, other_half)
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["kind"]);
    let err = renewals::approve(&db.store, &admin, c.id, NewApproval::default())
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["kind"], "an admin names the half");
    let err = renewals::renew(&db.store, &actor, c.id, renewal.clone())
        .await
        .unwrap_err();
    assert_eq!(missing(&err), serde_json::json!(["legal"]));
    renewals::approve(&db.store, &legal, c.id, NewApproval::default())
        .await
        .unwrap();
    assert_eq!(
        renewals::approvals(&db.store, Scope::All, c.id)
            .await
            .unwrap()
            .len(),
        2
    );

    let bad = RenewContract {
        ends_on: day(30),
        rate_changes: vec![RateChange {
            line_no: 9,
            rate_cents: 1,
        }],
    };
    let err = renewals::renew(&db.store, &actor, c.id, bad)
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["ends_on", "rate_changes[0].line_no"]);

    let next = renewals::renew(&db.store, &actor, c.id, renewal.clone())
        .await
        .unwrap();
    assert_eq!(next.predecessor_id, Some(c.id));
    assert_eq!(
        (next.status, next.starts_on, next.ends_on),
        (ContractStatus::Draft, day(31), day(60))
    );
    assert_eq!(next.lines[0].rate_cents, 11_000, "the new price");
    assert_eq!(next.lines[0].asset_id, Some(asset));
    let err = renewals::renew(&db.store, &actor, c.id, renewal)
        .await
        .unwrap_err();
    assert_conflict(&err, ErrorCode::AlreadyExists, "renew twice");
    // Signing the successor renews its predecessor; the chain keeps the old price.
    lifecycle::sign(&db.store, &actor, next.id).await.unwrap();
    let before = contracts::get(&db.store, Scope::All, c.id).await.unwrap();
    assert_eq!(before.status, ContractStatus::Renewed);
    assert_eq!(before.lines[0].rate_cents, 10_000);
}
