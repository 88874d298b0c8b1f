//! Customer classification (issue 14, item 3): each customer's RFM value tier and credit grade,
//! with a stored breakdown of which input gave which score; recomputed nightly by the clock
//! ([`rule::ClassificationRule`]) and on demand for one customer ([`recompute`]).
//!
//! - `facts.rs` reads the inputs with a fixed number of set-based queries; `rfm.rs` and
//!   `credit.rs` are the pure scoring; `settings.rs` the thresholds an admin edits.
//! - The nightly run ([`run_in`]) scores every customer with contracts by quintiles over that
//!   population and stores the quintile edges with the run (`classification_runs`); an
//!   on-demand recompute scores one customer against the latest run's edges, so it agrees with
//!   its neighbours without reading them.
//! - Results go to `customer_classifications` (with the breakdown) and are copied to
//!   `customers.value_tier` / `credit_grade` / `classified_at` for the customer list's filters,
//!   in multi-row statements. The copy does not move the customer's `version`: a night's
//!   classification must not make an office user's edit in progress a conflict.
//! - A changed tier or grade is audited (`customer.classify`, before and after), one multi-row
//!   audit write per chunk; an on-demand recompute is audited whatever it finds (someone asked).

mod credit;
mod facts;
mod rfm;
pub mod rule;
pub mod settings;

pub use credit::{assess, credit_limit, grade_of, lifecycle, whole_months, CreditFacts};
pub use rfm::{edges, periods, score, tier, Better, RatePeriod, Scores};

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use mobile_shared::classification::{
    Breakdown, ClassificationMode, ClassificationSettings, CreditGrade, CustomerClassification,
    MetricScore, QuintileEdges, RfmBreakdown,
};
use serde_json::json;
use sqlx::types::Json;
use tracing::Instrument;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, Change};
use crate::clock;
use crate::customers::Scope;
use crate::entity::Entity;
use crate::error::DomainError;
use crate::store::{on_read, on_tx, Store, Tx};
use facts::CustomerFacts;

/// Rows per multi-row statement (10 columns × 500 stays far below both backends' bind limits).
const CHUNK: usize = 500;

/// What a nightly run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub run_id: Uuid,
    /// Customers classified.
    pub customers: u64,
    /// Customers whose tier or grade changed (audited).
    pub changed: u64,
    pub edges: QuintileEdges,
}

/// The quintile edges of every customer with contracts in `facts`.
fn population_edges(facts: &HashMap<Uuid, CustomerFacts>, as_of: NaiveDate) -> QuintileEdges {
    let with: Vec<&CustomerFacts> = facts.values().filter(|f| f.has_contracts()).collect();
    let recency: Vec<i64> = with.iter().filter_map(|f| f.recency_days(as_of)).collect();
    let frequency: Vec<i64> = with.iter().map(|f| f.frequency).collect();
    let monetary: Vec<i64> = with.iter().map(|f| f.monetary_cents).collect();
    QuintileEdges {
        population: u32::try_from(with.len()).unwrap_or(u32::MAX),
        recency_days: rfm::edges(&recency, Better::Lower).to_vec(),
        frequency: rfm::edges(&frequency, Better::Higher).to_vec(),
        monetary_cents: rfm::edges(&monetary, Better::Higher).to_vec(),
    }
}

fn metric(value: i64, edges: &[Option<i64>], better: Better) -> MetricScore {
    MetricScore {
        value,
        score: rfm::score(value, edges, better),
        edges: edges.to_vec(),
    }
}

