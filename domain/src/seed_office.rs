//! Set-based seeding of the rental office's records — customers, contracts with their lines and
//! bookings, complaints — for the office benchmark (`fieldops-sim bench-office`) and for tests
//! that need exact histories without the customer and contract services. Rows go in with
//! multi-row statements, chunked, in one transaction, each audited as created (like
//! [`crate::seed`]).
//!
//! [`office`] makes a synthetic office over a seeded fleet: contracts follow each other on each
//! asset (never overlapping, so the bookings satisfy the availability rule of migration 0020),
//! customers' shares are skewed (a few rent a lot), and a tenth of the customers never rented.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use uuid::Uuid;

use crate::actor::Actor;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::store::{on_read, on_tx, Store, Tx};
use crate::{audit, clock};

/// Rows per multi-row INSERT (at most 12 columns × 1000 binds).
const CHUNK: usize = 1000;

/// A customer to insert.
#[derive(Debug, Clone)]
pub struct CustomerRow {
    pub id: Uuid,
    pub legal_name: String,
    pub industry: Option<String>,
    pub account_manager_id: Option<Uuid>,
    pub currency: String,
}

/// A contract line: an asset (booked for the contract's days unless the contract is a draft),
/// or a category and quantity.
#[derive(Debug, Clone)]
pub struct LineRow {
    pub asset_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    pub quantity: i32,
    pub rate_cents: i64,
    /// `day`, `week` or `month`.
    pub rate_period: &'static str,
}

/// A contract to insert (its number is `SEED-<seq>`).
#[derive(Debug, Clone)]
pub struct ContractRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// `draft`, `signed`, `active`, `expiring`, `renewed`, `ended` or `terminated`.
    pub status: &'static str,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub currency: String,
    pub lines: Vec<LineRow>,
}

/// A complaint to insert.
#[derive(Debug, Clone)]
pub struct ComplaintRow {
    pub customer_id: Uuid,
    pub opened_at: DateTime<Utc>,
    /// A `complaint_category` picklist value.
    pub category: &'static str,
}

/// Whether a contract in `status` holds its assets (a live booking).
fn books_live(status: &str) -> bool {
    matches!(status, "signed" | "active" | "expiring")
}

/// Inserts the rows in one transaction, audited as created.
pub async fn insert(
    store: &Store,
    actor: &Actor,
    customers: &[CustomerRow],
    contracts: &[ContractRow],
    complaints: &[ComplaintRow],
) -> Result<(), DomainError> {
    let mut tx = store.begin().await?;
    insert_in(&mut tx, actor, customers, contracts, complaints).await?;
    tx.commit().await
}

