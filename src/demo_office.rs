//! The demo's rental office: a dozen customers and a contract on most demo machines, ending
//! over the next months, so the office sees a renewal pipeline (expiring, active, signed and
//! draft contracts; finance and legal approvals pending on the auto-renewing ones) from the
//! first start. Everything goes through the services, as the office's own clicks would:
//! numbers, bookings and audit entries are the real ones.

use anyhow::Context;
use chrono::{Duration, Utc};
use domain::{contracts, customers, Actor, Store};
use mobile_shared::contracts::{BillingCycle, NewContract, NewContractLine, RatePeriod};
use mobile_shared::customers::{CustomerKind, CustomerStatus, NewCustomer};
use uuid::Uuid;

/// (legal name, industry, status): values of the standard picklists (migration 0020).
const CUSTOMERS: [(&str, &str, CustomerStatus); 12] = [
    (
        "Isar Tiefbau GmbH",
        "civil_engineering",
        CustomerStatus::Active,
    ),
    (
        "Bauer & Söhne Hochbau KG",
        "construction",
        CustomerStatus::Active,
    ),
    ("Messe Süd Events GmbH", "events", CustomerStatus::Active),
    ("Stadtwerke Planegg", "utilities", CustomerStatus::Active),
    ("Gartenbau Lindner", "agriculture", CustomerStatus::Active),
    (
        "Allach Metallbau GmbH",
        "manufacturing",
        CustomerStatus::Active,
    ),
    (
        "Landkreis Nord Bauhof",
        "public_sector",
        CustomerStatus::Active,
    ),
    (
        "Hofmann Abbruch GmbH",
        "construction",
        CustomerStatus::Active,
    ),
    ("Festival Crew München", "events", CustomerStatus::Active),
    (
        "Kran & Bühne Service",
        "construction",
        CustomerStatus::Active,
    ),
    ("Neubau Riem GmbH", "construction", CustomerStatus::Lead),
    ("Huber Landschaftsbau", "agriculture", CustomerStatus::Lead),
];

/// Days from today to each contract's end: inside each renewal step (15, 30, 60, 90 days) and
/// beyond, so every column of the pipeline has contracts.
const ENDS_IN_DAYS: [i64; 10] = [9, 14, 25, 33, 52, 66, 85, 120, 150, 200];

/// Creates the office on the demo fleet's `assets`; returns (customers, contracts).
pub async fn seed(store: &Store, assets: &[Uuid]) -> anyhow::Result<(usize, usize)> {
    let actor = Actor::system();
    let mut ids = Vec::new();
    for (name, industry, status) in CUSTOMERS {
        let customer = customers::create(
            store,
            &actor,
            NewCustomer {
                legal_name: name.into(),
                kind: CustomerKind::Company,
                industry: Some(industry.into()),
                region: None,
                source: Some("referral".into()),
                account_manager_id: None,
                status: Some(status),
                currency: "EUR".into(),
                credit_limit_cents: Some(5_000_000),
                payment_terms_days: Some(30),
                tags: Vec::new(),
                notes: None,
            },
        )
        .await
        .with_context(|| format!("demo customer {name}"))?;
        ids.push(customer.id);
    }
    // Leads have no contracts yet.
    let renting = &ids[..10];
    let today = Utc::now().date_naive();
    let mut made = 0;
    for (i, asset) in assets.iter().enumerate().take(renting.len() * 2) {
        let ends_in = ENDS_IN_DAYS[i % ENDS_IN_DAYS.len()] + (i / ENDS_IN_DAYS.len()) as i64 * 7;
        // A few start next week: signed, waiting for the clock to activate them.
        let starts_in = if i % 7 == 6 { 7 } else { -45 - (i as i64 * 3) };
        let new = NewContract {
            customer_id: renting[i % renting.len()],
            site_id: None,
            starts_on: today + Duration::days(starts_in),
            ends_on: today + Duration::days(ends_in.max(starts_in + 14)),
            lines: vec![NewContractLine {
                asset_id: Some(*asset),
                category_id: None,
                quantity: None,
                rate_cents: 9_500 + (i as i64 % 5) * 2_500,
                rate_period: RatePeriod::Day,
            }],
            deposit_cents: Some(150_000),
            auto_renew: Some(i % 3 == 0),
            billing_cycle: Some(if i % 4 == 0 {
                BillingCycle::Weekly
            } else {
                BillingCycle::Monthly
            }),
            notes: None,
        };
        let contract = contracts::create(store, &actor, new)
            .await
            .with_context(|| format!("demo contract {i}"))?;
        // Every fifth stays a draft: the office is still negotiating it.
        if i % 5 != 4 {
            contracts::lifecycle::sign(store, &actor, contract.id)
                .await
                .with_context(|| format!("signing demo contract {}", contract.number))?;
        }
        made += 1;
    }
    Ok((ids.len(), made))
}