/// Everything about one customer, computed from its facts (pure).
#[allow(clippy::too_many_arguments)]
fn classify(
    customer_id: Uuid,
    f: &CustomerFacts,
    at: DateTime<Utc>,
    settings: &ClassificationSettings,
    settings_version: i64,
    edges: &QuintileEdges,
    run_id: Option<Uuid>,
    mode: ClassificationMode,
) -> CustomerClassification {
    let as_of = at.date_naive();
    let tenure_days = f.first_start.map_or(0, |d| (as_of - d).num_days().max(0));
    let rfm = f.last_start.map(|last_start| {
        let recency = metric(
            f.recency_days(as_of).unwrap_or(0),
            &edges.recency_days,
            Better::Lower,
        );
        let frequency = metric(f.frequency, &edges.frequency, Better::Higher);
        let monetary = metric(f.monetary_cents, &edges.monetary_cents, Better::Higher);
        RfmBreakdown {
            population: edges.population,
            last_contract_start: last_start,
            recency_days: recency,
            frequency,
            monetary_cents: monetary,
            window_from: facts::window_from(as_of, settings),
            currency: settings.currency.clone(),
            other_currency_contracts: f.other_currency_contracts,
            matched_rule: None,
        }
    });
    let scores = rfm.as_ref().map(|r| Scores {
        recency: r.recency_days.score,
        frequency: r.frequency.score,
        monetary: r.monetary_cents.score,
        tenure_days,
    });
    let (tier, matched) = rfm::tier(scores, &settings.rfm.tiers, &settings.rfm.fallback_tier);
    let rfm = rfm.map(|r| RfmBreakdown {
        matched_rule: matched,
        ..r
    });
    let credit = credit::assess(
        CreditFacts {
            first_contract_on: f.first_start,
            complaints: f.complaints,
        },
        as_of,
        &settings.credit,
    );
    let stage = credit::lifecycle(f.first_start, f.last_end, as_of, &settings.lifecycle);
    let grade = credit.grade;
    CustomerClassification {
        customer_id,
        computed_at: at,
        value_tier: tier.to_owned(),
        credit_grade: grade,
        credit_limit_cents: credit::credit_limit(grade, &settings.credit),
        currency: settings.currency.clone(),
        auto_renew_allowed: grade.auto_renew_allowed(),
        lifecycle_stage: stage,
        breakdown: Breakdown {
            mode,
            as_of,
            run_id,
            settings_version,
            rfm,
            credit,
            lifecycle_stage: stage,
            last_contract_end: f.last_end,
            product_lines: f.product_lines.clone(),
            industry: f.industry.clone(),
        },
    }
}

/// Whether a classification changes what `f` had (tier or grade).
fn changes(f: &CustomerFacts, c: &CustomerClassification) -> bool {
    f.value_tier.as_deref() != Some(c.value_tier.as_str())
        || f.credit_grade.as_deref() != Some(c.credit_grade.as_str())
}

fn audit_snapshot(tier: Option<&str>, grade: Option<&str>) -> serde_json::Value {
    json!({"value_tier": tier, "credit_grade": grade})
}

