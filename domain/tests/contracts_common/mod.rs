//! What the contract tests share: customers inserted by SQL (the customers service is written
//! in parallel; these tests must not depend on it), users, assets, and draft builders.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, NaiveDate, Utc};
use domain::testing::{assert_conflict, TestDb};
use domain::{assets, categories, contracts, users, Actor, Backend, DomainError};
use mobile_shared::contracts::{Contract, NewContract, NewContractLine, RatePeriod};
use mobile_shared::wire::{AuditSource, NewAsset, NewCategory, NewUser};
use mobile_shared::{ErrorCode, Role};
use uuid::Uuid;

/// `id` as a SQL literal of the backend (SQLite stores UUIDs as 16-byte blobs).
pub fn lit(db: &TestDb, id: Uuid) -> String {
    match db.store.backend() {
        Backend::Sqlite => format!("X'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'"),
    }
}

/// Today plus `days` (UTC), the day the services compare with.
pub fn day(days: i64) -> NaiveDate {
    Utc::now().date_naive() + Duration::days(days)
}

/// Inserts an active customer in EUR, managed by `manager`; `frozen` freezes its renewals with
/// that reason.
pub async fn add_customer(
    db: &TestDb,
    name: &str,
    manager: Option<Uuid>,
    frozen: Option<&str>,
) -> Uuid {
    let id = Uuid::now_v7();
    let name = name.replace('\'', "''");
    let manager = manager.map_or("NULL".to_owned(), |m| lit(db, m));
    let (at, reason) = match frozen {
        Some(r) => ("'2026-01-01T00:00:00Z'".to_owned(), format!("'{r}'")),
        None => ("NULL".to_owned(), "NULL".to_owned()),
    };
    db.execute(&format!(
        "INSERT INTO customers (id, legal_name, kind, status, currency, account_manager_id, \
         renewals_frozen_at, renewals_frozen_reason, created_at, updated_at) VALUES ({}, '{name}', \
         'company', 'active', 'EUR', {manager}, {at}, {reason}, '2026-01-01T00:00:00Z', \
         '2026-01-01T00:00:00Z')",
        lit(db, id)
    ))
    .await;
    id
}

pub async fn add_user(db: &TestDb, name: &str, role: Role) -> Actor {
    let new = NewUser {
        username: name.into(),
        password: "long-enough-pw".into(),
        role,
        email: None,
    };
    let user = users::create(&db.store, &Actor::system(), new)
        .await
        .unwrap();
    Actor::user(user.id, name, role, AuditSource::Api)
}

pub async fn add_category(db: &TestDb, name: &str) -> Uuid {
    let new = NewCategory {
        name: name.into(),
        description: None,
    };
    categories::create(&db.store, &Actor::system(), new)
        .await
        .unwrap()
        .id
}

pub async fn add_asset(db: &TestDb, code: &str, category: Option<Uuid>) -> Uuid {
    let new = NewAsset {
        code: code.into(),
        name: format!("Machine {code}"),
        category: category.map(|c| c.to_string()),
        ..NewAsset::default()
    };
    assets::create(&db.store, &Actor::system(), new)
        .await
        .unwrap()
        .id
}

pub fn asset_line(asset: Uuid, rate_cents: i64) -> NewContractLine {
    NewContractLine {
        asset_id: Some(asset),
        category_id: None,
        quantity: None,
        rate_cents,
        rate_period: RatePeriod::Day,
    }
}

pub fn draft(customer: Uuid, from: i64, to: i64, lines: Vec<NewContractLine>) -> NewContract {
    NewContract {
        customer_id: customer,
        site_id: None,
        starts_on: day(from),
        ends_on: day(to),
        lines,
        deposit_cents: Some(50_000),
        auto_renew: None,
        billing_cycle: None,
        notes: None,
    }
}

/// A signed contract of `customer` renting `asset` from today + `from` to today + `to`.
pub async fn signed(
    db: &TestDb,
    actor: &Actor,
    customer: Uuid,
    asset: Uuid,
    from: i64,
    to: i64,
) -> Contract {
    let c = contracts::create(
        &db.store,
        actor,
        draft(customer, from, to, vec![asset_line(asset, 10_000)]),
    )
    .await
    .unwrap();
    contracts::lifecycle::sign(&db.store, actor, c.id)
        .await
        .unwrap()
}

/// The booking a 409 `booking_conflict` names.
pub fn conflicting(err: &DomainError) -> serde_json::Value {
    assert_conflict(err, ErrorCode::BookingConflict, "booking");
    match err {
        DomainError::Conflict {
            detail: Some(d), ..
        } => d["booking"].clone(),
        other => panic!("no detail: {other:?}"),
    }
}