async fn insert_in(
    tx: &mut Tx,
    actor: &Actor,
    customers: &[CustomerRow],
    contracts: &[ContractRow],
    complaints: &[ComplaintRow],
) -> Result<(), DomainError> {
    let now = clock::now();
    for chunk in customers.chunks(CHUNK) {
        on_tx!(
            tx,
            insert_values(
                "INSERT INTO customers (id, legal_name, kind, industry, account_manager_id, \
                 status, currency, created_at, updated_at) ",
                chunk,
                |b, c| b
                    .push_bind(c.id)
                    .push_bind(c.legal_name.clone())
                    .push_bind("company")
                    .push_bind(c.industry.clone())
                    .push_bind(c.account_manager_id)
                    .push_bind("active")
                    .push_bind(c.currency.clone())
                    .push_bind(now)
                    .push_bind(now)
            )
        )?;
        let created: Vec<(Uuid, serde_json::Value)> = chunk
            .iter()
            .map(|c| (c.id, json!({"legal_name": c.legal_name})))
            .collect();
        audit::record_created(tx, actor, Entity::Customer, &created).await?;
    }

    let first_seq: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM contracts WHERE series = 'SEED'"
    )
    .fetch_one(&mut *c)
    .await)?;
    for (n, chunk) in contracts.chunks(CHUNK).enumerate() {
        let numbered: Vec<(i64, &ContractRow)> = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| (first_seq + 1 + (n * CHUNK + i) as i64, c))
            .collect();
        on_tx!(
            tx,
            insert_values(
                "INSERT INTO contracts (id, number, series, year, seq, customer_id, status, \
                 starts_on, ends_on, currency, billing_cycle, created_at, updated_at) ",
                &numbered,
                |b, (seq, c)| b
                    .push_bind(c.id)
                    .push_bind(format!("SEED-{seq:07}"))
                    .push_bind("SEED")
                    .push_bind(0_i32)
                    .push_bind(*seq as i32)
                    .push_bind(c.customer_id)
                    .push_bind(c.status)
                    .push_bind(c.starts_on)
                    .push_bind(c.ends_on)
                    .push_bind(c.currency.clone())
                    .push_bind("monthly")
                    .push_bind(now)
                    .push_bind(now)
            )
        )?;
        let created: Vec<(Uuid, serde_json::Value)> = chunk
            .iter()
            .map(|c| {
                (
                    c.id,
                    json!({"customer_id": c.customer_id, "status": c.status}),
                )
            })
            .collect();
        audit::record_created(tx, actor, Entity::Contract, &created).await?;
    }

    // (line id, contract, line number, line)
    let lines: Vec<(Uuid, &ContractRow, i32, &LineRow)> = contracts
        .iter()
        .flat_map(|c| {
            c.lines
                .iter()
                .enumerate()
                .map(move |(i, l)| (clock::new_id(), c, i as i32 + 1, l))
        })
        .collect();
    for chunk in lines.chunks(CHUNK) {
        on_tx!(
            tx,
            insert_values(
                "INSERT INTO contract_lines (id, contract_id, line_no, asset_id, category_id, \
                 quantity, rate_cents, rate_period, created_at) ",
                chunk,
                |b, (id, c, no, l)| b
                    .push_bind(*id)
                    .push_bind(c.id)
                    .push_bind(*no)
                    .push_bind(l.asset_id)
                    .push_bind(l.category_id)
                    .push_bind(l.quantity)
                    .push_bind(l.rate_cents)
                    .push_bind(l.rate_period)
                    .push_bind(now)
            )
        )?;
    }
    // Drafts hold nothing; ended contracts keep their booking as history, released at the end.
    let bookings: Vec<(Uuid, Uuid, &ContractRow)> = lines
        .iter()
        .filter(|(_, c, _, _)| c.status != "draft")
        .filter_map(|(id, c, _, l)| l.asset_id.map(|a| (*id, a, *c)))
        .collect();
    for chunk in bookings.chunks(CHUNK) {
        on_tx!(
            tx,
            insert_values(
                "INSERT INTO asset_bookings (id, asset_id, kind, contract_line_id, starts_on, \
                 ends_on, released_at, created_at) ",
                chunk,
                |b, (line, asset, c)| b
                    .push_bind(clock::new_id())
                    .push_bind(*asset)
                    .push_bind("contract")
                    .push_bind(*line)
                    .push_bind(c.starts_on)
                    .push_bind(c.ends_on)
                    .push_bind((!books_live(c.status)).then_some(now))
                    .push_bind(now)
            )
        )?;
    }
    for chunk in complaints.chunks(CHUNK) {
        let rows: Vec<(Uuid, &ComplaintRow)> = chunk.iter().map(|c| (clock::new_id(), c)).collect();
        on_tx!(
            tx,
            insert_values(
                "INSERT INTO complaints (id, customer_id, category, opened_at, created_at, \
                 updated_at) ",
                &rows,
                |b, (id, c)| b
                    .push_bind(*id)
                    .push_bind(c.customer_id)
                    .push_bind(c.category)
                    .push_bind(c.opened_at)
                    .push_bind(now)
                    .push_bind(now)
            )
        )?;
        let created: Vec<(Uuid, serde_json::Value)> = rows
            .iter()
            .map(|(id, c)| (*id, json!({"customer_id": c.customer_id})))
            .collect();
        audit::record_created(tx, actor, Entity::Complaint, &created).await?;
    }
    Ok(())
}

/// The synthetic office [`office`] makes.
#[derive(Debug, Clone)]
pub struct OfficeSeed {
    pub customers: usize,
    pub contracts: usize,
    /// The fleet the asset lines rent (from [`crate::seed::seed_fleet`]).
    pub assets: Vec<Uuid>,
    /// Categories the category lines name.
    pub categories: Vec<Uuid>,
    /// Contracts end around this day: the most recent start a little before it.
    pub today: NaiveDate,
    /// Same seed, same office.
    pub rng_seed: u64,
}