/// Upserts `rows` into `customer_classifications` and copies tier, grade and time to their
/// customers, a chunk per statement.
async fn write(tx: &mut Tx, rows: &[CustomerClassification]) -> Result<(), DomainError> {
    for chunk in rows.chunks(CHUNK) {
        on_tx!(
            tx,
            insert_values(
                "INSERT INTO customer_classifications (customer_id, computed_at, run_id, \
                 value_tier, credit_grade, credit_limit_cents, currency, auto_renew_allowed, \
                 lifecycle_stage, breakdown) ",
                chunk,
                |b, c| b
                    .push_bind(c.customer_id)
                    .push_bind(c.computed_at)
                    .push_bind(c.breakdown.run_id)
                    .push_bind(c.value_tier.clone())
                    .push_bind(c.credit_grade.as_str())
                    .push_bind(c.credit_limit_cents)
                    .push_bind(c.currency.clone())
                    .push_bind(c.auto_renew_allowed)
                    .push_bind(c.lifecycle_stage.as_str())
                    .push_bind(Json(c.breakdown.clone())),
                " ON CONFLICT (customer_id) DO UPDATE SET computed_at = excluded.computed_at, \
                 run_id = excluded.run_id, value_tier = excluded.value_tier, \
                 credit_grade = excluded.credit_grade, \
                 credit_limit_cents = excluded.credit_limit_cents, currency = excluded.currency, \
                 auto_renew_allowed = excluded.auto_renew_allowed, \
                 lifecycle_stage = excluded.lifecycle_stage, breakdown = excluded.breakdown"
            )
        )?;
        // The copy for the customer list, from the rows just written: one statement per chunk
        // instead of one per customer.
        let ids: Vec<Uuid> = chunk.iter().map(|c| c.customer_id).collect();
        on_tx!(tx, |c| {
            let mut qb = sqlx::QueryBuilder::new(
                "UPDATE customers SET \
                     value_tier = (SELECT cc.value_tier FROM customer_classifications cc \
                                   WHERE cc.customer_id = customers.id), \
                     credit_grade = (SELECT cc.credit_grade FROM customer_classifications cc \
                                     WHERE cc.customer_id = customers.id), \
                     classified_at = (SELECT cc.computed_at FROM customer_classifications cc \
                                      WHERE cc.customer_id = customers.id) \
                     WHERE id IN (",
            );
            let mut list = qb.separated(", ");
            for id in &ids {
                list.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(&mut *c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Audits the tier/grade changes of `rows` (whose facts hold the values before).
async fn audit_changes(
    tx: &mut Tx,
    actor: &Actor,
    facts: &HashMap<Uuid, CustomerFacts>,
    rows: &[&CustomerClassification],
) -> Result<(), DomainError> {
    let entries: Vec<(Uuid, serde_json::Value, serde_json::Value)> = rows
        .iter()
        .filter_map(|c| {
            let f = facts.get(&c.customer_id)?;
            Some((
                c.customer_id,
                audit_snapshot(f.value_tier.as_deref(), f.credit_grade.as_deref()),
                audit_snapshot(Some(&c.value_tier), Some(c.credit_grade.as_str())),
            ))
        })
        .collect();
    for chunk in entries.chunks(CHUNK) {
        let rows: Vec<(Uuid, Option<&serde_json::Value>, &serde_json::Value)> = chunk
            .iter()
            .map(|(id, before, after)| (*id, Some(before), after))
            .collect();
        audit::record_rows(tx, actor, Entity::Customer, "classify", &rows).await?;
    }
    Ok(())
}

/// The nightly run inside the clock's transaction: every live customer classified as of `at`,
/// for the night `due_at` (the 02:00 UTC the run is for). Idempotent: running it again writes
/// the same results (and audits nothing, as nothing changes).
pub async fn run_in(
    tx: &mut Tx,
    actor: &Actor,
    at: DateTime<Utc>,
    due_at: DateTime<Utc>,
) -> Result<RunSummary, DomainError> {
    let started_at = clock::now();
    let doc = settings::get_in(tx, false).await?;
    let facts = facts::load(tx, None, at, &doc.settings).await?;
    let edges = population_edges(&facts, at.date_naive());
    let run_id = clock::new_id();
    let mut ids: Vec<&Uuid> = facts.keys().collect();
    // Written in id order: the same statements whatever the hash map's order.
    ids.sort();
    let rows: Vec<CustomerClassification> = ids
        .into_iter()
        .filter_map(|id| {
            let f = facts.get(id)?;
            Some(classify(
                *id,
                f,
                at,
                &doc.settings,
                doc.version,
                &edges,
                Some(run_id),
                ClassificationMode::Nightly,
            ))
        })
        .collect();
    let changed: Vec<&CustomerClassification> = rows
        .iter()
        .filter(|c| facts.get(&c.customer_id).is_some_and(|f| changes(f, c)))
        .collect();
    let sql = "INSERT INTO classification_runs (id, due_at, as_of, started_at, finished_at, \
               customers, changed, settings_version, edges) \
               VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)";
    on_tx!(
        tx,
        execute(
            sqlx::query(sql)
                .bind(run_id)
                .bind(due_at)
                .bind(at.date_naive())
                .bind(started_at)
                .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
                .bind(i64::try_from(changed.len()).unwrap_or(i64::MAX))
                .bind(doc.version)
                .bind(Json(&edges))
        )
    )?;
    write(tx, &rows).await?;
    audit_changes(tx, actor, &facts, &changed).await?;
    let sql = "UPDATE classification_runs SET finished_at = $1 WHERE id = $2";
    on_tx!(
        tx,
        execute(sqlx::query(sql).bind(clock::now()).bind(run_id))
    )?;
    Ok(RunSummary {
        run_id,
        customers: rows.len() as u64,
        changed: changed.len() as u64,
        edges,
    })
}

/// [`run_in`] in its own transaction (benchmarks, operators); the clock uses the rule.
pub async fn run(
    store: &Store,
    actor: &Actor,
    at: DateTime<Utc>,
) -> Result<RunSummary, DomainError> {
    let span = tracing::info_span!("classification.run");
    async {
        let mut tx = store.begin().await?;
        let summary = run_in(&mut tx, actor, at, rule::due_at(at)).await?;
        tx.commit().await?;
        Ok(summary)
    }
    .instrument(span)
    .await
}

/// The latest nightly run's id and edges.
pub(crate) async fn latest_run(tx: &mut Tx) -> Result<Option<(Uuid, QuintileEdges)>, DomainError> {
    let sql = "SELECT id, edges FROM classification_runs ORDER BY due_at DESC, id DESC LIMIT 1";
    let row: Option<(Uuid, Json<QuintileEdges>)> =
        on_tx!(tx, |c| sqlx::query_as(sql).fetch_optional(&mut *c).await)?;
    Ok(row.map(|(id, e)| (id, e.0)))
}

const VISIBLE_SQL: &str =
    "SELECT account_manager_id FROM customers WHERE id = $1 AND deleted_at IS NULL";

/// Whether `actor` may see the customer `row` was read for: it exists and is not deleted, and a
/// salesperson sees only the customers they manage (the matrix grants sales `customer.*`; the
/// rows are narrowed here). Anything else is 404, so an id outside one's view tells nothing.
fn visible(row: Option<(Option<Uuid>,)>, actor: &Actor) -> Result<(), DomainError> {
    match row {
        Some((manager,)) if Scope::of_actor(actor).covers(manager) => Ok(()),
        _ => Err(DomainError::not_found(Entity::Customer)),
    }
}

async fn check_visible(tx: &mut Tx, actor: &Actor, id: Uuid) -> Result<(), DomainError> {
    let row: Option<(Option<Uuid>,)> = on_tx!(tx, |c| sqlx::query_as(VISIBLE_SQL)
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?;
    visible(row, actor)
}

/// Recomputes one customer now, against the latest nightly run's quintile edges (before the
/// first run: edges computed over every customer on the spot), and audits it.
pub async fn recompute(
    store: &Store,
    actor: &Actor,
    customer_id: Uuid,
) -> Result<CustomerClassification, DomainError> {
    let span = tracing::info_span!("classification.recompute", %customer_id);
    async {
        let at = clock::now();
        let mut tx = store.begin().await?;
        check_visible(&mut tx, actor, customer_id).await?;
        let doc = settings::get_in(&mut tx, false).await?;
        let (run_id, edges) = match latest_run(&mut tx).await? {
            Some((id, edges)) => (Some(id), edges),
            None => {
                let all = facts::load(&mut tx, None, at, &doc.settings).await?;
                (None, population_edges(&all, at.date_naive()))
            }
        };
        let facts = facts::load(&mut tx, Some(customer_id), at, &doc.settings).await?;
        let f = facts
            .get(&customer_id)
            .ok_or_else(|| DomainError::not_found(Entity::Customer))?;
        let c = classify(
            customer_id,
            f,
            at,
            &doc.settings,
            doc.version,
            &edges,
            run_id,
            ClassificationMode::OnDemand,
        );
        write(&mut tx, std::slice::from_ref(&c)).await?;
        let change = Change::action("customer.classify", Entity::Customer, customer_id)
            .before(&audit_snapshot(
                f.value_tier.as_deref(),
                f.credit_grade.as_deref(),
            ))
            .after(&audit_snapshot(
                Some(&c.value_tier),
                Some(c.credit_grade.as_str()),
            ));
        tx.commit_audited(actor, change).await?;
        Ok(c)
    }
    .instrument(span)
    .await
}

#[derive(sqlx::FromRow)]
struct StoredRow {
    customer_id: Uuid,
    computed_at: DateTime<Utc>,
    value_tier: String,
    credit_grade: String,
    credit_limit_cents: i64,
    currency: String,
    auto_renew_allowed: bool,
    breakdown: Json<Breakdown>,
}

/// The stored classification of customer `id` (404 `customer_classification` when it was never
/// classified).
pub async fn get(
    store: &Store,
    actor: &Actor,
    customer_id: Uuid,
) -> Result<CustomerClassification, DomainError> {
    let row: Option<(Option<Uuid>,)> = on_read!(store, |p| sqlx::query_as(VISIBLE_SQL)
        .bind(customer_id)
        .fetch_optional(p)
        .await)?;
    visible(row, actor)?;
    let sql = "SELECT customer_id, computed_at, value_tier, credit_grade, credit_limit_cents, \
               currency, auto_renew_allowed, breakdown FROM customer_classifications \
               WHERE customer_id = $1";
    let row: Option<StoredRow> = on_read!(store, |p| sqlx::query_as(sql)
        .bind(customer_id)
        .fetch_optional(p)
        .await)?;
    let row = row.ok_or_else(|| DomainError::not_found(Entity::CustomerClassification))?;
    let grade = CreditGrade::parse(&row.credit_grade).ok_or_else(|| {
        DomainError::Internal(format!("stored credit grade `{}`", row.credit_grade))
    })?;
    Ok(CustomerClassification {
        customer_id: row.customer_id,
        computed_at: row.computed_at,
        value_tier: row.value_tier,
        credit_grade: grade,
        credit_limit_cents: row.credit_limit_cents,
        currency: row.currency,
        auto_renew_allowed: row.auto_renew_allowed,
        lifecycle_stage: row.breakdown.0.lifecycle_stage,
        breakdown: row.breakdown.0,
    })
}