/// Creates `seed.customers` customers and `seed.contracts` contracts (one asset line each, a
/// category line on a third), contracts following each other on each asset with gaps, so the
/// live bookings never overlap; 2 % of customers with complaints in the last year.
pub async fn office(store: &Store, actor: &Actor, seed: &OfficeSeed) -> Result<(), DomainError> {
    if (seed.assets.is_empty() || seed.customers == 0) && seed.contracts > 0 {
        return Err(DomainError::field(
            "contracts",
            "contracts need a fleet and customers",
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed.rng_seed);
    let industries = [
        "construction",
        "civil_engineering",
        "events",
        "manufacturing",
    ];
    let customers: Vec<CustomerRow> = (0..seed.customers)
        .map(|i| CustomerRow {
            id: clock::new_id(),
            legal_name: format!("Customer {i:05}"),
            industry: Some(industries[i % industries.len()].to_owned()),
            account_manager_id: None,
            currency: "EUR".into(),
        })
        .collect();
    // A tenth never rented; among the rest, u² makes the first customers rent most.
    let renting = (seed.customers * 9 / 10).max(1).min(seed.customers);
    let per_asset = seed.contracts.div_ceil(seed.assets.len().max(1));
    // Each asset's contracts run back to back (about 38 days each with the gap) from here, so
    // most assets' last contract runs today or later and the earlier ones have ended.
    let span_days = i64::try_from(per_asset)
        .unwrap_or(i64::MAX)
        .saturating_mul(32);
    let mut cursor: Vec<NaiveDate> = seed
        .assets
        .iter()
        .map(|_| seed.today - Duration::days(span_days + rng.gen_range(0..60)))
        .collect();
    let mut contracts = Vec::with_capacity(seed.contracts);
    for i in 0..seed.contracts {
        let asset = i % seed.assets.len().max(1);
        let starts_on = cursor[asset] + Duration::days(rng.gen_range(0..15));
        let ends_on = starts_on + Duration::days(rng.gen_range(2..60));
        cursor[asset] = ends_on + Duration::days(1);
        let u: f64 = rng.gen_range(0.0..1.0);
        let customer = ((u * u) * renting as f64) as usize;
        let status = if rng.gen_range(0..50) == 0 {
            "draft"
        } else if ends_on < seed.today {
            "ended"
        } else if starts_on > seed.today {
            "signed"
        } else {
            "active"
        };
        let mut lines = vec![LineRow {
            asset_id: Some(seed.assets[asset]),
            category_id: None,
            quantity: 1,
            rate_cents: rng.gen_range(50..400) * 100,
            rate_period: ["day", "week", "month"][rng.gen_range(0..3)],
        }];
        if !seed.categories.is_empty() && rng.gen_range(0..3) == 0 {
            lines.push(LineRow {
                asset_id: None,
                category_id: Some(seed.categories[rng.gen_range(0..seed.categories.len())]),
                quantity: rng.gen_range(1..4),
                rate_cents: rng.gen_range(20..200) * 100,
                rate_period: "week",
            });
        }
        contracts.push(ContractRow {
            id: clock::new_id(),
            customer_id: customers[customer.min(customers.len().saturating_sub(1))].id,
            status,
            starts_on,
            ends_on,
            currency: "EUR".into(),
            lines,
        });
    }
    let now = seed
        .today
        .and_hms_opt(12, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let complaints: Vec<ComplaintRow> = customers
        .iter()
        .step_by(50)
        .flat_map(|c| {
            let n = rng.gen_range(1..4);
            (0..n)
                .map(|_| ComplaintRow {
                    customer_id: c.id,
                    opened_at: now - Duration::days(rng.gen_range(1..360)),
                    category: "machine_fault",
                })
                .collect::<Vec<_>>()
        })
        .collect();
    insert(store, actor, &customers, &contracts, &complaints).await
}

/// Refreshes the planner's statistics after bulk seeding, as autovacuum (PostgreSQL) would in
/// time: right after 100,000 contracts are inserted, PostgreSQL still plans as if the tables
/// were empty, and the availability query's anti join then walks every booking of the period
/// once per asset (37 s instead of 45 ms at 5,000 assets, measured). SQLite's `ANALYZE` fills
/// `sqlite_stat1` the same way.
pub async fn analyze(store: &Store) -> Result<(), DomainError> {
    // On the writer: SQLite's readers are read-only, and ANALYZE writes its statistics table.
    let mut tx = store.begin().await?;
    on_tx!(&mut tx, execute(sqlx::query("ANALYZE")))?;
    tx.commit().await
}

/// The benchmark's baseline for `contracts::availability::query`: the category's assets, no
/// booking test.
pub async fn category_assets(store: &Store, category_id: Uuid) -> Result<Vec<Uuid>, DomainError> {
    let sql = "SELECT id FROM assets WHERE category_id = $1 AND deleted_at IS NULL ORDER BY id";
    let ids: Vec<Uuid> = on_read!(store, |p| sqlx::query_scalar(sql)
        .bind(category_id)
        .fetch_all(p)
        .await)?;
    Ok(ids)
}
